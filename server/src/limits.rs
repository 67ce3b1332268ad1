//! Fair stream budgets: no class of client can take every stream.
//!
//! Every event stream counts against `--max-streams` and against the budgets of its client:
//!
//! - **anonymous streams** (`/subscribe` and the fixtures) at most `--max-anonymous-streams` (default half of
//!   `--max-streams`), **job streams** at most `--max-job-streams` (default a quarter): so at least a quarter of
//!   `--max-streams` is always left to authenticated per-user streams, and anonymous listeners can never starve
//!   job streams either;
//! - at most `--max-streams-per-ip` streams per client address group (an IPv4 address, or an IPv6 /64: see
//!   [`address_group`] and `--ipv6-prefix-len`), and `--max-streams-per-user` per user.
//!
//! A request over a budget is answered, when it asks for `text/event-stream` (every `EventSource` does), with a 200
//! event stream holding only `retry: <ms>` (`--busy-retry-ms`, plus up to as much again of random jitter) that ends at
//! once: a browser reconnects by itself after that time (it never retries after a 503). Other clients get 503 with
//! `Retry-After`. Refusals are logged at WARN, at most once per [`crate::ratelog::LOG_EVERY`] (with the count of the ones not logged).
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
use std::sync::{Arc, Mutex};

use crate::metrics::{Metrics, StreamKind};

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
    /// Every open stream (`--max-streams`).
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
    per_user: HashMap<String, usize>,
}

/// The admission of streams (one per server, shared by every handler).
#[derive(Debug)]
pub struct Budgets {
    limits: StreamBudgets,
    counts: Mutex<Counts>,
    log: crate::ratelog::RateLimitedLog,
}

/// One admitted stream: dropping it (disconnect, eviction, shutdown) gives its place back to the budgets and
/// decrements the open-streams gauge at once.
#[derive(Debug)]
pub struct StreamGuard {
    metrics: Arc<Metrics>,
    kind: StreamKind,
    budgets: Arc<Budgets>,
    owner: Owner,
}

impl StreamGuard {
    /// The metrics this stream reports to.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.metrics.stream_closed(self.kind);
        let mut counts = self.budgets.lock();
        counts.total = counts.total.saturating_sub(1);
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
        Arc::new(Budgets { limits, counts: Mutex::default(), log: crate::ratelog::RateLimitedLog::default() })
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
        if counts.total >= l.total {
            return Err(OverBudget::Total);
        }
        counts.total += 1;
        if let Some(ip) = owner.ip {
            *counts.per_ip.entry(ip).or_insert(0) += 1;
        }
        if let Some(user) = &owner.user {
            *counts.per_user.entry(user.clone()).or_insert(0) += 1;
        }
        drop(counts);
        metrics.stream_opened(kind);
        Ok(StreamGuard { metrics: Arc::clone(metrics), kind, budgets: Arc::clone(self), owner: owner.clone() })
    }
}

/// Connections past `--max-connections` that are still accepted, to answer `/healthz` and `/metrics` (one request
/// each, everything else 503): monitoring keeps working while the server is full. Only addresses in `--ops-allow`
/// (loopback by default) get one: an arbitrary client cannot hold the reserve.
pub const RESERVE_CONNECTIONS: usize = 32;

/// Reserve connections per address group: one monitoring host cannot take the whole reserve either.
pub const RESERVE_PER_IP: usize = 2;

/// The default IPv6 prefix length of an address group (`--ipv6-prefix-len`): one /64 is what a single host or
/// customer is usually given, so counting exact IPv6 addresses would let one client open any number of connections.
pub const IPV6_GROUP_PREFIX: u8 = 64;

/// The address group `ip` counts against in per-address budgets: IPv4 addresses (and IPv4-mapped IPv6 ones) as they
/// are, IPv6 addresses by their first `v6_prefix` bits.
pub fn address_group(ip: IpAddr, v6_prefix: u8) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => IpAddr::V6(std::net::Ipv6Addr::from(u128::from(v6) & prefix_mask(v6_prefix, 128))),
    }
}

/// The mask of the first `prefix` bits of a `bits`-bit address, in a `u128`.
fn prefix_mask(prefix: u8, bits: u32) -> u128 {
    let prefix = u32::from(prefix).min(bits);
    let all = if bits == 128 { u128::MAX } else { (1u128 << bits) - 1 };
    match prefix {
        0 => 0,
        p if p >= bits => all,
        p => all & !(all >> p),
    }
}

/// An address range (`10.0.0.0/8`, `2001:db8::/32`, or a single address), as `--ops-allow` takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

/// Why an `--ops-allow` value is not an address range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an address or range (like 10.0.0.0/8, 192.0.2.7 or 2001:db8::/32)")]
pub struct BadIpNet(String);

impl std::str::FromStr for IpNet {
    type Err = BadIpNet;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadIpNet(s.to_owned());
        let (addr, prefix) = s.trim().split_once('/').map_or((s.trim(), None), |(a, p)| (a, Some(p)));
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let bits = if addr.is_ipv4() { 32 } else { 128 };
        let prefix: u8 = match prefix {
            None => bits,
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p.parse().map_err(|_| bad())?,
            Some(_) => return Err(bad()),
        };
        if prefix > bits {
            return Err(bad());
        }
        // An IPv4-mapped range (`::ffff:10.0.0.0/104`) is its IPv4 range: a client's mapped address is compared as
        // IPv4 (see `contains`), so kept as IPv6 it would hold no client at all.
        if let (IpAddr::V6(v6), Some(v4_prefix)) = (addr, prefix.checked_sub(96)) {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return Ok(IpNet { addr: IpAddr::V4(v4), prefix: v4_prefix });
            }
        }
        Ok(IpNet { addr, prefix })
    }
}

impl IpNet {
    /// Whether `ip` is in this range (an IPv4-mapped IPv6 address counts as its IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = prefix_mask(self.prefix, 32);
                u128::from(u32::from(net)) & mask == u128::from(u32::from(ip)) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = prefix_mask(self.prefix, 128);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }

    /// The loopback ranges (`127.0.0.0/8`, `::1`): the default of `--ops-allow`.
    pub fn loopback() -> Vec<IpNet> {
        vec![
            IpNet { addr: IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 0)), prefix: 8 },
            IpNet { addr: IpAddr::V6(std::net::Ipv6Addr::LOCALHOST), prefix: 128 },
        ]
    }
}

impl std::fmt::Display for IpNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

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
    /// Closed at once: over the per-address cap, or the reserve is full or not for this address.
    Refused(&'static str),
}

/// Who may use the connection reserve and how addresses are grouped (from the connection flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressPolicy {
    /// Address ranges served from the reserve past the cap (`--ops-allow`).
    pub ops_allow: Vec<IpNet>,
    /// IPv6 prefix length of an address group (`--ipv6-prefix-len`).
    pub ipv6_prefix: u8,
}

impl Default for AddressPolicy {
    fn default() -> Self {
        AddressPolicy { ops_allow: IpNet::loopback(), ipv6_prefix: IPV6_GROUP_PREFIX }
    }
}

/// Open connections: total, per address group, and in the reserve.
#[derive(Debug)]
pub struct ConnLimiter {
    max: usize,
    max_per_ip: usize,
    policy: AddressPolicy,
    counts: Mutex<ConnCounts>,
    log: crate::ratelog::RateLimitedLog,
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
    /// The address group.
    group: IpAddr,
    reserve: bool,
}

impl Drop for ConnPermit {
    fn drop(&mut self) {
        let mut c = self.limiter.lock();
        if self.reserve {
            c.reserve = c.reserve.saturating_sub(1);
            decrement(&mut c.reserve_per_ip, &self.group);
        } else {
            c.total = c.total.saturating_sub(1);
            decrement(&mut c.per_ip, &self.group);
        }
    }
}

impl ConnLimiter {
    /// At most `max` connections (plus [`RESERVE_CONNECTIONS`] for loopback monitoring), `max_per_ip` per address
    /// group (IPv6 by /64).
    pub fn new(max: usize, max_per_ip: usize) -> Arc<Self> {
        Self::with_policy(max, max_per_ip, AddressPolicy::default())
    }

    /// Like [`ConnLimiter::new`], with who may use the reserve and how addresses are grouped.
    pub fn with_policy(max: usize, max_per_ip: usize, policy: AddressPolicy) -> Arc<Self> {
        Arc::new(ConnLimiter {
            max,
            max_per_ip,
            policy,
            counts: Mutex::default(),
            log: crate::ratelog::RateLimitedLog::default(),
        })
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
        let group = address_group(ip, self.policy.ipv6_prefix);
        let mut c = self.lock();
        let from_group = c.per_ip.get(&group).copied().unwrap_or(0);
        let refused = if from_group >= self.max_per_ip {
            "too many connections from this address"
        } else if c.total < self.max {
            c.total += 1;
            *c.per_ip.entry(group).or_insert(0) += 1;
            return Admission::Normal(ConnPermit { limiter: Arc::clone(self), group, reserve: false });
        } else if !self.policy.ops_allow.iter().any(|net| net.contains(ip)) {
            "connection cap reached (the reserve is for --ops-allow addresses)"
        } else if c.reserve < RESERVE_CONNECTIONS && c.reserve_per_ip.get(&group).copied().unwrap_or(0) < RESERVE_PER_IP
        {
            c.reserve += 1;
            *c.reserve_per_ip.entry(group).or_insert(0) += 1;
            drop(c);
            self.warn(ip, "connection cap reached; serving /healthz and /metrics only");
            return Admission::Reserve(ConnPermit { limiter: Arc::clone(self), group, reserve: true });
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn owner(ip_addr: &str, user: Option<&str>) -> Owner {
        Owner { ip: Some(ip(ip_addr)), user: user.map(str::to_owned) }
    }

    /// Each stream budget admits exactly its limit, refuses the next with the budget's own reason, counts a refusal,
    /// and a dropped stream gives its place (and its gauge) back.
    #[test]
    fn every_stream_budget_admits_its_limit_names_itself_when_spent_and_takes_a_closed_stream_back() {
        let metrics = Arc::new(Metrics::default());
        let limits = StreamBudgets { total: 6, anonymous: 2, job: 1, per_ip: 3, per_user: 2 };
        let budgets = Budgets::new(limits);
        assert_eq!(budgets.limits(), limits);
        let admit = |kind, o: &Owner| budgets.admit(&metrics, kind, o);

        // Anonymous (broadcast and fixture streams share it): 2.
        let b1 = admit(StreamKind::Broadcast, &owner("10.0.0.1", None)).unwrap();
        let f1 = admit(StreamKind::Fixture, &owner("10.0.0.2", None)).unwrap();
        assert_eq!(admit(StreamKind::Broadcast, &owner("10.0.0.3", None)).unwrap_err(), OverBudget::Kind);
        assert_eq!(metrics.open_streams(StreamKind::Broadcast) + metrics.open_streams(StreamKind::Fixture), 2);
        drop(f1);
        assert_eq!(metrics.open_streams(StreamKind::Fixture), 0, "the gauge drops with the guard");
        let f2 = admit(StreamKind::Fixture, &owner("10.0.0.3", None)).unwrap();

        // Job streams: 1.
        let j1 = admit(StreamKind::Job, &owner("10.0.0.4", None)).unwrap();
        assert_eq!(admit(StreamKind::Job, &owner("10.0.0.5", None)).unwrap_err(), OverBudget::Kind);

        // Per user: 2, whatever the address; another user is not counted with them.
        let u1 = admit(StreamKind::User, &owner("10.0.1.1", Some("alice"))).unwrap();
        let u2 = admit(StreamKind::User, &owner("10.0.1.2", Some("alice"))).unwrap();
        assert_eq!(admit(StreamKind::User, &owner("10.0.1.3", Some("alice"))).unwrap_err(), OverBudget::User);

        // Total: 6 (b1, f2, j1, u1, u2 + one).
        let u3 = admit(StreamKind::User, &owner("10.0.1.4", Some("bob"))).unwrap();
        assert_eq!(admit(StreamKind::User, &owner("10.0.1.5", Some("carol"))).unwrap_err(), OverBudget::Total);
        drop(u1);
        let u4 = admit(StreamKind::User, &owner("10.0.1.5", Some("alice"))).unwrap();
        assert_eq!(admit(StreamKind::User, &owner("10.0.1.6", Some("carol"))).unwrap_err(), OverBudget::Total);
        assert_eq!(metrics.streams_refused.load(std::sync::atomic::Ordering::Relaxed), 5);
        drop((b1, f2, j1, u2, u3, u4));
        assert_eq!(metrics.open_streams(StreamKind::User), 0);

        // Per address: 3, whatever the kind and user; the place comes back when one closes.
        let from = |u: &str| owner("10.0.2.1", Some(u));
        let a = admit(StreamKind::User, &from("a")).unwrap();
        let b = admit(StreamKind::User, &from("b")).unwrap();
        let c = admit(StreamKind::Job, &from("c")).unwrap();
        assert_eq!(admit(StreamKind::User, &from("d")).unwrap_err(), OverBudget::Ip);
        drop(b);
        let d = admit(StreamKind::User, &from("d")).unwrap();
        assert_eq!(admit(StreamKind::User, &from("e")).unwrap_err(), OverBudget::Ip, "three open from it again");
        assert_eq!(admit(StreamKind::User, &owner("10.0.2.2", Some("a"))).map(drop), Ok(()), "another address");
        drop((a, c, d));
        // Everything given back: the whole budget is free again.
        let all: Vec<_> =
            (0..6).map(|i| admit(StreamKind::User, &owner(&format!("10.0.3.{i}"), None)).unwrap()).collect();
        assert_eq!(all.len(), 6);
    }

    /// Before: per-address caps counted exact IPv6 addresses, so one /64 (any number of addresses) had no cap.
    #[test]
    fn ipv6_addresses_of_one_64_share_a_connection_budget() {
        let limiter = ConnLimiter::new(100, 2);
        let a = limiter.admit(ip("2001:db8:1:2::1"));
        let b = limiter.admit(ip("2001:db8:1:2:ffff::2"));
        assert!(matches!((&a, &b), (Admission::Normal(_), Admission::Normal(_))));
        assert!(matches!(limiter.admit(ip("2001:db8:1:2::3")), Admission::Refused(_)), "a third from one /64");
        assert!(matches!(limiter.admit(ip("2001:db8:1:3::1")), Admission::Normal(_)), "another /64");
        // IPv4 (and IPv4-mapped IPv6) addresses count one by one.
        let _v4 = (limiter.admit(ip("192.0.2.1")), limiter.admit(ip("::ffff:192.0.2.1")));
        assert!(matches!(limiter.admit(ip("192.0.2.1")), Admission::Refused(_)));
        assert!(matches!(limiter.admit(ip("192.0.2.2")), Admission::Normal(_)));
        // A place freed is given back to the group.
        drop(a);
        assert!(matches!(limiter.admit(ip("2001:db8:1:2::4")), Admission::Normal(_)));
        // A /128 grouping counts exact addresses again.
        let exact = ConnLimiter::with_policy(100, 1, AddressPolicy { ipv6_prefix: 128, ..AddressPolicy::default() });
        let _x = exact.admit(ip("2001:db8::1"));
        assert!(matches!(exact.admit(ip("2001:db8::2")), Admission::Normal(_)));
    }

    #[test]
    fn the_reserve_is_only_for_allowed_addresses() {
        let policy = AddressPolicy { ops_allow: vec!["10.1.0.0/16".parse().unwrap()], ..AddressPolicy::default() };
        let limiter = ConnLimiter::with_policy(1, 10, policy);
        let _full = limiter.admit(ip("192.0.2.9"));
        assert!(matches!(limiter.admit(ip("192.0.2.10")), Admission::Refused(_)));
        assert!(matches!(limiter.admit(ip("127.0.0.1")), Admission::Refused(_)), "loopback is not in this list");
        assert!(matches!(limiter.admit(ip("10.1.200.3")), Admission::Reserve(_)));
        assert!(matches!(limiter.admit(ip("::ffff:10.1.0.4")), Admission::Reserve(_)));
    }

    #[test]
    fn address_ranges_parse_strictly() {
        for good in ["10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "::1", "0.0.0.0/0", "::/0"] {
            assert!(good.parse::<IpNet>().is_ok(), "{good}");
        }
        for bad in ["10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/+8", "example.com", "10.0.0/8", ""] {
            assert!(bad.parse::<IpNet>().is_err(), "{bad}");
        }
        let net: IpNet = "10.0.0.0/8".parse().unwrap();
        assert!(net.contains(ip("10.255.0.1")) && !net.contains(ip("11.0.0.1")) && !net.contains(ip("::1")));
        let all: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.5")));
    }

    /// `--ops-allow` with IPv6 ranges: `::/0` holds every IPv6 client, a /64 the addresses sharing its first 64 bits,
    /// a /128 one address. An IPv6 range holds no IPv4 client (an IPv4-mapped client address counts as IPv4), and an
    /// IPv4-mapped range is its IPv4 range.
    #[test]
    fn ipv6_ranges_hold_the_addresses_under_their_prefix() {
        let net = |s: &str| s.parse::<IpNet>().unwrap();
        let any = net("::/0");
        assert!(any.contains(ip("2001:db8::1")) && any.contains(ip("::1")) && any.contains(ip("ffff::ffff")));
        assert!(!any.contains(ip("192.0.2.1")), "an IPv4 client is not in an IPv6 range");
        assert!(!any.contains(ip("::ffff:192.0.2.1")), "nor an IPv4-mapped one");

        let lan = net("2001:db8:1:2::/64");
        assert!(lan.contains(ip("2001:db8:1:2::")) && lan.contains(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")));
        assert!(!lan.contains(ip("2001:db8:1:3::")) && !lan.contains(ip("2001:db8:1:1:ffff:ffff:ffff:ffff")));
        assert!(!lan.contains(ip("192.0.2.1")));

        let host = net("2001:db8::7");
        assert_eq!(host.to_string(), "2001:db8::7/128");
        assert!(host.contains(ip("2001:db8::7")));
        assert!(!host.contains(ip("2001:db8::6")) && !host.contains(ip("2001:db8::7:0")));

        // Before: `::ffff:10.1.0.0/112` stayed an IPv6 range and, clients' mapped addresses being compared as IPv4,
        // held no client at all.
        let mapped = net("::ffff:10.1.0.0/112");
        assert_eq!(mapped, net("10.1.0.0/16"));
        assert!(mapped.contains(ip("10.1.2.3")) && mapped.contains(ip("::ffff:10.1.2.3")));
        assert!(!mapped.contains(ip("10.2.0.1")));
        assert_eq!(net("::ffff:127.0.0.1"), net("127.0.0.1"));

        // And as the connection limiter uses them: past the cap, the /64 gets the reserve, its neighbour does not.
        let limiter =
            ConnLimiter::with_policy(1, 10, AddressPolicy { ops_allow: vec![lan], ..AddressPolicy::default() });
        let _full = limiter.admit(ip("2001:db8:9::1"));
        assert!(matches!(limiter.admit(ip("2001:db8:1:2::5")), Admission::Reserve(_)));
        assert!(matches!(limiter.admit(ip("2001:db8:1:3::5")), Admission::Refused(_)));
    }

    #[test]
    fn address_ranges_display_as_address_and_prefix() {
        for (written, shown) in
            [("10.0.0.0/8", "10.0.0.0/8"), ("192.0.2.7", "192.0.2.7/32"), ("2001:db8::/32", "2001:db8::/32")]
        {
            assert_eq!(written.parse::<IpNet>().unwrap().to_string(), shown);
        }
    }

    /// The connection cap admits exactly `max`; past it an `--ops-allow` address is served from the reserve, at most
    /// two per address group and 32 in all, and everyone else is refused with the reason; a closed connection's place
    /// (normal or reserve) comes back.
    #[test]
    fn the_cap_admits_its_max_and_the_reserve_two_per_address_and_32_in_all() {
        let policy = AddressPolicy { ops_allow: vec!["10.0.0.0/8".parse().unwrap()], ..AddressPolicy::default() };
        let limiter = ConnLimiter::with_policy(3, 10, policy);
        assert_eq!(limiter.max(), 3);
        let mut normal: Vec<_> = (1..=3).map(|i| limiter.admit(ip(&format!("192.0.2.{i}")))).collect();
        assert!(normal.iter().all(|a| matches!(a, Admission::Normal(_))));
        let not_allowed = "connection cap reached (the reserve is for --ops-allow addresses)";
        assert!(matches!(limiter.admit(ip("192.0.2.4")), Admission::Refused(why) if why == not_allowed));

        let from = |group: u8| limiter.admit(ip(&format!("10.0.0.{group}")));
        let mut reserve = vec![from(1), from(1)];
        assert!(matches!(from(1), Admission::Refused("connection cap reached")), "a third from one address");
        reserve.extend((2..=16).flat_map(|group| [from(group), from(group)]));
        assert_eq!(reserve.len(), RESERVE_CONNECTIONS);
        assert!(reserve.iter().all(|a| matches!(a, Admission::Reserve(_))));
        assert!(matches!(from(17), Admission::Refused("connection cap reached")), "the reserve is full");
        reserve.pop();
        assert!(matches!(from(16), Admission::Reserve(_)), "a closed reserve connection's place comes back");

        normal.pop();
        let again = from(17);
        assert!(matches!(again, Admission::Normal(_)), "below the cap again: a normal connection");
        assert!(matches!(limiter.admit(ip("192.0.2.5")), Admission::Refused(_)), "and the cap reached again");
    }

    /// Default policy: the reserve is for loopback (IPv4 and IPv6) monitoring only.
    #[test]
    fn by_default_the_reserve_is_for_loopback() {
        let limiter = ConnLimiter::new(1, 10);
        let _full = limiter.admit(ip("192.0.2.1"));
        assert!(matches!(limiter.admit(ip("127.0.0.1")), Admission::Reserve(_)));
        assert!(matches!(limiter.admit(ip("127.1.2.3")), Admission::Reserve(_)));
        assert!(matches!(limiter.admit(ip("::1")), Admission::Reserve(_)));
        assert!(matches!(limiter.admit(ip("192.0.2.2")), Admission::Refused(_)));
        assert!(matches!(limiter.admit(ip("::2")), Admission::Refused(_)));
    }

    /// The cap under an open-files limit keeps the headroom (64, or 5 % of a large limit) and the reserve free.
    #[test]
    fn the_connection_cap_leaves_room_for_files_and_the_reserve() {
        assert_eq!(connection_cap(None, None), 10_000, "the default");
        assert_eq!(connection_cap(Some(500), None), 500);
        assert_eq!(connection_cap(None, Some(1024)), 1024 - 64 - 32);
        assert_eq!(connection_cap(None, Some(100_000)), 100_000 - 5_000 - 32, "5 % headroom of a large limit");
        assert_eq!(connection_cap(Some(50), Some(1024)), 50);
        assert_eq!(connection_cap(Some(5_000), Some(1024)), 1024 - 64 - 32, "lowered under the limit");
        assert_eq!(connection_cap(None, Some(10)), 1, "at least one");
    }

    /// The limit read is the process's soft open-files limit, as a child shell (which inherits it) reports it.
    #[cfg(target_os = "linux")]
    #[test]
    fn the_open_files_limit_is_the_soft_limit_of_the_process() {
        let out = std::process::Command::new("sh").args(["-c", "ulimit -Sn"]).output().unwrap();
        let shell: Option<usize> = String::from_utf8(out.stdout).unwrap().trim().parse().ok();
        assert_eq!(open_files_limit(), shell);
        assert!(shell.is_some_and(|n| n > 1), "this test needs a finite limit: {shell:?}");
    }

    /// A stream's body counts its deliveries in the server's metrics (through its guard).
    #[test]
    fn a_stream_reports_to_the_server_metrics() {
        let metrics = Arc::new(Metrics::default());
        let guard =
            Budgets::new(StreamBudgets::default()).admit(&metrics, StreamKind::User, &Owner::default()).unwrap();
        Metrics::inc(&guard.metrics().delivered, 3);
        assert_eq!(metrics.delivered.load(std::sync::atomic::Ordering::Relaxed), 3);
    }

    /// What `f` logs (on this thread).
    fn logs_of(f: impl FnOnce()) -> String {
        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let bytes = buf.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    /// A refused connection is logged at WARN with the reason and the address; so is a reserve connection.
    #[test]
    fn refused_and_reserve_connections_are_logged() {
        let limiter = ConnLimiter::new(1, 1);
        let _one = limiter.admit(ip("192.0.2.1"));
        let logs = logs_of(|| drop(limiter.admit(ip("192.0.2.1"))));
        assert!(logs.contains("WARN") && logs.contains("too many connections from this address"), "{logs}");
        assert!(logs.contains("ip=192.0.2.1"), "{logs}");
        let limiter = ConnLimiter::new(1, 10);
        let _one = limiter.admit(ip("192.0.2.1"));
        let logs = logs_of(|| drop(limiter.admit(ip("127.0.0.1"))));
        assert!(logs.contains("serving /healthz and /metrics only") && logs.contains("ip=127.0.0.1"), "{logs}");
    }
}
