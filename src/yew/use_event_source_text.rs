//! `use_event_source_text`: raw text of the listed event types.

use ::yew::functional::hook;

use super::handle::{use_source, Sink};
use super::{UseEventSourceHandle, UseEventSourceOptions};
use crate::TypedEventSourceBuilder;

/// A stream whose events of the types in [`UseEventSourceOptions::events`] (default `["message"]`) are kept as raw
/// text (see [`TypedEventSourceBuilder::on_text`]).
///
/// ```no_run
/// # use typed_eventsource::yew::*;
/// # use typed_eventsource::TerminalRule;
/// # use yew::prelude::*;
/// # #[component]
/// # fn Pings() -> Html {
/// let pings = use_event_source_text("/jobs/7/events".to_owned(), UseEventSourceOptions::default().events(["ping"]));
/// # html! {}
/// # }
/// # fn main() {}
/// ```
#[hook]
pub fn use_event_source_text(url: String, options: UseEventSourceOptions) -> UseEventSourceHandle<String> {
    use_source::<String>(url, options, attach_text)
}

fn attach_text(mut builder: TypedEventSourceBuilder, events: &[String], sink: Sink<String>) -> TypedEventSourceBuilder {
    for event in events {
        let sink = sink.clone();
        builder = builder.on_text(event, move |text, meta| sink(text, meta));
    }
    builder
}
