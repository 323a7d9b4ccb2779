-- File the changes the item index lacks after its forward marker (after history_index.lua):
-- whole stream entries (either format), about ARGV[1] changes per call. KEYS: the group's
-- stream, its item index, the index's two markers (from, up to) and its change count. Returns
-- 1 when more remain, else 0 (also when there is no index to file into: its marker missing).
if not redis.call('GET', KEYS[3]) then return 0 end
local upto = hix_upto(KEYS[1], KEYS[4])
if hix_file(KEYS[1], KEYS[2], KEYS[4], upto, tonumber(ARGV[1])) then return 1 end
return 0
