-- compare-and-set: commit an update computed in Python (after helpers.lua).
-- ARGV: field, expect_present ('0'|'1'), expected text, new text, channel, origin, group,
-- then history.lua's six. KEYS: as set.lua.
-- Returns 1 when written, 0 when the field no longer holds the expected text.
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if ARGV[2] == '1' then
  if cur ~= ARGV[3] then return 0 end
elseif cur then
  return 0
end
local bad = unwritable(false, true)
if bad then return bad end
key_add(KEYS[1], ARGV[1], reconcile(KEYS[1], KEYS[2], KEYS[3]))
key_text_done()
redis.call('HSET', KEYS[1], ARGV[1], ARGV[4])
index(KEYS[2], KEYS[3], ARGV[1], not cur)
local ev = {t = 'state:created', g = ARGV[7], k = ARGV[1], n = ARGV[4]}
if cur then ev.t = 'state:updated'; ev.o = cur end
record({ev})
publish(ARGV[5], ARGV[6], {ev})
return 1
