#include "bw_err.h"

#include <stdarg.h>
#include <stdio.h>

static const struct {
    const char *name;
    const char *desc;
    bool retriable;
} bw_err_tab[BW_ERR__CNT] = {
#define BW_ERR_TAB_(name, desc, retr) {#name, desc, retr},
    BW_ERRORS(BW_ERR_TAB_)
#undef BW_ERR_TAB_
};

const char *bw_err2str(bw_err_t err) {
    if ((unsigned)err >= BW_ERR__CNT)
        return "unknown error";
    return bw_err_tab[err].desc;
}

const char *bw_err2name(bw_err_t err) {
    if ((unsigned)err >= BW_ERR__CNT)
        return "UNKNOWN";
    return bw_err_tab[err].name;
}

bool bw_err_retriable(bw_err_t err) {
    if ((unsigned)err >= BW_ERR__CNT)
        return false;
    return bw_err_tab[err].retriable;
}

void bw_errstr_set(char *errstr, size_t errstr_size, const char *fmt, ...) {
    va_list ap;

    if (!errstr || errstr_size == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(errstr, errstr_size, fmt, ap);
    va_end(ap);
}
