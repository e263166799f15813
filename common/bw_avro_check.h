/**
 * @file bw_avro_check.h
 * @brief Validate an Avro binary body against a compiled schema before
 *        Avro C reads it.
 *
 * Avro C trusts its input: a length prefix of 2^60 makes it try to allocate
 * that much, and it reads enum indexes and strings without checking them.
 * This pass walks the bytes once, with no allocation, and refuses anything
 * that is truncated, has trailing bytes, a length past the end, a bad union
 * or enum index, invalid UTF-8, or a value outside a field's "bw.range".
 * Its errors name the field path ("scope.lane: invalid UTF-8 at byte 3").
 */
#ifndef BW_AVRO_CHECK_H
#define BW_AVRO_CHECK_H

#include <stddef.h>

#include "bw_err.h"
#include "bw_schema.h"

bw_err_t bw_avro_check(const bw_snode_t *root, const unsigned char *buf, size_t len, char *errstr,
                       size_t errstr_size);

#endif
