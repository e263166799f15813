/* bw-alert: Signals -> one EarlyWarning per problem (type + scope), sent
 * once, re-sent when it gets worse, resolved when it is over. State in
 * Redis ("bw:{alerts}:state", ":active", ":applied"), with an outbox: a
 * batch's states and warnings are written before the warnings are sent.
 * Memory holds the problems of the last keep time; resolved ones older
 * than that move to "bw:{alerts}:done:KEY" and come back when a signal
 * names them again.
 * Functions here run without Kafka: tests feed records. */
#ifndef BW_ALERT_H
#define BW_ALERT_H

#include <jansson.h>

#include "bw_metrics.h"
#include "bw_redis.h"
#include "bw_serde.h"
#include "lifecycle.h"

typedef struct alert_s alert_t;

typedef struct {
    al_cfg_t life;
    int64_t ttl_s; /* lifetime of an alert's state after its last change */
    bool redact; /* e-mail addresses and phone numbers out of scope, evidence and detail */
} alert_cfg_t;

/** Called with each EarlyWarning to send; @p key is the alert key (type + scope). */
typedef bw_err_t (*alert_emit_cb)(void *opaque, const char *key, avro_value_t *warning);

alert_t *alert_new(const alert_cfg_t *cfg, bw_serde_t *sd, bw_redis_t *redis, bw_metrics_t *reg,
                   char *errstr, size_t errstr_size);
void alert_destroy(alert_t *al);

/**
 * @brief Queue one decoded Signal.
 * @returns false (and why in @p reason) for a signal to dead-letter.
 */
bool alert_add(alert_t *al, bw_record_t *signal, int32_t partition, int64_t offset, char *reason,
               size_t reason_size);

/**
 * @brief Apply the batch (and the clock), write the new states and the
 *        warnings to send (outbox) to Redis, then emit them, with any
 *        earlier ones not yet known delivered. Nothing is emitted when the
 *        write fails (the batch runs again).
 */
bw_err_t alert_end_batch(alert_t *al, alert_emit_cb emit, void *opaque, char *errstr,
                         size_t errstr_size);

/** @brief The emitted warnings are delivered: they leave the outbox. */
bw_err_t alert_delivered(alert_t *al, char *errstr, size_t errstr_size);

/** @brief The batch runs again: forget what it did (states reload from Redis). */
void alert_discard(alert_t *al);

/** @brief Partitions come and go: states load for the assigned ones. */
void alert_assigned(alert_t *al, int32_t partition);
void alert_revoked(alert_t *al, int32_t partition);

/**
 * @brief The active alerts as a JSON array, filtered (NULL: any), newest
 *        first. Safe from another thread. Caller frees.
 */
char *alert_active_json(alert_t *al, const char *store, const char *type, const char *severity);

/** @brief Active (firing) alerts now. */
size_t alert_active_count(alert_t *al);

/**
 * @brief Problems held in memory: firing, pending, and resolved within the
 *        keep time (al_cfg_t keep_ms); older ones wait in Redis.
 */
size_t alert_tracked_count(const alert_t *al);

#endif
