#!/usr/bin/env bash
# Print every key of a Redis database with its value, sorted. Left out:
# TTLs (they depend on when a key was written) and the window engine's
# fences (which partition's offsets a tag records depends on which of an
# order's events, its order or its scan, completed the outcome first; the
# data they guard is compared), a window's evidence ids (ev0..ev4: which id
# a slot keeps is whichever came last) and the "fired" hashes of bw-logistics (which
# signals were sent, at which severity: a window judged while it fills is
# judged at batch boundaries, which differ between runs; the signals' ids do
# not, and bw-alert keeps one alert per id), and bw-logistics's pending
# parcel timers and bw-correlate's response clocks and days to close
# (bw:{t=...}:due|stall|track|resp|close: which deadlines are still pending at the end depends on how
# far each instance's watermark got, the least of its own partitions', so
# two instances settle some earlier than one; what settling counts is
# compared); and of bw-correlate's "which record counted this event id"
# hashes (bw:{s=...}:ev:DAY) only the ids: the records' offsets differ when
# a producer wrote duplicates (bw-classify replaying after a crash). Usage:
# redis_dump.sh PORT DB
exec redis-cli -p "$1" -n "$2" --raw EVAL "
local keys = redis.call('KEYS', '*')
table.sort(keys)
local out = {}
for _, k in ipairs(keys) do
 local timer = string.sub(k, 1, 5) == 'bw:{t' and (string.sub(k, -4) == ':due' or
   string.sub(k, -6) == ':stall' or string.sub(k, -6) == ':track' or string.sub(k, -5) == ':resp' or
   string.sub(k, -6) == ':close')
 if string.sub(k, -6) ~= ':fence' and string.sub(k, -6) ~= ':fired' and not timer then
  local t = redis.call('TYPE', k).ok
  local v = {}
  if t == 'hash' then
    local h = redis.call('HGETALL', k)
    local pairs_ = {}
    local ids = string.match(k, ':ev:%d+$')
    for i = 1, #h, 2 do
      if ids then pairs_[#pairs_ + 1] = h[i]
      elseif not string.match(h[i], '^ev%d$') then pairs_[#pairs_ + 1] = h[i] .. '=' .. h[i + 1] end
    end
    table.sort(pairs_)
    v = pairs_
  elseif t == 'zset' then
    v = redis.call('ZRANGE', k, 0, -1, 'WITHSCORES')
  elseif t == 'string' then
    v = {redis.call('GET', k)}
  else
    v = {t}
  end
  out[#out + 1] = k .. ' ' .. table.concat(v, ' ')
 end
end
return table.concat(out, '\n')
" 0
