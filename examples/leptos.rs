//! A small Leptos app on the Leptos hooks: start a job on the project's server and watch its progress stream until the
//! terminal `ping: finished` closes it; the README's Leptos section is this scenario. Built by scripts/test.sh
//! (`cargo build --example leptos --target wasm32-unknown-unknown --all-features`); served by the project's server
//! from a page that loads it (e.g. with `trunk` or wasm-bindgen's web target), it talks to `/jobs` on the same origin.
//! On other targets it is an empty program.

#[cfg(target_arch = "wasm32")]
#[path = "shared/job.rs"]
mod job;

#[cfg(target_arch = "wasm32")]
mod app {
    use leptos::prelude::*;
    use typed_eventsource::leptos::use_event_source_with_options;
    use typed_eventsource::{SourceOptions, TerminalRule, UseEventSourceOptions};

    use crate::job::{start_job, JobEvent};

    /// One job's stream: a progress bar, the connection state, and close / reconnect.
    #[component]
    pub fn Job(url: String) -> impl IntoView {
        let job = use_event_source_with_options::<JobEvent>(
            url,
            UseEventSourceOptions::from(
                SourceOptions::default().close_on(TerminalRule::event_with_data("ping", "finished")),
            )
            .capacity(500),
        );
        let percent = move || job.last.with(|last| last.as_ref().map_or(0, |m| m.data.percent()));
        view! {
            <progress max="100" value=percent></progress>
            <p>{move || format!("{} · {} events", job.ready_state.get(), job.received.get())}</p>
            <p>{move || job.close_reason.get().map(|r| r.to_string())}</p>
            <p>{move || job.error.get().map(|e| e.to_string())}</p>
            <button on:click=move |_| job.close()>"Close"</button>
            <button on:click=move |_| job.reconnect()>"Reconnect"</button>
        }
    }

    /// Starts a job (`POST /jobs`) and shows its stream.
    #[component]
    pub fn App() -> impl IntoView {
        let started = LocalResource::new(start_job);
        view! {
            <h1>"Job progress (Leptos)"</h1>
            <Suspense fallback=|| view! { <p>"starting a job…"</p> }>
                {move || started.get().map(|id| match id {
                    Some(id) => view! { <Job url=format!("/jobs/{id}/events") /> }.into_any(),
                    None => view! { <p>"the server did not start a job"</p> }.into_any(),
                })}
            </Suspense>
        }
    }
}

fn main() {
    #[cfg(target_arch = "wasm32")]
    leptos::mount::mount_to_body(app::App);
}
