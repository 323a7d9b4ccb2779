-- One item's entries of a group's changelog stream, filtered on the server (a group's stream holds
-- every item's changes: sending them all to the client to keep one key's cost a round trip per
-- 500 entries and their values). KEYS[1]: motia_nb:history:<group>. ARGV: start ID (XRANGE
-- syntax: an ID, '(ID', '-' or '+'), 'rev' (newest first) or 'fwd', the key, matches wanted,
-- entries examined at most (a bound on the time the server spends in one call).
-- Returns {last ID examined ('' when none), matching entries, 1 when the stream ended else 0}.
local name, start, rev, key = KEYS[1], ARGV[1], ARGV[2] == 'rev', ARGV[3]
local want, budget = tonumber(ARGV[4]), tonumber(ARGV[5])
local out, seen, last = {}, 0, ''
while seen < budget do
  local n = math.min(500, budget - seen)
  local page
  if rev then
    page = redis.call('XREVRANGE', name, start, '-', 'COUNT', n)
  else
    page = redis.call('XRANGE', name, start, '+', 'COUNT', n)
  end
  for _, e in ipairs(page) do
    local f = e[2]
    for i = 1, #f, 2 do
      if f[i] == 'k' then
        if f[i + 1] == key then
          out[#out + 1] = e
          if #out >= want then return {e[1], out, 0} end
        end
        break
      end
    end
    last = e[1]
  end
  seen = seen + #page
  if #page < n then return {last, out, 1} end
  start = '(' .. last
end
return {last, out, 0}
