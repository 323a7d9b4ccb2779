-- Shared helpers, prepended to the write scripts (set, set_many, cas, delete, clear), after key_text.lua.
-- KEYS[1] = state:<group>, KEYS[2] = motia_nb:order:<group>, KEYS[3] = motia_nb:seq (set, set_many, cas).
local function reconcile(h, z, seq)
  -- make the order index hold exactly the hash's fields (cheap when it already does);
  -- returns the hash's length
  local n = redis.call('HLEN', h)
  if n == redis.call('ZCARD', z) then return n end
  for _, m in ipairs(redis.call('ZRANGE', z, 0, -1)) do
    if redis.call('HEXISTS', h, m) == 0 then redis.call('ZREM', z, m) end
  end
  for _, f in ipairs(redis.call('HKEYS', h)) do
    if not redis.call('ZSCORE', z, f) then redis.call('ZADD', z, redis.call('INCR', seq), f) end
  end
  return n
end
local function index(z, seq, f, new)
  -- f gets the next place unless the order index holds it (`new`: f was not in the hash)
  if new then
    redis.call('ZADD', z, 'NX', redis.call('INCR', seq), f)
  elseif not redis.call('ZSCORE', z, f) then
    redis.call('ZADD', z, redis.call('INCR', seq), f)
  end
end
-- The key index (a sorted set of the hash's fields, all at score 0), its "complete" marker and
-- its key text (chunk bounds, chunk texts: key_text.lua, prepended) are KEYS[#KEYS - 9] ..
-- KEYS[#KEYS - 6] of every write script (before history.lua's six).
local key_text_size = nil  -- the group's key text chunk size, false: none (asked once per script call)
local function key_text_follow(f, added)
  -- a key came or went: the key text of a searched big group follows it (a group nobody
  -- searched keeps none, and its writes pay one ZSCORE per script call)
  local chunks, texts = KEYS[#KEYS - 7], KEYS[#KEYS - 6]
  if key_text_size == nil then key_text_size = kt_size(chunks, texts) or false end
  if key_text_size then kt_changed(chunks, f, added) end
end
local function key_text_done()
  -- at the end of a write script: the key text takes in the keys that came and went
  if key_text_size then kt_done(KEYS[#KEYS - 9], KEYS[#KEYS - 7], KEYS[#KEYS - 6], key_text_size) end
end
local function key_add(h, f, hlen)
  -- before HSET of field f: an empty hash starts a fresh, complete index (`hlen`: the
  -- hash's length, when the caller has it)
  local lex = KEYS[#KEYS - 9]
  if (hlen or redis.call('HLEN', h)) == 0 then
    redis.call('DEL', lex, KEYS[#KEYS - 7], KEYS[#KEYS - 6])
    redis.call('SET', KEYS[#KEYS - 8], '1')
    key_text_size, kt_changes, kt_order = false, {}, {}
  end
  if redis.call('ZADD', lex, 0, f) == 1 then key_text_follow(f, true) end
end
local function key_del(f)
  if redis.call('ZREM', KEYS[#KEYS - 9], f) == 1 then key_text_follow(f, false) end
end
local function publish_to(chan)
  -- `chan` is "<channel>|<n>": n (0 or 1) of the channel's subscribers are the writer's own.
  -- The channel's name when somebody else listens (by name or by any pattern: a pattern
  -- subscriber might match), else nil: nothing to publish (and no echo for the writer to read).
  local name, mine = string.match(chan, '^(.*)|([01])$')
  if not name then name, mine = chan, '0' end
  if redis.call('PUBSUB', 'NUMSUB', name)[2] <= tonumber(mine) and redis.call('PUBSUB', 'NUMPAT') == 0 then
    return nil
  end
  return name
end
local function publish(chan, origin, events, name)
  -- old/new values travel as JSON *text* (Lua strings): cjson never parses them
  -- (`name`: publish_to(chan), when the caller asked already). A publish the server refuses (a
  -- user without that channel: the Subscriber says so) never fails the writes made before it
  -- The message carries the call's trace id (history.lua's six ARGV: the second; '' none) as r,
  -- so another process runs its remote triggers under the writer's trace; an event of a
  -- set_many of several traces carries its own r.
  name = name or publish_to(chan)
  if name then
    local msg = {origin = origin, events = events}
    local r = ARGV[#ARGV - 4]
    if r and r ~= '' then msg.r = r end
    redis.pcall('PUBLISH', name, cjson.encode(msg))
  end
end
