-- The changelog's item index (:mod:`.history_index`), prepended to history.lua, history_item.lua
-- and history_index_fill.lua: the sorted set motia_nb:history_index:<group>, every member at score
-- 0, one per change of the group's stream, holding the change itself so that one item's history
-- is one range of the set (reading stream entries back from Lua costs several microseconds
-- each; a member, a fraction of one). A member is its key's prefix (hix_prefix), one letter
-- saying how many digits the seq has ('a' + that number: seqs sort as numbers), then the
-- change's tail, JSON text of nine values, the seq first:
--   <seq>,<at_us>,<pid>,<cause>,<trace>,<old length>,<new length>,[<old>],[<new>]
-- (at_us: unix time in whole microseconds; cause and trace as cjson writes strings, trace null
-- when none; a length -1 when the value is absent, and then its brackets hold nothing), so that
-- a read joins tails into one JSON text.
local function hix_prefix(k)
  -- the key, each NUL doubled as NUL 0x01, then two NULs: no other key's prefix starts with it
  -- (no key read through the API holds a NUL; another tool's field could)
  if string.find(k, '\0', 1, true) then k = string.gsub(k, '%z', '\0\1') end
  return k .. '\0\0'
end
local hix_num = {}  -- numbers (lengths) as text, made once
local function hix_text(x)
  local t = hix_num[x]
  if not t then t = string.format('%d', x); hix_num[x] = t end
  return t
end
local hix_last = {}
local function hix_middle(at_us, pid, cause, trace)
  -- the fields between the seq and the lengths, which a call's changes share (made once)
  local l = hix_last
  if at_us ~= l[1] or pid ~= l[2] or cause ~= l[3] or trace ~= l[4] then
    local tr = 'null'
    if trace ~= '' then tr = cjson.encode(trace) end
    hix_last = {at_us, pid, cause, trace, ',' .. at_us .. ',' .. pid .. ',' .. cjson.encode(cause) .. ',' .. tr .. ','}
  end
  return hix_last[5]
end
local function hix_member(k, s, mid, o, n)
  -- `s`: the seq as text (a member starts with the letter of its number of digits, 'a' + that number)
  if string.find(k, '\0', 1, true) then k = string.gsub(k, '%z', '\0\1') end  -- (as hix_prefix)
  return k .. '\0\0' .. string.char(96 + #s) .. s .. mid .. hix_text(o and #o or -1) .. ',' .. hix_text(n and #n or -1)
         .. ',[' .. (o or '') .. '],[' .. (n or '') .. ']'
end
local function hix_drop(index, entries)
  -- the members of stream entries trimmed away
  for _, e in ipairs(entries) do
    local f = e[2]
    for i = 1, #f, 2 do
      if f[i] == 'k' then
        local s = string.match(e[1], '^(%d+)')
        local p = hix_prefix(f[i + 1]) .. string.char(96 + #s) .. s .. ','
        redis.call('ZREMRANGEBYLEX', index, '[' .. p, '(' .. p .. '\255')
        break
      end
    end
  end
end
local function hix_add(index, args, count)
  -- ZADD of `args`' first `count` values ({'0', member, '0', member, ...}: scores as text, so
  -- Redis parses no formatted number) in chunks (Lua's unpack takes at most ~8,000 values)
  for lo = 1, count, 2000 do redis.call('ZADD', index, unpack(args, lo, math.min(count, lo + 1999))) end
end
