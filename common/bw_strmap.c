#include "bw_strmap.h"

#include <stdlib.h>
#include <string.h>

/* Eight bytes a step (a byte-at-a-time FNV-1a was a fifth of a window
 * flush's CPU in bench_logistics: keys run to ~60 bytes, ~10 lookups per
 * event). Not keyed: a collision costs a probe, and a hostile name can
 * only slow its own batch. */
static uint64_t strmap_hash(const char *s, size_t len) {
    const uint64_t mul = 0xff51afd7ed558ccdULL;
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ len, w;

    for (; len >= 8; s += 8, len -= 8) {
        memcpy(&w, s, 8);
        h = (h ^ w) * mul;
        h ^= h >> 29;
    }
    if (len) {
        w = 0;
        memcpy(&w, s, len);
        h = (h ^ w) * mul;
    }
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 33);
}

bool bw_strmap_reserve(bw_strmap_t *m, size_t want) {
    size_t ncap = m->cap ? m->cap : 64;
    bw_strmap_t nm;

    while (want * 2 > ncap)
        ncap *= 2;
    if (ncap == m->cap)
        return true;
    nm = (bw_strmap_t){calloc(ncap, sizeof(char *)),
                       calloc(ncap, sizeof(int64_t)),
                       calloc(ncap, sizeof(uint64_t)),
                       ncap,
                       0,
                       m->arena};
    if (!nm.keys || !nm.vals || !nm.hashes) {
        free(nm.keys);
        free(nm.vals);
        free(nm.hashes);
        return false;
    }
    /* rehash from the stored hashes; the keys stay where they are */
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i])
            continue;
        size_t k = m->hashes[i] & (ncap - 1);
        while (nm.keys[k])
            k = (k + 1) & (ncap - 1);
        nm.keys[k] = m->keys[i];
        nm.vals[k] = m->vals[i];
        nm.hashes[k] = m->hashes[i];
        nm.n++;
    }
    free(m->keys);
    free(m->vals);
    free(m->hashes);
    *m = nm;
    return true;
}

/* The slot of @p key, or the empty slot where it would go. */
static size_t strmap_find(const bw_strmap_t *m, const char *key, size_t len, uint64_t h) {
    size_t k = h & (m->cap - 1);

    while (m->keys[k] &&
           !(m->hashes[k] == h && !memcmp(m->keys[k], key, len) && m->keys[k][len] == '\0'))
        k = (k + 1) & (m->cap - 1);
    return k;
}

int64_t *bw_strmap_get(const bw_strmap_t *m, const char *key, size_t len) {
    size_t k;

    if (!m->cap)
        return NULL;
    k = strmap_find(m, key, len, strmap_hash(key, len));
    return m->keys[k] ? &m->vals[k] : NULL;
}

int64_t *bw_strmap_put(bw_strmap_t *m, const char *key, size_t len, bool *fresh) {
    uint64_t h;
    size_t k;

    if (!bw_strmap_reserve(m, m->n + 1))
        return NULL;
    h = strmap_hash(key, len);
    k = strmap_find(m, key, len, h);
    if (m->keys[k])
        return &m->vals[k];
    if (!(m->keys[k] = bw_arena_strndup(&m->arena, key, len)))
        return NULL;
    m->hashes[k] = h;
    m->vals[k] = 0;
    m->n++;
    if (fresh)
        *fresh = true;
    return &m->vals[k];
}

void bw_strmap_free(bw_strmap_t *m) {
    bw_arena_free(&m->arena);
    free(m->keys);
    free(m->vals);
    free(m->hashes);
    memset(m, 0, sizeof(*m));
}
