/* bw-alert's logic without Kafka, against a real redis-server: memory
 * holds only the problems of the last keep time (a resolved one leaves it
 * for Redis and comes back, same episode, when a late signal names it),
 * and a pending alert that the clock fires is sent. */
#include "../unit/bw_test.h"

#include <jansson.h>

#include "alert.h"
#include "bw_itest_env.h"
#include "bw_json.h"

static bw_itest_env_t env;
static char errstr[512];
static bw_serde_t *sd; /* env's */
static bw_redis_t *redis;
static alert_t *al;
static int64_t offset;
static json_t *sent; /* the warnings of a test, as JSON */

#define H 3600000LL
#define T0 1704067200000LL /* 2024-01-01 */

static alert_cfg_t cfg = {{0, 0, 2 * H, 0}, 86400, false};

static bw_err_t keep_warning(void *opaque, const char *key, avro_value_t *v) {
    (void)opaque;
    (void)key;
    json_array_append_new(sent, bw_avro_to_json(bw_serde_schema(sd, "EarlyWarning"), v));
    return BW_ERR_OK;
}

/* A COMPLAINT_CLUSTER signal of @p severity for @p store's SKU-1 at @p at. */
static void send_signal_of(const char *store, int64_t at, const char *severity) {
    const bw_schema_t *s = bw_serde_schema(sd, "Signal");
    bw_record_t *rec = bw_record_new(s);
    char t[BW_TS_BUFSZ], w[BW_TS_BUFSZ], we[BW_TS_BUFSZ], reason[256];
    json_t *j;

    bw_ts_format(at, t);
    bw_ts_format(at - at % H, w);
    bw_ts_format(at - at % H + H, we);
    j = json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:n, s:s, s:n, s:n, s:n}, s:s, s:s, s:f, s:f, "
                  "s:f, s:i, s:[s], s:s, s:n, s:s, s:s, s:i}",
                  "alert_id", "x", "type", "COMPLAINT_CLUSTER", "severity", severity, "state",
                  "FIRING", "scope", "store_id", store, "platform", "sku", "SKU-1", "carrier",
                  "lane", "event_id", "window_start", w, "window_end", we, "observed", 3.0,
                  "baseline", 0.0, "threshold", 3.0, "sample_size", 3, "evidence", "e1", "playbook",
                  "act", "detail", "first_seen", t, "last_seen", t, "occurrences", 1);
    if (!j || bw_json_to_avro(s, j, &rec->value, errstr, sizeof(errstr)))
        fail_msg("signal fixture: %s", errstr);
    assert_true(alert_add(al, rec, 0, offset++, reason, sizeof(reason)));
    json_decref(j);
    bw_record_destroy(rec);
}

static void send_signal(const char *store, int64_t at) {
    send_signal_of(store, at, "WARNING");
}

static void end_batch(void) {
    assert_int_equal(alert_end_batch(al, keep_warning, NULL, errstr, sizeof(errstr)), BW_ERR_OK);
    assert_int_equal(alert_delivered(al, errstr, sizeof(errstr)), BW_ERR_OK);
}

/* The warning sent @p back before the last for @p store (0: the last), or NULL. */
static json_t *sent_for(const char *store, int back) {
    json_t *w;
    for (size_t i = json_array_size(sent); i-- > 0;) {
        w = json_array_get(sent, i);
        const char *s = json_string_value(json_object_get(json_object_get(w, "scope"), "store_id"));
        if (s && !strcmp(s, store) && back-- == 0)
            return w;
    }
    return NULL;
}

static json_t *last_for(const char *store) {
    return sent_for(store, 0);
}

/* The warning @p back before the last for store-a is @p state, version
 * @p version, of alert @p id. */
static void assert_sent_a(int back, const char *state, int version, const char *id) {
    json_t *w = sent_for("store-a", back);
    assert_non_null(w);
    assert_string_equal(json_string_value(json_object_get(w, "state")), state);
    assert_int_equal(json_integer_value(json_object_get(w, "version")), version);
    assert_string_equal(json_string_value(json_object_get(w, "alert_id")), id);
}

/* Whether warning @p version of alert @p id, in @p state, was sent. */
static bool was_sent(const char *id, int version, const char *state) {
    json_t *w;
    size_t i;
    json_array_foreach(sent, i, w) {
        if (!strcmp(json_string_value(json_object_get(w, "alert_id")), id) &&
            json_integer_value(json_object_get(w, "version")) == version &&
            !strcmp(json_string_value(json_object_get(w, "state")), state))
            return true;
    }
    return false;
}

static bw_err_t crash_before_sending(void *opaque, const char *key, avro_value_t *v) {
    (void)opaque;
    (void)key;
    (void)v;
    return BW_ERR_KAFKA;
}

static long long redis_int(const char *fmt, const char *arg) {
    redisReply *r;
    long long n;
    assert_int_equal(bw_redis_cmd(redis, &r, errstr, sizeof(errstr), fmt, arg), BW_ERR_OK);
    n = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    return n;
}

#define KEY_A "COMPLAINT_CLUSTER|{\"sku\":\"SKU-1\",\"store_id\":\"store-a\"}"

/* A resolved problem leaves memory once the clock is the keep time past
 * it; a late signal of its episode brings it back and reopens the same
 * alert; memory stays bounded however many problems go by. */
static void test_evicted_problem_comes_back(void **state) {
    char id[32];
    (void)state;
    send_signal("store-a", T0);
    end_batch();
    assert_non_null(last_for("store-a"));
    snprintf(id, sizeof(id), "%s",
             json_string_value(json_object_get(last_for("store-a"), "alert_id")));
    assert_sent_a(0, "FIRING", 1, id);
    /* other stores move the clock: resolved after the hold (2 h), out of
     * memory after the keep time (2 x hold), into its own key */
    send_signal("store-b", T0 + 3 * H);
    end_batch();
    assert_sent_a(0, "RESOLVED", 2, id);
    for (int i = 0; i < 200; i++) {
        char store[32];
        snprintf(store, sizeof(store), "store-%03d", i);
        send_signal(store, T0 + 5 * H + i * 10 * 60000LL); /* every 10 min, one problem each */
        end_batch();
        assert_true(alert_tracked_count(al) <= 30); /* 4 h at 10 min: ~25 problems */
    }
    assert_int_equal(redis_int("HEXISTS bw:{alerts}:state %s", KEY_A), 0);
    assert_int_equal(redis_int("EXISTS bw:{alerts}:done:%s", KEY_A), 1);
    assert_true(redis_int("TTL bw:{alerts}:done:%s", KEY_A) > 0);
    /* a signal of the same episode (within the hold of its last one),
     * however late: the same alert fires again, its next version (and the
     * clock, far ahead, resolves it in the same batch) */
    send_signal("store-a", T0 + 1 * H);
    end_batch();
    assert_sent_a(1, "FIRING", 3, id);
    assert_sent_a(0, "RESOLVED", 4, id);
    assert_int_equal(json_integer_value(json_object_get(sent_for("store-a", 1), "occurrences")), 2);
    /* back in one place: "state" again, its own key gone */
    assert_int_equal(redis_int("HEXISTS bw:{alerts}:state %s", KEY_A), 1);
    assert_int_equal(redis_int("EXISTS bw:{alerts}:done:%s", KEY_A), 0);
    /* out again at the next batch; a restarted stage finds it all the same */
    send_signal("store-z", T0 + 40 * H);
    end_batch();
    assert_int_equal(redis_int("EXISTS bw:{alerts}:done:%s", KEY_A), 1);
    alert_destroy(al);
    assert_non_null(al = alert_new(&cfg, sd, redis, NULL, errstr, sizeof(errstr)));
    alert_assigned(al, 0);
    send_signal("store-a", T0 + 90 * 60000LL);
    end_batch();
    assert_sent_a(1, "FIRING", 5, id);
    assert_int_equal(json_integer_value(json_object_get(sent_for("store-a", 1), "occurrences")), 3);
}

/* A crash once the batch's states and warnings are in Redis, before any
 * is sent: the restarted stage sends each of them. Here one batch
 * resolves an episode (a signal past its hold) and fires the next one
 * twice (worse): two version 2 warnings of the problem wait in the outbox
 * at once, and both must come out. */
static void test_crash_before_sending(void **state) {
    char first[32], second[32];
    (void)state;
    send_signal("store-a", T0);
    end_batch();
    snprintf(first, sizeof(first), "%s",
             json_string_value(json_object_get(last_for("store-a"), "alert_id")));
    send_signal("store-a", T0 + 3 * H);
    send_signal_of("store-a", T0 + 3 * H + 60000, "CRITICAL");
    assert_int_not_equal(alert_end_batch(al, crash_before_sending, NULL, errstr, sizeof(errstr)),
                         BW_ERR_OK);
    assert_int_equal(json_array_size(sent), 1);
    alert_destroy(al);
    assert_non_null(al = alert_new(&cfg, sd, redis, NULL, errstr, sizeof(errstr)));
    alert_assigned(al, 0);
    end_batch(); /* a tick: the outbox is sent */
    assert_int_equal(json_array_size(sent), 4);
    assert_true(was_sent(first, 2, "RESOLVED"));
    second[0] = '\0';
    for (size_t i = 1; i < json_array_size(sent); i++) {
        const char *id = json_string_value(json_object_get(json_array_get(sent, i), "alert_id"));
        if (strcmp(id, first))
            snprintf(second, sizeof(second), "%s", id);
    }
    assert_true(second[0]);
    assert_true(was_sent(second, 1, "FIRING"));
    assert_true(was_sent(second, 2, "FIRING"));
    /* delivered: the outbox is empty, a second restart sends nothing */
    assert_int_equal(redis_int("EXISTS %s", "bw:{alerts}:outbox"), 0);
}

/* alert.for.ms: nothing sent while pending; the clock fires it and sends
 * it, with the signal's figures. */
static void test_clock_fires_pending(void **state) {
    (void)state;
    alert_destroy(al);
    cfg.life.for_ms = H;
    al = alert_new(&cfg, sd, redis, NULL, errstr, sizeof(errstr));
    cfg.life.for_ms = 0;
    assert_non_null(al);
    alert_assigned(al, 0);
    send_signal("store-p", T0);
    end_batch();
    assert_null(last_for("store-p"));
    send_signal("store-q", T0 + 90 * 60000LL); /* the clock: 1.5 h */
    end_batch();
    assert_non_null(last_for("store-p"));
    assert_string_equal(json_string_value(json_object_get(last_for("store-p"), "state")), "FIRING");
    assert_true(json_real_value(json_object_get(last_for("store-p"), "observed")) == 3.0);
    assert_null(last_for("store-q")); /* itself pending */
}

static int setup(void **state) {
    (void)state;
    if (bw_itest_env_start(&env, "alert", errstr, sizeof(errstr)))
        return -1;
    sd = env.sd;
    redis = env.redis;
    return 0;
}

/* Each test: a fresh stage on an empty Redis, partition 0 assigned. */
static int fresh(void **state) {
    (void)state;
    if (bw_itest_env_flush(&env, errstr, sizeof(errstr)))
        return -1;
    alert_destroy(al);
    json_decref(sent);
    sent = json_array();
    offset = 0;
    if (!(al = alert_new(&cfg, sd, redis, NULL, errstr, sizeof(errstr))))
        return -1;
    alert_assigned(al, 0);
    return sent ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    alert_destroy(al);
    json_decref(sent);
    return bw_itest_env_stop(&env);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_evicted_problem_comes_back, fresh),
        cmocka_unit_test_setup(test_clock_fires_pending, fresh),
        cmocka_unit_test_setup(test_crash_before_sending, fresh),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
