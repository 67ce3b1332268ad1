//! The README's Rust snippets, each verbatim inside a function here so that it compiles: scripts/test.sh builds this
//! example for wasm32 with every feature (`cargo build --example readme --target wasm32-unknown-unknown
//! --all-features`), and the host test tests/readme_snippets.rs checks that every ```rust block of README.md appears
//! here line for line (indentation aside), so the two cannot drift apart. What a snippet assumes — the app's own
//! helpers (`log`, `show`, `reload`, `token`) and types — is defined around it. On other targets, or without the
//! features, it is an empty program.
// Snippets show shapes, not whole programs (unused values), and spell closures out for the reader.
#![allow(dead_code, unused, clippy::redundant_closure)]

#[cfg(all(target_arch = "wasm32", feature = "fetch", feature = "yew"))]
mod snippets {
    use futures::StreamExt;
    use typed_eventsource::{Error, FetchRequest, Gap, ReconnectPolicy, TerminalRule, TypedEventSource};

    fn log(_: &str) {}
    fn show(_: Notification) {}
    fn reload(_: &Gap) {}
    async fn token(refresh: bool) -> String {
        String::new()
    }

    #[derive(serde::Deserialize)]
    struct Note {
        text: String,
    }

    #[derive(serde::Deserialize)]
    struct Notification {
        text: String,
    }

    /// "Rust": scenario 2.
    #[rustfmt::skip]
    fn scenario_2() -> Result<(), Error> {
        use typed_eventsource::{CloseReason, TerminalRule, TypedEventSource};

        #[derive(serde::Deserialize)]
        struct Progress { status: String, message: String }

        // Scenario 2: a batch job that ends itself with `event: ping` / `data: finished`.
        let source = TypedEventSource::builder("/jobs/7/events")
            .close_on(TerminalRule::event_with_data("ping", "finished"))
            .on::<Progress>("message", |p, meta| log(&format!("#{} {}: {}", meta.last_event_id, p.status, p.message)))
            .on_text("ping", |text, _meta| log(&text))
            .on_error(|e| log(&e.to_string()))               // Transient (browser reconnecting) / Fatal / Decode
            .on_close(|reason| assert!(matches!(reason, CloseReason::Terminal { .. })))
            .open()?;
        // Keep `source`: dropping it closes the connection and detaches every listener.
        Ok(())
    }

    /// "Rust": the whole stream as one enum.
    #[rustfmt::skip]
    async fn one_enum() -> Result<(), Error> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "kebab-case")]
        enum Board {
            #[serde(rename = "message")]
            Note(Note),            // JSON data
            Ping(String),          // plain-text data
            CardAssigned { card: u32 },
        }
        let mut events = TypedEventSource::builder("/sse/alice").into_stream::<Board>()?;
        while let Some(item) = events.next().await { /* Ok(Received { data, meta }) or Err(Error) */ }
        // the stream ends when the source closes
        Ok(())
    }

    /// "Rust": the fetch transport.
    #[rustfmt::skip]
    fn fetch_transport(token: &str) -> Result<(), Error> {
        let source = TypedEventSource::builder("/sse/alice")
            .transport(FetchRequest::new().header("Authorization", format!("Bearer {token}")))
            .reconnect(ReconnectPolicy::default().max_retries(10))
            .on::<Notification>("message", |n, _| show(n))
            .open()?;
        Ok(())
    }

    /// "Yew".
    #[rustfmt::skip]
    mod yew_hook {
        use typed_eventsource::{SourceOptions, TerminalRule};
        use yew::prelude::*;

        #[derive(PartialEq, Properties)]
        pub struct JobProps {
            pub url: String,
        }

        #[derive(Clone, PartialEq, serde::Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum JobEvent {
            Ping(String),
        }

        use typed_eventsource::yew::{use_event_source_with_options, UseEventSourceOptions};

        #[component]
        fn Job(props: &JobProps) -> Html {
            let job = use_event_source_with_options::<JobEvent>(
                props.url.clone(),
                UseEventSourceOptions::from(SourceOptions::default().close_on(TerminalRule::event_with_data("ping", "finished")))
                    .capacity(500),
            );
            html! {
                <>
                  <p>{ format!("readyState {} · {} messages", job.state() as u16, job.messages().len()) }</p>
                  <button onclick={ let job = job.clone(); move |_| job.close() }>{ "Close" }</button>
                </>
            }
        }
    }

    /// "Leptos".
    #[cfg(feature = "leptos")]
    #[rustfmt::skip]
    mod leptos_hook {
        use leptos::prelude::*;
        use typed_eventsource::{SourceOptions, TerminalRule};

        #[derive(Clone, PartialEq, serde::Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum JobEvent {
            Ping(String),
        }

        use typed_eventsource::leptos::{use_event_source_with_options, UseEventSourceOptions};

        #[component]
        fn Job(url: String) -> impl IntoView {
            let job = use_event_source_with_options::<JobEvent>(
                url,
                UseEventSourceOptions::from(SourceOptions::default().close_on(TerminalRule::event_with_data("ping", "finished")))
                    .capacity(500),
            );
            view! {
                <p>{move || format!("readyState {} · {} messages", job.ready_state.get() as u16, job.messages.with(|m| m.len()))}</p>
                <button on:click=move |_| job.close()>"Close"</button>
            }
        }
    }

    /// "Dioxus".
    #[cfg(feature = "dioxus-web")]
    #[rustfmt::skip]
    mod dioxus_hook {
        use dioxus::prelude::*;
        use typed_eventsource::{SourceOptions, TerminalRule};

        #[derive(Clone, PartialEq, serde::Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum JobEvent {
            Ping(String),
        }

        use typed_eventsource::dioxus::{use_event_source_with_options, UseEventSourceOptions};

        #[component]
        fn Job(url: String) -> Element {
            let job = use_event_source_with_options::<JobEvent>(
                url,
                UseEventSourceOptions::from(SourceOptions::default().close_on(TerminalRule::event_with_data("ping", "finished")))
                    .capacity(500),
            );
            rsx! {
                p { "readyState {*job.ready_state.read() as u16} · {job.messages.read().len()} messages" }
                button { onclick: move |_| job.close(), "Close" }
            }
        }
    }

    /// "Resume you can trust".
    #[rustfmt::skip]
    fn resume() -> Result<(), Error> {
        let source = TypedEventSource::builder("/sse/alice")
            .resume_param(Some("last_event_id"))   // the query parameter of the library's own re-opens; None: none
            .dedup_window(64)                      // drop an id among the last 64 delivered (default 64; 0 = off)
            .on_gap(|gap| reload(gap))             // a server's `replay-gap` (or `.gap_event("resync")`): events were missed
            .transport(FetchRequest::new().prepare(|attempt| async move {
                // asked for each connect and reconnect, and once more after a 401 (`attempt.unauthorized`)
                Ok(FetchRequest::new().header("Authorization", format!("Bearer {}", token(attempt.unauthorized).await)))
            }))
            .on::<Notification>("message", |n, _| show(n))
            .open()?;
        assert_eq!(source.duplicates_dropped(), 0);
        Ok(())
    }
}

fn main() {}
