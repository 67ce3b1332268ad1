-- One bounded step of the age sweep (runs after prelude.lua): drops events older than their topic's max age.
-- ARGV: prefix, now (ms), SSCAN cursor, budget. Returns {next cursor, events removed, topics removed, user_changes}.
local now, cursor, budget = num(ARGV[2]), ARGV[3], num(ARGV[4])
local scan = redis.call('SSCAN', p .. 'topics', cursor, 'COUNT', budget)
local removed, topics = 0, 0
for _, topic in ipairs(scan[2]) do
  local meta, stream = tkey(topic, 'm'), tkey(topic, 's')
  local max_age = tonumber(redis.call('HGET', meta, 'max_age_ms')) or -1
  if max_age >= 0 then
    local cutoff = now - max_age
    local n, last_old, old_bytes = 0, nil, 0
    for _, e in ipairs(redis.call('XRANGE', stream, '-', '+', 'COUNT', 10000)) do
      local t = 0
      for j = 1, #e[2], 2 do if e[2][j] == 't' then t = num(e[2][j + 1]) end end
      if t >= cutoff then break end
      n, last_old, old_bytes = n + 1, e[1], old_bytes + entry_size(e)
    end
    if n > 0 then
      if n >= redis.call('XLEN', stream) then
        removed = removed + delete_topic(topic)
        topics = topics + 1
      else
        local lp = entry_pos(last_old)
        redis.call('XTRIM', stream, 'MINID', int(lp + 1) .. '-0')
        redis.call('HSET', meta, 'trimmed_upto', lp, 'count', redis.call('XLEN', stream))
        redis.call('HINCRBY', meta, 'bytes', -old_bytes)
        if cluster then
          if redis.call('HGET', meta, 'u') then
            user_changes[#user_changes + 1] = {topic, -1, num(redis.call('HGET', meta, 'bytes'))}
          end
        elseif redis.call('ZSCORE', p .. 'users', topic) then
          redis.call('DECRBY', p .. 'user_bytes', old_bytes)
        end
        removed = removed + n
      end
    end
  end
end
return {scan[1], removed, topics, user_changes}
