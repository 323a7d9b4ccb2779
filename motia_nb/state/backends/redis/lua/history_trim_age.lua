-- history_trim_age (after history_index.lua and history.lua): drop a group's changes older than
-- the age, as a write script's trim by age does (lua/history.lua: whole entries, oldest first,
-- at most 256 entries or ~4096 changes a call; the members of the filed ones leave the item
-- index, the change count goes down), for a group no write has come to since. Run by the
-- filer (filer.py) once the writes pause. The newest entry stays, whatever its age (as a
-- write's own entry does, and SQLite's newest row): reads hide its changes, and its time is
-- when the state became the one stored (get(at=) later than it answers the stored value).
-- KEYS: history.lua's six (the item index, its two markers, the change count, the history
-- counter, the stream). ARGV: max age in seconds.
-- Returns {1, seconds until the oldest entry left (not the newest) is older than the age, as
-- text (0 or less: more to drop now)}, or {0, ''} when only the newest entry is left (or none).
local bad = hist_unusable()
if bad then return bad end
local stream = KEYS[#KEYS]
-- (a stream without a change count was not written by these scripts: left as it is)
if redis.call('EXISTS', KEYS[#KEYS - 2]) == 0 then return {0, ''} end
local newest = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)[1]
if not newest then return {0, ''} end
local now = redis.call('TIME')
local cutoff = tonumber(now[1]) + tonumber(now[2]) / 1e6 - tonumber(ARGV[1])
local first = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)[1]
if first[1] ~= newest[1] and tonumber(hist_field(first[2], 'at')) < cutoff then
  hist_trim(function(e) return e[1] ~= newest[1] and tonumber(hist_field(e[2], 'at')) < cutoff end)
  first = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)[1]
end
if first[1] == newest[1] then return {0, ''} end
return {1, string.format('%.6f', tonumber(hist_field(first[2], 'at')) - cutoff)}
