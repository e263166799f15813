/**
 * @file bw_metrics.h
 * @brief Prometheus metrics: counters, gauges, histograms with labels.
 *
 * Metrics are declared once in an X-macro table (see bw_metrics_def.h, after
 * Varnish's .vsc files); the same table registers them, renders /metrics and
 * prints the README's metrics table. Updates are lock-free atomics; the
 * lock is taken only to find or create a labelled child, which hot paths do
 * once and cache.
 */
#ifndef BW_METRICS_H
#define BW_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "bw_err.h"
#include "bw_util.h"

typedef enum {
    BW_METRIC_COUNTER,
    BW_METRIC_GAUGE,
    BW_METRIC_HISTOGRAM,
} bw_metric_type_t;

#define BW_METRIC_MAX_LABELS 3
#define BW_METRIC_MAX_BUCKETS 16

typedef struct bw_metrics_s bw_metrics_t;
typedef struct bw_metric_family_s bw_metric_family_t;
typedef struct bw_metric_s bw_metric_t;

/** One declared metric: what the X-macro tables expand to. */
typedef struct bw_metric_decl_s {
    bw_metric_type_t type;
    const char *name; /* without the bw_ prefix */
    const char *help;
    const char *labels; /* comma-separated label names, "" for none */
} bw_metric_decl_t;

bw_metrics_t *bw_metrics_new(void);
void bw_metrics_destroy(bw_metrics_t *reg);

/** @brief Register a family; returns the existing one for the same name. */
bw_metric_family_t *bw_metrics_family(bw_metrics_t *reg, const bw_metric_decl_t *decl);

/**
 * @brief The time series for these label values (created on first use).
 * @p values has as many entries as the family has labels (NULL if none).
 * @returns NULL only when out of memory.
 */
bw_metric_t *bw_metrics_child(bw_metric_family_t *fam, const char *const *values);

/**
 * @brief The series of @p decl for these label values, unless that would
 *        make more than @p max_series (NULL then): for labels a user's data
 *        names (carriers, stores), whose number has no bound of its own.
 */
bw_metric_t *bw_metrics_series(bw_metrics_t *reg, const bw_metric_decl_t *decl,
                               const char *const *values, size_t max_series);

/** @brief Shorthand for a family without labels or with one label. */
bw_metric_t *bw_metrics_get(bw_metrics_t *reg, const bw_metric_decl_t *decl, const char *label);

void bw_metric_add(bw_metric_t *m, double v);
static inline void bw_metric_inc(bw_metric_t *m) {
    bw_metric_add(m, 1.0);
}
void bw_metric_set(bw_metric_t *m, double v);
void bw_metric_observe(bw_metric_t *m, double v);
double bw_metric_value(const bw_metric_t *m);

/** @brief Render every family in Prometheus text format 0.0.4. */
bw_err_t bw_metrics_render(bw_metrics_t *reg, bw_buf_t *out);

/** @brief Markdown table of declared metrics (for the README). */
void bw_metrics_print_markdown(const bw_metric_decl_t *decls, size_t n, FILE *fp);

#endif
