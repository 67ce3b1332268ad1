-- One write batch, atomically (runs after prelude.lua): appends, offline marks, job records, idempotency keys.
-- ARGV: prefix, epoch, now (ms), max user topics, then the ops, each a letter and its arguments (encoded by
-- codec.rs): K key fingerprint window_ms (keeps the next op's outcome), A topic event data position_at max_events
-- max_age_ms is_user, T topic, J id record lease_until max_running, D id, E id outcome only_if_lease_before,
-- R id until_ms, P. No KEYS. Returns one reply per op; an error reply 'EPOCH changed' if the epoch is not ARGV[2].
if redis.call('GET', p .. 'epoch') ~= ARGV[2] then return redis.error_reply('EPOCH changed') end
local now = num(ARGV[3])
local max_users = num(ARGV[4])
local function append(topic, event, data, at, max_events, max_age, is_user, mark_offline)
  local pos = redis.call('INCR', p .. 'seq')
  local meta, stream = tkey(topic, 'm'), tkey(topic, 's')
  local m = redis.call('HMGET', meta, 'last_append_ms', 'count', 'offline_from')
  local fields = {}
  if not m[1] then
    fields = {'created_after', pos - 1, 'trimmed_upto', 0, 'offline_from', 0}
    redis.call('SADD', p .. 'topics', topic)
  end
  local t = math.max(now, num(m[1]))
  local count = num(m[2]) + 1
  if at >= 0 then data = string.sub(data, 1, at) .. pos .. string.sub(data, at + 1) end
  if max_events >= 0 and count > max_events then
    -- The oldest goes (XADD trims it); remember it, so a client that missed it learns so.
    local oldest = redis.call('XRANGE', stream, '-', '+', 'COUNT', count - max_events)
    if #oldest > 0 then
      fields[#fields + 1] = 'trimmed_upto'
      fields[#fields + 1] = tonumber(string.match(oldest[#oldest][1], '^(%d+)'))
    end
    redis.call('XADD', stream, 'MAXLEN', max_events, pos .. '-0', 'e', event, 'd', data, 't', t)
    if max_events == 0 then
      fields[#fields + 1] = 'trimmed_upto'
      fields[#fields + 1] = pos
    end
    count = max_events
  else
    redis.call('XADD', stream, pos .. '-0', 'e', event, 'd', data, 't', t)
  end
  local receivers = redis.call('PUBLISH', tkey(topic, 'c'), ARGV[2] .. '\n' .. pos .. '\n' .. event .. '\n' .. data)
  if is_user and receivers == 0 and mark_offline and num(m[3]) == 0 then
    fields[#fields + 1] = 'offline_from'
    fields[#fields + 1] = pos
  end
  redis.call('HSET', meta, 'last', pos, 'last_append_ms', t, 'count', count, 'max_events', max_events, 'max_age_ms', max_age, unpack(fields))
  if is_user then
    redis.call('ZADD', p .. 'users', t, topic)
    if not m[1] then
      while redis.call('ZCARD', p .. 'users') > max_users do
        local victim = redis.call('ZRANGE', p .. 'users', 0, 0)[1]
        if victim == topic then break end
        delete_topic(victim)
      end
    end
  end
  return {pos, data}
end
local function delete_job(id)
  redis.call('HDEL', p .. 'jobs', id)
  redis.call('HDEL', p .. 'job_end', id)
  redis.call('HDEL', p .. 'job_lease', id)
  delete_topic('j:' .. id)
end
-- Job admission: fewer than `cap` jobs running now (not ended, lease not run out); with `cap` kept, the job that
-- ended first makes room.
local function admit_job(cap)
  local ended, first, first_at = {}, nil, nil
  local ends = redis.call('HGETALL', p .. 'job_end')
  for j = 1, #ends, 2 do
    ended[ends[j]] = true
    local at = num(string.match(ends[j + 1], '^(%d+)'))
    if not first_at or at < first_at then first, first_at = ends[j], at end
  end
  local leases = redis.call('HGETALL', p .. 'job_lease')
  local running = 0
  for j = 1, #leases, 2 do
    if not ended[leases[j]] and num(leases[j + 1]) >= now then running = running + 1 end
  end
  if running >= cap then return false end
  if first and redis.call('HLEN', p .. 'jobs') >= cap then delete_job(first) end
  return true
end
local out = {}
local i = 5
-- Arguments per op (to skip the op of a key seen already).
local widths = {A = 8, T = 2, J = 5, D = 2, E = 4, R = 3, P = 1}
-- A key to keep the next op's outcome under: {redis key, fingerprint, window ms}.
local keyed = nil
-- The job id of the last 'J' op (a keyed job creation remembers it).
local last_job = nil
while i <= #ARGV do
  local op = ARGV[i]
  if op == 'K' then
    local k, fp, window = p .. 'idem:' .. ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
    i = i + 4
    local seen = redis.call('GET', k)
    if seen then
      i = i + (widths[ARGV[i]] or 1)
      if string.sub(seen, 1, #fp + 1) == fp .. '\n' then
        local rest = string.sub(seen, #fp + 2)
        local nl = string.find(rest, '\n', 1, true)
        out[#out + 1] = {'seen', tonumber(string.sub(rest, 1, nl - 1)), string.sub(rest, nl + 1)}
      else
        out[#out + 1] = {'reused'}
      end
    else
      keyed = {k, fp, window}
    end
  elseif op == 'A' then
    out[#out + 1] = append(ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], num(ARGV[i + 4]), num(ARGV[i + 5]), num(ARGV[i + 6]), ARGV[i + 7] == '1', true)
    i = i + 8
  elseif op == 'T' then
    local meta = tkey(ARGV[i + 1], 'm')
    local from = num(redis.call('HGET', meta, 'offline_from'))
    if from > 0 then redis.call('HSET', meta, 'offline_from', 0) end
    out[#out + 1] = from
    i = i + 2
  elseif op == 'J' then
    last_job = ARGV[i + 1]
    if admit_job(num(ARGV[i + 4])) then
      redis.call('HSET', p .. 'jobs', ARGV[i + 1], ARGV[i + 2])
      redis.call('HSET', p .. 'job_lease', ARGV[i + 1], ARGV[i + 3])
      out[#out + 1] = 0
    else
      out[#out + 1] = -1
    end
    i = i + 5
  elseif op == 'D' then
    delete_job(ARGV[i + 1])
    out[#out + 1] = 0
    i = i + 2
  elseif op == 'E' then
    local id, outcome, before = ARGV[i + 1], ARGV[i + 2], num(ARGV[i + 3])
    local running = redis.call('HEXISTS', p .. 'jobs', id) == 1 and redis.call('HEXISTS', p .. 'job_end', id) == 0
    if running and (before < 0 or num(redis.call('HGET', p .. 'job_lease', id)) < before) then
      redis.call('HSET', p .. 'job_end', id, now .. ':' .. outcome)
      out[#out + 1] = append('j:' .. id, 'ping', outcome, -1, -1, -1, false, false)
    else
      out[#out + 1] = 0
    end
    i = i + 4
  elseif op == 'R' then
    if redis.call('HEXISTS', p .. 'jobs', ARGV[i + 1]) == 1 then redis.call('HSET', p .. 'job_lease', ARGV[i + 1], ARGV[i + 2]) end
    out[#out + 1] = 0
    i = i + 3
  elseif op == 'P' then
    redis.call('SET', p .. 'probe', now)
    out[#out + 1] = 0
    i = i + 1
  else
    return redis.error_reply('unknown op ' .. tostring(op))
  end
  if keyed and op ~= 'K' then
    local r = out[#out]
    if type(r) == 'table' and #r == 2 then
      redis.call('SET', keyed[1], keyed[2] .. '\n' .. r[1] .. '\n' .. r[2], 'PX', keyed[3])
    elseif op == 'J' and r == 0 then
      redis.call('SET', keyed[1], keyed[2] .. '\n0\n' .. last_job, 'PX', keyed[3])
    end
    keyed = nil
  end
end
return out
