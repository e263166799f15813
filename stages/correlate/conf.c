/* bw-correlate's configuration keys (correlate_conf.h). */
#include "correlate_conf.h"

#include <stddef.h>
#include <string.h>

#define K(f) offsetof(correlate_conf_t, f)
const bw_conf_def_t correlate_conf_defs[] = {
    BW_STAGE_CONF_DEFS("bw-correlate", "127.0.0.1:9103", "500"),
    {"reviews.topic", BW_CONF_STR, K(reviews_topic), "bw.reviews.classified", BW_CONF_NORANGE, NULL,
     "Topic of ClassifiedReviews"},
    {"actions.topic", BW_CONF_STR, K(actions_topic), "bw.actions", BW_CONF_NORANGE, NULL,
     "Topic of SellerActions"},
    {"output.topic", BW_CONF_STR, K(output_topic), "bw.signals", BW_CONF_NORANGE, NULL,
     "Topic of Signals"},
    {"state.ttl.days", BW_CONF_INT, K(state_ttl_days), "120", 1, 3650, NULL,
     "Lifetime of windows, markers and response clocks in Redis"},
    {"dedupe.days", BW_CONF_INT, K(dedupe_days), "7", 1, 3650, NULL,
     "How long a review's event id is remembered as counted (a second record with it is "
     "skipped)"},
    BW_WM_CONF_DEFS(K),
    {"odr.days", BW_CONF_INT, K(odr_days), "60", 7, 365, NULL,
     "Order defect rate: orders placed in this many days (defects by order date)"},
    {"odr.min.orders", BW_CONF_INT, K(odr_min_orders), "100", 1, 10000000, NULL,
     "Orders in the period before the order defect rate is judged"},
    {"odr.warn", BW_CONF_DBL, K(odr_warn), "0.0075", 0, 1, NULL, "Order defect rate that warns"},
    {"odr.critical", BW_CONF_DBL, K(odr_critical), "0.01", 0, 1, NULL,
     "Order defect rate that is critical (Amazon's limit)"},
    {"odr.ebay.warn", BW_CONF_DBL, K(odr_ebay_warn), "0.015", 0, 1, NULL,
     "eBay defect rate that warns"},
    {"odr.ebay.critical", BW_CONF_DBL, K(odr_ebay_critical), "0.02", 0, 1, NULL,
     "eBay defect rate that is critical"},
    {"rating.min", BW_CONF_INT, K(rating_min), "10", 1, 1000000, NULL,
     "Seller feedback ratings in a period before its average is judged"},
    {"rating.warn", BW_CONF_DBL, K(rating_warn), "4.0", 1, 5, NULL,
     "Feedback average (30, 90 or 365 days) below this warns"},
    {"rating.critical", BW_CONF_DBL, K(rating_critical), "3.5", 1, 5, NULL,
     "Feedback average below this is critical"},
    {"response.warn.hours", BW_CONF_INT, K(response_warn_hours), "18", 1, 23, NULL,
     "RESPONSE_DUE this long after an event that must be answered (the deadline is 24 h)"},
    {"neg.min", BW_CONF_INT, K(neg_min), "8", 1, 1000000, NULL,
     "Reviews in the span before NEGATIVE_REVIEW_SPIKE can fire"},
    {"neg.span.days", BW_CONF_INT, K(neg_span), "7", 1, 30, NULL,
     "Days summed as the current negative share"},
    {"neg.history.days", BW_CONF_INT, K(neg_history), "28", 1, 90, NULL,
     "Days before the span that make the baseline"},
    {"neg.pseudo", BW_CONF_DBL, K(neg_pseudo), "10", 0.1, 10000, NULL,
     "Weight of the baseline in the shrunk share, in reviews (empirical Bayes)"},
    {"neg.prior", BW_CONF_DBL, K(neg_prior), "0.1", 0.001, 0.9, NULL,
     "Negative share before there is history"},
    {"neg.ratio", BW_CONF_DBL, K(neg_ratio), "2", 1, 100, NULL,
     "Shrunk share must reach this times the baseline"},
    {"neg.excess", BW_CONF_DBL, K(neg_excess), "0.15", 0, 1, NULL,
     "and exceed the baseline by at least this much"},
    {"neg.alpha", BW_CONF_DBL, K(neg_alpha), "0.001", 1e-12, 0.5, NULL,
     "Level of the one-sided binomial test"},
    {"cluster.min", BW_CONF_INT, K(cluster_min), "3", 2, 1000, NULL,
     "Complaints with one root cause on one SKU that make a COMPLAINT_CLUSTER"},
    {"cluster.days", BW_CONF_INT, K(cluster_days), "7", 1, 60, NULL, "within this many days"},
    {"fake.min", BW_CONF_INT, K(fake_min), "5", 2, 10000, NULL,
     "Low-star reviews on one SKU in two days with unknown orders, or near-duplicate texts, that "
     "make a FAKE_REVIEW_BURST"},
    {"fake.bits", BW_CONF_INT, K(fake_bits), "3", 0, 32, NULL,
     "Texts whose 64-bit SimHashes differ in at most this many bits are near duplicates"},
    {"corr.lookback.days", BW_CONF_INT, K(corr_lookback), "10", 1, 60, NULL,
     "A logistics complaint joins a carrier x lane delay spike signalled this many days before"},
    {"corr.raise", BW_CONF_INT, K(corr_raise), "3", 1, 10000, NULL,
     "Complaints joined to one spike that make LOGISTICS_COMPLAINTS_CORRELATED critical"},
    {"timer.batch", BW_CONF_INT, K(timer_batch), "1000", 1, 100000, NULL,
     "Response clocks settled per partition per read (up to 8 reads a batch)"},
};
#undef K

const size_t correlate_conf_ndefs = sizeof(correlate_conf_defs) / sizeof(correlate_conf_defs[0]);

void correlate_cfg_from_conf(const correlate_conf_t *cc, correlate_cfg_t *cfg) {
    *cfg = (correlate_cfg_t){
        .state_ttl_s = cc->state_ttl_days * 86400,
        .dedupe_ttl_s = cc->dedupe_days * 86400,
        .lateness_ms = cc->lateness_ms,
        .grace_ms = cc->grace_ms,
        .skew_ms = cc->skew_ms,
        .idle_ms = cc->idle_ms,
        .min_event_ms = 946684800000LL, /* 2000-01-01: before that, a clock error */
        .odr_days = cc->odr_days,
        .odr_min_orders = cc->odr_min_orders,
        .odr_warn = cc->odr_warn,
        .odr_critical = cc->odr_critical,
        .odr_ebay_warn = cc->odr_ebay_warn,
        .odr_ebay_critical = cc->odr_ebay_critical,
        .rating_min = cc->rating_min,
        .rating_warn = cc->rating_warn,
        .rating_critical = cc->rating_critical,
        .response_warn_ms = cc->response_warn_hours * 3600000,
        .neg = {cc->neg_min, cc->neg_pseudo, cc->neg_prior, cc->neg_ratio, cc->neg_excess,
                cc->neg_alpha},
        .neg_span_days = cc->neg_span,
        .neg_history_days = cc->neg_history,
        .cluster_min = cc->cluster_min,
        .cluster_days = cc->cluster_days,
        .fake_min = cc->fake_min,
        .fake_bits = cc->fake_bits,
        .corr_lookback_days = cc->corr_lookback,
        .corr_raise = cc->corr_raise,
        .timer_batch = cc->timer_batch,
    };
}

bw_err_t correlate_cfg_defaults(correlate_cfg_t *cfg, char *errstr, size_t errstr_size) {
    correlate_conf_t cc;
    bw_conf_t conf;
    bw_err_t err;

    memset(&cc, 0, sizeof(cc));
    bw_conf_init(&conf, "bw-correlate");
    if (!(err = bw_conf_add_section(&conf, correlate_conf_defs, correlate_conf_ndefs, &cc, errstr,
                                    errstr_size)))
        correlate_cfg_from_conf(&cc, cfg);
    bw_conf_destroy(&conf);
    return err;
}
