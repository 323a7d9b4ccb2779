-- Shared head of the key index's reads (keys_prefix.lua, keys_search.lua, keys_ordered.lua,
-- keys_gone.lua). KEYS: state:<group>, motia_nb:keys:<group>, motia_nb:keys_ready:<group>.
-- The index answers only when it is marked complete and holds as many keys as the hash (a
-- foreign HSET/HDEL makes the sizes differ). Another tool (Motia's engine) adding one key and
-- removing another keeps the sizes: one random key of each side is probed, and a read whose
-- answer names a key the hash no longer holds finds out (keys_gone); either drops the marker,
-- so the reads scan the hash until a fill has rebuilt the index.
local function keys_unready()
  redis.call('DEL', KEYS[3])
  return false
end
local function keys_ready()
  if redis.call('EXISTS', KEYS[3]) == 0 then return false end
  if redis.call('HLEN', KEYS[1]) ~= redis.call('ZCARD', KEYS[2]) then return false end
  local f = redis.call('HRANDFIELD', KEYS[1])
  if f and not redis.call('ZSCORE', KEYS[2], f) then return keys_unready() end
  local z = redis.call('ZRANDMEMBER', KEYS[2])
  if z and redis.call('HEXISTS', KEYS[1], z) == 0 then return keys_unready() end
  return true
end
local function keys_gone(ks)
  -- true (the marker dropped) when one of the keys the index answered is not in the hash
  for _, k in ipairs(ks) do
    if redis.call('HEXISTS', KEYS[1], k) == 0 then
      keys_unready()
      return true
    end
  end
  return false
end
