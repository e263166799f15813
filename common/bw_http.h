/**
 * @file bw_http.h
 * @brief One small HTTP server per process (libmicrohttpd, its own thread):
 *        /metrics (Prometheus text), /healthz, /readyz, plus stage routes.
 */
#ifndef BW_HTTP_H
#define BW_HTTP_H

#include <stdbool.h>

#include "bw_err.h"
#include "bw_metrics.h"
#include "bw_util.h"

typedef struct bw_http_s bw_http_t;
typedef struct bw_http_req_s bw_http_req_t;

/**
 * A route handler fills @p body and returns the HTTP status. It runs on the
 * server's thread: it must only read state that is safe to share.
 */
typedef int (*bw_http_handler_t)(void *opaque, const bw_http_req_t *req, bw_buf_t *body,
                                 const char **content_type);

/** @brief A query-string argument of the request, or NULL. */
const char *bw_http_req_arg(const bw_http_req_t *req, const char *key);

/**
 * @brief Create a server for "host:port" (port 0 picks a free one). It does
 *        not listen until bw_http_start().
 */
bw_http_t *bw_http_new(const char *listen, bw_metrics_t *reg, char *errstr, size_t errstr_size);
bw_err_t bw_http_route(bw_http_t *http, const char *path, bw_http_handler_t cb, void *opaque);
bw_err_t bw_http_start(bw_http_t *http, char *errstr, size_t errstr_size);
/** @brief The port actually bound (useful with port 0). */
int bw_http_port(const bw_http_t *http);
/** @brief What /readyz answers: 200 when ready, 503 otherwise. */
void bw_http_set_ready(bw_http_t *http, bool ready);
void bw_http_destroy(bw_http_t *http);

#endif
