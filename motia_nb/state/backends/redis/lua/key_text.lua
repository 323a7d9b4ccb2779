-- The key text of a big group (see key_index.py), shared by the write scripts (prepended before
-- helpers.lua) and keys_search.lua. Its two keys: the chunks (a sorted set of each chunk's first
-- bound, '' first, every member scored with the chunk size the text was cut with) and the texts
-- (a hash: bound -> the chunk's keys, in key order, each between NUL bytes; '' for no key; 'W'
-- when a key holds a NUL, which only another program can write: that chunk is walked).
-- Invariant: a chunk text that exists is exactly the key index's keys between its bound and the
-- next; writes keep it so in place (kt_follow), a search or a build makes a missing one (kt_make).
-- Lua compares no keys here (its `<` follows the server's locale): order comes from sorted sets.
local KT_NUL = '\0'

local function kt_size(chunks, texts)
  -- the chunk size of the group's key text, or nil when it keeps none (one cut by an older
  -- motia_nb, its bounds scored 0 and its texts dropped by writes, is dropped: made again)
  local s = redis.call('ZSCORE', chunks, '')
  if not s then return nil end
  s = tonumber(s)
  if s >= 1 then return s end
  redis.call('DEL', chunks, texts)
  return nil
end

local function kt_joined(ks, i, j)
  -- the text of ks[i..j]: each key between NULs ('' for none; 'W' when a key holds a NUL)
  if j < i then return '' end
  local t = KT_NUL .. table.concat(ks, KT_NUL, i, j) .. KT_NUL
  local _, n = string.gsub(t, '%z', '')
  if n ~= j - i + 2 then return 'W' end
  return t
end

local function kt_make(idx, chunks, texts, size, cur, nxt)
  -- the text of chunk [cur, nxt) (nxt nil: to the end) from the index, cutting it in chunks of
  -- `size` keys while more than twice that many are left and joining it to the next chunk when
  -- it holds under a quarter; a read that stops short of the range's end leaves its last key as
  -- the bound of a chunk still to be made. Returns the keys read.
  local split, merge, read_max = 2 * size, math.floor(size / 4), 8 * size + 1
  local read = 0
  while true do
    local ks = redis.call('ZRANGEBYLEX', idx, '[' .. cur, nxt and ('(' .. nxt) or '+', 'LIMIT', 0, read_max)
    read = read + #ks
    if #ks < merge and nxt then  -- shrunk: take in the next chunk
      local beyond = redis.call('ZRANGEBYLEX', chunks, '(' .. nxt, '+', 'LIMIT', 0, 1)[1]
      redis.call('ZREM', chunks, nxt)
      redis.call('HDEL', texts, nxt)
      nxt = beyond
    else
      local whole, i, start = #ks < read_max, 1, cur
      while true do
        local left = #ks - i + 1
        if whole and left <= split then
          redis.call('HSET', texts, start, kt_joined(ks, i, #ks))
          return read
        end
        if not whole and left <= 1 then return read end
        redis.call('HSET', texts, start, kt_joined(ks, i, i + size - 1))
        i = i + size
        start = ks[i]
        redis.call('ZADD', chunks, size, start)
      end
    end
  end
end

local function kt_follow(idx, chunks, texts, size, c, mine)
  -- the keys of `mine` ({key, true} came into the index, {key, false} left it) are in chunk c:
  -- its text follows them in place (one read and one write of the text, a few copies of it per
  -- key). Then, when the text's length crossed a multiple of 2 * `size` bytes, the chunk's keys
  -- are counted: one grown past twice `size` is cut, one shrunk under a quarter joined to the
  -- next, from the index. A chunk whose text is still to be made (a build or a search makes it
  -- from the index) is left alone.
  local t = redis.call('HGET', texts, c)
  if not t then return end
  local was = #t
  local pending = {}  -- keys in the index not yet in t
  for _, ch in ipairs(mine) do if ch[2] then pending[ch[1]] = true end end
  for _, ch in ipairs(mine) do
    local f, added = ch[1], ch[2]
    if string.find(f, KT_NUL, 1, true) then  -- another program's key: walked, or made again
      if not added then redis.call('HDEL', texts, c); return end
      t = 'W'
    end
    if t ~= 'W' then
      local key = KT_NUL .. f .. KT_NUL
      if added then
        -- f goes after the greatest key before it in the chunk that t holds already
        local ps, p = redis.call('ZREVRANGEBYLEX', idx, '(' .. f, '[' .. c, 'LIMIT', 0, #mine + 1), nil
        for _, k in ipairs(ps) do
          if not pending[k] then p = k; break end
        end
        if not p then
          if t == '' then t = key else t = KT_NUL .. f .. t end
        else
          local a = string.find(t, KT_NUL .. p .. KT_NUL, 1, true)
          if not a then redis.call('HDEL', texts, c); return end  -- (not seen: made again)
          local q = a + #p + 1
          t = string.sub(t, 1, q) .. f .. KT_NUL .. string.sub(t, q + 1)
        end
        pending[f] = nil
      elseif pending[f] then  -- came and went in this call: never in t
        pending[f] = nil
      else
        local a = string.find(t, key, 1, true)
        if not a then redis.call('HDEL', texts, c); return end
        t = string.sub(t, 1, a) .. string.sub(t, a + #key)
        if t == KT_NUL then t = '' end
      end
    end
  end
  redis.call('HSET', texts, c, t)
  local step = 2 * size
  if math.floor(was / step) == math.floor(#t / step) and t ~= '' and t ~= 'W' then return end
  local nxt = redis.call('ZRANGEBYLEX', chunks, '(' .. c, '+', 'LIMIT', 0, 1)[1]
  local n = redis.call('ZLEXCOUNT', idx, '[' .. c, nxt and ('(' .. nxt) or '+')
  if n > 2 * size or (nxt and n < math.floor(size / 4)) then
    kt_make(idx, chunks, texts, size, c, nxt)
  end
end

-- The changes of one write script call, applied at its end (kt_done): chunk bound -> the keys
-- that came (true) or went (false) in it; a chunk follows them in place, or, with KT_REMAKE or
-- more (a run of new keys), is made again whole from the index, once.
local KT_REMAKE = 16
local kt_changes, kt_order = {}, {}

local function kt_changed(chunks, f, added)
  local c = redis.call('ZREVRANGEBYLEX', chunks, '[' .. f, '-', 'LIMIT', 0, 1)[1]
  local mine = kt_changes[c]
  if not mine then
    mine = {}
    kt_changes[c] = mine
    kt_order[#kt_order + 1] = c
  end
  mine[#mine + 1] = {f, added}
end

local function kt_done(idx, chunks, texts, size)
  for _, c in ipairs(kt_order) do
    local mine = kt_changes[c]
    if #mine >= KT_REMAKE then  -- (unless a join took it in, or its text is still to be made)
      if redis.call('HEXISTS', texts, c) == 1 then
        kt_make(idx, chunks, texts, size, c, redis.call('ZRANGEBYLEX', chunks, '(' .. c, '+', 'LIMIT', 0, 1)[1])
      end
    else
      kt_follow(idx, chunks, texts, size, c, mine)
    end
  end
  kt_changes, kt_order = {}, {}
end
