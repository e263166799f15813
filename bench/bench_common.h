/* What every bench prints first: the command line and the machine, so a
 * figure is never quoted without where it came from. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <jansson.h>

#include "bw_json.h"
#include "bw_metrics_def.h"
#include "bw_redis.h"
#include "bw_serde.h"

static inline void bench_header(int argc, char **argv) {
    struct utsname u;
    char line[256], model[256] = "unknown CPU";
    FILE *fp = fopen("/proc/cpuinfo", "r");

    while (fp && fgets(line, sizeof(line), fp)) {
        if (!strncmp(line, "model name", 10)) {
            char *colon = strchr(line, ':');
            if (colon) {
                snprintf(model, sizeof(model), "%s", colon + 2);
                model[strcspn(model, "\n")] = '\0';
            }
            break;
        }
    }
    if (fp)
        fclose(fp);
    printf("command:");
    for (int i = 0; i < argc; i++)
        printf(" %s", argv[i]);
    uname(&u);
    printf("\nmachine: %s %s %s, %s, %ld online CPUs\n", u.sysname, u.release, u.machine, model,
           sysconf(_SC_NPROCESSORS_ONLN));
}

/* CPU seconds this process has used. */
static inline double cpu_self(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* CPU seconds redis-server has used (INFO cpu), or -1. */
static inline double cpu_redis(bw_redis_t *r) {
    redisReply *rep;
    char errstr[256];
    double user = -1, sys = 0;

    if (bw_redis_cmd(r, &rep, errstr, sizeof(errstr), "INFO cpu") != BW_ERR_OK)
        return -1;
    const char *u = strstr(rep->str, "used_cpu_user:"), *y = strstr(rep->str, "used_cpu_sys:");
    if (u && y) {
        user = atof(u + 14);
        sys = atof(y + 13);
    }
    freeReplyObject(rep);
    return user < 0 ? -1 : user + sys;
}

static inline double redis_calls(bw_metrics_t *reg) {
    return bw_metric_value(bw_metrics_get(reg, &bw_common_metrics[BW_M_REDIS_CALLS], "ok"));
}

/* An input record as the stage would consume it: its topic and wire bytes. */
typedef struct {
    int topic;
    bw_buf_t wire; /* exactly the encoded bytes */
    int64_t at; /* occurred_at, for sorting */
} bench_ev_t;

/* Append the JSON lines of @p path, encoded as @p schema, to *evs. */
static inline int bench_load(bw_serde_t *sd, const char *path, const char *schema, int topic,
                             bench_ev_t **evs, int *n, int *cap) {
    FILE *fp = fopen(path, "r");
    char line[8192], errstr[256] = "";
    const bw_schema_t *s = bw_serde_schema(sd, schema);
    bw_record_t *rec = s ? bw_record_new(s) : NULL;
    bw_buf_t enc = {0};
    int rc = 0;

    if (!fp || !rec) {
        fprintf(stderr, "%s: cannot read (or no schema %s)\n", path, schema);
        rc = -1;
        goto out;
    }
    while (fgets(line, sizeof(line), fp)) {
        json_t *j = json_loads(line, 0, NULL);
        if (*n == *cap) {
            bench_ev_t *grown = realloc(*evs, (size_t)(*cap ? *cap * 2 : 4096) * sizeof(**evs));
            if (!grown)
                abort();
            *evs = grown;
            *cap = *cap ? *cap * 2 : 4096;
        }
        bench_ev_t *e = &(*evs)[*n];
        memset(e, 0, sizeof(*e));
        e->topic = topic;
        if (!j || bw_json_to_avro(s, j, &rec->value, errstr, sizeof(errstr)) ||
            bw_serde_encode(sd, s, &rec->value, &enc, errstr, sizeof(errstr)) ||
            !bw_buf_append(&e->wire, enc.data, enc.len)) {
            fprintf(stderr, "%s: %s\n", path, errstr);
            json_decref(j);
            rc = -1;
            goto out;
        }
        bw_ts_parse(json_string_value(json_object_get(j, "occurred_at")), &e->at);
        json_decref(j);
        (*n)++;
    }
out:
    if (fp)
        fclose(fp);
    bw_record_destroy(rec);
    bw_buf_free(&enc);
    return rc;
}

static inline int bench_by_time(const void *a, const void *b) {
    const bench_ev_t *x = a, *y = b;
    return x->at < y->at ? -1 : x->at > y->at;
}

#endif
