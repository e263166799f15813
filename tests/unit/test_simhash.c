/* Near-duplicate texts for the fake-review test. */
#include "bw_test.h"

#include <string.h>

#include "simhash.h"

static int dist(const char *a, const char *b) {
    return bw_simhash_distance(bw_simhash(a, strlen(a)), bw_simhash(b, strlen(b)));
}

static void test_near_duplicates_are_close(void **state) {
    (void)state;
    assert_int_equal(dist("Terrible product avoid", "terrible PRODUCT!!! avoid 7"), 0);
    assert_true(dist("Terrible product, broke after one day, avoid! 1",
                     "Terrible product, broke after one day, avoid! 2") <= 3);
    assert_true(dist("質量很差，用了一天就壞了，不要買", "質量很差，用了一天就壞了，不要買！！") <=
                3);
    assert_true(dist("the zipper tore on the second day", "colour is nothing like the photo") > 3);
    assert_true(dist("battery does not hold a charge overnight",
                     "smaller than described, returning it") > 3);
}

static void test_cluster(void **state) {
    uint64_t h[6];
    const char *t[6] = {"worst seller ever do not buy 1",       "worst seller ever do not buy 2",
                        "worst seller ever do not buy 3",       "lovely colour, fits well",
                        "arrived late and the box was crushed", ""};
    (void)state;
    for (int i = 0; i < 6; i++)
        h[i] = bw_simhash(t[i], strlen(t[i]));
    assert_int_equal(bw_simhash_cluster(h, 6, 3), 3);
    assert_int_equal(bw_simhash_cluster(h, 0, 3), 0);
    assert_int_equal(bw_simhash(t[5], 0), 0);
}

static void test_hostile_input(void **state) {
    static char big[1 << 20];
    (void)state;
    memset(big, 'a', sizeof(big) - 1); /* hashed on its start: bounded work */
    assert_int_equal(dist(big, big), 0);
    assert_int_equal(dist("\xff\xfe\xfd\x80", "\xff\xfe\xfd\x80"), 0); /* not UTF-8: still bytes */
    (void)bw_simhash("\0\0\0\0", 4);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_near_duplicates_are_close),
        cmocka_unit_test(test_cluster),
        cmocka_unit_test(test_hostile_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
