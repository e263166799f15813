/* bw-correlate's configuration keys: the table (--help, the README's key
 * table and the defaults come from it) and how it maps to correlate_cfg_t. */
#ifndef BW_CORRELATE_CONF_H
#define BW_CORRELATE_CONF_H

#include "bw_conf.h"
#include "bw_stage.h"
#include "correlate.h"

typedef struct correlate_conf_s {
    bw_stage_conf_t stage;
    char *reviews_topic, *actions_topic, *output_topic;
    int64_t state_ttl_days, dedupe_days, lateness_ms, grace_ms, skew_ms, idle_ms;
    int64_t odr_days, odr_min_orders, rating_min, response_warn_hours;
    double odr_warn, odr_critical, odr_ebay_warn, odr_ebay_critical;
    double rating_warn, rating_critical;
    int64_t neg_min, neg_span, neg_history;
    double neg_pseudo, neg_prior, neg_ratio, neg_excess, neg_alpha;
    int64_t cluster_min, cluster_days, fake_min, fake_bits, corr_lookback, corr_raise;
    int64_t timer_batch;
} correlate_conf_t;

extern const bw_conf_def_t correlate_conf_defs[];
extern const size_t correlate_conf_ndefs;

void correlate_cfg_from_conf(const correlate_conf_t *cc, correlate_cfg_t *cfg);

#endif
