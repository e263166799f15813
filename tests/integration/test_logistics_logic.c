/* bw-logistics's logic without Kafka, against a real redis-server: every
 * bad input of the issue has a defined outcome. */
#include "../unit/bw_test.h"

#include <jansson.h>

#include "bw_itest_env.h"
#include "bw_json.h"
#include "logistics.h"

static bw_itest_env_t env;
static char errstr[512];
static bw_serde_t *sd; /* env's */
static bw_redis_t *redis;
static logistics_t *lg;
static int64_t offsets[2];
static int signals;
static int64_t signal_ends[64]; /* window_end of the signals, in emission order */

#define DAY 86400000LL
#define T0 1704067200000LL /* 2024-01-01 */

static const logistics_cfg_t CFG = {
    .window_ms = DAY,
    .history = 14,
    .index_ttl_s = 86400,
    .window_ttl_s = 86400,
    .lateness_ms = 3600000,
    .grace_ms = 2 * DAY,
    .skew_ms = 600000,
    .idle_ms = 60000,
    .min_event_ms = 946684800000LL,
    .spike = {30, 1.5, 0.05, 0.001, 0.3, 0.08, 3},
    .ship_warn = 0.03,
    .ship_critical = 0.04,
    .ship_min = 20,
    .stall_ms = 3 * DAY,
    .stall = {5, 2, 0.001, 0.3, 0.5},
    .tracking_ms = 2 * DAY,
    .track_warn = 0.96,
    .track_critical = 0.95,
    .timer_batch = 1000,
};

static bw_err_t count_signal(void *opaque, const char *key, avro_value_t *v) {
    avro_value_t end;
    int64_t at = 0;
    (void)opaque;
    (void)key;
    if (avro_value_get_by_name(v, "window_end", &end, NULL) || avro_value_get_long(&end, &at))
        return BW_ERR_INVALID_ARG;
    signal_ends[signals++ % 64] = at;
    return BW_ERR_OK;
}

/* Every other event goes in as a message's bytes (logistics_add_wire, the
 * stage's path: read where its fields are), the rest as a decoded record
 * (logistics_add): every test holds for both. */
static logi_verdict_t add(int topic, const char *json) {
    const bw_schema_t *s = bw_serde_schema(sd, topic ? "ShipmentEvent" : "OrderEvent");
    bw_record_t *rec = bw_record_new(s);
    json_t *j = json_loads(json, 0, NULL);
    bw_buf_t wire = {0};
    bw_err_t why = BW_ERR_OK;
    logi_verdict_t v;

    if (!j || bw_json_to_avro(s, j, &rec->value, errstr, sizeof(errstr)) ||
        bw_serde_encode(sd, s, &rec->value, &wire, errstr, sizeof(errstr)))
        fail_msg("fixture: %s", errstr);
    if (offsets[topic] % 2 == 0) {
        v = logistics_add_wire(lg, topic, wire.data, wire.len, topic * 1024, offsets[topic]++,
                               T0 + 30 * DAY, &why, errstr, sizeof(errstr));
        if (v == LOGI_REJECTED)
            assert_int_equal(why, BW_ERR_OUT_OF_RANGE);
    } else {
        v = logistics_add(lg, topic, rec, topic * 1024, offsets[topic]++, T0 + 30 * DAY, errstr,
                          sizeof(errstr));
    }
    json_decref(j);
    bw_record_destroy(rec);
    bw_buf_free(&wire);
    return v;
}

static void end_batch(void) {
    assert_int_equal(
        logistics_end_batch(lg, T0 + 30 * DAY, count_signal, NULL, errstr, sizeof(errstr)),
        BW_ERR_OK);
    assert_int_equal(logistics_delivered(lg, errstr, sizeof(errstr)), BW_ERR_OK);
}

static char *order_at(const char *store, const char *id, int64_t placed, const char *status,
                      int64_t at) {
    static char buf[8192];
    char p[BW_TS_BUFSZ], sb[BW_TS_BUFSZ], db[BW_TS_BUFSZ], t[BW_TS_BUFSZ];
    bw_ts_format(placed, p);
    bw_ts_format(at, t);
    bw_ts_format(placed + 2 * DAY, sb);
    bw_ts_format(placed + 5 * DAY, db);
    snprintf(
        buf, sizeof(buf),
        "{\"event_id\":\"oe-%s\",\"store_id\":\"%s\",\"platform\":\"AMAZON\",\"marketplace\":"
        "\"DE\",\"order_id\":\"%s\",\"skus\":[],\"placed_at\":\"%s\",\"promised_ship_by\":\"%s\","
        "\"promised_delivery_by\":\"%s\",\"status\":\"%s\",\"occurred_at\":\"%s\"}",
        id, store, id, p, sb, db, status, t);
    return buf;
}

/* An order placed at @p placed: ship by +2 days, deliver by +5 days. */
static char *order(const char *store, const char *id, int64_t placed) {
    return order_at(store, id, placed, "PLACED", placed);
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

static long long zcard(const char *key) {
    redisReply *r;
    long long v;
    assert_int_equal(bw_redis_cmd(redis, &r, errstr, sizeof(errstr), "ZCARD %s", key), BW_ERR_OK);
    v = r->integer;
    freeReplyObject(r);
    return v;
}

/* An event's bytes, cut anywhere or sent on the other topic: dead-lettered
 * with the decoder's reason, nothing queued (the stage's path). */
static void test_wire_bad_input(void **state) {
    const bw_schema_t *os = bw_serde_schema(sd, "OrderEvent");
    bw_record_t *rec = bw_record_new(os);
    json_t *j = json_loads(order("s1", "w1", T0), 0, NULL);
    bw_buf_t wire = {0};
    bw_err_t why = BW_ERR_OK;

    (void)state;
    assert_non_null(j);
    assert_int_equal(bw_json_to_avro(os, j, &rec->value, errstr, sizeof(errstr)), BW_ERR_OK);
    assert_int_equal(bw_serde_encode(sd, os, &rec->value, &wire, errstr, sizeof(errstr)),
                     BW_ERR_OK);
    for (size_t cut = 0; cut < wire.len; cut += 5) {
        assert_int_equal(logistics_add_wire(lg, LOGI_TOPIC_ORDERS, wire.data, cut, 0, (int64_t)cut,
                                            T0 + 30 * DAY, &why, errstr, sizeof(errstr)),
                         LOGI_REJECTED);
        assert_int_not_equal(why, BW_ERR_OUT_OF_RANGE);
    }
    assert_int_equal(logistics_add_wire(lg, LOGI_TOPIC_SHIPMENTS, wire.data, wire.len, 1024, 0,
                                        T0 + 30 * DAY, &why, errstr, sizeof(errstr)),
                     LOGI_REJECTED);
    assert_int_not_equal(why, BW_ERR_OUT_OF_RANGE);
    assert_int_equal(logistics_add_wire(lg, LOGI_TOPIC_ORDERS, wire.data, wire.len, 0, 1000,
                                        T0 + 30 * DAY, &why, errstr, sizeof(errstr)),
                     LOGI_APPLIED);
    end_batch();
    assert_int_equal(hget("bw:{s=s1}:o:w1", "psb"), T0 + 2 * DAY);
    json_decref(j);
    bw_record_destroy(rec);
    bw_buf_free(&wire);
}

static void test_shipment_before_order_counts_once_it_arrives(void **state) {
    (void)state;
    assert_int_equal(add(1, scan("s1", "o1", "DHL", "DELIVERED", T0 + 7 * DAY)), LOGI_APPLIED);
    end_batch(); /* no promise known yet: not counted */
    assert_int_equal(hget("bw:{cl=DHL|CN-%3EDE}:w:1704499200000", "due"), -1);
    assert_int_equal(add(0, order("s1", "o1", T0)), LOGI_APPLIED);
    end_batch(); /* the order completes it: delivered day 7 > promise day 5: late, on day 5 */
    assert_int_equal(hget("bw:{cl=DHL|CN-%3EDE}:w:1704499200000", "due"), 1);
    assert_int_equal(hget("bw:{cl=DHL|CN-%3EDE}:w:1704499200000", "late"), 1);
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
    assert_int_equal(hget("bw:{cl=UPS|CN-%3EDE}:w:1704499200000", "due"), 1);
    assert_int_equal(hget("bw:{cl=UPS|CN-%3EDE}:w:1704499200000", "late"), -1);
}

static void test_unknown_order_and_delivered_before_pickup(void **state) {
    (void)state;
    /* no order ever: kept in the index, never in the late share */
    add(1, scan("s3", "ghost", "GLS", "DELIVERED", T0 + 2 * DAY));
    end_batch();
    assert_int_equal(hget("bw:{s=s3}:o:ghost", "delivered"), T0 + 2 * DAY);
    assert_int_equal(hget("bw:{cl=GLS|CN-%3EDE}:w:1704240000000", "due"), -1);
    /* delivered scan first, pickup later (out of order): shipped keeps the earliest scan */
    add(0, order("s3", "o3", T0));
    add(1, scan("s3", "o3", "GLS", "DELIVERED", T0 + 3 * DAY));
    add(1, scan("s3", "o3", "GLS", "PICKED_UP", T0 + 1 * DAY));
    end_batch();
    assert_int_equal(hget("bw:{s=s3}:o:o3", "first_scan"), T0 + 1 * DAY);
    assert_int_equal(hget("bw:{s=s3}:o:o3", "delivered"), T0 + 3 * DAY);
    assert_int_equal(hget("bw:{s=s3}:ship:1704153600000", "shipped"), 1); /* day 1 */
}

static void test_transit_scans_do_not_decide_shipping(void **state) {
    (void)state;
    add(0, order("s10", "t1", T0)); /* ship by day 2 */
    add(1, scan("s10", "t1", "DPD", "PICKED_UP", T0 + DAY));
    end_batch();
    add(1, scan("s10", "t1", "DPD", "IN_TRANSIT", T0 + 3 * DAY)); /* after ship-by: still on time */
    end_batch();
    add(0, order("s10", "t2", T0));
    add(1, scan("s10", "t2", "DPD", "PICKED_UP", T0 + DAY));
    add(1, scan("s10", "t2", "DPD", "IN_TRANSIT", T0 + 3 * DAY)); /* the same, in one batch */
    end_batch();
    assert_int_equal(hget("bw:{s=s10}:ship:1704153600000", "shipped"), 2);
    assert_int_equal(hget("bw:{s=s10}:ship:1704153600000", "late_shipped"), -1);
}

static void test_missing_promises(void **state) {
    (void)state;
    add(0, "{\"event_id\":\"x\",\"store_id\":\"s4\",\"platform\":\"EBAY\",\"marketplace\":\"US\","
           "\"order_id\":\"o4\",\"skus\":[],\"placed_at\":\"2024-01-01T00:00:00Z\",\"status\":"
           "\"PLACED\",\"occurred_at\":\"2024-01-01T00:00:00Z\"}");
    add(1, scan("s4", "o4", "FedEx", "DELIVERED", T0 + 9 * DAY));
    end_batch();
    assert_int_equal(hget("bw:{s=s4}:o:o4", "pdb"), -1);
    assert_int_equal(hget("bw:{cl=FedEx|CN-%3EDE}:w:1704844800000", "due"), -1);
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
        /* its order key, its day's order count (bw-correlate's ODR) with
         * the once-marker, and its fence: all under the one tag */
        assert_int_equal(r->elements, 4);
        freeReplyObject(r);
    }
}

/* Events of an unrelated order on both partitions move the watermark
 * (the stage's is the least of its partitions'). */
static void advance_to(int64_t at) {
    add(0, order_at("clock", "tick", at, "PLACED", at));
    add(1, scan("clock", "tick", "TICK", "LABEL_CREATED", at));
}

static void test_late_while_undelivered(void **state) {
    const char *w5 = "bw:{cl=DPD|CN-%3EDE}:w:1704499200000"; /* promise day 5 */
    (void)state;
    add(0, order("s6", "o6", T0));
    add(1, scan("s6", "o6", "DPD", "PICKED_UP", T0 + DAY));
    end_batch();
    assert_int_equal(hget(w5, "due"), -1); /* the promise has not passed */
    advance_to(T0 + 5 * DAY + 2 * 3600000);
    end_batch(); /* the watermark passed day 5 with the parcel undelivered */
    assert_int_equal(hget(w5, "due"), 1);
    assert_int_equal(hget(w5, "late"), 1);
    assert_true(logistics_timers_fired(lg) >= 1);
    assert_int_equal(zcard("bw:{t=1024}:due"), 0); /* settled, so gone */
    add(1, scan("s6", "o6", "DPD", "DELIVERED", T0 + 8 * DAY));
    end_batch(); /* its delivery three days later counts no second time */
    assert_int_equal(hget(w5, "due"), 1);
    assert_int_equal(hget(w5, "late"), 1);
}

static void test_stalled_parcels(void **state) {
    const char *w4 = "bw:{cl=PNL|CN-%3EDE}:w:1704412800000"; /* day 1 + 3 days quiet = day 4 */
    (void)state;
    add(0, order("s7", "a", T0));
    add(0, order("s7", "b", T0));
    add(1, scan("s7", "a", "PNL", "PICKED_UP", T0 + DAY));
    /* b: quiet from day 1 to day 5 within one batch, then delivered */
    add(1, scan("s7", "b", "PNL", "PICKED_UP", T0 + DAY));
    add(1, scan("s7", "b", "PNL", "IN_TRANSIT", T0 + 5 * DAY));
    add(1, scan("s7", "b", "PNL", "DELIVERED", T0 + 5 * DAY + 3600000));
    end_batch(); /* b's gap is a stall as soon as its day-5 scan comes */
    assert_int_equal(hget("bw:{s=s7}:o:b", "stall_at"), T0 + 4 * DAY);
    assert_int_equal(hget(w4, "stalled"), 1);
    advance_to(T0 + 4 * DAY + 2 * 3600000);
    end_batch(); /* a has had no scan for three days: stalled */
    assert_int_equal(hget(w4, "stalled"), 2);
    add(1, scan("s7", "a", "PNL", "IN_TRANSIT", T0 + 6 * DAY));
    advance_to(T0 + 10 * DAY);
    end_batch(); /* a moves again: its gap is the same stall, not a second one */
    assert_int_equal(hget(w4, "stalled"), 2);
    assert_int_equal(zcard("bw:{t=1024}:stall"),
                     0); /* b ended; a quiet again since day 6: settled */
    assert_int_equal(hget("bw:{s=s7}:o:a", "stall_at"), T0 + 4 * DAY);
}

static void test_valid_tracking(void **state) {
    char id[16];
    int before = signals;
    (void)state;
    /* 25 shipments confirmed on day 2: 21 scanned within 48 h, 1 scanned
     * on day 5 (too late), 3 never: 84% valid */
    for (int i = 0; i < 25; i++) {
        snprintf(id, sizeof(id), "v%d", i);
        add(0, order_at("s8", id, T0, "SHIPPED", T0 + 2 * DAY));
        if (i < 21)
            add(1, scan("s8", id, "DHL", "PICKED_UP", T0 + 2 * DAY + 3600000));
        else if (i == 21)
            add(1, scan("s8", id, "DHL", "PICKED_UP", T0 + 5 * DAY));
    }
    end_batch();
    assert_int_equal(hget("bw:{s=s8}:track:1704240000000", "confirmed"), -1);
    /* day 2's window is final once its shipments' tracking time has passed
     * (day 5, plus the hour of lateness) */
    advance_to(T0 + 5 * DAY + 2 * 3600000);
    end_batch();
    assert_int_equal(hget("bw:{s=s8}:track:1704240000000", "confirmed"), 25);
    assert_int_equal(hget("bw:{s=s8}:track:1704240000000", "valid"), 21);
    assert_int_equal(hget("bw:{s=s8}:fired", "VALID_TRACKING_AT_RISK:1704240000000"), 2);
    assert_true(signals > before);
}

static void test_signal_once_per_window(void **state) {
    char id[16];
    int before;
    (void)state;
    /* 40 parcels due day 5, all delivered on day 7: a spike on day 5 */
    for (int i = 0; i < 40; i++) {
        snprintf(id, sizeof(id), "k%d", i);
        add(0, order("s9", id, T0));
        add(1, scan("s9", id, "ZTO", "DELIVERED", T0 + 7 * DAY));
    }
    before = signals;
    end_batch();
    /* day 5 is still open (the orders' partition is at day 0): kept to judge */
    assert_int_equal(signals - before, 0);
    assert_int_equal(zcard("bw:{t=0}:close"), 1);
    advance_to(T0 + 7 * DAY);
    end_batch();
    assert_int_equal(signals - before, 1); /* closed: judged on its final counts, once */
    assert_int_equal(zcard("bw:{t=0}:close"), 0);
    assert_int_equal(hget("bw:{cl=ZTO|CN-%3EDE}:fired", "CARRIER_DELAY_SPIKE:1704499200000"), 2);
    /* late data into the closed window: judged again, not sent again at the same severity */
    for (int i = 40; i < 45; i++) {
        snprintf(id, sizeof(id), "k%d", i);
        add(0, order("s9", id, T0));
        add(1, scan("s9", id, "ZTO", "DELIVERED", T0 + 7 * DAY));
    }
    before = signals;
    end_batch();
    assert_int_equal(signals - before, 0);
}

/* A batch that closes two days of a store, one touched by its own events
 * and the other kept in the close set, judges the earlier day first:
 * bw-alert opens an episode with the first window of a key it gets. */
static void test_windows_judged_in_event_time_order(void **state) {
    char id[16];
    int before;
    (void)state;
    for (int i = 0; i < 30; i++) { /* ship by day 2, shipped day 4 */
        snprintf(id, sizeof(id), "a%d", i);
        add(0, order("s11", id, T0));
        add(1, scan("s11", id, "DHL", "PICKED_UP", T0 + 4 * DAY));
    }
    end_batch();
    before = signals;
    for (int i = 0; i < 30; i++) { /* ship by day 3, shipped day 5 */
        snprintf(id, sizeof(id), "b%d", i);
        add(0, order("s11", id, T0 + DAY));
        add(1, scan("s11", id, "DHL", "PICKED_UP", T0 + 5 * DAY));
    }
    advance_to(T0 + 7 * DAY);
    end_batch();
    assert_true(signals - before >= 2);
    for (int i = before + 1; i < signals; i++)
        assert_true(signal_ends[(i - 1) % 64] <= signal_ends[i % 64]);
    assert_true(signal_ends[before % 64] < signal_ends[(signals - 1) % 64]);
}

static int setup(void **state) {
    (void)state;
    if (bw_itest_env_start(&env, "logi", errstr, sizeof(errstr)))
        return -1;
    sd = env.sd;
    redis = env.redis;
    return 0;
}

/* Each test starts a fresh process (watermarks start over) on an empty
 * Redis; the offsets carry on. */
static int fresh(void **state) {
    (void)state;
    /* timers of earlier tests would fire in this one */
    if (bw_itest_env_flush(&env, errstr, sizeof(errstr)))
        return -1;
    logistics_destroy(lg);
    lg = logistics_new(&CFG, sd, redis, NULL, errstr, sizeof(errstr));
    return lg ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    logistics_destroy(lg);
    return bw_itest_env_stop(&env);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_wire_bad_input, fresh),
        cmocka_unit_test_setup(test_shipment_before_order_counts_once_it_arrives, fresh),
        cmocka_unit_test_setup(test_duplicate_scans_count_once, fresh),
        cmocka_unit_test_setup(test_unknown_order_and_delivered_before_pickup, fresh),
        cmocka_unit_test_setup(test_transit_scans_do_not_decide_shipping, fresh),
        cmocka_unit_test_setup(test_missing_promises, fresh),
        cmocka_unit_test_setup(test_absurd_timestamps, fresh),
        cmocka_unit_test_setup(test_hostile_names_stay_apart, fresh),
        cmocka_unit_test_setup(test_late_while_undelivered, fresh),
        cmocka_unit_test_setup(test_stalled_parcels, fresh),
        cmocka_unit_test_setup(test_valid_tracking, fresh),
        cmocka_unit_test_setup(test_signal_once_per_window, fresh),
        cmocka_unit_test_setup(test_windows_judged_in_event_time_order, fresh),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
