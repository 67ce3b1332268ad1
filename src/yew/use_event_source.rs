//! `use_event_source`: the whole stream as one enum.

use ::yew::functional::hook;
use serde::de::DeserializeOwned;

use super::handle::use_source;
use super::{UseEventSourceHandle, UseEventSourceOptions};
use crate::live::decode::attach_enum;

/// A stream whose events decode into one enum `E`, one variant per event type (serde renames respected; see
/// [`TypedEventSourceBuilder::on_enum`](crate::TypedEventSourceBuilder::on_enum)), with the default [`UseEventSourceOptions`].
///
/// Opens when the component mounts, closes when it unmounts; a new `url` closes the old stream and opens the new one.
///
/// ```no_run
/// # use typed_eventsource::yew::use_event_source;
/// # use yew::prelude::*;
/// # #[derive(Clone, PartialEq, serde::Deserialize)] struct Post { text: String }
/// #[derive(Clone, PartialEq, serde::Deserialize)]
/// #[serde(rename_all = "lowercase")]
/// enum Feed { #[serde(rename = "message")] Post(Post), Ping(String) }
///
/// #[component]
/// fn Board() -> Html {
///     let feed = use_event_source::<Feed>("/subscribe".to_owned());
///     html! { <p>{ format!("{}: {} messages", feed.state(), feed.messages().len()) }</p> }
/// }
/// # fn main() {}
/// ```
#[hook]
pub fn use_event_source<E>(url: String) -> UseEventSourceHandle<E>
where
    E: DeserializeOwned + Clone + 'static,
{
    use_event_source_with_options::<E>(url, UseEventSourceOptions::default())
}

/// [`use_event_source`] with options: history capacity, terminal rules, reconnect policy, credentials.
///
/// ```no_run
/// # use typed_eventsource::yew::*;
/// # use typed_eventsource::{SourceOptions, TerminalRule};
/// # use yew::prelude::*;
/// # #[derive(Clone, PartialEq, serde::Deserialize)] enum Job { Ping(String) }
/// # #[component]
/// # fn JobView() -> Html {
/// # let id = 7;
/// let job = use_event_source_with_options::<Job>(
///     format!("/jobs/{id}/events"),
///     UseEventSourceOptions::from(SourceOptions::default().close_on(TerminalRule::event_with_data("ping", "finished")))
///         .capacity(1_000),
/// );
/// # html! {}
/// # }
/// # fn main() {}
/// ```
#[hook]
pub fn use_event_source_with_options<E>(url: String, options: UseEventSourceOptions) -> UseEventSourceHandle<E>
where
    E: DeserializeOwned + Clone + 'static,
{
    use_source::<E>(url, options, attach_enum::<E>)
}
