//! The checksum each stored event carries, verified on every read.
//!
//! redb verifies its pages when the file is opened (see [`super::opening`]), but not when a page is read later: a
//! byte that changes on disk while the server runs (bit rot, a bad sector, another program writing the file) would
//! reach clients unnoticed. So every event record holds an xxh3-64 of its key and value, and a record that does not
//! match is never replayed: the reader skips it and says so ([`crate::store::Snapshot::corrupt`]).

use xxhash_rust::xxh3::Xxh3;

/// The checksum of one event record: its topic, position, time stamp and frame.
pub fn checksum(topic: &str, position: u64, stamp_ms: u64, frame: &[u8]) -> u64 {
    let mut h = Xxh3::new();
    // The topic's length first, so that no two (topic, position) pairs hash the same bytes.
    h.update(&(topic.len() as u64).to_le_bytes());
    h.update(topic.as_bytes());
    h.update(&position.to_le_bytes());
    h.update(&stamp_ms.to_le_bytes());
    h.update(frame);
    h.digest()
}

/// Whether a record read back is the one that was written.
pub fn verifies(topic: &str, position: u64, stamp_ms: u64, sum: u64, frame: &[u8]) -> bool {
    checksum(topic, position, stamp_ms, frame) == sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_changed_part_of_a_record_fails_verification() {
        let sum = checksum("b", 7, 1_000, b"id: e-7\ndata: x\n\n");
        assert!(verifies("b", 7, 1_000, sum, b"id: e-7\ndata: x\n\n"));
        assert!(!verifies("b", 7, 1_000, sum, b"id: e-7\ndata: y\n\n"), "frame");
        assert!(!verifies("b", 8, 1_000, sum, b"id: e-7\ndata: x\n\n"), "position");
        assert!(!verifies("c", 7, 1_000, sum, b"id: e-7\ndata: x\n\n"), "topic");
        assert!(!verifies("b", 7, 1_001, sum, b"id: e-7\ndata: x\n\n"), "stamp");
        assert!(!verifies("b", 7, 1_000, sum ^ 1, b"id: e-7\ndata: x\n\n"), "checksum");
    }

    #[test]
    fn every_single_byte_change_of_a_frame_is_detected() {
        let frame = b"id: 3f9a1c2b7e40-17\nevent: note\ndata: {\"id\":17,\"text\":\"hello\"}\n\n".to_vec();
        let sum = checksum("u:alice", 17, 42, &frame);
        for at in 0..frame.len() {
            for value in 0..=255u8 {
                if value == frame[at] {
                    continue;
                }
                let mut altered = frame.clone();
                altered[at] = value;
                assert!(!verifies("u:alice", 17, 42, sum, &altered), "byte {at} = {value}");
            }
        }
    }
}
