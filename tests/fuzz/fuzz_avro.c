/* libFuzzer: one Kafka message value through the wire decoder, as every
 * stage reads its input. Whatever decodes must render as JSON, encode, and
 * decode again to the same JSON (what bw-tail shows is what was sent). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bw_json.h"
#include "bw_serde.h"
#define BW_FUZZ_SERDE
#include "fuzz.h"

static bw_serde_t *sd;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    sd = fuzz_serde();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char errstr[512];
    bw_record_t *rec, *again;
    bw_buf_t out = {0};
    json_t *j1, *j2;

    if (bw_serde_decode(sd, data, size, NULL, &rec, errstr, sizeof(errstr)))
        return 0; /* refused with a reason: what a dead letter carries */
    if (!(j1 = bw_avro_to_json(rec->schema, &rec->value)))
        fuzz_die("decoded record without JSON");
    if (bw_serde_encode(sd, rec->schema, &rec->value, &out, errstr, sizeof(errstr)))
        fuzz_die("decoded record does not encode: %s", errstr);
    if (bw_serde_decode(sd, out.data, out.len, NULL, &again, errstr, sizeof(errstr)))
        fuzz_die("re-encoded record does not decode: %s", errstr);
    if (!(j2 = bw_avro_to_json(again->schema, &again->value)) || !json_equal(j1, j2))
        fuzz_die("round trip changed the record");
    json_decref(j1);
    json_decref(j2);
    bw_buf_free(&out);
    return 0;
}
