#include "bw_detect.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

double bw_binom_sf(int64_t k, int64_t n, double p) {
    double sum = 0, lp, lq;

    if (k <= 0)
        return 1.0;
    if (k > n)
        return 0.0;
    if (p <= 0)
        return 0.0;
    if (p >= 1)
        return 1.0;
    lp = log(p);
    lq = log1p(-p);
    /* sum the upper tail in log space: C(n,i) p^i q^(n-i) */
    for (int64_t i = k; i <= n; i++) {
        double lt = lgamma((double)n + 1) - lgamma((double)i + 1) - lgamma((double)(n - i) + 1) +
                    (double)i * lp + (double)(n - i) * lq;
        sum += exp(lt);
        if (i > k + 50 && exp(lt) < sum * 1e-15)
            break; /* the rest is negligible */
    }
    return sum > 1 ? 1 : sum;
}

bw_spike_t bw_spike_eval(const bw_spike_cfg_t *cfg, bw_window_counts_t cur,
                         const bw_window_counts_t *hist, int n_hist) {
    bw_spike_t r = {0};
    double wl = 0, wd = 0;

    /* Baseline: the late share of earlier windows, newest weighted most
     * (EWMA over the counts), pooled with the prior as 50 pseudo-deliveries
     * so that little or quiet history cannot make it tiny. */
    for (int i = 0; i < n_hist; i++) {
        if (hist[i].delivered < cfg->min_sample)
            continue;
        wl = (1 - cfg->ewma_alpha) * wl + cfg->ewma_alpha * (double)hist[i].late;
        wd = (1 - cfg->ewma_alpha) * wd + cfg->ewma_alpha * (double)hist[i].delivered;
    }
    /* scale the weighted counts back to one window's worth */
    r.baseline = (wl / cfg->ewma_alpha + cfg->prior * 50) / (wd / cfg->ewma_alpha + 50);
    r.observed = cur.delivered ? (double)cur.late / (double)cur.delivered : 0;
    r.threshold = fmax(r.baseline * cfg->min_ratio, r.baseline + cfg->min_excess);
    r.p_value = bw_binom_sf(cur.late, cur.delivered, fmax(r.baseline, 1e-6));
    r.fires =
        cur.delivered >= cfg->min_sample && r.observed >= r.threshold && r.p_value < cfg->alpha;
    return r;
}

double bw_poisson_sf(int64_t k, double lambda) {
    double sum = 0, term, ll;

    if (k <= 0)
        return 1.0;
    if (lambda <= 0)
        return 0.0;
    ll = log(lambda);
    /* the upper tail in log space, from k up until the terms vanish */
    for (int64_t i = k;; i++) {
        term = exp((double)i * ll - lambda - lgamma((double)i + 1));
        sum += term;
        if ((double)i > lambda && term < sum * 1e-15)
            break;
        if (i - k > 100000)
            break;
    }
    return sum > 1 ? 1 : sum;
}

bw_spike_t bw_count_spike_eval(const bw_count_cfg_t *cfg, int64_t count, int64_t span,
                               const int64_t *hist, int n_hist) {
    bw_spike_t r = {0};
    double w = 0;
    bool any = false;

    if (span < 1)
        span = 1;
    for (int i = 0; i < n_hist; i++) {
        w = any ? (1 - cfg->ewma_alpha) * w + cfg->ewma_alpha * (double)hist[i] : (double)hist[i];
        any = true;
    }
    r.baseline = fmax(w, cfg->prior) * (double)span;
    r.observed = (double)count;
    r.threshold = fmax(r.baseline * cfg->min_ratio, (double)cfg->min_count);
    r.p_value = bw_poisson_sf(count, r.baseline);
    r.fires = count >= cfg->min_count && r.observed >= r.threshold && r.p_value < cfg->alpha;
    return r;
}

bw_health_t bw_valid_tracking_rate(int64_t confirmed, int64_t valid, int64_t min_count, double warn,
                                   double critical, double *rate) {
    *rate = confirmed ? (double)valid / (double)confirmed : 1;
    if (confirmed < min_count)
        return BW_HEALTH_OK;
    return *rate < critical ? BW_HEALTH_CRITICAL : *rate < warn ? BW_HEALTH_WARNING : BW_HEALTH_OK;
}

bw_health_t bw_rate_high(int64_t n, int64_t x, int64_t min_count, double warn, double critical,
                         double *rate) {
    *rate = n ? (double)x / (double)n : 0;
    if (n < min_count)
        return BW_HEALTH_OK;
    return *rate >= critical ? BW_HEALTH_CRITICAL
           : *rate >= warn   ? BW_HEALTH_WARNING
                             : BW_HEALTH_OK;
}

bw_health_t bw_late_ship_rate(int64_t shipped, int64_t late, int64_t min_count, double warn,
                              double critical, double *rate) {
    return bw_rate_high(shipped, late, min_count, warn, critical, rate);
}

bw_health_t bw_mean_low(int64_t n, double sum, int64_t min_count, double warn, double critical,
                        double *mean) {
    *mean = n ? sum / (double)n : 0;
    if (n < min_count)
        return BW_HEALTH_OK;
    return *mean < critical ? BW_HEALTH_CRITICAL : *mean < warn ? BW_HEALTH_WARNING : BW_HEALTH_OK;
}

bw_spike_t bw_shrink_spike_eval(const bw_shrink_cfg_t *cfg, int64_t n, int64_t neg, int64_t hn,
                                int64_t hneg) {
    bw_spike_t r = {0};
    double m = cfg->pseudo > 0 ? cfg->pseudo : 1;

    r.baseline = ((double)hneg + m * cfg->prior) / ((double)hn + m);
    r.observed = ((double)neg + m * r.baseline) / ((double)n + m);
    r.threshold = fmax(r.baseline * cfg->min_ratio, r.baseline + cfg->min_excess);
    r.p_value = bw_binom_sf(neg, n, fmax(r.baseline, 1e-6));
    r.fires = n >= cfg->min_volume && r.observed >= r.threshold && r.p_value < cfg->alpha;
    return r;
}
