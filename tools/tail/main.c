/*
 * bw-tail: Kafka topic -> JSON lines on stdout.
 *
 * Reads every partition of a topic from the beginning or the end (no
 * consumer group, nothing committed), decodes each record with the schema
 * its id names, and prints one JSON object per line. Stops after --count
 * records, after --timeout.ms without a new record, or on Ctrl-C. A record
 * that does not decode is reported on stderr with its partition and offset,
 * and the tail goes on.
 */
#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bw_json.h"
#include "bw_kafka.h"
#include "bw_log.h"
#include "bw_proc.h"
#include "bw_serde.h"
#include "bw_util.h"

typedef struct {
    char *topic;
    char *from;
    int64_t count;
    int64_t timeout_ms;
    bool meta;
} tail_conf_t;

#define T(f) offsetof(tail_conf_t, f)
static const bw_conf_def_t tail_defs[] = {
    {"topic", BW_CONF_STR, T(topic), "bw.alerts", BW_CONF_NORANGE, NULL,
     "Topic to read (also the bare argument)"},
    {"from", BW_CONF_STR, T(from), "beginning", BW_CONF_NORANGE, "beginning|end",
     "Start at the oldest record or only show new ones"},
    {"count", BW_CONF_INT, T(count), "0", 0, 1e15, NULL,
     "Stop after this many records (0: no limit)"},
    {"timeout.ms", BW_CONF_INT, T(timeout_ms), "0", 0, 1e12, NULL,
     "Stop after this long without a new record (0: never)"},
    {"meta", BW_CONF_BOOL, T(meta), "false", BW_CONF_NORANGE, NULL,
     "Wrap each record as {topic, partition, offset, key, value}"},
};
#undef T

static rd_kafka_topic_partition_list_t *all_partitions(rd_kafka_t *rk, const char *topic,
                                                       int64_t start) {
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_topic_partition_list_t *parts = NULL;
    rd_kafka_resp_err_t err;

    if (!rkt)
        return NULL;
    if ((err = rd_kafka_metadata(rk, 0, rkt, &md, 10000))) {
        bw_log(BW_LOG_ERROR, "metadata for %s: %s", topic, rd_kafka_err2str(err));
        goto out;
    }
    if (md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt == 0) {
        bw_log(BW_LOG_ERROR, "topic %s: %s", topic,
               md->topic_cnt ? rd_kafka_err2str(md->topics[0].err) : "not found");
        goto out;
    }
    parts = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
    for (int i = 0; i < md->topics[0].partition_cnt; i++)
        rd_kafka_topic_partition_list_add(parts, topic, md->topics[0].partitions[i].id)->offset =
            start;
out:
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return parts;
}

static json_t *wrap(const rd_kafka_message_t *m, json_t *value) {
    json_t *key = m->key ? json_stringn(m->key, m->key_len) : json_null();

    return json_pack("{s:s, s:i, s:I, s:o, s:o}", "topic", rd_kafka_topic_name(m->rkt), "partition",
                     (int)m->partition, "offset", (json_int_t)m->offset, "key",
                     key ? key : json_null(), "value", value);
}

int main(int argc, char **argv) {
    const char *required[] = {"group.id", "bw-tail", "enable.auto.commit", "false", NULL};
    bw_conf_t conf;
    bw_common_conf_t common = {0};
    tail_conf_t tc = {0};
    bw_serde_t *sd = NULL;
    rd_kafka_conf_t *kc;
    rd_kafka_t *rk = NULL;
    rd_kafka_topic_partition_list_t *parts = NULL;
    char errstr[1024];
    int64_t seen = 0, bad = 0, last = 0;
    int rc = 1;

    /* one line per record, as it arrives, also into a pipe (bw-tail | jq) */
    if (setvbuf(stdout, NULL, _IOLBF, 0) != 0)
        return 1;

    if (bw_proc_setup(&conf, "tail", "topic", &common, tail_defs, BW_ARRAY_SIZE(tail_defs), &tc,
                      argc, argv))
        goto out;
    if (!(sd = bw_proc_serde(&common, errstr, sizeof(errstr)))) {
        bw_log(BW_LOG_ERROR, "schemas: %s", errstr);
        goto out;
    }
    if (!(kc = bw_kafka_conf_new(common.brokers, BW_KAFKA_CONSUMER, NULL, &conf, required, errstr,
                                 sizeof(errstr)))) {
        bw_log(BW_LOG_ERROR, "%s", errstr);
        goto out;
    }
    if (!(rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr, sizeof(errstr)))) {
        rd_kafka_conf_destroy(kc);
        bw_log(BW_LOG_ERROR, "consumer: %s", errstr);
        goto out;
    }
    rd_kafka_poll_set_consumer(rk);
    if (!(parts = all_partitions(rk, tc.topic,
                                 !strcmp(tc.from, "end") ? RD_KAFKA_OFFSET_END
                                                         : RD_KAFKA_OFFSET_BEGINNING)))
        goto out;
    if (rd_kafka_assign(rk, parts)) {
        bw_log(BW_LOG_ERROR, "assign failed");
        goto out;
    }
    last = bw_mono_ms();
    while (!bw_proc_stop && (tc.count == 0 || seen < tc.count)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        bw_record_t *rec;
        bw_err_t err;

        if (!m) {
            if (tc.timeout_ms && bw_mono_ms() - last >= tc.timeout_ms)
                break;
            continue;
        }
        if (m->err) {
            bw_log_rl(BW_LOG_WARN, "%s", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        last = bw_mono_ms();
        seen++;
        if ((err = bw_serde_decode(sd, m->payload, m->len, NULL, &rec, errstr, sizeof(errstr)))) {
            bad++;
            bw_log_kv(BW_LOG_WARN,
                      json_pack("{s:i, s:I, s:s}", "partition", (int)m->partition, "offset",
                                (json_int_t)m->offset, "error_code", bw_err2name(err)),
                      "undecodable record: %s", errstr);
        } else {
            json_t *j = bw_avro_to_json(rec->schema, &rec->value);
            char *text;
            if (j && tc.meta)
                j = wrap(m, j);
            if (j && (text = json_dumps(j, JSON_COMPACT))) {
                fputs(text, stdout);
                fputc('\n', stdout);
                free(text);
            }
            json_decref(j);
        }
        rd_kafka_message_destroy(m);
    }
    fflush(stdout);
    bw_log(BW_LOG_INFO, "read %lld record(s), %lld undecodable", (long long)seen, (long long)bad);
    /* With --count, fewer records than asked is a failure the caller sees. */
    rc = tc.count && seen < tc.count ? 2 : 0;
out:
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    if (rk) {
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
    }
    bw_serde_destroy(sd);
    bw_conf_destroy(&conf);
    return rc;
}
