-- set: store a value, keep the item's place, publish one event (after helpers.lua).
-- ARGV: field, value, channel, origin, group, then history.lua's six.
-- KEYS: state:<group>, order:<group>, motia_nb:seq, keys:<group>, keys_ready:<group>, keys_chunks:<group>,
-- keys_text:<group>, then history.lua's four. Returns the old text or nil.
local old = redis.call('HGET', KEYS[1], ARGV[1])
local bad = unwritable(false, true)  -- (reconcile may count on motia_nb:seq whatever the item)
if bad then return bad end
key_add(KEYS[1], ARGV[1], reconcile(KEYS[1], KEYS[2], KEYS[3]))
key_text_done()
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
index(KEYS[2], KEYS[3], ARGV[1], not old)
local ev = {t = 'state:created', g = ARGV[5], k = ARGV[1], n = ARGV[2]}
if old then ev.t = 'state:updated'; ev.o = old end
record({ev})
publish(ARGV[3], ARGV[4], {ev})
return old
