/* UTF-8, base64, RFC 3339 timestamps, buffers, number parsing. */
#include "bw_test.h"

#include "bw_util.h"

static void test_utf8(void **state) {
    (void)state;
    assert_int_equal(bw_utf8_check("plain ascii", 11), -1);
    assert_int_equal(bw_utf8_check("völlig 😞 中文", strlen("völlig 😞 中文")), -1);
    assert_int_equal(bw_utf8_check("a\xff", 2), 1);
    assert_int_equal(bw_utf8_check("\xc0\xaf", 2), 0); /* overlong */
    assert_int_equal(bw_utf8_check("\xed\xa0\x80", 3), 0); /* surrogate */
    assert_int_equal(bw_utf8_check("\xf4\x90\x80\x80", 4), 0); /* > U+10FFFF */
    assert_int_equal(bw_utf8_check("ab\xe4\xb8", 4), 2); /* cut off */
    assert_int_equal(bw_utf8_check("a\0b", 3), -1); /* NUL is valid UTF-8 */
}

static void test_base64(void **state) {
    const char *cases[][2] = {
        {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foobar", "Zm9vYmFy"}};
    char enc[64];
    unsigned char dec[64];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bw_b64_encode((const unsigned char *)cases[i][0], strlen(cases[i][0]), enc);
        assert_string_equal(enc, cases[i][1]);
        assert_int_equal(bw_b64_decode(cases[i][1], strlen(cases[i][1]), dec),
                         (long)strlen(cases[i][0]));
        assert_memory_equal(dec, cases[i][0], strlen(cases[i][0]));
    }
    assert_int_equal(bw_b64_decode("Zm9", 3, dec), -1);
    assert_int_equal(bw_b64_decode("Zm=v", 4, dec), -1);
    assert_int_equal(bw_b64_decode("Z!9v", 4, dec), -1);
}

static void test_timestamps(void **state) {
    int64_t ms;
    char buf[BW_TS_BUFSZ];

    (void)state;
    assert_true(bw_ts_parse("1970-01-01T00:00:00Z", &ms));
    assert_int_equal(ms, 0);
    assert_true(bw_ts_parse("2024-02-29T23:59:59.999Z", &ms));
    bw_ts_format(ms, buf);
    assert_string_equal(buf, "2024-02-29T23:59:59.999Z");
    assert_true(bw_ts_parse("2024-03-01T02:00:00+02:00", &ms));
    bw_ts_format(ms, buf);
    assert_string_equal(buf, "2024-03-01T00:00:00.000Z");
    assert_true(bw_ts_parse("2018-03-15", &ms));
    assert_int_equal(ms, 1521072000000LL);
    bw_ts_format(-1, buf);
    assert_string_equal(buf, "1969-12-31T23:59:59.999Z");
    assert_true(bw_ts_parse("3000-01-01T00:00:00Z", &ms));
    assert_int_equal(ms, 32503680000000LL);
    assert_false(bw_ts_parse("2024-02-30T00:00:00Z", &ms));
    assert_false(bw_ts_parse("2024-01-01T00:00:00", &ms)); /* no zone */
    assert_false(bw_ts_parse("2024-01-01T25:00:00Z", &ms));
    assert_false(bw_ts_parse("yesterday", &ms));
    assert_false(bw_ts_parse("2024-01-01T00:00:00Zjunk", &ms));
}

static void test_buf_and_numbers(void **state) {
    bw_buf_t b = {0};
    int64_t v;
    double d;

    (void)state;
    for (int i = 0; i < 1000; i++)
        assert_true(bw_buf_printf(&b, "%d,", i));
    assert_int_equal(strlen(b.data), b.len);
    assert_true(bw_parse_i64("-42", &v) && v == -42);
    assert_false(bw_parse_i64("42x", &v));
    assert_false(bw_parse_i64("", &v));
    assert_false(bw_parse_i64("99999999999999999999", &v));
    /* the fast path (up to 18 digits) and strtoll's (the rest) agree */
    assert_true(bw_parse_i64("123456789012345678", &v) && v == 123456789012345678LL);
    assert_true(bw_parse_i64("-123456789012345678", &v) && v == -123456789012345678LL);
    assert_true(bw_parse_i64("9223372036854775807", &v) && v == INT64_MAX);
    assert_true(bw_parse_i64("-9223372036854775808", &v) && v == INT64_MIN);
    assert_false(bw_parse_i64("9223372036854775808", &v));
    assert_true(bw_parse_i64("0", &v) && v == 0);
    assert_true(bw_parse_i64("-0", &v) && v == 0);
    assert_false(bw_parse_i64("-", &v));
    assert_false(bw_parse_i64("12 ", &v));
    assert_false(bw_parse_i64("1-2", &v));
    assert_true(bw_parse_double("0.25", &d) && d == 0.25);
    assert_false(bw_parse_double("nan", &d));
    bw_buf_free(&b);
}

/* bw_fmt_i64 and bw_buf_append_i64 write what printf's %lld does; bw_buf_join
 * makes "<a><sep><c>" in a reused buffer. */
static void test_fmt_and_join(void **state) {
    const int64_t vals[] = {0, 9, 10, -7, 1704067200000LL, INT64_MIN, INT64_MAX};
    char out[BW_I64_DIGITS + 1], want[32];
    bw_buf_t b = {0};

    (void)state;
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        size_t n = bw_fmt_i64(out, vals[i]);
        out[n] = '\0';
        snprintf(want, sizeof(want), "%lld", (long long)vals[i]);
        assert_string_equal(out, want);
        bw_buf_reset(&b);
        assert_true(bw_buf_append(&b, "x", 1) && bw_buf_append_i64(&b, vals[i]));
        assert_string_equal(b.data + 1, want);
        assert_int_equal(b.len, 1 + strlen(want));
    }
    assert_true(bw_buf_join(&b, "s=shop", ' ', "o:42"));
    assert_string_equal(b.data, "s=shop o:42");
    assert_int_equal(b.len, 11);
    assert_true(bw_buf_join(&b, "", ':', ""));
    assert_string_equal(b.data, ":");
    assert_int_equal(b.len, 1);
    bw_buf_free(&b);
}

/* Window names without printf: as snprintf would write them, cut to fit. */
static void test_name_i64(void **state) {
    char out[12], want[40];
    const int64_t vals[] = {0, 7, -1, 1704067200000LL, INT64_MIN, INT64_MAX};

    (void)state;
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        char big[40];
        snprintf(want, sizeof(want), "d:%lld", (long long)vals[i]);
        assert_int_equal(bw_name_i64(big, sizeof(big), "d:", vals[i]), strlen(want));
        assert_string_equal(big, want);
        snprintf(want, sizeof(out), "d:%lld", (long long)vals[i]); /* cut like snprintf */
        assert_int_equal(bw_name_i64(out, sizeof(out), "d:", vals[i]), strlen(want));
        assert_string_equal(out, want);
    }
    assert_int_equal(bw_name_i64(out, 1, "d:", 5), 0);
    assert_string_equal(out, "");
    assert_int_equal(bw_name_i64(out, sizeof(out), "a-long-prefix:", 5), sizeof(out) - 1);
}

static void test_errpath(void **state) {
    char err[128] = "invalid UTF-8 at byte 3";
    bool has = false;

    (void)state;
    bw_errpath_prefix(err, sizeof(err), &has, "lane");
    bw_errpath_prefix(err, sizeof(err), &has, "scope");
    assert_string_equal(err, "scope.lane: invalid UTF-8 at byte 3");
    bw_strlcpy(err, "bad", sizeof(err));
    has = false;
    bw_errpath_prefix(err, sizeof(err), &has, "[2]");
    bw_errpath_prefix(err, sizeof(err), &has, "evidence");
    assert_string_equal(err, "evidence[2]: bad");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8),         cmocka_unit_test(test_base64),
        cmocka_unit_test(test_timestamps),   cmocka_unit_test(test_buf_and_numbers),
        cmocka_unit_test(test_errpath),      cmocka_unit_test(test_name_i64),
        cmocka_unit_test(test_fmt_and_join),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
