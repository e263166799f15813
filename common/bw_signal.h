/**
 * @file bw_signal.h
 * @brief Signals as the detecting stages send them: the record, its Kafka
 *        key, and the "fired" marks that make each window's signal go out
 *        once (and again only when it grows).
 *
 * A detector judges a window and, when it fires, builds a Signal with a
 * deterministic alert id (type, scope, window start) and the key
 * "TYPE|scope" (one alert's signals stay on one partition of bw.signals).
 * What it sent is remembered per hash tag in the hash "bw:{tag}:fired",
 * field "<TYPE>:<window>", value the strength sent (a severity level, or a
 * count for signals that grow). The marks are written only once the
 * batch's outputs are delivered, so a crash re-sends with the same id
 * rather than losing a signal; bw-alert rolls the repeat up.
 */
#ifndef BW_SIGNAL_H
#define BW_SIGNAL_H

#include <jansson.h>
#include <stdint.h>

#include "bw_err.h"
#include "bw_schema.h"
#include "bw_serde.h"
#include "bw_util.h"
#include "bw_window.h"

/** Severity levels, as the schema's enum order. */
enum { BW_SEV_INFO = 0, BW_SEV_WARNING = 1, BW_SEV_CRITICAL = 2 };

typedef struct bw_signal_s {
    const char *type; /* a SignalType symbol */
    int severity; /* BW_SEV_* */
    json_t *scope; /* object of Scope fields; the builder takes the reference */
    int64_t window_start, window_end;
    double observed, baseline, threshold;
    int64_t sample;
    char *const *evidence; /* up to 5 event ids */
    int nevidence;
    const char *playbook;
    const char *detail; /* may be NULL */
} bw_signal_t;

/**
 * @brief Fill @p rec (a Signal record) from @p s and set @p key to its
 *        Kafka key. Takes @p s->scope's reference in every case.
 */
bw_err_t bw_signal_build(const bw_schema_t *schema, bw_record_t *rec, const bw_signal_t *s,
                         bw_buf_t *key, char *errstr, size_t errstr_size);

/** @brief "<type>:<window>" (a fired field's name) into @p buf. */
const char *bw_fired_field(char *buf, size_t size, const char *type, int64_t window);

/** @brief The value of a fired field from an HMGET reply's element (0: none). */
int64_t bw_fired_value(const redisReply *r);

/**
 * Marks of the signals a batch sent, written once they are delivered; and
 * any other change that must wait for them (a timer that may leave its set
 * only once what it made the batch send is out: written earlier, a crash
 * in between would lose the signal for good).
 */
typedef struct bw_mark_s {
    char *tag, *key, *field;
    bw_op_t op;
    int64_t value;
} bw_mark_t;

typedef struct bw_marks_s {
    bw_mark_t *v;
    size_t n, cap;
} bw_marks_t;

bool bw_marks_add(bw_marks_t *m, const char *tag, const char *field, int64_t value);

/** @brief Any other change to write with the marks (unfenced: it must be idempotent). */
bool bw_marks_add_op(bw_marks_t *m, const char *tag, const char *key, bw_op_t op, const char *field,
                     int64_t value);

/**
 * @brief Queue the marks on @p win (HSET-if-larger on each tag's "fired",
 *        unfenced: a mark only grows; the other changes as added) and flush; the marks are cleared
 *        either way (on failure the batch runs again and marks again).
 */
bw_err_t bw_marks_write(bw_marks_t *m, bw_win_t *win, int64_t ttl_s, char *errstr,
                        size_t errstr_size);

void bw_marks_clear(bw_marks_t *m);
void bw_marks_free(bw_marks_t *m);

#endif
