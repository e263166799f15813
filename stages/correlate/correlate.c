/* bw-correlate: reading classified reviews and seller actions into store,
 * SKU and response windows, joined to the order index (timers.c fires the
 * response clocks, judge.c judges the windows). */
#include "correlate_int.h"

#include <stdlib.h>
#include <string.h>

#include "bw_avro_check.h"
#include "bw_field.h"
#include "bw_log.h"
#include "bw_util.h"
#include "simhash.h"

const char *const CAUSE_NAMES[CAUSE__CNT] = {
    "quality_defect", "not_as_described",  "logistics_delay",
    "logistics_lost", "logistics_damaged", "logistics_partial",
    "after_sales",    "service_attitude",  "price",
    "payment",        "abusive",           "other"};
const char *const REMOVABLE_NAMES[4] = {"ABUSIVE_LANGUAGE", "PRODUCT_REVIEW_IN_SELLER_FEEDBACK",
                                        "PLATFORM_FULFILLED_DELIVERY", "PERSONAL_DATA"};

static const char *review_fields[F_R__CNT] = {
    "event_id",      "platform",  "store_id",     "kind",           "order_id",
    "sku",           "rating",    "body",         "occurred_at",    "causes",
    "primary_cause", "removable", "policy_flags", "response_due_at"};
static const char *action_fields[F_A__CNT] = {"event_id", "store_id", "ref_event_id", "action",
                                              "occurred_at"};

static const bw_metric_decl_t M_EVENTS = {BW_METRIC_COUNTER, "correlate_events_total",
                                          "Classified reviews and seller actions, by outcome",
                                          "outcome"};
static const bw_metric_decl_t M_UNKNOWN = {
    BW_METRIC_COUNTER, "correlate_unknown_order_total",
    "Reviews naming an order the index does not know (counted by their own date)", ""};
static const bw_metric_decl_t M_DUPLICATES = {
    BW_METRIC_COUNTER, "correlate_duplicates_total",
    "Reviews whose event id another record already counted (retries, replays): skipped", ""};
static const bw_metric_decl_t M_TIMERS = {BW_METRIC_COUNTER, "correlate_timers_fired_total",
                                          "Response clocks the watermark passed", ""};
static const bw_metric_decl_t M_WATERMARK = {
    BW_METRIC_GAUGE, "correlate_watermark_seconds",
    "Event-time watermark the response clocks fire at, Unix seconds", ""};

correlate_t *correlate_new(const correlate_cfg_t *cfg, bw_serde_t *sd, bw_redis_t *redis,
                           bw_metrics_t *reg, char *errstr, size_t errstr_size) {
    correlate_t *cr = calloc(1, sizeof(*cr));

    if (!cr) {
        bw_errstr_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    cr->cfg = *cfg;
    cr->sd = sd;
    cr->redis = redis;
    bw_wm_init(&cr->wm, cfg->lateness_ms, cfg->grace_ms, cfg->skew_ms, cfg->idle_ms);
    if (!(cr->review_s = bw_serde_schema(sd, "ClassifiedReview")) ||
        !(cr->action_s = bw_serde_schema(sd, "SellerAction")) ||
        !(cr->signal_s = bw_serde_schema(sd, "Signal"))) {
        bw_errstr_set(errstr, errstr_size,
                      "ClassifiedReview, SellerAction or Signal schema missing");
        goto err;
    }
    for (int i = 0; i < F_R__CNT; i++)
        if ((cr->fr[i] = bw_snode_field_index(cr->review_s->root, review_fields[i])) < 0)
            goto schema_err;
    for (int i = 0; i < F_A__CNT; i++)
        if ((cr->fa[i] = bw_snode_field_index(cr->action_s->root, action_fields[i])) < 0)
            goto schema_err;
    if (!(cr->offs = calloc(cr->review_s->root->n + 1, sizeof(*cr->offs))) ||
        !bw_batch_parts_init(&cr->parts)) {
        bw_errstr_set(errstr, errstr_size, "out of memory");
        goto err;
    }
    if (!(cr->sig = bw_record_new(cr->signal_s)) ||
        !(cr->win = bw_win_new(redis, reg, errstr, errstr_size)))
        goto err;
    if (reg) {
        cr->m_applied = bw_metrics_get(reg, &M_EVENTS, "applied");
        cr->m_late = bw_metrics_get(reg, &M_EVENTS, "late_applied");
        cr->m_dropped = bw_metrics_get(reg, &M_EVENTS, "too_late_dropped");
        cr->m_rejected = bw_metrics_get(reg, &M_EVENTS, "rejected");
        cr->m_ignored = bw_metrics_get(reg, &M_EVENTS, "ignored");
        cr->m_unknown_order = bw_metrics_get(reg, &M_UNKNOWN, NULL);
        cr->m_timers = bw_metrics_get(reg, &M_TIMERS, NULL);
        cr->m_duplicates = bw_metrics_get(reg, &M_DUPLICATES, NULL);
        cr->m_watermark = bw_metrics_get(reg, &M_WATERMARK, NULL);
        cr->reg = reg;
    }
    if (cr->cfg.timer_batch < 1)
        cr->cfg.timer_batch = 1000;
    if (cr->cfg.dedupe_ttl_s < 1)
        cr->cfg.dedupe_ttl_s = 7 * 86400;
    return cr;
schema_err:
    bw_errstr_set(errstr, errstr_size, "event schemas lack a field bw-correlate reads");
err:
    correlate_destroy(cr);
    return NULL;
}

static void free_pend(pend_t *p) {
    free(p->store_tag);
    free(p->order_key);
    free(p->sku_tag);
    free(p->event_id);
    free(p->carrier);
    free(p->lane);
}

static void discard_batch(correlate_t *cr) {
    for (size_t i = 0; i < cr->nheld; i++) {
        free(cr->held[i].buf);
        free(cr->held[i].tag);
    }
    cr->nheld = 0;
    for (size_t i = 0; i < cr->npend; i++)
        free_pend(&cr->pend[i]);
    cr->npend = 0;
    for (size_t i = 0; i < cr->ntouched; i++) {
        touched_t *t = &cr->touched[i];
        free(t->tag);
        free(t->a);
        free(t->b);
        free(t->note);
        for (int k = 0; k < t->nevidence; k++)
            free(t->evidence[k]);
    }
    cr->ntouched = 0;
    bw_batch_parts_reset(&cr->parts);
    if (cr->win)
        bw_win_discard(cr->win);
}

void correlate_discard(correlate_t *cr) {
    discard_batch(cr);
    bw_wm_rollback(&cr->wm_txn, &cr->wm);
    bw_marks_clear(&cr->marks);
}

void correlate_destroy(correlate_t *cr) {
    if (!cr)
        return;
    correlate_discard(cr);
    free(cr->offs);
    free(cr->held);
    free(cr->pend);
    free(cr->touched);
    bw_marks_free(&cr->marks);
    bw_batch_parts_free(&cr->parts);
    bw_buf_free(&cr->member);
    bw_buf_free(&cr->ekey);
    bw_record_destroy(cr->sig);
    bw_win_destroy(cr->win);
    free(cr);
}

void correlate_assigned(correlate_t *cr, int32_t pid, int64_t now_ms) {
    bw_wm_load(&cr->wm, cr->redis, pid, now_ms);
    bw_wm_txn_sync(&cr->wm_txn, &cr->wm, pid);
}

void correlate_eof(correlate_t *cr, int32_t pid) {
    bw_wm_eof(&cr->wm, pid);
}

void correlate_forget(correlate_t *cr, int32_t pid) {
    bw_win_forget_partition(cr->win, pid);
    bw_wm_forget(&cr->wm, pid);
    bw_wm_txn_sync(&cr->wm_txn, &cr->wm, pid);
}

int64_t correlate_signals(const correlate_t *cr) {
    return cr->signals;
}

/* ---- helpers shared with timers.c and judge.c ---- */

touched_t *corr_touch(correlate_t *cr, touch_kind_t kind, const char *tag, const char *a,
                      const char *b, int64_t hi) {
    /* Days are judged one by one, only those a change or a close names:
     * merged into a range, the days between would be judged or not as
     * batches happened to fall, and so would their signals. */
    bool per_day = kind == TK_RESP || kind == TK_CORR || kind == TK_STORE_DAY ||
                   kind == TK_SKU_DAY || kind == TK_SKU;
    /* TK_EVENT entries are one per event; the others merge per tag */
    touched_t *t;

    for (size_t i = 0; kind != TK_EVENT && i < cr->ntouched; i++) {
        t = &cr->touched[i];
        if (t->kind != kind || strcmp(t->tag, tag) || (per_day && t->hi != hi))
            continue;
        if (hi > t->hi)
            t->hi = hi;
        if (hi < t->lo)
            t->lo = hi;
        return t;
    }
    if (!bw_grow((void **)&cr->touched, &cr->captouched, cr->ntouched, sizeof(*t)))
        return NULL;
    t = &cr->touched[cr->ntouched];
    memset(t, 0, sizeof(*t));
    t->kind = kind;
    t->lo = t->hi = hi;
    t->tag = strdup(tag);
    t->a = strdup(a);
    t->b = b ? strdup(b) : NULL;
    if (!t->tag || !t->a || (b && !t->b)) {
        free(t->tag);
        free(t->a);
        free(t->b);
        return NULL;
    }
    cr->ntouched++;
    return t;
}

bool corr_evidence(touched_t *t, const char *id) {
    for (int k = 0; k < t->nevidence; k++)
        if (!strcmp(t->evidence[k], id))
            return true;
    if (t->nevidence == 5)
        return true;
    return (t->evidence[t->nevidence++] = strdup(id)) != NULL || (t->nevidence--, false);
}

bw_err_t corr_count_once(correlate_t *cr, const char *tag, int32_t pid, int64_t offset,
                         const char *prefix, int64_t bucket, const char *field,
                         const char *marker) {
    char key[48];

    bw_name_i64(key, sizeof(key), prefix, bucket);
    return bw_win_add_once(cr->win, tag, pid, offset, key, field, 1, "cmarks", marker,
                           cr->cfg.state_ttl_s);
}

bw_err_t corr_close_later(correlate_t *cr, char kind, const char *tag, int64_t day, int32_t pid,
                          int64_t offset) {
    char ptag[24], head[4 + BW_I64_DIGITS];
    size_t n = 0;

    /* "<kind> <day> <tag>" */
    bw_name_i64(ptag, sizeof(ptag), "t=", pid);
    head[n++] = kind;
    head[n++] = ' ';
    n += bw_fmt_i64(head + n, day);
    head[n] = '\0';
    if (!bw_buf_join(&cr->member, head, ' ', tag))
        return BW_ERR_NOMEM;
    return bw_win_add(cr->win, ptag, pid, offset, BW_OP_ZADD, TIMER_CLOSE, cr->member.data,
                      day + DAY_MS, cr->cfg.state_ttl_s);
}

/* ---- queueing changes ---- */

#define ADD(call)                \
    do {                         \
        if ((call) != BW_ERR_OK) \
            goto nomem;          \
    } while (0)

static void read_review(const correlate_t *cr, avro_value_t *v, review_t *r) {
    memset(r, 0, sizeof(*r));
    bw_field_str(v, cr->fr[F_R_STORE], &r->store, &r->slen);
    bw_field_str(v, cr->fr[F_R_EVENT], &r->event, &r->elen);
    bw_field_str(v, cr->fr[F_R_BODY], &r->body, &r->blen);
    r->has_order = bw_field_opt_str(v, cr->fr[F_R_ORDER], &r->order, &r->olen) && r->olen;
    r->has_sku = bw_field_opt_str(v, cr->fr[F_R_SKU], &r->sku, &r->klen) && r->klen;
    r->kind = bw_field_enum(v, cr->fr[F_R_KIND]);
    r->platform = bw_field_enum(v, cr->fr[F_R_PLATFORM]);
    r->primary = bw_field_opt_enum(v, cr->fr[F_R_PRIMARY]);
    r->removable = bw_field_opt_enum(v, cr->fr[F_R_REMOVABLE]);
    r->rating = bw_field_opt_int(v, cr->fr[F_R_RATING]);
    r->due = bw_field_opt_long(v, cr->fr[F_R_DUE]);
    r->at = bw_field_long(v, cr->fr[F_R_TIME]);
    r->causes = bw_field_enum_mask(v, cr->fr[F_R_CAUSES]);
    r->policy = bw_field_enum_mask(v, cr->fr[F_R_POLICY]);
}

/* read_review from a message's bytes, where bw_serde_check found each
 * field: Avro C's decoding was a sixth of the stage's CPU. false: a value
 * of another type than this stage's ClassifiedReview has there. */
static bool read_review_wire(const correlate_t *cr, const unsigned char *w, review_t *r) {
    const bw_snode_t *root = cr->review_s->root;
    bw_avro_scalar_t v;
#define F_(f, t, opt) bw_avro_field(root, w, cr->offs, cr->fr[f], t, opt, &v)
#define MASK_(f, m)                                                          \
    bw_avro_enum_mask(root->fields[cr->fr[f]].type, w + cr->offs[cr->fr[f]], \
                      w + cr->offs[cr->fr[f] + 1], m)

    memset(r, 0, sizeof(*r));
    if (!F_(F_R_STORE, BW_T_STRING, false))
        return false;
    r->store = v.s, r->slen = v.len;
    if (!F_(F_R_EVENT, BW_T_STRING, false))
        return false;
    r->event = v.s, r->elen = v.len;
    if (!F_(F_R_BODY, BW_T_STRING, false))
        return false;
    r->body = v.s, r->blen = v.len;
    if (!F_(F_R_ORDER, BW_T_STRING, true))
        return false;
    r->has_order = v.type == BW_T_STRING && v.len;
    r->order = v.s, r->olen = v.len;
    if (!F_(F_R_SKU, BW_T_STRING, true))
        return false;
    r->has_sku = v.type == BW_T_STRING && v.len;
    r->sku = v.s, r->klen = v.len;
    if (!F_(F_R_KIND, BW_T_ENUM, false))
        return false;
    r->kind = (int)v.i;
    if (!F_(F_R_PLATFORM, BW_T_ENUM, false))
        return false;
    r->platform = (int)v.i;
    if (!F_(F_R_PRIMARY, BW_T_ENUM, true))
        return false;
    r->primary = v.type == BW_T_ENUM ? (int)v.i : -1;
    if (!F_(F_R_REMOVABLE, BW_T_ENUM, true))
        return false;
    r->removable = v.type == BW_T_ENUM ? (int)v.i : -1;
    if (!F_(F_R_RATING, BW_T_INT, true))
        return false;
    r->rating = v.type == BW_T_INT ? v.i : INT64_MIN;
    if (!F_(F_R_DUE, BW_T_LONG, true))
        return false;
    r->due = v.type == BW_T_LONG ? v.i : INT64_MIN;
    if (!F_(F_R_TIME, BW_T_LONG, false))
        return false;
    r->at = v.i;
    return MASK_(F_R_CAUSES, &r->causes) && MASK_(F_R_POLICY, &r->policy);
#undef MASK_
#undef F_
}

/* A per-event signal (REMOVABLE_FEEDBACK, POLICY_RISK), judged at the end. */
static bool touch_event(correlate_t *cr, const char *store_tag, const review_t *r, const char *type,
                        const char *note) {
    char *event = strndup(r->event, r->elen), *store = strndup(r->store, r->slen);
    touched_t *t = event && store ? corr_touch(cr, TK_EVENT, store_tag, store, event, r->at) : NULL;
    bool ok = t && (t->note = strdup(note)) && corr_evidence(t, event);

    if (t)
        t->type = type;
    free(event);
    free(store);
    return ok;
}

/* The response clock of an event that must be answered by @p r->due. */
static bw_err_t add_response(correlate_t *cr, const char *tag, const review_t *r, int32_t pid,
                             int64_t off) {
    int64_t ttl = cr->cfg.state_ttl_s, warn = r->at + cr->cfg.response_warn_ms;
    bw_buf_t *ekey = &cr->ekey;
    char ptag[24];
    bw_err_t err;

    if (warn > r->due)
        warn = r->due;
    bw_name_i64(ptag, sizeof(ptag), "t=", pid);
    bw_buf_reset(ekey);
    if (!bw_buf_append(ekey, "m:", 2) || !bw_key_escape(ekey, r->event, r->elen) ||
        !bw_buf_join(&cr->member, tag, ' ', ekey->data))
        return BW_ERR_NOMEM;
    if ((err = bw_win_add(cr->win, tag, pid, off, BW_OP_SET, ekey->data, "due", r->due, ttl)) ||
        (err = bw_win_add(cr->win, tag, pid, off, BW_OP_SET, ekey->data, "at", r->at, ttl)) ||
        (err = corr_count_once(cr, tag, pid, off, "r:", bw_bucket(r->due, DAY_MS), "rdue",
                               ekey->data)))
        return err;
    return bw_win_add(cr->win, ptag, pid, off, BW_OP_ZADD, TIMER_RESP, cr->member.data, warn, ttl);
}

/* Product reviews into the SKU's day: volume, negatives, complaints by
 * cause, and the texts of low-star reviews for the near-duplicate test. */
static bw_err_t add_sku(correlate_t *cr, const char *store_tag, const char *sku_tag,
                        const review_t *r, int32_t pid, int64_t off, bool neg) {
    int64_t ttl = cr->cfg.state_ttl_s, day = bw_bucket(r->at, DAY_MS);
    char key[48], field[16], hash[24];
    char *store = NULL, *sku = NULL, *event = NULL;
    bw_buf_t esku = {0};
    touched_t *t;
    bw_err_t err = BW_ERR_NOMEM;

    /* every review counts in the store's per-SKU day ("kr:DAY", field the
     * escaped SKU): the store's tag is written for the review anyway, so
     * praise costs no flush of its own */
    bw_name_i64(key, sizeof(key), "kr:", day);
    if (!bw_key_escape(&esku, r->sku, r->klen))
        return BW_ERR_NOMEM;
    err = bw_win_add(cr->win, store_tag, pid, off, BW_OP_INCR, key, esku.data, 1, ttl);
    bw_buf_free(&esku);
    /* only a negative review can make the SKU's signals fire: praise is
     * counted, not judged */
    if (err || !neg)
        return err;
    bw_name_i64(key, sizeof(key), "d:", day);
    if ((err = bw_win_add(cr->win, sku_tag, pid, off, BW_OP_INCR, key, "neg", 1, ttl)))
        return err;
    if (r->primary >= 0 && r->primary < CAUSE__CNT) {
        bw_name_i64(field, sizeof(field), "c", r->primary);
        if ((err = bw_win_add(cr->win, sku_tag, pid, off, BW_OP_INCR, key, field, 1, ttl)))
            return err;
    }
    bw_name_i64(key, sizeof(key), "sh:", day);
    snprintf(hash, sizeof(hash), "%016llx", (unsigned long long)bw_simhash(r->body, r->blen));
    if (!(event = strndup(r->event, r->elen)) ||
        (err = bw_win_add_str(cr->win, sku_tag, pid, off, key, event, hash, ttl)))
        goto out;
    err = BW_ERR_NOMEM;
    if (!(store = strndup(r->store, r->slen)) || !(sku = strndup(r->sku, r->klen)) ||
        !(t = corr_touch(cr, TK_SKU, sku_tag, store, sku, day)) || !corr_evidence(t, event))
        goto out;
    t->need |= NEED_CLUSTER;
    err = corr_close_later(cr, 'K', sku_tag, day, pid, off);
out:
    free(store);
    free(sku);
    free(event);
    return err;
}

/* Store volumes of the review's day: product reviews and seller feedback. */
static bw_err_t add_store(correlate_t *cr, const char *tag, const review_t *r, int32_t pid,
                          int64_t off, bool neg) {
    int64_t ttl = cr->cfg.state_ttl_s, day = bw_bucket(r->at, DAY_MS);
    char key[48];
    bw_err_t err = BW_ERR_OK;

    bw_name_i64(key, sizeof(key), "r:", day);
    if (r->kind == RK_PRODUCT_REVIEW) {
        if ((err = bw_win_add(cr->win, tag, pid, off, BW_OP_INCR, key, "rev", 1, ttl)) ||
            (neg && (err = bw_win_add(cr->win, tag, pid, off, BW_OP_INCR, key, "neg", 1, ttl))))
            goto out;
    } else { /* seller feedback: the rating, by day and by 30 days */
        if ((err = bw_win_add(cr->win, tag, pid, off, BW_OP_INCR, key, "fb", 1, ttl)) ||
            (err = bw_win_add(cr->win, tag, pid, off, BW_OP_INCR, key, "fbsum", r->rating, ttl)))
            goto out;
        bw_name_i64(key, sizeof(key), "rm:", bw_bucket(r->at, MONTH_MS));
        if ((err = bw_win_add(cr->win, tag, pid, off, BW_OP_INCR, key, "fb", 1, 400LL * 86400)) ||
            (err = bw_win_add(cr->win, tag, pid, off, BW_OP_INCR, key, "fbsum", r->rating,
                              400LL * 86400)))
            goto out;
    }
    if (r->kind == RK_PRODUCT_REVIEW && !neg)
        goto out; /* praise: counted, nothing to judge */
    err = corr_close_later(cr, 'S', tag, day, pid, off);
out:
    return err;
}

/* Where a review's event id says it was counted: "ev:<day>" of its
 * store, field the escaped event id, value "<partition>:<offset>" of the
 * record that counted it. Written in the same fenced flush as its counts. */
static void counted_name(char *name, size_t size, const review_t *r) {
    bw_name_i64(name, size, "ev:", bw_bucket(r->at, DAY_MS));
}

static bool counted_field(bw_buf_t *field, const review_t *r) {
    bw_buf_reset(field);
    return bw_key_escape(field, r->event, r->elen) && bw_buf_append(field, "", 1) &&
           (field->len--, true);
}

static bw_err_t mark_counted(correlate_t *cr, const char *tag, const review_t *r, int32_t pid,
                             int64_t off) {
    char name[32], at[48];
    bw_buf_t field = {0};
    bw_err_t err = BW_ERR_NOMEM;

    counted_name(name, sizeof(name), r);
    snprintf(at, sizeof(at), "%d:%lld", (int)pid, (long long)off);
    if (counted_field(&field, r))
        err = bw_win_add_str(cr->win, tag, pid, off, name, field.data, at, cr->cfg.dedupe_ttl_s);
    bw_buf_free(&field);
    return err;
}

/* The changes of one review the batch counts (end of batch, once the
 * duplicates are known). A review that needs the order index takes @p h's
 * tag with it. */
static bw_err_t add_review(correlate_t *cr, held_t *h) {
    const review_t *r = &h->r;
    int32_t pid = h->pid;
    int64_t off = h->off;
    char *tag = h->tag, *sku_tag = NULL;
    bool neg, defect, logistics;
    pend_t p = {0};

    neg = r->rating != INT64_MIN && r->rating <= 2;
    defect =
        (r->kind == RK_SELLER_FEEDBACK && neg) || r->kind == RK_A_TO_Z || r->kind == RK_CHARGEBACK;
    logistics =
        (r->causes >> CAUSE_LOGI_FIRST) & ((1u << (CAUSE_LOGI_LAST - CAUSE_LOGI_FIRST + 1)) - 1);
    if (r->has_sku && r->kind == RK_PRODUCT_REVIEW &&
        !(sku_tag = bw_key_name("k=", r->store, r->slen, r->sku, r->klen)))
        goto nomem;
    ADD(mark_counted(cr, tag, r, pid, off));
    if ((r->kind == RK_PRODUCT_REVIEW && r->rating != INT64_MIN) ||
        (r->kind == RK_SELLER_FEEDBACK && r->rating != INT64_MIN))
        ADD(add_store(cr, tag, r, pid, off, neg));
    if (sku_tag && r->rating != INT64_MIN)
        ADD(add_sku(cr, tag, sku_tag, r, pid, off, neg));
    if (r->due != INT64_MIN && r->kind != RK_SELLER_MESSAGE)
        ADD(add_response(cr, tag, r, pid, off));
    if (r->removable >= 0 && r->removable < 4 &&
        !touch_event(cr, tag, r, "REMOVABLE_FEEDBACK", REMOVABLE_NAMES[r->removable]))
        goto nomem;
    if (r->kind == RK_SELLER_MESSAGE && r->policy &&
        !touch_event(cr, tag, r, "POLICY_RISK",
                     r->policy & 2 ? (r->policy & 1 ? "OFFERS_INCENTIVE ASKS_REVIEW_CHANGE"
                                                    : "OFFERS_INCENTIVE")
                                   : "ASKS_REVIEW_CHANGE"))
        goto nomem;
    /* what needs the order index: decided at the end of the batch */
    if (defect || (sku_tag && neg && r->has_order) || (logistics && r->has_order)) {
        if (!bw_grow((void **)&cr->pend, &cr->cappend, cr->npend, sizeof(p)))
            goto nomem;
        p.store_tag = tag;
        p.sku_tag = sku_tag;
        h->tag = sku_tag = NULL;
        if ((r->has_order && !(p.order_key = bw_key_name("o:", r->order, r->olen, NULL, 0))) ||
            !(p.event_id = strndup(r->event, r->elen))) {
            free_pend(&p);
            goto nomem;
        }
        p.platform = r->platform;
        p.defect = defect;
        p.lowstar = p.sku_tag && neg && r->has_order;
        p.logistics = logistics && r->has_order;
        p.at = r->at;
        p.placed = INT64_MIN;
        p.pid = pid;
        p.offset = off;
        cr->pend[cr->npend++] = p;
    }
    free(sku_tag);
    return BW_ERR_OK;
nomem:
    free(sku_tag);
    return BW_ERR_NOMEM;
}

/* A review waits for the end of the batch in a copy of its own: the
 * record is reused for the next one. */
static bool hold_review(correlate_t *cr, const review_t *r, int32_t pid, int64_t off) {
    held_t *h;
    char *buf, *at, *tag;

    if (!bw_grow((void **)&cr->held, &cr->capheld, cr->nheld, sizeof(*h)) ||
        !(tag = bw_key_name("s=", r->store, r->slen, NULL, 0)))
        return false;
    if (!(buf = malloc(r->slen + r->olen + r->klen + r->elen + r->blen + 5))) {
        free(tag);
        return false;
    }
    h = &cr->held[cr->nheld++];
    h->r = *r;
    h->tag = tag;
    h->buf = at = buf;
#define HOLD(s, len)                           \
    do {                                       \
        if (h->r.len) /* else s may be NULL */ \
            memcpy(at, h->r.s, h->r.len);      \
        at[h->r.len] = '\0';                   \
        h->r.s = at;                           \
        at += h->r.len + 1;                    \
    } while (0)
    HOLD(store, slen);
    HOLD(order, olen);
    HOLD(sku, klen);
    HOLD(event, elen);
    HOLD(body, blen);
#undef HOLD
    h->pid = pid;
    h->off = off;
    return true;
}

static corr_verdict_t take_review(correlate_t *cr, const review_t *r, int32_t pid, int64_t off,
                                  char *reason, size_t reason_size) {
    if (r->rating != INT64_MIN && (r->rating < 1 || r->rating > 5)) {
        bw_errstr_set(reason, reason_size, "rating: %lld is outside 1-5", (long long)r->rating);
        return CORR_REJECTED;
    }
    if (!r->slen || !r->elen) {
        /* an empty event id would make every such review a duplicate */
        bw_errstr_set(reason, reason_size, "%s: empty", r->slen ? "event_id" : "store_id");
        return CORR_REJECTED;
    }
    if (!hold_review(cr, r, pid, off)) {
        bw_errstr_set(reason, reason_size, "out of memory");
        return CORR_REJECTED;
    }
    return CORR_APPLIED;
}

/* REPLIED and NO_RESPONSE_NEEDED stop the event's clock: the earliest
 * answer counts, so a duplicate or a later answer changes nothing. The
 * event may not have come yet (another topic): the answer waits for it. */
static corr_verdict_t add_action(correlate_t *cr, bw_record_t *rec, int32_t pid, int64_t off,
                                 int64_t at, char *reason, size_t reason_size) {
    const char *store, *ref;
    size_t slen, rlen;
    int action = bw_field_enum(&rec->value, cr->fa[F_A_ACTION]);
    char *tag = NULL;
    bw_buf_t ekey = {0};
    bw_err_t err;

    if (action != AK_REPLIED && action != AK_NO_RESPONSE_NEEDED)
        return CORR_IGNORED;
    bw_field_str(&rec->value, cr->fa[F_A_STORE], &store, &slen);
    bw_field_str(&rec->value, cr->fa[F_A_REF], &ref, &rlen);
    if (!slen || !rlen) {
        bw_errstr_set(reason, reason_size, "%s: empty", slen ? "ref_event_id" : "store_id");
        return CORR_REJECTED;
    }
    if (!(tag = bw_key_name("s=", store, slen, NULL, 0)) || !bw_buf_append(&ekey, "m:", 2) ||
        !bw_key_escape(&ekey, ref, rlen))
        err = BW_ERR_NOMEM;
    else
        err = bw_win_add(cr->win, tag, pid, off, BW_OP_MIN, ekey.data, "replied", at,
                         cr->cfg.state_ttl_s);
    free(tag);
    bw_buf_free(&ekey);
    if (err) {
        bw_errstr_set(reason, reason_size, "out of memory");
        return CORR_REJECTED;
    }
    return CORR_APPLIED;
}

/* The watermark's word on an event (CORR_APPLIED or CORR_LATE_APPLIED
 * when it is to be taken), then the review or action taken. */
static corr_verdict_t add_event(correlate_t *cr, int topic, const review_t *r, bw_record_t *rec,
                                int64_t at, int32_t pid, int64_t offset, int64_t now_ms,
                                char *reason, size_t reason_size) {
    corr_verdict_t v;

    bw_wm_begin(&cr->wm_txn, &cr->wm);
    switch (bw_wm_admit(&cr->wm, pid, at, now_ms, cr->cfg.min_event_ms, reason, reason_size)) {
    case BW_WM_FUTURE:
        bw_metric_inc(cr->m_rejected);
        return CORR_REJECTED;
    case BW_WM_TOO_LATE:
        bw_metric_inc(cr->m_dropped);
        return CORR_DROPPED_LATE;
    case BW_WM_LATE:
        v = CORR_LATE_APPLIED;
        break;
    default:
        v = CORR_APPLIED;
    }
    bw_batch_parts_note(&cr->parts, pid, offset);
    corr_verdict_t rv = topic == CORR_TOPIC_REVIEWS
                            ? take_review(cr, r, pid, offset, reason, reason_size)
                            : add_action(cr, rec, pid, offset, at, reason, reason_size);
    if (rv != CORR_APPLIED) {
        bw_metric_inc(rv == CORR_IGNORED ? cr->m_ignored : cr->m_rejected);
        return rv;
    }
    bw_metric_inc(v == CORR_LATE_APPLIED ? cr->m_late : cr->m_applied);
    return v;
}

corr_verdict_t correlate_add(correlate_t *cr, int topic, bw_record_t *rec, int32_t pid,
                             int64_t offset, int64_t now_ms, char *reason, size_t reason_size) {
    review_t r;

    if (topic == CORR_TOPIC_REVIEWS) {
        read_review(cr, &rec->value, &r);
        return add_event(cr, topic, &r, NULL, r.at, pid, offset, now_ms, reason, reason_size);
    }
    return add_event(cr, topic, NULL, rec, bw_field_long(&rec->value, cr->fa[F_A_TIME]), pid,
                     offset, now_ms, reason, reason_size);
}

corr_verdict_t correlate_add_wire(correlate_t *cr, int topic, const void *wire, size_t len,
                                  int32_t pid, int64_t offset, int64_t now_ms, bw_err_t *why,
                                  char *reason, size_t reason_size) {
    const bw_schema_t *expect = topic == CORR_TOPIC_REVIEWS ? cr->review_s : cr->action_s;
    const bw_schema_t *schema;
    bw_record_t *rec;
    review_t r;
    corr_verdict_t v;

    /* a review in this stage's own schema is read where its fields are;
     * anything else (actions, other schema versions) decoded by Avro C */
    if (topic == CORR_TOPIC_REVIEWS) {
        if ((*why = bw_serde_check(cr->sd, wire, len, expect, &schema, cr->offs,
                                   cr->review_s->root->n + 1, reason, reason_size)))
            return CORR_REJECTED;
        if (schema == cr->review_s) {
            if (!read_review_wire(cr, (const unsigned char *)wire, &r)) {
                *why = BW_ERR_SCHEMA;
                bw_errstr_set(reason, reason_size, "not a ClassifiedReview value");
                bw_metric_inc(cr->m_rejected);
                return CORR_REJECTED;
            }
            v = add_event(cr, topic, &r, NULL, r.at, pid, offset, now_ms, reason, reason_size);
            *why = BW_ERR_OUT_OF_RANGE;
            return v;
        }
    }
    if ((*why = bw_serde_decode(cr->sd, wire, len, expect, &rec, reason, reason_size)))
        return CORR_REJECTED;
    v = correlate_add(cr, topic, rec, pid, offset, now_ms, reason, reason_size);
    *why = BW_ERR_OUT_OF_RANGE;
    return v;
}

/* ---- end of batch ---- */

/* The orders of the batch's reviews: when placed (ODR by order date;
 * unknown orders for the fake-review test), and how they shipped. */
static bw_err_t lookup_orders(correlate_t *cr, char *errstr, size_t errstr_size) {
    bw_redis_pipe_t pipe = {0};
    redisReply **replies = NULL;
    bw_buf_t key = {0};
    size_t n = 0;
    bw_err_t err = BW_ERR_OK;

    for (size_t i = 0; i < cr->npend; i++) {
        pend_t *p = &cr->pend[i];
        if (!p->order_key)
            continue;
        bw_buf_reset(&key);
        if (!bw_win_key(&key, p->store_tag, p->order_key))
            goto nomem;
        const char *argv[] = {"HMGET", key.data, "placed", "carrier", "lane"};
        if (bw_redis_pipe_add(&pipe, 5, argv, NULL))
            goto nomem;
        n++;
    }
    if (!n)
        goto out;
    if ((err = bw_redis_pipe_run(cr->redis, &pipe, &replies, errstr, errstr_size)))
        goto out;
    for (size_t i = 0, q = 0; i < cr->npend; i++) {
        pend_t *p = &cr->pend[i];
        redisReply *r;
        if (!p->order_key)
            continue;
        r = replies[q++];
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 3)
            continue;
        if (r->element[0]->type == REDIS_REPLY_STRING)
            bw_parse_i64(r->element[0]->str, &p->placed);
        if (r->element[1]->type == REDIS_REPLY_STRING &&
            r->element[2]->type == REDIS_REPLY_STRING &&
            (!(p->carrier = strdup(r->element[1]->str)) || !(p->lane = strdup(r->element[2]->str))))
            goto nomem;
    }
    goto out;
nomem:
    err = BW_ERR_NOMEM;
out:
    bw_redis_replies_free(replies, n);
    bw_redis_pipe_free(&pipe);
    bw_buf_free(&key);
    return err;
}

/* Defects by order date (once per order), and low-star reviews of orders
 * nobody placed. */
static bw_err_t queue_joined(correlate_t *cr) {
    bw_buf_t marker = {0};
    bw_err_t err = BW_ERR_OK;

    for (size_t i = 0; i < cr->npend && !err; i++) {
        pend_t *p = &cr->pend[i];
        bool known = p->placed != INT64_MIN;
        if (p->order_key && !known)
            bw_metric_inc(cr->m_unknown_order);
        if (p->defect) {
            /* an unknown order's defect counts on its own date */
            int64_t day = bw_bucket(known ? p->placed : p->at, DAY_MS);
            touched_t *t;
            bw_buf_reset(&marker);
            if (!bw_buf_printf(&marker, "df:%s", p->order_key ? p->order_key + 2 : p->event_id))
                return BW_ERR_NOMEM;
            if ((err = corr_count_once(cr, p->store_tag, p->pid, p->offset, "odr:", day, "defects",
                                       marker.data)))
                break;
            if (!(t = corr_touch(cr, TK_STORE, p->store_tag, p->store_tag + 2, NULL,
                                 bw_bucket(p->at, DAY_MS))) ||
                !corr_evidence(t, p->event_id)) {
                err = BW_ERR_NOMEM;
                break;
            }
            t->platform = p->platform;
            t->need |= NEED_ODR;
        }
        if (p->lowstar && !known) {
            char key[48];
            bw_name_i64(key, sizeof(key), "d:", bw_bucket(p->at, DAY_MS));
            err = bw_win_add(cr->win, p->sku_tag, p->pid, p->offset, BW_OP_INCR, key, "unk", 1,
                             cr->cfg.state_ttl_s);
        }
    }
    bw_buf_free(&marker);
    return err;
}

/* Logistics complaints about orders whose carrier x lane has a delay
 * spike bw-logistics signalled in the last days: attached to it. */
static bw_err_t queue_spike_joins(correlate_t *cr, char *errstr, size_t errstr_size) {
    int L = (int)cr->cfg.corr_lookback_days;
    bw_redis_pipe_t pipe = {0};
    redisReply **replies = NULL;
    bw_buf_t key = {0}, marker = {0};
    char **tags = calloc(cr->npend ? cr->npend : 1, sizeof(char *));
    const char **argv = calloc(2 + (size_t)L, sizeof(char *));
    char(*fields)[64] = calloc((size_t)L, 64);
    size_t n = 0;
    bw_err_t err = BW_ERR_OK;

    if (!tags || !argv || !fields)
        goto nomem;
    for (size_t i = 0; i < cr->npend; i++) {
        pend_t *p = &cr->pend[i];
        int64_t day = bw_bucket(p->at, DAY_MS);
        if (!p->logistics || !p->carrier)
            continue;
        if (!(tags[i] =
                  bw_key_name("cl=", p->carrier, strlen(p->carrier), p->lane, strlen(p->lane))))
            goto nomem;
        bw_buf_reset(&key);
        if (!bw_win_key(&key, tags[i], "fired"))
            goto nomem;
        argv[0] = "HMGET";
        argv[1] = key.data;
        for (int k = 0; k < L; k++)
            argv[2 + k] = bw_fired_field(fields[k], 64, "CARRIER_DELAY_SPIKE", day - k * DAY_MS);
        if (bw_redis_pipe_add(&pipe, 2 + L, argv, NULL))
            goto nomem;
        n++;
    }
    if (!n)
        goto out;
    if ((err = bw_redis_pipe_run(cr->redis, &pipe, &replies, errstr, errstr_size)))
        goto out;
    for (size_t i = 0, q = 0; i < cr->npend && !err; i++) {
        pend_t *p = &cr->pend[i];
        redisReply *r;
        int level = 0;
        int64_t day;
        char window[48], slot[8];
        if (!tags[i])
            continue;
        r = replies[q++];
        /* the latest spike of the lookback (the first found, newest first) */
        for (size_t k = 0; r->type == REDIS_REPLY_ARRAY && k < r->elements && !level; k++)
            level = (int)bw_fired_value(r->element[k]);
        if (!level)
            continue;
        /* counted in the complaint's day, judged once that day closes */
        day = bw_bucket(p->at, DAY_MS);
        bw_buf_reset(&marker);
        if (!bw_buf_printf(&marker, "lc:%s", p->event_id))
            goto nomem;
        bw_name_i64(window, sizeof(window), "lc:", day);
        snprintf(slot, sizeof(slot), "ev%u", bw_hash32(p->event_id) % 5u);
        if ((err = corr_count_once(cr, tags[i], p->pid, p->offset, "lc:", day, "complaints",
                                   marker.data)) ||
            (err = bw_win_add(cr->win, tags[i], p->pid, p->offset, BW_OP_MAX, window, "level",
                              level, cr->cfg.state_ttl_s)) ||
            (err = bw_win_add_str(cr->win, tags[i], p->pid, p->offset, window, slot, p->event_id,
                                  cr->cfg.state_ttl_s)) ||
            (err = corr_close_later(cr, 'C', tags[i], day, p->pid, p->offset)))
            break;
    }
    goto out;
nomem:
    err = BW_ERR_NOMEM;
out:
    for (size_t i = 0; tags && i < cr->npend; i++)
        free(tags[i]);
    free(tags);
    free(argv);
    free(fields);
    bw_redis_replies_free(replies, n);
    bw_redis_pipe_free(&pipe);
    bw_buf_free(&key);
    bw_buf_free(&marker);
    return err;
}

/* Count the batch's reviews, each event id once: a review whose id was
 * counted from another record (a producer's retry, bw-classify replaying
 * a batch after a crash, a duplicate upstream) is skipped. The same
 * record again (this batch replayed) is counted as usual: the fences
 * decide. Duplicates share a key, hence a partition, hence this reader. */
static bw_err_t count_held(correlate_t *cr, char *errstr, size_t errstr_size) {
    bw_redis_pipe_t pipe = {0};
    redisReply **replies = NULL;
    bw_buf_t key = {0}, field = {0};
    json_t *batch = json_object();
    char name[32], at[48];
    bw_err_t err = BW_ERR_OK;

    if (!batch)
        return BW_ERR_NOMEM;
    for (size_t i = 0; i < cr->nheld; i++) {
        const review_t *r = &cr->held[i].r;
        counted_name(name, sizeof(name), r);
        bw_buf_reset(&key);
        if (!bw_win_key(&key, cr->held[i].tag, name) || !counted_field(&field, r))
            goto nomem;
        const char *argv[] = {"HGET", key.data, field.data};
        if (bw_redis_pipe_add(&pipe, 3, argv, NULL))
            goto nomem;
    }
    if (cr->nheld && (err = bw_redis_pipe_run(cr->redis, &pipe, &replies, errstr, errstr_size)))
        goto out;
    for (size_t i = 0; i < cr->nheld; i++) {
        held_t *h = &cr->held[i];
        const char *first;
        snprintf(at, sizeof(at), "%d:%lld", (int)h->pid, (long long)h->off);
        first = replies[i]->type == REDIS_REPLY_STRING ? replies[i]->str : NULL;
        if (!first) { /* earlier in this batch? */
            counted_name(name, sizeof(name), &h->r);
            bw_buf_reset(&key);
            if (!bw_buf_printf(&key, "%s\x1f%s", name, h->r.store) ||
                !bw_buf_append(&key, "\x1f", 1) || !counted_field(&field, &h->r) ||
                !bw_buf_append(&key, field.data, field.len + 1))
                goto nomem;
            json_t *seen = json_object_get(batch, key.data);
            if (seen)
                first = json_string_value(seen);
            else if (json_object_set_new_nocheck(batch, key.data, json_string_nocheck(at)))
                goto nomem;
        }
        if (first && strcmp(first, at)) {
            bw_metric_inc(cr->m_duplicates);
            continue;
        }
        if ((err = add_review(cr, h)))
            goto out;
    }
    goto out;
nomem:
    err = BW_ERR_NOMEM;
out:
    bw_redis_replies_free(replies, cr->nheld);
    bw_redis_pipe_free(&pipe);
    bw_buf_free(&key);
    bw_buf_free(&field);
    json_decref(batch);
    return err;
}

bw_err_t correlate_end_batch(correlate_t *cr, int64_t now_ms, correlate_emit_cb emit, void *opaque,
                             char *errstr, size_t errstr_size) {
    bw_err_t err;

    if ((err = count_held(cr, errstr, errstr_size)) ||
        (err = lookup_orders(cr, errstr, errstr_size)) || (err = queue_joined(cr)) ||
        (err = queue_spike_joins(cr, errstr, errstr_size)) ||
        (err = bw_batch_parts_persist(&cr->parts, &cr->wm, cr->win, cr->cfg.state_ttl_s)) ||
        (err = bw_win_flush(cr->win, errstr, errstr_size)) ||
        (err = corr_fire_timers(cr, now_ms, errstr, errstr_size)))
        goto out;
    err = corr_judge(cr, emit, opaque, errstr, errstr_size);
out:
    if (err == BW_ERR_NOMEM)
        bw_errstr_set(errstr, errstr_size, "out of memory");
    if (err) {
        correlate_discard(cr);
    } else {
        discard_batch(cr);
        bw_wm_commit(&cr->wm_txn);
    }
    return err;
}

bw_err_t correlate_delivered(correlate_t *cr, char *errstr, size_t errstr_size) {
    return bw_marks_write(&cr->marks, cr->win, cr->cfg.state_ttl_s, errstr, errstr_size);
}
