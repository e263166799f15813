#include "logistics.h"

#include <stdlib.h>
#include <string.h>

#include "bw_field.h"
#include "bw_json.h"
#include "bw_log.h"
#include "bw_util.h"

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

static const char *order_fields[F_O__CNT] = {
    "store_id", "platform",   "order_id", "placed_at", "promised_ship_by", "promised_delivery_by",
    "status",   "occurred_at"};
static const char *ship_fields[F_S__CNT] = {
    "event_id",    "store_id",           "order_id",     "carrier",
    "tracking_no", "origin_country",     "dest_country", "dest_region",
    "status",      "estimated_delivery", "occurred_at"};

/* ShipmentStatus symbols we act on (schema order). */
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

/* A scan whose outcome needs the order's promises (looked up at the end). */
typedef struct {
    char *store_tag, *order_key, *order_marker, *cl_tag, *carrier, *lane, *event_id;
    int kind; /* SS_DELIVERED or SS_PICKED_UP */
    int64_t at, estimate;
    int32_t pid;
    int64_t offset;
    int64_t ship_by, deliver_by; /* filled by the lookup; INT64_MIN: unknown */
} pend_t;

/* An order event of the batch: its scans may have come first. */
typedef struct {
    char *store_tag, *order_key, *event_id;
    int32_t pid;
    int64_t offset, ship_by, deliver_by;
} ord_t;

/* A carrier x lane or store touched by the batch, for detection. */
typedef struct {
    char *tag, *a, *b; /* carrier and lane, or store */
    bool is_store;
    int64_t earliest, latest; /* event times seen for it in the batch */
    char *evidence[5];
    int nevidence;
} touched_t;

struct logistics_s {
    logistics_cfg_t cfg;
    bw_serde_t *sd;
    bw_redis_t *redis;
    bw_win_t *win;
    bw_wm_t wm;
    const bw_schema_t *order_s, *ship_s, *signal_s;
    bw_record_t *sig;
    int fo[F_O__CNT], fs[F_S__CNT];
    pend_t *pend;
    size_t npend, cappend;
    ord_t *ords;
    size_t nords, capords;
    touched_t *touched;
    size_t ntouched, captouched;
    json_t *overlay; /* "store_tag order_key" -> [ship_by, deliver_by] of this batch */
    bw_buf_t tmp;
    int64_t signals;
    bw_metrics_t *reg;
    bw_metric_t *m_applied, *m_late, *m_dropped, *m_rejected, *m_no_promise;
};

static const bw_metric_decl_t M_EVENTS = {BW_METRIC_COUNTER, "logistics_events_total",
                                          "Order and shipment events, by outcome", "outcome"};
static const bw_metric_decl_t M_NO_PROMISE = {
    BW_METRIC_COUNTER, "logistics_no_promise_total",
    "Deliveries with no promised date (not in the late share)", ""};
static const bw_metric_decl_t M_SIGNALS = {BW_METRIC_COUNTER, "logistics_signals_total",
                                           "Signals emitted, by type", "type"};

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
    if (!(lg->sig = bw_record_new(lg->signal_s)) || !(lg->overlay = json_object()) ||
        !(lg->win = bw_win_new(redis, reg, errstr, errstr_size)))
        goto err;
    if (reg) {
        lg->m_applied = bw_metrics_get(reg, &M_EVENTS, "applied");
        lg->m_late = bw_metrics_get(reg, &M_EVENTS, "late_applied");
        lg->m_dropped = bw_metrics_get(reg, &M_EVENTS, "too_late_dropped");
        lg->m_rejected = bw_metrics_get(reg, &M_EVENTS, "rejected");
        lg->m_no_promise = bw_metrics_get(reg, &M_NO_PROMISE, NULL);
        lg->reg = reg;
    }
    lg->cfg.history = cfg->history > 60 ? 60 : cfg->history;
    return lg;
schema_err:
    bw_errstr_set(errstr, errstr_size, "event schemas lack a field bw-logistics reads");
err:
    logistics_destroy(lg);
    return NULL;
}

void logistics_discard(logistics_t *lg) {
    for (size_t i = 0; i < lg->npend; i++) {
        pend_t *p = &lg->pend[i];
        free(p->store_tag);
        free(p->order_key);
        free(p->order_marker);
        free(p->cl_tag);
        free(p->carrier);
        free(p->lane);
        free(p->event_id);
    }
    lg->npend = 0;
    for (size_t i = 0; i < lg->nords; i++) {
        free(lg->ords[i].store_tag);
        free(lg->ords[i].order_key);
        free(lg->ords[i].event_id);
    }
    lg->nords = 0;
    for (size_t i = 0; i < lg->ntouched; i++) {
        touched_t *t = &lg->touched[i];
        free(t->tag);
        free(t->a);
        free(t->b);
        for (int k = 0; k < t->nevidence; k++)
            free(t->evidence[k]);
    }
    lg->ntouched = 0;
    json_object_clear(lg->overlay);
    if (lg->win)
        bw_win_discard(lg->win);
}

void logistics_destroy(logistics_t *lg) {
    if (!lg)
        return;
    logistics_discard(lg);
    free(lg->pend);
    free(lg->ords);
    free(lg->touched);
    json_decref(lg->overlay);
    bw_record_destroy(lg->sig);
    bw_win_destroy(lg->win);
    bw_buf_free(&lg->tmp);
    free(lg);
}

void logistics_forget(logistics_t *lg, int32_t pid) {
    bw_win_forget_partition(lg->win, pid);
    bw_wm_forget(&lg->wm, pid);
}

int64_t logistics_signals(const logistics_t *lg) {
    return lg->signals;
}

/* ---- reading records ---- */

/* "prefix" + escaped parts joined by '|' (escaping keeps them apart). */
static char *make_name(const char *prefix, const char *a, size_t alen, const char *b, size_t blen) {
    bw_buf_t out = {0};

    if (!bw_buf_append(&out, prefix, strlen(prefix)) || !bw_key_escape(&out, a, alen) ||
        (b && (!bw_buf_append(&out, "|", 1) || !bw_key_escape(&out, b, blen)))) {
        bw_buf_free(&out);
        return NULL;
    }
    return out.data ? out.data : strdup(prefix);
}

static touched_t *touch(logistics_t *lg, const char *tag, const char *a, const char *b,
                        bool is_store, int64_t at) {
    for (size_t i = 0; i < lg->ntouched; i++)
        if (!strcmp(lg->touched[i].tag, tag)) {
            if (at > lg->touched[i].latest)
                lg->touched[i].latest = at;
            if (at < lg->touched[i].earliest)
                lg->touched[i].earliest = at;
            return &lg->touched[i];
        }
    if (lg->ntouched == lg->captouched) {
        size_t ncap = lg->captouched ? lg->captouched * 2 : 32;
        touched_t *n = realloc(lg->touched, ncap * sizeof(*n));
        if (!n)
            return NULL;
        lg->touched = n;
        lg->captouched = ncap;
    }
    touched_t *t = &lg->touched[lg->ntouched];
    memset(t, 0, sizeof(*t));
    t->tag = strdup(tag);
    t->a = strdup(a);
    t->b = b ? strdup(b) : NULL;
    t->is_store = is_store;
    t->latest = t->earliest = at;
    if (!t->tag || !t->a || (b && !t->b)) {
        free(t->tag);
        free(t->a);
        free(t->b);
        return NULL;
    }
    lg->ntouched++;
    return t;
}

/* ---- queueing changes ---- */

#define ADD(call)                \
    do {                         \
        if ((call) != BW_ERR_OK) \
            goto nomem;          \
    } while (0)

static logi_verdict_t add_order(logistics_t *lg, bw_record_t *rec, int32_t pid, int64_t off) {
    const char *store, *order;
    size_t slen, olen;
    char *tag = NULL, *okey = NULL, *ovl = NULL;
    int64_t ttl = lg->cfg.index_ttl_s, v;
    char num[24];
    logi_verdict_t verdict = LOGI_APPLIED;

    bw_field_str(&rec->value, lg->fo[F_O_STORE], &store, &slen);
    bw_field_str(&rec->value, lg->fo[F_O_ORDER], &order, &olen);
    if (!(tag = make_name("s=", store, slen, NULL, 0)) ||
        !(okey = make_name("o:", order, olen, NULL, 0)))
        goto nomem;
    snprintf(num, sizeof(num), "%d", bw_field_enum(&rec->value, lg->fo[F_O_PLATFORM]));
    ADD(bw_win_add_str(lg->win, tag, pid, off, okey, "platform", num, ttl));
    ADD(bw_win_add(lg->win, tag, pid, off, BW_OP_MIN, okey, "placed",
                   bw_field_long(&rec->value, lg->fo[F_O_PLACED]), ttl));
    if ((v = bw_field_opt_long(&rec->value, lg->fo[F_O_SHIP_BY])) != INT64_MIN)
        ADD(bw_win_add(lg->win, tag, pid, off, BW_OP_SET, okey, "psb", v, ttl));
    if ((v = bw_field_opt_long(&rec->value, lg->fo[F_O_DELIVER_BY])) != INT64_MIN)
        ADD(bw_win_add(lg->win, tag, pid, off, BW_OP_SET, okey, "pdb", v, ttl));
    ADD(bw_win_add(lg->win, tag, pid, off, BW_OP_SET, okey, "ostatus",
                   bw_field_enum(&rec->value, lg->fo[F_O_STATUS]), ttl));
    /* the promises of this batch, for scans later in the same batch */
    if (!(ovl = malloc(strlen(tag) + strlen(okey) + 2)))
        goto nomem;
    sprintf(ovl, "%s %s", tag, okey);
    json_object_set_new(
        lg->overlay, ovl,
        json_pack("[I,I]", (json_int_t)bw_field_opt_long(&rec->value, lg->fo[F_O_SHIP_BY]),
                  (json_int_t)bw_field_opt_long(&rec->value, lg->fo[F_O_DELIVER_BY])));
    /* its scans may already be in the index: decided at the end of the batch */
    if (lg->nords == lg->capords) {
        size_t ncap = lg->capords ? lg->capords * 2 : 256;
        ord_t *n = realloc(lg->ords, ncap * sizeof(*n));
        if (!n)
            goto nomem;
        lg->ords = n;
        lg->capords = ncap;
    }
    lg->ords[lg->nords] = (ord_t){tag,
                                  okey,
                                  strdup("order"),
                                  pid,
                                  off,
                                  bw_field_opt_long(&rec->value, lg->fo[F_O_SHIP_BY]),
                                  bw_field_opt_long(&rec->value, lg->fo[F_O_DELIVER_BY])};
    lg->nords++;
    tag = okey = NULL; /* owned by the entry */
    goto out;
nomem:
    verdict = LOGI_REJECTED;
out:
    free(tag);
    free(okey);
    free(ovl);
    return verdict;
}

static logi_verdict_t add_shipment(logistics_t *lg, bw_record_t *rec, int32_t pid, int64_t off,
                                   int64_t at) {
    const char *store, *order, *carrier, *origin, *dest, *region = NULL, *event, *tracking;
    size_t slen, olen, clen, orlen, dlen, rlen = 0, elen, tlen;
    char *tag = NULL, *okey = NULL, *cltag = NULL, *lane = NULL, *carrier_s = NULL;
    int status = bw_field_enum(&rec->value, lg->fs[F_S_STATUS]);
    int64_t ttl = lg->cfg.index_ttl_s;
    logi_verdict_t verdict = LOGI_APPLIED;
    bw_buf_t lb = {0};

    bw_field_str(&rec->value, lg->fs[F_S_STORE], &store, &slen);
    bw_field_str(&rec->value, lg->fs[F_S_ORDER], &order, &olen);
    bw_field_str(&rec->value, lg->fs[F_S_CARRIER], &carrier, &clen);
    bw_field_str(&rec->value, lg->fs[F_S_ORIGIN], &origin, &orlen);
    bw_field_str(&rec->value, lg->fs[F_S_DEST], &dest, &dlen);
    bw_field_str(&rec->value, lg->fs[F_S_EVENT], &event, &elen);
    bw_field_str(&rec->value, lg->fs[F_S_TRACKING], &tracking, &tlen);
    bw_field_opt_str(&rec->value, lg->fs[F_S_REGION], &region, &rlen);
    /* lane: origin country -> destination (country, or region when given) */
    if (!bw_buf_append(&lb, origin, orlen) || !bw_buf_append(&lb, "->", 2) ||
        !bw_buf_append(&lb, dest, dlen) ||
        (region && rlen && (!bw_buf_append(&lb, "-", 1) || !bw_buf_append(&lb, region, rlen))))
        goto nomem;
    lane = lb.data;
    lb.data = NULL;
    if (!(carrier_s = strndup(carrier, clen)) || !(tag = make_name("s=", store, slen, NULL, 0)) ||
        !(okey = make_name("o:", order, olen, NULL, 0)) ||
        !(cltag = make_name("cl=", carrier, clen, lane, strlen(lane))))
        goto nomem;
    ADD(bw_win_add_str(lg->win, tag, pid, off, okey, "carrier", carrier_s, ttl));
    ADD(bw_win_add_str(lg->win, tag, pid, off, okey, "lane", lane, ttl));
    ADD(bw_win_add(lg->win, tag, pid, off, BW_OP_MAX, okey, "last_scan", at, ttl));
    ADD(bw_win_add(lg->win, tag, pid, off, BW_OP_MIN, okey, "first_scan", at, ttl));
    if (status == SS_EXCEPTION || status == SS_LOST || status == SS_RETURNED)
        ADD(bw_win_add(lg->win, tag, pid, off, BW_OP_MAX, okey,
                       status == SS_EXCEPTION ? "exception"
                       : status == SS_LOST    ? "lost"
                                              : "returned",
                       1, ttl));
    if (status == SS_DELIVERED)
        ADD(bw_win_add(lg->win, tag, pid, off, BW_OP_MIN, okey, "delivered", at, ttl));
    if (status == SS_PICKED_UP || status == SS_IN_TRANSIT)
        ADD(bw_win_add(lg->win, tag, pid, off, BW_OP_MIN, okey, "shipped", at, ttl));
    if (status == SS_DELIVERED || status == SS_PICKED_UP || status == SS_IN_TRANSIT) {
        /* the outcome needs the promises: decided at the end of the batch */
        if (lg->npend == lg->cappend) {
            size_t ncap = lg->cappend ? lg->cappend * 2 : 256;
            pend_t *n = realloc(lg->pend, ncap * sizeof(*n));
            if (!n)
                goto nomem;
            lg->pend = n;
            lg->cappend = ncap;
        }
        pend_t *p = &lg->pend[lg->npend];
        *p = (pend_t){tag,
                      okey,
                      NULL,
                      cltag,
                      carrier_s,
                      lane,
                      strndup(event, elen),
                      status == SS_DELIVERED ? SS_DELIVERED : SS_PICKED_UP,
                      at,
                      bw_field_opt_long(&rec->value, lg->fs[F_S_ESTIMATE]),
                      pid,
                      off,
                      INT64_MIN,
                      INT64_MIN};
        p->order_marker = strdup(okey + 2);
        if (!p->event_id || !p->order_marker) {
            free(p->event_id);
            free(p->order_marker);
            goto nomem;
        }
        lg->npend++;
        tag = okey = cltag = carrier_s = lane = NULL; /* owned by the pending entry */
    }
    goto out;
nomem:
    verdict = LOGI_REJECTED;
out:
    free(tag);
    free(okey);
    free(cltag);
    free(lane);
    free(carrier_s);
    bw_buf_free(&lb);
    (void)tracking;
    (void)tlen;
    return verdict;
}

logi_verdict_t logistics_add(logistics_t *lg, int topic, bw_record_t *rec, int32_t pid,
                             int64_t offset, int64_t now_ms, char *reason, size_t reason_size) {
    int64_t at = bw_field_long(&rec->value,
                               topic == LOGI_TOPIC_ORDERS ? lg->fo[F_O_TIME] : lg->fs[F_S_TIME]);
    char ts[BW_TS_BUFSZ];
    logi_verdict_t v;

    if (at < lg->cfg.min_event_ms) {
        bw_ts_format(at, ts);
        bw_errstr_set(reason, reason_size, "occurred_at: %s is implausibly early", ts);
        bw_metric_inc(lg->m_rejected);
        return LOGI_REJECTED;
    }
    switch (bw_wm_observe(&lg->wm, pid, at, now_ms)) {
    case BW_WM_FUTURE:
        bw_ts_format(at, ts);
        bw_errstr_set(reason, reason_size,
                      "occurred_at: %s is further in the future than skew.ms allows", ts);
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
    if ((topic == LOGI_TOPIC_ORDERS ? add_order(lg, rec, pid, offset)
                                    : add_shipment(lg, rec, pid, offset, at)) == LOGI_REJECTED) {
        bw_errstr_set(reason, reason_size, "out of memory");
        return LOGI_REJECTED;
    }
    bw_metric_inc(v == LOGI_LATE_APPLIED ? lg->m_late : lg->m_applied);
    return v;
}

/* ---- end of batch ---- */

/* Promises of the scans' orders: this batch's order events, else Redis. */
static bw_err_t lookup_promises(logistics_t *lg, char *errstr, size_t errstr_size) {
    bw_redis_pipe_t pipe = {0};
    redisReply **replies = NULL;
    size_t *which = calloc(lg->npend + 1, sizeof(size_t)), nq = 0;
    bw_buf_t key = {0};
    bw_err_t err = BW_ERR_OK;

    if (!which)
        return BW_ERR_NOMEM;
    for (size_t i = 0; i < lg->npend; i++) {
        pend_t *p = &lg->pend[i];
        json_t *o;
        bw_buf_reset(&key);
        if (!bw_buf_printf(&key, "%s %s", p->store_tag, p->order_key))
            goto nomem;
        if ((o = json_object_get(lg->overlay, key.data))) {
            p->ship_by = json_integer_value(json_array_get(o, 0));
            p->deliver_by = json_integer_value(json_array_get(o, 1));
            continue;
        }
        bw_buf_reset(&key);
        if (!bw_win_key(&key, p->store_tag, p->order_key))
            goto nomem;
        const char *argv[] = {"HMGET", key.data, "psb", "pdb"};
        if (bw_redis_pipe_add(&pipe, 4, argv, NULL))
            goto nomem;
        which[nq++] = i;
    }
    if (nq) {
        if ((err = bw_redis_pipe_run(lg->redis, &pipe, &replies, errstr, errstr_size)))
            goto out;
        for (size_t q = 0; q < nq; q++) {
            pend_t *p = &lg->pend[which[q]];
            redisReply *r = replies[q];
            if (r->type != REDIS_REPLY_ARRAY || r->elements != 2)
                continue;
            if (r->element[0]->type == REDIS_REPLY_STRING)
                bw_parse_i64(r->element[0]->str, &p->ship_by);
            if (r->element[1]->type == REDIS_REPLY_STRING)
                bw_parse_i64(r->element[1]->str, &p->deliver_by);
        }
    }
    goto out;
nomem:
    err = BW_ERR_NOMEM;
out:
    bw_redis_replies_free(replies, nq);
    free(which);
    bw_redis_pipe_free(&pipe);
    bw_buf_free(&key);
    return err;
}

/* Queue the outcome of each scan: delivered (late or not) per carrier x
 * lane, shipped (late or not) per store; once per order. */
static bw_err_t queue_outcomes(logistics_t *lg) {
    char bucket[48], marker[512];
    int64_t ttl = lg->cfg.window_ttl_s;

    for (size_t i = 0; i < lg->npend; i++) {
        pend_t *p = &lg->pend[i];
        int64_t b = bw_bucket(p->at, lg->cfg.window_ms);
        touched_t *t;
        if (p->kind == SS_DELIVERED) {
            int64_t promise = p->deliver_by != INT64_MIN ? p->deliver_by : p->estimate;
            /* no promise yet (the order event has not come): the index keeps
             * the delivery, and the order event decides when it arrives */
            if (promise == INT64_MIN) {
                bw_metric_inc(lg->m_no_promise);
                continue;
            }
            snprintf(bucket, sizeof(bucket), "w:%lld", (long long)b);
            snprintf(marker, sizeof(marker), "d:%s", p->order_marker);
            if (bw_win_add_once(lg->win, p->cl_tag, p->pid, p->offset, bucket, "delivered", 1,
                                "outcomes", marker, ttl))
                return BW_ERR_NOMEM;
            if (!(t = touch(lg, p->cl_tag, p->carrier, p->lane, false, p->at)))
                return BW_ERR_NOMEM;
            if (p->at > promise) {
                snprintf(marker, sizeof(marker), "l:%s", p->order_marker);
                if (bw_win_add_once(lg->win, p->cl_tag, p->pid, p->offset, bucket, "late", 1,
                                    "outcomes", marker, ttl))
                    return BW_ERR_NOMEM;
                if (t->nevidence < 5 && !(t->evidence[t->nevidence++] = strdup(p->event_id)))
                    return BW_ERR_NOMEM;
            }
        } else {
            if (p->ship_by == INT64_MIN)
                continue; /* decided by the order event */
            snprintf(bucket, sizeof(bucket), "ship:%lld", (long long)b);
            snprintf(marker, sizeof(marker), "s:%s", p->order_marker);
            if (bw_win_add_once(lg->win, p->store_tag, p->pid, p->offset, bucket, "shipped", 1,
                                "outcomes", marker, ttl))
                return BW_ERR_NOMEM;
            if (!(t = touch(lg, p->store_tag, p->store_tag + 2, NULL, true, p->at)))
                return BW_ERR_NOMEM;
            if (p->ship_by != INT64_MIN && p->at > p->ship_by) {
                snprintf(marker, sizeof(marker), "ls:%s", p->order_marker);
                if (bw_win_add_once(lg->win, p->store_tag, p->pid, p->offset, bucket,
                                    "late_shipped", 1, "outcomes", marker, ttl))
                    return BW_ERR_NOMEM;
                if (t->nevidence < 5 && !(t->evidence[t->nevidence++] = strdup(p->event_id)))
                    return BW_ERR_NOMEM;
            }
        }
    }
    return BW_ERR_OK;
}

/* Order events whose scans came in earlier batches: the index has the
 * scan times, carrier and lane; now the promises are known too. */
static bw_err_t queue_late_orders(logistics_t *lg, char *errstr, size_t errstr_size) {
    bw_redis_pipe_t pipe = {0};
    redisReply **replies = NULL;
    bw_buf_t key = {0};
    bw_err_t err = BW_ERR_OK;
    char bucket[48], marker[512];
    int64_t ttl = lg->cfg.window_ttl_s;

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
    for (size_t i = 0; i < lg->nords; i++) {
        ord_t *o = &lg->ords[i];
        redisReply *r = replies[i];
        int64_t delivered = INT64_MIN, shipped = INT64_MIN;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 4)
            continue;
        if (r->element[0]->type == REDIS_REPLY_STRING)
            bw_parse_i64(r->element[0]->str, &delivered);
        if (r->element[1]->type == REDIS_REPLY_STRING)
            bw_parse_i64(r->element[1]->str, &shipped);
        if (delivered != INT64_MIN && o->deliver_by != INT64_MIN &&
            r->element[2]->type == REDIS_REPLY_STRING &&
            r->element[3]->type == REDIS_REPLY_STRING) {
            const char *carrier = r->element[2]->str, *lane = r->element[3]->str;
            char *cltag = make_name("cl=", carrier, strlen(carrier), lane, strlen(lane));
            touched_t *t;
            if (!cltag)
                goto nomem;
            snprintf(bucket, sizeof(bucket), "w:%lld",
                     (long long)bw_bucket(delivered, lg->cfg.window_ms));
            snprintf(marker, sizeof(marker), "d:%s", o->order_key + 2);
            err = bw_win_add_once(lg->win, cltag, o->pid, o->offset, bucket, "delivered", 1,
                                  "outcomes", marker, ttl);
            if (!err && delivered > o->deliver_by) {
                snprintf(marker, sizeof(marker), "l:%s", o->order_key + 2);
                err = bw_win_add_once(lg->win, cltag, o->pid, o->offset, bucket, "late", 1,
                                      "outcomes", marker, ttl);
            }
            t = err ? NULL : touch(lg, cltag, carrier, lane, false, delivered);
            free(cltag);
            if (err || !t)
                goto nomem;
        }
        if (shipped != INT64_MIN && o->ship_by != INT64_MIN) {
            touched_t *t;
            snprintf(bucket, sizeof(bucket), "ship:%lld",
                     (long long)bw_bucket(shipped, lg->cfg.window_ms));
            snprintf(marker, sizeof(marker), "s:%s", o->order_key + 2);
            if (bw_win_add_once(lg->win, o->store_tag, o->pid, o->offset, bucket, "shipped", 1,
                                "outcomes", marker, ttl))
                goto nomem;
            if (shipped > o->ship_by) {
                snprintf(marker, sizeof(marker), "ls:%s", o->order_key + 2);
                if (bw_win_add_once(lg->win, o->store_tag, o->pid, o->offset, bucket,
                                    "late_shipped", 1, "outcomes", marker, ttl))
                    goto nomem;
            }
            if (!(t = touch(lg, o->store_tag, o->store_tag + 2, NULL, true, shipped)))
                goto nomem;
        }
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

static const char *PLAYBOOK_DELAY =
    "Give affected buyers tracking and a new date before they ask; press the carrier for the "
    "cause; compensate where it is late; move new orders on this lane to another carrier until it "
    "recovers.";
static const char *PLAYBOOK_SHIP =
    "Ship on time: confirm shipment within the handling time, raise handling time or stock levels, "
    "and fix what held late orders before the rate crosses the platform's limit.";

static bw_err_t emit_signal(logistics_t *lg, const char *type, const char *severity, json_t *scope,
                            int64_t wstart, int64_t wend, double observed, double baseline,
                            double threshold, int64_t sample, const touched_t *t,
                            const char *playbook, const char *detail, logistics_emit_cb emit,
                            void *opaque) {
    char id[17], errstr[256];
    char *scope_text = json_dumps(scope, JSON_COMPACT | JSON_SORT_KEYS);
    json_t *ev = json_array(), *j;
    bw_err_t err;

    for (int k = 0; k < t->nevidence; k++)
        json_array_append_new(ev, json_string(t->evidence[k]));
    bw_alert_id(id, type, scope_text ? scope_text : "", wstart);
    free(scope_text);
    j = json_pack("{s:s, s:s, s:s, s:s, s:o, s:I, s:I, s:f, s:f, s:f, s:I, s:o, s:s, s:s, s:I, "
                  "s:I, s:I}",
                  "alert_id", id, "type", type, "severity", severity, "state", "FIRING", "scope",
                  scope, "window_start", (json_int_t)wstart, "window_end", (json_int_t)wend,
                  "observed", observed, "baseline", baseline, "threshold", threshold, "sample_size",
                  (json_int_t)sample, "evidence", ev, "playbook", playbook, "detail", detail,
                  "first_seen", (json_int_t)t->latest, "last_seen", (json_int_t)t->latest,
                  "occurrences", (json_int_t)1);
    if (!j)
        return BW_ERR_NOMEM;
    if ((err = bw_json_to_avro(lg->signal_s, j, &lg->sig->value, errstr, sizeof(errstr)))) {
        bw_log(BW_LOG_ERROR, "signal not built: %s", errstr);
        json_decref(j);
        return err;
    }
    json_decref(j);
    lg->signals++;
    if (lg->reg)
        bw_metric_inc(bw_metrics_get(lg->reg, &M_SIGNALS, type));
    return emit(opaque, id, &lg->sig->value);
}

/* Windows judged per carrier x lane per batch. A batch can touch windows
 * far apart: an order read after its scans adds its delivery to an old
 * window. With 7 the Olist replay left most windows judged on a fifth of
 * their deliveries (bench/bench_olist_logistics.sh). */
#define MAX_JUDGED 60

/* How many buckets a touched entry needs, and the first of them. */
static int span(const logistics_t *lg, const touched_t *t, int64_t *first) {
    int64_t w = lg->cfg.window_ms, hi = bw_bucket(t->latest, w);
    int64_t lo = bw_bucket(t->earliest, w);
    int judged;

    if (t->is_store) { /* the 30 days up to the latest shipment */
        *first = hi - 29 * w;
        return 30;
    }
    judged = (int)((hi - lo) / w) + 1;
    if (judged > MAX_JUDGED)
        judged = MAX_JUDGED; /* the latest ones */
    *first = hi - (int64_t)(judged - 1 + lg->cfg.history) * w;
    return judged + (int)lg->cfg.history;
}

/* Read the windows of what the batch touched, and judge every window it
 * added to (each is judged again whenever it grows, so the last judgement
 * of a window sees it complete). */
static bw_err_t detect(logistics_t *lg, logistics_emit_cb emit, void *opaque, char *errstr,
                       size_t errstr_size) {
    int hist = (int)lg->cfg.history, nb;
    bw_redis_pipe_t pipe = {0};
    redisReply **replies = NULL;
    size_t nq = 0;
    bw_buf_t key = {0};
    bw_err_t err = BW_ERR_OK;
    char bucket[48];
    int64_t first, w = lg->cfg.window_ms;

    for (size_t i = 0; i < lg->ntouched; i++) {
        touched_t *t = &lg->touched[i];
        nb = span(lg, t, &first);
        for (int k = 0; k < nb; k++) {
            snprintf(bucket, sizeof(bucket), "%s:%lld", t->is_store ? "ship" : "w",
                     (long long)(first + (int64_t)k * w));
            bw_buf_reset(&key);
            if (!bw_win_key(&key, t->tag, bucket))
                goto nomem;
            const char *argv[] = {"HMGET", key.data, t->is_store ? "shipped" : "delivered",
                                  t->is_store ? "late_shipped" : "late"};
            if (bw_redis_pipe_add(&pipe, 4, argv, NULL))
                goto nomem;
            nq++;
        }
    }
    if (!nq)
        goto out;
    if ((err = bw_redis_pipe_run(lg->redis, &pipe, &replies, errstr, errstr_size)))
        goto out;
    size_t q = 0;
    for (size_t i = 0; i < lg->ntouched && !err; i++) {
        touched_t *t = &lg->touched[i];
        bw_window_counts_t counts[MAX_JUDGED + 61]; /* oldest first */
        nb = span(lg, t, &first);
        for (int k = 0; k < nb; k++, q++) {
            redisReply *r = replies[q];
            counts[k].delivered = counts[k].late = 0;
            if (r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
                if (r->element[0]->type == REDIS_REPLY_STRING)
                    bw_parse_i64(r->element[0]->str, &counts[k].delivered);
                if (r->element[1]->type == REDIS_REPLY_STRING)
                    bw_parse_i64(r->element[1]->str, &counts[k].late);
            }
        }
        if (!t->is_store) {
            for (int k = hist; k < nb && !err; k++) {
                int64_t wstart = first + (int64_t)k * w;
                bw_spike_t sp = bw_spike_eval(&lg->cfg.spike, counts[k], counts + k - hist, hist);
                bw_log(BW_LOG_DEBUG, "%s %s: window %lld: %lld/%lld late, baseline %.3f, p %.3g%s",
                       t->a, t->b, (long long)wstart, (long long)counts[k].late,
                       (long long)counts[k].delivered, sp.baseline, sp.p_value,
                       sp.fires ? ": fires" : "");
                if (sp.fires) {
                    char detail[128];
                    snprintf(detail, sizeof(detail), "binomial p = %.2g", sp.p_value);
                    err = emit_signal(lg, "CARRIER_DELAY_SPIKE",
                                      sp.observed >= 2 * sp.threshold ? "CRITICAL" : "WARNING",
                                      json_pack("{s:s, s:s}", "carrier", t->a, "lane", t->b),
                                      wstart, wstart + w, sp.observed, sp.baseline, sp.threshold,
                                      counts[k].delivered, t, PLAYBOOK_DELAY, detail, emit, opaque);
                }
            }
        } else {
            int64_t s10 = 0, l10 = 0, s30 = 0, l30 = 0, wstart = first + 29 * w;
            double r10, r30;
            for (int k = 0; k < nb; k++) {
                s30 += counts[k].delivered;
                l30 += counts[k].late;
                if (k >= nb - 10) {
                    s10 += counts[k].delivered;
                    l10 += counts[k].late;
                }
            }
            bw_health_t h10 = bw_late_ship_rate(s10, l10, lg->cfg.ship_min, lg->cfg.ship_warn,
                                                lg->cfg.ship_critical, &r10);
            bw_health_t h30 = bw_late_ship_rate(s30, l30, lg->cfg.ship_min, lg->cfg.ship_warn,
                                                lg->cfg.ship_critical, &r30);
            bw_health_t h = h10 > h30 ? h10 : h30;
            if (h != BW_HEALTH_OK) {
                bool ten = h10 >= h30;
                char detail[128];
                snprintf(detail, sizeof(detail), "late shipment rate %.2f%% over %d days",
                         100 * (ten ? r10 : r30), ten ? 10 : 30);
                err =
                    emit_signal(lg, "LATE_SHIPMENT_RATE_AT_RISK",
                                h == BW_HEALTH_CRITICAL ? "CRITICAL" : "WARNING",
                                json_pack("{s:s}", "store_id", t->a), wstart - (ten ? 9 : 29) * w,
                                wstart + w, ten ? r10 : r30, 0,
                                h == BW_HEALTH_CRITICAL ? lg->cfg.ship_critical : lg->cfg.ship_warn,
                                ten ? s10 : s30, t, PLAYBOOK_SHIP, detail, emit, opaque);
            }
        }
    }
    goto out;
nomem:
    err = BW_ERR_NOMEM;
out:
    bw_redis_replies_free(replies, nq);
    bw_redis_pipe_free(&pipe);
    bw_buf_free(&key);
    return err;
}

bw_err_t logistics_end_batch(logistics_t *lg, int64_t now_ms, logistics_emit_cb emit, void *opaque,
                             char *errstr, size_t errstr_size) {
    bw_err_t err;

    (void)now_ms;
    if ((err = lookup_promises(lg, errstr, errstr_size)) || (err = queue_outcomes(lg)) ||
        (err = queue_late_orders(lg, errstr, errstr_size)) ||
        (err = bw_win_flush(lg->win, errstr, errstr_size)))
        goto out;
    err = detect(lg, emit, opaque, errstr, errstr_size);
out:
    logistics_discard(lg);
    return err;
}
