/*
 * A literal prefilter for the rules, after Suricata's "content before pcre".
 *
 * Measured here: PCRE2's JIT spends 1-2 us on each rule for a 250-byte
 * review whether or not it matches (caseless, UCP, an alternation after \b),
 * so running 30 to 80 rules per review costs 40-150 us. But every match of
 * a rule "\b(?:atras...|demor...)" starts at a word that begins with one of
 * a few literals. bw_prefilter_literals() reads those literals off the
 * pattern; the classifier finds where they occur in the lower-cased text
 * (one table lookup per word start) and runs an ANCHORED copy of the rule
 * at those positions only. A rule whose start cannot be read that way
 * (\w or \d first, a one-letter alternative, an optional first letter) is
 * searched for the usual way: the prefilter never skips a match.
 */
#include "prefilter.h"

#include <string.h>

/* Options for one character: each as its UTF-8 bytes. */
typedef struct {
    unsigned char b[12][4];
    int len[12];
    int n;
} opts_t;

static int add_opt(opts_t *o, const unsigned char *p) {
    int len = 1;

    if (*p >= 0xC0)
        while (len < 4 && (p[len] & 0xC0) == 0x80)
            len++;
    memcpy(o->b[o->n], p, (size_t)len);
    if (len == 1 && *p >= 'A' && *p <= 'Z')
        o->b[o->n][0] = (unsigned char)(*p | 0x20);
    o->len[o->n++] = len;
    return len;
}

/* One character at *pp: a literal, an escaped punctuation, or a small
 * class; false for anything else (groups, \w, quantifiers, ...). */
static bool read_char(const char **pp, const char *end, opts_t *o) {
    const unsigned char *p = (const unsigned char *)*pp;

    o->n = 0;
    if ((const char *)p >= end)
        return false;
    if (*p == '[') {
        p++;
        if (*p == '^' || *p == ']')
            return false;
        while ((const char *)p < end && *p != ']') {
            if (*p == '\\' || p[1] == '-' || o->n >= 12)
                return false;
            p += add_opt(o, p);
        }
        if ((const char *)p >= end)
            return false;
        *pp = (const char *)p + 1;
        return true;
    }
    if (*p == '\\' && p[1] == 'd') { /* a digit: ten one-byte options */
        for (unsigned char d = '0'; d <= '9'; d++)
            add_opt(o, &d);
        *pp = (const char *)p + 2;
        return true;
    }
    if (*p == '\\') {
        if (!p[1] || (p[1] >= 'a' && p[1] <= 'z') || (p[1] >= 'A' && p[1] <= 'Z') ||
            (p[1] >= '0' && p[1] <= '9'))
            return false;
        add_opt(o, p + 1);
        *pp = (const char *)p + 2;
        return true;
    }
    if (strchr("()|?*+{}.^$", *p))
        return false;
    *pp = (const char *)p + add_opt(o, p);
    return true;
}

static bool quantified(const char *p, const char *end) {
    return p < end && (*p == '?' || *p == '*' || *p == '+' || *p == '{');
}

static const char *group_end(const char *p, const char *end);
static const char *skip_lookbehinds(const char *p, const char *end);
static bool each_branch(const char *p, const char *end,
                        bool (*fn)(const char *, const char *, void *), void *arg);
static bool nested_cb(const char *p, const char *end, void *arg);

/* The literal starts of one alternative [p, end), appended to lits. */
static bool alt_literals(const char *p, const char *end, bw_lit_t *lits, int *nlits) {
    bw_lit_t cur[BW_LITS_MAX];
    int ncur = 1, bytes = 0;
    struct {
        bw_lit_t *lits;
        int *nlits;
    } nest = {lits, nlits};

    p = skip_lookbehinds(p, end);
    /* An alternative that opens with a group starts with one of the
     * group's own alternatives: "(?:bad|poor) quality"; with an optional
     * group, or with what follows it: "(?:much )?smaller". */
    if (end - p >= 3 && !strncmp(p, "(?:", 3)) {
        const char *close = group_end(p, end);
        if (!close || !each_branch(p + 3, close, nested_cb, &nest))
            return false;
        if (close + 1 < end && close[1] == '?') {
            const char *rest = close + 2;
            if (rest < end && (*rest == '?' || *rest == '+')) /* lazy, possessive */
                rest++;
            return rest < end && alt_literals(rest, end, lits, nlits);
        }
        return !quantified(close + 1, end);
    }

    memset(&cur[0], 0, sizeof(cur[0]));
    for (;;) {
        const char *save = p;
        opts_t o;
        /* "x+" still starts with one x: take it and stop there */
        bool plus = false;
        if (!read_char(&p, end, &o) || (quantified(p, end) && !(plus = *p == '+'))) {
            p = save;
            break;
        }
        int next_n = ncur * o.n, maxlen = 0;
        if (next_n > BW_LITS_MAX)
            break;
        for (int i = 0; i < o.n; i++)
            maxlen = o.len[i] > maxlen ? o.len[i] : maxlen;
        if (bytes + maxlen >= BW_LIT_MAX)
            break;
        /* every current literal times every option of this character */
        bw_lit_t next[BW_LITS_MAX];
        int k = 0;
        for (int c = 0; c < ncur; c++)
            for (int i = 0; i < o.n; i++) {
                next[k] = cur[c];
                memcpy(next[k].text + next[k].len, o.b[i], (size_t)o.len[i]);
                next[k].len = (uint8_t)(next[k].len + o.len[i]);
                k++;
            }
        memcpy(cur, next, sizeof(bw_lit_t) * (size_t)k);
        ncur = k;
        bytes += maxlen;
        if (plus)
            break;
    }
    for (int c = 0; c < ncur; c++) {
        bool digit = cur[c].len == 1 && cur[c].text[0] >= '0' && cur[c].text[0] <= '9';
        if ((cur[c].len < 2 && !digit) || *nlits >= BW_LITS_MAX)
            return false;
        lits[(*nlits)++] = cur[c];
    }
    return true;
}

static bool nested_cb(const char *p, const char *end, void *arg) {
    struct {
        bw_lit_t *lits;
        int *nlits;
    } *nest = arg;
    return alt_literals(p, end, nest->lits, nest->nlits);
}

/* Split [p, end) at its top-level '|'; call fn on each part. */
static bool each_branch(const char *p, const char *end,
                        bool (*fn)(const char *, const char *, void *), void *arg) {
    const char *start = p;
    int depth = 0;
    bool in_class = false;

    for (; p < end; p++) {
        if (*p == '\\' && p + 1 < end) {
            p++;
            continue;
        }
        if (in_class) {
            in_class = *p != ']';
            continue;
        }
        if (*p == '[')
            in_class = true;
        else if (*p == '(')
            depth++;
        else if (*p == ')')
            depth--;
        else if (*p == '|' && depth == 0) {
            if (!fn(start, p, arg))
                return false;
            start = p + 1;
        }
    }
    return depth == 0 && fn(start, end, arg);
}

/* The end of the group that opens at p ("(?:..."), or NULL. */
static const char *group_end(const char *p, const char *end) {
    int depth = 0;
    bool in_class = false;

    for (; p < end; p++) {
        if (*p == '\\' && p + 1 < end) {
            p++;
            continue;
        }
        if (in_class) {
            in_class = *p != ']';
            continue;
        }
        if (*p == '[')
            in_class = true;
        else if (*p == '(')
            depth++;
        else if (*p == ')' && --depth == 0)
            return p;
    }
    return NULL;
}

typedef struct {
    bw_lit_t *lits;
    int *nlits;
    int word, anywhere; /* branches that start with \b, and without */
} walk_t;

/* Lookbehinds at the start of a branch consume nothing: skip them. */
static const char *skip_lookbehinds(const char *p, const char *end) {
    while (end - p >= 4 && (!strncmp(p, "(?<!", 4) || !strncmp(p, "(?<=", 4))) {
        const char *close = group_end(p, end);
        if (!close)
            return p;
        p = close + 1;
    }
    return p;
}

static bool branch_cb(const char *p, const char *end, void *arg) {
    walk_t *w = arg;

    p = skip_lookbehinds(p, end);
    if (end - p >= 2 && !strncmp(p, "\\b", 2)) {
        w->word++;
        p += 2;
    } else {
        w->anywhere++;
    }
    return alt_literals(p, end, w->lits, w->nlits);
}

bool bw_prefilter_literals(const char *pattern, bool *anywhere, bw_lit_t *lits, int *nlits) {
    walk_t w = {lits, nlits, 0, 0};

    *nlits = 0;
    if (!each_branch(pattern, pattern + strlen(pattern), branch_cb, &w))
        return false;
    /* all branches at word starts, or all anywhere: mixed is not worth it */
    if (w.word && w.anywhere)
        return false;
    *anywhere = w.anywhere > 0;
    return *nlits > 0;
}

/* ---- later literals ---- */

typedef struct {
    bw_lit_t *lits;
    int *nlits;
    bool ok;
} later_t;

/* The quantifier at p: its end, and whether it lets its element match
 * nothing. No quantifier: p itself. */
static const char *quantifier(const char *p, const char *end, bool *zero) {
    *zero = false;
    if (p >= end)
        return p;
    if (*p == '?' || *p == '*') {
        *zero = true;
        p++;
    } else if (*p == '+') {
        p++;
    } else if (*p == '{') {
        const char *close = memchr(p, '}', (size_t)(end - p));
        if (!close)
            return p;
        *zero = p[1] == '0' || p[1] == ',';
        p = close + 1;
    } else {
        return p;
    }
    if (p < end && (*p == '?' || *p == '+')) /* lazy, possessive */
        p++;
    return p;
}

static bool branch_ends_nonword(const char *p, const char *end, void *arg);

/* Is the character before position `end` of a branch [p, end) sure to be
 * a non-word one (a space, \s) or at a \b, whatever the branch matched?
 * `state` says so for p. False when unsure. */
static bool nonword_before(const char *p, const char *end, bool state) {
    while (p < end) {
        const char *e;
        bool nonword = false, zero;
        if (end - p >= 2 && !strncmp(p, "\\b", 2)) {
            state = true;
            p += 2;
            continue;
        }
        if (end - p >= 3 && (!strncmp(p, "(?=", 3) || !strncmp(p, "(?!", 3) ||
                             !strncmp(p, "(?<", 3))) { /* consumes nothing */
            if (!(e = group_end(p, end)))
                return false;
            p = e + 1;
            continue;
        }
        if (*p == '(') {
            if (!(e = group_end(p, end)))
                return false;
            const char *in = p + 1;
            if (end - p >= 3 && !strncmp(p, "(?:", 3))
                in = p + 3;
            else if (p + 1 < end && p[1] == '?') /* other (?...) forms: unsure */
                return false;
            nonword = each_branch(in, e, branch_ends_nonword, NULL);
            e++;
        } else if (*p == '\\' && p + 1 < end) {
            nonword = p[1] == 's' || p[1] == ' ';
            e = p + 2;
        } else if (*p == '[') {
            if (!(e = memchr(p + 1, ']', (size_t)(end - p - 1))))
                return false;
            e++;
        } else {
            nonword = *p == ' ';
            e = p + 1;
            while (e < end && ((unsigned char)*e & 0xC0) == 0x80) /* UTF-8 */
                e++;
        }
        p = quantifier(e, end, &zero);
        state = zero ? state && nonword : nonword;
    }
    return state;
}

static bool branch_ends_nonword(const char *p, const char *end, void *arg) {
    (void)arg;
    return nonword_before(p, end, false);
}

/* An alternative that opens with a group may start its literal after an
 * optional part ("(?:super)?legal"): not at a word start for sure. */
static bool starts_plain(const char *p, const char *end, void *arg) {
    (void)arg;
    return p < end && *p != '(';
}

static bool starts_with_word_byte(const bw_lit_t *l) {
    unsigned char c = (unsigned char)l->text[0];
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c >= 0xC3 && c <= 0xC5);
}

/* The last mandatory group of a branch (a "(?:...)" at its top level, not
 * quantified, after its first element) and its literal starts. */
static bool later_branch(const char *p, const char *end, void *arg) {
    later_t *lt = arg;
    const char *best = NULL, *best_close = NULL;
    int depth = 0;
    bool in_class = false, first = true;

    for (const char *q = p; q < end; q++) {
        if (*q == '\\' && q + 1 < end) {
            q++;
            continue;
        }
        if (in_class) {
            in_class = *q != ']';
            continue;
        }
        if (*q == '[') {
            in_class = true;
        } else if (*q == '(') {
            if (depth == 0 && end - q >= 3 && !strncmp(q, "(?:", 3)) {
                const char *close = group_end(q, end);
                if (!close)
                    return false;
                if (!first && !quantified(close + 1, end)) {
                    best = q;
                    best_close = close;
                }
                first = false;
            }
            depth++;
        } else if (*q == ')') {
            depth--;
        }
    }
    if (!best)
        return false;
    struct {
        bw_lit_t *lits;
        int *nlits;
    } nest = {lt->lits, lt->nlits};
    int first_new = *lt->nlits;
    if (!each_branch(best + 3, best_close, nested_cb, &nest))
        return false;
    bool at_word =
        nonword_before(p, best, false) && each_branch(best + 3, best_close, starts_plain, NULL);
    for (int k = first_new; k < *lt->nlits; k++)
        lt->lits[k].at_word = at_word && starts_with_word_byte(&lt->lits[k]);
    return true;
}

bool bw_prefilter_later(const char *pattern, bw_lit_t *lits, int *nlits) {
    later_t lt = {lits, nlits, true};

    *nlits = 0;
    return each_branch(pattern, pattern + strlen(pattern), later_branch, &lt) && *nlits > 0;
}
