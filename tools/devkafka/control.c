#include "control.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    int16_t key;
} APIS[] = {
    {"produce", 0},      {"fetch", 1},       {"listoffsets", 2},      {"metadata", 3},
    {"offsetcommit", 8}, {"offsetfetch", 9}, {"findcoordinator", 10}, {"joingroup", 11},
    {"heartbeat", 12},   {"leavegroup", 13}, {"syncgroup", 14},
};

static bool parse_long(const char *s, long lo, long hi, long *out) {
    char *end;
    long v;

    if (!s || !*s)
        return false;
    v = strtol(s, &end, 10);
    if (*end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static bool parse_api(const char *s, int16_t *key) {
    long v;

    for (size_t i = 0; s && i < sizeof(APIS) / sizeof(APIS[0]); i++)
        if (!strcmp(s, APIS[i].name)) {
            *key = APIS[i].key;
            return true;
        }
    if (!parse_long(s, 0, 100, &v))
        return false;
    *key = (int16_t)v;
    return true;
}

/* An error by librdkafka's own name for it, or by number. */
static bool parse_error(const char *s, rd_kafka_resp_err_t *err) {
    long v;

    if (!s)
        return false;
    if (parse_long(s, -200, 200, &v)) {
        *err = (rd_kafka_resp_err_t)v;
        return true;
    }
    for (int e = -200; e < 200; e++) {
        const char *name = rd_kafka_err2name((rd_kafka_resp_err_t)e);
        if (name && !strcmp(name, s)) {
            *err = (rd_kafka_resp_err_t)e;
            return true;
        }
    }
    return false;
}

static bool parse_broker(const char *s, int32_t *id) {
    long v;

    if (s && !strcmp(s, "all")) {
        *id = -1;
        return true;
    }
    if (!parse_long(s, 0, 1000, &v))
        return false;
    *id = (int32_t)v;
    return true;
}

bool dk_control(rd_kafka_mock_cluster_t *mc, const char *line, char *errstr, size_t errstr_size) {
    char buf[512], *save = NULL, *w[5] = {0};
    int n = 0;
    int32_t broker;
    int16_t api;
    long v, part;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;

    if (strlen(line) >= sizeof(buf)) {
        snprintf(errstr, errstr_size, "command longer than %zu bytes", sizeof(buf) - 1);
        return false;
    }
    memcpy(buf, line, strlen(line) + 1);
    for (char *t = strtok_r(buf, " \t\r\n", &save); t && n < 5;
         t = strtok_r(NULL, " \t\r\n", &save))
        w[n++] = t;
    if (n == 0 || w[0][0] == '#')
        return true;
    if ((!strcmp(w[0], "down") || !strcmp(w[0], "up")) && n == 2 && parse_broker(w[1], &broker))
        err = w[0][0] == 'd' ? rd_kafka_mock_broker_set_down(mc, broker)
                             : rd_kafka_mock_broker_set_up(mc, broker);
    else if (!strcmp(w[0], "rtt") && n == 3 && parse_broker(w[1], &broker) &&
             parse_long(w[2], 0, 600000, &v))
        err = rd_kafka_mock_broker_set_rtt(mc, broker, (int)v);
    else if (!strcmp(w[0], "leader") && n == 4 && parse_long(w[2], 0, 100000, &part) &&
             parse_broker(w[3], &broker) && broker >= 0)
        err = rd_kafka_mock_partition_set_leader(mc, w[1], (int32_t)part, broker);
    else if (!strcmp(w[0], "errors") && n == 4 && parse_api(w[1], &api) &&
             parse_long(w[2], 1, 100000, &v) && parse_error(w[3], &err)) {
        rd_kafka_resp_err_t *errs = malloc((size_t)v * sizeof(*errs));
        if (!errs) {
            snprintf(errstr, errstr_size, "out of memory");
            return false;
        }
        for (long i = 0; i < v; i++)
            errs[i] = err;
        rd_kafka_mock_push_request_errors_array(mc, api, (size_t)v, errs);
        free(errs);
        err = RD_KAFKA_RESP_ERR_NO_ERROR;
    } else if (!strcmp(w[0], "stall") && n == 5 && parse_broker(w[1], &broker) && broker >= 0 &&
               parse_api(w[2], &api) && parse_long(w[3], 1, 10000, &part) &&
               parse_long(w[4], 0, 600000, &v)) {
        /* the next COUNT requests of API to BROKER are answered MS late (a
         * broker that hangs on commits, say, while fetches flow) */
        for (long i = 0; i < part && !err; i++)
            err = rd_kafka_mock_broker_push_request_error_rtts(mc, broker, api, 1,
                                                               RD_KAFKA_RESP_ERR_NO_ERROR, (int)v);
    } else if (!strcmp(w[0], "clear") && n == 2 && parse_api(w[1], &api))
        rd_kafka_mock_clear_request_errors(mc, api);
    else {
        snprintf(errstr, errstr_size,
                 "unknown or malformed command \"%s\" (down|up BROKER, rtt BROKER MS, leader TOPIC "
                 "PARTITION BROKER, errors API COUNT ERROR, stall BROKER API COUNT MS, clear API)",
                 line);
        return false;
    }
    if (err) {
        snprintf(errstr, errstr_size, "%s: %s", w[0], rd_kafka_err2str(err));
        return false;
    }
    return true;
}
