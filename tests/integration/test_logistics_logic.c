/* bw-logistics's logic without Kafka, against a real redis-server: every
 * bad input of the issue has a defined outcome. */
#include "../unit/bw_test.h"

#include <jansson.h>

#include "bw_itest.h"
#include "bw_json.h"
#include "logistics.h"

static int port;
static pid_t redis_pid;
static char dir[64], errstr[512];
static bw_serde_t *sd;
static bw_redis_t *redis;
static logistics_t *lg;
static int64_t offsets[2];
static int signals;

#define DAY 86400000LL
#define T0 1704067200000LL /* 2024-01-01 */

static const logistics_cfg_t CFG = {
    DAY,     14,     86400, 86400,          3600000,
    2 * DAY, 600000, 60000, 946684800000LL, {30, 1.5, 0.05, 0.001, 0.3, 0.08},
    0.03,    0.04,   20};

static bw_err_t count_signal(void *opaque, const char *key, avro_value_t *v) {
    (void)opaque;
    (void)key;
    (void)v;
    signals++;
    return BW_ERR_OK;
}

static logi_verdict_t add(int topic, const char *json) {
    const bw_schema_t *s = bw_serde_schema(sd, topic ? "ShipmentEvent" : "OrderEvent");
    bw_record_t *rec = bw_record_new(s);
    json_t *j = json_loads(json, 0, NULL);
    logi_verdict_t v;

    if (!j || bw_json_to_avro(s, j, &rec->value, errstr, sizeof(errstr)))
        fail_msg("fixture: %s", errstr);
    v = logistics_add(lg, topic, rec, topic * 1024, offsets[topic]++, T0 + 30 * DAY, errstr,
                      sizeof(errstr));
    json_decref(j);
    bw_record_destroy(rec);
    return v;
}

static void end_batch(void) {
    assert_int_equal(
        logistics_end_batch(lg, T0 + 30 * DAY, count_signal, NULL, errstr, sizeof(errstr)),
        BW_ERR_OK);
}

static char *order(const char *store, const char *id, int64_t placed) {
    static char buf[8192];
    char p[BW_TS_BUFSZ], sb[BW_TS_BUFSZ], db[BW_TS_BUFSZ];
    bw_ts_format(placed, p);
    bw_ts_format(placed + 2 * DAY, sb);
    bw_ts_format(placed + 5 * DAY, db);
    snprintf(
        buf, sizeof(buf),
        "{\"event_id\":\"oe-%s\",\"store_id\":\"%s\",\"platform\":\"AMAZON\",\"marketplace\":"
        "\"DE\",\"order_id\":\"%s\",\"skus\":[],\"placed_at\":\"%s\",\"promised_ship_by\":\"%s\","
        "\"promised_delivery_by\":\"%s\",\"status\":\"PLACED\",\"occurred_at\":\"%s\"}",
        id, store, id, p, sb, db, p);
    return buf;
}

static char *scan(const char *store, const char *id, const char *carrier, const char *status,
                  int64_t at) {
    static char buf[8192];
    char t[BW_TS_BUFSZ];
    json_t *j;
    char *text;
    bw_ts_format(at, t);
    j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:n, s:s, s:n, s:s}", "event_id", "se",
                  "store_id", store, "order_id", id, "carrier", carrier, "tracking_no", "T",
                  "origin_country", "CN", "dest_country", "DE", "dest_region", "status", status,
                  "estimated_delivery", "occurred_at", t);
    text = json_dumps(j, JSON_COMPACT);
    snprintf(buf, sizeof(buf), "%s", text);
    free(text);
    json_decref(j);
    return buf;
}

static long long hget(const char *key, const char *field) {
    redisReply *r;
    long long v = -1;
    assert_int_equal(bw_redis_cmd(redis, &r, errstr, sizeof(errstr), "HGET %s %s", key, field),
                     BW_ERR_OK);
    if (r->type == REDIS_REPLY_STRING)
        v = atoll(r->str);
    freeReplyObject(r);
    return v;
}

static void test_shipment_before_order_counts_once_it_arrives(void **state) {
    (void)state;
    assert_int_equal(add(1, scan("s1", "o1", "DHL", "DELIVERED", T0 + 7 * DAY)), LOGI_APPLIED);
    end_batch(); /* no promise known yet: not counted */
    assert_int_equal(hget("bw:{cl=DHL|CN-%3EDE}:w:1704672000000", "delivered"), -1);
    assert_int_equal(add(0, order("s1", "o1", T0)), LOGI_APPLIED);
    end_batch(); /* the order completes it: delivered day 7 > promise day 5: late */
    assert_int_equal(hget("bw:{cl=DHL|CN-%3EDE}:w:1704672000000", "delivered"), 1);
    assert_int_equal(hget("bw:{cl=DHL|CN-%3EDE}:w:1704672000000", "late"), 1);
}

static void test_duplicate_scans_count_once(void **state) {
    (void)state;
    add(0, order("s2", "o2", T0));
    end_batch();
    for (int i = 0; i < 3; i++) /* the same scan three times, in two batches */
        add(1, scan("s2", "o2", "UPS", "DELIVERED", T0 + 3 * DAY));
    end_batch();
    add(1, scan("s2", "o2", "UPS", "DELIVERED", T0 + 3 * DAY));
    end_batch();
    assert_int_equal(hget("bw:{cl=UPS|CN-%3EDE}:w:1704326400000", "delivered"), 1);
    assert_int_equal(hget("bw:{cl=UPS|CN-%3EDE}:w:1704326400000", "late"), -1);
}

static void test_unknown_order_and_delivered_before_pickup(void **state) {
    (void)state;
    /* no order ever: kept in the index, never in the late share */
    add(1, scan("s3", "ghost", "GLS", "DELIVERED", T0 + 2 * DAY));
    end_batch();
    assert_int_equal(hget("bw:{s=s3}:o:ghost", "delivered"), T0 + 2 * DAY);
    assert_int_equal(hget("bw:{cl=GLS|CN-%3EDE}:w:1704240000000", "delivered"), -1);
    /* delivered scan first, pickup later (out of order): shipped keeps the earliest scan */
    add(0, order("s3", "o3", T0));
    add(1, scan("s3", "o3", "GLS", "DELIVERED", T0 + 3 * DAY));
    add(1, scan("s3", "o3", "GLS", "PICKED_UP", T0 + 1 * DAY));
    end_batch();
    assert_int_equal(hget("bw:{s=s3}:o:o3", "first_scan"), T0 + 1 * DAY);
    assert_int_equal(hget("bw:{s=s3}:o:o3", "delivered"), T0 + 3 * DAY);
    assert_int_equal(hget("bw:{s=s3}:ship:1704153600000", "shipped"), 1); /* day 1 */
}

static void test_missing_promises(void **state) {
    (void)state;
    add(0, "{\"event_id\":\"x\",\"store_id\":\"s4\",\"platform\":\"EBAY\",\"marketplace\":\"US\","
           "\"order_id\":\"o4\",\"skus\":[],\"placed_at\":\"2024-01-01T00:00:00Z\",\"status\":"
           "\"PLACED\",\"occurred_at\":\"2024-01-01T00:00:00Z\"}");
    add(1, scan("s4", "o4", "FedEx", "DELIVERED", T0 + 9 * DAY));
    end_batch();
    assert_int_equal(hget("bw:{s=s4}:o:o4", "pdb"), -1);
    assert_int_equal(hget("bw:{cl=FedEx|CN-%3EDE}:w:1704844800000", "delivered"), -1);
}

static void test_absurd_timestamps(void **state) {
    (void)state;
    assert_int_equal(add(1, scan("s5", "o5", "DHL", "DELIVERED", 0)), LOGI_REJECTED);
    assert_non_null(strstr(errstr, "implausibly early"));
    assert_int_equal(add(1, scan("s5", "o5", "DHL", "DELIVERED", 32503680000000LL)), LOGI_REJECTED);
    assert_non_null(strstr(errstr, "further in the future"));
    /* far behind the grace period once the watermark has moved */
    add(1, scan("s5", "o6", "DHL", "IN_TRANSIT", T0 + 20 * DAY));
    assert_int_equal(add(1, scan("s5", "o7", "DHL", "IN_TRANSIT", T0 + 10 * DAY)),
                     LOGI_DROPPED_LATE);
    assert_int_equal(add(1, scan("s5", "o8", "DHL", "IN_TRANSIT", T0 + 19 * DAY)),
                     LOGI_LATE_APPLIED);
    end_batch();
}

static void test_hostile_names_stay_apart(void **state) {
    char big[1100];

    (void)state;
    memset(big, '{', 1024);
    big[1024] = '\0';
    add(0, order("a:b", "o}{", T0));
    add(0, order("a%3Ab", "o}{", T0));
    add(0, order(big, "x", T0));
    add(0, order("ñandú 店", "x", T0));
    end_batch();
    assert_int_equal(hget("bw:{s=a%3Ab}:o:o%7D%7B", "platform"), 0);
    assert_int_equal(hget("bw:{s=a%253Ab}:o:o%7D%7B", "platform"), 0);
    {
        redisReply *r;
        assert_int_equal(bw_redis_cmd(redis, &r, errstr, sizeof(errstr), "KEYS bw:{s=%%7B%%7B*"),
                         BW_ERR_OK);
        assert_int_equal(r->elements, 2); /* its order key and its fence */
        freeReplyObject(r);
    }
}

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/bw_itest_logi_XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    port = bw_itest_free_port();
    redis_pid = bw_itest_redis_start(port, dir, NULL);
    char url[64];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", port);
    if (!(sd = bw_serde_new(BW_DEFAULT_SCHEMA_DIR, BW_SERDE_DEFAULT_MAX, errstr, sizeof(errstr))) ||
        !(redis = bw_redis_new(url, 2000, NULL, errstr, sizeof(errstr))))
        return -1;
    return 0;
}

/* Each test starts a fresh process (watermarks start over); Redis, and so
 * the fences, carry on, as they would across restarts. */
static int fresh(void **state) {
    (void)state;
    logistics_destroy(lg);
    lg = logistics_new(&CFG, sd, redis, NULL, errstr, sizeof(errstr));
    return lg ? 0 : -1;
}

static int teardown(void **state) {
    char cmd[128];

    (void)state;
    logistics_destroy(lg);
    bw_redis_destroy(redis);
    bw_serde_destroy(sd);
    bw_itest_kill(redis_pid, SIGTERM);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_shipment_before_order_counts_once_it_arrives, fresh),
        cmocka_unit_test_setup(test_duplicate_scans_count_once, fresh),
        cmocka_unit_test_setup(test_unknown_order_and_delivered_before_pickup, fresh),
        cmocka_unit_test_setup(test_missing_promises, fresh),
        cmocka_unit_test_setup(test_absurd_timestamps, fresh),
        cmocka_unit_test_setup(test_hostile_names_stay_apart, fresh),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
