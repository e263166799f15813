/* What the parts of bw-logistics share: the stage's state, the record
 * fields it reads, and the list of windows a batch touched. Internal:
 * tests and main.c use logistics.h. */
#ifndef BW_LOGISTICS_INT_H
#define BW_LOGISTICS_INT_H

#include <jansson.h>

#include "bw_signal.h"
#include "bw_strmap.h"
#include "logistics.h"

enum {
    F_O_STORE,
    F_O_PLATFORM,
    F_O_ORDER,
    F_O_PLACED,
    F_O_SHIP_BY,
    F_O_DELIVER_BY,
    F_O_STATUS,
    F_O_TIME,
    F_O__CNT
};
enum {
    F_S_EVENT,
    F_S_STORE,
    F_S_ORDER,
    F_S_CARRIER,
    F_S_TRACKING,
    F_S_ORIGIN,
    F_S_DEST,
    F_S_REGION,
    F_S_STATUS,
    F_S_ESTIMATE,
    F_S_TIME,
    F_S__CNT
};

/* ShipmentStatus symbols (schema order). */
enum {
    SS_LABEL,
    SS_PICKED_UP,
    SS_IN_TRANSIT,
    SS_CUSTOMS,
    SS_OUT_FOR_DELIVERY,
    SS_DELIVERED,
    SS_FAILED,
    SS_EXCEPTION,
    SS_LOST,
    SS_RETURNED
};

/* OrderStatus symbols we act on (schema order). */
enum { OS_PLACED, OS_SHIPPED };

/* Keys of the timers of a partition ("bw:{t=<pid>}:<name>"): members are
 * "<store tag> <order key>" (both escaped, so the space is a separator),
 * scores the deadlines. */
#define TIMER_DUE "due" /* promised delivery: late if undelivered by then */
#define TIMER_STALL "stall" /* last scan + stall time: stalled if no scan by then */
#define TIMER_TRACK "track" /* ship confirmation + tracking time: valid tracking? */
/* Windows to judge once the watermark closes them ("bw:{t=<pid>}:close"):
 * members "<kind> <bucket> <tag>", scores the window's end. */
#define TIMER_CLOSE "close"
/* Evidence ids a window keeps (fields ev0..ev4 of its hash, one slot per
 * id's hash: bounded, whichever id came last). */
#define EVIDENCE_SLOTS 5

/* A carrier scan, decided at the end of the batch with the order's index. */
typedef struct {
    char *store_tag, *order_key, *cl_tag, *carrier, *lane, *event_id;
    int kind; /* SS_DELIVERED, SS_PICKED_UP (or in transit), SS_EXCEPTION (any other scan) */
    int64_t at, estimate;
    int32_t pid;
    int64_t offset;
    int64_t ship_by, deliver_by; /* filled by the lookup; INT64_MIN: unknown */
    int64_t last_scan, stall_at, shipped; /* the index's, before this batch */
} pend_t;

/* An order event of the batch: its scans may have come first. */
typedef struct {
    char *store_tag, *order_key;
    int32_t pid;
    int64_t offset, ship_by, deliver_by;
} ord_t;

/* What a batch's windows are judged for. */
typedef enum {
    TK_LANE, /* carrier x lane: delay spike, stalled parcels */
    TK_SHIP, /* store: late shipment rate */
    TK_TRACK, /* store: valid tracking rate */
} touch_kind_t;

/* A carrier x lane or store whose windows the batch changed. */
typedef struct {
    char *tag, *a, *b; /* carrier and lane, or store (unescaped) */
    touch_kind_t kind;
    int64_t lo, hi; /* the buckets changed */
    char *evidence[5];
    int nevidence;
} touched_t;

struct logistics_s {
    logistics_cfg_t cfg;
    bw_serde_t *sd;
    bw_redis_t *redis;
    bw_win_t *win;
    bw_wm_t wm;
    bw_wm_txn_t wm_txn; /* the watermarks as the batch found them */
    const bw_schema_t *order_s, *ship_s, *signal_s;
    bw_record_t *sig;
    int fo[F_O__CNT], fs[F_S__CNT];
    size_t *offs[2]; /* where each OrderEvent, ShipmentEvent field starts (logistics_add_wire) */
    pend_t *pend;
    size_t npend, cappend;
    ord_t *ords;
    size_t nords, capords;
    touched_t *touched;
    size_t ntouched, captouched;
    bw_marks_t marks; /* signals sent, remembered once delivered */
    bw_strmap_t overlay; /* "store_tag order_key" -> its last order event in ords */
    bw_arena_t arena; /* the strings of pend, ords and touched: the batch's */
    bw_buf_t scratch; /* names being built */
    bw_buf_t member; /* a set member or marker being built (bw_win copies it) */
    bw_batch_parts_t parts; /* partitions of this batch, with their last offset */
    int64_t judge_wm; /* the watermark windows are judged by (INT64_MIN: none closed) */
    int64_t signals, timers_fired;
    bw_metrics_t *reg;
    bw_metric_t *m_applied, *m_late, *m_dropped, *m_rejected, *m_no_promise;
    bw_metric_t *m_timers_due, *m_timers_stall, *m_timers_track, *m_watermark;
};

/* Note that the batch changed bucket @p bucket of @p tag (for detection). */
touched_t *logi_touch(logistics_t *lg, const char *tag, const char *a, const char *b,
                      touch_kind_t kind, int64_t bucket);

/* Add an evidence id (up to five) to a touched entry. */
bool logi_evidence(logistics_t *lg, touched_t *t, const char *id);
/* An evidence id of window "<prefix><bucket>" of @p tag: kept in the window
 * (judged later, once it closes) and added to @p t. */
bw_err_t logi_window_evidence(logistics_t *lg, touched_t *t, int32_t pid, int64_t offset,
                              const char *prefix, int64_t bucket, const char *id);

/* Count an outcome of one order once: field += 1 in window "<prefix><bucket>"
 * of @p tag, guarded by the marker "<mprefix>:<order>". */
bw_err_t logi_count_once(logistics_t *lg, const char *tag, int32_t pid, int64_t offset,
                         const char *prefix, int64_t bucket, const char *field, const char *mprefix,
                         const char *order_marker);

/* A delivery against its promise, in the carrier x lane window of the
 * promised day: due, and late when after it (INT64_MAX: undelivered when
 * the promise passed). Counting by the promised day, not the delivery day,
 * makes the count the same whether the delivery or the due timer decides
 * it first, whatever the batching. The store and lane names in @p carrier
 * and @p lane are for the signal's scope. */
bw_err_t logi_count_delivery(logistics_t *lg, const char *cl_tag, const char *carrier,
                             const char *lane, const char *order_key, int32_t pid, int64_t off,
                             int64_t delivered, int64_t promise, const char *evidence);

/* A parcel stalled since @p since, in its carrier x lane window (once). */
bw_err_t logi_count_stall(logistics_t *lg, const char *cl_tag, const char *carrier,
                          const char *lane, const char *order_key, int32_t pid, int64_t off,
                          int64_t since, const char *evidence);

/* An integer from a Redis string reply, INT64_MIN when absent. */
int64_t logi_reply_i64(const redisReply *r);

/* Queue ZADD (or ZREM when @p deadline is INT64_MIN) of an order's timer. */
bw_err_t logi_timer_set(logistics_t *lg, const char *timer, int32_t pid, int64_t offset,
                        const char *store_tag, const char *order_key, int64_t deadline);

/* timers.c: fire the timers the watermark has passed (after the flush). */
bw_err_t logi_fire_timers(logistics_t *lg, int64_t now_ms, char *errstr, size_t errstr_size);

/* judge.c: judge the windows the batch touched and emit signals. */
bw_err_t logi_judge(logistics_t *lg, logistics_emit_cb emit, void *opaque, char *errstr,
                    size_t errstr_size);

#endif
