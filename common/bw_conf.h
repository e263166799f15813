/**
 * @file bw_conf.h
 * @brief Configuration as a table (after librdkafka's rdkafka_conf.c).
 *
 * Each program declares its keys once: name, type, default, range, what it
 * means, and where the value lands (offsetof into its own struct). The same
 * table parses the config file, the environment and the command line,
 * rejects unknown keys by name, prints --help and the README's key table.
 *
 * Precedence, lowest first: default, file (--config or BW_CONFIG), environment
 * (BW_ + upper-cased key with '.' as '_'), command line (--key value,
 * --key=value, or --key alone for a boolean). Keys under "kafka." pass
 * through to librdkafka unchanged (env: BW_KAFKA_SASL_USERNAME is
 * kafka.sasl.username).
 */
#ifndef BW_CONF_H
#define BW_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bw_err.h"

typedef enum {
    BW_CONF_STR, /* char *, owned by the struct after bw_conf_load */
    BW_CONF_INT, /* int64_t */
    BW_CONF_DBL, /* double */
    BW_CONF_BOOL, /* bool */
} bw_conf_type_t;

typedef struct bw_conf_def_s {
    const char *name;
    bw_conf_type_t type;
    size_t offset; /* where the value lands in the section's struct */
    const char *defval; /* default, as text; NULL: empty string / 0 */
    double min, max; /* range for INT and DBL (min > max: no range) */
    const char *choices; /* for STR: "a|b|c", or NULL for any text */
    const char *desc;
} bw_conf_def_t;

#define BW_CONF_NORANGE 1, 0

typedef struct bw_conf_section_s {
    const bw_conf_def_t *defs;
    size_t ndefs;
    void *base;
} bw_conf_section_t;

#define BW_CONF_MAX_SECTIONS 4
#define BW_CONF_MAX_PASSTHRU 64

typedef struct bw_conf_s {
    bw_conf_section_t sections[BW_CONF_MAX_SECTIONS];
    int nsections;
    char *kafka_keys[BW_CONF_MAX_PASSTHRU]; /* without the "kafka." prefix */
    char *kafka_vals[BW_CONF_MAX_PASSTHRU];
    int nkafka;
    bool help; /* --help was given */
    const char *program; /* for --help */
    const char *positional; /* name of the key that takes a bare argument */
} bw_conf_t;

void bw_conf_init(bw_conf_t *conf, const char *program);

/** @brief Register a table; its defaults are applied at once. */
bw_err_t bw_conf_add_section(bw_conf_t *conf, const bw_conf_def_t *defs, size_t ndefs, void *base,
                             char *errstr, size_t errstr_size);

/** @brief Set one key from text (the common path of file, env and flags). */
bw_err_t bw_conf_set(bw_conf_t *conf, const char *key, const char *value, char *errstr,
                     size_t errstr_size);

bw_err_t bw_conf_load_file(bw_conf_t *conf, const char *path, char *errstr, size_t errstr_size);
bw_err_t bw_conf_load_env(bw_conf_t *conf, char *const *envp, char *errstr, size_t errstr_size);
bw_err_t bw_conf_load_args(bw_conf_t *conf, int argc, char *const *argv, char *errstr,
                           size_t errstr_size);

/**
 * @brief The whole sequence: --config / BW_CONFIG file, then the
 *        environment, then the command line.
 */
bw_err_t bw_conf_load(bw_conf_t *conf, int argc, char *const *argv, char *const *envp, char *errstr,
                      size_t errstr_size);

/** @brief Print --help text from the tables. */
void bw_conf_usage(const bw_conf_t *conf, FILE *fp);
/** @brief Print a Markdown table of every key (for the README). */
void bw_conf_print_markdown(const bw_conf_t *conf, FILE *fp);

/** @brief Free every string value the tables own and the passthrough list. */
void bw_conf_destroy(bw_conf_t *conf);

#endif
