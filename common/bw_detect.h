/* Detectors: plain statistics over window counts, no I/O (bw-logistics and bw-correlate). */
#ifndef BW_DETECT_H
#define BW_DETECT_H

#include <stdbool.h>
#include <stdint.h>

/** P(X >= k) for X ~ Binomial(n, p): the one-sided test of a late share. */
double bw_binom_sf(int64_t k, int64_t n, double p);

/** Delay-spike settings (all configurable). */
typedef struct {
    int64_t min_sample; /* deliveries in the window before it can fire */
    double min_ratio; /* late share at least this times the baseline */
    double min_excess; /* and at least this much above it */
    double alpha; /* binomial test level */
    double ewma_alpha; /* weight of the newest window in the baseline */
    double prior; /* baseline when there is no history */
    int64_t span; /* windows summed as the current one (sliding; 0 or 1: one) */
} bw_spike_cfg_t;

/** One window's counts. */
typedef struct {
    int64_t delivered, late;
} bw_window_counts_t;

typedef struct {
    bool fires;
    double observed; /* late share of the current window */
    double baseline; /* EWMA of earlier windows' shares */
    double threshold; /* the share it had to reach */
    double p_value;
} bw_spike_t;

/**
 * @brief Judge the current window against @p n_hist earlier windows (oldest
 *        first; windows under min_sample do not count): their EWMA late
 *        share pooled with the prior as 50 pseudo-deliveries. Fires when
 *        the window has min_sample deliveries, its late share reaches
 *        max(baseline x min_ratio, baseline + min_excess), and the one-sided
 *        binomial test is below alpha.
 */
bw_spike_t bw_spike_eval(const bw_spike_cfg_t *cfg, bw_window_counts_t cur,
                         const bw_window_counts_t *hist, int n_hist);

/** P(X >= k) for X ~ Poisson(lambda): the one-sided test of a count. */
double bw_poisson_sf(int64_t k, double lambda);

/** Count-spike settings (stalled parcels per carrier x lane). */
typedef struct {
    int64_t min_count; /* events in the span before it can fire */
    double min_ratio; /* count at least this times the expected */
    double alpha; /* Poisson test level */
    double ewma_alpha; /* weight of the newest window in the baseline */
    double prior; /* expected count per window before there is history */
} bw_count_cfg_t;

/**
 * @brief Judge a count over @p span windows against the EWMA of @p n_hist
 *        earlier windows' counts (oldest first), never below the prior:
 *        fires when it reaches min_count and min_ratio x the expected count
 *        for the span and the one-sided Poisson test is below alpha.
 *        observed and baseline are counts for the span.
 */
bw_spike_t bw_count_spike_eval(const bw_count_cfg_t *cfg, int64_t count, int64_t span,
                               const int64_t *hist, int n_hist);

/** Store shipping health (Amazon): warn and critical thresholds. */
typedef enum { BW_HEALTH_OK, BW_HEALTH_WARNING, BW_HEALTH_CRITICAL } bw_health_t;

/** Valid tracking rate: warn below 96%, critical below 95% (defaults), with a minimum count. */
bw_health_t bw_valid_tracking_rate(int64_t confirmed, int64_t valid, int64_t min_count, double warn,
                                   double critical, double *rate);

/** Late shipment rate: warn at 3%, critical at 4% (defaults), with a minimum count. */
bw_health_t bw_late_ship_rate(int64_t shipped, int64_t late, int64_t min_count, double warn,
                              double critical, double *rate);

/** A rate that is bad when high (order defect rate, late responses): x of n, with a minimum n. */
bw_health_t bw_rate_high(int64_t n, int64_t x, int64_t min_count, double warn, double critical,
                         double *rate);

/** A mean that is bad when low (seller rating): @p sum over @p n, with a minimum n. */
bw_health_t bw_mean_low(int64_t n, double sum, int64_t min_count, double warn, double critical,
                        double *mean);

/** Negative-share spike settings with empirical-Bayes shrinkage. */
typedef struct {
    int64_t min_volume; /* reviews in the current span before it can fire */
    double pseudo; /* weight of the baseline, in pseudo-reviews, in the shrunk share */
    double prior; /* negative share before there is history */
    double min_ratio; /* shrunk share at least this times the baseline */
    double min_excess; /* and at least this much above it */
    double alpha; /* one-sided binomial test level */
} bw_shrink_cfg_t;

/**
 * @brief Judge a negative share: @p neg of @p n in the current span against
 *        @p hneg of @p hn before it. The baseline is the history's share
 *        pooled with the prior as @p pseudo reviews; the observed share is
 *        shrunk toward the baseline by the same weight, so a SKU with three
 *        reviews cannot fire on one. Fires when n reaches min_volume, the
 *        shrunk share reaches max(baseline x min_ratio, baseline +
 *        min_excess) and the binomial test against the baseline is below
 *        alpha. observed is the shrunk share.
 */
bw_spike_t bw_shrink_spike_eval(const bw_shrink_cfg_t *cfg, int64_t n, int64_t neg, int64_t hn,
                                int64_t hneg);

#endif
