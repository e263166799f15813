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

/**
 * @brief bw_avro_check of a record, noting where each of its fields
 *        starts: fields[i] is field i's offset in buf and fields[root->n]
 *        the end, so fields must have root->n + 1 entries.
 */
bw_err_t bw_avro_check_fields(const bw_snode_t *root, const unsigned char *buf, size_t len,
                              size_t *fields, char *errstr, size_t errstr_size);

/** A value read straight from checked bytes (see bw_avro_scalar). */
typedef struct {
    int branch; /* the union branch taken, or -1 when the type is no union */
    bw_type_t type; /* the value's own type (the branch's for a union) */
    int64_t i; /* boolean, int, long, enum index */
    double d; /* float, double */
    const char *s; /* string, bytes: not NUL-terminated */
    size_t len;
} bw_avro_scalar_t;

/**
 * @brief Read the value of @p type at @p p, bytes bw_avro_check passed:
 *        a null, boolean, number, enum, string or bytes, or a union of
 *        them. Lets a stage read the few fields it needs where they are,
 *        without building Avro C values.
 * @returns false for any other type, or bytes that end too soon.
 */
bool bw_avro_scalar(const bw_snode_t *type, const unsigned char *p, const unsigned char *end,
                    bw_avro_scalar_t *out);

/**
 * @brief bw_avro_scalar of field @p idx of record @p root in @p wire, whose
 *        fields start at @p offs (bw_avro_check_fields).
 * @returns false unless the value is of type @p type (or null, with @p opt).
 */
bool bw_avro_field(const bw_snode_t *root, const unsigned char *wire, const size_t *offs, int idx,
                   bw_type_t type, bool opt, bw_avro_scalar_t *out);

/**
 * @brief Read an array of enums at @p p (bytes bw_avro_check passed) as a
 *        bit mask of their indices (those from 0 to 63).
 * @returns false for any other type, or bytes that end too soon.
 */
bool bw_avro_enum_mask(const bw_snode_t *type, const unsigned char *p, const unsigned char *end,
                       uint64_t *mask);

#endif
