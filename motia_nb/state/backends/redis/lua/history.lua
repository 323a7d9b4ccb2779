-- The changelog (SPEC §9), prepended to every write script (after history_index.lua): each change
-- is appended to the group's stream motia_nb:history:<group> by the script that commits it, with
-- the ID <seq>-0 (seq from the global counter motia_nb:history:seq), and to the group's item index
-- (history_index.lua). The last four KEYS are that index, its marker, that counter and that
-- stream; the last six ARGV: cause, trace id ('' none), pid, origin, max length ('-1': history
-- off, '0': no count limit) and max age in seconds ('0': none).
-- The marker motia_nb:history_index_from:<group> holds the first seq from which the index holds
-- every change of the stream: 0 when it holds them all; set by the first write that finds it
-- missing (0 when the stream is empty, else that write's first seq: the older changes of a store
-- written before the index existed are indexed later, by history_index_fill.lua).
-- Retention trims the stream exactly (never whole nodes, MAXLEN ~): the script reads the
-- changes it trims, so their members leave the index in the same call.
-- record(events[, who]): who[i] = {cause, trace id} of events[i] when a call commits writes
-- of several causes (set_many.lua); without it every event has the six ARGV's cause.
local hist_us, hist_pid, hist_members, hist_n = nil, nil, {}, 0  -- (hist_members: ZADD's arguments, hist_n of them)
local function hist_field(fields, name)
  for i = 1, #fields, 2 do if fields[i] == name then return fields[i + 1] end end
  return nil
end
local function hist_trim_age(stream, cutoff)
  -- cheap unless the oldest entry is too old; then at most 256 entries go per write
  local first = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)
  if #first == 0 or tonumber(hist_field(first[1][2], 'at')) >= cutoff then return end
  local batch = redis.call('XRANGE', stream, '-', '+', 'COUNT', 256)
  local keep, gone = nil, {}
  for _, e in ipairs(batch) do
    if tonumber(hist_field(e[2], 'at')) >= cutoff then keep = e[1]; break end
    gone[#gone + 1] = e
  end
  if not keep then keep = (tonumber(string.match(batch[#batch][1], '^(%d+)')) + 1) .. '-0' end
  hix_drop(KEYS[#KEYS - 3], gone)
  redis.call('XTRIM', stream, 'MINID', keep)
end
local function hist_trim_count(stream, maxlen)
  -- the oldest changes past `maxlen` go once they are a tenth of it (at most 100) too many, at
  -- most 4096 per call (a lowered retention catches up over the next writes)
  local over = redis.call('XLEN', stream) - maxlen
  if over <= 0 or over <= math.min(100, math.floor(maxlen / 10)) then return end
  local gone = redis.call('XRANGE', stream, '-', '+', 'COUNT', math.min(over, 4096))
  hix_drop(KEYS[#KEYS - 3], gone)
  redis.call('XTRIM', stream, 'MINID', (tonumber(string.match(gone[#gone][1], '^(%d+)')) + 1) .. '-0')
end
local function hist_on()
  return tonumber(ARGV[#ARGV - 1]) >= 0
end
local function hist_unusable()
  -- an error reply when the changelog's keys hold something else (checked before a
  -- multi-write script writes anything), else nil
  local n = redis.call('GET', KEYS[#KEYS - 1])
  if n and not tonumber(n) then return redis.error_reply('ERR ' .. KEYS[#KEYS - 1] .. ' is not an integer') end
  local t = redis.call('TYPE', KEYS[#KEYS])['ok']
  if t ~= 'none' and t ~= 'stream' then return redis.error_reply('ERR ' .. KEYS[#KEYS] .. ' is not a stream') end
  t = redis.call('TYPE', KEYS[#KEYS - 3])['ok']
  if t ~= 'none' and t ~= 'zset' then return redis.error_reply('ERR ' .. KEYS[#KEYS - 3] .. ' is not a sorted set') end
  n = redis.call('GET', KEYS[#KEYS - 2])
  if n and not tonumber(n) then return redis.error_reply('ERR ' .. KEYS[#KEYS - 2] .. ' is not an integer') end
  return nil
end
local function hist_add(stream, seq, t, k, at, cause, trace, pid, origin, o, n)
  -- one change's entry: t k at c p origin [r] [o] [n] (the common shapes without a table),
  -- and its member of the item index (added by hist_end)
  local s, j = string.format('%d', seq), hist_n  -- (the seq formatted once, for the member and the ID)
  hist_members[j + 1] = '0'
  hist_members[j + 2] = hix_member(k, s, hix_middle(hist_us, hist_pid, cause, trace), o, n)
  hist_n = j + 2
  local id = s .. '-0'
  if trace == '' then
    if n and not o then
      return redis.call('XADD', stream, id, 't', t, 'k', k, 'at', at, 'c', cause, 'p', pid, 'origin', origin, 'n', n)
    elseif n then
      return redis.call('XADD', stream, id, 't', t, 'k', k, 'at', at, 'c', cause, 'p', pid, 'origin', origin,
                        'o', o, 'n', n)
    end
  end
  local f = {'t', t, 'k', k, 'at', at, 'c', cause, 'p', pid, 'origin', origin}
  if trace ~= '' then f[#f + 1] = 'r'; f[#f + 1] = trace end
  if o then f[#f + 1] = 'o'; f[#f + 1] = o end
  if n then f[#f + 1] = 'n'; f[#f + 1] = n end
  redis.call('XADD', stream, id, unpack(f))
end
local function hist_start(count)
  -- the call's time text and the first ID's number minus one, or nil when history is off;
  -- the index's marker set when missing (its index dropped: nothing says what it held)
  if tonumber(ARGV[#ARGV - 1]) < 0 or count == 0 then return nil end
  local now = redis.call('TIME')
  local micro = string.format('%06d', tonumber(now[2]))
  local first = redis.call('INCRBY', KEYS[#KEYS - 1], count) - count
  if not redis.call('GET', KEYS[#KEYS - 2]) then
    redis.call('DEL', KEYS[#KEYS - 3])
    local from = 0
    if redis.call('XLEN', KEYS[#KEYS]) > 0 then from = first + 1 end
    redis.call('SET', KEYS[#KEYS - 2], string.format('%d', from))
  end
  hist_us, hist_pid = now[1] .. micro, ARGV[#ARGV - 3]  -- (a pid: digits)
  return now[1] .. '.' .. micro, first, now
end
local function hist_end(now)
  -- the call's members join the index, then the trims by count and by age, once per call
  local na, stream = #ARGV, KEYS[#KEYS]
  hix_add(KEYS[#KEYS - 3], hist_members, hist_n)
  hist_members, hist_n = {}, 0
  local maxlen = tonumber(ARGV[na - 1])
  if maxlen > 0 then hist_trim_count(stream, maxlen) end
  local maxage = tonumber(ARGV[na])
  if maxage > 0 then hist_trim_age(stream, tonumber(now[1]) + tonumber(now[2]) / 1e6 - maxage) end
end
local function record(events, who)
  -- one INCRBY for the call's IDs, one XADD per change, the trims once at the end
  local at, first, now = hist_start(#events)
  if not at then return end
  local na, stream = #ARGV, KEYS[#KEYS]
  local pid, origin = ARGV[na - 3], ARGV[na - 2]
  for i, ev in ipairs(events) do
    local cause, trace = ARGV[na - 5], ARGV[na - 4]
    if who then cause, trace = who[i][1], who[i][2] end
    hist_add(stream, first + i, ev.t, ev.k, at, cause, trace, pid, origin, ev.o, ev.n)
  end
  hist_end(now)
end
