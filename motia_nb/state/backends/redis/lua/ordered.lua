-- Ordered snapshot of a hash: indexed fields by sequence, then unindexed ones in hash order.
-- Prepended to clear.lua and read.lua.
local function ordered(h, z)
  local flat = redis.call('HGETALL', h)
  local vals = {}
  for i = 1, #flat, 2 do vals[flat[i]] = flat[i + 1] end
  local out = {}
  for _, m in ipairs(redis.call('ZRANGE', z, 0, -1)) do
    local v = vals[m]
    if v then out[#out + 1] = m; out[#out + 1] = v; vals[m] = nil end
  end
  for i = 1, #flat, 2 do
    local f = flat[i]
    if vals[f] then out[#out + 1] = f; out[#out + 1] = flat[i + 1]; vals[f] = nil end
  end
  return out
end
