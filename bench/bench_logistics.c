/*
 * bw-logistics's core path with its Redis writes, on one core: decode order
 * and shipment events, queue their changes, and end each batch (promise
 * lookups, the fenced flush, the window reads of detection), against a real
 * redis-server. Beside it, in the same run, the naive variant: the same
 * code with a batch of one event, i.e. Redis round trips for every event.
 * Usage: bench_logistics REDIS_URL DIR [batch, default 2000] [naive events, default 3000]
 * (DIR holds orders.jsonl and shipments.jsonl from tests/integration/gen_logistics.py)
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "bw_json.h"
#include "bw_serde.h"
#include "logistics.h"

static bw_err_t no_emit(void *opaque, const char *key, avro_value_t *v) {
    (void)key;
    (void)v;
    (*(long *)opaque)++;
    return BW_ERR_OK;
}

/* Run events [0, n) in batches; returns seconds. */
static double run(logistics_t *lg, bench_ev_t *evs, int n, int batch, long *signals) {
    int64_t t0 = bw_mono_ns(), off[2] = {0, 0};
    char errstr[512];

    for (int i = 0; i < n; i++) {
        bench_ev_t *e = &evs[i];
        bw_err_t why;
        if (logistics_add_wire(lg, e->topic, e->wire.data, e->wire.len, e->topic * 1024,
                               off[e->topic]++, bw_now_ms(), &why, errstr,
                               sizeof(errstr)) == LOGI_REJECTED &&
            why != BW_ERR_OUT_OF_RANGE)
            abort();
        if ((i + 1) % batch == 0 || i + 1 == n)
            if (logistics_end_batch(lg, bw_now_ms(), no_emit, signals, errstr, sizeof(errstr)) ||
                logistics_delivered(lg, errstr, sizeof(errstr))) {
                fprintf(stderr, "batch: %s\n", errstr);
                abort();
            }
    }
    return (double)(bw_mono_ns() - t0) / 1e9;
}

int main(int argc, char **argv) {
    char errstr[512], path[4096];
    int batch = argc > 3 ? atoi(argv[3]) : 2000, naive_n = argc > 4 ? atoi(argv[4]) : 3000;
    int n = 0, cap = 0;
    bench_ev_t *evs = NULL;
    bw_serde_t *sd =
        bw_serde_new(BW_DEFAULT_SCHEMA_DIR, BW_SERDE_DEFAULT_MAX, errstr, sizeof(errstr));
    /* the stage's defaults (stages/logistics/main.c) */
    logistics_cfg_t cfg = {
        .window_ms = 86400000,
        .history = 14,
        .index_ttl_s = 120 * 86400,
        .window_ttl_s = 60 * 86400,
        .lateness_ms = 3600000,
        .grace_ms = 172800000,
        .skew_ms = 600000,
        .idle_ms = 60000,
        .min_event_ms = 946684800000LL,
        .spike = {30, 1.5, 0.05, 0.001, 0.3, 0.08, 3},
        .ship_warn = 0.03,
        .ship_critical = 0.04,
        .ship_min = 20,
        .stall_ms = 72 * 3600000LL,
        .stall = {5, 2, 0.001, 0.3, 0.5},
        .tracking_ms = 48 * 3600000LL,
        .track_warn = 0.96,
        .track_critical = 0.95,
        .timer_batch = 1000,
    };
    long signals = 0;
    struct rusage ru;

    if (argc < 3) {
        fprintf(stderr, "usage: %s REDIS_URL DIR [batch] [naive events]\n", argv[0]);
        return 2;
    }
    bench_header(argc, argv);
    snprintf(path, sizeof(path), "%s/orders.jsonl", argv[2]);
    if (!sd || bench_load(sd, path, "OrderEvent", 0, &evs, &n, &cap))
        return 1;
    snprintf(path, sizeof(path), "%s/shipments.jsonl", argv[2]);
    if (bench_load(sd, path, "ShipmentEvent", 1, &evs, &n, &cap))
        return 1;
    qsort(evs, (size_t)n, sizeof(bench_ev_t), bench_by_time);
    printf("events: %d (orders and shipment scans), batch %d\n\n", n, batch);
    double stage_rate = 0, all_in = -1, per_event_calls = 0;
    for (int mode = 0; mode < 2; mode++) {
        if (mode && naive_n <= 0) {
            printf("naive: not run (naive events 0)\n");
            break;
        }
        bw_metrics_t *reg = bw_metrics_new();
        char url[512];
        snprintf(url, sizeof(url), "%s%s", argv[1], mode ? "/2" : "/1");
        bw_redis_t *r = bw_redis_new(url, 5000, reg, errstr, sizeof(errstr));
        redisReply *rep;
        if (!r || bw_redis_cmd(r, &rep, errstr, sizeof(errstr), "FLUSHDB")) {
            fprintf(stderr, "redis: %s\n", errstr);
            return 1;
        }
        freeReplyObject(rep);
        logistics_t *lg = logistics_new(&cfg, sd, r, reg, errstr, sizeof(errstr));
        int count = mode ? (naive_n < n ? naive_n : n) : n;
        double c0 = cpu_self(), r0 = cpu_redis(r);
        double secs = run(lg, evs, count, mode ? 1 : batch, &signals);
        double cpu = cpu_self() - c0, rcpu = cpu_redis(r) - r0;
        double calls = redis_calls(reg);
        if (!mode) {
            stage_rate = count / cpu;
            all_in = r0 < 0 ? -1.0 : count / (cpu + rcpu);
            per_event_calls = calls / count;
        }
        printf("%-40s %9d events %8.2f s %10.0f events/s %8.3f Redis calls/event\n",
               mode ? "naive: a batch of one (per-event Redis)" : "batched (the stage's path)",
               count, secs, count / secs, calls / count);
        printf("  CPU per event: stage %.2f us (%.0f events/s per stage core), redis-server %.2f "
               "us\n",
               cpu / count * 1e6, count / cpu, r0 < 0 ? -1.0 : rcpu / count * 1e6);
        if (!mode && bw_redis_cmd(r, &rep, errstr, sizeof(errstr), "INFO memory") == BW_ERR_OK) {
            const char *u = strstr(rep->str, "used_memory:");
            long long bytes = u ? atoll(u + 12) : 0;
            printf("  Redis used_memory %.1f MiB for %d orders: %.0f MiB per million orders\n",
                   bytes / 1048576.0, n / 3, bytes / 1048576.0 / (n / 3.0) * 1e6);
            freeReplyObject(rep);
        }
        logistics_destroy(lg);
        bw_redis_destroy(r);
        bw_metrics_destroy(reg);
    }
    getrusage(RUSAGE_SELF, &ru);
    printf("\npeak RSS %.1f MiB (this bench, events held in memory); signals %ld\n",
           ru.ru_maxrss / 1024.0, signals);
    printf("targets: >= 300,000 events/s per core, <= 0.05 Redis calls per event\n");
    printf("verdict: the stage's core path %.0f events/s per core: %s; %.3f Redis calls per event: "
           "%s\n",
           stage_rate, stage_rate >= 300000 ? "met" : "NOT met", per_event_calls,
           per_event_calls <= 0.05 ? "met" : "NOT met");
    printf("(with redis-server's CPU counted too, a service of its own that scales by its own "
           "cores and Redis Cluster: %.0f per core of both)\n",
           all_in);
    return 0;
}
