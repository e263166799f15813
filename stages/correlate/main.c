/*
 * bw-correlate: bw.reviews.classified + bw.actions -> store, SKU and
 * response windows in Redis, joined to bw-logistics' order index ->
 * Signals on bw.signals (ODR_AT_RISK, SELLER_RATING_AT_RISK,
 * RESPONSE_DUE, RESPONSE_SLA_BREACH, NEGATIVE_REVIEW_SPIKE,
 * COMPLAINT_CLUSTER, FAKE_REVIEW_BURST, LOGISTICS_COMPLAINTS_CORRELATED,
 * REMOVABLE_FEEDBACK, POLICY_RISK). Every Redis write goes through the
 * window engine's fenced flush, so replays never double count.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "bw_log.h"
#include "bw_proc.h"
#include "bw_stage.h"
#include "correlate.h"

typedef struct {
    bw_stage_conf_t stage;
    char *reviews_topic, *actions_topic, *output_topic;
    int64_t state_ttl_days, lateness_ms, grace_ms, skew_ms, idle_ms;
    int64_t odr_days, odr_min_orders, rating_min, response_warn_hours;
    double odr_warn, odr_critical, odr_ebay_warn, odr_ebay_critical;
    double rating_warn, rating_critical;
    int64_t neg_min, neg_span, neg_history;
    double neg_pseudo, neg_prior, neg_ratio, neg_excess, neg_alpha;
    int64_t cluster_min, cluster_days, fake_min, fake_bits, corr_lookback, corr_raise;
    int64_t timer_batch;
} corr_conf_t;

#define K(f) offsetof(corr_conf_t, f)
static const bw_conf_def_t corr_defs[] = {
    BW_STAGE_CONF_DEFS("bw-correlate", "127.0.0.1:9103"),
    {"reviews.topic", BW_CONF_STR, K(reviews_topic), "bw.reviews.classified", BW_CONF_NORANGE, NULL,
     "Topic of ClassifiedReviews"},
    {"actions.topic", BW_CONF_STR, K(actions_topic), "bw.actions", BW_CONF_NORANGE, NULL,
     "Topic of SellerActions"},
    {"output.topic", BW_CONF_STR, K(output_topic), "bw.signals", BW_CONF_NORANGE, NULL,
     "Topic of Signals"},
    {"state.ttl.days", BW_CONF_INT, K(state_ttl_days), "120", 1, 3650, NULL,
     "Lifetime of windows, markers and response clocks in Redis"},
    {"lateness.ms", BW_CONF_INT, K(lateness_ms), "3600000", 0, 30LL * 86400000, NULL,
     "Watermark = largest event time less this"},
    {"grace.ms", BW_CONF_INT, K(grace_ms), "172800000", 0, 365LL * 86400000, NULL,
     "Events this far behind the watermark still count (later ones are dropped)"},
    {"skew.ms", BW_CONF_INT, K(skew_ms), "600000", 0, 86400000, NULL,
     "Events stamped further ahead of the clock are dead-lettered"},
    {"idle.ms", BW_CONF_INT, K(idle_ms), "60000", 1000, 86400000, NULL,
     "A partition quiet this long does not hold the watermark back"},
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

typedef struct {
    correlate_t *cr;
    corr_conf_t *cc;
    bw_stage_t *st;
} app_t;

static int topic_of(const app_t *app, const char *topic) {
    return strcmp(topic, app->cc->reviews_topic) ? CORR_TOPIC_ACTIONS : CORR_TOPIC_REVIEWS;
}

static bw_err_t emit(void *opaque, const char *key, avro_value_t *signal) {
    app_t *app = opaque;
    return bw_stage_emit(app->st, app->cc->output_topic, key, strlen(key),
                         bw_serde_schema(bw_stage_serde(app->st), "Signal"), signal);
}

static bw_err_t process(void *opaque, bw_stage_t *st, rd_kafka_message_t **msgs, size_t n) {
    app_t *app = opaque;
    bw_serde_t *sd = bw_stage_serde(st);
    const bw_schema_t *review_s = bw_serde_schema(sd, "ClassifiedReview");
    const bw_schema_t *action_s = bw_serde_schema(sd, "SellerAction");
    int64_t now = bw_now_ms();
    char errstr[512];
    bw_err_t err;

    app->st = st;
    for (size_t i = 0; i < n; i++) {
        rd_kafka_message_t *m = msgs[i];
        int topic = topic_of(app, rd_kafka_topic_name(m->rkt));
        bw_record_t *rec;
        if ((err = bw_serde_decode(sd, m->payload, m->len,
                                   topic == CORR_TOPIC_REVIEWS ? review_s : action_s, &rec, errstr,
                                   sizeof(errstr)))) {
            if ((err = bw_stage_deadletter(st, m, err, errstr)))
                goto fail;
            continue;
        }
        if (correlate_add(app->cr, topic, rec, topic * 1024 + m->partition, m->offset, now, errstr,
                          sizeof(errstr)) == CORR_REJECTED &&
            (err = bw_stage_deadletter(st, m, BW_ERR_OUT_OF_RANGE, errstr)))
            goto fail;
    }
    if ((err = correlate_end_batch(app->cr, now, emit, app, errstr, sizeof(errstr)))) {
        bw_log_rl(BW_LOG_WARN, "batch not written: %s", errstr);
        /* every failure here is worth a retry: the fences make it safe */
        return bw_err_retriable(err) ? err : BW_ERR_REDIS_DOWN;
    }
    return BW_ERR_OK;
fail:
    correlate_discard(app->cr);
    return err;
}

static bw_err_t delivered(void *opaque, bw_stage_t *st) {
    app_t *app = opaque;
    char errstr[512];
    bw_err_t err;

    (void)st;
    if ((err = correlate_delivered(app->cr, errstr, sizeof(errstr))))
        bw_log_rl(BW_LOG_WARN, "signals sent, not yet remembered: %s", errstr);
    return err ? BW_ERR_REDIS_DOWN : BW_ERR_OK;
}

static bw_err_t on_assign(void *opaque, const rd_kafka_topic_partition_list_t *parts) {
    app_t *app = opaque;

    for (int i = 0; app->cr && i < parts->cnt; i++)
        correlate_assigned(app->cr,
                           topic_of(app, parts->elems[i].topic) * 1024 + parts->elems[i].partition,
                           bw_now_ms());
    return BW_ERR_OK;
}

static void on_eof(void *opaque, const char *topic, int32_t partition) {
    app_t *app = opaque;

    if (app->cr)
        correlate_eof(app->cr, topic_of(app, topic) * 1024 + partition);
}

static bw_err_t on_revoke(void *opaque, const rd_kafka_topic_partition_list_t *parts) {
    app_t *app = opaque;

    for (int i = 0; app->cr && i < parts->cnt; i++)
        correlate_forget(app->cr,
                         topic_of(app, parts->elems[i].topic) * 1024 + parts->elems[i].partition);
    return BW_ERR_OK;
}

static void cfg_from_conf(const corr_conf_t *cc, correlate_cfg_t *cfg) {
    *cfg = (correlate_cfg_t){
        .state_ttl_s = cc->state_ttl_days * 86400,
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

int main(int argc, char **argv) {
    bw_conf_t conf;
    bw_common_conf_t common = {0};
    corr_conf_t cc = {0};
    app_t app = {.cc = &cc};
    bw_stage_t *st = NULL;
    bw_redis_t *redis = NULL;
    correlate_cfg_t cfg;
    char errstr[1024];
    int rc = 1;

    if (bw_proc_setup(&conf, "correlate", NULL, &common, corr_defs, BW_ARRAY_SIZE(corr_defs), &cc,
                      argc, argv))
        goto out;
    if (!(redis = bw_redis_new(common.redis_url, 2000, NULL, errstr, sizeof(errstr)))) {
        bw_log(BW_LOG_ERROR, "%s", errstr);
        goto out;
    }
    bw_redis_set_retry(redis, -1, 5000, &bw_proc_stop);
    {
        const char *topics[] = {cc.reviews_topic, cc.actions_topic};
        bw_stage_ops_t ops = {.process = process,
                              .delivered = delivered,
                              .rebalance = {&app, on_assign, on_revoke, on_eof},
                              .tick = true};
        if (!(st = bw_stage_new("correlate", &conf, &common, &cc.stage, topics, 2, &ops, &app,
                                errstr, sizeof(errstr)))) {
            bw_log(BW_LOG_ERROR, "%s", errstr);
            goto out;
        }
    }
    cfg_from_conf(&cc, &cfg);
    if (!(app.cr = correlate_new(&cfg, bw_stage_serde(st), redis, bw_stage_metrics(st), errstr,
                                 sizeof(errstr)))) {
        bw_log(BW_LOG_ERROR, "%s", errstr);
        goto out;
    }
    rc = bw_stage_run(st);
out:
    bw_stage_destroy(st);
    correlate_destroy(app.cr);
    bw_redis_destroy(redis);
    bw_conf_destroy(&conf);
    return rc;
}
