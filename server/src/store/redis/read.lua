-- A topic's meta and its events after a position (runs after prelude.lua).
-- ARGV: prefix, topic, after, limit. Returns {meta (flat), seq, deleted_upto, entries (XRANGE), epoch}.
local topic, after, limit = ARGV[2], ARGV[3], tonumber(ARGV[4])
local meta = redis.call('HGETALL', tkey(topic, 'm'))
local entries = {}
if #meta > 0 and limit > 0 then
  entries = redis.call('XRANGE', tkey(topic, 's'), '(' .. after .. '-0', '+', 'COUNT', limit)
end
return {meta, num(redis.call('GET', p .. 'seq')), num(redis.call('GET', p .. 'deleted_upto')), entries, redis.call('GET', p .. 'epoch')}
