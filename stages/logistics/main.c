/*
 * bw-logistics: bw.orders + bw.shipments -> order index, parcel timers
 * and windows in Redis -> Signals on bw.signals (CARRIER_DELAY_SPIKE,
 * SHIPMENT_STALLED, LATE_SHIPMENT_RATE_AT_RISK, VALID_TRACKING_AT_RISK).
 * Every Redis write goes through the window engine's fenced flush, so
 * replays never double count.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "bw_log.h"
#include "bw_proc.h"
#include "bw_stage.h"
#include "logistics.h"

typedef struct {
    bw_stage_conf_t stage;
    char *orders_topic, *shipments_topic, *output_topic;
    int64_t window_ms, history, index_ttl_days, window_ttl_days;
    int64_t lateness_ms, grace_ms, skew_ms, idle_ms;
    int64_t min_sample;
    double min_ratio, min_excess, alpha, ewma, prior;
    double ship_warn, ship_critical;
    int64_t ship_min;
    int64_t span, stall_hours, stall_min, tracking_hours, timer_batch;
    double stall_ratio, stall_alpha, stall_prior, track_warn, track_critical;
} logi_conf_t;

#define K(f) offsetof(logi_conf_t, f)
static const bw_conf_def_t logi_defs[] = {
    BW_STAGE_CONF_DEFS("bw-logistics", "127.0.0.1:9102", "500"),
    {"orders.topic", BW_CONF_STR, K(orders_topic), "bw.orders", BW_CONF_NORANGE, NULL,
     "Topic of OrderEvents"},
    {"shipments.topic", BW_CONF_STR, K(shipments_topic), "bw.shipments", BW_CONF_NORANGE, NULL,
     "Topic of ShipmentEvents"},
    {"output.topic", BW_CONF_STR, K(output_topic), "bw.signals", BW_CONF_NORANGE, NULL,
     "Topic of Signals"},
    {"window.ms", BW_CONF_INT, K(window_ms), "86400000", 60000, 30LL * 86400000, NULL,
     "Tumbling event-time window of the delay counts"},
    {"window.history", BW_CONF_INT, K(history), "14", 1, 60, NULL,
     "Earlier windows in the EWMA baseline"},
    {"index.ttl.days", BW_CONF_INT, K(index_ttl_days), "120", 1, 3650, NULL,
     "Lifetime of the order index in Redis"},
    {"window.ttl.days", BW_CONF_INT, K(window_ttl_days), "60", 1, 3650, NULL,
     "Lifetime of window counters in Redis"},
    BW_WM_CONF_DEFS(K),
    {"spike.min.sample", BW_CONF_INT, K(min_sample), "30", 1, 1000000, NULL,
     "Deliveries in a window before a delay spike can fire"},
    {"spike.min.ratio", BW_CONF_DBL, K(min_ratio), "1.5", 1, 100, NULL,
     "Late share must reach this times the baseline"},
    {"spike.min.excess", BW_CONF_DBL, K(min_excess), "0.05", 0, 1, NULL,
     "and exceed the baseline by at least this much"},
    {"spike.alpha", BW_CONF_DBL, K(alpha), "0.001", 1e-12, 0.5, NULL,
     "Level of the one-sided binomial test"},
    {"spike.ewma", BW_CONF_DBL, K(ewma), "0.3", 0.01, 1, NULL,
     "Weight of the newest window in the baseline"},
    {"spike.span", BW_CONF_INT, K(span), "3", 1, 30, NULL,
     "Windows summed as the current one (a sliding sum: one bad day alone does not fire)"},
    {"spike.prior", BW_CONF_DBL, K(prior), "0.08", 0.0001, 0.9, NULL,
     "Baseline late share before there is history"},
    {"ship.warn", BW_CONF_DBL, K(ship_warn), "0.03", 0, 1, NULL,
     "Late shipment rate that warns (10 and 30 days)"},
    {"ship.critical", BW_CONF_DBL, K(ship_critical), "0.04", 0, 1, NULL,
     "Late shipment rate that is critical"},
    {"ship.min", BW_CONF_INT, K(ship_min), "20", 1, 1000000, NULL,
     "Shipments before the late shipment rate and valid tracking rate are judged"},
    {"stall.hours", BW_CONF_INT, K(stall_hours), "72", 1, 24 * 60, NULL,
     "A parcel in transit with no scan for this long is stalled"},
    {"stall.min", BW_CONF_INT, K(stall_min), "5", 1, 1000000, NULL,
     "Stalled parcels in the span before SHIPMENT_STALLED can fire"},
    {"stall.ratio", BW_CONF_DBL, K(stall_ratio), "2", 1, 100, NULL,
     "Stalled parcels must reach this times the expected count"},
    {"stall.alpha", BW_CONF_DBL, K(stall_alpha), "0.001", 1e-12, 0.5, NULL,
     "Level of the one-sided Poisson test of stalled parcels"},
    {"stall.prior", BW_CONF_DBL, K(stall_prior), "0.5", 0.01, 1000, NULL,
     "Expected stalled parcels per window before there is history (a floor)"},
    {"tracking.hours", BW_CONF_INT, K(tracking_hours), "48", 1, 24 * 30, NULL,
     "A carrier scan within this of ship confirmation makes the tracking valid"},
    {"track.warn", BW_CONF_DBL, K(track_warn), "0.96", 0, 1, NULL,
     "Valid tracking rate (30 days) below this warns"},
    {"track.critical", BW_CONF_DBL, K(track_critical), "0.95", 0, 1, NULL,
     "Valid tracking rate below this is critical"},
    {"timer.batch", BW_CONF_INT, K(timer_batch), "1000", 1, 100000, NULL,
     "Parcel timers settled per partition and kind per read (up to 8 reads a batch)"},
};
#undef K

typedef struct {
    logistics_t *lg;
    logi_conf_t *lc;
    bw_stage_t *st;
} app_t;

static int32_t pid_of(const app_t *app, const rd_kafka_message_t *m, int *topic) {
    *topic = strcmp(rd_kafka_topic_name(m->rkt), app->lc->orders_topic) ? LOGI_TOPIC_SHIPMENTS
                                                                        : LOGI_TOPIC_ORDERS;
    return *topic * 1024 + m->partition;
}

static bw_err_t emit(void *opaque, const char *key, avro_value_t *signal) {
    app_t *app = opaque;
    return bw_stage_emit(app->st, app->lc->output_topic, key, strlen(key),
                         bw_serde_schema(bw_stage_serde(app->st), "Signal"), signal);
}

static bw_err_t process(void *opaque, bw_stage_t *st, rd_kafka_message_t **msgs, size_t n) {
    app_t *app = opaque;
    int64_t now = bw_now_ms();
    char errstr[512];
    bw_err_t err;

    app->st = st;
    for (size_t i = 0; i < n; i++) {
        rd_kafka_message_t *m = msgs[i];
        int topic;
        int32_t pid = pid_of(app, m, &topic);
        bw_err_t why = BW_ERR_OK;
        if (logistics_add_wire(app->lg, topic, m->payload, m->len, pid, m->offset, now, &why,
                               errstr, sizeof(errstr)) == LOGI_REJECTED &&
            (err = bw_stage_deadletter(st, m, why, errstr)))
            goto fail;
    }
    if ((err = logistics_end_batch(app->lg, now, emit, app, errstr, sizeof(errstr)))) {
        bw_log_rl(BW_LOG_WARN, "batch not written: %s", errstr);
        /* every failure here is worth a retry: the fences make it safe */
        return bw_err_retriable(err) ? err : BW_ERR_REDIS_DOWN;
    }
    return BW_ERR_OK;
fail:
    logistics_discard(app->lg);
    return err;
}

static bw_err_t delivered(void *opaque, bw_stage_t *st) {
    app_t *app = opaque;
    char errstr[512];
    bw_err_t err;

    (void)st;
    if ((err = logistics_delivered(app->lg, errstr, sizeof(errstr))))
        bw_log_rl(BW_LOG_WARN, "signals sent, not yet remembered: %s", errstr);
    return err ? BW_ERR_REDIS_DOWN : BW_ERR_OK;
}

static int32_t pid_of_part(const app_t *app, const rd_kafka_topic_partition_t *tp) {
    int topic = strcmp(tp->topic, app->lc->orders_topic) ? LOGI_TOPIC_SHIPMENTS : LOGI_TOPIC_ORDERS;
    return topic * 1024 + tp->partition;
}

static bw_err_t on_assign(void *opaque, const rd_kafka_topic_partition_list_t *parts) {
    app_t *app = opaque;

    /* a restarted stage must not let its timers run ahead of a backlog */
    for (int i = 0; app->lg && i < parts->cnt; i++)
        logistics_assigned(app->lg, pid_of_part(app, &parts->elems[i]), bw_now_ms());
    return BW_ERR_OK;
}

static void on_eof(void *opaque, const char *topic, int32_t partition) {
    app_t *app = opaque;
    int t = strcmp(topic, app->lc->orders_topic) ? LOGI_TOPIC_SHIPMENTS : LOGI_TOPIC_ORDERS;

    if (app->lg)
        logistics_eof(app->lg, t * 1024 + partition);
}

static bw_err_t on_revoke(void *opaque, const rd_kafka_topic_partition_list_t *parts) {
    app_t *app = opaque;

    for (int i = 0; app->lg && i < parts->cnt; i++)
        logistics_forget(app->lg, pid_of_part(app, &parts->elems[i]));
    return BW_ERR_OK;
}

int main(int argc, char **argv) {
    bw_conf_t conf;
    bw_common_conf_t common = {0};
    logi_conf_t lc = {0};
    app_t app = {.lc = &lc};
    bw_stage_t *st = NULL;
    bw_redis_t *redis = NULL;
    char errstr[1024];
    int rc = 1;

    if (bw_proc_setup(&conf, "logistics", NULL, &common, logi_defs, BW_ARRAY_SIZE(logi_defs), &lc,
                      argc, argv))
        goto out;
    if (!(redis = bw_redis_new(common.redis_url, 2000, NULL, errstr, sizeof(errstr)))) {
        bw_log(BW_LOG_ERROR, "%s", errstr);
        goto out;
    }
    bw_redis_set_retry(redis, -1, 5000, &bw_proc_stop);
    {
        const char *topics[] = {lc.orders_topic, lc.shipments_topic};
        bw_stage_ops_t ops = {.process = process,
                              .delivered = delivered,
                              .rebalance = {&app, on_assign, on_revoke, on_eof},
                              .tick = true};
        if (!(st = bw_stage_new("logistics", &conf, &common, &lc.stage, topics, 2, &ops, &app,
                                errstr, sizeof(errstr)))) {
            bw_log(BW_LOG_ERROR, "%s", errstr);
            goto out;
        }
    }
    bw_stage_warm(st, lc.output_topic);
    bw_redis_set_metrics(redis, bw_stage_metrics(st));
    {
        logistics_cfg_t cfg = {
            .window_ms = lc.window_ms,
            .history = lc.history,
            .index_ttl_s = lc.index_ttl_days * 86400,
            .window_ttl_s = lc.window_ttl_days * 86400,
            .lateness_ms = lc.lateness_ms,
            .grace_ms = lc.grace_ms,
            .skew_ms = lc.skew_ms,
            .idle_ms = lc.idle_ms,
            .min_event_ms = 946684800000LL, /* 2000-01-01: before that, a clock error */
            .spike = {lc.min_sample, lc.min_ratio, lc.min_excess, lc.alpha, lc.ewma, lc.prior,
                      lc.span},
            .ship_warn = lc.ship_warn,
            .ship_critical = lc.ship_critical,
            .ship_min = lc.ship_min,
            .stall_ms = lc.stall_hours * 3600000,
            .stall = {lc.stall_min, lc.stall_ratio, lc.stall_alpha, lc.ewma, lc.stall_prior},
            .tracking_ms = lc.tracking_hours * 3600000,
            .track_warn = lc.track_warn,
            .track_critical = lc.track_critical,
            .timer_batch = lc.timer_batch,
        };
        if (!(app.lg = logistics_new(&cfg, bw_stage_serde(st), redis, bw_stage_metrics(st), errstr,
                                     sizeof(errstr)))) {
            bw_log(BW_LOG_ERROR, "%s", errstr);
            goto out;
        }
    }
    rc = bw_stage_run(st);
out:
    bw_stage_destroy(st);
    logistics_destroy(app.lg);
    bw_redis_destroy(redis);
    bw_conf_destroy(&conf);
    return rc;
}
