/*
 * bw_field - read one field of a decoded Avro record by index.
 */
#include "bw_field.h"

bool bw_field_opt(avro_value_t *rec, int idx, avro_value_t *branch) {
    avro_value_t f;
    int disc = 0;

    if (avro_value_get_by_index(rec, (size_t)idx, &f, NULL) ||
        avro_value_get_discriminant(&f, &disc) || disc == 0)
        return false;
    return avro_value_get_current_branch(&f, branch) == 0;
}

void bw_field_string_of(avro_value_t *v, const char **s, size_t *len) {
    size_t size = 0;

    if (avro_value_get_string(v, s, &size) || !*s) {
        *s = "";
        *len = 0;
    } else {
        *len = size ? size - 1 : 0; /* Avro C counts the NUL */
    }
}

void bw_field_str(avro_value_t *rec, int idx, const char **s, size_t *len) {
    avro_value_t f;

    if (avro_value_get_by_index(rec, (size_t)idx, &f, NULL)) {
        *s = "";
        *len = 0;
        return;
    }
    bw_field_string_of(&f, s, len);
}

bool bw_field_opt_str(avro_value_t *rec, int idx, const char **s, size_t *len) {
    avro_value_t b;

    if (!bw_field_opt(rec, idx, &b))
        return false;
    bw_field_string_of(&b, s, len);
    return true;
}

int64_t bw_field_long(avro_value_t *rec, int idx) {
    avro_value_t f;
    int64_t v = 0;

    if (!avro_value_get_by_index(rec, (size_t)idx, &f, NULL))
        avro_value_get_long(&f, &v);
    return v;
}

int64_t bw_field_opt_long(avro_value_t *rec, int idx) {
    avro_value_t b;
    int64_t v = INT64_MIN;

    if (bw_field_opt(rec, idx, &b))
        avro_value_get_long(&b, &v);
    return v;
}

int bw_field_enum(avro_value_t *rec, int idx) {
    avro_value_t f;
    int v = 0;

    if (!avro_value_get_by_index(rec, (size_t)idx, &f, NULL))
        avro_value_get_enum(&f, &v);
    return v;
}

int64_t bw_field_opt_int(avro_value_t *rec, int idx) {
    avro_value_t b;
    int32_t v;

    if (!bw_field_opt(rec, idx, &b) || avro_value_get_int(&b, &v))
        return INT64_MIN;
    return v;
}

int bw_field_opt_enum(avro_value_t *rec, int idx) {
    avro_value_t b;
    int v;

    if (!bw_field_opt(rec, idx, &b) || avro_value_get_enum(&b, &v))
        return -1;
    return v;
}

uint64_t bw_field_enum_mask(avro_value_t *rec, int idx) {
    avro_value_t f, item;
    size_t n = 0;
    uint64_t mask = 0;
    int v;

    if (avro_value_get_by_index(rec, (size_t)idx, &f, NULL) || avro_value_get_size(&f, &n))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!avro_value_get_by_index(&f, i, &item, NULL) && !avro_value_get_enum(&item, &v) &&
            v >= 0 && v < 64)
            mask |= 1ULL << v;
    return mask;
}
