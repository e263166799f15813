/* bw-alert's lifecycle of one alert (type + scope): plain functions over a
 * state, no I/O. Time is event time: the signals' last_seen, and a
 * watermark (the latest signal time the stage has seen) for what happens
 * when signals stop coming. */
#ifndef BW_ALERT_LIFECYCLE_H
#define BW_ALERT_LIFECYCLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { AL_NONE, AL_PENDING, AL_FIRING } al_state_t;

/* Severity as the schema's enum order: INFO 0, WARNING 1, CRITICAL 2. */
typedef struct {
    al_state_t state;
    char alert_id[17]; /* of the episode: type, scope and its first window */
    int64_t since; /* first signal of the episode */
    int64_t last_seen; /* latest signal */
    int64_t window_start; /* the episode's first window */
    int severity; /* highest of the episode */
    int sent_severity; /* what the last send said; -1: not sent */
    int64_t occurrences;
    int64_t version; /* sends of this alert_id */
    int64_t last_sent; /* event time of the last send */
} al_t;

typedef struct {
    int64_t for_ms; /* pending this long before firing (0: at once) */
    int64_t cooldown_ms; /* a firing alert's repeats are re-sent at most this often */
    int64_t hold_ms; /* resolved after this long without a signal */
    int64_t keep_ms; /* a resolved episode stays in memory this long; 0: 2 x hold_ms */
} al_cfg_t;

typedef enum {
    AL_SEND_NONE, /* rolled up, nothing to send */
    AL_SEND_FIRING, /* the episode's first send */
    AL_SEND_UPDATE, /* severity rose, or a repeat after the cooldown */
    AL_SEND_RESOLVED, /* clear for the hold time */
    AL_DROP, /* pending, never fired, and clear: forget it */
} al_send_t;

/**
 * @brief A signal for this alert.
 * @param scope_text canonical scope (sorted-key JSON) for the alert id
 */
al_send_t al_on_signal(const al_cfg_t *cfg, al_t *a, const char *type, const char *scope_text,
                       int severity, int64_t window_start, int64_t at);

/**
 * @brief A signal at @p at comes a hold time or more after the episode's
 *        last one (in the key's own event time) while the clock has not yet
 *        resolved it: resolved now (AL_SEND_RESOLVED, or AL_DROP if it never
 *        fired), before al_on_signal() opens the next episode.
 */
al_send_t al_on_gap(const al_cfg_t *cfg, al_t *a, int64_t at);

/**
 * @brief A resolved episode stays in memory (al_on_signal reopens it for a
 *        signal within the hold time of its last one) until the clock is
 *        keep_ms past it; then it can leave memory. The clock is the latest
 *        signal of any key, which can run far ahead of a key's own signals
 *        (a stage catching up on a backlog), so what leaves memory must stay
 *        where a late signal can find it (alert.c keeps it in Redis).
 */
bool al_expired(const al_cfg_t *cfg, const al_t *a, int64_t wm);

/** @brief Time moved to @p wm: fire what was pending long enough, resolve what is clear. */
al_send_t al_on_clock(const al_cfg_t *cfg, al_t *a, int64_t wm);

/** @brief "state|id|since|last|ws|sev|sent|occ|ver|last_sent" (what Redis keeps). */
bool al_encode(const al_t *a, char *out, size_t size);
bool al_decode(const char *in, al_t *a);

#endif
