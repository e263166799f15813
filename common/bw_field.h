/*
 * bw_field - read one field of a decoded Avro record by index.
 *
 * Records reach a stage already checked against their schema
 * (bw_avro_check + bw_serde), so a field's type is known; these readers
 * only spare each stage the union and length bookkeeping of Avro C.
 */
#ifndef BW_FIELD_H
#define BW_FIELD_H

#include <avro.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** @brief An optional (null-first union) field: false when null, else its branch. */
bool bw_field_opt(avro_value_t *rec, int idx, avro_value_t *branch);

/** @brief A string value: *s and *len (without the NUL); "" when unreadable. */
void bw_field_string_of(avro_value_t *v, const char **s, size_t *len);

/** @brief A string field; "" when unreadable. */
void bw_field_str(avro_value_t *rec, int idx, const char **s, size_t *len);

/** @brief An optional string field: false when null. */
bool bw_field_opt_str(avro_value_t *rec, int idx, const char **s, size_t *len);

/** @brief A long field (timestamps too); 0 when unreadable. */
int64_t bw_field_long(avro_value_t *rec, int idx);

/** @brief An optional long field: INT64_MIN when null. */
int64_t bw_field_opt_long(avro_value_t *rec, int idx);

/** @brief An enum field's symbol index; 0 when unreadable. */
int bw_field_enum(avro_value_t *rec, int idx);

/** @brief An optional int field: INT64_MIN when null. */
int64_t bw_field_opt_int(avro_value_t *rec, int idx);

/** @brief An optional enum field's symbol index: -1 when null. */
int bw_field_opt_enum(avro_value_t *rec, int idx);

/** @brief An array of enums as a bit mask of symbol indexes (those below 64). */
uint64_t bw_field_enum_mask(avro_value_t *rec, int idx);

#endif
