/* bw-alert's lifecycle: one alert per problem, sent once, re-sent when
 * worse, rolled up otherwise, resolved after the hold time. */
#include "bw_test.h"

#include "lifecycle.h"

#define H 3600000LL
#define T0 1704067200000LL

static const al_cfg_t NOW = {0, 6 * H, 48 * H, 0}; /* fire at once */
static const al_cfg_t FOR2H = {2 * H, 0, 48 * H, 0};
static const char *SCOPE = "{\"carrier\":\"DHL\",\"lane\":\"CN->DE\"}";

static al_send_t sig(const al_cfg_t *cfg, al_t *a, int sev, int64_t at) {
    return al_on_signal(cfg, a, "CARRIER_DELAY_SPIKE", SCOPE, sev, T0, at);
}

static void test_fires_once_and_rolls_up(void **state) {
    al_t a = {0};
    char id[17];
    (void)state;
    assert_int_equal(sig(&NOW, &a, 1, T0), AL_SEND_FIRING);
    assert_int_equal(a.version, 1);
    memcpy(id, a.alert_id, sizeof(id));
    /* a flood of the same signal: rolled up, nothing sent */
    for (int i = 1; i <= 1000; i++)
        assert_int_equal(sig(&NOW, &a, 1, T0 + i * 1000), AL_SEND_NONE);
    assert_int_equal(a.occurrences, 1001);
    assert_int_equal(a.version, 1);
    assert_string_equal(a.alert_id, id);
    assert_int_equal(a.last_seen, T0 + 1000000);
}

static void test_worse_is_resent_better_is_not(void **state) {
    al_t a = {0};
    (void)state;
    sig(&NOW, &a, 1, T0);
    assert_int_equal(sig(&NOW, &a, 2, T0 + H), AL_SEND_UPDATE); /* WARNING -> CRITICAL */
    assert_int_equal(a.version, 2);
    assert_int_equal(a.sent_severity, 2);
    assert_int_equal(sig(&NOW, &a, 1, T0 + 2 * H), AL_SEND_NONE); /* going down: kept at worst */
    assert_int_equal(a.severity, 2);
}

static void test_cooldown_reminds(void **state) {
    al_t a = {0};
    (void)state;
    sig(&NOW, &a, 1, T0);
    assert_int_equal(sig(&NOW, &a, 1, T0 + 5 * H), AL_SEND_NONE);
    assert_int_equal(sig(&NOW, &a, 1, T0 + 6 * H), AL_SEND_UPDATE); /* after the cooldown */
    assert_int_equal(sig(&NOW, &a, 1, T0 + 7 * H), AL_SEND_NONE);
}

static void test_pending_for(void **state) {
    al_t a = {0};
    (void)state;
    assert_int_equal(sig(&FOR2H, &a, 1, T0), AL_SEND_NONE);
    assert_int_equal(a.state, AL_PENDING);
    assert_int_equal(sig(&FOR2H, &a, 1, T0 + H), AL_SEND_NONE);
    assert_int_equal(sig(&FOR2H, &a, 1, T0 + 2 * H), AL_SEND_FIRING);
    /* or the clock gets there first */
    al_t b = {0};
    sig(&FOR2H, &b, 1, T0);
    assert_int_equal(al_on_clock(&FOR2H, &b, T0 + H), AL_SEND_NONE);
    assert_int_equal(al_on_clock(&FOR2H, &b, T0 + 2 * H), AL_SEND_FIRING);
}

/* An episode fired at T0 and resolved by the clock after the hold (48 h);
 * @p first: its id. */
static void fire_and_resolve(al_t *a, char first[17]) {
    sig(&NOW, a, 2, T0);
    memcpy(first, a->alert_id, 17);
    assert_int_equal(al_on_clock(&NOW, a, T0 + 47 * H), AL_SEND_NONE);
    assert_int_equal(al_on_clock(&NOW, a, T0 + 48 * H), AL_SEND_RESOLVED);
    assert_int_equal(a->state, AL_NONE);
    assert_int_equal(a->version, 2);
}

static void test_resolves_after_hold_and_starts_over(void **state) {
    al_t a = {0};
    char first[17];
    (void)state;
    fire_and_resolve(&a, first);
    /* a new episode, from a later window: a new id */
    assert_int_equal(
        al_on_signal(&NOW, &a, "CARRIER_DELAY_SPIKE", SCOPE, 1, T0 + 72 * H, T0 + 72 * H),
        AL_SEND_FIRING);
    assert_string_not_equal(a.alert_id, first);
    assert_int_equal(a.version, 1);
}

/* A new episode that starts in the window the last one started in has its
 * id: its versions go on from the last one's, so that no two warnings
 * share an id and a version. */
static void test_same_window_new_episode_goes_on_counting(void **state) {
    al_t a = {0};
    char first[17];
    (void)state;
    fire_and_resolve(&a, first);
    assert_int_equal(sig(&NOW, &a, 1, T0 + 72 * H), AL_SEND_FIRING);
    assert_string_equal(a.alert_id, first);
    assert_int_equal(a.version, 3);
    assert_int_equal(a.occurrences, 1); /* a new episode all the same */
    assert_int_equal(a.since, T0 + 72 * H);
}

static void test_pending_never_fired_is_dropped(void **state) {
    al_t a = {0};
    (void)state;
    sig(&FOR2H, &a, 1, T0);
    assert_int_equal(al_on_clock(&FOR2H, &a, T0 + 48 * H), AL_DROP);
    assert_int_equal(a.state, AL_NONE);
}

static void test_replay_gives_the_same_ids(void **state) {
    al_t a = {0}, b = {0};
    (void)state;
    sig(&NOW, &a, 1, T0 + 5);
    sig(&NOW, &b, 1, T0 + 5);
    assert_string_equal(a.alert_id, b.alert_id);
    assert_int_equal(strlen(a.alert_id), 16);
}

/* The clock ran ahead (other keys' signals) and resolved the episode; a
 * signal of this key within the hold time of its last one reopens it: the
 * same id, sent again, as if the clock had waited. */
static void test_late_signal_reopens_its_episode(void **state) {
    al_t a = {0};
    char first[17];
    (void)state;
    sig(&NOW, &a, 1, T0);
    memcpy(first, a.alert_id, sizeof(first));
    assert_int_equal(al_on_clock(&NOW, &a, T0 + 60 * H), AL_SEND_RESOLVED);
    assert_int_equal(
        al_on_signal(&NOW, &a, "CARRIER_DELAY_SPIKE", SCOPE, 1, T0 + 24 * H, T0 + 24 * H),
        AL_SEND_UPDATE);
    assert_string_equal(a.alert_id, first);
    assert_int_equal(a.state, AL_FIRING);
    assert_int_equal(a.version, 3); /* FIRING, RESOLVED, FIRING again */
    assert_false(al_expired(&NOW, &a, T0 + 60 * H));
}

/* The clock lagged: a signal a hold time after the last one in the key's
 * own time ends the episode first (resolved), then opens a new one. */
static void test_gap_in_own_time_splits_episodes(void **state) {
    al_t a = {0};
    char first[17];
    (void)state;
    sig(&NOW, &a, 1, T0);
    memcpy(first, a.alert_id, sizeof(first));
    assert_int_equal(al_on_gap(&NOW, &a, T0 + 47 * H), AL_SEND_NONE);
    assert_int_equal(al_on_gap(&NOW, &a, T0 + 49 * H), AL_SEND_RESOLVED);
    assert_int_equal(a.state, AL_NONE);
    assert_int_equal(
        al_on_signal(&NOW, &a, "CARRIER_DELAY_SPIKE", SCOPE, 1, T0 + 48 * H, T0 + 49 * H),
        AL_SEND_FIRING);
    assert_string_not_equal(a.alert_id, first);
}

/* Either order of the clock and the signal gives the same episodes. */
static void test_episodes_do_not_depend_on_the_clock(void **state) {
    al_t fast = {0}, slow = {0};
    (void)state;
    sig(&NOW, &fast, 1, T0);
    sig(&NOW, &slow, 1, T0);
    al_on_clock(&NOW, &fast, T0 + 100 * H); /* resolved before the next signal */
    al_on_gap(&NOW, &fast, T0 + 30 * H);
    al_on_gap(&NOW, &slow, T0 + 30 * H);
    al_on_signal(&NOW, &fast, "CARRIER_DELAY_SPIKE", SCOPE, 1, T0 + 24 * H, T0 + 30 * H);
    al_on_signal(&NOW, &slow, "CARRIER_DELAY_SPIKE", SCOPE, 1, T0 + 24 * H, T0 + 30 * H);
    assert_string_equal(fast.alert_id, slow.alert_id);
    assert_true(al_expired(&NOW, &(al_t){.state = AL_NONE, .last_seen = T0}, T0 + 96 * H));
    assert_false(al_expired(&NOW, &(al_t){.state = AL_NONE, .last_seen = T0}, T0 + 95 * H));
}

static void test_encode_decode(void **state) {
    al_t a = {0}, b;
    char buf[256];
    (void)state;
    sig(&NOW, &a, 2, T0);
    sig(&NOW, &a, 1, T0 + H);
    assert_true(al_encode(&a, buf, sizeof(buf)));
    char again[256];
    assert_true(al_decode(buf, &b));
    assert_true(al_encode(&b, again, sizeof(again)));
    assert_string_equal(buf, again);
    assert_string_equal(a.alert_id, b.alert_id);
    assert_int_equal(b.occurrences, 2);
    assert_int_equal(b.severity, 2);
    assert_false(al_encode(&a, buf, 10)); /* too small: refused, not cut */
    assert_false(al_decode("", &b));
    assert_false(al_decode("2|zz|1|2|3|1|1|1|1|1", &b));
    assert_false(al_decode("9|0123456789abcdef|1|2|3|1|1|1|1|1", &b));
    assert_false(al_decode("2|0123456789abcdef|1|2|3|7|1|1|1|1", &b));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fires_once_and_rolls_up),
        cmocka_unit_test(test_worse_is_resent_better_is_not),
        cmocka_unit_test(test_cooldown_reminds),
        cmocka_unit_test(test_pending_for),
        cmocka_unit_test(test_resolves_after_hold_and_starts_over),
        cmocka_unit_test(test_pending_never_fired_is_dropped),
        cmocka_unit_test(test_replay_gives_the_same_ids),
        cmocka_unit_test(test_late_signal_reopens_its_episode),
        cmocka_unit_test(test_same_window_new_episode_goes_on_counting),
        cmocka_unit_test(test_gap_in_own_time_splits_episodes),
        cmocka_unit_test(test_episodes_do_not_depend_on_the_clock),
        cmocka_unit_test(test_encode_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
