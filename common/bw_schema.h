/**
 * @file bw_schema.h
 * @brief Avro schemas as loaded from schemas/: the Avro C schema and value
 *        class for reading and writing, plus a compiled tree of our own that
 *        keeps what Avro C drops (logicalType, field defaults, our "bw.range"
 *        attribute) for validation and JSON conversion.
 */
#ifndef BW_SCHEMA_H
#define BW_SCHEMA_H

#include <avro.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "bw_err.h"

typedef enum {
    BW_T_NULL,
    BW_T_BOOLEAN,
    BW_T_INT,
    BW_T_LONG,
    BW_T_FLOAT,
    BW_T_DOUBLE,
    BW_T_BYTES,
    BW_T_STRING,
    BW_T_RECORD,
    BW_T_ENUM,
    BW_T_ARRAY,
    BW_T_MAP,
    BW_T_UNION,
    BW_T_FIXED,
} bw_type_t;

typedef struct bw_snode_s bw_snode_t;

/** A record field: its name, type, default and optional value range. */
typedef struct bw_sfield_s {
    char *name;
    bw_snode_t *type;
    json_t *defval; /* NULL when the field has no default */
    bool has_range;
    double min, max;
} bw_sfield_t;

struct bw_snode_s {
    bw_type_t type;
    bool ts_millis; /* long with logicalType timestamp-millis */
    char *name; /* full name of a record, enum or fixed */
    size_t n; /* fields, symbols or branches */
    bw_sfield_t *fields;
    char **symbols;
    bw_snode_t **branches;
    bw_snode_t *items; /* array and map */
    size_t fixed_size;
};

typedef struct bw_schema_s {
    char *name; /* short record name, e.g. "ReviewEvent" */
    char *fullname; /* "bw.ReviewEvent" */
    int32_t id; /* wire-format schema id */
    char *text; /* the schema's JSON, as read (what a registry is sent) */
    avro_schema_t avro;
    avro_value_iface_t *iface;
    bw_snode_t *root;
    bw_snode_t **nodes; /* every node, for freeing (named types are shared) */
    size_t nnodes, cap;
} bw_schema_t;

/** @brief Load and compile one .avsc file. */
bw_schema_t *bw_schema_load(const char *path, int32_t id, char *errstr, size_t errstr_size);
/** @brief The same from schema JSON text. */
bw_schema_t *bw_schema_parse(const char *json_text, int32_t id, char *errstr, size_t errstr_size);
void bw_schema_destroy(bw_schema_t *schema);

/** @brief Index of a record field by name, or -1. */
int bw_snode_field_index(const bw_snode_t *rec, const char *name);
/** @brief Index of an enum symbol, or -1. */
int bw_snode_symbol_index(const bw_snode_t *en, const char *symbol);

#endif
