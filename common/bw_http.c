#include "bw_http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define BW_HTTP_MAX_ROUTES 8

struct bw_http_req_s {
    struct MHD_Connection *conn;
    const char *url;
};

typedef struct {
    char *path;
    bw_http_handler_t cb;
    void *opaque;
} route_t;

struct bw_http_s {
    struct MHD_Daemon *mhd;
    struct sockaddr_storage addr;
    bw_metrics_t *reg;
    route_t routes[BW_HTTP_MAX_ROUTES];
    int nroutes;
    atomic_bool ready;
    int port;
};

const char *bw_http_req_arg(const bw_http_req_t *req, const char *key) {
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

static bool parse_listen(const char *listen, struct sockaddr_storage *ss, char *errstr,
                         size_t errstr_size) {
    char host[256];
    const char *colon = strrchr(listen, ':');
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_flags = AI_NUMERICSERV | AI_PASSIVE};
    struct addrinfo *res = NULL;
    size_t hlen;
    int rc;

    if (!colon) {
        bw_errstr_set(errstr, errstr_size, "http.listen: expected HOST:PORT, got \"%s\"", listen);
        return false;
    }
    hlen = (size_t)(colon - listen);
    if (hlen >= sizeof(host))
        hlen = sizeof(host) - 1;
    memcpy(host, listen, hlen);
    host[hlen] = '\0';
    /* "[::1]:9100" */
    if (host[0] == '[' && hlen >= 2 && host[hlen - 1] == ']') {
        memmove(host, host + 1, hlen - 2);
        host[hlen - 2] = '\0';
    }
    if ((rc = getaddrinfo(*host ? host : NULL, colon + 1, &hints, &res)) != 0) {
        bw_errstr_set(errstr, errstr_size, "http.listen: \"%s\": %s", listen, gai_strerror(rc));
        return false;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return true;
}

bw_http_t *bw_http_new(const char *listen, bw_metrics_t *reg, char *errstr, size_t errstr_size) {
    bw_http_t *http = calloc(1, sizeof(*http));

    if (!http) {
        bw_errstr_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    if (!parse_listen(listen, &http->addr, errstr, errstr_size)) {
        free(http);
        return NULL;
    }
    http->reg = reg;
    atomic_init(&http->ready, false);
    return http;
}

bw_err_t bw_http_route(bw_http_t *http, const char *path, bw_http_handler_t cb, void *opaque) {
    if (http->nroutes >= BW_HTTP_MAX_ROUTES || http->mhd)
        return BW_ERR_INVALID_ARG;
    if (!(http->routes[http->nroutes].path = strdup(path)))
        return BW_ERR_NOMEM;
    http->routes[http->nroutes].cb = cb;
    http->routes[http->nroutes++].opaque = opaque;
    return BW_ERR_OK;
}

static enum MHD_Result reply(struct MHD_Connection *conn, int status, const char *ctype,
                             bw_buf_t *body) {
    struct MHD_Response *resp;
    enum MHD_Result ret;

    resp = MHD_create_response_from_buffer(body->len, body->data ? body->data : "",
                                           MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", ctype);
    ret = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
    bw_http_t *http = cls;
    bw_buf_t body = {0};
    const char *ctype = "text/plain; charset=utf-8";
    int status = 404;
    enum MHD_Result ret;

    (void)version;
    (void)upload_data;
    (void)con_cls;
    if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
        *upload_data_size = 0;
        status = 405;
        bw_buf_printf(&body, "method not allowed\n");
    } else if (!strcmp(url, "/metrics")) {
        ctype = "text/plain; version=0.0.4; charset=utf-8";
        status = bw_metrics_render(http->reg, &body) == BW_ERR_OK ? 200 : 500;
    } else if (!strcmp(url, "/healthz")) {
        status = 200;
        bw_buf_printf(&body, "ok\n");
    } else if (!strcmp(url, "/readyz")) {
        bool ready = atomic_load(&http->ready);
        status = ready ? 200 : 503;
        bw_buf_printf(&body, ready ? "ready\n" : "not ready\n");
    } else {
        bw_buf_printf(&body, "not found\n");
        for (int i = 0; i < http->nroutes; i++) {
            if (!strcmp(url, http->routes[i].path)) {
                bw_http_req_t req = {conn, url};
                bw_buf_reset(&body);
                status = http->routes[i].cb(http->routes[i].opaque, &req, &body, &ctype);
                break;
            }
        }
    }
    ret = reply(conn, status, ctype, &body);
    bw_buf_free(&body);
    return ret;
}

bw_err_t bw_http_start(bw_http_t *http, char *errstr, size_t errstr_size) {
    const union MHD_DaemonInfo *info;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;

    if (http->addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    http->mhd =
        MHD_start_daemon(flags, 0, NULL, NULL, on_request, http, MHD_OPTION_SOCK_ADDR,
                         (struct sockaddr *)&http->addr, MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
    if (!http->mhd) {
        bw_errstr_set(errstr, errstr_size, "HTTP server could not listen (address in use?)");
        return BW_ERR_HTTP;
    }
    info = MHD_get_daemon_info(http->mhd, MHD_DAEMON_INFO_BIND_PORT);
    http->port = info ? info->port : 0;
    return BW_ERR_OK;
}

int bw_http_port(const bw_http_t *http) {
    return http->port;
}

void bw_http_set_ready(bw_http_t *http, bool ready) {
    atomic_store(&http->ready, ready);
}

void bw_http_destroy(bw_http_t *http) {
    if (!http)
        return;
    if (http->mhd)
        MHD_stop_daemon(http->mhd);
    for (int i = 0; i < http->nroutes; i++)
        free(http->routes[i].path);
    free(http);
}
