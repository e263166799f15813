#include "bw_conf.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bw_log.h"
#include "bw_util.h"

#define KAFKA_PREFIX "kafka."

void bw_conf_init(bw_conf_t *conf, const char *program) {
    memset(conf, 0, sizeof(*conf));
    conf->program = program;
}

static const bw_conf_def_t *conf_find(const bw_conf_t *conf, const char *key, void **base) {
    for (int s = 0; s < conf->nsections; s++) {
        const bw_conf_section_t *sec = &conf->sections[s];
        for (size_t i = 0; i < sec->ndefs; i++) {
            if (!strcmp(sec->defs[i].name, key)) {
                *base = sec->base;
                return &sec->defs[i];
            }
        }
    }
    return NULL;
}

static bool choice_ok(const char *choices, const char *value) {
    size_t vlen = strlen(value);
    const char *p = choices;

    while (*p) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n == vlen && !strncmp(p, value, n))
            return true;
        if (!bar)
            break;
        p = bar + 1;
    }
    return false;
}

static bool range_ok(const bw_conf_def_t *def, double v) {
    return def->min > def->max || (v >= def->min && v <= def->max);
}

static bool parse_bool(const char *s, bool *out) {
    if (!strcmp(s, "true") || !strcmp(s, "1") || !strcmp(s, "yes") || !strcmp(s, "on")) {
        *out = true;
        return true;
    }
    if (!strcmp(s, "false") || !strcmp(s, "0") || !strcmp(s, "no") || !strcmp(s, "off")) {
        *out = false;
        return true;
    }
    return false;
}

static bw_err_t def_set(const bw_conf_def_t *def, void *base, const char *value, char *errstr,
                        size_t errstr_size) {
    char *slot = (char *)base + def->offset;

    switch (def->type) {
    case BW_CONF_STR: {
        char *copy;
        if (def->choices && !choice_ok(def->choices, value)) {
            bw_errstr_set(errstr, errstr_size, "%s: expected one of %s, got \"%s\"", def->name,
                          def->choices, value);
            return BW_ERR_CONFIG;
        }
        if (!(copy = strdup(value)))
            return BW_ERR_NOMEM;
        free(*(char **)slot);
        *(char **)slot = copy;
        return BW_ERR_OK;
    }
    case BW_CONF_INT: {
        int64_t v;
        if (!bw_parse_i64(value, &v)) {
            bw_errstr_set(errstr, errstr_size, "%s: expected an integer, got \"%s\"", def->name,
                          value);
            return BW_ERR_CONFIG;
        }
        if (!range_ok(def, (double)v)) {
            bw_errstr_set(errstr, errstr_size, "%s: expected %.0f..%.0f, got %s", def->name,
                          def->min, def->max, value);
            return BW_ERR_CONFIG;
        }
        *(int64_t *)slot = v;
        return BW_ERR_OK;
    }
    case BW_CONF_DBL: {
        double v;
        if (!bw_parse_double(value, &v)) {
            bw_errstr_set(errstr, errstr_size, "%s: expected a number, got \"%s\"", def->name,
                          value);
            return BW_ERR_CONFIG;
        }
        if (!range_ok(def, v)) {
            bw_errstr_set(errstr, errstr_size, "%s: expected %g..%g, got %s", def->name, def->min,
                          def->max, value);
            return BW_ERR_CONFIG;
        }
        *(double *)slot = v;
        return BW_ERR_OK;
    }
    case BW_CONF_BOOL: {
        bool v;
        if (!parse_bool(value, &v)) {
            bw_errstr_set(errstr, errstr_size, "%s: expected true or false, got \"%s\"", def->name,
                          value);
            return BW_ERR_CONFIG;
        }
        *(bool *)slot = v;
        return BW_ERR_OK;
    }
    }
    return BW_ERR_INVALID_ARG;
}

bw_err_t bw_conf_add_section(bw_conf_t *conf, const bw_conf_def_t *defs, size_t ndefs, void *base,
                             char *errstr, size_t errstr_size) {
    if (conf->nsections >= BW_CONF_MAX_SECTIONS) {
        bw_errstr_set(errstr, errstr_size, "too many config sections");
        return BW_ERR_INVALID_ARG;
    }
    conf->sections[conf->nsections++] = (bw_conf_section_t){defs, ndefs, base};
    for (size_t i = 0; i < ndefs; i++) {
        const bw_conf_def_t *d = &defs[i];
        bw_err_t err;

        if (!d->defval) { /* no default: empty string, zero, false */
            char *slot = (char *)base + d->offset;
            if (d->type == BW_CONF_STR && !(*(char **)slot = strdup("")))
                return BW_ERR_NOMEM;
            if (d->type == BW_CONF_INT)
                *(int64_t *)slot = 0;
            if (d->type == BW_CONF_DBL)
                *(double *)slot = 0;
            if (d->type == BW_CONF_BOOL)
                *(bool *)slot = false;
            continue;
        }
        /* A default that fails its own check is a bug in the table. */
        if ((err = def_set(d, base, d->defval, errstr, errstr_size)))
            return err;
    }
    return BW_ERR_OK;
}

static bw_err_t kafka_set(bw_conf_t *conf, const char *prop, const char *value, char *errstr,
                          size_t errstr_size) {
    for (int i = 0; i < conf->nkafka; i++) {
        if (!strcmp(conf->kafka_keys[i], prop)) {
            char *v = strdup(value);
            if (!v)
                return BW_ERR_NOMEM;
            free(conf->kafka_vals[i]);
            conf->kafka_vals[i] = v;
            return BW_ERR_OK;
        }
    }
    if (conf->nkafka >= BW_CONF_MAX_PASSTHRU) {
        bw_errstr_set(errstr, errstr_size, "too many kafka.* keys (max %d)", BW_CONF_MAX_PASSTHRU);
        return BW_ERR_CONFIG;
    }
    char *k = strdup(prop), *v = strdup(value);
    if (!k || !v) {
        free(k);
        free(v);
        return BW_ERR_NOMEM;
    }
    conf->kafka_keys[conf->nkafka] = k;
    conf->kafka_vals[conf->nkafka++] = v;
    return BW_ERR_OK;
}

bw_err_t bw_conf_set(bw_conf_t *conf, const char *key, const char *value, char *errstr,
                     size_t errstr_size) {
    const bw_conf_def_t *def;
    void *base;

    if (!strncmp(key, KAFKA_PREFIX, strlen(KAFKA_PREFIX)) && key[strlen(KAFKA_PREFIX)]) {
        /* librdkafka validates the property itself when the client is
         * created, and names it in its own error. */
        return kafka_set(conf, key + strlen(KAFKA_PREFIX), value, errstr, errstr_size);
    }
    if (!(def = conf_find(conf, key, &base))) {
        bw_errstr_set(errstr, errstr_size, "unknown configuration key \"%s\"", key);
        return BW_ERR_UNKNOWN_KEY;
    }
    return def_set(def, base, value, errstr, errstr_size);
}

static char *trim(char *s) {
    char *e;

    while (isspace((unsigned char)*s))
        s++;
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

bw_err_t bw_conf_load_file(bw_conf_t *conf, const char *path, char *errstr, size_t errstr_size) {
    FILE *fp = fopen(path, "r");
    char line[4096], sub[512];
    int lineno = 0;
    bw_err_t err = BW_ERR_OK;

    if (!fp) {
        bw_errstr_set(errstr, errstr_size, "%s: %s", path, strerror(errno));
        return BW_ERR_CONFIG;
    }
    while (fgets(line, sizeof(line), fp)) {
        char *key, *val, *eq;
        size_t n = strlen(line);

        lineno++;
        if (n == sizeof(line) - 1 && line[n - 1] != '\n' && !feof(fp)) {
            bw_errstr_set(errstr, errstr_size, "%s:%d: line longer than %zu bytes", path, lineno,
                          sizeof(line) - 2);
            err = BW_ERR_CONFIG;
            goto out;
        }
        key = trim(line);
        if (*key == '\0' || *key == '#')
            continue;
        if (!(eq = strchr(key, '='))) {
            bw_errstr_set(errstr, errstr_size, "%s:%d: expected \"key = value\"", path, lineno);
            err = BW_ERR_CONFIG;
            goto out;
        }
        *eq = '\0';
        key = trim(key);
        val = trim(eq + 1);
        /* Quotes keep leading or trailing spaces and a literal '#'. */
        n = strlen(val);
        if (n >= 2 && val[0] == '"' && val[n - 1] == '"') {
            val[n - 1] = '\0';
            val++;
        }
        if (*key == '\0') {
            bw_errstr_set(errstr, errstr_size, "%s:%d: empty key", path, lineno);
            err = BW_ERR_CONFIG;
            goto out;
        }
        if ((err = bw_conf_set(conf, key, val, sub, sizeof(sub)))) {
            bw_errstr_set(errstr, errstr_size, "%s:%d: %s", path, lineno, sub);
            goto out;
        }
    }
    if (ferror(fp)) {
        bw_errstr_set(errstr, errstr_size, "%s: read error", path);
        err = BW_ERR_IO;
    }
out:
    fclose(fp);
    return err;
}

static void env_name(const char *key, char *out, size_t size) {
    size_t o = 0;

    o += (size_t)snprintf(out, size, "BW_");
    for (const char *p = key; *p && o + 1 < size; p++)
        out[o++] = *p == '.' || *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    out[o] = '\0';
}

bw_err_t bw_conf_load_env(bw_conf_t *conf, char *const *envp, char *errstr, size_t errstr_size) {
    char name[256], sub[512];

    for (int s = 0; s < conf->nsections; s++) {
        const bw_conf_section_t *sec = &conf->sections[s];
        for (size_t i = 0; i < sec->ndefs; i++) {
            const char *v;
            bw_err_t err;
            env_name(sec->defs[i].name, name, sizeof(name));
            if (!(v = getenv(name)))
                continue;
            if ((err = def_set(&sec->defs[i], sec->base, v, sub, sizeof(sub)))) {
                bw_errstr_set(errstr, errstr_size, "environment %s: %s", name, sub);
                return err;
            }
        }
    }
    /* BW_KAFKA_<PROP>: librdkafka property names use only dots, so every
     * '_' turns back into a '.'. */
    for (char *const *e = envp; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        char prop[256];
        size_t n;
        bw_err_t err;

        if (strncmp(*e, "BW_KAFKA_", 9) || !eq)
            continue;
        n = (size_t)(eq - (*e + 9));
        if (n == 0 || n >= sizeof(prop))
            continue;
        for (size_t k = 0; k < n; k++) {
            char c = (*e)[9 + k];
            prop[k] = c == '_' ? '.' : (char)tolower((unsigned char)c);
        }
        prop[n] = '\0';
        if ((err = kafka_set(conf, prop, eq + 1, errstr, errstr_size)))
            return err;
    }
    return BW_ERR_OK;
}

bw_err_t bw_conf_load_args(bw_conf_t *conf, int argc, char *const *argv, char *errstr,
                           size_t errstr_size) {
    char sub[512];

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        char key[256];
        const char *val = NULL, *eq;
        const bw_conf_def_t *def;
        void *base;
        bw_err_t err;

        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            conf->help = true;
            continue;
        }
        if (strncmp(arg, "--", 2) || arg[2] == '\0') {
            if (!conf->positional) {
                bw_errstr_set(errstr, errstr_size, "unexpected argument \"%s\"", arg);
                return BW_ERR_CONFIG;
            }
            if ((err = bw_conf_set(conf, conf->positional, arg, sub, sizeof(sub)))) {
                bw_errstr_set(errstr, errstr_size, "%s", sub);
                return err;
            }
            continue;
        }
        arg += 2;
        if ((eq = strchr(arg, '='))) {
            if ((size_t)(eq - arg) >= sizeof(key)) {
                bw_errstr_set(errstr, errstr_size, "option name too long");
                return BW_ERR_CONFIG;
            }
            memcpy(key, arg, (size_t)(eq - arg));
            key[eq - arg] = '\0';
            val = eq + 1;
        } else {
            if (!bw_strlcpy(key, arg, sizeof(key))) {
                bw_errstr_set(errstr, errstr_size, "option name too long");
                return BW_ERR_CONFIG;
            }
        }
        if (!strcmp(key, "config")) { /* read by bw_conf_load before the rest */
            if (!val)
                i++;
            continue;
        }
        def = conf_find(conf, key, &base);
        if (!val) {
            if (def && def->type == BW_CONF_BOOL &&
                (i + 1 >= argc || !strncmp(argv[i + 1], "--", 2)))
                val = "true";
            else if (i + 1 < argc)
                val = argv[++i];
            else {
                bw_errstr_set(errstr, errstr_size, "--%s needs a value", key);
                return BW_ERR_CONFIG;
            }
        }
        if ((err = bw_conf_set(conf, key, val, sub, sizeof(sub)))) {
            bw_errstr_set(errstr, errstr_size, "--%s", sub);
            return err;
        }
    }
    return BW_ERR_OK;
}

bw_err_t bw_conf_load(bw_conf_t *conf, int argc, char *const *argv, char *const *envp, char *errstr,
                      size_t errstr_size) {
    const char *file = getenv("BW_CONFIG");
    bw_err_t err;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--config")) {
            if (i + 1 >= argc) {
                bw_errstr_set(errstr, errstr_size, "--config needs a file name");
                return BW_ERR_CONFIG;
            }
            file = argv[i + 1];
        } else if (!strncmp(argv[i], "--config=", 9)) {
            file = argv[i] + 9;
        }
    }
    if (file && *file && (err = bw_conf_load_file(conf, file, errstr, errstr_size)))
        return err;
    if ((err = bw_conf_load_env(conf, envp, errstr, errstr_size)))
        return err;
    return bw_conf_load_args(conf, argc, argv, errstr, errstr_size);
}

static const char *type_name(bw_conf_type_t t) {
    switch (t) {
    case BW_CONF_STR:
        return "string";
    case BW_CONF_INT:
        return "integer";
    case BW_CONF_DBL:
        return "number";
    case BW_CONF_BOOL:
        return "bool";
    }
    return "?";
}

void bw_conf_usage(const bw_conf_t *conf, FILE *fp) {
    fprintf(fp, "usage: %s [--config FILE] [--KEY VALUE ...]\n\n", conf->program);
    for (int s = 0; s < conf->nsections; s++) {
        const bw_conf_section_t *sec = &conf->sections[s];
        for (size_t i = 0; i < sec->ndefs; i++) {
            const bw_conf_def_t *d = &sec->defs[i];
            fprintf(fp, "  --%-26s %s", d->name, d->desc);
            if (d->choices)
                fprintf(fp, " (%s)", d->choices);
            if (d->defval && *d->defval)
                fprintf(fp, " [%s]", d->defval);
            fputc('\n', fp);
        }
    }
    fprintf(fp, "  --kafka.PROPERTY           any librdkafka property, passed through\n"
                "\nEvery key can also be set in the config file (key = value) or the\n"
                "environment (BW_ + KEY upper-cased, '.' as '_').\n");
}

/* Markdown cells: a '|' would end the cell. */
static void md_cell(FILE *fp, const char *s) {
    for (; *s; s++) {
        if (*s == '|')
            fputc('\\', fp);
        fputc(*s, fp);
    }
}

void bw_conf_print_markdown(const bw_conf_t *conf, FILE *fp) {
    fprintf(fp, "| key | type | default | range | description |\n|---|---|---|---|---|\n");
    for (int s = 0; s < conf->nsections; s++) {
        const bw_conf_section_t *sec = &conf->sections[s];
        for (size_t i = 0; i < sec->ndefs; i++) {
            const bw_conf_def_t *d = &sec->defs[i];
            bool has_default = d->defval && *d->defval;
            fprintf(fp, "| `%s` | %s | ", d->name, type_name(d->type));
            if (has_default) {
                fputc('`', fp);
                md_cell(fp, d->defval);
                fputc('`', fp);
            }
            fprintf(fp, " | ");
            if (d->choices)
                md_cell(fp, d->choices);
            else if (d->min <= d->max && d->type == BW_CONF_INT)
                fprintf(fp, "%.0f..%.0f", d->min, d->max);
            else if (d->min <= d->max)
                fprintf(fp, "%g..%g", d->min, d->max);
            fprintf(fp, " | ");
            md_cell(fp, d->desc);
            fprintf(fp, " |\n");
        }
    }
}

void bw_conf_destroy(bw_conf_t *conf) {
    for (int s = 0; s < conf->nsections; s++) {
        const bw_conf_section_t *sec = &conf->sections[s];
        for (size_t i = 0; i < sec->ndefs; i++) {
            if (sec->defs[i].type == BW_CONF_STR) {
                char **slot = (char **)((char *)sec->base + sec->defs[i].offset);
                free(*slot);
                *slot = NULL;
            }
        }
    }
    for (int i = 0; i < conf->nkafka; i++) {
        free(conf->kafka_keys[i]);
        free(conf->kafka_vals[i]);
    }
    conf->nkafka = 0;
    conf->nsections = 0;
}
