-- delete one item (after helpers.lua, history.lua). KEYS: state:<group>, order:<group>, keys:<group>,
-- keys_ready:<group>, keys_chunks:<group>, keys_text:<group>, then history.lua's four.
-- ARGV: field, channel, origin, group, then history.lua's six.
-- Returns the old text or nil.
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old then return false end
local bad = unwritable(true, false)
if bad then return bad end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
key_del(ARGV[1])
key_text_done()
local ev = {t = 'state:deleted', g = ARGV[4], k = ARGV[1], o = old}
record({ev})
publish(ARGV[2], ARGV[3], {ev})
return old
