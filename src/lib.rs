//! # typed-eventsource
//!
//! Typed [server-sent events] for Rust compiled to wasm, for Yew components and for JavaScript — a wrapper over the
//! browser's [`EventSource`] that does what hand-written code forgets:
//!
//! - **typed dispatch** with serde: a struct per event type ([`TypedEventSourceBuilder::on`]) or one enum for the
//!   whole stream ([`TypedEventSourceBuilder::on_enum`]), whose event types come from the enum itself; data that does
//!   not decode is reported ([`Error::Decode`]) with its raw text, never dropped silently;
//! - **terminal messages** ([`TerminalRule`]): the source closes itself on e.g. `ping`/`finished`, checks the browser
//!   reads `CLOSED`, and tells the close handler why ([`CloseReason`]) exactly once;
//! - **readyState** ([`ReadyState`]) read from the browser's object, also once closed, and state-change callbacks;
//!   transient errors (the browser is reconnecting) told apart from fatal ones;
//! - a **reconnect policy** ([`ReconnectPolicy`]) for when the browser gives up, resuming after the last event id
//!   (the query parameter is [configurable][`SourceOptions::resume_param`], or off);
//! - **resume you can trust**: a server's `replay-gap` signal goes to `on_gap` as a [`Gap`], never to ordinary
//!   handlers; events whose id was delivered lately are dropped ([`SourceOptions::dedup_window`]); the fetch
//!   transport asks for a fresh request per attempt and refreshes once after a 401 (`FetchRequest::prepare`, feature `fetch`);
//! - **ownership**: every listener is owned and detached on drop (as `gloo_events::EventListener` does); dropping
//!   the source closes the connection; a [`futures::Stream`] ([`EventStream`]) that ends when the source closes;
//! - a **JavaScript API** (`new TypedEventSource(url, options)`) and, with the `yew` feature, a
//!   [`use_event_source`] hook.
//!
//! ```no_run
//! # #[cfg(target_arch = "wasm32")]
//! # fn main() -> Result<(), typed_eventsource::Error> {
//! # fn log(_: &str) {}
//! // In a browser (wasm32): scenario 2 of the project, a batch job that ends itself.
//! use typed_eventsource::{TypedEventSource, TerminalRule, CloseReason};
//!
//! #[derive(serde::Deserialize)]
//! struct Progress { status: String, message: String }
//!
//! let source = TypedEventSource::builder("/jobs/7/events")
//!     .close_on(TerminalRule::event_with_data("ping", "finished"))
//!     .on::<Progress>("message", |p, meta| log(&format!("#{} {}: {}", meta.last_event_id, p.status, p.message)))
//!     .on_close(|reason| assert!(matches!(reason, CloseReason::Terminal { .. })))
//!     .open()?;
//! // Keep `source` alive: dropping it closes the stream.
//! # Ok(())
//! # }
//! # #[cfg(not(target_arch = "wasm32"))]
//! # fn main() {}
//! ```
//!
//! ## Layers
//!
//! One engine, four front ends, two transports. Every front end fills one [`SourceOptions`] and adds handlers; none
//! has an engine of its own.
//!
//! ```text
//!  front ends  TypedEventSource + builder   EventStream      JS class           Yew hooks
//!              (source/handle, builder)     (stream.rs)      (js/, feature js)  (yew/, feature yew)
//!                      └───────────── SourceOptions (source/options.rs) + handlers ─────────┘
//!                                                   │
//!  engine      source/engine.rs: handlers, last event id, terminal rules, reconnect policy, close reason
//!              (+ source/visibility.rs: the hidden-page pause, linked only when asked for)
//!                 │ down: Link (transport/link.rs)        ▲ up: Upstream (transport/upstream.rs)
//!                 │ connect · listen · close · ready_state │ opened · event · error · ended
//!  transports  transport/event_source.rs                   transport/fetch.rs (feature fetch)
//!              browser EventSource, lastEventId param      fetch + ReadableStream + sse-codec, retry:, statuses
//! ```
//!
//! Where the other concerns live: decoding an event's data — `handler.rs` (the kinds of handler), `de.rs` (a serde
//! `Deserializer` over `JSON.parse`), `event_names.rs` (the event types of an enum); the pure parts, also built for
//! the host — `terminal.rs` ([`TerminalRule`]), `reconnect.rs` ([`ReconnectPolicy`]), `ready_state.rs`,
//! `close_reason.rs`, `error.rs`, `meta.rs`; the JavaScript contract (TypeScript declarations and object shapes,
//! checked against the Rust types by host tests) — `js/contract.rs`. The engine owns the last event id; the
//! transport owns the live readyState; everyone else reads them.
//!
//! ## Features
//!
//! - `fetch`: the fetch transport ([`Transport`], `FetchRequest`); opt-in, as it adds ~11 KB gzipped to an app
//!   (the npm package's full entry point, `typed-eventsource/full`, has it).
//! - `js`: the JavaScript API, for the npm package (a Rust app leaves it out: a dependency's exports would be
//!   linked into the app; it also makes talc the global allocator).
//!   `typed-eventsource` is built with `js` alone, `typed-eventsource/full` with `js`, `fetch` and `share`.
//! - `yew`: the [`use_event_source`] hooks.
//! - `leptos`: the same hooks for Leptos 0.8, returning signals (`typed_eventsource::leptos`); they compile on the
//!   host too (a Leptos app's server build), where they do nothing. `leptos-csr` adds Leptos's client-side rendering,
//!   for this crate's own tests and example only.
//! - `dioxus`: the same hooks for Dioxus 0.7, returning signals (`typed_eventsource::dioxus`); on Dioxus's reactive
//!   core only, and compiling on the host too, where they do nothing. `dioxus-web` adds Dioxus's web renderer, for
//!   this crate's own tests and example only.
//! - `share`: one connection for every tab (`share_across_tabs`).
//!
//! ## Transports
//!
//! The default transport is the browser's `EventSource`. [`FetchRequest`] switches to `fetch` + `ReadableStream`
//! (decoded by the spec-exact `sse-codec` decoder) for an `Authorization` header, POST bodies and errors that carry
//! the HTTP status — one builder option; handlers, rules, states and reasons stay the same:
//!
//! ```no_run
//! # #[cfg(all(target_arch = "wasm32", feature = "fetch"))]
//! # fn main() -> Result<(), typed_eventsource::Error> {
//! # use typed_eventsource::{FetchRequest, TypedEventSource};
//! # #[derive(serde::Deserialize)] struct Notification { text: String }
//! # fn show(_: Notification) {}
//! # let token = "eyJ...";
//! let source = TypedEventSource::builder("/sse/alice")
//!     .transport(FetchRequest::new().header("Authorization", format!("Bearer {token}")))
//!     .on::<Notification>("message", |n, _| show(n))
//!     .open()?;
//! # Ok(())
//! # }
//! # #[cfg(not(all(target_arch = "wasm32", feature = "fetch")))]
//! # fn main() {}
//! ```
//!
//! ## Yew (feature `yew`)
//!
//! ```no_run
//! # #[cfg(all(target_arch = "wasm32", feature = "yew"))]
//! # mod example {
//! # use typed_eventsource::yew::{use_event_source_with_options, UseEventSourceOptions};
//! # use typed_eventsource::{SourceOptions, TerminalRule};
//! # use yew::prelude::*;
//! # #[derive(Clone, PartialEq, serde::Deserialize)] enum JobEvent { Ping(String) }
//! # #[component]
//! # fn JobView() -> Html {
//! # let id = 7;
//! let job = use_event_source_with_options::<JobEvent>(
//!     format!("/jobs/{id}/events"),
//!     UseEventSourceOptions::from(SourceOptions::default().close_on(TerminalRule::event_with_data("ping", "finished")))
//!         .capacity(1_000),
//! );
//! html! { <p>{ format!("{} — {} events", job.state(), job.received()) }</p> }
//! # }
//! # }
//! # fn main() {}
//! ```
//!
//! ## JavaScript (the npm package `typed-eventsource`)
//!
//! ```js
//! import init, { TypedEventSource } from "typed-eventsource";
//! await init();
//! const es = new TypedEventSource("/jobs/7/events", { closeOn: [{ event: "ping", data: "finished" }] });
//! es.on("message", (progress, meta) => render(progress, meta.lastEventId));
//! es.onClose((reason) => console.log(reason.kind, es.readyState)); // "terminal" 2
//! ```
//!
//! ## One connection for every tab
//!
//! Browsers allow 6 HTTP/1.1 connections per origin: a 7th tab of an app with a stream per tab waits forever.
//! `TypedEventSourceBuilder::share_across_tabs` (hooks: `SourceOptions::share_across_tabs`, JavaScript:
//! `share: true`) makes the tabs of an origin that open the same stream share one connection: one tab leads (Web
//! Locks), relays every event to the others (`BroadcastChannel`), and hands over — resuming after the last event id —
//! when it closes or stops answering; each tab still runs its own handlers, rules, states and close reasons. Without
//! Web Locks or `BroadcastChannel` each tab opens its own connection. Feature `share` (the npm package's
//! `typed-eventsource/full` has it); see `SourceOptions::share_across_tabs`.
//!
//! ```no_run
//! # #[cfg(all(target_arch = "wasm32", feature = "share"))]
//! # fn main() -> Result<(), typed_eventsource::Error> {
//! # use typed_eventsource::TypedEventSource;
//! # #[derive(serde::Deserialize)] struct Post { text: String }
//! # fn show(_: Post) {}
//! let source = TypedEventSource::builder("/subscribe")
//!     .share_across_tabs()
//!     .on::<Post>("message", |post, _| show(post))
//!     .open()?;
//! # Ok(())
//! # }
//! # #[cfg(not(all(target_arch = "wasm32", feature = "share")))]
//! # fn main() {}
//! ```
//!
//! The pure parts (rules, backoff, reasons, event-name discovery) also build for the host, where their examples run.
//!
//! [server-sent events]: https://html.spec.whatwg.org/multipage/server-sent-events.html
//! [`EventSource`]: https://developer.mozilla.org/en-US/docs/Web/API/EventSource
// The browser API is compiled for wasm32 only (docs.rs documents that target): elsewhere the crate docs link to it
// there, as do links to feature-gated items when the feature is off. Link definitions first, then the note.
#![cfg_attr(all(target_arch = "wasm32", feature = "yew"), doc = "[`use_event_source`]: crate::yew::use_event_source")]
#![cfg_attr(
    not(all(target_arch = "wasm32", feature = "yew")),
    doc = "[`use_event_source`]: https://docs.rs/typed-eventsource/latest/typed_eventsource/yew/fn.use_event_source.html"
)]
#![cfg_attr(
    not(feature = "fetch"),
    doc = "[`FetchRequest`]: https://docs.rs/typed-eventsource/latest/typed_eventsource/struct.FetchRequest.html"
)]
#![cfg_attr(
    not(target_arch = "wasm32"),
    doc = "[`TypedEventSourceBuilder::on`]: https://docs.rs/typed-eventsource/latest/typed_eventsource/struct.TypedEventSourceBuilder.html#method.on
[`TypedEventSourceBuilder::on_enum`]: https://docs.rs/typed-eventsource/latest/typed_eventsource/struct.TypedEventSourceBuilder.html#method.on_enum
[`SourceOptions`]: https://docs.rs/typed-eventsource/latest/typed_eventsource/struct.SourceOptions.html
[`SourceOptions::resume_param`]: https://docs.rs/typed-eventsource/latest/typed_eventsource/struct.SourceOptions.html#method.resume_param
[`SourceOptions::dedup_window`]: https://docs.rs/typed-eventsource/latest/typed_eventsource/struct.SourceOptions.html#method.dedup_window
[`EventStream`]: https://docs.rs/typed-eventsource/latest/typed_eventsource/struct.EventStream.html

*Documented for a target other than wasm32, where only the pure parts are compiled: the links to the browser API
lead to [its documentation on docs.rs](https://docs.rs/typed-eventsource/latest/typed_eventsource/).*"
)]
#![deny(missing_docs)]

mod close_reason;
mod error;
mod event_names;
mod gap;
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod liveness;
mod meta;
mod ready_state;
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod recent_ids;
mod reconnect;
mod terminal;

mod transport;

#[cfg(all(target_arch = "wasm32", feature = "js", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

#[cfg(target_arch = "wasm32")]
mod de;
#[cfg(feature = "dioxus")]
pub mod dioxus;
#[cfg(target_arch = "wasm32")]
mod handler;
#[cfg(target_arch = "wasm32")]
mod interop;
// Also built by the host tests, which check the TypeScript declarations (js/contract.rs).
#[cfg(any(test, all(target_arch = "wasm32", feature = "js")))]
mod js;
#[cfg(feature = "leptos")]
pub mod leptos;
#[cfg(any(all(target_arch = "wasm32", feature = "yew"), feature = "leptos", feature = "dioxus"))]
mod live;
#[cfg(all(target_arch = "wasm32", feature = "share"))]
mod share;
#[cfg(target_arch = "wasm32")]
mod source;
#[cfg(target_arch = "wasm32")]
mod stream;
#[cfg(target_arch = "wasm32")]
mod text;
#[cfg(all(target_arch = "wasm32", feature = "yew"))]
pub mod yew;

pub use close_reason::CloseReason;
pub use error::{Error, ErrorKind};
pub use event_names::event_names;
pub use gap::Gap;
pub use meta::EventMeta;
pub use ready_state::ReadyState;
pub use reconnect::ReconnectPolicy;
pub use terminal::{Predicate, TerminalRule};
pub use transport::Transport;
#[cfg(feature = "fetch")]
pub use transport::{FetchRequest, RequestAttempt};

#[cfg(all(target_arch = "wasm32", feature = "js"))]
pub use js::JsTypedEventSource;
#[cfg(all(target_arch = "wasm32", any(feature = "yew", feature = "leptos", feature = "dioxus")))]
pub use live::UseEventSourceOptions;
#[cfg(all(target_arch = "wasm32", feature = "share"))]
pub use share::ShareRole;
#[cfg(target_arch = "wasm32")]
pub use source::{SourceOptions, TypedEventSource, TypedEventSourceBuilder};
#[cfg(target_arch = "wasm32")]
pub use stream::{EventStream, Received};

// The decoder of typed handlers, for the crate's own tests (tests/de.rs); not part of the API.
#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub use de::{decode_enum as __decode_variant, from_json as __from_json};
