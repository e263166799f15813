#include "bw_stage.h"

#include <stdlib.h>
#include <string.h>

#include "bw_log.h"
#include "bw_metrics_def.h"
#include "bw_stop_guard.h"
#include "bw_util.h"

struct bw_stage_s {
    char *name;
    const bw_stage_conf_t *sconf;
    bw_stage_ops_t ops;
    void *opaque;
    bw_metrics_t *reg;
    bw_serde_t *sd;
    bw_consumer_t *consumer;
    bw_producer_t *producer;
    bw_deadletter_t *dl;
    bw_http_t *http;
    bw_buf_t buf;
    bw_metric_t *m_batch_seconds, *m_ready, *m_retries;
    /* the batch in hand, the drain and the teardown wait on the broker:
     * from SIGTERM to the end of bw_stage_destroy, bounded as a whole */
    bw_stop_guard_t *stop_guard;
};

bw_stage_t *bw_stage_new(const char *name, bw_conf_t *conf, const bw_common_conf_t *common,
                         const bw_stage_conf_t *sconf, const char *const *topics, int ntopics,
                         const bw_stage_ops_t *ops, void *opaque, char *errstr,
                         size_t errstr_size) {
    bw_stage_t *st = calloc(1, sizeof(*st));

    if (!st || !(st->name = strdup(name))) {
        free(st);
        bw_errstr_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    st->sconf = sconf;
    st->ops = *ops;
    st->opaque = opaque;
    if (!(st->reg = bw_metrics_new()))
        goto nomem;
    bw_metric_set(bw_metrics_get(st->reg, &bw_common_metrics[BW_M_UP], NULL), 1);
    bw_metric_set(bw_metrics_get(st->reg, &bw_common_metrics[BW_M_START_TIME], NULL),
                  (double)bw_now_ms() / 1000.0);
    st->m_ready = bw_metrics_get(st->reg, &bw_common_metrics[BW_M_READY], NULL);
    st->m_batch_seconds = bw_metrics_get(st->reg, &bw_common_metrics[BW_M_BATCH_SECONDS], NULL);
    st->m_retries = bw_metrics_get(st->reg, &bw_common_metrics[BW_M_BATCH_RETRIES], NULL);
    if (!(st->sd = bw_proc_serde(common, errstr, errstr_size)))
        goto err;
    if (!(st->producer = bw_producer_new(common->brokers, conf, st->reg, errstr, errstr_size)))
        goto err;
    if (!(st->dl = bw_deadletter_new(st->producer, st->sd, sconf->deadletter_topic, name, st->reg,
                                     errstr, errstr_size)))
        goto err;
    if (!(st->http = bw_http_new(sconf->http_listen, st->reg, errstr, errstr_size)))
        goto err;
    if (!(st->consumer = bw_consumer_new(common->brokers, conf, sconf->group_id, topics, ntopics,
                                         &st->ops.rebalance, st->reg, errstr, errstr_size)))
        goto err;
    /* A batch is what is already fetched when its first message comes:
     * waiting to fill it would only add latency at every hop. */
    bw_consumer_set_batch_wait(st->consumer, 0);
    bw_consumer_set_batch_bytes(st->consumer, (size_t)sconf->batch_max_bytes,
                                (size_t)common->message_max_bytes);
    bw_proc_on_reload(ops->reload, opaque);
    bw_stage_warm(st, sconf->deadletter_topic);
    return st;
nomem:
    bw_errstr_set(errstr, errstr_size, "out of memory");
err:
    bw_stage_destroy(st);
    return NULL;
}

/* Put every partition of the batch back to its first offset here, so the
 * next poll delivers the batch again. */
static void seek_back(bw_stage_t *st, rd_kafka_message_t **msgs, size_t n) {
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(8);
    rd_kafka_error_t *error;

    for (size_t i = 0; i < n; i++) {
        const char *topic = rd_kafka_topic_name(msgs[i]->rkt);
        rd_kafka_topic_partition_t *tp =
            rd_kafka_topic_partition_list_find(parts, topic, msgs[i]->partition);
        if (!tp)
            rd_kafka_topic_partition_list_add(parts, topic, msgs[i]->partition)->offset =
                msgs[i]->offset;
        else if (msgs[i]->offset < tp->offset)
            tp->offset = msgs[i]->offset;
    }
    if ((error = rd_kafka_seek_partitions(bw_consumer_handle(st->consumer), parts, 10000))) {
        bw_log(BW_LOG_ERROR, "seek back: %s", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    }
    rd_kafka_topic_partition_list_destroy(parts);
}

/* One batch: process, flush outputs, commit. */
static bw_err_t run_batch(bw_stage_t *st, rd_kafka_message_t **msgs, size_t n) {
    char errstr[512];
    bw_err_t err;
    int64_t t0 = bw_mono_ns();

    int64_t t_proc, t_flush;

    if ((err = st->ops.process(st->opaque, st, msgs, n))) {
        bw_log_rl(BW_LOG_WARN, "batch of %zu not processed (%s); it will run again", n,
                  bw_err2str(err));
        return err;
    }
    t_proc = bw_mono_ns();
    /* Outputs must be delivered before the input is committed: after a
     * crash the batch is read again rather than lost. */
    if ((err = bw_producer_flush(st->producer, 30000, errstr, sizeof(errstr)))) {
        bw_log_rl(BW_LOG_WARN, "batch outputs not delivered (%s); it will run again", errstr);
        return err;
    }
    if (st->ops.delivered && (err = st->ops.delivered(st->opaque, st))) {
        bw_log_rl(BW_LOG_WARN, "batch delivered, not settled (%s); it will run again",
                  bw_err2str(err));
        return err;
    }
    t_flush = bw_mono_ns();
    if (n > 0 && (err = bw_consumer_commit(st->consumer, msgs, n, errstr, sizeof(errstr))))
        bw_log_rl(BW_LOG_WARN, "%s (the batch may be read again)", errstr);
    bw_log(BW_LOG_DEBUG, "batch of %zu: process %.2f ms, flush %.2f ms, commit %.2f ms", n,
           (double)(t_proc - t0) / 1e6, (double)(t_flush - t_proc) / 1e6,
           (double)(bw_mono_ns() - t_flush) / 1e6);
    if (n > 0) /* a tick is not a batch */
        bw_metric_observe(st->m_batch_seconds, (double)(bw_mono_ns() - t0) / 1e9);
    return BW_ERR_OK;
}

int bw_stage_run(bw_stage_t *st) {
    size_t max = (size_t)st->sconf->batch_size;
    rd_kafka_message_t **msgs = calloc(max, sizeof(*msgs));
    char errstr[512];
    int rc = 0;
    int64_t last_tick = 0;

    if (!msgs)
        return 1;
    if (!st->stop_guard)
        st->stop_guard = bw_stop_guard_start(st->name, BW_STOP_TIMEOUT_MS, 0);
    if (bw_http_start(st->http, errstr, sizeof(errstr))) {
        bw_log(BW_LOG_ERROR, "%s: %s", st->sconf->http_listen, errstr);
        free(msgs);
        return 1;
    }
    bw_log_kv(BW_LOG_INFO, json_pack("{s:i}", "http_port", bw_http_port(st->http)), "%s running",
              st->name);
    while (bw_proc_service()) {
        size_t n = bw_consumer_poll(st->consumer, msgs, max, (int)st->sconf->poll_timeout_ms);
        bool ready = bw_consumer_assigned(st->consumer) > 0;

        bw_http_set_ready(st->http, ready);
        bw_metric_set(st->m_ready, ready);
        if (n == 0) {
            bw_producer_poll(st->producer);
            if (st->ops.tick && ready && bw_mono_ms() - last_tick >= 1000) {
                last_tick = bw_mono_ms();
                if (run_batch(st, msgs, 0))
                    bw_metric_inc(st->m_retries);
            }
            continue;
        }
        if (run_batch(st, msgs, n)) {
            bw_metric_inc(st->m_retries);
            seek_back(st, msgs, n);
            bw_sleep_ms(st->sconf->retry_backoff_ms);
        }
        for (size_t i = 0; i < n; i++)
            rd_kafka_message_destroy(msgs[i]);
    }
    bw_log(BW_LOG_INFO, "%s draining", st->name);
    if (bw_producer_flush(st->producer, 15000, errstr, sizeof(errstr))) {
        bw_log(BW_LOG_ERROR, "drain: %s", errstr);
        rc = 1;
    }
    free(msgs);
    return rc;
}

void bw_stage_destroy(bw_stage_t *st) {
    if (!st)
        return;
    bw_http_destroy(st->http); /* first: its thread reads the metrics */
    bw_consumer_destroy(st->consumer);
    bw_deadletter_destroy(st->dl);
    bw_producer_destroy(st->producer);
    bw_serde_destroy(st->sd);
    bw_metrics_destroy(st->reg);
    bw_buf_free(&st->buf);
    free(st->name);
    bw_stop_guard_end(st->stop_guard);
    free(st);
}

void bw_stage_warm(bw_stage_t *st, const char *topic) {
    char errstr[512];

    if (bw_producer_warm(st->producer, topic, 5000, errstr, sizeof(errstr)))
        bw_log(BW_LOG_WARN, "output topic not looked up (%s); the first record sent waits for it",
               errstr);
}

bw_err_t bw_stage_emit(bw_stage_t *st, const char *topic, const void *key, size_t keylen,
                       const bw_schema_t *schema, avro_value_t *value) {
    char errstr[512];
    bw_err_t err;

    if ((err = bw_serde_encode(st->sd, schema, value, &st->buf, errstr, sizeof(errstr)))) {
        bw_log_rl(BW_LOG_ERROR, "emit to %s: %s", topic, errstr);
        return err;
    }
    return bw_stage_emit_wire(st, topic, key, keylen, &st->buf);
}

bw_err_t bw_stage_emit_wire(bw_stage_t *st, const char *topic, const void *key, size_t keylen,
                            const bw_buf_t *wire) {
    char errstr[512];
    bw_err_t err;

    if ((err = bw_producer_send(st->producer, topic, key, keylen, wire->data, wire->len, errstr,
                                sizeof(errstr))))
        bw_log_rl(BW_LOG_ERROR, "emit to %s: %s", topic, errstr);
    return err;
}

bw_err_t bw_stage_deadletter(bw_stage_t *st, const rd_kafka_message_t *msg, bw_err_t code,
                             const char *reason) {
    return bw_deadletter_msg(st->dl, msg, code, reason);
}

bw_serde_t *bw_stage_serde(bw_stage_t *st) {
    return st->sd;
}

bw_metrics_t *bw_stage_metrics(bw_stage_t *st) {
    return st->reg;
}

bw_http_t *bw_stage_http(bw_stage_t *st) {
    return st->http;
}
