/* Config: defaults, file, environment, flags, precedence, unknown keys and
 * malformed values each give a specific error. */
#include "bw_test.h"

#include <unistd.h>

#include "bw_conf.h"
#include "bw_kafka.h"

typedef struct {
    char *name;
    int64_t count;
    double ratio;
    bool flag;
    char *mode;
} tconf_t;

#define O(f) offsetof(tconf_t, f)
static const bw_conf_def_t defs[] = {
    {"name", BW_CONF_STR, O(name), "dflt", BW_CONF_NORANGE, NULL, "a name"},
    {"window.count", BW_CONF_INT, O(count), "10", 1, 100, NULL, "a count"},
    {"ratio", BW_CONF_DBL, O(ratio), "0.5", 0, 1, NULL, "a ratio"},
    {"flag", BW_CONF_BOOL, O(flag), "false", BW_CONF_NORANGE, NULL, "a flag"},
    {"mode", BW_CONF_STR, O(mode), "fast", BW_CONF_NORANGE, "fast|safe", "a mode"},
};
#undef O

static bw_conf_t conf;
static tconf_t tc;
static char errstr[512];

static int setup(void **state) {
    (void)state;
    memset(&tc, 0, sizeof(tc));
    bw_conf_init(&conf, "test");
    unsetenv("BW_WINDOW_COUNT");
    unsetenv("BW_KAFKA_SASL_USERNAME");
    return bw_conf_add_section(&conf, defs, sizeof(defs) / sizeof(defs[0]), &tc, errstr,
                               sizeof(errstr));
}

static int teardown(void **state) {
    (void)state;
    bw_conf_destroy(&conf);
    return 0;
}

static const char *write_file(const char *text) {
    static char path[64];
    FILE *fp;

    snprintf(path, sizeof(path), "/tmp/bw_test_conf_%d.conf", (int)getpid());
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    return path;
}

static void test_defaults(void **state) {
    (void)state;
    assert_string_equal(tc.name, "dflt");
    assert_int_equal(tc.count, 10);
    assert_true(tc.ratio == 0.5);
    assert_false(tc.flag);
}

static void test_file(void **state) {
    const char *path = write_file("# comment\n\nname = hello world\nwindow.count=42\n"
                                  "flag = yes\nkafka.linger.ms = 7\nmode = \" safe\"\n");
    (void)state;
    /* the quoted " safe" keeps its space and so fails the choice check */
    assert_int_equal(bw_conf_load_file(&conf, path, errstr, sizeof(errstr)), BW_ERR_CONFIG);
    assert_non_null(strstr(errstr, ":7: mode: expected one of fast|safe"));
    path = write_file("name = hello world\nwindow.count=42\nflag = yes\nkafka.linger.ms = 7\n");
    assert_int_equal(bw_conf_load_file(&conf, path, errstr, sizeof(errstr)), BW_ERR_OK);
    assert_string_equal(tc.name, "hello world");
    assert_int_equal(tc.count, 42);
    assert_true(tc.flag);
    assert_int_equal(conf.nkafka, 1);
    assert_string_equal(conf.kafka_keys[0], "linger.ms");
    assert_string_equal(conf.kafka_vals[0], "7");
    unlink(path);
}

static void test_file_errors(void **state) {
    const char *path;

    (void)state;
    path = write_file("name = a\nbogus.key = 1\n");
    assert_int_equal(bw_conf_load_file(&conf, path, errstr, sizeof(errstr)), BW_ERR_UNKNOWN_KEY);
    assert_non_null(strstr(errstr, ":2: unknown configuration key \"bogus.key\""));

    path = write_file("just some words\n");
    assert_int_equal(bw_conf_load_file(&conf, path, errstr, sizeof(errstr)), BW_ERR_CONFIG);
    assert_non_null(strstr(errstr, ":1: expected \"key = value\""));

    path = write_file("window.count = many\n");
    assert_int_equal(bw_conf_load_file(&conf, path, errstr, sizeof(errstr)), BW_ERR_CONFIG);
    assert_non_null(strstr(errstr, "window.count: expected an integer, got \"many\""));

    path = write_file("window.count = 1000\n");
    assert_int_equal(bw_conf_load_file(&conf, path, errstr, sizeof(errstr)), BW_ERR_CONFIG);
    assert_non_null(strstr(errstr, "window.count: expected 1..100, got 1000"));

    path = write_file("ratio = 1.5\n");
    assert_int_equal(bw_conf_load_file(&conf, path, errstr, sizeof(errstr)), BW_ERR_CONFIG);

    path = write_file("flag = maybe\n");
    assert_int_equal(bw_conf_load_file(&conf, path, errstr, sizeof(errstr)), BW_ERR_CONFIG);
    assert_non_null(strstr(errstr, "flag: expected true or false"));

    path = write_file(" = 3\n");
    assert_int_equal(bw_conf_load_file(&conf, path, errstr, sizeof(errstr)), BW_ERR_CONFIG);
    unlink(path);

    assert_int_equal(bw_conf_load_file(&conf, "/nonexistent/x.conf", errstr, sizeof(errstr)),
                     BW_ERR_CONFIG);
    assert_non_null(strstr(errstr, "/nonexistent/x.conf: No such file"));
}

static void test_env(void **state) {
    char *envp[] = {"BW_KAFKA_SASL_USERNAME=alice", "OTHER=1", NULL};

    (void)state;
    setenv("BW_WINDOW_COUNT", "77", 1);
    assert_int_equal(bw_conf_load_env(&conf, envp, errstr, sizeof(errstr)), BW_ERR_OK);
    assert_int_equal(tc.count, 77);
    assert_int_equal(conf.nkafka, 1);
    assert_string_equal(conf.kafka_keys[0], "sasl.username");
    assert_string_equal(conf.kafka_vals[0], "alice");

    setenv("BW_WINDOW_COUNT", "x", 1);
    assert_int_equal(bw_conf_load_env(&conf, envp, errstr, sizeof(errstr)), BW_ERR_CONFIG);
    assert_non_null(
        strstr(errstr, "environment BW_WINDOW_COUNT: window.count: expected an integer"));
    unsetenv("BW_WINDOW_COUNT");
}

static void test_args_and_precedence(void **state) {
    const char *path = write_file("window.count = 5\nname = fromfile\n");
    char cfg[128];
    char *envp[] = {NULL};

    (void)state;
    snprintf(cfg, sizeof(cfg), "--config=%s", path);
    setenv("BW_WINDOW_COUNT", "6", 1);
    {
        char *argv[] = {
            "prog", cfg, "--window.count", "7", "--flag", "--ratio=0.25", "--kafka.acks=all", NULL};
        assert_int_equal(bw_conf_load(&conf, 7, argv, envp, errstr, sizeof(errstr)), BW_ERR_OK);
    }
    assert_int_equal(tc.count, 7); /* flag beats env beats file */
    assert_string_equal(tc.name, "fromfile");
    assert_true(tc.flag);
    assert_true(tc.ratio == 0.25);
    assert_string_equal(conf.kafka_keys[0], "acks");
    unsetenv("BW_WINDOW_COUNT");
    unlink(path);
}

static void test_arg_errors(void **state) {
    (void)state;
    {
        char *argv[] = {"prog", "--nope", "1", NULL};
        assert_int_equal(bw_conf_load_args(&conf, 3, argv, errstr, sizeof(errstr)),
                         BW_ERR_UNKNOWN_KEY);
        assert_string_equal(errstr, "--unknown configuration key \"nope\"");
    }
    {
        char *argv[] = {"prog", "--name", NULL};
        assert_int_equal(bw_conf_load_args(&conf, 2, argv, errstr, sizeof(errstr)), BW_ERR_CONFIG);
        assert_string_equal(errstr, "--name needs a value");
    }
    {
        char *argv[] = {"prog", "stray", NULL};
        assert_int_equal(bw_conf_load_args(&conf, 2, argv, errstr, sizeof(errstr)), BW_ERR_CONFIG);
        assert_string_equal(errstr, "unexpected argument \"stray\"");
    }
    {
        char *argv[] = {"prog", "--config", NULL};
        char *envp[] = {NULL};
        assert_int_equal(bw_conf_load(&conf, 2, argv, envp, errstr, sizeof(errstr)), BW_ERR_CONFIG);
    }
    {
        char *argv[] = {"prog", "--mode", "slow", NULL};
        assert_int_equal(bw_conf_load_args(&conf, 3, argv, errstr, sizeof(errstr)), BW_ERR_CONFIG);
        assert_string_equal(errstr, "--mode: expected one of fast|safe, got \"slow\"");
    }
}

static void test_positional_and_markdown(void **state) {
    char *argv[] = {"prog", "file.jsonl", NULL};
    char *out = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&out, &len);

    (void)state;
    conf.positional = "name";
    assert_int_equal(bw_conf_load_args(&conf, 2, argv, errstr, sizeof(errstr)), BW_ERR_OK);
    assert_string_equal(tc.name, "file.jsonl");
    bw_conf_print_markdown(&conf, fp);
    fclose(fp);
    assert_non_null(strstr(out, "| `window.count` | integer | `10` | 1..100 | a count |"));
    free(out);
}

/* kafka.* keys reach the client they are for: a stage's consumer and
 * producer share the keys, and librdkafka warns about one it ignores. */
static void test_kafka_keys_routed(void **state) {
    (void)state;
    assert_string_equal(bw_kafka_prop_for("session.timeout.ms", BW_KAFKA_CONSUMER),
                        "session.timeout.ms");
    assert_null(bw_kafka_prop_for("session.timeout.ms", BW_KAFKA_PRODUCER));
    assert_null(bw_kafka_prop_for("group.instance.id", BW_KAFKA_PRODUCER));
    assert_string_equal(bw_kafka_prop_for("linger.ms", BW_KAFKA_PRODUCER), "linger.ms");
    assert_null(bw_kafka_prop_for("linger.ms", BW_KAFKA_CONSUMER));
    /* both: security, and anything not known to be one client's */
    assert_string_equal(bw_kafka_prop_for("security.protocol", BW_KAFKA_CONSUMER),
                        "security.protocol");
    assert_string_equal(bw_kafka_prop_for("security.protocol", BW_KAFKA_PRODUCER),
                        "security.protocol");
    assert_string_equal(bw_kafka_prop_for("client.rack", BW_KAFKA_PRODUCER), "client.rack");
    /* explicit prefixes */
    assert_string_equal(bw_kafka_prop_for("consumer.client.id", BW_KAFKA_CONSUMER), "client.id");
    assert_null(bw_kafka_prop_for("consumer.client.id", BW_KAFKA_PRODUCER));
    assert_string_equal(bw_kafka_prop_for("producer.client.id", BW_KAFKA_PRODUCER), "client.id");
    assert_null(bw_kafka_prop_for("producer.client.id", BW_KAFKA_CONSUMER));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env, setup, teardown),
        cmocka_unit_test_setup_teardown(test_args_and_precedence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_arg_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_positional_and_markdown, setup, teardown),
        cmocka_unit_test(test_kafka_keys_routed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
