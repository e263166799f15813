/* bw_redis against a real redis-server: URL parsing, AUTH with an ACL user,
 * SELECT, EVALSHA with NOSCRIPT recovery, pipelines, and a server restart in
 * the middle of work. */
#include "../unit/bw_test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bw_itest.h"
#include "bw_metrics.h"
#include "bw_metrics_def.h"
#include "bw_redis.h"

static int port;
static pid_t redis_pid;
static char dir[64];
static char errstr[512];
/* AOF so a hard kill loses nothing; an ACL user limited to what stages
 * need, and a default-user password (given as arguments so that a
 * restarted server has them too). */
static const char *EXTRA[] = {"--appendonly",
                              "yes",
                              "--appendfsync",
                              "always",
                              "--requirepass",
                              "adminpw",
                              "--user",
                              "bw",
                              "on",
                              ">s3cret",
                              "~*",
                              "+@all",
                              "-flushall",
                              "-flushdb",
                              NULL};

static void url_for(char *url, size_t size, const char *userpass, int db) {
    snprintf(url, size, "redis://%s127.0.0.1:%d/%d", userpass, port, db);
}

static void test_url_parse(void **state) {
    bw_redis_url_t u;

    (void)state;
    assert_int_equal(bw_redis_url_parse("redis://localhost", &u, errstr, sizeof(errstr)), 0);
    assert_string_equal(u.host, "localhost");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 0);
    assert_int_equal(
        bw_redis_url_parse("redis://bw:p%40ss:w@10.0.0.1:6380/4", &u, errstr, sizeof(errstr)), 0);
    assert_string_equal(u.user, "bw");
    assert_string_equal(u.password, "p@ss:w");
    assert_string_equal(u.host, "10.0.0.1");
    assert_int_equal(u.port, 6380);
    assert_int_equal(u.db, 4);
    assert_int_equal(bw_redis_url_parse("redis://:secret@[::1]:7000", &u, errstr, sizeof(errstr)),
                     0);
    assert_string_equal(u.host, "::1");
    assert_string_equal(u.password, "secret");
    assert_int_equal(u.port, 7000);
    assert_int_equal(bw_redis_url_parse("http://x", &u, errstr, sizeof(errstr)), BW_ERR_CONFIG);
    assert_int_equal(bw_redis_url_parse("redis://h:99999", &u, errstr, sizeof(errstr)),
                     BW_ERR_CONFIG);
    assert_string_equal(errstr, "redis.url: bad port in \"redis://h:99999\"");
    assert_int_equal(bw_redis_url_parse("redis://h/x", &u, errstr, sizeof(errstr)), BW_ERR_CONFIG);
    assert_int_equal(bw_redis_url_parse("redis://a:%zz@h", &u, errstr, sizeof(errstr)),
                     BW_ERR_CONFIG);
}

static void test_acl_auth_and_select(void **state) {
    char url[256];
    bw_redis_t *r;
    redisReply *rep;

    (void)state;
    /* A wrong password is final: no retry can fix it. */
    url_for(url, sizeof(url), "bw:wrong@", 3);
    r = bw_redis_new(url, 1000, NULL, errstr, sizeof(errstr));
    assert_int_equal(bw_redis_connect(r, errstr, sizeof(errstr)), BW_ERR_REDIS);
    assert_non_null(strstr(errstr, "WRONGPASS"));
    bw_redis_set_retry(r, 2000, 100, NULL);
    assert_int_equal(bw_redis_cmd(r, &rep, errstr, sizeof(errstr), "PING"), BW_ERR_REDIS);
    bw_redis_destroy(r);

    url_for(url, sizeof(url), "bw:s3cret@", 3);
    r = bw_redis_new(url, 1000, NULL, errstr, sizeof(errstr));
    assert_int_equal(bw_redis_connect(r, errstr, sizeof(errstr)), BW_ERR_OK);
    assert_int_equal(bw_redis_cmd(r, &rep, errstr, sizeof(errstr), "SET %s %s", "k", "in-db-3"),
                     BW_ERR_OK);
    freeReplyObject(rep);
    /* The ACL user may not run FLUSHALL: a Redis error, not a retry. */
    assert_int_equal(bw_redis_cmd(r, &rep, errstr, sizeof(errstr), "FLUSHALL"), BW_ERR_REDIS);
    assert_non_null(strstr(errstr, "NOPERM"));
    freeReplyObject(rep);
    bw_redis_destroy(r);

    /* Seen from db 3 only. */
    url_for(url, sizeof(url), ":adminpw@", 0);
    r = bw_redis_new(url, 1000, NULL, errstr, sizeof(errstr));
    assert_int_equal(bw_redis_cmd(r, &rep, errstr, sizeof(errstr), "GET k"), BW_ERR_OK);
    assert_int_equal(rep->type, REDIS_REPLY_NIL);
    freeReplyObject(rep);
    assert_int_equal(bw_redis_cmd(r, &rep, errstr, sizeof(errstr), "SELECT 3"), BW_ERR_OK);
    freeReplyObject(rep);
    assert_int_equal(bw_redis_cmd(r, &rep, errstr, sizeof(errstr), "GET k"), BW_ERR_OK);
    assert_string_equal(rep->str, "in-db-3");
    freeReplyObject(rep);
    bw_redis_destroy(r);
}

static bw_redis_t *admin(bw_metrics_t *reg) {
    char url[256];
    bw_redis_t *r;

    url_for(url, sizeof(url), ":adminpw@", 1);
    r = bw_redis_new(url, 1000, reg, errstr, sizeof(errstr));
    assert_non_null(r);
    return r;
}

static void test_scripts_and_noscript(void **state) {
    bw_redis_t *r = admin(NULL);
    bw_redis_script_t incr = {.src = "return redis.call('INCRBY', KEYS[1], ARGV[1])"};
    const char *argv[] = {"{s}:n", "5"};
    redisReply *rep;

    (void)state;
    assert_int_equal(bw_redis_script_add(r, &incr), BW_ERR_OK);
    assert_int_equal(bw_redis_connect(r, errstr, sizeof(errstr)), BW_ERR_OK);
    assert_int_equal(strlen(incr.sha), 40);
    assert_int_equal(bw_redis_evalsha(r, &incr, 1, 2, argv, NULL, &rep, errstr, sizeof(errstr)),
                     BW_ERR_OK);
    assert_int_equal(rep->integer, 5);
    freeReplyObject(rep);
    /* Redis forgets the script: EVALSHA gets NOSCRIPT, loads, runs once. */
    assert_int_equal(bw_redis_cmd(r, &rep, errstr, sizeof(errstr), "SCRIPT FLUSH"), BW_ERR_OK);
    freeReplyObject(rep);
    assert_int_equal(bw_redis_evalsha(r, &incr, 1, 2, argv, NULL, &rep, errstr, sizeof(errstr)),
                     BW_ERR_OK);
    assert_int_equal(rep->integer, 10);
    freeReplyObject(rep);
    /* A script error is reported, not retried. */
    bw_redis_script_t bad = {.src = "return redis.call('NOSUCHCMD')"};
    assert_int_equal(bw_redis_script_add(r, &bad), BW_ERR_OK);
    assert_int_equal(bw_redis_evalsha(r, &bad, 0, 0, NULL, NULL, &rep, errstr, sizeof(errstr)),
                     BW_ERR_REDIS);
    freeReplyObject(rep);
    bw_redis_destroy(r);
}

static void test_pipeline(void **state) {
    bw_redis_t *r = admin(NULL);
    bw_redis_pipe_t p = {0};
    redisReply *replies[100];

    (void)state;
    for (int i = 0; i < 100; i++) {
        const char *argv[] = {"INCR", "{p}:counter"};
        assert_int_equal(bw_redis_pipe_add(&p, 2, argv, NULL), BW_ERR_OK);
    }
    assert_int_equal(bw_redis_pipe_exec(r, &p, replies, errstr, sizeof(errstr)), BW_ERR_OK);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(replies[i]->integer, i + 1);
        freeReplyObject(replies[i]);
    }
    bw_redis_pipe_free(&p);
    bw_redis_destroy(r);
}

/* bw_redis_pipe_run's replies (built in an arena, not by hiredis): every
 * kind of reply, nested arrays, nils inside arrays, errors among
 * successes, and a string larger than an arena block. */
static void test_pipe_run_reply_kinds(void **state) {
    bw_redis_t *r = admin(NULL);
    bw_redis_pipe_t p = {0};
    redisReply **rep = NULL;
    static char big[100001];
    const char *cmds[][6] = {
        {"SET", "{k}:big", big},
        {"HSET", "{k}:h", "a", "1", "b", "two"},
        {"HMGET", "{k}:h", "a", "missing", "b"},
        {"INCR", "{k}:h"}, /* WRONGTYPE */
        {"GET", "{k}:big"},
        {"EVAL", "return {1, {2, 'x', {}}, 'y'}", "0"},
        {"KEYS", "{k}:none*"},
        {"GET", "{k}:none"},
    };
    const int argc[] = {3, 6, 5, 2, 2, 3, 2, 2};

    (void)state;
    memset(big, 'z', sizeof(big) - 1);
    for (size_t i = 0; i < sizeof(argc) / sizeof(argc[0]); i++)
        assert_int_equal(bw_redis_pipe_add(&p, argc[i], cmds[i], NULL), BW_ERR_OK);
    assert_int_equal(bw_redis_pipe_run(r, &p, &rep, errstr, sizeof(errstr)), BW_ERR_OK);
    assert_int_equal(rep[0]->type, REDIS_REPLY_STATUS);
    assert_string_equal(rep[0]->str, "OK");
    assert_int_equal(rep[1]->type, REDIS_REPLY_INTEGER);
    assert_int_equal(rep[1]->integer, 2);
    assert_int_equal(rep[2]->type, REDIS_REPLY_ARRAY);
    assert_int_equal(rep[2]->elements, 3);
    assert_string_equal(rep[2]->element[0]->str, "1");
    assert_int_equal(rep[2]->element[1]->type, REDIS_REPLY_NIL);
    assert_string_equal(rep[2]->element[2]->str, "two");
    assert_int_equal(rep[2]->element[2]->len, 3);
    assert_int_equal(rep[3]->type, REDIS_REPLY_ERROR);
    assert_non_null(strstr(rep[3]->str, "WRONGTYPE"));
    assert_int_equal(rep[4]->type, REDIS_REPLY_STRING);
    assert_int_equal(rep[4]->len, sizeof(big) - 1);
    assert_memory_equal(rep[4]->str, big, sizeof(big));
    assert_int_equal(rep[5]->type, REDIS_REPLY_ARRAY);
    assert_int_equal(rep[5]->elements, 3);
    assert_int_equal(rep[5]->element[0]->integer, 1);
    assert_int_equal(rep[5]->element[1]->elements, 3);
    assert_int_equal(rep[5]->element[1]->element[0]->integer, 2);
    assert_string_equal(rep[5]->element[1]->element[1]->str, "x");
    assert_int_equal(rep[5]->element[1]->element[2]->type, REDIS_REPLY_ARRAY);
    assert_int_equal(rep[5]->element[1]->element[2]->elements, 0);
    assert_string_equal(rep[5]->element[2]->str, "y");
    assert_int_equal(rep[6]->type, REDIS_REPLY_ARRAY);
    assert_int_equal(rep[6]->elements, 0);
    assert_int_equal(rep[7]->type, REDIS_REPLY_NIL);
    bw_redis_replies_free(rep, p.n);
    bw_redis_pipe_free(&p);
    /* the connection's own replies are hiredis's again afterwards */
    redisReply *one;
    assert_int_equal(bw_redis_cmd(r, &one, errstr, sizeof(errstr), "HGET {k}:h b"), BW_ERR_OK);
    assert_string_equal(one->str, "two");
    freeReplyObject(one);
    bw_redis_destroy(r);
}

/* A server that answers each connection with @p arg's bytes (a reply cut
 * off in the middle of an array) and hangs up. */
typedef struct {
    int fd;
    const char *answer;
} cutoff_t;

static void *cutoff_server(void *arg) {
    cutoff_t *c = arg;
    int conn;
    char buf[4096];

    while ((conn = accept(c->fd, NULL, NULL)) >= 0) {
        if (read(conn, buf, sizeof(buf)) > 0 &&
            write(conn, c->answer, strlen(c->answer)) != (ssize_t)strlen(c->answer))
            bw_sleep_ms(1);
        close(conn);
    }
    return NULL;
}

/* The connection breaks while a pipeline's replies are read, inside an
 * array: the run fails (after its retry budget) and frees what it had read,
 * replies whole and half (the sanitizer build checks the memory). */
static void test_pipe_run_cut_off(void **state) {
    const char *answers[] = {"*3\r\n$1\r\na\r\n*2\r\n", "+OK\r\n*2\r\n:1\r\n"};

    (void)state;
    for (size_t k = 0; k < sizeof(answers) / sizeof(answers[0]); k++) {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(sa);
        cutoff_t c = {socket(AF_INET, SOCK_STREAM, 0), answers[k]};
        bw_redis_pipe_t p = {0};
        redisReply **rep = NULL;
        const char *argv[] = {"PING"};
        pthread_t th;
        char url[64];
        bw_redis_t *r;

        assert_true(c.fd >= 0);
        assert_int_equal(bind(c.fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(listen(c.fd, 16), 0);
        assert_int_equal(getsockname(c.fd, (struct sockaddr *)&sa, &len), 0);
        assert_int_equal(pthread_create(&th, NULL, cutoff_server, &c), 0);
        snprintf(url, sizeof(url), "redis://127.0.0.1:%d", ntohs(sa.sin_port));
        r = bw_redis_new(url, 500, NULL, errstr, sizeof(errstr));
        assert_non_null(r);
        bw_redis_set_retry(r, 300, 50, NULL);
        for (int i = 0; i < 3; i++)
            assert_int_equal(bw_redis_pipe_add(&p, 1, argv, NULL), BW_ERR_OK);
        assert_int_equal(bw_redis_pipe_run(r, &p, &rep, errstr, sizeof(errstr)), BW_ERR_REDIS_DOWN);
        assert_null(rep);
        bw_redis_pipe_free(&p);
        bw_redis_destroy(r);
        shutdown(c.fd, SHUT_RDWR);
        close(c.fd);
        pthread_join(th, NULL);
    }
}

static void *restart_later(void *arg) {
    (void)arg;
    bw_sleep_ms(400);
    redis_pid = bw_itest_redis_start(port, dir, EXTRA);
    return NULL;
}

static void test_restart_mid_stream(void **state) {
    bw_metrics_t *reg = bw_metrics_new();
    bw_redis_t *r = admin(reg);
    bw_redis_script_t incr = {.src = "return redis.call('INCR', KEYS[1])"};
    const char *argv[] = {"{r}:n"};
    redisReply *rep;
    pthread_t th;
    int64_t t0;

    (void)state;
    bw_redis_set_retry(r, 15000, 200, NULL);
    assert_int_equal(bw_redis_script_add(r, &incr), BW_ERR_OK);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(bw_redis_evalsha(r, &incr, 1, 1, argv, NULL, &rep, errstr, sizeof(errstr)),
                         BW_ERR_OK);
        freeReplyObject(rep);
    }
    /* Kill the server hard; it comes back 400 ms later with its AOF. */
    bw_itest_kill(redis_pid, SIGKILL);
    pthread_create(&th, NULL, restart_later, NULL);
    t0 = bw_mono_ms();
    for (int i = 0; i < 10; i++) {
        assert_int_equal(bw_redis_evalsha(r, &incr, 1, 1, argv, NULL, &rep, errstr, sizeof(errstr)),
                         BW_ERR_OK);
        freeReplyObject(rep);
    }
    pthread_join(th, NULL);
    assert_true(bw_mono_ms() - t0 >= 300); /* it really waited for the server */
    assert_int_equal(bw_redis_cmd(r, &rep, errstr, sizeof(errstr), "GET {r}:n"), BW_ERR_OK);
    assert_string_equal(rep->str, "20"); /* nothing lost, nothing twice */
    freeReplyObject(rep);
    assert_true(
        bw_metric_value(bw_metrics_get(reg, &bw_common_metrics[BW_M_REDIS_RECONNECTS], "ok")) >= 2);
    bw_redis_destroy(r);
    bw_metrics_destroy(reg);
}

static void test_down_gives_up_after_budget(void **state) {
    char url[128];
    bw_redis_t *r;
    redisReply *rep;
    int64_t t0;

    (void)state;
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", bw_itest_free_port());
    r = bw_redis_new(url, 200, NULL, errstr, sizeof(errstr));
    bw_redis_set_retry(r, 600, 100, NULL);
    t0 = bw_mono_ms();
    assert_int_equal(bw_redis_cmd(r, &rep, errstr, sizeof(errstr), "PING"), BW_ERR_REDIS_DOWN);
    assert_true(bw_mono_ms() - t0 < 3000);
    assert_non_null(strstr(errstr, "Connection refused"));
    bw_redis_destroy(r);
}

static int setup(void **state) {
    redisContext *c;
    redisReply *rep;

    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/bw_itest_redis_XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    port = bw_itest_free_port();
    redis_pid = bw_itest_redis_start(port, dir, EXTRA);
    if (!(c = redisConnect("127.0.0.1", port)) || c->err)
        return -1;
    rep = redisCommand(c, "AUTH adminpw");
    if (!rep || rep->type == REDIS_REPLY_ERROR)
        return -1;
    freeReplyObject(rep);
    redisFree(c);
    return 0;
}

static int teardown(void **state) {
    char cmd[128];

    (void)state;
    bw_itest_kill(redis_pid, SIGTERM);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_parse),
        cmocka_unit_test(test_acl_auth_and_select),
        cmocka_unit_test(test_scripts_and_noscript),
        cmocka_unit_test(test_pipeline),
        cmocka_unit_test(test_pipe_run_reply_kinds),
        cmocka_unit_test(test_pipe_run_cut_off),
        cmocka_unit_test(test_restart_mid_stream),
        cmocka_unit_test(test_down_gives_up_after_budget),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
