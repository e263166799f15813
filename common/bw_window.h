/**
 * @file bw_window.h
 * @brief Event-time windows in Redis, written effectively once.
 *
 * Keys and hash tags. Every key belongs to a hash tag ("{s=store-7}",
 * "{cl=DHL|CN>DE}"), so all keys a script touches live in one Redis
 * Cluster slot. Names from events are escaped (bw_key_escape) so that no
 * store, SKU or carrier name can break a tag or collide with another.
 *
 * The no-double-count protocol. A stage adds the changes of a batch with
 * the (partition, offset) of the message they come from; nothing is sent
 * yet. bw_win_flush() then, per hash tag:
 *   1. knows the tag's fence for each partition: the highest offset of that
 *      partition already applied to the tag (loaded once with HGET, then
 *      kept up to date locally);
 *   2. drops every change whose offset is at or below the fence (it was
 *      applied before a crash, a restart or a rebalance);
 *   3. sums what is left and sends one EVALSHA for the tag (all tags of a
 *      flush in one pipeline); the script refuses the whole change if the
 *      fence moved meanwhile (another instance got there first), else it
 *      applies the change and moves the fence to the highest offset in it,
 *      atomically;
 *   4. on a refusal, reloads that fence and repeats 2-3 for that tag.
 * Kafka offsets are committed only after the flush. A replay of any prefix
 * of the input, in any batching, leaves every key as one clean pass would.
 *
 * Time. Windows are tumbling event-time buckets. The watermark of a
 * partition is its largest event time less the allowed lateness; the stage's
 * watermark is the least of its partitions' that have seen an event within
 * the idle timeout, so an idle partition does not hold it back. An event
 * stamped further in the future than the allowed skew is refused and does
 * not move the watermark; an event behind the watermark is late: applied
 * while within the grace period, dropped after it.
 */
#ifndef BW_WINDOW_H
#define BW_WINDOW_H

#include <stdbool.h>
#include <stdint.h>

#include "bw_err.h"
#include "bw_metrics.h"
#include "bw_redis.h"
#include "bw_util.h"

typedef struct bw_win_s bw_win_t;

/* ---- keys ---- */

/**
 * @brief Append @p len bytes of @p in to @p out, escaped: letters, digits
 *        and "-_." stay, every other byte becomes %XX. Injective, and the
 *        result never holds '{', '}', ':' or a space.
 */
bool bw_key_escape(bw_buf_t *out, const char *in, size_t len);

/**
 * @brief "prefix" + @p a escaped (+ "|" + @p b escaped when @p b is not
 *        NULL: the escaping keeps the two apart); NULL when out of memory.
 */
char *bw_key_name(const char *prefix, const char *a, size_t alen, const char *b, size_t blen);
/** @brief bw_key_name, appended to @p out (no allocation of its own). */
bool bw_key_name_to(bw_buf_t *out, const char *prefix, const char *a, size_t alen, const char *b,
                    size_t blen);

/**
 * @brief The inverse of bw_key_escape (appends to @p out, NUL-terminated
 *        but not counted); false on a malformed escape or out of memory.
 */
bool bw_key_unescape(bw_buf_t *out, const char *in, size_t len);

/* ---- watermarks ---- */

#define BW_WM_MAX_PARTITIONS 4096

typedef enum {
    BW_WM_ON_TIME, /* apply */
    BW_WM_LATE, /* behind the watermark, within the grace period: apply, count */
    BW_WM_TOO_LATE, /* behind the grace period: count, drop */
    BW_WM_FUTURE, /* further ahead than the allowed skew: refuse */
} bw_wm_verdict_t;

typedef struct bw_wm_s {
    int64_t lateness_ms; /* watermark = largest event time - lateness */
    int64_t grace_ms; /* late events up to this far behind still count */
    int64_t skew_ms; /* events further ahead of the clock are refused */
    int64_t idle_ms; /* a partition quiet this long is ignored */
    int64_t max_event[BW_WM_MAX_PARTITIONS];
    int64_t last_seen[BW_WM_MAX_PARTITIONS]; /* processing time, ms */
} bw_wm_t;

/* A batch's moves of the watermarks, undone when it runs again: a batch
 * that failed (Redis away) is read again from its first offset, and its
 * events must meet the watermark they met the first time. Left advanced,
 * timers fire before those events are applied again (parcels delivered in
 * time counted late). */
typedef struct bw_wm_txn_s {
    bw_wm_t saved;
    bool open;
} bw_wm_txn_t;

/** @brief Before a batch's first event (a no-op while one is open). */
void bw_wm_begin(bw_wm_txn_t *t, const bw_wm_t *wm);
/** @brief The batch is written: its moves stay. */
void bw_wm_commit(bw_wm_txn_t *t);
/** @brief The batch runs again: the watermarks go back to where it began. */
void bw_wm_rollback(bw_wm_txn_t *t, bw_wm_t *wm);
/** @brief A partition assigned or revoked mid-batch: kept as it is now. */
void bw_wm_txn_sync(bw_wm_txn_t *t, const bw_wm_t *wm, int32_t p);

void bw_wm_init(bw_wm_t *wm, int64_t lateness_ms, int64_t grace_ms, int64_t skew_ms,
                int64_t idle_ms);

/**
 * @brief Judge an event and, unless refused, let it advance its partition.
 * @param now_ms wall clock (for the skew) — processing time.
 */
bw_wm_verdict_t bw_wm_observe(bw_wm_t *wm, int32_t partition, int64_t event_ms, int64_t now_ms);

/** @brief A partition's watermark, INT64_MIN before its first event. */
int64_t bw_wm_partition(const bw_wm_t *wm, int32_t partition);

/** @brief The least watermark of the partitions active within idle_ms. */
int64_t bw_wm_global(const bw_wm_t *wm, int64_t now_ms);

/**
 * @brief A partition was assigned: until its first event (or idle_ms), it
 *        holds the stage's watermark back, as it may hold the oldest events.
 */
void bw_wm_assign(bw_wm_t *wm, int32_t partition, int64_t now_ms);

/**
 * @brief A partition was assigned with the largest event time its state
 *        was written with (persisted by the stage): it starts from there, so
 *        a restarted stage's timers neither jump ahead nor fall back.
 */
void bw_wm_restore(bw_wm_t *wm, int32_t partition, int64_t max_event, int64_t now_ms);

/** @brief A partition reached its end: if it never had an event, it stops holding. */
void bw_wm_eof(bw_wm_t *wm, int32_t partition);

/** @brief Largest event time seen on a partition (INT64_MIN: none). */
int64_t bw_wm_max_event(const bw_wm_t *wm, int32_t partition);

/** @brief Forget a partition (revoked). */
void bw_wm_forget(bw_wm_t *wm, int32_t partition);

/**
 * @brief Queue a partition's largest event time into "bw:{t=<pid>}:wm",
 *        fenced at @p offset like the state it was written with.
 */
bw_err_t bw_wm_persist(const bw_wm_t *wm, bw_win_t *win, int32_t partition, int64_t offset,
                       int64_t ttl_s);

/**
 * @brief A partition was assigned: resume from its persisted largest event
 *        time (bw_wm_restore), or wait for events (bw_wm_assign) when there
 *        is none. While Redis cannot say (down, loading), it retries with
 *        backoff until Redis answers or bw_proc_stop is set.
 */
void bw_wm_load(bw_wm_t *wm, bw_redis_t *redis, int32_t partition, int64_t now_ms);

/**
 * The event-time keys every windowed stage has, for its key table: @p K
 * maps a field name (lateness_ms, grace_ms, skew_ms, idle_ms, int64_t) to
 * its offset in the stage's config struct.
 */
#define BW_WM_CONF_DEFS(K)                                                                          \
    {"lateness.ms",                                                                                 \
     BW_CONF_INT,                                                                                   \
     K(lateness_ms),                                                                                \
     "3600000",                                                                                     \
     0,                                                                                             \
     30LL * 86400000,                                                                               \
     NULL,                                                                                          \
     "Watermark = largest event time less this"},                                                   \
        {"grace.ms",  BW_CONF_INT,                                                                  \
         K(grace_ms), "172800000",                                                                  \
         0,           365LL * 86400000,                                                             \
         NULL,        "Events this far behind the watermark still count (later ones are dropped)"}, \
        {"skew.ms",  BW_CONF_INT,                                                                   \
         K(skew_ms), "600000",                                                                      \
         0,          86400000,                                                                      \
         NULL,       "Events stamped further ahead of the clock are dead-lettered"},                \
    {                                                                                               \
        "idle.ms", BW_CONF_INT, K(idle_ms), "60000", 1000, 86400000, NULL,                          \
            "A partition quiet this long does not hold the watermark back"                          \
    }

/**
 * @brief Admit an event's time: refused (BW_WM_FUTURE, *reason set) when it
 *        is before @p min_event_ms (a clock error) or further ahead than the
 *        skew; else bw_wm_observe()'s verdict.
 */
bw_wm_verdict_t bw_wm_admit(bw_wm_t *wm, int32_t partition, int64_t event_ms, int64_t now_ms,
                            int64_t min_event_ms, char *reason, size_t reason_size);

/** A due entry of a partition's sorted set (timers, windows to close). */
typedef struct bw_due_s {
    int32_t pid; /* the partition whose set holds it */
    const char *member; /* points into the reply */
    int64_t score;
} bw_due_t;

/** The due entries of several partitions' sets (bw_due_read). */
typedef struct bw_due_list_s {
    bw_due_t *items;
    size_t n;
    redisReply **replies; /* the items' members point into them */
    size_t nreplies;
} bw_due_list_t;

/**
 * @brief Read "bw:{t=<pid>}:<set>" entries scored at most @p max_score (up
 *        to @p limit a set) of every partition id in [@p pid_from,
 *        @p pid_to) that @p wm knows, in one pipeline, as one list in
 *        event-time order: by score, then member, then partition. Entries
 *        of several partitions' sets settled in one batch then go in the
 *        same order however batches fell, so a key's signals go out in the
 *        order of their windows. Free with bw_due_free().
 */
bw_err_t bw_due_read(bw_redis_t *redis, const bw_wm_t *wm, int32_t pid_from, int32_t pid_to,
                     const char *set, int64_t max_score, int64_t limit, bw_due_list_t *out,
                     char *errstr, size_t errstr_size);
void bw_due_free(bw_due_list_t *list);

/** The partitions of a batch, with the last offset of each (for bw_wm_persist). */
typedef struct bw_batch_parts_s {
    int32_t *pids;
    int64_t *last; /* per partition id: -1 when not in the batch */
    size_t n;
} bw_batch_parts_t;

bool bw_batch_parts_init(bw_batch_parts_t *bp);
void bw_batch_parts_note(bw_batch_parts_t *bp, int32_t partition, int64_t offset);
/** @brief Queue each partition's watermark with its state (bw_wm_persist). */
bw_err_t bw_batch_parts_persist(const bw_batch_parts_t *bp, const bw_wm_t *wm, bw_win_t *win,
                                int64_t ttl_s);
void bw_batch_parts_reset(bw_batch_parts_t *bp);
void bw_batch_parts_free(bw_batch_parts_t *bp);

/** @brief Start of the tumbling bucket of size @p size_ms holding @p t_ms. */
static inline int64_t bw_bucket(int64_t t_ms, int64_t size_ms) {
    int64_t b = t_ms / size_ms * size_ms;
    return t_ms < 0 && b != t_ms ? b - size_ms : b;
}

/* ---- effectively-once writes ---- */

typedef enum {
    BW_OP_INCR, /* HINCRBY key field value */
    BW_OP_SET, /* HSET key field value */
    BW_OP_MIN, /* HSET if the field is absent or larger (numbers) */
    BW_OP_MAX, /* HSET if the field is absent or smaller (numbers) */
    BW_OP_ZADD, /* ZADD key value(score) field(member) */
    BW_OP_ZREM, /* ZREM key field(member) */
    BW_OP_SETSTR, /* HSET key field text (bw_win_add_str) */
    BW_OP_ONCE, /* HINCRBY key field value, once per marker (bw_win_add_once) */
    BW_OP_MAXGAP, /* MAX, noting a jump of at least a gap (bw_win_add_maxgap) */
    BW_OP_HDEL, /* HDEL key field */
} bw_op_t;

/**
 * Partition of changes that need no fence: they are idempotent by
 * themselves (once-markers, ZREM, MAX), and come from timers rather than
 * from a message with an offset. They are never skipped and move no fence.
 */
#define BW_WIN_UNFENCED (-1)

bw_win_t *bw_win_new(bw_redis_t *redis, bw_metrics_t *reg, char *errstr, size_t errstr_size);
void bw_win_destroy(bw_win_t *win);

/**
 * @brief Queue one change for the next flush.
 * @param tag   the hash tag without braces (escape names first)
 * @param key   the key's name after the tag; the full key is "bw:{tag}:key"
 * @param ttl_s expiry set on the key at each flush (0: none)
 * INCR changes to the same (key, field) are summed; for the others the
 * last of a batch wins (MIN and MAX keep the least and greatest).
 */
bw_err_t bw_win_add(bw_win_t *win, const char *tag, int32_t partition, int64_t offset, bw_op_t op,
                    const char *key, const char *field, int64_t value, int64_t ttl_s);

/** @brief Queue HSET key field @p text (a string value). */
bw_err_t bw_win_add_str(bw_win_t *win, const char *tag, int32_t partition, int64_t offset,
                        const char *key, const char *field, const char *text, int64_t ttl_s);

/**
 * @brief Queue HINCRBY key field value, applied only if @p marker is not yet
 *        a field of @p marker_key (same tag), which the same script then
 *        sets: an outcome counted once per order, whatever the replays and
 *        duplicates.
 */
bw_err_t bw_win_add_once(bw_win_t *win, const char *tag, int32_t partition, int64_t offset,
                         const char *key, const char *field, int64_t value, const char *marker_key,
                         const char *marker, int64_t ttl_s);

/**
 * @brief Queue "field = max(field, value)" that also notes, the first time
 *        the field jumps forward by at least @p gap, the old value + gap in
 *        @p gap_field (HSETNX). Not summed with other changes of the batch:
 *        each is applied in order, so every jump between two values is seen
 *        (a parcel's last scan, and when it first went quiet for too long).
 */
bw_err_t bw_win_add_maxgap(bw_win_t *win, const char *tag, int32_t partition, int64_t offset,
                           const char *key, const char *field, int64_t value, int64_t gap,
                           const char *gap_field, int64_t ttl_s);

/** @brief Send everything queued (see the protocol above). */
bw_err_t bw_win_flush(bw_win_t *win, char *errstr, size_t errstr_size);

/** @brief Drop what is queued (the batch will run again). */
void bw_win_discard(bw_win_t *win);

/** @brief Forget the cached fences of a partition (revoked or reassigned). */
void bw_win_forget_partition(bw_win_t *win, int32_t partition);

/** @brief Changes dropped because their offset was already applied, since creation. */
int64_t bw_win_skipped(const bw_win_t *win);
/** @brief Scripts sent, since creation (for "Redis calls per event"). */
int64_t bw_win_scripts(const bw_win_t *win);

/** @brief "bw:{tag}:key" */
bool bw_win_key(bw_buf_t *out, const char *tag, const char *key);

#endif
