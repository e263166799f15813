#define _GNU_SOURCE /* memmem */
/*
 * Classification of one review: language, rules (with negation and guards),
 * sentiment, and the findings built on them (primary cause, severity,
 * removable feedback, policy flags, whether a response is due).
 */
#include "pack.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bw_util.h"

/* Match limits: no input may make one rule take long. The JIT counts
 * calls of its internal match function; 50,000 is far above what any rule
 * needs on 16 KiB of text and stops catastrophic backtracking early. */
#define MATCH_LIMIT 50000
#define DEPTH_LIMIT 1000
#define NEGATION_WINDOW 3 /* words before a match that can negate it */

typedef struct {
    size_t start, len;
    uint64_t hash; /* of the lower-cased token, computed once */
    const word_entry_t *entry; /* what it is in every language, or NULL */
    wordinfo_t info; /* what it means in the text's language */
} token_t;

typedef struct {
    uint32_t rule, pos;
} hit_t;

#define BW_MAX_HITS 1024

struct bw_classifier_s {
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jit_stack;
    bw_buf_t text; /* title + "\n" + body */
    bw_buf_t lower; /* the same, lower-cased, same offsets */
    token_t *tokens;
    size_t ntokens, captokens;
    uint32_t *starts; /* word starts for the prefilter, in order */
    size_t nstarts, capstarts;
    hit_t hits[BW_MAX_HITS]; /* prefilter: (rule, position) in position order */
    hit_t sorted[BW_MAX_HITS]; /* the same, grouped by rule */
    uint32_t first_hit[BW_MAX_RULES_PER_LANG + 1];
    size_t nhits;
    bool hits_overflow;
    const lang_pack_t *hits_lp; /* the language the hits are for */
    size_t kana, han; /* characters of these scripts in the text */
    bool no_prefilter; /* tests: search every rule the plain way */
    size_t last_pos[BW_MAX_RULES_PER_LANG];
    /* 1 + where the last later literal of the rule starts; 0: none. A
     * match starting after that cannot have one. */
    uint32_t later_end[BW_MAX_RULES_PER_LANG];
};

bw_classifier_t *bw_classifier_new(void) {
    bw_classifier_t *cl = calloc(1, sizeof(*cl));

    if (!cl)
        return NULL;
    cl->md = pcre2_match_data_create(16, NULL);
    cl->mctx = pcre2_match_context_create(NULL);
    cl->jit_stack = pcre2_jit_stack_create(32 * 1024, 512 * 1024, NULL);
    if (!cl->md || !cl->mctx || !cl->jit_stack) {
        bw_classifier_destroy(cl);
        return NULL;
    }
    pcre2_set_match_limit(cl->mctx, MATCH_LIMIT);
    pcre2_set_depth_limit(cl->mctx, DEPTH_LIMIT);
    pcre2_jit_stack_assign(cl->mctx, NULL, cl->jit_stack);
    return cl;
}

void bw_classifier_set_prefilter(bw_classifier_t *cl, bool on) {
    cl->no_prefilter = !on;
}

void bw_classifier_destroy(bw_classifier_t *cl) {
    if (!cl)
        return;
    pcre2_match_data_free(cl->md);
    pcre2_match_context_free(cl->mctx);
    pcre2_jit_stack_free(cl->jit_stack);
    bw_buf_free(&cl->text);
    bw_buf_free(&cl->lower);
    free(cl->tokens);
    free(cl->starts);
    free(cl);
}

/* memcmp for the few bytes of a literal, without the call. */
static inline bool same_bytes(const unsigned char *a, const char *b, size_t n) {
    for (size_t k = 0; k < n; k++)
        if (a[k] != (unsigned char)b[k])
            return false;
    return true;
}

/* ---- tokens ---- */

/* What a byte can be in a word. Latin letters with accents are 2-byte
 * sequences C3..C5 xx; longer sequences (punctuation, CJK, emoji) separate
 * words. An apostrophe is part of a word only inside one (don't, n'est). */
enum { B_NONE, B_WORD, B_LEAD, B_CONT, B_APOS };

static inline int byte_class(unsigned char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return B_WORD;
    if (c >= 0x80 && c <= 0xBF)
        return B_CONT;
    if (c >= 0xC3 && c <= 0xC5)
        return B_LEAD;
    return c == '\'' ? B_APOS : B_NONE;
}

static inline bool ascii_letter(unsigned char c) {
    return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
}

/* In one pass over the text: its lower-cased copy, the scripts it uses,
 * tokens (runs of word bytes, each with the hash of its lower-cased bytes)
 * and word starts for the prefilter (a word byte after a non-word byte; an
 * apostrophe counts as non-word there, as it does for PCRE2's \b). */
static bool scan_text(bw_classifier_t *cl) {
    const unsigned char *s = (const unsigned char *)cl->text.data;
    unsigned char *lo = (unsigned char *)cl->lower.data;
    size_t len = cl->text.len, ntok = 0, nstarts = 0, tok_start = 0;
    bool prev = false, prev_start = false, after_c3 = false;
    uint64_t h = 0;

    /* at most one token and one start per two bytes: no checks in the loop */
    if (!bw_grow((void **)&cl->tokens, &cl->captokens, len / 2, sizeof(token_t)) ||
        !bw_grow((void **)&cl->starts, &cl->capstarts, len / 2, sizeof(uint32_t)))
        return false;
    cl->kana = cl->han = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = s[i];
        bool word;
        lo[i] = lower_byte(c, &after_c3);
        /* scripts that name the language: kana, han */
        if (c >= 0xE3 && c <= 0xED && i + 2 < len) {
            unsigned cp =
                (unsigned)(c & 0x0F) << 12 | (unsigned)(s[i + 1] & 0x3F) << 6 | (s[i + 2] & 0x3F);
            cl->kana += cp >= 0x3040 && cp <= 0x30FF;
            cl->han += cp >= 0x4E00 && cp <= 0x9FFF;
        }
        switch (byte_class(c)) {
        case B_WORD:
        case B_LEAD:
            word = true;
            break;
        case B_CONT:
            word = i > 0 && s[i - 1] >= 0xC3 && s[i - 1] <= 0xC5;
            break;
        case B_APOS:
            word = prev && i + 1 < len && ascii_letter(s[i + 1]);
            break;
        default:
            word = false;
        }
        if (word) {
            if (!prev) {
                tok_start = i;
                h = BW_FNV_OFFSET;
            }
            h = (h ^ lo[i]) * BW_FNV_PRIME;
        } else if (prev) {
            cl->tokens[ntok++] = (token_t){tok_start, i - tok_start, h, NULL, {0, 0, 0, 0}};
        }
        bool start_word = word && c != '\'';
        if (start_word && !prev_start)
            cl->starts[nstarts++] = (uint32_t)i;
        prev = word;
        prev_start = start_word;
    }
    if (prev)
        cl->tokens[ntok++] = (token_t){tok_start, len - tok_start, h, NULL, {0, 0, 0, 0}};
    cl->ntokens = ntok;
    cl->nstarts = nstarts;
    return true;
}

/* What every token is in every language: one lookup per token. */
static void lookup_tokens(bw_classifier_t *cl, const bw_pack_t *pack) {
    for (size_t t = 0; t < cl->ntokens; t++) {
        token_t *tk = &cl->tokens[t];
        double idx;
        tk->entry = pack->words.n && wordmap_get_h(&pack->words, cl->lower.data + tk->start,
                                                   tk->len, tk->hash, &idx)
                        ? &pack->entries[(size_t)idx]
                        : NULL;
    }
}

/* Every token's meaning in the text's language. */
static void token_infos(bw_classifier_t *cl, const bw_pack_t *pack, bw_lang_t lang) {
    const lang_pack_t *lp = &pack->langs[lang];

    for (size_t t = 0; t < cl->ntokens; t++) {
        token_t *tk = &cl->tokens[t];
        if (tk->entry && tk->entry->info[lang] >= 0)
            tk->info = lp->infos[tk->entry->info[lang]];
        else
            memset(&tk->info, 0, sizeof(tk->info));
    }
}

static bool tok_neg(const bw_classifier_t *cl, size_t t) {
    return cl->tokens[t].info.flags & BW_WORD_NEGATION;
}

/* ---- language ---- */

/* Votes of the languages' hints (letters or endings only they use: ã, ñ,
 * ß), all found in one pass over the text. */
static void hint_votes(const bw_classifier_t *cl, const bw_pack_t *pack, double *votes) {
    const unsigned char *s = (const unsigned char *)cl->lower.data;
    const trig_table_t *t = &pack->hints;

    if (!t->ntrigs)
        return;
    for (size_t i = 0; i + 1 < cl->lower.len; i++) {
        uint32_t k, end;
        if (!trig_bucket(t, trig_key(s + i, false), &k, &end))
            continue;
        for (; k < end; k++)
            if (t->trigs[k].len <= cl->lower.len - i &&
                !memcmp(s + i, t->trigs[k].text, t->trigs[k].len))
                votes[t->trigs[k].rule] += t->trigs[k].value;
    }
}

static bw_lang_t detect(bw_classifier_t *cl, const bw_pack_t *pack) {
    double votes[BW_LANG__CNT] = {0};
    int best = BW_LANG_EN;

    if (cl->kana > 0)
        return BW_LANG_JA;
    if (cl->han > 0)
        return BW_LANG_ZH;
    for (size_t t = 0; t < cl->ntokens; t++) {
        unsigned mask = cl->tokens[t].entry ? cl->tokens[t].entry->stop_langs : 0;
        for (int l = BW_LANG_EN; mask && l < BW_LANG__CNT; l++)
            if (mask & 1u << l)
                votes[l]++;
    }
    hint_votes(cl, pack, votes);
    for (int l = BW_LANG_EN; l < BW_LANG__CNT; l++)
        if (votes[l] > votes[best])
            best = l;
    return (bw_lang_t)best;
}

static bool set_text(bw_classifier_t *cl, const char *title, size_t title_len, const char *body,
                     size_t body_len) {
    cl->hits_lp = NULL; /* hits are for the text before */
    bw_buf_reset(&cl->text);
    bw_buf_reset(&cl->lower);
    if (title && title_len &&
        (!bw_buf_append(&cl->text, title, title_len) || !bw_buf_append(&cl->text, "\n", 1)))
        return false;
    if (!bw_buf_append(&cl->text, body ? body : "", body ? body_len : 0))
        return false;
    /* 8 zero bytes after the text: the prefilter reads 8 at a time */
    if (!bw_buf_reserve(&cl->lower, cl->text.len + 8))
        return false;
    cl->lower.len = cl->text.len;
    memset(cl->lower.data + cl->lower.len, 0, 8);
    return scan_text(cl);
}

bw_lang_t bw_detect_language(bw_classifier_t *cl, const bw_pack_t *pack, const char *text,
                             size_t len) {
    if (!set_text(cl, NULL, 0, text, len))
        return BW_LANG_EN;
    lookup_tokens(cl, pack);
    return detect(cl, pack);
}

/* ---- sentiment ---- */

#define SENT_NEGATE (-0.74)
#define SENT_CAPS 0.733
#define SENT_EXCLAIM 0.292
#define SENT_ALPHA 15.0

static int sign(double v) {
    return v > 0 ? 1 : v < 0 ? -1 : 0;
}

static bool all_caps(const char *s, size_t len) {
    size_t letters = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 'a' && c <= 'z')
            return false;
        if (c >= 'A' && c <= 'Z')
            letters++;
    }
    return letters >= 2;
}

/* Word lexicon with negation, intensifiers, capitals and contrast, as in
 * VADER (Hutto & Gilbert 2014); the lexicons are our own. */
static double words_valence(const bw_classifier_t *cl) {
    size_t contrast_at = SIZE_MAX, caps_tokens = 0;
    double sum = 0;

    for (size_t t = 0; t < cl->ntokens; t++) {
        if (cl->tokens[t].info.flags & BW_WORD_CONTRAST)
            contrast_at = t;
        if (all_caps(cl->text.data + cl->tokens[t].start, cl->tokens[t].len))
            caps_tokens++;
    }
    for (size_t t = 0; t < cl->ntokens; t++) {
        const wordinfo_t *wi = &cl->tokens[t].info;
        double v = wi->lex;
        bool negated = false;

        if (v == 0 && wi->neglex == 0)
            continue;
        for (size_t back = 1; back <= NEGATION_WINDOW && back <= t && !negated; back++)
            negated = tok_neg(cl, t - back);
        /* "won't play", "no picture": words that only carry feeling when
         * negated take their negated value as given */
        if (v == 0) {
            if (!negated)
                continue;
            v = wi->neglex;
            negated = false;
        }
        for (size_t back = 1; back <= 2 && back <= t; back++) {
            double boost = cl->tokens[t - back].info.intens;
            if (boost != 0)
                v += sign(v) * boost * (back == 1 ? 1.0 : 0.95);
        }
        if (negated)
            v *= SENT_NEGATE;
        if (caps_tokens * 2 < cl->ntokens &&
            all_caps(cl->text.data + cl->tokens[t].start, cl->tokens[t].len))
            v += sign(v) * SENT_CAPS;
        if (contrast_at != SIZE_MAX)
            v *= t > contrast_at ? 1.5 : 0.5;
        sum += v;
    }
    return sum;
}

/* Substring lexicon (Japanese, Chinese, emoji): at each position the
 * longest entry that starts there. */
static double phrases_valence(const bw_classifier_t *cl, const lang_pack_t *lp) {
    const unsigned char *s = (const unsigned char *)cl->lower.data;
    const trig_table_t *t = &lp->phrase_index;
    size_t len = cl->lower.len, i = 0;
    double sum = 0;

    if (!t->ntrigs)
        return 0;
    while (i + 2 < len) {
        size_t adv = 1;
        uint32_t k, end;
        /* Emoji, Japanese and Chinese phrases start with a byte >= 0x80:
         * skip ASCII eight bytes at a time (the text is followed by 8 zero
         * bytes, so reading past its end is safe). */
        if (!t->ascii_start && s[i] < 0x80) {
            uint64_t w;
            while (memcpy(&w, s + i, 8), i + 8 <= len && !(w & 0x8080808080808080ULL))
                i += 8;
            while (i < len && s[i] < 0x80)
                i++;
            continue;
        }
        /* a byte no phrase starts with (in Japanese and Chinese text, the
         * two continuation bytes of every character) opens no bucket */
        if (!(t->first[s[i] >> 6] >> (s[i] & 63) & 1) ||
            !trig_bucket(t, trig_key(s + i, true), &k, &end)) {
            i++;
            continue;
        }
        for (; k < end; k++) {
            const trig_t *ph = &t->trigs[k];
            if (ph->len <= len - i && same_bytes(s + i, ph->text, ph->len)) {
                sum += ph->value;
                adv = ph->len;
                break;
            }
        }
        i += adv;
    }
    return sum;
}

static double sentiment(const bw_classifier_t *cl, const bw_pack_t *pack, bw_lang_t lang) {
    double sum = words_valence(cl) + phrases_valence(cl, &pack->langs[lang]) +
                 phrases_valence(cl, &pack->langs[BW_LANG_ANY]);
    int bangs = 0;

    for (size_t i = 0; i < cl->text.len && bangs < 4; i++)
        if (cl->text.data[i] == '!')
            bangs++;
    sum += sign(sum) * SENT_EXCLAIM * bangs;
    if (sum == 0)
        return 0;
    double c = sum / sqrt(sum * sum + SENT_ALPHA);
    return c < -1 ? -1 : c > 1 ? 1 : c;
}

/* ---- rules ---- */

/* Is one of the few words before the span [pos, end) a negation, or a word
 * inside it ("arrived on time, not damaged")? */
static bool negated_at(const bw_classifier_t *cl, const lang_pack_t *lp, size_t pos, size_t end) {
    size_t t = 0, seen = 0;

    /* the first token that does not end before pos */
    while (t < cl->ntokens && cl->tokens[t].start + cl->tokens[t].len <= pos)
        t++;
    (void)lp; /* the tokens carry their language's meaning already */
    for (size_t k = t; k < cl->ntokens && cl->tokens[k].start < end; k++)
        if (tok_neg(cl, k))
            return true;
    while (t > 0 && seen < NEGATION_WINDOW) {
        t--;
        seen++;
        if (tok_neg(cl, t))
            return true;
    }
    return false;
}

typedef struct {
    bw_classifier_t *cl;
    const lang_pack_t *neg; /* negation words of the text's language */
    bw_review_out_t *out;
    bw_kind_t kind;
    double score[BW_T__CNT]; /* strongest rule + a quarter of the others */
    double best[BW_T__CNT], rest[BW_T__CNT];
    size_t contrast_pos; /* byte offset of the last "but", or SIZE_MAX */
} run_t;

/* First match of the rule that is not negated: true and its span. */
static bool rule_match(run_t *run, const rule_t *r, size_t *s, size_t *e) {
    bw_classifier_t *cl = run->cl;
    size_t start = 0;

    while (start <= cl->text.len) {
        int rc = pcre2_jit_match(r->code, (PCRE2_SPTR)cl->text.data, cl->text.len, start, 0, cl->md,
                                 cl->mctx);
        run->out->regex_runs++;
        if (rc < 0) {
            if (rc != PCRE2_ERROR_NOMATCH)
                run->out->limit_hits++; /* match or JIT stack limit: no match */
            return false;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(cl->md);
        *s = ov[0];
        *e = ov[1];
        if (r->self_negating || !negated_at(cl, run->neg, *s, *e))
            return true;
        start = *e > *s ? *e : *s + 1;
    }
    return false;
}

/* One hit per rule and position, in position order. */
static inline void add_hit(bw_classifier_t *cl, uint16_t rule, size_t i) {
    if (cl->last_pos[rule] == i)
        return;
    cl->last_pos[rule] = i;
    if (cl->nhits == BW_MAX_HITS) {
        cl->hits_overflow = true;
        return;
    }
    cl->hits[cl->nhits++] = (hit_t){rule, (uint32_t)i};
}

static void hits_at(bw_classifier_t *cl, const trig_table_t *t, size_t i) {
    const unsigned char *s = (const unsigned char *)cl->lower.data;
    uint32_t k, end;
    uint64_t head;

    if (i + (t->key3 ? 3 : 2) > cl->lower.len ||
        !trig_bucket(t, trig_key(s + i, t->key3), &k, &end))
        return;
    memcpy(&head, s + i, 8); /* the text is followed by 8 zero bytes */
    for (; k < end; k++) {
        const trig_t *tr = &t->trigs[k];
        /* a literal has no NUL byte: the padding never matches */
        if ((head & t->masks[k]) != t->heads[k] ||
            (tr->len > 8 &&
             (tr->len > cl->lower.len - i || !same_bytes(s + i + 8, tr->text + 8, tr->len - 8u))))
            continue;
        if (tr->later)
            cl->later_end[tr->rule] = (uint32_t)i + 1; /* starts come in order */
        else
            add_hit(cl, tr->rule, i);
    }
}

/* Where the literals of this language's rules occur in the text, grouped
 * by rule (each group in position order). */
static void find_hits(bw_classifier_t *cl, const lang_pack_t *lp) {
    size_t len = cl->lower.len, nids = lp->nrules + lp->nguards;

    cl->hits_lp = lp;
    cl->nhits = 0;
    cl->hits_overflow = false;
    memset(cl->last_pos, 0xff, nids * sizeof(cl->last_pos[0]));
    memset(cl->later_end, 0, lp->nrules * sizeof(cl->later_end[0]));
    if (lp->at_words.ntrigs || lp->ndigit_rules)
        for (size_t k = 0; k < cl->nstarts; k++) {
            size_t i = cl->starts[k];
            if (i + 1 < len)
                hits_at(cl, &lp->at_words, i);
            if (lp->ndigit_rules && cl->lower.data[i] >= '0' && cl->lower.data[i] <= '9')
                for (size_t d = 0; d < lp->ndigit_rules; d++)
                    add_hit(cl, lp->digit_rules[d], i);
        }
    if (lp->anywhere.ntrigs)
        for (size_t i = 0; i + 1 < len; i++)
            hits_at(cl, &lp->anywhere, i);
    /* the later literals that need not be at a word start */
    if (lp->later.ntrigs) {
        const unsigned char *s = (const unsigned char *)cl->lower.data;
        for (size_t i = 0; i + 1 < len; i++) {
            uint32_t k, end;
            if (!trig_bucket(&lp->later, trig_key(s + i, false), &k, &end))
                continue;
            for (; k < end; k++) {
                const trig_t *tr = &lp->later.trigs[k];
                if (tr->len <= len - i && same_bytes(s + i + 2, tr->text + 2, tr->len - 2u))
                    if (cl->later_end[tr->rule] < i + 1)
                        cl->later_end[tr->rule] = (uint32_t)i + 1;
            }
        }
    }
    /* counting sort by rule; stable, so positions stay in order */
    memset(cl->first_hit, 0, (nids + 1) * sizeof(cl->first_hit[0]));
    for (size_t h = 0; h < cl->nhits; h++)
        cl->first_hit[cl->hits[h].rule + 1]++;
    for (size_t r = 1; r <= nids; r++)
        cl->first_hit[r] += cl->first_hit[r - 1];
    {
        uint32_t fill[BW_MAX_RULES_PER_LANG];
        memcpy(fill, cl->first_hit, nids * sizeof(fill[0]));
        for (size_t h = 0; h < cl->nhits; h++)
            cl->sorted[fill[cl->hits[h].rule]++] = cl->hits[h];
    }
}

/* First match of a prefiltered rule or guard (id: its index, guards after
 * the rules) that is not negated: anchored tries at the positions where
 * its literals occur, in order. */
static bool match_at_hits(run_t *run, size_t id, const pcre2_code *anchored, bool self_negating,
                          uint32_t end, size_t *s, size_t *e) {
    bw_classifier_t *cl = run->cl;

    for (uint32_t h = cl->first_hit[id]; h < cl->first_hit[id + 1] && cl->sorted[h].pos < end;
         h++) {
        int rc = pcre2_jit_match(anchored, (PCRE2_SPTR)cl->text.data, cl->text.len,
                                 cl->sorted[h].pos, 0, cl->md, cl->mctx);
        run->out->regex_runs++;
        if (rc < 0) {
            if (rc != PCRE2_ERROR_NOMATCH)
                run->out->limit_hits++;
            continue;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(cl->md);
        *s = ov[0];
        *e = ov[1];
        if (self_negating || !negated_at(cl, run->neg, *s, *e))
            return true;
    }
    return false;
}

/* A rule's (?#need:...) says when the text cannot match it. */
static bool needs_met(const bw_classifier_t *cl, const rule_t *r, int *digits) {
    if (r->need_byte >= 0 && !memchr(cl->lower.data, r->need_byte, cl->lower.len))
        return false;
    if (r->need_digits > 0) {
        if (*digits < 0) {
            *digits = 0;
            for (size_t i = 0; i < cl->lower.len; i++)
                *digits += cl->lower.data[i] >= '0' && cl->lower.data[i] <= '9';
        }
        return *digits >= r->need_digits;
    }
    return true;
}

/* Policy rules concern outbound seller messages, topic rules seller
 * feedback, causes everything else: no rule runs where it cannot count. */
static bool target_wanted(bw_target_t t, bw_kind_t kind) {
    if (t == BW_T_POLICY_ASK_CHANGE || t == BW_T_POLICY_INCENTIVE)
        return kind == BW_KIND_SELLER_MESSAGE;
    if (t == BW_T_TOPIC_PRODUCT || t == BW_T_TOPIC_SELLER)
        return kind == BW_KIND_SELLER_FEEDBACK;
    return kind != BW_KIND_SELLER_MESSAGE;
}

static void run_rules(run_t *run, const lang_pack_t *lp) {
    bw_classifier_t *cl = run->cl;
    int digits = -1;

    if (!lp->nrules)
        return;
    find_hits(cl, lp);
    for (size_t i = 0; i < lp->nrules; i++) {
        const rule_t *r = &lp->rules[i];
        size_t s, e;
        bool prefiltered = r->anchored && !cl->hits_overflow && !cl->no_prefilter;
        if (!target_wanted(r->target, run->kind) || !needs_met(cl, r, &digits) ||
            (prefiltered && r->need_later && !cl->later_end[i]))
            continue;
        uint32_t end = r->need_later ? cl->later_end[i] : UINT32_MAX;
        bool matched = prefiltered
                           ? match_at_hits(run, i, r->anchored, r->self_negating, end, &s, &e)
                           : rule_match(run, r, &s, &e);
        if (!matched)
            continue;
        /* What follows a "but" is what the writer means: it weighs more.
         * Several rules that see the same thing add little: a cause scores
         * its strongest rule plus a quarter of the others. */
        double w =
            r->weight * (s > run->contrast_pos && run->contrast_pos != SIZE_MAX ? 1.25 : 1.0);
        if (w > run->best[r->target]) {
            run->rest[r->target] += run->best[r->target];
            run->best[r->target] = w;
        } else {
            run->rest[r->target] += w;
        }
        run->score[r->target] = run->best[r->target] + 0.25 * run->rest[r->target];
        if (run->out->nmatches < BW_MAX_MATCHES)
            run->out->matches[run->out->nmatches++] = (bw_match_t){r->id, r->target, s, e};
    }
}

/* A guard holds when it matches somewhere that is not negated ("arrived
 * on time" drops the delay, "did not arrive on time" does not). */
static bool guard_holds(run_t *run, const lang_pack_t *lp, size_t idx) {
    bw_classifier_t *cl = run->cl;
    const guard_t *g = &lp->guards[idx];
    size_t start = 0, s, e;

    if (g->anchored && !cl->no_prefilter) {
        if (cl->hits_lp != lp) /* the hits are another language's */
            find_hits(cl, lp);
        if (!cl->hits_overflow)
            return match_at_hits(run, lp->nrules + idx, g->anchored, false, UINT32_MAX, &s, &e);
    }

    while (start <= cl->text.len) {
        run->out->regex_runs++;
        if (pcre2_jit_match(g->code, (PCRE2_SPTR)cl->text.data, cl->text.len, start, 0, cl->md,
                            cl->mctx) < 0)
            return false;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(cl->md);
        if (!negated_at(cl, run->neg, ov[0], ov[1]))
            return true;
        start = ov[1] > ov[0] ? ov[1] : ov[0] + 1;
    }
    return false;
}

static void run_guards(run_t *run, const lang_pack_t *lp) {
    for (size_t i = 0; i < lp->nguards; i++) {
        const guard_t *g = &lp->guards[i];
        if (run->score[g->target] <= 0 || !guard_holds(run, lp, i))
            continue;
        run->score[g->target] = 0;
        /* drop the suppressed rules from the explanation */
        int k = 0;
        for (int m = 0; m < run->out->nmatches; m++)
            if (run->out->matches[m].target != g->target)
                run->out->matches[k++] = run->out->matches[m];
        run->out->nmatches = k;
    }
}

static size_t last_contrast(const bw_classifier_t *cl, const lang_pack_t *lp) {
    size_t pos = SIZE_MAX;

    (void)lp;
    for (size_t t = 0; t < cl->ntokens; t++)
        if (cl->tokens[t].info.flags & BW_WORD_CONTRAST)
            pos = cl->tokens[t].start;
    return pos;
}

/* ---- findings ---- */

static bw_review_sev_t severity(const bw_review_in_t *in, const bw_review_out_t *out, int ncauses) {
    bw_review_sev_t sev = BW_SEV_NONE;

    if (ncauses > 0)
        sev = BW_SEV_LOW;
    if ((ncauses > 0 && in->rating == 3) || (in->rating == 0 && out->sentiment < -0.3))
        sev = BW_SEV_MEDIUM;
    if (in->rating == 2 || (in->rating == 0 && ncauses > 0 && out->sentiment < -0.5))
        sev = BW_SEV_MEDIUM;
    if (in->rating == 1 || (in->rating && in->rating <= 2 &&
                            (out->causes[BW_T_LOGISTICS_LOST] || out->causes[BW_T_ABUSIVE] ||
                             out->causes[BW_T_QUALITY_DEFECT])))
        sev = BW_SEV_HIGH;
    switch (in->kind) {
    case BW_KIND_A_TO_Z_CLAIM:
    case BW_KIND_CHARGEBACK:
        return BW_SEV_HIGH; /* the platform counts these against the account */
    case BW_KIND_RETURN_REQUEST:
    case BW_KIND_BUYER_MESSAGE:
        return sev < BW_SEV_MEDIUM ? BW_SEV_MEDIUM : sev;
    case BW_KIND_SELLER_MESSAGE:
        return out->policy_ask_change || out->policy_incentive ? BW_SEV_HIGH : BW_SEV_NONE;
    default:
        return sev;
    }
}

static bw_removable_t removable(const bw_review_in_t *in, const bw_review_out_t *out,
                                const double *score) {
    bool negative = in->rating == 0 || in->rating <= 3;
    bool feedback = in->kind == BW_KIND_SELLER_FEEDBACK;

    if (in->kind == BW_KIND_SELLER_MESSAGE)
        return BW_REMOVABLE_NONE;
    if (out->causes[BW_T_ABUSIVE])
        return BW_REMOVABLE_ABUSIVE_LANGUAGE;
    if (score[BW_T_PERSONAL_DATA] > 0)
        return BW_REMOVABLE_PERSONAL_DATA;
    if (!negative || !feedback)
        return BW_REMOVABLE_NONE;
    bool logistics = false;
    for (int c = BW_T_LOGISTICS_DELAY; c <= BW_T_LOGISTICS_PARTIAL; c++)
        logistics |= out->causes[c];
    if (logistics && in->fulfilled_by_platform == 1)
        return BW_REMOVABLE_PLATFORM_FULFILLED_DELIVERY;
    /* Feedback about the product alone belongs in a product review; a
     * mixed comment (also about shipping, service, the seller) stays. */
    bool product = score[BW_T_TOPIC_PRODUCT] > 0 || out->causes[BW_T_QUALITY_DEFECT] ||
                   out->causes[BW_T_NOT_AS_DESCRIBED];
    if (product && score[BW_T_TOPIC_SELLER] <= 0 && !logistics &&
        !out->causes[BW_T_SERVICE_ATTITUDE] && !out->causes[BW_T_AFTER_SALES] &&
        !out->causes[BW_T_PAYMENT])
        return BW_REMOVABLE_PRODUCT_REVIEW_IN_SELLER_FEEDBACK;
    return BW_REMOVABLE_NONE;
}

/* Product and delivery causes, and the return that follows them, come
 * before grievances about service, price or payment; abusive language is
 * primary only when nothing else is found. Among the first group the
 * score decides, ties going to the cause listed first (quality first). */
static int cause_rank(int c) {
    /* an explicit return request outweighs its reason only by its score */
    if (c <= BW_T_AFTER_SALES)
        return 0;
    if (c == BW_T_ABUSIVE)
        return 2;
    return 1;
}

static void decide(run_t *run, const bw_review_in_t *in) {
    bw_review_out_t *out = run->out;
    int ncauses = 0;

    out->primary = -1;
    /* An outbound seller message is checked for policy, not for causes. */
    if (in->kind == BW_KIND_SELLER_MESSAGE)
        for (int c = 0; c < BW_CAUSE_CNT; c++)
            run->score[c] = 0;
    for (int c = 0; c < BW_CAUSE_CNT; c++) {
        out->cause_score[c] = run->score[c];
        /* a cause needs evidence worth at least one strong rule */
        if (run->score[c] >= 1.0) {
            out->causes[c] = true;
            ncauses++;
            if (out->primary < 0 || cause_rank(c) < cause_rank(out->primary) ||
                (cause_rank(c) == cause_rank(out->primary) &&
                 run->score[c] > run->score[out->primary]))
                out->primary = c;
        }
    }
    /* A complaint we cannot place is still a complaint. */
    if (ncauses == 0 && in->kind != BW_KIND_SELLER_MESSAGE &&
        ((in->rating >= 1 && in->rating <= 2) || in->kind == BW_KIND_A_TO_Z_CLAIM ||
         in->kind == BW_KIND_CHARGEBACK || in->kind == BW_KIND_RETURN_REQUEST)) {
        out->causes[BW_T_OTHER] = true;
        out->primary = BW_T_OTHER;
        ncauses = 1;
    }
    if (in->kind == BW_KIND_SELLER_MESSAGE) {
        out->policy_ask_change = run->score[BW_T_POLICY_ASK_CHANGE] > 0;
        out->policy_incentive = run->score[BW_T_POLICY_INCENTIVE] > 0;
    }
    out->removable = removable(in, out, run->score);
    out->severity = severity(in, out, ncauses);
    switch (in->kind) {
    case BW_KIND_BUYER_MESSAGE:
    case BW_KIND_A_TO_Z_CLAIM:
    case BW_KIND_CHARGEBACK:
    case BW_KIND_RETURN_REQUEST:
        out->needs_response = true;
        break;
    case BW_KIND_SELLER_MESSAGE:
        out->needs_response = false;
        break;
    default: /* a negative review or feedback */
        out->needs_response = (in->rating >= 1 && in->rating <= 2) ||
                              (in->rating == 0 && ncauses > 0 && out->sentiment < 0);
    }
}

void bw_classify(bw_classifier_t *cl, const bw_pack_t *pack, const bw_review_in_t *in,
                 bw_review_out_t *out) {
    run_t run = {.cl = cl, .out = out, .kind = in->kind};
    int given;

    memset(out, 0, sizeof(*out));
    out->primary = -1;
    out->removable = BW_REMOVABLE_NONE;
    if (!set_text(cl, in->title, in->title_len, in->body, in->body_len)) {
        out->language = BW_LANG_EN;
        decide(&run, in); /* out of memory: no rules, still a valid answer */
        return;
    }
    lookup_tokens(cl, pack);
    given = bw_lang_parse(in->language);
    out->language = given > 0 ? (bw_lang_t)given : detect(cl, pack);
    out->language_detected = given <= 0;
    run.neg = &pack->langs[out->language];
    token_infos(cl, pack, out->language);
    run.contrast_pos = last_contrast(cl, &pack->langs[out->language]);
    run_rules(&run, &pack->langs[BW_LANG_ANY]);
    run_rules(&run, &pack->langs[out->language]);
    run_guards(&run, &pack->langs[BW_LANG_ANY]);
    run_guards(&run, &pack->langs[out->language]);
    out->sentiment = sentiment(cl, pack, out->language);
    decide(&run, in);
}
