/* JSON -> Avro: every malformed input is refused with an error that names
 * the field and the problem. */
#include "bw_test.h"

#include "bw_json.h"
#include "bw_serde.h"

static bw_serde_t *sd;
static char errstr[512];

static bw_err_t convert(const char *schema_name, const char *text) {
    const bw_schema_t *s = bw_serde_schema(sd, schema_name);
    bw_record_t *rec = bw_record_new(s);
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    bw_err_t err;

    if (!j)
        fail_msg("fixture is not JSON: %s", jerr.text);
    err = bw_json_to_avro(s, j, &rec->value, errstr, sizeof(errstr));
    json_decref(j);
    bw_record_destroy(rec);
    return err;
}

#define REVIEW_WITH(extra)                                                                     \
    "{\"event_id\":\"e1\",\"platform\":\"AMAZON\",\"marketplace\":\"US\",\"store_id\":\"s1\"," \
    "\"kind\":\"PRODUCT_REVIEW\",\"body\":\"ok\",\"occurred_at\":0" extra "}"

static void test_minimal_review_ok(void **state) {
    (void)state;
    /* Optional fields may be left out: they default to null. */
    assert_int_equal(convert("ReviewEvent", REVIEW_WITH("")), BW_ERR_OK);
}

static void test_rating_errors(void **state) {
    (void)state;
    assert_int_equal(convert("ReviewEvent", REVIEW_WITH(",\"rating\":\"five\"")), BW_ERR_BAD_TYPE);
    assert_string_equal(errstr, "rating: expected int 1..5, got \"five\"");
    assert_int_equal(convert("ReviewEvent", REVIEW_WITH(",\"rating\":9")), BW_ERR_OUT_OF_RANGE);
    assert_string_equal(errstr, "rating: expected int 1..5, got 9");
    assert_int_equal(convert("ReviewEvent", REVIEW_WITH(",\"rating\":0")), BW_ERR_OUT_OF_RANGE);
    assert_int_equal(convert("ReviewEvent", REVIEW_WITH(",\"rating\":4.5")), BW_ERR_BAD_TYPE);
    assert_int_equal(convert("ReviewEvent", REVIEW_WITH(",\"rating\":5")), BW_ERR_OK);
}

static void test_enum_errors(void **state) {
    (void)state;
    assert_int_equal(convert("ReviewEvent",
                             "{\"event_id\":\"e1\",\"platform\":\"ETSY\",\"marketplace\":\"US\","
                             "\"store_id\":\"s1\",\"kind\":\"PRODUCT_REVIEW\",\"body\":\"ok\","
                             "\"occurred_at\":0}"),
                     BW_ERR_BAD_ENUM);
    assert_string_equal(errstr, "platform: unknown symbol \"ETSY\" (expected one of AMAZON, EBAY, "
                                "SHOPIFY, WALMART, ALIEXPRESS, MERCADOLIBRE, OTHER)");
    assert_int_equal(convert("ReviewEvent",
                             "{\"event_id\":\"e1\",\"platform\":3,\"marketplace\":\"US\","
                             "\"store_id\":\"s1\",\"kind\":\"PRODUCT_REVIEW\",\"body\":\"ok\","
                             "\"occurred_at\":0}"),
                     BW_ERR_BAD_TYPE);
    assert_string_equal(errstr, "platform: expected one of bw.Platform's symbols, got 3");
}

static void test_missing_and_unknown_fields(void **state) {
    (void)state;
    assert_int_equal(convert("ReviewEvent", "{\"event_id\":\"e1\"}"), BW_ERR_MISSING_FIELD);
    assert_string_equal(errstr, "platform: missing");
    assert_int_equal(convert("ReviewEvent", REVIEW_WITH(",\"ratng\":3")), BW_ERR_UNKNOWN_FIELD);
    assert_string_equal(errstr, "ratng: unknown field");
    assert_int_equal(convert("ReviewEvent", "[1,2]"), BW_ERR_BAD_TYPE);
    assert_string_equal(errstr, "expected record, got [1,2]");
}

static void test_wrong_types(void **state) {
    (void)state;
    assert_int_equal(convert("ReviewEvent", REVIEW_WITH(",\"title\":[\"x\"]")), BW_ERR_BAD_TYPE);
    assert_string_equal(errstr, "title: expected string, got [\"x\"]");
    assert_int_equal(convert("ReviewEvent", REVIEW_WITH(",\"fulfilled_by_platform\":\"yes\"")),
                     BW_ERR_BAD_TYPE);
    assert_string_equal(errstr, "fulfilled_by_platform: expected boolean, got \"yes\"");
    assert_int_equal(convert("OrderEvent",
                             "{\"event_id\":\"e\",\"store_id\":\"s\",\"platform\":\"EBAY\","
                             "\"marketplace\":\"US\",\"order_id\":\"o\",\"skus\":[\"a\",7],"
                             "\"placed_at\":0,\"status\":\"PLACED\",\"occurred_at\":0}"),
                     BW_ERR_BAD_TYPE);
    assert_string_equal(errstr, "skus[1]: expected string, got 7");
    assert_int_equal(convert("ReviewEvent",
                             "{\"event_id\":null,\"platform\":\"AMAZON\",\"marketplace\":\"US\","
                             "\"store_id\":\"s1\",\"kind\":\"PRODUCT_REVIEW\",\"body\":\"ok\","
                             "\"occurred_at\":0}"),
                     BW_ERR_BAD_TYPE);
    assert_string_equal(errstr, "event_id: expected string, got null");
}

static void test_timestamps(void **state) {
    (void)state;
    assert_int_equal(convert("ReviewEvent",
                             "{\"event_id\":\"e1\",\"platform\":\"AMAZON\",\"marketplace\":\"US\","
                             "\"store_id\":\"s1\",\"kind\":\"PRODUCT_REVIEW\",\"body\":\"ok\","
                             "\"occurred_at\":\"last tuesday\"}"),
                     BW_ERR_BAD_TYPE);
    assert_string_equal(errstr,
                        "occurred_at: expected an RFC 3339 timestamp, got \"last tuesday\"");
    assert_int_equal(convert("ReviewEvent",
                             "{\"event_id\":\"e1\",\"platform\":\"AMAZON\",\"marketplace\":\"US\","
                             "\"store_id\":\"s1\",\"kind\":\"PRODUCT_REVIEW\",\"body\":\"ok\","
                             "\"occurred_at\":\"2024-05-01T00:00:00+02:00\"}"),
                     BW_ERR_OK);
}

static void test_nested_and_ranges(void **state) {
    (void)state;
    assert_int_equal(convert("Signal",
                             "{\"alert_id\":\"a\",\"type\":\"ODR_AT_RISK\",\"severity\":\"INFO\","
                             "\"state\":\"FIRING\",\"scope\":{\"store_id\":5},\"window_start\":0,"
                             "\"window_end\":0,\"observed\":1,\"threshold\":1,\"sample_size\":1,"
                             "\"evidence\":[],\"playbook\":\"p\",\"first_seen\":0,\"last_seen\":0,"
                             "\"occurrences\":1}"),
                     BW_ERR_BAD_TYPE);
    assert_string_equal(errstr, "scope.store_id: expected string, got 5");
}

static void test_bytes(void **state) {
    (void)state;
    assert_int_equal(convert("DeadLetter",
                             "{\"original\":\"not base64!\",\"topic\":\"t\",\"partition\":0,"
                             "\"offset\":0,\"stage\":\"s\",\"error_code\":\"X\",\"error\":\"e\","
                             "\"failed_at\":0}"),
                     BW_ERR_BAD_TYPE);
    assert_string_equal(errstr, "original: expected base64 text, got \"not base64!\"");
}

static void test_huge_and_unicode_text(void **state) {
    size_t n = 2 * 1024 * 1024;
    char *body = malloc(n + 1);
    json_t *j;
    const bw_schema_t *s = bw_serde_schema(sd, "ReviewEvent");
    bw_record_t *rec = bw_record_new(s);
    bw_buf_t buf = {0};

    (void)state;
    memset(body, 'a', n);
    body[n] = '\0';
    j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i}", "event_id", "e", "platform", "AMAZON",
                  "marketplace", "US", "store_id", "s", "kind", "PRODUCT_REVIEW", "body", body,
                  "occurred_at", 0);
    assert_int_equal(bw_json_to_avro(s, j, &rec->value, errstr, sizeof(errstr)), BW_ERR_OK);
    /* 2 MiB does not fit the 1 MiB wire limit: a clean error, not a crash. */
    assert_int_equal(bw_serde_encode(sd, s, &rec->value, &buf, errstr, sizeof(errstr)),
                     BW_ERR_TOO_LARGE);
    json_decref(j);
    /* jansson refuses invalid UTF-8 in JSON text before we ever see it. */
    assert_null(json_loads("{\"body\":\"\xff\"}", 0, NULL));
    free(body);
    bw_buf_free(&buf);
    bw_record_destroy(rec);
}

static int setup(void **state) {
    (void)state;
    sd = bw_serde_new(BW_DEFAULT_SCHEMA_DIR, BW_SERDE_DEFAULT_MAX, errstr, sizeof(errstr));
    return sd ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    bw_serde_destroy(sd);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal_review_ok),
        cmocka_unit_test(test_rating_errors),
        cmocka_unit_test(test_enum_errors),
        cmocka_unit_test(test_missing_and_unknown_fields),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_timestamps),
        cmocka_unit_test(test_nested_and_ranges),
        cmocka_unit_test(test_bytes),
        cmocka_unit_test(test_huge_and_unicode_text),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
