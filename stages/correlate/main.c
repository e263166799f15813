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
#include "correlate_conf.h"

typedef struct {
    correlate_t *cr;
    correlate_conf_t *cc;
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
    int64_t now = bw_now_ms();
    char errstr[512];
    bw_err_t err;

    app->st = st;
    for (size_t i = 0; i < n; i++) {
        rd_kafka_message_t *m = msgs[i];
        int topic = topic_of(app, rd_kafka_topic_name(m->rkt));
        bw_err_t why = BW_ERR_OK;
        if (correlate_add_wire(app->cr, topic, m->payload, m->len, topic * 1024 + m->partition,
                               m->offset, now, &why, errstr, sizeof(errstr)) == CORR_REJECTED &&
            (err = bw_stage_deadletter(st, m, why, errstr)))
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

int main(int argc, char **argv) {
    bw_conf_t conf;
    bw_common_conf_t common = {0};
    correlate_conf_t cc = {0};
    app_t app = {.cc = &cc};
    bw_stage_t *st = NULL;
    bw_redis_t *redis = NULL;
    correlate_cfg_t cfg;
    char errstr[1024];
    int rc = 1;

    if (bw_proc_setup(&conf, "correlate", NULL, &common, correlate_conf_defs, correlate_conf_ndefs,
                      &cc, argc, argv))
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
    bw_stage_warm(st, cc.output_topic);
    bw_redis_set_metrics(redis, bw_stage_metrics(st));
    correlate_cfg_from_conf(&cc, &cfg);
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
