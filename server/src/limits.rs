//! Fair stream budgets: no class of client can take every stream.
//!
//! Every event stream counts against `--max-streams` and against the budgets of its client:
//!
//! - **anonymous streams** (`/subscribe` and the fixtures) at most `--max-anonymous-streams` (default half of
//!   `--max-streams`), **job streams** at most `--max-job-streams` (default a quarter): so at least a quarter of
//!   `--max-streams` is always left to authenticated per-user streams, and anonymous listeners can never starve
//!   job streams either;
//! - at most `--max-streams-per-ip` streams per client address, and `--max-streams-per-user` per user.
//!
//! A request over a budget is answered, when it asks for `text/event-stream` (every `EventSource` does), with a 200
//! event stream holding only `retry: <ms>` (`--busy-retry-ms`, plus up to as much again of random jitter) that ends at
//! once: a browser reconnects by itself after that time (it never retries after a 503). Other clients get 503 with
//! `Retry-After`. Refusals are logged at WARN, at most once per [`LOG_EVERY`] (with the count of the ones not logged).
//!
//! ```
//! use std::sync::Arc;
//! use typed_eventsource_server::limits::{Budgets, StreamBudgets, Owner};
//! use typed_eventsource_server::metrics::{Metrics, StreamKind};
//!
//! let budgets = Budgets::new(StreamBudgets { total: 4, anonymous: 2, job: 1, per_ip: 100, per_user: 100 });
//! let metrics = Arc::new(Metrics::default());
//! let anon = Owner::default();
//! let a = budgets.admit(&metrics, StreamKind::Broadcast, &anon).unwrap();
//! let b = budgets.admit(&metrics, StreamKind::Broadcast, &anon).unwrap();
//! // Anonymous listeners are at their budget; a user's stream is still admitted.
//! assert!(budgets.admit(&metrics, StreamKind::Broadcast, &anon).is_err());
//! let alice = Owner { ip: None, user: Some("alice".into()) };
//! assert!(budgets.admit(&metrics, StreamKind::User, &alice).is_ok());
//! # drop((a, b));
//! ```

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::metrics::{Metrics, StreamGuard, StreamKind};

/// Refusals of one kind are logged at most once per this period.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// The stream budgets (resolved from the flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamBudgets {
    /// All streams.
    pub total: usize,
    /// Anonymous streams (broadcast and fixtures).
    pub anonymous: usize,
    /// Job streams.
    pub job: usize,
    /// Streams per client address.
    pub per_ip: usize,
    /// Streams per authenticated user.
    pub per_user: usize,
}

impl StreamBudgets {
    /// The defaults for a total of `total`: half anonymous, a quarter jobs, 256 per address, 32 per user.
    pub fn for_total(total: usize) -> Self {
        StreamBudgets { total, anonymous: total / 2, job: total / 4, per_ip: 256, per_user: 32 }
    }
}

impl Default for StreamBudgets {
    fn default() -> Self {
        StreamBudgets::for_total(10_000)
    }
}

/// Who opens a stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Owner {
    /// The client's address, when known (the connection's peer).
    pub ip: Option<IpAddr>,
    /// The authenticated user, for per-user streams.
    pub user: Option<String>,
}

/// Which budget refused a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OverBudget {
    /// `--max-streams`.
    #[error("all streams are in use")]
    Total,
    /// `--max-anonymous-streams` or `--max-job-streams`.
    #[error("the streams of this kind are all in use")]
    Kind,
    /// `--max-streams-per-ip`.
    #[error("too many streams from this address")]
    Ip,
    /// `--max-streams-per-user`.
    #[error("too many streams for this user")]
    User,
}

#[derive(Debug, Default)]
struct Counts {
    per_ip: HashMap<IpAddr, usize>,
    per_user: HashMap<String, usize>,
}

/// The admission of streams (one per server, shared by every handler).
#[derive(Debug)]
pub struct Budgets {
    limits: StreamBudgets,
    counts: Mutex<Counts>,
    log: RateLimitedLog,
}

/// What a stream gives back to its budgets when it ends (held by its [`StreamGuard`]).
#[derive(Debug)]
pub struct Release {
    budgets: Arc<Budgets>,
    owner: Owner,
}

impl Drop for Release {
    fn drop(&mut self) {
        let mut counts = self.budgets.lock();
        if let Some(ip) = self.owner.ip {
            decrement(&mut counts.per_ip, &ip);
        }
        if let Some(user) = &self.owner.user {
            decrement(&mut counts.per_user, user);
        }
    }
}

fn decrement<K: std::hash::Hash + Eq>(map: &mut HashMap<K, usize>, key: &K) {
    if let Some(n) = map.get_mut(key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            map.remove(key);
        }
    }
}

impl Budgets {
    /// Budgets with these limits.
    pub fn new(limits: StreamBudgets) -> Arc<Self> {
        Arc::new(Budgets { limits, counts: Mutex::default(), log: RateLimitedLog::default() })
    }

    /// The limits.
    pub fn limits(&self) -> StreamBudgets {
        self.limits
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        // Every update is a single counter change: a panic elsewhere cannot leave the maps inconsistent.
        self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Admits a stream of `kind` for `owner`, or says which budget is spent (and logs it, rate limited).
    pub fn admit(
        self: &Arc<Self>,
        metrics: &Arc<Metrics>,
        kind: StreamKind,
        owner: &Owner,
    ) -> Result<StreamGuard, OverBudget> {
        let r = self.try_admit(metrics, kind, owner);
        if let Err(why) = &r {
            Metrics::inc(&metrics.streams_refused, 1);
            if let Some(suppressed) = self.log.should_log() {
                tracing::warn!(kind = kind.label(), ip = ?owner.ip, reason = %why, suppressed, "stream refused: over budget");
            }
        }
        r
    }

    fn try_admit(
        self: &Arc<Self>,
        metrics: &Arc<Metrics>,
        kind: StreamKind,
        owner: &Owner,
    ) -> Result<StreamGuard, OverBudget> {
        let l = self.limits;
        let mut counts = self.lock();
        let class = match kind {
            StreamKind::Broadcast | StreamKind::Fixture => Some((
                metrics.open_streams(StreamKind::Broadcast) + metrics.open_streams(StreamKind::Fixture),
                l.anonymous,
            )),
            StreamKind::Job => Some((metrics.open_streams(StreamKind::Job), l.job)),
            StreamKind::User => None,
        };
        if class.is_some_and(|(open, max)| open >= max) {
            return Err(OverBudget::Kind);
        }
        if owner.ip.is_some_and(|ip| counts.per_ip.get(&ip).copied().unwrap_or(0) >= l.per_ip) {
            return Err(OverBudget::Ip);
        }
        if owner.user.as_ref().is_some_and(|u| counts.per_user.get(u).copied().unwrap_or(0) >= l.per_user) {
            return Err(OverBudget::User);
        }
        let guard = metrics.try_open(kind, l.total).ok_or(OverBudget::Total)?;
        if let Some(ip) = owner.ip {
            *counts.per_ip.entry(ip).or_insert(0) += 1;
        }
        if let Some(user) = &owner.user {
            *counts.per_user.entry(user.clone()).or_insert(0) += 1;
        }
        drop(counts);
        Ok(guard.with_release(Release { budgets: Arc::clone(self), owner: owner.clone() }))
    }
}

/// A WARN line at most once per [`LOG_EVERY`]; the others are counted and reported with the next one.
#[derive(Debug, Default)]
pub struct RateLimitedLog {
    next_ms: AtomicU64,
    suppressed: AtomicU64,
}

impl RateLimitedLog {
    /// `Some(number of calls not logged since the last one)` when this call should log.
    pub fn should_log(&self) -> Option<u64> {
        let now = crate::store::now_ms();
        let next = self.next_ms.load(Ordering::Relaxed);
        let period = u64::try_from(LOG_EVERY.as_millis()).unwrap_or(u64::MAX);
        if now >= next
            && self
                .next_ms
                .compare_exchange(next, now.saturating_add(period), Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            return Some(self.suppressed.swap(0, Ordering::AcqRel));
        }
        self.suppressed.fetch_add(1, Ordering::Relaxed);
        None
    }
}

/// Connections past `--max-connections` that are still accepted, to answer `/healthz` and `/metrics` (one request
/// each, everything else 503): monitoring keeps working while the server is full.
pub const RESERVE_CONNECTIONS: usize = 32;

/// Reserve connections per address: idle connections from a few addresses cannot take the whole reserve.
pub const RESERVE_PER_IP: usize = 2;

/// File descriptors kept free of connections (store, listener, logs, TLS reloads...): at least this many, or 5 % of
/// the limit.
pub const FD_HEADROOM: usize = 64;

/// The process's open-files limit (soft), where the platform tells it (`/proc/self/limits`).
pub fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files").split_whitespace().next()?.parse().ok()
}

/// The connection cap for `configured` (or the default) under the open-files limit `fds`: `fds` minus the headroom
/// and the reserve. A configured cap above that is lowered (and logged by the caller).
pub fn connection_cap(configured: Option<usize>, fds: Option<usize>) -> usize {
    let ceiling =
        fds.map(|fds| fds.saturating_sub(FD_HEADROOM.max(fds / 20)).saturating_sub(RESERVE_CONNECTIONS).max(1));
    match (configured, ceiling) {
        (Some(c), Some(max)) => c.min(max),
        (Some(c), None) => c,
        (None, Some(max)) => max,
        (None, None) => 10_000,
    }
}

/// How a new connection is admitted.
#[derive(Debug)]
pub enum Admission {
    /// Served normally; the permit is held for the connection's life.
    Normal(ConnPermit),
    /// Over `--max-connections`: served only `/healthz` and `/metrics`, one request.
    Reserve(ConnPermit),
    /// Closed at once: over the per-address cap, or the reserve is full too.
    Refused(&'static str),
}

/// Open connections: total, per address, and in the reserve.
#[derive(Debug)]
pub struct ConnLimiter {
    max: usize,
    max_per_ip: usize,
    counts: Mutex<ConnCounts>,
    log: RateLimitedLog,
}

#[derive(Debug, Default)]
struct ConnCounts {
    total: usize,
    reserve: usize,
    per_ip: HashMap<IpAddr, usize>,
    reserve_per_ip: HashMap<IpAddr, usize>,
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
pub struct ConnPermit {
    limiter: Arc<ConnLimiter>,
    ip: IpAddr,
    reserve: bool,
}

impl Drop for ConnPermit {
    fn drop(&mut self) {
        let mut c = self.limiter.lock();
        if self.reserve {
            c.reserve = c.reserve.saturating_sub(1);
            decrement(&mut c.reserve_per_ip, &self.ip);
        } else {
            c.total = c.total.saturating_sub(1);
            decrement(&mut c.per_ip, &self.ip);
        }
    }
}

impl ConnLimiter {
    /// At most `max` connections (plus [`RESERVE_CONNECTIONS`]), `max_per_ip` per address.
    pub fn new(max: usize, max_per_ip: usize) -> Arc<Self> {
        Arc::new(ConnLimiter { max, max_per_ip, counts: Mutex::default(), log: RateLimitedLog::default() })
    }

    /// The cap.
    pub fn max(&self) -> usize {
        self.max
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ConnCounts> {
        self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Admits a connection from `ip`.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Admission {
        let mut c = self.lock();
        let from_ip = c.per_ip.get(&ip).copied().unwrap_or(0);
        let refused = if from_ip >= self.max_per_ip {
            "too many connections from this address"
        } else if c.total < self.max {
            c.total += 1;
            *c.per_ip.entry(ip).or_insert(0) += 1;
            return Admission::Normal(ConnPermit { limiter: Arc::clone(self), ip, reserve: false });
        } else if c.reserve < RESERVE_CONNECTIONS && c.reserve_per_ip.get(&ip).copied().unwrap_or(0) < RESERVE_PER_IP {
            c.reserve += 1;
            *c.reserve_per_ip.entry(ip).or_insert(0) += 1;
            drop(c);
            self.warn(ip, "connection cap reached; serving /healthz and /metrics only");
            return Admission::Reserve(ConnPermit { limiter: Arc::clone(self), ip, reserve: true });
        } else {
            "connection cap reached"
        };
        drop(c);
        self.warn(ip, refused);
        Admission::Refused(refused)
    }

    fn warn(&self, ip: IpAddr, what: &str) {
        if let Some(suppressed) = self.log.should_log() {
            tracing::warn!(%ip, max = self.max, max_per_ip = self.max_per_ip, suppressed, "{what}");
        }
    }
}
