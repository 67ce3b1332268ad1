-- A slot group's epoch label (runs after prelude.lua): set to ARGV[3] if it is ARGV[2] now ('' = none: a group not
-- yet labelled, or one whose data was lost), and the group's sequence started at its first position (ARGV[4]) if it
-- has none. A compare-and-set, so that instances meeting the same change agree on one epoch.
-- ARGV: prefix, expected label, new label, first position. Returns the label now.
local now = redis.call('GET', p .. 'epoch')
if (now or '') == ARGV[2] then
  redis.call('SET', p .. 'epoch', ARGV[3])
  now = ARGV[3]
end
if not redis.call('GET', p .. 'seq') then redis.call('SET', p .. 'seq', ARGV[4]) end
return now
