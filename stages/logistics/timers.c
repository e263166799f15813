/* bw-logistics's parcel timers, fired by the watermark.
 *
 * Each input partition has three sorted sets, "bw:{t=<pid>}:due|stall|track",
 * of "<store tag> <order key>" scored by a deadline in event time: the
 * promised delivery, the last scan plus the stall time, the ship
 * confirmation plus the tracking time. Scans and orders set them (fenced,
 * like every write of a message). At the end of each batch, the entries
 * the watermark has passed are read with their orders' index and settled:
 *   due   -> counted due and late in the promised day's window unless
 *            delivered (a parcel late while undelivered shows at once);
 *   stall -> counted stalled (once per order) unless scanned again, in
 *            the window of the day it went quiet;
 *   track -> counted confirmed, and valid when a carrier scan came within
 *            the tracking time.
 * Settling is unfenced: every count is guarded by a once-marker and a
 * removal is idempotent, so settling twice (a crash, two instances) counts
 * once. The index is the truth and the sets only say when to look, so a
 * stale or duplicate entry costs a read, never a wrong count.
 */
#include "logistics_int.h"

#include <stdlib.h>
#include <string.h>

#include "bw_log.h"
#include "bw_util.h"

enum { K_DUE, K_STALL, K_TRACK, K__CNT };
static const char *const TIMER_NAMES[K__CNT] = {TIMER_DUE, TIMER_STALL, TIMER_TRACK};

/* Index fields read to settle a timer. */
enum {
    H_PDB,
    H_DELIVERED,
    H_CARRIER,
    H_LANE,
    H_LAST,
    H_STALL_AT,
    H_LOST,
    H_RETURNED,
    H_CONFIRMED,
    H_FIRST,
    H__CNT
};
static const char *const H_FIELDS[H__CNT] = {"pdb",       "delivered", "carrier", "lane",
                                             "last_scan", "stall_at",  "lost",    "returned",
                                             "confirmed", "first_scan"};

/* Rounds of reads per batch when a backlog is due (each reads up to
 * timer.batch entries per set). */
#define MAX_ROUNDS 8

typedef struct {
    int32_t pid;
    int kind;
    char *member; /* points into the reply */
    int64_t deadline;
} due_t;

/* The settled entry leaves its set, or waits for a later deadline: once
 * the batch's signals are delivered (with the fired marks), so that a crash
 * before then settles it again (its counts are once-guarded) and judges
 * the windows it changed, rather than losing their signals. */
static bw_err_t timer_move(logistics_t *lg, const due_t *d, int64_t deadline) {
    char tag[24];

    snprintf(tag, sizeof(tag), "t=%d", (int)d->pid);
    return bw_marks_add_op(&lg->marks, tag, TIMER_NAMES[d->kind],
                           deadline == INT64_MIN ? BW_OP_ZREM : BW_OP_ZADD, d->member,
                           deadline == INT64_MIN ? 0 : deadline)
               ? BW_ERR_OK
               : BW_ERR_NOMEM;
}

typedef struct {
    const char *store_tag, *order_key; /* escaped, NUL-terminated */
    char order_id[512]; /* unescaped, for evidence */
    const char *carrier, *lane;
    char *cl_tag;
    int64_t v[H__CNT];
} order_view_t;

static bw_err_t settle_due(logistics_t *lg, const due_t *d, order_view_t *o) {
    int64_t promise = o->v[H_PDB] != INT64_MIN ? o->v[H_PDB] : d->deadline;
    int64_t delivered = o->v[H_DELIVERED] != INT64_MIN ? o->v[H_DELIVERED] : INT64_MAX;
    bw_err_t err;

    bw_metric_inc(lg->m_timers_due);
    if (o->cl_tag && promise != INT64_MIN &&
        (err = logi_count_delivery(lg, o->cl_tag, o->carrier, o->lane, o->order_key,
                                   BW_WIN_UNFENCED, 0, delivered, promise, o->order_id)))
        return err;
    return timer_move(lg, d, INT64_MIN);
}

static bw_err_t settle_stall(logistics_t *lg, const due_t *d, order_view_t *o, int64_t wm) {
    bool ended = o->v[H_DELIVERED] != INT64_MIN || o->v[H_LOST] != INT64_MIN ||
                 o->v[H_RETURNED] != INT64_MIN;
    int64_t last = o->v[H_LAST],
            quiet_until = last == INT64_MIN ? INT64_MIN : last + lg->cfg.stall_ms;
    bw_err_t err;

    bw_metric_inc(lg->m_timers_stall);
    if (!o->cl_tag || last == INT64_MIN)
        return timer_move(lg, d, INT64_MIN);
    /* a gap between two scans (counted when the later one came; again
     * here is a no-op, and covers a crash between the two writes) */
    if (o->v[H_STALL_AT] != INT64_MIN &&
        (err = logi_count_stall(lg, o->cl_tag, o->carrier, o->lane, o->order_key, BW_WIN_UNFENCED,
                                0, o->v[H_STALL_AT], o->order_id)))
        return err;
    if (ended)
        return timer_move(lg, d, INT64_MIN);
    if (quiet_until > wm) /* scanned again since: watch the new deadline */
        return timer_move(lg, d, quiet_until);
    /* quiet since its last scan: stalled now (the next scan re-arms it) */
    if (o->v[H_STALL_AT] == INT64_MIN &&
        (err = logi_count_stall(lg, o->cl_tag, o->carrier, o->lane, o->order_key, BW_WIN_UNFENCED,
                                0, quiet_until, o->order_id)))
        return err;
    return timer_move(lg, d, INT64_MIN);
}

static bw_err_t settle_track(logistics_t *lg, const due_t *d, order_view_t *o) {
    int64_t confirmed =
        o->v[H_CONFIRMED] != INT64_MIN ? o->v[H_CONFIRMED] : d->deadline - lg->cfg.tracking_ms;
    int64_t b = bw_bucket(confirmed, lg->cfg.window_ms);
    bool valid = o->v[H_FIRST] != INT64_MIN && o->v[H_FIRST] <= confirmed + lg->cfg.tracking_ms;
    touched_t *t;
    bw_err_t err;

    bw_metric_inc(lg->m_timers_track);
    if ((err = logi_count_once(lg, o->store_tag, BW_WIN_UNFENCED, 0, "track:", b, "confirmed", "tc",
                               o->order_key + 2)) ||
        (valid && (err = logi_count_once(lg, o->store_tag, BW_WIN_UNFENCED, 0, "track:", b, "valid",
                                         "tv", o->order_key + 2))))
        return err;
    if (!(t = logi_touch(lg, o->store_tag, o->store_tag + 2, NULL, TK_TRACK, b)))
        return BW_ERR_NOMEM;
    if (!valid && (err = logi_window_evidence(lg, t, BW_WIN_UNFENCED, 0, "track:", b, o->order_id)))
        return err;
    return timer_move(lg, d, INT64_MIN);
}

/* Read round @p round of passed deadlines (the sets do not change within
 * a batch: entries leave them with the delivered marks, so the rounds page
 * through them); *full when a set had more. */
static bw_err_t read_due(logistics_t *lg, int64_t wm, int round, redisReply ***replies, size_t *nq,
                         int32_t *pids, bool *full, char *errstr, size_t errstr_size) {
    bw_redis_pipe_t pipe = {0};
    bw_buf_t key = {0};
    char max[24], limit[24], offset[24];
    bw_err_t err;

    snprintf(max, sizeof(max), "%lld", (long long)wm);
    snprintf(offset, sizeof(offset), "%lld", (long long)round * lg->cfg.timer_batch);
    snprintf(limit, sizeof(limit), "%lld", (long long)lg->cfg.timer_batch);
    *nq = 0;
    for (int32_t pid = 0; pid < BW_WM_MAX_PARTITIONS; pid++) {
        if (bw_wm_partition(&lg->wm, pid) == INT64_MIN)
            continue;
        for (int k = 0; k < K__CNT; k++) {
            char tag[24];
            snprintf(tag, sizeof(tag), "t=%d", (int)pid);
            bw_buf_reset(&key);
            if (!bw_win_key(&key, tag, TIMER_NAMES[k]))
                goto nomem;
            const char *argv[] = {"ZRANGEBYSCORE", key.data, "-inf", max,
                                  "WITHSCORES",    "LIMIT",  offset, limit};
            if (bw_redis_pipe_add(&pipe, 8, argv, NULL))
                goto nomem;
            pids[(*nq)++] = pid;
        }
    }
    err = *nq ? bw_redis_pipe_run(lg->redis, &pipe, replies, errstr, errstr_size) : BW_ERR_OK;
    *full = false;
    for (size_t q = 0; !err && q < *nq; q++)
        if ((*replies)[q]->type == REDIS_REPLY_ARRAY &&
            (*replies)[q]->elements >= 2 * (size_t)lg->cfg.timer_batch)
            *full = true;
    bw_redis_pipe_free(&pipe);
    bw_buf_free(&key);
    return err;
nomem:
    bw_redis_pipe_free(&pipe);
    bw_buf_free(&key);
    return BW_ERR_NOMEM;
}

/* Split a member into its store tag and order key (in place). */
static bool split_member(char *member, order_view_t *o) {
    char *sp = strchr(member, ' ');
    bw_buf_t id = {0};
    bool ok;

    if (!sp || strncmp(member, "s=", 2) || strncmp(sp + 1, "o:", 2))
        return false;
    *sp = '\0';
    o->store_tag = member;
    o->order_key = sp + 1;
    ok = bw_key_unescape(&id, o->order_key + 2, strlen(o->order_key + 2)) &&
         bw_strlcpy(o->order_id, id.data, sizeof(o->order_id));
    if (!ok) /* too long to quote whole: the escaped name, cut */
        bw_strlcpy(o->order_id, o->order_key + 2, sizeof(o->order_id));
    bw_buf_free(&id);
    return true;
}

/* One round: settle what the reads returned; *more when a set was full. */
static bw_err_t fire_round(logistics_t *lg, int64_t wm, int round, bool *more, char *errstr,
                           size_t errstr_size) {
    int32_t *pids = calloc((size_t)BW_WM_MAX_PARTITIONS * K__CNT, sizeof(*pids));
    redisReply **zr = NULL, **hr = NULL;
    size_t nz = 0, nd = 0, capd = 0;
    due_t *dues = NULL;
    bw_redis_pipe_t pipe = {0};
    bw_buf_t key = {0};
    bw_err_t err;

    *more = false;
    if (!pids)
        return BW_ERR_NOMEM;
    if ((err = read_due(lg, wm, round, &zr, &nz, pids, more, errstr, errstr_size)))
        goto out;
    for (size_t q = 0; q < nz; q++) {
        redisReply *r = zr[q];
        if (r->type != REDIS_REPLY_ARRAY)
            continue;
        for (size_t i = 0; i + 1 < r->elements; i += 2) {
            if (r->element[i]->type != REDIS_REPLY_STRING)
                continue;
            if (!bw_grow((void **)&dues, &capd, nd, sizeof(*dues)))
                goto nomem;
            dues[nd].pid = pids[q];
            dues[nd].kind = (int)(q % K__CNT);
            dues[nd].member = r->element[i]->str;
            dues[nd].deadline = logi_reply_i64(r->element[i + 1]);
            nd++;
        }
    }
    for (size_t i = 0; i < nd; i++) {
        const char *sp = strchr(dues[i].member, ' ');
        const char *argv[2 + H__CNT] = {"HMGET"};
        bw_buf_reset(&key);
        if (!sp || !bw_buf_printf(&key, "bw:{%.*s}:%s", (int)(sp - dues[i].member), dues[i].member,
                                  sp + 1))
            goto nomem;
        argv[1] = key.data;
        memcpy(argv + 2, H_FIELDS, sizeof(H_FIELDS));
        if (bw_redis_pipe_add(&pipe, 2 + H__CNT, argv, NULL))
            goto nomem;
    }
    if (nd && (err = bw_redis_pipe_run(lg->redis, &pipe, &hr, errstr, errstr_size)))
        goto out;
    for (size_t i = 0; i < nd && !err; i++) {
        order_view_t o = {0};
        redisReply *r = hr[i];
        char *member_copy = strdup(dues[i].member);
        if (!member_copy)
            goto nomem;
        if (!split_member(member_copy, &o) || r->type != REDIS_REPLY_ARRAY ||
            r->elements != H__CNT) {
            bw_log_rl(BW_LOG_WARN, "timer %s: malformed entry dropped", TIMER_NAMES[dues[i].kind]);
            err = timer_move(lg, &dues[i], INT64_MIN);
            free(member_copy);
            continue;
        }
        for (int f = 0; f < H__CNT; f++)
            o.v[f] = logi_reply_i64(r->element[f]);
        if (r->element[H_CARRIER]->type == REDIS_REPLY_STRING &&
            r->element[H_LANE]->type == REDIS_REPLY_STRING) {
            o.carrier = r->element[H_CARRIER]->str;
            o.lane = r->element[H_LANE]->str;
            if (!(o.cl_tag =
                      bw_key_name("cl=", o.carrier, strlen(o.carrier), o.lane, strlen(o.lane)))) {
                free(member_copy);
                goto nomem;
            }
        }
        switch (dues[i].kind) {
        case K_DUE:
            err = settle_due(lg, &dues[i], &o);
            break;
        case K_STALL:
            err = settle_stall(lg, &dues[i], &o, wm);
            break;
        default:
            err = settle_track(lg, &dues[i], &o);
        }
        free(o.cl_tag);
        free(member_copy);
    }
    lg->timers_fired += (int64_t)nd;
    if (!err)
        err = bw_win_flush(lg->win, errstr, errstr_size);
    goto out;
nomem:
    err = BW_ERR_NOMEM;
out:
    bw_redis_replies_free(hr, nd);
    bw_redis_replies_free(zr, nz);
    bw_redis_pipe_free(&pipe);
    bw_buf_free(&key);
    free(dues);
    free(pids);
    if (nd == 0)
        *more = false;
    return err;
}

/* A closed window's entry ("<L|S|T> <bucket> <tag>"): judged this batch
 * (judge.c), and it leaves once the batch's signals are delivered. Tags
 * can be long (hostile names are escaped, not cut): parsed in place. */
static bw_err_t close_window(logistics_t *lg, int32_t pid, const char *member) {
    char ptag[24], *end = NULL;
    const char *tag, *bar;
    long long bucket = 0;
    bw_buf_t a = {0}, b = {0};
    touched_t *t = NULL;
    char k = member[0];
    touch_kind_t kind = k == 'L' ? TK_LANE : k == 'S' ? TK_SHIP : TK_TRACK;
    bw_err_t err = BW_ERR_OK;

    snprintf(ptag, sizeof(ptag), "t=%d", (int)pid);
    if ((k == 'L' || k == 'S' || k == 'T') && member[1] == ' ')
        bucket = strtoll(member + 2, &end, 10);
    if (!end || *end != ' ' || strncmp(end + 1, k == 'L' ? "cl=" : "s=", k == 'L' ? 3 : 2)) {
        bw_log_rl(BW_LOG_WARN, "window to close: malformed entry dropped");
        goto done;
    }
    tag = end + 1;
    if (k != 'L')
        t = logi_touch(lg, tag, tag + 2, NULL, kind, bucket);
    else if ((bar = strchr(tag, '|')) && bw_key_unescape(&a, tag + 3, (size_t)(bar - tag - 3)) &&
             bw_key_unescape(&b, bar + 1, strlen(bar + 1)))
        t = logi_touch(lg, tag, a.data ? a.data : "", b.data ? b.data : "", kind, bucket);
    if (!t)
        bw_log_rl(BW_LOG_WARN, "window to close: entry not judged (malformed name, or memory)");
done:
    bw_buf_free(&a);
    bw_buf_free(&b);
    if (!bw_marks_add_op(&lg->marks, ptag, TIMER_CLOSE, BW_OP_ZREM, member, 0))
        err = BW_ERR_NOMEM;
    return err;
}

/* The windows the watermark closed, of every partition this instance has
 * (one read a batch: entries leave with the delivered marks), in
 * event-time order across partitions: a lane's windows are judged in the
 * order they closed, whichever partition's set keeps them. */
static bw_err_t close_windows(logistics_t *lg, int64_t wm, char *errstr, size_t errstr_size) {
    bw_due_list_t due;
    bw_err_t err;

    if ((err = bw_due_read(lg->redis, &lg->wm, 0, BW_WM_MAX_PARTITIONS, TIMER_CLOSE, wm,
                           lg->cfg.timer_batch, &due, errstr, errstr_size)))
        return err;
    for (size_t i = 0; i < due.n && !err; i++)
        err = close_window(lg, due.items[i].pid, due.items[i].member);
    bw_due_free(&due);
    return err;
}

bw_err_t logi_fire_timers(logistics_t *lg, int64_t now_ms, char *errstr, size_t errstr_size) {
    int64_t wm = bw_wm_global(&lg->wm, now_ms);
    bool more = true;
    bw_err_t err = BW_ERR_OK;

    lg->judge_wm = wm;
    if (wm == INT64_MIN)
        return BW_ERR_OK;
    bw_metric_set(lg->m_watermark, (double)wm / 1000);
    for (int round = 0; round < MAX_ROUNDS && more && !err; round++)
        err = fire_round(lg, wm, round, &more, errstr, errstr_size);
    return err ? err : close_windows(lg, wm, errstr, errstr_size);
}
