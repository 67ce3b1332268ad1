//! The `memory` store: the embedded store's engine on redb's in-memory backend. Same semantics (positions, epoch,
//! retention, offline marks, jobs), nothing survives the process: each start is a new epoch, so a client that
//! reconnects after a restart gets a `replay-gap` instead of a wrong replay.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use typed_eventsource_server::store::{memory, Store, StoreOptions};
//! let a = memory::open(StoreOptions::default()).unwrap();
//! let b = memory::open(StoreOptions::default()).unwrap();
//! assert_ne!(a.epoch(), b.epoch());
//! # }
//! ```

use super::embedded::EmbeddedStore;
use super::{StoreError, StoreOptions};

/// A new, empty in-memory store with a new epoch.
pub fn open(options: StoreOptions) -> Result<EmbeddedStore, StoreError> {
    EmbeddedStore::in_memory(options)
}
