/* libFuzzer: a rule pack file as an operator writes it (and SIGHUP
 * reloads). Every input loads or is refused with file:line and a reason;
 * a pack that loads classifies a few texts within its match limits. */
#include <string.h>
#include <unistd.h>

#include "classify.h"
#include "fuzz.h"

static char dir[64], file[96];
static bw_classifier_t *cl;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    snprintf(dir, sizeof(dir), "/tmp/bw_fuzz_pack_XXXXXX");
    if (!mkdtemp(dir) || !(cl = bw_classifier_new()))
        fuzz_die("set-up failed");
    snprintf(file, sizeof(file), "%s/fuzz.rules", dir);
    return 0;
}

static const char *const TEXTS[] = {
    "Arrived broken, the box was crushed. Not as described!",
    "Die Lampe kam zerbrochen an, sehr enttäuscht",
    "não recebi o produto, péssimo atendimento",
    "配送が遅い、商品が壊れていました",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char errstr[1024];
    FILE *fp = fopen(file, "w");
    bw_pack_t *pack;

    if (!fp || fwrite(data, 1, size, fp) != size || fclose(fp))
        fuzz_die("cannot write %s", file);
    errstr[0] = '\0';
    if (!(pack = bw_pack_load(dir, errstr, sizeof(errstr)))) {
        if (!errstr[0])
            fuzz_die("a pack refused without a reason");
        return 0;
    }
    for (size_t i = 0; i < sizeof(TEXTS) / sizeof(TEXTS[0]); i++) {
        bw_review_in_t in = {.body = TEXTS[i], .body_len = strlen(TEXTS[i]), .rating = 1};
        bw_review_out_t out;
        bw_classify(cl, pack, &in, &out);
    }
    bw_pack_destroy(pack);
    return 0;
}
