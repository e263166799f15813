/* Serde: every schema parses and round-trips; every malformed message is a
 * clean, specific error. */
#include "bw_test.h"

#include <jansson.h>

#include "bw_avro_check.h"
#include "bw_avro_put.h"
#include "bw_json.h"
#include "bw_serde.h"
#include "bw_topics.h"

static bw_serde_t *sd;
static char errstr[512];

static json_t *load_samples(void) {
    json_t *all = json_array();
    FILE *fp = fopen(BW_FIXTURE_DIR "/samples.jsonl", "r");
    char line[8192];

    assert_non_null(fp);
    while (fgets(line, sizeof(line), fp)) {
        json_error_t jerr;
        json_t *j = json_loads(line, 0, &jerr);
        assert_non_null(j);
        json_array_append_new(all, j);
    }
    fclose(fp);
    return all;
}

/* JSON -> Avro -> wire bytes; fails the test on any error. */
static void encode_json(const char *schema_name, json_t *record, bw_buf_t *out) {
    const bw_schema_t *schema = bw_serde_schema(sd, schema_name);
    bw_record_t *rec;

    assert_non_null(schema);
    rec = bw_record_new(schema);
    assert_non_null(rec);
    if (bw_json_to_avro(schema, record, &rec->value, errstr, sizeof(errstr)))
        fail_msg("%s: %s", schema_name, errstr);
    assert_int_equal(bw_serde_encode(sd, schema, &rec->value, out, errstr, sizeof(errstr)),
                     BW_ERR_OK);
    bw_record_destroy(rec);
}

static void encode_review(const char *json_text, bw_buf_t *out) {
    json_error_t jerr;
    json_t *j = json_loads(json_text, 0, &jerr);

    assert_non_null(j);
    encode_json("ReviewEvent", j, out);
    json_decref(j);
}

static const char *REVIEW =
    "{\"event_id\":\"e1\",\"platform\":\"AMAZON\",\"marketplace\":\"US\",\"store_id\":\"s1\","
    "\"kind\":\"PRODUCT_REVIEW\",\"order_id\":null,\"sku\":\"K\",\"rating\":2,\"title\":null,"
    "\"body\":\"abc\",\"language\":null,\"fulfilled_by_platform\":null,"
    "\"occurred_at\":1700000000000}";

static void test_every_schema_loads(void **state) {
    static const char *names[] = {"ReviewEvent",      "OrderEvent", "ShipmentEvent", "SellerAction",
                                  "ClassifiedReview", "Signal",     "EarlyWarning",  "DeadLetter"};
    (void)state;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const bw_schema_t *s = bw_serde_schema(sd, names[i]);
        assert_non_null(s);
        assert_ptr_equal(bw_serde_schema_by_id(sd, s->id), s);
        assert_int_equal(s->root->type, BW_T_RECORD);
    }
#define CHECK_TOPIC_(t, s) assert_non_null(bw_serde_schema(sd, s));
    BW_TOPICS(CHECK_TOPIC_)
#undef CHECK_TOPIC_
}

static void test_every_schema_round_trips(void **state) {
    json_t *samples = load_samples(), *sample;
    size_t i;
    bw_buf_t buf = {0};

    (void)state;
    assert_int_equal(json_array_size(samples), 8);
    json_array_foreach(samples, i, sample) {
        const char *name = json_string_value(json_object_get(sample, "schema"));
        json_t *record = json_object_get(sample, "record"), *back;
        bw_record_t *rec;

        encode_json(name, record, &buf);
        assert_int_equal(bw_serde_decode(sd, buf.data, buf.len, bw_serde_schema(sd, name), &rec,
                                         errstr, sizeof(errstr)),
                         BW_ERR_OK);
        back = bw_avro_to_json(rec->schema, &rec->value);
        assert_non_null(back);
        if (!json_equal(back, record)) {
            char *a = json_dumps(record, JSON_SORT_KEYS), *b = json_dumps(back, JSON_SORT_KEYS);
            fail_msg("%s changed in the round trip:\n%s\n%s", name, a, b);
        }
        json_decref(back);
    }
    bw_buf_free(&buf);
    json_decref(samples);
}

static void test_epoch_millis_input_is_accepted(void **state) {
    bw_buf_t buf = {0};
    bw_record_t *rec;
    json_t *j;

    (void)state;
    encode_review(REVIEW, &buf);
    assert_int_equal(bw_serde_decode(sd, buf.data, buf.len, NULL, &rec, errstr, sizeof(errstr)),
                     BW_ERR_OK);
    j = bw_avro_to_json(rec->schema, &rec->value);
    assert_string_equal(json_string_value(json_object_get(j, "occurred_at")),
                        "2023-11-14T22:13:20.000Z");
    json_decref(j);
    bw_buf_free(&buf);
}

static bw_err_t decode(const void *p, size_t n) {
    bw_record_t *rec;
    return bw_serde_decode(sd, p, n, NULL, &rec, errstr, sizeof(errstr));
}

static void test_wire_errors(void **state) {
    bw_buf_t buf = {0};
    char copy[1024];

    (void)state;
    encode_review(REVIEW, &buf);
    assert_true(buf.len < sizeof(copy));

    assert_int_equal(decode(buf.data, 3), BW_ERR_TRUNCATED);
    assert_non_null(strstr(errstr, "shorter than the 5-byte header"));

    memcpy(copy, buf.data, buf.len);
    copy[0] = 1;
    assert_int_equal(decode(copy, buf.len), BW_ERR_BAD_MAGIC);
    assert_string_equal(errstr, "magic byte is 1, expected 0");

    memcpy(copy, buf.data, buf.len);
    copy[4] = 99;
    assert_int_equal(decode(copy, buf.len), BW_ERR_UNKNOWN_SCHEMA_ID);
    assert_string_equal(errstr, "unknown schema id 99");

    /* Every truncation of the body is refused, none crashes. */
    for (size_t n = BW_WIRE_HEADER; n < buf.len; n++) {
        bw_err_t err = decode(buf.data, n);
        assert_true(err == BW_ERR_TRUNCATED);
    }

    memcpy(copy, buf.data, buf.len);
    copy[buf.len] = 0;
    assert_int_equal(decode(copy, buf.len + 1), BW_ERR_TRAILING_BYTES);
    bw_buf_free(&buf);
}

static void test_wrong_schema_for_topic(void **state) {
    bw_buf_t buf = {0};
    bw_record_t *rec;

    (void)state;
    encode_review(REVIEW, &buf);
    assert_int_equal(bw_serde_decode(sd, buf.data, buf.len, bw_serde_schema(sd, "OrderEvent"), &rec,
                                     errstr, sizeof(errstr)),
                     BW_ERR_WRONG_SCHEMA);
    assert_string_equal(errstr, "schema id 1 is ReviewEvent, expected OrderEvent");
    bw_buf_free(&buf);
}

static void test_size_limit(void **state) {
    bw_serde_t *small = bw_serde_new(BW_DEFAULT_SCHEMA_DIR, 100, errstr, sizeof(errstr));
    bw_buf_t buf = {0};
    bw_record_t *rec;
    char *big = malloc(300), *text = malloc(600);

    (void)state;
    assert_non_null(small);
    memset(big, 'x', 299);
    big[299] = '\0';
    snprintf(text, 600,
             "{\"event_id\":\"e1\",\"platform\":\"AMAZON\",\"marketplace\":\"US\","
             "\"store_id\":\"s1\",\"kind\":\"PRODUCT_REVIEW\",\"body\":\"%s\","
             "\"occurred_at\":0}",
             big);
    encode_review(text, &buf); /* fits the 1 MiB serde */
    assert_int_equal(bw_serde_decode(small, buf.data, buf.len, NULL, &rec, errstr, sizeof(errstr)),
                     BW_ERR_TOO_LARGE);
    assert_non_null(strstr(errstr, "over the limit of 100"));
    {
        /* and the small serde refuses to produce it */
        const bw_schema_t *s = bw_serde_schema(small, "ReviewEvent");
        bw_record_t *r = bw_record_new(s);
        json_t *j = json_loads(text, 0, NULL);
        bw_buf_t out = {0};
        assert_int_equal(bw_json_to_avro(s, j, &r->value, errstr, sizeof(errstr)), BW_ERR_OK);
        assert_int_equal(bw_serde_encode(small, s, &r->value, &out, errstr, sizeof(errstr)),
                         BW_ERR_TOO_LARGE);
        json_decref(j);
        bw_record_destroy(r);
        bw_buf_free(&out);
    }
    bw_serde_destroy(small);
    free(big);
    free(text);
    bw_buf_free(&buf);
}

/* Hand-built bodies: header for schema 1 (ReviewEvent) + raw Avro bytes. */
static size_t raw_review(unsigned char *out, const char *body, size_t body_len, int platform,
                         int rating_branch, int rating) {
    size_t n = 0;
    unsigned char hdr[] = {0, 0, 0, 0, 1};
#define PUT_STR(s, l)                         \
    do {                                      \
        out[n++] = (unsigned char)((l) << 1); \
        memcpy(out + n, s, l);                \
        n += l;                               \
    } while (0)
    memcpy(out, hdr, 5);
    n = 5;
    PUT_STR("e1", 2); /* event_id */
    out[n++] = (unsigned char)(platform << 1); /* platform */
    PUT_STR("US", 2); /* marketplace */
    PUT_STR("s1", 2); /* store_id */
    out[n++] = 0; /* kind PRODUCT_REVIEW */
    out[n++] = 0; /* order_id null */
    out[n++] = 0; /* sku null */
    out[n++] = (unsigned char)(rating_branch << 1);
    if (rating_branch == 1)
        out[n++] = (unsigned char)(rating << 1);
    out[n++] = 0; /* title null */
    PUT_STR(body, body_len); /* body */
    out[n++] = 0; /* language null */
    out[n++] = 0; /* fulfilled null */
    out[n++] = 0; /* occurred_at 0 */
#undef PUT_STR
    return n;
}

static void test_binary_validation(void **state) {
    unsigned char msg[256];
    size_t n;

    (void)state;
    n = raw_review(msg, "ok", 2, 0, 1, 5);
    assert_int_equal(decode(msg, n), BW_ERR_OK);

    n = raw_review(msg,
                   "a\xff"
                   "b",
                   3, 0, 1, 5);
    assert_int_equal(decode(msg, n), BW_ERR_BAD_UTF8);
    assert_string_equal(errstr, "body: invalid UTF-8 at byte 1");

    n = raw_review(msg, "\xc0\xaf", 2, 0, 1, 5); /* overlong '/' */
    assert_int_equal(decode(msg, n), BW_ERR_BAD_UTF8);

    n = raw_review(msg, "ok", 2, 9, 1, 5);
    assert_int_equal(decode(msg, n), BW_ERR_BAD_ENUM);
    assert_string_equal(errstr, "platform: enum index 9 out of range (bw.Platform has 7 symbols)");

    n = raw_review(msg, "ok", 2, 0, 1, 9);
    assert_int_equal(decode(msg, n), BW_ERR_OUT_OF_RANGE);
    assert_string_equal(errstr, "rating: expected 1..5, got 9");

    n = raw_review(msg, "ok", 2, 0, 3, 0);
    assert_int_equal(decode(msg, n), BW_ERR_BAD_TYPE);
    assert_string_equal(errstr, "rating: union branch 3 out of range");
}

static void test_hostile_length_prefix(void **state) {
    /* event_id claims 2^62 bytes: refused before Avro C would allocate. */
    unsigned char msg[] = {0,    0,    0,    0,    1,    0xfe, 0xff, 0xff,
                           0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 'x'};

    (void)state;
    assert_int_equal(decode(msg, sizeof(msg)), BW_ERR_TRUNCATED);
    assert_non_null(strstr(errstr, "event_id: length"));
    /* A negative length. */
    msg[5] = 0x01;
    msg[6] = 0;
    assert_int_equal(decode(msg, 7), BW_ERR_BAD_TYPE);
    /* A varint that never ends. */
    memset(msg + 5, 0xff, sizeof(msg) - 5);
    assert_int_equal(decode(msg, sizeof(msg)), BW_ERR_BAD_TYPE);
}

static void test_array_block_count_bomb(void **state) {
    /* OrderEvent with skus claiming 2^40 items in a few bytes. */
    unsigned char msg[64];
    size_t n = 0;
    unsigned char hdr[] = {0, 0, 0, 0, 2};

    (void)state;
    memcpy(msg, hdr, 5);
    n = 5;
    const char *strs[] = {"e", "s", NULL};
    for (int i = 0; strs[i]; i++) {
        msg[n++] = 2;
        msg[n++] = (unsigned char)strs[i][0];
    }
    msg[n++] = 0; /* platform */
    msg[n++] = 2;
    msg[n++] = 'U'; /* marketplace */
    msg[n++] = 2;
    msg[n++] = 'o'; /* order_id */
    /* block count 2^40 as zigzag varint */
    uint64_t z = (uint64_t)1 << 41;
    while (z >= 0x80) {
        msg[n++] = (unsigned char)(z | 0x80);
        z >>= 7;
    }
    msg[n++] = (unsigned char)z;
    assert_int_equal(decode(msg, n), BW_ERR_TRUNCATED);
    assert_non_null(strstr(errstr, "skus: block of"));
}

/* An array of enums read as a mask where it is (bw-correlate's causes and
 * policy flags): blocks with and without sizes, cut bytes, a count bomb. */
static void test_enum_mask(void **state) {
    const bw_snode_t *root = bw_serde_schema(sd, "ClassifiedReview")->root;
    const bw_snode_t *causes = root->fields[bw_snode_field_index(root, "causes")].type;
    const bw_snode_t *body = root->fields[bw_snode_field_index(root, "body")].type;
    const unsigned char plain[] = {4, 6, 10, 0}; /* 2 items: 3, 5 */
    const unsigned char sized[] = {3, 4, 2, 4, 2, 0, 0}; /* -2 items (2 bytes): 1, 2; 1 item: 0 */
    const unsigned char cut[] = {4, 6}; /* 2 items, 1 there */
    const unsigned char bomb[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x02, 2}; /* 2^35 items */
    const unsigned char empty[] = {0};
    uint64_t m;

    (void)state;
    assert_true(bw_avro_enum_mask(causes, plain, plain + sizeof(plain), &m));
    assert_int_equal(m, (1u << 3) | (1u << 5));
    assert_true(bw_avro_enum_mask(causes, sized, sized + sizeof(sized), &m));
    assert_int_equal(m, (1u << 0) | (1u << 1) | (1u << 2));
    assert_true(bw_avro_enum_mask(causes, empty, empty + 1, &m));
    assert_int_equal(m, 0);
    assert_false(bw_avro_enum_mask(causes, cut, cut + sizeof(cut), &m));
    assert_false(bw_avro_enum_mask(causes, bomb, bomb + sizeof(bomb), &m));
    assert_false(bw_avro_enum_mask(causes, empty, empty, &m));
    assert_false(bw_avro_enum_mask(body, plain, plain + sizeof(plain), &m)); /* not an array */
}

/* bw_avro_put writes what Avro C writes, at the edges of each encoding. */
static void test_avro_put_matches_avro_c(void **state) {
    const int64_t longs[] = {
        0,    1,    -1,        63,        64,        -64,       -65,
        8191, 8192, INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN, 1700000000000LL};
    const double doubles[] = {0.0, -0.0, 1.0, -0.25, 1e308, 4.9e-324};
    const char *strings[] = {"", "a", "détaillé", "配送が遅い"};
    char ref[64] = {0};
    avro_writer_t w = avro_writer_memory(ref, sizeof(ref));
    bw_buf_t b = {0};

    (void)state;
    assert_non_null(w);
    /* put: our call; make: the Avro C value of the same, written by it */
#define SAME_(put, make)                                      \
    do {                                                      \
        avro_value_t v;                                       \
        bw_buf_reset(&b);                                     \
        avro_writer_reset(w);                                 \
        assert_true(put);                                     \
        assert_int_equal(make, 0);                            \
        assert_int_equal(avro_value_write(w, &v), 0);         \
        avro_value_decref(&v);                                \
        assert_int_equal(b.len, (size_t)avro_writer_tell(w)); \
        assert_memory_equal(b.data, ref, b.len);              \
    } while (0)
    for (size_t i = 0; i < sizeof(longs) / sizeof(longs[0]); i++)
        SAME_(bw_avro_put_long(&b, longs[i]), avro_generic_long_new(&v, longs[i]));
    for (size_t i = 0; i < sizeof(doubles) / sizeof(doubles[0]); i++)
        SAME_(bw_avro_put_double(&b, doubles[i]), avro_generic_double_new(&v, doubles[i]));
    SAME_(bw_avro_put_bool(&b, true), avro_generic_boolean_new(&v, 1));
    SAME_(bw_avro_put_bool(&b, false), avro_generic_boolean_new(&v, 0));
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
        SAME_(bw_avro_put_string(&b, strings[i], strlen(strings[i])),
              avro_generic_string_new(&v, strings[i]));
#undef SAME_
    bw_buf_reset(&b);
    assert_int_equal(bw_avro_put_long(&b, INT64_MIN) ? b.len : 0, BW_AVRO_LONG_MAX);
    avro_writer_free(w);
    bw_buf_free(&b);
}

static void test_random_bytes_never_crash(void **state) {
    unsigned char msg[200];
    unsigned seed = 12345;
    bw_buf_t buf = {0};

    (void)state;
    /* Flip bytes of a valid message at random: each decode either works
     * or fails cleanly (ASan/UBSan builds make "cleanly" strict). */
    encode_review(REVIEW, &buf);
    for (int round = 0; round < 20000; round++) {
        memcpy(msg, buf.data, buf.len);
        for (int k = 0; k < 3; k++) {
            seed = seed * 1103515245 + 12345;
            size_t pos = BW_WIRE_HEADER + (seed >> 8) % (buf.len - BW_WIRE_HEADER);
            seed = seed * 1103515245 + 12345;
            msg[pos] = (unsigned char)(seed >> 16);
        }
        bw_err_t err = decode(msg, buf.len);
        assert_true(err == BW_ERR_OK || err != BW_ERR_SCHEMA);
    }
    bw_buf_free(&buf);
}

static void test_manifest_errors(void **state) {
    (void)state;
    assert_null(bw_serde_new("/nonexistent-dir", 1024, errstr, sizeof(errstr)));
    assert_non_null(strstr(errstr, "/nonexistent-dir/ids.manifest"));
    assert_null(bw_serde_new(BW_FIXTURE_DIR "/bad_manifest", 1024, errstr, sizeof(errstr)));
    assert_non_null(strstr(errstr, "ids.manifest:2:"));
}

static int setup(void **state) {
    (void)state;
    sd = bw_serde_new(BW_DEFAULT_SCHEMA_DIR, BW_SERDE_DEFAULT_MAX, errstr, sizeof(errstr));
    if (!sd)
        fprintf(stderr, "serde: %s\n", errstr);
    return sd ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    bw_serde_destroy(sd);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_schema_loads),
        cmocka_unit_test(test_every_schema_round_trips),
        cmocka_unit_test(test_epoch_millis_input_is_accepted),
        cmocka_unit_test(test_wire_errors),
        cmocka_unit_test(test_wrong_schema_for_topic),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_binary_validation),
        cmocka_unit_test(test_hostile_length_prefix),
        cmocka_unit_test(test_array_block_count_bomb),
        cmocka_unit_test(test_enum_mask),
        cmocka_unit_test(test_avro_put_matches_avro_c),
        cmocka_unit_test(test_random_bytes_never_crash),
        cmocka_unit_test(test_manifest_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
