//! The hooks: each picks a decoder and hands the rest to [`use_source`].

use ::leptos::prelude::*;
use serde::de::DeserializeOwned;

use super::UseEventSource;
#[cfg(target_arch = "wasm32")]
use crate::live::decode::{attach_enum, attach_text, attach_typed, Attach};
#[cfg(target_arch = "wasm32")]
use crate::live::UseEventSourceOptions;

/// A stream whose events decode into one enum `E`, one variant per event type (serde renames respected; see
/// [`TypedEventSourceBuilder::on_enum`](crate::TypedEventSourceBuilder::on_enum)), with the default options.
///
/// Opens once the component is mounted, closes when it is cleaned up; a new value of `url` (a signal, or a plain
/// string) closes the old stream and opens the new one.
///
/// ```no_run
/// # use leptos::prelude::*;
/// # use typed_eventsource::leptos::use_event_source;
/// # #[derive(Clone, PartialEq, serde::Deserialize)] struct Post { text: String }
/// #[derive(Clone, PartialEq, serde::Deserialize)]
/// #[serde(rename_all = "lowercase")]
/// enum Feed { #[serde(rename = "message")] Post(Post), Ping(String) }
///
/// #[component]
/// fn Board() -> impl IntoView {
///     let feed = use_event_source::<Feed>("/subscribe");
///     view! { <p>{move || format!("{}: {} messages", feed.ready_state.get(), feed.received.get())}</p> }
/// }
/// # fn main() {}
/// ```
pub fn use_event_source<E>(url: impl Into<Signal<String>>) -> UseEventSource<E>
where
    E: DeserializeOwned + Clone + 'static,
{
    #[cfg(target_arch = "wasm32")]
    return use_event_source_with_options::<E>(url, UseEventSourceOptions::default());
    #[cfg(not(target_arch = "wasm32"))]
    return use_idle(url);
}

#[cfg(target_arch = "wasm32")]
/// [`use_event_source`] with options: history capacity, and the [`SourceOptions`](crate::SourceOptions) (terminal
/// rules, reconnect policy, credentials, transport, tab sharing, ...).
///
/// ```no_run
/// # use leptos::prelude::*;
/// # use typed_eventsource::leptos::use_event_source_with_options;
/// # use typed_eventsource::{SourceOptions, TerminalRule, UseEventSourceOptions};
/// # #[derive(Clone, PartialEq, serde::Deserialize)] enum Job { Ping(String) }
/// # #[component]
/// # fn JobView() -> impl IntoView {
/// let job = use_event_source_with_options::<Job>(
///     "/jobs/7/events",
///     UseEventSourceOptions::from(SourceOptions::default().close_on(TerminalRule::event_with_data("ping", "finished")))
///         .capacity(1_000),
/// );
/// # }
/// # fn main() {}
/// ```
pub fn use_event_source_with_options<E>(
    url: impl Into<Signal<String>>,
    options: UseEventSourceOptions,
) -> UseEventSource<E>
where
    E: DeserializeOwned + Clone + 'static,
{
    use_source::<E>(url.into(), options, attach_enum::<E>)
}

/// A stream whose `message` events decode from JSON into `T` (see
/// [`TypedEventSourceBuilder::on`](crate::TypedEventSourceBuilder::on)); data that does not decode becomes the
/// [`error`](UseEventSource::error).
///
/// ```no_run
/// # use leptos::prelude::*;
/// # use typed_eventsource::leptos::use_event_source_typed;
/// #[derive(Clone, PartialEq, serde::Deserialize)]
/// struct Post { text: String }
/// # #[component]
/// # fn Board() -> impl IntoView {
/// let board = use_event_source_typed::<Post>("/subscribe");
/// # }
/// # fn main() {}
/// ```
pub fn use_event_source_typed<T>(url: impl Into<Signal<String>>) -> UseEventSource<T>
where
    T: DeserializeOwned + Clone + 'static,
{
    #[cfg(target_arch = "wasm32")]
    return use_event_source_typed_with_options::<T>(url, UseEventSourceOptions::default());
    #[cfg(not(target_arch = "wasm32"))]
    return use_idle(url);
}

#[cfg(target_arch = "wasm32")]
/// [`use_event_source_typed`] with options: the event types (default `["message"]`), capacity, source options.
///
/// ```no_run
/// # use leptos::prelude::*;
/// # use typed_eventsource::leptos::use_event_source_typed_with_options;
/// # use typed_eventsource::UseEventSourceOptions;
/// # #[derive(Clone, PartialEq, serde::Deserialize)] struct Post { text: String }
/// # #[component]
/// # fn Board() -> impl IntoView {
/// let board =
///     use_event_source_typed_with_options::<Post>("/subscribe", UseEventSourceOptions::default().events(["message", "pinned"]));
/// # }
/// # fn main() {}
/// ```
pub fn use_event_source_typed_with_options<T>(
    url: impl Into<Signal<String>>,
    options: UseEventSourceOptions,
) -> UseEventSource<T>
where
    T: DeserializeOwned + Clone + 'static,
{
    use_source::<T>(url.into(), options, attach_typed::<T>)
}

/// A stream whose `message` events are kept as raw text (see
/// [`TypedEventSourceBuilder::on_text`](crate::TypedEventSourceBuilder::on_text)).
///
/// ```no_run
/// # use leptos::prelude::*;
/// # use typed_eventsource::leptos::use_event_source_text;
/// # #[component]
/// # fn Log() -> impl IntoView {
/// let log = use_event_source_text("/log");
/// # }
/// # fn main() {}
/// ```
pub fn use_event_source_text(url: impl Into<Signal<String>>) -> UseEventSource<String> {
    #[cfg(target_arch = "wasm32")]
    return use_event_source_text_with_options(url, UseEventSourceOptions::default());
    #[cfg(not(target_arch = "wasm32"))]
    return use_idle(url);
}

#[cfg(target_arch = "wasm32")]
/// [`use_event_source_text`] with options: the event types (default `["message"]`), capacity, source options.
///
/// ```no_run
/// # use leptos::prelude::*;
/// # use typed_eventsource::leptos::use_event_source_text_with_options;
/// # use typed_eventsource::UseEventSourceOptions;
/// # #[component]
/// # fn Pings() -> impl IntoView {
/// let pings = use_event_source_text_with_options("/jobs/7/events", UseEventSourceOptions::default().events(["ping"]));
/// # }
/// # fn main() {}
/// ```
pub fn use_event_source_text_with_options(
    url: impl Into<Signal<String>>,
    options: UseEventSourceOptions,
) -> UseEventSource<String> {
    use_source::<String>(url.into(), options, attach_text)
}

/// The hook behind every public one (browser builds): the live core, notified into a trigger; connected by an effect
/// (which never runs in a server build) on each value of `url`; closed when the owner is cleaned up.
#[cfg(target_arch = "wasm32")]
fn use_source<T: Clone + 'static>(
    url: Signal<String>,
    options: UseEventSourceOptions,
    attach: Attach<T>,
) -> UseEventSource<T> {
    use crate::live::state::Live;

    let changed = Trigger::new();
    let live = Live::new(attach, move || changed.notify());
    live.set_options(options);
    let live = StoredValue::new_local(live);
    Effect::new(move |_| {
        let url = url.get();
        live.with_value(|live| live.connect(&url));
    });
    // Also dropped with the owner (nothing else holds it), which closes it too: this closes it first, explicitly.
    on_cleanup(move || {
        live.try_with_value(Live::disconnect);
    });
    UseEventSource::new(
        move || live.try_with_value(Live::current).unwrap_or_else(crate::live::Snapshot::connecting),
        changed,
        live,
    )
}

/// The hooks on a host target (a Leptos app's server build): signals of a stream about to connect, nothing more.
#[cfg(not(target_arch = "wasm32"))]
fn use_idle<T: Clone + 'static>(url: impl Into<Signal<String>>) -> UseEventSource<T> {
    let _ = url.into();
    UseEventSource::new(crate::live::Snapshot::connecting, Trigger::new())
}

/// A Leptos app's server build (the host): the hooks compile, connect nothing and show a stream about to connect;
/// the controls do nothing.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod on_the_host {
    use ::leptos::prelude::*;

    use super::{use_event_source, use_event_source_text, use_event_source_typed};
    use crate::ReadyState;

    #[derive(Clone, serde::Deserialize)]
    struct Note {
        #[allow(dead_code)]
        text: String,
    }

    #[test]
    fn the_hooks_show_a_stream_about_to_connect_and_do_nothing() {
        Owner::new().with(|| {
            let typed = use_event_source_typed::<Note>("/sse/alice");
            let whole = use_event_source::<Note>(RwSignal::new("/subscribe".to_owned()));
            let text = use_event_source_text("/log");
            assert_eq!(typed.ready_state.get_untracked(), ReadyState::Connecting);
            assert_eq!(whole.received.get_untracked(), 0);
            assert!(text.messages.get_untracked().is_empty());
            assert!(text.last.get_untracked().is_none() && text.error.get_untracked().is_none());
            typed.close();
            typed.reconnect();
            assert_eq!(typed.ready_state.get_untracked(), ReadyState::Connecting);
        });
    }
}
