/*
 * bw-classify's core path on one core: decode a ReviewEvent, classify it
 * with the full rule pack, encode the ClassifiedReview. The mix is built
 * from the labelled fixtures of all eight languages, sentences joined to
 * about 250 bytes. Printed beside decode+encode alone (no classification)
 * measured in the same run, and the process's peak RSS.
 * Usage: bench_classify [seconds per case, default 3] [reviews.jsonl]
 * With a file of ReviewEvent JSON lines (bench/real_mix.py makes one from
 * real reviews), that is the mix instead. BENCH_ONLY=0|1|2 runs one case
 * alone (baseline, full path, classify alone), for a profiler.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench_common.h"
#include "bw_json.h"
#include "bw_serde.h"
#include "bw_util.h"
#include "stage.h"

#define NMIX 2048

static const char *langs[] = {"en", "pt", "de", "fr", "es", "it", "ja", "zh"};

/* Sentences of one language from its fixture file. */
static int load_sentences(const char *lang, char **out, int max) {
    char path[512], line[4096];
    FILE *fp;
    int n = 0;

    snprintf(path, sizeof(path), "%s/classify/%s.jsonl", BW_FIXTURE_DIR, lang);
    if (!(fp = fopen(path, "r")))
        return 0;
    while (n < max && fgets(line, sizeof(line), fp)) {
        json_t *j = json_loads(line, 0, NULL);
        const char *kind = json_string_value(json_object_get(j, "kind"));
        if (j && (!kind || strcmp(kind, "SELLER_MESSAGE")))
            out[n++] = strdup(json_string_value(json_object_get(j, "body")));
        json_decref(j);
    }
    fclose(fp);
    return n;
}

int main(int argc, char **argv) {
    double budget = argc > 1 ? atof(argv[1]) : 3.0;
    char errstr[1024];
    bw_serde_t *sd =
        bw_serde_new(BW_DEFAULT_SCHEMA_DIR, BW_SERDE_DEFAULT_MAX, errstr, sizeof(errstr));
    classify_t c;
    bw_buf_t *wire = calloc(NMIX, sizeof(bw_buf_t)), out = {0};
    bw_record_t *in, *rec;
    size_t total_bytes = 0;
    unsigned seed = 7;
    int nmix = NMIX;
    double rate[3] = {0};
    const char *only = getenv("BENCH_ONLY");
    struct rusage ru;

    bench_header(argc, argv);
    if (!sd || classify_init(&c, sd, BW_CLASSIFY_RULES_DIR, 16384, NULL, errstr, sizeof(errstr))) {
        fprintf(stderr, "%s\n", errstr);
        return 1;
    }
    in = bw_record_new(c.in_schema);
    if (argc > 2) {
        FILE *fp = fopen(argv[2], "r");
        char line[16384];
        int i = 0;
        if (!fp) {
            perror(argv[2]);
            return 1;
        }
        while (i < NMIX && fgets(line, sizeof(line), fp)) {
            json_t *j = json_loads(line, 0, NULL);
            if (!j || bw_json_to_avro(c.in_schema, j, &in->value, errstr, sizeof(errstr)) ||
                bw_serde_encode(sd, c.in_schema, &in->value, &wire[i], errstr, sizeof(errstr))) {
                fprintf(stderr, "%s: line %d: %s\n", argv[2], i + 1, errstr);
                return 1;
            }
            total_bytes += strlen(json_string_value(json_object_get(j, "body")));
            json_decref(j);
            i++;
        }
        fclose(fp);
        if (i == 0) {
            fprintf(stderr, "%s: no reviews\n", argv[2]);
            return 1;
        }
        nmix = i;
        printf("mix: %d reviews from %s, average body %zu bytes\n", nmix, argv[2],
               total_bytes / (size_t)nmix);
        goto run;
    }
    for (int i = 0; i < NMIX; i++) {
        char *sent[64], body[2048] = "";
        int ns = load_sentences(langs[i % 8], sent, 64), rating;
        json_t *j;
        while (strlen(body) < 200 && ns) {
            seed = seed * 1103515245 + 12345;
            strncat(body, sent[(seed >> 8) % (unsigned)ns], sizeof(body) - strlen(body) - 2);
            strcat(body, " ");
        }
        seed = seed * 1103515245 + 12345;
        rating = 1 + (int)((seed >> 8) % 5);
        j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:s}", "event_id", "bench", "platform",
                      "AMAZON", "marketplace", "US", "store_id", "s1", "kind", "PRODUCT_REVIEW",
                      "rating", rating, "body", body, "occurred_at", "2024-03-01T10:00:00Z");
        if (bw_json_to_avro(c.in_schema, j, &in->value, errstr, sizeof(errstr)) ||
            bw_serde_encode(sd, c.in_schema, &in->value, &wire[i], errstr, sizeof(errstr))) {
            fprintf(stderr, "mix: %s\n", errstr);
            return 1;
        }
        total_bytes += strlen(body);
        json_decref(j);
        for (int k = 0; k < ns; k++)
            free(sent[k]);
    }
    printf("mix: %d reviews in 8 languages from the labelled fixtures, average body %zu bytes\n",
           NMIX, total_bytes / NMIX);
run:

    for (int mode = 0; mode < 3; mode++) {
        if (only && atoi(only) != mode)
            continue;
        int64_t t0 = bw_mono_ns(), deadline = t0 + (int64_t)(budget * 1e9);
        long n = 0;
        while (bw_mono_ns() < deadline) {
            for (int i = 0; i < nmix; i++) {
                bw_review_out_t res;
                if (mode == 1) { /* the stage's path: message in, message out */
                    if (classify_wire(&c, wire[i].data, wire[i].len, &res, errstr, sizeof(errstr)))
                        abort();
                    continue;
                }
                if (bw_serde_decode(sd, wire[i].data, wire[i].len, c.in_schema, &rec, errstr,
                                    sizeof(errstr)))
                    abort();
                if (mode == 2) {
                    bw_review_in_t rin = {0};
                    avro_value_t f;
                    size_t sz;
                    avro_value_get_by_index(&rec->value, (size_t)c.f_body, &f, NULL);
                    avro_value_get_string(&f, &rin.body, &sz);
                    rin.body_len = sz ? sz - 1 : 0;
                    bw_classify(c.cl, c.pack, &rin, &res);
                } else if (bw_serde_encode(sd, c.in_schema, &rec->value, &out, errstr,
                                           sizeof(errstr))) {
                    abort();
                }
            }
            n += nmix;
        }
        rate[mode] = (double)n / ((double)(bw_mono_ns() - t0) / 1e9);
    }
    getrusage(RUSAGE_SELF, &ru);
    printf("\n%-44s %12s %10s\n", "case", "reviews/s", "us/review");
    printf("%-44s %12.0f %10.2f\n", "decode + encode, no classification (baseline)", rate[0],
           1e6 / rate[0]);
    printf("%-44s %12.0f %10.2f\n", "decode + classify (full pack) + encode", rate[1],
           1e6 / rate[1]);
    printf("%-44s %12.0f %10.2f\n", "Avro C decode + bw_classify(), no encode", rate[2],
           1e6 / rate[2]);
    printf("\nrules in pack: %zu; peak RSS %.1f MiB\n", bw_pack_rule_count(c.pack),
           (double)ru.ru_maxrss / 1024.0);
    printf("target: >= 150,000 reviews/s per core: %s; RSS < 64 MiB: %s\n",
           rate[1] >= 150000 ? "met" : "NOT met", ru.ru_maxrss < 64 * 1024 ? "met" : "NOT met");
    return 0;
}
