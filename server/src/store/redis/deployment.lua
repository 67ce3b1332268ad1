-- The deployment marker (`<p>deployment`): created with these settings if there is none; a setting the marker lacks
-- (written by a server from before that setting was shared) is added, not refused. Then returned.
-- ARGV: prefix, then setting, value, ... KEYS[1]: the marker (for Redis Cluster to route by). Returns the marker's fields (flat).
local key = ARGV[1] .. 'deployment'
for j = 2, #ARGV, 2 do redis.call('HSETNX', key, ARGV[j], ARGV[j + 1]) end
return redis.call('HGETALL', key)
