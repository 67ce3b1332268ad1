-- Shared by write.lua, read.lua and sweep.lua (prepended to each): the key helpers and topic deletion.
-- ARGV[1]: the key prefix (`p`). No KEYS: key names are derived here (one Redis primary, no Cluster).
local p = ARGV[1]
local function tkey(topic, suffix) return p .. 't:' .. topic .. ':' .. suffix end
local function num(v) return tonumber(v) or 0 end
-- The position of a stream entry id (`<position>-0`).
local function entry_pos(id) return tonumber(string.match(id, '^(%d+)')) end
-- The frame bytes of a stream entry `{id, {field, value, ...}}` (field `n`; 0 for entries written before it).
local function entry_size(e)
  for j = 1, #e[2], 2 do if e[2][j] == 'n' then return num(e[2][j + 1]) end end
  return 0
end
local function delete_topic(topic)
  local meta = tkey(topic, 'm')
  if redis.call('EXISTS', meta) == 0 then return 0 end
  local last = num(redis.call('HGET', meta, 'last'))
  if last > num(redis.call('GET', p .. 'deleted_upto')) then redis.call('SET', p .. 'deleted_upto', last) end
  local count = num(redis.call('HGET', meta, 'count'))
  if redis.call('ZSCORE', p .. 'users', topic) then
    redis.call('DECRBY', p .. 'user_bytes', num(redis.call('HGET', meta, 'bytes')))
  end
  redis.call('DEL', meta, tkey(topic, 's'))
  redis.call('SREM', p .. 'topics', topic)
  redis.call('ZREM', p .. 'users', topic)
  return count
end
