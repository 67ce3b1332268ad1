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
