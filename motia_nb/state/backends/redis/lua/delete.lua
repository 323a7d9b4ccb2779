-- delete one item (after helpers.lua). KEYS: state:<group>, order:<group>. ARGV: field, channel, origin, group.
-- Returns the old text or nil.
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
publish(ARGV[2], ARGV[3], {{t = 'state:deleted', g = ARGV[4], k = ARGV[1], o = old}})
return old
