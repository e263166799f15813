/**
 * @file bw_err.h
 * @brief One error enum for all of Bellwether.
 *
 * Every error says whether it is retriable (back off and try again: the
 * broker or Redis is away) or permanent (the input is bad: dead-letter it).
 */
#ifndef BW_ERR_H
#define BW_ERR_H

#include <stdbool.h>
#include <stddef.h>

/* X(NAME, description, retriable) */
#define BW_ERRORS(X)                                           \
    X(OK, "success", false)                                    \
    X(INVALID_ARG, "invalid argument", false)                  \
    X(NOMEM, "out of memory", true)                            \
    X(IO, "I/O error", true)                                   \
    X(CONFIG, "bad configuration", false)                      \
    X(UNKNOWN_KEY, "unknown configuration key", false)         \
    X(SCHEMA, "schema error", false)                           \
    X(TOO_LARGE, "message too large", false)                   \
    X(TRUNCATED, "truncated message", false)                   \
    X(BAD_MAGIC, "wrong magic byte", false)                    \
    X(UNKNOWN_SCHEMA_ID, "unknown schema id", false)           \
    X(WRONG_SCHEMA, "unexpected schema for this topic", false) \
    X(TRAILING_BYTES, "trailing bytes after record", false)    \
    X(BAD_UTF8, "invalid UTF-8", false)                        \
    X(BAD_ENUM, "unknown enum symbol", false)                  \
    X(BAD_TYPE, "wrong type", false)                           \
    X(OUT_OF_RANGE, "value out of range", false)               \
    X(MISSING_FIELD, "missing field", false)                   \
    X(UNKNOWN_FIELD, "unknown field", false)                   \
    X(BAD_JSON, "malformed JSON", false)                       \
    X(KAFKA, "Kafka error", false)                             \
    X(KAFKA_RETRIABLE, "transient Kafka error", true)          \
    X(DELIVERY, "message delivery failed", true)               \
    X(REDIS, "Redis error", false)                             \
    X(REDIS_DOWN, "Redis unreachable", true)                   \
    X(TIMEOUT, "timed out", true)                              \
    X(HTTP, "HTTP server error", false)

typedef enum {
#define BW_ERR_ENUM_(name, desc, retr) BW_ERR_##name,
    BW_ERRORS(BW_ERR_ENUM_)
#undef BW_ERR_ENUM_
        BW_ERR__CNT
} bw_err_t;

/** @brief Human description of an error, e.g. "invalid UTF-8". */
const char *bw_err2str(bw_err_t err);

/** @brief Stable upper-case name, e.g. "BAD_UTF8" (used in dead letters). */
const char *bw_err2name(bw_err_t err);

/** @brief True when the same operation may succeed later (back off). */
bool bw_err_retriable(bw_err_t err);

/** @brief snprintf into errstr that never overflows and tolerates NULL. */
void bw_errstr_set(char *errstr, size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
