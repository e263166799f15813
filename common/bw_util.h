/**
 * @file bw_util.h
 * @brief Small helpers every module needs: clocks, UTF-8, base64, time text,
 *        a growable byte buffer.
 */
#ifndef BW_UTIL_H
#define BW_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BW_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/** @brief Wall clock, milliseconds since the Unix epoch. */
int64_t bw_now_ms(void);
/** @brief Monotonic clock in milliseconds (for timeouts and rates). */
int64_t bw_mono_ms(void);
/** @brief Monotonic clock in nanoseconds (for benches and latency). */
int64_t bw_mono_ns(void);
/** @brief Sleep for ms milliseconds (restarts on EINTR unless *stop). */
void bw_sleep_ms(int64_t ms);

/**
 * @brief Strict UTF-8 check: no overlong forms, no surrogates, nothing past
 *        U+10FFFF.
 * @returns -1 when valid, else the byte offset of the first bad sequence.
 */
long bw_utf8_check(const char *s, size_t len);

/** @brief Base64 (RFC 4648, padded). out must hold bw_b64_enclen(len)+1. */
size_t bw_b64_enclen(size_t len);
size_t bw_b64_encode(const unsigned char *in, size_t len, char *out);
/** @returns decoded length, or -1 on a malformed input. out >= len*3/4. */
long bw_b64_decode(const char *in, size_t len, unsigned char *out);

/**
 * @brief Format epoch milliseconds as RFC 3339 UTC, "2024-05-01T12:00:00.000Z".
 *        buf must hold BW_TS_BUFSZ bytes.
 */
#define BW_TS_BUFSZ 40
void bw_ts_format(int64_t ms, char *buf);
/**
 * @brief Parse RFC 3339 ("2024-05-01T12:00:00Z", optional fraction and
 *        offset, or a date alone) into epoch milliseconds.
 * @returns true on success.
 */
bool bw_ts_parse(const char *s, int64_t *ms);

/** @brief A growable byte buffer. */
typedef struct bw_buf_s {
    char *data;
    size_t len;
    size_t cap;
} bw_buf_t;

bool bw_buf_reserve(bw_buf_t *b, size_t extra);
bool bw_buf_append(bw_buf_t *b, const void *p, size_t n);
bool bw_buf_printf(bw_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** @brief Append a decimal integer (no printf). */
bool bw_buf_append_i64(bw_buf_t *b, int64_t v);
/** @brief Room bw_fmt_i64 needs: 19 digits and a sign. */
#define BW_I64_DIGITS 20
/** @brief @p v in decimal at @p out (no terminator); returns its length. */
size_t bw_fmt_i64(char *out, int64_t v);
/**
 * @brief Make @p b "<a><sep><c>" (terminated): the member and marker
 *        names stages make per event, without printf or an allocation
 *        once the buffer has grown.
 */
bool bw_buf_join(bw_buf_t *b, const char *a, char sep, const char *c);
/**
 * @brief "<prefix><v>" in @p out, of @p size bytes (cut to fit, always
 *        terminated), without printf: the key names of a batch's windows
 *        are made thousands of times a batch. Returns its length.
 */
size_t bw_name_i64(char *out, size_t size, const char *prefix, int64_t v);
void bw_buf_reset(bw_buf_t *b);
void bw_buf_free(bw_buf_t *b);

/**
 * @brief A bump allocator for what lives exactly as long as a batch: many
 *        small strings, freed together by bw_arena_reset().
 */
typedef struct bw_arena_s {
    struct bw_arena_block_s *head;
} bw_arena_t;

void *bw_arena_alloc(bw_arena_t *a, size_t n);
char *bw_arena_strdup(bw_arena_t *a, const char *s);
/** @brief A NUL-terminated copy of the @p n bytes at @p s. */
char *bw_arena_strndup(bw_arena_t *a, const char *s, size_t n);
/** @brief Free everything allocated (keeps one block for reuse). */
void bw_arena_reset(bw_arena_t *a);
void bw_arena_free(bw_arena_t *a);

/** @brief Grow *arr (of *cap elements of @p sz bytes) to hold @p n + 1 (doubling as often as
 *         that takes). */
bool bw_grow(void **arr, size_t *cap, size_t n, size_t sz);

/** @brief FNV-1a of a string: spreads ids over a few slots (not for security). */
uint32_t bw_hash32(const char *s);

/** @brief strncpy that always terminates; returns false if truncated. */
bool bw_strlcpy(char *dst, const char *src, size_t size);

/** @brief Parse a whole string as a base-10 integer / double. */
bool bw_parse_i64(const char *s, int64_t *out);
bool bw_parse_double(const char *s, double *out);

/**
 * @brief Prefix an error message with a field path element on the way up
 *        from a nested error: "rating: ..." at the leaf, then "scope.lane: ..."
 *        or "evidence[3]: ..." further up. *has_path starts false.
 */
void bw_errpath_prefix(char *errstr, size_t errstr_size, bool *has_path, const char *name);

/**
 * @brief Deterministic alert id: 16 hex digits of a 64-bit FNV-1a hash of
 *        type, canonical scope and window start. The same input replayed
 *        gives the same ids.
 */
void bw_alert_id(char out[17], const char *type, const char *scope, int64_t window_start);

#endif
