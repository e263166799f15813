/* bw-correlate: classified reviews and seller actions -> store health
 * (order defect rate by order date, seller rating, response times),
 * SKU complaint windows and review-to-shipment joins in Redis (through
 * the window engine), and the signals they raise. Functions here run
 * without Kafka: tests feed records. */
#ifndef BW_CORRELATE_H
#define BW_CORRELATE_H

#include "bw_detect.h"
#include "bw_metrics.h"
#include "bw_redis.h"
#include "bw_serde.h"
#include "bw_window.h"

/* Partition ids: topic * 1024 + partition. They must differ from
 * bw-logistics' (0 and 1): both stages write the store tags, and a tag's
 * fences are kept per partition id. */
#define CORR_TOPIC_REVIEWS 2
#define CORR_TOPIC_ACTIONS 3

typedef struct correlate_cfg_s {
    int64_t state_ttl_s; /* windows, markers, per-event records */
    int64_t dedupe_ttl_s; /* which event ids were counted (0: 7 days) */
    int64_t lateness_ms, grace_ms, skew_ms, idle_ms;
    int64_t min_event_ms; /* earlier event times are implausible: dead-lettered */
    /* ODR_AT_RISK: defects over orders placed in odr_days, by order date */
    int64_t odr_days, odr_min_orders;
    double odr_warn, odr_critical, odr_ebay_warn, odr_ebay_critical;
    /* SELLER_RATING_AT_RISK: feedback average over 30, 90 and 365 days */
    int64_t rating_min;
    double rating_warn, rating_critical;
    /* RESPONSE_DUE this long after the event, unless answered */
    int64_t response_warn_ms;
    /* NEGATIVE_REVIEW_SPIKE: span days against history days before */
    bw_shrink_cfg_t neg;
    int64_t neg_span_days, neg_history_days;
    /* COMPLAINT_CLUSTER: this many complaints of one cause on one SKU within days */
    int64_t cluster_min, cluster_days;
    /* FAKE_REVIEW_BURST: low-star reviews on one SKU in a day (and the day
     * before) with unknown orders, or near-duplicate texts */
    int64_t fake_min, fake_bits;
    /* LOGISTICS_COMPLAINTS_CORRELATED: spikes this far back; complaints
     * that make it critical */
    int64_t corr_lookback_days, corr_raise;
    int64_t timer_batch;
} correlate_cfg_t;

/** @brief The stage's defaults, from its key table (correlate_conf.h). */
bw_err_t correlate_cfg_defaults(correlate_cfg_t *cfg, char *errstr, size_t errstr_size);

/** Called with each Signal record to send (owned by the caller). */
typedef bw_err_t (*correlate_emit_cb)(void *opaque, const char *key, avro_value_t *signal);

typedef struct correlate_s correlate_t;

correlate_t *correlate_new(const correlate_cfg_t *cfg, bw_serde_t *sd, bw_redis_t *redis,
                           bw_metrics_t *reg, char *errstr, size_t errstr_size);
void correlate_destroy(correlate_t *cr);

typedef enum {
    CORR_APPLIED,
    CORR_LATE_APPLIED,
    CORR_DROPPED_LATE, /* behind the grace period: counted, not applied */
    CORR_IGNORED, /* nothing to do (an action that answers nothing), counted */
    CORR_REJECTED, /* dead-letter it: *reason says why */
} corr_verdict_t;

/**
 * @brief Queue the changes of one decoded ClassifiedReview
 *        (CORR_TOPIC_REVIEWS) or SellerAction (CORR_TOPIC_ACTIONS).
 */
corr_verdict_t correlate_add(correlate_t *cr, int topic, bw_record_t *rec, int32_t pid,
                             int64_t offset, int64_t now_ms, char *reason, size_t reason_size);

/**
 * @brief correlate_add() of a message's bytes (wire format): a
 *        ClassifiedReview in this stage's schema is read where its fields
 *        are, anything else decoded. On CORR_REJECTED, *@p why is the
 *        error to dead-letter it with (the decoder's, or
 *        BW_ERR_OUT_OF_RANGE for a value the stage refuses).
 */
corr_verdict_t correlate_add_wire(correlate_t *cr, int topic, const void *wire, size_t len,
                                  int32_t pid, int64_t offset, int64_t now_ms, bw_err_t *why,
                                  char *reason, size_t reason_size);

/**
 * @brief End of a batch: join reviews to the order index, write everything
 *        effectively once, fire the response timers the watermark passed,
 *        judge what the batch touched and emit signals (once per window,
 *        again only when they grow).
 * @returns a retriable error when Redis is away (the batch runs again).
 */
bw_err_t correlate_end_batch(correlate_t *cr, int64_t now_ms, correlate_emit_cb emit, void *opaque,
                             char *errstr, size_t errstr_size);

/** @brief The batch's signals are delivered: remember that they were sent. */
bw_err_t correlate_delivered(correlate_t *cr, char *errstr, size_t errstr_size);

/** @brief Drop what the batch queued (it will run again). */
void correlate_discard(correlate_t *cr);

/** @brief Partition assigned: resume its watermark from its persisted state. */
void correlate_assigned(correlate_t *cr, int32_t pid, int64_t now_ms);
void correlate_eof(correlate_t *cr, int32_t pid);
void correlate_forget(correlate_t *cr, int32_t pid);

int64_t correlate_signals(const correlate_t *cr);

#endif
