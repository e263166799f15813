#include "bw_metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "bw_metrics_def.h"

#define BW_METRIC_DECL_TAB_(id, type, name, help, labels) {type, name, help, labels},
const bw_metric_decl_t bw_common_metrics[BW_M__CNT] = {BW_COMMON_METRICS(BW_METRIC_DECL_TAB_)};

/* Latency buckets in seconds, 100 us .. 10 s. */
static const double default_buckets[] = {0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                         0.05,   0.1,    0.25,  0.5,    1,     2.5,  10};

struct bw_metric_s {
    struct bw_metric_s *next;
    char *values[BW_METRIC_MAX_LABELS];
    _Atomic double value; /* counter or gauge; histogram: sum */
    _Atomic unsigned long long count;
    _Atomic unsigned long long buckets[BW_METRIC_MAX_BUCKETS];
};

struct bw_metric_family_s {
    struct bw_metric_family_s *next;
    bw_metric_type_t type;
    char *name;
    char *help;
    char *labels[BW_METRIC_MAX_LABELS];
    int nlabels;
    bw_metric_t *children;
    size_t nchildren;
};

struct bw_metrics_s {
    pthread_mutex_t lock;
    bw_metric_family_t *families, **tail;
};

bw_metrics_t *bw_metrics_new(void) {
    bw_metrics_t *reg = calloc(1, sizeof(*reg));

    if (!reg)
        return NULL;
    pthread_mutex_init(&reg->lock, NULL);
    reg->tail = &reg->families;
    return reg;
}

static void family_free(bw_metric_family_t *fam) {
    bw_metric_t *m = fam->children;

    while (m) {
        bw_metric_t *next = m->next;
        for (int i = 0; i < fam->nlabels; i++)
            free(m->values[i]);
        free(m);
        m = next;
    }
    for (int i = 0; i < fam->nlabels; i++)
        free(fam->labels[i]);
    free(fam->name);
    free(fam->help);
    free(fam);
}

void bw_metrics_destroy(bw_metrics_t *reg) {
    if (!reg)
        return;
    for (bw_metric_family_t *f = reg->families, *next; f; f = next) {
        next = f->next;
        family_free(f);
    }
    pthread_mutex_destroy(&reg->lock);
    free(reg);
}

static bool parse_labels(bw_metric_family_t *fam, const char *labels) {
    const char *p = labels;

    while (p && *p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (fam->nlabels >= BW_METRIC_MAX_LABELS || !(fam->labels[fam->nlabels] = strndup(p, n)))
            return false;
        fam->nlabels++;
        p = comma ? comma + 1 : NULL;
    }
    return true;
}

bw_metric_family_t *bw_metrics_family(bw_metrics_t *reg, const bw_metric_decl_t *decl) {
    bw_metric_family_t *fam;
    char name[256];

    snprintf(name, sizeof(name), "bw_%s", decl->name);
    pthread_mutex_lock(&reg->lock);
    for (fam = reg->families; fam; fam = fam->next)
        if (!strcmp(fam->name, name))
            goto out;
    if (!(fam = calloc(1, sizeof(*fam))))
        goto out;
    fam->type = decl->type;
    fam->name = strdup(name);
    fam->help = strdup(decl->help);
    if (!fam->name || !fam->help || !parse_labels(fam, decl->labels)) {
        family_free(fam);
        fam = NULL;
        goto out;
    }
    *reg->tail = fam;
    reg->tail = &fam->next;
out:
    pthread_mutex_unlock(&reg->lock);
    return fam;
}

/* Children are only ever prepended, and a published child is never freed
 * before the registry, so readers walk the list without the lock. */
/* The series with these label values, or NULL. */
static bw_metric_t *find_child(const bw_metric_family_t *fam, const char *const *values) {
    for (bw_metric_t *m = fam->children; m; m = m->next) {
        int i;
        for (i = 0; i < fam->nlabels; i++)
            if (strcmp(m->values[i], values[i] ? values[i] : ""))
                break;
        if (i == fam->nlabels)
            return m;
    }
    return NULL;
}

bw_metric_t *bw_metrics_child(bw_metric_family_t *fam, const char *const *values) {
    static pthread_mutex_t child_lock = PTHREAD_MUTEX_INITIALIZER;
    bw_metric_t *m;

    pthread_mutex_lock(&child_lock);
    if ((m = find_child(fam, values)))
        goto out;
    if (!(m = calloc(1, sizeof(*m))))
        goto out;
    for (int i = 0; i < fam->nlabels; i++) {
        if (!(m->values[i] = strdup(values[i] ? values[i] : ""))) {
            for (int k = 0; k < i; k++)
                free(m->values[k]);
            free(m);
            m = NULL;
            goto out;
        }
    }
    m->next = fam->children;
    atomic_thread_fence(memory_order_release);
    fam->children = m;
    fam->nchildren++;
out:
    pthread_mutex_unlock(&child_lock);
    return m;
}

bw_metric_t *bw_metrics_series(bw_metrics_t *reg, const bw_metric_decl_t *decl,
                               const char *const *values, size_t max_series) {
    bw_metric_family_t *fam = bw_metrics_family(reg, decl);
    bw_metric_t *m;

    if (!fam)
        return NULL;
    if ((m = find_child(fam, values)))
        return m;
    return fam->nchildren < max_series ? bw_metrics_child(fam, values) : NULL;
}

bw_metric_t *bw_metrics_get(bw_metrics_t *reg, const bw_metric_decl_t *decl, const char *label) {
    bw_metric_family_t *fam = bw_metrics_family(reg, decl);
    const char *values[1] = {label};

    return fam ? bw_metrics_child(fam, values) : NULL;
}

void bw_metric_add(bw_metric_t *m, double v) {
    double cur;

    if (!m)
        return;
    cur = atomic_load_explicit(&m->value, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&m->value, &cur, cur + v, memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
}

void bw_metric_set(bw_metric_t *m, double v) {
    if (m)
        atomic_store_explicit(&m->value, v, memory_order_relaxed);
}

double bw_metric_value(const bw_metric_t *m) {
    return m ? atomic_load_explicit(&m->value, memory_order_relaxed) : 0.0;
}

/* Every Bellwether histogram measures a latency in seconds, so all share
 * one bucket table and a child needs no pointer back to its family. */
void bw_metric_observe(bw_metric_t *m, double v) {
    if (!m)
        return;
    bw_metric_add(m, v);
    atomic_fetch_add_explicit(&m->count, 1, memory_order_relaxed);
    for (size_t i = 0; i < BW_ARRAY_SIZE(default_buckets); i++) {
        if (v <= default_buckets[i]) {
            atomic_fetch_add_explicit(&m->buckets[i], 1, memory_order_relaxed);
            break;
        }
    }
}

static bool render_escaped(bw_buf_t *out, const char *s, bool help) {
    /* Label values escape \, " and newline; HELP text escapes \ and newline.
     * The format requires UTF-8: a value that is not (a hostile store id)
     * has its non-ASCII bytes shown as '?'. */
    size_t len = strlen(s);
    bool utf8 = bw_utf8_check(s, len) < 0;
    bool ok = true;

    for (size_t i = 0; i < len && ok; i++) {
        char c = s[i];
        if (c == '\\')
            ok = bw_buf_append(out, "\\\\", 2);
        else if (c == '\n')
            ok = bw_buf_append(out, "\\n", 2);
        else if (c == '"' && !help)
            ok = bw_buf_append(out, "\\\"", 2);
        else if ((unsigned char)c >= 0x80 && !utf8)
            ok = bw_buf_append(out, "?", 1);
        else
            ok = bw_buf_append(out, &c, 1);
    }
    return ok;
}

static bool render_labels(bw_buf_t *out, const bw_metric_family_t *fam, const bw_metric_t *m,
                          const char *le) {
    bool ok = true;
    int n = 0;

    if (fam->nlabels == 0 && !le)
        return true;
    ok = bw_buf_append(out, "{", 1);
    for (int i = 0; i < fam->nlabels && ok; i++, n++) {
        ok = bw_buf_printf(out, "%s%s=\"", n ? "," : "", fam->labels[i]) &&
             render_escaped(out, m->values[i], false) && bw_buf_append(out, "\"", 1);
    }
    if (le && ok)
        ok = bw_buf_printf(out, "%sle=\"%s\"", n ? "," : "", le);
    return ok && bw_buf_append(out, "}", 1);
}

static bool render_number(bw_buf_t *out, double v) {
    if (isnan(v))
        return bw_buf_printf(out, " NaN\n");
    if (isinf(v))
        return bw_buf_printf(out, " %sInf\n", v > 0 ? "+" : "-");
    return bw_buf_printf(out, " %.17g\n", v);
}

static bool render_histogram(bw_buf_t *out, const bw_metric_family_t *fam, const bw_metric_t *m) {
    unsigned long long cum = 0;
    char le[32];
    bool ok = true;

    for (size_t i = 0; i < BW_ARRAY_SIZE(default_buckets) && ok; i++) {
        cum += atomic_load_explicit(&m->buckets[i], memory_order_relaxed);
        snprintf(le, sizeof(le), "%g", default_buckets[i]);
        ok = bw_buf_printf(out, "%s_bucket", fam->name) && render_labels(out, fam, m, le) &&
             bw_buf_printf(out, " %llu\n", cum);
    }
    unsigned long long count = atomic_load_explicit(&m->count, memory_order_relaxed);
    return ok && bw_buf_printf(out, "%s_bucket", fam->name) && render_labels(out, fam, m, "+Inf") &&
           bw_buf_printf(out, " %llu\n", count) && bw_buf_printf(out, "%s_sum", fam->name) &&
           render_labels(out, fam, m, NULL) && render_number(out, bw_metric_value(m)) &&
           bw_buf_printf(out, "%s_count", fam->name) && render_labels(out, fam, m, NULL) &&
           bw_buf_printf(out, " %llu\n", count);
}

bw_err_t bw_metrics_render(bw_metrics_t *reg, bw_buf_t *out) {
    static const char *type_names[] = {"counter", "gauge", "histogram"};
    bool ok = true;

    pthread_mutex_lock(&reg->lock);
    for (const bw_metric_family_t *fam = reg->families; fam && ok; fam = fam->next) {
        ok = bw_buf_printf(out, "# HELP %s ", fam->name) && render_escaped(out, fam->help, true) &&
             bw_buf_printf(out, "\n# TYPE %s %s\n", fam->name, type_names[fam->type]);
        for (const bw_metric_t *m = fam->children; m && ok; m = m->next) {
            if (fam->type == BW_METRIC_HISTOGRAM)
                ok = render_histogram(out, fam, m);
            else
                ok = bw_buf_append(out, fam->name, strlen(fam->name)) &&
                     render_labels(out, fam, m, NULL) && render_number(out, bw_metric_value(m));
        }
    }
    pthread_mutex_unlock(&reg->lock);
    return ok ? BW_ERR_OK : BW_ERR_NOMEM;
}

void bw_metrics_print_markdown(const bw_metric_decl_t *decls, size_t n, FILE *fp) {
    static const char *type_names[] = {"counter", "gauge", "histogram"};

    fprintf(fp, "| metric | type | labels | meaning |\n|---|---|---|---|\n");
    for (size_t i = 0; i < n; i++)
        fprintf(fp, "| `bw_%s` | %s | %s | %s |\n", decls[i].name, type_names[decls[i].type],
                decls[i].labels, decls[i].help);
}
