/**
 * @file bw_strmap.h
 * @brief A string -> int64 hash map for a batch's bookkeeping: open
 *        addressing, at most half full, keys copied into the map's arena
 *        (freed together). The value is a count, an offset or an index
 *        into the caller's array.
 */
#ifndef BW_STRMAP_H
#define BW_STRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bw_util.h"

typedef struct bw_strmap_s {
    char **keys; /* NULL: an empty slot; iterate i < cap */
    int64_t *vals;
    uint64_t *hashes;
    size_t cap, n;
    bw_arena_t arena;
} bw_strmap_t;

/** @brief Room for @p n keys without rehashing. false: out of memory. */
bool bw_strmap_reserve(bw_strmap_t *m, size_t n);
/** @brief The value of @p key (@p len bytes), or NULL when it is missing. */
int64_t *bw_strmap_get(const bw_strmap_t *m, const char *key, size_t len);
/**
 * @brief The value of @p key, added with the value 0 when missing (then
 *        *@p fresh is set true, when given). NULL: out of memory.
 */
int64_t *bw_strmap_put(bw_strmap_t *m, const char *key, size_t len, bool *fresh);
/** @brief Empty the map and free what it holds; it can be used again. */
void bw_strmap_free(bw_strmap_t *m);

#endif
