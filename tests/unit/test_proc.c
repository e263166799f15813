/* Signals: SIGHUP runs the reload hook from the main loop (not from the
 * handler), a failing reload keeps the process running, SIGTERM and SIGINT
 * ask it to stop. Start-up: common keys and defaults. */
#include "bw_test.h"

#include <signal.h>

#include "bw_proc.h"

static int reloads;
static bw_err_t reload_result;

static bw_err_t on_reload(void *opaque) {
    (void)opaque;
    reloads++;
    return reload_result;
}

static void test_sighup_runs_hook_in_loop(void **state) {
    (void)state;
    bw_proc_signals_init();
    bw_proc_on_reload(on_reload, NULL);
    reloads = 0;
    assert_true(bw_proc_service());
    assert_int_equal(reloads, 0);
    raise(SIGHUP);
    assert_int_equal(reloads, 0); /* the handler only sets a flag */
    assert_true(bw_proc_service());
    assert_int_equal(reloads, 1);
    assert_true(bw_proc_service());
    assert_int_equal(reloads, 1); /* once per signal */
    reload_result = BW_ERR_CONFIG;
    raise(SIGHUP);
    assert_true(bw_proc_service()); /* a bad reload does not stop the process */
    assert_int_equal(reloads, 2);
}

static void test_sigterm_and_sigint_stop(void **state) {
    (void)state;
    bw_proc_signals_init();
    bw_proc_stop = 0;
    raise(SIGTERM);
    assert_false(bw_proc_service());
    bw_proc_stop = 0;
    raise(SIGINT);
    assert_false(bw_proc_service());
    bw_proc_stop = 0;
}

static void test_setup_defaults(void **state) {
    bw_conf_t conf;
    bw_common_conf_t common = {0};
    char *argv[] = {"prog", "--log.level", "warn", NULL};

    (void)state;
    assert_int_equal(bw_proc_setup(&conf, "unit", NULL, &common, NULL, 0, NULL, 3, argv),
                     BW_ERR_OK);
    assert_string_equal(common.brokers, "localhost:9092");
    assert_string_equal(common.schemas_dir, BW_DEFAULT_SCHEMA_DIR);
    assert_string_equal(common.log_level, "warn");
    assert_int_equal(common.message_max_bytes, 1000000);
    bw_conf_destroy(&conf);
}

static void test_setup_rejects_bad_level(void **state) {
    bw_conf_t conf;
    bw_common_conf_t common = {0};
    char *argv[] = {"prog", "--log.level", "chatty", NULL};

    (void)state;
    assert_int_equal(bw_proc_setup(&conf, "unit", NULL, &common, NULL, 0, NULL, 3, argv),
                     BW_ERR_CONFIG);
    bw_conf_destroy(&conf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sighup_runs_hook_in_loop),
        cmocka_unit_test(test_sigterm_and_sigint_stop),
        cmocka_unit_test(test_setup_defaults),
        cmocka_unit_test(test_setup_rejects_bad_level),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
