-- One write batch, atomically (runs after prelude.lua): appends, offline marks, job records, idempotency keys.
-- ARGV: prefix, epoch, now (ms), max user topics, max bytes per user topic, max bytes of all user topics, then the
-- ops, each a letter and its arguments (encoded by codec.rs): K key fingerprint window_ms (keeps the next op's
-- outcome), A topic event data position_at max_events max_age_ms is_user mark_offline base_size, T topic,
-- J id record lease_until max_running job_topic_prefix, D id job_topic, E id job_topic outcome only_if_lease_before base_size,
-- R id until_ms, P. `base_size`: the event's frame bytes without its `id:` line and without the position
-- put into its data (both known only here). Returns {'ok', {one reply per op}, user_changes}, or {'epoch', the epoch now (false if
-- none)} and changes nothing if the epoch is not ARGV[2].
local epoch_now = redis.call('GET', p .. 'epoch')
if epoch_now ~= ARGV[2] then return {'epoch', epoch_now} end
local now = num(ARGV[3])
local max_users = num(ARGV[4])
local max_topic_bytes = num(ARGV[5])
local max_user_bytes = num(ARGV[6])
-- `id: <epoch>-<pos>\n` plus the position's digits in the data, if it goes there.
local function frame_size(base, pos, at)
  local digits = #int(pos)
  return base + 6 + #ARGV[2] + digits + (at >= 0 and digits or 0)
end
local function append(topic, event, data, at, max_events, max_age, is_user, mark_offline, base)
  local pos = redis.call('INCR', p .. 'seq')
  local meta, stream = tkey(topic, 'm'), tkey(topic, 's')
  local m = redis.call('HMGET', meta, 'last_append_ms', 'count', 'offline_from', 'bytes')
  local fields = {}
  if not m[1] then
    fields = {'created_after', pos - 1, 'trimmed_upto', 0, 'offline_from', 0}
    redis.call('SADD', p .. 'topics', topic)
  end
  local t = math.max(now, num(m[1]))
  local count = num(m[2]) + 1
  local size = frame_size(base, pos, at)
  local bytes = num(m[4]) + size
  if at >= 0 then data = string.sub(data, 1, at) .. int(pos) .. string.sub(data, at + 1) end
  redis.call('XADD', stream, int(pos) .. '-0', 'e', event, 'd', data, 't', t, 'n', size)
  -- Retention by count, and by bytes for a per-user topic (its newest event always stays): the oldest go first.
  local max_bytes = is_user and max_topic_bytes or -1
  local function over()
    return (max_events >= 0 and count > max_events) or (max_bytes >= 0 and bytes > max_bytes and count > 1)
  end
  local user_delta = size
  if over() then
    local from, last_dropped, chunk_size = '-', nil, math.max(count - math.max(max_events, 0), 1)
    while over() do
      local chunk = redis.call('XRANGE', stream, from, '+', 'COUNT', chunk_size)
      if #chunk == 0 then break end
      for _, e in ipairs(chunk) do
        if not over() then break end
        last_dropped, count = e[1], count - 1
        local gone = entry_size(e)
        bytes, user_delta = bytes - gone, user_delta - gone
      end
      from, chunk_size = '(' .. chunk[#chunk][1], 16
    end
    if last_dropped then
      local lp = entry_pos(last_dropped)
      -- Remember the last one dropped, so a client that missed it learns so.
      redis.call('XTRIM', stream, 'MINID', int(lp + 1) .. '-0')
      fields[#fields + 1] = 'trimmed_upto'
      fields[#fields + 1] = lp
    end
  end
  local receivers = redis.call(cluster and 'SPUBLISH' or 'PUBLISH', tkey(topic, 'c'), ARGV[2] .. '\n' .. int(pos) .. '\n' .. event .. '\n' .. data)
  -- The writer's decision (nobody listens on its instance) and no instance received it live.
  if mark_offline and receivers == 0 and num(m[3]) == 0 then
    fields[#fields + 1] = 'offline_from'
    fields[#fields + 1] = pos
  end
  if is_user and cluster then
    fields[#fields + 1] = 'u'
    fields[#fields + 1] = 1
    user_changes[#user_changes + 1] = {topic, t, bytes}
  end
  redis.call('HSET', meta, 'last', pos, 'last_append_ms', t, 'count', count, 'bytes', bytes, 'max_events', max_events, 'max_age_ms', max_age, unpack(fields))
  if is_user and not cluster then
    redis.call('ZADD', p .. 'users', t, topic)
    local user_bytes = redis.call('INCRBY', p .. 'user_bytes', user_delta)
    -- Past the caps on user topics (count, bytes), the least recently used go (never this one).
    while redis.call('ZCARD', p .. 'users') > max_users or user_bytes > max_user_bytes do
      local victim = nil
      for _, name in ipairs(redis.call('ZRANGE', p .. 'users', 0, 1)) do
        if name ~= topic then victim = name break end
      end
      if not victim then break end
      delete_topic(victim)
      user_bytes = num(redis.call('GET', p .. 'user_bytes'))
    end
  end
  return {pos, data}
end
local function delete_job(id, job_topic)
  redis.call('HDEL', p .. 'jobs', id)
  redis.call('HDEL', p .. 'job_end', id)
  redis.call('HDEL', p .. 'job_lease', id)
  delete_topic(job_topic)
end

-- Job admission: fewer than `cap` jobs running now (not ended, lease not run out); with `cap` kept, the job that
-- ended first makes room. `job_prefix`: a job's topic is `job_prefix .. id` (spelt by store/topic.rs).
local function admit_job(cap, job_prefix)
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
  if first and redis.call('HLEN', p .. 'jobs') >= cap then delete_job(first, job_prefix .. first) end
  return true
end
local out = {}
local i = 7
-- Arguments per op (to skip the op of a key seen already).
local widths = {A = 10, T = 2, J = 6, D = 3, E = 6, R = 3, P = 1}
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
    out[#out + 1] = append(ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], num(ARGV[i + 4]), num(ARGV[i + 5]), num(ARGV[i + 6]), ARGV[i + 7] == '1', ARGV[i + 8] == '1', num(ARGV[i + 9]))
    i = i + 10
  elseif op == 'T' then
    local meta = tkey(ARGV[i + 1], 'm')
    local from = num(redis.call('HGET', meta, 'offline_from'))
    if from > 0 then redis.call('HSET', meta, 'offline_from', 0) end
    out[#out + 1] = from
    i = i + 2
  elseif op == 'J' then
    last_job = ARGV[i + 1]
    if admit_job(num(ARGV[i + 4]), ARGV[i + 5]) then
      redis.call('HSET', p .. 'jobs', ARGV[i + 1], ARGV[i + 2])
      redis.call('HSET', p .. 'job_lease', ARGV[i + 1], ARGV[i + 3])
      out[#out + 1] = 0
    else
      out[#out + 1] = -1
    end
    i = i + 6
  elseif op == 'D' then
    delete_job(ARGV[i + 1], ARGV[i + 2])
    out[#out + 1] = 0
    i = i + 3
  elseif op == 'E' then
    local id, job_topic, outcome, before = ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], num(ARGV[i + 4])
    local running = redis.call('HEXISTS', p .. 'jobs', id) == 1 and redis.call('HEXISTS', p .. 'job_end', id) == 0
    if running and (before < 0 or num(redis.call('HGET', p .. 'job_lease', id)) < before) then
      redis.call('HSET', p .. 'job_end', id, int(now) .. ':' .. outcome)
      out[#out + 1] = append(job_topic, 'ping', outcome, -1, -1, -1, false, false, num(ARGV[i + 5]))
    else
      out[#out + 1] = 0
    end
    i = i + 6
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
      redis.call('SET', keyed[1], keyed[2] .. '\n' .. int(r[1]) .. '\n' .. r[2], 'PX', keyed[3])
    elseif op == 'J' and r == 0 then
      redis.call('SET', keyed[1], keyed[2] .. '\n0\n' .. last_job, 'PX', keyed[3])
    end
    keyed = nil
  end
end
return {'ok', out, user_changes}
