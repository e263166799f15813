/* bw-logistics: reading order and shipment events into the order index,
 * the parcels' timers and the outcome windows (timers.c fires the timers,
 * judge.c judges the windows). */
#include "logistics_int.h"

#include <stdlib.h>
#include <string.h>

#include "bw_avro_check.h"
#include "bw_field.h"
#include "bw_json.h"
#include "bw_log.h"
#include "bw_util.h"

static const char *order_fields[F_O__CNT] = {
    "store_id", "platform",   "order_id", "placed_at", "promised_ship_by", "promised_delivery_by",
    "status",   "occurred_at"};
static const char *ship_fields[F_S__CNT] = {
    "event_id",    "store_id",           "order_id",     "carrier",
    "tracking_no", "origin_country",     "dest_country", "dest_region",
    "status",      "estimated_delivery", "occurred_at"};

static const bw_metric_decl_t M_EVENTS = {BW_METRIC_COUNTER, "logistics_events_total",
                                          "Order and shipment events, by outcome", "outcome"};
static const bw_metric_decl_t M_NO_PROMISE = {
    BW_METRIC_COUNTER, "logistics_no_promise_total",
    "Deliveries with no promised date (not in the late share)", ""};
static const bw_metric_decl_t M_WATERMARK = {
    BW_METRIC_GAUGE, "logistics_watermark_seconds",
    "Event-time watermark the timers fire at (least of the active partitions), Unix seconds", ""};
static const bw_metric_decl_t M_TIMERS = {
    BW_METRIC_COUNTER, "logistics_timers_fired_total",
    "Parcel timers the watermark passed, by kind (due: late while undelivered; stall; track)",
    "kind"};

logistics_t *logistics_new(const logistics_cfg_t *cfg, bw_serde_t *sd, bw_redis_t *redis,
                           bw_metrics_t *reg, char *errstr, size_t errstr_size) {
    logistics_t *lg = calloc(1, sizeof(*lg));

    if (!lg) {
        bw_errstr_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    lg->cfg = *cfg;
    lg->sd = sd;
    lg->redis = redis;
    bw_wm_init(&lg->wm, cfg->lateness_ms, cfg->grace_ms, cfg->skew_ms, cfg->idle_ms);
    if (!(lg->order_s = bw_serde_schema(sd, "OrderEvent")) ||
        !(lg->ship_s = bw_serde_schema(sd, "ShipmentEvent")) ||
        !(lg->signal_s = bw_serde_schema(sd, "Signal"))) {
        bw_errstr_set(errstr, errstr_size, "OrderEvent, ShipmentEvent or Signal schema missing");
        goto err;
    }
    for (int i = 0; i < F_O__CNT; i++)
        if ((lg->fo[i] = bw_snode_field_index(lg->order_s->root, order_fields[i])) < 0)
            goto schema_err;
    for (int i = 0; i < F_S__CNT; i++)
        if ((lg->fs[i] = bw_snode_field_index(lg->ship_s->root, ship_fields[i])) < 0)
            goto schema_err;
    if (!(lg->offs[LOGI_TOPIC_ORDERS] = calloc(lg->order_s->root->n + 1, sizeof(size_t))) ||
        !(lg->offs[LOGI_TOPIC_SHIPMENTS] = calloc(lg->ship_s->root->n + 1, sizeof(size_t))) ||
        !bw_batch_parts_init(&lg->parts))
        goto nomem;
    if (!(lg->sig = bw_record_new(lg->signal_s)) ||
        !(lg->win = bw_win_new(redis, reg, errstr, errstr_size)))
        goto err;
    if (reg) {
        lg->m_applied = bw_metrics_get(reg, &M_EVENTS, "applied");
        lg->m_late = bw_metrics_get(reg, &M_EVENTS, "late_applied");
        lg->m_dropped = bw_metrics_get(reg, &M_EVENTS, "too_late_dropped");
        lg->m_rejected = bw_metrics_get(reg, &M_EVENTS, "rejected");
        lg->m_no_promise = bw_metrics_get(reg, &M_NO_PROMISE, NULL);
        lg->m_timers_due = bw_metrics_get(reg, &M_TIMERS, TIMER_DUE);
        lg->m_timers_stall = bw_metrics_get(reg, &M_TIMERS, TIMER_STALL);
        lg->m_timers_track = bw_metrics_get(reg, &M_TIMERS, TIMER_TRACK);
        lg->m_watermark = bw_metrics_get(reg, &M_WATERMARK, NULL);
        lg->reg = reg;
    }
    lg->cfg.history = cfg->history > 60 ? 60 : cfg->history;
    if (lg->cfg.spike.span < 1)
        lg->cfg.spike.span = 1;
    if (lg->cfg.spike.span > 30)
        lg->cfg.spike.span = 30;
    if (lg->cfg.timer_batch < 1)
        lg->cfg.timer_batch = 1000;
    return lg;
schema_err:
    bw_errstr_set(errstr, errstr_size, "event schemas lack a field bw-logistics reads");
    goto err;
nomem:
    bw_errstr_set(errstr, errstr_size, "out of memory");
err:
    logistics_destroy(lg);
    return NULL;
}

/* Drop the batch's queued work (not the marks of signals sent). */
static void discard_batch(logistics_t *lg) {
    lg->npend = lg->nords = lg->ntouched = 0;
    bw_arena_reset(&lg->arena); /* their strings */
    bw_batch_parts_reset(&lg->parts);
    bw_strmap_free(&lg->overlay);
    if (lg->win)
        bw_win_discard(lg->win);
}

void logistics_discard(logistics_t *lg) {
    discard_batch(lg);
    bw_wm_rollback(&lg->wm_txn, &lg->wm);
    bw_marks_clear(&lg->marks); /* a batch that runs again emits and marks again */
}

void logistics_destroy(logistics_t *lg) {
    if (!lg)
        return;
    logistics_discard(lg);
    free(lg->offs[0]);
    free(lg->offs[1]);
    free(lg->pend);
    free(lg->ords);
    free(lg->touched);
    bw_marks_free(&lg->marks);
    bw_batch_parts_free(&lg->parts);
    bw_arena_free(&lg->arena);
    bw_buf_free(&lg->scratch);
    bw_buf_free(&lg->member);
    bw_record_destroy(lg->sig);
    bw_win_destroy(lg->win);
    free(lg);
}

void logistics_assigned(logistics_t *lg, int32_t pid, int64_t now_ms) {
    /* start from the event time the partition's state was written with */
    bw_wm_load(&lg->wm, lg->redis, pid, now_ms);
    bw_wm_txn_sync(&lg->wm_txn, &lg->wm, pid);
}

void logistics_eof(logistics_t *lg, int32_t pid) {
    bw_wm_eof(&lg->wm, pid);
}

void logistics_forget(logistics_t *lg, int32_t pid) {
    bw_win_forget_partition(lg->win, pid);
    bw_wm_forget(&lg->wm, pid);
    bw_wm_txn_sync(&lg->wm_txn, &lg->wm, pid);
}

int64_t logistics_signals(const logistics_t *lg) {
    return lg->signals;
}

int64_t logistics_timers_fired(const logistics_t *lg) {
    return lg->timers_fired;
}

/* ---- helpers shared with timers.c and judge.c ---- */

touched_t *logi_touch(logistics_t *lg, const char *tag, const char *a, const char *b,
                      touch_kind_t kind, int64_t bucket) {
    touched_t *t;

    /* one entry per window: only the windows a change or a close names are
     * judged (merged into a range, the windows between would be judged or
     * not as batches happened to fall, and so would their signals) */
    for (size_t i = 0; i < lg->ntouched; i++) {
        t = &lg->touched[i];
        if (t->kind == kind && t->lo == bucket && !strcmp(t->tag, tag))
            return t;
    }
    if (!bw_grow((void **)&lg->touched, &lg->captouched, lg->ntouched, sizeof(*t)))
        return NULL;
    t = &lg->touched[lg->ntouched];
    memset(t, 0, sizeof(*t));
    t->tag = bw_arena_strdup(&lg->arena, tag);
    t->a = bw_arena_strdup(&lg->arena, a);
    t->b = b ? bw_arena_strdup(&lg->arena, b) : NULL;
    t->kind = kind;
    t->lo = t->hi = bucket;
    if (!t->tag || !t->a || (b && !t->b))
        return NULL;
    lg->ntouched++;
    return t;
}

bool logi_evidence(logistics_t *lg, touched_t *t, const char *id) {
    if (t->nevidence == 5)
        return true;
    return (t->evidence[t->nevidence] = bw_arena_strdup(&lg->arena, id)) && ++t->nevidence;
}

/* A key name (bw_key_name) that lives as long as the batch. */
static char *batch_key(logistics_t *lg, const char *prefix, const char *a, size_t alen,
                       const char *b, size_t blen) {
    bw_buf_reset(&lg->scratch);
    if (!bw_key_name_to(&lg->scratch, prefix, a, alen, b, blen))
        return NULL;
    return bw_arena_strndup(&lg->arena, lg->scratch.data, lg->scratch.len);
}

bw_err_t logi_window_evidence(logistics_t *lg, touched_t *t, int32_t pid, int64_t offset,
                              const char *prefix, int64_t bucket, const char *id) {
    char key[48], field[8];

    bw_name_i64(key, sizeof(key), prefix, bucket);
    bw_name_i64(field, sizeof(field), "ev", (int64_t)(bw_hash32(id) % EVIDENCE_SLOTS));
    if (bw_win_add_str(lg->win, t->tag, pid, offset, key, field, id, lg->cfg.window_ttl_s))
        return BW_ERR_NOMEM;
    return logi_evidence(lg, t, id) ? BW_ERR_OK : BW_ERR_NOMEM;
}

bw_err_t logi_count_once(logistics_t *lg, const char *tag, int32_t pid, int64_t offset,
                         const char *prefix, int64_t bucket, const char *field, const char *mprefix,
                         const char *order_marker) {
    char key[48];

    bw_name_i64(key, sizeof(key), prefix, bucket);
    if (!bw_buf_join(&lg->member, mprefix, ':', order_marker))
        return BW_ERR_NOMEM;
    return bw_win_add_once(lg->win, tag, pid, offset, key, field, 1, "outcomes", lg->member.data,
                           lg->cfg.window_ttl_s);
}

bw_err_t logi_timer_set(logistics_t *lg, const char *timer, int32_t pid, int64_t offset,
                        const char *store_tag, const char *order_key, int64_t deadline) {
    char tag[24];

    bw_name_i64(tag, sizeof(tag), "t=", pid);
    if (!bw_buf_join(&lg->member, store_tag, ' ', order_key))
        return BW_ERR_NOMEM;
    return bw_win_add(lg->win, tag, pid, offset, deadline == INT64_MIN ? BW_OP_ZREM : BW_OP_ZADD,
                      timer, lg->member.data, deadline == INT64_MIN ? 0 : deadline,
                      lg->cfg.index_ttl_s);
}

/* ---- queueing changes ---- */

#define ADD(call)                \
    do {                         \
        if ((call) != BW_ERR_OK) \
            goto nomem;          \
    } while (0)

/* What this stage reads of an OrderEvent and a ShipmentEvent (strings
 * not terminated: in the record or the message they come from). */
typedef struct {
    const char *store, *order;
    size_t slen, olen;
    int platform, status;
    int64_t placed, ship_by, deliver_by, at; /* INT64_MIN: no promise */
} order_in_t;

typedef struct {
    const char *store, *order, *carrier, *origin, *dest, *region, *event;
    size_t slen, olen, clen, orlen, dlen, rlen, elen;
    int status;
    int64_t estimate, at;
} scan_in_t;

static void read_order(const logistics_t *lg, avro_value_t *v, order_in_t *o) {
    bw_field_str(v, lg->fo[F_O_STORE], &o->store, &o->slen);
    bw_field_str(v, lg->fo[F_O_ORDER], &o->order, &o->olen);
    o->platform = bw_field_enum(v, lg->fo[F_O_PLATFORM]);
    o->status = bw_field_enum(v, lg->fo[F_O_STATUS]);
    o->placed = bw_field_long(v, lg->fo[F_O_PLACED]);
    o->ship_by = bw_field_opt_long(v, lg->fo[F_O_SHIP_BY]);
    o->deliver_by = bw_field_opt_long(v, lg->fo[F_O_DELIVER_BY]);
    o->at = bw_field_long(v, lg->fo[F_O_TIME]);
}

static void read_scan(const logistics_t *lg, avro_value_t *v, scan_in_t *s) {
    memset(s, 0, sizeof(*s));
    bw_field_str(v, lg->fs[F_S_STORE], &s->store, &s->slen);
    bw_field_str(v, lg->fs[F_S_ORDER], &s->order, &s->olen);
    bw_field_str(v, lg->fs[F_S_CARRIER], &s->carrier, &s->clen);
    bw_field_str(v, lg->fs[F_S_ORIGIN], &s->origin, &s->orlen);
    bw_field_str(v, lg->fs[F_S_DEST], &s->dest, &s->dlen);
    bw_field_str(v, lg->fs[F_S_EVENT], &s->event, &s->elen);
    if (!bw_field_opt_str(v, lg->fs[F_S_REGION], &s->region, &s->rlen))
        s->region = NULL, s->rlen = 0;
    s->status = bw_field_enum(v, lg->fs[F_S_STATUS]);
    s->estimate = bw_field_opt_long(v, lg->fs[F_S_ESTIMATE]);
    s->at = bw_field_long(v, lg->fs[F_S_TIME]);
}

/* read_order and read_scan from a message's bytes: Avro C's decoding was
 * ~15% of the stage's CPU (bench_logistics). */
static bool read_order_wire(const logistics_t *lg, const unsigned char *w, order_in_t *o) {
    const bw_snode_t *root = lg->order_s->root;
    const size_t *offs = lg->offs[LOGI_TOPIC_ORDERS];
    bw_avro_scalar_t v;
#define F_(f, t, opt) bw_avro_field(root, w, offs, lg->fo[f], t, opt, &v)

    if (!F_(F_O_STORE, BW_T_STRING, false))
        return false;
    o->store = v.s, o->slen = v.len;
    if (!F_(F_O_ORDER, BW_T_STRING, false))
        return false;
    o->order = v.s, o->olen = v.len;
    if (!F_(F_O_PLATFORM, BW_T_ENUM, false))
        return false;
    o->platform = (int)v.i;
    if (!F_(F_O_STATUS, BW_T_ENUM, false))
        return false;
    o->status = (int)v.i;
    if (!F_(F_O_PLACED, BW_T_LONG, false))
        return false;
    o->placed = v.i;
    if (!F_(F_O_SHIP_BY, BW_T_LONG, true))
        return false;
    o->ship_by = v.type == BW_T_LONG ? v.i : INT64_MIN;
    if (!F_(F_O_DELIVER_BY, BW_T_LONG, true))
        return false;
    o->deliver_by = v.type == BW_T_LONG ? v.i : INT64_MIN;
    if (!F_(F_O_TIME, BW_T_LONG, false))
        return false;
    o->at = v.i;
    return true;
#undef F_
}

static bool read_scan_wire(const logistics_t *lg, const unsigned char *w, scan_in_t *s) {
    const bw_snode_t *root = lg->ship_s->root;
    const size_t *offs = lg->offs[LOGI_TOPIC_SHIPMENTS];
    static const int str_fields[] = {F_S_STORE,  F_S_ORDER, F_S_CARRIER,
                                     F_S_ORIGIN, F_S_DEST,  F_S_EVENT};
    const char **strs[] = {&s->store, &s->order, &s->carrier, &s->origin, &s->dest, &s->event};
    size_t *lens[] = {&s->slen, &s->olen, &s->clen, &s->orlen, &s->dlen, &s->elen};
    bw_avro_scalar_t v;
#define F_(f, t, opt) bw_avro_field(root, w, offs, lg->fs[f], t, opt, &v)

    memset(s, 0, sizeof(*s));
    for (size_t i = 0; i < BW_ARRAY_SIZE(str_fields); i++) {
        if (!F_(str_fields[i], BW_T_STRING, false))
            return false;
        *strs[i] = v.s, *lens[i] = v.len;
    }
    if (!F_(F_S_REGION, BW_T_STRING, true))
        return false;
    if (v.type == BW_T_STRING)
        s->region = v.s, s->rlen = v.len;
    if (!F_(F_S_STATUS, BW_T_ENUM, false))
        return false;
    s->status = (int)v.i;
    if (!F_(F_S_ESTIMATE, BW_T_LONG, true))
        return false;
    s->estimate = v.type == BW_T_LONG ? v.i : INT64_MIN;
    if (!F_(F_S_TIME, BW_T_LONG, false))
        return false;
    s->at = v.i;
    return true;
#undef F_
}

static logi_verdict_t add_order(logistics_t *lg, const order_in_t *o, int32_t pid, int64_t off) {
    const char *store = o->store, *order = o->order;
    size_t slen = o->slen, olen = o->olen;
    char *tag = NULL, *okey = NULL;
    int64_t ttl = lg->cfg.index_ttl_s, at = o->at;
    int64_t ship_by = o->ship_by, deliver_by = o->deliver_by, placed = o->placed;
    int status = o->status;
    char num[BW_I64_DIGITS + 1];
    int64_t *last;

    if (!(tag = batch_key(lg, "s=", store, slen, NULL, 0)) ||
        !(okey = batch_key(lg, "o:", order, olen, NULL, 0)))
        goto nomem;
    num[bw_fmt_i64(num, o->platform)] = '\0';
    ADD(bw_win_add_str(lg->win, tag, pid, off, okey, "platform", num, ttl));
    ADD(bw_win_add(lg->win, tag, pid, off, BW_OP_MIN, okey, "placed", placed, ttl));
    /* orders by order date, once each: bw-correlate's order defect rate */
    ADD(logi_count_once(lg, tag, pid, off, "odr:", bw_bucket(placed, 86400000), "orders", "p",
                        okey + 2));
    if (ship_by != INT64_MIN)
        ADD(bw_win_add(lg->win, tag, pid, off, BW_OP_SET, okey, "psb", ship_by, ttl));
    if (deliver_by != INT64_MIN)
        ADD(bw_win_add(lg->win, tag, pid, off, BW_OP_SET, okey, "pdb", deliver_by, ttl));
    ADD(bw_win_add(lg->win, tag, pid, off, BW_OP_SET, okey, "ostatus", status, ttl));
    if (status == OS_SHIPPED) {
        /* ship confirmation: is there a carrier scan within the tracking time? */
        ADD(bw_win_add(lg->win, tag, pid, off, BW_OP_MIN, okey, "confirmed", at, ttl));
        ADD(logi_timer_set(lg, TIMER_TRACK, pid, off, tag, okey, at + lg->cfg.tracking_ms));
    }
    /* its scans may already be in the index: decided at the end of the
     * batch; its promises hold for scans later in the same batch (the
     * order's last event of the batch wins) */
    if (!bw_grow((void **)&lg->ords, &lg->capords, lg->nords, sizeof(*lg->ords)) ||
        !bw_buf_join(&lg->member, tag, ' ', okey) ||
        !(last = bw_strmap_put(&lg->overlay, lg->member.data, lg->member.len, NULL)))
        goto nomem;
    *last = (int64_t)lg->nords;
    lg->ords[lg->nords++] = (ord_t){tag, okey, pid, off, ship_by, deliver_by};
    return LOGI_APPLIED;
nomem:
    return LOGI_REJECTED;
}

/* The index fields a scan sets, and its timers. */
static bw_err_t add_scan_index(logistics_t *lg, const char *tag, const char *okey,
                               const char *carrier, const char *lane, int status, int32_t pid,
                               int64_t off, int64_t at) {
    int64_t ttl = lg->cfg.index_ttl_s;
    bool terminal = status == SS_DELIVERED || status == SS_LOST || status == SS_RETURNED;
    bw_err_t err;

    if ((err = bw_win_add_str(lg->win, tag, pid, off, okey, "carrier", carrier, ttl)) ||
        (err = bw_win_add_str(lg->win, tag, pid, off, okey, "lane", lane, ttl)))
        return err;
    if (status == SS_LABEL) /* the seller printed a label: not a carrier scan */
        return BW_ERR_OK;
    /* a jump of the last scan by the stall time or more is a stall, noted
     * with when it began: the same in any replay, whatever the batching */
    if ((err = bw_win_add_maxgap(lg->win, tag, pid, off, okey, "last_scan", at, lg->cfg.stall_ms,
                                 "stall_at", ttl)) ||
        (err = bw_win_add(lg->win, tag, pid, off, BW_OP_MIN, okey, "first_scan", at, ttl)))
        return err;
    if (status == SS_EXCEPTION || status == SS_LOST || status == SS_RETURNED)
        if ((err = bw_win_add(lg->win, tag, pid, off, BW_OP_MAX, okey,
                              status == SS_EXCEPTION ? "exception"
                              : status == SS_LOST    ? "lost"
                                                     : "returned",
                              1, ttl)))
            return err;
    if (status == SS_DELIVERED &&
        (err = bw_win_add(lg->win, tag, pid, off, BW_OP_MIN, okey, "delivered", at, ttl)))
        return err;
    if ((status == SS_PICKED_UP || status == SS_IN_TRANSIT) &&
        (err = bw_win_add(lg->win, tag, pid, off, BW_OP_MIN, okey, "shipped", at, ttl)))
        return err;
    /* in transit: stalled unless scanned again within the stall time; a
     * terminal scan ends the watch */
    return logi_timer_set(lg, TIMER_STALL, pid, off, tag, okey,
                          terminal ? INT64_MIN : at + lg->cfg.stall_ms);
}

static logi_verdict_t add_shipment(logistics_t *lg, const scan_in_t *s, int32_t pid, int64_t off) {
    int status = s->status;
    int64_t at = s->at;
    pend_t p = {0};
    bw_buf_t *lb = &lg->scratch;

    /* lane: origin country -> destination (country, or region when given) */
    bw_buf_reset(lb);
    if (!bw_buf_append(lb, s->origin, s->orlen) || !bw_buf_append(lb, "->", 2) ||
        !bw_buf_append(lb, s->dest, s->dlen) ||
        (s->region && s->rlen &&
         (!bw_buf_append(lb, "-", 1) || !bw_buf_append(lb, s->region, s->rlen))) ||
        !(p.lane = bw_arena_strndup(&lg->arena, lb->data, lb->len)))
        return LOGI_REJECTED;
    if (!(p.carrier = bw_arena_strndup(&lg->arena, s->carrier, s->clen)) ||
        !(p.store_tag = batch_key(lg, "s=", s->store, s->slen, NULL, 0)) ||
        !(p.order_key = batch_key(lg, "o:", s->order, s->olen, NULL, 0)) ||
        !(p.cl_tag = batch_key(lg, "cl=", s->carrier, s->clen, p.lane, strlen(p.lane))) ||
        !(p.event_id = bw_arena_strndup(&lg->arena, s->event, s->elen)))
        return LOGI_REJECTED;
    if (add_scan_index(lg, p.store_tag, p.order_key, p.carrier, p.lane, status, pid, off, at))
        return LOGI_REJECTED;
    if (status == SS_LABEL)
        return LOGI_APPLIED;
    /* the outcome needs the promises: decided at the end of the batch */
    if (!bw_grow((void **)&lg->pend, &lg->cappend, lg->npend, sizeof(p)))
        return LOGI_REJECTED;
    p.kind = status == SS_DELIVERED                              ? SS_DELIVERED
             : status == SS_PICKED_UP || status == SS_IN_TRANSIT ? SS_PICKED_UP
                                                                 : SS_EXCEPTION;
    p.at = at;
    p.estimate = s->estimate;
    p.pid = pid;
    p.offset = off;
    p.ship_by = p.deliver_by = INT64_MIN;
    lg->pend[lg->npend++] = p;
    return LOGI_APPLIED;
}

/* The watermark's word on an event, then its changes queued. */
static logi_verdict_t add_event(logistics_t *lg, int topic, const order_in_t *o, const scan_in_t *s,
                                int32_t pid, int64_t offset, int64_t now_ms, char *reason,
                                size_t reason_size) {
    int64_t at = topic == LOGI_TOPIC_ORDERS ? o->at : s->at;
    logi_verdict_t v;

    bw_wm_begin(&lg->wm_txn, &lg->wm);
    switch (bw_wm_admit(&lg->wm, pid, at, now_ms, lg->cfg.min_event_ms, reason, reason_size)) {
    case BW_WM_FUTURE:
        bw_metric_inc(lg->m_rejected);
        return LOGI_REJECTED;
    case BW_WM_TOO_LATE:
        bw_metric_inc(lg->m_dropped);
        return LOGI_DROPPED_LATE;
    case BW_WM_LATE:
        v = LOGI_LATE_APPLIED;
        break;
    default:
        v = LOGI_APPLIED;
    }
    bw_batch_parts_note(&lg->parts, pid, offset);
    if ((topic == LOGI_TOPIC_ORDERS ? add_order(lg, o, pid, offset)
                                    : add_shipment(lg, s, pid, offset)) == LOGI_REJECTED) {
        bw_errstr_set(reason, reason_size, "out of memory");
        return LOGI_REJECTED;
    }
    bw_metric_inc(v == LOGI_LATE_APPLIED ? lg->m_late : lg->m_applied);
    return v;
}

logi_verdict_t logistics_add(logistics_t *lg, int topic, bw_record_t *rec, int32_t pid,
                             int64_t offset, int64_t now_ms, char *reason, size_t reason_size) {
    order_in_t o;
    scan_in_t s;

    if (topic == LOGI_TOPIC_ORDERS)
        read_order(lg, &rec->value, &o);
    else
        read_scan(lg, &rec->value, &s);
    return add_event(lg, topic, &o, &s, pid, offset, now_ms, reason, reason_size);
}

logi_verdict_t logistics_add_wire(logistics_t *lg, int topic, const void *wire, size_t len,
                                  int32_t pid, int64_t offset, int64_t now_ms, bw_err_t *why,
                                  char *reason, size_t reason_size) {
    const bw_schema_t *expect = topic == LOGI_TOPIC_ORDERS ? lg->order_s : lg->ship_s;
    const bw_schema_t *schema;
    bw_record_t *rec;
    order_in_t o;
    scan_in_t s;
    logi_verdict_t v;
    bool ok;

    /* an event in this stage's own schema is read where its fields are;
     * another schema version is decoded by Avro C */
    if ((*why = bw_serde_check(lg->sd, wire, len, expect, &schema, lg->offs[topic],
                               expect->root->n + 1, reason, reason_size)))
        return LOGI_REJECTED;
    if (schema == expect) {
        ok = topic == LOGI_TOPIC_ORDERS ? read_order_wire(lg, wire, &o)
                                        : read_scan_wire(lg, wire, &s);
        if (!ok) {
            *why = BW_ERR_SCHEMA;
            bw_errstr_set(reason, reason_size, "not a %s value", expect->name);
            bw_metric_inc(lg->m_rejected);
            return LOGI_REJECTED;
        }
        v = add_event(lg, topic, &o, &s, pid, offset, now_ms, reason, reason_size);
    } else {
        if ((*why = bw_serde_decode(lg->sd, wire, len, expect, &rec, reason, reason_size)))
            return LOGI_REJECTED;
        v = logistics_add(lg, topic, rec, pid, offset, now_ms, reason, reason_size);
    }
    *why = BW_ERR_OUT_OF_RANGE;
    return v;
}

/* ---- end of batch ---- */

/* What the scans' outcomes need from the index: the promises (this
 * batch's order events win over Redis) and the parcel's last scan and
 * stall before this batch. */
static bw_err_t lookup_orders(logistics_t *lg, char *errstr, size_t errstr_size) {
    bw_redis_pipe_t pipe = {0};
    redisReply **replies = NULL;
    bw_buf_t key = {0};
    bw_err_t err = BW_ERR_OK;

    for (size_t i = 0; i < lg->npend; i++) {
        pend_t *p = &lg->pend[i];
        bw_buf_reset(&key);
        if (!bw_win_key(&key, p->store_tag, p->order_key))
            goto nomem;
        const char *argv[] = {"HMGET", key.data, "psb", "pdb", "last_scan", "stall_at", "shipped"};
        if (bw_redis_pipe_add(&pipe, 7, argv, NULL))
            goto nomem;
    }
    if (!lg->npend)
        goto out;
    if ((err = bw_redis_pipe_run(lg->redis, &pipe, &replies, errstr, errstr_size)))
        goto out;
    for (size_t i = 0; i < lg->npend; i++) {
        pend_t *p = &lg->pend[i];
        redisReply *r = replies[i];
        const int64_t *o;
        p->last_scan = p->stall_at = p->shipped = INT64_MIN;
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 5) {
            p->ship_by = logi_reply_i64(r->element[0]);
            p->deliver_by = logi_reply_i64(r->element[1]);
            p->last_scan = logi_reply_i64(r->element[2]);
            p->stall_at = logi_reply_i64(r->element[3]);
            p->shipped = logi_reply_i64(r->element[4]);
        }
        if (!bw_buf_join(&key, p->store_tag, ' ', p->order_key))
            goto nomem;
        if ((o = bw_strmap_get(&lg->overlay, key.data, key.len))) {
            p->ship_by = lg->ords[*o].ship_by;
            p->deliver_by = lg->ords[*o].deliver_by;
        }
    }
    goto out;
nomem:
    err = BW_ERR_NOMEM;
out:
    bw_redis_replies_free(replies, lg->npend);
    bw_redis_pipe_free(&pipe);
    bw_buf_free(&key);
    return err;
}

bw_err_t logi_count_delivery(logistics_t *lg, const char *cl_tag, const char *carrier,
                             const char *lane, const char *order_key, int32_t pid, int64_t off,
                             int64_t delivered, int64_t promise, const char *evidence) {
    int64_t b = bw_bucket(promise, lg->cfg.window_ms);
    touched_t *t;
    bw_err_t err;

    if ((err = logi_count_once(lg, cl_tag, pid, off, "w:", b, "due", "d", order_key + 2)))
        return err;
    if (!(t = logi_touch(lg, cl_tag, carrier, lane, TK_LANE, b)))
        return BW_ERR_NOMEM;
    if (delivered <= promise)
        return BW_ERR_OK;
    if ((err = logi_count_once(lg, cl_tag, pid, off, "w:", b, "late", "l", order_key + 2)))
        return err;
    return logi_window_evidence(lg, t, pid, off, "w:", b, evidence);
}

/* A shipment against the promised ship-by, in the store's window of the
 * day it shipped; once per order. */
static bw_err_t count_shipment(logistics_t *lg, const char *store_tag, const char *order_key,
                               int32_t pid, int64_t off, int64_t shipped, int64_t ship_by,
                               const char *evidence) {
    int64_t b = bw_bucket(shipped, lg->cfg.window_ms);
    touched_t *t;
    bw_err_t err;

    if ((err = logi_count_once(lg, store_tag, pid, off, "ship:", b, "shipped", "s", order_key + 2)))
        return err;
    if (!(t = logi_touch(lg, store_tag, store_tag + 2, NULL, TK_SHIP, b)))
        return BW_ERR_NOMEM;
    if (shipped <= ship_by)
        return BW_ERR_OK;
    if ((err = logi_count_once(lg, store_tag, pid, off, "ship:", b, "late_shipped", "ls",
                               order_key + 2)))
        return err;
    return logi_window_evidence(lg, t, pid, off, "ship:", b, evidence);
}

int64_t logi_reply_i64(const redisReply *r) {
    int64_t v = INT64_MIN;
    if (r->type == REDIS_REPLY_STRING && !bw_parse_i64(r->str, &v))
        v = INT64_MIN;
    return v;
}

bw_err_t logi_count_stall(logistics_t *lg, const char *cl_tag, const char *carrier,
                          const char *lane, const char *order_key, int32_t pid, int64_t off,
                          int64_t since, const char *evidence) {
    int64_t b = bw_bucket(since, lg->cfg.window_ms);
    touched_t *t;
    bw_err_t err;

    if ((err = logi_count_once(lg, cl_tag, pid, off, "w:", b, "stalled", "st", order_key + 2)))
        return err;
    if (!(t = logi_touch(lg, cl_tag, carrier, lane, TK_LANE, b)))
        return BW_ERR_NOMEM;
    return logi_window_evidence(lg, t, pid, off, "w:", b, evidence);
}

/* An order as the batch's scans have moved it so far. */
typedef struct {
    int64_t last, stall_at; /* last scan, when it went quiet (INT64_MIN: none) */
    bool shipment_decided; /* its first pickup or transit scan was counted */
} seen_t;

/* A gap of the stall time or more between two scans is a stall, counted
 * as soon as the later scan comes, in the window of the day the parcel
 * went quiet: the first gap, whichever batch or replay sees it (the index
 * keeps it as stall_at). The scans of an order in the batch are taken in
 * order, from the last scan the index had. */
static bw_err_t queue_gap_stall(logistics_t *lg, pend_t *p, seen_t *st) {
    if (st->stall_at == INT64_MIN && st->last != INT64_MIN && p->at - st->last >= lg->cfg.stall_ms)
        st->stall_at = st->last + lg->cfg.stall_ms;
    if (p->at > st->last)
        st->last = p->at;
    if (st->stall_at == INT64_MIN)
        return BW_ERR_OK;
    return logi_count_stall(lg, p->cl_tag, p->carrier, p->lane, p->order_key, p->pid, p->offset,
                            st->stall_at, p->event_id);
}

/* Is @p p the order's first pickup or transit scan (none in the index
 * before this batch, none earlier in it)? */
static bool first_shipment(seen_t *st, const pend_t *p) {
    if (p->shipped != INT64_MIN || st->shipment_decided)
        return false;
    st->shipment_decided = true;
    return true;
}

/* The order of @p p as this batch has seen it so far, starting from what
 * the index had. */
static seen_t *order_seen(logistics_t *lg, bw_strmap_t *index, seen_t *seen, size_t *nseen,
                          const pend_t *p) {
    bool fresh = false;
    int64_t *at;

    if (!bw_buf_join(&lg->member, p->store_tag, ' ', p->order_key) ||
        !(at = bw_strmap_put(index, lg->member.data, lg->member.len, &fresh)))
        return NULL;
    if (fresh) {
        *at = (int64_t)(*nseen)++;
        seen[*at] = (seen_t){p->last_scan, p->stall_at, false};
    }
    return &seen[*at];
}

/* Queue the outcome of each scan: stalls, and deliveries and pickups
 * whose promises are known. */
static bw_err_t queue_outcomes(logistics_t *lg) {
    seen_t *seen = calloc(lg->npend + 1, sizeof(*seen)), *st;
    bw_strmap_t index = {0};
    size_t nseen = 0;
    bw_err_t err = BW_ERR_OK;

    if (!seen)
        return BW_ERR_NOMEM;
    for (size_t i = 0; i < lg->npend && !err; i++) {
        pend_t *p = &lg->pend[i];
        int64_t promise = p->deliver_by != INT64_MIN ? p->deliver_by : p->estimate;
        if (!(st = order_seen(lg, &index, seen, &nseen, p))) {
            err = BW_ERR_NOMEM;
            break;
        }
        if ((err = queue_gap_stall(lg, p, st)))
            break;
        if (p->kind == SS_EXCEPTION)
            continue;
        if (p->kind == SS_DELIVERED) {
            /* no promise yet (the order event has not come): the index keeps
             * the delivery, and the order event decides when it arrives */
            if (promise == INT64_MIN) {
                bw_metric_inc(lg->m_no_promise);
                continue;
            }
            err = logi_count_delivery(lg, p->cl_tag, p->carrier, p->lane, p->order_key, p->pid,
                                      p->offset, p->at, promise, p->event_id);
        } else {
            /* picked up: late if still undelivered when the promise passes */
            if (promise != INT64_MIN && (err = logi_timer_set(lg, TIMER_DUE, p->pid, p->offset,
                                                              p->store_tag, p->order_key, promise)))
                break;
            if (p->ship_by == INT64_MIN)
                continue; /* decided by the order event */
            /* shipped on time or not is the first carrier scan's to say,
             * not a later transit scan's (the index's, else this batch's) */
            if (!first_shipment(st, p))
                continue;
            err = count_shipment(lg, p->store_tag, p->order_key, p->pid, p->offset, p->at,
                                 p->ship_by, p->event_id);
        }
    }
    bw_strmap_free(&index);
    free(seen);
    return err;
}

/* Order events whose scans came in earlier batches: the index has the
 * scan times, carrier and lane; now the promises are known too. */
static bw_err_t queue_late_orders(logistics_t *lg, char *errstr, size_t errstr_size) {
    bw_redis_pipe_t pipe = {0};
    redisReply **replies = NULL;
    bw_buf_t key = {0};
    bw_err_t err = BW_ERR_OK;

    if (!lg->nords)
        return BW_ERR_OK;
    for (size_t i = 0; i < lg->nords; i++) {
        bw_buf_reset(&key);
        if (!bw_win_key(&key, lg->ords[i].store_tag, lg->ords[i].order_key))
            goto nomem;
        const char *argv[] = {"HMGET", key.data, "delivered", "shipped", "carrier", "lane"};
        if (bw_redis_pipe_add(&pipe, 6, argv, NULL))
            goto nomem;
    }
    if ((err = bw_redis_pipe_run(lg->redis, &pipe, &replies, errstr, errstr_size)))
        goto out;
    for (size_t i = 0; i < lg->nords && !err; i++) {
        ord_t *o = &lg->ords[i];
        redisReply *r = replies[i];
        int64_t delivered, shipped;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 4)
            continue;
        delivered = logi_reply_i64(r->element[0]);
        shipped = logi_reply_i64(r->element[1]);
        if (o->deliver_by != INT64_MIN && r->element[2]->type == REDIS_REPLY_STRING &&
            r->element[3]->type == REDIS_REPLY_STRING) {
            const char *carrier = r->element[2]->str, *lane = r->element[3]->str;
            char *cltag = bw_key_name("cl=", carrier, strlen(carrier), lane, strlen(lane));
            if (!cltag)
                goto nomem;
            if (delivered != INT64_MIN)
                err = logi_count_delivery(lg, cltag, carrier, lane, o->order_key, o->pid, o->offset,
                                          delivered, o->deliver_by, o->order_key + 2);
            else if (shipped != INT64_MIN)
                err = logi_timer_set(lg, TIMER_DUE, o->pid, o->offset, o->store_tag, o->order_key,
                                     o->deliver_by);
            free(cltag);
        }
        if (!err && shipped != INT64_MIN && o->ship_by != INT64_MIN)
            err = count_shipment(lg, o->store_tag, o->order_key, o->pid, o->offset, shipped,
                                 o->ship_by, o->order_key + 2);
    }
    goto out;
nomem:
    err = BW_ERR_NOMEM;
out:
    bw_redis_replies_free(replies, lg->nords);
    bw_redis_pipe_free(&pipe);
    bw_buf_free(&key);
    return err;
}

bw_err_t logistics_end_batch(logistics_t *lg, int64_t now_ms, logistics_emit_cb emit, void *opaque,
                             char *errstr, size_t errstr_size) {
    bw_err_t err;

    if ((err = lookup_orders(lg, errstr, errstr_size)) || (err = queue_outcomes(lg)) ||
        (err = queue_late_orders(lg, errstr, errstr_size)) ||
        (err = bw_batch_parts_persist(&lg->parts, &lg->wm, lg->win, lg->cfg.index_ttl_s)) ||
        (err = bw_win_flush(lg->win, errstr, errstr_size)) ||
        (err = logi_fire_timers(lg, now_ms, errstr, errstr_size)))
        goto out;
    err = logi_judge(lg, emit, opaque, errstr, errstr_size);
out:
    /* on success the marks wait for logistics_delivered() */
    if (err) {
        logistics_discard(lg);
    } else {
        discard_batch(lg);
        bw_wm_commit(&lg->wm_txn);
    }
    return err;
}

bw_err_t logistics_delivered(logistics_t *lg, char *errstr, size_t errstr_size) {
    return bw_marks_write(&lg->marks, lg->win, lg->cfg.window_ttl_s, errstr, errstr_size);
}
