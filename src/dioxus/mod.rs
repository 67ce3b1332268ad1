//! Dioxus hooks (feature `dioxus`, Dioxus 0.7): a typed server-sent events stream as signals.
//!
//! - [`use_event_source`] / [`use_event_source_with_options`]: the whole stream as one enum `E` (one variant per event
//!   type, as in [`TypedEventSourceBuilder::on_enum`](crate::TypedEventSourceBuilder::on_enum));
//! - [`use_event_source_typed`] / [`use_event_source_typed_with_options`]: one struct type `T` for the event types
//!   listed in [`UseEventSourceOptions::events`] (default `["message"]`);
//! - [`use_event_source_text`] / [`use_event_source_text_with_options`]: raw text of those event types.
//!
//! Each returns a [`UseEventSource`] (`Copy`): [`ReadSignal`](dioxus_signals::ReadSignal)s of the
//! [`ReadyState`](crate::ReadyState), the bounded history of [`Message`]s (a burst arriving together is kept whole,
//! up to the capacity), the last message, the last error, the close reason, the last gap and outage, and
//! [`close`](UseEventSource::close) / [`reconnect`](UseEventSource::reconnect). The connection opens in an effect once
//! the component is mounted and closes when it unmounts; a render with another URL closes the old stream and opens
//! the new one. The hooks are the Yew and Leptos hooks' twins over the same live core: same options
//! ([`UseEventSourceOptions`], whose [`SourceOptions`](crate::SourceOptions) holds every source setting), same
//! history, gap, de-duplication and tab sharing. They use Dioxus's reactive core only (`dioxus-core`,
//! `dioxus-signals`, `dioxus-hooks`), whatever renders the app.
//!
//! On a host target (a fullstack app's server build) nothing connects: the hooks without options compile and show a
//! stream about to connect; the `_with_options` forms are in browser (wasm32) builds only (their
//! [`SourceOptions`](crate::SourceOptions) is).
//!
//! ```no_run
//! use dioxus::prelude::*;
//! use typed_eventsource::dioxus::use_event_source_with_options;
//! use typed_eventsource::{SourceOptions, TerminalRule};
//!
//! #[derive(Clone, PartialEq, serde::Deserialize)]
//! struct Progress { step: u32, steps: u32 }
//!
//! #[derive(Clone, PartialEq, serde::Deserialize)]
//! #[serde(rename_all = "lowercase")]
//! enum Job { #[serde(rename = "message")] Progress(Progress), Ping(String) }
//!
//! #[component]
//! fn JobProgress(id: u32) -> Element {
//!     let job = use_event_source_with_options::<Job>(
//!         format!("/jobs/{id}/events"),
//!         SourceOptions::default().close_on(TerminalRule::event_with_data("ping", "finished")).into(),
//!     );
//!     let done = job.messages.read().iter().rev().find_map(|m| match &m.data {
//!         Job::Progress(p) => Some(p.step * 100 / p.steps),
//!         Job::Ping(_) => None,
//!     });
//!     rsx! {
//!         progress { max: 100, value: done.unwrap_or(0) }
//!         span { "{job.ready_state}" }
//!         button { onclick: move |_| job.reconnect(), "reconnect" }
//!     }
//! }
//! # fn main() {}
//! ```

// The host build (a server) documents the same API, whose browser-only items (the source types, the `_with_options`
// forms) its links name.
#![cfg_attr(not(target_arch = "wasm32"), allow(rustdoc::broken_intra_doc_links))]

mod handle;
mod hooks;

#[cfg(target_arch = "wasm32")]
pub use crate::live::UseEventSourceOptions;
pub use crate::live::{Message, Outage};
pub use handle::UseEventSource;
pub use hooks::{use_event_source, use_event_source_text, use_event_source_typed};
#[cfg(target_arch = "wasm32")]
pub use hooks::{
    use_event_source_text_with_options, use_event_source_typed_with_options, use_event_source_with_options,
};
