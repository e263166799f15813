/*
 * bw-alert's state: one entry per alert key (type + canonical scope), kept
 * in memory for the partitions this instance owns and in Redis:
 *   bw:{alerts}:state    key -> "<partition>;<lifecycle>" (lifecycle.h), for
 *                        the problems in memory
 *   bw:{alerts}:done:KEY "s" -> the same, for a problem resolved longer than
 *                        the keep time: out of memory until a signal names it
 *   bw:{alerts}:active   key -> the last EarlyWarning sent of a firing alert,
 *                        or the signal a pending one will fire with, as JSON
 *   bw:{alerts}:applied  partition -> offset of the last signal applied
 *   bw:{alerts}:outbox   "key|alert_id|version" -> "<partition>;<EarlyWarning>"
 *                        to send
 * Signals are keyed by alert key, so one alert lives on one partition.
 * A transactional outbox: the batch's new states and the warnings they
 * send are written together (window engine, fenced) before anything is
 * sent; the warnings are then sent, and leave the outbox once delivered.
 * Redis down: nothing is sent until it is back. A crash: whatever is in
 * the outbox is sent again on restart (same id and version), and a signal
 * at or below "applied" is not applied again.
 */
#include "alert.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "bw_json.h"
#include "bw_log.h"
#include "bw_redact.h"
#include "bw_util.h"
#include "bw_window.h"

#define TAG "alerts"
#define MAX_PARTITIONS 1024

static const char *const SEVERITIES[3] = {"INFO", "WARNING", "CRITICAL"};

static const bw_metric_decl_t M_ACTIVE = {
    BW_METRIC_GAUGE, "alerts_active", "Alerts firing now, by type and severity", "type,severity"};
static const bw_metric_decl_t M_SENT = {BW_METRIC_COUNTER, "alerts_sent_total",
                                        "EarlyWarnings sent, by kind (firing, update, resolved)",
                                        "kind"};
static const bw_metric_decl_t M_ROLLED = {BW_METRIC_COUNTER, "alerts_rolled_up_total",
                                          "Signals rolled up into an alert without a send", ""};
static const bw_metric_decl_t M_TRACKED = {
    BW_METRIC_GAUGE, "alerts_problems_in_memory",
    "Problems whose state bw-alert holds in memory (firing, pending, or resolved within the keep "
    "time)",
    ""};
static const bw_metric_decl_t M_RECALLED = {
    BW_METRIC_COUNTER, "alerts_recalled_total",
    "Problems evicted from memory that a later signal brought back from Redis", ""};
static const bw_metric_decl_t M_REDACTED = {
    BW_METRIC_COUNTER, "alerts_redacted_total",
    "Strings of EarlyWarnings whose e-mail addresses or phone numbers were replaced", ""};

typedef struct {
    json_t *sig; /* the signal as JSON */
    char *key; /* type|scope */
    char *scope; /* canonical scope: set fields only, sorted keys */
    int32_t partition;
    int64_t offset;
} queued_t;

struct alert_s {
    alert_cfg_t cfg;
    bw_redis_t *redis;
    bw_win_t *win;
    const bw_schema_t *sig_s, *ew_s;
    bw_record_t *ew;
    queued_t *q;
    size_t nq, capq;
    json_t *cache; /* key -> {"p": partition, "s": lifecycle, "ew": EarlyWarning|null (of a firing
                      alert), "off": n, "dirty": b, "gone": b (to evict), "recalled": b} */
    bool owned[MAX_PARTITIONS], loaded[MAX_PARTITIONS];
    int64_t applied[MAX_PARTITIONS];
    int64_t wm; /* the latest signal time seen */
    pthread_mutex_t lock; /* guards snapshot */
    json_t *snapshot; /* the active alerts, for /alerts (a copy: no sharing across threads) */
    json_t *gauge_seen; /* "type\x1fseverity" of every gauge series set so far */
    json_t *outbox; /* [{"f": outbox field, "k": key, "p": partition, "ew": warning}] to write and
                       send */
    json_t *inflight; /* sent, not yet known delivered: sent again if no delivery comes */
    bw_metrics_t *reg;
    bw_redactor_t *rd; /* NULL: personal data kept (alert.redact false) */
    bw_metric_t *m_firing, *m_update, *m_resolved, *m_rolled, *m_redacted, *m_tracked, *m_recalled;
};

alert_t *alert_new(const alert_cfg_t *cfg, bw_serde_t *sd, bw_redis_t *redis, bw_metrics_t *reg,
                   char *errstr, size_t errstr_size) {
    alert_t *al = calloc(1, sizeof(*al));

    if (!al) {
        bw_errstr_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    al->cfg = *cfg;
    al->redis = redis;
    al->wm = INT64_MIN;
    pthread_mutex_init(&al->lock, NULL);
    for (int p = 0; p < MAX_PARTITIONS; p++)
        al->applied[p] = -1;
    if (!(al->sig_s = bw_serde_schema(sd, "Signal")) ||
        !(al->ew_s = bw_serde_schema(sd, "EarlyWarning"))) {
        bw_errstr_set(errstr, errstr_size, "Signal or EarlyWarning schema missing");
        goto err;
    }
    if (!(al->ew = bw_record_new(al->ew_s)) || !(al->cache = json_object()) ||
        !(al->snapshot = json_array()) || !(al->gauge_seen = json_object()) ||
        !(al->outbox = json_array()) || !(al->inflight = json_array()) ||
        !(al->win = bw_win_new(redis, reg, errstr, errstr_size)))
        goto err;
    if (cfg->redact && !(al->rd = bw_redactor_new(errstr, errstr_size)))
        goto err;
    if (reg) {
        al->reg = reg;
        al->m_firing = bw_metrics_get(reg, &M_SENT, "firing");
        al->m_update = bw_metrics_get(reg, &M_SENT, "update");
        al->m_resolved = bw_metrics_get(reg, &M_SENT, "resolved");
        al->m_rolled = bw_metrics_get(reg, &M_ROLLED, NULL);
        al->m_redacted = bw_metrics_get(reg, &M_REDACTED, NULL);
        al->m_tracked = bw_metrics_get(reg, &M_TRACKED, NULL);
        al->m_recalled = bw_metrics_get(reg, &M_RECALLED, NULL);
    }
    return al;
err:
    alert_destroy(al);
    return NULL;
}

static void clear_queue(alert_t *al) {
    for (size_t i = 0; i < al->nq; i++) {
        json_decref(al->q[i].sig);
        free(al->q[i].key);
        free(al->q[i].scope);
    }
    al->nq = 0;
}

void alert_destroy(alert_t *al) {
    if (!al)
        return;
    clear_queue(al);
    free(al->q);
    json_decref(al->cache);
    json_decref(al->snapshot);
    json_decref(al->gauge_seen);
    json_decref(al->outbox);
    json_decref(al->inflight);
    bw_record_destroy(al->ew);
    bw_win_destroy(al->win);
    bw_redactor_destroy(al->rd);
    pthread_mutex_destroy(&al->lock);
    free(al);
}

/* ---- signals in ---- */

/* A timestamp field of a record as JSON: RFC 3339 text (how bw_json
 * writes timestamp-millis) or milliseconds. */
static int64_t json_time(const json_t *v) {
    int64_t ms = 0;

    if (json_is_integer(v))
        return json_integer_value(v);
    if (json_is_string(v) && bw_ts_parse(json_string_value(v), &ms))
        return ms;
    return 0;
}

static bool grow_queue(alert_t *al) {
    queued_t *n;
    size_t ncap;

    if (al->nq < al->capq)
        return true;
    ncap = al->capq ? al->capq * 2 : 64;
    if (!(n = realloc(al->q, ncap * sizeof(*n))))
        return false;
    al->q = n;
    al->capq = ncap;
    return true;
}

/* "TYPE|{canonical scope}": the alert key. */
static char *alert_key(const char *type, const char *scope_text) {
    bw_buf_t b = {0};

    if (!bw_buf_printf(&b, "%s|%s", type, scope_text)) {
        bw_buf_free(&b);
        return NULL;
    }
    return b.data;
}

bool alert_add(alert_t *al, bw_record_t *signal, int32_t partition, int64_t offset, char *reason,
               size_t reason_size) {
    json_t *j = bw_avro_to_json(al->sig_s, &signal->value), *scope, *v;
    const char *k;
    bool any = false;
    char *key;

    if (!j) {
        bw_errstr_set(reason, reason_size, "signal: cannot read");
        return false;
    }
    if (partition < 0 || partition >= MAX_PARTITIONS) {
        bw_errstr_set(reason, reason_size, "partition %d: beyond %d", (int)partition,
                      MAX_PARTITIONS);
        json_decref(j);
        return false;
    }
    /* a scope names something: all-null is not an alert anyone can act on */
    scope = json_object_get(j, "scope");
    json_object_foreach(scope, k, v) any |= !json_is_null(v);
    if (!any) {
        bw_errstr_set(reason, reason_size, "scope: empty (no store, SKU, carrier or lane)");
        json_decref(j);
        return false;
    }
    if (offset <= al->applied[partition]) { /* applied before a restart */
        json_decref(j);
        return true;
    }
    /* drop nulls so that the same scope always reads the same */
    json_t *canon = json_object();
    json_object_foreach(scope, k, v) if (!json_is_null(v)) json_object_set(canon, k, v);
    char *ctext = json_dumps(canon, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(canon);
    key = ctext ? alert_key(json_string_value(json_object_get(j, "type")), ctext) : NULL;
    if (!key || !grow_queue(al)) {
        free(key);
        free(ctext);
        json_decref(j);
        bw_errstr_set(reason, reason_size, "out of memory");
        return false;
    }
    al->q[al->nq++] = (queued_t){j, key, ctext, partition, offset};
    return true;
}

/* ---- loading ---- */

/* The states of the owned partitions not loaded yet, and their offsets. */
static bw_err_t load_owned(alert_t *al, char *errstr, size_t errstr_size) {
    const char *argv[4][2] = {{"HGETALL", "bw:{" TAG "}:state"},
                              {"HGETALL", "bw:{" TAG "}:active"},
                              {"HGETALL", "bw:{" TAG "}:applied"},
                              {"HGETALL", "bw:{" TAG "}:outbox"}};
    bw_redis_pipe_t pipe = {0};
    redisReply **r = NULL;
    bool need = false;
    bw_err_t err;

    for (int p = 0; p < MAX_PARTITIONS; p++)
        need |= al->owned[p] && !al->loaded[p];
    if (!need)
        return BW_ERR_OK;
    for (int i = 0; i < 4; i++)
        if (bw_redis_pipe_add(&pipe, 2, argv[i], NULL)) {
            bw_redis_pipe_free(&pipe);
            return BW_ERR_NOMEM;
        }
    if ((err = bw_redis_pipe_run(al->redis, &pipe, &r, errstr, errstr_size)))
        goto out;
    for (size_t i = 0; r[2]->type == REDIS_REPLY_ARRAY && i + 1 < r[2]->elements; i += 2) {
        int64_t p, off;
        if (bw_parse_i64(r[2]->element[i]->str, &p) && p >= 0 && p < MAX_PARTITIONS &&
            al->owned[p] && !al->loaded[p] && bw_parse_i64(r[2]->element[i + 1]->str, &off))
            al->applied[p] = off;
    }
    for (size_t i = 0; r[0]->type == REDIS_REPLY_ARRAY && i + 1 < r[0]->elements; i += 2) {
        const char *key = r[0]->element[i]->str, *val = r[0]->element[i + 1]->str, *semi;
        int64_t p;
        al_t a;
        json_t *ew = NULL;
        char pbuf[16];
        if (!(semi = strchr(val, ';')) || (size_t)(semi - val) >= sizeof(pbuf))
            continue;
        memcpy(pbuf, val, (size_t)(semi - val));
        pbuf[semi - val] = '\0';
        if (!bw_parse_i64(pbuf, &p) || p < 0 || p >= MAX_PARTITIONS || !al->owned[p] ||
            al->loaded[p] || !al_decode(semi + 1, &a)) {
            continue;
        }
        for (size_t k = 0; r[1]->type == REDIS_REPLY_ARRAY && k + 1 < r[1]->elements; k += 2)
            if (!strcmp(r[1]->element[k]->str, key)) {
                ew = json_loads(r[1]->element[k + 1]->str, 0, NULL);
                break;
            }
        json_object_set_new(al->cache, key,
                            json_pack("{s:I, s:s, s:o, s:I, s:b}", "p", (json_int_t)p, "s",
                                      semi + 1, "ew", ew ? ew : json_null(), "off", (json_int_t)-1,
                                      "dirty", 0));
        if (a.last_seen > al->wm)
            al->wm = a.last_seen;
    }
    /* written, maybe never sent (a crash): send them again */
    for (size_t i = 0; r[3]->type == REDIS_REPLY_ARRAY && i + 1 < r[3]->elements; i += 2) {
        const char *field = r[3]->element[i]->str, *val = r[3]->element[i + 1]->str, *semi;
        char pbuf[16], *key = NULL, *bar;
        int64_t p;
        json_t *ew;
        if (!(semi = strchr(val, ';')) || (size_t)(semi - val) >= sizeof(pbuf))
            continue;
        memcpy(pbuf, val, (size_t)(semi - val));
        pbuf[semi - val] = '\0';
        if (!bw_parse_i64(pbuf, &p) || p < 0 || p >= MAX_PARTITIONS || !al->owned[p] ||
            al->loaded[p] || !(ew = json_loads(semi + 1, 0, NULL)))
            continue;
        /* "key|alert id|version" (before: "key|version"); a key ends in
         * its scope's '}', never in an id's 16 hex digits */
        if ((key = strdup(field)) && (bar = strrchr(key, '|'))) {
            *bar = '\0';
            if ((bar = strrchr(key, '|')) && strlen(bar + 1) == 16 &&
                strspn(bar + 1, "0123456789abcdef") == 16)
                *bar = '\0';
        }
        json_array_append_new(al->inflight,
                              json_pack("{s:s, s:s, s:I, s:o}", "f", field, "k", key ? key : field,
                                        "p", (json_int_t)p, "ew", ew));
        free(key);
    }
    for (int p = 0; p < MAX_PARTITIONS; p++)
        if (al->owned[p])
            al->loaded[p] = true;
out:
    bw_redis_replies_free(r, 4);
    bw_redis_pipe_free(&pipe);
    return err;
}

/* "done:KEY": where an evicted problem's state waits in Redis. */
static bool done_name(bw_buf_t *b, const char *key) {
    bw_buf_reset(b);
    return bw_buf_printf(b, "done:%s", key);
}

/* The problems of this batch's signals that the clock evicted from memory
 * (resolved for longer than the keep time): their states come back from
 * Redis, so that a late signal reopens its episode however far the clock
 * has run, and eviction changes nothing but memory. A recalled state
 * moves back to "state" in this batch's write: each problem lives in one
 * place. */
static bw_err_t recall_evicted(alert_t *al, char *errstr, size_t errstr_size) {
    bw_redis_pipe_t pipe = {0};
    redisReply **r = NULL;
    bw_buf_t name = {0}, key = {0};
    json_t *asked = json_array(), *seen = json_object(), *k;
    size_t n = 0, i;
    bw_err_t err = BW_ERR_NOMEM;

    if (!asked || !seen)
        goto out;
    for (size_t q = 0; q < al->nq; q++) {
        const queued_t *s = &al->q[q];
        if (s->offset <= al->applied[s->partition] || json_object_get(al->cache, s->key) ||
            json_object_get(seen, s->key))
            continue;
        bw_buf_reset(&key);
        if (!done_name(&name, s->key) || !bw_win_key(&key, TAG, name.data) ||
            json_object_set_new(seen, s->key, json_true()) ||
            json_array_append_new(asked, json_string(s->key)))
            goto out;
        const char *argv[] = {"HGET", key.data, "s"};
        if (bw_redis_pipe_add(&pipe, 3, argv, NULL))
            goto out;
    }
    if (!(n = json_array_size(asked))) {
        err = BW_ERR_OK;
        goto out;
    }
    if ((err = bw_redis_pipe_run(al->redis, &pipe, &r, errstr, errstr_size)))
        goto out;
    json_array_foreach(asked, i, k) {
        const char *val = r[i]->type == REDIS_REPLY_STRING ? r[i]->str : NULL, *semi;
        int64_t p;
        al_t a;
        char pbuf[16];
        if (!val || !(semi = strchr(val, ';')) || (size_t)(semi - val) >= sizeof(pbuf))
            continue; /* never seen, or gone for good (state.ttl.days) */
        memcpy(pbuf, val, (size_t)(semi - val));
        pbuf[semi - val] = '\0';
        if (!bw_parse_i64(pbuf, &p) || p < 0 || p >= MAX_PARTITIONS || !al_decode(semi + 1, &a))
            continue;
        if (json_object_set_new(al->cache, json_string_value(k),
                                json_pack("{s:I, s:s, s:n, s:I, s:b, s:b}", "p", (json_int_t)p, "s",
                                          semi + 1, "ew", "off", (json_int_t)-1, "dirty", 1,
                                          "recalled", 1))) {
            err = BW_ERR_NOMEM;
            goto out;
        }
        bw_metric_inc(al->m_recalled);
    }
    err = BW_ERR_OK;
out:
    if (err == BW_ERR_NOMEM)
        bw_errstr_set(errstr, errstr_size, "out of memory");
    bw_redis_replies_free(r, n);
    bw_redis_pipe_free(&pipe);
    bw_buf_free(&name);
    bw_buf_free(&key);
    json_decref(asked);
    json_decref(seen);
    return err;
}

void alert_assigned(alert_t *al, int32_t p) {
    if (p >= 0 && p < MAX_PARTITIONS) {
        al->owned[p] = true;
        al->loaded[p] = false; /* loaded at the next batch */
    }
}

void alert_revoked(alert_t *al, int32_t p) {
    const char *key;
    json_t *e;
    void *tmp;

    if (p < 0 || p >= MAX_PARTITIONS)
        return;
    al->owned[p] = al->loaded[p] = false;
    al->applied[p] = -1;
    json_object_foreach_safe(al->cache, tmp, key, e) {
        if (json_integer_value(json_object_get(e, "p")) == p)
            json_object_del(al->cache, key);
    }
}

void alert_discard(alert_t *al) {
    clear_queue(al);
    bw_win_discard(al->win);
    json_array_clear(al->outbox);
    json_array_clear(al->inflight); /* the reload brings back what was not delivered */
    /* what the batch did to the states is undone by reloading them */
    json_object_clear(al->cache);
    for (int p = 0; p < MAX_PARTITIONS; p++) {
        al->loaded[p] = false;
        al->applied[p] = -1;
    }
}

/* ---- sending ---- */

static const char *summary_of(const json_t *ew, bw_buf_t *b) {
    const char *k;
    json_t *v;

    bw_buf_reset(b);
    bw_buf_printf(b, "%s %s %s:", json_string_value(json_object_get(ew, "severity")),
                  json_string_value(json_object_get(ew, "type")),
                  json_string_value(json_object_get(ew, "state")));
    json_object_foreach(json_object_get((json_t *)ew, "scope"), k, v) if (json_is_string(v))
        bw_buf_printf(b, " %s=%s", k, json_string_value(v));
    bw_buf_printf(b, " (observed %.3g, threshold %.3g, %lld occurrences)",
                  json_real_value(json_object_get(ew, "observed")) +
                      (double)json_integer_value(json_object_get(ew, "observed")),
                  json_real_value(json_object_get(ew, "threshold")) +
                      (double)json_integer_value(json_object_get(ew, "threshold")),
                  (long long)json_integer_value(json_object_get(ew, "occurrences")));
    return b->data;
}

/* A string of the warning with its e-mail addresses and phone numbers
 * replaced; one that cannot be searched is replaced whole. */
static bool redact_value(alert_t *al, json_t *v) {
    char *clean;
    int rc;

    if (!json_is_string(v))
        return true;
    rc = bw_redact(al->rd, json_string_value(v), json_string_length(v), &clean);
    if (rc == 0)
        return true;
    bw_metric_inc(al->m_redacted);
    rc = json_string_set(v, rc > 0 ? clean : "[redacted]");
    free(clean);
    return rc == 0;
}

/* What people read of a warning (scope, evidence, detail; the summary is
 * made from them) carries no personal data: a buyer's e-mail address or
 * phone number in an event id or a detail stays in the events. */
static bool redact(alert_t *al, json_t *ew) {
    const char *k;
    json_t *v;
    size_t i;
    bool ok = redact_value(al, json_object_get(ew, "detail"));

    json_object_foreach(json_object_get(ew, "scope"), k, v) ok = ok && redact_value(al, v);
    json_array_foreach(json_object_get(ew, "evidence"), i, v) ok = ok && redact_value(al, v);
    return ok;
}

/* Build the EarlyWarning from @p base (a signal or the last warning) and
 * the lifecycle, and put it in the outbox. */
static bw_err_t build(alert_t *al, const char *key, int32_t partition, json_t *base, const al_t *a,
                      al_send_t what, json_t **out) {
    bool resolved = what == AL_SEND_RESOLVED;
    json_t *ew = json_deep_copy(base);
    bw_buf_t sum = {0};
    char errstr[256];
    bw_err_t err;

    if (!ew)
        return BW_ERR_NOMEM;
    json_object_set_new(ew, "alert_id", json_string(a->alert_id));
    json_object_set_new(ew, "state", json_string(resolved ? "RESOLVED" : "FIRING"));
    json_object_set_new(ew, "severity", json_string(SEVERITIES[a->severity]));
    json_object_set_new(ew, "first_seen", json_integer(a->since));
    json_object_set_new(ew, "last_seen", json_integer(a->last_seen));
    json_object_set_new(ew, "occurrences", json_integer(a->occurrences));
    json_object_set_new(ew, "version", json_integer(a->version));
    json_object_set_new(ew, "updated_at", json_integer(bw_now_ms()));
    if (al->rd && !redact(al, ew)) {
        json_decref(ew);
        return BW_ERR_NOMEM;
    }
    json_object_set_new(ew, "summary", json_string(summary_of(ew, &sum)));
    bw_buf_free(&sum);
    if ((err = bw_json_to_avro(al->ew_s, ew, &al->ew->value, errstr, sizeof(errstr)))) {
        bw_log_rl(BW_LOG_ERROR, "alert %s not built: %s", a->alert_id, errstr);
        json_decref(ew);
        return err;
    }
    {
        bw_buf_t field = {0};
        /* a warning's own name: two of one problem can wait in the outbox
         * at once (an episode resolved and the next one's in one batch) */
        if (!bw_buf_printf(&field, "%s|%s|%lld", key, a->alert_id, (long long)a->version) ||
            json_array_append_new(al->outbox,
                                  json_pack("{s:s, s:s, s:I, s:O}", "f", field.data, "k", key, "p",
                                            (json_int_t)partition, "ew", ew))) {
            bw_buf_free(&field);
            json_decref(ew);
            return BW_ERR_NOMEM;
        }
        bw_buf_free(&field);
    }
    bw_metric_inc(resolved ? al->m_resolved : what == AL_SEND_FIRING ? al->m_firing : al->m_update);
    *out = ew;
    return BW_ERR_OK;
}

static bw_err_t apply_signal(alert_t *al, queued_t *q) {
    json_t *e = json_object_get(al->cache, q->key), *ew = NULL;
    const char *type = json_string_value(json_object_get(q->sig, "type"));
    const char *sev = json_string_value(json_object_get(q->sig, "severity"));
    const char *scope = q->scope;
    int severity = !strcmp(sev, "CRITICAL") ? 2 : !strcmp(sev, "WARNING") ? 1 : 0;
    int64_t at = json_time(json_object_get(q->sig, "last_seen"));
    char enc[256];
    al_t a = {0};
    al_send_t what;
    bw_err_t err = BW_ERR_OK;

    if (e && !al_decode(json_string_value(json_object_get(e, "s")), &a))
        memset(&a, 0, sizeof(a));
    /* clear for the hold time in its own event time, though the clock had
     * not got there: the episode is over before the next one opens */
    if (e && al_on_gap(&al->cfg.life, &a, at) == AL_SEND_RESOLVED &&
        json_is_object(json_object_get(e, "ew")) &&
        (err =
             build(al, q->key, q->partition, json_object_get(e, "ew"), &a, AL_SEND_RESOLVED, &ew)))
        return err;
    json_decref(ew); /* in the outbox; the new episode's warning replaces it */
    ew = NULL;
    what = al_on_signal(&al->cfg.life, &a, type, scope, severity,
                        json_time(json_object_get(q->sig, "window_start")), at);
    if (at > al->wm)
        al->wm = at;
    if (what == AL_SEND_FIRING || what == AL_SEND_UPDATE) {
        /* the signal's latest figures, with the episode's evidence kept */
        if ((err = build(al, q->key, q->partition, q->sig, &a, what, &ew)))
            return err;
    } else {
        bw_metric_inc(al->m_rolled);
    }
    if (!al_encode(&a, enc, sizeof(enc)))
        return BW_ERR_NOMEM;
    if (!e) {
        e = json_pack("{s:I, s:n}", "p", (json_int_t)q->partition, "ew");
        if (!e || json_object_set_new(al->cache, q->key, e))
            return BW_ERR_NOMEM;
    }
    json_object_set_new(e, "s", json_string(enc));
    json_object_set_new(e, "off", json_integer(q->offset));
    json_object_set_new(e, "dirty", json_true());
    if (ew)
        json_object_set_new(e, "ew", ew);
    else if (a.state == AL_PENDING)
        /* what the clock fires it with once it has held for alert.for.ms */
        json_object_set(e, "ew", q->sig);
    return BW_ERR_OK;
}

/* The clock: alerts clear for the hold time resolve, pending ones fire. */
static bw_err_t apply_clock(alert_t *al) {
    const char *key;
    json_t *e;
    bw_err_t err = BW_ERR_OK;

    json_object_foreach(al->cache, key, e) {
        al_t a;
        al_send_t what;
        json_t *ew = NULL;
        char enc[256];
        if (!al_decode(json_string_value(json_object_get(e, "s")), &a))
            continue;
        if (al_expired(&al->cfg.life, &a, al->wm) && !json_is_true(json_object_get(e, "gone"))) {
            json_object_set_new(e, "gone", json_true()); /* no reopening now: it goes */
            json_object_set_new(e, "dirty", json_true());
            continue;
        }
        what = al_on_clock(&al->cfg.life, &a, al->wm);
        if (what == AL_SEND_NONE)
            continue;
        if (what != AL_DROP && json_is_object(json_object_get(e, "ew")) &&
            (err = build(al, key, (int32_t)json_integer_value(json_object_get(e, "p")),
                         json_object_get(e, "ew"), &a, what, &ew)))
            return err;
        if (!al_encode(&a, enc, sizeof(enc)))
            return BW_ERR_NOMEM;
        json_object_set_new(e, "s", json_string(enc));
        json_object_set_new(e, "dirty", json_true());
        /* a resolved warning is in the outbox: memory keeps firing ones */
        json_object_set_new(e, "ew", a.state == AL_FIRING && ew ? ew : json_null());
        if (a.state != AL_FIRING)
            json_decref(ew);
    }
    return BW_ERR_OK;
}

/* The snapshot /alerts serves, and the gauges. */
static void publish(alert_t *al) {
    json_t *snap = json_array(), *e;
    const char *key;
    bw_metric_family_t *fam = al->reg ? bw_metrics_family(al->reg, &M_ACTIVE) : NULL;
    json_t *counts = json_object();

    json_object_foreach(al->cache, key, e) {
        al_t a;
        json_t *ew = json_object_get(e, "ew");
        if (!al_decode(json_string_value(json_object_get(e, "s")), &a) || a.state != AL_FIRING ||
            !json_is_object(ew))
            continue;
        json_array_append_new(snap, json_deep_copy(ew));
        char label[128];
        snprintf(label, sizeof(label), "%s\x1f%s", json_string_value(json_object_get(ew, "type")),
                 SEVERITIES[a.severity]);
        json_object_set_new(counts, label,
                            json_integer(json_integer_value(json_object_get(counts, label)) + 1));
    }
    pthread_mutex_lock(&al->lock);
    json_decref(al->snapshot);
    al->snapshot = snap;
    pthread_mutex_unlock(&al->lock);
    bw_metric_set(al->m_tracked, (double)json_object_size(al->cache));
    if (fam) {
        /* every series seen so far goes to its count now (0 when none) */
        json_t *v;
        json_object_foreach(counts, key, v) json_object_set(al->gauge_seen, key, json_true());
        json_object_foreach(al->gauge_seen, key, v) {
            char buf[128], *sep;
            snprintf(buf, sizeof(buf), "%s", key);
            if (!(sep = strchr(buf, '\x1f')))
                continue;
            *sep = '\0';
            const char *vals[2] = {buf, sep + 1};
            bw_metric_set(bw_metrics_child(fam, vals),
                          (double)json_integer_value(json_object_get(counts, key)));
        }
    }
    json_decref(counts);
}

/* Queue one changed problem's state: in "state" (with its warning in
 * "active" while it fires), or, evicted, in its own "done:" key. */
static bw_err_t queue_state(alert_t *al, const char *key, json_t *e, bw_buf_t *done) {
    al_t a;
    int64_t off = json_integer_value(json_object_get(e, "off")), ttl = al->cfg.ttl_s;
    int32_t p = (int32_t)json_integer_value(json_object_get(e, "p"));
    int32_t fence = off >= 0 ? p : BW_WIN_UNFENCED;
    bool gone = json_is_true(json_object_get(e, "gone"));
    bool recalled = json_is_true(json_object_get(e, "recalled"));
    char val[300], *ew = NULL;
    bw_err_t err;

    if (!al_decode(json_string_value(json_object_get(e, "s")), &a))
        return BW_ERR_OK;
    snprintf(val, sizeof(val), "%d;%s", (int)p, json_string_value(json_object_get(e, "s")));
    if ((gone || recalled) && !done_name(done, key))
        return BW_ERR_NOMEM;
    if (gone) {
        /* out of memory and "state", into a key of its own for
         * state.ttl.days, where a late signal of the episode finds it */
        if (!(err = bw_win_add(al->win, TAG, fence, off, BW_OP_HDEL, "state", key, 0, ttl)))
            err = bw_win_add_str(al->win, TAG, fence, off, done->data, "s", val, ttl);
    } else {
        err = recalled ? bw_win_add(al->win, TAG, fence, off, BW_OP_HDEL, done->data, "s", 0, ttl)
                       : BW_ERR_OK;
        if (!err)
            err = bw_win_add_str(al->win, TAG, fence, off, "state", key, val, ttl);
    }
    if (!err && a.state == AL_NONE) {
        err = bw_win_add(al->win, TAG, fence, off, BW_OP_HDEL, "active", key, 0, ttl);
    } else if (!err && json_is_object(json_object_get(e, "ew"))) { /* pending: none yet */
        if (!(ew = json_dumps(json_object_get(e, "ew"), JSON_COMPACT)))
            return BW_ERR_NOMEM;
        err = bw_win_add_str(al->win, TAG, fence, off, "active", key, ew, ttl);
        free(ew);
    }
    if (!err && off >= 0) {
        char part[16];
        snprintf(part, sizeof(part), "%d", (int)p);
        err = bw_win_add(al->win, TAG, p, off, BW_OP_MAX, "applied", part, off, ttl);
    }
    return err;
}

/* Queue the states the batch changed, and its outbox, for one write. */
static bw_err_t queue_writes(alert_t *al) {
    const char *key;
    json_t *e, *o;
    size_t i;
    bw_err_t err = BW_ERR_OK;
    bw_buf_t done = {0};

    json_object_foreach(al->cache, key, e) {
        if (json_is_true(json_object_get(e, "dirty")) && (err = queue_state(al, key, e, &done)))
            break;
    }
    bw_buf_free(&done);
    if (err)
        return err;
    json_array_foreach(al->outbox, i, o) {
        bw_buf_t val = {0};
        char *ew = json_dumps(json_object_get(o, "ew"), JSON_COMPACT);
        bool ok = ew && bw_buf_printf(&val, "%lld;%s",
                                      (long long)json_integer_value(json_object_get(o, "p")), ew);
        if (ok)
            err =
                bw_win_add_str(al->win, TAG, BW_WIN_UNFENCED, 0, "outbox",
                               json_string_value(json_object_get(o, "f")), val.data, al->cfg.ttl_s);
        free(ew);
        bw_buf_free(&val);
        if (!ok)
            return BW_ERR_NOMEM;
        if (err)
            return err;
    }
    return BW_ERR_OK;
}

/* Send the warnings of @p list. */
static bw_err_t send_all(alert_t *al, json_t *list, alert_emit_cb emit, void *opaque) {
    json_t *o;
    size_t i;
    char errstr[256];
    bw_err_t err;

    json_array_foreach(list, i, o) {
        if ((err = bw_json_to_avro(al->ew_s, json_object_get(o, "ew"), &al->ew->value, errstr,
                                   sizeof(errstr)))) {
            bw_log_rl(BW_LOG_ERROR, "alert not sent: %s", errstr);
            return err;
        }
        if ((err = emit(opaque, json_string_value(json_object_get(o, "k")), &al->ew->value)))
            return err;
    }
    return BW_ERR_OK;
}

bw_err_t alert_end_batch(alert_t *al, alert_emit_cb emit, void *opaque, char *errstr,
                         size_t errstr_size) {
    const char *key;
    json_t *e, *o;
    void *tmp;
    size_t i;
    bw_err_t err;

    if ((err = load_owned(al, errstr, errstr_size)) ||
        (err = recall_evicted(al, errstr, errstr_size)))
        goto fail;
    for (size_t k = 0; k < al->nq && !err; k++) {
        /* alert_add could not skip what was applied before a restart: a
         * partition's "applied" offset is loaded only now, with its states
         * (a replayed signal counted twice in occurrences: test_stage_crashes) */
        if (al->q[k].offset <= al->applied[al->q[k].partition])
            continue;
        err = apply_signal(al, &al->q[k]);
    }
    if (!err)
        err = apply_clock(al);
    if (!err)
        err = queue_writes(al);
    if (err) {
        bw_errstr_set(errstr, errstr_size, "alerts not built: %s", bw_err2str(err));
        goto fail;
    }
    /* states and outbox first: nothing is sent that Redis does not hold */
    if ((err = bw_win_flush(al->win, errstr, errstr_size)))
        goto fail;
    json_object_foreach_safe(al->cache, tmp, key, e) {
        int64_t off = json_integer_value(json_object_get(e, "off"));
        int32_t p = (int32_t)json_integer_value(json_object_get(e, "p"));
        if (off > al->applied[p])
            al->applied[p] = off;
        json_object_set_new(e, "dirty", json_false());
        json_object_set_new(e, "off", json_integer(-1));
        json_object_del(e, "recalled");
        if (json_is_true(json_object_get(e, "gone")))
            json_object_del(al->cache, key);
    }
    json_array_foreach(al->outbox, i, o) json_array_append(al->inflight, o);
    json_array_clear(al->outbox);
    clear_queue(al);
    publish(al);
    /* everything not yet known delivered: this batch's, and any earlier
     * that a failed delivery left behind (same ids and versions) */
    if ((err = send_all(al, al->inflight, emit, opaque)))
        bw_errstr_set(errstr, errstr_size, "alerts not sent: %s", bw_err2str(err));
    return err;
fail:
    alert_discard(al);
    return err;
}

bw_err_t alert_delivered(alert_t *al, char *errstr, size_t errstr_size) {
    json_t *o;
    size_t i;
    bw_err_t err = BW_ERR_OK;

    if (!json_array_size(al->inflight))
        return BW_ERR_OK;
    json_array_foreach(al->inflight, i, o) {
        if ((err = bw_win_add(al->win, TAG, BW_WIN_UNFENCED, 0, BW_OP_HDEL, "outbox",
                              json_string_value(json_object_get(o, "f")), 0, al->cfg.ttl_s)))
            break;
    }
    if (!err)
        err = bw_win_flush(al->win, errstr, errstr_size);
    if (err) {
        /* delivered all the same: only the outbox is late to empty (a
         * restart before it does sends these again, same versions) */
        bw_win_discard(al->win);
        bw_log_rl(BW_LOG_WARN, "outbox not emptied: %s", errstr);
        return BW_ERR_OK;
    }
    json_array_clear(al->inflight);
    return BW_ERR_OK;
}

/* ---- reading ---- */

char *alert_active_json(alert_t *al, const char *store, const char *type, const char *severity) {
    bw_buf_t out = {0};
    json_t *ew;
    size_t i;
    bool ok = bw_buf_append(&out, "[", 1), first = true;

    /* only reads under the lock: the snapshot is replaced, never changed */
    pthread_mutex_lock(&al->lock);
    json_array_foreach(al->snapshot, i, ew) {
        const char *s =
            json_string_value(json_object_get(json_object_get(ew, "scope"), "store_id"));
        char *text;
        if ((store && (!s || strcmp(s, store))) ||
            (type && strcmp(json_string_value(json_object_get(ew, "type")), type)) ||
            (severity && strcmp(json_string_value(json_object_get(ew, "severity")), severity)))
            continue;
        if (!(text = json_dumps(ew, JSON_COMPACT)))
            ok = false;
        ok =
            ok && (first || bw_buf_append(&out, ",", 1)) && bw_buf_append(&out, text, strlen(text));
        free(text);
        first = false;
    }
    pthread_mutex_unlock(&al->lock);
    if (!ok || !bw_buf_append(&out, "]", 1)) {
        bw_buf_free(&out);
        return NULL;
    }
    return out.data;
}

size_t alert_tracked_count(const alert_t *al) {
    return json_object_size(al->cache);
}

size_t alert_active_count(alert_t *al) {
    size_t n;
    pthread_mutex_lock(&al->lock);
    n = json_array_size(al->snapshot);
    pthread_mutex_unlock(&al->lock);
    return n;
}
