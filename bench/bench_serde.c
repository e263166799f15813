/*
 * Encode and decode of a typical ReviewEvent (about 300 bytes of text) on one
 * core, in records/s, beside a plain copy of the same bytes measured in the
 * same run. Usage: bench_serde [seconds per case, default 2]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "bw_avro_check.h"
#include "bw_json.h"
#include "bw_serde.h"
#include "bw_util.h"

static const char *REVIEW =
    "{\"event_id\":\"rv-00012345\",\"platform\":\"AMAZON\",\"marketplace\":\"DE\","
    "\"store_id\":\"store-042\",\"kind\":\"PRODUCT_REVIEW\",\"order_id\":\"302-1234567-7654321\","
    "\"sku\":\"SKU-LAMP-01\",\"rating\":2,\"title\":\"Kam beschädigt an\","
    "\"body\":\"Die Lampe kam mit einem Sprung im Glas an und der Karton war völlig zerdrückt. "
    "Der Versand hat außerdem zehn Tage gedauert, obwohl drei angegeben waren. Der Verkäufer hat "
    "auf meine Nachricht bisher nicht geantwortet. Schade, das Design ist eigentlich schön, aber "
    "so kann ich sie nicht behalten.\","
    "\"language\":\"de\",\"fulfilled_by_platform\":false,"
    "\"occurred_at\":\"2024-03-05T10:15:30.250Z\"}";

/* Keeps the optimiser from dropping the work. */
static volatile size_t sink;

typedef struct {
    const char *name;
    long n;
    double secs;
} result_t;

static double rate(const result_t *r) {
    return (double)r->n / r->secs;
}

int main(int argc, char **argv) {
    double budget = argc > 1 ? atof(argv[1]) : 2.0;
    char errstr[512];
    bw_serde_t *sd =
        bw_serde_new(BW_DEFAULT_SCHEMA_DIR, BW_SERDE_DEFAULT_MAX, errstr, sizeof(errstr));
    const bw_schema_t *s;
    bw_record_t *rec, *out;
    bw_buf_t wire = {0}, enc = {0};
    json_t *j;
    result_t res[4] = {{"plain copy (baseline)", 0, 0},
                       {"decode (check + Avro C read)", 0, 0},
                       {"  of which check only", 0, 0},
                       {"encode (Avro C write + header)", 0, 0}};
    char *copy;

    bench_header(argc, argv);
    if (!sd) {
        fprintf(stderr, "%s\n", errstr);
        return 1;
    }
    s = bw_serde_schema(sd, "ReviewEvent");
    rec = bw_record_new(s);
    j = json_loads(REVIEW, 0, NULL);
    if (!j || bw_json_to_avro(s, j, &rec->value, errstr, sizeof(errstr)) ||
        bw_serde_encode(sd, s, &rec->value, &wire, errstr, sizeof(errstr))) {
        fprintf(stderr, "setup: %s\n", errstr);
        return 1;
    }
    copy = malloc(wire.len);
    printf("record: ReviewEvent, %zu bytes on the wire\n", wire.len);

    for (int c = 0; c < 4; c++) {
        int64_t t0 = bw_mono_ns(), deadline = t0 + (int64_t)(budget * 1e9);
        long n = 0;
        while (bw_mono_ns() < deadline) {
            for (int k = 0; k < 1000; k++) {
                switch (c) {
                case 0:
                    memcpy(copy, wire.data, wire.len);
                    sink += (size_t)copy[k % wire.len];
                    break;
                case 1:
                    if (bw_serde_decode(sd, wire.data, wire.len, s, &out, errstr, sizeof(errstr)))
                        abort();
                    sink += (size_t)out;
                    break;
                case 2:
                    if (bw_avro_check(s->root, (const unsigned char *)wire.data + BW_WIRE_HEADER,
                                      wire.len - BW_WIRE_HEADER, errstr, sizeof(errstr)))
                        abort();
                    sink++;
                    break;
                case 3:
                    if (bw_serde_encode(sd, s, &rec->value, &enc, errstr, sizeof(errstr)))
                        abort();
                    sink += enc.len;
                    break;
                }
            }
            n += 1000;
        }
        res[c].n = n;
        res[c].secs = (double)(bw_mono_ns() - t0) / 1e9;
    }
    printf("\n%-34s %14s %12s %10s\n", "case", "records/s", "ns/record", "vs copy");
    for (int c = 0; c < 4; c++)
        printf("%-34s %14.0f %12.1f %9.1fx\n", res[c].name, rate(&res[c]), 1e9 / rate(&res[c]),
               rate(&res[0]) / rate(&res[c]));
    printf("\ntarget: >= 500,000 decodes/s and >= 500,000 encodes/s per core: decode %s, "
           "encode %s\n",
           rate(&res[1]) >= 500000 ? "met" : "NOT met",
           rate(&res[3]) >= 500000 ? "met" : "NOT met");
    json_decref(j);
    free(copy);
    bw_buf_free(&wire);
    bw_buf_free(&enc);
    bw_record_destroy(rec);
    bw_serde_destroy(sd);
    return 0;
}
