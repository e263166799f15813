#include "bw_avro_check.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "bw_util.h"

#define MAX_DEPTH 32

typedef struct {
    const unsigned char *p, *end;
    char *errstr;
    size_t errstr_size;
    bool has_path;
} rd_t;

static bw_err_t fail(rd_t *rd, bw_err_t err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bw_err_t fail(rd_t *rd, bw_err_t err, const char *fmt, ...) {
    va_list ap;

    if (rd->errstr && rd->errstr_size) {
        va_start(ap, fmt);
        vsnprintf(rd->errstr, rd->errstr_size, fmt, ap);
        va_end(ap);
    }
    return err;
}

static void prefix_path(rd_t *rd, const char *name) {
    bw_errpath_prefix(rd->errstr, rd->errstr_size, &rd->has_path, name);
}

static bw_err_t read_varint(rd_t *rd, int64_t *out, int maxbytes) {
    uint64_t v = 0;
    int shift = 0;

    *out = 0;
    for (int i = 0; i < maxbytes; i++) {
        if (rd->p >= rd->end)
            return fail(rd, BW_ERR_TRUNCATED, "truncated");
        unsigned char b = *rd->p++;
        v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) {
            *out = (int64_t)((v >> 1) ^ -(v & 1)); /* zigzag */
            return BW_ERR_OK;
        }
        shift += 7;
    }
    return fail(rd, BW_ERR_BAD_TYPE, "varint longer than %d bytes", maxbytes);
}

static bw_err_t check_range(rd_t *rd, const bw_sfield_t *f, double v) {
    if (f && f->has_range && !(v >= f->min && v <= f->max))
        return fail(rd, BW_ERR_OUT_OF_RANGE, "expected %g..%g, got %g", f->min, f->max, v);
    return BW_ERR_OK;
}

static bw_err_t check_len(rd_t *rd, int64_t n) {
    if (n < 0)
        return fail(rd, BW_ERR_BAD_TYPE, "negative length %lld", (long long)n);
    if ((uint64_t)n > (uint64_t)(rd->end - rd->p))
        return fail(rd, BW_ERR_TRUNCATED, "length %lld past the end of the message", (long long)n);
    return BW_ERR_OK;
}

static bw_err_t check_node(rd_t *rd, const bw_snode_t *n, const bw_sfield_t *f, int depth);

static bw_err_t check_blocks(rd_t *rd, const bw_snode_t *n, int depth) {
    bw_err_t err;
    int64_t count = 0, size = 0;

    for (;;) {
        if ((err = read_varint(rd, &count, 10)))
            return err;
        if (count == 0)
            return BW_ERR_OK;
        if (count < 0) { /* a negative count is followed by the block's size */
            if (count == INT64_MIN)
                return fail(rd, BW_ERR_BAD_TYPE, "bad block count");
            count = -count;
            if ((err = read_varint(rd, &size, 10)) || (err = check_len(rd, size)))
                return err;
        }
        /* Every item takes at least one byte except null: bound the loop by
         * what is left so a huge count cannot spin. */
        if (n->items->type != BW_T_NULL && (uint64_t)count > (uint64_t)(rd->end - rd->p))
            return fail(rd, BW_ERR_TRUNCATED, "block of %lld items past the end", (long long)count);
        if (count > 1000000)
            return fail(rd, BW_ERR_TOO_LARGE, "block of %lld items", (long long)count);
        for (int64_t i = 0; i < count; i++) {
            if (n->type == BW_T_MAP) {
                int64_t klen = 0;
                if ((err = read_varint(rd, &klen, 10)) || (err = check_len(rd, klen)))
                    return err;
                if (bw_utf8_check((const char *)rd->p, (size_t)klen) >= 0)
                    return fail(rd, BW_ERR_BAD_UTF8, "map key: invalid UTF-8");
                rd->p += klen;
            }
            if ((err = check_node(rd, n->items, NULL, depth + 1))) {
                char idx[32];
                snprintf(idx, sizeof(idx), "[%lld]", (long long)i);
                prefix_path(rd, idx);
                return err;
            }
        }
    }
}

/* A record's fields; fields (if not NULL) gets where each starts, from
 * base, and fields[n->n] where the record ends. */
static bw_err_t check_record(rd_t *rd, const bw_snode_t *n, const unsigned char *base,
                             size_t *fields, int depth) {
    bw_err_t err;

    for (size_t i = 0; i < n->n; i++) {
        if (fields)
            fields[i] = (size_t)(rd->p - base);
        if ((err = check_node(rd, n->fields[i].type, &n->fields[i], depth + 1))) {
            prefix_path(rd, n->fields[i].name);
            return err;
        }
    }
    if (fields)
        fields[n->n] = (size_t)(rd->p - base);
    return BW_ERR_OK;
}

static bw_err_t check_node(rd_t *rd, const bw_snode_t *n, const bw_sfield_t *f, int depth) {
    bw_err_t err;
    int64_t v = 0;

    if (depth > MAX_DEPTH)
        return fail(rd, BW_ERR_SCHEMA, "nested too deep");
    switch (n->type) {
    case BW_T_NULL:
        return BW_ERR_OK;
    case BW_T_BOOLEAN:
        if (rd->p >= rd->end)
            return fail(rd, BW_ERR_TRUNCATED, "truncated");
        if (*rd->p > 1)
            return fail(rd, BW_ERR_BAD_TYPE, "boolean byte %u is not 0 or 1", *rd->p);
        rd->p++;
        return BW_ERR_OK;
    case BW_T_INT:
        if ((err = read_varint(rd, &v, 5)))
            return err;
        if (v < INT32_MIN || v > INT32_MAX)
            return fail(rd, BW_ERR_OUT_OF_RANGE, "int out of 32-bit range");
        return check_range(rd, f, (double)v);
    case BW_T_LONG:
        if ((err = read_varint(rd, &v, 10)))
            return err;
        return check_range(rd, f, (double)v);
    case BW_T_FLOAT:
    case BW_T_DOUBLE: {
        size_t sz = n->type == BW_T_FLOAT ? 4 : 8;
        double d;
        if ((size_t)(rd->end - rd->p) < sz)
            return fail(rd, BW_ERR_TRUNCATED, "truncated");
        if (sz == 4) {
            float fl;
            memcpy(&fl, rd->p, 4); /* Avro is little-endian, as is every target */
            d = fl;
        } else {
            memcpy(&d, rd->p, 8);
        }
        rd->p += sz;
        if (!isfinite(d) && f && f->has_range)
            return fail(rd, BW_ERR_OUT_OF_RANGE, "not a finite number");
        return check_range(rd, f, d);
    }
    case BW_T_BYTES:
    case BW_T_STRING: {
        long bad;
        if ((err = read_varint(rd, &v, 10)) || (err = check_len(rd, v)))
            return err;
        if (n->type == BW_T_STRING && (bad = bw_utf8_check((const char *)rd->p, (size_t)v)) >= 0)
            return fail(rd, BW_ERR_BAD_UTF8, "invalid UTF-8 at byte %ld", bad);
        rd->p += v;
        return BW_ERR_OK;
    }
    case BW_T_FIXED:
        if ((err = check_len(rd, (int64_t)n->fixed_size)))
            return err;
        rd->p += n->fixed_size;
        return BW_ERR_OK;
    case BW_T_ENUM:
        if ((err = read_varint(rd, &v, 5)))
            return err;
        if (v < 0 || (uint64_t)v >= n->n)
            return fail(rd, BW_ERR_BAD_ENUM, "enum index %lld out of range (%s has %zu symbols)",
                        (long long)v, n->name, n->n);
        return BW_ERR_OK;
    case BW_T_UNION:
        if ((err = read_varint(rd, &v, 5)))
            return err;
        if (v < 0 || (uint64_t)v >= n->n)
            return fail(rd, BW_ERR_BAD_TYPE, "union branch %lld out of range", (long long)v);
        return check_node(rd, n->branches[v], f, depth + 1);
    case BW_T_ARRAY:
    case BW_T_MAP:
        return check_blocks(rd, n, depth);
    case BW_T_RECORD:
        return check_record(rd, n, NULL, NULL, depth);
    }
    return fail(rd, BW_ERR_SCHEMA, "unknown schema node");
}

bw_err_t bw_avro_check(const bw_snode_t *root, const unsigned char *buf, size_t len, char *errstr,
                       size_t errstr_size) {
    return bw_avro_check_fields(root, buf, len, NULL, errstr, errstr_size);
}

bw_err_t bw_avro_check_fields(const bw_snode_t *root, const unsigned char *buf, size_t len,
                              size_t *fields, char *errstr, size_t errstr_size) {
    rd_t rd = {buf, buf + len, errstr, errstr_size, false};
    bw_err_t err;

    if (fields && root->type != BW_T_RECORD)
        return fail(&rd, BW_ERR_SCHEMA, "not a record");
    if ((err = fields ? check_record(&rd, root, buf, fields, 0) : check_node(&rd, root, NULL, 0)))
        return err;
    if (rd.p != rd.end)
        return fail(&rd, BW_ERR_TRAILING_BYTES, "%zu trailing bytes after the record",
                    (size_t)(rd.end - rd.p));
    return BW_ERR_OK;
}

bool bw_avro_scalar(const bw_snode_t *type, const unsigned char *p, const unsigned char *end,
                    bw_avro_scalar_t *out) {
    rd_t rd = {p, end, NULL, 0, false};
    int64_t v = 0;

    memset(out, 0, sizeof(*out));
    out->branch = -1;
    if (type->type == BW_T_UNION) {
        if (read_varint(&rd, &v, 5) || v < 0 || (uint64_t)v >= type->n)
            return false;
        out->branch = (int)v;
        type = type->branches[v];
    }
    out->type = type->type;
    switch (type->type) {
    case BW_T_NULL:
        return true;
    case BW_T_BOOLEAN:
        if (rd.p >= rd.end)
            return false;
        out->i = *rd.p;
        return true;
    case BW_T_INT:
    case BW_T_LONG:
    case BW_T_ENUM:
        return !read_varint(&rd, &out->i, 10);
    case BW_T_FLOAT:
    case BW_T_DOUBLE:
        if ((size_t)(rd.end - rd.p) < (type->type == BW_T_FLOAT ? 4u : 8u))
            return false;
        if (type->type == BW_T_FLOAT) {
            float f;
            memcpy(&f, rd.p, 4);
            out->d = f;
        } else {
            memcpy(&out->d, rd.p, 8);
        }
        return true;
    case BW_T_STRING:
    case BW_T_BYTES:
        if (read_varint(&rd, &v, 10) || v < 0 || (uint64_t)v > (uint64_t)(rd.end - rd.p))
            return false;
        out->s = (const char *)rd.p;
        out->len = (size_t)v;
        return true;
    default:
        return false;
    }
}

bool bw_avro_field(const bw_snode_t *root, const unsigned char *wire, const size_t *offs, int idx,
                   bw_type_t type, bool opt, bw_avro_scalar_t *out) {
    return bw_avro_scalar(root->fields[idx].type, wire + offs[idx], wire + offs[idx + 1], out) &&
           (out->type == type || (opt && out->type == BW_T_NULL));
}

bool bw_avro_enum_mask(const bw_snode_t *type, const unsigned char *p, const unsigned char *end,
                       uint64_t *mask) {
    rd_t rd = {p, end, NULL, 0, false};
    int64_t count, size, v;

    *mask = 0;
    if (type->type != BW_T_ARRAY || type->items->type != BW_T_ENUM)
        return false;
    /* blocks of items, a count of 0 ends them; a negative count is
     * followed by the block's size in bytes. Each item takes a byte at
     * least, so a hostile count runs into the end. */
    for (;;) {
        if (read_varint(&rd, &count, 10))
            return false;
        if (count == 0)
            return true;
        if (count < 0) {
            if (count == INT64_MIN || read_varint(&rd, &size, 10))
                return false;
            count = -count;
        }
        for (int64_t i = 0; i < count; i++) {
            if (read_varint(&rd, &v, 5))
                return false;
            if (v >= 0 && v < 64)
                *mask |= 1ULL << v;
        }
    }
}
