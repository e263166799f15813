/*
 * bw-devkafka: an embedded Kafka broker for one machine.
 *
 * librdkafka's mock cluster speaks the real Kafka protocol on loopback, so
 * every stage, kcat and any other client connect to it as to a real broker.
 * It creates the bw.* topics, prints its bootstrap address, writes it to a
 * file other processes read (--brokers @FILE), and stops on SIGTERM. With
 * --control.file it reads fault commands from a FIFO (control.h): brokers
 * down and up, leader changes, injected request errors (tests/faults/).
 *
 * Limits (librdkafka 2.0.2): everything is in memory; each partition keeps
 * only about its last 5 MB (older messages vanish and a consumer that falls
 * further behind gets offset-out-of-range); ports are chosen by the mock.
 * For demos and tests whose consumers keep up; never for production.
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "control.h"

#include "bw_conf.h"
#include "bw_log.h"
#include "bw_proc.h"
#include "bw_topics.h"
#include "bw_util.h"

typedef struct {
    int64_t partitions;
    int64_t brokers;
    char *bootstrap_file;
    char *extra_topics;
    char *control_file;
} devkafka_conf_t;

#define D(f) offsetof(devkafka_conf_t, f)
static const bw_conf_def_t devkafka_defs[] = {
    {"partitions", BW_CONF_INT, D(partitions), "6", 1, 1024, NULL,
     "Partitions of every bw.* topic"},
    {"broker.count", BW_CONF_INT, D(brokers), "1", 1, 9, NULL, "Mock brokers in the cluster"},
    {"bootstrap.file", BW_CONF_STR, D(bootstrap_file), ".run/devkafka.bootstrap", BW_CONF_NORANGE,
     NULL, "File the bootstrap address is written to"},
    {"topics", BW_CONF_STR, D(extra_topics), "", BW_CONF_NORANGE, NULL,
     "Extra topics to create, comma-separated"},
    {"control.file", BW_CONF_STR, D(control_file), "", BW_CONF_NORANGE, NULL,
     "FIFO created for fault commands, one per line (tools/devkafka/control.h); empty: none"},
};
#undef D

static bool write_bootstrap(const char *path, const char *bootstraps) {
    char tmp[4096];
    FILE *fp;

    /* Write then rename: a reader never sees half an address. */
    snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
    if (!(fp = fopen(tmp, "w")))
        return false;
    if (fprintf(fp, "%s\n", bootstraps) < 0 || fclose(fp) != 0) {
        unlink(tmp);
        return false;
    }
    return rename(tmp, path) == 0;
}

static bool create_topic(rd_kafka_mock_cluster_t *mc, const char *topic, int partitions) {
    rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mc, topic, partitions, 1);

    if (err) {
        bw_log(BW_LOG_ERROR, "create topic %s: %s", topic, rd_kafka_err2str(err));
        return false;
    }
    return true;
}

/* Commands from the FIFO until SIGTERM; each applied and logged. Opened
 * read-write, so that writers coming and going never give it an EOF. */
static bool serve_control(rd_kafka_mock_cluster_t *mc, const char *path) {
    char buf[4096], errstr[512];
    size_t have = 0;
    int fd;

    unlink(path);
    if (mkfifo(path, 0600) || (fd = open(path, O_RDWR | O_NONBLOCK)) < 0) {
        bw_log(BW_LOG_ERROR, "control file %s: %s", path, strerror(errno));
        return false;
    }
    while (!bw_proc_stop) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        ssize_t n;
        char *nl;
        if (poll(&pfd, 1, 200) <= 0)
            continue;
        if ((n = read(fd, buf + have, sizeof(buf) - 1 - have)) <= 0)
            continue;
        have += (size_t)n;
        buf[have] = '\0';
        while ((nl = strchr(buf, '\n'))) {
            *nl = '\0';
            if (dk_control(mc, buf, errstr, sizeof(errstr)))
                bw_log(BW_LOG_INFO, "control: %s", buf);
            else
                bw_log(BW_LOG_WARN, "control: %s", errstr);
            have -= (size_t)(nl + 1 - buf);
            memmove(buf, nl + 1, have + 1);
        }
        if (have == sizeof(buf) - 1) {
            bw_log(BW_LOG_WARN, "control: line longer than %zu bytes dropped", have);
            have = 0;
        }
    }
    close(fd);
    unlink(path);
    return true;
}

int main(int argc, char **argv) {
    bw_conf_t conf;
    bw_common_conf_t common = {0};
    devkafka_conf_t dk = {0};
    rd_kafka_conf_t *kc;
    rd_kafka_t *rk = NULL;
    rd_kafka_mock_cluster_t *mc = NULL;
    char errstr[512];
    const char *bootstraps;
    int rc = 1;

    if (bw_proc_setup(&conf, "devkafka", NULL, &common, devkafka_defs, BW_ARRAY_SIZE(devkafka_defs),
                      &dk, argc, argv))
        goto out;
    kc = rd_kafka_conf_new();
    /* The handle exists only to own the mock cluster; silence its logs
     * about having no real bootstrap servers. */
    rd_kafka_conf_set(kc, "log_level", "3", errstr, sizeof(errstr));
    if (!(rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, sizeof(errstr)))) {
        rd_kafka_conf_destroy(kc);
        bw_log(BW_LOG_ERROR, "rd_kafka_new: %s", errstr);
        goto out;
    }
    if (!(mc = rd_kafka_mock_cluster_new(rk, (int)dk.brokers))) {
        bw_log(BW_LOG_ERROR, "could not create the mock cluster");
        goto out;
    }
#define CREATE_(t, s)                             \
    if (!create_topic(mc, t, (int)dk.partitions)) \
        goto out;
    BW_TOPICS(CREATE_)
#undef CREATE_
    if (*dk.extra_topics) {
        char *list = strdup(dk.extra_topics), *save = NULL;
        for (char *t = list ? strtok_r(list, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save))
            if (!create_topic(mc, t, (int)dk.partitions)) {
                free(list);
                goto out;
            }
        free(list);
    }
    bootstraps = rd_kafka_mock_cluster_bootstraps(mc);
    if (!write_bootstrap(dk.bootstrap_file, bootstraps)) {
        bw_log(BW_LOG_ERROR, "cannot write %s", dk.bootstrap_file);
        goto out;
    }
    printf("%s\n", bootstraps);
    fflush(stdout);
    bw_log_kv(BW_LOG_INFO,
              json_pack("{s:s, s:s, s:I}", "bootstrap", bootstraps, "file", dk.bootstrap_file,
                        "partitions", (json_int_t)dk.partitions),
              "embedded Kafka broker ready");
    if (*dk.control_file) {
        if (!serve_control(mc, dk.control_file))
            goto out;
    } else {
        while (!bw_proc_stop)
            pause();
    }
    bw_log(BW_LOG_INFO, "stopping");
    unlink(dk.bootstrap_file);
    rc = 0;
out:
    if (mc)
        rd_kafka_mock_cluster_destroy(mc);
    if (rk)
        rd_kafka_destroy(rk);
    bw_conf_destroy(&conf);
    return rc;
}
