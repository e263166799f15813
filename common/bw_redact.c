#define PCRE2_CODE_UNIT_WIDTH 8
#include "bw_redact.h"

#include <pcre2.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "bw_err.h"
#include "bw_util.h"

static const struct {
    const char *pattern, *replacement;
} PATTERNS[] = {
    {"[\\w.%+-]+@[\\w-]+(?:\\.[\\w-]+)*\\.[a-z]{2,}", "[email]"},
    {"(?<![\\d-])(?:\\+\\d{1,3}[ .-]?)?(?:\\(\\d{2,4}\\)[ .-]?|\\d{2,4}[ .-])\\d{3,5}[ .-]\\d{4}"
     "(?![\\d-])|(?<![\\d-])\\+\\d{10,14}(?!\\d)",
     "[phone]"},
};
#define NPATTERNS BW_ARRAY_SIZE(PATTERNS)

struct bw_redactor_s {
    pcre2_code *code[NPATTERNS];
    pcre2_match_context *mctx;
};

bw_redactor_t *bw_redactor_new(char *errstr, size_t errstr_size) {
    bw_redactor_t *rd = calloc(1, sizeof(*rd));
    int code;
    PCRE2_SIZE at;

    if (!rd || !(rd->mctx = pcre2_match_context_create(NULL))) {
        bw_errstr_set(errstr, errstr_size, "out of memory");
        goto err;
    }
    /* text for people is short; a hostile one must not make it slow */
    pcre2_set_match_limit(rd->mctx, 100000);
    pcre2_set_depth_limit(rd->mctx, 1000);
    for (size_t i = 0; i < NPATTERNS; i++) {
        rd->code[i] = pcre2_compile((PCRE2_SPTR)PATTERNS[i].pattern, PCRE2_ZERO_TERMINATED,
                                    PCRE2_UTF | PCRE2_UCP | PCRE2_CASELESS, &code, &at, NULL);
        if (!rd->code[i]) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(code, msg, sizeof(msg));
            bw_errstr_set(errstr, errstr_size, "redaction pattern %zu at %zu: %s", i, (size_t)at,
                          (char *)msg);
            goto err;
        }
        pcre2_jit_compile(rd->code[i], PCRE2_JIT_COMPLETE); /* without JIT it still works */
    }
    return rd;
err:
    bw_redactor_destroy(rd);
    return NULL;
}

void bw_redactor_destroy(bw_redactor_t *rd) {
    if (!rd)
        return;
    for (size_t i = 0; i < NPATTERNS; i++)
        pcre2_code_free(rd->code[i]);
    pcre2_match_context_free(rd->mctx);
    free(rd);
}

/* One pattern over @p in: 1 and *out when replaced, 0 when not, -1 on error. */
static int substitute(bw_redactor_t *rd, size_t i, const char *in, size_t len, char **out) {
    PCRE2_SIZE size = len + 64;
    char *buf = NULL;

    for (int tries = 0; tries < 2; tries++) {
        char *n = realloc(buf, size);
        int rc;
        if (!n)
            break;
        buf = n;
        rc = pcre2_substitute(rd->code[i], (PCRE2_SPTR)in, len, 0,
                              PCRE2_SUBSTITUTE_GLOBAL | PCRE2_SUBSTITUTE_OVERFLOW_LENGTH, NULL,
                              rd->mctx, (PCRE2_SPTR)PATTERNS[i].replacement, PCRE2_ZERO_TERMINATED,
                              (PCRE2_UCHAR *)buf, &size);
        if (rc > 0) {
            *out = buf;
            return 1;
        }
        if (rc == 0) {
            free(buf);
            return 0;
        }
        if (rc != PCRE2_ERROR_NOMEMORY)
            break;
        size++; /* the length needed, and its NUL */
    }
    free(buf);
    return -1;
}

int bw_redact(bw_redactor_t *rd, const char *in, size_t len, char **out) {
    char *cur = NULL;
    int any = 0;

    *out = NULL;
    for (size_t i = 0; i < NPATTERNS; i++) {
        char *next;
        int rc = substitute(rd, i, cur ? cur : in, cur ? strlen(cur) : len, &next);
        if (rc < 0) {
            free(cur);
            return -1;
        }
        if (rc > 0) {
            free(cur);
            cur = next;
            any = 1;
        }
    }
    *out = cur;
    return any;
}
