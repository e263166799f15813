/**
 * @file bw_proc.h
 * @brief Process plumbing every Bellwether program shares: the common
 *        config keys, signals (SIGTERM/SIGINT drain, SIGHUP reload), and
 *        the start-up sequence that turns argv into a configured process.
 */
#ifndef BW_PROC_H
#define BW_PROC_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "bw_conf.h"
#include "bw_err.h"
#include "bw_metrics.h"

/** Raised by SIGTERM or SIGINT: finish the batch, flush, commit, exit 0. */
extern volatile sig_atomic_t bw_proc_stop;
/** Raised by SIGHUP: the stage reloads (and clears the flag). */
extern volatile sig_atomic_t bw_proc_reload;

/** @brief bw_proc_stop, safe to read from any thread (an atomic the
 *         signal handler sets with it). */
bool bw_proc_stopping(void);

/** Keys every program has. */
typedef struct bw_common_conf_s {
    char *brokers;
    char *redis_url;
    char *log_level;
    char *schemas_dir;
    int64_t message_max_bytes;
    char *registry_url; /* empty: the ids of schemas/ids.manifest */
    char *registry_auth;
    bool registry_register;
    int64_t registry_timeout_ms;
} bw_common_conf_t;

extern const bw_conf_def_t bw_common_conf_defs[];
extern const size_t bw_common_conf_ndefs;

/** @brief The program's own metrics, printed by --print-metrics-table
 *         after the common ones. Call before bw_proc_setup(). */
void bw_proc_set_metrics_table(const bw_metric_decl_t *decls, size_t n);

/** @brief Install the signal handlers (and ignore SIGPIPE). */
void bw_proc_signals_init(void);

/** A reload hook: returns BW_ERR_OK or an error it has logged. */
typedef bw_err_t (*bw_proc_reload_cb)(void *opaque);

/** @brief The hook bw_proc_service() calls after a SIGHUP. */
void bw_proc_on_reload(bw_proc_reload_cb cb, void *opaque);

/**
 * @brief Call from the main loop between batches: runs the reload hook if a
 *        SIGHUP came in since the last call (the signal handler itself only
 *        sets a flag).
 * @returns true while the process should keep running (no SIGTERM/SIGINT).
 */
bool bw_proc_service(void);

/**
 * @brief The start-up sequence: log init, register the common keys and the
 *        program's own table, load file/env/flags, apply log.level.
 *        Handles --help (exit 0) and --print-config-table (README).
 *        @p positional names the key a bare argument sets (or NULL).
 * @returns BW_ERR_OK, or an error already printed to stderr as a log line.
 */
/**
 * @brief The schemas of schemas.dir, with the wire ids of the Schema
 *        Registry when schema.registry.url is set (bw_registry.h), else of
 *        the manifest. NULL (why in errstr) if either fails.
 */
struct bw_serde_s *bw_proc_serde(const bw_common_conf_t *common, char *errstr, size_t errstr_size);

bw_err_t bw_proc_setup(bw_conf_t *conf, const char *program, const char *positional,
                       bw_common_conf_t *common, const bw_conf_def_t *defs, size_t ndefs,
                       void *base, int argc, char **argv);

#endif
