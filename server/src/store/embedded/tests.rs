//! The conversion of files written before event checksums.

use super::*;
use crate::store::{Payload, Retention};

/// A file as the server wrote it before event checksums: events in the `events` table, `(ms, frame)`.
fn write_legacy_file(dir: &Path) -> String {
    let db = Database::create(dir.join(FILE_NAME)).unwrap();
    let txn = db.begin_write().unwrap();
    let epoch = "0123456789ab";
    {
        txn.open_table(STORE).unwrap().insert("epoch", epoch).unwrap();
        let mut events = txn.open_table(LEGACY_EVENTS).unwrap();
        let mut topics = txn.open_table(TOPICS).unwrap();
        let mut state = TopicState::default();
        for pos in 1..=3u64 {
            let (event, _) = encode_event(epoch, pos, &Payload::new(None, format!("old {pos}"))).unwrap();
            events.insert(("b", pos), (1_000 + pos, &event.frame[..])).unwrap();
            state.last = pos;
            state.count += 1;
            state.bytes += event.frame.len() as u64;
        }
        topics.insert("b", serde_json::to_vec(&state).unwrap().as_slice()).unwrap();
        txn.open_table(COUNTERS).unwrap().insert(LAST_POSITION, 3).unwrap();
    }
    txn.commit().unwrap();
    epoch.to_owned()
}

#[tokio::test]
async fn a_file_written_before_event_checksums_is_converted_and_keeps_every_event() {
    let dir = std::env::temp_dir().join(format!("tes-legacy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let epoch = write_legacy_file(&dir);

    let store = EmbeddedStore::open(&dir, StoreOptions::default()).unwrap();
    assert_eq!(store.epoch(), epoch);
    let snap = store.read("b", 0, 10).await.unwrap();
    assert!(snap.corrupt.is_empty());
    let frames: Vec<String> = snap.events.iter().map(|e| String::from_utf8(e.frame.to_vec()).unwrap()).collect();
    assert_eq!(
        frames,
        (1..=3).map(|p| format!("id: {epoch}-{p}\ndata: old {p}\n\n")).collect::<Vec<_>>(),
        "the same events, byte for byte"
    );
    // New events follow, in the checked table; the old table is gone.
    let append = Write::Append {
        topic: "b".into(),
        payload: Payload::new(None, "new"),
        retention: Retention::default(),
        mark_offline: false,
    };
    store.write(vec![append]).await.unwrap();
    assert_eq!(store.read("b", 3, 10).await.unwrap().events[0].pos, 4);
    let db = store.inner.database().unwrap();
    let txn = db.begin_read().unwrap();
    assert!(!txn.list_tables().unwrap().any(|t| t.name() == LEGACY_EVENTS.name()));
    drop((txn, db, store));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Records the tree no longer yields (as a damaged page presents them: a range scan that ends early or skips a leaf,
/// without an error) are reported as corrupt, from the topic's state — never a silently shorter replay.
#[tokio::test]
async fn records_the_tree_no_longer_yields_are_reported_not_left_out_silently() {
    let dir = std::env::temp_dir().join(format!("tes-missing-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = EmbeddedStore::open(&dir, StoreOptions::default()).unwrap();
    let append = |n: u64| Write::Append {
        topic: "b".into(),
        payload: Payload::new(None, format!("e{n}")),
        retention: Retention::default(),
        mark_offline: false,
    };
    store.write((1..=6).map(append).collect()).await.unwrap();
    let positions = |snap: &Snapshot| snap.events.iter().map(|e| e.pos).collect::<Vec<_>>();
    assert!(store.read("b", 0, 100).await.unwrap().corrupt.is_empty(), "nothing reported on an intact file");
    // A record in the middle, then the newest, vanish from the table (the topic's state still counts them).
    for gone in [3, 6] {
        let db = store.inner.database().unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(EVENTS).unwrap().remove(("b", gone)).unwrap();
        txn.commit().unwrap();
        let from_start = store.read("b", 0, 100).await.unwrap();
        assert!(!from_start.corrupt.is_empty(), "position {gone} left out silently: {:?}", positions(&from_start));
    }
    // After the middle hole only the newest is known to be due; a read bounded by its limit proves nothing.
    assert!(!store.read("b", 4, 100).await.unwrap().corrupt.is_empty(), "the newest left out silently");
    assert!(store.read("b", 0, 2).await.unwrap().corrupt.is_empty());
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}
