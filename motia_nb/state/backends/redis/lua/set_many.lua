-- set_many: consecutive sets to one group in one call, one published message (after helpers.lua,
-- history.lua). KEYS: as set.lua (state:<group>, motia_nb:order:<group>, motia_nb:seq, the key index, its
-- marker and key text, then
-- history.lua's two). ARGV: channel, origin, group, stride, then `stride` values per set:
-- field, value, cause, trace id ('' none)[, extra…], then history.lua's six (whose cause and
-- trace are not used: each set is recorded in the changelog with its own).
-- (stride lets a per-set argument be appended without changing the others.)
-- Returns the old texts, one per set (nil where the item was new), in order.
-- A key of the wrong type fails before anything is written.
local stride = tonumber(ARGV[4])
local s = redis.call('GET', KEYS[3])
if s and not tonumber(s) then return redis.error_reply('ERR motia_nb:seq is not an integer') end
if hist_on() then
  local bad = hist_unusable()
  if bad then return bad end
end
local h, z, group = KEYS[1], KEYS[2], ARGV[3]
reconcile(h, z, KEYS[3])
local olds, evs, who = {}, {}, {}
local n = (#ARGV - 4 - 6) / stride
for i = 1, n do
  local a = 4 + (i - 1) * stride
  local field, value = ARGV[a + 1], ARGV[a + 2]
  local old = redis.call('HGET', h, field)
  key_add(h, field)
  redis.call('HSET', h, field, value)
  index(z, KEYS[3], field)
  local ev = {t = 'state:created', g = group, k = field, n = value}
  if old then ev.t = 'state:updated'; ev.o = old end
  evs[i] = ev
  who[i] = {ARGV[a + 3], ARGV[a + 4]}
  olds[i] = old
end
key_text_done()
record(evs, who)
if n > 0 then publish(ARGV[1], ARGV[2], evs) end
return olds
