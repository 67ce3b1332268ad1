//! A small Dioxus app on the Dioxus hooks: start a job on the project's server and watch its progress stream until the
//! terminal `ping: finished` closes it; the README's Dioxus section is this scenario. Built by scripts/test.sh
//! (`cargo build --example dioxus --target wasm32-unknown-unknown --all-features`); served by the project's server
//! from a page that loads it (e.g. with `dx serve` or wasm-bindgen's web target), it talks to `/jobs` on the same
//! origin. On other targets it is an empty program.

#[cfg(target_arch = "wasm32")]
#[path = "shared/job.rs"]
mod job;

#[cfg(target_arch = "wasm32")]
mod app {
    use dioxus::prelude::*;
    use typed_eventsource::dioxus::use_event_source_with_options;
    use typed_eventsource::{SourceOptions, TerminalRule, UseEventSourceOptions};

    use crate::job::{start_job, JobEvent};

    /// One job's stream: a progress bar, the connection state, and close / reconnect.
    #[component]
    pub fn Job(url: String) -> Element {
        let job = use_event_source_with_options::<JobEvent>(
            url,
            UseEventSourceOptions::from(
                SourceOptions::default().close_on(TerminalRule::event_with_data("ping", "finished")),
            )
            .capacity(500),
        );
        let percent = job.last.read().as_ref().map_or(0, |m| m.data.percent());
        rsx! {
            progress { max: 100, value: percent }
            p { "{job.ready_state} · {job.received} events" }
            if let Some(reason) = job.close_reason.read().as_ref() {
                p { "{reason}" }
            }
            if let Some(error) = job.error.read().as_ref() {
                p { "{error}" }
            }
            button { onclick: move |_| job.close(), "Close" }
            button { onclick: move |_| job.reconnect(), "Reconnect" }
        }
    }

    /// Starts a job (`POST /jobs`) and shows its stream.
    #[component]
    pub fn App() -> Element {
        let started = use_resource(start_job);
        rsx! {
            h1 { "Job progress (Dioxus)" }
            match &*started.read() {
                None => rsx! { p { "starting a job…" } },
                Some(Some(id)) => rsx! { Job { url: format!("/jobs/{id}/events") } },
                Some(None) => rsx! { p { "the server did not start a job" } },
            }
        }
    }
}

fn main() {
    #[cfg(target_arch = "wasm32")]
    dioxus::launch(app::App);
}
