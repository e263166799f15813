#include "bw_stop_guard.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bw_log.h"
#include "bw_proc.h"

struct bw_stop_guard_s {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* on CLOCK_MONOTONIC: a wall-clock step cannot move the bound */
    bool ended;
    int timeout_ms, status;
    char what[64];
};

static struct timespec after_ms(long ms) {
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

/* Wait until ended or @p until; true if ended. Called with the lock held. */
static bool wait_end(bw_stop_guard_t *g, const struct timespec *until) {
    int rc = 0;

    while (!g->ended && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&g->cond, &g->lock, until);
    return g->ended;
}

static void *watch(void *arg) {
    bw_stop_guard_t *g = arg;
    struct timespec t;

    pthread_mutex_lock(&g->lock);
    /* the stop request comes from a signal handler, which cannot wake a
     * condition variable: looked at ten times a second */
    while (!bw_proc_stopping()) {
        t = after_ms(100);
        if (wait_end(g, &t))
            goto out;
    }
    t = after_ms(g->timeout_ms);
    if (!wait_end(g, &t)) {
        bw_log(BW_LOG_WARN,
               "%s did not stop within %d ms of being asked to (broker away or hanging?): "
               "exiting now; uncommitted records are read again by their next reader",
               g->what, g->timeout_ms);
        _exit(g->status);
    }
out:
    pthread_mutex_unlock(&g->lock);
    return NULL;
}

bw_stop_guard_t *bw_stop_guard_start(const char *what, int timeout_ms, int status) {
    bw_stop_guard_t *g = calloc(1, sizeof(*g));
    pthread_condattr_t attr;
    int rc = ENOMEM;

    if (!g)
        goto fail;
    snprintf(g->what, sizeof(g->what), "%s", what);
    g->timeout_ms = timeout_ms;
    g->status = status;
    if ((rc = pthread_condattr_init(&attr)))
        goto fail;
    if (!(rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)))
        rc = pthread_cond_init(&g->cond, &attr);
    pthread_condattr_destroy(&attr);
    if (rc)
        goto fail;
    if ((rc = pthread_mutex_init(&g->lock, NULL))) {
        pthread_cond_destroy(&g->cond);
        goto fail;
    }
    if ((rc = pthread_create(&g->thread, NULL, watch, g))) {
        pthread_mutex_destroy(&g->lock);
        pthread_cond_destroy(&g->cond);
        goto fail;
    }
    return g;
fail:
    bw_log(BW_LOG_WARN, "%s: stop guard not started (%s): stopping is not bounded", what,
           strerror(rc));
    free(g);
    return NULL;
}

void bw_stop_guard_end(bw_stop_guard_t *g) {
    if (!g)
        return;
    pthread_mutex_lock(&g->lock);
    g->ended = true;
    pthread_cond_signal(&g->cond);
    pthread_mutex_unlock(&g->lock);
    pthread_join(g->thread, NULL);
    pthread_cond_destroy(&g->cond);
    pthread_mutex_destroy(&g->lock);
    free(g);
}
