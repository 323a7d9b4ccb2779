-- set_many: consecutive sets to one group in one call, one published message (after helpers.lua,
-- history.lua). KEYS: as set.lua (state:<group>, motia_nb:order:<group>, motia_nb:seq, the key index, its
-- marker and key text, then history.lua's four). ARGV: channel, origin, group, stride, then `stride`
-- values per set: field, value[, cause, trace id ('' none)] (stride 2: every set has the cause
-- and trace of history.lua's six; 4: each its own), then history.lua's six.
-- The hash, the key index and the order index are written with one command per chunk of sets,
-- not per set (a command from Lua costs more than the work it does for one field).
-- Returns {header, olds}: for each set whose item existed, "<i> <length> " in the header
-- (i: the set's place, from 1) and its old text in olds, end to end; both '' when all were new.
-- A key of the wrong type fails before anything is written.
local stride = tonumber(ARGV[4])
local wrong = wrong_type({KEYS[3], 'int', KEYS[#KEYS - 9], 'zset', KEYS[#KEYS - 7], 'zset', KEYS[#KEYS - 6], 'hash'})
if wrong then return wrong end
if hist_on() then
  local bad = hist_unusable()
  if bad then return bad end
end
local h, z, group = KEYS[1], KEYS[2], ARGV[3]
local n = (#ARGV - 4 - 6) / stride
if n < 1 then return {'', ''} end
local hlen = reconcile(h, z, KEYS[3])
local CHUNK = 1000  -- fields per command (Lua's unpack takes at most ~8,000 values)
local fields = {}
for i = 1, n do fields[i] = ARGV[4 + (i - 1) * stride + 1] end
-- the old texts (a field set twice in the call: the second's old text is the first's value)
local olds, last = {}, {}
for lo = 1, n, CHUNK do
  local hi = math.min(n, lo + CHUNK - 1)
  local got = redis.call('HMGET', h, unpack(fields, lo, hi))
  for j = 1, hi - lo + 1 do olds[lo + j - 1] = got[j] end
end
for i = 1, n do
  local p = last[fields[i]]
  if p then olds[i] = ARGV[4 + (p - 1) * stride + 2] end
  last[fields[i]] = i
end
-- the key index: an empty hash starts a fresh, complete one (key_add); the key text of a
-- searched big group follows each key that came (one ZSCORE per call when there is none)
local lex = KEYS[#KEYS - 9]
if hlen == 0 then
  redis.call('DEL', lex, KEYS[#KEYS - 7], KEYS[#KEYS - 6])
  redis.call('SET', KEYS[#KEYS - 8], '1')
  key_text_size = false
else
  key_text_size = kt_size(KEYS[#KEYS - 7], KEYS[#KEYS - 6]) or false
end
local args = {}
for lo = 1, n, CHUNK do
  local hi = math.min(n, lo + CHUNK - 1)
  if key_text_size then
    for i = lo, hi do
      if redis.call('ZADD', lex, 0, fields[i]) == 1 then kt_changed(KEYS[#KEYS - 7], fields[i], true) end
    end
  else
    args = {}
    for i = lo, hi do args[#args + 1] = 0; args[#args + 1] = fields[i] end
    redis.call('ZADD', lex, unpack(args))
  end
  args = {}
  for i = lo, hi do
    args[#args + 1] = fields[i]; args[#args + 1] = ARGV[4 + (i - 1) * stride + 2]
  end
  redis.call('HSET', h, unpack(args))
end
key_text_done()
-- the order index: a field it lacks gets the next place (NX: one it holds keeps its own)
local top = redis.call('INCRBY', KEYS[3], n) - n
for lo = 1, n, CHUNK do
  local hi = math.min(n, lo + CHUNK - 1)
  args = {}
  for i = lo, hi do args[#args + 1] = top + i; args[#args + 1] = fields[i] end
  redis.call('ZADD', z, 'NX', unpack(args))
end
-- the changelog (one entry for the call's sets, built from its arrays) and the published message
-- (built only when wanted)
local at, first, now = hist_start(n)
local to = publish_to(ARGV[1])
local head, blob, evs = {}, {}, {}
for i = 1, n do
  local old = olds[i]
  if old then
    head[#head + 1] = i .. ' ' .. #old .. ' '
    blob[#blob + 1] = old
  end
  if to then
    local a, t = 4 + (i - 1) * stride, 'state:created'
    if old then t = 'state:updated' end
    evs[i] = {t = t, g = group, k = fields[i], o = old or nil, n = ARGV[a + 2]}
    if stride >= 4 then evs[i].r = ARGV[a + 4] end  -- each set's own trace id ('' none)
  end
end
if at then
  local news, who = {}, nil
  for i = 1, n do news[i] = ARGV[4 + (i - 1) * stride + 2] end
  if stride >= 4 then
    who = {}
    for i = 1, n do
      local a = 4 + (i - 1) * stride
      who[2 * i - 1] = ARGV[a + 3]; who[2 * i] = ARGV[a + 4]
    end
  end
  hist_add(at, first, n, fields, olds, news, who)
  hist_end(now)
end
if to then publish(ARGV[1], ARGV[2], evs, to) end
return {table.concat(head), table.concat(blob)}
