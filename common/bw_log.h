/**
 * @file bw_log.h
 * @brief JSON-lines logging on stderr.
 *
 * One line per event: {"ts":..,"level":..,"stage":..,"instance":..,"msg":..,
 * plus any fields}. The level is checked before anything is formatted, and
 * bw_log_rl() rate-limits a call site that would otherwise flood the log
 * (a broker that is down logs once a second, not a thousand times).
 */
#ifndef BW_LOG_H
#define BW_LOG_H

#include <jansson.h>
#include <stdint.h>

typedef enum {
    BW_LOG_ERROR = 0,
    BW_LOG_WARN = 1,
    BW_LOG_INFO = 2,
    BW_LOG_DEBUG = 3,
} bw_log_level_t;

extern int bw_log_level;

/** @brief Set the stage name shown on every line (instance = host:pid). */
void bw_log_init(const char *stage);
/** @brief Parse "error|warn|info|debug"; returns -1 if unknown. */
int bw_log_level_parse(const char *s);

void bw_log_emit(int level, json_t *fields, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define bw_log(level, ...)                           \
    do {                                             \
        if ((level) <= bw_log_level)                 \
            bw_log_emit((level), NULL, __VA_ARGS__); \
    } while (0)

/** @brief Log with extra structured fields; @p fields is consumed. */
#define bw_log_kv(level, fields, ...)                 \
    do {                                              \
        json_t *_bw_f = (fields);                     \
        if ((level) <= bw_log_level)                  \
            bw_log_emit((level), _bw_f, __VA_ARGS__); \
        else                                          \
            json_decref(_bw_f);                       \
    } while (0)

/** State of one rate-limited call site. */
typedef struct {
    int64_t window_start_ms;
    int emitted;
    int suppressed;
} bw_log_rl_t;

/** @brief True if this call site may log now (at most 5 lines a second). */
int bw_log_rl_allow(bw_log_rl_t *rl, int *suppressed_before);

#define bw_log_rl(level, ...)                                                                  \
    do {                                                                                       \
        static bw_log_rl_t _bw_rl;                                                             \
        int _bw_supp = 0;                                                                      \
        if ((level) <= bw_log_level && bw_log_rl_allow(&_bw_rl, &_bw_supp))                    \
            bw_log_emit((level), _bw_supp ? json_pack("{s:i}", "suppressed", _bw_supp) : NULL, \
                        __VA_ARGS__);                                                          \
    } while (0)

#endif
