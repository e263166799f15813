/*
 * bw-replay: JSON lines -> validated Avro -> Kafka topic.
 *
 * Every line is checked against the topic's schema; a bad line is reported
 * as FILE:LINE: reason and skipped, the rest still go out, and the exit
 * status is non-zero if anything failed. Messages are keyed by store (or
 * alert id) so that Kafka partitions by store, as the stages expect.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bw_json.h"
#include "bw_kafka.h"
#include "bw_log.h"
#include "bw_proc.h"
#include "bw_serde.h"
#include "bw_stop_guard.h"
#include "bw_topics.h"

typedef struct {
    char *input;
    char *topic;
    char *schema;
    char *key_field;
    double rate;
    int64_t max_errors_shown;
    char *progress;
} replay_conf_t;

#define R(f) offsetof(replay_conf_t, f)
static const bw_conf_def_t replay_defs[] = {
    {"input", BW_CONF_STR, R(input), "-", BW_CONF_NORANGE, NULL,
     "JSON-lines file to replay, - for stdin (also the bare argument)"},
    {"topic", BW_CONF_STR, R(topic), "bw.reviews", BW_CONF_NORANGE, NULL, "Topic to write to"},
    {"schema", BW_CONF_STR, R(schema), "", BW_CONF_NORANGE, NULL,
     "Record type (default: the one the bw.* topic carries)"},
    {"key.field", BW_CONF_STR, R(key_field), "", BW_CONF_NORANGE, NULL,
     "JSON field used as the message key (default: store_id, else alert_id)"},
    {"rate", BW_CONF_DBL, R(rate), "0", 0, 1e9, NULL,
     "Records per second, 0 for as fast as possible"},
    {"errors.shown", BW_CONF_INT, R(max_errors_shown), "20", 0, 1000000, NULL,
     "How many bad lines are described one by one before only counting them"},
    {"progress", BW_CONF_STR, R(progress), "auto", BW_CONF_NORANGE, "auto|always|never",
     "Progress line on stderr (auto: when stderr is a terminal)"},
};
#undef R

typedef struct {
    int64_t lines, sent, invalid, skipped_blank;
    int64_t started_ms, last_progress_ms;
} stats_t;

static void progress(const stats_t *st, bool final) {
    double secs = (double)(bw_mono_ms() - st->started_ms) / 1000.0;

    fprintf(stderr, "\r  %lld lines, %lld sent, %lld invalid, %.0f/s%s", (long long)st->lines,
            (long long)st->sent, (long long)st->invalid, secs > 0 ? (double)st->sent / secs : 0.0,
            final ? "\n" : "   ");
    fflush(stderr);
}

static const char *key_of(json_t *j, const char *field, size_t *len) {
    json_t *k = json_object_get(j, field);

    if (!json_is_string(k))
        return NULL;
    *len = json_string_length(k);
    return json_string_value(k);
}

int main(int argc, char **argv) {
    bw_conf_t conf;
    bw_common_conf_t common = {0};
    replay_conf_t rc = {0};
    bw_producer_t *prod = NULL;
    bw_stop_guard_t *guard = NULL;
    bw_serde_t *sd = NULL;
    const bw_schema_t *schema;
    bw_record_t *rec = NULL;
    FILE *in = NULL;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    bw_buf_t buf = {0};
    char errstr[1024];
    stats_t st = {0};
    bool show_progress;
    int exit_code = 1;
    const char *key_field;
    bw_err_t err;

    if (bw_proc_setup(&conf, "replay", "input", &common, replay_defs, BW_ARRAY_SIZE(replay_defs),
                      &rc, argc, argv))
        return 1;
    if (!*rc.schema && !bw_topic_schema(rc.topic)) {
        bw_log(BW_LOG_ERROR, "topic %s is not a bw.* topic: give --schema", rc.topic);
        goto out;
    }
    if (!(sd = bw_proc_serde(&common, errstr, sizeof(errstr)))) {
        bw_log(BW_LOG_ERROR, "schemas: %s", errstr);
        goto out;
    }
    if (!(schema = bw_serde_schema(sd, *rc.schema ? rc.schema : bw_topic_schema(rc.topic)))) {
        bw_log(BW_LOG_ERROR, "no schema named %s", *rc.schema ? rc.schema : "?");
        goto out;
    }
    key_field = *rc.key_field                                         ? rc.key_field
                : bw_snode_field_index(schema->root, "store_id") >= 0 ? "store_id"
                : bw_snode_field_index(schema->root, "alert_id") >= 0 ? "alert_id"
                                                                      : NULL;
    if (!(rec = bw_record_new(schema)))
        goto out;
    if (!strcmp(rc.input, "-"))
        in = stdin;
    else if (!(in = fopen(rc.input, "r"))) {
        bw_log(BW_LOG_ERROR, "%s: %s", rc.input, strerror(errno));
        goto out;
    }
    if (!(prod = bw_producer_new(common.brokers, &conf, NULL, errstr, sizeof(errstr)))) {
        bw_log(BW_LOG_ERROR, "%s", errstr);
        goto out;
    }
    show_progress =
        !strcmp(rc.progress, "always") || (!strcmp(rc.progress, "auto") && isatty(STDERR_FILENO));
    /* told to stop with its broker hung, the flush and librdkafka's
     * teardown could wait on it without end */
    guard = bw_stop_guard_start("bw-replay", BW_STOP_TIMEOUT_MS, 1);
    st.started_ms = bw_mono_ms();
    while (!bw_proc_stop && (len = getline(&line, &cap, in)) >= 0) {
        json_error_t jerr;
        json_t *j;
        const char *key;
        size_t keylen = 0;

        st.lines++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0) {
            st.skipped_blank++;
            continue;
        }
        if ((size_t)len > (size_t)common.message_max_bytes * 4) {
            err = BW_ERR_TOO_LARGE;
            snprintf(errstr, sizeof(errstr), "line of %zd bytes is too long", len);
        } else if (!(j = json_loadb(line, (size_t)len, 0, &jerr))) {
            err = BW_ERR_BAD_JSON;
            snprintf(errstr, sizeof(errstr), "malformed JSON at column %d: %s", jerr.column,
                     jerr.text);
        } else {
            key = key_field ? key_of(j, key_field, &keylen) : NULL;
            if (!(err = bw_json_to_avro(schema, j, &rec->value, errstr, sizeof(errstr))) &&
                !(err = bw_serde_encode(sd, schema, &rec->value, &buf, errstr, sizeof(errstr))))
                err = bw_producer_send(prod, rc.topic, key, keylen, buf.data, buf.len, errstr,
                                       sizeof(errstr));
            json_decref(j);
        }
        if (err) {
            if (st.invalid++ < rc.max_errors_shown)
                fprintf(stderr, "%s%s:%lld: %s\n", show_progress ? "\r" : "", rc.input,
                        (long long)st.lines, errstr);
            if (!bw_err_retriable(err) || err == BW_ERR_NOMEM)
                continue;
            /* The broker is gone: stop rather than fail every line. */
            break;
        }
        st.sent++;
        bw_producer_poll(prod);
        if (rc.rate > 0) {
            int64_t due = st.started_ms + (int64_t)((double)st.sent * 1000.0 / rc.rate);
            int64_t now = bw_mono_ms();
            if (due > now)
                bw_sleep_ms(due - now);
        }
        if (show_progress && bw_mono_ms() - st.last_progress_ms >= 250) {
            st.last_progress_ms = bw_mono_ms();
            progress(&st, false);
        }
    }
    if (ferror(in)) {
        bw_log(BW_LOG_ERROR, "%s: read error", rc.input);
        st.invalid++;
    }
    /* all of it at the end of the input; told to stop, what is in flight
     * gets a few seconds and the report says what was not delivered */
    if ((err = bw_producer_flush(prod, bw_proc_stop ? 5000 : 60000, errstr, sizeof(errstr))))
        bw_log(BW_LOG_ERROR, "flush: %s", errstr);
    if (show_progress)
        progress(&st, true);
    {
        double secs = (double)(bw_mono_ms() - st.started_ms) / 1000.0;
        int64_t failed_delivery = bw_producer_failed(prod);
        fprintf(stderr,
                "replayed %s -> %s: %lld lines, %lld sent, %lld delivered, %lld invalid, "
                "%lld delivery failures, %.2f s, %.0f records/s\n",
                rc.input, rc.topic, (long long)st.lines, (long long)st.sent,
                (long long)bw_producer_delivered(prod), (long long)st.invalid,
                (long long)failed_delivery, secs, secs > 0 ? (double)st.sent / secs : 0.0);
        exit_code = st.invalid || failed_delivery || err || bw_proc_stop ? 1 : 0;
    }
out:
    free(line);
    bw_buf_free(&buf);
    if (in && in != stdin)
        fclose(in);
    bw_producer_destroy(prod);
    bw_record_destroy(rec);
    bw_serde_destroy(sd);
    bw_conf_destroy(&conf);
    bw_stop_guard_end(guard);
    return exit_code;
}
