/* Literal prefilter for rule patterns (see prefilter.c). */
#ifndef BW_CLASSIFY_PREFILTER_H
#define BW_CLASSIFY_PREFILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BW_LIT_MAX 24 /* bytes of one literal */
#define BW_LITS_MAX 96 /* literals of one rule */

typedef struct bw_lit_s {
    char text[BW_LIT_MAX];
    uint8_t len;
    bool at_word; /* later literals: every match has it at a word start */
} bw_lit_t;

/**
 * @brief The literals every match of @p pattern starts with: for a pattern
 *        made of branches "\b(?:alt|alt...)..." (or "(?:alt|...)..." for
 *        text without word boundaries, *anywhere set), the lower-cased
 *        literal start of each alternative, small classes such as [aã]
 *        expanded. Each literal has at least 2 bytes.
 * @returns false when the pattern's start cannot be read that way: the rule
 *          must then be searched for the usual way.
 */
bool bw_prefilter_literals(const char *pattern, bool *anywhere, bw_lit_t *lits, int *nlits);

/**
 * @brief Literals one of which every match must contain after its start:
 *        the alternatives of the last mandatory group of each branch
 *        ("veio ... (?:quebrado|rasgado)"). A text without any of them
 *        cannot match. A literal is at_word when the pattern puts a space
 *        or \b right before it and it starts with a letter or digit: then
 *        it need only be looked for at word starts.
 * @returns false when some branch has no such group.
 */
bool bw_prefilter_later(const char *pattern, bw_lit_t *lits, int *nlits);

#endif
