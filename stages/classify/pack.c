/*
 * Rule pack loading: every *.rules file of a folder, parsed line by line,
 * every pattern compiled with PCRE2 JIT. The format is in rules/README.md.
 * Loading is all or nothing, so a bad pack can never half-replace a good
 * one on SIGHUP.
 */
#include "pack.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bw_util.h"

static const char *target_names[BW_T__CNT] = {
#define BW_CAUSE_NAME_(id, name) name,
    BW_CAUSES(BW_CAUSE_NAME_)
#undef BW_CAUSE_NAME_
        "policy.ask_change",
    "policy.incentive",
    "topic.product",
    "topic.seller",
    "personal_data",
};

const char *bw_target_name(bw_target_t t) {
    return (unsigned)t < BW_T__CNT ? target_names[t] : "?";
}

int bw_target_parse(const char *name) {
    for (int i = 0; i < BW_T__CNT; i++)
        if (!strcmp(target_names[i], name))
            return i;
    return -1;
}

static const char *lang_codes[BW_LANG__CNT] = {
#define BW_LANG_CODE_(id, code) code,
    BW_LANGS(BW_LANG_CODE_)
#undef BW_LANG_CODE_
};

const char *bw_lang_code(bw_lang_t lang) {
    return (unsigned)lang < BW_LANG__CNT ? lang_codes[lang] : "?";
}

int bw_lang_parse(const char *code) {
    char two[3];

    if (!code || strlen(code) < 2 || (code[2] && code[2] != '-' && code[2] != '_'))
        return -1;
    two[0] = (char)(code[0] | 0x20);
    two[1] = (char)(code[1] | 0x20);
    two[2] = '\0';
    for (int i = 1; i < BW_LANG__CNT; i++)
        if (!strcmp(lang_codes[i], two))
            return i;
    return -1;
}

/* ---- word maps ---- */

uint64_t wordmap_hash(const char *s, size_t len) {
    uint64_t h = BW_FNV_OFFSET;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * BW_FNV_PRIME;
    return h;
}

bool wordmap_put(wordmap_t *m, const char *key, size_t len, double val) {
    uint64_t h = wordmap_hash(key, len);

    if ((m->n + 1) * 2 > m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 64;
        wordmap_t nm = {calloc(ncap, sizeof(char *)), calloc(ncap, sizeof(uint64_t)),
                        calloc(ncap, sizeof(double)), ncap, 0};
        if (!nm.keys || !nm.hashes || !nm.vals) {
            free(nm.keys);
            free(nm.hashes);
            free(nm.vals);
            return false;
        }
        for (size_t i = 0; i < m->cap; i++)
            if (m->keys[i]) {
                size_t k = m->hashes[i] & (ncap - 1);
                while (nm.keys[k])
                    k = (k + 1) & (ncap - 1);
                nm.keys[k] = m->keys[i];
                nm.hashes[k] = m->hashes[i];
                nm.vals[k] = m->vals[i];
                nm.n++;
            }
        free(m->keys);
        free(m->hashes);
        free(m->vals);
        *m = nm;
    }
    size_t k = h & (m->cap - 1);
    while (m->keys[k]) {
        if (m->hashes[k] == h && strlen(m->keys[k]) == len && !memcmp(m->keys[k], key, len)) {
            m->vals[k] = val; /* a later line overrides */
            return true;
        }
        k = (k + 1) & (m->cap - 1);
    }
    if (!(m->keys[k] = strndup(key, len)))
        return false;
    m->hashes[k] = h;
    m->vals[k] = val;
    m->n++;
    return true;
}

bool wordmap_get_h(const wordmap_t *m, const char *key, size_t len, uint64_t h, double *val) {
    if (!m->cap)
        return false;
    size_t k = h & (m->cap - 1);
    while (m->keys[k]) {
        if (m->hashes[k] == h && !strncmp(m->keys[k], key, len) && m->keys[k][len] == '\0') {
            if (val)
                *val = m->vals[k];
            return true;
        }
        k = (k + 1) & (m->cap - 1);
    }
    return false;
}

bool wordmap_get(const wordmap_t *m, const char *key, size_t len, double *val) {
    return m->cap && wordmap_get_h(m, key, len, wordmap_hash(key, len), val);
}

void wordmap_free(wordmap_t *m) {
    for (size_t i = 0; i < m->cap; i++)
        free(m->keys[i]);
    free(m->keys);
    free(m->hashes);
    free(m->vals);
    memset(m, 0, sizeof(*m));
}

void lower_utf8(const char *in, size_t len, char *out) {
    bool after_c3 = false;

    for (size_t i = 0; i < len; i++)
        out[i] = (char)lower_byte((unsigned char)in[i], &after_c3);
}

/* ---- parsing ---- */

typedef struct {
    bw_pack_t *pack;
    const char *file;
    int line;
    bw_lang_t lang;
    bool have_lang;
    char *errstr;
    size_t errstr_size;
} parse_ctx_t;

static bool perr(parse_ctx_t *px, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool perr(parse_ctx_t *px, const char *fmt, ...) {
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    bw_errstr_set(px->errstr, px->errstr_size, "%s:%d: %s", px->file, px->line, msg);
    return false;
}

/* Next whitespace-separated token of *p; NULL at the end. */
static char *next_token(char **p) {
    char *s = *p, *t;

    while (*s == ' ' || *s == '\t')
        s++;
    if (!*s)
        return NULL;
    t = s;
    while (*s && *s != ' ' && *s != '\t')
        s++;
    if (*s)
        *s++ = '\0';
    *p = s;
    return t;
}

static char *rest_of_line(char *p) {
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

static pcre2_code *compile_opts(parse_ctx_t *px, const char *pattern, uint32_t extra) {
    int errcode, rc;
    PCRE2_SIZE erroff;
    pcre2_code *code;
    char msg[256];

    if (!*pattern) {
        perr(px, "missing pattern");
        return NULL;
    }
    code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                         PCRE2_UTF | PCRE2_UCP | PCRE2_CASELESS | PCRE2_MATCH_INVALID_UTF | extra,
                         &errcode, &erroff, NULL);
    if (!code) {
        pcre2_get_error_message(errcode, (PCRE2_UCHAR *)msg, sizeof(msg));
        perr(px, "pattern does not compile at offset %zu: %s", (size_t)erroff, msg);
        return NULL;
    }
    if ((rc = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE)) != 0) {
        pcre2_get_error_message(rc, (PCRE2_UCHAR *)msg, sizeof(msg));
        pcre2_code_free(code);
        perr(px, "JIT compilation failed: %s", msg);
        return NULL;
    }
    return code;
}

static pcre2_code *compile(parse_ctx_t *px, const char *pattern) {
    return compile_opts(px, pattern, 0);
}

static bool parse_target(parse_ctx_t *px, const char *name, bw_target_t *t) {
    int v = name ? bw_target_parse(name) : -1;

    if (v < 0)
        return perr(px, "unknown cause \"%s\"", name ? name : "");
    *t = (bw_target_t)v;
    return true;
}

static bool add_rule(parse_ctx_t *px, char *p, bool self_negating) {
    lang_pack_t *lp = &px->pack->langs[px->lang];
    char *id = next_token(&p), *cause = next_token(&p), *weight = next_token(&p), *pattern;
    rule_t r = {.self_negating = self_negating, .need_byte = -1};

    if (!id || !weight)
        return perr(px, "expected: rule ID CAUSE WEIGHT PATTERN");
    if (!parse_target(px, cause, &r.target))
        return false;
    if (!bw_parse_double(weight, &r.weight) || r.weight <= 0 || r.weight > 10)
        return perr(px, "weight must be a number in (0, 10], got \"%s\"", weight);
    pattern = rest_of_line(p);
    /* (?#need:X) is a PCRE2 comment the engine ignores; it tells the
     * classifier when a rule cannot match, without running it. */
    if (!strncmp(pattern, "(?#need:digits=", 15))
        r.need_digits = atoi(pattern + 15);
    else if (!strncmp(pattern, "(?#need:", 8) && pattern[8] && pattern[9] == ')')
        r.need_byte = (unsigned char)pattern[8];
    if (lp->nrules + lp->nguards >= BW_MAX_RULES_PER_LANG)
        return perr(px, "more than %d rules and guards for one language", BW_MAX_RULES_PER_LANG);
    for (size_t i = 0; i < lp->nrules; i++)
        if (!strcmp(lp->rules[i].id, id))
            return perr(px, "rule id \"%s\" used twice", id);
    if (!(r.code = compile(px, pattern)))
        return false;
    if (lp->nrules == lp->caprules) {
        size_t ncap = lp->caprules ? lp->caprules * 2 : 32;
        rule_t *nr = realloc(lp->rules, ncap * sizeof(*nr));
        if (!nr) {
            pcre2_code_free(r.code);
            return perr(px, "out of memory");
        }
        lp->rules = nr;
        lp->caprules = ncap;
    }
    if (!(r.id = strdup(id)) || !(r.pattern = strdup(pattern))) {
        free(r.id);
        pcre2_code_free(r.code);
        return perr(px, "out of memory");
    }
    lp->rules[lp->nrules++] = r;
    px->pack->nrules++;
    return true;
}

static bool add_guard(parse_ctx_t *px, char *p) {
    lang_pack_t *lp = &px->pack->langs[px->lang];
    char *id = next_token(&p), *cause = next_token(&p);
    guard_t g = {0};

    if (!id)
        return perr(px, "expected: guard ID CAUSE PATTERN");
    if (!parse_target(px, cause, &g.target))
        return false;
    if (lp->nrules + lp->nguards >= BW_MAX_RULES_PER_LANG)
        return perr(px, "more than %d rules and guards for one language", BW_MAX_RULES_PER_LANG);
    if (!(g.code = compile(px, rest_of_line(p))))
        return false;
    if (lp->nguards == lp->capguards) {
        size_t ncap = lp->capguards ? lp->capguards * 2 : 8;
        guard_t *ng = realloc(lp->guards, ncap * sizeof(*ng));
        if (!ng) {
            pcre2_code_free(g.code);
            return perr(px, "out of memory");
        }
        lp->guards = ng;
        lp->capguards = ncap;
    }
    if (!(g.id = strdup(id)) || !(g.pattern = strdup(rest_of_line(p)))) {
        free(g.id);
        pcre2_code_free(g.code);
        return perr(px, "out of memory");
    }
    lp->guards[lp->nguards++] = g;
    return true;
}

static bool add_words(parse_ctx_t *px, wordmap_t *m, char *p, double val) {
    char *w, low[256];
    int n = 0;

    while ((w = next_token(&p))) {
        size_t len = strlen(w);
        if (len >= sizeof(low))
            return perr(px, "word longer than %zu bytes", sizeof(low) - 1);
        /* '_' joins words of a phrase ("ne_pas") and stands for a space */
        for (size_t i = 0; i < len; i++)
            if (w[i] == '_')
                w[i] = ' ';
        lower_utf8(w, len, low);
        low[len] = '\0'; /* lower_utf8 does not terminate (found by fuzz_pack) */
        if (!wordmap_put(m, low, len, val))
            return perr(px, "out of memory");
        n++;
    }
    return n ? true : perr(px, "no words given");
}

static bool add_phrases(parse_ctx_t *px, phrase_t **arr, size_t *n, size_t *cap, char *p,
                        double val) {
    char *w;

    while ((w = next_token(&p))) {
        if (*n == *cap) {
            size_t ncap = *cap ? *cap * 2 : 64;
            phrase_t *np = realloc(*arr, ncap * sizeof(*np));
            if (!np)
                return perr(px, "out of memory");
            *arr = np;
            *cap = ncap;
        }
        if (!((*arr)[*n].text = strdup(w)))
            return perr(px, "out of memory");
        (*arr)[*n].len = strlen(w);
        (*arr)[(*n)++].valence = val;
    }
    return true;
}

static bool parse_line(parse_ctx_t *px, char *line) {
    char *p = line, *kw = next_token(&p), *num;
    double v;

    if (!kw || kw[0] == '#')
        return true;
    if (!strcmp(kw, "lang")) {
        char *code = next_token(&p);
        int l = code && !strcmp(code, "*") ? BW_LANG_ANY : bw_lang_parse(code);
        if (l < 0 || (code && strlen(code) != (l == BW_LANG_ANY ? 1u : 2u)))
            return perr(px, "unknown language \"%s\"", code ? code : "");
        px->lang = (bw_lang_t)l;
        px->have_lang = true;
        return true;
    }
    if (!px->have_lang)
        return perr(px, "\"lang\" must come before \"%s\"", kw);
    if (!strcmp(kw, "rule") || !strcmp(kw, "rule!"))
        return add_rule(px, p, kw[4] == '!');
    if (!strcmp(kw, "guard"))
        return add_guard(px, p);
    if (!strcmp(kw, "negation"))
        return add_words(px, &px->pack->langs[px->lang].negations, p, 1);
    if (!strcmp(kw, "contrast"))
        return add_words(px, &px->pack->langs[px->lang].contrasts, p, 1);
    if (!strcmp(kw, "stopwords"))
        return add_words(px, &px->pack->langs[px->lang].stopwords, p, 1);
    if (!strcmp(kw, "intensifier") || !strcmp(kw, "lex") || !strcmp(kw, "phrase") ||
        !strcmp(kw, "neglex") || !strcmp(kw, "hint")) {
        lang_pack_t *lp = &px->pack->langs[px->lang];
        if (!(num = next_token(&p)) || !bw_parse_double(num, &v) || v < -4 || v > 4)
            return perr(px, "%s needs a value in -4..4 first", kw);
        if (!strcmp(kw, "phrase"))
            return add_phrases(px, &lp->phrases, &lp->nphrases, &lp->capphrases, p, v);
        if (!strcmp(kw, "hint"))
            return add_phrases(px, &lp->hints, &lp->nhints, &lp->caphints, p, v);
        if (!strcmp(kw, "neglex"))
            return add_words(px, &px->pack->langs[px->lang].neglexicon, p, v);
        return add_words(px,
                         kw[0] == 'i' ? &px->pack->langs[px->lang].intensifiers
                                      : &px->pack->langs[px->lang].lexicon,
                         p, v);
    }
    return perr(px, "unknown keyword \"%s\"", kw);
}

static bool load_file(bw_pack_t *pack, const char *path, const char *name, char *errstr,
                      size_t errstr_size) {
    parse_ctx_t px = {pack, name, 0, BW_LANG_ANY, false, errstr, errstr_size};
    FILE *fp = fopen(path, "r");
    char line[8192];
    bool ok = true;

    if (!fp) {
        bw_errstr_set(errstr, errstr_size, "%s: %s", path, strerror(errno));
        return false;
    }
    while (ok && fgets(line, sizeof(line), fp)) {
        size_t n = strlen(line);
        px.line++;
        if (n == sizeof(line) - 1 && line[n - 1] != '\n' && !feof(fp)) {
            ok = perr(&px, "line longer than %zu bytes", sizeof(line) - 2);
            break;
        }
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
            line[--n] = '\0';
        if (bw_utf8_check(line, n) >= 0)
            ok = perr(&px, "not UTF-8");
        else
            ok = parse_line(&px, line);
    }
    fclose(fp);
    return ok;
}

static int trig_cmp(const void *a, const void *b) {
    const trig_t *x = a, *y = b;
    return x->key < y->key ? -1 : x->key > y->key ? 1 : x->rule - y->rule;
}

static bool table_add(trig_table_t *t, size_t *cap, uint16_t rule, const bw_lit_t *lit) {
    if (t->ntrigs == *cap) {
        size_t ncap = *cap ? *cap * 2 : 256;
        trig_t *n = realloc(t->trigs, ncap * sizeof(*n));
        if (!n)
            return false;
        t->trigs = n;
        *cap = ncap;
    }
    if (lit->len < (t->key3 ? 3 : 2))
        return false;
    trig_t *tr = &t->trigs[t->ntrigs++];
    memset(tr, 0, sizeof(*tr));
    tr->rule = rule;
    tr->len = lit->len;
    memcpy(tr->text, lit->text, lit->len);
    tr->key = (uint16_t)trig_key((const unsigned char *)lit->text, t->key3);
    return true;
}

static int trig_cmp_longest(const void *a, const void *b) {
    const trig_t *x = a, *y = b;
    return x->key < y->key ? -1 : x->key > y->key ? 1 : (int)y->len - (int)x->len;
}

static bool table_index_sorted(trig_table_t *t, int (*cmp)(const void *, const void *)) {
    if (!t->ntrigs)
        return true;
    qsort(t->trigs, t->ntrigs, sizeof(trig_t), cmp);
    if (!(t->index = calloc(65537, sizeof(uint32_t))) ||
        !(t->heads = calloc(t->ntrigs, sizeof(uint64_t))) ||
        !(t->masks = calloc(t->ntrigs, sizeof(uint64_t))))
        return false;
    for (size_t i = 0; i < t->ntrigs; i++) {
        static const unsigned char ones[8] = {255, 255, 255, 255, 255, 255, 255, 255};
        size_t n = t->trigs[i].len < 8 ? t->trigs[i].len : 8;
        memcpy(&t->heads[i], t->trigs[i].text, n);
        memcpy(&t->masks[i], ones, n);
    }
    for (size_t i = 0; i < t->ntrigs; i++) {
        t->index[t->trigs[i].key + 1u]++;
        t->used[t->trigs[i].key >> 6] |= 1ull << (t->trigs[i].key & 63);
    }
    for (size_t k = 1; k <= 65536; k++)
        t->index[k] += t->index[k - 1];
    return true;
}

static bool table_index(trig_table_t *t) {
    return table_index_sorted(t, trig_cmp);
}

/* within a bucket the longest first, for longest-match scans */
static bool table_index_longest(trig_table_t *t) {
    return table_index_sorted(t, trig_cmp_longest);
}

typedef struct {
    size_t words, any, later, digits;
} caps_t;

/* The start literals of one rule or guard (id: its index, guards after
 * the rules) into the tables, and its ANCHORED copy; nothing when its
 * start cannot be read (it is then searched the usual way). */
static bool prefilter_entry(lang_pack_t *lp, parse_ctx_t *px, caps_t *caps, size_t id,
                            const char *what, const char *pattern, pcre2_code **anchored) {
    bw_lit_t lits[BW_LITS_MAX];
    bool anywhere, digit_start = false;
    int nlits;

    if (id > UINT16_MAX || !bw_prefilter_literals(pattern, &anywhere, lits, &nlits))
        return true;
    for (int k = 0; k < nlits; k++)
        if (anywhere && lits[k].len < 3)
            return true;
    if (!(*anchored = compile_opts(px, pattern, PCRE2_ANCHORED)))
        return false;
    for (int k = 0; k < nlits; k++) {
        if (lits[k].len == 1) { /* a digit (\d): no two-byte bucket */
            digit_start = true;
            continue;
        }
        if (!table_add(anywhere ? &lp->anywhere : &lp->at_words,
                       anywhere ? &caps->any : &caps->words, (uint16_t)id, &lits[k]))
            return perr(px, "%s: out of memory", what);
    }
    if (digit_start) {
        if (!bw_grow((void **)&lp->digit_rules, &caps->digits, lp->ndigit_rules, sizeof(uint16_t)))
            return perr(px, "%s: out of memory", what);
        lp->digit_rules[lp->ndigit_rules++] = (uint16_t)id;
    }
    return true;
}

/* A rule whose later literals (see bw_prefilter_later) are all absent
 * from a text is not run on it. */
static bool prefilter_later(lang_pack_t *lp, parse_ctx_t *px, caps_t *caps, size_t id) {
    rule_t *r = &lp->rules[id];
    bw_lit_t later[BW_LITS_MAX];
    int nlater;
    bool usable = bw_prefilter_later(r->pattern, later, &nlater);

    for (int k = 0; usable && k < nlater; k++)
        usable = later[k].len >= 2; /* a digit: too common to skip on */
    if (!usable)
        return true;
    r->need_later = true;
    for (int k = 0; k < nlater; k++) {
        /* at a word start: found in the pass over word starts, else in the
         * pass over every byte */
        trig_table_t *t = later[k].at_word ? &lp->at_words : &lp->later;
        if (!table_add(t, later[k].at_word ? &caps->words : &caps->later, (uint16_t)id, &later[k]))
            return perr(px, "rule %s: out of memory", r->id);
        t->trigs[t->ntrigs - 1].later = later[k].at_word;
    }
    return true;
}

/* The prefilter of one language: literals and ANCHORED copies of the rules
 * and guards whose start can be read off their pattern (see prefilter.c). */
static bool build_prefilter(lang_pack_t *lp, parse_ctx_t *px) {
    caps_t caps = {0, 0, 0, 0};

    lp->anywhere.key3 = true;
    for (size_t i = 0; i < lp->nrules; i++) {
        rule_t *r = &lp->rules[i];
        if (!prefilter_entry(lp, px, &caps, i, r->id, r->pattern, &r->anchored))
            return false;
        if (!r->anchored)
            lp->nsearched++;
        else if (!prefilter_later(lp, px, &caps, i))
            return false;
    }
    for (size_t g = 0; g < lp->nguards; g++) {
        guard_t *gd = &lp->guards[g];
        if (!prefilter_entry(lp, px, &caps, lp->nrules + g, gd->id, gd->pattern, &gd->anchored))
            return false;
    }
    if (!table_index(&lp->at_words) || !table_index(&lp->anywhere) || !table_index(&lp->later))
        return perr(px, "out of memory");
    return true;
}

/* The element of an array that map m indexes by word: the one key names,
 * or a new one at the end (*fresh). */
static void *keyed_slot(wordmap_t *m, const char *key, size_t len, void **arr, size_t *n,
                        size_t *cap, size_t elem, bool *fresh) {
    double idx;

    *fresh = false;
    if (wordmap_get(m, key, len, &idx))
        return (char *)*arr + (size_t)idx * elem;
    if (!bw_grow(arr, cap, *n, elem) || !wordmap_put(m, key, len, (double)*n))
        return NULL;
    *fresh = true;
    return (char *)*arr + (*n)++ * elem;
}

/* The entry of a word in the map of every language's words. */
static word_entry_t *entry_of(bw_pack_t *pack, const char *key, size_t *cap) {
    bool fresh;
    word_entry_t *e = keyed_slot(&pack->words, key, strlen(key), (void **)&pack->entries,
                                 &pack->nentries, cap, sizeof(*e), &fresh);

    if (e && fresh) {
        e->stop_langs = 0;
        for (int l = 0; l < BW_LANG__CNT; l++)
            e->info[l] = -1;
    }
    return e;
}

/* One map of every word of every language: what it means in each (see
 * build_words) and which languages it is a stop word of. */
static bool build_all_words(bw_pack_t *pack) {
    size_t cap = 0;

    for (int l = 0; l < BW_LANG__CNT; l++) {
        const lang_pack_t *lp = &pack->langs[l];
        for (size_t k = 0; k < lp->words.cap; k++) {
            word_entry_t *e;
            if (!lp->words.keys[k])
                continue;
            if (!(e = entry_of(pack, lp->words.keys[k], &cap)))
                return false;
            e->info[l] = (int32_t)lp->words.vals[k];
        }
        for (size_t k = 0; k < lp->stopwords.cap; k++) {
            word_entry_t *e;
            if (!lp->stopwords.keys[k])
                continue;
            if (!(e = entry_of(pack, lp->stopwords.keys[k], &cap)))
                return false;
            e->stop_langs |= (uint16_t)(1u << l);
        }
    }
    return true;
}

/* One map of everything a word can mean in a language (see wordinfo_t). */
static wordinfo_t *word_slot(lang_pack_t *lp, const char *key, size_t len, size_t *cap) {
    bool fresh;
    wordinfo_t *w =
        keyed_slot(&lp->words, key, len, (void **)&lp->infos, &lp->ninfos, cap, sizeof(*w), &fresh);

    if (w && fresh)
        memset(w, 0, sizeof(*w));
    return w;
}

static bool build_words(lang_pack_t *lp) {
    const wordmap_t *maps[] = {&lp->lexicon, &lp->neglexicon, &lp->intensifiers, &lp->negations,
                               &lp->contrasts};
    size_t cap = 0;

    for (int m = 0; m < 5; m++)
        for (size_t k = 0; k < maps[m]->cap; k++) {
            const char *key = maps[m]->keys[k];
            wordinfo_t *wi;
            if (!key)
                continue;
            if (!(wi = word_slot(lp, key, strlen(key), &cap)))
                return false;
            switch (m) {
            case 0:
                wi->lex = (float)maps[m]->vals[k];
                break;
            case 1:
                wi->neglex = (float)maps[m]->vals[k];
                break;
            case 2:
                wi->intens = (float)maps[m]->vals[k];
                break;
            case 3:
                wi->flags |= BW_WORD_NEGATION;
                break;
            default:
                wi->flags |= BW_WORD_CONTRAST;
            }
        }
    return true;
}

static int name_cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

bw_pack_t *bw_pack_load(const char *dir, char *errstr, size_t errstr_size) {
    bw_pack_t *pack = calloc(1, sizeof(*pack));
    DIR *d = NULL;
    struct dirent *de;
    char *names[256], path[4096];
    int n = 0;
    bool ok = true;

    if (!pack) {
        bw_errstr_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    if (!(d = opendir(dir))) {
        bw_errstr_set(errstr, errstr_size, "%s: %s", dir, strerror(errno));
        goto err;
    }
    while ((de = readdir(d)) && n < (int)BW_ARRAY_SIZE(names)) {
        size_t len = strlen(de->d_name);
        if (len > 6 && !strcmp(de->d_name + len - 6, ".rules") && de->d_name[0] != '.')
            if (!(names[n++] = strdup(de->d_name))) {
                n--;
                ok = false;
            }
    }
    closedir(d);
    /* Sorted, so that rule order (and thus the explanation) is stable. */
    qsort(names, (size_t)n, sizeof(*names), name_cmp);
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        if (ok && !load_file(pack, path, names[i], errstr, errstr_size))
            ok = false;
        free(names[i]);
    }
    if (!ok)
        goto err;
    if (pack->nrules == 0) {
        bw_errstr_set(errstr, errstr_size, "%s: no rules (*.rules files)", dir);
        goto err;
    }
    {
        size_t cap = 0;
        for (int l = 0; l < BW_LANG__CNT; l++)
            for (size_t h = 0; h < pack->langs[l].nhints; h++) {
                const phrase_t *ph = &pack->langs[l].hints[h];
                bw_lit_t lit = {.len = (uint8_t)ph->len};
                if (ph->len < 2 || ph->len >= BW_LIT_MAX) {
                    bw_errstr_set(errstr, errstr_size, "hint \"%s\": 2 to %d bytes", ph->text,
                                  BW_LIT_MAX - 1);
                    goto err;
                }
                memcpy(lit.text, ph->text, ph->len);
                if (!table_add(&pack->hints, &cap, (uint16_t)l, &lit))
                    goto err;
                pack->hints.trigs[pack->hints.ntrigs - 1].value = (float)ph->valence;
            }
        if (!table_index(&pack->hints))
            goto err;
    }
    for (int l = 0; l < BW_LANG__CNT; l++)
        if (!build_words(&pack->langs[l])) {
            bw_errstr_set(errstr, errstr_size, "out of memory");
            goto err;
        }
    if (!build_all_words(pack)) {
        bw_errstr_set(errstr, errstr_size, "out of memory");
        goto err;
    }
    for (int l = 0; l < BW_LANG__CNT; l++) {
        lang_pack_t *lp = &pack->langs[l];
        size_t cap = 0;
        lp->phrase_index.key3 = true;
        for (size_t k = 0; k < lp->nphrases; k++) {
            bw_lit_t lit = {.len = (uint8_t)lp->phrases[k].len};
            if (lp->phrases[k].len < 3 || lp->phrases[k].len >= BW_LIT_MAX) {
                bw_errstr_set(errstr, errstr_size, "phrase \"%s\": 3 to %d bytes",
                              lp->phrases[k].text, BW_LIT_MAX - 1);
                goto err;
            }
            memcpy(lit.text, lp->phrases[k].text, lit.len);
            if (!table_add(&lp->phrase_index, &cap, 0, &lit))
                goto err;
            lp->phrase_index.trigs[lp->phrase_index.ntrigs - 1].value =
                (float)lp->phrases[k].valence;
            unsigned char b = (unsigned char)lit.text[0];
            lp->phrase_index.first[b >> 6] |= 1ULL << (b & 63);
            if (b < 0x80)
                lp->phrase_index.ascii_start = true;
        }
        if (!table_index_longest(&lp->phrase_index))
            goto err;
        parse_ctx_t px = {pack, "(prefilter)", 0, (bw_lang_t)l, true, errstr, errstr_size};
        if (!build_prefilter(&pack->langs[l], &px))
            goto err;
    }
    return pack;
err:
    bw_pack_destroy(pack);
    return NULL;
}

static void table_free(trig_table_t *t) {
    free(t->index);
    free(t->trigs);
    free(t->heads);
    free(t->masks);
}

void bw_pack_destroy(bw_pack_t *pack) {
    if (!pack)
        return;
    table_free(&pack->hints);
    wordmap_free(&pack->words);
    free(pack->entries);
    for (int l = 0; l < BW_LANG__CNT; l++) {
        lang_pack_t *lp = &pack->langs[l];
        for (size_t i = 0; i < lp->nrules; i++) {
            free(lp->rules[i].id);
            free(lp->rules[i].pattern);
            pcre2_code_free(lp->rules[i].code);
            pcre2_code_free(lp->rules[i].anchored);
        }
        table_free(&lp->at_words);
        free(lp->digit_rules);
        table_free(&lp->anywhere);
        table_free(&lp->later);
        table_free(&lp->phrase_index);
        for (size_t i = 0; i < lp->nguards; i++) {
            free(lp->guards[i].id);
            free(lp->guards[i].pattern);
            pcre2_code_free(lp->guards[i].code);
            pcre2_code_free(lp->guards[i].anchored);
        }
        for (size_t i = 0; i < lp->nphrases; i++)
            free(lp->phrases[i].text);
        for (size_t i = 0; i < lp->nhints; i++)
            free(lp->hints[i].text);
        free(lp->hints);
        free(lp->rules);
        free(lp->guards);
        free(lp->phrases);
        wordmap_free(&lp->negations);
        wordmap_free(&lp->contrasts);
        wordmap_free(&lp->intensifiers);
        wordmap_free(&lp->lexicon);
        wordmap_free(&lp->neglexicon);
        wordmap_free(&lp->stopwords);
        wordmap_free(&lp->words);
        free(lp->infos);
    }
    free(pack);
}

size_t bw_pack_rule_count(const bw_pack_t *pack) {
    return pack->nrules;
}
