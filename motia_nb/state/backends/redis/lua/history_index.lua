-- The changelog's item index (:mod:`.history_index`), prepended to history.lua, history_item.lua,
-- history_file.lua and history_index_fill.lua: the sorted set motia_nb:history_index:<group>, every member at score
-- 0, one per change of the group's stream, holding the change itself so that one item's history
-- is one range of the set (reading stream entries back from Lua costs several microseconds
-- each; a member, a fraction of one). A member is its key's prefix (hix_prefix), one letter
-- saying how many digits the seq has ('a' + that number: seqs sort as numbers), then the
-- change's tail, JSON text of ten values, the seq first:
--   <seq>,<at_us>,<at>,<pid>,<cause>,<trace>,<old length>,<new length>,<old>,<new>
-- (at_us: unix time in whole microseconds (history_item.lua's time bounds); at: that time as
-- the change dict shows it, ISO 8601 UTC as a JSON string (hix_iso), null outside the years 1
-- to 9999; cause and trace as cjson writes strings, trace null when none; a length -1 when the
-- value is absent, and then the value is null), so that a read joins tails into one JSON text
-- whose parse gives the fields as the change dicts hold them. An old text that is not one JSON value
-- (another tool wrote the item: `]]`, `1,2`) would move the values after it there: it is kept
-- as a JSON string of its bytes instead, its length -2 minus that string's (hix_old; ~1 us a
-- text, off the writes but for a small call's own members), as is one holding a NUL. New texts
-- are motia_nb's own JSON. (The format before this one held the time in microseconds and each
-- value in brackets; its index is made again: motia_nb:history_index_from2:<group>, layout.py.)
local function hix_prefix(k)
  -- the key, each NUL doubled as NUL 0x01, then two NULs: no other key's prefix starts with it
  -- (no key read through the API holds a NUL; another tool's field could)
  if string.find(k, '\0', 1, true) then k = string.gsub(k, '%z', '\0\1') end
  return k .. '\0\0'
end
local hix_num = {}  -- numbers (lengths) as text, made once
local function hix_text(x)
  local t = hix_num[x]
  if not t then t = string.format('%d', x); hix_num[x] = t end
  return t
end
local function hix_iso(us)
  -- a time in whole microseconds (an integer's decimal text) as Python's iso_micros writes it
  -- (datetime's isoformat() in UTC: 2026-12-01T23:41:31.082267+00:00, no fraction when it is
  -- 0), or nil outside the years 1 to 9999; the digits are split as text (exact where the
  -- microseconds pass 2^53), the date from the days by the inverse of Howard Hinnant's
  -- days_from_civil, each floor division as (x - x % y) / y (Lua's % floors: no math.floor
  -- calls, ~2 us a time, was ~4.5; once per script call, or per entry when filing)
  local neg, digits = string.match(us, '^(%-?)(%d+)$')
  if not digits then return nil end
  local sec, frac = tonumber(string.sub(digits, 1, -7)) or 0, tonumber(string.sub(digits, -6))
  if neg == '-' then
    sec = -sec
    if frac > 0 then sec, frac = sec - 1, 1000000 - frac end
  end
  local t = sec % 86400  -- the second of the day
  local z = (sec - t) / 86400 + 719468  -- days since 0000-03-01
  local doe = z % 146097  -- the day of the 400-year era
  local era = (z - doe) / 146097
  local a = doe - (doe - doe % 1460) / 1460 + (doe - doe % 36524) / 36524 - (doe - doe % 146096) / 146096
  local yoe = (a - a % 365) / 365  -- the year of the era
  local doy = doe - (365 * yoe + (yoe - yoe % 4) / 4 - (yoe - yoe % 100) / 100)  -- the day of the year (from March)
  local e = 5 * doy + 2
  local mp = (e - e % 153) / 153  -- the month, from March
  local g = 153 * mp + 2
  local d, m, y = doy - (g - g % 5) / 5 + 1, mp + 3, yoe + era * 400
  if m > 12 then m, y = m - 12, y + 1 end
  if y < 1 or y > 9999 then return nil end
  local h = t % 3600
  local text = string.format('%04d-%02d-%02dT%02d:%02d:%02d', y, m, d, (t - h) / 3600, (h - h % 60) / 60, h % 60)
  if frac > 0 then return string.format('%s.%06d+00:00', text, frac) end
  return text .. '+00:00'
end
local hix_last = {}
local function hix_middle(at_us, pid, cause, trace)
  -- the fields between the seq and the lengths, which a call's changes share (made once)
  local l = hix_last
  if at_us ~= l[1] or pid ~= l[2] or cause ~= l[3] or trace ~= l[4] then
    local tr, at = 'null', hix_iso(at_us)
    if trace ~= '' then tr = cjson.encode(trace) end
    if at then at = '"' .. at .. '"' else at = 'null' end
    hix_last = {at_us, pid, cause, trace, ',' .. at_us .. ',' .. at .. ',' .. pid .. ',' .. cjson.encode(cause) .. ',' .. tr .. ','}
  end
  return hix_last[5]
end
local function hix_old(o)
  -- an old text as a member holds it and its length field: itself when it is one JSON value
  -- (cjson reads it) holding no NUL, else a JSON string of its bytes and -2 minus that string's
  -- length (so a member holds two NULs in a row only at its prefix's end: a reader cuts there)
  if not o then return 'null', -1 end
  if not string.find(o, '\0', 1, true) and pcall(cjson.decode, o) then return o, #o end
  local q = cjson.encode(o)
  return q, -2 - #q
end
local function hix_member(k, s, mid, o, n)
  -- `s`: the seq as text (a member starts with the letter of its number of digits, 'a' + that number)
  if string.find(k, '\0', 1, true) then k = string.gsub(k, '%z', '\0\1') end  -- (as hix_prefix)
  local ot, ol = hix_old(o)
  return k .. '\0\0' .. string.char(96 + #s) .. s .. mid .. hix_text(ol) .. ',' .. hix_text(n and #n or -1)
         .. ',' .. ot .. ',' .. (n or 'null')
end
local function hix_at_us(at)
  -- a stream entry's time text (unix seconds, six decimals) as whole microseconds
  local s, us = string.match(at, '^(%d+)%.(%d%d%d%d%d%d)$')
  if s then return s .. us end
  return string.format('%.0f', tonumber(at) * 1e6)
end
local function hix_pid(pid)
  if string.match(pid, '^%-?%d+$') then return pid end
  return '0'
end
local function hix_fields(e)
  local f, v = e[2], {}
  for i = 1, #f, 2 do v[f[i]] = f[i + 1] end
  return v
end
local function hix_id_seq(e)
  -- a stream entry's ID's number: its (last) change's seq
  return tonumber(string.match(e[1], '^(%d+)'))
end
local function hix_size(v)
  -- the changes of a stream entry (its fields by name): format 2 ('v' '2') holds 'm', else one
  if v.v == '2' then return tonumber(v.m) end
  return 1
end
local function hix_members(e, args)
  -- append '0', member (ZADD's arguments) for each change of stream entry `e` ({id, {field,
  -- value, ...}}), either format (history.lua); returns the entry's changes
  local v, last = hix_fields(e), hix_id_seq(e)
  local us, pid, j = hix_at_us(v.at), hix_pid(v.p or '0'), #args
  if v.v ~= '2' then  -- one change per entry (the format before 2)
    args[j + 1] = '0'
    args[j + 2] = hix_member(v.k, string.format('%d', last), hix_middle(us, pid, v.c or '', v.r or ''), v.o, v.n)
    return 1
  end
  local m = tonumber(v.m)
  local ks, olds, news = cjson.decode(v.ks), cjson.decode(v.os), cjson.decode(v.ns)
  local who, mid = nil, nil
  if v.w then who = cjson.decode(v.w) else mid = hix_middle(us, pid, v.c or '', v.r or '') end
  for i = 1, m do
    if who then mid = hix_middle(us, pid, who[2 * i - 1], who[2 * i]) end
    args[j + 1] = '0'
    args[j + 2] = hix_member(ks[i], string.format('%d', last - m + i), mid, olds[i] or nil, news[i] or nil)
    j = j + 2
  end
  return m
end
local function hix_drop(index, entries, upto)
  -- the members of stream entries trimmed away (those of changes up to `upto`: the filed ones);
  -- returns the number of changes the entries held
  local count = 0
  for _, e in ipairs(entries) do
    local v, last = hix_fields(e), hix_id_seq(e)
    local m, ks = hix_size(v), nil
    if v.v == '2' then ks = cjson.decode(v.ks) else ks = {v.k} end
    count = count + m
    for i = 1, m do
      local seq = last - m + i
      if seq <= upto and ks[i] then  -- (an entry another tool wrote without a key: nothing indexed)
        local s = string.format('%d', seq)
        local p = hix_prefix(ks[i]) .. string.char(96 + #s) .. s .. ','
        redis.call('ZREMRANGEBYLEX', index, '[' .. p, '(' .. p .. '\255')
      end
    end
  end
  return count
end
local function hix_add(index, args, count)
  -- ZADD of `args`' first `count` values ({'0', member, '0', member, ...}: scores as text, so
  -- Redis parses no formatted number) in chunks (Lua's unpack takes at most ~8,000 values)
  for lo = 1, count, 2000 do redis.call('ZADD', index, unpack(args, lo, math.min(count, lo + 1999))) end
end
local function hix_file(stream, index, upto_key, upto, budget)
  -- index the stream's entries after `upto` (the forward marker's value), whole entries, until
  -- about `budget` changes were indexed; the marker follows. Returns true when more remain.
  -- (pages of entries grow from 2 to 64: an entry may hold a thousand changes, each read back whole)
  local args, filed, last, more, count = {}, 0, upto, false, 2
  while not more do
    local page = redis.call('XRANGE', stream, '(' .. string.format('%d', last) .. '-0', '+', 'COUNT', count)
    for _, e in ipairs(page) do
      if filed >= budget then more = true; break end
      filed = filed + hix_members(e, args)
      last = hix_id_seq(e)
    end
    if #page < count then break end
    count = math.min(2 * count, 64)
  end
  hix_add(index, args, #args)
  if last ~= upto then redis.call('SET', upto_key, string.format('%d', last)) end
  return more
end
local function hix_upto(stream, upto_key)
  -- the forward marker; a store indexed before it existed (history_index_from set: the scripts
  -- indexed each change as they committed it) gets it: the stream's last seq
  local u = redis.call('GET', upto_key)
  if u then return tonumber(u) end
  local last = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)
  u = 0
  if #last > 0 then u = hix_id_seq(last[1]) end
  redis.call('SET', upto_key, string.format('%d', u))
  return u
end
local function hix_count(stream, count_key)
  -- the changes the stream holds (a store written before the count existed: one per entry; a
  -- stream deleted by hand: none, whatever its count still says)
  local entries = redis.call('XLEN', stream)
  if entries == 0 then return 0 end
  local n = redis.call('GET', count_key)
  if n then return tonumber(n) end
  return entries
end
