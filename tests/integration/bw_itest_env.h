/* What the logic tests against a real Redis share: a redis-server in a
 * temp dir of its own, a client for it, and the schemas. */
#ifndef BW_ITEST_ENV_H
#define BW_ITEST_ENV_H

#include "bw_itest.h"
#include "bw_redis.h"
#include "bw_serde.h"

typedef struct {
    pid_t redis_pid;
    char dir[64];
    bw_serde_t *sd;
    bw_redis_t *redis;
} bw_itest_env_t;

/* Start it (@p name tells the temp dirs apart); 0 or -1 with errstr. */
static inline int bw_itest_env_start(bw_itest_env_t *e, const char *name, char *errstr,
                                     size_t errstr_size) {
    char url[64];
    int port;

    snprintf(e->dir, sizeof(e->dir), "/tmp/bw_itest_%s_XXXXXX", name);
    if (!mkdtemp(e->dir))
        return -1;
    port = bw_itest_free_port();
    e->redis_pid = bw_itest_redis_start(port, e->dir, NULL);
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", port);
    if (!(e->sd = bw_serde_new(BW_DEFAULT_SCHEMA_DIR, BW_SERDE_DEFAULT_MAX, errstr, errstr_size)) ||
        !(e->redis = bw_redis_new(url, 2000, NULL, errstr, errstr_size)))
        return -1;
    return 0;
}

/* An empty database for the next test. */
static inline int bw_itest_env_flush(bw_itest_env_t *e, char *errstr, size_t errstr_size) {
    redisReply *r;

    if (bw_redis_cmd(e->redis, &r, errstr, errstr_size, "FLUSHDB"))
        return -1;
    freeReplyObject(r);
    return 0;
}

/* Stop the server and remove its dir. */
static inline int bw_itest_env_stop(bw_itest_env_t *e) {
    char cmd[128];

    bw_redis_destroy(e->redis);
    bw_serde_destroy(e->sd);
    bw_itest_kill(e->redis_pid, SIGTERM);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", e->dir);
    return system(cmd) == 0 ? 0 : -1;
}

#endif
