/* Personal data out of text meant for people: e-mail addresses and phone
 * numbers replaced by "[email]" and "[phone]". The patterns are the ones
 * bw-classify flags as PERSONAL_DATA (stages/classify/rules/00-any.rules),
 * so what the classifier calls personal data is what gets redacted. */
#ifndef BW_REDACT_H
#define BW_REDACT_H

#include <stddef.h>

typedef struct bw_redactor_s bw_redactor_t;

/** @returns NULL (and why in @p errstr) when the patterns cannot be compiled. */
bw_redactor_t *bw_redactor_new(char *errstr, size_t errstr_size);
void bw_redactor_destroy(bw_redactor_t *rd);

/**
 * @brief Redact @p len bytes of UTF-8 at @p in.
 * @returns 1 with a NUL-terminated copy in *out (free it) when something
 *          was replaced, 0 when there was nothing to replace, -1 when the
 *          text could not be searched (invalid UTF-8, out of memory, the
 *          match limit): the caller must not pass it on as it is.
 */
int bw_redact(bw_redactor_t *rd, const char *in, size_t len, char **out);

#endif
