//! The hooks: each picks a decoder and hands the rest to [`use_source`].

use serde::de::DeserializeOwned;

use super::UseEventSource;
#[cfg(target_arch = "wasm32")]
use crate::live::decode::{attach_enum, attach_text, attach_typed, Attach};
#[cfg(target_arch = "wasm32")]
use crate::live::UseEventSourceOptions;

/// A stream whose events decode into one enum `E`, one variant per event type (serde renames respected; see
/// [`TypedEventSourceBuilder::on_enum`](crate::TypedEventSourceBuilder::on_enum)), with the default options.
///
/// Opens once the component is mounted, closes when it unmounts; a render with another `url` (a prop, or a signal
/// read while rendering) closes the old stream and opens the new one.
///
/// ```no_run
/// # use dioxus::prelude::*;
/// # use typed_eventsource::dioxus::use_event_source;
/// # #[derive(Clone, PartialEq, serde::Deserialize)] struct Post { text: String }
/// #[derive(Clone, PartialEq, serde::Deserialize)]
/// #[serde(rename_all = "lowercase")]
/// enum Feed { #[serde(rename = "message")] Post(Post), Ping(String) }
///
/// #[component]
/// fn Board() -> Element {
///     let feed = use_event_source::<Feed>("/subscribe");
///     rsx! { p { "{feed.ready_state}: {feed.received} messages" } }
/// }
/// # fn main() {}
/// ```
pub fn use_event_source<E>(url: impl Into<String>) -> UseEventSource<E>
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
/// rules, reconnect policy, credentials, transport, tab sharing, ...). The latest render's options are those a
/// connection opens with (mount, URL change, `reconnect()`).
///
/// ```no_run
/// # use dioxus::prelude::*;
/// # use typed_eventsource::dioxus::use_event_source_with_options;
/// # use typed_eventsource::{SourceOptions, TerminalRule, UseEventSourceOptions};
/// # #[derive(Clone, PartialEq, serde::Deserialize)] enum Job { Ping(String) }
/// # #[component]
/// # fn JobView() -> Element {
/// let job = use_event_source_with_options::<Job>(
///     "/jobs/7/events",
///     UseEventSourceOptions::from(SourceOptions::default().close_on(TerminalRule::event_with_data("ping", "finished")))
///         .capacity(1_000),
/// );
/// # rsx! {}
/// # }
/// # fn main() {}
/// ```
pub fn use_event_source_with_options<E>(url: impl Into<String>, options: UseEventSourceOptions) -> UseEventSource<E>
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
/// # use dioxus::prelude::*;
/// # use typed_eventsource::dioxus::use_event_source_typed;
/// #[derive(Clone, PartialEq, serde::Deserialize)]
/// struct Post { text: String }
/// # #[component]
/// # fn Board() -> Element {
/// let board = use_event_source_typed::<Post>("/subscribe");
/// # rsx! {}
/// # }
/// # fn main() {}
/// ```
pub fn use_event_source_typed<T>(url: impl Into<String>) -> UseEventSource<T>
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
/// # use dioxus::prelude::*;
/// # use typed_eventsource::dioxus::use_event_source_typed_with_options;
/// # use typed_eventsource::UseEventSourceOptions;
/// # #[derive(Clone, PartialEq, serde::Deserialize)] struct Post { text: String }
/// # #[component]
/// # fn Board() -> Element {
/// let board =
///     use_event_source_typed_with_options::<Post>("/subscribe", UseEventSourceOptions::default().events(["message", "pinned"]));
/// # rsx! {}
/// # }
/// # fn main() {}
/// ```
pub fn use_event_source_typed_with_options<T>(
    url: impl Into<String>,
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
/// # use dioxus::prelude::*;
/// # use typed_eventsource::dioxus::use_event_source_text;
/// # #[component]
/// # fn Log() -> Element {
/// let log = use_event_source_text("/log");
/// # rsx! {}
/// # }
/// # fn main() {}
/// ```
pub fn use_event_source_text(url: impl Into<String>) -> UseEventSource<String> {
    #[cfg(target_arch = "wasm32")]
    return use_event_source_text_with_options(url, UseEventSourceOptions::default());
    #[cfg(not(target_arch = "wasm32"))]
    return use_idle(url);
}

#[cfg(target_arch = "wasm32")]
/// [`use_event_source_text`] with options: the event types (default `["message"]`), capacity, source options.
///
/// ```no_run
/// # use dioxus::prelude::*;
/// # use typed_eventsource::dioxus::use_event_source_text_with_options;
/// # use typed_eventsource::UseEventSourceOptions;
/// # #[component]
/// # fn Pings() -> Element {
/// let pings = use_event_source_text_with_options("/jobs/7/events", UseEventSourceOptions::default().events(["ping"]));
/// # rsx! {}
/// # }
/// # fn main() {}
/// ```
pub fn use_event_source_text_with_options(
    url: impl Into<String>,
    options: UseEventSourceOptions,
) -> UseEventSource<String> {
    use_source::<String>(url.into(), options, attach_text)
}

/// The hook behind every public one (browser builds): the live core in the component's scope, its notification a
/// signal write the snapshot memo reads; connected by an effect on each new `url` (effects run once the component
/// is mounted); closed when the component unmounts.
#[cfg(target_arch = "wasm32")]
fn use_source<T: Clone + 'static>(url: String, options: UseEventSourceOptions, attach: Attach<T>) -> UseEventSource<T> {
    use dioxus_core::{use_drop, use_hook};
    use dioxus_hooks::{use_effect, use_reactive};
    use dioxus_signals::{CopyValue, ReadableExt, Signal, Writable};

    use crate::live::state::Live;

    let stream = use_hook(move || {
        let changed = Signal::new(());
        // A write (the guard's drop notifies the readers); one after the component's signals are dropped is ignored.
        let live = Live::new(attach, move || drop(changed.try_write_unchecked()));
        let live = CopyValue::new(live);
        UseEventSource::new(
            move || {
                changed.read();
                live.try_peek().map_or_else(|_| crate::live::Snapshot::connecting(), |live| live.current())
            },
            live,
        )
    });
    // The latest render's options are those a connection opens with (mount, URL change, reconnect).
    if let Ok(live) = stream.live.try_peek() {
        live.set_options(options);
    }
    use_effect(use_reactive((&url,), move |(url,)| {
        if let Ok(live) = stream.live.try_peek() {
            live.connect(&url);
        }
    }));
    // Also dropped with the component's scope (nothing else holds it), which closes it too: this closes it first.
    use_drop(move || {
        if let Ok(live) = stream.live.try_peek() {
            live.disconnect();
        }
    });
    stream
}

/// The hooks on a host target (a fullstack app's server build): signals of a stream about to connect, nothing more.
#[cfg(not(target_arch = "wasm32"))]
fn use_idle<T: Clone + 'static>(url: impl Into<String>) -> UseEventSource<T> {
    let _ = url.into();
    dioxus_core::use_hook(|| UseEventSource::new(crate::live::Snapshot::connecting))
}

/// A fullstack app's server build (the host): the hooks compile, connect nothing and show a stream about to connect;
/// the controls do nothing.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod on_the_host {
    use std::cell::Cell;

    use dioxus_core::{Element, VNode, VirtualDom};
    use dioxus_signals::ReadableExt;

    use super::{use_event_source, use_event_source_text, use_event_source_typed};
    use crate::ReadyState;

    #[derive(Clone, serde::Deserialize)]
    struct Note {
        #[allow(dead_code)]
        text: String,
    }

    thread_local! {
        static CHECKED: Cell<bool> = const { Cell::new(false) };
    }

    fn app() -> Element {
        let typed = use_event_source_typed::<Note>("/sse/alice");
        let whole = use_event_source::<Note>(String::from("/subscribe"));
        let text = use_event_source_text("/log");
        assert_eq!(*typed.ready_state.read(), ReadyState::Connecting);
        assert_eq!(*whole.received.read(), 0);
        assert!(text.messages.read().is_empty());
        assert!(text.last.read().is_none() && text.error.read().is_none());
        typed.close();
        typed.reconnect();
        assert_eq!(*typed.ready_state.read(), ReadyState::Connecting);
        assert!(typed.close_reason.read().is_none());
        CHECKED.set(true);
        VNode::empty()
    }

    #[test]
    fn the_hooks_show_a_stream_about_to_connect_and_do_nothing() {
        let mut dom = VirtualDom::new(app);
        dom.rebuild_in_place();
        assert!(CHECKED.get(), "the component rendered and checked its hooks");
    }
}
