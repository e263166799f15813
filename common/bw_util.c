#include "bw_util.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t bw_now_ms(void) {
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t bw_mono_ns(void) {
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t bw_mono_ms(void) {
    return bw_mono_ns() / 1000000;
}

void bw_sleep_ms(int64_t ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

    /* A signal cuts the sleep short on purpose: the caller re-checks its
     * stop flag, which is what makes SIGTERM prompt during a backoff. */
    nanosleep(&ts, NULL);
}

long bw_utf8_check(const char *str, size_t len) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;

    while (i < len) {
        unsigned c = s[i];
        size_t n;
        uint32_t cp;

        /* Most review text is mostly ASCII: skip 8 such bytes at a time. */
        if (c < 0x80) {
            uint64_t w;
            while (i + 8 <= len) {
                memcpy(&w, s + i, 8);
                if (w & 0x8080808080808080ULL)
                    break;
                i += 8;
            }
            while (i < len && s[i] < 0x80)
                i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return (long)i;
        }
        if (len - i <= n) /* sequence cut off by the end of the text */
            return (long)i;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return (long)i;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return (long)i;
        i += n + 1;
    }
    return -1;
}

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t bw_b64_enclen(size_t len) {
    return (len + 2) / 3 * 4;
}

size_t bw_b64_encode(const unsigned char *in, size_t len, char *out) {
    size_t o = 0, i;

    for (i = 0; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64_alphabet[v >> 18];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = b64_alphabet[(v >> 6) & 63];
        out[o++] = b64_alphabet[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)in[i + 1] << 8;
        out[o++] = b64_alphabet[v >> 18];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = i + 1 < len ? b64_alphabet[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

static int b64_val(char c) {
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

long bw_b64_decode(const char *in, size_t len, unsigned char *out) {
    size_t o = 0;

    if (len % 4 != 0)
        return -1;
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            if (in[i + k] == '=' && i + 4 == len && k >= 2) {
                v[k] = 0;
                pad++;
            } else if (pad) {
                return -1; /* data after padding */
            } else if ((v[k] = b64_val(in[i + k])) < 0) {
                return -1;
            }
        }
        uint32_t w =
            (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        out[o++] = (unsigned char)(w >> 16);
        if (pad < 2)
            out[o++] = (unsigned char)(w >> 8);
        if (pad < 1)
            out[o++] = (unsigned char)w;
    }
    return (long)o;
}

/* Days since 1970-01-01 for a proleptic Gregorian date (H. Hinnant's
 * days_from_civil), so no time zone or libc locale is involved. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

void bw_ts_format(int64_t ms, char *buf) {
    /* Clamp to years 0001..9999, what RFC 3339 can write. */
    const int64_t lo = -62135596800000LL, hi = 253402300799999LL;
    int64_t days, rem, y;
    unsigned mo, d, r;

    ms = ms < lo ? lo : ms > hi ? hi : ms;
    days = ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
    rem = ms - days * 86400000;
    r = (unsigned)rem;
    civil_from_days(days, &y, &mo, &d);
    snprintf(buf, BW_TS_BUFSZ, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ", (unsigned)y % 10000u,
             mo % 13u, d % 32u, r / 3600000u % 24u, r / 60000u % 60u, r / 1000u % 60u, r % 1000u);
}

static bool parse_digits(const char **p, int n, int *out) {
    int v = 0;

    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return true;
}

bool bw_ts_parse(const char *s, int64_t *ms) {
    static const unsigned mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h = 0, mi = 0, sec = 0, frac = 0, offs = 0;
    const char *p = s;

    if (!parse_digits(&p, 4, &y) || *p++ != '-' || !parse_digits(&p, 2, &mo) || *p++ != '-' ||
        !parse_digits(&p, 2, &d))
        return false;
    if (mo < 1 || mo > 12 || d < 1 || (unsigned)d > mdays[mo - 1])
        return false;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (!parse_digits(&p, 2, &h) || *p++ != ':' || !parse_digits(&p, 2, &mi) || *p++ != ':' ||
            !parse_digits(&p, 2, &sec))
            return false;
        if (h > 23 || mi > 59 || sec > 60)
            return false;
        if (*p == '.') {
            int digits = 0;
            p++;
            while (*p >= '0' && *p <= '9') {
                if (digits < 3)
                    frac = frac * 10 + (*p - '0');
                digits++;
                p++;
            }
            if (digits == 0)
                return false;
            for (; digits < 3; digits++)
                frac *= 10;
        }
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p++ == '-' ? -1 : 1, oh, om;
            if (!parse_digits(&p, 2, &oh) || *p++ != ':' || !parse_digits(&p, 2, &om) || oh > 23 ||
                om > 59)
                return false;
            offs = sign * (oh * 60 + om);
        } else {
            return false; /* a time without a zone is ambiguous: refuse it */
        }
    }
    if (*p != '\0')
        return false;
    *ms = ((days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec) -
           (int64_t)offs * 60) *
              1000 +
          frac;
    return true;
}

bool bw_buf_reserve(bw_buf_t *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap)
        return true;
    size_t ncap = b->cap ? b->cap : 256;
    while (ncap < b->len + extra + 1)
        ncap *= 2;
    char *n = realloc(b->data, ncap);
    if (!n)
        return false;
    b->data = n;
    b->cap = ncap;
    return true;
}

bool bw_buf_append(bw_buf_t *b, const void *p, size_t n) {
    if (!bw_buf_reserve(b, n))
        return false;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return true;
}

bool bw_buf_printf(bw_buf_t *b, const char *fmt, ...) {
    va_list ap;
    size_t room = b->cap - b->len;
    int n;

    /* one pass when it fits (the usual case for a reused buffer) */
    va_start(ap, fmt);
    n = vsnprintf(room ? b->data + b->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n < 0)
        return false;
    if ((size_t)n >= room) {
        if (!bw_buf_reserve(b, (size_t)n))
            return false;
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
    return true;
}

/* @p v in decimal, ending at @p end; returns where it starts. */
static char *i64_digits(char *end, int64_t v) {
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

    do {
        *--end = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--end = '-';
    return end;
}

size_t bw_fmt_i64(char *out, int64_t v) {
    char tmp[BW_I64_DIGITS], *p = i64_digits(tmp + sizeof(tmp), v);
    size_t n = (size_t)(tmp + sizeof(tmp) - p);

    memcpy(out, p, n);
    return n;
}

bool bw_buf_append_i64(bw_buf_t *b, int64_t v) {
    if (!bw_buf_reserve(b, BW_I64_DIGITS))
        return false;
    b->len += bw_fmt_i64(b->data + b->len, v);
    b->data[b->len] = '\0';
    return true;
}

bool bw_buf_join(bw_buf_t *b, const char *a, char sep, const char *c) {
    size_t alen = strlen(a), clen = strlen(c);

    bw_buf_reset(b);
    if (!bw_buf_reserve(b, alen + 1 + clen))
        return false;
    memcpy(b->data, a, alen);
    b->data[alen] = sep;
    memcpy(b->data + alen + 1, c, clen);
    b->len = alen + 1 + clen;
    b->data[b->len] = '\0';
    return true;
}

size_t bw_name_i64(char *out, size_t size, const char *prefix, int64_t v) {
    char tmp[BW_I64_DIGITS], *p = i64_digits(tmp + sizeof(tmp), v);
    size_t plen = strlen(prefix), dlen = (size_t)(tmp + sizeof(tmp) - p);

    if (!size)
        return 0;
    if (plen > size - 1)
        plen = size - 1;
    if (dlen > size - 1 - plen)
        dlen = size - 1 - plen;
    memcpy(out, prefix, plen);
    memcpy(out + plen, p, dlen);
    out[plen + dlen] = '\0';
    return plen + dlen;
}

/* ---- arena ---- */

struct bw_arena_block_s {
    struct bw_arena_block_s *next;
    size_t used, cap;
    char data[];
};

void *bw_arena_alloc(bw_arena_t *a, size_t n) {
    struct bw_arena_block_s *b = a->head;
    void *p;

    n = (n + 7) & ~(size_t)7;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 60000 ? n : 60000;
        if (!(b = malloc(sizeof(*b) + cap)))
            return NULL;
        b->next = a->head;
        b->used = 0;
        b->cap = cap;
        a->head = b;
    }
    p = b->data + b->used;
    b->used += n;
    return p;
}

char *bw_arena_strdup(bw_arena_t *a, const char *s) {
    return bw_arena_strndup(a, s, strlen(s));
}

char *bw_arena_strndup(bw_arena_t *a, const char *s, size_t n) {
    char *p = bw_arena_alloc(a, n + 1);

    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

void bw_arena_reset(bw_arena_t *a) {
    struct bw_arena_block_s *keep = NULL;

    /* keep one block for the next batch, free the rest */
    while (a->head) {
        struct bw_arena_block_s *b = a->head;
        a->head = b->next;
        if (!keep && b->cap == 60000) {
            keep = b;
            keep->used = 0;
            keep->next = NULL;
        } else {
            free(b);
        }
    }
    a->head = keep;
}

void bw_arena_free(bw_arena_t *a) {
    while (a->head) {
        struct bw_arena_block_s *b = a->head;
        a->head = b->next;
        free(b);
    }
}

void bw_buf_reset(bw_buf_t *b) {
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void bw_buf_free(bw_buf_t *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

bool bw_strlcpy(char *dst, const char *src, size_t size) {
    size_t n = strlen(src);

    if (size == 0)
        return false;
    if (n >= size) {
        memcpy(dst, src, size - 1);
        dst[size - 1] = '\0';
        return false;
    }
    memcpy(dst, src, n + 1);
    return true;
}

bool bw_parse_i64(const char *s, int64_t *out) {
    char *end;
    long long v;

    if (!s || !*s)
        return false;
    /* the common case, up to 18 digits (no overflow), without strtoll:
     * the stages parse every number Redis sends back */
    {
        const char *d = s + (*s == '-');
        uint64_t u = 0;
        size_t n = 0;
        while (n < 19 && d[n] >= '0' && d[n] <= '9')
            u = u * 10 + (uint64_t)(d[n++] - '0');
        if (n > 0 && n < 19 && d[n] == '\0') {
            *out = *s == '-' ? -(int64_t)u : (int64_t)u;
            return true;
        }
    }
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

bool bw_parse_double(const char *s, double *out) {
    char *end;
    double v;

    if (!s || !*s)
        return false;
    errno = 0;
    v = strtod(s, &end);
    if (errno || *end || !isfinite(v))
        return false;
    *out = v;
    return true;
}

void bw_errpath_prefix(char *errstr, size_t errstr_size, bool *has_path, const char *name) {
    char tmp[512];
    const char *sep;

    if (!errstr || !errstr_size)
        return;
    sep = !*has_path ? ": " : errstr[0] == '[' ? "" : ".";
    snprintf(tmp, sizeof(tmp), "%s%s%s", name, sep, errstr);
    bw_strlcpy(errstr, tmp, errstr_size);
    *has_path = true;
}

void bw_alert_id(char out[17], const char *type, const char *scope, int64_t window_start) {
    uint64_t h = 1469598103934665603ULL;
    char ws[24];
    const char *parts[] = {type, "\x1f", scope, "\x1f", ws};

    snprintf(ws, sizeof(ws), "%lld", (long long)window_start);
    for (size_t k = 0; k < 5; k++)
        for (const char *p = parts[k]; *p; p++)
            h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

bool bw_grow(void **arr, size_t *cap, size_t n, size_t sz) {
    size_t ncap;
    void *p;

    if (n < *cap)
        return true;
    ncap = *cap ? *cap * 2 : 64;
    while (ncap <= n)
        ncap *= 2;
    if (!(p = realloc(*arr, ncap * sz)))
        return false;
    *arr = p;
    *cap = ncap;
    return true;
}

uint32_t bw_hash32(const char *s) {
    uint32_t h = 2166136261u;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}
