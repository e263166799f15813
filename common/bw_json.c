#include "bw_json.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bw_util.h"

typedef struct {
    char *errstr;
    size_t errstr_size;
    bool has_path;
} jx_t;

static bw_err_t jfail(jx_t *jx, bw_err_t err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bw_err_t jfail(jx_t *jx, bw_err_t err, const char *fmt, ...) {
    va_list ap;

    if (jx->errstr && jx->errstr_size) {
        va_start(ap, fmt);
        vsnprintf(jx->errstr, jx->errstr_size, fmt, ap);
        va_end(ap);
    }
    return err;
}

/* A short rendering of a JSON value for error messages: "five", 9, [...] */
static const char *jshow(json_t *j, char *buf, size_t size) {
    char *text = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);

    if (!text) {
        bw_strlcpy(buf, "?", size);
        return buf;
    }
    if (strlen(text) > 40)
        snprintf(buf, size, "%.37s...", text);
    else
        bw_strlcpy(buf, text, size);
    free(text);
    return buf;
}

static const char *type_word(const bw_snode_t *n) {
    static const char *words[] = {"null",   "boolean", "int",  "long",  "float", "double", "bytes",
                                  "string", "record",  "enum", "array", "map",   "union",  "fixed"};
    if (n->type == BW_T_LONG && n->ts_millis)
        return "timestamp (RFC 3339 or epoch ms)";
    return words[n->type];
}

static bw_err_t wrong_type(jx_t *jx, const bw_snode_t *n, const bw_sfield_t *f, json_t *j) {
    char shown[64];

    if (f && f->has_range)
        return jfail(jx, BW_ERR_BAD_TYPE, "expected %s %g..%g, got %s", type_word(n), f->min,
                     f->max, jshow(j, shown, sizeof(shown)));
    return jfail(jx, BW_ERR_BAD_TYPE, "expected %s, got %s", type_word(n),
                 jshow(j, shown, sizeof(shown)));
}

static bw_err_t in_range(jx_t *jx, const bw_snode_t *n, const bw_sfield_t *f, double v, json_t *j) {
    char shown[64];

    if (f && f->has_range && !(v >= f->min && v <= f->max))
        return jfail(jx, BW_ERR_OUT_OF_RANGE, "expected %s %g..%g, got %s", type_word(n), f->min,
                     f->max, jshow(j, shown, sizeof(shown)));
    return BW_ERR_OK;
}

static bw_err_t to_avro(jx_t *jx, const bw_snode_t *n, const bw_sfield_t *f, json_t *j,
                        avro_value_t *v);

static bw_err_t union_to_avro(jx_t *jx, const bw_snode_t *n, const bw_sfield_t *f, json_t *j,
                              avro_value_t *v) {
    avro_value_t branch;
    int pick = -1;

    /* null picks the null branch; anything else the first branch whose type
     * fits the JSON value (our unions are ["null", X]). */
    for (size_t i = 0; i < n->n && pick < 0; i++) {
        bw_type_t t = n->branches[i]->type;
        if (json_is_null(j) ? t == BW_T_NULL : t != BW_T_NULL)
            pick = (int)i;
    }
    if (pick < 0)
        return jfail(jx, BW_ERR_BAD_TYPE, "expected a value, got null");
    if (avro_value_set_branch(v, pick, &branch))
        return jfail(jx, BW_ERR_SCHEMA, "Avro C: %s", avro_strerror());
    return to_avro(jx, n->branches[pick], f, j, &branch);
}

static bw_err_t record_to_avro(jx_t *jx, const bw_snode_t *n, json_t *j, avro_value_t *v) {
    const char *key;
    json_t *val;
    bw_err_t err;

    if (!json_is_object(j))
        return wrong_type(jx, n, NULL, j);
    json_object_foreach(j, key, val) {
        if (bw_snode_field_index(n, key) < 0)
            return jfail(jx, BW_ERR_UNKNOWN_FIELD, "%s: unknown field", key);
    }
    for (size_t i = 0; i < n->n; i++) {
        const bw_sfield_t *f = &n->fields[i];
        avro_value_t child;

        if (avro_value_get_by_index(v, i, &child, NULL))
            return jfail(jx, BW_ERR_SCHEMA, "Avro C: %s", avro_strerror());
        if (!(val = json_object_get(j, f->name)) && !(val = f->defval)) {
            jfail(jx, BW_ERR_MISSING_FIELD, "missing");
            bw_errpath_prefix(jx->errstr, jx->errstr_size, &jx->has_path, f->name);
            return BW_ERR_MISSING_FIELD;
        }
        if ((err = to_avro(jx, f->type, f, val, &child))) {
            bw_errpath_prefix(jx->errstr, jx->errstr_size, &jx->has_path, f->name);
            return err;
        }
    }
    return BW_ERR_OK;
}

static bw_err_t list_to_avro(jx_t *jx, const bw_snode_t *n, json_t *j, avro_value_t *v) {
    avro_value_t child;
    bw_err_t err;
    char idx[32];

    if (n->type == BW_T_ARRAY) {
        size_t i;
        json_t *item;
        if (!json_is_array(j))
            return wrong_type(jx, n, NULL, j);
        json_array_foreach(j, i, item) {
            if (avro_value_append(v, &child, NULL))
                return jfail(jx, BW_ERR_NOMEM, "Avro C: %s", avro_strerror());
            if ((err = to_avro(jx, n->items, NULL, item, &child))) {
                snprintf(idx, sizeof(idx), "[%zu]", i);
                bw_errpath_prefix(jx->errstr, jx->errstr_size, &jx->has_path, idx);
                return err;
            }
        }
        return BW_ERR_OK;
    }
    const char *key;
    json_t *item;
    if (!json_is_object(j))
        return wrong_type(jx, n, NULL, j);
    json_object_foreach(j, key, item) {
        if (avro_value_add(v, key, &child, NULL, NULL))
            return jfail(jx, BW_ERR_NOMEM, "Avro C: %s", avro_strerror());
        if ((err = to_avro(jx, n->items, NULL, item, &child))) {
            bw_errpath_prefix(jx->errstr, jx->errstr_size, &jx->has_path, key);
            return err;
        }
    }
    return BW_ERR_OK;
}

static bw_err_t to_avro(jx_t *jx, const bw_snode_t *n, const bw_sfield_t *f, json_t *j,
                        avro_value_t *v) {
    char shown[64];
    bw_err_t err;

    switch (n->type) {
    case BW_T_NULL:
        if (!json_is_null(j))
            return wrong_type(jx, n, f, j);
        return avro_value_set_null(v) ? BW_ERR_SCHEMA : BW_ERR_OK;
    case BW_T_BOOLEAN:
        if (!json_is_boolean(j))
            return wrong_type(jx, n, f, j);
        return avro_value_set_boolean(v, json_is_true(j)) ? BW_ERR_SCHEMA : BW_ERR_OK;
    case BW_T_INT:
    case BW_T_LONG: {
        json_int_t x;
        int64_t ms;
        if (json_is_integer(j)) {
            x = json_integer_value(j);
        } else if (n->ts_millis && json_is_string(j)) {
            if (!bw_ts_parse(json_string_value(j), &ms))
                return jfail(jx, BW_ERR_BAD_TYPE, "expected an RFC 3339 timestamp, got %s",
                             jshow(j, shown, sizeof(shown)));
            x = ms;
        } else {
            return wrong_type(jx, n, f, j);
        }
        if (n->type == BW_T_INT && (x < INT32_MIN || x > INT32_MAX))
            return jfail(jx, BW_ERR_OUT_OF_RANGE, "expected int, got %lld (out of 32-bit range)",
                         (long long)x);
        if ((err = in_range(jx, n, f, (double)x, j)))
            return err;
        if (n->type == BW_T_INT)
            return avro_value_set_int(v, (int32_t)x) ? BW_ERR_SCHEMA : BW_ERR_OK;
        return avro_value_set_long(v, x) ? BW_ERR_SCHEMA : BW_ERR_OK;
    }
    case BW_T_FLOAT:
    case BW_T_DOUBLE: {
        double d;
        if (!json_is_number(j))
            return wrong_type(jx, n, f, j);
        d = json_number_value(j);
        if ((err = in_range(jx, n, f, d, j)))
            return err;
        if (n->type == BW_T_FLOAT)
            return avro_value_set_float(v, (float)d) ? BW_ERR_SCHEMA : BW_ERR_OK;
        return avro_value_set_double(v, d) ? BW_ERR_SCHEMA : BW_ERR_OK;
    }
    case BW_T_STRING:
        if (!json_is_string(j))
            return wrong_type(jx, n, f, j);
        /* jansson has already refused invalid UTF-8 in the JSON text. */
        return avro_value_set_string_len(v, json_string_value(j), json_string_length(j) + 1)
                   ? BW_ERR_SCHEMA
                   : BW_ERR_OK;
    case BW_T_BYTES:
    case BW_T_FIXED: {
        size_t len;
        unsigned char *raw;
        long got;
        if (!json_is_string(j))
            return jfail(jx, BW_ERR_BAD_TYPE, "expected base64 text, got %s",
                         jshow(j, shown, sizeof(shown)));
        len = json_string_length(j);
        if (!(raw = malloc(len / 4 * 3 + 3)))
            return BW_ERR_NOMEM;
        got = bw_b64_decode(json_string_value(j), len, raw);
        if (got < 0 || (n->type == BW_T_FIXED && (size_t)got != n->fixed_size)) {
            free(raw);
            return jfail(jx, BW_ERR_BAD_TYPE, "expected base64 text, got %s",
                         jshow(j, shown, sizeof(shown)));
        }
        err = (n->type == BW_T_BYTES ? avro_value_set_bytes(v, raw, (size_t)got)
                                     : avro_value_set_fixed(v, raw, (size_t)got))
                  ? BW_ERR_SCHEMA
                  : BW_ERR_OK;
        free(raw);
        return err;
    }
    case BW_T_ENUM: {
        int idx;
        if (!json_is_string(j))
            return jfail(jx, BW_ERR_BAD_TYPE, "expected one of %s's symbols, got %s", n->name,
                         jshow(j, shown, sizeof(shown)));
        if ((idx = bw_snode_symbol_index(n, json_string_value(j))) < 0) {
            bw_buf_t all = {0};
            for (size_t i = 0; i < n->n; i++)
                bw_buf_printf(&all, "%s%s", i ? ", " : "", n->symbols[i]);
            jfail(jx, BW_ERR_BAD_ENUM, "unknown symbol %s (expected one of %s)",
                  jshow(j, shown, sizeof(shown)), all.data ? all.data : "");
            bw_buf_free(&all);
            return BW_ERR_BAD_ENUM;
        }
        return avro_value_set_enum(v, idx) ? BW_ERR_SCHEMA : BW_ERR_OK;
    }
    case BW_T_UNION:
        return union_to_avro(jx, n, f, j, v);
    case BW_T_RECORD:
        return record_to_avro(jx, n, j, v);
    case BW_T_ARRAY:
    case BW_T_MAP:
        return list_to_avro(jx, n, j, v);
    }
    return jfail(jx, BW_ERR_SCHEMA, "unknown schema node");
}

bw_err_t bw_json_to_avro(const bw_schema_t *schema, json_t *json, avro_value_t *value, char *errstr,
                         size_t errstr_size) {
    jx_t jx = {errstr, errstr_size, false};

    if (avro_value_reset(value))
        return jfail(&jx, BW_ERR_SCHEMA, "Avro C: %s", avro_strerror());
    return to_avro(&jx, schema->root, NULL, json, value);
}

bw_err_t bw_json_value_to_avro(const bw_snode_t *type, json_t *json, avro_value_t *value,
                               char *errstr, size_t errstr_size) {
    jx_t jx = {errstr, errstr_size, false};

    return to_avro(&jx, type, NULL, json, value);
}

static json_t *from_avro(const bw_snode_t *n, avro_value_t *v);

static json_t *bytes_json(const void *buf, size_t len) {
    char *text = malloc(bw_b64_enclen(len) + 1);
    json_t *j;

    if (!text)
        return NULL;
    bw_b64_encode(buf, len, text);
    j = json_string(text);
    free(text);
    return j;
}

static json_t *compound_from_avro(const bw_snode_t *n, avro_value_t *v) {
    json_t *out = n->type == BW_T_ARRAY ? json_array() : json_object();
    avro_value_t child;
    size_t count = 0;

    if (!out)
        return NULL;
    if (n->type == BW_T_RECORD)
        count = n->n;
    else if (avro_value_get_size(v, &count))
        goto err;
    for (size_t i = 0; i < count; i++) {
        const char *key = NULL;
        json_t *cj;
        if (avro_value_get_by_index(v, i, &child, &key))
            goto err;
        if (!(cj = from_avro(n->type == BW_T_RECORD ? n->fields[i].type : n->items, &child)))
            goto err;
        if (n->type == BW_T_ARRAY
                ? json_array_append_new(out, cj)
                : json_object_set_new(out, n->type == BW_T_RECORD ? n->fields[i].name : key, cj))
            goto err;
    }
    return out;
err:
    json_decref(out);
    return NULL;
}

static json_t *from_avro(const bw_snode_t *n, avro_value_t *v) {
    switch (n->type) {
    case BW_T_NULL:
        return json_null();
    case BW_T_BOOLEAN: {
        int b = 0;
        avro_value_get_boolean(v, &b);
        return json_boolean(b);
    }
    case BW_T_INT: {
        int32_t x = 0;
        avro_value_get_int(v, &x);
        return json_integer(x);
    }
    case BW_T_LONG: {
        int64_t x = 0;
        char ts[BW_TS_BUFSZ];
        avro_value_get_long(v, &x);
        if (!n->ts_millis)
            return json_integer(x);
        bw_ts_format(x, ts);
        return json_string(ts);
    }
    case BW_T_FLOAT: {
        float x = 0;
        avro_value_get_float(v, &x);
        return json_real(x);
    }
    case BW_T_DOUBLE: {
        double x = 0;
        avro_value_get_double(v, &x);
        return isfinite(x) ? json_real(x) : json_null();
    }
    case BW_T_STRING: {
        const char *s = NULL;
        size_t size = 0;
        if (avro_value_get_string(v, &s, &size) || !s)
            return json_string("");
        /* size counts the terminating NUL; text may hold NULs of its own. */
        return json_stringn(s, size ? size - 1 : 0);
    }
    case BW_T_BYTES:
    case BW_T_FIXED: {
        const void *buf = NULL;
        size_t size = 0;
        if (n->type == BW_T_BYTES ? avro_value_get_bytes(v, &buf, &size)
                                  : avro_value_get_fixed(v, &buf, &size))
            return NULL;
        return bytes_json(buf, size);
    }
    case BW_T_ENUM: {
        int idx = 0;
        avro_value_get_enum(v, &idx);
        return idx >= 0 && (size_t)idx < n->n ? json_string(n->symbols[idx]) : json_null();
    }
    case BW_T_UNION: {
        int disc = -1;
        avro_value_t branch;
        if (avro_value_get_discriminant(v, &disc) || disc < 0 || (size_t)disc >= n->n ||
            avro_value_get_current_branch(v, &branch))
            return json_null();
        return from_avro(n->branches[disc], &branch);
    }
    case BW_T_RECORD:
    case BW_T_ARRAY:
    case BW_T_MAP:
        return compound_from_avro(n, v);
    }
    return NULL;
}

json_t *bw_avro_to_json(const bw_schema_t *schema, avro_value_t *value) {
    return from_avro(schema->root, value);
}
