/* What the libFuzzer targets share: a finding is an abort with a reason
 * (libFuzzer then saves the input that caused it). */
#ifndef BW_FUZZ_H
#define BW_FUZZ_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

__attribute__((noreturn, format(printf, 1, 2))) static inline void fuzz_die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("fuzz finding: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

#ifdef BW_FUZZ_SERDE
#include "bw_serde.h"

static bw_serde_t *fuzz_sd;

/* Avro C keeps some of a record's pointers in a form LeakSanitizer cannot
 * follow: the decoded records kept between inputs would be reported as
 * leaks at exit unless freed first. */
static void fuzz_serde_free(void) {
    bw_serde_destroy(fuzz_sd);
}

/* The project's schemas, loaded once, freed at exit. */
static inline bw_serde_t *fuzz_serde(void) {
    char errstr[512];

    if (!fuzz_sd) {
        if (!(fuzz_sd = bw_serde_new(BW_DEFAULT_SCHEMA_DIR, 1 << 20, errstr, sizeof(errstr))))
            fuzz_die("schemas: %s", errstr);
        atexit(fuzz_serde_free);
    }
    return fuzz_sd;
}
#endif

#endif
