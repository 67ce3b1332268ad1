//! The host a request names, parsed strictly, and the check against DNS rebinding built on it.
//!
//! - **Which authority**: the request target's when it has one — an absolute-form URI over HTTP/1.1 (RFC 9112
//!   §3.2.2: `Host` is then ignored) or HTTP/2's `:authority` (RFC 9113 §8.3.1: it wins over `Host`) — else the one
//!   `Host` header. Two `Host` headers, or one that is not valid `uri-host [":" port]` (RFC 3986 §3.2), are a bad
//!   request (400), never guessed at.
//! - **Strict syntax**: an IP literal is `[` IPv6 `]` and nothing else (`[::1]evil.com` is invalid, not loopback), a
//!   name is letters, digits, `-`, `_` and `.`, a port is at most five digits (≤ 65535), and user info is refused.
//!
//! ```
//! use typed_eventsource_server::host::{is_loopback_host, Authority};
//! assert!(is_loopback_host("[::1]:8080") && is_loopback_host("app.localhost"));
//! assert!(!is_loopback_host("[::1]evil.com") && !is_loopback_host("127.0.0.1.evil.example"));
//! assert_eq!(Authority::parse("LocalHost.:80").unwrap().host_name(), "localhost");
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};

use crate::config::Config;
use crate::error::AppError;

/// The host of an authority.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A registered name, lower case, without a trailing dot (may be empty: `Host:` with no value).
    Name(String),
    /// A dotted-quad IPv4 address.
    V4(Ipv4Addr),
    /// An IPv6 literal (`[...]`).
    V6(Ipv6Addr),
}

/// `host [":" port]`, parsed strictly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority {
    /// The host.
    pub host: Host,
    /// The port, when one was given.
    pub port: Option<u16>,
}

impl Authority {
    /// Parses `uri-host [":" port]` (no user info); `None` when it is not exactly that.
    pub fn parse(s: &str) -> Option<Authority> {
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (literal, after) = rest.split_once(']')?;
            // No zone identifiers or IPvFuture: only what a client may send to us.
            let ip: Ipv6Addr = literal.parse().ok()?;
            (Host::V6(ip), after)
        } else {
            let (name, port) = s.find(':').map_or((s, ""), |i| s.split_at(i));
            let ok = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_');
            if !name.bytes().all(ok) {
                return None;
            }
            let host = match name.parse::<Ipv4Addr>() {
                Ok(ip) => Host::V4(ip),
                Err(_) => {
                    let name = name.to_ascii_lowercase();
                    Host::Name(name.strip_suffix('.').map_or_else(|| name.clone(), str::to_owned))
                }
            };
            (host, port)
        };
        let port = match port.strip_prefix(':') {
            None if port.is_empty() => None,
            None => return None,
            // RFC 3986 allows an empty port: the scheme's default.
            Some("") => None,
            Some(p) if p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => Some(p.parse().ok()?),
            Some(_) => return None,
        };
        Some(Authority { host, port })
    }

    /// Whether the host is loopback: `localhost`, `*.localhost`, `127.0.0.0/8` or `[::1]`.
    pub fn is_loopback(&self) -> bool {
        match &self.host {
            Host::Name(n) => n == "localhost" || n.ends_with(".localhost"),
            Host::V4(ip) => ip.is_loopback(),
            Host::V6(ip) => ip.is_loopback(),
        }
    }

    /// The host as text: a name, a dotted quad, or `[v6]`.
    pub fn host_name(&self) -> String {
        match &self.host {
            Host::Name(n) => n.clone(),
            Host::V4(ip) => ip.to_string(),
            Host::V6(ip) => format!("[{ip}]"),
        }
    }

    /// Whether the host is the one `configured` names (an `--allowed-host` value: a name or address, port ignored;
    /// an IPv6 address with or without brackets).
    pub fn is_host(&self, configured: &str) -> bool {
        let configured = configured.trim();
        let parsed = match configured.parse::<IpAddr>() {
            Ok(IpAddr::V6(ip)) => Some(Authority { host: Host::V6(ip), port: None }),
            _ => Authority::parse(configured),
        };
        parsed.is_some_and(|a| a.host == self.host)
    }
}

/// Whether `host` (a `Host` value or URI authority, port allowed) is valid and a loopback name.
pub fn is_loopback_host(host: &str) -> bool {
    Authority::parse(host).is_some_and(|a| a.is_loopback())
}

/// Whether `origin` is `http(s)://` and a loopback authority (`127.0.0.1`, `localhost`, `*.localhost`, `[::1]`,
/// any port), nothing after it.
pub fn is_loopback_origin(origin: &[u8]) -> bool {
    let Ok(origin) = std::str::from_utf8(origin) else {
        return false;
    };
    origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")).is_some_and(is_loopback_host)
}

/// Why a request's authority cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BadAuthority {
    /// More than one `Host` header (RFC 9112 §3.2).
    #[error("more than one Host header")]
    TwoHosts,
    /// Not `host[:port]`.
    #[error("the Host (or request target authority) is not a valid host[:port]")]
    Invalid,
}

/// The authority `req` names (see the module docs for which one); `Ok(None)` when it names none.
pub fn request_authority(req: &Request) -> Result<Option<Authority>, BadAuthority> {
    if let Some(authority) = req.uri().authority() {
        return Authority::parse(authority.as_str()).map(Some).ok_or(BadAuthority::Invalid);
    }
    let mut hosts = req.headers().get_all(header::HOST).iter();
    let Some(host) = hosts.next() else {
        return Ok(None);
    };
    if hosts.next().is_some() {
        return Err(BadAuthority::TwoHosts);
    }
    let host = host.to_str().map_err(|_| BadAuthority::Invalid)?;
    Authority::parse(host).map(Some).ok_or(BadAuthority::Invalid)
}

/// The check against DNS rebinding: in `--dev` only loopback names (and `--allowed-host` ones) are served; a page on
/// another name that resolves to 127.0.0.1 gets 403. Outside `--dev`, only `--allowed-host` names when any. An
/// unreadable authority is 400.
pub async fn check_host(State(config): State<Arc<Config>>, req: Request, next: Next) -> Response {
    let allowed = match request_authority(&req) {
        Err(e) => return AppError::BadRequest(e.to_string()).into_response(),
        Ok(None) => false,
        Ok(Some(a)) => (config.dev && a.is_loopback()) || config.allowed_hosts.iter().any(|h| a.is_host(h)),
    };
    if !allowed {
        return AppError::Forbidden("this host name is not served here".into()).into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Before: `[::1]evil.com` (anything after the bracket) counted as loopback.
    #[test]
    fn only_exact_authorities_are_loopback() {
        for yes in [
            "localhost",
            "LOCALHOST:3000",
            "localhost.",
            "app.localhost:1",
            "127.0.0.1",
            "127.9.9.9:65535",
            "[::1]",
            "[::1]:80",
            "localhost:",
        ] {
            assert!(is_loopback_host(yes), "{yes}");
        }
        for no in [
            "[::1]evil.com",
            "[::1]:80evil",
            "[::1]x:80",
            "[::1",
            "localhost:99999",
            "localhost:123456",
            "localhost:-1",
            "localhost:+80",
            "user@localhost",
            "localhost.evil.example",
            "127.0.0.1.evil.example",
            "evil.example#@localhost",
            "localhost/x",
            "localhost evil",
            "[fe80::1%25lo]",
            "0177.0.0.1",
            "",
        ] {
            assert!(!is_loopback_host(no), "{no}");
        }
        assert!(is_loopback_origin(b"http://[::1]:8080") && is_loopback_origin(b"https://localhost"));
        assert!(!is_loopback_origin(b"http://[::1]evil.com") && !is_loopback_origin(b"http://localhost.evil.com"));
        assert!(!is_loopback_origin(b"http://localhost:80/") && !is_loopback_origin(b"ftp://localhost"));
    }

    #[test]
    fn allowed_hosts_compare_hosts_not_text() {
        let a = Authority::parse("DevBox.Lan.:8080").unwrap();
        assert!(a.is_host("devbox.lan") && !a.is_host("box.lan"));
        let v6 = Authority::parse("[2001:db8::1]:443").unwrap();
        assert!(v6.is_host("2001:db8::1") && v6.is_host("[2001:DB8:0::1]"));
        assert!(!Authority::parse("devbox.lan.evil").unwrap().is_host("devbox.lan"));
    }
}
