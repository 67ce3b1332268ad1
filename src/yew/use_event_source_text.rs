//! `use_event_source_text`: raw text of the listed event types.

use ::yew::functional::hook;

use super::handle::use_source;
use super::{UseEventSourceHandle, UseEventSourceOptions};
use crate::live::decode::attach_text;

/// A stream whose events of the types in [`UseEventSourceOptions::events`] (default `["message"]`) are kept as raw
/// text (see [`TypedEventSourceBuilder::on_text`](crate::TypedEventSourceBuilder::on_text)).
///
/// ```no_run
/// # use typed_eventsource::yew::*;
/// # use yew::prelude::*;
/// # #[component]
/// # fn Pings() -> Html {
/// let pings = use_event_source_text("/jobs/7/events".to_owned());
/// # html! {}
/// # }
/// # fn main() {}
/// ```
#[hook]
pub fn use_event_source_text(url: String) -> UseEventSourceHandle<String> {
    use_event_source_text_with_options(url, UseEventSourceOptions::default())
}

/// [`use_event_source_text`] with options (the event types, capacity, source options).
///
/// ```no_run
/// # use typed_eventsource::yew::*;
/// # use yew::prelude::*;
/// # #[component]
/// # fn Pings() -> Html {
/// let pings =
///     use_event_source_text_with_options("/jobs/7/events".to_owned(), UseEventSourceOptions::default().events(["ping"]));
/// # html! {}
/// # }
/// # fn main() {}
/// ```
#[hook]
pub fn use_event_source_text_with_options(url: String, options: UseEventSourceOptions) -> UseEventSourceHandle<String> {
    use_source::<String>(url, options, attach_text)
}
