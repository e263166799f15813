/**
 * @file bw_avro_put.h
 * @brief Avro binary encoding of single values, appended to a buffer.
 *
 * For a stage that writes the few fields it adds to a message itself
 * instead of building an Avro C value for them (bw-classify's findings:
 * a generic value set and written per review cost more than the rest of
 * the encoding). Byte for byte what Avro C writes; the record layout is
 * the caller's to check against the schema (bw_snode_t) first.
 */
#ifndef BW_AVRO_PUT_H
#define BW_AVRO_PUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bw_util.h"

/** @brief Most bytes of one zigzag varint (a 64-bit long). */
#define BW_AVRO_LONG_MAX 10

/**
 * @brief An int or a long (zigzag varint): also an enum's index, a union's
 *        branch, an array block's count, a string's length.
 */
bool bw_avro_put_long(bw_buf_t *b, int64_t v);
/** @brief A double: eight bytes, little-endian IEEE 754. */
bool bw_avro_put_double(bw_buf_t *b, double v);
/** @brief A boolean: one byte, 0 or 1. */
bool bw_avro_put_bool(bw_buf_t *b, bool v);
/** @brief A string or bytes: the length, then the bytes. */
bool bw_avro_put_string(bw_buf_t *b, const char *s, size_t len);

#endif
