#include "lifecycle.h"

#include <stdio.h>
#include <string.h>

#include "bw_util.h" /* bw_alert_id: the same ids the detectors use */

static al_send_t fire(al_t *a, int64_t at) {
    bool first = a->sent_severity < 0; /* the episode's first send */

    a->state = AL_FIRING;
    a->version++;
    a->sent_severity = a->severity;
    a->last_sent = at;
    return first ? AL_SEND_FIRING : AL_SEND_UPDATE;
}

/* Within the hold time of the episode, in the key's own event time: a
 * signal that comes after the clock resolved the episode (other keys'
 * signals moved it on first) belongs to it all the same. Where episodes
 * split is then a function of this key's signals alone, whatever the
 * order signals of different keys arrive in, and so are their ids. */
static bool same_episode(const al_cfg_t *cfg, const al_t *a, int64_t at) {
    return a->alert_id[0] && at - a->last_seen < cfg->hold_ms && a->since - at < cfg->hold_ms;
}

al_send_t al_on_gap(const al_cfg_t *cfg, al_t *a, int64_t at) {
    if (a->state == AL_NONE || same_episode(cfg, a, at))
        return AL_SEND_NONE;
    return al_on_clock(cfg, a, a->last_seen + cfg->hold_ms);
}

bool al_expired(const al_cfg_t *cfg, const al_t *a, int64_t wm) {
    int64_t keep = cfg->keep_ms > 0 ? cfg->keep_ms : 2 * cfg->hold_ms;

    return a->state == AL_NONE && wm != INT64_MIN && wm - a->last_seen >= keep;
}

al_send_t al_on_signal(const al_cfg_t *cfg, al_t *a, const char *type, const char *scope_text,
                       int severity, int64_t window_start, int64_t at) {
    if (a->state == AL_NONE && same_episode(cfg, a, at)) {
        /* reopened: the same id, sent again (a new version) if it had fired */
        a->state = AL_PENDING;
        if (at < a->since)
            a->since = at;
        if (a->sent_severity >= 0) {
            a->occurrences++;
            a->last_seen = at > a->last_seen ? at : a->last_seen;
            a->severity = severity > a->severity ? severity : a->severity;
            return fire(a, at);
        }
    } else if (a->state == AL_NONE) {
        /* a new episode: its id is fixed by its first window. One that
         * starts in the window the last one started in has the same id and
         * goes on counting its versions: an id and a version name one
         * warning for good (consumers deduplicate on them, and so does the
         * outbox) */
        char id[sizeof(a->alert_id)];
        int64_t version;
        bw_alert_id(id, type, scope_text, window_start);
        version = !strcmp(id, a->alert_id) ? a->version : 0;
        memset(a, 0, sizeof(*a));
        memcpy(a->alert_id, id, sizeof(id));
        a->version = version;
        a->state = AL_PENDING;
        a->since = a->last_seen = at;
        a->window_start = window_start;
        a->severity = severity;
        a->sent_severity = -1;
    }
    a->occurrences++;
    if (at > a->last_seen)
        a->last_seen = at;
    if (severity > a->severity)
        a->severity = severity; /* a lower one changes nothing: the episode keeps its worst */
    if (a->state == AL_PENDING)
        return at - a->since >= cfg->for_ms ? fire(a, at) : AL_SEND_NONE;
    if (a->severity > a->sent_severity)
        return fire(a, at);
    if (cfg->cooldown_ms > 0 && at - a->last_sent >= cfg->cooldown_ms)
        return fire(a, at); /* a reminder with the rolled-up counts */
    return AL_SEND_NONE;
}

al_send_t al_on_clock(const al_cfg_t *cfg, al_t *a, int64_t wm) {
    if (a->state == AL_NONE || wm == INT64_MIN)
        return AL_SEND_NONE;
    if (wm - a->last_seen >= cfg->hold_ms) {
        if (a->state == AL_PENDING) {
            a->state = AL_NONE;
            return AL_DROP;
        }
        a->state = AL_NONE;
        a->version++;
        a->last_sent = wm;
        return AL_SEND_RESOLVED;
    }
    if (a->state == AL_PENDING && wm - a->since >= cfg->for_ms)
        return fire(a, wm);
    return AL_SEND_NONE;
}

bool al_encode(const al_t *a, char *out, size_t size) {
    int n = snprintf(out, size, "%d|%s|%lld|%lld|%lld|%d|%d|%lld|%lld|%lld", (int)a->state,
                     a->alert_id, (long long)a->since, (long long)a->last_seen,
                     (long long)a->window_start, a->severity, a->sent_severity,
                     (long long)a->occurrences, (long long)a->version, (long long)a->last_sent);
    return n > 0 && (size_t)n < size;
}

bool al_decode(const char *in, al_t *a) {
    int st, sev, sent;
    long long since, last, ws, occ, ver, ls;
    char id[17];

    if (sscanf(in, "%d|%16[0-9a-f]|%lld|%lld|%lld|%d|%d|%lld|%lld|%lld", &st, id, &since, &last,
               &ws, &sev, &sent, &occ, &ver, &ls) != 10 ||
        st < AL_NONE || st > AL_FIRING || sev < 0 || sev > 2 || sent < -1 || sent > 2)
        return false;
    a->state = (al_state_t)st;
    memcpy(a->alert_id, id, sizeof(id));
    a->since = since;
    a->last_seen = last;
    a->window_start = ws;
    a->severity = sev;
    a->sent_severity = sent;
    a->occurrences = occ;
    a->version = ver;
    a->last_sent = ls;
    return true;
}
