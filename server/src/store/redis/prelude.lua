-- Shared by write.lua, read.lua and sweep.lua (prepended to each): the key helpers and topic deletion.
-- ARGV[1]: the key prefix (`p`: a slot group's, see groups.rs). KEYS[1]: a key of that group, for Redis Cluster to
-- route by; the other key names are derived here, all in the group's slot. `cluster` (set in a line before this one):
-- the user topics' accounting (`users`, `user_bytes`) lives in group 0, updated by users.lua from what a script
-- reports in `user_changes` ({topic, append time or -1, bytes or -1 for deleted}) instead of here.
local p = ARGV[1]
local user_changes = {}
local function tkey(topic, suffix) return p .. 't:' .. topic .. ':' .. suffix end
local function num(v) return tonumber(v) or 0 end
-- An integer as decimal text: Lua's own `..` writes numbers of 15 digits and more in exponent form (a slot group's
-- positions start at 2^44).
local function int(n) return string.format('%.0f', n) end
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
  if cluster then
    if redis.call('HGET', meta, 'u') then user_changes[#user_changes + 1] = {topic, -1, -1} end
  elseif redis.call('ZSCORE', p .. 'users', topic) then
    redis.call('DECRBY', p .. 'user_bytes', num(redis.call('HGET', meta, 'bytes')))
  end
  redis.call('DEL', meta, tkey(topic, 's'))
  redis.call('SREM', p .. 'topics', topic)
  if not cluster then redis.call('ZREM', p .. 'users', topic) end
  return count
end
