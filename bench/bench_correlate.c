/*
 * bw-correlate's core path with its Redis writes, on one core: decode
 * classified reviews and seller actions, queue their changes, and end each
 * batch (order lookups, the fenced flush, response clocks, the window reads
 * of detection), against a real redis-server. Beside it, in the same run,
 * the naive variant: the same code with a batch of one event, i.e. Redis
 * round trips for every event.
 * Usage: bench_correlate REDIS_URL DIR [batch, default 2000] [naive events, default 3000]
 * (DIR holds classified.jsonl and actions.jsonl from tests/integration/gen_classified.py)
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "bw_json.h"
#include "bw_serde.h"
#include "correlate.h"

/* BW_BENCH_SIGNALS=FILE: every signal as a JSON line, to compare two
 * builds' output field for field (A/B runs of a change meant to keep it). */
static FILE *signals_out;

static bw_err_t count_emit(void *opaque, const char *key, avro_value_t *v) {
    char *json = NULL;

    if (signals_out && !avro_value_to_json(v, 1, &json)) {
        fprintf(signals_out, "%s %s\n", key, json);
        free(json);
    }
    (*(long *)opaque)++;
    return BW_ERR_OK;
}

/* Run events [0, n) in batches; returns seconds. The clock handed to the
 * stage is the events' own (a replay of history: nothing is "future"). */
static double run(correlate_t *cr, bench_ev_t *evs, int n, int batch, long *signals) {
    int64_t t0 = bw_mono_ns(), off[2] = {0, 0};
    char errstr[512];

    for (int i = 0; i < n; i++) {
        bench_ev_t *e = &evs[i];
        int k = e->topic == CORR_TOPIC_REVIEWS ? 0 : 1;
        bw_err_t why;
        if (correlate_add_wire(cr, e->topic, e->wire.data, e->wire.len, e->topic * 1024, off[k]++,
                               bw_now_ms(), &why, errstr, sizeof(errstr)) == CORR_REJECTED &&
            why != BW_ERR_OUT_OF_RANGE)
            abort();
        if ((i + 1) % batch == 0 || i + 1 == n)
            if (correlate_end_batch(cr, bw_now_ms(), count_emit, signals, errstr, sizeof(errstr)) ||
                correlate_delivered(cr, errstr, sizeof(errstr))) {
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
    correlate_cfg_t cfg;
    long signals = 0;
    struct rusage ru;

    if (argc < 3) {
        fprintf(stderr, "usage: %s REDIS_URL DIR [batch] [naive events]\n", argv[0]);
        return 2;
    }
    if (getenv("BW_BENCH_SIGNALS") && !(signals_out = fopen(getenv("BW_BENCH_SIGNALS"), "w"))) {
        perror(getenv("BW_BENCH_SIGNALS"));
        return 1;
    }
    if (correlate_cfg_defaults(&cfg, errstr, sizeof(errstr))) {
        fprintf(stderr, "defaults: %s\n", errstr);
        return 1;
    }
    bench_header(argc, argv);
    snprintf(path, sizeof(path), "%s/classified.jsonl", argv[2]);
    if (!sd || bench_load(sd, path, "ClassifiedReview", CORR_TOPIC_REVIEWS, &evs, &n, &cap))
        return 1;
    snprintf(path, sizeof(path), "%s/actions.jsonl", argv[2]);
    if (bench_load(sd, path, "SellerAction", CORR_TOPIC_ACTIONS, &evs, &n, &cap))
        return 1;
    qsort(evs, (size_t)n, sizeof(bench_ev_t), bench_by_time);
    printf("events: %d (classified reviews and seller actions), batch %d\n\n", n, batch);
    double stage_rate = 0, all_in = -1;
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
        correlate_t *cr = correlate_new(&cfg, sd, r, reg, errstr, sizeof(errstr));
        int count = mode ? (naive_n < n ? naive_n : n) : n;
        double c0 = cpu_self(), r0 = cpu_redis(r);
        double secs = run(cr, evs, count, mode ? 1 : batch, &signals);
        double cpu = cpu_self() - c0, rcpu = cpu_redis(r) - r0;
        double calls = redis_calls(reg);
        if (!mode) {
            stage_rate = count / cpu;
            all_in = r0 < 0 ? -1.0 : count / (cpu + rcpu);
        }
        printf("%-40s %9d events %8.2f s %10.0f events/s %8.3f Redis calls/event\n",
               mode ? "naive: a batch of one (per-event Redis)" : "batched (the stage's path)",
               count, secs, count / secs, calls / count);
        printf("  CPU per event: stage %.2f us (%.0f events/s per stage core), redis-server %.2f "
               "us\n",
               cpu / count * 1e6, count / cpu, r0 < 0 ? -1.0 : rcpu / count * 1e6);
        correlate_destroy(cr);
        bw_redis_destroy(r);
        bw_metrics_destroy(reg);
    }
    getrusage(RUSAGE_SELF, &ru);
    if (signals_out && fclose(signals_out)) {
        perror("signals");
        return 1;
    }
    printf("\npeak RSS %.1f MiB (this bench, events held in memory); signals %ld\n",
           ru.ru_maxrss / 1024.0, signals);
    printf("target: >= 200,000 classified reviews/s per core\n");
    printf("verdict: the stage's core path %.0f reviews/s per core: %s\n", stage_rate,
           stage_rate >= 200000 ? "met" : "NOT met");
    printf("(with redis-server's CPU counted too, a service of its own that scales by its own "
           "cores and Redis Cluster: %.0f per core of both)\n",
           all_in);
    return 0;
}
