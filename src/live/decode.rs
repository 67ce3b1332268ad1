//! How each kind of hook decodes events: the whole stream as one enum, one struct type for the listed event types,
//! or their raw text. Shared by every framework adapter.

use std::rc::Rc;

use serde::de::DeserializeOwned;

use crate::{EventMeta, TypedEventSourceBuilder};

/// Hands a decoded event to the live state.
pub(crate) type Sink<T> = Rc<dyn Fn(T, EventMeta)>;
/// Adds the handlers of one kind of hook to the builder, for the event types of the options.
pub(crate) type Attach<T> = fn(TypedEventSourceBuilder, &[String], Sink<T>) -> TypedEventSourceBuilder;

/// The whole stream as one enum `E` (the event types come from the enum; `events` is ignored).
pub(crate) fn attach_enum<E: DeserializeOwned + 'static>(
    builder: TypedEventSourceBuilder,
    _events: &[String],
    sink: Sink<E>,
) -> TypedEventSourceBuilder {
    builder.on_enum::<E>(move |event, meta| sink(event, meta))
}

/// The listed event types, decoded from JSON into `T`.
pub(crate) fn attach_typed<T: DeserializeOwned + 'static>(
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

/// The listed event types, as raw text.
pub(crate) fn attach_text(
    mut builder: TypedEventSourceBuilder,
    events: &[String],
    sink: Sink<String>,
) -> TypedEventSourceBuilder {
    for event in events {
        let sink = sink.clone();
        builder = builder.on_text(event, move |text, meta| sink(text, meta));
    }
    builder
}
