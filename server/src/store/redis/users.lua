-- Redis Cluster only (runs after prelude.lua, in group 0): the user topics' accounting across all groups, from the
-- `user_changes` the group scripts reported, then the caps. Values are absolute (a topic's bytes now, not a delta),
-- so a change reported twice, or lost in a crash and reported again by the topic's next append, leaves the totals
-- right.
-- ARGV: prefix (group 0), max user topics, max bytes of all user topics, then per change: topic, append time (-1:
-- unchanged), bytes (-1: deleted). Returns the topics to delete (least recently appended first), already taken out
-- of the accounting; never one changed by this call.
local max_users, max_bytes = num(ARGV[2]), num(ARGV[3])
local users, sizes, total = p .. 'users', p .. 'user_size', p .. 'user_bytes'
local touched, n_touched = {}, 0
local function forget(topic)
  redis.call('DECRBY', total, num(redis.call('HGET', sizes, topic)))
  redis.call('HDEL', sizes, topic)
  redis.call('ZREM', users, topic)
end
for j = 4, #ARGV, 3 do
  local topic, t, bytes = ARGV[j], tonumber(ARGV[j + 1]), tonumber(ARGV[j + 2])
  if bytes < 0 then
    forget(topic)
  else
    redis.call('INCRBY', total, bytes - num(redis.call('HGET', sizes, topic)))
    redis.call('HSET', sizes, topic, bytes)
    if t >= 0 then
      redis.call('ZADD', users, t, topic)
      if not touched[topic] then touched[topic], n_touched = true, n_touched + 1 end
    else
      redis.call('ZADD', users, 'NX', 0, topic)
    end
  end
end
local victims = {}
while redis.call('ZCARD', users) > max_users or num(redis.call('GET', total)) > max_bytes do
  local victim = nil
  for _, name in ipairs(redis.call('ZRANGE', users, 0, n_touched)) do
    if not touched[name] then victim = name break end
  end
  if not victim then break end
  forget(victim)
  victims[#victims + 1] = victim
end
return victims
