/* Logs are one JSON object per line with the fixed fields; levels filter;
 * a flooding call site is rate-limited; hostile text stays valid JSON. */
#include "bw_test.h"

#include <jansson.h>
#include <unistd.h>

#include "bw_log.h"

static char *capture_begin(int *saved) {
    static char path[64];

    snprintf(path, sizeof(path), "/tmp/bw_test_log_%d", (int)getpid());
    fflush(stderr);
    *saved = dup(STDERR_FILENO);
    assert_non_null(freopen(path, "w", stderr));
    return path;
}

static json_t *capture_end(int saved, const char *path, int *lines) {
    FILE *fp;
    char line[4096];
    json_t *all = json_array();

    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    fp = fopen(path, "r");
    assert_non_null(fp);
    *lines = 0;
    while (fgets(line, sizeof(line), fp)) {
        json_error_t jerr;
        json_t *j = json_loads(line, 0, &jerr);
        if (!j)
            fail_msg("log line is not JSON: %s", line);
        json_array_append_new(all, j);
        (*lines)++;
    }
    fclose(fp);
    unlink(path);
    return all;
}

static void test_json_lines(void **state) {
    int saved, n;
    char *path;
    json_t *all, *first;

    (void)state;
    bw_log_init("unit");
    bw_log_level = BW_LOG_INFO;
    path = capture_begin(&saved);
    bw_log(BW_LOG_INFO, "hello %d", 42);
    bw_log(BW_LOG_DEBUG, "not shown");
    bw_log_kv(BW_LOG_WARN, json_pack("{s:s}", "store", "s\"1"), "with fields");
    bw_log(BW_LOG_ERROR, "bad bytes \xff\xfe here");
    all = capture_end(saved, path, &n);
    assert_int_equal(n, 3);
    first = json_array_get(all, 0);
    assert_string_equal(json_string_value(json_object_get(first, "msg")), "hello 42");
    assert_string_equal(json_string_value(json_object_get(first, "level")), "info");
    assert_string_equal(json_string_value(json_object_get(first, "stage")), "unit");
    assert_non_null(json_object_get(first, "ts"));
    assert_non_null(json_object_get(first, "instance"));
    assert_string_equal(json_string_value(json_object_get(json_array_get(all, 1), "store")),
                        "s\"1");
    assert_string_equal(json_string_value(json_object_get(json_array_get(all, 2), "msg")),
                        "(message not valid UTF-8)");
    json_decref(all);
}

static void test_rate_limit(void **state) {
    int saved, n;
    char *path;
    json_t *all;

    (void)state;
    path = capture_begin(&saved);
    for (int i = 0; i < 1000; i++)
        bw_log_rl(BW_LOG_ERROR, "flood %d", i);
    all = capture_end(saved, path, &n);
    assert_int_equal(n, 5);
    json_decref(all);
}

static void test_level_parse(void **state) {
    (void)state;
    assert_int_equal(bw_log_level_parse("debug"), BW_LOG_DEBUG);
    assert_int_equal(bw_log_level_parse("loud"), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_lines),
        cmocka_unit_test(test_rate_limit),
        cmocka_unit_test(test_level_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
