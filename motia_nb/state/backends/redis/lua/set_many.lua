-- set_many: a run of sets in one call, one published message (after helpers.lua).
-- KEYS: motia_nb:seq, then per set its group's state:<group> and motia_nb:order:<group>
-- (the writer sends one group per call: a key of the wrong type then fails before any write).
-- ARGV: channel, origin, stride, then `stride` values per set: field, value, group[, extra…].
-- (stride lets a per-set argument be appended without changing the first three.)
-- Returns the old texts, one per set (nil where the item was new), in order.
local stride = tonumber(ARGV[3])
local olds, evs, checked = {}, {}, {}
local n = (#ARGV - 3) / stride
local s = redis.call('GET', KEYS[1])
if s and not tonumber(s) then return redis.error_reply('ERR motia_nb:seq is not an integer') end
for i = 1, n do
  local h, z = KEYS[2 * i], KEYS[2 * i + 1]
  local a = 3 + (i - 1) * stride
  local field, value, group = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  local old = redis.call('HGET', h, field)
  if not checked[h] then reconcile(h, z, KEYS[1]); checked[h] = true end
  redis.call('HSET', h, field, value)
  index(z, KEYS[1], field)
  local ev = {t = 'state:created', g = group, k = field, n = value}
  if old then ev.t = 'state:updated'; ev.o = old end
  evs[i] = ev
  olds[i] = old
end
if n > 0 then publish(ARGV[1], ARGV[2], evs) end
return olds
