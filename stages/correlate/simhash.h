/* Near-duplicate texts for bw-correlate's fake-review test: a 64-bit
 * SimHash over character 4-grams of the normalised text (case folded,
 * runs of non-letters collapsed to one space), so it works the same for
 * languages without spaces (ja, zh). Two texts are near duplicates when
 * their hashes differ in at most a few bits (3 of 64 by default: about a
 * word changed in a short review). */
#ifndef BW_CORRELATE_SIMHASH_H
#define BW_CORRELATE_SIMHASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t bw_simhash(const char *text, size_t len);

/** Bits that differ. */
int bw_simhash_distance(uint64_t a, uint64_t b);

/**
 * @brief The largest group of hashes within @p max_bits of one of them
 *        (that one included): the size of the biggest near-duplicate
 *        cluster among @p n hashes (quadratic; callers cap n).
 */
int bw_simhash_cluster(const uint64_t *h, int n, int max_bits);

#endif
