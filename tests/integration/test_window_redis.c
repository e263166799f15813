/* The no-double-count protocol against a real redis-server: replays with
 * other batch boundaries, a restarted writer with an empty fence cache, two
 * writers racing on one tag, and every kind of change. Each scenario's
 * Redis state must equal one clean pass. */
#include "../unit/bw_test.h"

#include "bw_itest.h"
#include "bw_window.h"

static int port;
static pid_t redis_pid;
static char dir[64];
static char errstr[512];

static bw_redis_t *connect_db(int db) {
    char url[128];
    bw_redis_t *r;

    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/%d", port, db);
    r = bw_redis_new(url, 2000, NULL, errstr, sizeof(errstr));
    assert_non_null(r);
    bw_redis_set_retry(r, 5000, 200, NULL);
    return r;
}

static void flushdb(bw_redis_t *r) {
    redisReply *rep;
    assert_int_equal(bw_redis_cmd(r, &rep, errstr, sizeof(errstr), "FLUSHDB"), BW_ERR_OK);
    freeReplyObject(rep);
}

/* A deterministic stream: event i of partition p touches tag (i*7+p)%T. */
#define P 3
#define T 11
#define N 3000

static void add_event(bw_win_t *w, int p, int64_t off) {
    char tag[16], key[32];
    int t = (int)((off * 7 + p) % T);

    snprintf(tag, sizeof(tag), "t%d", t);
    snprintf(key, sizeof(key), "w:%lld", (long long)(off / 500));
    assert_int_equal(bw_win_add(w, tag, p, off, BW_OP_INCR, key, "n", 1, 3600), BW_ERR_OK);
    assert_int_equal(bw_win_add(w, tag, p, off, BW_OP_INCR, key, "late", off % 5 == 0, 3600),
                     BW_ERR_OK);
    assert_int_equal(bw_win_add(w, tag, p, off, BW_OP_MAX, "last", "off", off, 0), BW_ERR_OK);
}

/* Every key and value of the db as one sorted text. */
static char *dump(bw_redis_t *r) {
    redisReply *keys, *rep;
    bw_buf_t out = {0};
    char **names;

    assert_int_equal(bw_redis_cmd(r, &keys, errstr, sizeof(errstr), "KEYS *"), BW_ERR_OK);
    names = calloc(keys->elements + 1, sizeof(char *));
    for (size_t i = 0; i < keys->elements; i++)
        names[i] = keys->element[i]->str;
    for (size_t i = 0; i < keys->elements; i++)
        for (size_t k = i + 1; k < keys->elements; k++)
            if (strcmp(names[i], names[k]) > 0) {
                char *t = names[i];
                names[i] = names[k];
                names[k] = t;
            }
    for (size_t i = 0; i < keys->elements; i++) {
        if (strstr(names[i], ":fence")) /* fences differ by design */
            continue;
        assert_int_equal(bw_redis_cmd(r, &rep, errstr, sizeof(errstr), "HGETALL %s", names[i]),
                         BW_ERR_OK);
        bw_buf_printf(&out, "%s:", names[i]);
        /* fields come in hash order: sort pairs by field name */
        for (size_t a = 0; a + 1 < rep->elements; a += 2)
            for (size_t b = a + 2; b + 1 < rep->elements; b += 2)
                if (strcmp(rep->element[a]->str, rep->element[b]->str) > 0) {
                    redisReply *t0 = rep->element[a], *t1 = rep->element[a + 1];
                    rep->element[a] = rep->element[b];
                    rep->element[a + 1] = rep->element[b + 1];
                    rep->element[b] = t0;
                    rep->element[b + 1] = t1;
                }
        for (size_t a = 0; a + 1 < rep->elements; a += 2)
            bw_buf_printf(&out, " %s=%s", rep->element[a]->str, rep->element[a + 1]->str);
        bw_buf_printf(&out, "\n");
        freeReplyObject(rep);
    }
    free(names);
    freeReplyObject(keys);
    return out.data ? out.data : strdup("");
}

static char *clean_pass(void) {
    bw_redis_t *r = connect_db(1);
    bw_win_t *w = bw_win_new(r, NULL, errstr, sizeof(errstr));
    char *d;

    flushdb(r);
    for (int64_t off = 0; off < N; off++)
        for (int p = 0; p < P; p++)
            add_event(w, p, off);
    assert_int_equal(bw_win_flush(w, errstr, sizeof(errstr)), BW_ERR_OK);
    d = dump(r);
    bw_win_destroy(w);
    bw_redis_destroy(r);
    return d;
}

static void test_replays_with_crashes_equal_one_pass(void **state) {
    char *want = clean_pass(), *got;
    bw_redis_t *r = connect_db(2);
    bw_win_t *w = bw_win_new(r, NULL, errstr, sizeof(errstr));
    int64_t committed[P] = {0}, pos[P] = {0};
    unsigned seed = 99;
    int crashes = 0;

    (void)state;
    flushdb(r);
    /* Random batches; after some flushes the "process" dies before its
     * commit, or before its flush, and a new one (empty cache) starts from
     * the committed offsets. */
    while (pos[0] < N || pos[1] < N || pos[2] < N) {
        seed = seed * 1103515245 + 12345;
        int batch = 1 + (int)((seed >> 8) % 300), crash = (int)((seed >> 20) % 4);
        for (int p = 0; p < P; p++)
            for (int k = 0; k < batch && pos[p] < N; k++)
                add_event(w, p, pos[p]++);
        if (crash == 0) { /* dies before the flush: the batch is lost, replayed */
            bw_win_destroy(w);
            w = bw_win_new(r, NULL, errstr, sizeof(errstr));
            memcpy(pos, committed, sizeof(pos));
            crashes++;
            continue;
        }
        assert_int_equal(bw_win_flush(w, errstr, sizeof(errstr)), BW_ERR_OK);
        if (crash == 1) { /* dies after the flush, before the commit */
            bw_win_destroy(w);
            w = bw_win_new(r, NULL, errstr, sizeof(errstr));
            memcpy(pos, committed, sizeof(pos));
            crashes++;
            continue;
        }
        memcpy(committed, pos, sizeof(pos));
    }
    got = dump(r);
    assert_true(crashes >= 5);
    assert_true(bw_win_skipped(w) >= 0);
    if (strcmp(want, got))
        fail_msg("state differs from one clean pass after %d crashes", crashes);
    free(want);
    free(got);
    bw_win_destroy(w);
    bw_redis_destroy(r);
}

static void test_two_writers_race(void **state) {
    char *want = clean_pass(), *got;
    bw_redis_t *r1 = connect_db(3), *r2 = connect_db(3);
    bw_win_t *a, *b;

    (void)state;
    flushdb(r1);
    a = bw_win_new(r1, NULL, errstr, sizeof(errstr));
    b = bw_win_new(r2, NULL, errstr, sizeof(errstr));
    /* A rebalance: both instances process overlapping ranges of the same
     * partitions, in different batches; b's cache learns of a's writes only
     * through refusals. */
    for (int64_t off = 0; off < N; off++)
        for (int p = 0; p < P; p++)
            add_event(a, p, off);
    for (int64_t off = 0; off < N / 2; off++)
        for (int p = 0; p < P; p++)
            add_event(b, p, off);
    assert_int_equal(bw_win_flush(b, errstr, sizeof(errstr)), BW_ERR_OK);
    assert_int_equal(bw_win_flush(a, errstr, sizeof(errstr)), BW_ERR_OK); /* refused, retried */
    for (int64_t off = N / 3; off < N; off++)
        for (int p = 0; p < P; p++)
            add_event(b, p, off);
    assert_int_equal(bw_win_flush(b, errstr, sizeof(errstr)), BW_ERR_OK); /* all skipped */
    got = dump(r1);
    if (strcmp(want, got))
        fail_msg("two writers double counted");
    assert_true(bw_win_skipped(b) > 0);
    free(want);
    free(got);
    bw_win_destroy(a);
    bw_win_destroy(b);
    bw_redis_destroy(r1);
    bw_redis_destroy(r2);
}

static void test_ops(void **state) {
    bw_redis_t *r = connect_db(4);
    bw_win_t *w = bw_win_new(r, NULL, errstr, sizeof(errstr));
    redisReply *rep;

    (void)state;
    flushdb(r);
    assert_int_equal(bw_win_add(w, "x", 0, 1, BW_OP_SET, "h", "s", 5, 0), BW_ERR_OK);
    assert_int_equal(bw_win_add(w, "x", 0, 2, BW_OP_SET, "h", "s", 7, 0), BW_ERR_OK);
    assert_int_equal(bw_win_add(w, "x", 0, 3, BW_OP_MIN, "h", "min", 9, 0), BW_ERR_OK);
    assert_int_equal(bw_win_add(w, "x", 0, 4, BW_OP_MIN, "h", "min", 4, 0), BW_ERR_OK);
    assert_int_equal(bw_win_add(w, "x", 0, 5, BW_OP_ZADD, "z", "m1", 100, 60), BW_ERR_OK);
    assert_int_equal(bw_win_add(w, "x", 0, 6, BW_OP_ZADD, "z", "m2", 200, 60), BW_ERR_OK);
    assert_int_equal(bw_win_add(w, "x", 0, 7, BW_OP_ZREM, "z", "m1", 0, 60), BW_ERR_OK);
    assert_int_equal(bw_win_flush(w, errstr, sizeof(errstr)), BW_ERR_OK);
    /* a later, larger MIN does not replace it; a MAX does */
    assert_int_equal(bw_win_add(w, "x", 0, 8, BW_OP_MIN, "h", "min", 6, 0), BW_ERR_OK);
    assert_int_equal(bw_win_add(w, "x", 0, 9, BW_OP_MAX, "h", "max", 6, 0), BW_ERR_OK);
    assert_int_equal(bw_win_flush(w, errstr, sizeof(errstr)), BW_ERR_OK);
    assert_int_equal(bw_redis_cmd(r, &rep, errstr, sizeof(errstr), "HGET bw:{x}:h s"), BW_ERR_OK);
    assert_string_equal(rep->str, "7");
    freeReplyObject(rep);
    assert_int_equal(bw_redis_cmd(r, &rep, errstr, sizeof(errstr), "HGET bw:{x}:h min"), BW_ERR_OK);
    assert_string_equal(rep->str, "4");
    freeReplyObject(rep);
    assert_int_equal(bw_redis_cmd(r, &rep, errstr, sizeof(errstr), "ZRANGE bw:{x}:z 0 -1"),
                     BW_ERR_OK);
    assert_int_equal(rep->elements, 1);
    assert_string_equal(rep->element[0]->str, "m2");
    freeReplyObject(rep);
    assert_int_equal(bw_redis_cmd(r, &rep, errstr, sizeof(errstr), "TTL bw:{x}:z"), BW_ERR_OK);
    assert_true(rep->integer > 0 && rep->integer <= 60);
    freeReplyObject(rep);
    assert_int_equal(bw_redis_cmd(r, &rep, errstr, sizeof(errstr), "HGET bw:{x}:fence 0"),
                     BW_ERR_OK);
    assert_string_equal(rep->str, "9");
    freeReplyObject(rep);
    /* a replay of offsets 1..9 changes nothing */
    assert_int_equal(bw_win_add(w, "x", 0, 3, BW_OP_SET, "h", "s", 1, 0), BW_ERR_OK);
    assert_int_equal(bw_win_flush(w, errstr, sizeof(errstr)), BW_ERR_OK);
    assert_int_equal(bw_redis_cmd(r, &rep, errstr, sizeof(errstr), "HGET bw:{x}:h s"), BW_ERR_OK);
    assert_string_equal(rep->str, "7");
    freeReplyObject(rep);
    bw_win_destroy(w);
    bw_redis_destroy(r);
}

static void test_text_and_once(void **state) {
    bw_redis_t *r = connect_db(6);
    bw_win_t *w = bw_win_new(r, NULL, errstr, sizeof(errstr));
    redisReply *rep;

    (void)state;
    flushdb(r);
    assert_int_equal(bw_win_add_str(w, "s", 0, 1, "o:1", "carrier", "DHL Express", 60), BW_ERR_OK);
    /* the same order delivered twice (a duplicate scan), and another one */
    assert_int_equal(bw_win_add_once(w, "s", 0, 2, "w:1", "delivered", 1, "seen", "o:1", 60),
                     BW_ERR_OK);
    assert_int_equal(bw_win_add_once(w, "s", 0, 3, "w:1", "delivered", 1, "seen", "o:1", 60),
                     BW_ERR_OK);
    assert_int_equal(bw_win_add_once(w, "s", 0, 4, "w:1", "delivered", 1, "seen", "o:2", 60),
                     BW_ERR_OK);
    /* a marker already used in this batch, by another key: not counted */
    assert_int_equal(bw_win_add_once(w, "s", 0, 4, "w:3", "delivered", 1, "seen", "o:2", 60),
                     BW_ERR_OK);
    /* more markers than one command's chunk (512) */
    for (int i = 0; i < 1200; i++) {
        char m[16];
        snprintf(m, sizeof(m), "m:%d", i % 600);
        assert_int_equal(bw_win_add_once(w, "s", 0, 4, "w:4", i % 2 ? "a" : "b", 1, "seen", m, 60),
                         BW_ERR_OK);
    }
    assert_int_equal(bw_win_flush(w, errstr, sizeof(errstr)), BW_ERR_OK);
    assert_int_equal(bw_redis_cmd(r, &rep, errstr, sizeof(errstr), "EXISTS bw:{s}:w:3"), BW_ERR_OK);
    assert_int_equal(rep->integer, 0);
    freeReplyObject(rep);
    /* each of the 600 markers counted once, in whichever field came first */
    assert_int_equal(bw_redis_cmd(r, &rep, errstr, sizeof(errstr), "HMGET bw:{s}:w:4 a b"),
                     BW_ERR_OK);
    assert_int_equal(atoi(rep->element[0]->str) + atoi(rep->element[1]->str), 600);
    freeReplyObject(rep);
    assert_int_equal(bw_redis_cmd(r, &rep, errstr, sizeof(errstr), "TTL bw:{s}:seen"), BW_ERR_OK);
    assert_true(rep->integer > 0 && rep->integer <= 60);
    freeReplyObject(rep);
    /* and once more in a later batch, in another bucket */
    assert_int_equal(bw_win_add_once(w, "s", 0, 5, "w:2", "delivered", 1, "seen", "o:1", 60),
                     BW_ERR_OK);
    assert_int_equal(bw_win_flush(w, errstr, sizeof(errstr)), BW_ERR_OK);
    assert_int_equal(bw_redis_cmd(r, &rep, errstr, sizeof(errstr), "HGET bw:{s}:o:1 carrier"),
                     BW_ERR_OK);
    assert_string_equal(rep->str, "DHL Express");
    freeReplyObject(rep);
    assert_int_equal(bw_redis_cmd(r, &rep, errstr, sizeof(errstr), "HGET bw:{s}:w:1 delivered"),
                     BW_ERR_OK);
    assert_string_equal(rep->str, "2");
    freeReplyObject(rep);
    assert_int_equal(bw_redis_cmd(r, &rep, errstr, sizeof(errstr), "EXISTS bw:{s}:w:2"), BW_ERR_OK);
    assert_int_equal(rep->integer, 0);
    freeReplyObject(rep);
    bw_win_destroy(w);
    bw_redis_destroy(r);
}

static void test_forget_partition_reloads_fence(void **state) {
    bw_redis_t *r = connect_db(5);
    bw_win_t *w = bw_win_new(r, NULL, errstr, sizeof(errstr));
    redisReply *rep;

    (void)state;
    flushdb(r);
    assert_int_equal(bw_win_add(w, "y", 2, 10, BW_OP_INCR, "c", "n", 1, 0), BW_ERR_OK);
    assert_int_equal(bw_win_flush(w, errstr, sizeof(errstr)), BW_ERR_OK);
    /* someone else moves the fence while we do not own the partition */
    assert_int_equal(bw_redis_cmd(r, &rep, errstr, sizeof(errstr), "HSET bw:{y}:fence 2 50"),
                     BW_ERR_OK);
    freeReplyObject(rep);
    bw_win_forget_partition(w, 2);
    assert_int_equal(bw_win_add(w, "y", 2, 40, BW_OP_INCR, "c", "n", 1, 0), BW_ERR_OK);
    assert_int_equal(bw_win_flush(w, errstr, sizeof(errstr)), BW_ERR_OK);
    assert_int_equal(bw_win_skipped(w), 1);
    assert_int_equal(bw_redis_cmd(r, &rep, errstr, sizeof(errstr), "HGET bw:{y}:c n"), BW_ERR_OK);
    assert_string_equal(rep->str, "1");
    freeReplyObject(rep);
    bw_win_destroy(w);
    bw_redis_destroy(r);
}

/* A partition's watermark is written only after the rest of its batch:
 * restored after a crash, a watermark ahead of the state would let timers
 * read an index that misses the crashed batch. A tag whose script fails
 * (here: a counter's key holds a string) keeps the watermark back. */
static void test_watermark_waits_for_state(void **state) {
    bw_redis_t *r = connect_db(6);
    bw_win_t *w = bw_win_new(r, NULL, errstr, sizeof(errstr));
    bw_wm_t wm;
    redisReply *rep;

    (void)state;
    flushdb(r);
    bw_wm_init(&wm, 0, 0, 86400000, 60000);
    assert_int_equal(bw_wm_observe(&wm, 4, 1704067200000, 1704067200000), BW_WM_ON_TIME);
    assert_int_equal(bw_redis_cmd(r, &rep, errstr, sizeof(errstr), "SET bw:{a}:c text"), BW_ERR_OK);
    freeReplyObject(rep);
    assert_int_equal(bw_wm_persist(&wm, w, 4, 7, 0), BW_ERR_OK); /* queued first */
    assert_int_equal(bw_win_add(w, "a", 4, 7, BW_OP_INCR, "c", "n", 1, 0), BW_ERR_OK);
    assert_int_equal(bw_win_add(w, "b", 4, 7, BW_OP_INCR, "c", "n", 1, 0), BW_ERR_OK);
    assert_int_not_equal(bw_win_flush(w, errstr, sizeof(errstr)), BW_ERR_OK);
    assert_int_equal(bw_redis_cmd(r, &rep, errstr, sizeof(errstr), "EXISTS bw:{t=4}:wm"),
                     BW_ERR_OK);
    assert_int_equal(rep->integer, 0);
    freeReplyObject(rep);
    /* mended, the same batch goes through whole */
    assert_int_equal(bw_redis_cmd(r, &rep, errstr, sizeof(errstr), "DEL bw:{a}:c"), BW_ERR_OK);
    freeReplyObject(rep);
    assert_int_equal(bw_win_flush(w, errstr, sizeof(errstr)), BW_ERR_OK);
    assert_int_equal(bw_redis_cmd(r, &rep, errstr, sizeof(errstr), "HGET bw:{t=4}:wm max_event"),
                     BW_ERR_OK);
    assert_string_equal(rep->str, "1704067200000");
    freeReplyObject(rep);
    assert_int_equal(bw_redis_cmd(r, &rep, errstr, sizeof(errstr), "HGET bw:{b}:c n"), BW_ERR_OK);
    assert_string_equal(rep->str, "1");
    freeReplyObject(rep);
    bw_win_destroy(w);
    bw_redis_destroy(r);
}

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/bw_itest_win_XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    port = bw_itest_free_port();
    redis_pid = bw_itest_redis_start(port, dir, NULL);
    return bw_itest_port_open(port) ? 0 : -1;
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
        cmocka_unit_test(test_ops),
        cmocka_unit_test(test_text_and_once),
        cmocka_unit_test(test_forget_partition_reloads_fence),
        cmocka_unit_test(test_watermark_waits_for_state),
        cmocka_unit_test(test_replays_with_crashes_equal_one_pass),
        cmocka_unit_test(test_two_writers_race),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
