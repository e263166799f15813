/* bw-logistics detectors: no signal on small samples, a signal on a real
 * shift, no flapping on noise; the binomial tail; store shipping health. */
#include "bw_test.h"

#include <math.h>

#include "bw_util.h"
#include "bw_detect.h"

static const bw_spike_cfg_t CFG = {30, 1.5, 0.05, 0.001, 0.3, 0.08, 1};
static const bw_count_cfg_t STALL = {5, 2, 0.001, 0.3, 0.5};

static void test_binomial_tail(void **state) {
    (void)state;
    assert_true(fabs(bw_binom_sf(0, 10, 0.3) - 1.0) < 1e-12);
    assert_true(fabs(bw_binom_sf(11, 10, 0.3)) < 1e-12);
    /* P(X >= 8 | 10, 0.5) = 56/1024 */
    assert_true(fabs(bw_binom_sf(8, 10, 0.5) - 56.0 / 1024) < 1e-9);
    assert_true(bw_binom_sf(30, 100, 0.05) < 1e-9);
    assert_true(bw_binom_sf(6, 100, 0.05) > 0.3);
}

static void test_small_sample_never_fires(void **state) {
    bw_window_counts_t hist[5] = {{100, 5}, {100, 4}, {100, 6}, {100, 5}, {100, 5}};
    (void)state;
    /* 20 of 20 late, but only 20 deliveries */
    assert_false(bw_spike_eval(&CFG, (bw_window_counts_t){20, 20}, hist, 5).fires);
}

static void test_real_shift_fires(void **state) {
    bw_window_counts_t hist[5] = {{100, 5}, {100, 4}, {100, 6}, {100, 5}, {100, 5}};
    bw_spike_t s;

    (void)state;
    s = bw_spike_eval(&CFG, (bw_window_counts_t){83, 25}, hist, 5);
    assert_true(s.fires);
    assert_true(s.baseline > 0.04 && s.baseline < 0.07);
    assert_true(s.observed > s.threshold);
    assert_true(s.p_value < 1e-6);
}

static void test_noise_does_not_flap(void **state) {
    bw_window_counts_t hist[14];
    unsigned seed = 3;
    int fired = 0;

    (void)state;
    /* 200 windows of 100 deliveries at 5% late, judged one after another */
    for (int k = 0; k < 14; k++)
        hist[k] = (bw_window_counts_t){100, 5};
    for (int w = 0; w < 200; w++) {
        int late = 0;
        for (int i = 0; i < 100; i++) {
            seed = seed * 1103515245 + 12345;
            late += ((seed >> 16) % 100) < 5;
        }
        bw_window_counts_t cur = {100, late};
        fired += bw_spike_eval(&CFG, cur, hist, 14).fires;
        memmove(hist, hist + 1, 13 * sizeof(hist[0]));
        hist[13] = cur;
    }
    assert_true(fired <= 2); /* alpha 1% and the ratio test: (almost) never */
}

static void test_no_history_uses_prior(void **state) {
    bw_spike_t s = bw_spike_eval(&CFG, (bw_window_counts_t){50, 4}, NULL, 0);
    (void)state;
    assert_true(fabs(s.baseline - 0.08) < 1e-12);
    assert_false(s.fires);
}

static void test_late_shipment_rate(void **state) {
    double r;
    (void)state;
    assert_int_equal(bw_late_ship_rate(1000, 20, 20, 0.03, 0.04, &r), BW_HEALTH_OK);
    assert_int_equal(bw_late_ship_rate(1000, 35, 20, 0.03, 0.04, &r), BW_HEALTH_WARNING);
    assert_int_equal(bw_late_ship_rate(1000, 40, 20, 0.03, 0.04, &r), BW_HEALTH_CRITICAL);
    assert_int_equal(bw_late_ship_rate(10, 5, 20, 0.03, 0.04, &r), BW_HEALTH_OK); /* too few */
}

static void test_poisson_tail(void **state) {
    (void)state;
    assert_true(fabs(bw_poisson_sf(0, 3) - 1.0) < 1e-12);
    /* P(X >= 1) = 1 - e^-lambda */
    assert_true(fabs(bw_poisson_sf(1, 2) - (1 - exp(-2))) < 1e-9);
    /* P(X >= 3 | 1) = 1 - e^-1 (1 + 1 + 1/2) */
    assert_true(fabs(bw_poisson_sf(3, 1) - (1 - exp(-1) * 2.5)) < 1e-9);
    assert_true(bw_poisson_sf(30, 2) < 1e-15);
    assert_true(bw_poisson_sf(5, 0) == 0.0);
}

static void test_stalled_count_spike(void **state) {
    int64_t quiet[14] = {1, 0, 2, 1, 1, 0, 1, 2, 1, 0, 1, 1, 2, 1};
    int64_t busy[14] = {40, 38, 45, 41, 39, 42, 40, 44, 37, 41, 43, 40, 39, 42};
    bw_spike_t s;

    (void)state;
    /* 4 stalled parcels: under the minimum, however quiet the lane was */
    assert_false(bw_count_spike_eval(&STALL, 4, 1, quiet, 14).fires);
    /* 25 in three days on a lane that stalls about one a day: fires */
    s = bw_count_spike_eval(&STALL, 25, 3, quiet, 14);
    assert_true(s.fires);
    assert_true(s.baseline > 2 && s.baseline < 5); /* about 1 a day x 3 days */
    /* 130 in three days on a lane that stalls 40 a day: its normal */
    assert_false(bw_count_spike_eval(&STALL, 130, 3, busy, 14).fires);
    /* no history: the prior (0.5 a window) is the floor */
    s = bw_count_spike_eval(&STALL, 6, 1, NULL, 0);
    assert_true(fabs(s.baseline - 0.5) < 1e-12);
    assert_true(s.fires);
}

static void test_span_smooths_one_bad_day(void **state) {
    bw_window_counts_t hist[14];
    bw_spike_cfg_t span3 = CFG;

    (void)state;
    for (int k = 0; k < 14; k++)
        hist[k] = (bw_window_counts_t){100, 4};
    span3.span = 3;
    /* one day at 13% among two at 4%: alone it fires, in a three-day sum it does not */
    assert_true(bw_spike_eval(&CFG, (bw_window_counts_t){100, 13}, hist, 14).fires);
    assert_false(bw_spike_eval(&span3, (bw_window_counts_t){300, 21}, hist, 14).fires);
    /* three bad days do */
    assert_true(bw_spike_eval(&span3, (bw_window_counts_t){300, 39}, hist, 14).fires);
}

static void test_valid_tracking_rate(void **state) {
    double r;
    (void)state;
    assert_int_equal(bw_valid_tracking_rate(1000, 970, 20, 0.96, 0.95, &r), BW_HEALTH_OK);
    assert_int_equal(bw_valid_tracking_rate(1000, 955, 20, 0.96, 0.95, &r), BW_HEALTH_WARNING);
    assert_int_equal(bw_valid_tracking_rate(1000, 940, 20, 0.96, 0.95, &r), BW_HEALTH_CRITICAL);
    assert_true(fabs(r - 0.94) < 1e-12);
    assert_int_equal(bw_valid_tracking_rate(10, 0, 20, 0.96, 0.95, &r), BW_HEALTH_OK);
}

static void test_alert_id_is_deterministic(void **state) {
    char a[17], b[17], c[17];
    (void)state;
    bw_alert_id(a, "CARRIER_DELAY_SPIKE", "{\"carrier\":\"DHL\"}", 1000);
    bw_alert_id(b, "CARRIER_DELAY_SPIKE", "{\"carrier\":\"DHL\"}", 1000);
    bw_alert_id(c, "CARRIER_DELAY_SPIKE", "{\"carrier\":\"DHL\"}", 2000);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    assert_int_equal(strlen(a), 16);
}

static void test_shrinkage_needs_volume(void **state) {
    bw_shrink_cfg_t c = {8, 10, 0.1, 2, 0.15, 0.001};
    (void)state;
    /* three reviews, all bad: shrunk toward the baseline, and too few */
    bw_spike_t s = bw_shrink_spike_eval(&c, 3, 3, 0, 0);
    assert_false(s.fires);
    assert_true(s.observed < 0.4); /* (3 + 10 x 0.1) / 13 */
    /* a week of 70 reviews with 35 bad against 280 with 28 bad: fires */
    s = bw_shrink_spike_eval(&c, 70, 35, 280, 28);
    assert_true(s.fires);
    assert_true(fabs(s.baseline - (28 + 1.0) / 290) < 1e-9);
    /* the same share as the baseline: does not */
    assert_false(bw_shrink_spike_eval(&c, 70, 7, 280, 28).fires);
}

static void test_rates_and_means(void **state) {
    double r;
    (void)state;
    assert_int_equal(bw_rate_high(1000, 7, 100, 0.0075, 0.01, &r), BW_HEALTH_OK);
    assert_int_equal(bw_rate_high(1000, 8, 100, 0.0075, 0.01, &r), BW_HEALTH_WARNING);
    assert_int_equal(bw_rate_high(1000, 10, 100, 0.0075, 0.01, &r), BW_HEALTH_CRITICAL);
    assert_int_equal(bw_rate_high(99, 50, 100, 0.0075, 0.01, &r), BW_HEALTH_OK); /* too few */
    assert_int_equal(bw_mean_low(10, 45, 10, 4.0, 3.5, &r), BW_HEALTH_OK);
    assert_int_equal(bw_mean_low(10, 39, 10, 4.0, 3.5, &r), BW_HEALTH_WARNING);
    assert_int_equal(bw_mean_low(10, 34, 10, 4.0, 3.5, &r), BW_HEALTH_CRITICAL);
    assert_int_equal(bw_mean_low(9, 9, 10, 4.0, 3.5, &r), BW_HEALTH_OK);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binomial_tail),
        cmocka_unit_test(test_small_sample_never_fires),
        cmocka_unit_test(test_real_shift_fires),
        cmocka_unit_test(test_noise_does_not_flap),
        cmocka_unit_test(test_no_history_uses_prior),
        cmocka_unit_test(test_late_shipment_rate),
        cmocka_unit_test(test_alert_id_is_deterministic),
        cmocka_unit_test(test_poisson_tail),
        cmocka_unit_test(test_stalled_count_spike),
        cmocka_unit_test(test_span_smooths_one_bad_day),
        cmocka_unit_test(test_valid_tracking_rate),
        cmocka_unit_test(test_shrinkage_needs_volume),
        cmocka_unit_test(test_rates_and_means),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
