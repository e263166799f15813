#include "stage.h"

#include <stdlib.h>
#include <string.h>

#include "bw_field.h"
#include "bw_log.h"
#include "bw_util.h"

const bw_metric_decl_t classify_metrics[CLASSIFY_M__CNT] = {
    [CLASSIFY_M_REVIEWS] = {BW_METRIC_COUNTER, "classify_reviews_total",
                            "Reviews classified, by language", "language"},
    [CLASSIFY_M_CAUSES] = {BW_METRIC_COUNTER, "classify_causes_total", "Root causes found",
                           "cause"},
    [CLASSIFY_M_TRUNC] = {BW_METRIC_COUNTER, "classify_truncated_total",
                          "Bodies cut to body.max.bytes", ""},
    [CLASSIFY_M_LIMIT] = {BW_METRIC_COUNTER, "classify_match_limit_total",
                          "Rule matches stopped by the match limit", ""},
    [CLASSIFY_M_RULES] = {BW_METRIC_GAUGE, "classify_rules", "Rules in the loaded pack", ""},
    [CLASSIFY_M_RELOAD] = {BW_METRIC_COUNTER, "classify_reloads_total", "Rule pack reloads",
                           "result"},
};
#define M_REVIEWS classify_metrics[CLASSIFY_M_REVIEWS]
#define M_CAUSES classify_metrics[CLASSIFY_M_CAUSES]
#define M_TRUNC classify_metrics[CLASSIFY_M_TRUNC]
#define M_LIMIT classify_metrics[CLASSIFY_M_LIMIT]
#define M_RULES classify_metrics[CLASSIFY_M_RULES]
#define M_RELOAD classify_metrics[CLASSIFY_M_RELOAD]

static int field(const bw_schema_t *s, const char *name, char *errstr, size_t errstr_size) {
    int i = bw_snode_field_index(s->root, name);

    if (i < 0)
        bw_errstr_set(errstr, errstr_size, "schema %s has no field %s", s->name, name);
    return i;
}

/* ClassifiedReview's fields after ReviewEvent's, as a record of their own:
 * Avro writes a record as its fields one after another, so an input's
 * bytes followed by this record's are the output's encoding. */
static int tail_init(classify_t *c) {
    avro_schema_t out = c->out_schema->avro;
    size_t n = avro_schema_record_size(out);

    if (!(c->tail_schema = avro_schema_record("ClassifiedReviewFindings", "bw")))
        return -1;
    for (size_t i = (size_t)c->n_shared; i < n; i++)
        if (avro_schema_record_field_append(c->tail_schema,
                                            avro_schema_record_field_name(out, (int)i),
                                            avro_schema_record_field_get_by_index(out, (int)i)))
            return -1;
    if (!(c->tail_iface = avro_generic_class_from_schema(c->tail_schema)) ||
        avro_generic_value_new(c->tail_iface, &c->tail))
        return -1;
    c->have_tail = true;
    return 0;
}

bw_err_t classify_init(classify_t *c, bw_serde_t *sd, const char *rules_dir, size_t body_max,
                       bw_metrics_t *reg, char *errstr, size_t errstr_size) {
    memset(c, 0, sizeof(*c));
    c->sd = sd;
    c->body_max = body_max;
    c->reg = reg;
    if (!(c->rules_dir = strdup(rules_dir)))
        return BW_ERR_NOMEM;
    if (!(c->in_schema = bw_serde_schema(sd, "ReviewEvent")) ||
        !(c->out_schema = bw_serde_schema(sd, "ClassifiedReview"))) {
        bw_errstr_set(errstr, errstr_size, "ReviewEvent or ClassifiedReview missing from schemas");
        return BW_ERR_SCHEMA;
    }
    /* ClassifiedReview starts with the ReviewEvent fields, in order. */
    c->n_shared = (int)c->in_schema->root->n;
    for (int i = 0; i < c->n_shared; i++)
        if ((size_t)i >= c->out_schema->root->n ||
            strcmp(c->in_schema->root->fields[i].name, c->out_schema->root->fields[i].name)) {
            bw_errstr_set(errstr, errstr_size,
                          "ClassifiedReview must start with ReviewEvent's fields in order");
            return BW_ERR_SCHEMA;
        }
#define IN_(var, name)                                                 \
    if ((c->var = field(c->in_schema, name, errstr, errstr_size)) < 0) \
        return BW_ERR_SCHEMA;
#define OUT_(var, name)                                                 \
    if ((c->var = field(c->out_schema, name, errstr, errstr_size)) < 0) \
        return BW_ERR_SCHEMA;
    IN_(f_title, "title")
    IN_(f_body, "body")
    IN_(f_language, "language")
    IN_(f_kind, "kind")
    IN_(f_rating, "rating")
    IN_(f_fulfilled, "fulfilled_by_platform")
    IN_(f_occurred, "occurred_at")
    OUT_(o_causes, "causes")
    OUT_(o_primary, "primary_cause")
    OUT_(o_sentiment, "sentiment")
    OUT_(o_severity, "severity")
    OUT_(o_removable, "removable")
    OUT_(o_policy, "policy_flags")
    OUT_(o_due, "response_due_at")
    OUT_(o_rules, "rules")
    OUT_(o_lang, "detected_language")
    OUT_(o_truncated, "body_truncated")
    OUT_(o_classified_at, "classified_at")
#undef IN_
#undef OUT_
    if (!(c->out = bw_record_new(c->out_schema)) || !(c->cl = bw_classifier_new()) || tail_init(c))
        return BW_ERR_NOMEM;
    if (!(c->pack = bw_pack_load(rules_dir, errstr, errstr_size)))
        return BW_ERR_CONFIG;
    if (reg) {
        c->m_truncated = bw_metrics_get(reg, &M_TRUNC, NULL);
        c->m_limit_hits = bw_metrics_get(reg, &M_LIMIT, NULL);
        c->m_rules = bw_metrics_get(reg, &M_RULES, NULL);
        c->m_reload_ok = bw_metrics_get(reg, &M_RELOAD, "ok");
        c->m_reload_err = bw_metrics_get(reg, &M_RELOAD, "error");
        for (int i = 0; i < BW_CAUSE_CNT; i++)
            c->m_causes[i] = bw_metrics_get(reg, &M_CAUSES, bw_target_name((bw_target_t)i));
        bw_metric_set(c->m_rules, (double)bw_pack_rule_count(c->pack));
    }
    return BW_ERR_OK;
}

void classify_fini(classify_t *c) {
    if (c->have_tail)
        avro_value_decref(&c->tail);
    if (c->tail_iface)
        avro_value_iface_decref(c->tail_iface);
    if (c->tail_schema)
        avro_schema_decref(c->tail_schema);
    bw_buf_free(&c->wire);
    bw_pack_destroy(c->pack);
    bw_classifier_destroy(c->cl);
    bw_record_destroy(c->out);
    bw_buf_free(&c->tmp);
    free(c->rules_dir);
    memset(c, 0, sizeof(*c));
}

bw_err_t classify_reload(void *opaque) {
    classify_t *c = opaque;
    char errstr[1024];
    bw_pack_t *pack = bw_pack_load(c->rules_dir, errstr, sizeof(errstr));

    if (!pack) {
        bw_metric_inc(c->m_reload_err);
        bw_log(BW_LOG_ERROR, "rule pack not reloaded, keeping the old one: %s", errstr);
        return BW_ERR_CONFIG;
    }
    /* Single-threaded stage: nothing else holds the old pack now. */
    bw_pack_destroy(c->pack);
    c->pack = pack;
    bw_metric_inc(c->m_reload_ok);
    bw_metric_set(c->m_rules, (double)bw_pack_rule_count(pack));
    bw_log(BW_LOG_INFO, "rule pack reloaded: %zu rules", bw_pack_rule_count(pack));
    return BW_ERR_OK;
}

/* Largest prefix of at most max bytes that ends on a character boundary. */
static size_t utf8_cut(const char *s, size_t len, size_t max) {
    if (len <= max)
        return len;
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
        max--;
    return max;
}

static bw_err_t read_review(classify_t *c, avro_value_t *review, bw_review_in_t *in,
                            int64_t *occurred_at, char *lang_buf, size_t lang_size) {
    avro_value_t f, b;
    int enum_val = 0, bval = 0;
    int32_t rating = 0;

    memset(in, 0, sizeof(*in));
    in->fulfilled_by_platform = -1;
    if (bw_field_opt(review, c->f_title, &b))
        bw_field_string_of(&b, &in->title, &in->title_len);
    if (avro_value_get_by_index(review, (size_t)c->f_body, &f, NULL))
        return BW_ERR_SCHEMA;
    bw_field_string_of(&f, &in->body, &in->body_len);
    if (bw_field_opt(review, c->f_language, &b)) {
        const char *s;
        size_t n;
        bw_field_string_of(&b, &s, &n);
        snprintf(lang_buf, lang_size, "%.*s", (int)n, s);
        in->language = lang_buf;
    }
    if (avro_value_get_by_index(review, (size_t)c->f_kind, &f, NULL) ||
        avro_value_get_enum(&f, &enum_val))
        return BW_ERR_SCHEMA;
    in->kind = (bw_kind_t)enum_val;
    if (bw_field_opt(review, c->f_rating, &b) && !avro_value_get_int(&b, &rating))
        in->rating = rating;
    if (bw_field_opt(review, c->f_fulfilled, &b) && !avro_value_get_boolean(&b, &bval))
        in->fulfilled_by_platform = bval ? 1 : 0;
    if (avro_value_get_by_index(review, (size_t)c->f_occurred, &f, NULL) ||
        avro_value_get_long(&f, occurred_at))
        return BW_ERR_SCHEMA;
    return BW_ERR_OK;
}

static int set_opt_enum(avro_value_t *rec, int idx, int val) {
    avro_value_t f, b;

    if (avro_value_get_by_index(rec, (size_t)idx, &f, NULL))
        return -1;
    if (val < 0)
        return avro_value_set_branch(&f, 0, &b) || avro_value_set_null(&b);
    return avro_value_set_branch(&f, 1, &b) || avro_value_set_enum(&b, val);
}

/* The findings into out: a ClassifiedReview (shift 0) or its findings
 * alone (shift: the fields before them). */
static int write_findings(classify_t *c, avro_value_t *out, int shift, const bw_review_out_t *res,
                          int64_t occurred_at, bool truncated) {
    avro_value_t f, item, b;
    int rc = 0;

    rc |= avro_value_get_by_index(out, (size_t)(c->o_causes - shift), &f, NULL);
    for (int i = 0; i < BW_CAUSE_CNT && !rc; i++)
        if (res->causes[i])
            rc |= avro_value_append(&f, &item, NULL) || avro_value_set_enum(&item, i);
    rc |= set_opt_enum(out, c->o_primary - shift, res->primary);
    rc |= avro_value_get_by_index(out, (size_t)(c->o_sentiment - shift), &f, NULL) ||
          avro_value_set_double(&f, res->sentiment);
    rc |= avro_value_get_by_index(out, (size_t)(c->o_severity - shift), &f, NULL) ||
          avro_value_set_enum(&f, (int)res->severity);
    rc |= set_opt_enum(out, c->o_removable - shift, (int)res->removable);
    rc |= avro_value_get_by_index(out, (size_t)(c->o_policy - shift), &f, NULL);
    if (res->policy_ask_change)
        rc |= avro_value_append(&f, &item, NULL) || avro_value_set_enum(&item, 0);
    if (res->policy_incentive)
        rc |= avro_value_append(&f, &item, NULL) || avro_value_set_enum(&item, 1);
    rc |= avro_value_get_by_index(out, (size_t)(c->o_due - shift), &f, NULL);
    if (res->needs_response)
        rc |= avro_value_set_branch(&f, 1, &b) ||
              avro_value_set_long(&b, occurred_at + CLASSIFY_RESPONSE_MS);
    else
        rc |= avro_value_set_branch(&f, 0, &b) || avro_value_set_null(&b);
    rc |= avro_value_get_by_index(out, (size_t)(c->o_rules - shift), &f, NULL);
    for (int i = 0; i < res->nmatches && !rc; i++)
        rc |= avro_value_append(&f, &item, NULL) ||
              avro_value_set_string(&item, res->matches[i].rule_id);
    rc |= avro_value_get_by_index(out, (size_t)(c->o_lang - shift), &f, NULL) ||
          avro_value_set_string(&f, bw_lang_code(res->language));
    rc |= avro_value_get_by_index(out, (size_t)(c->o_truncated - shift), &f, NULL) ||
          avro_value_set_boolean(&f, truncated);
    rc |= avro_value_get_by_index(out, (size_t)(c->o_classified_at - shift), &f, NULL) ||
          avro_value_set_long(&f, c->fixed_now ? c->fixed_now : bw_now_ms());
    return rc;
}

/* Read and classify one review; *truncated when its body was cut. */
static bw_err_t classify_in(classify_t *c, avro_value_t *review, bw_review_out_t *res,
                            int64_t *occurred_at, bool *truncated, char *errstr,
                            size_t errstr_size) {
    bw_review_in_t in;
    char lang[16];
    bw_err_t err;

    if ((err = read_review(c, review, &in, occurred_at, lang, sizeof(lang)))) {
        bw_errstr_set(errstr, errstr_size, "not a ReviewEvent value");
        return err;
    }
    /* A huge body is cut (at a character boundary) and flagged, so that no
     * input makes classification or the output record unbounded. */
    *truncated = in.body_len > c->body_max;
    if (*truncated) {
        in.body_len = utf8_cut(in.body, in.body_len, c->body_max);
        bw_metric_inc(c->m_truncated);
    }
    bw_classify(c->cl, c->pack, &in, res);
    if (c->reg) {
        bw_metric_inc(bw_metrics_get(c->reg, &M_REVIEWS, bw_lang_code(res->language)));
        for (int i = 0; i < BW_CAUSE_CNT; i++)
            if (res->causes[i])
                bw_metric_inc(c->m_causes[i]);
        if (res->limit_hits)
            bw_metric_add(c->m_limit_hits, res->limit_hits);
    }
    return BW_ERR_OK;
}

/* c->out: the review's fields, the body cut to what was classified, and
 * the findings. */
static bw_err_t fill_out(classify_t *c, avro_value_t *review, const bw_review_out_t *res,
                         int64_t occurred_at, bool truncated, char *errstr, size_t errstr_size) {
    avro_value_t *out = &c->out->value;

    if (avro_value_reset(out))
        goto avro_err;
    for (int i = 0; i < c->n_shared; i++) {
        avro_value_t src, dst;
        if (avro_value_get_by_index(review, (size_t)i, &src, NULL) ||
            avro_value_get_by_index(out, (size_t)i, &dst, NULL) || avro_value_copy(&dst, &src))
            goto avro_err;
    }
    if (truncated) {
        avro_value_t f;
        const char *body;
        size_t len;
        if (avro_value_get_by_index(out, (size_t)c->f_body, &f, NULL) ||
            avro_value_get_string(&f, &body, &len))
            goto avro_err;
        len = utf8_cut(body, len ? len - 1 : 0, c->body_max);
        bw_buf_reset(&c->tmp);
        if (!bw_buf_append(&c->tmp, body, len))
            return BW_ERR_NOMEM;
        if (avro_value_set_string_len(&f, c->tmp.data, c->tmp.len + 1))
            goto avro_err;
    }
    if (write_findings(c, out, 0, res, occurred_at, truncated))
        goto avro_err;
    return BW_ERR_OK;
avro_err:
    bw_errstr_set(errstr, errstr_size, "Avro C: %s", avro_strerror());
    return BW_ERR_SCHEMA;
}

bw_err_t classify_record(classify_t *c, avro_value_t *review, bw_review_out_t *res, char *errstr,
                         size_t errstr_size) {
    int64_t occurred_at = 0;
    bool truncated;
    bw_err_t err;

    if ((err = classify_in(c, review, res, &occurred_at, &truncated, errstr, errstr_size)))
        return err;
    return fill_out(c, review, res, occurred_at, truncated, errstr, errstr_size);
}

bw_err_t classify_wire(classify_t *c, const bw_record_t *rec, const void *wire, size_t len,
                       bw_review_out_t *res, char *errstr, size_t errstr_size) {
    avro_value_t *review = (avro_value_t *)&rec->value;
    int64_t occurred_at = 0;
    bool truncated;
    bw_err_t err;

    if ((err = classify_in(c, review, res, &occurred_at, &truncated, errstr, errstr_size)))
        return err;
    /* The input's bytes are the output's leading fields only when they
     * were written with the very schema the output starts with and the
     * body goes out as it came in. */
    if (truncated || rec->schema != c->in_schema || len < BW_WIRE_HEADER) {
        if ((err = fill_out(c, review, res, occurred_at, truncated, errstr, errstr_size)))
            return err;
        return bw_serde_encode(c->sd, c->out_schema, &c->out->value, &c->wire, errstr, errstr_size);
    }
    if (avro_value_reset(&c->tail) ||
        write_findings(c, &c->tail, c->n_shared, res, occurred_at, false)) {
        bw_errstr_set(errstr, errstr_size, "Avro C: %s", avro_strerror());
        return BW_ERR_SCHEMA;
    }
    return bw_serde_encode_parts(c->sd, c->out_schema, (const char *)wire + BW_WIRE_HEADER,
                                 len - BW_WIRE_HEADER, &c->tail, &c->wire, errstr, errstr_size);
}

json_t *classify_explain(const classify_t *c, const bw_review_out_t *res, avro_value_t *review) {
    json_t *arr = json_array();
    bw_review_in_t in;
    int64_t occurred_at;
    char lang[16];
    bw_buf_t text = {0};

    if (!arr || read_review((classify_t *)c, review, &in, &occurred_at, lang, sizeof(lang)))
        return arr;
    /* the same text the classifier saw: title, a newline, the body */
    if (in.title && in.title_len) {
        bw_buf_append(&text, in.title, in.title_len);
        bw_buf_append(&text, "\n", 1);
    }
    bw_buf_append(&text, in.body, in.body_len < c->body_max ? in.body_len : c->body_max);
    for (int i = 0; i < res->nmatches; i++) {
        const bw_match_t *m = &res->matches[i];
        json_t *span =
            m->end <= text.len ? json_stringn(text.data + m->start, m->end - m->start) : NULL;
        json_array_append_new(arr, json_pack("{s:s, s:s, s:I, s:I, s:o}", "rule", m->rule_id,
                                             "cause", bw_target_name(m->target), "start",
                                             (json_int_t)m->start, "end", (json_int_t)m->end,
                                             "text", span ? span : json_null()));
    }
    bw_buf_free(&text);
    return arr;
}
