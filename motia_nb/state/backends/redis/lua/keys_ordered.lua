-- Key order from the key index (after keys_ready.lua): members at one score sort by their bytes.
-- ARGV: mode, direction ('fwd' | 'rev'), then
--   'rank' key          -> the key's 0-based position, or -1 when the group has no such item
--   'page' offset limit -> flat [k, v, ...] (limit -1: to the end)
--   'after' key limit inclusive ('1' | '0') -> flat [k, v, ...] of the keys past the cursor
-- Returns false when the index is not complete.
if not keys_ready() then return false end
local h, lex, mode, rev = KEYS[1], KEYS[2], ARGV[1], ARGV[2] == 'rev'
if mode == 'rank' then
  local r
  if rev then r = redis.call('ZREVRANK', lex, ARGV[3]) else r = redis.call('ZRANK', lex, ARGV[3]) end
  if not r then return -1 end
  return r
end
local ks
if mode == 'page' then
  local off, lim = tonumber(ARGV[3]), tonumber(ARGV[4])
  local stop = -1
  if lim >= 0 then stop = off + lim - 1 end
  if rev then ks = redis.call('ZREVRANGE', lex, off, stop) else ks = redis.call('ZRANGE', lex, off, stop) end
else
  local lim, incl = tonumber(ARGV[4]), ARGV[5] == '1'
  local b = '('
  if incl then b = '[' end
  b = b .. ARGV[3]
  if rev then
    ks = redis.call('ZREVRANGEBYLEX', lex, b, '-', 'LIMIT', 0, lim)
  else
    ks = redis.call('ZRANGEBYLEX', lex, b, '+', 'LIMIT', 0, lim)
  end
end
local out = {}
for _, k in ipairs(ks) do
  local v = redis.call('HGET', h, k)
  if not v then return false end
  out[#out + 1] = k
  out[#out + 1] = v
end
return out
