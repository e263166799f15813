#include "bw_redis.h"

#include <ctype.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bw_log.h"
#include "bw_metrics_def.h"

#define MAX_SCRIPTS 32

struct bw_redis_s {
    redisContext *ctx;
    bw_redis_url_t url;
    int timeout_ms;
    int64_t max_wait_ms;
    int64_t backoff_cap_ms;
    volatile sig_atomic_t *stop;
    bw_redis_script_t *scripts[MAX_SCRIPTS];
    int nscripts;
    bw_metric_t *m_ok, *m_err, *m_reconn_ok, *m_reconn_err, *m_seconds;
};

static int hexval(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Copy [s, s+n) into out, decoding %XX (passwords may hold '@' or ':'). */
static bool pct_decode(const char *s, size_t n, char *out, size_t size) {
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            int hi, lo;
            if (i + 2 >= n || (hi = hexval(s[i + 1])) < 0 || (lo = hexval(s[i + 2])) < 0)
                return false;
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        if (o + 1 >= size)
            return false;
        out[o++] = c;
    }
    out[o] = '\0';
    return true;
}

bw_err_t bw_redis_url_parse(const char *url, bw_redis_url_t *u, char *errstr, size_t errstr_size) {
    const char *p, *at, *slash, *hostend, *colon;

    memset(u, 0, sizeof(*u));
    u->port = 6379;
    if (strncmp(url, "redis://", 8)) {
        bw_errstr_set(errstr, errstr_size,
                      "redis.url: expected redis://[user:password@]host[:port][/db], got \"%s\"",
                      url);
        return BW_ERR_CONFIG;
    }
    p = url + 8;
    slash = strchr(p, '/');
    hostend = slash ? slash : p + strlen(p);
    /* The last '@' before the path ends the credentials. */
    at = NULL;
    for (const char *q = p; q < hostend; q++)
        if (*q == '@')
            at = q;
    if (at) {
        const char *c = memchr(p, ':', (size_t)(at - p));
        bool ok = c ? pct_decode(p, (size_t)(c - p), u->user, sizeof(u->user)) &&
                          pct_decode(c + 1, (size_t)(at - c - 1), u->password, sizeof(u->password))
                    : pct_decode(p, (size_t)(at - p), u->password, sizeof(u->password));
        if (!ok) {
            bw_errstr_set(errstr, errstr_size, "redis.url: bad user or password encoding");
            return BW_ERR_CONFIG;
        }
        p = at + 1;
    }
    colon = NULL;
    for (const char *q = p; q < hostend; q++)
        if (*q == ':')
            colon = q;
    if (p[0] == '[') { /* [::1]:6379 */
        const char *rb = memchr(p, ']', (size_t)(hostend - p));
        if (!rb) {
            bw_errstr_set(errstr, errstr_size, "redis.url: unclosed '['");
            return BW_ERR_CONFIG;
        }
        colon = rb + 1 < hostend && rb[1] == ':' ? rb + 1 : NULL;
        if ((size_t)(rb - p - 1) >= sizeof(u->host))
            goto bad_host;
        memcpy(u->host, p + 1, (size_t)(rb - p - 1));
    } else {
        size_t hl = (size_t)((colon ? colon : hostend) - p);
        if (hl == 0 || hl >= sizeof(u->host))
            goto bad_host;
        memcpy(u->host, p, hl);
    }
    if (colon) {
        char port[16];
        int64_t v;
        size_t pl = (size_t)(hostend - colon - 1);
        if (pl == 0 || pl >= sizeof(port))
            goto bad_port;
        memcpy(port, colon + 1, pl);
        port[pl] = '\0';
        if (!bw_parse_i64(port, &v) || v < 1 || v > 65535)
            goto bad_port;
        u->port = (int)v;
    }
    if (slash && slash[1]) {
        int64_t db;
        if (!bw_parse_i64(slash + 1, &db) || db < 0 || db > 1000000) {
            bw_errstr_set(errstr, errstr_size, "redis.url: bad database number \"%s\"", slash + 1);
            return BW_ERR_CONFIG;
        }
        u->db = (int)db;
    }
    return BW_ERR_OK;
bad_host:
    bw_errstr_set(errstr, errstr_size, "redis.url: bad host in \"%s\"", url);
    return BW_ERR_CONFIG;
bad_port:
    bw_errstr_set(errstr, errstr_size, "redis.url: bad port in \"%s\"", url);
    return BW_ERR_CONFIG;
}

bw_redis_t *bw_redis_new(const char *url, int timeout_ms, bw_metrics_t *reg, char *errstr,
                         size_t errstr_size) {
    bw_redis_t *r = calloc(1, sizeof(*r));

    if (!r) {
        bw_errstr_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    if (bw_redis_url_parse(url, &r->url, errstr, errstr_size)) {
        free(r);
        return NULL;
    }
    r->timeout_ms = timeout_ms > 0 ? timeout_ms : 2000;
    r->max_wait_ms = -1;
    r->backoff_cap_ms = 5000;
    bw_redis_set_metrics(r, reg);
    return r;
}

void bw_redis_set_metrics(bw_redis_t *r, bw_metrics_t *reg) {
    const bw_metric_decl_t *c = &bw_common_metrics[BW_M_REDIS_CALLS];
    const bw_metric_decl_t *rc = &bw_common_metrics[BW_M_REDIS_RECONNECTS];

    if (!reg)
        return;
    r->m_ok = bw_metrics_get(reg, c, "ok");
    r->m_err = bw_metrics_get(reg, c, "error");
    r->m_reconn_ok = bw_metrics_get(reg, rc, "ok");
    r->m_reconn_err = bw_metrics_get(reg, rc, "error");
    r->m_seconds = bw_metrics_get(reg, &bw_common_metrics[BW_M_REDIS_SECONDS], NULL);
}

void bw_redis_set_retry(bw_redis_t *r, int64_t max_wait_ms, int64_t backoff_cap_ms,
                        volatile sig_atomic_t *stop) {
    r->max_wait_ms = max_wait_ms;
    r->backoff_cap_ms = backoff_cap_ms > 0 ? backoff_cap_ms : 5000;
    r->stop = stop;
}

static void drop(bw_redis_t *r) {
    if (r->ctx) {
        redisFree(r->ctx);
        r->ctx = NULL;
    }
}

/* A reply that is an error: copy its text; true if it was one. */
static bool reply_error(const redisReply *rep, char *errstr, size_t errstr_size) {
    if (rep && rep->type == REDIS_REPLY_ERROR) {
        bw_errstr_set(errstr, errstr_size, "%.*s", (int)rep->len, rep->str);
        return true;
    }
    return false;
}

static bw_err_t load_script(bw_redis_t *r, bw_redis_script_t *s, char *errstr, size_t errstr_size) {
    redisReply *rep = redisCommand(r->ctx, "SCRIPT LOAD %s", s->src);
    bw_err_t err = BW_ERR_OK;

    if (!rep) {
        bw_errstr_set(errstr, errstr_size, "SCRIPT LOAD: %s", r->ctx->errstr);
        return BW_ERR_REDIS_DOWN;
    }
    if (reply_error(rep, errstr, errstr_size))
        err = BW_ERR_REDIS;
    else if (rep->type == REDIS_REPLY_STRING && rep->len == 40)
        memcpy(s->sha, rep->str, 41);
    else {
        bw_errstr_set(errstr, errstr_size, "SCRIPT LOAD: unexpected reply");
        err = BW_ERR_REDIS;
    }
    freeReplyObject(rep);
    return err;
}

/* The reply to a connection set-up command (AUTH, SELECT): on failure the
 * connection is dropped; a refusal is final, a broken socket retriable. */
static bw_err_t setup_reply(bw_redis_t *r, redisReply *rep, const char *what, char *errstr,
                            size_t errstr_size) {
    bw_err_t err = BW_ERR_OK;

    if (!rep) {
        bw_errstr_set(errstr, errstr_size, "%s: %s", what, r->ctx->errstr);
        err = BW_ERR_REDIS_DOWN;
    } else if (reply_error(rep, errstr, errstr_size)) {
        err = BW_ERR_REDIS;
    }
    freeReplyObject(rep);
    if (err)
        drop(r);
    return err;
}

static bw_err_t connect_once(bw_redis_t *r, char *errstr, size_t errstr_size) {
    struct timeval tv = {r->timeout_ms / 1000, (r->timeout_ms % 1000) * 1000};
    redisReply *rep;
    bw_err_t err;

    drop(r);
    r->ctx = redisConnectWithTimeout(r->url.host, r->url.port, tv);
    if (!r->ctx || r->ctx->err) {
        bw_errstr_set(errstr, errstr_size, "connect %s:%d: %s", r->url.host, r->url.port,
                      r->ctx ? r->ctx->errstr : "out of memory");
        drop(r);
        return BW_ERR_REDIS_DOWN;
    }
    if (redisSetTimeout(r->ctx, tv) != REDIS_OK) {
        bw_errstr_set(errstr, errstr_size, "cannot set socket timeout");
        drop(r);
        return BW_ERR_REDIS_DOWN;
    }
    if (r->url.password[0]) {
        rep = r->url.user[0] ? redisCommand(r->ctx, "AUTH %s %s", r->url.user, r->url.password)
                             : redisCommand(r->ctx, "AUTH %s", r->url.password);
        if ((err = setup_reply(r, rep, "AUTH", errstr, errstr_size)))
            return err;
    }
    if (r->url.db) {
        rep = redisCommand(r->ctx, "SELECT %d", r->url.db);
        if ((err = setup_reply(r, rep, "SELECT", errstr, errstr_size)))
            return err;
    }
    for (int i = 0; i < r->nscripts; i++) {
        if ((err = load_script(r, r->scripts[i], errstr, errstr_size))) {
            drop(r);
            return err;
        }
    }
    return BW_ERR_OK;
}

bw_err_t bw_redis_connect(bw_redis_t *r, char *errstr, size_t errstr_size) {
    return connect_once(r, errstr, errstr_size);
}

/* Connect if needed, backing off 50 ms, 100 ms, ... up to the cap, until
 * connected, the retry budget is spent, or the stop flag is raised. A
 * refused AUTH or a bad SELECT is final: retrying cannot fix it. */
static bw_err_t ensure(bw_redis_t *r, int64_t started, char *errstr, size_t errstr_size) {
    int64_t backoff = 50;
    bw_err_t err;

    while (!r->ctx) {
        if (!(err = connect_once(r, errstr, errstr_size))) {
            bw_metric_inc(r->m_reconn_ok);
            bw_log(BW_LOG_INFO, "redis: connected to %s:%d", r->url.host, r->url.port);
            return BW_ERR_OK;
        }
        bw_metric_inc(r->m_reconn_err);
        if (!bw_err_retriable(err))
            return err;
        if ((r->stop && *r->stop) ||
            (r->max_wait_ms >= 0 && bw_mono_ms() - started + backoff > r->max_wait_ms))
            return err;
        bw_log_rl(BW_LOG_WARN, "redis: %s; retrying in %lld ms", errstr, (long long)backoff);
        bw_sleep_ms(backoff);
        backoff = backoff * 2 > r->backoff_cap_ms ? r->backoff_cap_ms : backoff * 2;
    }
    return BW_ERR_OK;
}

bw_err_t bw_redis_script_add(bw_redis_t *r, bw_redis_script_t *script) {
    if (r->nscripts >= MAX_SCRIPTS)
        return BW_ERR_INVALID_ARG;
    r->scripts[r->nscripts++] = script;
    script->sha[0] = '\0';
    if (r->ctx) {
        char errstr[256];
        return load_script(r, script, errstr, sizeof(errstr));
    }
    return BW_ERR_OK;
}

/* The shared retry loop: run one exchange; if the connection broke,
 * reconnect and run it again. */
typedef redisReply *(*exchange_fn)(bw_redis_t *r, void *arg);

static bw_err_t with_retry(bw_redis_t *r, exchange_fn fn, void *arg, redisReply **reply,
                           char *errstr, size_t errstr_size) {
    int64_t started = bw_mono_ms();
    bw_err_t err;

    for (;;) {
        int64_t t0;
        redisReply *rep;

        if ((err = ensure(r, started, errstr, errstr_size)))
            return err;
        t0 = bw_mono_ns();
        rep = fn(r, arg);
        if (rep) {
            bw_metric_observe(r->m_seconds, (double)(bw_mono_ns() - t0) / 1e9);
            if (reply_error(rep, errstr, errstr_size)) {
                bw_metric_inc(r->m_err);
                *reply = rep;
                return BW_ERR_REDIS;
            }
            bw_metric_inc(r->m_ok);
            *reply = rep;
            return BW_ERR_OK;
        }
        bw_metric_inc(r->m_err);
        bw_errstr_set(errstr, errstr_size, "redis: %s", r->ctx ? r->ctx->errstr : "disconnected");
        bw_log_rl(BW_LOG_WARN, "%s", errstr);
        drop(r);
        if ((r->stop && *r->stop) ||
            (r->max_wait_ms >= 0 && bw_mono_ms() - started > r->max_wait_ms))
            return BW_ERR_REDIS_DOWN;
    }
}

typedef struct {
    int argc;
    const char **argv;
    const size_t *argvlen;
} argv_t;

static redisReply *do_argv(bw_redis_t *r, void *arg) {
    argv_t *a = arg;
    return redisCommandArgv(r->ctx, a->argc, a->argv, a->argvlen);
}

bw_err_t bw_redis_argv(bw_redis_t *r, int argc, const char **argv, const size_t *argvlen,
                       redisReply **reply, char *errstr, size_t errstr_size) {
    argv_t a = {argc, argv, argvlen};

    *reply = NULL;
    return with_retry(r, do_argv, &a, reply, errstr, errstr_size);
}

typedef struct {
    char *cmd;
    long long len;
} formatted_t;

static redisReply *do_formatted(bw_redis_t *r, void *arg) {
    formatted_t *f = arg;
    void *rep = NULL;

    if (redisAppendFormattedCommand(r->ctx, f->cmd, (size_t)f->len) != REDIS_OK ||
        redisGetReply(r->ctx, &rep) != REDIS_OK)
        return NULL;
    return rep;
}

bw_err_t bw_redis_cmd(bw_redis_t *r, redisReply **reply, char *errstr, size_t errstr_size,
                      const char *fmt, ...) {
    formatted_t f;
    va_list ap;
    bw_err_t err;
    int len;

    *reply = NULL;
    va_start(ap, fmt);
    len = redisvFormatCommand(&f.cmd, fmt, ap);
    va_end(ap);
    if (len < 0) {
        bw_errstr_set(errstr, errstr_size, "bad command format");
        return BW_ERR_INVALID_ARG;
    }
    f.len = len;
    err = with_retry(r, do_formatted, &f, reply, errstr, errstr_size);
    redisFreeCommand(f.cmd);
    return err;
}

/* argv for EVALSHA sha nkeys args... */
static const char **evalsha_argv(const bw_redis_script_t *s, int nkeys, int argc, const char **argv,
                                 const size_t *argvlen, size_t **lensp, char *nk, size_t nksize) {
    const char **av = malloc((size_t)(argc + 3) * sizeof(*av));
    size_t *lens = malloc((size_t)(argc + 3) * sizeof(*lens));

    if (!av || !lens) {
        free(av);
        free(lens);
        return NULL;
    }
    snprintf(nk, nksize, "%d", nkeys);
    av[0] = "EVALSHA";
    av[1] = s->sha;
    av[2] = nk;
    lens[0] = 7;
    lens[1] = strlen(s->sha);
    lens[2] = strlen(nk);
    for (int i = 0; i < argc; i++) {
        av[i + 3] = argv[i];
        lens[i + 3] = argvlen ? argvlen[i] : strlen(argv[i]);
    }
    *lensp = lens;
    return av;
}

bw_err_t bw_redis_evalsha(bw_redis_t *r, bw_redis_script_t *script, int nkeys, int argc,
                          const char **argv, const size_t *argvlen, redisReply **reply,
                          char *errstr, size_t errstr_size) {
    char nk[16];
    size_t *lens;
    const char **av;
    bw_err_t err;

    *reply = NULL;
    if (!script->sha[0] && r->ctx && (err = load_script(r, script, errstr, errstr_size)))
        return err;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!(av = evalsha_argv(script, nkeys, argc, argv, argvlen, &lens, nk, sizeof(nk))))
            return BW_ERR_NOMEM;
        err = bw_redis_argv(r, argc + 3, av, lens, reply, errstr, errstr_size);
        free(av);
        free(lens);
        /* NOSCRIPT: Redis restarted without persistence or ran SCRIPT
         * FLUSH. Load it again and run it once more. */
        if (err == BW_ERR_REDIS && *reply && !strncmp((*reply)->str, "NOSCRIPT", 8) && !attempt) {
            freeReplyObject(*reply);
            *reply = NULL;
            if ((err = load_script(r, script, errstr, errstr_size)))
                return err;
            continue;
        }
        break;
    }
    return err;
}

/* One spare pipeline buffer per thread, kept by bw_redis_pipe_free for the
 * next pipeline: a batch's pipelines run to megabytes, and freeing such a
 * block makes glibc consolidate every small free chunk (malloc_consolidate),
 * batch after batch (8% of bw-correlate's CPU, bench_correlate). Bounded:
 * a larger one is freed. */
#define SPARE_MAX (16u << 20)
static _Thread_local bw_buf_t spare;

/* Writes "<prefix><n>\r\n" of RESP at @p out; returns its end. */
static char *resp_header(char *out, char prefix, size_t n) {
    *out++ = prefix;
    if (n < 10) { /* most fields and values: no call for them */
        *out++ = (char)('0' + n);
    } else if (n < 100) {
        *out++ = (char)('0' + n / 10);
        *out++ = (char)('0' + n % 10);
    } else {
        out += bw_fmt_i64(out, (int64_t)n); /* room: bw_redis_pipe_add */
    }
    *out++ = '\r';
    *out++ = '\n';
    return out;
}

/* The command in RESP, written straight into the pipeline's buffer, room
 * reserved once: hiredis's redisFormatCommandArgv formats each argument's
 * header with sprintf into a buffer of its own, a fifth of bw-logistics's
 * CPU with the flush scripts' thousands of arguments (bench_logistics). */
bw_err_t bw_redis_pipe_add(bw_redis_pipe_t *p, int argc, const char **argv, const size_t *argvlen) {
    size_t need = 24, small[32], *own = NULL;
    const size_t *lens = argvlen;
    char *out;

    if (argc <= 0)
        return BW_ERR_INVALID_ARG;
    if (!lens) { /* each length once */
        size_t *l =
            argc <= (int)BW_ARRAY_SIZE(small) ? small : (own = malloc((size_t)argc * sizeof(*l)));
        if (!l)
            return BW_ERR_NOMEM;
        for (int i = 0; i < argc; i++)
            l[i] = strlen(argv[i]);
        lens = l;
    }
    if (!p->wire.data && spare.data) {
        p->wire = spare;
        memset(&spare, 0, sizeof(spare));
    }
    for (int i = 0; i < argc; i++)
        need += lens[i] + 24 + 2;
    if (!bw_buf_reserve(&p->wire, need)) {
        free(own);
        return BW_ERR_NOMEM;
    }
    out = resp_header(p->wire.data + p->wire.len, '*', (size_t)argc);
    for (int i = 0; i < argc; i++) {
        out = resp_header(out, '$', lens[i]);
        memcpy(out, argv[i], lens[i]);
        out += lens[i];
        *out++ = '\r';
        *out++ = '\n';
    }
    *out = '\0';
    free(own);
    p->wire.len = (size_t)(out - p->wire.data);
    p->n++;
    return BW_ERR_OK;
}

bw_err_t bw_redis_pipe_evalsha(bw_redis_pipe_t *p, const bw_redis_script_t *script, int nkeys,
                               int argc, const char **argv, const size_t *argvlen) {
    char nk[16];
    size_t *lens;
    const char **av = evalsha_argv(script, nkeys, argc, argv, argvlen, &lens, nk, sizeof(nk));
    bw_err_t err;

    if (!av)
        return BW_ERR_NOMEM;
    err = bw_redis_pipe_add(p, argc + 3, av, lens);
    free(av);
    free(lens);
    return err;
}

typedef struct {
    bw_redis_pipe_t *p;
    redisReply **replies;
    bw_arena_t *arena; /* the replies' home (bw_redis_pipe_run), or NULL: hiredis's mallocs */
} pipe_arg_t;

/* ---- replies in an arena ----
 * hiredis makes every reply element an object of its own, with a malloc
 * for it and one for its string: a batch of bw-correlate's window reads
 * (hundreds of HMGETs of 15 fields each) made ~20 mallocs per field, a
 * third of the stage's CPU with the frees. A pipeline's replies are
 * read all at once and freed all at once, so hiredis's reader is given
 * object functions that carve them out of one arena (the same redisReply
 * structs, so callers see no difference) while the pipeline's replies
 * are read, and its own functions back afterwards. */
static _Thread_local bw_arena_t *reply_arena;

static redisReply *arena_reply(const redisReadTask *task, int type) {
    redisReply *r = bw_arena_alloc(reply_arena, sizeof(*r));

    if (!r)
        return NULL;
    memset(r, 0, sizeof(*r));
    r->type = type;
    if (task->parent) {
        redisReply *parent = task->parent->obj;
        parent->element[task->idx] = r;
    }
    return r;
}

static void *arena_string(const redisReadTask *task, char *str, size_t len) {
    redisReply *r = arena_reply(task, task->type);

    if (!r || !(r->str = bw_arena_strndup(reply_arena, str, len)))
        return NULL;
    r->len = len;
    return r;
}

#if HIREDIS_MAJOR >= 1
static void *arena_array(const redisReadTask *task, size_t elements) {
#else
static void *arena_array(const redisReadTask *task, int elements) {
#endif
    redisReply *r = arena_reply(task, REDIS_REPLY_ARRAY);

    if (!r)
        return NULL;
    if (elements > 0) {
        if (!(r->element = bw_arena_alloc(reply_arena, (size_t)elements * sizeof(*r->element))))
            return NULL;
        memset(r->element, 0, (size_t)elements * sizeof(*r->element));
    }
    r->elements = (size_t)elements;
    return r;
}

static void *arena_integer(const redisReadTask *task, long long value) {
    redisReply *r = arena_reply(task, REDIS_REPLY_INTEGER);

    if (r)
        r->integer = value;
    return r;
}

static void *arena_nil(const redisReadTask *task) {
    return arena_reply(task, REDIS_REPLY_NIL);
}

#if HIREDIS_MAJOR >= 1
static void *arena_double(const redisReadTask *task, double value, char *str, size_t len) {
    redisReply *r = arena_string(task, str, len);

    if (r)
        r->dval = value;
    return r;
}

static void *arena_bool(const redisReadTask *task, int bval) {
    redisReply *r = arena_reply(task, REDIS_REPLY_BOOL);

    if (r)
        r->integer = bval != 0;
    return r;
}
#endif

static void arena_free(void *obj) {
    (void)obj; /* freed with the arena */
}

static redisReplyObjectFunctions arena_functions = {
    .createString = arena_string,
    .createArray = arena_array,
    .createInteger = arena_integer,
#if HIREDIS_MAJOR >= 1
    .createDouble = arena_double,
    .createBool = arena_bool,
#endif
    .createNil = arena_nil,
    .freeObject = arena_free,
};

/* The replies of bw_redis_pipe_run: the array callers index, its arena
 * just before it. */
typedef struct {
    bw_arena_t arena;
    redisReply *replies[];
} reply_set_t;

/* Returns a dummy non-NULL pointer on success: the replies are in
 * arg->replies. On a broken connection, frees what it read and returns NULL. */
static redisReply *do_pipe(bw_redis_t *r, void *arg) {
    static redisReply ok_marker = {.type = REDIS_REPLY_STATUS};
    pipe_arg_t *a = arg;
    redisReader *reader = r->ctx->reader;
    redisReplyObjectFunctions *own = reader->fn;
    size_t i;
    bool ok = true;

    if (redisAppendFormattedCommand(r->ctx, a->p->wire.data, a->p->wire.len) != REDIS_OK)
        return NULL;
    if (a->arena) {
        reply_arena = a->arena;
        reader->fn = &arena_functions;
    }
    for (i = 0; i < a->p->n && ok; i++) {
        void *rep = NULL;
        if (!(ok = redisGetReply(r->ctx, &rep) == REDIS_OK))
            break;
        a->replies[i] = rep;
    }
    if (!ok) {
        /* the connection is dropped next; what it read is of no use */
        for (size_t k = 0; k < i; k++) {
            if (!a->arena)
                freeReplyObject(a->replies[k]);
            a->replies[k] = NULL;
        }
        if (a->arena)
            reader->reply = NULL; /* a half-read array of the arena's, never hiredis's to free */
    }
    if (a->arena) {
        reader->fn = own;
        reply_arena = NULL;
        if (!ok)
            bw_arena_reset(a->arena);
    }
    return ok ? &ok_marker : NULL;
}

bw_err_t bw_redis_pipe_exec(bw_redis_t *r, bw_redis_pipe_t *p, redisReply **replies, char *errstr,
                            size_t errstr_size) {
    pipe_arg_t a = {p, replies, NULL};
    redisReply *marker = NULL;

    if (p->n == 0)
        return BW_ERR_OK;
    memset(replies, 0, p->n * sizeof(*replies));
    /* Errors inside individual replies are the caller's to inspect. */
    return with_retry(r, do_pipe, &a, &marker, errstr, errstr_size);
}

bw_err_t bw_redis_pipe_run(bw_redis_t *r, bw_redis_pipe_t *p, redisReply ***replies, char *errstr,
                           size_t errstr_size) {
    reply_set_t *set;
    redisReply *marker = NULL;
    bw_err_t err;

    *replies = NULL;
    if (p->n == 0)
        return BW_ERR_OK;
    if (!(set = calloc(1, sizeof(*set) + p->n * sizeof(set->replies[0]))))
        return BW_ERR_NOMEM;
    pipe_arg_t a = {p, set->replies, &set->arena};
    /* Errors inside individual replies are the caller's to inspect. */
    if ((err = with_retry(r, do_pipe, &a, &marker, errstr, errstr_size))) {
        bw_arena_free(&set->arena);
        free(set);
        return err;
    }
    *replies = set->replies;
    return BW_ERR_OK;
}

void bw_redis_replies_free(redisReply **replies, size_t n) {
    reply_set_t *set;

    (void)n;
    if (!replies)
        return;
    set = (reply_set_t *)((char *)replies - offsetof(reply_set_t, replies));
    bw_arena_free(&set->arena);
    free(set);
}

void bw_redis_pipe_reset(bw_redis_pipe_t *p) {
    bw_buf_reset(&p->wire);
    p->n = 0;
}

void bw_redis_pipe_free(bw_redis_pipe_t *p) {
    if (p->wire.cap > spare.cap && p->wire.cap <= SPARE_MAX) {
        bw_buf_free(&spare);
        spare = p->wire;
        bw_buf_reset(&spare);
        memset(&p->wire, 0, sizeof(p->wire));
    }
    bw_buf_free(&p->wire);
    p->n = 0;
}

bool bw_redis_connected(const bw_redis_t *r) {
    return r->ctx != NULL;
}

void bw_redis_destroy(bw_redis_t *r) {
    bw_buf_free(&spare); /* this thread's: nothing is left at exit */
    if (!r)
        return;
    drop(r);
    free(r);
}
