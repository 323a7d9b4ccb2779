-- history_horizon: the first change of a group's changelog that the retention keeps (read-only).
-- The write scripts trim whole entries, once the count is a tenth (at most 100) over, and by age
-- only when they run (lua/history.lua); reads show exactly what the retention keeps
-- (retention.py), so they ask this first. KEYS: the group's stream, its change count.
-- ARGV: max count ('0': none), max age in seconds ('0': none).
-- Returns {lo, known, hidden}: lo the first seq kept (a
-- count keeps the newest changes, an entry's changes may be split; an age keeps whole entries,
-- every change of a call has its time), known the time (text) from which the state is known by
-- what is kept (the time of the entry holding lo; none kept: the newest entry's), hidden 1 when
-- the stream holds changes before lo ({0, false, 0}: an empty stream). An
-- entry's ID is <seq of its last change>-0; a format-2 entry holds m changes, an older one 1.
-- Cost: one GET when the group holds no more than the count (and one XRANGE of an entry with
-- an age, when the oldest is young); a count over by little walks from the oldest entry, by much from the newest (the
-- lesser side); an age is found by bisecting the entry IDs (times follow seqs), ~60 XRANGEs at most.
local stream = KEYS[1]
local maxlen, maxage = tonumber(ARGV[1]), tonumber(ARGV[2])
local function field(f, name)
  for i = 1, #f, 2 do if f[i] == name then return f[i + 1] end end
  return nil
end
local function size(f)
  if field(f, 'v') == '2' then return tonumber(field(f, 'm')) end
  return 1
end
local function id_seq(e) return tonumber(string.match(e[1], '^(%d+)')) end
local function entry_from(seq)  -- the first entry with an ID at or after seq-0 (nil: none)
  local page = redis.call('XRANGE', stream, string.format('%d', seq) .. '-0', '+', 'COUNT', 1)
  return page[1]
end
-- the common case first, reading no entry: the group holds no more than the count, and (with an
-- age) its oldest entry is young enough
local skip, cutoff, oldest = 0, nil, nil
if maxlen > 0 then skip = (tonumber(redis.call('GET', KEYS[2]) or '') or redis.call('XLEN', stream)) - maxlen end
if maxage > 0 then
  local now = redis.call('TIME')
  cutoff = tonumber(now[1]) + tonumber(now[2]) / 1e6 - maxage
  oldest = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)[1]
  if oldest and tonumber(field(oldest[2], 'at')) >= cutoff then cutoff = nil end
end
if skip <= 0 and not cutoff then return {0, false, 0} end
oldest = oldest or redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)[1]
if not oldest then return {0, false, 0} end
local newest = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)[1]
local first = id_seq(oldest) - size(oldest[2]) + 1
local lo = first
if maxlen > 0 then
  if skip > 0 then
    local seen, start, count, found = 0, nil, 8, false
    local rev = skip > maxlen  -- walk the lesser side: the newest maxlen, or the oldest skip
    local want = rev and maxlen or skip
    while not found do
      local page
      if rev then
        page = redis.call('XREVRANGE', stream, start or '+', '-', 'COUNT', count)
      else
        page = redis.call('XRANGE', stream, start or '-', '+', 'COUNT', count)
      end
      for _, e in ipairs(page) do
        local m, last = size(e[2]), id_seq(e)
        if seen + m >= want then  -- the entry where the kept changes begin
          if rev then lo = last - (want - seen) + 1 else lo = last - m + 1 + (want - seen) end
          found = true
          break
        end
        seen = seen + m
      end
      if found or #page < count then break end
      start, count = '(' .. page[#page][1], math.min(2 * count, 512)
    end
  end
end
if cutoff then  -- the oldest entry is older than the age
  local young = id_seq(newest) + 1  -- (every change older than the age: none kept)
  if tonumber(field(newest[2], 'at')) >= cutoff then
    local a, b = id_seq(oldest) + 1, id_seq(newest)  -- the first ID whose entry is young lies in a..b
    while a < b do
      local mid = math.floor((a + b) / 2)
      if tonumber(field(entry_from(mid)[2], 'at')) >= cutoff then b = mid else a = mid + 1 end
    end
    local e = entry_from(a)
    young = id_seq(e) - size(e[2]) + 1
  end
  if young > lo then lo = young end
end
local hidden = 0
if lo > first then hidden = 1 end
local holder = entry_from(lo)
if holder then return {lo, field(holder[2], 'at'), hidden} end
return {lo, field(newest[2], 'at'), hidden}  -- nothing shown: the state is known after the newest change
