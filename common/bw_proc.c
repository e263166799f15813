#include "bw_proc.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bw_log.h"
#include "bw_metrics_def.h"
#include "bw_registry.h"
#include "bw_serde.h"
#include "bw_util.h"

extern char **environ;

volatile sig_atomic_t bw_proc_stop = 0;
volatile sig_atomic_t bw_proc_reload = 0;
/* the same for other threads: a lock-free atomic may be stored from a
 * signal handler, and read elsewhere without a data race */
static atomic_int stop_requested = 0;
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "atomic_int must be lock-free to be set in a handler");

bool bw_proc_stopping(void) {
    return atomic_load_explicit(&stop_requested, memory_order_relaxed) != 0;
}

#define C(field) offsetof(bw_common_conf_t, field)
const bw_conf_def_t bw_common_conf_defs[] = {
    {"brokers", BW_CONF_STR, C(brokers), "localhost:9092", BW_CONF_NORANGE, NULL,
     "Kafka bootstrap servers, or @FILE to read them from a file (bw-devkafka writes one)"},
    {"redis.url", BW_CONF_STR, C(redis_url), "redis://127.0.0.1:6379/0", BW_CONF_NORANGE, NULL,
     "Redis server: redis://[user:password@]host[:port][/db]"},
    {"log.level", BW_CONF_STR, C(log_level), "info", BW_CONF_NORANGE, "error|warn|info|debug",
     "Least severe log level written to stderr"},
    {"schemas.dir", BW_CONF_STR, C(schemas_dir), NULL, BW_CONF_NORANGE, NULL,
     "Folder with the Avro schemas and ids.manifest (empty: the source tree's schemas/)"},
    {"message.max.bytes", BW_CONF_INT, C(message_max_bytes), "1000000", 1024, 64 * 1024 * 1024,
     NULL, "Largest record read or written, in bytes; larger input is dead-lettered"},
    {"schema.registry.url", BW_CONF_STR, C(registry_url), "", BW_CONF_NORANGE, NULL,
     "Schema Registry (http or https); empty: the ids of schemas/ids.manifest"},
    {"schema.registry.auth", BW_CONF_STR, C(registry_auth), "", BW_CONF_NORANGE, NULL,
     "user:password for the registry's basic auth (better from BW_SCHEMA_REGISTRY_AUTH)"},
    {"schema.registry.register", BW_CONF_BOOL, C(registry_register), "true", BW_CONF_NORANGE, NULL,
     "Register the schemas (false: only look their ids up; a missing one stops the program)"},
    {"schema.registry.timeout.ms", BW_CONF_INT, C(registry_timeout_ms), "5000", 100, 600000, NULL,
     "Timeout of one registry request (a refused connection or a 5xx is tried 3 times)"},
};
#undef C
const size_t bw_common_conf_ndefs = BW_ARRAY_SIZE(bw_common_conf_defs);

static bw_err_t registry_lookup(void *opaque, const bw_schema_t *schema, int32_t *id, char *errstr,
                                size_t errstr_size) {
    return bw_registry_id(opaque, schema->fullname, schema->text, id, errstr, errstr_size);
}

bw_serde_t *bw_proc_serde(const bw_common_conf_t *common, char *errstr, size_t errstr_size) {
    bw_serde_t *sd =
        bw_serde_new(common->schemas_dir, (size_t)common->message_max_bytes, errstr, errstr_size);
    bw_registry_conf_t rc = {common->registry_url, common->registry_auth, common->registry_register,
                             common->registry_timeout_ms};
    bw_registry_t *reg;
    bw_err_t err;

    if (!sd || !common->registry_url || !*common->registry_url)
        return sd;
    if (!(reg = bw_registry_new(&rc, errstr, errstr_size))) {
        bw_serde_destroy(sd);
        return NULL;
    }
    err = bw_serde_reassign_ids(sd, registry_lookup, reg, errstr, errstr_size);
    bw_registry_destroy(reg);
    if (err) {
        bw_serde_destroy(sd);
        return NULL;
    }
    bw_log(BW_LOG_INFO, "schema ids from the registry at %s", common->registry_url);
    return sd;
}

static const bw_metric_decl_t *own_metrics;
static size_t own_nmetrics;

void bw_proc_set_metrics_table(const bw_metric_decl_t *decls, size_t n) {
    own_metrics = decls;
    own_nmetrics = n;
}

static bw_proc_reload_cb reload_cb;
static void *reload_opaque;

void bw_proc_on_reload(bw_proc_reload_cb cb, void *opaque) {
    reload_cb = cb;
    reload_opaque = opaque;
}

bool bw_proc_service(void) {
    if (bw_proc_reload) {
        bw_proc_reload = 0;
        bw_log(BW_LOG_INFO, "SIGHUP: reloading");
        if (reload_cb && reload_cb(reload_opaque))
            bw_log(BW_LOG_ERROR, "reload failed; still running with what was loaded before");
    }
    return !bw_proc_stop;
}

static void on_signal(int sig) {
    if (sig == SIGHUP)
        bw_proc_reload = 1;
    else {
        bw_proc_stop = 1;
        atomic_store_explicit(&stop_requested, 1, memory_order_relaxed);
    }
}

void bw_proc_signals_init(void) {
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    /* No SA_RESTART: a blocking sleep or poll returns early so the main
     * loop sees the flag at once. */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

bw_err_t bw_proc_setup(bw_conf_t *conf, const char *program, const char *positional,
                       bw_common_conf_t *common, const bw_conf_def_t *defs, size_t ndefs,
                       void *base, int argc, char **argv) {
    char errstr[1024];
    bw_err_t err;
    int lvl;
    bool print_table = false;

    bw_log_init(program);
    bw_conf_init(conf, program);
    conf->positional = positional;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--print-config-table"))
            print_table = true; /* handled before the flags are parsed */
        if (!strcmp(argv[i], "--print-metrics-table")) {
            bw_metrics_print_markdown(own_metrics ? own_metrics : bw_common_metrics,
                                      own_metrics ? own_nmetrics : BW_M__CNT, stdout);
            exit(0);
        }
    }
    if ((err = bw_conf_add_section(conf, bw_common_conf_defs, bw_common_conf_ndefs, common, errstr,
                                   sizeof(errstr))) ||
        (defs && (err = bw_conf_add_section(conf, defs, ndefs, base, errstr, sizeof(errstr))))) {
        bw_log(BW_LOG_ERROR, "config table: %s", errstr);
        return err;
    }
    if (print_table) {
        bw_conf_print_markdown(conf, stdout);
        exit(0);
    }
    if ((err = bw_conf_load(conf, argc, argv, environ, errstr, sizeof(errstr)))) {
        bw_log(BW_LOG_ERROR, "config: %s", errstr);
        return err;
    }
    if (conf->help) {
        bw_conf_usage(conf, stdout);
        exit(0);
    }
    if (!*common->schemas_dir) {
        char *dflt = strdup(BW_DEFAULT_SCHEMA_DIR);
        if (!dflt)
            return BW_ERR_NOMEM;
        free(common->schemas_dir);
        common->schemas_dir = dflt;
    }
    if ((lvl = bw_log_level_parse(common->log_level)) >= 0)
        bw_log_level = lvl;
    bw_proc_signals_init();
    return BW_ERR_OK;
}
