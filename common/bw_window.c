#include "bw_window.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bw_log.h"
#include "bw_proc.h"
#include "bw_strmap.h"

/* ---- keys ---- */

bool bw_key_escape(bw_buf_t *out, const char *in, size_t len) {
    static const char hex[] = "0123456789ABCDEF";

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '_' || c == '.';
        char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
        if (!(plain ? bw_buf_append(out, &c, 1) : bw_buf_append(out, esc, 3)))
            return false;
    }
    return true;
}

static int hexval(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

bool bw_key_unescape(bw_buf_t *out, const char *in, size_t len) {
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c == '%') {
            int hi = i + 2 < len ? hexval(in[i + 1]) : -1, lo = hi >= 0 ? hexval(in[i + 2]) : -1;
            if (lo < 0)
                return false;
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        if (!bw_buf_append(out, &c, 1))
            return false;
    }
    return bw_buf_append(out, "", 1) && (out->len--, true);
}

bool bw_win_key(bw_buf_t *out, const char *tag, const char *key) {
    return bw_buf_append(out, "bw:{", 4) && bw_buf_append(out, tag, strlen(tag)) &&
           bw_buf_append(out, "}:", 2) && bw_buf_append(out, key, strlen(key));
}

/* ---- watermarks ---- */

void bw_wm_init(bw_wm_t *wm, int64_t lateness_ms, int64_t grace_ms, int64_t skew_ms,
                int64_t idle_ms) {
    wm->lateness_ms = lateness_ms;
    wm->grace_ms = grace_ms;
    wm->skew_ms = skew_ms;
    wm->idle_ms = idle_ms;
    for (int p = 0; p < BW_WM_MAX_PARTITIONS; p++) {
        wm->max_event[p] = INT64_MIN;
        wm->last_seen[p] = INT64_MIN;
    }
}

int64_t bw_wm_partition(const bw_wm_t *wm, int32_t p) {
    if (p < 0 || p >= BW_WM_MAX_PARTITIONS || wm->max_event[p] == INT64_MIN)
        return INT64_MIN;
    return wm->max_event[p] - wm->lateness_ms;
}

bw_wm_verdict_t bw_wm_observe(bw_wm_t *wm, int32_t p, int64_t event_ms, int64_t now_ms) {
    int64_t mark;

    if (event_ms > now_ms + wm->skew_ms)
        return BW_WM_FUTURE; /* never let a bad clock move time forward */
    if (p < 0 || p >= BW_WM_MAX_PARTITIONS)
        return BW_WM_ON_TIME;
    mark = bw_wm_partition(wm, p);
    wm->last_seen[p] = now_ms;
    if (event_ms > wm->max_event[p])
        wm->max_event[p] = event_ms;
    if (mark == INT64_MIN || event_ms >= mark)
        return BW_WM_ON_TIME;
    return event_ms >= mark - wm->grace_ms ? BW_WM_LATE : BW_WM_TOO_LATE;
}

int64_t bw_wm_global(const bw_wm_t *wm, int64_t now_ms) {
    int64_t least = INT64_MAX, furthest = INT64_MIN;

    /* The least watermark of the partitions still talking; when all are
     * quiet, nothing older is coming: the furthest one. A partition
     * assigned but not yet heard from holds it back until it is idle: it
     * may hold the oldest events (after a restart, its backlog). */
    for (int p = 0; p < BW_WM_MAX_PARTITIONS; p++) {
        int64_t mark = bw_wm_partition(wm, p);
        bool active = wm->last_seen[p] != INT64_MIN && now_ms - wm->last_seen[p] <= wm->idle_ms;
        if (mark == INT64_MIN) {
            if (active)
                return INT64_MIN;
            continue;
        }
        if (mark > furthest)
            furthest = mark;
        if (active && mark < least)
            least = mark;
    }
    return least != INT64_MAX ? least : furthest;
}

void bw_wm_assign(bw_wm_t *wm, int32_t p, int64_t now_ms) {
    if (p >= 0 && p < BW_WM_MAX_PARTITIONS && wm->max_event[p] == INT64_MIN)
        wm->last_seen[p] = now_ms;
}

void bw_wm_restore(bw_wm_t *wm, int32_t p, int64_t max_event, int64_t now_ms) {
    if (p >= 0 && p < BW_WM_MAX_PARTITIONS) {
        if (max_event > wm->max_event[p])
            wm->max_event[p] = max_event;
        wm->last_seen[p] = now_ms;
    }
}

void bw_wm_eof(bw_wm_t *wm, int32_t p) {
    if (p >= 0 && p < BW_WM_MAX_PARTITIONS && wm->max_event[p] == INT64_MIN)
        wm->last_seen[p] = INT64_MIN; /* empty: nothing old is coming */
}

int64_t bw_wm_max_event(const bw_wm_t *wm, int32_t p) {
    return p >= 0 && p < BW_WM_MAX_PARTITIONS ? wm->max_event[p] : INT64_MIN;
}

void bw_wm_forget(bw_wm_t *wm, int32_t p) {
    if (p >= 0 && p < BW_WM_MAX_PARTITIONS) {
        wm->max_event[p] = INT64_MIN;
        wm->last_seen[p] = INT64_MIN;
    }
}

void bw_wm_begin(bw_wm_txn_t *t, const bw_wm_t *wm) {
    if (!t->open) {
        t->saved = *wm;
        t->open = true;
    }
}

void bw_wm_commit(bw_wm_txn_t *t) {
    t->open = false;
}

void bw_wm_rollback(bw_wm_txn_t *t, bw_wm_t *wm) {
    if (t->open)
        *wm = t->saved;
    t->open = false;
}

void bw_wm_txn_sync(bw_wm_txn_t *t, const bw_wm_t *wm, int32_t p) {
    if (t->open && p >= 0 && p < BW_WM_MAX_PARTITIONS) {
        t->saved.max_event[p] = wm->max_event[p];
        t->saved.last_seen[p] = wm->last_seen[p];
    }
}

/* ---- effectively-once writes ---- */

/* The flush script: all or nothing per hash tag, guarded by the fences.
 * KEYS[1] the tag's fence hash (field = partition, value = last applied
 * offset), KEYS[2..] the keys changed. ARGV: np, then np x (partition,
 * lowest offset, highest offset), then nm, then nm x (index of a marker
 * key in KEYS, count, its markers of this call), then per key: nops, ttl,
 * nops x (op, field, value[, extra]) where a once-marker's extra is (index
 * of its marker key in KEYS, marker) and a max-gap's is (gap field, gap).
 * Returns {1} when applied, {0, partition, fence} when a fence is already
 * at or past the change (nothing applied). Unfenced changes (np = 0 for
 * them) are simply applied.
 * Per key it reads every field it needs with one HMGET, applies the ops in
 * order in Lua, and writes what changed with one HSET (plus one ZADD and
 * one ZREM for sorted sets): a redis.call costs about a microsecond, and
 * this makes it ~3 per key instead of ~2 per op. Once-markers likewise:
 * one HMGET and one HSET per marker key, not an HSETNX per marker (1.3
 * per event in bench_logistics). */
static const char FLUSH_LUA[] =
    "local np = tonumber(ARGV[1])\n"
    "local a = 2\n"
    "for i = 1, np do\n"
    "  local f = tonumber(redis.call('HGET', KEYS[1], ARGV[a]) or '-1')\n"
    "  if f >= tonumber(ARGV[a + 1]) then return {0, ARGV[a], tostring(f)} end\n"
    "  a = a + 3\n"
    "end\n"
    "local function chunked(cmd, key, list)\n"
    "  for i = 1, #list, 512 do\n"
    "    redis.call(cmd, key, unpack(list, i, math.min(i + 511, #list)))\n"
    "  end\n"
    "end\n"
    "local have, fresh, mttl = {}, {}, {}\n"
    "for i = 1, tonumber(ARGV[a]) do\n"
    "  local mi, cnt, h = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), {}\n"
    "  for s = a + 3, a + 2 + cnt, 512 do\n"
    "    local r = redis.call('HMGET', KEYS[mi], unpack(ARGV, s, math.min(s + 511, a + 2 + cnt)))\n"
    "    for x = 1, #r do if r[x] then h[ARGV[s + x - 1]] = true end end\n"
    "  end\n"
    "  have[mi], fresh[mi], mttl[mi] = h, {}, 0\n"
    "  a = a + 2 + cnt\n"
    "end\n"
    "a = a + 1\n"
    "local maxttl = 0\n"
    "for k = 2, #KEYS do\n"
    "  local n, ttl = tonumber(ARGV[a]), tonumber(ARGV[a + 1])\n"
    "  a = a + 2\n"
    "  if n > 0 then\n"
    "    local need, seen, a0 = {}, {}, a\n"
    "    for j = 1, n do\n"
    "      local op, f = ARGV[a], ARGV[a + 1]\n"
    "      if op ~= 's' and op ~= 't' and op ~= 'z' and op ~= 'r' and op ~= 'h' and not seen[f] "
    "then\n"
    "        seen[f] = true\n"
    "        need[#need + 1] = f\n"
    "      end\n"
    "      if op == 'g' and not seen[ARGV[a + 3]] then\n"
    "        seen[ARGV[a + 3]] = true\n"
    "        need[#need + 1] = ARGV[a + 3]\n"
    "      end\n"
    "      a = a + ((op == 'o' or op == 'g') and 5 or 3)\n"
    "    end\n"
    "    local cur, dirty, zadd, zrem = {}, {}, {}, {}\n"
    "    for i = 1, #need, 512 do\n"
    "      local r = redis.call('HMGET', KEYS[k], unpack(need, i, math.min(i + 511, #need)))\n"
    "      for x = 1, #r do cur[need[i + x - 1]] = r[x] end\n"
    "    end\n"
    "    a = a0\n"
    "    for j = 1, n do\n"
    "      local op, f, v = ARGV[a], ARGV[a + 1], ARGV[a + 2]\n"
    "      local c = cur[f]\n"
    "      if op == 'i' then\n"
    "        cur[f] = tostring((tonumber(c) or 0) + tonumber(v))\n"
    "        dirty[f] = true\n"
    "      elseif op == 's' or op == 't' then\n"
    "        cur[f] = v\n"
    "        dirty[f] = true\n"
    "      elseif op == 'n' or op == 'x' then\n"
    "        if not c or (op == 'n' and tonumber(c) > tonumber(v)) or\n"
    "           (op == 'x' and tonumber(c) < tonumber(v)) then\n"
    "          cur[f] = v\n"
    "          dirty[f] = true\n"
    "        end\n"
    "      elseif op == 'g' then\n"
    "        local gf, gap, cn = ARGV[a + 3], tonumber(ARGV[a + 4]), tonumber(c)\n"
    "        if not cn or cn < tonumber(v) then\n"
    "          if cn and tonumber(v) - cn >= gap and not cur[gf] then\n"
    "            cur[gf] = tostring(cn + gap)\n"
    "            dirty[gf] = true\n"
    "          end\n"
    "          cur[f] = v\n"
    "          dirty[f] = true\n"
    "        end\n"
    "      elseif op == 'o' then\n"
    "        local mi, m = tonumber(ARGV[a + 3]), ARGV[a + 4]\n"
    "        if not have[mi][m] then\n"
    "          have[mi][m] = true\n"
    "          local fr = fresh[mi]\n"
    "          fr[#fr + 1] = m\n"
    "          fr[#fr + 1] = 1\n"
    "          if ttl > mttl[mi] then mttl[mi] = ttl end\n"
    "          cur[f] = tostring((tonumber(c) or 0) + tonumber(v))\n"
    "          dirty[f] = true\n"
    "        end\n"
    "      elseif op == 'z' then\n"
    "        zadd[#zadd + 1] = v\n"
    "        zadd[#zadd + 1] = f\n"
    "      elseif op == 'r' then\n"
    "        zrem[#zrem + 1] = f\n"
    "      elseif op == 'h' then\n"
    "        cur[f] = false\n"
    "        dirty[f] = true\n"
    "      end\n"
    "      a = a + ((op == 'o' or op == 'g') and 5 or 3)\n"
    "    end\n"
    "    local hs, hd = {}, {}\n"
    "    for f in pairs(dirty) do\n"
    "      if cur[f] then\n"
    "        hs[#hs + 1] = f\n"
    "        hs[#hs + 1] = cur[f]\n"
    "      else\n"
    "        hd[#hd + 1] = f\n"
    "      end\n"
    "    end\n"
    "    if #hs > 0 then chunked('HSET', KEYS[k], hs) end\n"
    "    if #hd > 0 then chunked('HDEL', KEYS[k], hd) end\n"
    "    if #zadd > 0 then chunked('ZADD', KEYS[k], zadd) end\n"
    "    if #zrem > 0 then chunked('ZREM', KEYS[k], zrem) end\n"
    "  end\n"
    "  if ttl > 0 then redis.call('EXPIRE', KEYS[k], ttl) end\n"
    "  if ttl > maxttl then maxttl = ttl end\n"
    "end\n"
    "for mi, fr in pairs(fresh) do\n"
    "  if #fr > 0 then\n"
    "    chunked('HSET', KEYS[mi], fr)\n"
    "    if mttl[mi] > 0 and redis.call('TTL', KEYS[mi]) < mttl[mi] then\n"
    "      redis.call('EXPIRE', KEYS[mi], mttl[mi]) end\n"
    "  end\n"
    "end\n"
    "a = 2\n"
    "for i = 1, np do\n"
    "  redis.call('HSET', KEYS[1], ARGV[a], ARGV[a + 2])\n"
    "  a = a + 3\n"
    "end\n"
    "if np > 0 and maxttl > 0 and redis.call('TTL', KEYS[1]) < maxttl then\n"
    "  redis.call('EXPIRE', KEYS[1], maxttl) end\n"
    "return {1}\n";

typedef struct {
    uint32_t tag; /* index into tags */
    int32_t partition;
    int64_t offset;
    bw_op_t op;
    char *key, *field;
    int64_t value, ttl;
    char *text; /* SETSTR: the value; ONCE: the marker; MAXGAP: the gap field */
    char *marker_key; /* ONCE */
    int64_t gap; /* MAXGAP */
    uint32_t klen, flen, tlen, mlen; /* the strings' lengths: a flush names each change */
} change_t;

struct bw_win_s {
    bw_redis_t *redis;
    bw_redis_script_t script;
    char **tags;
    bool *tag_last; /* per tag: sent once every other tag is applied */
    size_t ntags, captags;
    bw_strmap_t tag_index; /* tag -> index, for this batch */
    change_t *changes;
    size_t nchanges, capchanges;
    bw_strmap_t fences; /* "tag\x1fpartition" -> last applied offset (-1: none) */
    bw_arena_t arena; /* the batch's strings */
    int64_t last_tag; /* index of the tag of the last change */
    int64_t skipped, scripts;
    bw_metric_t *m_skipped, *m_conflicts;
};

static const bw_metric_decl_t M_SKIPPED = {BW_METRIC_COUNTER, "window_changes_skipped_total",
                                           "Changes already applied (replays), not applied again",
                                           ""};
static const bw_metric_decl_t M_CONFLICTS = {
    BW_METRIC_COUNTER, "window_fence_conflicts_total",
    "Flushes refused because another writer moved a fence first", ""};

bw_win_t *bw_win_new(bw_redis_t *redis, bw_metrics_t *reg, char *errstr, size_t errstr_size) {
    bw_win_t *win = calloc(1, sizeof(*win));

    if (!win) {
        bw_errstr_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    win->redis = redis;
    win->script.src = FLUSH_LUA;
    if (bw_redis_script_add(redis, &win->script)) {
        bw_errstr_set(errstr, errstr_size, "cannot register the flush script");
        free(win);
        return NULL;
    }
    if (reg) {
        win->m_skipped = bw_metrics_get(reg, &M_SKIPPED, NULL);
        win->m_conflicts = bw_metrics_get(reg, &M_CONFLICTS, NULL);
    }
    return win;
}

void bw_win_discard(bw_win_t *win) {
    win->nchanges = 0;
    bw_arena_reset(&win->arena);
    for (size_t i = 0; i < win->ntags; i++)
        free(win->tags[i]);
    win->ntags = 0;
    bw_strmap_free(&win->tag_index);
}

void bw_win_destroy(bw_win_t *win) {
    if (!win)
        return;
    bw_win_discard(win);
    free(win->changes);
    free(win->tags);
    free(win->tag_last);
    bw_strmap_free(&win->fences);
    bw_arena_free(&win->arena);
    free(win);
}

/* @p s in the batch's arena, its length at *@p len. */
static char *arena_copy(bw_win_t *win, const char *s, uint32_t *len) {
    size_t n = strlen(s);

    *len = (uint32_t)n;
    return n < UINT32_MAX ? bw_arena_strndup(&win->arena, s, n) : NULL;
}

static change_t *add_change(bw_win_t *win, const char *tag, int32_t partition, int64_t offset,
                            bw_op_t op, const char *key, const char *field, int64_t value,
                            int64_t ttl_s) {
    int64_t *idx = win->ntags && !strcmp(win->tags[win->last_tag], tag)
                       ? &win->last_tag
                       : bw_strmap_get(&win->tag_index, tag, strlen(tag));
    change_t *c;

    if (!idx) {
        if (win->ntags == win->captags) {
            size_t ncap = win->captags ? win->captags * 2 : 64;
            char **n = realloc(win->tags, ncap * sizeof(*n));
            bool *l;
            if (!n)
                return NULL;
            win->tags = n;
            if (!(l = realloc(win->tag_last, ncap * sizeof(*l))))
                return NULL;
            win->tag_last = l;
            win->captags = ncap;
        }
        if (!(idx = bw_strmap_put(&win->tag_index, tag, strlen(tag), NULL)) ||
            !(win->tags[win->ntags] = strdup(tag)))
            return NULL;
        win->tag_last[win->ntags] = false;
        *idx = (int64_t)win->ntags++;
    }
    win->last_tag = *idx;
    if (win->nchanges == win->capchanges) {
        size_t ncap = win->capchanges ? win->capchanges * 2 : 256;
        change_t *n = realloc(win->changes, ncap * sizeof(*n));
        if (!n)
            return NULL;
        win->changes = n;
        win->capchanges = ncap;
    }
    c = &win->changes[win->nchanges];
    /* consecutive changes mostly share a key (an order's fields) */
    const change_t *prev = win->nchanges ? &win->changes[win->nchanges - 1] : NULL;
    uint32_t klen, flen;
    char *k = prev && !strcmp(prev->key, key) ? (klen = prev->klen, prev->key)
                                              : arena_copy(win, key, &klen);
    char *f = arena_copy(win, field, &flen);
    *c = (change_t){.tag = (uint32_t)win->last_tag,
                    .partition = partition,
                    .offset = offset,
                    .op = op,
                    .key = k,
                    .field = f,
                    .value = value,
                    .ttl = ttl_s,
                    .klen = klen,
                    .flen = flen};
    if (!c->key || !c->field)
        return NULL;
    win->nchanges++;
    return c;
}

bw_err_t bw_win_add(bw_win_t *win, const char *tag, int32_t partition, int64_t offset, bw_op_t op,
                    const char *key, const char *field, int64_t value, int64_t ttl_s) {
    if (op == BW_OP_SETSTR || op == BW_OP_ONCE || op == BW_OP_MAXGAP)
        return BW_ERR_INVALID_ARG;
    return add_change(win, tag, partition, offset, op, key, field, value, ttl_s) ? BW_ERR_OK
                                                                                 : BW_ERR_NOMEM;
}

bw_err_t bw_win_add_str(bw_win_t *win, const char *tag, int32_t partition, int64_t offset,
                        const char *key, const char *field, const char *text, int64_t ttl_s) {
    change_t *c = add_change(win, tag, partition, offset, BW_OP_SETSTR, key, field, 0, ttl_s);

    if (!c || !(c->text = arena_copy(win, text, &c->tlen)))
        return BW_ERR_NOMEM;
    return BW_ERR_OK;
}

bw_err_t bw_win_add_once(bw_win_t *win, const char *tag, int32_t partition, int64_t offset,
                         const char *key, const char *field, int64_t value, const char *marker_key,
                         const char *marker, int64_t ttl_s) {
    change_t *c = add_change(win, tag, partition, offset, BW_OP_ONCE, key, field, value, ttl_s);

    if (!c || !(c->text = arena_copy(win, marker, &c->tlen)) ||
        !(c->marker_key = arena_copy(win, marker_key, &c->mlen)))
        return BW_ERR_NOMEM;
    return BW_ERR_OK;
}

bw_err_t bw_win_add_maxgap(bw_win_t *win, const char *tag, int32_t partition, int64_t offset,
                           const char *key, const char *field, int64_t value, int64_t gap,
                           const char *gap_field, int64_t ttl_s) {
    change_t *c = add_change(win, tag, partition, offset, BW_OP_MAXGAP, key, field, value, ttl_s);

    if (!c || !(c->text = arena_copy(win, gap_field, &c->tlen)))
        return BW_ERR_NOMEM;
    c->gap = gap;
    return BW_ERR_OK;
}

static bool fence_name(bw_buf_t *b, const char *tag, int32_t partition) {
    bw_buf_reset(b);
    return bw_buf_append(b, tag, strlen(tag)) && bw_buf_append(b, "\x1f", 1) &&
           bw_buf_append_i64(b, partition);
}

/* Load the fences this batch needs and has not cached, in one pipeline;
 * the cache only learns them when the whole pipeline answered. */
static bw_err_t load_fences(bw_win_t *win, char *errstr, size_t errstr_size) {
    bw_strmap_t asked = {0};
    bw_redis_pipe_t pipe = {0};
    bw_buf_t name = {0}, key = {0};
    size_t nq = 0, *which = calloc(win->nchanges + 1, sizeof(size_t));
    redisReply **replies = NULL;
    bw_err_t err = BW_ERR_OK;
    char part[16];

    if (!which)
        return BW_ERR_NOMEM;
    for (size_t i = 0; i < win->nchanges; i++) {
        change_t *c = &win->changes[i];
        if (c->partition == BW_WIN_UNFENCED)
            continue;
        /* an event's changes come together: same tag, same partition */
        if (i > 0 && c->tag == win->changes[i - 1].tag &&
            c->partition == win->changes[i - 1].partition)
            continue;
        if (!fence_name(&name, win->tags[c->tag], c->partition))
            goto nomem;
        bool fresh = false;
        if (bw_strmap_get(&win->fences, name.data, name.len))
            continue;
        if (!bw_strmap_put(&asked, name.data, name.len, &fresh))
            goto nomem;
        if (!fresh)
            continue;
        bw_buf_reset(&key);
        if (!bw_win_key(&key, win->tags[c->tag], "fence"))
            goto nomem;
        snprintf(part, sizeof(part), "%d", (int)c->partition);
        {
            const char *argv[] = {"HGET", key.data, part};
            if (bw_redis_pipe_add(&pipe, 3, argv, NULL))
                goto nomem;
        }
        which[nq++] = i;
    }
    if (nq) {
        if ((err = bw_redis_pipe_run(win->redis, &pipe, &replies, errstr, errstr_size)))
            goto out;
        for (size_t q = 0; q < nq; q++) {
            change_t *c = &win->changes[which[q]];
            int64_t v = -1, *f;
            if (replies[q]->type == REDIS_REPLY_STRING && !bw_parse_i64(replies[q]->str, &v))
                v = -1;
            if (!fence_name(&name, win->tags[c->tag], c->partition) ||
                !(f = bw_strmap_put(&win->fences, name.data, name.len, NULL)))
                goto nomem;
            *f = v;
        }
    }
    goto out;
nomem:
    err = BW_ERR_NOMEM;
out:
    bw_redis_replies_free(replies, nq);
    free(which);
    bw_strmap_free(&asked);
    bw_redis_pipe_free(&pipe);
    bw_buf_free(&name);
    bw_buf_free(&key);
    return err;
}

static int64_t fence_of(bw_win_t *win, bw_buf_t *name, uint32_t tag, int32_t partition) {
    int64_t *f;

    fence_name(name, win->tags[tag], partition);
    f = bw_strmap_get(&win->fences, name->data, name->len);
    return f ? *f : -1;
}

/* A script's arguments, built in one buffer (offsets and lengths: the
 * buffer moves as it grows). */
typedef struct {
    bw_buf_t buf;
    size_t *off, *len;
    size_t n, cap;
} args_t;

static bool args_grow(args_t *a) {
    size_t ncap, *no, *nl;

    if (a->n < a->cap)
        return true;
    ncap = a->cap ? a->cap * 2 : 64;
    if (!(no = realloc(a->off, ncap * sizeof(*no))))
        return false;
    a->off = no;
    if (!(nl = realloc(a->len, ncap * sizeof(*nl))))
        return false;
    a->len = nl;
    a->cap = ncap;
    return true;
}

static bool args_str(args_t *a, const char *s, size_t len) {
    size_t at = a->buf.len;

    if (!args_grow(a) || !bw_buf_append(&a->buf, s, len))
        return false;
    a->off[a->n] = at;
    a->len[a->n++] = len;
    return true;
}

static bool args_i64(args_t *a, int64_t v) {
    size_t at = a->buf.len;

    if (!args_grow(a) || !bw_buf_append_i64(&a->buf, v))
        return false;
    a->off[a->n] = at;
    a->len[a->n++] = a->buf.len - at;
    return true;
}

/* Pointers into the buffer, for the pipeline; NULL on out of memory. */
static const char **args_argv(const args_t *a) {
    const char **v = malloc((a->n + 1) * sizeof(*v));
    for (size_t i = 0; v && i < a->n; i++)
        v[i] = a->buf.data + a->off[i];
    return v;
}

static void args_free(args_t *a) {
    bw_buf_free(&a->buf);
    free(a->off);
    free(a->len);
    memset(a, 0, sizeof(*a));
}

typedef struct {
    const change_t *c; /* the first change of the slot: its strings */
    bw_op_t op;
    int64_t value, ttl;
    const char *text; /* the last write's, for SETSTR */
    uint32_t tlen;
} agg_t;

typedef struct {
    int32_t p;
    int64_t lo, hi;
} part_range_t;

static int op_class(bw_op_t op) {
    switch (op) {
    case BW_OP_INCR:
        return 0;
    case BW_OP_ZADD:
    case BW_OP_ZREM:
        return 2;
    case BW_OP_HDEL:
        return 1; /* with SET: the last of a batch wins */
    case BW_OP_ONCE:
        return 3;
    case BW_OP_MAXGAP:
        return 4;
    default:
        return 1;
    }
}

static char op_code(bw_op_t op) {
    static const char codes[] = {'i', 's', 'n', 'x', 'z', 'r', 't', 'o', 'g', 'h'};
    return codes[op];
}

/* Counting sort of the changes (those of op @p only, or all when it is
 * negative) by keyof[g], keeping their order: key k's count[k] changes are
 * order[first[k]] onwards. @p count and @p first: nk + 1 slots, @p order:
 * nagg. */
static void group_by(const agg_t *agg, size_t nagg, const int *keyof, int only, size_t nk,
                     size_t *count, size_t *first, size_t *order) {
    memset(count, 0, (nk + 1) * sizeof(size_t));
    memset(first, 0, (nk + 1) * sizeof(size_t));
    for (size_t g = 0; g < nagg; g++)
        if (only < 0 || agg[g].op == (bw_op_t)only)
            count[keyof[g]]++;
    for (size_t k = 1; k <= nk; k++)
        first[k] = first[k - 1] + count[k - 1];
    for (size_t g = 0; g < nagg; g++)
        if (only < 0 || agg[g].op == (bw_op_t)only)
            order[first[keyof[g]]++] = g;
    for (size_t k = 0; k < nk; k++)
        first[k] -= count[k]; /* back to where each run starts */
}

/* The script's markers section: per marker key, its number in KEYS, how
 * many markers, and the markers (@p count, @p first, @p order: scratch for
 * group_by). */
static bool args_markers(args_t *a, const agg_t *agg, size_t nagg, const int *mark_key, size_t nk,
                         size_t *count, size_t *first, size_t *order) {
    size_t nmk = 0;

    group_by(agg, nagg, mark_key, BW_OP_ONCE, nk, count, first, order);
    for (size_t k = 0; k < nk; k++)
        nmk += count[k] > 0;
    if (!args_i64(a, (int64_t)nmk))
        return false;
    for (size_t k = 0; k < nk; k++) {
        if (!count[k])
            continue;
        if (!args_i64(a, (int64_t)k + 2) || !args_i64(a, (int64_t)count[k]))
            return false;
        for (size_t i = first[k]; i < first[k] + count[k]; i++)
            if (!args_str(a, agg[order[i]].text, agg[order[i]].tlen))
                return false;
    }
    return true;
}

/* The script call of one tag: the changes above the fences, summed.
 * Returns false on out of memory; *empty when nothing is left to send. */
static bool build_tag(bw_win_t *win, uint32_t tag, const size_t *idx, size_t nidx, args_t *a,
                      int *nkeys, bool *empty) {
    bw_strmap_t slots = {0};
    agg_t *agg = calloc(nidx + 1, sizeof(*agg));

    if (!bw_strmap_reserve(&slots, nidx + 1)) {
        free(agg);
        return false;
    }
    part_range_t parts[64];
    struct {
        int32_t p;
        int64_t fence;
    } fc[64]; /* the tag's fences, looked up once per partition */
    int nparts = 0, nfc = 0;
    size_t nagg = 0;
    bw_buf_t name = {0}, full = {0};
    bool ok = false;

    *empty = true;
    if (!agg)
        return false;
    for (size_t k = 0; k < nidx; k++) {
        change_t *c = &win->changes[idx[k]];
        int64_t *slot;
        int pi, fi;
        if (c->partition == BW_WIN_UNFENCED)
            goto unfenced;
        for (fi = 0; fi < nfc && fc[fi].p != c->partition; fi++)
            ;
        if (fi == nfc) {
            if (nfc == (int)BW_ARRAY_SIZE(fc))
                goto out; /* a tag written from 64 partitions in one batch: unsupported */
            fc[nfc].p = c->partition;
            fc[nfc++].fence = fence_of(win, &name, tag, c->partition);
        }
        if (c->offset <= fc[fi].fence) {
            win->skipped++;
            bw_metric_inc(win->m_skipped);
            continue;
        }
        for (pi = 0; pi < nparts && parts[pi].p != c->partition; pi++)
            ;
        if (pi == nparts) {
            if (nparts == (int)BW_ARRAY_SIZE(parts))
                goto out; /* a tag written from 64 partitions in one batch: unsupported */
            parts[nparts++] = (part_range_t){c->partition, c->offset, c->offset};
        }
        if (c->offset < parts[pi].lo)
            parts[pi].lo = c->offset;
        if (c->offset > parts[pi].hi)
            parts[pi].hi = c->offset;
    unfenced:
        bw_buf_reset(&name);
        /* a once-marker is its own slot (the first of a batch wins); a
         * max-gap is never merged: each jump matters */
        {
            char cls = (char)('0' + op_class(c->op));
            if (!bw_buf_append(&name, c->key, c->klen) || !bw_buf_append(&name, "\x1f", 1) ||
                !bw_buf_append(&name, c->field, c->flen) || !bw_buf_append(&name, &cls, 1) ||
                (c->op == BW_OP_ONCE && !bw_buf_append(&name, c->text, c->tlen)) ||
                (c->op == BW_OP_MAXGAP && !bw_buf_append_i64(&name, (int64_t)k)))
                goto out;
        }
        bool fresh = false;
        if (!(slot = bw_strmap_put(&slots, name.data, name.len, &fresh)))
            goto out;
        if (fresh) {
            *slot = (int64_t)nagg;
            agg[nagg++] = (agg_t){c, c->op, c->value, c->ttl, c->text, c->tlen};
        } else if (c->op != BW_OP_ONCE && c->op != BW_OP_MAXGAP) {
            agg_t *g = &agg[*slot];
            if (c->op == BW_OP_INCR)
                g->value += c->value;
            else if (c->op == BW_OP_MIN)
                g->value = c->value < g->value ? c->value : g->value;
            else if (c->op == BW_OP_MAX)
                g->value = c->value > g->value ? c->value : g->value;
            else {
                g->op = c->op; /* last write wins */
                g->value = c->value;
                g->text = c->text;
                g->tlen = c->tlen;
            }
            if (c->ttl > g->ttl)
                g->ttl = c->ttl;
        }
    }
    if (nagg == 0) {
        ok = true;
        goto out;
    }
    *empty = false;
    /* KEYS: the fence, then each key once (changed keys, then marker keys
     * as first seen); ARGV: per key its ops. Keys are numbered once through
     * a map, so a tag with thousands of changes costs linear time. */
    {
        bw_strmap_t kidx = {0};
        size_t nk = 0, *count = NULL, *first = NULL, *order = NULL;
        int *agg_key = calloc(nagg, sizeof(int)), *mark_key = calloc(nagg, sizeof(int));
        bool built = false;

        if (!agg_key || !mark_key)
            goto keys_out;
        for (size_t g = 0; g < nagg; g++) {
            const change_t *c = agg[g].c;
            const char *names[2] = {c->key, agg[g].op == BW_OP_ONCE ? c->marker_key : NULL};
            const uint32_t lens[2] = {c->klen, c->mlen};
            for (int w = 0; w < 2 && names[w]; w++) {
                bool fresh = false;
                int64_t *slot = bw_strmap_put(&kidx, names[w], lens[w], &fresh);
                if (!slot)
                    goto keys_out;
                if (fresh)
                    *slot = (int64_t)nk++;
                (w ? mark_key : agg_key)[g] = (int)*slot;
            }
        }
        /* KEYS[1] fence, KEYS[2 + i] = key number i */
        bw_buf_reset(&full);
        if (!bw_win_key(&full, win->tags[tag], "fence") || !args_str(a, full.data, full.len))
            goto keys_out;
        {
            const char **byidx = calloc(nk + 1, sizeof(char *));
            if (!byidx)
                goto keys_out;
            for (size_t g = 0; g < nagg; g++) {
                byidx[agg_key[g]] = agg[g].c->key;
                if (agg[g].op == BW_OP_ONCE)
                    byidx[mark_key[g]] = agg[g].c->marker_key;
            }
            for (size_t k = 0; k < nk; k++) {
                bw_buf_reset(&full);
                if (!bw_win_key(&full, win->tags[tag], byidx[k]) ||
                    !args_str(a, full.data, full.len)) {
                    free(byidx);
                    goto keys_out;
                }
            }
            free(byidx);
        }
        *nkeys = (int)nk + 1;
        if (!args_i64(a, nparts))
            goto keys_out;
        for (int pi = 0; pi < nparts; pi++)
            if (!args_i64(a, parts[pi].p) || !args_i64(a, parts[pi].lo) ||
                !args_i64(a, parts[pi].hi))
                goto keys_out;
        count = calloc(nk + 1, sizeof(size_t));
        first = calloc(nk + 1, sizeof(size_t));
        order = calloc(nagg + 1, sizeof(size_t));
        if (!count || !first || !order ||
            !args_markers(a, agg, nagg, mark_key, nk, count, first, order))
            goto keys_out;
        /* ops grouped by key number, in their order */
        group_by(agg, nagg, agg_key, -1, nk, count, first, order);
        for (size_t k = 0; k < nk; k++) {
            int64_t ttl = 0;
            for (size_t i = first[k]; i < first[k] + count[k]; i++)
                ttl = agg[order[i]].ttl > ttl ? agg[order[i]].ttl : ttl;
            if (!args_i64(a, (int64_t)count[k]) || !args_i64(a, ttl))
                goto keys_out;
            for (size_t i = first[k]; i < first[k] + count[k]; i++) {
                const agg_t *h = &agg[order[i]];
                char code = op_code(h->op);
                if (!args_str(a, &code, 1) || !args_str(a, h->c->field, h->c->flen))
                    goto keys_out;
                if (h->op == BW_OP_SETSTR ? !args_str(a, h->text, h->tlen) : !args_i64(a, h->value))
                    goto keys_out;
                if (h->op == BW_OP_ONCE &&
                    (!args_i64(a, mark_key[order[i]] + 2) || !args_str(a, h->text, h->tlen)))
                    goto keys_out;
                if (h->op == BW_OP_MAXGAP &&
                    (!args_str(a, h->text, h->tlen) || !args_i64(a, h->c->gap)))
                    goto keys_out;
            }
        }
        built = true;
    keys_out:
        bw_strmap_free(&kidx);
        free(agg_key);
        free(mark_key);
        free(count);
        free(first);
        free(order);
        if (!built)
            goto out;
    }
    ok = true;
out:
    bw_strmap_free(&slots);
    free(agg);
    bw_buf_free(&name);
    bw_buf_free(&full);
    return ok;
}

/* A tag applied: each partition's cached fence is now the highest offset
 * sent (build_tag refuses a tag written from more than 64 partitions). */
static void fences_advance(bw_win_t *win, bw_buf_t *name, uint32_t tag, const size_t *idx,
                           size_t n) {
    struct {
        int32_t p;
        int64_t hi;
    } top[64];
    int ntop = 0;

    for (size_t i = 0; i < n; i++) {
        const change_t *c = &win->changes[idx[i]];
        int j;
        if (c->partition == BW_WIN_UNFENCED)
            continue;
        for (j = 0; j < ntop && top[j].p != c->partition; j++)
            ;
        if (j == ntop) {
            if (ntop == (int)BW_ARRAY_SIZE(top))
                continue;
            top[ntop++].p = c->partition;
            top[j].hi = c->offset;
        } else if (c->offset > top[j].hi) {
            top[j].hi = c->offset;
        }
    }
    for (int j = 0; j < ntop; j++) {
        int64_t *f;
        if (fence_name(name, win->tags[tag], top[j].p) &&
            (f = bw_strmap_put(&win->fences, name->data, name->len, NULL)) && top[j].hi > *f)
            *f = top[j].hi;
    }
}

bw_err_t bw_win_flush(bw_win_t *win, char *errstr, size_t errstr_size) {
    size_t *order = NULL, *start = NULL;
    bool *todo = NULL;
    bw_buf_t name = {0};
    bw_err_t err;

    if (win->nchanges == 0)
        return BW_ERR_OK;
    if ((err = load_fences(win, errstr, errstr_size)))
        return err;
    /* changes grouped by tag (counting sort keeps their order) */
    order = calloc(win->nchanges, sizeof(*order));
    start = calloc(win->ntags + 1, sizeof(*start));
    todo = calloc(win->ntags, sizeof(*todo));
    if (!order || !start || !todo) {
        err = BW_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < win->nchanges; i++)
        start[win->changes[i].tag + 1]++;
    for (size_t t = 1; t <= win->ntags; t++)
        start[t] += start[t - 1];
    {
        size_t *fill = calloc(win->ntags + 1, sizeof(*fill));
        if (!fill) {
            err = BW_ERR_NOMEM;
            goto out;
        }
        memcpy(fill, start, (win->ntags + 1) * sizeof(*fill));
        for (size_t i = 0; i < win->nchanges; i++)
            order[fill[win->changes[i].tag]++] = i;
        free(fill);
    }
    for (size_t t = 0; t < win->ntags; t++)
        todo[t] = true;
    /* Two phases: the tags marked last (a partition's persisted watermark)
     * go only once every other tag is applied, so that a crash in between
     * never leaves a watermark ahead of the state it stands for (timers
     * fired by it would read an index missing the crashed batch's scans). */
    for (int attempt = 0; attempt < 8; attempt++) {
        bw_redis_pipe_t pipe = {0};
        redisReply **replies = NULL;
        uint32_t *sent = calloc(win->ntags + 1, sizeof(*sent));
        size_t nsent = 0;
        bool again = false, hold = false;

        if (!sent) {
            err = BW_ERR_NOMEM;
            goto out;
        }
        for (size_t t = 0; t < win->ntags; t++)
            hold |= todo[t] && !win->tag_last[t];
        for (size_t t = 0; t < win->ntags; t++) {
            args_t a = {0};
            const char **argv = NULL;
            int nkeys = 0;
            bool empty;
            if (!todo[t] || (hold && win->tag_last[t]))
                continue;
            if (!build_tag(win, (uint32_t)t, order + start[t], start[t + 1] - start[t], &a, &nkeys,
                           &empty) ||
                (!empty &&
                 (!(argv = args_argv(&a)) ||
                  bw_redis_pipe_evalsha(&pipe, &win->script, nkeys, (int)a.n, argv, a.len)))) {
                free(argv);
                args_free(&a);
                free(sent);
                bw_redis_pipe_free(&pipe);
                err = BW_ERR_NOMEM;
                goto out;
            }
            free(argv);
            args_free(&a);
            todo[t] = false;
            if (!empty)
                sent[nsent++] = (uint32_t)t;
        }
        err = bw_redis_pipe_run(win->redis, &pipe, &replies, errstr, errstr_size);
        bw_redis_pipe_free(&pipe);
        win->scripts += (int64_t)nsent;
        for (size_t k = 0; !err && k < nsent; k++) {
            redisReply *r = replies[k];
            uint32_t t = sent[k];
            if (r->type == REDIS_REPLY_ERROR) {
                /* NOSCRIPT after a restart without persistence: load it and
                 * send this tag again; anything else is a bug to report */
                if (!strncmp(r->str, "NOSCRIPT", 8)) {
                    redisReply *lr;
                    if (!bw_redis_evalsha(win->redis, &win->script, 1, 1,
                                          (const char *[]){"bw:{_}:noscript-probe"}, NULL, &lr,
                                          errstr, errstr_size))
                        freeReplyObject(lr);
                    todo[t] = again = true;
                    continue;
                }
                bw_errstr_set(errstr, errstr_size, "flush script: %.*s", (int)r->len, r->str);
                err = BW_ERR_REDIS;
                break;
            }
            if (r->type != REDIS_REPLY_ARRAY || r->elements < 1) {
                bw_errstr_set(errstr, errstr_size, "flush script: unexpected reply");
                err = BW_ERR_REDIS;
                break;
            }
            if (r->element[0]->integer == 1) {
                fences_advance(win, &name, t, order + start[t], start[t + 1] - start[t]);
            } else if (r->elements == 3) {
                /* refused: someone else applied up to this fence */
                int64_t fence = -1, part = 0, *f;
                bw_parse_i64(r->element[1]->str, &part);
                bw_parse_i64(r->element[2]->str, &fence);
                fence_name(&name, win->tags[t], (int32_t)part);
                if ((f = bw_strmap_put(&win->fences, name.data, name.len, NULL)))
                    *f = fence;
                bw_metric_inc(win->m_conflicts);
                todo[t] = again = true;
            }
        }
        bw_redis_replies_free(replies, nsent);
        free(sent);
        for (size_t t = 0; t < win->ntags; t++)
            again |= todo[t];
        if (err || !again)
            break;
        if (attempt == 7) {
            bw_errstr_set(errstr, errstr_size, "fences kept moving under this flush");
            err = BW_ERR_TIMEOUT;
        }
    }
    if (!err)
        bw_win_discard(win);
out:
    free(order);
    free(start);
    free(todo);
    bw_buf_free(&name);
    return err;
}

void bw_win_forget_partition(bw_win_t *win, int32_t partition) {
    char suffix[24];
    size_t slen;

    /* rebuild the cache without this partition's fences */
    bw_strmap_t keep = {0};
    snprintf(suffix, sizeof(suffix), "\x1f%d", (int)partition);
    slen = strlen(suffix);
    for (size_t i = 0; i < win->fences.cap; i++) {
        const char *k = win->fences.keys[i];
        size_t klen;
        int64_t *f;
        if (!k)
            continue;
        klen = strlen(k);
        if (klen >= slen && !strcmp(k + klen - slen, suffix))
            continue;
        if ((f = bw_strmap_put(&keep, k, klen, NULL)))
            *f = win->fences.vals[i];
    }
    bw_strmap_free(&win->fences);
    win->fences = keep;
}

int64_t bw_win_skipped(const bw_win_t *win) {
    return win->skipped;
}

int64_t bw_win_scripts(const bw_win_t *win) {
    return win->scripts;
}

/* ---- persisted watermarks ---- */

bw_err_t bw_wm_persist(const bw_wm_t *wm, bw_win_t *win, int32_t partition, int64_t offset,
                       int64_t ttl_s) {
    int64_t max_event = bw_wm_max_event(wm, partition);
    char tag[24];
    bw_err_t err;

    if (max_event == INT64_MIN)
        return BW_ERR_OK;
    snprintf(tag, sizeof(tag), "t=%d", (int)partition);
    if ((err = bw_win_add(win, tag, partition, offset, BW_OP_MAX, "wm", "max_event", max_event,
                          ttl_s)))
        return err;
    /* applied after the batch's state: restored, it must not run ahead of it */
    win->tag_last[win->last_tag] = true;
    return BW_ERR_OK;
}

/* A partition's watermark must come back before its first event is
 * judged: started from nothing, events that were late before the restart
 * would count as on time now, and the counts would differ from a run
 * that never stopped. So Redis away (or loading its AOF) is waited out
 * here, until it answers or the process is told to stop. */
void bw_wm_load(bw_wm_t *wm, bw_redis_t *redis, int32_t partition, int64_t now_ms) {
    redisReply *r = NULL;
    char key[48], errstr[256];
    int64_t max_event;
    unsigned wait_ms = 100;

    snprintf(key, sizeof(key), "bw:{t=%d}:wm", (int)partition);
    while (bw_redis_cmd(redis, &r, errstr, sizeof(errstr), "HGET %s max_event", key)) {
        if (bw_proc_stop) {
            bw_wm_assign(wm, partition, now_ms); /* exiting: nothing is judged */
            return;
        }
        bw_log_rl(BW_LOG_WARN, "partition %d: watermark not loaded yet (%s); retrying",
                  (int)partition, errstr);
        usleep(wait_ms * 1000);
        if (wait_ms < 2000)
            wait_ms *= 2;
    }
    if (r->type == REDIS_REPLY_STRING && bw_parse_i64(r->str, &max_event))
        bw_wm_restore(wm, partition, max_event, now_ms);
    else
        bw_wm_assign(wm, partition, now_ms);
    freeReplyObject(r);
}

/* ---- admitting events, a batch's partitions ---- */

bw_wm_verdict_t bw_wm_admit(bw_wm_t *wm, int32_t partition, int64_t event_ms, int64_t now_ms,
                            int64_t min_event_ms, char *reason, size_t reason_size) {
    char ts[BW_TS_BUFSZ];
    bw_wm_verdict_t v;

    if (event_ms < min_event_ms) {
        bw_ts_format(event_ms, ts);
        bw_errstr_set(reason, reason_size, "occurred_at: %s is implausibly early", ts);
        return BW_WM_FUTURE;
    }
    if ((v = bw_wm_observe(wm, partition, event_ms, now_ms)) == BW_WM_FUTURE) {
        bw_ts_format(event_ms, ts);
        bw_errstr_set(reason, reason_size,
                      "occurred_at: %s is further in the future than skew.ms allows", ts);
    }
    return v;
}

bool bw_batch_parts_init(bw_batch_parts_t *bp) {
    bp->n = 0;
    bp->pids = calloc(BW_WM_MAX_PARTITIONS, sizeof(*bp->pids));
    bp->last = malloc(BW_WM_MAX_PARTITIONS * sizeof(*bp->last));
    if (!bp->pids || !bp->last) {
        bw_batch_parts_free(bp);
        return false;
    }
    for (int p = 0; p < BW_WM_MAX_PARTITIONS; p++)
        bp->last[p] = -1;
    return true;
}

void bw_batch_parts_note(bw_batch_parts_t *bp, int32_t partition, int64_t offset) {
    if (!bp->last || partition < 0 || partition >= BW_WM_MAX_PARTITIONS)
        return;
    if (bp->last[partition] < 0)
        bp->pids[bp->n++] = partition;
    if (offset > bp->last[partition])
        bp->last[partition] = offset;
}

bw_err_t bw_batch_parts_persist(const bw_batch_parts_t *bp, const bw_wm_t *wm, bw_win_t *win,
                                int64_t ttl_s) {
    bw_err_t err = BW_ERR_OK;

    for (size_t i = 0; i < bp->n && !err; i++)
        err = bw_wm_persist(wm, win, bp->pids[i], bp->last[bp->pids[i]], ttl_s);
    return err;
}

void bw_batch_parts_reset(bw_batch_parts_t *bp) {
    for (size_t i = 0; bp->last && i < bp->n; i++)
        bp->last[bp->pids[i]] = -1;
    bp->n = 0;
}

void bw_batch_parts_free(bw_batch_parts_t *bp) {
    free(bp->pids);
    free(bp->last);
    bp->pids = NULL;
    bp->last = NULL;
    bp->n = 0;
}

bool bw_key_name_to(bw_buf_t *out, const char *prefix, const char *a, size_t alen, const char *b,
                    size_t blen) {
    return bw_buf_append(out, prefix, strlen(prefix)) && bw_key_escape(out, a, alen) &&
           (!b || (bw_buf_append(out, "|", 1) && bw_key_escape(out, b, blen)));
}

char *bw_key_name(const char *prefix, const char *a, size_t alen, const char *b, size_t blen) {
    bw_buf_t out = {0};

    if (!bw_key_name_to(&out, prefix, a, alen, b, blen)) {
        bw_buf_free(&out);
        return NULL;
    }
    return out.data ? out.data : strdup(prefix);
}

/* ---- due entries of several partitions, in event-time order ---- */

static int due_cmp(const void *pa, const void *pb) {
    const bw_due_t *a = pa, *b = pb;
    int c;

    if (a->score != b->score)
        return a->score < b->score ? -1 : 1;
    if ((c = strcmp(a->member, b->member)))
        return c;
    return (a->pid > b->pid) - (a->pid < b->pid);
}

/* The entries of @p n WITHSCORES replies, sorted (due_cmp). */
static bw_due_t *due_sorted(redisReply **replies, size_t n, const int32_t *pids, size_t *count) {
    size_t total = 0, k = 0;
    bw_due_t *due;

    for (size_t q = 0; q < n; q++)
        if (replies[q]->type == REDIS_REPLY_ARRAY)
            total += replies[q]->elements / 2;
    if (!(due = calloc(total ? total : 1, sizeof(*due))))
        return NULL;
    for (size_t q = 0; q < n; q++) {
        redisReply *r = replies[q];
        for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2) {
            int64_t score;
            if (r->element[i]->type != REDIS_REPLY_STRING ||
                r->element[i + 1]->type != REDIS_REPLY_STRING ||
                !bw_parse_i64(r->element[i + 1]->str, &score))
                continue;
            due[k++] = (bw_due_t){pids[q], r->element[i]->str, score};
        }
    }
    qsort(due, k, sizeof(*due), due_cmp);
    *count = k;
    return due;
}

bw_err_t bw_due_read(bw_redis_t *redis, const bw_wm_t *wm, int32_t pid_from, int32_t pid_to,
                     const char *set, int64_t max_score, int64_t limit, bw_due_list_t *out,
                     char *errstr, size_t errstr_size) {
    bw_redis_pipe_t pipe = {0};
    bw_buf_t key = {0};
    int32_t *pids = calloc(BW_WM_MAX_PARTITIONS, sizeof(*pids));
    char max[24], lim[24], tag[24];
    size_t np = 0;
    bw_err_t err = BW_ERR_OK;

    memset(out, 0, sizeof(*out));
    if (!pids)
        return BW_ERR_NOMEM;
    snprintf(max, sizeof(max), "%lld", (long long)max_score);
    snprintf(lim, sizeof(lim), "%lld", (long long)limit);
    for (int32_t pid = pid_from; pid < pid_to && pid < BW_WM_MAX_PARTITIONS; pid++) {
        if (bw_wm_partition(wm, pid) == INT64_MIN)
            continue;
        snprintf(tag, sizeof(tag), "t=%d", (int)pid);
        bw_buf_reset(&key);
        if (!bw_win_key(&key, tag, set)) {
            err = BW_ERR_NOMEM;
            goto out;
        }
        const char *argv[] = {"ZRANGEBYSCORE", key.data, "-inf", max,
                              "WITHSCORES",    "LIMIT",  "0",    lim};
        if (bw_redis_pipe_add(&pipe, 8, argv, NULL)) {
            err = BW_ERR_NOMEM;
            goto out;
        }
        pids[np++] = pid;
    }
    if (!np || (err = bw_redis_pipe_run(redis, &pipe, &out->replies, errstr, errstr_size)))
        goto out;
    out->nreplies = np;
    if (!(out->items = due_sorted(out->replies, np, pids, &out->n)))
        err = BW_ERR_NOMEM;
out:
    if (err)
        bw_due_free(out);
    bw_redis_pipe_free(&pipe);
    bw_buf_free(&key);
    free(pids);
    return err;
}

void bw_due_free(bw_due_list_t *list) {
    free(list->items);
    bw_redis_replies_free(list->replies, list->nreplies);
    memset(list, 0, sizeof(*list));
}
