-- The changelog (SPEC §9), prepended to every write script: each change is appended to the
-- group's stream motia_nb:history:<group> by the script that commits it, with the ID <seq>-0
-- (seq from the global counter motia_nb:history:seq). The last two KEYS are that counter and
-- that stream; the last six ARGV: cause, trace id ('' none), pid, origin, max length
-- ('-1': history off, '0': no count limit) and max age in seconds ('0': none).
-- record(events[, who]): who[i] = {cause, trace id} of events[i] when a call commits writes
-- of several causes (set_many.lua); without it every event has the six ARGV's cause.
local function hist_field(fields, name)
  for i = 1, #fields, 2 do if fields[i] == name then return fields[i + 1] end end
  return nil
end
local function hist_trim_age(stream, cutoff)
  -- cheap unless the oldest entry is too old; then at most 256 entries go per write
  local first = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)
  if #first == 0 or tonumber(hist_field(first[1][2], 'at')) >= cutoff then return end
  local batch = redis.call('XRANGE', stream, '-', '+', 'COUNT', 256)
  local keep = nil
  for _, e in ipairs(batch) do
    if tonumber(hist_field(e[2], 'at')) >= cutoff then keep = e[1]; break end
  end
  if not keep then keep = (tonumber(string.match(batch[#batch][1], '^(%d+)')) + 1) .. '-0' end
  redis.call('XTRIM', stream, 'MINID', keep)
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
  return nil
end
local function hist_add(stream, id, t, k, at, cause, trace, pid, origin, o, n, maxlen)
  -- one change's entry: t k at c p origin [r] [o] [n]; the common shapes without a table
  -- (`maxlen`: trim by count in the same XADD, for a call of one change)
  if trace == '' and not maxlen then
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
  if maxlen then return redis.call('XADD', stream, 'MAXLEN', '~', maxlen, id, unpack(f)) end
  redis.call('XADD', stream, id, unpack(f))
end
local function hist_start(count)
  -- the call's time text and the first ID's number minus one, or nil when history is off
  if tonumber(ARGV[#ARGV - 1]) < 0 or count == 0 then return nil end
  local now = redis.call('TIME')
  local at = now[1] .. '.' .. string.format('%06d', tonumber(now[2]))
  return at, redis.call('INCRBY', KEYS[#KEYS - 1], count) - count, now
end
local function hist_end(now, trimmed)
  -- trims by count (MAXLEN ~: whole stream nodes; `trimmed`: the XADD did) and by age, once per call
  local na, stream = #ARGV, KEYS[#KEYS]
  local maxlen = tonumber(ARGV[na - 1])
  if maxlen > 0 and not trimmed then redis.call('XTRIM', stream, 'MAXLEN', '~', maxlen) end
  local maxage = tonumber(ARGV[na])
  if maxage > 0 then hist_trim_age(stream, tonumber(now[1]) + tonumber(now[2]) / 1e6 - maxage) end
end
local function record(events, who)
  -- one INCRBY for the call's IDs, one XADD per change, the trims once at the end
  local at, first, now = hist_start(#events)
  if not at then return end
  local na, stream = #ARGV, KEYS[#KEYS]
  local pid, origin = ARGV[na - 3], ARGV[na - 2]
  local maxlen = nil  -- one change: trimmed by its own XADD
  if #events == 1 and tonumber(ARGV[na - 1]) > 0 then maxlen = ARGV[na - 1] end
  for i, ev in ipairs(events) do
    local cause, trace = ARGV[na - 5], ARGV[na - 4]
    if who then cause, trace = who[i][1], who[i][2] end
    hist_add(stream, (first + i) .. '-0', ev.t, ev.k, at, cause, trace, pid, origin, ev.o, ev.n, maxlen)
  end
  hist_end(now, maxlen)
end
