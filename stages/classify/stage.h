/* bw-classify's record glue: ReviewEvent in, ClassifiedReview out, over the
 * classifier in classify.h. Used by the Kafka loop, --stdin and the tests. */
#ifndef BW_CLASSIFY_STAGE_H
#define BW_CLASSIFY_STAGE_H

#include <jansson.h>

#include "bw_metrics.h"
#include "bw_serde.h"
#include "bw_util.h"
#include "classify.h"

#define CLASSIFY_RESPONSE_MS (24LL * 3600 * 1000)

enum {
    CLASSIFY_M_REVIEWS,
    CLASSIFY_M_CAUSES,
    CLASSIFY_M_TRUNC,
    CLASSIFY_M_LIMIT,
    CLASSIFY_M_RULES,
    CLASSIFY_M_RELOAD,
    CLASSIFY_M__CNT
};
/** The stage's own metrics (besides the common ones). */
extern const bw_metric_decl_t classify_metrics[CLASSIFY_M__CNT];

typedef struct classify_s {
    char *rules_dir;
    size_t body_max;
    bw_serde_t *sd;
    const bw_schema_t *in_schema, *out_schema;
    size_t *offs; /* where each ReviewEvent field starts in a message */
    bw_buf_t tmp;
    bw_pack_t *pack;
    bw_classifier_t *cl;
    int n_shared; /* leading fields ReviewEvent and ClassifiedReview share */
    /* ClassifiedReview's other fields: written by the stage itself when
     * they are the ones it knows, in its order (tail_direct), else by Avro
     * C as a record of their own (see classify_wire) */
    bool tail_direct;
    avro_schema_t tail_schema;
    avro_value_iface_t *tail_iface;
    avro_value_t tail;
    bool have_tail;
    bw_buf_t wire; /* classify_wire's output */
    bw_record_t *in_rec; /* a message of another ReviewEvent version, rewritten */
    bw_buf_t rewritten;
    int f_title, f_body, f_language, f_kind, f_rating, f_fulfilled, f_occurred;
    int o_causes, o_primary, o_sentiment, o_severity, o_removable, o_policy, o_due, o_rules, o_lang,
        o_truncated, o_classified_at;
    bw_metrics_t *reg;
    bw_metric_t *m_reviews, *m_truncated, *m_limit_hits, *m_rules, *m_reload_ok, *m_reload_err;
    bw_metric_t *m_causes[BW_CAUSE_CNT];
    bw_metric_t *m_langs[BW_LANG__CNT]; /* reviews by detected language */
} classify_t;

/** @brief Load the rule pack and look up the schemas. */
bw_err_t classify_init(classify_t *c, bw_serde_t *sd, const char *rules_dir, size_t body_max,
                       bw_metrics_t *reg, char *errstr, size_t errstr_size);
void classify_fini(classify_t *c);

/**
 * @brief Classify one ReviewEvent message (wire format) and write the
 *        ClassifiedReview message into c->wire. The input is checked
 *        (bw_serde_check) and its fields read where they are; its bytes
 *        are the output's leading fields, so only the findings are encoded.
 * @param res receives the classifier's findings (for --explain and tests).
 * @returns an error (with errstr) for input to dead-letter.
 */
bw_err_t classify_wire(classify_t *c, const void *wire, size_t len, bw_review_out_t *res,
                       char *errstr, size_t errstr_size);

/** @brief Reload the rule pack (SIGHUP): a bad pack keeps the old one. */
bw_err_t classify_reload(void *opaque);

/** @brief [{rule, cause, start, end, text}] for --explain, of the message
 *  classify_wire was given. */
json_t *classify_explain(classify_t *c, const bw_review_out_t *res, const void *wire, size_t len);

#endif
