#include "simhash.h"

#include <stdbool.h>
#include <string.h>

/* FNV-1a: cheap, well spread for short keys. */
static uint64_t fnv1a(const unsigned char *p, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* Punctuation and spaces of other scripts (general punctuation, CJK
 * symbols and full-width forms) separate words like ASCII's do. */
static bool is_wide_punct(uint32_t cp) {
    return (cp >= 0xA0 && cp <= 0xBF) || (cp >= 0x2000 && cp <= 0x206F) ||
           (cp >= 0x3000 && cp <= 0x303F) || (cp >= 0xFF00 && cp <= 0xFF0F) ||
           (cp >= 0xFF1A && cp <= 0xFF20) || (cp >= 0xFF3B && cp <= 0xFF40) ||
           (cp >= 0xFF5B && cp <= 0xFF65);
}

/* Length and code point of the UTF-8 sequence at p (1 and the byte itself
 * when it is not valid UTF-8: such bytes count as letters). */
static size_t utf8_at(const unsigned char *p, size_t left, uint32_t *cp) {
    size_t n = p[0] >= 0xF0 ? 4 : p[0] >= 0xE0 ? 3 : p[0] >= 0xC0 ? 2 : 1;

    if (n == 1 || n > left)
        goto raw;
    *cp = p[0] & (0x3F >> (n - 1));
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            goto raw;
        *cp = (*cp << 6) | (p[i] & 0x3F);
    }
    return n;
raw:
    *cp = 0x10FFFF + 1; /* no punctuation */
    return 1;
}

/* Lower-case ASCII letters, keep the letters of other scripts, and turn
 * runs of anything else (digits, punctuation, spaces, full-width
 * punctuation) into one space, so "Great!!! 5" and "great 7", or "很差！"
 * and "很差！！", normalise alike. */
static size_t normalise(const char *in, size_t len, unsigned char *out, size_t cap) {
    const unsigned char *p = (const unsigned char *)in;
    size_t n = 0;
    bool space = true;

    for (size_t i = 0; i < len && n + 4 < cap;) {
        unsigned char c = p[i];
        uint32_t cp;
        size_t k = 1;
        bool letter;
        if (c < 0x80) {
            if (c >= 'A' && c <= 'Z')
                c = (unsigned char)(c - 'A' + 'a');
            letter = c >= 'a' && c <= 'z';
            if (letter)
                out[n++] = c;
        } else {
            k = utf8_at(p + i, len - i, &cp);
            letter = !is_wide_punct(cp);
            if (letter) {
                memcpy(out + n, p + i, k);
                n += k;
            }
        }
        if (letter)
            space = false;
        else if (!space) {
            out[n++] = ' ';
            space = true;
        }
        i += k;
    }
    while (n && out[n - 1] == ' ')
        n--;
    return n;
}

#define GRAM 4
/* Texts beyond this are hashed on their start: reviews are short, and a
 * bound keeps the cost of hostile input fixed. */
#define MAX_TEXT 4096

uint64_t bw_simhash(const char *text, size_t len) {
    unsigned char norm[MAX_TEXT];
    int32_t v[64] = {0};
    size_t n = normalise(text, len, norm, sizeof(norm));
    uint64_t out = 0;

    if (n == 0)
        return 0;
    if (n < GRAM)
        return fnv1a(norm, n);
    for (size_t i = 0; i + GRAM <= n; i++) {
        uint64_t h = fnv1a(norm + i, GRAM);
        for (int b = 0; b < 64; b++)
            v[b] += (h >> b) & 1 ? 1 : -1;
    }
    for (int b = 0; b < 64; b++)
        if (v[b] > 0)
            out |= 1ULL << b;
    return out;
}

int bw_simhash_distance(uint64_t a, uint64_t b) {
    return __builtin_popcountll(a ^ b);
}

int bw_simhash_cluster(const uint64_t *h, int n, int max_bits) {
    int best = n > 0 ? 1 : 0;

    for (int i = 0; i < n; i++) {
        int c = 0;
        for (int j = 0; j < n; j++)
            c += bw_simhash_distance(h[i], h[j]) <= max_bits;
        if (c > best)
            best = c;
    }
    return best;
}
