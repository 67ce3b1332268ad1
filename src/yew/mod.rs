//! Yew hooks (feature `yew`): a typed server-sent events stream as component state.
//!
//! - [`use_event_source`] / [`use_event_source_with_options`]: the whole stream as one enum `E` (one variant per event
//!   type, as in [`TypedEventSourceBuilder::on_enum`](crate::TypedEventSourceBuilder::on_enum));
//! - [`use_event_source_typed`] / [`use_event_source_typed_with_options`]: one struct type `T` for the event types
//!   listed in [`UseEventSourceOptions::events`];
//! - [`use_event_source_text`] / [`use_event_source_text_with_options`]: raw text of those event types.
//!
//! A thin adapter over the framework-free live core the Leptos and Dioxus hooks share: the same options
//! ([`UseEventSourceOptions`]: capacity, event types, and the [`SourceOptions`](crate::SourceOptions) — every source
//! setting is set there), the same history and counts.
//!
//! Each returns a [`UseEventSourceHandle`]: the [`ReadyState`](crate::ReadyState), a bounded history of
//! [`Message`]s (a burst of events arriving together is kept whole, up to the capacity), the last message, the last
//! error, the close reason, and [`close`](UseEventSourceHandle::close) / [`reconnect`](UseEventSourceHandle::reconnect).
//! The connection opens in an effect and is dropped in its cleanup: unmounting the component closes the stream, a
//! new URL closes the old stream and opens the new one.
//!
//! ```no_run
//! use typed_eventsource::yew::{use_event_source_with_options, UseEventSourceOptions};
//! use typed_eventsource::{SourceOptions, TerminalRule};
//! use yew::prelude::*;
//!
//! #[derive(Clone, PartialEq, serde::Deserialize)]
//! struct Progress { step: u32, steps: u32, message: String }
//!
//! #[derive(Clone, PartialEq, serde::Deserialize)]
//! #[serde(rename_all = "lowercase")]
//! enum Job { #[serde(rename = "message")] Progress(Progress), Ping(String) }
//!
//! #[component]
//! fn JobProgress(props: &JobProps) -> Html {
//!     let job = use_event_source_with_options::<Job>(
//!         format!("/jobs/{}/events", props.id),
//!         SourceOptions::default().close_on(TerminalRule::event_with_data("ping", "finished")).into(),
//!     );
//!     let done = job.messages().iter().rev().find_map(|m| match &m.data {
//!         Job::Progress(p) => Some(p.step * 100 / p.steps),
//!         Job::Ping(_) => None,
//!     });
//!     html! {
//!         <div>
//!             <progress max="100" value={done.unwrap_or(0).to_string()} />
//!             <span>{ job.state().to_string() }</span>
//!             if let Some(reason) = job.close_reason() { <span>{ reason.to_string() }</span> }
//!             <button onclick={let job = job.clone(); move |_| job.reconnect()}>{ "reconnect" }</button>
//!         </div>
//!     }
//! }
//! # #[derive(PartialEq, Properties)] struct JobProps { id: u32 }
//! # fn main() {}
//! ```

mod handle;
mod use_event_source;
mod use_event_source_text;
mod use_event_source_typed;

pub use crate::live::{Message, Outage, UseEventSourceOptions};
pub use handle::UseEventSourceHandle;
pub use use_event_source::{use_event_source, use_event_source_with_options};
pub use use_event_source_text::{use_event_source_text, use_event_source_text_with_options};
pub use use_event_source_typed::{use_event_source_typed, use_event_source_typed_with_options};
