-- The changelog (SPEC §9), prepended to every write script (after history_index.lua): the changes
-- a script call commits are appended to the group's stream motia_nb:history:<group> by that call,
-- as ONE entry (format 2) whose ID is <last seq>-0: the call's changes have the seqs
-- first + 1 .. first + m (from the global counter motia_nb:history:seq), so an entry with ID L
-- holds L - m + 1 .. L and never overlaps another. The last six KEYS are the group's item index
-- (history_index.lua), its two markers, the group's change count, that counter and that stream;
-- the last six ARGV: cause, trace id ('' none), pid, origin, max count ('-1': history off, '0':
-- no count limit) and max age in seconds ('0': none).
-- A format-2 entry's fields: v '2', m (its changes), at (server time, unix seconds, six decimals,
-- the call's), p (pid), origin, then either c (cause) and r (trace id, when there is one), shared
-- by the call's changes, or w (a set_many of several causes: JSON [cause, trace, cause, trace,
-- ...], one pair per change, trace '' none), and ks, os, ns: JSON arrays of the keys, the old
-- texts and the new texts (false: absent), as cjson writes strings (bytes >= 0x80 as they are,
-- so a text that is not UTF-8 round-trips: read it as latin-1). The event type follows from
-- the values (no old: created; no new: deleted; else updated). Entries written before format 2
-- hold one change each: t k at c p origin [r] [o] [n]; a call of one change (set, cas, delete)
-- still writes that shape (cheaper than a format-2 entry of one); readers take both.
-- The item index is filed after, by history_file.lua (readers and a background task,
-- :mod:`.history_index`); the forward marker motia_nb:history_index_upto:<group> says up to
-- which seq it holds the changes. A call of a few changes (HIST_SELF_MIN to HIST_SELF_MAX)
-- indexes them itself (their members ZADDed, the marker moved past them, in the same call)
-- when the index is caught up: no stream entry past the marker (one XREVRANGE, empty then), so
-- the read after a run of small calls has nothing to file. A bigger call, a lone change (set,
-- cas, delete: the cost would show in awaited writes), or one made while the index is behind
-- (such a call not filed yet), indexes nothing: the entry is a few C calls, the filer catches
-- up later, and the small calls after that index themselves again.
-- The marker motia_nb:history_index_from2:<group> holds the first seq from which the index holds
-- every change: 0 when it holds them all; set by the first write that finds it missing (0 when
-- the stream is empty, else that write's first seq: the older changes of a store written before
-- the index existed are indexed later, by history_index_fill.lua).
-- Retention drops whole entries (a call's changes are kept or dropped together), oldest first:
-- by count (motia_nb:history_count:<group>, the changes the stream holds) once the stream holds
-- a tenth of the count (at most 100) too many, as long as what stays holds the count; by age
-- (the entry's time). The script reads the entries it trims, so the members of those already
-- filed leave the index in the same call.
-- record(events[, who]): who[i] = {cause, trace id} of events[i] when a call commits writes
-- of several causes (set_many.lua); without it every event has the six ARGV's cause.
local hist_total = 0  -- the changes the stream holds after this call's
-- a call of HIST_SELF_MIN to HIST_SELF_MAX changes indexes them itself when the index is caught
-- up. Server time measured: a call of 4 ~20-30 us more (the filer spends ~19 us on it later),
-- one of 16 ~80 us more (the filer ~55), a lone set ~6-8 us more, which cost awaited sets ~0.1
-- of their speed with history on (rg.py: 0.83x vs 0.93x), so a lone set, cas or delete leaves
-- its change to the filer (HIST_SELF_MIN 1 would index it: hist_add_one does when hist_self);
-- the bench's read layout writes calls of ~4, a gather's are ~1,000
local HIST_SELF_MIN, HIST_SELF_MAX = 2, 16
local hist_self = false  -- this call indexes its own changes (decided by hist_start)
local hist_lost = nil  -- the seq before this call's when it found the stream deleted by hand (hist_start)
local function hist_field(fields, name)
  for i = 1, #fields, 2 do if fields[i] == name then return fields[i + 1] end end
  return nil
end
local function hist_drop(gone, keep)
  -- trimmed entries: the filed members leave the index, the count goes down, the stream keeps
  -- the IDs from `keep` (at most 256 entries or ~4096 changes per call)
  local upto = tonumber(redis.call('GET', KEYS[#KEYS - 3]) or '0')
  local n = hix_drop(KEYS[#KEYS - 5], gone, upto)
  redis.call('XTRIM', KEYS[#KEYS], 'MINID', keep)
  hist_total = redis.call('DECRBY', KEYS[#KEYS - 2], n)
end
local function hist_oldest(take)
  -- the oldest entries `take(entry, its changes)` agrees to drop (it says false at the first
  -- to keep), at most 256 entries or ~4096 changes; returns them and the first ID kept
  local gone, changes, start, count = {}, 0, '-', 2  -- (pages grow: an entry may hold a thousand changes)
  while true do
    local page = redis.call('XRANGE', KEYS[#KEYS], start, '+', 'COUNT', count)
    for _, e in ipairs(page) do
      local m = hix_size(hix_fields(e))
      if not take(e, m, changes) then return gone, e[1] end
      gone[#gone + 1] = e
      changes = changes + m
      if #gone >= 256 or changes >= 4096 then return gone, nil end
    end
    if #page < count then return gone, nil end
    start, count = '(' .. page[#page][1], math.min(2 * count, 64)
  end
end
local function hist_trim(take)
  local gone, keep = hist_oldest(take)
  if #gone == 0 then return end
  if not keep then keep = string.format('%d', hix_id_seq(gone[#gone]) + 1) .. '-0' end
  hist_drop(gone, keep)
end
local function hist_trim_age(stream, cutoff)
  -- cheap unless the oldest entry is too old
  local first = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)
  if #first == 0 or tonumber(hist_field(first[1][2], 'at')) >= cutoff then return end
  hist_trim(function(e) return tonumber(hist_field(e[2], 'at')) < cutoff end)
end
local function hist_trim_count(maxlen)
  -- once a tenth of `maxlen` (at most 100) too many: whole entries, while what stays holds `maxlen`
  local over = hist_total - maxlen
  if over <= 0 or over <= math.min(100, math.floor(maxlen / 10)) then return end
  hist_trim(function(_, m, changes) return changes + m <= over end)
end
local function hist_on()
  return tonumber(ARGV[#ARGV - 1]) >= 0
end
-- wrong_type(checks): a key of motia_nb's holding another kind of value (another tool wrote it),
-- found before a write script writes anything (Redis has no rollback: a WRONGTYPE half-way
-- left the call half-written), as an error reply naming the key and what it holds (the
-- Python side reads "motia_nb wrong type: " as nothing written), else nil. `checks`: key,
-- kind pairs, kind 'zset', 'stream', 'hash' or 'int' (a counter: a string holding an integer).
-- One O(1) read a key through redis.pcall (a wrong type is a reply to look at, not the end of
-- the script), ~0.3 us each; TYPE is asked on the error path only.
local WT_READ = {zset = 'ZCARD', stream = 'XLEN', hash = 'HLEN', int = 'GET'}
local WT_SAID = {zset = 'a sorted set', stream = 'a stream', hash = 'a hash', int = 'an integer',
  string = 'a string', list = 'a list', set = 'a set'}
local function wt(key, kind)
  -- wrong_type() of one key: its error reply, or false
  local r = redis.pcall(WT_READ[kind], key)
  local holds = nil
  if type(r) == 'table' and r.err then
    local t = redis.call('TYPE', key)['ok']
    holds = WT_SAID[t] or t
  elseif kind == 'int' and r and not tonumber(r) then
    holds = 'a string that is not an integer'
  else
    return false
  end
  return redis.error_reply('ERR motia_nb wrong type: ' .. key .. ' holds ' .. holds .. ', not ' .. WT_SAID[kind])
end
local function wrong_type(checks)
  for i = 1, #checks, 2 do
    local bad = wt(checks[i], checks[i + 1])
    if bad then return bad end
  end
  return nil
end
local function hist_unusable()
  -- an error reply when the changelog's keys hold something else (checked before a
  -- multi-write script writes anything), else nil
  return wrong_type({KEYS[#KEYS - 1], 'int', KEYS[#KEYS - 2], 'int', KEYS[#KEYS - 3], 'int', KEYS[#KEYS - 4], 'int',
    KEYS[#KEYS], 'stream', KEYS[#KEYS - 5], 'zset'})
end
local function unwritable(order, seq)
  -- wrong_type() of the keys a one-item write (set, cas, delete) changes after its first change
  -- (the hash's own type is checked by its first read): the order index (`order`: delete, whose
  -- ZREM follows HDEL), the order counter (`seq`: set and cas of a new item), the key index and
  -- key text, and with history on the history counter, the stream and the item index. The
  -- markers and the change count are read with MGET, which takes any type: one of another type
  -- is set again whole, as a missing one is.
  local n = #KEYS  -- (no table built: this runs before every one-item write)
  local bad = wt(KEYS[n - 9], 'zset') or wt(KEYS[n - 7], 'zset') or wt(KEYS[n - 6], 'hash')
    or (order and wt(KEYS[2], 'zset')) or (seq and wt(KEYS[3], 'int'))
  if not bad and hist_on() then bad = wt(KEYS[n - 1], 'int') or wt(KEYS[n], 'stream') or wt(KEYS[n - 5], 'zset') end
  return bad or nil
end
local function hist_start(count)
  -- the call's time text and the first seq minus one, or nil when history is off; the index's
  -- markers set when missing (the index dropped when the first is: nothing says what it held),
  -- and the group's change count (a stream written before it: one change per entry)
  if tonumber(ARGV[#ARGV - 1]) < 0 or count == 0 then return nil end
  local now = redis.call('TIME')
  local micro = string.format('%06d', tonumber(now[2]))
  local first = redis.call('INCRBY', KEYS[#KEYS - 1], count) - count
  local marks = redis.call('MGET', KEYS[#KEYS - 4], KEYS[#KEYS - 3], KEYS[#KEYS - 2])
  if marks[3] and marks[3] ~= '0' and redis.call('XLEN', KEYS[#KEYS]) == 0 then
    -- changes counted, none stored: the stream was deleted by hand (DEL, or XTRIM to nothing).
    -- Its count and item index describe changes that are gone: the group's history starts
    -- again, as a new group's does (a stale count made the trim by count drop the newest changes)
    redis.call('DEL', KEYS[#KEYS - 5])
    redis.call('SET', KEYS[#KEYS - 4], '0')
    redis.call('SET', KEYS[#KEYS - 3], string.format('%d', first))
    redis.call('SET', KEYS[#KEYS - 2], '0')
    marks = {'0', string.format('%d', first), '0'}
    hist_lost = first
  end
  if not marks[1] then
    redis.call('DEL', KEYS[#KEYS - 5])
    local from = 0
    if redis.call('XLEN', KEYS[#KEYS]) > 0 then from = first + 1 end
    redis.call('SET', KEYS[#KEYS - 4], string.format('%d', from))
    redis.call('SET', KEYS[#KEYS - 3], string.format('%d', first))
  elseif not marks[2] then  -- (the scripts before format 2 indexed each change as they committed it)
    redis.call('SET', KEYS[#KEYS - 3], string.format('%d', first))
  end
  if not marks[3] then redis.call('SET', KEYS[#KEYS - 2], redis.call('XLEN', KEYS[#KEYS])) end
  hist_total = redis.call('INCRBY', KEYS[#KEYS - 2], count)
  if count >= HIST_SELF_MIN and count <= HIST_SELF_MAX then  -- caught up: the stream holds no entry past the forward marker
    local upto = first  -- (a marker just set above is the seq before this call's)
    if marks[1] and marks[2] then upto = tonumber(marks[2]) end
    hist_self = upto ~= nil and #redis.call('XREVRANGE', KEYS[#KEYS], '+', '(' .. string.format('%d', upto) .. '-0', 'COUNT', 1) == 0
  end
  return now[1] .. '.' .. micro, first, now
end
local function hist_behind(r, m)
  -- after an XADD's pcall: nil when it added the entry; else, when the seq counter fell behind
  -- the stream (motia_nb:history:seq deleted, evicted or restored older: the ID was refused, this
  -- call's writes being made already), the call's first seq minus one, from the stream's newest
  -- entry on, the counter moved past the call; any other error is raised as it was
  if type(r) ~= 'table' or not r.err then return nil end
  if not string.find(r.err, 'equal or smaller', 1, true) then error(r) end
  local info, first = redis.call('XINFO', 'STREAM', KEYS[#KEYS]), nil  -- (the last ID outlives its entry)
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then first = tonumber(string.match(info[i + 1], '^(%d+)')) end
  end
  redis.call('SET', KEYS[#KEYS - 1], string.format('%d', first + m))
  return first
end
local function hist_index_own(at, first, m, ks, olds, news, who)
  -- a caught-up small call (hist_self): the members of its m changes, as history_file.lua would
  -- make them from its entry, and the forward marker past them
  local na = #ARGV
  local us, pid, args, mid = hix_at_us(at), hix_pid(ARGV[na - 3]), {}, nil
  if not who then mid = hix_middle(us, pid, ARGV[na - 5], ARGV[na - 4]) end
  for i = 1, m do
    if who then mid = hix_middle(us, pid, who[2 * i - 1], who[2 * i]) end
    args[2 * i - 1] = '0'
    args[2 * i] = hix_member(ks[i], string.format('%d', first + i), mid, olds[i] or nil, news[i] or nil)
  end
  hix_add(KEYS[#KEYS - 5], args, #args)
  redis.call('SET', KEYS[#KEYS - 3], string.format('%d', first + m))
end
local function hist_add(at, first, m, ks, olds, news, who)
  -- the call's entry: `ks`, `olds`, `news` its m changes' keys, old and new texts (false:
  -- absent); `who` nil (the six ARGV's cause) or {cause, trace, ...} per change
  local na = #ARGV
  local f = {'v', '2', 'm', string.format('%d', m), 'at', at, 'p', ARGV[na - 3], 'origin', ARGV[na - 2]}
  if who then
    f[11] = 'w'; f[12] = cjson.encode(who)
  else
    f[11] = 'c'; f[12] = ARGV[na - 5]
    if ARGV[na - 4] ~= '' then f[13] = 'r'; f[14] = ARGV[na - 4] end
  end
  local j = #f
  f[j + 1] = 'ks'; f[j + 2] = cjson.encode(ks)
  f[j + 3] = 'os'; f[j + 4] = cjson.encode(olds)
  f[j + 5] = 'ns'; f[j + 6] = cjson.encode(news)
  local behind = hist_behind(redis.pcall('XADD', KEYS[#KEYS], string.format('%d', first + m) .. '-0', unpack(f)), m)
  if behind then
    first = behind
    redis.call('XADD', KEYS[#KEYS], string.format('%d', first + m) .. '-0', unpack(f))
  end
  if hist_self then hist_index_own(at, first, m, ks, olds, news, who) end
end
local function hist_end(now)
  -- the trims by count and by age, once per call
  if hist_lost then
    -- the new stream says changes before it were recorded and are gone (XINFO STREAM: more
    -- entries added than it holds, the deleted ones up to hist_lost), as after a trim: get(at=)
    -- a point before it is refused, not answered from changes that no longer tell it (Redis 7)
    local last = redis.call('XREVRANGE', KEYS[#KEYS], '+', '-', 'COUNT', 1)[1]
    if last then
      redis.pcall('XSETID', KEYS[#KEYS], last[1], 'ENTRIESADDED', redis.call('XLEN', KEYS[#KEYS]) + 1,
        'MAXDELETEDID', string.format('%d', hist_lost) .. '-0')
    end
  end
  local na = #ARGV
  local maxlen = tonumber(ARGV[na - 1])
  if maxlen > 0 then hist_trim_count(maxlen) end
  local maxage = tonumber(ARGV[na])
  if maxage > 0 then hist_trim_age(KEYS[#KEYS], tonumber(now[1]) + tonumber(now[2]) / 1e6 - maxage) end
end
local function hist_one_fields(at, ev, cause, trace, pid, origin)
  local f = {'t', ev.t, 'k', ev.k, 'at', at, 'c', cause, 'p', pid, 'origin', origin}
  if trace ~= '' then f[#f + 1] = 'r'; f[#f + 1] = trace end
  if ev.o then f[#f + 1] = 'o'; f[#f + 1] = ev.o end
  if ev.n then f[#f + 1] = 'n'; f[#f + 1] = ev.n end
  return f
end
local function hist_add_one(at, seq, ev)
  -- a call of one change (set, cas, delete): an entry of the format before 2 (no cjson: ~0.8 us
  -- less of the server's time than a format-2 entry of one change), read alike
  local na, id = #ARGV, string.format('%d', seq) .. '-0'
  local cause, trace, pid, origin = ARGV[na - 5], ARGV[na - 4], ARGV[na - 3], ARGV[na - 2]
  local r
  if trace == '' and ev.n then
    if ev.o then
      r = redis.pcall('XADD', KEYS[#KEYS], id, 't', ev.t, 'k', ev.k, 'at', at, 'c', cause, 'p', pid, 'origin', origin,
                      'o', ev.o, 'n', ev.n)
    else
      r = redis.pcall('XADD', KEYS[#KEYS], id, 't', ev.t, 'k', ev.k, 'at', at, 'c', cause, 'p', pid, 'origin', origin,
                      'n', ev.n)
    end
  else
    r = redis.pcall('XADD', KEYS[#KEYS], id, unpack(hist_one_fields(at, ev, cause, trace, pid, origin)))
  end
  local behind = hist_behind(r, 1)
  if behind then
    seq = behind + 1
    local f = hist_one_fields(at, ev, cause, trace, pid, origin)
    redis.call('XADD', KEYS[#KEYS], string.format('%d', seq) .. '-0', unpack(f))
  end
  if hist_self then hist_index_own(at, seq - 1, 1, {ev.k}, {ev.o}, {ev.n}, nil) end
end
local function record(events, who)
  -- one INCRBY for the call's seqs, one XADD for its changes, the trims once at the end
  local at, first, now = hist_start(#events)
  if not at then return end
  if #events == 1 and not who then
    hist_add_one(at, first + 1, events[1])
    return hist_end(now)
  end
  local ks, olds, news, w = {}, {}, {}, nil
  for i, ev in ipairs(events) do
    ks[i] = ev.k; olds[i] = ev.o or false; news[i] = ev.n or false
  end
  if who then
    w = {}
    for i = 1, #events do w[2 * i - 1] = who[i][1]; w[2 * i] = who[i][2] end
  end
  hist_add(at, first, #events, ks, olds, news, w)
  hist_end(now)
end
