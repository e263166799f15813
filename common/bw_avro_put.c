#include "bw_avro_put.h"

#include <string.h>

/* Written where the buffer ends, no terminator: an encoding is bytes. */
static size_t zigzag(unsigned char *out, int64_t v) {
    /* zigzag: sign in the low bit (v >> 63 on a negative is implementation-defined in C) */
    uint64_t z = ((uint64_t)v << 1) ^ (v < 0 ? UINT64_MAX : 0);
    size_t n = 0;

    while (z > 0x7F) {
        out[n++] = (unsigned char)(z | 0x80);
        z >>= 7;
    }
    out[n++] = (unsigned char)z;
    return n;
}

bool bw_avro_put_long(bw_buf_t *b, int64_t v) {
    if (!bw_buf_reserve(b, BW_AVRO_LONG_MAX))
        return false;
    b->len += zigzag((unsigned char *)b->data + b->len, v);
    return true;
}

bool bw_avro_put_double(bw_buf_t *b, double v) {
    uint64_t bits;
    unsigned char out[8];

    memcpy(&bits, &v, sizeof(bits));
    for (int i = 0; i < 8; i++)
        out[i] = (unsigned char)(bits >> (8 * i));
    return bw_buf_append(b, out, sizeof(out));
}

bool bw_avro_put_bool(bw_buf_t *b, bool v) {
    unsigned char c = v ? 1 : 0;

    return bw_buf_append(b, &c, 1);
}

bool bw_avro_put_string(bw_buf_t *b, const char *s, size_t len) {
    return bw_avro_put_long(b, (int64_t)len) && bw_buf_append(b, s, len);
}
