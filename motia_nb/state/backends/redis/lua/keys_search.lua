-- One chunk of a substring search over the key index (after keys_ready.lua).
-- ARGV: lower bound ('-' or '(<after>'), text, matches wanted, chunk size.
-- Returns false when the index is not complete, else {done, last key examined, matches}:
-- done is 1 when the wanted matches were found or the index ended.
if not keys_ready() then return false end
local text, want, chunk = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local ks = redis.call('ZRANGEBYLEX', KEYS[2], ARGV[1], '+', 'LIMIT', 0, chunk)
local out = {}
for _, k in ipairs(ks) do
  if string.find(k, text, 1, true) then
    out[#out + 1] = k
    if #out >= want then return {1, k, out} end
  end
end
if #ks < chunk then return {1, '', out} end
return {0, ks[#ks], out}
