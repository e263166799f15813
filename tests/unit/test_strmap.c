/* bw_strmap: the batch bookkeeping map of the window engine and the stages. */
#include "bw_test.h"

#include <stdio.h>
#include <string.h>

#include "bw_strmap.h"

/* Keys that differ only past an 8-byte step, or in length, stay apart. */
static void test_put_and_get(void **state) {
    bw_strmap_t m = {0};
    const char *keys[] = {"",         "a",         "ab",        "abcdefg",      "abcdefgh",
                          "abcdefgi", "abcdefghi", "abcdefghj", "abcdefgh\x1f", "s=x|y"};
    size_t nk = sizeof(keys) / sizeof(keys[0]);
    bool fresh;

    (void)state;
    assert_null(bw_strmap_get(&m, "a", 1)); /* an empty map answers */
    for (size_t i = 0; i < nk; i++) {
        fresh = false;
        int64_t *v = bw_strmap_put(&m, keys[i], strlen(keys[i]), &fresh);
        assert_non_null(v);
        assert_true(fresh);
        *v = (int64_t)i + 100;
    }
    assert_int_equal(m.n, nk);
    for (size_t i = 0; i < nk; i++) {
        int64_t *v = bw_strmap_get(&m, keys[i], strlen(keys[i]));
        assert_non_null(v);
        assert_int_equal(*v, (int64_t)i + 100);
        fresh = false;
        assert_ptr_equal(bw_strmap_put(&m, keys[i], strlen(keys[i]), &fresh), v);
        assert_false(fresh);
    }
    /* a prefix of a key given by length is its own key */
    assert_null(bw_strmap_get(&m, "abcdefghij", 9 + 1));
    assert_int_equal(*bw_strmap_get(&m, "abcdefghij", 9), 6 + 100);
    bw_strmap_free(&m);
    assert_null(bw_strmap_get(&m, "a", 1));
    assert_non_null(bw_strmap_put(&m, "a", 1, NULL)); /* usable again */
    bw_strmap_free(&m);
}

/* Growth keeps every key and value (rehashed from the stored hashes). */
static void test_growth(void **state) {
    bw_strmap_t m = {0};
    char key[64];

    (void)state;
    for (int i = 0; i < 20000; i++) {
        int n = snprintf(key, sizeof(key),
                         "w:carrier|lane-%d\x1f"
                         "late",
                         i);
        int64_t *v = bw_strmap_put(&m, key, (size_t)n, NULL);
        assert_non_null(v);
        *v = i;
    }
    assert_int_equal(m.n, 20000);
    assert_true(m.cap >= 40000);
    for (int i = 0; i < 20000; i++) {
        int n = snprintf(key, sizeof(key),
                         "w:carrier|lane-%d\x1f"
                         "late",
                         i);
        int64_t *v = bw_strmap_get(&m, key, (size_t)n);
        assert_non_null(v);
        assert_int_equal(*v, i);
    }
    bw_strmap_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_put_and_get),
                                       cmocka_unit_test(test_growth)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
