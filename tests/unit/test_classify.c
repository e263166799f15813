/* bw-classify's logic without Kafka: the labelled fixtures of every
 * language through the same record path as the stage, the rule pack's
 * errors, reload, and hostile input. */
#include "bw_test.h"

#include <jansson.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bw_json.h"
#include "bw_serde.h"
#include "classify.h"
#include "prefilter.h"
#include "stage.h"

static bw_serde_t *sd;
static classify_t c;
static bw_record_t *in;
static char errstr[1024];

static bw_buf_t last_msg; /* the message run() classified last */

/* ReviewEvent JSON -> message -> classify_wire (the stage's path) ->
 * ClassifiedReview JSON */
static json_t *run(json_t *review, bw_review_out_t *res) {
    bw_review_out_t local;
    bw_record_t *out;
    if (bw_json_to_avro(c.in_schema, review, &in->value, errstr, sizeof(errstr)))
        fail_msg("fixture does not validate: %s", errstr);
    if (bw_serde_encode(sd, c.in_schema, &in->value, &last_msg, errstr, sizeof(errstr)))
        fail_msg("encode: %s", errstr);
    if (classify_wire(&c, last_msg.data, last_msg.len, res ? res : &local, errstr, sizeof(errstr)))
        fail_msg("classify_wire: %s", errstr);
    if (bw_serde_decode(sd, c.wire.data, c.wire.len, c.out_schema, &out, errstr, sizeof(errstr)))
        fail_msg("output does not decode: %s", errstr);
    return bw_avro_to_json(c.out_schema, &out->value);
}

static json_t *review(const char *kind, int rating, const char *body) {
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "event_id", "t1", "platform",
                          "AMAZON", "marketplace", "US", "store_id", "s1", "kind", kind, "body",
                          body, "occurred_at", "2024-03-01T10:00:00Z");
    if (rating)
        json_object_set_new(j, "rating", json_integer(rating));
    return j;
}

static int set_sorted(json_t *arr, char *out, size_t size) {
    /* a canonical "a,b,c" of a JSON string array, for comparison */
    const char *items[32];
    size_t n = json_array_size(arr), o = 0;
    for (size_t i = 0; i < n && i < 32; i++)
        items[i] = json_string_value(json_array_get(arr, i));
    for (size_t i = 0; i < n; i++)
        for (size_t k = i + 1; k < n; k++)
            if (strcmp(items[i], items[k]) > 0) {
                const char *t = items[i];
                items[i] = items[k];
                items[k] = t;
            }
    out[0] = '\0';
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(out + o, size - o, "%s%s", i ? "," : "", items[i]);
    return (int)n;
}

static void check_language(const char *lang) {
    char path[512], line[4096];
    FILE *fp;
    int n = 0, failures = 0;

    snprintf(path, sizeof(path), "%s/classify/%s.jsonl", BW_FIXTURE_DIR, lang);
    fp = fopen(path, "r");
    assert_non_null(fp);
    while (fgets(line, sizeof(line), fp)) {
        json_t *fx = json_loads(line, 0, NULL), *r, *out, *v;
        char want[512], got[512];
        bw_review_out_t res;
        const char *kind = json_string_value(json_object_get(fx, "kind"));

        assert_non_null(fx);
        n++;
        r = review(kind ? kind : "PRODUCT_REVIEW",
                   (int)json_integer_value(json_object_get(fx, "rating")),
                   json_string_value(json_object_get(fx, "body")));
        if ((v = json_object_get(fx, "fulfilled")))
            json_object_set(r, "fulfilled_by_platform", v);
        out = run(r, &res);
        set_sorted(json_object_get(fx, "causes"), want, sizeof(want));
        set_sorted(json_object_get(out, "causes"), got, sizeof(got));
#define EXPECT(cond, ...)                    \
    if (!(cond)) {                           \
        fprintf(stderr, "%s:%d: ", lang, n); \
        fprintf(stderr, __VA_ARGS__);        \
        fprintf(stderr, "\n");               \
        failures++;                          \
    }
        EXPECT(!strcmp(want, got), "causes [%s], want [%s]: %s", got, want,
               json_string_value(json_object_get(fx, "body")));
        EXPECT(!strcmp(json_string_value(json_object_get(out, "detected_language")), lang),
               "language %s", json_string_value(json_object_get(out, "detected_language")));
        if ((v = json_object_get(fx, "primary")))
            EXPECT(json_equal(v, json_object_get(out, "primary_cause")), "primary %s",
                   json_string_value(json_object_get(out, "primary_cause")));
        if ((v = json_object_get(fx, "removable")))
            EXPECT(json_equal(v, json_object_get(out, "removable")), "removable %s",
                   json_string_value(json_object_get(out, "removable")));
        if ((v = json_object_get(fx, "policy"))) {
            set_sorted(v, want, sizeof(want));
            set_sorted(json_object_get(out, "policy_flags"), got, sizeof(got));
            EXPECT(!strcmp(want, got), "policy [%s], want [%s]", got, want);
        }
        if ((v = json_object_get(fx, "sent"))) {
            double s = json_real_value(json_object_get(out, "sentiment"));
            int sign = s > 0.05 ? 1 : s < -0.05 ? -1 : 0;
            EXPECT(sign == json_integer_value(v), "sentiment %.2f", s);
        }
        json_decref(out);
        json_decref(r);
        json_decref(fx);
    }
    fclose(fp);
    assert_true(n >= 30); /* at least 30 labelled texts per language */
    assert_int_equal(failures, 0);
}

static void test_fixtures_en(void **s) {
    (void)s;
    check_language("en");
}
static void test_fixtures_pt(void **s) {
    (void)s;
    check_language("pt");
}
static void test_fixtures_de(void **s) {
    (void)s;
    check_language("de");
}
static void test_fixtures_fr(void **s) {
    (void)s;
    check_language("fr");
}
static void test_fixtures_es(void **s) {
    (void)s;
    check_language("es");
}
static void test_fixtures_it(void **s) {
    (void)s;
    check_language("it");
}
static void test_fixtures_ja(void **s) {
    (void)s;
    check_language("ja");
}
static void test_fixtures_zh(void **s) {
    (void)s;
    check_language("zh");
}

static void test_response_due_and_severity(void **state) {
    json_t *r, *out;

    (void)state;
    r = review("PRODUCT_REVIEW", 1, "Arrived broken.");
    out = run(r, NULL);
    assert_string_equal(json_string_value(json_object_get(out, "response_due_at")),
                        "2024-03-02T10:00:00.000Z");
    assert_string_equal(json_string_value(json_object_get(out, "severity")), "HIGH");
    json_decref(out);
    json_decref(r);

    r = review("PRODUCT_REVIEW", 5, "Love it, works great.");
    out = run(r, NULL);
    assert_true(json_is_null(json_object_get(out, "response_due_at")));
    assert_string_equal(json_string_value(json_object_get(out, "severity")), "NONE");
    assert_int_equal(json_array_size(json_object_get(out, "causes")), 0);
    json_decref(out);
    json_decref(r);

    /* claims and chargebacks are always high and always need an answer */
    r = review("A_TO_Z_CLAIM", 0, "Item not received.");
    out = run(r, NULL);
    assert_string_equal(json_string_value(json_object_get(out, "severity")), "HIGH");
    assert_false(json_is_null(json_object_get(out, "response_due_at")));
    json_decref(out);
    json_decref(r);
    r = review("CHARGEBACK", 0, "");
    out = run(r, NULL);
    assert_string_equal(json_string_value(json_object_get(out, "severity")), "HIGH");
    assert_string_equal(json_string_value(json_object_get(out, "primary_cause")), "other");
    json_decref(out);
    json_decref(r);

    /* an outbound seller message never needs a response */
    r = review("SELLER_MESSAGE", 0, "Your parcel is on its way.");
    out = run(r, NULL);
    assert_true(json_is_null(json_object_get(out, "response_due_at")));
    json_decref(out);
    json_decref(r);
}

static void test_given_language_wins(void **state) {
    json_t *r = review("PRODUCT_REVIEW", 2, "Chegou atrasado");
    json_t *out;

    (void)state;
    json_object_set_new(r, "language", json_string("pt-BR"));
    out = run(r, NULL);
    assert_string_equal(json_string_value(json_object_get(out, "detected_language")), "pt");
    json_decref(out);
    json_decref(r);
}

static void test_huge_body_is_cut_and_flagged(void **state) {
    size_t n = 1024 * 1024;
    char *body = malloc(n + 1);
    json_t *r, *out;
    const char *unit = "não chegou ";

    (void)state;
    for (size_t i = 0; i < n; i++)
        body[i] = unit[i % strlen(unit)];
    body[n] = '\0';
    /* end on a partial multi-byte character, to check the cut */
    r = review("PRODUCT_REVIEW", 1, body);
    out = run(r, NULL);
    assert_true(json_is_true(json_object_get(out, "body_truncated")));
    assert_true(json_string_length(json_object_get(out, "body")) <= c.body_max);
    assert_true(json_string_length(json_object_get(out, "body")) > c.body_max - 4);
    json_decref(out);
    json_decref(r);
    free(body);
}

static void test_empty_and_nul_bodies(void **state) {
    json_t *r, *out;

    (void)state;
    r = review("PRODUCT_REVIEW", 3, "");
    out = run(r, NULL);
    assert_int_equal(json_array_size(json_object_get(out, "causes")), 0);
    json_decref(out);
    json_decref(r);
    /* NUL bytes inside the text: matched as data, never as an end */
    r = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s#, s:s}", "event_id", "t", "platform", "EBAY",
                  "marketplace", "US", "store_id", "s", "kind", "PRODUCT_REVIEW", "body",
                  "ok\0arrived broken", (size_t)18, "occurred_at", "2024-01-01T00:00:00Z");
    out = run(r, NULL);
    assert_int_equal(json_string_length(json_object_get(out, "body")), 18);
    json_decref(out);
    json_decref(r);
}

static void test_pathological_input_stays_bounded(void **state) {
    size_t n = 100000;
    char *body = malloc(n + 1);
    json_t *r, *out;
    bw_review_out_t res;

    (void)state;
    /* 100,000 of one character, and of a rule's prefix, through every rule */
    memset(body, 'a', n);
    body[n] = '\0';
    r = review("PRODUCT_REVIEW", 1, body);
    out = run(r, &res);
    json_decref(out);
    json_decref(r);
    for (size_t i = 0; i < n; i++)
        body[i] = "arrived "[i % 8];
    r = review("PRODUCT_REVIEW", 1, body);
    out = run(r, &res);
    json_decref(out);
    json_decref(r);
    free(body);
}

static char tmpdir[64];

static void write_file(const char *name, const char *text) {
    char path[256];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void test_match_limit_stops_backtracking(void **state) {
    bw_pack_t *pack;
    bw_classifier_t *cl = bw_classifier_new();
    bw_review_in_t rin = {0};
    bw_review_out_t res;
    size_t n = 30000;
    char *body = malloc(n + 1);

    (void)state;
    /* A catastrophic pattern: the match limit must end it. */
    write_file("x.rules", "lang en\nrule en.bad.nested quality_defect 1 ^(a+)+$\n");
    pack = bw_pack_load(tmpdir, errstr, sizeof(errstr));
    assert_non_null(pack);
    memset(body, 'a', n);
    body[n - 1] = '!';
    body[n] = '\0';
    rin.body = body;
    rin.body_len = n;
    rin.language = "en";
    bw_classify(cl, pack, &rin, &res);
    assert_true(res.limit_hits > 0);
    assert_false(res.causes[BW_T_QUALITY_DEFECT]);
    bw_pack_destroy(pack);
    bw_classifier_destroy(cl);
    free(body);
}

static void expect_pack_error(const char *text, const char *msg) {
    write_file("x.rules", text);
    assert_null(bw_pack_load(tmpdir, errstr, sizeof(errstr)));
    if (!strstr(errstr, msg))
        fail_msg("expected \"%s\", got \"%s\"", msg, errstr);
}

static void test_pack_errors(void **state) {
    (void)state;
    expect_pack_error(
        "lang en\nrule en.a quality_defect 1 (unclosed\n",
        "x.rules:2: pattern does not compile at offset 9: missing closing parenthesis");
    expect_pack_error("lang en\nrule en.a nonsense 1 abc\n",
                      "x.rules:2: unknown cause \"nonsense\"");
    expect_pack_error("rule en.a quality_defect 1 abc\n", "x.rules:1: \"lang\" must come before");
    expect_pack_error("lang en\nrule en.a quality_defect 1 abc\nrule en.a price 1 x\n",
                      "x.rules:3: rule id \"en.a\" used twice");
    expect_pack_error("lang xx\n", "x.rules:1: unknown language \"xx\"");
    expect_pack_error("lang en\nrule en.a quality_defect heavy abc\n",
                      "x.rules:2: weight must be a number");
    expect_pack_error("lang en\nfrobnicate 1 2\n", "x.rules:2: unknown keyword \"frobnicate\"");
    expect_pack_error("lang en\nlex 9 great\n", "x.rules:2: lex needs a value in -4..4");
    expect_pack_error("lang en\nrule en.a quality_defect 1\n", "x.rules:2: missing pattern");
    expect_pack_error("# nothing\n", "no rules");
    assert_null(bw_pack_load("/nonexistent/rules", errstr, sizeof(errstr)));
    assert_non_null(strstr(errstr, "/nonexistent/rules"));
}

static void test_reload_keeps_old_pack_on_error(void **state) {
    classify_t c2;
    size_t before;

    (void)state;
    write_file("x.rules", "lang en\nrule en.a quality_defect 1 broken\n");
    assert_int_equal(classify_init(&c2, sd, tmpdir, 4096, NULL, errstr, sizeof(errstr)), BW_ERR_OK);
    before = bw_pack_rule_count(c2.pack);
    assert_int_equal(before, 1);
    write_file("x.rules", "lang en\nrule en.a quality_defect 1 (bad\n");
    assert_int_equal(classify_reload(&c2), BW_ERR_CONFIG);
    assert_int_equal(bw_pack_rule_count(c2.pack), before); /* still the old one */
    write_file("x.rules", "lang en\nrule en.a quality_defect 1 broken\nrule en.b price 1 pricey\n");
    assert_int_equal(classify_reload(&c2), BW_ERR_OK);
    assert_int_equal(bw_pack_rule_count(c2.pack), 2);
    classify_fini(&c2);
}

static void test_explain_spans(void **state) {
    json_t *r = review("PRODUCT_REVIEW", 1, "It arrived two weeks late."), *out, *ex;
    bw_review_out_t res;

    (void)state;
    out = run(r, &res);
    ex = classify_explain(&c, &res, last_msg.data, last_msg.len);
    assert_true(json_array_size(ex) >= 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(ex, 0), "rule")),
                        "en.delay.late");
    assert_string_equal(json_string_value(json_object_get(json_array_get(ex, 0), "text")), "late");
    json_decref(ex);
    json_decref(out);
    json_decref(r);
}

/* Every fixture text of every language, and texts written for the
 * prefilter's harder patterns, as ReviewEvent JSON (caller frees). */
static json_t *all_texts(void) {
    static const char *langs[] = {"en", "pt", "de", "fr", "es", "it", "ja", "zh"};
    static const char *extra[] = {"3 semaines d'attente pour recevoir le colis",
                                  "deux semaines pour la livraison",
                                  "zwei Wochen gewartet, 10 Wochen unterwegs",
                                  "tardó mucho, 4 semanas esperando",
                                  "hanno impiegato 3 settimane",
                                  "much smaller than expected, way bigger than pictured",
                                  "viel kleiner als erwartet",
                                  "a loja não responde, essa loja é péssima",
                                  "smaller than described",
                                  "kleiner als abgebildet",
                                  "loja não responde",
                                  "calidad pésima y mala calidad",
                                  "qualité médiocre, mauvaise qualité",
                                  "arrived on time but broken; did not arrive on time",
                                  "não chegou antes do prazo",
                                  "chegou antes do prazo, muito rápido",
                                  "1234567 98765 00 não recebi",
                                  "ligue 11 98765-4321 ou mande para a@b.com"};
    json_t *arr = json_array();
    char path[512], line[4096];

    for (size_t l = 0; l < sizeof(langs) / sizeof(langs[0]); l++) {
        FILE *fp;
        snprintf(path, sizeof(path), "%s/classify/%s.jsonl", BW_FIXTURE_DIR, langs[l]);
        assert_non_null(fp = fopen(path, "r"));
        while (fgets(line, sizeof(line), fp)) {
            json_t *fx = json_loads(line, 0, NULL);
            const char *kind = json_string_value(json_object_get(fx, "kind"));
            assert_non_null(fx);
            json_array_append_new(arr,
                                  review(kind ? kind : "PRODUCT_REVIEW",
                                         (int)json_integer_value(json_object_get(fx, "rating")),
                                         json_string_value(json_object_get(fx, "body"))));
            json_decref(fx);
        }
        fclose(fp);
    }
    for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
        json_array_append_new(arr, review("PRODUCT_REVIEW", 1, extra[i]));
    return arr;
}

/* The literals "lits" (comma separated, in order) of pattern p. */
static void expect_literals(const char *p, const char *want) {
    bw_lit_t lits[BW_LITS_MAX];
    bool anywhere;
    int n;
    char got[1024] = "";

    if (!want) {
        assert_false(bw_prefilter_literals(p, &anywhere, lits, &n));
        return;
    }
    assert_true(bw_prefilter_literals(p, &anywhere, lits, &n));
    for (int i = 0; i < n; i++)
        snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%.*s", i ? "," : "",
                 (int)lits[i].len, lits[i].text);
    assert_string_equal(got, want);
}

static void test_prefilter_literals(void **state) {
    (void)state;
    expect_literals("\\b(?:atras\\w*|demor[ao])", "atras,demora,demoro");
    /* an optional first group: its words, or what follows it */
    expect_literals("\\b(?:much |way )?(?:smaller|bigger) than", "much ,way ,smaller,bigger");
    expect_literals("\\b(?:(?:a |essa )?loja|site)\\b", "a ,essa ,loja,site");
    /* \d+ at a word start: one digit; x+ still starts with x */
    expect_literals("\\b(?:\\d+|dos) semanas", "0,1,2,3,4,5,6,7,8,9,dos");
    expect_literals("\\bno+t", "no");
    /* what cannot be read: searched the usual way */
    expect_literals("\\b\\w+ly", NULL);
    expect_literals("\\b(?:a|bc)", NULL); /* a one-letter start */
    expect_literals("\\b(?:abc)?\\w", NULL);
    expect_literals("\\bcalidad|calidad mala", NULL); /* \b and not */
}

/* Whether the later literals of p are at word starts (all of them). */
static int later_at_word(const char *p) {
    bw_lit_t lits[BW_LITS_MAX];
    int n, at = 0;

    assert_true(bw_prefilter_later(p, lits, &n));
    for (int i = 0; i < n; i++)
        at += lits[i].at_word;
    assert_true(at == 0 || at == n);
    return at > 0;
}

static void test_prefilter_later_at_word(void **state) {
    (void)state;
    assert_true(later_at_word("\\b(?:veio|chegou) (?:quebrado|rasgado)"));
    assert_true(later_at_word("\\b(?:veio|chegou) (?:\\w+ ){0,2}(?:quebrado|rasgado)"));
    assert_true(later_at_word("\\b(?:veio|chegou)\\s+(?:quebrado)"));
    assert_true(later_at_word("\\b(?:veio|chegou)[^.]{0,20}\\b(?:quebrado)"));
    /* a word character may come right before: anywhere */
    assert_false(later_at_word("\\b(?:veio|chegou)[^.]{0,20}(?:quebrado)"));
    assert_false(later_at_word("\\b(?:veio|chegou)\\w*(?:quebrado)"));
    assert_false(later_at_word("\\b(?:veio|chegou) (?:\\w+)?(?:quebrado)"));
    assert_false(later_at_word("\\b(?:veio|chegou) (?:(?:super)?legal)"));
    assert_false(later_at_word("\\b(?:veio|chegou) ?(?:quebrado)"));
    assert_false(later_at_word("\\b(?:veio|chegou) (?:-ok)"));
}

/* The prefilter only saves work: with it and without it every text gets
 * the same causes, scores, rules and spans. */
static void test_prefilter_changes_nothing(void **state) {
    json_t *texts = all_texts();
    size_t i, runs_on = 0, runs_off = 0;
    json_t *r;

    (void)state;
    json_array_foreach(texts, i, r) {
        bw_review_out_t on, off;
        json_decref(run(r, &on));
        bw_classifier_set_prefilter(c.cl, false);
        json_decref(run(r, &off));
        bw_classifier_set_prefilter(c.cl, true);
        runs_on += (size_t)on.regex_runs;
        runs_off += (size_t)off.regex_runs;
        for (int k = 0; k < BW_CAUSE_CNT; k++) {
            if (on.causes[k] != off.causes[k] || on.cause_score[k] != off.cause_score[k])
                fail_msg("text %zu: cause %d differs (%.2f with the prefilter, %.2f without)", i, k,
                         on.cause_score[k], off.cause_score[k]);
        }
        assert_int_equal(on.nmatches, off.nmatches);
        for (int m = 0; m < on.nmatches; m++) {
            assert_string_equal(on.matches[m].rule_id, off.matches[m].rule_id);
            assert_int_equal(on.matches[m].start, off.matches[m].start);
            assert_int_equal(on.matches[m].end, off.matches[m].end);
        }
        assert_true(on.sentiment == off.sentiment);
    }
    assert_true(json_array_size(texts) > 240);
    /* and it does save work: a search per rule without it */
    assert_true(runs_on * 2 < runs_off);
    json_decref(texts);
}

/* The stage's output is the input with the findings after it: its first
 * fields equal the input's (the body cut to body.max.bytes when longer),
 * and Avro C writes the decoded output back to the very same bytes. */
static void test_output_carries_the_input(void **state) {
    json_t *texts = all_texts(), *r, *full;
    bw_buf_t again = {0}, out = {0};
    size_t i;
    char *big = malloc(c.body_max + 100);

    (void)state;
    assert_true(c.tail_direct); /* the findings written by the stage */
    memset(big, 'x', c.body_max + 99);
    memcpy(big, "arrived broken ", 15);
    big[c.body_max + 99] = '\0';
    json_array_append_new(texts, review("PRODUCT_REVIEW", 1, big));
    free(big);
    full = review("A_TO_Z_CLAIM", 0, "Never arrived. I want my money back!");
    json_object_set_new(full, "title", json_string("Where is it?"));
    json_object_set_new(full, "language", json_string("en"));
    json_object_set_new(full, "fulfilled_by_platform", json_true());
    json_object_set_new(full, "order_id", json_string("o-1"));
    json_array_append_new(texts, full);
    json_array_foreach(texts, i, r) {
        bw_review_out_t res;
        json_t *inj, *outj = run(r, &res), *v;
        const char *key;
        bw_record_t *back;
        bool cut = json_is_true(json_object_get(outj, "body_truncated"));

        bw_buf_reset(&out);
        assert_true(bw_buf_append(&out, c.wire.data, c.wire.len));
        inj = bw_avro_to_json(c.in_schema, &in->value);
        json_object_foreach(inj, key, v) {
            json_t *o = json_object_get(outj, key);
            if (!strcmp(key, "body") && cut) {
                assert_true(json_string_length(o) <= c.body_max);
                assert_memory_equal(json_string_value(o), json_string_value(v),
                                    json_string_length(o));
            } else if (!json_equal(v, o)) {
                fail_msg("text %zu: field %s differs", i, key);
            }
        }
        assert_int_equal(cut, i == json_array_size(texts) - 2);
        if (bw_serde_decode(sd, out.data, out.len, c.out_schema, &back, errstr, sizeof(errstr)) ||
            bw_serde_encode(sd, c.out_schema, &back->value, &again, errstr, sizeof(errstr)))
            fail_msg("text %zu: %s", i, errstr);
        assert_int_equal(again.len, out.len);
        assert_memory_equal(again.data, out.data, out.len);
        json_decref(inj);
        json_decref(outj);
    }
    bw_buf_free(&again);
    bw_buf_free(&out);
    json_decref(texts);
}

/* A schema file of dir, with one more optional field at index at. */
static void write_with_field(const char *dir, const char *from, const char *to, size_t at) {
    char path[512];
    json_t *sch, *field;

    snprintf(path, sizeof(path), "%s/%s", BW_DEFAULT_SCHEMA_DIR, from);
    assert_non_null(sch = json_load_file(path, 0, NULL));
    field = json_pack("{s:s, s:[s,s], s:n, s:s}", "name", "x_channel", "type", "null", "string",
                      "default", "doc", "test: a field a later version added");
    assert_int_equal(json_array_insert_new(json_object_get(sch, "fields"), at, field), 0);
    snprintf(path, sizeof(path), "%s/%s", dir, to);
    assert_int_equal(json_dump_file(sch, path, JSON_INDENT(2)), 0);
    json_decref(sch);
}

/* dir: tmpdir/sub, holding a copy of the project's schemas. */
static void schemas_copy(char *dir, size_t size, const char *sub) {
    char cmd[1024];

    snprintf(dir, size, "%s/%s", tmpdir, sub);
    snprintf(cmd, sizeof(cmd), "mkdir -p %s && cp %s/* %s/", dir, BW_DEFAULT_SCHEMA_DIR, dir);
    assert_int_equal(system(cmd), 0);
}

/* The manifest of dir with lines added, and a classifier on its schemas. */
static bw_serde_t *classifier_on(const char *dir, const char *lines, classify_t *cx,
                                 size_t body_max) {
    char cmd[1024], err[512];
    bw_serde_t *sdx;

    snprintf(cmd, sizeof(cmd), "printf '%s' >>%s/ids.manifest", lines, dir);
    assert_int_equal(system(cmd), 0);
    if (!(sdx = bw_serde_new(dir, BW_SERDE_DEFAULT_MAX, err, sizeof(err))))
        fail_msg("%s", err);
    if (classify_init(cx, sdx, BW_CLASSIFY_RULES_DIR, body_max, NULL, err, sizeof(err)))
        fail_msg("%s", err);
    return sdx;
}

/* schemas/README.md: a record type evolves by adding fields with
 * defaults, under a new id, and messages of the old id still decode. A
 * stage on the new ReviewEvent gets a message of the old one: classified,
 * its added field at its default. */
static void test_older_review_version(void **state) {
    char dir[128], err[512];
    bw_serde_t *sd2;
    classify_t c2;
    bw_record_t *old, *out;
    const bw_schema_t *v1;
    bw_buf_t m = {0};
    bw_review_out_t res;
    json_t *r = review("PRODUCT_REVIEW", 1, "It arrived two weeks late."), *o;
    size_t n_review;

    (void)state;
    schemas_copy(dir, sizeof(dir), "schemas2");
    n_review = c.in_schema->root->n;
    write_with_field(dir, "ReviewEvent.avsc", "ReviewEvent.v2.avsc", n_review);
    write_with_field(dir, "ClassifiedReview.avsc", "ClassifiedReview.v2.avsc", n_review);
    sd2 = classifier_on(dir, "90 ReviewEvent.v2.avsc\\n91 ClassifiedReview.v2.avsc\\n", &c2, 4096);
    assert_int_equal(c2.in_schema->id, 90);
    assert_int_equal(c2.out_schema->id, 91);
    /* a message written with ReviewEvent id 1 */
    assert_non_null(v1 = bw_serde_schema_by_id(sd2, 1));
    assert_non_null(old = bw_record_new(v1));
    if (bw_json_to_avro(v1, r, &old->value, err, sizeof(err)) ||
        bw_serde_encode(sd2, v1, &old->value, &m, err, sizeof(err)))
        fail_msg("%s", err);
    if (classify_wire(&c2, m.data, m.len, &res, err, sizeof(err)))
        fail_msg("classify_wire: %s", err);
    if (bw_serde_decode(sd2, c2.wire.data, c2.wire.len, c2.out_schema, &out, err, sizeof(err)))
        fail_msg("output: %s", err);
    o = bw_avro_to_json(c2.out_schema, &out->value);
    assert_string_equal(json_string_value(json_object_get(o, "event_id")), "t1");
    assert_true(json_is_null(json_object_get(o, "x_channel")));
    assert_string_equal(json_string_value(json_array_get(json_object_get(o, "causes"), 0)),
                        "logistics_delay");
    json_decref(o);
    json_decref(r);
    bw_buf_free(&m);
    bw_record_destroy(old);
    classify_fini(&c2);
    bw_serde_destroy(sd2);
}

/* A ClassifiedReview with a field this stage does not write (a later
 * version's, at the end): the findings go through Avro C, the new field at
 * its default, and the outputs say what the stage's own writer's say, for
 * every fixture text. */
static void test_unknown_output_field(void **state) {
    char dir[128], err[512];
    bw_serde_t *sd3;
    classify_t c3;
    json_t *texts = all_texts(), *r;
    size_t i, mixed = 0, flagged = 0;

    (void)state;
    schemas_copy(dir, sizeof(dir), "schemas3");
    write_with_field(dir, "ClassifiedReview.avsc", "ClassifiedReview.v3.avsc",
                     c.out_schema->root->n);
    sd3 = classifier_on(dir, "92 ClassifiedReview.v3.avsc\\n", &c3, 16384);
    assert_int_equal(c3.out_schema->id, 92);
    assert_false(c3.tail_direct);
    json_array_append_new(
        texts, review("A_TO_Z_CLAIM", 1, "Never arrived, and the seller insulted me. Garbage!"));
    json_array_append_new(texts, review("SELLER_MESSAGE", 0,
                                        "Please change your review to 5 stars and we will send "
                                        "you a $10 gift card."));
    json_array_foreach(texts, i, r) {
        bw_review_out_t res;
        bw_record_t *out;
        json_t *mine = run(r, NULL), *theirs; /* mine: through c, the stage's own writer */
        if (classify_wire(&c3, last_msg.data, last_msg.len, &res, err, sizeof(err)))
            fail_msg("classify_wire: %s", err);
        if (bw_serde_decode(sd3, c3.wire.data, c3.wire.len, c3.out_schema, &out, err, sizeof(err)))
            fail_msg("output: %s", err);
        theirs = bw_avro_to_json(c3.out_schema, &out->value);
        assert_true(json_is_null(json_object_get(theirs, "x_channel")));
        assert_int_equal(json_object_del(theirs, "x_channel"), 0);
        json_object_del(theirs, "classified_at");
        json_object_del(mine, "classified_at");
        if (!json_equal(mine, theirs))
            fail_msg("text %zu: the two writers differ", i);
        mixed += json_array_size(json_object_get(mine, "causes")) >= 2 &&
                 json_array_size(json_object_get(mine, "rules")) >= 2 &&
                 !json_is_null(json_object_get(mine, "removable")) &&
                 !json_is_null(json_object_get(mine, "response_due_at"));
        flagged += json_array_size(json_object_get(mine, "policy_flags")) == 2;
        json_decref(mine);
        json_decref(theirs);
    }
    assert_true(flagged >= 1);
    assert_true(mixed >= 1); /* every kind of finding was written both ways */
    json_decref(texts);
    classify_fini(&c3);
    bw_serde_destroy(sd3);

    /* the same field without a default: the stage cannot write it */
    {
        char path[256];
        json_t *sch, *fields;
        snprintf(path, sizeof(path), "%s/ClassifiedReview.v3.avsc", dir);
        assert_non_null(sch = json_load_file(path, 0, NULL));
        fields = json_object_get(sch, "fields");
        assert_int_equal(
            json_object_del(json_array_get(fields, json_array_size(fields) - 1), "default"), 0);
        assert_int_equal(json_dump_file(sch, path, JSON_INDENT(2)), 0);
        json_decref(sch);
    }
    if (!(sd3 = bw_serde_new(dir, BW_SERDE_DEFAULT_MAX, err, sizeof(err))))
        fail_msg("%s", err);
    assert_int_equal(classify_init(&c3, sd3, BW_CLASSIFY_RULES_DIR, 16384, NULL, err, sizeof(err)),
                     BW_ERR_SCHEMA);
    assert_string_equal(err, "ClassifiedReview field x_channel has no default, and bw-classify "
                             "does not write it");
    classify_fini(&c3);
    bw_serde_destroy(sd3);
}

static int setup(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/bw_test_rules_XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    /* room for the 1 MiB body of test_huge_body_is_cut_and_flagged */
    if (!(sd = bw_serde_new(BW_DEFAULT_SCHEMA_DIR, 4 << 20, errstr, sizeof(errstr))))
        return -1;
    if (classify_init(&c, sd, BW_CLASSIFY_RULES_DIR, 16384, NULL, errstr, sizeof(errstr))) {
        fprintf(stderr, "%s\n", errstr);
        return -1;
    }
    in = bw_record_new(c.in_schema);
    return in ? 0 : -1;
}

static int teardown(void **state) {
    char cmd[128];

    (void)state;
    bw_record_destroy(in);
    bw_buf_free(&last_msg);
    classify_fini(&c);
    bw_serde_destroy(sd);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures_en),
        cmocka_unit_test(test_fixtures_pt),
        cmocka_unit_test(test_fixtures_de),
        cmocka_unit_test(test_fixtures_fr),
        cmocka_unit_test(test_fixtures_es),
        cmocka_unit_test(test_fixtures_it),
        cmocka_unit_test(test_fixtures_ja),
        cmocka_unit_test(test_fixtures_zh),
        cmocka_unit_test(test_response_due_and_severity),
        cmocka_unit_test(test_given_language_wins),
        cmocka_unit_test(test_huge_body_is_cut_and_flagged),
        cmocka_unit_test(test_empty_and_nul_bodies),
        cmocka_unit_test(test_pathological_input_stays_bounded),
        cmocka_unit_test(test_match_limit_stops_backtracking),
        cmocka_unit_test(test_pack_errors),
        cmocka_unit_test(test_reload_keeps_old_pack_on_error),
        cmocka_unit_test(test_explain_spans),
        cmocka_unit_test(test_prefilter_literals),
        cmocka_unit_test(test_prefilter_later_at_word),
        cmocka_unit_test(test_prefilter_changes_nothing),
        cmocka_unit_test(test_output_carries_the_input),
        cmocka_unit_test(test_older_review_version),
        cmocka_unit_test(test_unknown_output_field),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
