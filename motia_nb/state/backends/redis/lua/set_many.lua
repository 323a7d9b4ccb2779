-- set_many: consecutive sets to one group in one call, one published message (after helpers.lua).
-- KEYS: state:<group>, motia_nb:order:<group>, motia_nb:seq (as set.lua).
-- ARGV: channel, origin, group, stride, then `stride` values per set: field, value[, extra…]
-- (stride lets a per-set argument be appended without changing the others).
-- Returns the old texts, one per set (nil where the item was new), in order.
-- A key of the wrong type fails in reconcile(), before anything is written.
local stride = tonumber(ARGV[4])
local s = redis.call('GET', KEYS[3])
if s and not tonumber(s) then return redis.error_reply('ERR motia_nb:seq is not an integer') end
local h, z, group = KEYS[1], KEYS[2], ARGV[3]
reconcile(h, z, KEYS[3])
local olds, evs = {}, {}
local n = (#ARGV - 4) / stride
for i = 1, n do
  local a = 4 + (i - 1) * stride
  local field, value = ARGV[a + 1], ARGV[a + 2]
  local old = redis.call('HGET', h, field)
  redis.call('HSET', h, field, value)
  index(z, KEYS[3], field)
  local ev = {t = 'state:created', g = group, k = field, n = value}
  if old then ev.t = 'state:updated'; ev.o = old end
  evs[i] = ev
  olds[i] = old
end
if n > 0 then publish(ARGV[1], ARGV[2], evs) end
return olds
