/**
 * @file bw_kafka.h
 * @brief Thin Kafka plumbing over librdkafka: a batch consumer that commits
 *        only what was processed, and an idempotent producer whose failed
 *        deliveries come back to the caller as errors.
 *
 * Consumer contract: poll a batch, process it completely (outputs produced
 * and flushed, state written), then bw_consumer_commit() the batch, then
 * poll again. Offsets are never committed automatically, so a crash replays
 * from the last processed batch; stages make that replay harmless (fences
 * in Redis, deterministic ids downstream).
 */
#ifndef BW_KAFKA_H
#define BW_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bw_conf.h"
#include "bw_err.h"
#include "bw_metrics.h"

/** How long an offset commit is waited for before it is given up on. */
#define BW_COMMIT_TIMEOUT_MS 10000

/** How long a stopping consumer waits to leave its group before it just goes. */
#define BW_CLOSE_TIMEOUT_MS 10000

/** Which client a configuration is for: kafka.* keys go where they apply. */
typedef enum { BW_KAFKA_CONSUMER, BW_KAFKA_PRODUCER } bw_kafka_role_t;

/**
 * @brief A librdkafka configuration, applied in this order: @p defaults
 *        (NULL-terminated name, value pairs), @p brokers ("host:port,..." or
 *        "@FILE" to read them from a file such as bw-devkafka's bootstrap
 *        file), the kafka.* keys of @p conf for @p role, then @p required,
 *        which the caller's correctness depends on. An invalid property is
 *        an error that names it.
 *
 * kafka.consumer.NAME and kafka.producer.NAME go to that client only;
 * kafka.NAME goes to both, unless NAME is a property only one of them
 * has (session.timeout.ms, linger.ms, ...), which goes to that one: a
 * stage has a consumer and a producer, and librdkafka warns about a
 * property the client ignores.
 */
rd_kafka_conf_t *bw_kafka_conf_new(const char *brokers, bw_kafka_role_t role,
                                   const char *const *defaults, const bw_conf_t *conf,
                                   const char *const *required, char *errstr, size_t errstr_size);

/** @brief The name to set for kafka.* key @p key on @p role's client, or NULL: not for it. */
const char *bw_kafka_prop_for(const char *key, bw_kafka_role_t role);

/** @brief Resolve "@FILE" to the first line of FILE; else copy. */
bw_err_t bw_kafka_brokers_resolve(const char *brokers, char *out, size_t out_size, char *errstr,
                                  size_t errstr_size);

/* ---- consumer ---- */

typedef struct bw_consumer_s bw_consumer_t;

/** Hooks called from bw_consumer_poll() when partitions come and go. */
typedef struct bw_rebalance_hooks_s {
    void *opaque;
    /** Load per-partition state before the first message arrives. */
    bw_err_t (*on_assign)(void *opaque, const rd_kafka_topic_partition_list_t *parts);
    /** Flush per-partition state; offsets are committed right after. */
    bw_err_t (*on_revoke)(void *opaque, const rd_kafka_topic_partition_list_t *parts);
    /** Optional: a partition has nothing more to read for now (its end). */
    void (*on_eof)(void *opaque, const char *topic, int32_t partition);
} bw_rebalance_hooks_t;

bw_consumer_t *bw_consumer_new(const char *brokers, const bw_conf_t *conf, const char *group,
                               const char *const *topics, int ntopics,
                               const bw_rebalance_hooks_t *hooks, bw_metrics_t *reg, char *errstr,
                               size_t errstr_size);

/**
 * @brief Up to @p max messages, waiting at most @p timeout_ms for the first.
 * Consumer errors are logged and counted, not returned as messages.
 * @returns how many messages were stored in @p msgs (the caller destroys
 *          them with rd_kafka_message_destroy after committing).
 */
size_t bw_consumer_poll(bw_consumer_t *c, rd_kafka_message_t **msgs, size_t max, int timeout_ms);

/** @brief Synchronously commit offset+1 of the highest message per partition. */
bw_err_t bw_consumer_commit(bw_consumer_t *c, rd_kafka_message_t *const *msgs, size_t n,
                            char *errstr, size_t errstr_size);

/** @brief How long a poll keeps filling a batch after its first message
 *         (default 10 ms). */
void bw_consumer_set_batch_wait(bw_consumer_t *c, int ms);

/**
 * @brief Bound what a batch holds: a poll stops adding messages once they
 *        hold @p bytes (payloads and keys), and never goes past it by more
 *        than one message of up to @p msg_bytes. 0: no bound (the default).
 */
void bw_consumer_set_batch_bytes(bw_consumer_t *c, size_t bytes, size_t msg_bytes);

/** @brief Partitions currently assigned (0 before the first rebalance). */
int bw_consumer_assigned(const bw_consumer_t *c);

rd_kafka_t *bw_consumer_handle(bw_consumer_t *c);

/** @brief Leave the group (revoke hook runs) and free everything. */
void bw_consumer_destroy(bw_consumer_t *c);

/* ---- producer ---- */

typedef struct bw_producer_s bw_producer_t;

/** @brief Idempotent producer (enable.idempotence=true, acks=all). */
bw_producer_t *bw_producer_new(const char *brokers, const bw_conf_t *conf, bw_metrics_t *reg,
                               char *errstr, size_t errstr_size);

/**
 * @brief Queue one message (value copied). When the local queue is full it
 *        serves delivery reports and retries for up to 30 s.
 */
bw_err_t bw_producer_send(bw_producer_t *p, const char *topic, const void *key, size_t keylen,
                          const void *value, size_t len, char *errstr, size_t errstr_size);

/**
 * @brief Wait until everything queued is delivered or failed.
 * @returns BW_ERR_DELIVERY if any message failed since the last flush (the
 *          first failure's reason is in errstr), BW_ERR_TIMEOUT if some are
 *          still in flight.
 */
bw_err_t bw_producer_flush(bw_producer_t *p, int timeout_ms, char *errstr, size_t errstr_size);

/**
 * @brief Look up @p topic's partitions and leaders now, so that the first
 *        message sent to it does not wait for them (up to a second seen on
 *        the embedded broker: the first alert of a run was the slowest).
 * @returns BW_ERR_KAFKA (why in errstr) if the topic is unknown or the
 *          broker did not answer within @p timeout_ms.
 */
bw_err_t bw_producer_warm(bw_producer_t *p, const char *topic, int timeout_ms, char *errstr,
                          size_t errstr_size);

/** @brief Serve delivery reports without blocking. */
void bw_producer_poll(bw_producer_t *p);

/** @brief Messages delivered and failed since creation. */
int64_t bw_producer_delivered(const bw_producer_t *p);
int64_t bw_producer_failed(const bw_producer_t *p);

rd_kafka_t *bw_producer_handle(bw_producer_t *p);
void bw_producer_destroy(bw_producer_t *p);

#endif
