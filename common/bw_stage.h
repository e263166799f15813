/**
 * @file bw_stage.h
 * @brief The loop every stage runs: poll a batch, let the stage process it
 *        (outputs and dead letters), flush the producer, commit the batch,
 *        repeat; serve /metrics, /healthz and /readyz; SIGHUP reloads,
 *        SIGTERM drains and exits 0.
 *
 * When processing or delivery fails with a retriable error (Redis or the
 * broker away), nothing is committed: the consumer seeks back to the first
 * offset of the batch on each partition and the batch runs again after a
 * backoff. Stages make that replay harmless.
 */
#ifndef BW_STAGE_H
#define BW_STAGE_H

#include <librdkafka/rdkafka.h>

#include "bw_conf.h"
#include "bw_deadletter.h"
#include "bw_err.h"
#include "bw_http.h"
#include "bw_kafka.h"
#include "bw_metrics.h"
#include "bw_proc.h"
#include "bw_serde.h"

/** Keys every stage has (besides the common ones). */
typedef struct bw_stage_conf_s {
    char *group_id;
    char *http_listen;
    char *deadletter_topic;
    int64_t batch_size;
    int64_t poll_timeout_ms;
    int64_t retry_backoff_ms;
    int64_t batch_max_bytes;
} bw_stage_conf_t;

/**
 * @brief The stage key table; @p group, @p listen and @p batch (a string)
 *        give the defaults.
 */
#define BW_STAGE_CONF_DEFS(group, listen, batch)                                                 \
    {"group.id",      BW_CONF_STR, offsetof(bw_stage_conf_t, group_id), group,                   \
     BW_CONF_NORANGE, NULL,        "Kafka consumer group of this stage"},                        \
        {"http.listen",                                                                          \
         BW_CONF_STR,                                                                            \
         offsetof(bw_stage_conf_t, http_listen),                                                 \
         listen,                                                                                 \
         BW_CONF_NORANGE,                                                                        \
         NULL,                                                                                   \
         "Address of /metrics, /healthz and /readyz (HOST:PORT)"},                               \
        {"deadletter.topic",                                                                     \
         BW_CONF_STR,                                                                            \
         offsetof(bw_stage_conf_t, deadletter_topic),                                            \
         "bw.deadletter",                                                                        \
         BW_CONF_NORANGE,                                                                        \
         NULL,                                                                                   \
         "Where unusable input goes, with the reason"},                                          \
        {"batch.size",                                                                           \
         BW_CONF_INT,                                                                            \
         offsetof(bw_stage_conf_t, batch_size),                                                  \
         batch,                                                                                  \
         1,                                                                                      \
         100000,                                                                                 \
         NULL,                                                                                   \
         "Most messages processed (and committed) together"},                                    \
        {"batch.max.bytes",                                                                      \
         BW_CONF_INT,                                                                            \
         offsetof(bw_stage_conf_t, batch_max_bytes),                                             \
         "8388608",                                                                              \
         65536,                                                                                  \
         1073741824,                                                                             \
         NULL,                                                                                   \
         "Most bytes of input a batch holds (it stops growing there; at least one message)"},    \
        {"poll.timeout.ms",                                                                      \
         BW_CONF_INT,                                                                            \
         offsetof(bw_stage_conf_t, poll_timeout_ms),                                             \
         "100",                                                                                  \
         1,                                                                                      \
         60000,                                                                                  \
         NULL,                                                                                   \
         "Longest wait for the first message of a batch"},                                       \
    {                                                                                            \
        "retry.backoff.ms", BW_CONF_INT, offsetof(bw_stage_conf_t, retry_backoff_ms), "500", 10, \
            60000, NULL, "Wait before a failed batch runs again"                                 \
    }

typedef struct bw_stage_s bw_stage_t;

typedef struct bw_stage_ops_s {
    /**
     * Process a batch: for each message produce outputs (bw_stage_emit) or
     * dead-letter it (bw_stage_deadletter). Return a retriable error to have
     * the whole batch run again later; BW_ERR_OK otherwise.
     */
    bw_err_t (*process)(void *opaque, bw_stage_t *st, rd_kafka_message_t **msgs, size_t n);
    /**
     * Optional: the batch's outputs are delivered, its input not yet
     * committed. State that must only say "sent" once it is true goes
     * here. A retriable error has the batch run again.
     */
    bw_err_t (*delivered)(void *opaque, bw_stage_t *st);
    bw_proc_reload_cb reload;
    bw_rebalance_hooks_t rebalance;
    /**
     * When true, process() is also called with no messages about once a
     * second while the input is idle (event-time timers that must fire
     * after the input stops); its outputs are flushed as for a batch.
     */
    bool tick;
} bw_stage_ops_t;

/**
 * @brief Create the consumer (subscribed to @p topics), producer, serde,
 *        dead-letter writer and HTTP server of a stage.
 */
bw_stage_t *bw_stage_new(const char *name, bw_conf_t *conf, const bw_common_conf_t *common,
                         const bw_stage_conf_t *sconf, const char *const *topics, int ntopics,
                         const bw_stage_ops_t *ops, void *opaque, char *errstr, size_t errstr_size);

/** @brief Run until SIGTERM/SIGINT; returns the process exit code. */
int bw_stage_run(bw_stage_t *st);

void bw_stage_destroy(bw_stage_t *st);

/**
 * @brief Look up an output topic before the first batch (the dead-letter
 *        topic is looked up by bw_stage_new): the first record sent to a
 *        topic otherwise waits for its metadata. A failure is logged, not
 *        fatal: the producer looks the topic up again when it sends.
 */
void bw_stage_warm(bw_stage_t *st, const char *topic);

/** @brief Encode @p value with @p schema and produce it to @p topic. */
bw_err_t bw_stage_emit(bw_stage_t *st, const char *topic, const void *key, size_t keylen,
                       const bw_schema_t *schema, avro_value_t *value);

/** @brief Produce a record already in wire format (bw_serde_encode*). */
bw_err_t bw_stage_emit_wire(bw_stage_t *st, const char *topic, const void *key, size_t keylen,
                            const bw_buf_t *wire);

/** @brief Dead-letter a consumed message with its reason. */
bw_err_t bw_stage_deadletter(bw_stage_t *st, const rd_kafka_message_t *msg, bw_err_t code,
                             const char *reason);

bw_serde_t *bw_stage_serde(bw_stage_t *st);
bw_metrics_t *bw_stage_metrics(bw_stage_t *st);
bw_http_t *bw_stage_http(bw_stage_t *st);

#endif
