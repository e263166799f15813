/**
 * @file bw_serde.h
 * @brief Confluent wire format: magic byte 0, 4-byte big-endian schema id,
 *        Avro binary body.
 *
 * Ids come from schemas/ids.manifest ("<id> <file>" per line). Decoding
 * checks size, magic byte, id, and then the body against the schema
 * (bw_avro_check) before Avro C reads it, so no input can crash or exhaust
 * the reader. A bw_serde_t is not thread-safe: one per thread.
 */
#ifndef BW_SERDE_H
#define BW_SERDE_H

#include <avro.h>
#include <stddef.h>
#include <stdint.h>

#include "bw_err.h"
#include "bw_schema.h"
#include "bw_util.h"

#define BW_WIRE_HEADER 5
/* librdkafka's own default message.max.bytes */
#define BW_SERDE_DEFAULT_MAX 1000000

typedef struct bw_serde_s bw_serde_t;

/** A decoded (or to-be-encoded) record: the schema and an Avro value. */
typedef struct bw_record_s {
    const bw_schema_t *schema;
    avro_value_t value;
} bw_record_t;

/**
 * @brief Load every schema named in @p dir/ids.manifest.
 * @param max_bytes largest message accepted or produced (whole wire record).
 */
bw_serde_t *bw_serde_new(const char *dir, size_t max_bytes, char *errstr, size_t errstr_size);
void bw_serde_destroy(bw_serde_t *sd);

/** @brief The newest schema with this short name ("ReviewEvent"), or NULL. */
const bw_schema_t *bw_serde_schema(const bw_serde_t *sd, const char *name);
const bw_schema_t *bw_serde_schema_by_id(const bw_serde_t *sd, int32_t id);

/**
 * @brief Decode one wire-format message.
 * @param expect if not NULL, a message written with another record type is
 *        refused (BW_ERR_WRONG_SCHEMA).
 * @param recp   receives a record owned by @p sd, valid until the next
 *        decode with the same schema.
 */
bw_err_t bw_serde_decode(bw_serde_t *sd, const void *buf, size_t len, const bw_schema_t *expect,
                         bw_record_t **recp, char *errstr, size_t errstr_size);

/**
 * @brief Everything bw_serde_decode checks (size, header, schema id, the
 *        body against the schema), without reading the body into Avro C.
 * @param schemap receives the message's schema.
 * @param fields  if not NULL, where each top-level field of the body starts,
 *        as offsets in @p buf (see bw_avro_check_fields); it has
 *        @p nfields entries, at least the schema's field count + 1.
 */
bw_err_t bw_serde_check(bw_serde_t *sd, const void *buf, size_t len, const bw_schema_t *expect,
                        const bw_schema_t **schemap, size_t *fields, size_t nfields, char *errstr,
                        size_t errstr_size);

/** @brief Encode @p value (of @p schema) into @p out (replacing its content). */
bw_err_t bw_serde_encode(bw_serde_t *sd, const bw_schema_t *schema, avro_value_t *value,
                         bw_buf_t *out, char *errstr, size_t errstr_size);

/**
 * @brief Encode a record of @p schema whose leading fields are already
 *        encoded (@p head, Avro binary) and whose other fields are the
 *        fields of @p rest, a record of those fields alone. Avro writes a
 *        record as its fields one after another, so a stage that passes
 *        fields through unchanged need not decode and re-encode them.
 */
bw_err_t bw_serde_encode_parts(bw_serde_t *sd, const bw_schema_t *schema, const void *head,
                               size_t head_len, avro_value_t *rest, bw_buf_t *out, char *errstr,
                               size_t errstr_size);

/** Looks up the wire id of one schema (a Schema Registry's, bw_registry). */
typedef bw_err_t (*bw_serde_id_cb)(void *opaque, const bw_schema_t *schema, int32_t *id,
                                   char *errstr, size_t errstr_size);

/**
 * @brief Replace the manifest's ids of every loaded schema with the ids
 *        @p lookup gives (all or none: on an error nothing changes).
 */
bw_err_t bw_serde_reassign_ids(bw_serde_t *sd, bw_serde_id_cb lookup, void *opaque, char *errstr,
                               size_t errstr_size);

/** @brief The size limit given to bw_serde_new(). */
/**
 * @brief Append the wire header of @p schema (magic byte, schema id) to
 *        @p out: for a message whose body the caller writes itself.
 */
bool bw_serde_put_header(const bw_schema_t *schema, bw_buf_t *out);

size_t bw_serde_max_bytes(const bw_serde_t *sd);

/** @brief A fresh, empty record to fill and encode; free with bw_record_destroy. */
bw_record_t *bw_record_new(const bw_schema_t *schema);
void bw_record_destroy(bw_record_t *rec);

#endif
