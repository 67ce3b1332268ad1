//! `use_event_source_typed`: one struct type for the listed event types.

use ::yew::functional::hook;
use serde::de::DeserializeOwned;

use super::handle::{use_source, Sink};
use super::{UseEventSourceHandle, UseEventSourceOptions};
use crate::TypedEventSourceBuilder;

/// A stream whose events of the types in [`UseEventSourceOptions::events`] (default `["message"]`) decode from JSON
/// into `T` (see [`TypedEventSourceBuilder::on`]); data that does not decode becomes the handle's
/// [`error`](UseEventSourceHandle::error).
///
/// ```no_run
/// # use typed_eventsource::yew::*;
/// # use typed_eventsource::TerminalRule;
/// # use yew::prelude::*;
/// #[derive(Clone, PartialEq, serde::Deserialize)]
/// struct Post { id: u64, text: String, timestamp: f64 }
/// # #[component]
/// # fn Board() -> Html {
///
/// let board = use_event_source_typed::<Post>("/subscribe".to_owned(), UseEventSourceOptions::default());
/// # html! {}
/// # }
/// # fn main() {}
/// ```
#[hook]
pub fn use_event_source_typed<T>(url: String, options: UseEventSourceOptions) -> UseEventSourceHandle<T>
where
    T: DeserializeOwned + Clone + 'static,
{
    use_source::<T>(url, options, attach_typed::<T>)
}

fn attach_typed<T: DeserializeOwned + 'static>(
    mut builder: TypedEventSourceBuilder,
    events: &[String],
    sink: Sink<T>,
) -> TypedEventSourceBuilder {
    for event in events {
        let sink = sink.clone();
        builder = builder.on::<T>(event, move |data, meta| sink(data, meta));
    }
    builder
}
