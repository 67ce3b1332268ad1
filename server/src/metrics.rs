//! Counters and gauges, rendered in the Prometheus text format at `GET /metrics`.
//!
//! Names: `sse_open_streams{kind="broadcast"|"user"|"job"|"fixture"}`, `sse_events_published_total`,
//! `sse_events_delivered_total`, `sse_events_replayed_total`, `sse_slow_clients_evicted_total`,
//! `sse_auth_denied_total`, `sse_store_write_errors_total` (failed store batches; each failed publish got a 503),
//! `sse_store_commits_total`, `sse_store_corrupt_records_total` (stored events left out of a replay: they failed
//! verification),
//! `sse_open_connections{protocol="http/1.1"|"h2"}`, `sse_streams_refused_total`, `sse_connections_refused_total`,
//! `sse_epoch_changes_total` (new epochs of a shared store seen while running: open streams got a `replay-gap`),
//! `sse_catch_ups_total` / `sse_catch_up_events_total` (streams caught up from the store after their live buffer
//! overflowed or the epoch changed, and the events sent so), `sse_idempotent_replays_total` (publishes answered from
//! their `Idempotency-Key`: nothing published again).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// The kind of an event stream, the `kind` label of `sse_open_streams`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    /// `GET /subscribe`.
    Broadcast,
    /// `GET /sse/{userId}`.
    User,
    /// `GET /jobs/{id}/events`.
    Job,
    /// The `/fixtures` streams.
    Fixture,
}

impl StreamKind {
    /// All kinds, in label order.
    pub const ALL: [StreamKind; 4] = [StreamKind::Broadcast, StreamKind::User, StreamKind::Job, StreamKind::Fixture];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            StreamKind::Broadcast => "broadcast",
            StreamKind::User => "user",
            StreamKind::Job => "job",
            StreamKind::Fixture => "fixture",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The protocol of a connection, the `protocol` label of `sse_open_connections`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.1 (plain, or TLS with ALPN `http/1.1` or none).
    Http1,
    /// HTTP/2 (TLS with ALPN `h2`).
    H2,
}

impl Protocol {
    /// All protocols, in label order.
    pub const ALL: [Protocol; 2] = [Protocol::Http1, Protocol::H2];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Protocol::Http1 => "http/1.1",
            Protocol::H2 => "h2",
        }
    }
}

/// The server's metrics; cheap atomics shared by every handler.
#[derive(Debug, Default)]
pub struct Metrics {
    open: [AtomicUsize; 4],
    connections: [AtomicUsize; 2],
    /// Events published (once per event, whatever the number of subscribers).
    pub published: AtomicU64,
    /// Events written to a client stream (once per event per stream).
    pub delivered: AtomicU64,
    /// Events sent from history (on connect or reconnect).
    pub replayed: AtomicU64,
    /// Clients dropped because they fell too far behind.
    pub evicted: AtomicU64,
    /// Requests refused by auth (401 or 403).
    pub auth_denied: AtomicU64,
    /// Store write batches that failed.
    pub store_errors: AtomicU64,
    /// Store write batches committed (one commit for many concurrent publishes: group commit).
    pub store_commits: AtomicU64,
    /// Stored events left out of a replay because they failed verification (counted at each replay that met them).
    pub store_corrupt_records: AtomicU64,
    /// Stream requests refused by a budget (busy answer or 503).
    pub streams_refused: AtomicU64,
    /// Connections closed at once by a connection cap, or served by the reserve only.
    pub connections_refused: AtomicU64,
    /// New epochs seen live (a shared store's data was wiped or replaced while this server ran).
    pub epoch_changes: AtomicU64,
    /// Catch-ups from the store completed by a stream.
    pub catch_ups: AtomicU64,
    /// Events sent to streams by catch-ups from the store.
    pub catch_up_events: AtomicU64,
    /// Publishes (single, batch or job) answered from their `Idempotency-Key`.
    pub idempotent_replays: AtomicU64,
}

impl Metrics {
    /// Open streams of `kind` now.
    pub fn open_streams(&self, kind: StreamKind) -> usize {
        self.open[kind.index()].load(Ordering::Relaxed)
    }

    /// Counts an admitted stream of `kind` as open (admission and its budgets are [`crate::limits`]'s).
    pub fn stream_opened(&self, kind: StreamKind) {
        self.open[kind.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a stream of `kind` as closed.
    pub fn stream_closed(&self, kind: StreamKind) {
        self.open[kind.index()].fetch_sub(1, Ordering::Relaxed);
    }

    /// Open client connections speaking `protocol` now (TLS connections count once their handshake is done).
    pub fn open_connections(&self, protocol: Protocol) -> usize {
        self.connections[protocol as usize].load(Ordering::Relaxed)
    }

    /// Counts a connection until the guard is dropped.
    pub fn open_connection(self: &Arc<Self>, protocol: Protocol) -> ConnectionGuard {
        self.connections[protocol as usize].fetch_add(1, Ordering::Relaxed);
        ConnectionGuard { metrics: Arc::clone(self), protocol }
    }

    /// Adds one to a counter.
    pub fn inc(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(1024);
        out.push_str("# HELP sse_open_streams Event streams open now.\n# TYPE sse_open_streams gauge\n");
        for kind in StreamKind::ALL {
            let _ = writeln!(out, "sse_open_streams{{kind=\"{}\"}} {}", kind.label(), self.open_streams(kind));
        }
        out.push_str("# HELP sse_open_connections Client connections open now.\n# TYPE sse_open_connections gauge\n");
        for p in Protocol::ALL {
            let _ = writeln!(out, "sse_open_connections{{protocol=\"{}\"}} {}", p.label(), self.open_connections(p));
        }
        let counters = [
            ("sse_events_published_total", "Events published.", &self.published),
            ("sse_events_delivered_total", "Events written to client streams.", &self.delivered),
            ("sse_events_replayed_total", "Events sent from history.", &self.replayed),
            ("sse_slow_clients_evicted_total", "Clients evicted for falling behind.", &self.evicted),
            ("sse_auth_denied_total", "Requests refused by auth.", &self.auth_denied),
            ("sse_store_write_errors_total", "Store write batches that failed.", &self.store_errors),
            ("sse_store_commits_total", "Store write batches committed.", &self.store_commits),
            (
                "sse_store_corrupt_records_total",
                "Stored events left out of replays because they failed verification.",
                &self.store_corrupt_records,
            ),
            ("sse_streams_refused_total", "Stream requests refused by a stream budget.", &self.streams_refused),
            (
                "sse_connections_refused_total",
                "Connections refused or limited to the reserve by a connection cap.",
                &self.connections_refused,
            ),
            (
                "sse_epoch_changes_total",
                "New store epochs seen while running (data wiped or replaced).",
                &self.epoch_changes,
            ),
            ("sse_catch_ups_total", "Catch-ups of a stream from the store completed.", &self.catch_ups),
            ("sse_catch_up_events_total", "Events sent by catch-ups from the store.", &self.catch_up_events),
            (
                "sse_idempotent_replays_total",
                "Publishes answered from their Idempotency-Key (nothing published again).",
                &self.idempotent_replays,
            ),
        ];
        for (name, help, value) in counters {
            let _ =
                writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}", value.load(Ordering::Relaxed));
        }
        out
    }
}

/// One open connection; dropping it decrements `sse_open_connections`.
#[derive(Debug)]
pub struct ConnectionGuard {
    metrics: Arc<Metrics>,
    protocol: Protocol,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.metrics.connections[self.protocol as usize].fetch_sub(1, Ordering::Relaxed);
    }
}
