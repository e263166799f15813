/**
 * @file bw_json.h
 * @brief JSON renderings of Avro records (CLI, tests, replay files).
 *
 * Field names are the Avro names. An optional field is its value or null;
 * timestamp-millis fields are RFC 3339 text on output and RFC 3339 text or
 * epoch milliseconds on input; bytes are base64. Input is strict: a missing
 * required field, an unknown field, a wrong type, an unknown enum symbol or
 * a value outside "bw.range" is an error that names the field path, e.g.
 * `rating: expected int 1..5, got "five"`.
 */
#ifndef BW_JSON_H
#define BW_JSON_H

#include <avro.h>
#include <jansson.h>

#include "bw_err.h"
#include "bw_schema.h"

/** @brief Fill @p value (reset first) from JSON. */
bw_err_t bw_json_to_avro(const bw_schema_t *schema, json_t *json, avro_value_t *value, char *errstr,
                         size_t errstr_size);

/**
 * @brief Fill @p value, of schema node @p type, from JSON: a field's
 *        default (bw_sfield_t.defval) into a field a writer does not set.
 */
bw_err_t bw_json_value_to_avro(const bw_snode_t *type, json_t *json, avro_value_t *value,
                               char *errstr, size_t errstr_size);

/** @brief JSON for @p value; NULL only when out of memory. */
json_t *bw_avro_to_json(const bw_schema_t *schema, avro_value_t *value);

#endif
