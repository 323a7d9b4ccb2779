-- Keys in [ARGV[1], ARGV[2]) by lex (ZRANGEBYLEX bounds), at most ARGV[3], from the key index
-- (after keys_ready.lua); false when the index is not complete (or turns out stale).
if not keys_ready() then return false end
local found = redis.call('ZRANGEBYLEX', KEYS[2], ARGV[1], ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
if keys_gone(found) then return false end
return found
