//! The JavaScript API (feature `js`, the npm package): `new TypedEventSource(url, options)`.
//!
//! - `contract.rs`: the TypeScript declarations and the property names of every object crossing the boundary, checked
//!   against each other and against the Rust types by its tests (which run on the host);
//! - `options.rs`: the options object → [`SourceOptions`](crate::SourceOptions), the value every front end shares;
//! - `class.rs`: the class, a thin skin over [`TypedEventSource`](crate::TypedEventSource), and the converters of
//!   `EventMeta`, `SourceError` and `CloseReason`.

mod contract;

#[cfg(all(target_arch = "wasm32", feature = "js"))]
mod class;
#[cfg(all(target_arch = "wasm32", feature = "js"))]
mod options;

#[cfg(all(target_arch = "wasm32", feature = "js"))]
pub use class::JsTypedEventSource;
