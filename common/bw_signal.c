/* Signals: building the record and key, and the fired marks (bw_signal.h). */
#include "bw_signal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bw_json.h"
#include "bw_log.h"

static const char *const SEVERITY[] = {"INFO", "WARNING", "CRITICAL"};

bw_err_t bw_signal_build(const bw_schema_t *schema, bw_record_t *rec, const bw_signal_t *s,
                         bw_buf_t *key, char *errstr, size_t errstr_size) {
    char id[17];
    char *scope_text = s->scope ? json_dumps(s->scope, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_t *ev = json_array(), *js = NULL;
    bw_err_t err = BW_ERR_NOMEM;
    int sev = s->severity < 0 ? 0 : s->severity > 2 ? 2 : s->severity;

    if (!scope_text || !ev)
        goto out;
    for (int k = 0; k < s->nevidence && k < 5; k++)
        if (json_array_append_new(ev, json_string(s->evidence[k])))
            goto out;
    bw_alert_id(id, s->type, scope_text, s->window_start);
    bw_buf_reset(key);
    if (!bw_buf_printf(key, "%s|%s", s->type, scope_text))
        goto out;
    js = json_pack("{s:s, s:s, s:s, s:s, s:O, s:I, s:I, s:f, s:o, s:f, s:I, s:O, s:s, s:s?, s:I, "
                   "s:I, s:I}",
                   "alert_id", id, "type", s->type, "severity", SEVERITY[sev], "state", "FIRING",
                   "scope", s->scope, "window_start", (json_int_t)s->window_start, "window_end",
                   (json_int_t)s->window_end, "observed", s->observed, "baseline",
                   isfinite(s->baseline) ? json_real(s->baseline) : json_null(), "threshold",
                   s->threshold, "sample_size", (json_int_t)s->sample, "evidence", ev, "playbook",
                   s->playbook, "detail", s->detail, "first_seen", (json_int_t)s->window_start,
                   "last_seen", (json_int_t)s->window_end, "occurrences", (json_int_t)1);
    if (!js)
        goto out;
    if ((err = bw_json_to_avro(schema, js, &rec->value, errstr, errstr_size)))
        bw_log(BW_LOG_ERROR, "%s signal not built: %s", s->type, errstr);
out:
    if (err == BW_ERR_NOMEM)
        bw_errstr_set(errstr, errstr_size, "out of memory");
    free(scope_text);
    json_decref(ev);
    json_decref(js);
    json_decref(s->scope);
    return err;
}

const char *bw_fired_field(char *buf, size_t size, const char *type, int64_t window) {
    snprintf(buf, size, "%s:%lld", type, (long long)window);
    return buf;
}

int64_t bw_fired_value(const redisReply *r) {
    int64_t v;

    if (!r || r->type != REDIS_REPLY_STRING || !bw_parse_i64(r->str, &v))
        return 0;
    return v;
}

bool bw_marks_add_op(bw_marks_t *m, const char *tag, const char *key, bw_op_t op, const char *field,
                     int64_t value) {
    bw_mark_t *k;

    if (m->n == m->cap) {
        size_t ncap = m->cap ? 2 * m->cap : 16;
        bw_mark_t *v = realloc(m->v, ncap * sizeof(*v));
        if (!v)
            return false;
        m->v = v;
        m->cap = ncap;
    }
    k = &m->v[m->n];
    k->tag = strdup(tag);
    k->key = strdup(key);
    k->field = strdup(field);
    k->op = op;
    k->value = value;
    if (!k->tag || !k->key || !k->field) {
        free(k->tag);
        free(k->key);
        free(k->field);
        return false;
    }
    m->n++;
    return true;
}

bool bw_marks_add(bw_marks_t *m, const char *tag, const char *field, int64_t value) {
    return bw_marks_add_op(m, tag, "fired", BW_OP_MAX, field, value);
}

bw_err_t bw_marks_write(bw_marks_t *m, bw_win_t *win, int64_t ttl_s, char *errstr,
                        size_t errstr_size) {
    bw_err_t err = BW_ERR_OK;

    for (size_t i = 0; i < m->n && !err; i++)
        err = bw_win_add(win, m->v[i].tag, BW_WIN_UNFENCED, 0, m->v[i].op, m->v[i].key,
                         m->v[i].field, m->v[i].value, ttl_s);
    if (!err && m->n)
        err = bw_win_flush(win, errstr, errstr_size);
    else if (err)
        bw_errstr_set(errstr, errstr_size, "out of memory");
    if (err)
        bw_win_discard(win);
    bw_marks_clear(m);
    return err;
}

void bw_marks_clear(bw_marks_t *m) {
    for (size_t i = 0; i < m->n; i++) {
        free(m->v[i].tag);
        free(m->v[i].key);
        free(m->v[i].field);
    }
    m->n = 0;
}

void bw_marks_free(bw_marks_t *m) {
    bw_marks_clear(m);
    free(m->v);
    m->v = NULL;
    m->cap = 0;
}
