/* What the parts of bw-correlate share: the stage's state, the record
 * fields it reads, and what a batch touched. Internal: tests and main.c
 * use correlate.h.
 *
 * Redis layout (every key "bw:{tag}:name"; names escaped, bw_key_escape):
 *   {s=<store>}   o:<order>       the order index (bw-logistics): placed, carrier, lane
 *                 odr:<day>       orders (bw-logistics, by order date), defects (here,
 *                                 by order date, once per order)
 *                 r:<day>         fb, fbsum (seller feedback), rev, neg (product
 *                                 reviews), rdue, rwarn, rlate (responses by deadline day)
 *                 kr:<day>        reviews per SKU (field: the escaped SKU)
 *                 rm:<30 days>    fb, fbsum (the 365-day rating)
 *                 m:<event>       due, replied (a response clock)
 *                 ev:<day>        event id -> "<partition>:<offset>" of the record
 *                                 that counted it (duplicates are skipped)
 *                 cmarks          once-markers; fired: signals sent
 *   {k=<store>|<sku>} d:<day>     neg, unk (low stars, unknown order), c<cause>
 *                                 (written by negative reviews only)
 *                 sh:<day>        event id -> SimHash of low-star texts
 *   {cl=<carrier>|<lane>} lc:<day> complaints joined to a delay spike (fired: bw-logistics')
 *   {t=<pid>}     resp            response clocks by next deadline; wm: the watermark
 */
#ifndef BW_CORRELATE_INT_H
#define BW_CORRELATE_INT_H

#include <jansson.h>

#include "bw_signal.h"
#include "correlate.h"

#define DAY_MS 86400000LL
#define MONTH_MS (30 * DAY_MS)

enum {
    F_R_EVENT,
    F_R_PLATFORM,
    F_R_STORE,
    F_R_KIND,
    F_R_ORDER,
    F_R_SKU,
    F_R_RATING,
    F_R_BODY,
    F_R_TIME,
    F_R_CAUSES,
    F_R_PRIMARY,
    F_R_REMOVABLE,
    F_R_POLICY,
    F_R_DUE,
    F_R__CNT
};
enum { F_A_EVENT, F_A_STORE, F_A_REF, F_A_ACTION, F_A_TIME, F_A__CNT };

/* ReviewKind symbols (schema order). */
enum {
    RK_PRODUCT_REVIEW,
    RK_SELLER_FEEDBACK,
    RK_BUYER_MESSAGE,
    RK_A_TO_Z,
    RK_CHARGEBACK,
    RK_RETURN,
    RK_SELLER_MESSAGE
};
/* ActionKind symbols we act on. */
enum { AK_REPLIED = 0, AK_NO_RESPONSE_NEEDED = 3 };
/* Cause symbols: the logistics ones, and how many there are. */
enum { CAUSE_LOGI_FIRST = 2, CAUSE_LOGI_LAST = 5, CAUSE__CNT = 12 };
extern const char *const CAUSE_NAMES[CAUSE__CNT];
extern const char *const REMOVABLE_NAMES[4];

#define TIMER_RESP "resp"
/* Days whose rates wait to be judged until the watermark closes them:
 * members "S <day> <store tag>" and "K <day> <SKU tag>", scored day + 1 day. */
#define TIMER_CLOSE "close"

/* The fields of a ClassifiedReview bw-correlate reads. */
typedef struct {
    const char *store, *order, *sku, *event, *body;
    size_t slen, olen, klen, elen, blen;
    bool has_order, has_sku;
    int kind, platform, primary, removable;
    int64_t rating, due, at;
    uint64_t causes, policy;
} review_t;

/* A review waiting for the end of its batch, with its strings in buf. */
typedef struct {
    review_t r;
    char *buf;
    char *tag; /* the store's hash tag, built once for the lookup and the counting */
    int32_t pid;
    int64_t off;
} held_t;

/* A review that needs its order from the index (end of batch). */
typedef struct {
    char *store_tag, *order_key, *sku_tag, *event_id;
    int platform;
    bool defect, lowstar, logistics;
    int64_t at, placed;
    int32_t pid;
    int64_t offset;
    char *carrier, *lane; /* from the index */
} pend_t;

typedef enum {
    TK_STORE, /* ODR (as the batch changed it) */
    TK_STORE_DAY, /* a closed day: rating, store negative share */
    TK_RESP, /* responses due and late, by deadline day */
    TK_SKU, /* complaint clusters, fake bursts (as the batch changed them) */
    TK_SKU_DAY, /* a closed day: SKU negative share */
    TK_CORR, /* complaints joined to a delay spike */
    TK_EVENT, /* one review or message: REMOVABLE_FEEDBACK, POLICY_RISK */
} touch_kind_t;

/* What an entry needs judged. Counts that only grow as a day fills
 * (clusters, fake bursts, defects) are judged as the batch changes them;
 * rates and means (rating, negative share) only once the watermark has
 * closed the day, so that which windows fire does not depend on where a
 * batch boundary fell (a rate above its threshold halfway through a day
 * that the whole day is not). Only what could have got worse is judged: a
 * batch of praise reads nothing. */
enum { NEED_RATING = 1, NEED_NEG = 2, NEED_ODR = 4, NEED_CLUSTER = 8 };

typedef struct {
    char *tag, *a, *b; /* store (and SKU), carrier and lane, or store and event id */
    unsigned need; /* TK_STORE*, TK_SKU*: NEED_* */
    char *note; /* TK_EVENT: the signal type's reason */
    const char *type; /* TK_EVENT: the signal type */
    touch_kind_t kind;
    int platform, level; /* TK_CORR: the spike's level */
    int64_t lo, hi; /* the days changed, judged each (TK_EVENT: the event time) */
    char *evidence[5];
    int nevidence;
} touched_t;

struct correlate_s {
    correlate_cfg_t cfg;
    bw_serde_t *sd;
    bw_redis_t *redis;
    bw_win_t *win;
    bw_wm_t wm;
    bw_wm_txn_t wm_txn; /* the watermarks as the batch found them */
    const bw_schema_t *review_s, *action_s, *signal_s;
    bw_record_t *sig;
    int fr[F_R__CNT], fa[F_A__CNT];
    size_t *offs; /* where each ClassifiedReview field starts in a message (correlate_add_wire) */
    bw_buf_t member, ekey; /* a set member and an event's key being built (bw_win copies them) */
    held_t *held; /* the batch's reviews, counted at its end unless duplicates */
    size_t nheld, capheld;
    pend_t *pend;
    size_t npend, cappend;
    touched_t *touched;
    size_t ntouched, captouched;
    bw_marks_t marks;
    bw_batch_parts_t parts; /* partitions of this batch, with their last offset */
    int64_t signals;
    bw_metrics_t *reg;
    bw_metric_t *m_applied, *m_late, *m_dropped, *m_rejected, *m_ignored, *m_unknown_order,
        *m_timers, *m_watermark, *m_duplicates;
};

/* Note that the batch changed @p tag's windows at day @p hi (for judging);
 * entries of kind TK_RESP and TK_CORR are per day, TK_EVENT per event. */
touched_t *corr_touch(correlate_t *cr, touch_kind_t kind, const char *tag, const char *a,
                      const char *b, int64_t hi);
bool corr_evidence(touched_t *t, const char *id);

/* Count field += 1 in "<prefix><bucket>" of @p tag once per @p marker. */
bw_err_t corr_count_once(correlate_t *cr, const char *tag, int32_t pid, int64_t offset,
                         const char *prefix, int64_t bucket, const char *field, const char *marker);

/* Queue day @p day of @p tag (kind 'S' store, 'K' SKU) to be judged once
 * the watermark closes it. */
bw_err_t corr_close_later(correlate_t *cr, char kind, const char *tag, int64_t day, int32_t pid,
                          int64_t offset);

/* timers.c: settle the response clocks and close the days the watermark passed. */
bw_err_t corr_fire_timers(correlate_t *cr, int64_t now_ms, char *errstr, size_t errstr_size);

/* judge.c: judge what the batch touched and emit signals. */
bw_err_t corr_judge(correlate_t *cr, correlate_emit_cb emit, void *opaque, char *errstr,
                    size_t errstr_size);

#endif
