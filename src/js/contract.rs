//! The JavaScript contract in one place: the TypeScript declarations shipped in the npm package and the property
//! names of every object crossing the boundary, which the options parser and the converters use. The declarations
//! are appended to wasm-bindgen's output in pieces, per Cargo feature, merged by TypeScript (an interface declared
//! twice is one interface): `declarations.d.ts` always; `options-eventsource.d.ts` without the `fetch` feature or
//! `options-fetch.d.ts` with it; `share.d.ts` with `share`. The entry point `typed-eventsource` is built with `js`
//! alone, `typed-eventsource/full` with `js`, `fetch` and `share`. The tests below check the declarations against these
//! names and against the Rust types (their serde shape, the error kinds, the readyState values), so neither side can
//! drift alone.

/// The TypeScript declarations of the JavaScript API (emitted by the `typescript_custom_section` in `class.rs`, whose
/// expansion rustc does not count as a use).
#[allow(dead_code)]
pub(crate) const DECLARATIONS: &str = include_str!("declarations.d.ts");
/// The `transport` option of a build without the `fetch` feature (the entry point `typed-eventsource`).
#[allow(dead_code)]
pub(crate) const EVENTSOURCE_OPTIONS_DECLARATIONS: &str = include_str!("options-eventsource.d.ts");
/// The `transport` option and the fetch transport's options of a build with the `fetch` feature
/// (`typed-eventsource/full`), with the types of the `request` callback.
#[allow(dead_code)]
pub(crate) const FETCH_OPTIONS_DECLARATIONS: &str = include_str!("options-fetch.d.ts");
/// The `share` option and `shareRole` of a build with the `share` feature (`typed-eventsource/full`).
#[allow(dead_code)]
pub(crate) const SHARE_DECLARATIONS: &str = include_str!("share.d.ts");

/// `TypedEventSourceOptions`: the keys the parser accepts.
pub(crate) const OPTIONS: &[&str] = &[
    "withCredentials",
    "closeOn",
    "deliverTerminal",
    "reconnect",
    "lastEventId",
    "transport",
    "method",
    "headers",
    "body",
    "pauseWhenHidden",
    "resumeParam",
    "gapEvents",
    "dedupWindow",
    "heartbeatTimeout",
    "maxEventBytes",
    "request",
    "share",
];
/// The options that only the fetch transport reads (declared with the `fetch` feature only).
pub(crate) const FETCH_ONLY: [&str; 5] = ["method", "headers", "body", "maxEventBytes", "request"];
/// The option of tab sharing (declared with the `share` feature only; read by the tests).
#[allow(dead_code)]
pub(crate) const SHARE_ONLY: [&str; 1] = ["share"];
/// What a `request` callback may return (`FetchRequestInit`): the fetch request of one attempt.
#[cfg_attr(not(feature = "fetch"), allow(dead_code))]
pub(crate) const REQUEST_INIT: &[&str] = &["method", "headers", "body"];
/// `RequestAttempt`: what a `request` callback is asked for.
#[cfg_attr(not(feature = "fetch"), allow(dead_code))]
pub(crate) const REQUEST_ATTEMPT: [&str; 2] = ["connection", "unauthorized"];
/// `ReplayGap`: the gap signal's event type, id and raw data, and the fields of its JSON data when present.
pub(crate) const GAP: [&str; 7] = ["event", "lastEventId", "data", "requested", "oldest", "epoch", "reason"];
/// `TypedEventSource.shareRole`: one value per `ShareRole`, in its order (Leader, Follower, Alone).
#[cfg_attr(not(feature = "share"), allow(dead_code))]
pub(crate) const SHARE_ROLES: [&str; 3] = ["leader", "follower", "alone"];
/// `ReconnectOptions`.
pub(crate) const RECONNECT: &[&str] = &["maxRetries", "initialDelayMs", "maxDelayMs", "multiplier", "jitter"];
/// `CloseRule`.
pub(crate) const CLOSE_RULE: &[&str] = &["event", "data"];
/// `EventMeta`: event type, last event id, origin.
pub(crate) const META: [&str; 3] = ["event", "lastEventId", "origin"];
/// `SourceError`: every error has a kind and a message; decode errors add event, data and reason; fatal errors add the
/// status and content type when known.
pub(crate) const ERROR: [&str; 2] = ["kind", "message"];
pub(crate) const DECODE_ERROR: [&str; 3] = ["event", "data", "reason"];
pub(crate) const FATAL_ERROR: [&str; 2] = ["status", "contentType"];
/// Too-large errors add the limit; not-closed errors the readyState the browser reports.
pub(crate) const TOO_LARGE_ERROR: [&str; 1] = ["limit"];
pub(crate) const NOT_CLOSED_ERROR: [&str; 1] = ["readyState"];
/// Heartbeat-timeout errors add the timeout, in milliseconds.
pub(crate) const HEARTBEAT_TIMEOUT_ERROR: [&str; 1] = ["timeoutMs"];
/// `CloseReason`: a kind, then per kind: terminal (event, data), client, failed (message, attempts).
pub(crate) const REASON_KIND: &str = "kind";
pub(crate) const REASON_KINDS: [&str; 3] = ["terminal", "client", "failed"];
pub(crate) const TERMINAL: [&str; 2] = ["event", "data"];
pub(crate) const FAILED: [&str; 2] = ["message", "attempts"];

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::{CloseReason, Error, ErrorKind, EventMeta, Gap, ReadyState};

    /// The property names of `export interface NAME { .. }` (one property a line) in the common declarations.
    fn interface(name: &str) -> BTreeSet<String> {
        interface_in(DECLARATIONS, name)
    }

    /// The property names of `export interface NAME { .. }` in `declarations`.
    fn interface_in(declarations: &str, name: &str) -> BTreeSet<String> {
        let start = declarations
            .find(&format!("export interface {name} {{"))
            .unwrap_or_else(|| panic!("no interface {name} in the declarations"));
        let body = &declarations[start..];
        let body = &body[body.find('{').expect("an opening brace") + 1..body.find("\n}").expect("a closing brace")];
        body.lines().filter_map(property).collect()
    }

    /// `name?: T;` or `name: T;` (not a comment, not a method) → `name`.
    fn property(line: &str) -> Option<String> {
        let line = line.trim();
        let name = line.split(':').next()?.trim_end_matches('?');
        let is_ident = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        (line.contains(':') && is_ident).then(|| name.to_owned())
    }

    /// The members of `export type NAME = | { kind: "a"; x: T } | ...`: kind → property names.
    fn union(name: &str) -> Vec<(String, BTreeSet<String>)> {
        let start = DECLARATIONS
            .find(&format!("export type {name} ="))
            .unwrap_or_else(|| panic!("no type {name} in the declarations"));
        let body = &DECLARATIONS[start..];
        let body = &body[..body.find(";\n\n").expect("the end of the type")];
        body.split("| {")
            .skip(1)
            .map(|member| {
                let member = &member[..member.find('}').expect("a closing brace")];
                let props: BTreeSet<String> = member.split(';').filter_map(property).collect();
                let kind = member.split("kind: \"").nth(1).and_then(|k| k.split('"').next()).expect("a kind");
                (kind.to_owned(), props)
            })
            .collect()
    }

    fn set<'a>(names: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
        names.into_iter().map(str::to_owned).collect()
    }

    /// The keys of a value's serde (JSON) form.
    fn json_keys(value: &impl serde::Serialize) -> BTreeSet<String> {
        match serde_json::to_value(value).expect("serialisable") {
            serde_json::Value::Object(map) => map.keys().cloned().collect(),
            other => panic!("not an object: {other}"),
        }
    }

    /// `TypedEventSourceOptions` as TypeScript merges it from the pieces of one build (no key declared twice).
    fn declared_options(pieces: &[&str]) -> BTreeSet<String> {
        let mut keys = BTreeSet::new();
        for piece in pieces {
            for key in interface_in(piece, "TypedEventSourceOptions") {
                assert!(keys.insert(key.clone()), "`{key}` declared twice");
            }
        }
        keys
    }

    #[test]
    fn options_declared_as_parsed() {
        // The full entry point declares every key the parser reads; the EventSource-only one all but those of the
        // fetch transport and of sharing (the parser of that build rejects them, and `transport: "fetch"`, with a
        // pointer to the full one).
        let full = declared_options(&[DECLARATIONS, FETCH_OPTIONS_DECLARATIONS, SHARE_DECLARATIONS]);
        assert_eq!(full, set(OPTIONS.iter().copied()));
        let eventsource = OPTIONS.iter().copied().filter(|k| !FETCH_ONLY.contains(k) && !SHARE_ONLY.contains(k));
        assert_eq!(declared_options(&[DECLARATIONS, EVENTSOURCE_OPTIONS_DECLARATIONS]), set(eventsource));
        assert!(EVENTSOURCE_OPTIONS_DECLARATIONS.contains("  transport?: \"eventsource\";\n"));
        assert!(FETCH_OPTIONS_DECLARATIONS.contains("  transport?: \"eventsource\" | \"fetch\";\n"));
        assert!(!DECLARATIONS.contains("FetchRequestInit"), "the common declarations name no fetch-only type");
        assert!(
            !DECLARATIONS.contains("share?:") && !DECLARATIONS.contains("shareRole"),
            "the common declarations: no sharing"
        );
        assert_eq!(interface("ReconnectOptions"), set(RECONNECT.iter().copied()));
        assert_eq!(interface("CloseRule"), set(CLOSE_RULE.iter().copied()));
    }

    #[test]
    fn event_meta_declared_as_converted_and_serialised() {
        assert_eq!(interface("EventMeta"), set(META));
        assert_eq!(json_keys(&EventMeta::default()), set(META));
    }

    #[test]
    fn close_reasons_declared_as_converted_and_serialised() {
        let reasons = [
            CloseReason::Terminal { event: "ping".into(), data: "finished".into() },
            CloseReason::Client,
            CloseReason::Failed { message: "503".into(), attempts: 2 },
        ];
        let declared = union("CloseReason");
        assert_eq!(declared.len(), reasons.len(), "one declared member per reason: {declared:?}");
        let converted = [
            set([REASON_KIND].into_iter().chain(TERMINAL)),
            set([REASON_KIND]),
            set([REASON_KIND].into_iter().chain(FAILED)),
        ];
        for ((reason, (kind, props)), converted) in reasons.iter().zip(&declared).zip(converted) {
            let json = serde_json::to_value(reason).expect("serialisable");
            assert_eq!(json[REASON_KIND], kind.as_str(), "kinds in the same order");
            assert!(REASON_KINDS.contains(&kind.as_str()), "{kind}: converter kind vs declaration");
            assert_eq!(&json_keys(reason), props, "{kind}: serde shape vs declaration");
            assert_eq!(converted, *props, "{kind}: converter keys vs declaration");
        }
    }

    /// One error of each kind, in the order of `ErrorKind`. The match has no wildcard: a new kind fails to compile
    /// here until it is added (and then declared, or the test below fails).
    fn one_error_of_each_kind() -> Vec<Error> {
        let all = [
            ErrorKind::Transient,
            ErrorKind::Fatal,
            ErrorKind::Decode,
            ErrorKind::Open,
            ErrorKind::TooLarge,
            ErrorKind::NotClosed,
            ErrorKind::HeartbeatTimeout,
            ErrorKind::Offline,
            ErrorKind::NotAnEnum,
        ];
        all.into_iter()
            .map(|kind| match kind {
                ErrorKind::Transient => Error::Transient,
                ErrorKind::Fatal => {
                    Error::Fatal { message: "503".into(), status: Some(503), content_type: Some("text/html".into()) }
                }
                ErrorKind::Decode => {
                    Error::Decode { event: "message".into(), data: "{".into(), reason: "bad JSON".into() }
                }
                ErrorKind::Open => Error::Open { url: "x".into(), reason: "bad URL".into() },
                ErrorKind::TooLarge => Error::TooLarge { limit: 1024 },
                ErrorKind::NotClosed => Error::NotClosed { state: ReadyState::Open },
                ErrorKind::HeartbeatTimeout => Error::HeartbeatTimeout { timeout: std::time::Duration::from_secs(45) },
                ErrorKind::Offline => Error::Offline,
                ErrorKind::NotAnEnum => Error::NotAnEnum { type_name: "T", reason: "a struct".into() },
            })
            .collect()
    }

    #[test]
    fn every_error_kind_is_declared_as_converted() {
        let errors = one_error_of_each_kind();
        let declared = union("SourceError");
        assert_eq!(declared.len(), errors.len(), "one declared member per error kind: {declared:?}");
        for (error, (kind, props)) in errors.iter().zip(&declared) {
            assert_eq!(error.kind().as_str(), kind, "kinds in the same order");
            let mut converted = set(ERROR);
            match error {
                Error::Decode { .. } => converted.extend(set(DECODE_ERROR)),
                Error::Fatal { .. } => converted.extend(set(FATAL_ERROR)),
                Error::TooLarge { .. } => converted.extend(set(TOO_LARGE_ERROR)),
                Error::NotClosed { .. } => converted.extend(set(NOT_CLOSED_ERROR)),
                Error::HeartbeatTimeout { .. } => converted.extend(set(HEARTBEAT_TIMEOUT_ERROR)),
                _ => {}
            }
            assert_eq!(&converted, props, "{kind}: converter keys vs declaration");
        }
    }

    #[test]
    fn gap_declared_as_converted_and_serialised() {
        assert_eq!(interface("ReplayGap"), set(GAP));
        let gap = Gap {
            requested: Some("a-1".into()),
            oldest: Some("b-0".into()),
            epoch: Some("b".into()),
            reason: Some("other-epoch".into()),
            ..Gap::default()
        };
        assert_eq!(json_keys(&gap), set(GAP));
    }

    #[test]
    fn request_callback_declared_as_parsed() {
        assert_eq!(interface_in(FETCH_OPTIONS_DECLARATIONS, "FetchRequestInit"), set(REQUEST_INIT.iter().copied()));
        assert_eq!(interface_in(FETCH_OPTIONS_DECLARATIONS, "RequestAttempt"), set(REQUEST_ATTEMPT));
    }

    #[test]
    fn share_option_and_roles_declared() {
        assert!(SHARE_DECLARATIONS.contains("  share?: boolean | string;\n"), "the share option is `boolean | string`");
        let roles: Vec<String> = SHARE_ROLES.iter().map(|r| format!("\"{r}\"")).collect();
        assert!(
            SHARE_DECLARATIONS.contains(&format!("readonly shareRole: {} | undefined;", roles.join(" | "))),
            "shareRole declares every role"
        );
        // Merged into the class (a class and an interface of the same name are one type in TypeScript).
        assert!(SHARE_DECLARATIONS.contains("export interface TypedEventSource {"));
        assert!(DECLARATIONS.contains("export class TypedEventSource {"));
    }

    #[test]
    fn ready_states_declared_as_numbered() {
        let values: Vec<String> = [ReadyState::Connecting, ReadyState::Open, ReadyState::Closed]
            .iter()
            .map(|s| (*s as u16).to_string())
            .collect();
        assert!(DECLARATIONS.contains(&format!("export type ReadyState = {};", values.join(" | "))));
    }
}
