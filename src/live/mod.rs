//! The framework-free core of the hooks: a live stream's state in a component ([`state::Live`]), the decoders of
//! each kind of hook, the hook options and what the history holds. The Yew, Leptos and Dioxus adapters are thin
//! layers over it.

mod message;
mod snapshot;
pub use message::{Message, Outage};
pub(crate) use snapshot::Snapshot;

#[cfg(target_arch = "wasm32")]
pub(crate) mod decode;
#[cfg(target_arch = "wasm32")]
mod options;
#[cfg(target_arch = "wasm32")]
pub(crate) mod state;
#[cfg(target_arch = "wasm32")]
pub use options::UseEventSourceOptions;
