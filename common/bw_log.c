#include "bw_log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bw_util.h"

int bw_log_level = BW_LOG_INFO;

static char bw_log_stage[64] = "bw";
static char bw_log_instance[128] = "";
static pthread_mutex_t bw_log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *level_names[] = {"error", "warn", "info", "debug"};

void bw_log_init(const char *stage) {
    char host[64] = "localhost";

    bw_strlcpy(bw_log_stage, stage, sizeof(bw_log_stage));
    if (gethostname(host, sizeof(host)) != 0)
        bw_strlcpy(host, "localhost", sizeof(host));
    host[sizeof(host) - 1] = '\0';
    snprintf(bw_log_instance, sizeof(bw_log_instance), "%s:%d", host, (int)getpid());
}

int bw_log_level_parse(const char *s) {
    for (int i = 0; i < (int)BW_ARRAY_SIZE(level_names); i++)
        if (!strcmp(s, level_names[i]))
            return i;
    return -1;
}

void bw_log_emit(int level, json_t *fields, const char *fmt, ...) {
    char msg[2048], ts[BW_TS_BUFSZ];
    va_list ap;
    json_t *line;
    char *text;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    bw_ts_format(bw_now_ms(), ts);

    if (level < 0 || level > BW_LOG_DEBUG)
        level = BW_LOG_ERROR;
    line = json_pack("{s:s, s:s, s:s, s:s}", "ts", ts, "level", level_names[level], "stage",
                     bw_log_stage, "instance", bw_log_instance);
    if (line) {
        /* A message with invalid UTF-8 (from hostile input) must still be
         * logged: jansson refuses it, so fall back to a placeholder. */
        json_t *m = json_string(msg);
        json_object_set_new(line, "msg", m ? m : json_string("(message not valid UTF-8)"));
        if (fields)
            json_object_update(line, fields);
    }
    text = line ? json_dumps(line, JSON_COMPACT) : NULL;
    pthread_mutex_lock(&bw_log_lock);
    if (text)
        fprintf(stderr, "%s\n", text);
    else
        fprintf(stderr, "{\"level\":\"%s\",\"msg\":\"(log line could not be built)\"}\n",
                level_names[level]);
    fflush(stderr);
    pthread_mutex_unlock(&bw_log_lock);
    free(text);
    json_decref(line);
    json_decref(fields);
}

int bw_log_rl_allow(bw_log_rl_t *rl, int *suppressed_before) {
    int64_t now = bw_mono_ms();
    int ok;

    /* Only reached for lines that pass the level check, so the lock
     * costs nothing on the hot path of a quiet stage. */
    pthread_mutex_lock(&bw_log_lock);
    if (now - rl->window_start_ms >= 1000) {
        *suppressed_before = rl->suppressed;
        rl->window_start_ms = now;
        rl->emitted = 0;
        rl->suppressed = 0;
    }
    ok = rl->emitted < 5;
    if (ok)
        rl->emitted++;
    else
        rl->suppressed++;
    pthread_mutex_unlock(&bw_log_lock);
    return ok;
}
