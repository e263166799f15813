/* libFuzzer: any review text through the full rule pack, as bw-classify
 * sees it. The first bytes choose kind, rating, the platform's language
 * and fulfilment; the rest is split at the first NUL into title and body.
 * Classification never fails: every input gets a result within the match
 * limits, with sentiment in [-1, 1] and spans inside the text. */
#include <string.h>

#include "classify.h"
#include "fuzz.h"

static bw_pack_t *pack;
static bw_classifier_t *cl;
static const char *const LANGS[] = {NULL, "en", "de", "fr", "es", "it", "pt", "ja", "zh", "xx"};

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    char errstr[1024];
    (void)argc;
    (void)argv;
    if (!(pack = bw_pack_load(BW_CLASSIFY_RULES_DIR, errstr, sizeof(errstr))))
        fuzz_die("rule pack: %s", errstr);
    if (!(cl = bw_classifier_new()))
        fuzz_die("out of memory");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    bw_review_in_t in = {0};
    bw_review_out_t out;
    const char *text;
    const uint8_t *nul;
    size_t len, span;

    if (size < 2)
        return 0;
    in.kind = (bw_kind_t)(data[0] % (BW_KIND_SELLER_MESSAGE + 1));
    in.rating = (data[0] >> 3) % 6;
    in.language = LANGS[data[1] % (sizeof(LANGS) / sizeof(LANGS[0]))];
    in.fulfilled_by_platform = (data[1] >> 4) % 3 - 1;
    text = (const char *)data + 2;
    len = size - 2;
    if ((nul = memchr(text, 0, len))) {
        in.title = text;
        in.title_len = (size_t)((const char *)nul - text);
        text = (const char *)nul + 1;
        len -= in.title_len + 1;
    }
    in.body = text;
    in.body_len = len;
    bw_classify(cl, pack, &in, &out);
    span = (in.title_len ? in.title_len + 1 : 0) + in.body_len; /* title "\n" body */
    if (!(out.sentiment >= -1 && out.sentiment <= 1))
        fuzz_die("sentiment %f outside [-1, 1]", out.sentiment);
    if (out.nmatches < 0 || out.nmatches > BW_MAX_MATCHES)
        fuzz_die("%d matches", out.nmatches);
    for (int i = 0; i < out.nmatches; i++)
        if (out.matches[i].start > out.matches[i].end || out.matches[i].end > span)
            fuzz_die("rule %s: span %zu..%zu outside the text (%zu bytes)", out.matches[i].rule_id,
                     out.matches[i].start, out.matches[i].end, span);
    return 0;
}
