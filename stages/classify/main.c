/*
 * bw-classify: bw.reviews (ReviewEvent) -> bw.reviews.classified
 * (ClassifiedReview). Stateless; scales by running more copies in the same
 * consumer group. --stdin classifies JSON lines without Kafka through the
 * same code path; --explain adds which rule matched which span.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bw_json.h"
#include "bw_log.h"
#include "bw_proc.h"
#include "bw_stage.h"
#include "stage.h"

typedef struct {
    bw_stage_conf_t stage;
    char *rules_dir;
    int64_t body_max;
    char *input_topic;
    char *output_topic;
    bool stdin_mode;
    bool explain;
} classify_conf_t;

#define K(f) offsetof(classify_conf_t, f)
static const bw_conf_def_t classify_defs[] = {
    BW_STAGE_CONF_DEFS("bw-classify", "127.0.0.1:9101", "2000"),
    {"rules.dir", BW_CONF_STR, K(rules_dir), NULL, BW_CONF_NORANGE, NULL,
     "Folder of *.rules files (empty: the source tree's stages/classify/rules)"},
    {"body.max.bytes", BW_CONF_INT, K(body_max), "16384", 256, 1048576, NULL,
     "Longer bodies are cut to this many bytes and flagged body_truncated"},
    {"input.topic", BW_CONF_STR, K(input_topic), "bw.reviews", BW_CONF_NORANGE, NULL,
     "Topic of ReviewEvents"},
    {"output.topic", BW_CONF_STR, K(output_topic), "bw.reviews.classified", BW_CONF_NORANGE, NULL,
     "Topic of ClassifiedReviews"},
    {"stdin", BW_CONF_BOOL, K(stdin_mode), "false", BW_CONF_NORANGE, NULL,
     "Read ReviewEvent JSON lines on stdin, write ClassifiedReview JSON lines (no Kafka)"},
    {"explain", BW_CONF_BOOL, K(explain), "false", BW_CONF_NORANGE, NULL,
     "With --stdin: add the rules that matched and the spans they matched"},
};
#undef K

typedef struct {
    classify_t c;
    classify_conf_t *cc;
} app_t;

static bw_err_t process(void *opaque, bw_stage_t *st, rd_kafka_message_t **msgs, size_t n) {
    app_t *app = opaque;
    char errstr[512];
    bw_err_t err;

    for (size_t i = 0; i < n; i++) {
        rd_kafka_message_t *m = msgs[i];
        bw_review_out_t res;

        if ((err = classify_wire(&app->c, m->payload, m->len, &res, errstr, sizeof(errstr)))) {
            if ((err = bw_stage_deadletter(st, m, err, errstr)))
                return err;
            continue;
        }
        if ((err = bw_stage_emit_wire(st, app->cc->output_topic, m->key, m->key_len, &app->c.wire)))
            return bw_err_retriable(err) ? err
                                         : bw_stage_deadletter(st, m, err, "output too large");
    }
    return BW_ERR_OK;
}

/* --stdin: one JSON line in, one JSON line out; a bad line is reported as
 * stdin:LINE: reason on stderr and the run goes on (exit 1 at the end).
 * Each line is encoded as the message the stage would consume and goes
 * through the stage's own path (classify_wire). */
static int run_stdin(app_t *app) {
    char *line = NULL, errstr[512];
    size_t cap = 0;
    ssize_t len;
    long lineno = 0, bad = 0;
    bw_record_t *in = bw_record_new(app->c.in_schema), *out;
    bw_serde_t *sd = app->c.sd;
    bw_buf_t msg = {0};

    if (!in)
        return 1;
    while ((len = getline(&line, &cap, stdin)) >= 0) {
        json_error_t jerr;
        json_t *j, *outj;
        bw_review_out_t res;
        char *text;

        lineno++;
        if (len <= 1)
            continue;
        if (!(j = json_loadb(line, (size_t)len, 0, &jerr))) {
            fprintf(stderr, "stdin:%ld: malformed JSON at column %d: %s\n", lineno, jerr.column,
                    jerr.text);
            bad++;
            continue;
        }
        if (bw_json_to_avro(app->c.in_schema, j, &in->value, errstr, sizeof(errstr)) ||
            bw_serde_encode(sd, app->c.in_schema, &in->value, &msg, errstr, sizeof(errstr)) ||
            classify_wire(&app->c, msg.data, msg.len, &res, errstr, sizeof(errstr)) ||
            bw_serde_decode(sd, app->c.wire.data, app->c.wire.len, app->c.out_schema, &out, errstr,
                            sizeof(errstr))) {
            fprintf(stderr, "stdin:%ld: %s\n", lineno, errstr);
            json_decref(j);
            bad++;
            continue;
        }
        json_decref(j);
        outj = bw_avro_to_json(app->c.out_schema, &out->value);
        if (outj && app->cc->explain)
            json_object_set_new(outj, "explain",
                                classify_explain(&app->c, &res, msg.data, msg.len));
        if (outj && (text = json_dumps(outj, JSON_COMPACT))) {
            puts(text);
            free(text);
        }
        json_decref(outj);
    }
    free(line);
    bw_buf_free(&msg);
    bw_record_destroy(in);
    fflush(stdout);
    return bad ? 1 : 0;
}

int main(int argc, char **argv) {
    bw_conf_t conf;
    bw_common_conf_t common = {0};
    classify_conf_t cc = {0};
    app_t app = {.cc = &cc};
    bw_serde_t *sd = NULL;
    bw_stage_t *st = NULL;
    char errstr[1024];
    int rc = 1;

    bw_proc_set_metrics_table(classify_metrics, CLASSIFY_M__CNT);
    if (bw_proc_setup(&conf, "classify", NULL, &common, classify_defs, BW_ARRAY_SIZE(classify_defs),
                      &cc, argc, argv))
        goto out;
    if (!*cc.rules_dir) {
        free(cc.rules_dir);
        if (!(cc.rules_dir = strdup(BW_CLASSIFY_RULES_DIR)))
            goto out;
    }
    if (cc.stdin_mode) {
        if (!(sd = bw_proc_serde(&common, errstr, sizeof(errstr))) ||
            classify_init(&app.c, sd, cc.rules_dir, (size_t)cc.body_max, NULL, errstr,
                          sizeof(errstr))) {
            bw_log(BW_LOG_ERROR, "%s", errstr);
            goto out;
        }
        rc = run_stdin(&app);
        goto out;
    }
    {
        const char *topics[] = {cc.input_topic};
        bw_stage_ops_t ops = {.process = process, .reload = classify_reload};
        if (!(st = bw_stage_new("classify", &conf, &common, &cc.stage, topics, 1, &ops, &app.c,
                                errstr, sizeof(errstr)))) {
            bw_log(BW_LOG_ERROR, "%s", errstr);
            goto out;
        }
    }
    bw_stage_warm(st, cc.output_topic);
    /* process() reaches the app through the ops opaque, which is &app.c:
     * app_t starts with it. */
    if (classify_init(&app.c, bw_stage_serde(st), cc.rules_dir, (size_t)cc.body_max,
                      bw_stage_metrics(st), errstr, sizeof(errstr))) {
        bw_log(BW_LOG_ERROR, "%s", errstr);
        goto out;
    }
    bw_log(BW_LOG_INFO, "rule pack %s: %zu rules", cc.rules_dir, bw_pack_rule_count(app.c.pack));
    rc = bw_stage_run(st);
out:
    classify_fini(&app.c);
    bw_stage_destroy(st);
    bw_serde_destroy(sd);
    bw_conf_destroy(&conf);
    return rc;
}
