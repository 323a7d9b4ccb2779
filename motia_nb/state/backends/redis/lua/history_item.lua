-- One item's changes from the changelog's item index (after history_index.lua). KEYS: the
-- group's stream, its item index, the index's two markers (from, up to), its change count. ARGV: 'fwd' (oldest first) or 'rev', the
-- key, the first seq wanted and the first one past those wanted (as a member has them: a letter
-- then the digits; '' for the first change / past the newest), changes wanted, members examined
-- at most (a bound on the time the server spends in one call), the earliest and the latest time
-- wanted (whole microseconds, '' for none), the last member a previous call examined ('':
-- none, from the start), and 'w' for whole members (when no time is given; else ignored).
-- Returns {cursor, count, tails...}: cursor the last member examined when more may follow, else
-- ''; count the changes; then their members' tails (history_index.lua) joined by commas, a
-- hundred per string (one string of them all would cost the server more than making them: Lua
-- builds a long string by merging copies); with 'w', the whole members joined by commas, fifty
-- per string (no string made per member: about half the server's time; the reader cuts the
-- prefixes off, :mod:`.history_index`). The changes not filed yet are filed first (up to
-- 2,000 of them: a few ms of the server's time). Or, reading nothing, {'fill', '0'} when the index does not hold every older
-- change yet (history_index_fill.lua goes on), {'fill', '2'} when more changes wait to be filed
-- (history_file.lua), {'fill', '1'} when it holds another count of changes than the stream
-- (somebody else wrote or trimmed the stream: the index is made again).
local stream, index, mark = KEYS[1], KEYS[2], KEYS[3]
local from = redis.call('GET', mark)
if from ~= '0' then
  if not from and redis.call('XLEN', stream) == 0 then return {'', 0} end  -- nothing recorded
  return {'fill', '0'}
end
-- the changes written since the index was last filed: filed now (a short tail, as a background
-- task files them once writes pause), else by history_file.lua calls first
if hix_file(stream, index, KEYS[4], hix_upto(stream, KEYS[4]), 2000) then return {'fill', '2'} end
if redis.call('ZCARD', index) ~= hix_count(stream, KEYS[5]) then return {'fill', '1'} end
local rev, prefix = ARGV[1] == 'rev', hix_prefix(ARGV[2])
local lo, hi = '[' .. prefix, '(' .. prefix .. '\255'
if ARGV[3] ~= '' then lo = '[' .. prefix .. ARGV[3] end
if ARGV[4] ~= '' then hi = '(' .. prefix .. ARGV[4] end
if rev then lo, hi = hi, lo end
if ARGV[9] ~= '' then lo = '(' .. ARGV[9] end
local want, budget = tonumber(ARGV[5]), tonumber(ARGV[6])
local min_us, max_us, p = tonumber(ARGV[7]), tonumber(ARGV[8]), #prefix + 2  -- where a tail starts
local tails, count, seen, last = {}, 0, 0, ''
local function next_page(n)  -- the next n members from lo (lo moves on as pages are read)
  if rev then return redis.call('ZREVRANGEBYLEX', index, lo, hi, 'LIMIT', 0, n) end
  return redis.call('ZRANGEBYLEX', index, lo, hi, 'LIMIT', 0, n)
end
if ARGV[10] == 'w' and not (min_us or max_us) then  -- every member examined is wanted
  local out = {'', 0}
  while seen < budget and count < want do
    local n = math.min(1000, budget - seen, want - count)
    local page = next_page(n)
    for i = 1, #page, 50 do out[#out + 1] = table.concat(page, ',', i, math.min(#page, i + 49)) end
    count, seen = count + #page, seen + #page
    out[2] = count
    if #page < n then return out end
    last = page[#page]
    lo = '(' .. last
  end
  out[1] = last
  return out
end
local function done(cursor)
  local out = {cursor, count}
  for i = 1, count, 100 do out[#out + 1] = table.concat(tails, ',', i, math.min(count, i + 99)) end
  return out
end
while seen < budget do
  local n = math.min(1000, budget - seen)
  if not (min_us or max_us) then n = math.min(n, want - count) end
  local page = next_page(n)
  for _, m in ipairs(page) do
    local ok = true
    if min_us or max_us then
      local us = tonumber(string.match(m, '^%d+,(%d+)', p))
      ok = not ((min_us and us < min_us) or (max_us and us > max_us))
    end
    if ok then
      count = count + 1
      tails[count] = string.sub(m, p)
      if count >= want then return done(m) end
    end
  end
  seen = seen + #page
  if #page < n then return done('') end
  last = page[#page]
  lo = '(' .. last
end
return done(last)
