//! A small Dioxus app on the Dioxus hooks: start a job on the project's server and watch its progress stream until the
//! terminal `ping: finished` closes it; the README's Dioxus section is this scenario. Built by scripts/test.sh
//! (`cargo build --example dioxus --target wasm32-unknown-unknown --all-features`); served by the project's server
//! from a page that loads it (e.g. with `dx serve` or wasm-bindgen's web target), it talks to `/jobs` on the same
//! origin. On other targets it is an empty program.

#[cfg(target_arch = "wasm32")]
mod app {
    use dioxus::prelude::*;
    use typed_eventsource::dioxus::use_event_source_with_options;
    use typed_eventsource::{SourceOptions, TerminalRule, UseEventSourceOptions};

    #[derive(Clone, PartialEq, serde::Deserialize)]
    pub struct Progress {
        pub status: String,
        pub step: u32,
        pub steps: u32,
    }

    /// A job's whole stream: progress as unnamed `message` events, `ping` events with text.
    #[derive(Clone, PartialEq, serde::Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum JobEvent {
        #[serde(rename = "message")]
        Progress(Progress),
        Ping(String),
    }

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
        let percent = match job.last.read().as_ref().map(|m| &m.data) {
            Some(JobEvent::Progress(p)) => p.step * 100 / p.steps.max(1),
            Some(JobEvent::Ping(_)) => 100,
            None => 0,
        };
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

    /// `POST /jobs` (a three-step job), the new job's id.
    async fn start_job() -> Option<String> {
        use wasm_bindgen::JsCast;
        let init = web_sys::RequestInit::new();
        init.set_method("POST");
        init.set_body(&r#"{"steps": 3, "intervalMs": 500}"#.into());
        let headers = web_sys::Headers::new().ok()?;
        headers.set("Content-Type", "application/json").ok()?;
        init.set_headers(&headers);
        let window = web_sys::window()?;
        let response =
            wasm_bindgen_futures::JsFuture::from(window.fetch_with_str_and_init("/jobs", &init)).await.ok()?;
        let response: web_sys::Response = response.dyn_into().ok()?;
        let json = wasm_bindgen_futures::JsFuture::from(response.json().ok()?).await.ok()?;
        let id = js_sys::Reflect::get(&json, &"id".into()).ok()?;
        id.as_string().or_else(|| id.as_f64().map(|n| n.to_string()))
    }
}

fn main() {
    #[cfg(target_arch = "wasm32")]
    dioxus::launch(app::App);
}
