#include "bw_schema.h"

#include <stdlib.h>
#include <string.h>

#include "bw_util.h"

#define MAX_DEPTH 32

typedef struct {
    bw_schema_t *schema;
    const char *ns; /* enclosing namespace */
    char *errstr;
    size_t errstr_size;
} compile_ctx_t;

static bw_snode_t *node_new(compile_ctx_t *cx, bw_type_t type) {
    bw_schema_t *s = cx->schema;
    bw_snode_t *n;

    if (s->nnodes == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 32;
        bw_snode_t **nn = realloc(s->nodes, ncap * sizeof(*nn));
        if (!nn)
            return NULL;
        s->nodes = nn;
        s->cap = ncap;
    }
    if (!(n = calloc(1, sizeof(*n))))
        return NULL;
    n->type = type;
    s->nodes[s->nnodes++] = n;
    return n;
}

static const struct {
    const char *name;
    bw_type_t type;
} primitives[] = {
    {"null", BW_T_NULL},   {"boolean", BW_T_BOOLEAN}, {"int", BW_T_INT},
    {"long", BW_T_LONG},   {"float", BW_T_FLOAT},     {"double", BW_T_DOUBLE},
    {"bytes", BW_T_BYTES}, {"string", BW_T_STRING},
};

static char *full_name(const char *ns, const char *name) {
    char *out;
    size_t n;

    if (strchr(name, '.') || !ns || !*ns)
        return strdup(name);
    n = strlen(ns) + strlen(name) + 2;
    if ((out = malloc(n)))
        snprintf(out, n, "%s.%s", ns, name);
    return out;
}

static bw_snode_t *find_named(compile_ctx_t *cx, const char *name) {
    char *fn = full_name(cx->ns, name);
    bw_snode_t *found = NULL;

    for (size_t i = 0; fn && i < cx->schema->nnodes; i++) {
        bw_snode_t *n = cx->schema->nodes[i];
        if (n->name && (!strcmp(n->name, fn) || !strcmp(n->name, name))) {
            found = n;
            break;
        }
    }
    free(fn);
    return found;
}

static bw_snode_t *compile(compile_ctx_t *cx, json_t *j, int depth);

static bool compile_record(compile_ctx_t *cx, bw_snode_t *n, json_t *j, int depth) {
    json_t *fields = json_object_get(j, "fields");
    const char *saved_ns = cx->ns, *dot;
    char *ns = NULL;
    bool ok = false;
    size_t i;
    json_t *f;

    if (!json_is_array(fields)) {
        bw_errstr_set(cx->errstr, cx->errstr_size, "record %s: fields must be an array", n->name);
        return false;
    }
    n->n = json_array_size(fields);
    if (!(n->fields = calloc(n->n ? n->n : 1, sizeof(*n->fields))))
        return false;
    /* Names inside a record resolve against the record's namespace. */
    if ((dot = strrchr(n->name, '.'))) {
        if (!(ns = strndup(n->name, (size_t)(dot - n->name))))
            return false;
        cx->ns = ns;
    }
    json_array_foreach(fields, i, f) {
        bw_sfield_t *sf = &n->fields[i];
        const char *fname = json_string_value(json_object_get(f, "name"));
        json_t *range = json_object_get(f, "bw.range");

        if (!fname || !(sf->name = strdup(fname))) {
            bw_errstr_set(cx->errstr, cx->errstr_size, "record %s: field %zu has no name", n->name,
                          i);
            goto out;
        }
        if (!(sf->type = compile(cx, json_object_get(f, "type"), depth + 1)))
            goto out;
        if ((sf->defval = json_object_get(f, "default")))
            json_incref(sf->defval);
        if (json_is_array(range) && json_array_size(range) == 2) {
            sf->has_range = true;
            sf->min = json_number_value(json_array_get(range, 0));
            sf->max = json_number_value(json_array_get(range, 1));
        }
    }
    ok = true;
out:
    cx->ns = saved_ns;
    free(ns);
    return ok;
}

static bool compile_enum(compile_ctx_t *cx, bw_snode_t *n, json_t *j) {
    json_t *syms = json_object_get(j, "symbols"), *s;
    size_t i;

    if (!json_is_array(syms) || json_array_size(syms) == 0) {
        bw_errstr_set(cx->errstr, cx->errstr_size, "enum %s: symbols must be a non-empty array",
                      n->name);
        return false;
    }
    n->n = json_array_size(syms);
    if (!(n->symbols = calloc(n->n, sizeof(*n->symbols))))
        return false;
    json_array_foreach(syms, i, s) {
        if (!json_is_string(s) || !(n->symbols[i] = strdup(json_string_value(s))))
            return false;
    }
    return true;
}

static bw_snode_t *compile_object(compile_ctx_t *cx, json_t *j, int depth) {
    const char *type = json_string_value(json_object_get(j, "type"));
    const char *name = json_string_value(json_object_get(j, "name"));
    const char *logical = json_string_value(json_object_get(j, "logicalType"));
    bw_snode_t *n;

    if (!type) /* {"type": {...}} or {"type": [...]} */
        return compile(cx, json_object_get(j, "type"), depth + 1);
    for (size_t i = 0; i < BW_ARRAY_SIZE(primitives); i++) {
        if (!strcmp(type, primitives[i].name)) {
            if (!(n = node_new(cx, primitives[i].type)))
                return NULL;
            n->ts_millis = n->type == BW_T_LONG && logical && !strcmp(logical, "timestamp-millis");
            return n;
        }
    }
    if (!strcmp(type, "array") || !strcmp(type, "map")) {
        if (!(n = node_new(cx, type[0] == 'a' ? BW_T_ARRAY : BW_T_MAP)))
            return NULL;
        n->items = compile(cx, json_object_get(j, type[0] == 'a' ? "items" : "values"), depth + 1);
        return n->items ? n : NULL;
    }
    if (strcmp(type, "record") && strcmp(type, "enum") && strcmp(type, "fixed")) {
        bw_errstr_set(cx->errstr, cx->errstr_size, "unknown type \"%s\"", type);
        return NULL;
    }
    if (!name) {
        bw_errstr_set(cx->errstr, cx->errstr_size, "%s without a name", type);
        return NULL;
    }
    if (!(n = node_new(cx, type[0] == 'r' ? BW_T_RECORD : type[0] == 'e' ? BW_T_ENUM : BW_T_FIXED)))
        return NULL;
    {
        const char *ns = json_string_value(json_object_get(j, "namespace"));
        if (!(n->name = full_name(ns ? ns : cx->ns, name)))
            return NULL;
    }
    switch (n->type) {
    case BW_T_RECORD:
        return compile_record(cx, n, j, depth) ? n : NULL;
    case BW_T_ENUM:
        return compile_enum(cx, n, j) ? n : NULL;
    default:
        n->fixed_size = (size_t)json_integer_value(json_object_get(j, "size"));
        return n;
    }
}

static bw_snode_t *compile(compile_ctx_t *cx, json_t *j, int depth) {
    bw_snode_t *n;

    if (depth > MAX_DEPTH) {
        bw_errstr_set(cx->errstr, cx->errstr_size, "schema nested deeper than %d", MAX_DEPTH);
        return NULL;
    }
    if (json_is_string(j)) {
        const char *s = json_string_value(j);
        for (size_t i = 0; i < BW_ARRAY_SIZE(primitives); i++)
            if (!strcmp(s, primitives[i].name))
                return node_new(cx, primitives[i].type);
        if ((n = find_named(cx, s)))
            return n;
        bw_errstr_set(cx->errstr, cx->errstr_size, "unknown type name \"%s\"", s);
        return NULL;
    }
    if (json_is_array(j)) {
        size_t i;
        json_t *b;
        if (!(n = node_new(cx, BW_T_UNION)))
            return NULL;
        n->n = json_array_size(j);
        if (n->n == 0 || !(n->branches = calloc(n->n, sizeof(*n->branches))))
            return NULL;
        json_array_foreach(j, i, b) {
            if (!(n->branches[i] = compile(cx, b, depth + 1)))
                return NULL;
        }
        return n;
    }
    if (json_is_object(j))
        return compile_object(cx, j, depth);
    bw_errstr_set(cx->errstr, cx->errstr_size, "bad type declaration");
    return NULL;
}

bw_schema_t *bw_schema_parse(const char *text, int32_t id, char *errstr, size_t errstr_size) {
    bw_schema_t *s = calloc(1, sizeof(*s));
    compile_ctx_t cx = {s, NULL, errstr, errstr_size};
    json_error_t jerr;
    json_t *j = NULL;

    if (!s)
        return NULL;
    s->id = id;
    if (!(j = json_loads(text, 0, &jerr))) {
        bw_errstr_set(errstr, errstr_size, "line %d: %s", jerr.line, jerr.text);
        goto err;
    }
    if (avro_schema_from_json_length(text, strlen(text), &s->avro)) {
        bw_errstr_set(errstr, errstr_size, "Avro C: %s", avro_strerror());
        goto err;
    }
    if (!(s->root = compile(&cx, j, 0)))
        goto err;
    if (s->root->type != BW_T_RECORD) {
        bw_errstr_set(errstr, errstr_size, "top-level schema must be a record");
        goto err;
    }
    if (!(s->iface = avro_generic_class_from_schema(s->avro))) {
        bw_errstr_set(errstr, errstr_size, "Avro C: %s", avro_strerror());
        goto err;
    }
    s->fullname = strdup(s->root->name);
    {
        const char *dot = strrchr(s->root->name, '.');
        s->name = strdup(dot ? dot + 1 : s->root->name);
    }
    s->text = strdup(text);
    if (!s->fullname || !s->name || !s->text)
        goto err;
    json_decref(j);
    return s;
err:
    json_decref(j);
    bw_schema_destroy(s);
    return NULL;
}

bw_schema_t *bw_schema_load(const char *path, int32_t id, char *errstr, size_t errstr_size) {
    FILE *fp = fopen(path, "rb");
    bw_buf_t buf = {0};
    char chunk[4096], sub[512];
    size_t n;
    bw_schema_t *s = NULL;

    if (!fp) {
        bw_errstr_set(errstr, errstr_size, "%s: cannot open", path);
        return NULL;
    }
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
        if (!bw_buf_append(&buf, chunk, n))
            goto out;
    }
    if (ferror(fp)) {
        bw_errstr_set(errstr, errstr_size, "%s: read error", path);
        goto out;
    }
    if (!buf.data) {
        bw_errstr_set(errstr, errstr_size, "%s: empty file", path);
        goto out;
    }
    if (!(s = bw_schema_parse(buf.data, id, sub, sizeof(sub))))
        bw_errstr_set(errstr, errstr_size, "%s: %s", path, sub);
out:
    fclose(fp);
    bw_buf_free(&buf);
    return s;
}

void bw_schema_destroy(bw_schema_t *s) {
    if (!s)
        return;
    for (size_t i = 0; i < s->nnodes; i++) {
        bw_snode_t *n = s->nodes[i];
        for (size_t k = 0; n->fields && k < n->n; k++) {
            free(n->fields[k].name);
            json_decref(n->fields[k].defval);
        }
        for (size_t k = 0; n->symbols && k < n->n; k++)
            free(n->symbols[k]);
        free(n->fields);
        free(n->symbols);
        free(n->branches);
        free(n->name);
        free(n);
    }
    free(s->nodes);
    if (s->iface)
        avro_value_iface_decref(s->iface);
    if (s->avro)
        avro_schema_decref(s->avro);
    free(s->name);
    free(s->fullname);
    free(s->text);
    free(s);
}

int bw_snode_field_index(const bw_snode_t *rec, const char *name) {
    for (size_t i = 0; i < rec->n; i++)
        if (!strcmp(rec->fields[i].name, name))
            return (int)i;
    return -1;
}

int bw_snode_symbol_index(const bw_snode_t *en, const char *symbol) {
    for (size_t i = 0; i < en->n; i++)
        if (!strcmp(en->symbols[i], symbol))
            return (int)i;
    return -1;
}
