/* bw-correlate's response clocks, fired by the watermark.
 *
 * An event that must be answered (a buyer message, a negative review, a
 * claim: classify sets response_due_at) gets a record "m:<event>" in its
 * store's tag (due, at) and an entry "<store tag> m:<event>" in its review
 * partition's sorted set "bw:{t=<pid>}:resp", scored by the warning time
 * (at + response.warn, 18 h by default). An answer (SellerAction REPLIED
 * or NO_RESPONSE_NEEDED) sets "replied" on the record, whichever comes
 * first. When the watermark passes an entry:
 *   not answered by the warning time -> RESPONSE_DUE: counted "rwarn" in
 *                                   the deadline day's store window (once);
 *   answered by the deadline     -> the entry leaves;
 *   before the deadline          -> the entry waits for the deadline;
 *   at or after the deadline     -> RESPONSE_SLA_BREACH: counted "rlate"
 *                                   (once) and the entry leaves.
 * Weekends and nights count like any hour: the platforms' clock does.
 * Settling is unfenced and idempotent (once-markers, ZADD/ZREM), so a
 * crash or two instances count once.
 *
 * The same watermark closes days: "bw:{t=<pid>}:close" holds the store and
 * SKU days a batch changed, scored by the day's end; once passed, the day's
 * rates are judged (judge.c) and the entry leaves. */
#include "correlate_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bw_log.h"
#include "bw_util.h"

/* The settled entry leaves its set, or waits for a later deadline: once
 * the batch's signals are delivered (with the fired marks), so that a crash
 * before then settles it again (its counts are once-guarded) and sends
 * what it made the batch send, rather than losing it. */
static bw_err_t timer_move(correlate_t *cr, const bw_due_t *d, int64_t deadline) {
    char tag[24];

    snprintf(tag, sizeof(tag), "t=%d", (int)d->pid);
    return bw_marks_add_op(&cr->marks, tag, TIMER_RESP,
                           deadline == INT64_MIN ? BW_OP_ZREM : BW_OP_ZADD, d->member,
                           deadline == INT64_MIN ? 0 : deadline)
               ? BW_ERR_OK
               : BW_ERR_NOMEM;
}

/* Count the event in the deadline day's store window (once per marker)
 * and note it for judging. */
static bw_err_t count_response(correlate_t *cr, const char *store_tag, const char *ekey,
                               int64_t due, bool breach) {
    bw_buf_t store = {0}, event = {0}, marker = {0};
    touched_t *t;
    bw_err_t err = BW_ERR_NOMEM;

    if (!bw_key_unescape(&store, store_tag + 2, strlen(store_tag + 2)) ||
        !bw_key_unescape(&event, ekey + 2, strlen(ekey + 2)) ||
        !bw_buf_printf(&marker, "%s%s", breach ? "rl:" : "rw:", ekey))
        goto out;
    if ((err = corr_count_once(cr, store_tag, BW_WIN_UNFENCED, 0, "r:", bw_bucket(due, DAY_MS),
                               breach ? "rlate" : "rwarn", marker.data)))
        goto out;
    err = BW_ERR_NOMEM;
    if ((t = corr_touch(cr, TK_RESP, store_tag, store.data, NULL, bw_bucket(due, DAY_MS))) &&
        corr_evidence(t, event.data))
        err = BW_ERR_OK;
out:
    bw_buf_free(&store);
    bw_buf_free(&event);
    bw_buf_free(&marker);
    return err;
}

/* One entry: the record's due, at and replied (INT64_MIN: absent). What
 * is counted depends on the answer's time only, never on how far the
 * watermark got in one batch: "unanswered at the warning time" (rwarn)
 * and "unanswered at the deadline" (rlate) come out the same whether the
 * watermark stops between the two or jumps past both. */
static bw_err_t settle(correlate_t *cr, const bw_due_t *d, const char *store_tag, const char *ekey,
                       const int64_t v[3], int64_t wm) {
    int64_t due = v[0], at = v[1], replied = v[2];
    int64_t warn = at == INT64_MIN ? due : at + cr->cfg.response_warn_ms;
    bool breach = wm >= due, in_time = replied != INT64_MIN && replied <= due;
    bw_err_t err;

    bw_metric_inc(cr->m_timers);
    if (due == INT64_MIN)
        return timer_move(cr, d, INT64_MIN); /* gone (expired) */
    if (warn > due)
        warn = due;
    if ((replied == INT64_MIN || replied > warn) &&
        (err = count_response(cr, store_tag, ekey, due, false)))
        return err;
    if (in_time)
        return timer_move(cr, d, INT64_MIN);
    if (!breach)
        return timer_move(cr, d, due); /* wait for the deadline */
    if ((err = count_response(cr, store_tag, ekey, due, true)))
        return err;
    return timer_move(cr, d, INT64_MIN);
}

/* Read one round of passed entries of every review partition, then their
 * records, and settle them (up to timer.batch a partition). */
static bw_err_t fire_round(correlate_t *cr, int64_t wm, char *errstr, size_t errstr_size) {
    bw_redis_pipe_t hpipe = {0};
    redisReply **hr = NULL;
    bw_due_list_t list;
    bw_due_t *dues;
    size_t nd;
    bw_buf_t key = {0};
    bw_err_t err;

    if ((err = bw_due_read(cr->redis, &cr->wm, CORR_TOPIC_REVIEWS * 1024,
                           (CORR_TOPIC_REVIEWS + 1) * 1024, TIMER_RESP, wm, cr->cfg.timer_batch,
                           &list, errstr, errstr_size)))
        return err;
    dues = list.items;
    nd = list.n;
    for (size_t i = 0; i < nd; i++) {
        const char *m = dues[i].member, *sp = strchr(m, ' ');
        bw_buf_reset(&key);
        if (!sp || !bw_buf_printf(&key, "bw:{%.*s}:%s", (int)(sp - m), m, sp + 1))
            bw_buf_printf(&key, "bw:{-}:-"); /* malformed: reads nothing, dropped */
        const char *argv[] = {"HMGET", key.data, "due", "at", "replied"};
        if (bw_redis_pipe_add(&hpipe, 5, argv, NULL))
            goto nomem;
    }
    if (nd && (err = bw_redis_pipe_run(cr->redis, &hpipe, &hr, errstr, errstr_size)))
        goto out;
    for (size_t i = 0; i < nd && !err; i++) {
        char *copy = strdup(dues[i].member), *sp;
        int64_t v[3] = {INT64_MIN, INT64_MIN, INT64_MIN};
        if (!copy)
            goto nomem;
        sp = strchr(copy, ' ');
        if (!sp || strncmp(copy, "s=", 2) || strncmp(sp + 1, "m:", 2) ||
            hr[i]->type != REDIS_REPLY_ARRAY || hr[i]->elements != 3) {
            bw_log_rl(BW_LOG_WARN, "response clock: malformed entry dropped");
            err = timer_move(cr, &dues[i], INT64_MIN);
            free(copy);
            continue;
        }
        *sp = '\0';
        for (int f = 0; f < 3; f++)
            if (hr[i]->element[f]->type == REDIS_REPLY_STRING)
                bw_parse_i64(hr[i]->element[f]->str, &v[f]);
        err = settle(cr, &dues[i], copy, sp + 1, v, wm);
        free(copy);
    }
    if (!err && nd)
        err = bw_win_flush(cr->win, errstr, errstr_size);
    goto out;
nomem:
    err = BW_ERR_NOMEM;
out:
    bw_redis_replies_free(hr, nd);
    bw_redis_pipe_free(&hpipe);
    bw_buf_free(&key);
    bw_due_free(&list);
    return err;
}

/* A closed day's entry ("S|K|C <day> <tag>"): judge the day's rates (or
 * its complaints joined to a delay spike, C)
 * (judge.c) and let it go. Tags can be long (hostile names are escaped,
 * not cut), so the member is parsed in place. */
static bw_err_t close_day(correlate_t *cr, int32_t pid, const char *member) {
    char ptag[24], *end;
    const char *tag, *bar;
    long long day;
    bw_buf_t a = {0}, b = {0};
    touched_t *t = NULL;
    char kind = member[0];
    bw_err_t err = BW_ERR_OK;

    snprintf(ptag, sizeof(ptag), "t=%d", (int)pid);
    const char *prefix = kind == 'S' ? "s=" : kind == 'K' ? "k=" : "cl=";
    bool known = kind == 'S' || kind == 'K' || kind == 'C';

    day = known && member[1] == ' ' ? strtoll(member + 2, &end, 10) : 0;
    if (!known || member[1] != ' ' || *end != ' ' || strncmp(end + 1, prefix, strlen(prefix))) {
        bw_log_rl(BW_LOG_WARN, "day to close: malformed entry dropped");
        goto done;
    }
    tag = end + 1;
    if (kind == 'S' && bw_key_unescape(&a, tag + 2, strlen(tag + 2)))
        t = corr_touch(cr, TK_STORE_DAY, tag, a.data, NULL, day);
    else if (kind != 'S' && (bar = strchr(tag, '|')) &&
             bw_key_unescape(&a, tag + strlen(prefix), (size_t)(bar - tag) - strlen(prefix)) &&
             bw_key_unescape(&b, bar + 1, strlen(bar + 1)))
        t = corr_touch(cr, kind == 'K' ? TK_SKU_DAY : TK_CORR, tag, a.data ? a.data : "",
                       b.data ? b.data : "", day);
    if (!t) {
        bw_log_rl(BW_LOG_WARN, "day to close: entry not judged (malformed name, or memory)");
        goto done;
    }
    if (kind != 'C')
        t->need |= kind == 'S' ? NEED_RATING | NEED_NEG : NEED_NEG;
done:
    bw_buf_free(&a);
    bw_buf_free(&b);
    /* it leaves once the day's signals are delivered (as timer_move) */
    if (!bw_marks_add_op(&cr->marks, ptag, TIMER_CLOSE, BW_OP_ZREM, member, 0))
        err = BW_ERR_NOMEM;
    return err;
}

/* The days the watermark closed, of every review partition (a day closes
 * when the watermark passes its end: its score), in event-time order. */
static bw_err_t close_days(correlate_t *cr, int64_t wm, char *errstr, size_t errstr_size) {
    bw_due_list_t due;
    bw_err_t err;

    if ((err = bw_due_read(cr->redis, &cr->wm, CORR_TOPIC_REVIEWS * 1024,
                           (CORR_TOPIC_REVIEWS + 1) * 1024, TIMER_CLOSE, wm, cr->cfg.timer_batch,
                           &due, errstr, errstr_size)))
        return err;
    for (size_t i = 0; i < due.n && !err; i++)
        err = close_day(cr, due.items[i].pid, due.items[i].member);
    if (!err && due.nreplies)
        err = bw_win_flush(cr->win, errstr, errstr_size);
    bw_due_free(&due);
    return err;
}

bw_err_t corr_fire_timers(correlate_t *cr, int64_t now_ms, char *errstr, size_t errstr_size) {
    int64_t wm = bw_wm_global(&cr->wm, now_ms);
    bw_err_t err;

    if (wm == INT64_MIN)
        return BW_ERR_OK;
    bw_metric_set(cr->m_watermark, (double)wm / 1000);
    /* one read a batch: the entries leave their sets only once the batch
     * is delivered, so a second read would see them again (a backlog
     * takes a few batches, or ticks) */
    if ((err = fire_round(cr, wm, errstr, errstr_size)))
        return err;
    return close_days(cr, wm, errstr, errstr_size);
}
