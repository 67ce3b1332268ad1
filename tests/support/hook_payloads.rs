//! What the component-hook tests (Yew, Leptos) share: the payloads they decode, and the witness stream of the
//! close/reconnect tests.

use serde::Deserialize;

use super::{server_url, Flag, Log};

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

/// A plain source on `user`'s stream, open once this returns; keep it alive. While it listens, a note sent to the
/// user reaches it live, so the server does not keep that note as an offline notification for the next connection:
/// a hook that was closed gets it back only by resuming after its last id. Also returns the texts it received.
pub async fn open_witness(user: &str) -> (typed_eventsource::TypedEventSource, Log<String>) {
    let witnessed = Log::new();
    let witness_open = Flag::new();
    let witness = typed_eventsource::TypedEventSource::builder(server_url(&format!("/sse/{user}")))
        .on::<Note>("message", witnessed.push_with(|n: Note, _| n.text))
        .on_open(witness_open.setter())
        .open()
        .expect("open");
    witness_open.wait("the witness open").await;
    (witness, witnessed)
}
