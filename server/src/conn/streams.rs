//! The runtime that writes HTTP/1.1 event streams, apart from the one that reads requests and answers publishes.
//!
//! Under fan-out, writing the streams is most of the server's work: one commit wakes every stream of its topic, and
//! each write costs ~10 µs of kernel time. On one runtime, a publisher's connection, woken by its socket, waited
//! behind a whole round of those writes before its request was read, and again before its answer was written
//! (publish→acknowledge p50 6.4 ms, p99 15 ms with 1,000 streams at 2,000 events/s; bench/README.md). With the
//! streams on worker threads of their own, the threads that read requests and write answers are idle most of the
//! time, so the OS runs them as soon as they are woken, and an acknowledgement no longer waits for deliveries.
//!
//! One runtime per process, with as many workers as cores, started with the first connection and kept for the life
//! of the process (test binaries run many servers in one process; they share it). Every plain HTTP/1.1 connection
//! starts here, and moves to the main runtime with its first request that is not an event stream
//! ([`super::stream_handoff::serve`]): the many streams never move (a move costs a task, ~0.4 KB per idle stream
//! when streams moved instead), the few publishers move once. TLS connections start here too: an HTTP/1.1 one moves
//! the same way; an HTTP/2 one stays (it carries its streams and any publishes in one connection; browsers are the
//! HTTP/2 clients, and their publishes are few), so a backend publishing over HTTP/1.1 is not queued behind the
//! browsers' HTTP/2 streams either.

use std::sync::OnceLock;

use tokio::runtime::{Handle, Runtime};

/// The streams runtime, or `None` if it cannot be started (then streams are written on the caller's runtime, as
/// before; logged once).
pub(super) fn handle() -> Option<&'static Handle> {
    static STREAMS: OnceLock<Option<Runtime>> = OnceLock::new();
    STREAMS
        .get_or_init(|| match tokio::runtime::Builder::new_multi_thread().thread_name("streams").enable_all().build() {
            Ok(runtime) => Some(runtime),
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the streams runtime; streams share the main runtime");
                None
            }
        })
        .as_ref()
        .map(Runtime::handle)
}
