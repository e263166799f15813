#include "stage.h"

#include <stdlib.h>
#include <string.h>

#include "bw_avro_check.h"
#include "bw_avro_put.h"
#include "bw_json.h"
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

/* Whether ClassifiedReview's field i is one the stage writes. */
static bool is_finding(const classify_t *c, int i) {
    return i == c->o_causes || i == c->o_primary || i == c->o_sentiment || i == c->o_severity ||
           i == c->o_removable || i == c->o_policy || i == c->o_due || i == c->o_rules ||
           i == c->o_lang || i == c->o_truncated || i == c->o_classified_at;
}

/* Fields of a later ClassifiedReview this stage does not know are written
 * at their defaults: one without a default cannot be written at all. */
static bool unknown_have_defaults(const classify_t *c, char *errstr, size_t errstr_size) {
    const bw_snode_t *root = c->out_schema->root;

    for (size_t i = (size_t)c->n_shared; i < root->n; i++)
        if (!is_finding(c, (int)i) && !root->fields[i].defval) {
            bw_errstr_set(errstr, errstr_size,
                          "ClassifiedReview field %s has no default, and bw-classify does not "
                          "write it",
                          root->fields[i].name);
            return false;
        }
    return true;
}

static bool is_enum(const bw_snode_t *t, size_t symbols) {
    return t->type == BW_T_ENUM && t->n >= symbols;
}

/* ["null", type] */
static bool is_optional(const bw_snode_t *t, bw_type_t type) {
    return t->type == BW_T_UNION && t->n == 2 && t->branches[0]->type == BW_T_NULL &&
           t->branches[1]->type == type;
}

/* Whether ClassifiedReview's fields after ReviewEvent's are those
 * write_tail writes, in its order and of the types it writes them as. A
 * schema that differs (schemas.dir names another version) has its
 * findings written by Avro C instead. */
static bool tail_is_known(const classify_t *c) {
    const bw_snode_t *root = c->out_schema->root;
    const int order[] = {c->o_causes,    c->o_primary,   c->o_sentiment,    c->o_severity,
                         c->o_removable, c->o_policy,    c->o_due,          c->o_rules,
                         c->o_lang,      c->o_truncated, c->o_classified_at};
    const size_t n = sizeof(order) / sizeof(order[0]);
    const bw_snode_t *t[sizeof(order) / sizeof(order[0])];

    if (root->n != (size_t)c->n_shared + n)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (order[i] != c->n_shared + (int)i)
            return false;
        t[i] = root->fields[order[i]].type;
    }
    return t[0]->type == BW_T_ARRAY && is_enum(t[0]->items, BW_CAUSE_CNT) &&
           is_optional(t[1], BW_T_ENUM) && t[1]->branches[1]->n >= BW_CAUSE_CNT &&
           t[2]->type == BW_T_DOUBLE && is_enum(t[3], BW_SEV_HIGH + 1) &&
           is_optional(t[4], BW_T_ENUM) && t[4]->branches[1]->n > BW_REMOVABLE_PERSONAL_DATA &&
           t[5]->type == BW_T_ARRAY && is_enum(t[5]->items, 2) && is_optional(t[6], BW_T_LONG) &&
           t[7]->type == BW_T_ARRAY && t[7]->items->type == BW_T_STRING &&
           t[8]->type == BW_T_STRING && t[9]->type == BW_T_BOOLEAN && t[10]->type == BW_T_LONG;
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
    /* ClassifiedReview starts with the ReviewEvent fields, in order and of
     * the same types: an input's bytes are the output's first fields. */
    c->n_shared = (int)c->in_schema->root->n;
    for (int i = 0; i < c->n_shared; i++)
        if ((size_t)i >= c->out_schema->root->n ||
            strcmp(c->in_schema->root->fields[i].name, c->out_schema->root->fields[i].name) ||
            !avro_schema_equal(avro_schema_record_field_get_by_index(c->in_schema->avro, i),
                               avro_schema_record_field_get_by_index(c->out_schema->avro, i))) {
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
    if (!(c->offs = calloc((size_t)c->n_shared + 1, sizeof(size_t))) ||
        !(c->cl = bw_classifier_new()) || tail_init(c))
        return BW_ERR_NOMEM;
    c->tail_direct = tail_is_known(c);
    if (!unknown_have_defaults(c, errstr, errstr_size))
        return BW_ERR_SCHEMA;
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
        for (int i = BW_LANG_EN; i < BW_LANG__CNT; i++) /* never "*" */
            c->m_langs[i] = bw_metrics_get(reg, &M_REVIEWS, bw_lang_code((bw_lang_t)i));
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
    free(c->offs);
    bw_record_destroy(c->in_rec);
    bw_buf_free(&c->rewritten);
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

/* The fields the classifier needs, read where they are in a checked
 * ReviewEvent message (c->offs: where each field starts). */
static bool read_review(classify_t *c, const unsigned char *wire, bw_review_in_t *in,
                        int64_t *occurred_at, char *lang_buf, size_t lang_size) {
    const bw_snode_t *root = c->in_schema->root;
    bw_avro_scalar_t v;
#define READ_(idx) \
    bw_avro_scalar(root->fields[idx].type, wire + c->offs[idx], wire + c->offs[(idx) + 1], &v)

    memset(in, 0, sizeof(*in));
    in->fulfilled_by_platform = -1;
    if (!READ_(c->f_title))
        return false;
    if (v.type == BW_T_STRING) {
        in->title = v.s;
        in->title_len = v.len;
    }
    if (!READ_(c->f_body) || v.type != BW_T_STRING)
        return false;
    in->body = v.s;
    in->body_len = v.len;
    if (!READ_(c->f_language))
        return false;
    if (v.type == BW_T_STRING) { /* a code ("pt", "pt-BR"): what fits is enough */
        size_t n = v.len < lang_size - 1 ? v.len : lang_size - 1;
        memcpy(lang_buf, v.s, n);
        lang_buf[n] = '\0';
        in->language = lang_buf;
    }
    if (!READ_(c->f_kind) || v.type != BW_T_ENUM)
        return false;
    in->kind = (bw_kind_t)v.i;
    if (!READ_(c->f_rating))
        return false;
    if (v.type == BW_T_INT)
        in->rating = (int)v.i;
    if (!READ_(c->f_fulfilled))
        return false;
    if (v.type == BW_T_BOOLEAN)
        in->fulfilled_by_platform = v.i ? 1 : 0;
    if (!READ_(c->f_occurred) || v.type != BW_T_LONG)
        return false;
    *occurred_at = v.i;
    return true;
#undef READ_
}

static int set_opt_enum(avro_value_t *rec, int idx, int val) {
    avro_value_t f, b;

    if (avro_value_get_by_index(rec, (size_t)idx, &f, NULL))
        return -1;
    if (val < 0)
        return avro_value_set_branch(&f, 0, &b) || avro_value_set_null(&b);
    return avro_value_set_branch(&f, 1, &b) || avro_value_set_enum(&b, val);
}

/* The findings into out, a record of ClassifiedReview's fields after
 * ReviewEvent's (field indexes shift by the fields before them). */
static int write_findings(classify_t *c, avro_value_t *out, const bw_review_out_t *res,
                          int64_t occurred_at, bool truncated) {
    const bw_snode_t *root = c->out_schema->root;
    int shift = c->n_shared;
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
          avro_value_set_long(&f, bw_now_ms());
    for (size_t i = (size_t)shift; i < root->n && !rc; i++)
        if (!is_finding(c, (int)i))
            rc |= avro_value_get_by_index(out, i - (size_t)shift, &f, NULL) ||
                  bw_json_value_to_avro(root->fields[i].type, root->fields[i].defval, &f, NULL, 0);
    return rc;
}

/* An optional enum: branch 0 (null) when val < 0. */
static bool put_opt_enum(bw_buf_t *b, int val) {
    return val < 0 ? bw_avro_put_long(b, 0) : bw_avro_put_long(b, 1) && bw_avro_put_long(b, val);
}

/* The findings appended to b in Avro binary, as write_findings has Avro C
 * write them (tail_is_known checked the schema has them so): an array is
 * one block of its items and a 0, or a 0 alone when empty. */
static bool write_tail(bw_buf_t *b, const bw_review_out_t *res, int64_t occurred_at,
                       bool truncated) {
    const char *lang = bw_lang_code(res->language);
    int ncauses = 0, npolicy = res->policy_ask_change + res->policy_incentive;
    bool ok = true;

    for (int i = 0; i < BW_CAUSE_CNT; i++)
        ncauses += res->causes[i];
    if (ncauses) {
        ok = bw_avro_put_long(b, ncauses);
        for (int i = 0; i < BW_CAUSE_CNT && ok; i++)
            if (res->causes[i])
                ok = bw_avro_put_long(b, i);
    }
    ok = ok && bw_avro_put_long(b, 0) && put_opt_enum(b, res->primary) &&
         bw_avro_put_double(b, res->sentiment) && bw_avro_put_long(b, (int64_t)res->severity) &&
         put_opt_enum(b, (int)res->removable);
    if (ok && npolicy)
        ok = bw_avro_put_long(b, npolicy) && (!res->policy_ask_change || bw_avro_put_long(b, 0)) &&
             (!res->policy_incentive || bw_avro_put_long(b, 1));
    ok = ok && bw_avro_put_long(b, 0) &&
         (res->needs_response
              ? bw_avro_put_long(b, 1) && bw_avro_put_long(b, occurred_at + CLASSIFY_RESPONSE_MS)
              : bw_avro_put_long(b, 0));
    if (ok && res->nmatches)
        ok = bw_avro_put_long(b, res->nmatches);
    for (int i = 0; i < res->nmatches && ok; i++)
        ok = bw_avro_put_string(b, res->matches[i].rule_id, strlen(res->matches[i].rule_id));
    return ok && bw_avro_put_long(b, 0) && bw_avro_put_string(b, lang, strlen(lang)) &&
           bw_avro_put_bool(b, truncated) && bw_avro_put_long(b, bw_now_ms());
}

/* The input's fields as the output's first ones: its own bytes, with the
 * body replaced by the part of it that was classified when it was cut. */
static bool shared_fields(classify_t *c, const unsigned char *wire, const bw_review_in_t *in,
                          const void **head, size_t *head_len) {
    size_t body = c->offs[c->f_body], after = c->offs[c->f_body + 1], end = c->offs[c->n_shared];

    bw_buf_reset(&c->tmp);
    if (!bw_buf_append(&c->tmp, wire + BW_WIRE_HEADER, body - BW_WIRE_HEADER) ||
        !bw_avro_put_long(&c->tmp, (int64_t)in->body_len) ||
        !bw_buf_append(&c->tmp, in->body, in->body_len) ||
        !bw_buf_append(&c->tmp, wire + after, end - after))
        return false;
    *head = c->tmp.data;
    *head_len = c->tmp.len;
    return true;
}

/* A message of another ReviewEvent version (schemas/README.md: versions
 * only add fields, with defaults) rewritten in this stage's, field by
 * field by name: fields it lacks take their defaults, fields this stage
 * does not know are left out. Through JSON: slow, and only for messages
 * of writers on another version, during an upgrade. */
static bw_err_t rewrite_review(classify_t *c, const void *wire, size_t len, char *errstr,
                               size_t errstr_size) {
    bw_record_t *rec;
    json_t *j;
    const char *key;
    json_t *v;
    void *tmp;
    bw_err_t err;

    if ((err = bw_serde_decode(c->sd, wire, len, c->in_schema, &rec, errstr, errstr_size)))
        return err;
    if (!(j = bw_avro_to_json(rec->schema, &rec->value)) ||
        (!c->in_rec && !(c->in_rec = bw_record_new(c->in_schema)))) {
        json_decref(j);
        bw_errstr_set(errstr, errstr_size, "out of memory");
        return BW_ERR_NOMEM;
    }
    json_object_foreach_safe(j, tmp, key, v) {
        if (bw_snode_field_index(c->in_schema->root, key) < 0)
            json_object_del(j, key);
    }
    err = bw_json_to_avro(c->in_schema, j, &c->in_rec->value, errstr, errstr_size);
    json_decref(j);
    if (err)
        return err;
    return bw_serde_encode(c->sd, c->in_schema, &c->in_rec->value, &c->rewritten, errstr,
                           errstr_size);
}

bw_err_t classify_wire(classify_t *c, const void *wire, size_t len, bw_review_out_t *res,
                       char *errstr, size_t errstr_size) {
    const unsigned char *w = wire;
    const bw_schema_t *schema;
    const void *head = w + BW_WIRE_HEADER;
    size_t head_len = len - BW_WIRE_HEADER;
    bw_review_in_t in;
    int64_t occurred_at = 0;
    char lang[16];
    bool truncated;
    bw_err_t err;

    if ((err = bw_serde_check(c->sd, wire, len, c->in_schema, &schema, c->offs,
                              (size_t)c->n_shared + 1, errstr, errstr_size)))
        return err;
    /* The fields are read where this stage's ReviewEvent has them. */
    if (schema != c->in_schema) {
        if (wire == c->rewritten.data) { /* cannot happen: rewritten in in_schema */
            bw_errstr_set(errstr, errstr_size, "schema id %d not rewritten", schema->id);
            return BW_ERR_WRONG_SCHEMA;
        }
        if ((err = rewrite_review(c, wire, len, errstr, errstr_size)))
            return err;
        return classify_wire(c, c->rewritten.data, c->rewritten.len, res, errstr, errstr_size);
    }
    if (!read_review(c, w, &in, &occurred_at, lang, sizeof(lang))) {
        bw_errstr_set(errstr, errstr_size, "not a ReviewEvent value");
        return BW_ERR_SCHEMA;
    }
    /* A huge body is cut (at a character boundary) and flagged, so that no
     * input makes classification or the output record unbounded. */
    truncated = in.body_len > c->body_max;
    if (truncated) {
        in.body_len = utf8_cut(in.body, in.body_len, c->body_max);
        bw_metric_inc(c->m_truncated);
        if (!shared_fields(c, w, &in, &head, &head_len)) {
            bw_errstr_set(errstr, errstr_size, "out of memory");
            return BW_ERR_NOMEM;
        }
    }
    bw_classify(c->cl, c->pack, &in, res);
    if (c->reg) {
        bw_metric_inc(c->m_langs[res->language]);
        for (int i = 0; i < BW_CAUSE_CNT; i++)
            if (res->causes[i])
                bw_metric_inc(c->m_causes[i]);
        if (res->limit_hits)
            bw_metric_add(c->m_limit_hits, res->limit_hits);
    }
    /* Avro writes a record as its fields one after another: the input's
     * bytes, then the findings encoded alone, are the ClassifiedReview. */
    if (c->tail_direct) {
        bw_buf_reset(&c->wire);
        if (!bw_serde_put_header(c->out_schema, &c->wire) ||
            !bw_buf_append(&c->wire, head, head_len) ||
            !write_tail(&c->wire, res, occurred_at, truncated)) {
            bw_errstr_set(errstr, errstr_size, "out of memory");
            return BW_ERR_NOMEM;
        }
        if (c->wire.len > bw_serde_max_bytes(c->sd)) {
            bw_errstr_set(errstr, errstr_size, "%s record does not fit in %zu bytes",
                          c->out_schema->name, bw_serde_max_bytes(c->sd));
            return BW_ERR_TOO_LARGE;
        }
        return BW_ERR_OK;
    }
    if (avro_value_reset(&c->tail) || write_findings(c, &c->tail, res, occurred_at, truncated)) {
        bw_errstr_set(errstr, errstr_size, "Avro C: %s", avro_strerror());
        return BW_ERR_SCHEMA;
    }
    return bw_serde_encode_parts(c->sd, c->out_schema, head, head_len, &c->tail, &c->wire, errstr,
                                 errstr_size);
}

json_t *classify_explain(classify_t *c, const bw_review_out_t *res, const void *wire, size_t len) {
    json_t *arr = json_array();
    const bw_schema_t *schema;
    bw_review_in_t in;
    int64_t occurred_at;
    char lang[16];
    bw_buf_t text = {0};

    if (!arr ||
        bw_serde_check(c->sd, wire, len, c->in_schema, &schema, c->offs, (size_t)c->n_shared + 1,
                       NULL, 0) ||
        schema != c->in_schema || !read_review(c, wire, &in, &occurred_at, lang, sizeof(lang)))
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
