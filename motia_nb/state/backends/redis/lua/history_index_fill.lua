-- Index a chunk of the changes older than the item index's marker (after history_index.lua):
-- a store written before the index existed, or one whose index a read found stale. KEYS: the
-- group's stream, its item index, the index's two markers (from, up to) and its change count.
-- ARGV: changes per call (whole entries), '1' to start over (drop the index; the from marker
-- becomes the stream's last seq + 1, the forward marker that seq). A missing marker starts over
-- too. Once every older change is indexed, the changes after the forward marker are filed
-- (history_file.lua's work, a chunk per call) and, when none is left, the change count becomes
-- the index's size (it is exact then), unless the stream is gone (deleted by hand: the count left
-- says so to the next write, which starts the history again, and to get(at=)). Returns the marker after the call: 0 when the index holds
-- every change, -1 when only newer changes are left to file (call again).
local stream, index, mark, upto_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local from = redis.call('GET', mark)
if not from or ARGV[2] == '1' then
  redis.call('DEL', index)
  local last = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)
  from = 0
  if #last > 0 then from = hix_id_seq(last[1]) + 1 end
  redis.call('SET', upto_key, string.format('%d', math.max(from - 1, 0)))
else
  from = tonumber(from)
end
local upto = hix_upto(stream, upto_key)
if from > 0 then
  local n, args, done, start = tonumber(ARGV[1]), {}, 0, '(' .. string.format('%d', from) .. '-0'
  local more, count = false, 2  -- (pages grow: an entry may hold a thousand changes)
  while not more do
    local page = redis.call('XREVRANGE', stream, start, '-', 'COUNT', count)
    for _, e in ipairs(page) do
      if done >= n then more = true; break end
      local m = hix_members(e, args)
      done = done + m
      from = hix_id_seq(e) - m + 1
    end
    if #page < count then break end
    start = '(' .. page[#page][1]
    count = math.min(2 * count, 64)
  end
  hix_add(index, args, #args)
  if not more then from = 0 end
end
redis.call('SET', mark, string.format('%d', from))
if from == 0 then
  if hix_file(stream, index, upto_key, upto, tonumber(ARGV[1])) then return -1 end
  -- (no stream: a count left says it was deleted by hand, which the next write and get(at=) read)
  if redis.call('EXISTS', stream) == 1 then redis.call('SET', KEYS[5], redis.call('ZCARD', index)) end
end
return from
