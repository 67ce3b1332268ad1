//! The payloads the component-hook tests (Yew, Leptos) decode: one definition for every framework's tests.

use serde::Deserialize;

/// Scenario 2's progress payload (the fields the tests need).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Progress {
    pub status: String,
    pub step: u32,
    pub steps: u32,
}

/// A job's whole stream: unnamed `message` events with progress, `ping` events with text.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobEvent {
    #[serde(rename = "message")]
    Progress(Progress),
    Ping(String),
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Note {
    pub text: String,
}
