//! Slot groups: where a topic's keys live. One Redis primary holds everything under the prefix (one group, the
//! prefix as is). A Redis Cluster spreads topics over `groups` groups, each one hash tag (`<prefix>{<tag>}:`), so that
//! a topic's stream, meta hash, shard channel and its group's sequence, epoch label and accounting share a slot: one
//! script, one node, atomic. The tags are chosen so that group `i` hashes into the `i`-th of `groups` equal slot
//! ranges: with a cluster's usual even split, every primary holds the same number of groups.
//!
//! Positions stay unique across the store without a cross-node counter: group `i` counts from `i << 44` (its
//! sequence key starts there), so ids are `<epoch>-<position>` as before, unique, and increasing per topic; across
//! topics of different groups they are not in commit order (the store contract says which stores promise that).
//! With at most [`MAX_GROUPS`] groups every position stays below 2^53, exact in a JavaScript number.
//!
//! Group 0 is the deployment's home: the epoch every group's label must match, the deployment marker, the user
//! topics' accounting (caps across all groups), the job records — and the job topics, so that ending a job (record and
//! terminal event) stays one atomic script.

use crate::store::topic::Kind;

/// Most groups: `MAX_GROUPS << POSITION_BITS` is 2^53.
pub const MAX_GROUPS: u16 = 512;
/// Bits of a group's own positions (2^44 ≈ 1.8e13 events per group).
const POSITION_BITS: u32 = 44;
/// Redis Cluster's hash slots.
const SLOTS: u32 = 16_384;

/// Where the keys of each group live.
#[derive(Debug, Clone)]
pub(super) struct Groups {
    /// Each group's key prefix (`<prefix>` alone for one primary).
    prefixes: Vec<String>,
}

impl Groups {
    /// One Redis primary: one group, the prefix as is (the keys every earlier version wrote).
    pub(super) fn single(prefix: &str) -> Self {
        Groups { prefixes: vec![prefix.to_owned()] }
    }

    /// A Redis Cluster: `count` (1..=[`MAX_GROUPS`]) hash-tagged groups under `prefix`.
    pub(super) fn cluster(prefix: &str, count: u16) -> Self {
        let count = count.clamp(1, MAX_GROUPS);
        Groups { prefixes: (0..count).map(|i| format!("{prefix}{{{}}}:", tag(i, count))).collect() }
    }

    /// How many groups.
    pub(super) fn len(&self) -> usize {
        self.prefixes.len()
    }

    /// Whether this is a cluster layout (hash-tagged groups).
    pub(super) fn is_cluster(&self) -> bool {
        self.prefixes.len() > 1 || self.prefixes[0].contains('{')
    }

    /// The group of `topic`: group 0 for job topics (with the job records), else by a stable hash of its key.
    pub(super) fn of(&self, topic: &str) -> usize {
        if self.prefixes.len() == 1 || Kind::of(topic) == Kind::Job {
            return 0;
        }
        let n = self.prefixes.len() as u64;
        usize::try_from(xxhash_rust::xxh3::xxh3_64(topic.as_bytes()) % n).unwrap_or(0)
    }

    /// Group `group`'s key prefix (the scripts' `p`).
    pub(super) fn prefix(&self, group: usize) -> &str {
        self.prefixes.get(group).map_or(self.prefixes[0].as_str(), String::as_str)
    }

    /// The first position of group `group` (its sequence key starts there).
    pub(super) fn base(group: usize) -> u64 {
        (group as u64) << POSITION_BITS
    }

    /// A key of group `group` (its slot is the group's: the key the scripts are routed by).
    pub(super) fn key(&self, group: usize, name: &str) -> String {
        format!("{}{name}", self.prefix(group))
    }
}

/// The hash tag of group `i` of `count`: the first `g<i>-<k>` whose slot is in the `i`-th of `count` equal ranges.
fn tag(i: u16, count: u16) -> String {
    let (i, count) = (u32::from(i), u32::from(count));
    let (from, to) = (i * SLOTS / count, (i + 1) * SLOTS / count);
    (0u32..)
        .map(|k| format!("g{i}-{k}"))
        .find(|t| (from..to).contains(&u32::from(slot_of(t))))
        .unwrap_or_else(|| format!("g{i}"))
}

/// Redis Cluster's slot of a hash tag's text (CRC16/XMODEM mod 16,384).
fn slot_of(tag: &str) -> u16 {
    crc16::State::<crc16::XMODEM>::calculate(tag.as_bytes()) % 16_384
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn each_group_has_its_own_equal_slot_range_and_positions_stay_below_2_to_the_53() {
        for count in [1u16, 3, 64, MAX_GROUPS] {
            let groups = Groups::cluster("tes:", count);
            for i in 0..usize::from(count) {
                let prefix = groups.prefix(i);
                let key = groups.key(i, "seq");
                let tag = &key[key.find('{').unwrap() + 1..key.find('}').unwrap()];
                let slot = u32::from(slot_of(tag));
                let (from, to) = (i as u32 * SLOTS / u32::from(count), (i as u32 + 1) * SLOTS / u32::from(count));
                assert!((from..to).contains(&slot), "group {i} of {count} ({prefix}) in slot {slot}");
                assert!(
                    groups.key(i, "t:u:x:s").starts_with(&format!("tes:{{{tag}}}:")),
                    "a topic's keys carry the tag"
                );
            }
        }
        assert_eq!(Groups::base(usize::from(MAX_GROUPS)), 1 << 53);
    }

    #[test]
    fn job_topics_live_with_the_deployment_and_other_topics_spread_over_every_group() {
        let groups = Groups::cluster("tes:", 8);
        assert_eq!(groups.of("j:42"), 0);
        let mut seen = [0u32; 8];
        for u in 0..800 {
            seen[groups.of(&format!("u:user{u}"))] += 1;
        }
        assert!(seen.iter().all(|&n| n > 50), "user topics over all 8 groups: {seen:?}");
        assert_eq!(groups.of("u:a"), Groups::cluster("tes:", 8).of("u:a"), "the same group on every instance");
        let single = Groups::single("tes:");
        assert_eq!((single.of("u:a"), single.prefix(0), single.is_cluster()), (0, "tes:", false));
    }
}
