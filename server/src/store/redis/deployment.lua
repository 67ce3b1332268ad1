-- The deployment marker (`<p>deployment`): created with these settings if there is none, then returned.
-- ARGV: prefix, then setting, value, ... No KEYS. Returns the marker's fields (flat).
local key = ARGV[1] .. 'deployment'
if redis.call('EXISTS', key) == 0 and #ARGV > 1 then redis.call('HSET', key, unpack(ARGV, 2)) end
return redis.call('HGETALL', key)
