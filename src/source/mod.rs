//! The source: what a program holds, how it is configured, and the engine behind every front end.
//!
//! - `options.rs`: [`SourceOptions`], every setting but the URL and the handlers, in one value;
//! - `builder.rs`: [`TypedEventSourceBuilder`], which fills the options and collects the handlers;
//! - `handle.rs`: [`TypedEventSource`], the handle a program keeps (dropping it closes the source);
//! - `engine.rs`: the engine — handlers, last event id, terminal rules, reconnect policy — over a transport
//!   [`Link`](crate::transport) (see [`crate::transport`] for the boundary);
//! - `visibility.rs`: the hidden-page pause, linked only when asked for;
//! - `liveness.rs`: a connection that goes silent (the heartbeat watchdog), the browser going offline and online,
//!   the page resuming after a freeze or the machine's sleep.
//!
//! The [`EventStream`](crate::EventStream), the JavaScript class and the Yew hooks are thin layers over the builder and
//! the handle: they add handlers, never a second engine.

mod builder;
mod engine;
mod handle;
mod liveness;
mod options;
mod visibility;

pub use builder::TypedEventSourceBuilder;
pub use handle::TypedEventSource;
pub use options::SourceOptions;
