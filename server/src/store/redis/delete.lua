-- Redis Cluster only (runs after prelude.lua, in the topic's group): deletes a user topic the accounting (users.lua)
-- chose to evict; its last position raises the group's `deleted_upto`, so a client that missed its events learns so.
-- ARGV: prefix, topic. Returns the events deleted.
return delete_topic(ARGV[2])
