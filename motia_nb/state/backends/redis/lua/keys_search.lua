-- One short call of a substring search over the key index (after keys_ready.lua); see key_index.py.
-- KEYS: state:<group>, motia_nb:keys:<group>, motia_nb:keys_ready:<group>,
--       motia_nb:keys_chunks:<group>, motia_nb:keys_text:<group>.
-- ARGV: '1' when resuming after a key ('0' from the start), that key, the text, matches wanted,
--       keys a walk examines, text bytes a call reads, keys a call makes into text (the two share
--       one budget: a call ends after the chunk that spends it), the group size from which the key
--       text is kept, keys per chunk, mode ('search', or 'build': only make
--       the missing chunk texts).
-- Returns false when the index is not complete, else {done, through, matches, keys made into text}:
-- done is 1 when the wanted matches were found or the index ended; otherwise every match up to
-- `through` (a key, or in 'build' mode the chunk bound to go on from) is in `matches`.
--
-- Small groups (and an empty text, or one holding a NUL) walk the index. A big group keeps its key
-- text (key_text.lua, prepended): its keys cut into chunks in key order, each chunk's keys joined
-- between NULs. Writes keep the texts there are exact; a text is missing only while a build makes
-- them (after a fill, or for a group that reached the size before motia_nb kept texts from its
-- writes): a search makes the missing texts it meets from the index (with the chunk size of the
-- text, the ARGV one when it starts a text), and a 'build' call only those.
if not keys_ready() then return false end
local idx, chunks, texts = KEYS[2], KEYS[4], KEYS[5]
local has_after, after, text = ARGV[1] == '1', ARGV[2], ARGV[3]
local want, walk_keys, scan_bytes = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local build_keys, threshold, chunk, mode = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9]), ARGV[10]
local NUL = '\0'

local function walk()
  local ks = redis.call('ZRANGEBYLEX', idx, has_after and ('(' .. after) or '-', '+', 'LIMIT', 0, walk_keys)
  local out = {}
  for _, k in ipairs(ks) do
    if string.find(k, text, 1, true) then
      out[#out + 1] = k
      if #out >= want then return {1, k, out, 0} end
    end
  end
  if #ks < walk_keys then return {1, '', out, 0} end
  return {0, ks[#ks], out, 0}
end

if mode == 'search' and (text == '' or string.find(text, NUL, 1, true)) then return walk() end
local size = kt_size(chunks, texts)
if not size then
  if redis.call('ZCARD', idx) < threshold then
    if mode == 'build' then return {1, '', {}, 0} end
    return walk()
  end
  size = chunk
  redis.call('DEL', texts)
  redis.call('ZADD', chunks, size, '')
end

local function make(cur, nxt)
  return kt_make(idx, chunks, texts, size, cur, nxt)
end

local function last_key(t)
  -- the last key of a chunk text (t ends with a NUL)
  local s = #t - 1
  while string.byte(t, s) ~= 0 do s = s - 1 end
  return string.sub(t, s + 1, #t - 1)
end

local cur = ''
if has_after then cur = redis.call('ZREVRANGEBYLEX', chunks, '[' .. after, '-', 'LIMIT', 0, 1)[1] end
-- the chunk bounds from cur on, 64 at a time (fetched again where a chunk was made: it may have cut)
local bounds, j = nil, 1
local function bounds_from(c)
  bounds, j = redis.call('ZRANGEBYLEX', chunks, '[' .. c, '+', 'LIMIT', 0, 64), 1
end
bounds_from(cur)
local out, scanned, made, visited, through, skip = {}, 0, 0, 0, nil, has_after
local function spent()
  -- one budget per call: the text read and the keys made into text, each against its own limit
  return scanned / scan_bytes + made / build_keys >= 1
end
local m = #text
while true do
  if j == #bounds and #bounds == 64 then bounds_from(cur) end
  local nxt = bounds[j + 1]
  visited = visited + 1
  if mode == 'build' then
    if redis.call('HEXISTS', texts, cur) == 0 then
      made = made + make(cur, nxt)
      bounds_from(cur)
      nxt = bounds[2]
    end
    if not nxt then return {1, '', out, made} end
    if spent() or visited >= 4096 then return {0, nxt, out, made} end
  else
    local t = redis.call('HGET', texts, cur)
    while not t do
      made = made + make(cur, nxt)
      -- a cut may have put `after` in a later chunk (made too, or still to be made)
      if skip then cur = redis.call('ZREVRANGEBYLEX', chunks, '[' .. after, '-', 'LIMIT', 0, 1)[1] end
      bounds_from(cur)
      nxt = bounds[2]
      t = redis.call('HGET', texts, cur)
    end
    if t == 'W' then  -- a key holds a NUL: walk this chunk's keys
      local lo = skip and ('(' .. after) or ('[' .. cur)
      local ks = redis.call('ZRANGEBYLEX', idx, lo, nxt and ('(' .. nxt) or '+')
      for _, k in ipairs(ks) do
        if string.find(k, text, 1, true) then
          out[#out + 1] = k
          if #out >= want then return {1, k, out, made} end
        end
        scanned = scanned + #k + 1
      end
      through = ks[#ks] or (skip and after) or through
    elseif t ~= '' then
      local p = 2
      if skip then  -- past the keys up to `after`
        local n = redis.call('ZLEXCOUNT', idx, '[' .. cur, '[' .. after)
        for _ = 1, n do p = string.find(t, NUL, p, true) + 1 end
      end
      if p > #t then
        through = after
      else
        scanned = scanned + #t - p
        while true do
          local a = string.find(t, text, p, true)
          if not a then break end
          local e = string.find(t, NUL, a + m, true)
          local s = a - 1
          while string.byte(t, s) ~= 0 do s = s - 1 end
          out[#out + 1] = string.sub(t, s + 1, e - 1)
          if #out >= want then return {1, out[#out], out, made} end
          p = e + 1
        end
        through = last_key(t)
      end
    elseif skip then
      through = after
    end
    skip = false
    if not nxt then return {1, '', out, made} end
    if through and spent() then return {0, through, out, made} end
  end
  cur, j = nxt, j + 1
end
