/**
 * @file classify.h
 * @brief bw-classify's logic: root causes, sentiment, severity, removable
 *        feedback and policy flags for one review, from a rule pack.
 *
 * Pure functions over plain structs: no Kafka, no Avro here (stage.c does
 * the records), so tests and benches call them directly.
 */
#ifndef BW_CLASSIFY_H
#define BW_CLASSIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bw_err.h"

/* Root causes, in the order of the Cause enum in ClassifiedReview.avsc. */
#define BW_CAUSES(X)                          \
    X(QUALITY_DEFECT, "quality_defect")       \
    X(NOT_AS_DESCRIBED, "not_as_described")   \
    X(LOGISTICS_DELAY, "logistics_delay")     \
    X(LOGISTICS_LOST, "logistics_lost")       \
    X(LOGISTICS_DAMAGED, "logistics_damaged") \
    X(LOGISTICS_PARTIAL, "logistics_partial") \
    X(AFTER_SALES, "after_sales")             \
    X(SERVICE_ATTITUDE, "service_attitude")   \
    X(PRICE, "price")                         \
    X(PAYMENT, "payment")                     \
    X(ABUSIVE, "abusive")                     \
    X(OTHER, "other")

/* What a rule can point at: a cause, or one of the other findings. */
typedef enum {
#define BW_CAUSE_ENUM_(id, name) BW_T_##id,
    BW_CAUSES(BW_CAUSE_ENUM_)
#undef BW_CAUSE_ENUM_
        BW_T_POLICY_ASK_CHANGE, /* asks the buyer to change or remove a review */
    BW_T_POLICY_INCENTIVE, /* offers money, a gift or a discount for one */
    BW_T_TOPIC_PRODUCT, /* talks about the product itself */
    BW_T_TOPIC_SELLER, /* talks about the seller, shipping or service */
    BW_T_PERSONAL_DATA, /* an e-mail address or a phone number */
    BW_T__CNT
} bw_target_t;

#define BW_CAUSE_CNT (BW_T_OTHER + 1)

/** @brief "quality_defect", "policy.ask_change", ... */
const char *bw_target_name(bw_target_t t);
/** @returns the target for a name, or -1. */
int bw_target_parse(const char *name);

/* Languages: index 0 is "any" (rules that apply to every text). */
#define BW_LANGS(X) \
    X(ANY, "*")     \
    X(EN, "en")     \
    X(DE, "de")     \
    X(FR, "fr")     \
    X(ES, "es")     \
    X(IT, "it")     \
    X(PT, "pt")     \
    X(JA, "ja")     \
    X(ZH, "zh")

typedef enum {
#define BW_LANG_ENUM_(id, code) BW_LANG_##id,
    BW_LANGS(BW_LANG_ENUM_)
#undef BW_LANG_ENUM_
        BW_LANG__CNT
} bw_lang_t;

const char *bw_lang_code(bw_lang_t lang);
/** @returns the language for an ISO 639-1 code (case-insensitive, "pt-BR"
 *  counts as pt), or -1. */
int bw_lang_parse(const char *code);

typedef struct bw_pack_s bw_pack_t;

/**
 * @brief Load every *.rules file in @p dir and compile its patterns with
 *        JIT. A pattern that does not compile, an unknown cause or a
 *        malformed line is reported as "file:line: message" and nothing is
 *        loaded.
 */
bw_pack_t *bw_pack_load(const char *dir, char *errstr, size_t errstr_size);
void bw_pack_destroy(bw_pack_t *pack);
/** @brief Rules in the pack (for logs and metrics). */
size_t bw_pack_rule_count(const bw_pack_t *pack);

/** Kind of text, in the order of the ReviewKind enum. */
typedef enum {
    BW_KIND_PRODUCT_REVIEW,
    BW_KIND_SELLER_FEEDBACK,
    BW_KIND_BUYER_MESSAGE,
    BW_KIND_A_TO_Z_CLAIM,
    BW_KIND_CHARGEBACK,
    BW_KIND_RETURN_REQUEST,
    BW_KIND_SELLER_MESSAGE,
} bw_kind_t;

/** Severity, in the order of the ReviewSeverity enum. */
typedef enum { BW_SEV_NONE, BW_SEV_LOW, BW_SEV_MEDIUM, BW_SEV_HIGH } bw_review_sev_t;

/** Removable reasons, in the order of the Removable enum (-1: none). */
typedef enum {
    BW_REMOVABLE_NONE = -1,
    BW_REMOVABLE_ABUSIVE_LANGUAGE = 0,
    BW_REMOVABLE_PRODUCT_REVIEW_IN_SELLER_FEEDBACK = 1,
    BW_REMOVABLE_PLATFORM_FULFILLED_DELIVERY = 2,
    BW_REMOVABLE_PERSONAL_DATA = 3,
} bw_removable_t;

/** What the classifier is given. */
typedef struct bw_review_in_s {
    const char *title; /* may be NULL */
    size_t title_len;
    const char *body;
    size_t body_len;
    const char *language; /* as given by the platform, may be NULL */
    bw_kind_t kind;
    int rating; /* 1..5, 0 when unknown */
    int fulfilled_by_platform; /* 1, 0, or -1 when unknown */
} bw_review_in_t;

#define BW_MAX_MATCHES 32
#define BW_MAX_RULES_PER_LANG 4096

/** One rule that matched, for the explanation. */
typedef struct bw_match_s {
    const char *rule_id;
    bw_target_t target;
    size_t start, end; /* byte span in the text classified (title + "\n" + body) */
} bw_match_t;

/** What the classifier finds. */
typedef struct bw_review_out_s {
    bool causes[BW_CAUSE_CNT];
    double cause_score[BW_CAUSE_CNT];
    int primary; /* a BW_T_ cause, or -1 for none */
    double sentiment;
    bw_review_sev_t severity;
    bw_removable_t removable;
    bool policy_ask_change, policy_incentive;
    bool needs_response; /* response due in 24 h */
    bw_lang_t language;
    bool language_detected; /* not given by the platform */
    bw_match_t matches[BW_MAX_MATCHES];
    int nmatches;
    int limit_hits; /* rules stopped by the match limit */
    int regex_runs; /* PCRE2 matches attempted (the prefilter's effect) */
} bw_review_out_t;

typedef struct bw_classifier_s bw_classifier_t;

/** @brief Per-thread matching state (PCRE2 match data, JIT stack, buffers). */
bw_classifier_t *bw_classifier_new(void);
void bw_classifier_destroy(bw_classifier_t *cl);

/**
 * @brief Turn the literal prefilter off (every rule and guard searched the
 *        plain way) or on (the default). The findings are the same either
 *        way; tests hold the prefilter to that.
 */
void bw_classifier_set_prefilter(bw_classifier_t *cl, bool on);

/** @brief Classify one review with @p pack. Never fails on any input. */
void bw_classify(bw_classifier_t *cl, const bw_pack_t *pack, const bw_review_in_t *in,
                 bw_review_out_t *out);

/** @brief Language of a text from its script and the pack's stop words. */
bw_lang_t bw_detect_language(bw_classifier_t *cl, const bw_pack_t *pack, const char *text,
                             size_t len);

#endif
