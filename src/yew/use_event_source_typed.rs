//! `use_event_source_typed`: one struct type for the listed event types.

use ::yew::functional::hook;
use serde::de::DeserializeOwned;

use super::handle::use_source;
use super::{UseEventSourceHandle, UseEventSourceOptions};
use crate::live::decode::attach_typed;

/// A stream whose `message` events decode from JSON into `T` (see
/// [`TypedEventSourceBuilder::on`](crate::TypedEventSourceBuilder::on)); data that does not decode becomes the
/// handle's [`error`](UseEventSourceHandle::error).
///
/// ```no_run
/// # use typed_eventsource::yew::*;
/// # use yew::prelude::*;
/// #[derive(Clone, PartialEq, serde::Deserialize)]
/// struct Post { id: u64, text: String, timestamp: f64 }
/// # #[component]
/// # fn Board() -> Html {
///
/// let board = use_event_source_typed::<Post>("/subscribe".to_owned());
/// # html! {}
/// # }
/// # fn main() {}
/// ```
#[hook]
pub fn use_event_source_typed<T>(url: String) -> UseEventSourceHandle<T>
where
    T: DeserializeOwned + Clone + 'static,
{
    use_event_source_typed_with_options::<T>(url, UseEventSourceOptions::default())
}

/// [`use_event_source_typed`] with options: the event types (default `["message"]`), capacity, source options.
///
/// ```no_run
/// # use typed_eventsource::yew::*;
/// # use yew::prelude::*;
/// # #[derive(Clone, PartialEq, serde::Deserialize)] struct Post { text: String }
/// # #[component]
/// # fn Board() -> Html {
/// let board = use_event_source_typed_with_options::<Post>(
///     "/subscribe".to_owned(),
///     UseEventSourceOptions::default().events(["message", "pinned"]).capacity(50),
/// );
/// # html! {}
/// # }
/// # fn main() {}
/// ```
#[hook]
pub fn use_event_source_typed_with_options<T>(url: String, options: UseEventSourceOptions) -> UseEventSourceHandle<T>
where
    T: DeserializeOwned + Clone + 'static,
{
    use_source::<T>(url, options, attach_typed::<T>)
}
