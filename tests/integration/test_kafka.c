/* The Kafka plumbing against librdkafka's mock cluster (real Kafka protocol
 * on loopback, in-process so faults can be injected): a consumer group that
 * commits only processed batches, the dead-letter path for every malformed
 * input, and producer delivery failures surfacing as errors. */
#include "../unit/bw_test.h"

#include <librdkafka/rdkafka.h>
/* rdkafka_mock.h must follow rdkafka.h */
#include <librdkafka/rdkafka_mock.h>

#include "bw_deadletter.h"
#include "bw_json.h"
#include "bw_kafka.h"
#include "bw_metrics_def.h"
#include "bw_serde.h"

/* The stages' message size limit, small here so the test stays quick. */
#define TEST_MAX (64 * 1024)

static rd_kafka_t *mock_rk;
static rd_kafka_mock_cluster_t *mc;
static char brokers[256];
static bw_serde_t *sd;
static char errstr[512];

static int assigned_calls, revoked_calls;

/* The mock broker only lets a group rebalance once a departed member's
 * session has timed out, so tests keep sessions short. */
static bw_conf_t kconf;
static int64_t kconf_dummy;
static const bw_conf_def_t kconf_defs[] = {
    {"dummy", BW_CONF_INT, 0, "0", BW_CONF_NORANGE, NULL, "unused"}};

static bw_err_t on_assign(void *opaque, const rd_kafka_topic_partition_list_t *parts) {
    (void)opaque;
    (void)parts;
    assigned_calls++;
    return BW_ERR_OK;
}

static bw_err_t on_revoke(void *opaque, const rd_kafka_topic_partition_list_t *parts) {
    (void)opaque;
    (void)parts;
    revoked_calls++;
    return BW_ERR_OK;
}

static void encode_review(int i, bw_buf_t *out) {
    const bw_schema_t *s = bw_serde_schema(sd, "ReviewEvent");
    bw_record_t *rec = bw_record_new(s);
    json_t *j = json_pack("{s:s#, s:s, s:s, s:s, s:s, s:s, s:i}", "event_id", "e", 1, "platform",
                          "EBAY", "marketplace", "US", "store_id", i % 2 ? "s1" : "s2", "kind",
                          "BUYER_MESSAGE", "body", "where is my parcel?", "occurred_at", i);

    assert_int_equal(bw_json_to_avro(s, j, &rec->value, errstr, sizeof(errstr)), BW_ERR_OK);
    assert_int_equal(bw_serde_encode(sd, s, &rec->value, out, errstr, sizeof(errstr)), BW_ERR_OK);
    json_decref(j);
    bw_record_destroy(rec);
}

/* Consume until idle; decode each record as ReviewEvent; dead-letter the
 * failures; flush the dead letters, then commit the batch. */
static int consume_all(bw_consumer_t *c, bw_producer_t *p, bw_deadletter_t *dl, int *good,
                       int idle_ms) {
    rd_kafka_message_t *msgs[64];
    int seen = 0;
    int64_t last = bw_mono_ms();

    /* Joining the group takes a few seconds on the mock broker (its
     * initial rebalance delay): the idle clock starts once assigned. */
    while (bw_mono_ms() - last < idle_ms) {
        size_t n = bw_consumer_poll(c, msgs, 64, 200);
        if (bw_consumer_assigned(c) == 0 && bw_mono_ms() - last < 30000) {
            last = bw_mono_ms();
            assert_int_equal(n, 0);
            continue;
        }
        if (n == 0)
            continue;
        last = bw_mono_ms();
        for (size_t i = 0; i < n; i++) {
            bw_record_t *rec;
            bw_err_t err =
                bw_serde_decode(sd, msgs[i]->payload, msgs[i]->len,
                                bw_serde_schema(sd, "ReviewEvent"), &rec, errstr, sizeof(errstr));
            if (err)
                assert_int_equal(bw_deadletter_msg(dl, msgs[i], err, errstr), BW_ERR_OK);
            else
                (*good)++;
            seen++;
        }
        assert_int_equal(bw_producer_flush(p, 10000, errstr, sizeof(errstr)), BW_ERR_OK);
        assert_int_equal(bw_consumer_commit(c, msgs, n, errstr, sizeof(errstr)), BW_ERR_OK);
        for (size_t i = 0; i < n; i++)
            rd_kafka_message_destroy(msgs[i]);
    }
    return seen;
}

static void produce_raw(bw_producer_t *p, const void *buf, size_t len) {
    assert_int_equal(bw_producer_send(p, "bw.reviews", "s1", 2, buf, len, errstr, sizeof(errstr)),
                     BW_ERR_OK);
}

static void test_consume_commit_deadletter(void **state) {
    const char *topics[] = {"bw.reviews"};
    bw_rebalance_hooks_t hooks = {NULL, on_assign, on_revoke, NULL};
    bw_producer_t *p = bw_producer_new(brokers, NULL, NULL, errstr, sizeof(errstr));
    bw_deadletter_t *dl;
    bw_consumer_t *c;
    bw_buf_t buf = {0};
    char bad[512];
    int good = 0, seen;

    (void)state;
    assert_non_null(p);
    dl = bw_deadletter_new(p, sd, "bw.deadletter", "itest", NULL, errstr, sizeof(errstr));
    assert_non_null(dl);
    for (int i = 0; i < 5; i++) {
        encode_review(i, &buf);
        produce_raw(p, buf.data, buf.len);
    }
    /* Six kinds of poison. */
    produce_raw(p, "garbage", 8); /* BAD_MAGIC */
    memcpy(bad, buf.data, buf.len);
    bad[4] = 42;
    produce_raw(p, bad, buf.len); /* UNKNOWN_SCHEMA_ID */
    produce_raw(p, buf.data, buf.len - 3); /* TRUNCATED */
    memcpy(bad, buf.data, buf.len);
    bad[buf.len - 5] = (char)0xff; /* inside the body text */
    produce_raw(p, bad, buf.len); /* BAD_UTF8 */
    memcpy(bad, buf.data, buf.len);
    bad[4] = 2;
    produce_raw(p, bad, buf.len); /* WRONG_SCHEMA */
    {
        char *huge = calloc(1, TEST_MAX + 10); /* TOO_LARGE */
        produce_raw(p, huge, TEST_MAX + 10);
        free(huge);
    }
    assert_int_equal(bw_producer_flush(p, 10000, errstr, sizeof(errstr)), BW_ERR_OK);

    c = bw_consumer_new(brokers, &kconf, "itest-g1", topics, 1, &hooks, NULL, errstr,
                        sizeof(errstr));
    assert_non_null(c);
    seen = consume_all(c, p, dl, &good, 3000);
    assert_int_equal(seen, 11);
    assert_int_equal(good, 5);
    assert_int_equal(bw_deadletter_count(dl), 6);
    assert_true(assigned_calls >= 1);
    bw_consumer_destroy(c);
    assert_true(revoked_calls >= 1);

    /* Committed: the same group starts after the last processed record. */
    c = bw_consumer_new(brokers, &kconf, "itest-g1", topics, 1, NULL, NULL, errstr, sizeof(errstr));
    good = 0;
    assert_int_equal(consume_all(c, p, dl, &good, 3000), 0);
    bw_consumer_destroy(c);

    /* The dead letters carry the original bytes and the reason. */
    {
        const char *dtopics[] = {"bw.deadletter"};
        rd_kafka_message_t *msgs[16];
        int got = 0, codes = 0;
        int64_t start = bw_mono_ms();
        c = bw_consumer_new(brokers, &kconf, "itest-dl", dtopics, 1, NULL, NULL, errstr,
                            sizeof(errstr));
        while (got < 6 && bw_mono_ms() - start < 10000) {
            size_t n = bw_consumer_poll(c, msgs, 16, 200);
            for (size_t i = 0; i < n; i++) {
                bw_record_t *rec;
                json_t *j;
                const char *code;
                assert_int_equal(bw_serde_decode(sd, msgs[i]->payload, msgs[i]->len,
                                                 bw_serde_schema(sd, "DeadLetter"), &rec, errstr,
                                                 sizeof(errstr)),
                                 BW_ERR_OK);
                j = bw_avro_to_json(rec->schema, &rec->value);
                code = json_string_value(json_object_get(j, "error_code"));
                assert_string_equal(json_string_value(json_object_get(j, "topic")), "bw.reviews");
                assert_string_equal(json_string_value(json_object_get(j, "stage")), "itest");
                assert_string_equal(json_string_value(json_object_get(j, "key")), "czE=");
                if (!strcmp(code, "BAD_MAGIC")) {
                    codes |= 1;
                    assert_string_equal(json_string_value(json_object_get(j, "original")),
                                        "B2dhcmJhZ2U=");
                    assert_string_equal(json_string_value(json_object_get(j, "error")),
                                        "magic byte is 7, expected 0");
                } else if (!strcmp(code, "UNKNOWN_SCHEMA_ID"))
                    codes |= 2;
                else if (!strcmp(code, "TRUNCATED"))
                    codes |= 4;
                else if (!strcmp(code, "BAD_UTF8")) {
                    codes |= 8;
                    assert_non_null(strstr(json_string_value(json_object_get(j, "error")),
                                           "body: invalid UTF-8"));
                } else if (!strcmp(code, "WRONG_SCHEMA"))
                    codes |= 16;
                else if (!strcmp(code, "TOO_LARGE")) {
                    codes |= 32;
                    assert_non_null(strstr(json_string_value(json_object_get(j, "error")),
                                           "(original truncated)"));
                }
                json_decref(j);
                rd_kafka_message_destroy(msgs[i]);
                got++;
            }
        }
        assert_int_equal(got, 6);
        assert_int_equal(codes, 63);
        bw_consumer_destroy(c);
    }
    bw_deadletter_destroy(dl);
    bw_producer_destroy(p);
    bw_buf_free(&buf);
}

/* Reads all n records of a topic as group; returns the largest batch. */
static size_t largest_batch(const char *topic, const char *group, size_t bound, size_t n) {
    const char *topics[] = {topic};
    bw_consumer_t *c =
        bw_consumer_new(brokers, &kconf, group, topics, 1, NULL, NULL, errstr, sizeof(errstr));
    rd_kafka_message_t *msgs[64];
    size_t got = 0, largest = 0;
    int64_t start = bw_mono_ms();

    assert_non_null(c);
    bw_consumer_set_batch_bytes(c, bound, TEST_MAX);
    while (got < n && bw_mono_ms() - start < 30000) {
        size_t k = bw_consumer_poll(c, msgs, 64, 200);
        if (k > largest)
            largest = k;
        got += k;
        for (size_t i = 0; i < k; i++)
            rd_kafka_message_destroy(msgs[i]);
    }
    assert_int_equal(got, n);
    bw_consumer_destroy(c);
    return largest;
}

/* Messages taken out of librdkafka's queue no longer count against its
 * prefetch bound: a batch stops at its own byte bound, one message past it
 * at most, and still takes everything in the end. */
static void test_batch_byte_bound(void **state) {
    bw_producer_t *p = bw_producer_new(brokers, NULL, NULL, errstr, sizeof(errstr));
    char *big = calloc(1, 10000);

    (void)state;
    assert_non_null(p);
    assert_non_null(big);
    for (int i = 0; i < 24; i++)
        assert_int_equal(
            bw_producer_send(p, "bw.bigbodies", "k", 1, big, 10000, errstr, sizeof(errstr)),
            BW_ERR_OK);
    assert_int_equal(bw_producer_flush(p, 10000, errstr, sizeof(errstr)), BW_ERR_OK);
    /* 25,000 bytes: two messages (20,002) are under it, a third passes it */
    assert_int_equal(largest_batch("bw.bigbodies", "itest-bytes", 25000, 24), 3);
    /* without the bound the same records come in larger batches */
    assert_true(largest_batch("bw.bigbodies", "itest-nobound", 0, 24) > 3);
    free(big);
    bw_producer_destroy(p);
}

/* The producer keeps a handle for its first 16 topics and names the rest
 * per message: both ways deliver, and both count per topic. */
static void test_many_output_topics(void **state) {
    bw_metrics_t *reg = bw_metrics_new();
    bw_producer_t *p = bw_producer_new(brokers, NULL, reg, errstr, sizeof(errstr));
    char topic[32];

    (void)state;
    assert_non_null(p);
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < 20; i++) {
            snprintf(topic, sizeof(topic), "bw.many.%d", i);
            assert_int_equal(bw_producer_send(p, topic, "k", 1, "v", 1, errstr, sizeof(errstr)),
                             BW_ERR_OK);
        }
    assert_int_equal(bw_producer_flush(p, 10000, errstr, sizeof(errstr)), BW_ERR_OK);
    assert_int_equal(bw_producer_delivered(p), 40);
    assert_true(bw_metric_value(
                    bw_metrics_get(reg, &bw_common_metrics[BW_M_PRODUCED], "bw.many.19")) == 2.0);
    bw_producer_destroy(p);
    bw_metrics_destroy(reg);
}

static void test_delivery_failure_is_an_error(void **state) {
    bw_producer_t *p = bw_producer_new(brokers, NULL, NULL, errstr, sizeof(errstr));
    bw_buf_t buf = {0};

    (void)state;
    encode_review(1, &buf);
    /* Warm up so the producer has its id and metadata. */
    produce_raw(p, buf.data, buf.len);
    assert_int_equal(bw_producer_flush(p, 10000, errstr, sizeof(errstr)), BW_ERR_OK);
    /* The broker refuses the next produce requests with a permanent error. */
    rd_kafka_mock_push_request_errors(
        mc, 0 /* Produce */, 5, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE,
        RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE,
        RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
    produce_raw(p, buf.data, buf.len);
    assert_int_equal(bw_producer_flush(p, 10000, errstr, sizeof(errstr)), BW_ERR_DELIVERY);
    assert_non_null(strstr(errstr, "not delivered"));
    assert_true(bw_producer_failed(p) >= 1);
    rd_kafka_mock_clear_request_errors(mc, 0);
    /* and it recovers */
    produce_raw(p, buf.data, buf.len);
    assert_int_equal(bw_producer_flush(p, 10000, errstr, sizeof(errstr)), BW_ERR_OK);
    bw_producer_destroy(p);
    bw_buf_free(&buf);
}

static void test_bad_kafka_property_is_named(void **state) {
    bw_conf_t conf;
    int64_t x = 0;
    static const bw_conf_def_t none[] = {{"x", BW_CONF_INT, 0, "0", BW_CONF_NORANGE, NULL, "x"}};

    (void)state;
    bw_conf_init(&conf, "t");
    assert_int_equal(bw_conf_add_section(&conf, none, 1, &x, errstr, sizeof(errstr)), BW_ERR_OK);
    assert_int_equal(bw_conf_set(&conf, "kafka.no.such.property", "1", errstr, sizeof(errstr)),
                     BW_ERR_OK);
    assert_null(bw_producer_new(brokers, &conf, NULL, errstr, sizeof(errstr)));
    assert_non_null(strstr(errstr, "no.such.property"));
    bw_conf_destroy(&conf);
    assert_null(bw_producer_new("@/nonexistent/bootstrap", NULL, NULL, errstr, sizeof(errstr)));
    assert_non_null(strstr(errstr, "cannot read /nonexistent/bootstrap"));
}

static int setup(void **state) {
    rd_kafka_conf_t *kc = rd_kafka_conf_new();

    (void)state;
    if (!(mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, sizeof(errstr))))
        return -1;
    if (!(mc = rd_kafka_mock_cluster_new(mock_rk, 1)))
        return -1;
    rd_kafka_mock_topic_create(mc, "bw.reviews", 3, 1);
    rd_kafka_mock_topic_create(mc, "bw.deadletter", 3, 1);
    bw_strlcpy(brokers, rd_kafka_mock_cluster_bootstraps(mc), sizeof(brokers));
    bw_conf_init(&kconf, "itest");
    if (bw_conf_add_section(&kconf, kconf_defs, 1, &kconf_dummy, errstr, sizeof(errstr)) ||
        bw_conf_set(&kconf, "kafka.session.timeout.ms", "6000", errstr, sizeof(errstr)) ||
        bw_conf_set(&kconf, "kafka.heartbeat.interval.ms", "500", errstr, sizeof(errstr)))
        return -1;
    sd = bw_serde_new(BW_DEFAULT_SCHEMA_DIR, TEST_MAX, errstr, sizeof(errstr));
    return sd ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    bw_conf_destroy(&kconf);
    bw_serde_destroy(sd);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(mock_rk);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_consume_commit_deadletter),
        cmocka_unit_test(test_batch_byte_bound),
        cmocka_unit_test(test_many_output_topics),
        cmocka_unit_test(test_delivery_failure_is_an_error),
        cmocka_unit_test(test_bad_kafka_property_is_named),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
