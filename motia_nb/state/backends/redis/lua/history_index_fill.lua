-- Index a chunk of the changes older than the item index's marker (after history_index.lua):
-- a store written before the index existed, or one whose index a read found stale. KEYS: the
-- group's stream, its item index, the index's marker. ARGV: changes per call, '1' to start over
-- (drop the index; the marker becomes the stream's last seq + 1). A missing marker starts over
-- too. Returns the marker after the call: 0 when the index holds every change.
local function hix_at_us(at)
  -- the stream's time text (unix seconds, six decimals) as whole microseconds
  local s, us = string.match(at, '^(%d+)%.(%d%d%d%d%d%d)$')
  if s then return s .. us end
  return string.format('%.0f', tonumber(at) * 1e6)
end
local function hix_pid(pid)
  if string.match(pid, '^%-?%d+$') then return pid end
  return '0'
end
local function hix_entry(e)
  -- the member of one stream entry ({id, {field, value, ...}}), for a store written before the index
  local f, v = e[2], {}
  for i = 1, #f, 2 do v[f[i]] = f[i + 1] end
  return hix_member(v.k, string.match(e[1], '^(%d+)'), hix_middle(hix_at_us(v.at), hix_pid(v.p or '0'), v.c or '', v.r or ''), v.o, v.n)
end
local stream, index, mark = KEYS[1], KEYS[2], KEYS[3]
local from = redis.call('GET', mark)
if not from or ARGV[2] == '1' then
  redis.call('DEL', index)
  local last = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)
  from = 0
  if #last > 0 then from = tonumber(string.match(last[1][1], '^(%d+)')) + 1 end
else
  from = tonumber(from)
end
if from > 0 then
  local n = tonumber(ARGV[1])
  local page = redis.call('XREVRANGE', stream, '(' .. string.format('%d', from) .. '-0', '-', 'COUNT', n)
  local args = {}
  for i, e in ipairs(page) do args[2 * i - 1] = '0'; args[2 * i] = hix_entry(e) end
  hix_add(index, args, #args)
  if #page < n then from = 0 else from = tonumber(string.match(page[#page][1], '^(%d+)')) end
end
redis.call('SET', mark, string.format('%d', from))
return from
