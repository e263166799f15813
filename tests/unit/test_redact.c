/* E-mail addresses and phone numbers out of text meant for people. */
#include "bw_test.h"

#include <stdlib.h>
#include <string.h>

#include "bw_redact.h"

static bw_redactor_t *rd;

/* The redacted text, or the input when there was nothing to redact. */
static char *redacted(const char *in) {
    char *out;
    int rc = bw_redact(rd, in, strlen(in), &out);
    assert_int_not_equal(rc, -1);
    return rc ? out : strdup(in);
}

#define assert_redacts(in, want)         \
    do {                                 \
        char *got_ = redacted(in);       \
        assert_string_equal(got_, want); \
        free(got_);                      \
    } while (0)

static void test_emails(void **state) {
    (void)state;
    assert_redacts("write to john.doe+shop@example.co.uk please", "write to [email] please");
    assert_redacts("Kontakt: müller@beispiel.de", "Kontakt: [email]");
    assert_redacts("a@b.cc and x_y@mail.example.com", "[email] and [email]");
    assert_redacts("MAIL@EXAMPLE.COM", "[email]");
}

static void test_phones(void **state) {
    (void)state;
    assert_redacts("call +1 (555) 123-4567 now", "call [phone] now");
    assert_redacts("Tel. 030-1234-5678", "Tel. [phone]");
    assert_redacts("微信 +8613812345678", "微信 [phone]");
    assert_redacts("+44 20 7946 0958 or buyer@example.org", "[phone] or [email]");
}

/* What alerts carry that only looks like it: ids, dates, figures. */
static void test_no_false_positives(void **state) {
    const char *keep[] = {"rv-00000123",
                          "o-0001234",
                          "2024-01-17T10:00:00Z",
                          "window 2024-01-17 to 2024-01-18",
                          "123e4567-e89b-12d3-a456-426614174000",
                          "observed 0.31, threshold 0.1, 120 orders",
                          "CN->US",
                          "@everyone",
                          "user@localhost",
                          ""};
    (void)state;
    for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
        char *out;
        assert_int_equal(bw_redact(rd, keep[i], strlen(keep[i]), &out), 0);
        assert_null(out);
    }
}

/* Invalid UTF-8 cannot be searched: the caller is told so. Long hostile
 * runs finish (the match limit), redacted or refused, never hanging. */
static void test_bad_input(void **state) {
    char *out, *big = malloc(200001);
    int rc;
    (void)state;
    assert_int_equal(bw_redact(rd, "a\xff@b.cc", 7, &out), -1);
    assert_null(out);
    assert_non_null(big);
    for (int i = 0; i < 100000; i++)
        memcpy(big + 2 * i, "1-", 2);
    big[200000] = '\0';
    rc = bw_redact(rd, big, 200000, &out);
    assert_true(rc >= -1 && rc <= 1);
    free(out);
    memset(big, 'a', 200000);
    big[100000] = '@';
    rc = bw_redact(rd, big, 200000, &out);
    assert_true(rc >= -1 && rc <= 1);
    free(out);
    free(big);
}

static int setup(void **state) {
    char errstr[256];
    (void)state;
    rd = bw_redactor_new(errstr, sizeof(errstr));
    return rd ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    bw_redactor_destroy(rd);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_emails),
        cmocka_unit_test(test_phones),
        cmocka_unit_test(test_no_false_positives),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
