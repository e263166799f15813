/* bw-correlate's judgement: the windows a batch touched are read back from
 * Redis (one pipeline) and judged; each window's signal is sent once, and
 * again only when it grows (a higher severity, or more events for the
 * response signals). The fired marks are written once the batch's outputs
 * are delivered (correlate_delivered). */
#include "correlate_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bw_log.h"
#include "bw_util.h"
#include "simhash.h"

static const bw_metric_decl_t M_SIGNALS = {BW_METRIC_COUNTER, "correlate_signals_total",
                                           "Signals emitted, by type", "type"};

/* Playbooks, from the seeds. */
static const char *PB_QUALITY =
    "Apologise and refund or replace; find the root cause with the supplier (batch, packaging, "
    "listing); fix the listing so it promises what the product does.";
static const char *PB_LOGISTICS =
    "Give the buyers tracking and a delivery date before they ask; press the carrier; compensate "
    "the late ones; consider another carrier for this lane.";
static const char *PB_AFTER_SALES =
    "Make returns simple, answer every buyer within 24 hours, and follow up until it is settled.";
static const char *PB_SERVICE =
    "Answer politely and fast; review the templates and who answers; follow up after the fix.";
static const char *PB_ODR =
    "Find the orders behind the defects (negative feedback, A-to-z claims, chargebacks): answer "
    "each buyer, refund or replace, ask for removal of feedback that qualifies, and fix the "
    "common cause before the rate crosses the platform's limit.";
static const char *PB_RATING =
    "Read the recent low ratings for their common cause, answer each one, resolve what can be "
    "resolved and request removal of feedback that breaks the platform's rules.";
static const char *PB_RESPONSE =
    "Answer the buyer now (a reply, or mark that no response is needed); the platform counts "
    "replies later than 24 hours, weekends included.";
static const char *PB_FAKE =
    "Collect evidence (order ids that match no order, identical texts, timing) and report the "
    "reviews to the platform; never argue with them in public.";
static const char *PB_ABUSE = "Report the abuse to the platform and request removal; do not "
                              "answer in kind.";
static const char *PB_REMOVE_PRODUCT = "Request removal: seller feedback that is only about the "
                                       "product is not about the seller.";
static const char *PB_REMOVE_FBA = "Request a strike-through: the platform fulfilled this order, "
                                   "so the delivery complaint is the platform's.";
static const char *PB_REMOVE_PII = "Request removal: the text holds personal data.";
static const char *PB_POLICY =
    "Do not send: asking a buyer to change or remove a review, or offering money, a gift or a "
    "discount for one, breaks the platform's rules. Rewrite the message without it.";

static const char *cause_playbook(int cause) {
    if (cause <= 1)
        return PB_QUALITY;
    if (cause >= CAUSE_LOGI_FIRST && cause <= CAUSE_LOGI_LAST)
        return PB_LOGISTICS;
    if (cause == 6)
        return PB_AFTER_SALES;
    if (cause == 10)
        return PB_ABUSE;
    return PB_SERVICE;
}

/* ---- reads ---- */

static const char *const STORE_F[] = {"fb", "fbsum", "rev", "neg"};
static const char *const MONTH_F[] = {"fb", "fbsum"};
static const char *const ODR_F[] = {"orders", "defects"};
static const char *const RESP_F[] = {"rdue", "rwarn", "rlate"};
static const char *const SKU_F[] = {"rev", "neg", "unk", "c0", "c1", "c2",  "c3", "c4",
                                    "c5",  "c6",  "c7",  "c8", "c9", "c10", "c11"};
#define NSKU_F 15
#define RATING_DAYS 90
#define RATING_MONTHS 14 /* 30-day buckets read: 12 whole before a day's own, over 2 own */
#define RESP_DAYS 30
#define FAKE_MAX 256 /* low-star texts compared per SKU (the test is quadratic) */

static int sku_days(const correlate_cfg_t *c) {
    int64_t n = c->neg_span_days + c->neg_history_days;
    if (c->cluster_days > n)
        n = c->cluster_days;
    return (int)(n < 2 ? 2 : n > 120 ? 120 : n);
}

/* HMGET of @p n windows "<prefix><first + k * step>" of a tag. */
static bool q_windows(bw_redis_pipe_t *pipe, const char *tag, const char *prefix, int64_t first,
                      int n, int64_t step, const char *const *fields, int nf) {
    const char *argv[2 + NSKU_F];
    bw_buf_t key = {0};
    char name[48];
    bool ok = true;

    argv[0] = "HMGET";
    memcpy(argv + 2, fields, (size_t)nf * sizeof(*fields));
    for (int k = 0; k < n && ok; k++) {
        bw_name_i64(name, sizeof(name), prefix, first + k * step);
        bw_buf_reset(&key);
        ok = bw_win_key(&key, tag, name) &&
             (argv[1] = key.data, !bw_redis_pipe_add(pipe, 2 + nf, argv, NULL));
    }
    bw_buf_free(&key);
    return ok;
}

/* HMGET of a tag's fired fields. */
static bool q_fired(bw_redis_pipe_t *pipe, const char *tag, const char *const *fields, int n) {
    const char **argv = calloc(2 + (size_t)n, sizeof(*argv));
    bw_buf_t key = {0};
    bool ok = argv != NULL;

    if (ok) {
        argv[0] = "HMGET";
        memcpy(argv + 2, fields, (size_t)n * sizeof(*fields));
        ok = bw_win_key(&key, tag, "fired") && (argv[1] = key.data, true) &&
             !bw_redis_pipe_add(pipe, 2 + n, argv, NULL);
    }
    free(argv);
    bw_buf_free(&key);
    return ok;
}

/* HMGET of the fired fields "<type>:<day>" of @p types for each of @p nd days. */
static bool q_fired_days(bw_redis_pipe_t *pipe, const char *tag, const char *const *types,
                         int ntypes, int64_t first, int nd) {
    const char **f = calloc((size_t)(ntypes * nd), sizeof(*f));
    char(*names)[64] = calloc((size_t)(ntypes * nd), 64);
    bool ok = f && names;

    for (int d = 0; ok && d < nd; d++)
        for (int i = 0; i < ntypes; i++)
            f[d * ntypes + i] =
                bw_fired_field(names[d * ntypes + i], 64, types[i], first + d * DAY_MS);
    ok = ok && q_fired(pipe, tag, f, ntypes * nd);
    free(f);
    free(names);
    return ok;
}

/* Parse @p n HMGET replies of @p nf fields into out[k * nf + f]. */
/* HGETALL of @p n windows "<prefix><first + k * step>" of a tag: for
 * sparse windows (a SKU's day holds a few of its 15 fields, most days
 * none), only what is there is sent back and parsed (r_windows_all). */
static bool q_windows_all(bw_redis_pipe_t *pipe, const char *tag, const char *prefix, int64_t first,
                          int n, int64_t step) {
    const char *argv[2] = {"HGETALL", NULL};
    bw_buf_t key = {0};
    char name[48];
    bool ok = true;

    for (int k = 0; k < n && ok; k++) {
        bw_name_i64(name, sizeof(name), prefix, first + k * step);
        bw_buf_reset(&key);
        ok = bw_win_key(&key, tag, name) &&
             (argv[1] = key.data, !bw_redis_pipe_add(pipe, 2, argv, NULL));
    }
    bw_buf_free(&key);
    return ok;
}

/* The @p nf @p fields of @p n HGETALL replies (0 when missing; other
 * fields ignored). */
static void r_windows_all(redisReply **rep, int n, const char *const *fields, int nf,
                          int64_t *out) {
    memset(out, 0, (size_t)n * (size_t)nf * sizeof(*out));
    for (int k = 0; k < n; k++) {
        const redisReply *r = rep[k];
        for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2) {
            const redisReply *name = r->element[i], *val = r->element[i + 1];
            if (name->type != REDIS_REPLY_STRING || val->type != REDIS_REPLY_STRING)
                continue;
            for (int f = 0; f < nf; f++) {
                if (!strcmp(fields[f], name->str)) {
                    bw_parse_i64(val->str, &out[k * nf + f]);
                    break;
                }
            }
        }
    }
}

static void r_windows(redisReply **rep, int n, int nf, int64_t *out) {
    for (int k = 0; k < n; k++) {
        redisReply *r = rep[k];
        for (int f = 0; f < nf; f++) {
            out[k * nf + f] = 0;
            if (r->type == REDIS_REPLY_ARRAY && (size_t)f < r->elements &&
                r->element[f]->type == REDIS_REPLY_STRING)
                bw_parse_i64(r->element[f]->str, &out[k * nf + f]);
        }
    }
}

static int64_t fired_at(const redisReply *r, size_t i) {
    return r->type == REDIS_REPLY_ARRAY && i < r->elements ? bw_fired_value(r->element[i]) : 0;
}

/* ---- emitting ---- */

typedef struct {
    correlate_t *cr;
    const touched_t *t;
    correlate_emit_cb emit;
    void *opaque;
    int64_t first; /* the first day judged (store and SKU: each day to t->hi) */
    int ndays; /* days judged */
    int64_t b; /* the day being judged */
    const redisReply *fired; /* the fired fields, per day judged */
    const int64_t *kr; /* TK_SKU*: its review count per window (read_sku_counts) */
    int fired_base; /* index of day b's first fired field */
    char *event_field; /* TK_EVENT: its fired field (freed by corr_judge) */
} judging_t;

/* Days a store or SKU entry is judged: each day it changed, up to a month. */
#define MAX_JUDGED 31

static void plan_days(judging_t *j) {
    int64_t lo = j->t->lo;
    if (lo < j->t->hi - (MAX_JUDGED - 1) * DAY_MS)
        lo = j->t->hi - (MAX_JUDGED - 1) * DAY_MS;
    j->first = lo;
    j->ndays = (int)((j->t->hi - lo) / DAY_MS) + 1;
}

static bw_err_t emit(judging_t *j, bw_signal_t *s, const char *fired_field, int64_t mark) {
    correlate_t *cr = j->cr;
    char errstr[256], field[64];
    bw_buf_t key = {0};
    bw_err_t err;

    if (!s->evidence) { /* else the judge found its own (kept in the window) */
        s->evidence = j->t->evidence;
        s->nevidence = j->t->nevidence;
    }
    if (!s->scope)
        return BW_ERR_NOMEM;
    if (!fired_field)
        fired_field = bw_fired_field(field, sizeof(field), s->type, j->b);
    if (!(err = bw_signal_build(cr->signal_s, cr->sig, s, &key, errstr, sizeof(errstr))))
        err = j->emit(j->opaque, key.data, &cr->sig->value);
    bw_buf_free(&key);
    if (err)
        return err;
    cr->signals++;
    if (cr->reg)
        bw_metric_inc(bw_metrics_get(cr->reg, &M_SIGNALS, s->type));
    return bw_marks_add(&cr->marks, j->t->tag, fired_field, mark) ? BW_ERR_OK : BW_ERR_NOMEM;
}

/* What day b already sent for its @p i-th signal type. */
static int64_t sent(const judging_t *j, int i) {
    return fired_at(j->fired, (size_t)(j->fired_base + i));
}

static const char *const PLATFORMS[] = {"AMAZON",     "EBAY",         "SHOPIFY", "WALMART",
                                        "ALIEXPRESS", "MERCADOLIBRE", "OTHER"};

static json_t *store_scope(const touched_t *t, bool platform) {
    if (platform && t->platform >= 0 && t->platform < 7)
        return json_pack("{s:s, s:s}", "store_id", t->a, "platform", PLATFORMS[t->platform]);
    return json_pack("{s:s}", "store_id", t->a);
}

static int level_of(const bw_spike_t *sp) {
    return sp->observed >= 2 * sp->threshold ? BW_SEV_CRITICAL : BW_SEV_WARNING;
}

/* ---- store: ODR, rating, negative share (each day changed) ---- */

static const char *const STORE_TYPES[] = {"ODR_AT_RISK", "SELLER_RATING_AT_RISK",
                                          "NEGATIVE_REVIEW_SPIKE"};

/* Windows a store entry reads: the daily ones (90 days for the rating, 35
 * for the negative share), the months (rating), the ODR days. */
static void store_reads(const judging_t *j, int *nr, int *nm, int *no) {
    unsigned need = j->t->need;
    int days = need & NEED_RATING ? RATING_DAYS : need & NEED_NEG ? sku_days(&j->cr->cfg) : 0;

    *nr = days ? days + j->ndays - 1 : 0;
    *nm = need & NEED_RATING ? RATING_MONTHS : 0;
    *no = need & NEED_ODR ? (int)j->cr->cfg.odr_days + j->ndays - 1 : 0;
}

static bool q_store(judging_t *j, bw_redis_pipe_t *pipe) {
    const correlate_cfg_t *c = &j->cr->cfg;
    const touched_t *t = j->t;
    int64_t month = bw_bucket(t->hi, MONTH_MS);
    int nr, nm, no;

    plan_days(j);
    store_reads(j, &nr, &nm, &no);
    return q_windows(pipe, t->tag, "r:", j->first - (nr - j->ndays) * DAY_MS, nr, DAY_MS, STORE_F,
                     4) &&
           q_windows(pipe, t->tag, "rm:", month - (RATING_MONTHS - 1) * MONTH_MS, nm, MONTH_MS,
                     MONTH_F, 2) &&
           q_windows(pipe, t->tag, "odr:", j->first - (c->odr_days - 1) * DAY_MS, no, DAY_MS, ODR_F,
                     2) &&
           q_fired_days(pipe, t->tag, STORE_TYPES, 3, j->first, j->ndays);
}

static const bw_metric_decl_t M_STORE_ODR = {
    BW_METRIC_GAUGE, "correlate_store_odr",
    "Order defect rate of the latest day judged, per store and platform (the first 10,000 stores)",
    "store_id,platform"};
#define MAX_STORE_SERIES 10000

/* @p odr: the odr_days windows ending at day b. */
static bw_err_t judge_odr(judging_t *j, const int64_t *odr) {
    const correlate_cfg_t *c = &j->cr->cfg;
    const touched_t *t = j->t;
    int64_t orders = 0, defects = 0;
    bool ebay = t->platform == 1;
    double warn = ebay ? c->odr_ebay_warn : c->odr_warn;
    double crit = ebay ? c->odr_ebay_critical : c->odr_critical, rate;
    char detail[200];

    for (int k = 0; k < c->odr_days; k++) {
        orders += odr[2 * k];
        defects += odr[2 * k + 1];
    }
    bw_health_t h = bw_rate_high(orders, defects, c->odr_min_orders, warn, crit, &rate);
    if (j->cr->reg && orders > 0) {
        const char *labels[] = {t->a,
                                t->platform >= 0 && t->platform < 7 ? PLATFORMS[t->platform] : ""};
        bw_metric_set(bw_metrics_series(j->cr->reg, &M_STORE_ODR, labels, MAX_STORE_SERIES),
                      (double)defects / (double)orders);
    }
    if (h == BW_HEALTH_OK || (int64_t)h <= sent(j, 0))
        return BW_ERR_OK;
    snprintf(detail, sizeof(detail),
             "order defect rate %.2f%% over %lld days by order date (%lld defective of %lld "
             "orders)",
             100 * rate, (long long)c->odr_days, (long long)defects, (long long)orders);
    bw_signal_t s = {.type = "ODR_AT_RISK",
                     .severity = (int)h,
                     .scope = store_scope(t, true),
                     .window_start = j->b - (c->odr_days - 1) * DAY_MS,
                     .window_end = j->b + DAY_MS,
                     .observed = rate,
                     .baseline = NAN,
                     .threshold = h == BW_HEALTH_CRITICAL ? crit : warn,
                     .sample = orders,
                     .playbook = PB_ODR,
                     .detail = detail};
    return emit(j, &s, NULL, h);
}

/* @p days: the RATING_DAYS windows ending at day b. */
static bw_err_t judge_rating(judging_t *j, const int64_t *days, const int64_t *months) {
    const correlate_cfg_t *c = &j->cr->cfg;
    static const int SPANS[3] = {30, 90, 365};
    int64_t n[3] = {0}, sum[3] = {0};
    int worst = -1;
    bw_health_t hw = BW_HEALTH_OK;
    double mean = 0, m;
    char detail[200];

    for (int k = 0; k < RATING_DAYS; k++) {
        n[1] += days[4 * k];
        sum[1] += days[4 * k + 1];
        if (k >= RATING_DAYS - 30) {
            n[0] += days[4 * k];
            sum[0] += days[4 * k + 1];
        }
    }
    /* 365 days: the 12 whole 30-day buckets before day b's, and the days
     * of b's bucket up to b (the bucket also holds days after b). months[]
     * ends with the bucket of the entry's last day. */
    int own = RATING_MONTHS - 1 -
              (int)((bw_bucket(j->t->hi, MONTH_MS) - bw_bucket(j->b, MONTH_MS)) / MONTH_MS);
    for (int k = own - 12; k < own; k++) {
        if (k < 0)
            continue;
        n[2] += months[2 * k];
        sum[2] += months[2 * k + 1];
    }
    for (int k = RATING_DAYS - 1 - (int)((j->b - bw_bucket(j->b, MONTH_MS)) / DAY_MS);
         k < RATING_DAYS; k++) {
        n[2] += days[4 * k];
        sum[2] += days[4 * k + 1];
    }
    for (int i = 0; i < 3; i++) {
        bw_health_t h = bw_mean_low(n[i], (double)sum[i], c->rating_min, c->rating_warn,
                                    c->rating_critical, &m);
        if (h > hw) {
            hw = h;
            worst = i;
            mean = m;
        }
    }
    if (hw == BW_HEALTH_OK || (int64_t)hw <= sent(j, 1))
        return BW_ERR_OK;
    snprintf(detail, sizeof(detail),
             "seller feedback averages %.2f stars over %d days (%lld ratings)", mean, SPANS[worst],
             (long long)n[worst]);
    bw_signal_t s = {.type = "SELLER_RATING_AT_RISK",
                     .severity = (int)hw,
                     .scope = store_scope(j->t, false),
                     .window_start = j->b - (SPANS[worst] - 1) * DAY_MS,
                     .window_end = j->b + DAY_MS,
                     .observed = mean,
                     .baseline = NAN,
                     .threshold = hw == BW_HEALTH_CRITICAL ? c->rating_critical : c->rating_warn,
                     .sample = n[worst],
                     .playbook = PB_RATING,
                     .detail = detail};
    return emit(j, &s, NULL, hw);
}

/* Negative share of the span days ending at day b (the last of @p ndays
 * windows) against the history days before; @p rev and @p neg index the
 * window fields, @p stride their count; @p fi the signal's fired index. */
static bw_err_t judge_negative(judging_t *j, const int64_t *w, int ndays, int stride, int rev,
                               int neg, int fi, json_t *scope, const char *what) {
    const correlate_cfg_t *c = &j->cr->cfg;
    int64_t n = 0, x = 0, hn = 0, hx = 0;
    int span = (int)c->neg_span_days, hist = (int)c->neg_history_days;
    char detail[200];

    for (int k = ndays - span - hist; k < ndays; k++) {
        if (k < 0)
            continue;
        if (k >= ndays - span) {
            n += w[k * stride + rev];
            x += w[k * stride + neg];
        } else {
            hn += w[k * stride + rev];
            hx += w[k * stride + neg];
        }
    }
    bw_spike_t sp = bw_shrink_spike_eval(&c->neg, n, x, hn, hx);
    if (!sp.fires || level_of(&sp) <= sent(j, fi)) {
        json_decref(scope);
        return BW_ERR_OK;
    }
    snprintf(detail, sizeof(detail),
             "%s: %lld of %lld reviews at 1-2 stars in %d days (shrunk share %.1f%%, baseline "
             "%.1f%%, binomial p = %.2g)",
             what, (long long)x, (long long)n, span, 100 * sp.observed, 100 * sp.baseline,
             sp.p_value);
    bw_signal_t s = {.type = "NEGATIVE_REVIEW_SPIKE",
                     .severity = level_of(&sp),
                     .scope = scope,
                     .window_start = j->b - (span - 1) * DAY_MS,
                     .window_end = j->b + DAY_MS,
                     .observed = sp.observed,
                     .baseline = sp.baseline,
                     .threshold = sp.threshold,
                     .sample = n,
                     .playbook = PB_QUALITY,
                     .detail = detail};
    return emit(j, &s, NULL, level_of(&sp));
}

static bw_err_t judge_store(judging_t *j, redisReply **rep) {
    unsigned need = j->t->need;
    int nr, nm, no;
    bw_err_t err = BW_ERR_OK;

    store_reads(j, &nr, &nm, &no);
    int64_t *days = calloc(4 * (size_t)nr + 2 * (size_t)nm + 2 * (size_t)no + 1, sizeof(int64_t));
    int64_t *months = days + 4 * nr, *odr = months + 2 * nm;
    int span = nr - j->ndays + 1; /* daily windows up to each judged day */

    if (!days)
        return BW_ERR_NOMEM;
    r_windows(rep, nr, 4, days);
    r_windows(rep + nr, nm, 2, months);
    r_windows(rep + nr + nm, no, 2, odr);
    j->fired = rep[nr + nm + no];
    for (int d = 0; d < j->ndays && !err; d++) {
        j->b = j->first + d * DAY_MS;
        j->fired_base = 3 * d;
        if (need & NEED_ODR)
            err = judge_odr(j, odr + 2 * d);
        if (!err && (need & NEED_RATING))
            err = judge_rating(j, days + 4 * d, months);
        if (!err && (need & NEED_NEG))
            err = judge_negative(j, days + 4 * d, span, 4, 2, 3, 2, store_scope(j->t, false),
                                 "store");
    }
    free(days);
    return err;
}

/* ---- responses (per deadline day) ---- */

static bool q_resp(judging_t *j, bw_redis_pipe_t *pipe) {
    static const char *const TYPES[] = {"RESPONSE_DUE", "RESPONSE_SLA_BREACH"};
    const touched_t *t = j->t;

    return q_windows(pipe, t->tag, "r:", t->hi - (RESP_DAYS - 1) * DAY_MS, RESP_DAYS, DAY_MS,
                     RESP_F, 3) &&
           q_fired_days(pipe, t->tag, TYPES, 2, t->hi, 1);
}

static bw_err_t judge_resp(judging_t *j, redisReply **rep) {
    const correlate_cfg_t *c = &j->cr->cfg;
    int64_t w[3 * RESP_DAYS], due7 = 0, late7 = 0, due30 = 0, late30 = 0;
    const int64_t *today = &w[3 * (RESP_DAYS - 1)];
    char detail[240];
    bw_err_t err = BW_ERR_OK;

    r_windows(rep, RESP_DAYS, 3, w);
    j->fired = rep[RESP_DAYS];
    j->b = j->t->hi;
    for (int k = 0; k < RESP_DAYS; k++) {
        due30 += w[3 * k];
        late30 += w[3 * k + 2];
        if (k >= RESP_DAYS - 7) {
            due7 += w[3 * k];
            late7 += w[3 * k + 2];
        }
    }
    for (int which = 0; which < 2 && !err; which++) {
        int64_t count = today[1 + which];
        if (count <= sent(j, which))
            continue;
        snprintf(detail, sizeof(detail),
                 "%lld event(s) due that day %s (%lld h after they came); late response rate "
                 "%.1f%% over 7 days, %.1f%% over 30 days",
                 (long long)count, which ? "not answered by the deadline" : "not yet answered",
                 (long long)(which ? 24 : c->response_warn_ms / 3600000),
                 due7 ? 100.0 * (double)late7 / (double)due7 : 0.0,
                 due30 ? 100.0 * (double)late30 / (double)due30 : 0.0);
        bw_signal_t s = {.type = which ? "RESPONSE_SLA_BREACH" : "RESPONSE_DUE",
                         .severity = which ? BW_SEV_CRITICAL : BW_SEV_WARNING,
                         .scope = store_scope(j->t, false),
                         .window_start = j->b,
                         .window_end = j->b + DAY_MS,
                         .observed = (double)count,
                         .baseline = NAN,
                         .threshold = 1,
                         .sample = today[0],
                         .playbook = PB_RESPONSE,
                         .detail = detail};
        err = emit(j, &s, NULL, count);
    }
    return err;
}

/* ---- SKU: negative share, complaint clusters, fake bursts (each day changed) ---- */

static const char *const SKU_TYPES[] = {"NEGATIVE_REVIEW_SPIKE", "COMPLAINT_CLUSTER",
                                        "FAKE_REVIEW_BURST"};

static bool q_sku(judging_t *j, bw_redis_pipe_t *pipe) {
    const touched_t *t = j->t;
    int nd = sku_days(&j->cr->cfg);
    bw_buf_t key = {0};
    bool ok;

    plan_days(j);
    /* its review counts are read for all the batch's SKUs of its store at
     * once (read_sku_counts) */
    ok = q_windows_all(pipe, t->tag, "d:", j->first - (nd - 1) * DAY_MS, nd + j->ndays - 1, DAY_MS);
    /* the low-star texts of each day judged and the day before */
    for (int k = -1; k < j->ndays && ok; k++) {
        char name[48];
        bw_name_i64(name, sizeof(name), "sh:", j->first + k * DAY_MS);
        bw_buf_reset(&key);
        const char *argv[2] = {"HVALS", NULL};
        ok = bw_win_key(&key, t->tag, name) && (argv[1] = key.data, true) &&
             !bw_redis_pipe_add(pipe, 2, argv, NULL);
    }
    bw_buf_free(&key);
    return ok && q_fired_days(pipe, t->tag, SKU_TYPES, 3, j->first, j->ndays);
}

static json_t *sku_scope(const touched_t *t) {
    return json_pack("{s:s, s:s}", "store_id", t->a, "sku", t->b);
}

/* @p w: the nd windows ending at day b. */
static bw_err_t judge_cluster(judging_t *j, const int64_t *w, int nd) {
    const correlate_cfg_t *c = &j->cr->cfg;
    int64_t by_cause[CAUSE__CNT] = {0}, neg = 0;
    int best = 0;
    char detail[200];

    for (int k = nd - (int)c->cluster_days; k < nd; k++) {
        if (k < 0)
            continue;
        neg += w[k * NSKU_F + 1];
        for (int cs = 0; cs < CAUSE__CNT; cs++)
            by_cause[cs] += w[k * NSKU_F + 3 + cs];
    }
    for (int cs = 1; cs < CAUSE__CNT; cs++)
        if (by_cause[cs] > by_cause[best])
            best = cs;
    if (by_cause[best] < c->cluster_min)
        return BW_ERR_OK;
    int level = by_cause[best] >= 2 * c->cluster_min ? BW_SEV_CRITICAL : BW_SEV_WARNING;
    if (level <= sent(j, 1))
        return BW_ERR_OK;
    snprintf(detail, sizeof(detail), "%lld complaints about %s on this SKU in %lld days",
             (long long)by_cause[best], CAUSE_NAMES[best], (long long)c->cluster_days);
    bw_signal_t s = {.type = "COMPLAINT_CLUSTER",
                     .severity = level,
                     .scope = sku_scope(j->t),
                     .window_start = j->b - (c->cluster_days - 1) * DAY_MS,
                     .window_end = j->b + DAY_MS,
                     .observed = (double)by_cause[best],
                     .baseline = NAN,
                     .threshold = (double)c->cluster_min,
                     .sample = neg,
                     .playbook = cause_playbook(best),
                     .detail = detail};
    return emit(j, &s, NULL, level);
}

/* @p texts: HVALS of the low-star texts of day b - 1 and day b. */
static bw_err_t judge_fake(judging_t *j, const int64_t *w, int nd, redisReply **texts) {
    const correlate_cfg_t *c = &j->cr->cfg;
    uint64_t h[FAKE_MAX];
    int nh = 0, dup;
    int64_t unk = w[(nd - 1) * NSKU_F + 2] + w[(nd - 2) * NSKU_F + 2];
    int64_t neg = w[(nd - 1) * NSKU_F + 1] + w[(nd - 2) * NSKU_F + 1];
    char detail[200];

    for (int k = 0; k < 2; k++) {
        redisReply *r = texts[k];
        for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements && nh < FAKE_MAX; i++)
            if (r->element[i]->type == REDIS_REPLY_STRING)
                h[nh++] = strtoull(r->element[i]->str, NULL, 16);
    }
    dup = bw_simhash_cluster(h, nh, (int)c->fake_bits);
    int64_t burst = unk > dup ? unk : dup;
    if (burst < c->fake_min)
        return BW_ERR_OK;
    int level = burst >= 2 * c->fake_min ? BW_SEV_CRITICAL : BW_SEV_WARNING;
    if (level <= sent(j, 2))
        return BW_ERR_OK;
    snprintf(detail, sizeof(detail),
             "%lld low-star reviews in 2 days: %lld name orders nobody placed, %d are near "
             "duplicates (SimHash within %lld bits)",
             (long long)neg, (long long)unk, dup, (long long)c->fake_bits);
    bw_signal_t s = {.type = "FAKE_REVIEW_BURST",
                     .severity = level,
                     .scope = sku_scope(j->t),
                     .window_start = j->b - DAY_MS,
                     .window_end = j->b + DAY_MS,
                     .observed = (double)burst,
                     .baseline = NAN,
                     .threshold = (double)c->fake_min,
                     .sample = neg,
                     .playbook = PB_FAKE,
                     .detail = detail};
    return emit(j, &s, NULL, level);
}

static bw_err_t judge_sku(judging_t *j, redisReply **rep) {
    int nd = sku_days(&j->cr->cfg), nw = nd + j->ndays - 1;
    int64_t *w = calloc((size_t)nw * NSKU_F, sizeof(int64_t));
    bw_err_t err = BW_ERR_OK;

    if (!w)
        return BW_ERR_NOMEM;
    r_windows_all(rep, nw, SKU_F, NSKU_F, w);
    for (int k = 0; k < nw; k++) /* reviews: from the store's tag */
        w[(size_t)k * NSKU_F] = j->kr[k];
    j->fired = rep[nw + j->ndays + 1];
    for (int d = 0; d < j->ndays && !err; d++) {
        const int64_t *wd = w + (size_t)d * NSKU_F; /* the nd windows ending at day d */
        j->b = j->first + d * DAY_MS;
        j->fired_base = 3 * d;
        if (j->t->need & NEED_NEG)
            err = judge_negative(j, wd, nd, NSKU_F, 0, 1, 0, sku_scope(j->t), "SKU");
        if (!err && (j->t->need & NEED_CLUSTER) && !(err = judge_cluster(j, wd, nd)))
            err = judge_fake(j, wd, nd, rep + nw + d);
    }
    free(w);
    return err;
}

/* ---- complaints joined to a delay spike ---- */

/* The complaints of one day joined to a spike, judged once the day closes
 * (timers.c): the complaints come from many stores' partitions, so only the
 * closed day's count is the same whatever order they came in. */
static const char *const CORR_F[] = {"complaints", "level", "ev0", "ev1", "ev2", "ev3", "ev4"};

static bool q_corr(judging_t *j, bw_redis_pipe_t *pipe) {
    static const char *const TYPES[] = {"LOGISTICS_COMPLAINTS_CORRELATED"};

    return q_windows(pipe, j->t->tag, "lc:", j->t->hi, 1, DAY_MS, CORR_F, 7) &&
           q_fired_days(pipe, j->t->tag, TYPES, 1, j->t->hi, 1);
}

static bw_err_t judge_corr(judging_t *j, redisReply **rep) {
    const correlate_cfg_t *c = &j->cr->cfg;
    int64_t w[2];
    int64_t n;
    int level;
    char detail[200];

    char *ev[5];
    int nev = 0;

    r_windows(rep, 1, 2, w);
    n = w[0];
    level = w[1] >= BW_SEV_CRITICAL ? BW_SEV_CRITICAL : BW_SEV_WARNING;
    for (size_t f = 2; rep[0]->type == REDIS_REPLY_ARRAY && f < rep[0]->elements && nev < 5; f++)
        if (rep[0]->element[f]->type == REDIS_REPLY_STRING)
            ev[nev++] = rep[0]->element[f]->str;
    j->fired = rep[1];
    j->b = j->t->hi;
    if (n >= c->corr_raise)
        level = BW_SEV_CRITICAL;
    if (n < 1 || level <= sent(j, 0))
        return BW_ERR_OK;
    snprintf(detail, sizeof(detail),
             "%lld logistics complaint(s) from buyers whose orders shipped on this carrier and "
             "lane during its delay spike",
             (long long)n);
    bw_signal_t s = {.type = "LOGISTICS_COMPLAINTS_CORRELATED",
                     .severity = level,
                     .scope = json_pack("{s:s, s:s}", "carrier", j->t->a, "lane", j->t->b),
                     .window_start = j->b,
                     .window_end = j->b + DAY_MS,
                     .observed = (double)n,
                     .baseline = NAN,
                     .threshold = (double)c->corr_raise,
                     .sample = n,
                     .evidence = nev ? ev : NULL,
                     .nevidence = nev,
                     .playbook = PB_LOGISTICS,
                     .detail = detail};
    return emit(j, &s, NULL, level);
}

/* ---- one event ---- */

/* Fired field "<type>:<event>" (the event id escaped, whole: two long ids
 * that share a prefix stay apart). */
static bool q_event(judging_t *j, bw_redis_pipe_t *pipe) {
    bw_buf_t f = {0};
    const char *fired[1];

    if (!bw_buf_printf(&f, "%s:", j->t->type) || !bw_key_escape(&f, j->t->b, strlen(j->t->b))) {
        bw_buf_free(&f);
        return false;
    }
    j->event_field = f.data; /* owned by the judging entry now */
    fired[0] = j->event_field;
    return q_fired(pipe, j->t->tag, fired, 1);
}

static bw_err_t judge_event(judging_t *j, redisReply **rep) {
    const touched_t *t = j->t;
    bool policy = !strcmp(t->type, "POLICY_RISK");
    const char *pb = policy                                                  ? PB_POLICY
                     : !strcmp(t->note, "ABUSIVE_LANGUAGE")                  ? PB_ABUSE
                     : !strcmp(t->note, "PRODUCT_REVIEW_IN_SELLER_FEEDBACK") ? PB_REMOVE_PRODUCT
                     : !strcmp(t->note, "PLATFORM_FULFILLED_DELIVERY")       ? PB_REMOVE_FBA
                                                                             : PB_REMOVE_PII;
    char detail[200];

    if (fired_at(rep[0], 0))
        return BW_ERR_OK;
    j->b = t->hi;
    snprintf(detail, sizeof(detail), "%s: %s", policy ? "outbound message" : "removable", t->note);
    bw_signal_t s = {.type = t->type,
                     .severity = policy ? BW_SEV_CRITICAL : BW_SEV_WARNING,
                     .scope = json_pack("{s:s, s:s}", "store_id", t->a, "event_id", t->b),
                     .window_start = t->hi,
                     .window_end = t->hi,
                     .observed = 1,
                     .baseline = NAN,
                     .threshold = 1,
                     .sample = 1,
                     .playbook = pb,
                     .detail = detail};
    return emit(j, &s, j->event_field, 1);
}

/* ---- the SKUs' review counts, read once per store and day ---- */

/* Entries are judged in chunks of at most this many Redis reads: a day
 * closing for thousands of SKUs reads tens of thousands of windows, and
 * all their replies at once made a peak of ~90 MB (bench_soak.sh). */
#define JUDGE_CHUNK_READS 4096

/* A store whose SKUs the batch judges: each SKU needs its review count
 * for ~45 days, and the counts live in the store's tag ("kr:<day>", one
 * field per SKU: correlate.c add_sku). Read per SKU, that was an HMGET per
 * SKU and day, half of the judging's reads; read here once per store and
 * day, with the fields of all its SKUs. */
typedef struct {
    char *tag; /* the store's tag */
    int64_t lo, hi; /* the days to read */
    json_t *fields; /* escaped SKU -> its place in each HMGET */
    size_t reply; /* index of day lo's reply in the pipeline */
} kr_store_t;

/* Fill counts[i] (nw values from its first window on) for the SKU entries
 * whose store is one of @p st[g0..g1), whose reads are @p rep. */
static void kr_fill(correlate_t *cr, kr_store_t *st, size_t g0, size_t g1, const size_t *grp,
                    const int *place, redisReply **rep, int64_t **counts) {
    int nd = sku_days(&cr->cfg);

    for (size_t i = 0; i < cr->ntouched; i++) {
        if (!counts[i] || grp[i] < g0 || grp[i] >= g1)
            continue;
        judging_t j = {.cr = cr, .t = &cr->touched[i]};
        const kr_store_t *s = &st[grp[i]];
        plan_days(&j);
        for (int k = 0; k < nd + j.ndays - 1; k++) {
            const redisReply *r =
                rep[s->reply + (size_t)((j.first - (nd - 1 - k) * DAY_MS - s->lo) / DAY_MS)];
            counts[i][k] = 0;
            if (r->type == REDIS_REPLY_ARRAY && (size_t)place[i] < r->elements &&
                r->element[place[i]]->type == REDIS_REPLY_STRING)
                bw_parse_i64(r->element[place[i]]->str, &counts[i][k]);
        }
    }
}

/* The stores of the batch's SKU entries, each with its days and SKUs:
 * grp[i] and place[i] say where entry i's counts are. */
static bool kr_plan(correlate_t *cr, kr_store_t **st, size_t *nst, size_t *grp, int *place,
                    int64_t **counts) {
    int nd = sku_days(&cr->cfg);
    json_t *index = json_object();
    bw_buf_t name = {0}, esku = {0};
    size_t cap = 0;
    bool ok = index != NULL;

    for (size_t i = 0; ok && i < cr->ntouched; i++) {
        const touched_t *t = &cr->touched[i];
        judging_t j = {.cr = cr, .t = t};
        json_t *gi;
        kr_store_t *s;
        if (t->kind != TK_SKU && t->kind != TK_SKU_DAY)
            continue;
        plan_days(&j);
        bw_buf_reset(&name);
        bw_buf_reset(&esku);
        if (!bw_key_name_to(&name, "s=", t->a, strlen(t->a), NULL, 0) ||
            !bw_key_escape(&esku, t->b, strlen(t->b)) ||
            !(counts[i] = calloc((size_t)(nd + j.ndays - 1), sizeof(int64_t)))) {
            ok = false;
            break;
        }
        if (!(gi = json_object_get(index, name.data))) {
            if (!bw_grow((void **)st, &cap, *nst, sizeof(**st)) ||
                !(gi = json_integer((json_int_t)*nst)) ||
                json_object_set_new(index, name.data, gi)) {
                ok = false;
                break;
            }
            s = &(*st)[(*nst)++];
            *s = (kr_store_t){strdup(name.data), j.first - (nd - 1) * DAY_MS,
                              j.first + (j.ndays - 1) * DAY_MS, json_object(), 0};
            if (!s->tag || !s->fields) {
                ok = false;
                break;
            }
        }
        grp[i] = (size_t)json_integer_value(gi);
        s = &(*st)[grp[i]];
        if (j.first - (nd - 1) * DAY_MS < s->lo)
            s->lo = j.first - (nd - 1) * DAY_MS;
        if (j.first + (j.ndays - 1) * DAY_MS > s->hi)
            s->hi = j.first + (j.ndays - 1) * DAY_MS;
        json_t *pl = json_object_get(s->fields, esku.data);
        if (!pl && (!(pl = json_integer((json_int_t)json_object_size(s->fields))) ||
                    json_object_set_new(s->fields, esku.data, pl)))
            ok = false;
        place[i] = pl ? (int)json_integer_value(pl) : 0;
    }
    json_decref(index);
    bw_buf_free(&name);
    bw_buf_free(&esku);
    return ok;
}

/* HMGET of each of a store's days, with all its SKUs' fields (any number:
 * not q_windows, whose fields are a window's). */
static bool kr_query(kr_store_t *s, bw_redis_pipe_t *pipe) {
    size_t nf = json_object_size(s->fields);
    const char **argv = calloc(nf + 2, sizeof(*argv));
    bw_buf_t key = {0};
    const char *f;
    json_t *pl;
    bool ok = argv != NULL;

    if (ok) {
        argv[0] = "HMGET";
        json_object_foreach(s->fields, f, pl) argv[2 + json_integer_value(pl)] = f;
        s->reply = pipe->n;
    }
    for (int64_t day = s->lo; ok && day <= s->hi; day += DAY_MS) {
        char name[48];
        bw_name_i64(name, sizeof(name), "kr:", day);
        bw_buf_reset(&key);
        ok = bw_win_key(&key, s->tag, name) &&
             (argv[1] = key.data, !bw_redis_pipe_add(pipe, (int)nf + 2, argv, NULL));
    }
    bw_buf_free(&key);
    free(argv);
    return ok;
}

/* counts[i]: the review counts of SKU entry i, read in chunks of stores. */
static bw_err_t read_sku_counts(correlate_t *cr, int64_t **counts, char *errstr,
                                size_t errstr_size) {
    size_t *grp = calloc(cr->ntouched + 1, sizeof(size_t)), nst = 0;
    int *place = calloc(cr->ntouched + 1, sizeof(int));
    kr_store_t *st = NULL;
    bw_err_t err = BW_ERR_NOMEM;

    if (!grp || !place || !kr_plan(cr, &st, &nst, grp, place, counts))
        goto out;
    err = BW_ERR_OK;
    for (size_t g0 = 0, g1; g0 < nst && !err; g0 = g1) {
        bw_redis_pipe_t pipe = {0};
        redisReply **replies = NULL;
        for (g1 = g0; g1 < nst && (g1 == g0 || pipe.n < JUDGE_CHUNK_READS); g1++)
            if (!kr_query(&st[g1], &pipe)) {
                err = BW_ERR_NOMEM;
                break;
            }
        if (!err &&
            (err = bw_redis_pipe_run(cr->redis, &pipe, &replies, errstr, errstr_size)) == BW_ERR_OK)
            kr_fill(cr, st, g0, g1, grp, place, replies, counts);
        bw_redis_replies_free(replies, pipe.n);
        bw_redis_pipe_free(&pipe);
    }
out:
    if (err == BW_ERR_NOMEM)
        bw_errstr_set(errstr, errstr_size, "out of memory");
    for (size_t g = 0; g < nst; g++) {
        free(st[g].tag);
        json_decref(st[g].fields);
    }
    free(st);
    free(grp);
    free(place);
    return err;
}

/* ---- all of a batch ---- */

typedef struct {
    bool (*query)(judging_t *j, bw_redis_pipe_t *pipe);
    bw_err_t (*judge)(judging_t *j, redisReply **rep);
} kind_ops_t;

static const kind_ops_t KIND_OPS[] = {
    [TK_STORE] = {q_store, judge_store}, [TK_STORE_DAY] = {q_store, judge_store},
    [TK_RESP] = {q_resp, judge_resp},    [TK_SKU] = {q_sku, judge_sku},
    [TK_SKU_DAY] = {q_sku, judge_sku},   [TK_CORR] = {q_corr, judge_corr},
    [TK_EVENT] = {q_event, judge_event},
};

/* Judgement order: by day (or event time), then kind, tag and event.
 * Entries are made as a batch meets them (its records first, then the
 * days its watermark closed), so a batch that closes two days at once
 * could judge the later first; bw-alert opens an episode with the first
 * window it gets, and the same input would give other alert ids. */
static int touched_cmp(const void *x, const void *y) {
    const touched_t *a = x, *b = y;
    int c;

    if (a->hi != b->hi)
        return a->hi < b->hi ? -1 : 1;
    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    if ((c = strcmp(a->tag, b->tag)))
        return c;
    return strcmp(a->b ? a->b : "", b->b ? b->b : "");
}

bw_err_t corr_judge(correlate_t *cr, correlate_emit_cb emit_cb, void *opaque, char *errstr,
                    size_t errstr_size) {
    size_t *first = calloc(cr->ntouched + 1, sizeof(size_t));
    judging_t *js = calloc(cr->ntouched + 1, sizeof(judging_t));
    int64_t **counts = calloc(cr->ntouched + 1, sizeof(*counts));
    bw_err_t err = BW_ERR_OK;

    if (!first || !js || !counts) {
        err = BW_ERR_NOMEM;
        goto out;
    }
    if (cr->ntouched > 1)
        qsort(cr->touched, cr->ntouched, sizeof(*cr->touched), touched_cmp);
    if ((err = read_sku_counts(cr, counts, errstr, errstr_size)))
        goto out;
    for (size_t lo = 0, hi; lo < cr->ntouched && !err; lo = hi) {
        bw_redis_pipe_t pipe = {0};
        redisReply **replies = NULL;
        for (hi = lo; hi < cr->ntouched && (hi == lo || pipe.n < JUDGE_CHUNK_READS); hi++) {
            js[hi] = (judging_t){.cr = cr,
                                 .t = &cr->touched[hi],
                                 .emit = emit_cb,
                                 .opaque = opaque,
                                 .kr = counts[hi]};
            first[hi] = pipe.n;
            if (!KIND_OPS[cr->touched[hi].kind].query(&js[hi], &pipe)) {
                err = BW_ERR_NOMEM;
                break;
            }
        }
        if (!err && pipe.n)
            err = bw_redis_pipe_run(cr->redis, &pipe, &replies, errstr, errstr_size);
        for (size_t i = lo; i < hi && !err && pipe.n; i++)
            err = KIND_OPS[cr->touched[i].kind].judge(&js[i], replies + first[i]);
        bw_redis_replies_free(replies, pipe.n);
        bw_redis_pipe_free(&pipe);
    }
out:
    for (size_t i = 0; js && i < cr->ntouched; i++)
        free(js[i].event_field);
    for (size_t i = 0; counts && i < cr->ntouched; i++)
        free(counts[i]);
    free(counts);
    free(first);
    free(js);
    return err;
}
