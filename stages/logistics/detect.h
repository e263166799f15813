/* bw-logistics's detectors: plain functions over counts, no I/O. */
#ifndef BW_LOGISTICS_DETECT_H
#define BW_LOGISTICS_DETECT_H

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

#endif
