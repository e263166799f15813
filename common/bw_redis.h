/**
 * @file bw_redis.h
 * @brief Redis plumbing over hiredis: connect with a timeout, AUTH (ACL user
 *        and password), SELECT, reconnect with capped exponential backoff,
 *        Lua scripts loaded once per connection and run by EVALSHA, and
 *        pipelines.
 *
 * Retry rule: a command that fails because the connection broke is retried
 * after a reconnect, so every command and pipeline sent through here must
 * be idempotent. Bellwether's writes are (Lua scripts with offset fences).
 * Errors Redis itself answers (WRONGTYPE, a script error) are not retried.
 */
#ifndef BW_REDIS_H
#define BW_REDIS_H

#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "bw_err.h"
#include "bw_metrics.h"
#include "bw_util.h"

typedef struct bw_redis_s bw_redis_t;

typedef struct bw_redis_script_s {
    const char *src;
    char sha[41];
} bw_redis_script_t;

/** Parsed redis://[user[:password]@]host[:port][/db] */
typedef struct bw_redis_url_s {
    char host[256];
    int port;
    char user[128];
    char password[256];
    int db;
} bw_redis_url_t;

bw_err_t bw_redis_url_parse(const char *url, bw_redis_url_t *out, char *errstr, size_t errstr_size);

/** @brief Parse the URL; does not connect yet. */
bw_redis_t *bw_redis_new(const char *url, int timeout_ms, bw_metrics_t *reg, char *errstr,
                         size_t errstr_size);

/** @brief Count calls, errors, reconnects and round-trip times in @p reg
 *         (a client made before the stage's registry gets it here). */
void bw_redis_set_metrics(bw_redis_t *r, bw_metrics_t *reg);

/**
 * @brief How long commands keep retrying through reconnects (-1: until
 *        *stop is set), and the backoff cap. Defaults: -1, 5000 ms.
 */
void bw_redis_set_retry(bw_redis_t *r, int64_t max_wait_ms, int64_t backoff_cap_ms,
                        volatile sig_atomic_t *stop);

/** @brief Connect now (with AUTH, SELECT and script loading), once. */
bw_err_t bw_redis_connect(bw_redis_t *r, char *errstr, size_t errstr_size);

/** @brief Register a Lua script; it is loaded on every (re)connect. */
bw_err_t bw_redis_script_add(bw_redis_t *r, bw_redis_script_t *script);

/** @brief One command (argv form); *reply is freed by the caller. */
bw_err_t bw_redis_argv(bw_redis_t *r, int argc, const char **argv, const size_t *argvlen,
                       redisReply **reply, char *errstr, size_t errstr_size);

/** @brief One command (printf form, as redisCommand). */
bw_err_t bw_redis_cmd(bw_redis_t *r, redisReply **reply, char *errstr, size_t errstr_size,
                      const char *fmt, ...);

/** @brief EVALSHA, loading the script again if Redis lost it (NOSCRIPT). */
bw_err_t bw_redis_evalsha(bw_redis_t *r, bw_redis_script_t *script, int nkeys, int argc,
                          const char **argv, const size_t *argvlen, redisReply **reply,
                          char *errstr, size_t errstr_size);

/** A pipeline: commands are kept in wire form so they can be re-sent whole. */
typedef struct bw_redis_pipe_s {
    bw_buf_t wire;
    size_t n;
} bw_redis_pipe_t;

bw_err_t bw_redis_pipe_add(bw_redis_pipe_t *p, int argc, const char **argv, const size_t *argvlen);
/** @brief EVALSHA of a registered script as one pipeline entry. */
bw_err_t bw_redis_pipe_evalsha(bw_redis_pipe_t *p, const bw_redis_script_t *script, int nkeys,
                               int argc, const char **argv, const size_t *argvlen);
/**
 * @brief Send every command, read every reply into @p replies (p->n of
 *        them, freed by the caller with freeReplyObject). Retries the whole
 *        pipeline after a reconnect.
 */
bw_err_t bw_redis_pipe_exec(bw_redis_t *r, bw_redis_pipe_t *p, redisReply **replies, char *errstr,
                            size_t errstr_size);
/**
 * @brief bw_redis_pipe_exec() into a new array of p->n replies (NULL when
 *        the pipeline is empty); free it with bw_redis_replies_free(),
 *        never a reply of it with freeReplyObject(): the replies live in
 *        one arena, freed together.
 */
bw_err_t bw_redis_pipe_run(bw_redis_t *r, bw_redis_pipe_t *p, redisReply ***replies, char *errstr,
                           size_t errstr_size);
void bw_redis_replies_free(redisReply **replies, size_t n);
void bw_redis_pipe_reset(bw_redis_pipe_t *p);
void bw_redis_pipe_free(bw_redis_pipe_t *p);

bool bw_redis_connected(const bw_redis_t *r);
void bw_redis_destroy(bw_redis_t *r);

#endif
