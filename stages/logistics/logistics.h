/* bw-logistics: the order index, carrier x lane delay windows and store
 * shipping metrics in Redis (through the window engine), and the signals
 * they raise. Functions here run without Kafka: tests feed records. */
#ifndef BW_LOGISTICS_H
#define BW_LOGISTICS_H

#include <jansson.h>

#include "bw_metrics.h"
#include "bw_redis.h"
#include "bw_serde.h"
#include "bw_window.h"
#include "bw_detect.h"

#define LOGI_TOPIC_ORDERS 0
#define LOGI_TOPIC_SHIPMENTS 1

typedef struct logistics_cfg_s {
    int64_t window_ms; /* tumbling window of the delay counts */
    int64_t history; /* earlier windows in the baseline */
    int64_t index_ttl_s; /* order index lifetime */
    int64_t window_ttl_s; /* counter lifetime */
    int64_t lateness_ms, grace_ms, skew_ms, idle_ms;
    int64_t min_event_ms; /* earlier event times are implausible: dead-lettered */
    bw_spike_cfg_t spike;
    double ship_warn, ship_critical;
    int64_t ship_min;
    int64_t stall_ms; /* no scan this long while in transit: stalled */
    bw_count_cfg_t stall;
    int64_t tracking_ms; /* a carrier scan within this of ship confirmation: valid tracking */
    double track_warn, track_critical; /* valid tracking rate below these */
    int64_t timer_batch; /* timers read per partition and kind per round */
} logistics_cfg_t;

/** Called with each Signal record to send (owned by the caller of process). */
typedef bw_err_t (*logistics_emit_cb)(void *opaque, const char *key, avro_value_t *signal);

typedef struct logistics_s logistics_t;

logistics_t *logistics_new(const logistics_cfg_t *cfg, bw_serde_t *sd, bw_redis_t *redis,
                           bw_metrics_t *reg, char *errstr, size_t errstr_size);
void logistics_destroy(logistics_t *lg);

/** Verdict on one record. */
typedef enum {
    LOGI_APPLIED,
    LOGI_LATE_APPLIED,
    LOGI_DROPPED_LATE, /* behind the grace period: counted, not applied */
    LOGI_REJECTED, /* dead-letter it: *reason says why */
} logi_verdict_t;

/**
 * @brief Queue the changes of one decoded OrderEvent or ShipmentEvent.
 * @param pid partition id: topic * 1024 + partition (fences are per id)
 */
logi_verdict_t logistics_add(logistics_t *lg, int topic, bw_record_t *rec, int32_t pid,
                             int64_t offset, int64_t now_ms, char *reason, size_t reason_size);

/**
 * @brief logistics_add() of a message's bytes (wire format): an event in
 *        this stage's schema is read where its fields are, another schema
 *        version decoded. On LOGI_REJECTED, *@p why is the error to
 *        dead-letter it with (the decoder's, or BW_ERR_OUT_OF_RANGE).
 */
logi_verdict_t logistics_add_wire(logistics_t *lg, int topic, const void *wire, size_t len,
                                  int32_t pid, int64_t offset, int64_t now_ms, bw_err_t *why,
                                  char *reason, size_t reason_size);

/**
 * @brief End of a batch: look up promises, write everything effectively
 *        once, fire the timers the watermark passed (late while
 *        undelivered, stalled, tracking), then judge the windows the batch
 *        touched and emit signals: a window's signal is emitted once, and
 *        again only at a higher severity.
 * @returns a retriable error when Redis is away (the batch runs again).
 */
bw_err_t logistics_end_batch(logistics_t *lg, int64_t now_ms, logistics_emit_cb emit, void *opaque,
                             char *errstr, size_t errstr_size);

/**
 * @brief The batch's signals are delivered: remember in Redis that they
 *        were sent (before that, a crash re-sends them with the same ids).
 */
bw_err_t logistics_delivered(logistics_t *lg, char *errstr, size_t errstr_size);

/** @brief Drop what the batch queued (it will run again). */
void logistics_discard(logistics_t *lg);

/**
 * @brief A partition was assigned: its watermark resumes from the event
 *        time its state was last written with; a partition with no state
 *        holds the watermark back until heard from (or idle, or empty).
 */
void logistics_assigned(logistics_t *lg, int32_t pid, int64_t now_ms);

/** @brief A partition reached its end (an empty one stops holding the watermark). */
void logistics_eof(logistics_t *lg, int32_t pid);

/** @brief A partition was revoked: forget its fences and watermark. */
void logistics_forget(logistics_t *lg, int32_t pid);

/** @brief Counters for tests and the bench. */
int64_t logistics_signals(const logistics_t *lg);
/** @brief Timers fired since creation. */
int64_t logistics_timers_fired(const logistics_t *lg);

#endif
