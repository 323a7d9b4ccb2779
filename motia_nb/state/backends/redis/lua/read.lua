-- read one page in insertion order (after ordered.lua). KEYS: state:<group>, order:<group>.
-- ARGV: offset, limit (-1 = all), what ('kv' | 'k'), direction ('fwd' | 'rev').
-- Fast path when the index is complete: page through the sorted set; else full ordered snapshot.
local off, lim, what, rev = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4] == 'rev'
local n = redis.call('HLEN', KEYS[1])
if n == 0 or off >= n then return {} end
if n == redis.call('ZCARD', KEYS[2]) then
  local stop = -1
  if lim >= 0 then stop = off + lim - 1 end
  local range = 'ZRANGE'
  if rev then range = 'ZREVRANGE' end
  local out, ok = {}, true
  for _, m in ipairs(redis.call(range, KEYS[2], off, stop)) do
    local v = redis.call('HGET', KEYS[1], m)
    if not v then ok = false; break end
    out[#out + 1] = m
    if what == 'kv' then out[#out + 1] = v end
  end
  if ok then return out end
end
local all = ordered(KEYS[1], KEYS[2])
local out = {}
local total = #all / 2
local last = total
if lim >= 0 and off + lim < last then last = off + lim end
for j = off + 1, last do
  local i = j
  if rev then i = total - j + 1 end
  out[#out + 1] = all[2 * i - 1]
  if what == 'kv' then out[#out + 1] = all[2 * i] end
end
return out
