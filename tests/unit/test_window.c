/* Window engine pieces that need no Redis: key escaping, buckets, watermarks. */
#include "bw_test.h"

#include "bw_window.h"

static void test_key_escape_is_injective_and_tag_safe(void **state) {
    const char *names[] = {"DHL",   "a:b", "a%3Ab", "{evil}", "store 7",
                           "ñandú", "",    "a}b{c", "x\ny",   "\xff\xfe"};
    bw_buf_t out[10] = {{0}};

    (void)state;
    for (int i = 0; i < 10; i++) {
        assert_true(bw_key_escape(&out[i], names[i], strlen(names[i])));
        bw_buf_append(&out[i], "", 0);
        assert_null(strpbrk(out[i].data, "{}: \n"));
    }
    for (int i = 0; i < 10; i++)
        for (int k = i + 1; k < 10; k++)
            assert_string_not_equal(out[i].data, out[k].data);
    assert_string_equal(out[1].data, "a%3Ab");
    assert_string_equal(out[2].data, "a%253Ab");
    /* 1 KiB of braces stays inside its tag */
    {
        char big[1024];
        bw_buf_t b = {0};
        memset(big, '{', sizeof(big));
        assert_true(bw_key_escape(&b, big, sizeof(big)));
        assert_int_equal(b.len, 3 * sizeof(big));
        bw_buf_free(&b);
    }
    for (int i = 0; i < 10; i++)
        bw_buf_free(&out[i]);
}

static void test_buckets(void **state) {
    (void)state;
    assert_int_equal(bw_bucket(3600000 * 5 + 7, 3600000), 3600000 * 5);
    assert_int_equal(bw_bucket(0, 3600000), 0);
    assert_int_equal(bw_bucket(-1, 3600000), -3600000);
}

static void test_watermark(void **state) {
    bw_wm_t wm;
    int64_t now = 1000000000;

    (void)state;
    /* lateness 10 s, grace 60 s, skew 5 min, idle 30 s */
    bw_wm_init(&wm, 10000, 60000, 300000, 30000);
    assert_int_equal(bw_wm_partition(&wm, 0), INT64_MIN);
    assert_int_equal(bw_wm_observe(&wm, 0, now - 100000, now), BW_WM_ON_TIME);
    assert_int_equal(bw_wm_partition(&wm, 0), now - 110000);
    /* behind the watermark but within grace: applied, counted late */
    assert_int_equal(bw_wm_observe(&wm, 0, now - 130000, now), BW_WM_LATE);
    /* behind the grace period: dropped */
    assert_int_equal(bw_wm_observe(&wm, 0, now - 200000, now), BW_WM_TOO_LATE);
    /* far future: refused, and the watermark does not move */
    assert_int_equal(bw_wm_observe(&wm, 0, now + 3600000, now), BW_WM_FUTURE);
    assert_int_equal(bw_wm_partition(&wm, 0), now - 110000);
    /* year 1970 and year 3000 */
    assert_int_equal(bw_wm_observe(&wm, 0, 0, now), BW_WM_TOO_LATE);
    assert_int_equal(bw_wm_observe(&wm, 0, 32503680000000LL, now), BW_WM_FUTURE);

    /* global: the least active partition; an idle one does not hold it */
    assert_int_equal(bw_wm_observe(&wm, 1, now - 500000, now), BW_WM_ON_TIME);
    assert_int_equal(bw_wm_global(&wm, now), now - 510000);
    assert_int_equal(bw_wm_observe(&wm, 0, now + 40000, now + 40000), BW_WM_ON_TIME);
    assert_int_equal(bw_wm_global(&wm, now + 40000), now + 30000); /* partition 1 idle now */
    bw_wm_forget(&wm, 0);
    assert_int_equal(bw_wm_partition(&wm, 0), INT64_MIN);
}

/* A batch that runs again (Redis was away) meets the watermarks it met the
 * first time; one that was written keeps its moves. */
static void test_watermark_rolls_back_with_its_batch(void **state) {
    static bw_wm_t wm;
    static bw_wm_txn_t txn;
    int64_t now = 1700000000000LL;

    (void)state;
    bw_wm_init(&wm, 10000, 60000, 600000, 30000);
    bw_wm_begin(&txn, &wm);
    bw_wm_observe(&wm, 0, now - 100000, now);
    bw_wm_commit(&txn);
    assert_int_equal(bw_wm_partition(&wm, 0), now - 110000);
    bw_wm_begin(&txn, &wm);
    bw_wm_observe(&wm, 0, now - 1000, now);
    bw_wm_begin(&txn, &wm); /* the same batch: the first snapshot stays */
    bw_wm_observe(&wm, 1, now - 2000, now);
    bw_wm_assign(&wm, 2, now); /* assigned mid-batch: survives the rollback */
    bw_wm_observe(&wm, 2, now - 3000, now);
    bw_wm_txn_sync(&txn, &wm, 2);
    assert_int_equal(bw_wm_partition(&wm, 0), now - 11000);
    bw_wm_rollback(&txn, &wm);
    assert_int_equal(bw_wm_partition(&wm, 0), now - 110000);
    assert_int_equal(bw_wm_partition(&wm, 1), INT64_MIN);
    assert_int_equal(bw_wm_partition(&wm, 2), now - 13000);
    bw_wm_rollback(&txn, &wm); /* nothing open: nothing changes */
    assert_int_equal(bw_wm_partition(&wm, 0), now - 110000);
}

static void test_assigned_partition_holds_the_watermark(void **state) {
    bw_wm_t wm;
    int64_t now = 1700000000000LL;

    (void)state;
    bw_wm_init(&wm, 10000, 60000, 600000, 30000);
    bw_wm_observe(&wm, 0, now - 1000, now);
    assert_int_equal(bw_wm_global(&wm, now), now - 11000);
    /* partition 2 assigned (a restart: its backlog may be older) */
    bw_wm_assign(&wm, 2, now);
    assert_int_equal(bw_wm_global(&wm, now), INT64_MIN);
    /* heard from: it takes part like any other */
    bw_wm_observe(&wm, 2, now - 500000, now + 1000);
    assert_int_equal(bw_wm_global(&wm, now + 1000), now - 510000);
    /* assigned and silent past idle_ms: it no longer holds anything back */
    bw_wm_assign(&wm, 3, now - 40000);
    assert_int_equal(bw_wm_global(&wm, now + 1000), now - 510000);
    /* assigning a partition already heard from changes nothing */
    bw_wm_assign(&wm, 0, now + 40000);
    assert_int_equal(bw_wm_partition(&wm, 0), now - 11000);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_escape_is_injective_and_tag_safe),
        cmocka_unit_test(test_buckets),
        cmocka_unit_test(test_watermark),
        cmocka_unit_test(test_watermark_rolls_back_with_its_batch),
        cmocka_unit_test(test_assigned_partition_holds_the_watermark),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
