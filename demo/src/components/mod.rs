//! One component per file.

mod app;
mod badge;
mod broadcast;
mod job;
mod notifications;

pub use app::App;
