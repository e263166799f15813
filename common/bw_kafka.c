#include "bw_kafka.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bw_log.h"
#include "bw_metrics_def.h"
#include "bw_proc.h"
#include "bw_util.h"

/* Per-topic metric children, found once per topic name and then reused
 * (topic names from librdkafka are stable pointers per topic handle). */
#define TOPIC_CACHE 16
typedef struct {
    const char *names[TOPIC_CACHE];
    bw_metric_t *metrics[TOPIC_CACHE];
    int n;
    bw_metrics_t *reg;
    const bw_metric_decl_t *decl;
} topic_metrics_t;

static bw_metric_t *topic_metric(topic_metrics_t *tm, const char *topic) {
    for (int i = 0; i < tm->n; i++)
        if (tm->names[i] == topic || !strcmp(tm->names[i], topic))
            return tm->metrics[i];
    if (!tm->reg)
        return NULL;
    bw_metric_t *m = bw_metrics_get(tm->reg, tm->decl, topic);
    if (tm->n < TOPIC_CACHE) {
        tm->names[tm->n] = topic;
        tm->metrics[tm->n++] = m;
    }
    return m;
}

bw_err_t bw_kafka_brokers_resolve(const char *brokers, char *out, size_t out_size, char *errstr,
                                  size_t errstr_size) {
    FILE *fp;

    if (!brokers || brokers[0] != '@') {
        if (!bw_strlcpy(out, brokers ? brokers : "", out_size)) {
            bw_errstr_set(errstr, errstr_size, "brokers: value too long");
            return BW_ERR_CONFIG;
        }
        return BW_ERR_OK;
    }
    if (!(fp = fopen(brokers + 1, "r"))) {
        bw_errstr_set(errstr, errstr_size, "brokers: cannot read %s: %s", brokers + 1,
                      strerror(errno));
        return BW_ERR_CONFIG;
    }
    if (!fgets(out, (int)out_size, fp)) {
        fclose(fp);
        bw_errstr_set(errstr, errstr_size, "brokers: %s is empty", brokers + 1);
        return BW_ERR_CONFIG;
    }
    fclose(fp);
    out[strcspn(out, "\r\n")] = '\0';
    return BW_ERR_OK;
}

static bool conf_set_pairs(rd_kafka_conf_t *kc, const char *const *kv, char *errstr,
                           size_t errstr_size) {
    char rderr[512];

    for (int i = 0; kv && kv[i]; i += 2) {
        if (rd_kafka_conf_set(kc, kv[i], kv[i + 1], rderr, sizeof(rderr)) != RD_KAFKA_CONF_OK) {
            bw_errstr_set(errstr, errstr_size, "%s: %s", kv[i], rderr);
            return false;
        }
    }
    return true;
}

/* librdkafka properties only a consumer or only a producer has
 * (CONFIGURATION.md, column C/P), among those an operator tunes. */
static const char *const CONSUMER_ONLY[] = {"group.id",
                                            "group.instance.id",
                                            "session.timeout.ms",
                                            "heartbeat.interval.ms",
                                            "max.poll.interval.ms",
                                            "auto.offset.reset",
                                            "enable.auto.commit",
                                            "auto.commit.interval.ms",
                                            "enable.auto.offset.store",
                                            "fetch.wait.max.ms",
                                            "fetch.min.bytes",
                                            "fetch.max.bytes",
                                            "fetch.message.max.bytes",
                                            "max.partition.fetch.bytes",
                                            "fetch.error.backoff.ms",
                                            "queued.min.messages",
                                            "queued.max.messages.kbytes",
                                            "isolation.level",
                                            "partition.assignment.strategy",
                                            "group.protocol.type",
                                            "coordinator.query.interval.ms",
                                            "check.crcs",
                                            "enable.partition.eof",
                                            "consume.callback.max.messages",
                                            NULL};
static const char *const PRODUCER_ONLY[] = {"acks",
                                            "request.required.acks",
                                            "linger.ms",
                                            "queue.buffering.max.ms",
                                            "queue.buffering.max.messages",
                                            "queue.buffering.max.kbytes",
                                            "batch.num.messages",
                                            "batch.size",
                                            "compression.codec",
                                            "compression.type",
                                            "compression.level",
                                            "message.timeout.ms",
                                            "delivery.timeout.ms",
                                            "enable.idempotence",
                                            "enable.gapless.guarantee",
                                            "retries",
                                            "message.send.max.retries",
                                            "transactional.id",
                                            "transaction.timeout.ms",
                                            "partitioner",
                                            "sticky.partitioning.linger.ms",
                                            "request.timeout.ms",
                                            "queuing.strategy",
                                            NULL};

static bool listed(const char *const *list, const char *name) {
    for (; *list; list++)
        if (!strcmp(*list, name))
            return true;
    return false;
}

const char *bw_kafka_prop_for(const char *key, bw_kafka_role_t role) {
    if (!strncmp(key, "consumer.", 9))
        return role == BW_KAFKA_CONSUMER ? key + 9 : NULL;
    if (!strncmp(key, "producer.", 9))
        return role == BW_KAFKA_PRODUCER ? key + 9 : NULL;
    if (listed(role == BW_KAFKA_CONSUMER ? PRODUCER_ONLY : CONSUMER_ONLY, key))
        return NULL;
    return key;
}

rd_kafka_conf_t *bw_kafka_conf_new(const char *brokers, bw_kafka_role_t role,
                                   const char *const *defaults, const bw_conf_t *conf,
                                   const char *const *required, char *errstr, size_t errstr_size) {
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    char rderr[512], resolved[1024];

    if (!conf_set_pairs(kc, defaults, errstr, errstr_size))
        goto err;

    if (bw_kafka_brokers_resolve(brokers, resolved, sizeof(resolved), errstr, errstr_size))
        goto err;
    if (*resolved && rd_kafka_conf_set(kc, "bootstrap.servers", resolved, rderr, sizeof(rderr)) !=
                         RD_KAFKA_CONF_OK) {
        bw_errstr_set(errstr, errstr_size, "brokers: %s", rderr);
        goto err;
    }
    for (int i = 0; conf && i < conf->nkafka; i++) {
        const char *name = bw_kafka_prop_for(conf->kafka_keys[i], role);
        if (name && rd_kafka_conf_set(kc, name, conf->kafka_vals[i], rderr, sizeof(rderr)) !=
                        RD_KAFKA_CONF_OK) {
            bw_errstr_set(errstr, errstr_size, "kafka.%s: %s", conf->kafka_keys[i], rderr);
            goto err;
        }
    }
    if (!conf_set_pairs(kc, required, errstr, errstr_size))
        goto err;
    return kc;
err:
    rd_kafka_conf_destroy(kc);
    return NULL;
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    (void)rk;
    /* syslog levels: 0..3 error, 4 warning, 5..6 info, 7 debug */
    int lvl = level <= 3   ? BW_LOG_ERROR
              : level == 4 ? BW_LOG_WARN
              : level <= 6 ? BW_LOG_INFO
                           : BW_LOG_DEBUG;
    bw_log_kv(lvl, json_pack("{s:s}", "facility", fac), "librdkafka: %s", buf);
}

/* ---- consumer ---- */

struct bw_consumer_s {
    rd_kafka_t *rk;
    rd_kafka_queue_t *queue;
    bw_rebalance_hooks_t hooks;
    int batch_wait_ms;
    size_t batch_bytes; /* 0: no bound (see bw_consumer_set_batch_bytes) */
    size_t msg_bytes; /* largest message expected */
    int assigned;
    int64_t last_wake_ms; /* see wake_fetchers */
    int wake_gap_ms; /* between wake-ups: doubles while they bring nothing */
    topic_metrics_t consumed;
    bw_metric_t *m_commit_ok, *m_commit_err, *m_assign, *m_revoke;
    bw_metric_t **m_lag; /* per subscribed topic */
    char **topics;
    int ntopics;
    int64_t lag_at; /* when the lag was last measured (monotonic ms) */
};

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
    bw_consumer_t *c = opaque;
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t rerr = RD_KAFKA_RESP_ERR_NO_ERROR;
    bool cooperative = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");

    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        bw_log(BW_LOG_INFO, "assigned %d partition(s)", parts->cnt);
        bw_metric_inc(c->m_assign);
        if (c->hooks.on_assign && c->hooks.on_assign(c->hooks.opaque, parts))
            bw_log(BW_LOG_ERROR, "partition assign hook failed");
        if (cooperative)
            error = rd_kafka_incremental_assign(rk, parts);
        else
            rerr = rd_kafka_assign(rk, parts);
        c->assigned += parts->cnt;
    } else {
        bw_log(BW_LOG_INFO, "revoked %d partition(s)", parts->cnt);
        bw_metric_inc(c->m_revoke);
        /* The stage flushes what it holds for these partitions; offsets of
         * processed batches were committed before the poll that got here. */
        if (c->hooks.on_revoke && c->hooks.on_revoke(c->hooks.opaque, parts))
            bw_log(BW_LOG_ERROR, "partition revoke hook failed");
        if (cooperative) {
            error = rd_kafka_incremental_unassign(rk, parts);
            c->assigned -= parts->cnt;
        } else {
            rerr = rd_kafka_assign(rk, NULL);
            c->assigned = 0;
        }
    }
    if (error) {
        bw_log(BW_LOG_ERROR, "rebalance: %s", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    } else if (rerr) {
        bw_log(BW_LOG_ERROR, "rebalance: %s", rd_kafka_err2str(rerr));
    }
}

bw_consumer_t *bw_consumer_new(const char *brokers, const bw_conf_t *conf, const char *group,
                               const char *const *topics, int ntopics,
                               const bw_rebalance_hooks_t *hooks, bw_metrics_t *reg, char *errstr,
                               size_t errstr_size) {
    /* A fetch waits at most 10 ms for data: each hop of the pipeline adds
     * its fetch wait to an alert's latency (librdkafka's default is 500).
     * Prefetch is bounded to 10,000 records or 16 MiB: a stage that falls
     * behind (bw-alert under a flood of signals) would otherwise hold up to
     * librdkafka's 100,000 records and 64 MiB (bw-classify through a
     * backlog: peak RSS 27.8 MiB with these bounds, 67.7 with 100,000
     * records), and batches are far smaller. The bound is reached often
     * through a backlog: see wake_fetchers. */
    const char *defaults[] = {"auto.offset.reset",
                              "earliest",
                              "fetch.wait.max.ms",
                              "10",
                              "queued.min.messages",
                              "10000",
                              "queued.max.messages.kbytes",
                              "16384",
                              NULL};
    const char *required[] = {"group.id",
                              group,
                              "enable.auto.commit",
                              "false",
                              "enable.auto.offset.store",
                              "false",
                              "enable.partition.eof",
                              hooks && hooks->on_eof ? "true" : "false",
                              NULL};
    bw_consumer_t *c = calloc(1, sizeof(*c));
    rd_kafka_topic_partition_list_t *subs = NULL;
    rd_kafka_conf_t *kc = NULL;
    rd_kafka_resp_err_t rerr;
    char rderr[512];

    if (!c) {
        bw_errstr_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    if (hooks)
        c->hooks = *hooks;
    c->batch_wait_ms = 10;
    c->consumed = (topic_metrics_t){.reg = reg, .decl = &bw_common_metrics[BW_M_CONSUMED]};
    if (reg) {
        const bw_metric_decl_t *cm = &bw_common_metrics[BW_M_COMMITS];
        const bw_metric_decl_t *rb = &bw_common_metrics[BW_M_REBALANCES];
        c->m_commit_ok = bw_metrics_get(reg, cm, "ok");
        c->m_commit_err = bw_metrics_get(reg, cm, "error");
        c->m_assign = bw_metrics_get(reg, rb, "assign");
        c->m_revoke = bw_metrics_get(reg, rb, "revoke");
    }
    if (!(c->topics = calloc((size_t)ntopics, sizeof(*c->topics))) ||
        !(c->m_lag = calloc((size_t)ntopics, sizeof(*c->m_lag)))) {
        bw_errstr_set(errstr, errstr_size, "out of memory");
        goto err;
    }
    for (int i = 0; i < ntopics; i++) {
        if (!(c->topics[c->ntopics] = strdup(topics[i]))) {
            bw_errstr_set(errstr, errstr_size, "out of memory");
            goto err;
        }
        c->ntopics++;
        if (reg)
            c->m_lag[i] = bw_metrics_get(reg, &bw_common_metrics[BW_M_CONSUMER_LAG], topics[i]);
    }
    /* auto.offset.reset defaults to earliest: a new group must not skip
     * the events that arrived before it started. conf may override it. */
    if (!(kc = bw_kafka_conf_new(brokers, BW_KAFKA_CONSUMER, defaults, conf, required, errstr,
                                 errstr_size)))
        goto err;
    rd_kafka_conf_set_log_cb(kc, log_cb);
    rd_kafka_conf_set_rebalance_cb(kc, rebalance_cb);
    rd_kafka_conf_set_opaque(kc, c);
    if (!(c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, rderr, sizeof(rderr)))) {
        bw_errstr_set(errstr, errstr_size, "consumer: %s", rderr);
        goto err;
    }
    kc = NULL; /* owned by rk now */
    rd_kafka_poll_set_consumer(c->rk);
    c->queue = rd_kafka_queue_get_consumer(c->rk);
    subs = rd_kafka_topic_partition_list_new(ntopics);
    for (int i = 0; i < ntopics; i++)
        rd_kafka_topic_partition_list_add(subs, topics[i], RD_KAFKA_PARTITION_UA);
    if ((rerr = rd_kafka_subscribe(c->rk, subs))) {
        bw_errstr_set(errstr, errstr_size, "subscribe: %s", rd_kafka_err2str(rerr));
        goto err;
    }
    rd_kafka_topic_partition_list_destroy(subs);
    return c;
err:
    if (kc)
        rd_kafka_conf_destroy(kc);
    if (subs)
        rd_kafka_topic_partition_list_destroy(subs);
    bw_consumer_destroy(c);
    return NULL;
}

/* Messages behind the end of the assigned partitions, per topic, from the
 * high watermarks fetches bring back (no request to the broker), once a
 * second. A partition not yet read from counts from its first offset. */
static void update_lag(bw_consumer_t *c) {
    rd_kafka_topic_partition_list_t *parts = NULL;
    int64_t now = bw_mono_ms();

    if (!c->ntopics || !c->m_lag[0] || now - c->lag_at < 1000)
        return;
    c->lag_at = now;
    if (rd_kafka_assignment(c->rk, &parts) || !parts)
        return;
    if (rd_kafka_position(c->rk, parts) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        for (int t = 0; t < c->ntopics; t++) {
            int64_t lag = 0;
            for (int i = 0; i < parts->cnt; i++) {
                rd_kafka_topic_partition_t *tp = &parts->elems[i];
                int64_t lo, hi;
                if (strcmp(tp->topic, c->topics[t]) ||
                    rd_kafka_get_watermark_offsets(c->rk, tp->topic, tp->partition, &lo, &hi) ||
                    hi < 0)
                    continue;
                lag += hi - (tp->offset >= 0 ? tp->offset : lo >= 0 ? lo : hi);
            }
            bw_metric_set(c->m_lag[t], (double)(lag > 0 ? lag : 0));
        }
    }
    rd_kafka_topic_partition_list_destroy(parts);
}

#define WAKE_EVERY_MS 10
#define WAKE_MAX_GAP_MS 1000

/* librdkafka 2.0 stops fetching a partition while the prefetch queue is
 * over queued.min.messages or queued.max.messages.kbytes, and looks again
 * only when the broker thread next wakes up: up to a second later (2.1
 * made that fetch.queue.backoff.ms, still a second by default). A stage
 * that empties a full queue in less sat idle the rest of the second. So
 * when the queue is empty while a partition has more on the broker than
 * was read (the high watermark of the last fetch), a ListOffsets request
 * to the leaders of the assigned partitions wakes their broker threads,
 * which fetch again: offsets_for_times with no wait (it sends, and the
 * answers are dropped), at most every 10 ms. bw-classify through a
 * backlog of 150,000 reviews: 97,800 reviews/s before, 270,000 with it
 * (bench/bench_classify_e2e.sh).
 * Returns how long the poll may wait before it should call again: the
 * rest of the gap when a wake-up was due but too soon after the last (a
 * batch that took less than 10 ms: waiting the whole poll timeout then
 * cost 100 ms a batch, test_consumer_backlog), else -1 (no limit). The
 * gap doubles with each wake-up that brings nothing (a broker down: its
 * requests would queue up), back to 10 ms once messages come. */
static int wake_fetchers(bw_consumer_t *c) {
    rd_kafka_topic_partition_list_t *parts = NULL;
    int64_t now = bw_mono_ms();
    bool behind = false;

    if (rd_kafka_queue_length(c->queue) > 0)
        return -1;
    if (c->wake_gap_ms < WAKE_EVERY_MS)
        c->wake_gap_ms = WAKE_EVERY_MS;
    if (now - c->last_wake_ms < c->wake_gap_ms)
        return (int)(c->wake_gap_ms - (now - c->last_wake_ms));
    c->last_wake_ms = now;
    if (rd_kafka_assignment(c->rk, &parts) || !parts)
        return -1;
    if (parts->cnt && rd_kafka_position(c->rk, parts) == RD_KAFKA_RESP_ERR_NO_ERROR)
        for (int i = 0; i < parts->cnt && !behind; i++) {
            rd_kafka_topic_partition_t *tp = &parts->elems[i];
            int64_t lo, hi;
            behind = tp->offset >= 0 &&
                     !rd_kafka_get_watermark_offsets(c->rk, tp->topic, tp->partition, &lo, &hi) &&
                     hi > tp->offset;
        }
    if (behind) {
        rd_kafka_resp_err_t err;
        for (int i = 0; i < parts->cnt; i++)
            parts->elems[i].offset = -1; /* the latest offset: any answer will do */
        err = rd_kafka_offsets_for_times(c->rk, parts, 0); /* sent: "timed out" is expected */
        if (c->wake_gap_ms < WAKE_MAX_GAP_MS)
            c->wake_gap_ms *= 2; /* until messages come (bw_consumer_poll) */
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__TIMED_OUT)
            bw_log_rl(BW_LOG_WARN, "waking the fetchers: %s", rd_kafka_err2str(err));
    }
    rd_kafka_topic_partition_list_destroy(parts);
    return -1;
}

/* Bytes a batch holds of a message (its error text for an error). */
static size_t msg_size(const rd_kafka_message_t *m) {
    return m->len + m->key_len;
}

/* More messages after the first in msgs[0], until max, the batch's byte
 * bound or batch_wait_ms. Messages taken out of librdkafka's queue no longer
 * count against its prefetch bound, so the batch has its own: each step
 * takes at most as many messages as fit in what is left at msg_bytes
 * each, so a batch never holds more than batch_bytes plus one message
 * (1 MB bodies arriving 2000 to a batch would otherwise pin 2 GB). */
static ssize_t fill_batch(bw_consumer_t *c, rd_kafka_message_t **msgs, size_t max) {
    int64_t deadline = bw_mono_ms() + c->batch_wait_ms;
    size_t bytes = msg_size(msgs[0]);
    size_t got = 1;

    while (got < max && (!c->batch_bytes || bytes < c->batch_bytes)) {
        int64_t left = deadline - bw_mono_ms();
        size_t want = max - got;
        if (c->batch_bytes) {
            size_t fit = (c->batch_bytes - bytes) / (c->msg_bytes ? c->msg_bytes : 1);
            want = fit < 1 ? 1 : fit < want ? fit : want;
        }
        ssize_t more =
            rd_kafka_consume_batch_queue(c->queue, left > 0 ? (int)left : 0, msgs + got, want);
        if (more <= 0)
            break;
        for (size_t i = got; i < got + (size_t)more; i++)
            bytes += msg_size(msgs[i]);
        got += (size_t)more;
        /* past the deadline: keep taking only while the queue has more */
        if (left <= 0 && (size_t)more < want)
            break;
    }
    return (ssize_t)got;
}

size_t bw_consumer_poll(bw_consumer_t *c, rd_kafka_message_t **msgs, size_t max, int timeout_ms) {
    ssize_t got;
    size_t n = 0;
    int64_t until = bw_mono_ms() + timeout_ms;

    /* Wait for the first message only, then take what is already fetched:
     * consume_batch_queue would otherwise wait the whole timeout for a
     * full batch, which caps a stage at max messages per timeout. */
    do {
        int64_t left = until - bw_mono_ms();
        int cap = wake_fetchers(c);
        if (left < 0)
            left = 0;
        got = rd_kafka_consume_batch_queue(c->queue, cap >= 0 && cap < left ? cap : (int)left, msgs,
                                           1);
    } while (got == 0 && bw_mono_ms() < until);
    if (got > 0)
        c->wake_gap_ms = WAKE_EVERY_MS;

    /* Then fill the batch for at most batch_wait_ms: per-batch costs (a
     * flush, a commit) are paid once for many messages. */
    if (got == 1 && max > 1)
        got = fill_batch(c, msgs, max);
    if (got < 0) {
        bw_log_rl(BW_LOG_ERROR, "consume: %s", rd_kafka_err2str(rd_kafka_last_error()));
        return 0;
    }
    /* Keep the data messages, drop consumer errors (logged, rate-limited):
     * librdkafka recovers from broker errors by itself. */
    for (ssize_t i = 0; i < got; i++) {
        rd_kafka_message_t *m = msgs[i];
        if (m->err) {
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF && c->hooks.on_eof)
                c->hooks.on_eof(c->hooks.opaque, rd_kafka_topic_name(m->rkt), m->partition);
            bw_log_rl(m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF ? BW_LOG_DEBUG : BW_LOG_WARN,
                      "consume: %s", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        bw_metric_inc(topic_metric(&c->consumed, rd_kafka_topic_name(m->rkt)));
        msgs[n++] = m;
    }
    update_lag(c);
    return n;
}

/* A synchronous rd_kafka_commit() waits for the group coordinator for as
 * long as it takes: with the broker gone, a stage told to stop hung there
 * for good (seen after a soak whose broker went first). The result comes
 * on a queue of our own instead, waited for at most @p timeout_ms; a
 * commit given up on is harmless (the batch may be read again, the
 * fences skip what was applied), and librdkafka keeps the queue alive
 * until its late reply. */
static rd_kafka_resp_err_t commit_bounded(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *offsets,
                                          int timeout_ms) {
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_event_t *ev;
    rd_kafka_resp_err_t rerr;

    if (!q)
        return RD_KAFKA_RESP_ERR__CRIT_SYS_RESOURCE;
    if (!(rerr = rd_kafka_commit_queue(rk, offsets, q, NULL, NULL))) {
        int64_t deadline = bw_mono_ms() + timeout_ms;
        /* in slices: told to stop, the stage does not wait for it */
        while (!(ev = rd_kafka_queue_poll(q, 100)) && !bw_proc_stopping() &&
               bw_mono_ms() < deadline)
            ;
        if (!ev) {
            rerr = RD_KAFKA_RESP_ERR__TIMED_OUT;
        } else {
            rerr = rd_kafka_event_error(ev);
            rd_kafka_event_destroy(ev);
        }
    }
    rd_kafka_queue_destroy(q);
    return rerr;
}

bw_err_t bw_consumer_commit(bw_consumer_t *c, rd_kafka_message_t *const *msgs, size_t n,
                            char *errstr, size_t errstr_size) {
    rd_kafka_topic_partition_list_t *offsets;
    rd_kafka_resp_err_t rerr;

    if (n == 0)
        return BW_ERR_OK;
    offsets = rd_kafka_topic_partition_list_new((int)(n < 64 ? n : 64));
    for (size_t i = 0; i < n; i++) {
        const char *topic = rd_kafka_topic_name(msgs[i]->rkt);
        rd_kafka_topic_partition_t *tp =
            rd_kafka_topic_partition_list_find(offsets, topic, msgs[i]->partition);
        if (!tp)
            tp = rd_kafka_topic_partition_list_add(offsets, topic, msgs[i]->partition);
        if (msgs[i]->offset + 1 > tp->offset)
            tp->offset = msgs[i]->offset + 1;
    }
    rerr = commit_bounded(c->rk, offsets, BW_COMMIT_TIMEOUT_MS);
    rd_kafka_topic_partition_list_destroy(offsets);
    if (rerr) {
        bw_metric_inc(c->m_commit_err);
        bw_errstr_set(errstr, errstr_size, "commit: %s", rd_kafka_err2str(rerr));
        /* A commit lost to a rebalance is harmless: the next owner replays
         * the batch and the stage's fences skip what was applied. */
        return BW_ERR_KAFKA_RETRIABLE;
    }
    bw_metric_inc(c->m_commit_ok);
    return BW_ERR_OK;
}

void bw_consumer_set_batch_wait(bw_consumer_t *c, int ms) {
    c->batch_wait_ms = ms < 0 ? 0 : ms;
}

void bw_consumer_set_batch_bytes(bw_consumer_t *c, size_t bytes, size_t msg_bytes) {
    c->batch_bytes = bytes;
    c->msg_bytes = msg_bytes;
}

int bw_consumer_assigned(const bw_consumer_t *c) {
    return c->assigned;
}

rd_kafka_t *bw_consumer_handle(bw_consumer_t *c) {
    return c->rk;
}

/* Leave the group (revocation through rebalance_cb, the last commit) for
 * at most @p timeout_ms, then destroy the handle. rd_kafka_consumer_close()
 * has no bound: a soak's bw-logistics waited in it for good after its
 * broker went away (gdb: cnd_wait under rd_kafka_consumer_close). Going
 * without leaving costs nothing here: the group reassigns the partitions
 * after session.timeout.ms, and their next owner's fences skip what this
 * instance applied but did not commit. */
static void close_bounded(rd_kafka_t *rk, int timeout_ms) {
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_error_t *error = NULL;
    int64_t deadline = bw_mono_ms() + timeout_ms;
    bool closed = false;

    if (q && !(error = rd_kafka_consumer_close_queue(rk, q)))
        while (!(closed = rd_kafka_consumer_closed(rk)) && bw_mono_ms() < deadline) {
            /* events, not callbacks: serving this queue with callbacks
             * aborts in librdkafka (rd_kafka_q_serve: res !=
             * RD_KAFKA_OP_RES_PASS, seen in test_shutdown) */
            rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 100);
            if (ev && rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE)
                rebalance_cb(rk, rd_kafka_event_error(ev), rd_kafka_event_topic_partition_list(ev),
                             rd_kafka_opaque(rk));
            if (ev)
                rd_kafka_event_destroy(ev);
        }
    if (error) {
        bw_log(BW_LOG_WARN, "consumer close: %s", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    } else if (!closed) {
        bw_log(BW_LOG_WARN,
               "consumer did not leave its group within %d ms (broker away?): "
               "stopping without it",
               timeout_ms);
    }
    if (q)
        rd_kafka_queue_destroy(q);
    rd_kafka_destroy_flags(rk, closed ? 0 : RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
}

void bw_consumer_destroy(bw_consumer_t *c) {
    if (!c)
        return;
    if (c->queue)
        rd_kafka_queue_destroy(c->queue);
    if (c->rk)
        close_bounded(c->rk, BW_CLOSE_TIMEOUT_MS);
    for (int i = 0; i < c->ntopics; i++)
        free(c->topics[i]);
    free(c->topics);
    free(c->m_lag);
    free(c);
}

/* ---- producer ---- */

#define PRODUCER_TOPICS 16

struct bw_producer_s {
    rd_kafka_t *rk;
    int64_t delivered, failed;
    int64_t failed_since_flush;
    char first_error[256];
    topic_metrics_t produced, errors;
    struct {
        char *name;
        rd_kafka_topic_t *rkt;
    } topics[PRODUCER_TOPICS]; /* see topic_handle */
    int ntopics;
};

/* The handle of a topic written to: given a topic's name, producev looks
 * it up under the client's lock and takes and drops a reference, for
 * every message (3% of bw-classify's main thread through the broker). A
 * stage writes to two or three topics. NULL past the cache or out of
 * memory: the caller gives the name instead. */
static rd_kafka_topic_t *topic_handle(bw_producer_t *p, const char *topic) {
    rd_kafka_topic_t *rkt;
    char *name;

    for (int i = 0; i < p->ntopics; i++)
        if (!strcmp(p->topics[i].name, topic))
            return p->topics[i].rkt;
    if (p->ntopics == PRODUCER_TOPICS || !(name = strdup(topic)))
        return NULL;
    if (!(rkt = rd_kafka_topic_new(p->rk, topic, NULL))) {
        free(name);
        return NULL;
    }
    p->topics[p->ntopics].name = name;
    p->topics[p->ntopics++].rkt = rkt;
    return rkt;
}

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    bw_producer_t *p = opaque;
    const char *topic = rd_kafka_topic_name(m->rkt);

    (void)rk;
    if (m->err) {
        p->failed++;
        if (p->failed_since_flush++ == 0)
            snprintf(p->first_error, sizeof(p->first_error), "%s [%d]: %s", topic,
                     (int)m->partition, rd_kafka_err2str(m->err));
        bw_metric_inc(topic_metric(&p->errors, topic));
        bw_log_rl(BW_LOG_ERROR, "delivery to %s failed: %s", topic, rd_kafka_err2str(m->err));
    } else {
        p->delivered++;
        bw_metric_inc(topic_metric(&p->produced, topic));
    }
}

bw_producer_t *bw_producer_new(const char *brokers, const bw_conf_t *conf, bw_metrics_t *reg,
                               char *errstr, size_t errstr_size) {
    /* max.in.flight=1: a stage flushes once per batch, so pipelining gains
     * little, and the embedded broker (librdkafka's mock cluster) answers
     * pipelined requests about 40 ms late (measured: a flush of 500 messages
     * over 6 partitions took 43 ms with 5 in flight, 1 ms with 1). */
    const char *defaults[] = {"linger.ms", "5", "max.in.flight", "1", NULL};
    const char *required[] = {"enable.idempotence", "true", NULL};
    bw_producer_t *p = calloc(1, sizeof(*p));
    rd_kafka_conf_t *kc;
    char rderr[512];

    if (!p) {
        bw_errstr_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    p->produced = (topic_metrics_t){.reg = reg, .decl = &bw_common_metrics[BW_M_PRODUCED]};
    p->errors = (topic_metrics_t){.reg = reg, .decl = &bw_common_metrics[BW_M_PRODUCE_ERRORS]};
    /* linger.ms=5: small batches, low latency; conf may override it. */
    if (!(kc = bw_kafka_conf_new(brokers, BW_KAFKA_PRODUCER, defaults, conf, required, errstr,
                                 errstr_size))) {
        free(p);
        return NULL;
    }
    rd_kafka_conf_set_log_cb(kc, log_cb);
    rd_kafka_conf_set_dr_msg_cb(kc, dr_msg_cb);
    rd_kafka_conf_set_opaque(kc, p);
    if (!(p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, rderr, sizeof(rderr)))) {
        rd_kafka_conf_destroy(kc);
        bw_errstr_set(errstr, errstr_size, "producer: %s", rderr);
        free(p);
        return NULL;
    }
    return p;
}

bw_err_t bw_producer_send(bw_producer_t *p, const char *topic, const void *key, size_t keylen,
                          const void *value, size_t len, char *errstr, size_t errstr_size) {
    rd_kafka_topic_t *rkt = topic_handle(p, topic);
    int64_t deadline = 0;

    for (;;) {
        rd_kafka_resp_err_t rerr =
            rkt ? rd_kafka_producev(p->rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_KEY((void *)key, keylen),
                                    RD_KAFKA_V_VALUE((void *)value, len),
                                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)
                : rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(topic),
                                    RD_KAFKA_V_KEY((void *)key, keylen),
                                    RD_KAFKA_V_VALUE((void *)value, len),
                                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (!rerr)
            return BW_ERR_OK;
        if (!deadline) /* the clock is read only when the queue is full */
            deadline = bw_mono_ms() + 30000;
        if (rerr != RD_KAFKA_RESP_ERR__QUEUE_FULL || bw_mono_ms() > deadline) {
            bw_errstr_set(errstr, errstr_size, "produce to %s: %s", topic, rd_kafka_err2str(rerr));
            return rerr == RD_KAFKA_RESP_ERR__QUEUE_FULL          ? BW_ERR_TIMEOUT
                   : rerr == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ? BW_ERR_TOO_LARGE
                                                                  : BW_ERR_KAFKA;
        }
        /* Back-pressure: let deliveries drain the queue, then retry. */
        rd_kafka_poll(p->rk, 100);
    }
}

void bw_producer_poll(bw_producer_t *p) {
    rd_kafka_poll(p->rk, 0);
}

bw_err_t bw_producer_flush(bw_producer_t *p, int timeout_ms, char *errstr, size_t errstr_size) {
    rd_kafka_resp_err_t rerr = rd_kafka_flush(p->rk, timeout_ms);

    if (p->failed_since_flush) {
        bw_errstr_set(errstr, errstr_size, "%lld message(s) not delivered, first: %s",
                      (long long)p->failed_since_flush, p->first_error);
        p->failed_since_flush = 0;
        return BW_ERR_DELIVERY;
    }
    if (rerr) {
        bw_errstr_set(errstr, errstr_size, "%d message(s) still in flight after %d ms",
                      rd_kafka_outq_len(p->rk), timeout_ms);
        return BW_ERR_TIMEOUT;
    }
    return BW_ERR_OK;
}

int64_t bw_producer_delivered(const bw_producer_t *p) {
    return p->delivered;
}

int64_t bw_producer_failed(const bw_producer_t *p) {
    return p->failed;
}

bw_err_t bw_producer_warm(bw_producer_t *p, const char *topic, int timeout_ms, char *errstr,
                          size_t errstr_size) {
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(p->rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t rerr;

    if (!rkt) {
        bw_errstr_set(errstr, errstr_size, "%s: %s", topic,
                      rd_kafka_err2str(rd_kafka_last_error()));
        return BW_ERR_KAFKA;
    }
    rerr = rd_kafka_metadata(p->rk, 0, rkt, &md, timeout_ms);
    if (!rerr && (md->topic_cnt != 1 || md->topics[0].err))
        rerr = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    if (rerr) {
        bw_errstr_set(errstr, errstr_size, "%s: %s", topic, rd_kafka_err2str(rerr));
        return BW_ERR_KAFKA;
    }
    return BW_ERR_OK;
}

rd_kafka_t *bw_producer_handle(bw_producer_t *p) {
    return p->rk;
}

void bw_producer_destroy(bw_producer_t *p) {
    if (!p)
        return;
    if (p->rk)
        rd_kafka_flush(p->rk, 10000);
    for (int i = 0; i < p->ntopics; i++) {
        rd_kafka_topic_destroy(p->topics[i].rkt);
        free(p->topics[i].name);
    }
    if (p->rk)
        rd_kafka_destroy(p->rk);
    free(p);
}
