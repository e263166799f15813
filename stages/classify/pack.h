/* Internal layout of a rule pack, shared by pack.c (loading) and
 * classify.c / sentiment.c (matching). Not for other stages. */
#ifndef BW_CLASSIFY_PACK_H
#define BW_CLASSIFY_PACK_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "classify.h"
#include "prefilter.h"

typedef struct {
    char *id;
    bw_target_t target;
    double weight;
    bool self_negating; /* "rule!": the pattern handles negation itself */
    pcre2_code *code;
    pcre2_code *anchored; /* the same, ANCHORED, when the prefilter applies */
    int need_byte; /* (?#need:C): the text must contain C, or -1 */
    int need_digits; /* (?#need:digits=N): at least N digits in the text */
    bool need_later; /* one of its "later" literals must occur */
    char *pattern;
} rule_t;

/* A literal that starts matches of a rule (see prefilter.c). */
typedef struct {
    uint16_t rule; /* rule index, guards after the rules; for hints, the language */
    uint16_t key; /* bucket (see trig_key) */
    uint8_t len;
    bool later; /* in at_words: a later literal of the rule, not a start */
    char text[BW_LIT_MAX];
    float value; /* language hints: votes per occurrence */
} trig_t;

/* Literals by their first two bytes: trigs[index[b0 << 8 | b1] ..
 * index[(b0 << 8 | b1) + 1]). */
typedef struct {
    uint32_t *index;
    trig_t *trigs;
    /* each literal's first 8 bytes (zero-padded) and a mask of those it
     * has: one compare turns away nearly every literal of a bucket */
    uint64_t *heads, *masks;
    size_t ntrigs;
    bool key3; /* bucket by a hash of 3 bytes (for UTF-8 text of 3-byte
                * characters, whose first two bytes say little) */
    bool ascii_start; /* some literal starts with an ASCII byte */
    uint64_t first[4]; /* phrase_index: a bit per byte some phrase starts with */
    /* One bit per bucket, set when it holds a literal. The index is 256 KiB
     * and most text positions open an empty bucket: the bit, from 8 KiB
     * that stay in L1, answers those without touching the index. */
    uint64_t used[65536 / 64];
} trig_table_t;

/* The bucket of the literal at p: its first two bytes, or a hash of three. */
static inline unsigned trig_key(const unsigned char *p, bool key3) {
    if (key3)
        return ((unsigned)p[0] << 8 ^ (unsigned)p[1] << 4 ^ (unsigned)p[2] * 0x9E37u) & 0xFFFFu;
    return (unsigned)p[0] << 8 | p[1];
}

/* The literals of bucket key: trigs[*first .. *end); false when none. */
static inline bool trig_bucket(const trig_table_t *t, unsigned key, uint32_t *first,
                               uint32_t *end) {
    if (!(t->used[key >> 6] >> (key & 63) & 1))
        return false;
    *first = t->index[key];
    *end = t->index[key + 1];
    return true;
}

typedef struct {
    char *id;
    bw_target_t target;
    pcre2_code *code;
    pcre2_code *anchored; /* the same, ANCHORED, when the prefilter applies */
    char *pattern;
} guard_t;

/* Open-addressing map from a lower-cased word to a value. */
typedef struct {
    char **keys;
    uint64_t *hashes; /* compared before the keys */
    double *vals;
    size_t cap, n;
} wordmap_t;

/* What a word means for one language, looked up once per token. */
#define BW_WORD_NEGATION 1
#define BW_WORD_CONTRAST 2
typedef struct {
    float lex; /* sentiment valence, 0 if none */
    float neglex; /* valence only when negated, 0 if none */
    float intens; /* intensifier boost, 0 if none */
    uint8_t flags;
} wordinfo_t;

/* A sentiment entry matched as a substring (Japanese, Chinese). */
typedef struct {
    char *text;
    size_t len;
    double valence;
} phrase_t;

typedef struct {
    rule_t *rules;
    size_t nrules, caprules;
    trig_table_t at_words; /* literals of rules that start at a word */
    uint16_t *digit_rules; /* rules a word may start with a digit for (\d) */
    size_t ndigit_rules;
    trig_table_t anywhere; /* literals of rules that may start anywhere */
    trig_table_t later; /* literals some later part of a rule's match needs */
    size_t nsearched; /* rules the prefilter cannot judge */
    guard_t *guards;
    size_t nguards, capguards;
    wordmap_t negations; /* words that negate what follows */
    wordmap_t contrasts; /* "but": what follows weighs more */
    wordmap_t intensifiers;
    wordmap_t lexicon; /* word -> valence (-4..4) */
    wordmap_t neglexicon; /* word -> valence it has only when negated */
    phrase_t *phrases; /* substring lexicon, longest first */
    size_t nphrases, capphrases;
    trig_table_t phrase_index; /* the phrases by first two bytes, longest first */
    wordmap_t words; /* every listed word -> index into infos */
    wordinfo_t *infos;
    size_t ninfos;
    wordmap_t stopwords; /* for language detection */
    phrase_t *hints; /* letters or endings that vote for the language */
    size_t nhints, caphints;
} lang_pack_t;

/* What one word is in every language: a token is looked up once. */
typedef struct {
    uint16_t stop_langs; /* bit per language it is a stop word of */
    int32_t info[BW_LANG__CNT]; /* index into that language's infos, or -1 */
} word_entry_t;

struct bw_pack_s {
    lang_pack_t langs[BW_LANG__CNT];
    size_t nrules;
    trig_table_t hints; /* every language's hints, found in one pass */
    wordmap_t words; /* every word of every language -> index into entries */
    word_entry_t *entries;
    size_t nentries;
};

bool wordmap_put(wordmap_t *m, const char *key, size_t len, double val);
/* FNV-1a: wordmap_hash, and the classifier as it scans a token */
#define BW_FNV_OFFSET 1469598103934665603ULL
#define BW_FNV_PRIME 1099511628211ULL
uint64_t wordmap_hash(const char *key, size_t len);
/** @brief wordmap_get with the key's hash already computed. */
bool wordmap_get_h(const wordmap_t *m, const char *key, size_t len, uint64_t h, double *val);
/** @returns true and *val when found. key must already be lower-cased. */
bool wordmap_get(const wordmap_t *m, const char *key, size_t len, double *val);
void wordmap_free(wordmap_t *m);

/** Lower-case ASCII and Latin-1 letters of a UTF-8 word into out (same length). */
void lower_utf8(const char *in, size_t len, char *out);

/* One byte of lower_utf8: ASCII capitals, and Latin-1 capitals U+00C0..
 * U+00DE but U+00D7 (C3 80..9E); *after_c3 carries whether the byte before
 * was the C3 that opens such a pair. */
static inline unsigned char lower_byte(unsigned char c, bool *after_c3) {
    if (*after_c3) {
        *after_c3 = false;
        return c >= 0x80 && c <= 0x9E && c != 0x97 ? (unsigned char)(c + 0x20) : c;
    }
    *after_c3 = c == 0xC3;
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c | 0x20) : c;
}

#endif
