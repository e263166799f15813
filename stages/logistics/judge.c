/* bw-logistics's judgement: the windows a batch changed are read back from
 * Redis and judged; each window's signal is sent once, and again only at a
 * higher severity (the "fired" hash of the tag remembers, once the batch's
 * outputs are delivered: logistics_delivered()).
 *   carrier x lane: CARRIER_DELAY_SPIKE (late share of the parcels due in
 *     the last `span` days against an EWMA of earlier days, binomial test)
 *     and SHIPMENT_STALLED (parcels that went quiet, Poisson test);
 *   store: LATE_SHIPMENT_RATE_AT_RISK (10 and 30 days) and
 *     VALID_TRACKING_AT_RISK (30 days). */
#include "logistics_int.h"

#include <stdlib.h>
#include <string.h>

#include "bw_json.h"
#include "bw_log.h"
#include "bw_signal.h"
#include "bw_util.h"

/* Windows judged per carrier x lane per batch: a batch can touch windows
 * far apart (an order read after its scans adds to an old window), and
 * each window is judged again whenever it grows. */
#define MAX_JUDGED 60
/* Windows a store's rates look at. */
#define STORE_DAYS 30
#define MAX_READ (MAX_JUDGED + 30 + 60)

static const bw_metric_decl_t M_SIGNALS = {BW_METRIC_COUNTER, "logistics_signals_total",
                                           "Signals emitted, by type", "type"};
static const bw_metric_decl_t M_LATE_SHARE = {
    BW_METRIC_GAUGE, "logistics_lane_late_share",
    "Late share of the parcels due in the latest span judged, per carrier and lane (the first "
    "1,000 lanes)",
    "carrier,lane"};
#define MAX_LANE_SERIES 1000

static const char *PLAYBOOK_DELAY =
    "Give affected buyers tracking and a new date before they ask; press the carrier for the "
    "cause; compensate where it is late; move new orders on this lane to another carrier until it "
    "recovers.";
static const char *PLAYBOOK_STALL =
    "Ask the carrier where the quiet parcels are and open traces; tell the buyers before they ask; "
    "reship or refund what is lost; hold new orders on this lane if it keeps up.";
static const char *PLAYBOOK_SHIP =
    "Ship on time: confirm shipment within the handling time, raise handling time or stock levels, "
    "and fix what held late orders before the rate crosses the platform's limit.";
static const char *PLAYBOOK_TRACK =
    "Confirm shipments only with a tracking number the carrier scans: hand parcels over before "
    "confirming, use carriers the platform integrates, and check labels that never got a scan.";

/* The fields a window holds for each kind, and the signals judged. */
static const char *const KIND_FIELDS[3][3] = {
    {"due", "late", "stalled"}, {"shipped", "late_shipped", NULL}, {"confirmed", "valid", NULL}};
static const char *const KIND_PREFIX[3] = {"w:", "ship:", "track:"};

typedef struct {
    int64_t first; /* the first bucket read */
    int nb; /* buckets read */
    int lo; /* index of the first bucket judged */
} plan_t;

static plan_t plan_of(const logistics_t *lg, const touched_t *t) {
    int64_t w = lg->cfg.window_ms, lo;
    plan_t p;

    lo = t->lo < t->hi - (MAX_JUDGED - 1) * w ? t->hi - (MAX_JUDGED - 1) * w : t->lo;
    if (t->kind != TK_LANE) { /* each day changed, with the 30 days up to it */
        p.first = lo - (STORE_DAYS - 1) * w;
        p.nb = (int)((t->hi - p.first) / w) + 1;
        p.lo = STORE_DAYS - 1;
        return p;
    }
    p.first = lo - (lg->cfg.spike.span - 1 + lg->cfg.history) * w;
    p.nb = (int)((t->hi - p.first) / w) + 1;
    p.lo = (int)((lo - p.first) / w);
    return p;
}

typedef struct {
    int64_t c[3];
} win_t;

typedef struct {
    logistics_t *lg;
    const touched_t *t;
    plan_t p;
    win_t *win;
    redisReply *fired; /* HMGET of the fired fields, in judging order */
    size_t nfired;
    logistics_emit_cb emit;
    void *opaque;
} judging_t;

/* The fired fields of a touched entry, in the order judge_* ask for them. */
static bool add_fired_read(bw_redis_pipe_t *pipe, const logistics_t *lg, const touched_t *t,
                           plan_t p) {
    const char **argv = calloc(2 + 2 * (size_t)p.nb, sizeof(char *));
    char(*names)[64] = calloc(2 * (size_t)p.nb, 64);
    bw_buf_t key = {0};
    int argc = 2;
    bool ok = false;

    if (!argv || !names || !bw_win_key(&key, t->tag, "fired"))
        goto out;
    argv[0] = "HMGET";
    argv[1] = key.data;
    for (int k = p.lo; k < p.nb; k++) {
        int64_t b = p.first + (int64_t)k * lg->cfg.window_ms;
        if (t->kind == TK_LANE) {
            argv[argc] = bw_fired_field(names[argc - 2], 64, "CARRIER_DELAY_SPIKE", b);
            argc++;
            argv[argc] = bw_fired_field(names[argc - 2], 64, "SHIPMENT_STALLED", b);
            argc++;
        } else {
            argv[argc] = bw_fired_field(
                names[argc - 2], 64,
                t->kind == TK_SHIP ? "LATE_SHIPMENT_RATE_AT_RISK" : "VALID_TRACKING_AT_RISK", b);
            argc++;
        }
    }
    ok = !bw_redis_pipe_add(pipe, argc, argv, NULL);
out:
    free(argv);
    free(names);
    bw_buf_free(&key);
    return ok;
}

static bw_err_t emit_signal(judging_t *j, const char *type, int level, json_t *scope,
                            int64_t wstart, int64_t wend, double observed, double baseline,
                            double threshold, int64_t sample, const char *playbook,
                            const char *detail, int64_t bucket) {
    logistics_t *lg = j->lg;
    char errstr[256], fname[64];
    bw_buf_t key = {0};
    bw_signal_t s = {
        type,      level,  scope,          wstart,          wend,     observed, baseline,
        threshold, sample, j->t->evidence, j->t->nevidence, playbook, detail};
    bw_err_t err;

    if (!(err = bw_signal_build(lg->signal_s, lg->sig, &s, &key, errstr, sizeof(errstr))))
        err = j->emit(j->opaque, key.data, &lg->sig->value);
    bw_buf_free(&key);
    if (err)
        return err;
    lg->signals++;
    if (lg->reg)
        bw_metric_inc(bw_metrics_get(lg->reg, &M_SIGNALS, type));
    return bw_marks_add(&lg->marks, j->t->tag, bw_fired_field(fname, sizeof(fname), type, bucket),
                        level)
               ? BW_ERR_OK
               : BW_ERR_NOMEM;
}

/* The level already sent for the @p i-th fired field (0: none). */
static int fired_level(const judging_t *j, size_t i) {
    if (!j->fired || j->fired->type != REDIS_REPLY_ARRAY || i >= j->fired->elements)
        return 0;
    return (int)bw_fired_value(j->fired->element[i]);
}

static bw_err_t judge_lane(judging_t *j) {
    logistics_t *lg = j->lg;
    int64_t w = lg->cfg.window_ms, S = lg->cfg.spike.span;
    int H = (int)lg->cfg.history;
    bw_window_counts_t hist[60];
    int64_t stall_hist[60];
    size_t fi = 0;
    bw_err_t err = BW_ERR_OK;

    for (int k = j->p.lo; k < j->p.nb && !err; k++, fi += 2) {
        int64_t b = j->p.first + (int64_t)k * w, wstart = b - (S - 1) * w;
        int first_cur = k - (int)S + 1, nh = 0;
        bw_window_counts_t cur = {0, 0};
        int64_t stalled = 0;
        char detail[160];
        json_t *scope;
        for (int i = first_cur; i <= k; i++) {
            cur.delivered += j->win[i].c[0];
            cur.late += j->win[i].c[1];
            stalled += j->win[i].c[2];
        }
        for (int i = first_cur - H; i < first_cur; i++, nh++) {
            hist[nh] = (bw_window_counts_t){j->win[i].c[0], j->win[i].c[1]};
            stall_hist[nh] = j->win[i].c[2];
        }
        bw_spike_t sp = bw_spike_eval(&lg->cfg.spike, cur, hist, nh);
        if (lg->reg && k == j->p.nb - 1 && cur.delivered > 0) {
            const char *labels[] = {j->t->a, j->t->b};
            bw_metric_set(bw_metrics_series(lg->reg, &M_LATE_SHARE, labels, MAX_LANE_SERIES),
                          (double)cur.late / (double)cur.delivered);
        }
        bw_log(BW_LOG_DEBUG, "%s %s: window %lld: %lld/%lld late, baseline %.3f, p %.3g%s", j->t->a,
               j->t->b, (long long)b, (long long)cur.late, (long long)cur.delivered, sp.baseline,
               sp.p_value, sp.fires ? ": fires" : "");
        if (sp.fires) {
            int level = sp.observed >= 2 * sp.threshold ? 2 : 1;
            if (level > fired_level(j, fi)) {
                snprintf(detail, sizeof(detail), "%lld of %lld parcels due late; binomial p = %.2g",
                         (long long)cur.late, (long long)cur.delivered, sp.p_value);
                scope = json_pack("{s:s, s:s}", "carrier", j->t->a, "lane", j->t->b);
                err = emit_signal(j, "CARRIER_DELAY_SPIKE", level, scope, wstart, b + w,
                                  sp.observed, sp.baseline, sp.threshold, cur.delivered,
                                  PLAYBOOK_DELAY, detail, b);
            }
        }
        bw_spike_t st = bw_count_spike_eval(&lg->cfg.stall, stalled, S, stall_hist, nh);
        if (!err && st.fires) {
            int level = st.observed >= 2 * st.threshold ? 2 : 1;
            if (level > fired_level(j, fi + 1)) {
                snprintf(detail, sizeof(detail),
                         "%lld parcels without a scan for %lld h; Poisson p = %.2g",
                         (long long)stalled, (long long)(lg->cfg.stall_ms / 3600000), st.p_value);
                scope = json_pack("{s:s, s:s}", "carrier", j->t->a, "lane", j->t->b);
                err = emit_signal(j, "SHIPMENT_STALLED", level, scope, wstart, b + w, st.observed,
                                  st.baseline, st.threshold, stalled, PLAYBOOK_STALL, detail, b);
            }
        }
    }
    return err;
}

/* The store's rates over the 30 days ending at window @p k. */
static bw_err_t judge_store_day(judging_t *j, int k, size_t fi) {
    logistics_t *lg = j->lg;
    int64_t w = lg->cfg.window_ms, b = j->p.first + (int64_t)k * w;
    int64_t n10 = 0, x10 = 0, n30 = 0, x30 = 0;
    bw_buf_t store = {0};
    char detail[160];
    double rate, r10, r30;
    bw_health_t h;
    bw_err_t err = BW_ERR_OK;
    int days;

    for (int i = k - (STORE_DAYS - 1); i <= k; i++) {
        n30 += j->win[i].c[0];
        x30 += j->win[i].c[1];
        if (i > k - 10) {
            n10 += j->win[i].c[0];
            x10 += j->win[i].c[1];
        }
    }
    if (j->t->kind == TK_SHIP) {
        bw_health_t h10 = bw_late_ship_rate(n10, x10, lg->cfg.ship_min, lg->cfg.ship_warn,
                                            lg->cfg.ship_critical, &r10);
        bw_health_t h30 = bw_late_ship_rate(n30, x30, lg->cfg.ship_min, lg->cfg.ship_warn,
                                            lg->cfg.ship_critical, &r30);
        bool ten = h10 >= h30;
        h = ten ? h10 : h30;
        rate = ten ? r10 : r30;
        days = ten ? 10 : 30;
        snprintf(detail, sizeof(detail), "late shipment rate %.2f%% over %d days (%lld of %lld)",
                 100 * rate, days, (long long)(ten ? x10 : x30), (long long)(ten ? n10 : n30));
    } else {
        h = bw_valid_tracking_rate(n30, x30, lg->cfg.ship_min, lg->cfg.track_warn,
                                   lg->cfg.track_critical, &rate);
        days = 30;
        snprintf(detail, sizeof(detail),
                 "valid tracking rate %.2f%% over 30 days (%lld of %lld shipments)", 100 * rate,
                 (long long)x30, (long long)n30);
    }
    if (h == BW_HEALTH_OK || (int)h <= fired_level(j, fi))
        return BW_ERR_OK;
    if (!bw_key_unescape(&store, j->t->tag + 2, strlen(j->t->tag + 2)))
        return BW_ERR_NOMEM;
    if (j->t->kind == TK_SHIP)
        err =
            emit_signal(j, "LATE_SHIPMENT_RATE_AT_RISK", (int)h,
                        json_pack("{s:s}", "store_id", store.data), b - (days - 1) * w, b + w, rate,
                        0, h == BW_HEALTH_CRITICAL ? lg->cfg.ship_critical : lg->cfg.ship_warn,
                        days == 10 ? n10 : n30, PLAYBOOK_SHIP, detail, b);
    else
        err =
            emit_signal(j, "VALID_TRACKING_AT_RISK", (int)h,
                        json_pack("{s:s}", "store_id", store.data), b - (days - 1) * w, b + w, rate,
                        1, h == BW_HEALTH_CRITICAL ? lg->cfg.track_critical : lg->cfg.track_warn,
                        n30, PLAYBOOK_TRACK, detail, b);
    bw_buf_free(&store);
    return err;
}

/* Each day the batch changed, with the 30 days up to it: a batch that
 * settles many days at once (a backlog of timers) is judged day by day,
 * as a steady stream would be. */
static bw_err_t judge_store(judging_t *j) {
    bw_err_t err = BW_ERR_OK;

    for (int k = j->p.lo; k < j->p.nb && !err; k++)
        err = judge_store_day(j, k, (size_t)(k - j->p.lo));
    return err;
}

static const char *const EV_FIELDS[EVIDENCE_SLOTS] = {"ev0", "ev1", "ev2", "ev3", "ev4"};

/* An evidence id kept by a window, unless @p t has it or five already. */
static bool add_evidence(logistics_t *lg, touched_t *t, const char *id) {
    for (int i = 0; i < t->nevidence; i++)
        if (!strcmp(t->evidence[i], id))
            return true;
    return logi_evidence(lg, t, id);
}

/* When window @p b of kind @p kind is final: the watermark has passed its
 * end (a track window also waits the tracking time: its timers count
 * shipments confirmed that day until then). */
static int64_t window_closes(const logistics_t *lg, touch_kind_t kind, int64_t b) {
    return b + lg->cfg.window_ms + (kind == TK_TRACK ? lg->cfg.tracking_ms : 0);
}

/* The partition whose set keeps windows to close: the lowest this
 * instance has (the set moves with it in a rebalance). */
static int32_t home_partition(const logistics_t *lg) {
    for (int32_t pid = 0; pid < BW_WM_MAX_PARTITIONS; pid++)
        if (bw_wm_partition(&lg->wm, pid) != INT64_MIN)
            return pid;
    return -1;
}

/* Windows are judged once closed, so that a window's signal depends on its
 * final counts, not on where batches happened to end (the same input gives
 * the same signals, and bw-alert the same alert ids). The buckets of @p t
 * still open are kept to judge when the watermark closes them; *t is cut
 * to its closed buckets (false: none). */
static bool keep_open_buckets(logistics_t *lg, touched_t *t, bw_err_t *err) {
    static const char KIND_CODE[] = {'L', 'S', 'T'};
    int64_t w = lg->cfg.window_ms, hi = t->hi;
    int32_t home = home_partition(lg);
    char ptag[24];
    bw_buf_t member = {0};

    *err = BW_ERR_OK;
    snprintf(ptag, sizeof(ptag), "t=%d", (int)home);
    while (hi >= t->lo && window_closes(lg, t->kind, hi) > lg->judge_wm) {
        bw_buf_reset(&member);
        if (home < 0) /* no partition seen yet: nothing is judged */
            break;
        if (!bw_buf_printf(&member, "%c %lld %s", KIND_CODE[t->kind], (long long)hi, t->tag) ||
            !bw_marks_add_op(&lg->marks, ptag, TIMER_CLOSE, BW_OP_ZADD, member.data,
                             window_closes(lg, t->kind, hi))) {
            *err = BW_ERR_NOMEM;
            break;
        }
        hi -= w;
    }
    bw_buf_free(&member);
    if (home < 0)
        return false;
    t->hi = hi;
    return !*err && hi >= t->lo;
}

/* Judgement order: by window, then kind and tag. Entries are made as a
 * batch meets them (its events first, then the windows its watermark
 * closed), so a batch that closes two days of a store at once could judge
 * the later first; bw-alert opens an episode with the first window it
 * gets, and the same input would give other alert ids. */
static int touched_cmp(const void *x, const void *y) {
    const touched_t *a = x, *b = y;

    if (a->lo != b->lo)
        return a->lo < b->lo ? -1 : 1;
    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    return strcmp(a->tag, b->tag);
}

bw_err_t logi_judge(logistics_t *lg, logistics_emit_cb emit, void *opaque, char *errstr,
                    size_t errstr_size) {
    bw_redis_pipe_t pipe = {0};
    redisReply **replies = NULL;
    bw_buf_t key = {0};
    bw_err_t err = BW_ERR_OK;
    char bucket[48];
    size_t q = 0;
    win_t win[MAX_READ];

    bool *judged = calloc(lg->ntouched ? lg->ntouched : 1, sizeof(*judged));

    if (!judged)
        return BW_ERR_NOMEM;
    if (lg->ntouched > 1)
        qsort(lg->touched, lg->ntouched, sizeof(*lg->touched), touched_cmp);
    for (size_t i = 0; i < lg->ntouched; i++) {
        touched_t *t = &lg->touched[i];
        if (!(judged[i] = keep_open_buckets(lg, t, &err))) {
            if (err)
                goto out;
            continue;
        }
        plan_t p = plan_of(lg, t);
        const char *const *fields = KIND_FIELDS[t->kind];
        int nf = fields[2] ? 3 : 2;
        for (int k = 0; k < p.nb; k++) {
            snprintf(bucket, sizeof(bucket), "%s%lld", KIND_PREFIX[t->kind],
                     (long long)(p.first + (int64_t)k * lg->cfg.window_ms));
            bw_buf_reset(&key);
            if (!bw_win_key(&key, t->tag, bucket))
                goto nomem;
            const char *argv[2 + 3 + EVIDENCE_SLOTS] = {"HMGET", key.data, fields[0], fields[1],
                                                        fields[2]};
            for (int e = 0; e < EVIDENCE_SLOTS; e++)
                argv[2 + nf + e] = EV_FIELDS[e];
            if (bw_redis_pipe_add(&pipe, 2 + nf + EVIDENCE_SLOTS, argv, NULL))
                goto nomem;
        }
        if (!add_fired_read(&pipe, lg, t, p))
            goto nomem;
    }
    if (pipe.n == 0)
        goto out;
    if ((err = bw_redis_pipe_run(lg->redis, &pipe, &replies, errstr, errstr_size)))
        goto out;
    for (size_t i = 0; i < lg->ntouched && !err; i++) {
        touched_t *t = &lg->touched[i];
        if (!judged[i])
            continue;
        judging_t j = {lg, t, plan_of(lg, t), win, NULL, 0, emit, opaque};
        size_t nf = KIND_FIELDS[t->kind][2] ? 3 : 2;
        /* evidence kept in the windows judged (and the span before them) */
        int ev_from = t->kind == TK_LANE ? j.p.lo - (int)lg->cfg.spike.span + 1 : j.p.lo;
        for (int k = 0; k < j.p.nb; k++, q++) {
            redisReply *r = replies[q];
            memset(&win[k], 0, sizeof(win[k]));
            for (size_t f = 0; r->type == REDIS_REPLY_ARRAY && f < r->elements && f < nf; f++)
                if (r->element[f]->type == REDIS_REPLY_STRING)
                    bw_parse_i64(r->element[f]->str, &win[k].c[f]);
            for (size_t f = nf; k >= ev_from && r->type == REDIS_REPLY_ARRAY && f < r->elements;
                 f++)
                if (r->element[f]->type == REDIS_REPLY_STRING &&
                    !add_evidence(lg, t, r->element[f]->str)) {
                    err = BW_ERR_NOMEM;
                    break;
                }
        }
        if (err)
            break;
        j.fired = replies[q++];
        err = t->kind == TK_LANE ? judge_lane(&j) : judge_store(&j);
    }
    goto out;
nomem:
    err = BW_ERR_NOMEM;
out:
    bw_redis_replies_free(replies, pipe.n);
    bw_redis_pipe_free(&pipe);
    bw_buf_free(&key);
    free(judged);
    return err;
}
