/* The raw consume rate of a broker, the baseline of bench_classify_e2e.sh:
 * a librdkafka consumer in a group of its own that does nothing with the
 * messages, timed like the stage is, from its first message to its Nth
 * (so neither the process start nor the group join counts).
 *
 * Usage: bench_raw_consume BOOTSTRAP TOPIC N
 * Prints "raw N SECONDS RATE" on stdout; exit 1 when N messages do not
 * come within 60 s. librdkafka's defaults otherwise, as kcat uses. */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static rd_kafka_t *consumer(const char *bootstrap, const char *topic) {
    char errstr[512], group[64];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_topic_partition_list_t *subs;
    rd_kafka_t *rk;

    snprintf(group, sizeof(group), "bench-raw-%ld", (long)time(NULL));
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof(errstr))) {
        fprintf(stderr, "bench_raw_consume: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    if (!(rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr)))) {
        fprintf(stderr, "bench_raw_consume: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);
    subs = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(subs, topic, RD_KAFKA_PARTITION_UA);
    if (rd_kafka_subscribe(rk, subs)) {
        fprintf(stderr, "bench_raw_consume: cannot subscribe to %s\n", topic);
        rd_kafka_topic_partition_list_destroy(subs);
        rd_kafka_destroy(rk);
        return NULL;
    }
    rd_kafka_topic_partition_list_destroy(subs);
    return rk;
}

int main(int argc, char **argv) {
    rd_kafka_t *rk;
    long n, got = 0;
    double t0 = 0, t1 = 0, give_up;

    if (argc != 4 || (n = atol(argv[3])) < 2) {
        fprintf(stderr, "usage: bench_raw_consume BOOTSTRAP TOPIC N (N >= 2)\n");
        return 2;
    }
    if (!(rk = consumer(argv[1], argv[2])))
        return 1;
    give_up = now_s() + 60;
    while (got < n && now_s() < give_up) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        if (!m->err && ++got == 1)
            t0 = now_s();
        else if (!m->err && got == n)
            t1 = now_s();
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    if (got < n) {
        fprintf(stderr, "bench_raw_consume: %ld of %ld messages in 60 s\n", got, n);
        return 1;
    }
    /* n - 1 intervals between the first message and the Nth, as the
     * stage's rate is taken from its first output to its Nth */
    printf("raw %ld %.6f %.0f\n", n, t1 - t0, (double)(n - 1) / (t1 - t0));
    return 0;
}
