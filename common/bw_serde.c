#include "bw_serde.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bw_avro_check.h"

#define MAX_SCHEMAS 256

typedef struct {
    bw_schema_t *schema;
    bw_record_t *rec; /* reused decode target */
} entry_t;

struct bw_serde_s {
    entry_t entries[MAX_SCHEMAS];
    int n;
    size_t max_bytes;
    avro_reader_t reader;
    avro_writer_t writer;
};

static bw_err_t load_manifest(bw_serde_t *sd, const char *dir, char *errstr, size_t errstr_size) {
    char path[4096], line[1024], sub[512];
    FILE *fp;
    int lineno = 0;
    bw_err_t err = BW_ERR_OK;

    snprintf(path, sizeof(path), "%s/ids.manifest", dir);
    if (!(fp = fopen(path, "r"))) {
        bw_errstr_set(errstr, errstr_size, "%s: %s", path, strerror(errno));
        return BW_ERR_SCHEMA;
    }
    while (fgets(line, sizeof(line), fp)) {
        char file[512], schema_path[4096 + 512];
        long id;
        char *p = line;

        lineno++;
        while (isspace((unsigned char)*p))
            p++;
        if (*p == '#' || *p == '\0')
            continue;
        if (sscanf(p, "%ld %511s", &id, file) != 2 || id < 0 || id > INT32_MAX) {
            bw_errstr_set(errstr, errstr_size, "%s:%d: expected \"<id> <file>\"", path, lineno);
            err = BW_ERR_SCHEMA;
            break;
        }
        if (bw_serde_schema_by_id(sd, (int32_t)id)) {
            bw_errstr_set(errstr, errstr_size, "%s:%d: schema id %ld used twice", path, lineno, id);
            err = BW_ERR_SCHEMA;
            break;
        }
        if (sd->n >= MAX_SCHEMAS) {
            bw_errstr_set(errstr, errstr_size, "%s: more than %d schemas", path, MAX_SCHEMAS);
            err = BW_ERR_SCHEMA;
            break;
        }
        snprintf(schema_path, sizeof(schema_path), "%s/%s", dir, file);
        entry_t *e = &sd->entries[sd->n];
        if (!(e->schema = bw_schema_load(schema_path, (int32_t)id, sub, sizeof(sub)))) {
            bw_errstr_set(errstr, errstr_size, "%s:%d: %s", path, lineno, sub);
            err = BW_ERR_SCHEMA;
            break;
        }
        sd->n++;
        if (!(e->rec = bw_record_new(e->schema))) {
            bw_errstr_set(errstr, errstr_size, "out of memory");
            err = BW_ERR_NOMEM;
            break;
        }
    }
    fclose(fp);
    if (!err && sd->n == 0) {
        bw_errstr_set(errstr, errstr_size, "%s: no schemas", path);
        err = BW_ERR_SCHEMA;
    }
    return err;
}

bw_serde_t *bw_serde_new(const char *dir, size_t max_bytes, char *errstr, size_t errstr_size) {
    bw_serde_t *sd = calloc(1, sizeof(*sd));

    if (!sd) {
        bw_errstr_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    sd->max_bytes = max_bytes < 64 ? 64 : max_bytes;
    sd->reader = avro_reader_memory("", 0);
    sd->writer = avro_writer_memory("", 0);
    if (!sd->reader || !sd->writer) {
        bw_errstr_set(errstr, errstr_size, "out of memory");
        goto err;
    }
    if (load_manifest(sd, dir, errstr, errstr_size))
        goto err;
    return sd;
err:
    bw_serde_destroy(sd);
    return NULL;
}

bw_err_t bw_serde_reassign_ids(bw_serde_t *sd, bw_serde_id_cb lookup, void *opaque, char *errstr,
                               size_t errstr_size) {
    int32_t ids[MAX_SCHEMAS];
    bw_err_t err;

    for (int i = 0; i < sd->n; i++)
        if ((err = lookup(opaque, sd->entries[i].schema, &ids[i], errstr, errstr_size)))
            return err;
    for (int i = 0; i < sd->n; i++)
        sd->entries[i].schema->id = ids[i];
    return BW_ERR_OK;
}

void bw_serde_destroy(bw_serde_t *sd) {
    if (!sd)
        return;
    for (int i = 0; i < sd->n; i++) {
        bw_record_destroy(sd->entries[i].rec);
        bw_schema_destroy(sd->entries[i].schema);
    }
    if (sd->reader)
        avro_reader_free(sd->reader);
    if (sd->writer)
        avro_writer_free(sd->writer);
    free(sd);
}

const bw_schema_t *bw_serde_schema(const bw_serde_t *sd, const char *name) {
    const bw_schema_t *best = NULL;

    /* The manifest lists versions in order, so the last match is newest. */
    for (int i = 0; i < sd->n; i++)
        if (!strcmp(sd->entries[i].schema->name, name) ||
            !strcmp(sd->entries[i].schema->fullname, name))
            best = sd->entries[i].schema;
    return best;
}

static entry_t *entry_by_id(const bw_serde_t *sd, int32_t id) {
    for (int i = 0; i < sd->n; i++)
        if (sd->entries[i].schema->id == id)
            return (entry_t *)&sd->entries[i];
    return NULL;
}

const bw_schema_t *bw_serde_schema_by_id(const bw_serde_t *sd, int32_t id) {
    entry_t *e = entry_by_id(sd, id);

    return e ? e->schema : NULL;
}

bw_err_t bw_serde_check(bw_serde_t *sd, const void *buf, size_t len, const bw_schema_t *expect,
                        const bw_schema_t **schemap, size_t *fields, size_t nfields, char *errstr,
                        size_t errstr_size) {
    const unsigned char *p = buf;
    entry_t *e;
    int32_t id;
    bw_err_t err;

    if (len > sd->max_bytes) {
        bw_errstr_set(errstr, errstr_size, "message of %zu bytes is over the limit of %zu", len,
                      sd->max_bytes);
        return BW_ERR_TOO_LARGE;
    }
    if (len < BW_WIRE_HEADER) {
        bw_errstr_set(errstr, errstr_size,
                      "message of %zu bytes is shorter than the %d-byte header", len,
                      BW_WIRE_HEADER);
        return BW_ERR_TRUNCATED;
    }
    if (p[0] != 0) {
        bw_errstr_set(errstr, errstr_size, "magic byte is %u, expected 0", p[0]);
        return BW_ERR_BAD_MAGIC;
    }
    id = (int32_t)((uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4]);
    if (!(e = entry_by_id(sd, id))) {
        bw_errstr_set(errstr, errstr_size, "unknown schema id %d", id);
        return BW_ERR_UNKNOWN_SCHEMA_ID;
    }
    if (expect && strcmp(expect->fullname, e->schema->fullname)) {
        bw_errstr_set(errstr, errstr_size, "schema id %d is %s, expected %s", id, e->schema->name,
                      expect->name);
        return BW_ERR_WRONG_SCHEMA;
    }
    if (fields && nfields < e->schema->root->n + 1) {
        bw_errstr_set(errstr, errstr_size, "schema id %d: %s has more fields than expected", id,
                      e->schema->name);
        return BW_ERR_WRONG_SCHEMA;
    }
    if ((err = bw_avro_check_fields(e->schema->root, p + BW_WIRE_HEADER, len - BW_WIRE_HEADER,
                                    fields, errstr, errstr_size)))
        return err;
    for (size_t i = 0; fields && i <= e->schema->root->n; i++)
        fields[i] += BW_WIRE_HEADER;
    *schemap = e->schema;
    return BW_ERR_OK;
}

bw_err_t bw_serde_decode(bw_serde_t *sd, const void *buf, size_t len, const bw_schema_t *expect,
                         bw_record_t **recp, char *errstr, size_t errstr_size) {
    const unsigned char *p = buf;
    const bw_schema_t *schema;
    entry_t *e;
    bw_err_t err;

    if ((err = bw_serde_check(sd, buf, len, expect, &schema, NULL, 0, errstr, errstr_size)))
        return err;
    e = entry_by_id(sd, schema->id);
    avro_value_reset(&e->rec->value);
    avro_reader_memory_set_source(sd->reader, (const char *)p + BW_WIRE_HEADER,
                                  (int64_t)(len - BW_WIRE_HEADER));
    if (avro_value_read(sd->reader, &e->rec->value)) {
        /* Should not happen after bw_avro_check; say so plainly if it does. */
        bw_errstr_set(errstr, errstr_size, "Avro C: %s", avro_strerror());
        return BW_ERR_SCHEMA;
    }
    *recp = e->rec;
    return BW_ERR_OK;
}

bw_err_t bw_serde_encode(bw_serde_t *sd, const bw_schema_t *schema, avro_value_t *value,
                         bw_buf_t *out, char *errstr, size_t errstr_size) {
    return bw_serde_encode_parts(sd, schema, NULL, 0, value, out, errstr, errstr_size);
}

bw_err_t bw_serde_encode_parts(bw_serde_t *sd, const bw_schema_t *schema, const void *head,
                               size_t head_len, avro_value_t *rest, bw_buf_t *out, char *errstr,
                               size_t errstr_size) {
    size_t at = BW_WIRE_HEADER + head_len;
    unsigned char *p;

    out->len = 0;
    if (at > sd->max_bytes) {
        bw_errstr_set(errstr, errstr_size, "%s record does not fit in %zu bytes", schema->name,
                      sd->max_bytes);
        return BW_ERR_TOO_LARGE;
    }
    if (!bw_buf_reserve(out, sd->max_bytes)) {
        bw_errstr_set(errstr, errstr_size, "out of memory");
        return BW_ERR_NOMEM;
    }
    if (!bw_serde_put_header(schema, out))
        return BW_ERR_NOMEM; /* cannot happen: reserved above */
    p = (unsigned char *)out->data;
    if (head_len)
        memcpy(p + BW_WIRE_HEADER, head, head_len);
    avro_writer_memory_set_dest(sd->writer, out->data + at, (int64_t)(sd->max_bytes - at));
    if (avro_value_write(sd->writer, rest)) {
        bw_errstr_set(errstr, errstr_size, "%s record does not fit in %zu bytes", schema->name,
                      sd->max_bytes);
        return BW_ERR_TOO_LARGE;
    }
    out->len = at + (size_t)avro_writer_tell(sd->writer);
    return BW_ERR_OK;
}

bool bw_serde_put_header(const bw_schema_t *schema, bw_buf_t *out) {
    unsigned char h[BW_WIRE_HEADER] = {
        0, (unsigned char)((uint32_t)schema->id >> 24), (unsigned char)((uint32_t)schema->id >> 16),
        (unsigned char)((uint32_t)schema->id >> 8), (unsigned char)schema->id};

    return bw_buf_append(out, h, sizeof(h));
}

size_t bw_serde_max_bytes(const bw_serde_t *sd) {
    return sd->max_bytes;
}

bw_record_t *bw_record_new(const bw_schema_t *schema) {
    bw_record_t *rec = calloc(1, sizeof(*rec));

    if (!rec)
        return NULL;
    rec->schema = schema;
    if (avro_generic_value_new(schema->iface, &rec->value)) {
        free(rec);
        return NULL;
    }
    return rec;
}

void bw_record_destroy(bw_record_t *rec) {
    if (!rec)
        return;
    avro_value_decref(&rec->value);
    free(rec);
}
