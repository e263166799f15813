/* libFuzzer: one JSON line as bw-replay and `bw-classify --stdin` read it
 * ({"schema": NAME, "record": {...}}). What converts must encode, decode
 * and render back to JSON that converts again to the same record. */
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

static void round_trip(const bw_schema_t *s, json_t *record) {
    char errstr[512];
    bw_record_t *rec = bw_record_new(s), *back = NULL;
    bw_buf_t out = {0};
    json_t *j1 = NULL, *j2 = NULL;

    if (!rec)
        fuzz_die("out of memory");
    if (bw_json_to_avro(s, record, &rec->value, errstr, sizeof(errstr)))
        goto done; /* refused with a reason, the line is counted bad */
    if (bw_serde_encode(sd, s, &rec->value, &out, errstr, sizeof(errstr)))
        goto done; /* too large, say: refused with a reason */
    if (bw_serde_decode(sd, out.data, out.len, s, &back, errstr, sizeof(errstr)))
        fuzz_die("encoded record does not decode: %s", errstr);
    if (!(j1 = bw_avro_to_json(s, &rec->value)) || !(j2 = bw_avro_to_json(s, &back->value)) ||
        !json_equal(j1, j2))
        fuzz_die("round trip changed the record");
done:
    json_decref(j1);
    json_decref(j2);
    bw_buf_free(&out);
    bw_record_destroy(rec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    json_t *line = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    const char *name = json_string_value(json_object_get(line, "schema"));
    const bw_schema_t *s = name ? bw_serde_schema(sd, name) : NULL;

    if (s)
        round_trip(s, json_object_get(line, "record"));
    json_decref(line);
    return 0;
}
