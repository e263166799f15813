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

#include "bw_metrics_def.h"
#include "bw_redis.h"

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

#endif
