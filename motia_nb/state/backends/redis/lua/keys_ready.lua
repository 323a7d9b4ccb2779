-- Shared head of the key index's reads (keys_prefix.lua, keys_search.lua). KEYS: state:<group>,
-- motia_nb:keys:<group>, motia_nb:keys_ready:<group>. The index answers only when it is marked
-- complete and holds as many keys as the hash (a foreign HSET/HDEL makes the sizes differ).
local function keys_ready()
  return redis.call('EXISTS', KEYS[3]) == 1 and redis.call('HLEN', KEYS[1]) == redis.call('ZCARD', KEYS[2])
end
