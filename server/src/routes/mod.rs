//! The HTTP routes, one module per area.

pub mod broadcast;
#[cfg(feature = "fixtures")]
pub mod fixtures;
pub mod jobs;
pub mod ops;
pub mod publish;
pub mod users;
