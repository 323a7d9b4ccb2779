-- One chunk of the fill of a group's key index from its hash. KEYS: state:<group>,
-- motia_nb:keys:<group>, motia_nb:keys_ready:<group>, motia_nb:keys_chunks:<group>,
-- motia_nb:keys_text:<group>. ARGV: HSCAN cursor, count.
-- Cursor '0' starts afresh (drops the index, its marker and its key text). Fields are added only when they
-- exist now; writes made meanwhile keep the index themselves. When the scan ends with the
-- index and the hash the same size, the index is marked complete.
-- Returns {next cursor, 1 when marked complete else 0}.
local h, lex = KEYS[1], KEYS[2]
if ARGV[1] == '0' then redis.call('DEL', lex, KEYS[3], KEYS[4], KEYS[5]) end
local r = redis.call('HSCAN', h, ARGV[1], 'COUNT', tonumber(ARGV[2]))
local fields, batch = r[2], {}
for i = 1, #fields, 2 do
  local f = fields[i]
  if redis.call('HEXISTS', h, f) == 1 then
    batch[#batch + 1] = 0
    batch[#batch + 1] = f
    if #batch >= 2000 then redis.call('ZADD', lex, unpack(batch)); batch = {} end
  end
end
if #batch > 0 then redis.call('ZADD', lex, unpack(batch)) end
if r[1] == '0' then
  if redis.call('HLEN', h) == redis.call('ZCARD', lex) then
    redis.call('SET', KEYS[3], '1')
    return {'0', 1}
  end
  return {'0', 0}
end
return {r[1], 0}
