-- (after keys_ready.lua) 1 when one of the keys in ARGV (a key search's matches, from the key
-- index) is not in the hash: the index is stale and its marker dropped; else 0.
if keys_gone(ARGV) then return 1 end
return 0
