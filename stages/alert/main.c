/*
 * bw-alert: bw.signals -> bw.alerts. One EarlyWarning per problem (type +
 * scope): pending for alert.for.ms, FIRING once, re-sent when its severity
 * rises (or as a reminder after alert.cooldown.ms), RESOLVED after
 * alert.hold.ms without a signal. The active alerts are served as JSON at
 * /alerts (?store=&type=&severity=) and counted in bw_alerts_active.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "bw_log.h"
#include "bw_proc.h"
#include "bw_stage.h"

typedef struct {
    bw_stage_conf_t stage;
    char *input_topic, *output_topic;
    int64_t for_ms, cooldown_ms, hold_ms, keep_ms, ttl_days;
    bool redact;
} alert_conf_t;

#define K(f) offsetof(alert_conf_t, f)
static const bw_conf_def_t alert_defs[] = {
    BW_STAGE_CONF_DEFS("bw-alert", "127.0.0.1:9104", "500"),
    {"input.topic", BW_CONF_STR, K(input_topic), "bw.signals", BW_CONF_NORANGE, NULL,
     "Topic of Signals"},
    {"output.topic", BW_CONF_STR, K(output_topic), "bw.alerts", BW_CONF_NORANGE, NULL,
     "Topic of EarlyWarnings"},
    {"alert.for.ms", BW_CONF_INT, K(for_ms), "0", 0, 30LL * 86400000, NULL,
     "A condition must hold this long (event time) before its alert fires"},
    {"alert.cooldown.ms", BW_CONF_INT, K(cooldown_ms), "259200000", 0, 365LL * 86400000, NULL,
     "A firing alert's repeats are rolled up; re-sent at most this often (0: only when worse)"},
    {"alert.hold.ms", BW_CONF_INT, K(hold_ms), "172800000", 1000, 365LL * 86400000, NULL,
     "An alert resolves after this long (event time) without a signal"},
    {"alert.keep.ms", BW_CONF_INT, K(keep_ms), "0", 0, 365LL * 86400000, NULL,
     "A resolved alert stays in memory this long (event time) after its last signal, then waits "
     "in Redis until a signal names it again (0: twice alert.hold.ms)"},
    {"state.ttl.days", BW_CONF_INT, K(ttl_days), "90", 1, 3650, NULL,
     "Lifetime of alert state in Redis after its last change"},
    {"alert.redact", BW_CONF_BOOL, K(redact), "true", BW_CONF_NORANGE, NULL,
     "Replace e-mail addresses and phone numbers in alerts' scope, evidence, detail and summary "
     "with [email] and [phone]"},
};
#undef K

typedef struct {
    alert_t *al;
    alert_conf_t *ac;
    bw_stage_t *st;
} app_t;

static bw_err_t emit(void *opaque, const char *key, avro_value_t *warning) {
    app_t *app = opaque;
    return bw_stage_emit(app->st, app->ac->output_topic, key, strlen(key),
                         bw_serde_schema(bw_stage_serde(app->st), "EarlyWarning"), warning);
}

static bw_err_t process(void *opaque, bw_stage_t *st, rd_kafka_message_t **msgs, size_t n) {
    app_t *app = opaque;
    bw_serde_t *sd = bw_stage_serde(st);
    const bw_schema_t *sig = bw_serde_schema(sd, "Signal");
    char errstr[512];
    bw_err_t err;

    app->st = st;
    for (size_t i = 0; i < n; i++) {
        bw_record_t *rec;
        if ((err = bw_serde_decode(sd, msgs[i]->payload, msgs[i]->len, sig, &rec, errstr,
                                   sizeof(errstr)))) {
            if ((err = bw_stage_deadletter(st, msgs[i], err, errstr)))
                goto fail;
            continue;
        }
        if (!alert_add(app->al, rec, msgs[i]->partition, msgs[i]->offset, errstr, sizeof(errstr)) &&
            (err = bw_stage_deadletter(st, msgs[i], BW_ERR_OUT_OF_RANGE, errstr)))
            goto fail;
    }
    if ((err = alert_end_batch(app->al, emit, app, errstr, sizeof(errstr)))) {
        bw_log_rl(BW_LOG_WARN, "batch not applied: %s", errstr);
        alert_discard(app->al);
        return bw_err_retriable(err) ? err : BW_ERR_REDIS_DOWN;
    }
    return BW_ERR_OK;
fail:
    alert_discard(app->al);
    return err;
}

static bw_err_t delivered(void *opaque, bw_stage_t *st) {
    app_t *app = opaque;
    char errstr[512];
    bw_err_t err;

    (void)st;
    if ((err = alert_delivered(app->al, errstr, sizeof(errstr))))
        bw_log_rl(BW_LOG_WARN, "alerts sent, state not written: %s", errstr);
    return err ? BW_ERR_REDIS_DOWN : BW_ERR_OK;
}

static bw_err_t on_assign(void *opaque, const rd_kafka_topic_partition_list_t *parts) {
    app_t *app = opaque;
    for (int i = 0; app->al && i < parts->cnt; i++)
        alert_assigned(app->al, parts->elems[i].partition);
    return BW_ERR_OK;
}

static bw_err_t on_revoke(void *opaque, const rd_kafka_topic_partition_list_t *parts) {
    app_t *app = opaque;
    for (int i = 0; app->al && i < parts->cnt; i++)
        alert_revoked(app->al, parts->elems[i].partition);
    return BW_ERR_OK;
}

static int serve_alerts(void *opaque, const bw_http_req_t *req, bw_buf_t *body,
                        const char **content_type) {
    app_t *app = opaque;
    char *text =
        app->al ? alert_active_json(app->al, bw_http_req_arg(req, "store"),
                                    bw_http_req_arg(req, "type"), bw_http_req_arg(req, "severity"))
                : strdup("[]");

    *content_type = "application/json";
    if (!text || !bw_buf_append(body, text, strlen(text))) {
        free(text);
        return 500;
    }
    free(text);
    return 200;
}

int main(int argc, char **argv) {
    bw_conf_t conf;
    bw_common_conf_t common = {0};
    alert_conf_t ac = {0};
    app_t app = {.ac = &ac};
    bw_stage_t *st = NULL;
    bw_redis_t *redis = NULL;
    char errstr[1024];
    int rc = 1;

    if (bw_proc_setup(&conf, "alert", NULL, &common, alert_defs, BW_ARRAY_SIZE(alert_defs), &ac,
                      argc, argv))
        goto out;
    if (!(redis = bw_redis_new(common.redis_url, 2000, NULL, errstr, sizeof(errstr)))) {
        bw_log(BW_LOG_ERROR, "%s", errstr);
        goto out;
    }
    bw_redis_set_retry(redis, -1, 5000, &bw_proc_stop);
    {
        const char *topics[] = {ac.input_topic};
        bw_stage_ops_t ops = {.process = process,
                              .delivered = delivered,
                              .rebalance = {&app, on_assign, on_revoke, NULL},
                              .tick = true};
        if (!(st = bw_stage_new("alert", &conf, &common, &ac.stage, topics, 1, &ops, &app, errstr,
                                sizeof(errstr)))) {
            bw_log(BW_LOG_ERROR, "%s", errstr);
            goto out;
        }
    }
    bw_stage_warm(st, ac.output_topic);
    bw_redis_set_metrics(redis, bw_stage_metrics(st));
    {
        alert_cfg_t cfg = {
            {ac.for_ms, ac.cooldown_ms, ac.hold_ms, ac.keep_ms}, ac.ttl_days * 86400, ac.redact};
        if (!(app.al = alert_new(&cfg, bw_stage_serde(st), redis, bw_stage_metrics(st), errstr,
                                 sizeof(errstr)))) {
            bw_log(BW_LOG_ERROR, "%s", errstr);
            goto out;
        }
    }
    if (bw_http_route(bw_stage_http(st), "/alerts", serve_alerts, &app)) {
        bw_log(BW_LOG_ERROR, "cannot serve /alerts");
        goto out;
    }
    rc = bw_stage_run(st);
out:
    bw_stage_destroy(st);
    alert_destroy(app.al);
    bw_redis_destroy(redis);
    bw_conf_destroy(&conf);
    return rc;
}
