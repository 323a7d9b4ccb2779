-- clear a group (after helpers.lua, ordered.lua, history.lua). KEYS: state:<group>, order:<group>,
-- keys:<group>, keys_ready:<group>, keys_chunks:<group>, keys_text:<group>, then history.lua's four. ARGV: channel, origin, group, then history.lua's six.
-- Returns flat [k, v, ...] removed, in insertion order.
local out = ordered(KEYS[1], KEYS[2])
if #out > 0 and hist_on() then  -- (DEL takes any type: only the changelog's keys can fail it half-way)
  local bad = hist_unusable()
  if bad then return bad end
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6])
if #out == 0 then return out end
local evs = {}
for i = 1, #out, 2 do evs[#evs + 1] = {t = 'state:deleted', g = ARGV[3], k = out[i], o = out[i + 1]} end
record(evs)
publish(ARGV[1], ARGV[2], evs)
return out
