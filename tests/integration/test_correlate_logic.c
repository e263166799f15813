/* bw-correlate's logic without Kafka, against a real redis-server: each
 * rule with its edges (a 59- and a 61-day-old order, a reply a second
 * before the deadline, a SKU with two reviews, a weekend), and every bad
 * input of the issue with a defined outcome. bw-logistics writes the order
 * index the joins read, as in the pipeline. */
#include "../unit/bw_test.h"

#include <jansson.h>

#include "bw_itest_env.h"
#include "bw_json.h"
#include "correlate.h"
#include "logistics.h"

static bw_itest_env_t env;
static char errstr[512];
static bw_serde_t *sd; /* env's */
static bw_redis_t *redis;
static correlate_t *cr;
static logistics_t *lg;
static int64_t offsets[4], now;
static json_t *sent; /* the signals of a test, as JSON */

#define H 3600000LL
#define DAY 86400000LL
#define T0 1704067200000LL /* 2024-01-01, a Monday */

static const correlate_cfg_t CFG = {
    .state_ttl_s = 86400 * 120,
    .lateness_ms = H,
    .grace_ms = 400 * DAY,
    .skew_ms = 600000,
    .idle_ms = 60000,
    .min_event_ms = 946684800000LL,
    .odr_days = 60,
    .odr_min_orders = 50,
    .odr_warn = 0.0075,
    .odr_critical = 0.01,
    .odr_ebay_warn = 0.015,
    .odr_ebay_critical = 0.02,
    .rating_min = 10,
    .rating_warn = 4.0,
    .rating_critical = 3.5,
    .response_warn_ms = 18 * H,
    .neg = {8, 10, 0.1, 2, 0.15, 0.001},
    .neg_span_days = 7,
    .neg_history_days = 28,
    .cluster_min = 3,
    .cluster_days = 7,
    .fake_min = 5,
    .fake_bits = 3,
    .corr_lookback_days = 10,
    .corr_raise = 3,
    .timer_batch = 1000,
};

static const logistics_cfg_t LCFG = {
    .window_ms = DAY,
    .history = 14,
    .index_ttl_s = 86400 * 120,
    .window_ttl_s = 86400 * 120,
    .lateness_ms = H,
    .grace_ms = 400 * DAY,
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

static bw_err_t keep_signal(void *opaque, const char *key, avro_value_t *v) {
    (void)opaque;
    (void)key;
    json_array_append_new(sent, bw_avro_to_json(bw_serde_schema(sd, "Signal"), v));
    return BW_ERR_OK;
}

/* Signals of @p type sent so far in this test. */
static int count(const char *type) {
    size_t i;
    json_t *s;
    int n = 0;
    json_array_foreach(sent, i, s) n +=
        !strcmp(json_string_value(json_object_get(s, "type")), type);
    return n;
}

static const char *last_severity(const char *type) {
    size_t i;
    json_t *s;
    const char *sev = NULL;
    json_array_foreach(sent, i, s) if (!strcmp(json_string_value(json_object_get(s, "type")), type))
        sev = json_string_value(json_object_get(s, "severity"));
    return sev;
}

static void ts(int64_t t, char out[BW_TS_BUFSZ]) {
    bw_ts_format(t, out);
}

/* A ClassifiedReview: defaults, then @p fmt's fields (json_pack format). */
static json_t *review(const char *id, const char *store, const char *kind, int rating, int64_t at) {
    char t[BW_TS_BUFSZ], c[BW_TS_BUFSZ];
    ts(at, t);
    ts(at + 1000, c);
    json_t *j = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:n, s:n, s:n, s:n, s:s, s:n, s:n, s:s, s:[], s:n, s:f, s:s, "
        "s:n, s:[], s:n, s:[], s:s, s:b, s:s}",
        "event_id", id, "platform", "AMAZON", "marketplace", "US", "store_id", store, "kind", kind,
        "order_id", "sku", "rating", "title", "body", "text", "language", "fulfilled_by_platform",
        "occurred_at", t, "causes", "primary_cause", "sentiment", 0.0, "severity", "LOW",
        "removable", "policy_flags", "response_due_at", "rules", "detected_language", "en",
        "body_truncated", 0, "classified_at", c);
    if (rating)
        json_object_set_new(j, "rating", json_integer(rating));
    return j;
}

/* Every other event goes in as a message's bytes (correlate_add_wire,
 * the stage's path: a review read where its fields are), the rest as a
 * decoded record (correlate_add): every test holds for both. */
static corr_verdict_t add_json(int topic, json_t *j) {
    const bw_schema_t *s =
        bw_serde_schema(sd, topic == CORR_TOPIC_REVIEWS ? "ClassifiedReview" : "SellerAction");
    bw_record_t *rec = bw_record_new(s);
    bw_buf_t wire = {0};
    bw_err_t why = BW_ERR_OK;
    corr_verdict_t v;

    if (bw_json_to_avro(s, j, &rec->value, errstr, sizeof(errstr)) ||
        bw_serde_encode(sd, s, &rec->value, &wire, errstr, sizeof(errstr)))
        fail_msg("fixture: %s", errstr);
    if (offsets[topic] % 2 == 0) {
        v = correlate_add_wire(cr, topic, wire.data, wire.len, topic * 1024, offsets[topic]++, now,
                               &why, errstr, sizeof(errstr));
        assert_int_equal(why, v == CORR_REJECTED ? BW_ERR_OUT_OF_RANGE : why);
    } else {
        v = correlate_add(cr, topic, rec, topic * 1024, offsets[topic]++, now, errstr,
                          sizeof(errstr));
    }
    json_decref(j);
    bw_record_destroy(rec);
    bw_buf_free(&wire);
    return v;
}

static corr_verdict_t add(json_t *review) {
    return add_json(CORR_TOPIC_REVIEWS, review);
}

static corr_verdict_t act(const char *store, const char *ref, const char *action, int64_t at) {
    char t[BW_TS_BUFSZ];
    ts(at, t);
    return add_json(CORR_TOPIC_ACTIONS,
                    json_pack("{s:s, s:s, s:s, s:s, s:s}", "event_id", "act", "store_id", store,
                              "ref_event_id", ref, "action", action, "occurred_at", t));
}

static void end_batch(void) {
    assert_int_equal(correlate_end_batch(cr, now, keep_signal, NULL, errstr, sizeof(errstr)),
                     BW_ERR_OK);
    assert_int_equal(correlate_delivered(cr, errstr, sizeof(errstr)), BW_ERR_OK);
}

/* An order in the index (through bw-logistics): placed at @p placed,
 * shipped with @p carrier (NULL: not shipped). */
static void order(const char *store, const char *id, int64_t placed, const char *carrier) {
    const bw_schema_t *os = bw_serde_schema(sd, "OrderEvent");
    const bw_schema_t *ss = bw_serde_schema(sd, "ShipmentEvent");
    char p[BW_TS_BUFSZ], sb[BW_TS_BUFSZ], db[BW_TS_BUFSZ], t[BW_TS_BUFSZ];
    bw_record_t *rec = bw_record_new(os);
    json_t *j;

    ts(placed, p);
    ts(placed + 2 * DAY, sb);
    ts(placed + 5 * DAY, db);
    j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:[], s:s, s:s, s:s, s:s, s:s}", "event_id", "oe",
                  "store_id", store, "platform", "AMAZON", "marketplace", "US", "order_id", id,
                  "skus", "placed_at", p, "promised_ship_by", sb, "promised_delivery_by", db,
                  "status", "PLACED", "occurred_at", p);
    if (bw_json_to_avro(os, j, &rec->value, errstr, sizeof(errstr)))
        fail_msg("order fixture: %s", errstr);
    assert_int_not_equal(
        logistics_add(lg, 0, rec, 0, offsets[0]++, placed + DAY, errstr, sizeof(errstr)),
        LOGI_REJECTED);
    json_decref(j);
    bw_record_destroy(rec);
    if (!carrier)
        return;
    rec = bw_record_new(ss);
    ts(placed + DAY, t);
    j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:n, s:s, s:n, s:s}", "event_id", "se",
                  "store_id", store, "order_id", id, "carrier", carrier, "tracking_no", "T",
                  "origin_country", "CN", "dest_country", "US", "dest_region", "status",
                  "PICKED_UP", "estimated_delivery", "occurred_at", t);
    if (bw_json_to_avro(ss, j, &rec->value, errstr, sizeof(errstr)))
        fail_msg("scan fixture: %s", errstr);
    assert_int_not_equal(
        logistics_add(lg, 1, rec, 1024, offsets[1]++, placed + DAY, errstr, sizeof(errstr)),
        LOGI_REJECTED);
    json_decref(j);
    bw_record_destroy(rec);
}

static bw_err_t ignore_signal(void *opaque, const char *key, avro_value_t *v) {
    (void)opaque;
    (void)key;
    (void)v;
    return BW_ERR_OK;
}

static void orders_done(void) {
    assert_int_equal(logistics_end_batch(lg, now, ignore_signal, NULL, errstr, sizeof(errstr)),
                     BW_ERR_OK);
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

/* HGET of window "<key><day of t>". */
static long long hget_day(const char *key, int64_t t, const char *field) {
    char name[160];
    snprintf(name, sizeof(name), "%s%lld", key, (long long)bw_bucket(t, DAY));
    return hget(name, field);
}

static json_t *with(json_t *j, const char *field, json_t *v) {
    json_object_set_new(j, field, v);
    return j;
}

static json_t *str(const char *s) {
    return json_string(s);
}

static void clock_to(int64_t t);

/* ---- ODR ---- */

static void test_odr_counts_by_order_date(void **state) {
    int64_t f = T0 + 100 * DAY; /* the day the feedback comes */
    char id[32];

    (void)state;
    now = f + DAY;
    order("s1", "old61", f - 61 * DAY, NULL);
    order("s1", "old59", f - 59 * DAY, NULL);
    for (int i = 0; i < 98; i++) {
        snprintf(id, sizeof(id), "o%d", i);
        order("s1", id, f - 30 * DAY, NULL);
    }
    orders_done();
    /* negative feedback for a 61-day-old order: its defect lands on its
     * order date, outside the 60 days (0 of 99 orders) */
    assert_int_equal(
        add(with(review("fb1", "s1", "SELLER_FEEDBACK", 1, f), "order_id", str("old61"))),
        CORR_APPLIED);
    end_batch();
    assert_int_equal(hget_day("bw:{s=s1}:odr:", f - 61 * DAY, "defects"), 1);
    assert_int_equal(count("ODR_AT_RISK"), 0);
    /* ... for a 59-day-old one: inside (1 of 99 = 1.01%: critical) */
    add(with(review("fb2", "s1", "SELLER_FEEDBACK", 2, f), "order_id", str("old59")));
    /* a claim on the same order is the same defective order */
    add(with(review("az2", "s1", "A_TO_Z_CLAIM", 0, f + H), "order_id", str("old59")));
    end_batch();
    assert_int_equal(count("ODR_AT_RISK"), 1);
    assert_string_equal(last_severity("ODR_AT_RISK"), "CRITICAL");
    assert_int_equal(hget_day("bw:{s=s1}:odr:", f - 59 * DAY, "defects"), 1);
    assert_int_equal(hget_day("bw:{s=s1}:odr:", f - 30 * DAY, "orders"), 98);
    /* the same input again (a replay after a crash): nothing new */
    add(with(review("fb2", "s1", "SELLER_FEEDBACK", 2, f), "order_id", str("old59")));
    end_batch();
    assert_int_equal(count("ODR_AT_RISK"), 1);
}

static void test_unknown_order_defect_counts_on_its_own_date(void **state) {
    int64_t f = T0 + 100 * DAY;
    (void)state;
    now = f + DAY;
    assert_int_equal(add(with(review("cb", "s2", "CHARGEBACK", 0, f), "order_id", str("nobody"))),
                     CORR_APPLIED);
    end_batch();
    assert_int_equal(hget_day("bw:{s=s2}:odr:", f, "defects"), 1); /* its own day */
}

/* ---- rating ---- */

static void test_seller_rating(void **state) {
    int64_t f = T0 + 10 * DAY;
    char id[16];
    (void)state;
    now = f + DAY;
    for (int i = 0; i < 9; i++) {
        snprintf(id, sizeof(id), "r%d", i);
        add(review(id, "s3", "SELLER_FEEDBACK", 3, f + i * H));
    }
    end_batch();
    clock_to(f + 2 * DAY); /* rates are judged once the watermark closes their day */
    assert_int_equal(count("SELLER_RATING_AT_RISK"), 0); /* 9 ratings: too few to judge */
    add(review("r9", "s3", "SELLER_FEEDBACK", 3, f + 10 * H)); /* late, within the grace */
    end_batch();
    assert_int_equal(count("SELLER_RATING_AT_RISK"), 1); /* 3.0 < 3.5 */
    assert_string_equal(last_severity("SELLER_RATING_AT_RISK"), "CRITICAL");
}

/* ---- responses ---- */

static json_t *message(const char *id, const char *store, int64_t at) {
    char due[BW_TS_BUFSZ];
    ts(at + 24 * H, due);
    return with(review(id, store, "BUYER_MESSAGE", 0, at), "response_due_at", str(due));
}

/* Move the watermark: an unrelated event at @p t (the watermark is t - 1 h)
 * on both partitions (the least of the active ones counts). */
static void clock_to(int64_t t) {
    now = t + 2 * DAY;
    add(review("tick", "s-clock", "PRODUCT_REVIEW", 5, t));
    act("s-clock", "tick", "REFUNDED", t);
    end_batch();
}

static void test_response_deadline(void **state) {
    int64_t sat = T0 + 5 * DAY + 10 * H; /* Saturday 10:00 */
    (void)state;
    now = sat + DAY;
    add(message("m-answered", "s4", sat));
    add(message("m-open", "s4", sat));
    /* answered one second before the deadline */
    act("s4", "m-answered", "REPLIED", sat + 24 * H - 1000);
    end_batch();
    clock_to(sat + 17 * H); /* watermark 16 h: nothing due yet */
    assert_int_equal(count("RESPONSE_DUE"), 0);
    clock_to(sat + 20 * H); /* 19 h: the open one is due, the answered one is not */
    assert_int_equal(count("RESPONSE_DUE"), 1);
    assert_int_equal(count("RESPONSE_SLA_BREACH"), 0);
    clock_to(sat + 26 * H); /* Sunday 11:00: the weekend counts, the open one is late */
    assert_int_equal(count("RESPONSE_SLA_BREACH"), 1);
    assert_int_equal(hget_day("bw:{s=s4}:r:", sat + DAY, "rlate"), 1); /* Sunday */
    assert_int_equal(hget_day("bw:{s=s4}:r:", sat + DAY, "rdue"), 2);
    clock_to(sat + 40 * H);
    assert_int_equal(count("RESPONSE_SLA_BREACH"), 1); /* settled once */
}

static void test_actions_bad_and_duplicate(void **state) {
    int64_t t = T0 + 5 * DAY;
    (void)state;
    now = t + DAY;
    /* an action for an event nobody has seen: kept (it may come later) */
    assert_int_equal(act("s5", "later", "REPLIED", t), CORR_APPLIED);
    assert_int_equal(act("s5", "later", "REPLIED", t + H), CORR_APPLIED); /* duplicate */
    assert_int_equal(act("s5", "later", "REFUNDED", t), CORR_IGNORED);
    end_batch();
    assert_int_equal(hget("bw:{s=s5}:m:later", "replied"), t); /* the earliest answer */
    add(message("later", "s5", t - H));
    end_batch();
    clock_to(t + 30 * H);
    assert_int_equal(count("RESPONSE_SLA_BREACH"), 0);
    assert_int_equal(count("RESPONSE_DUE"), 0);
}

/* ---- SKU ---- */

static json_t *product(const char *id, const char *sku, int rating, const char *cause, int64_t at) {
    json_t *j = with(review(id, "s6", "PRODUCT_REVIEW", rating, at), "sku", str(sku));
    if (cause) {
        json_object_set_new(j, "causes", json_pack("[s]", cause));
        json_object_set_new(j, "primary_cause", str(cause));
    }
    return j;
}

static void test_sku_with_two_reviews_cannot_fire(void **state) {
    int64_t t = T0 + 40 * DAY;
    (void)state;
    now = t + DAY;
    add(product("a1", "NEW", 1, "price", t));
    add(product("a2", "NEW", 1, "payment", t + H));
    end_batch();
    clock_to(t + 2 * DAY); /* the day closed: its negative share is judged */
    assert_int_equal(count("NEGATIVE_REVIEW_SPIKE"), 0);
    assert_int_equal(count("COMPLAINT_CLUSTER"), 0);
}

static void test_negative_spike_on_a_real_shift(void **state) {
    int64_t t = T0 + 40 * DAY;
    char id[32];
    (void)state;
    now = t + DAY;
    /* 28 calm days of 10 reviews with one bad, then a week of 10 with 5 bad */
    for (int d = 0; d < 35; d++) {
        for (int i = 0; i < 10; i++) {
            bool bad = d < 28 ? i == 0 : i < 5;
            snprintf(id, sizeof(id), "v%d-%d", d, i);
            add(product(id, "HOT", bad ? 1 : 5, NULL, t - (34 - d) * DAY + i * H));
        }
        if (d == 27) {
            end_batch();
            clock_to(t - 6 * DAY + H); /* the calm days closed */
            assert_int_equal(count("NEGATIVE_REVIEW_SPIKE"), 0); /* calm: no signal */
            now = t + DAY; /* the bad week is not in the future */
        }
    }
    end_batch();
    clock_to(t + 2 * DAY); /* every bad day closed */
    /* each day of the bad week is judged (a batch of many days is judged
     * day by day): the SKU and its store fire, from the third bad day on */
    size_t i;
    json_t *sg;
    int64_t first = INT64_MAX;
    bool sku = false, store = false;
    json_array_foreach(sent, i, sg) {
        if (strcmp(json_string_value(json_object_get(sg, "type")), "NEGATIVE_REVIEW_SPIKE"))
            continue;
        json_t *scope = json_object_get(sg, "scope");
        sku |= json_is_string(json_object_get(scope, "sku"));
        store |= json_is_null(json_object_get(scope, "sku"));
        int64_t end = INT64_MAX;
        assert_true(bw_ts_parse(json_string_value(json_object_get(sg, "window_end")), &end));
        first = end < first ? end : first;
    }
    assert_true(sku && store);
    assert_true(first <= bw_bucket(t, DAY) - 6 * DAY + 3 * DAY); /* bad days start at t - 6 days */
}

static void test_complaint_cluster(void **state) {
    int64_t t = T0 + 40 * DAY;
    (void)state;
    now = t + DAY;
    /* three quality complaints, but eight days apart: no cluster */
    add(product("q1", "C1", 1, "quality_defect", t - 8 * DAY));
    add(product("q2", "C1", 2, "quality_defect", t - DAY));
    end_batch();
    add(product("q3", "C1", 1, "quality_defect", t));
    end_batch();
    assert_int_equal(count("COMPLAINT_CLUSTER"), 0);
    /* the third within seven days */
    add(product("q4", "C1", 1, "quality_defect", t + H));
    end_batch();
    assert_int_equal(count("COMPLAINT_CLUSTER"), 1);
    /* other causes do not add up */
    add(product("p1", "C2", 1, "price", t));
    add(product("p2", "C2", 1, "after_sales", t));
    add(product("p3", "C2", 1, "quality_defect", t));
    end_batch();
    assert_int_equal(count("COMPLAINT_CLUSTER"), 1);
}

static void test_fake_burst(void **state) {
    int64_t t = T0 + 40 * DAY;
    char id[32], body[64];
    (void)state;
    now = t + DAY;
    /* five one-star reviews naming orders nobody placed */
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof(id), "x%d", i);
        snprintf(body, sizeof(body), "complaint number %d with its own words %c", i, 'a' + i);
        add(with(with(product(id, "F1", 1, NULL, t + i * H), "order_id", str(id)), "body",
                 str(body)));
    }
    end_batch();
    assert_int_equal(count("FAKE_REVIEW_BURST"), 1);
    /* five near-identical texts on known orders */
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof(id), "k%d", i);
        order("s6", id, t - 10 * DAY, NULL);
    }
    orders_done();
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof(id), "k%d", i);
        snprintf(body, sizeof(body), "Terrible product, broke after one day, avoid! %d", i);
        add(with(with(product(id, "F2", 1, NULL, t + i * H), "order_id", str(id)), "body",
                 str(body)));
    }
    end_batch();
    assert_int_equal(count("FAKE_REVIEW_BURST"), 2);
    /* five honest, different complaints on known orders: nothing */
    static const char *texts[] = {
        "the zipper tore on the second day", "colour is nothing like the photo",
        "arrived late and the box was crushed", "smaller than described, returning it",
        "battery does not hold a charge overnight"};
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof(id), "k%d", i);
        snprintf(body, sizeof(body), "%s", texts[i]);
        add(with(with(product(id, "F3", 1, NULL, t + i * H), "order_id", str(id)), "body",
                 str(body)));
    }
    end_batch();
    assert_int_equal(count("FAKE_REVIEW_BURST"), 2);
}

/* ---- one event ---- */

static void test_removable_and_policy_once(void **state) {
    int64_t t = T0 + 40 * DAY;
    (void)state;
    now = t + DAY;
    add(with(review("ab1", "s7", "SELLER_FEEDBACK", 1, t), "removable", str("ABUSIVE_LANGUAGE")));
    add(with(review("sm1", "s7", "SELLER_MESSAGE", 0, t), "policy_flags",
             json_pack("[s]", "OFFERS_INCENTIVE")));
    add(review("sm2", "s7", "SELLER_MESSAGE", 0, t)); /* a clean message */
    end_batch();
    assert_int_equal(count("REMOVABLE_FEEDBACK"), 1);
    assert_int_equal(count("POLICY_RISK"), 1);
    /* the same events again: nothing new */
    add(with(review("ab1", "s7", "SELLER_FEEDBACK", 1, t), "removable", str("ABUSIVE_LANGUAGE")));
    add(with(review("sm1", "s7", "SELLER_MESSAGE", 0, t), "policy_flags",
             json_pack("[s]", "OFFERS_INCENTIVE")));
    end_batch();
    assert_int_equal(count("REMOVABLE_FEEDBACK"), 1);
    assert_int_equal(count("POLICY_RISK"), 1);
}

/* ---- joined to a delay spike ---- */

static void test_logistics_complaints_join_a_spike(void **state) {
    int64_t t = T0 + 40 * DAY;
    char id[16];
    redisReply *r;
    (void)state;
    now = t + DAY;
    for (int i = 0; i < 3; i++) {
        snprintf(id, sizeof(id), "L%d", i);
        order("s8", id, t - 9 * DAY, "YunExpress");
    }
    order("s8", "Q0", t - 9 * DAY, "DHL");
    orders_done();
    /* bw-logistics signalled a spike on YunExpress CN->US three days ago */
    assert_int_equal(bw_redis_cmd(redis, &r, errstr, sizeof(errstr), "HSET %s %s%lld 1",
                                  "bw:{cl=YunExpress|CN-%3EUS}:fired",
                                  "CARRIER_DELAY_SPIKE:", (long long)(bw_bucket(t, DAY) - 3 * DAY)),
                     BW_ERR_OK);
    freeReplyObject(r);
    add(with(with(product("lc0", "X", 1, "logistics_delay", t), "order_id", str("L0")), "store_id",
             str("s8")));
    add(with(with(product("lcq", "X", 1, "logistics_delay", t), "order_id", str("Q0")), "store_id",
             str("s8"))); /* another carrier: not joined */
    end_batch();
    /* counted in the complaint's day, judged once it closes (complaints come
     * from many stores' partitions: only a closed day's count is final) */
    assert_int_equal(count("LOGISTICS_COMPLAINTS_CORRELATED"), 0);
    add(with(with(product("lc1", "X", 1, "logistics_lost", t + H), "order_id", str("L1")),
             "store_id", str("s8")));
    end_batch();
    clock_to(bw_bucket(t, DAY) + DAY + 2 * H);
    assert_int_equal(count("LOGISTICS_COMPLAINTS_CORRELATED"), 1);
    assert_string_equal(last_severity("LOGISTICS_COMPLAINTS_CORRELATED"), "WARNING");
    /* three the next day, in two batches: one signal, critical */
    add(with(
        with(product("lc2", "X", 2, "logistics_delay", t + DAY + 3 * H), "order_id", str("L2")),
        "store_id", str("s8")));
    end_batch();
    add(with(
        with(product("lc3", "X", 1, "logistics_delay", t + DAY + 4 * H), "order_id", str("L0")),
        "store_id", str("s8")));
    add(with(with(product("lc4", "X", 1, "logistics_lost", t + DAY + 5 * H), "order_id", str("L1")),
             "store_id", str("s8")));
    end_batch();
    assert_int_equal(count("LOGISTICS_COMPLAINTS_CORRELATED"), 1);
    clock_to(bw_bucket(t, DAY) + 2 * DAY + 2 * H);
    assert_int_equal(count("LOGISTICS_COMPLAINTS_CORRELATED"), 2);
    assert_string_equal(last_severity("LOGISTICS_COMPLAINTS_CORRELATED"), "CRITICAL");
}

/* ---- bad input ---- */

/* A review whose event id was counted from another record (bw-classify
 * replayed a batch after a crash, a producer retried) counts once, in a
 * later batch or in the same one; the same record again (a replayed
 * batch) is left to the fences. */
static void test_duplicate_reviews_count_once(void **state) {
    int64_t t = T0 + 20 * DAY, first;
    (void)state;
    now = t + DAY;
    first = offsets[CORR_TOPIC_REVIEWS];
    add(with(review("d1", "s5", "SELLER_FEEDBACK", 1, t), "removable", str("ABUSIVE_LANGUAGE")));
    end_batch();
    assert_int_equal(hget_day("bw:{s=s5}:r:", t, "fb"), 1);
    assert_int_equal(count("REMOVABLE_FEEDBACK"), 1);
    /* d1 again at a later offset; d2 twice in one batch */
    add(with(review("d1", "s5", "SELLER_FEEDBACK", 1, t), "removable", str("ABUSIVE_LANGUAGE")));
    add(review("d2", "s5", "SELLER_FEEDBACK", 2, t + H));
    add(review("d2", "s5", "SELLER_FEEDBACK", 2, t + H));
    end_batch();
    assert_int_equal(hget_day("bw:{s=s5}:r:", t, "fb"), 2);
    assert_int_equal(hget_day("bw:{s=s5}:r:", t, "fbsum"), 3);
    assert_int_equal(count("REMOVABLE_FEEDBACK"), 1);
    /* the whole stream replayed from the first record: nothing changes */
    offsets[CORR_TOPIC_REVIEWS] = first;
    add(with(review("d1", "s5", "SELLER_FEEDBACK", 1, t), "removable", str("ABUSIVE_LANGUAGE")));
    add(with(review("d1", "s5", "SELLER_FEEDBACK", 1, t), "removable", str("ABUSIVE_LANGUAGE")));
    add(review("d2", "s5", "SELLER_FEEDBACK", 2, t + H));
    add(review("d2", "s5", "SELLER_FEEDBACK", 2, t + H));
    end_batch();
    assert_int_equal(hget_day("bw:{s=s5}:r:", t, "fb"), 2);
    assert_int_equal(hget_day("bw:{s=s5}:r:", t, "fbsum"), 3);
    /* the same id on another day is another event's: counted */
    add(review("d1", "s5", "SELLER_FEEDBACK", 5, t + DAY));
    end_batch();
    assert_int_equal(hget_day("bw:{s=s5}:r:", t + DAY, "fb"), 1);
    /* an empty id cannot be told apart: dead-lettered */
    assert_int_equal(add(review("", "s5", "SELLER_FEEDBACK", 1, t)), CORR_REJECTED);
    assert_non_null(strstr(errstr, "event_id: empty"));
}

/* Hostile store ids and SKUs (separators, braces, colons, asterisks,
 * spaces, escapes, 1 KiB of unicode) stay in keys of their own: names
 * that would collide unescaped do not, and every key keeps exactly one
 * hash tag. */
static void test_hostile_names_do_not_collide(void **state) {
    int64_t t = T0 + 30 * DAY;
    char big[1100] = "", key[4096], name[64];
    bw_buf_t esc = {0};
    redisReply *r;
    (void)state;
    now = t + DAY;
    while (strlen(big) + strlen("店铺 ☃ *{x}: ") < 1024)
        strcat(big, "店铺 ☃ *{x}: ");
    add(with(review("h1", "a|b", "PRODUCT_REVIEW", 1, t), "sku", str("c")));
    add(with(review("h2", "a", "PRODUCT_REVIEW", 1, t), "sku", str("b|c")));
    add(review("h3", "a:b", "SELLER_FEEDBACK", 1, t));
    add(review("h4", "a%3Ab", "SELLER_FEEDBACK", 2, t));
    add(review("h5", big, "SELLER_FEEDBACK", 3, t));
    add(with(review("h6", "s 7", "PRODUCT_REVIEW", 2, t), "sku", str("}{*: ")));
    end_batch();
    assert_int_equal(hget_day("bw:{k=a%7Cb|c}:d:", t, "neg"), 1);
    assert_int_equal(hget_day("bw:{k=a|b%7Cc}:d:", t, "neg"), 1);
    assert_int_equal(hget_day("bw:{s=a%3Ab}:r:", t, "fbsum"), 1);
    assert_int_equal(hget_day("bw:{s=a%253Ab}:r:", t, "fbsum"), 2);
    assert_int_equal(hget_day("bw:{k=s%207|%7D%7B%2A%3A%20}:d:", t, "neg"), 1);
    assert_true(bw_key_escape(&esc, big, strlen(big)));
    snprintf(name, sizeof(name), "}:r:%lld", (long long)bw_bucket(t, DAY));
    snprintf(key, sizeof(key), "bw:{s=%s%s", esc.data, name);
    assert_int_equal(hget(key, "fbsum"), 3);
    bw_buf_free(&esc);
    assert_int_equal(bw_redis_cmd(redis, &r, errstr, sizeof(errstr), "KEYS *"), BW_ERR_OK);
    assert_true(r->elements > 10);
    for (size_t i = 0; i < r->elements; i++) {
        const char *k = r->element[i]->str, *open = strchr(k, '{'), *close = strchr(k, '}');
        if (strncmp(k, "bw:", 3))
            continue;
        assert_non_null(open);
        assert_non_null(close);
        assert_ptr_equal(strrchr(k, '{'), open); /* one tag, as Redis Cluster reads it */
        assert_ptr_equal(strrchr(k, '}'), close);
        assert_true(open < close);
    }
    freeReplyObject(r);
}

/* A review's bytes, cut or in the wrong schema: dead-lettered with the
 * decoder's reason (the stage's path). */
static void test_wire_bad_input(void **state) {
    const bw_schema_t *rs = bw_serde_schema(sd, "ClassifiedReview");
    const bw_schema_t *as = bw_serde_schema(sd, "SellerAction");
    bw_record_t *rec = bw_record_new(rs), *act_rec = bw_record_new(as);
    json_t *j = review("w1", "s9", "PRODUCT_REVIEW", 2, T0);
    json_t *a =
        json_pack("{s:s, s:s, s:s, s:s, s:s}", "event_id", "act", "store_id", "s9", "ref_event_id",
                  "w1", "action", "REPLIED", "occurred_at", "2024-01-01T00:00:00Z");
    bw_buf_t wire = {0}, awire = {0};
    bw_err_t why = BW_ERR_OK;

    (void)state;
    now = T0 + DAY;
    assert_int_equal(bw_json_to_avro(rs, j, &rec->value, errstr, sizeof(errstr)), BW_ERR_OK);
    assert_int_equal(bw_serde_encode(sd, rs, &rec->value, &wire, errstr, sizeof(errstr)),
                     BW_ERR_OK);
    assert_int_equal(bw_json_to_avro(as, a, &act_rec->value, errstr, sizeof(errstr)), BW_ERR_OK);
    assert_int_equal(bw_serde_encode(sd, as, &act_rec->value, &awire, errstr, sizeof(errstr)),
                     BW_ERR_OK);
    for (size_t cut = 0; cut < wire.len; cut += 7) {
        assert_int_equal(correlate_add_wire(cr, CORR_TOPIC_REVIEWS, wire.data, cut, 0, (int64_t)cut,
                                            now, &why, errstr, sizeof(errstr)),
                         CORR_REJECTED);
        assert_int_not_equal(why, BW_ERR_OK);
        assert_int_not_equal(why, BW_ERR_OUT_OF_RANGE);
    }
    assert_int_equal(correlate_add_wire(cr, CORR_TOPIC_REVIEWS, awire.data, awire.len, 0, 1000, now,
                                        &why, errstr, sizeof(errstr)),
                     CORR_REJECTED);
    assert_int_not_equal(why, BW_ERR_OUT_OF_RANGE);
    /* the whole message goes in */
    assert_int_equal(correlate_add_wire(cr, CORR_TOPIC_REVIEWS, wire.data, wire.len, 0, 1001, now,
                                        &why, errstr, sizeof(errstr)),
                     CORR_APPLIED);
    end_batch();
    assert_int_equal(hget_day("bw:{s=s9}:r:", T0, "rev"), 1);
    json_decref(j);
    json_decref(a);
    bw_record_destroy(rec);
    bw_record_destroy(act_rec);
    bw_buf_free(&wire);
    bw_buf_free(&awire);
}

static void test_bad_input(void **state) {
    int64_t t = T0 + 40 * DAY;
    (void)state;
    now = t + DAY;
    /* a rating out of range never reaches the logic: the schema's bw.range
     * refuses it at decode (the stage dead-letters it; test_correlate_stage) */
    json_t *bad = review("bad-r", "s9", "PRODUCT_REVIEW", 7, t);
    bw_record_t *rec = bw_record_new(bw_serde_schema(sd, "ClassifiedReview"));
    assert_int_not_equal(bw_json_to_avro(bw_serde_schema(sd, "ClassifiedReview"), bad, &rec->value,
                                         errstr, sizeof(errstr)),
                         BW_ERR_OK);
    assert_non_null(strstr(errstr, "rating"));
    json_decref(bad);
    bw_record_destroy(rec);
    assert_int_equal(add(review("future", "s9", "PRODUCT_REVIEW", 5, now + DAY)), CORR_REJECTED);
    assert_non_null(strstr(errstr, "skew.ms"));
    assert_int_equal(add(review("ancient", "s9", "PRODUCT_REVIEW", 5, 1000)), CORR_REJECTED);
    assert_int_equal(add(review("nostore", "", "PRODUCT_REVIEW", 5, t)), CORR_REJECTED);
    assert_int_equal(act("", "x", "REPLIED", t), CORR_REJECTED);
    /* hostile names stay in their own keys */
    assert_int_equal(
        add(with(review("h", "a}b{c:*", "SELLER_FEEDBACK", 1, t), "order_id", str("{x}"))),
        CORR_APPLIED);
    end_batch();
    assert_int_equal(hget_day("bw:{s=a%7Db%7Bc%3A%2A}:r:", t, "fb"), 1);
}

static int setup(void **state) {
    (void)state;
    if (bw_itest_env_start(&env, "corr", errstr, sizeof(errstr)))
        return -1;
    sd = env.sd;
    redis = env.redis;
    return 0;
}

/* Each test: fresh stages (watermarks start over) on an empty Redis. */
static int fresh(void **state) {
    (void)state;
    if (bw_itest_env_flush(&env, errstr, sizeof(errstr)))
        return -1;
    correlate_destroy(cr);
    logistics_destroy(lg);
    json_decref(sent);
    sent = json_array();
    cr = correlate_new(&CFG, sd, redis, NULL, errstr, sizeof(errstr));
    lg = logistics_new(&LCFG, sd, redis, NULL, errstr, sizeof(errstr));
    return cr && lg && sent ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    correlate_destroy(cr);
    logistics_destroy(lg);
    json_decref(sent);
    return bw_itest_env_stop(&env);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_odr_counts_by_order_date, fresh),
        cmocka_unit_test_setup(test_wire_bad_input, fresh),
        cmocka_unit_test_setup(test_unknown_order_defect_counts_on_its_own_date, fresh),
        cmocka_unit_test_setup(test_seller_rating, fresh),
        cmocka_unit_test_setup(test_response_deadline, fresh),
        cmocka_unit_test_setup(test_actions_bad_and_duplicate, fresh),
        cmocka_unit_test_setup(test_sku_with_two_reviews_cannot_fire, fresh),
        cmocka_unit_test_setup(test_negative_spike_on_a_real_shift, fresh),
        cmocka_unit_test_setup(test_complaint_cluster, fresh),
        cmocka_unit_test_setup(test_fake_burst, fresh),
        cmocka_unit_test_setup(test_removable_and_policy_once, fresh),
        cmocka_unit_test_setup(test_logistics_complaints_join_a_spike, fresh),
        cmocka_unit_test_setup(test_duplicate_reviews_count_once, fresh),
        cmocka_unit_test_setup(test_hostile_names_do_not_collide, fresh),
        cmocka_unit_test_setup(test_bad_input, fresh),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
