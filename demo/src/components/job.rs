//! Scenario 2: a batch job's progress on `GET /jobs/{id}/events`, closing itself on `ping` / `finished`.

use std::rc::Rc;

use serde::Deserialize;
use typed_eventsource::yew::{use_event_source_with_options, UseEventSourceOptions};
use typed_eventsource::{ReconnectPolicy, SourceOptions, TerminalRule};
use web_sys::HtmlInputElement;
use yew::platform::spawn_local;
use yew::prelude::*;

use super::badge::ConnectionBadge;
use crate::api;

/// `{target, status, message}` plus the step, as the server sends it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
struct Progress {
    target: Target,
    status: String,
    message: String,
    step: u32,
    steps: u32,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct Target {
    db: String,
    operation: String,
}

/// The job stream: unnamed `message` events with progress, `ping` events with plain text.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum JobEvent {
    #[serde(rename = "message")]
    Progress(Progress),
    Ping(String),
}

/// The panel's state: the form and the running job.
#[derive(Debug, Clone, PartialEq)]
struct Panel {
    steps: u32,
    job: Option<String>,
    problem: Option<String>,
}

enum PanelAction {
    Steps(u32),
    Started(String),
    Failed(String),
}

impl Reducible for Panel {
    type Action = PanelAction;

    fn reduce(self: Rc<Self>, action: PanelAction) -> Rc<Self> {
        let mut next = (*self).clone();
        match action {
            PanelAction::Steps(n) => next.steps = n.clamp(1, 1000),
            PanelAction::Started(id) => {
                next.job = Some(id);
                next.problem = None;
            }
            PanelAction::Failed(e) => next.problem = Some(e),
        }
        Rc::new(next)
    }
}

/// Start a job and watch it.
#[component]
pub fn BatchJob() -> Html {
    let panel = use_reducer(|| Panel { steps: 12, job: None, problem: None });
    let on_steps = {
        let panel = panel.dispatcher();
        Callback::from(move |e: InputEvent| {
            if let Ok(n) = e.target_unchecked_into::<HtmlInputElement>().value().parse() {
                panel.dispatch(PanelAction::Steps(n));
            }
        })
    };
    let start = {
        let panel = panel.clone();
        Callback::from(move |_: MouseEvent| {
            let body = format!(r#"{{"steps": {}, "intervalMs": 250}}"#, panel.steps);
            let dispatcher = panel.dispatcher();
            spawn_local(async move {
                match api::post_json("/jobs", &body).await {
                    Ok(answer) => match api::id_of(&answer) {
                        Some(id) => dispatcher.dispatch(PanelAction::Started(id)),
                        None => dispatcher.dispatch(PanelAction::Failed(format!("unexpected answer: {answer}"))),
                    },
                    Err(e) => dispatcher.dispatch(PanelAction::Failed(e)),
                }
            });
        })
    };

    html! {
        <section class="panel" id="job" data-test="job">
            <h2>{ "Batch job" }</h2>
            <p class="scenario">
                { "Scenario 2 — progress from unnamed message events; on ping “finished” the stream closes itself instead of reconnecting forever." }
            </p>
            <div class="row">
                <label>{ "Steps " }
                    <input type="number" min="1" max="1000" value={panel.steps.to_string()} oninput={on_steps} />
                </label>
                <button data-test="job-start" onclick={start}>{ "Start a job" }</button>
            </div>
            if let Some(p) = &panel.problem { <p class="error">{ p }</p> }
            if let Some(id) = &panel.job {
                <JobProgress key={id.clone()} id={id.clone()} />
            } else {
                <p class="empty">{ "No job yet." }</p>
            }
        </section>
    }
}

/// Props of [`JobProgress`].
#[derive(PartialEq, Properties)]
struct JobProps {
    id: AttrValue,
}

/// One job's stream.
#[component]
fn JobProgress(props: &JobProps) -> Html {
    let job = use_event_source_with_options::<JobEvent>(
        format!("/jobs/{}/events", props.id),
        UseEventSourceOptions::from(
            SourceOptions::default()
                .close_on(TerminalRule::event_with_data("ping", "finished"))
                // A job that was running when the server stopped ends with this after the restart (server README).
                .close_on(TerminalRule::event_with_data("ping", "interrupted"))
                .reconnect(ReconnectPolicy::never()),
        )
        .capacity(3_000),
    );
    let latest = job.messages().iter().rev().find_map(|m| match &m.data {
        JobEvent::Progress(p) => Some(p.clone()),
        JobEvent::Ping(_) => None,
    });
    let ping = job.messages().iter().rev().find_map(|m| match &m.data {
        JobEvent::Ping(text) => Some(text.clone()),
        JobEvent::Progress(_) => None,
    });
    let percent = latest.as_ref().map_or(0, |p| p.step * 100 / p.steps.max(1));
    let (j1, j2) = (job.clone(), job.clone());

    html! {
        <div class="job">
            <ConnectionBadge
                label={AttrValue::from(format!("GET /jobs/{}/events", props.id))}
                state={job.state()}
                outage={job.last_outage().cloned()}
                offline={job.offline()}
                close_reason={job.close_reason().cloned()}
                error={job.error().map(|e| AttrValue::from(e.to_string()))}
                on_close={Callback::from(move |()| j1.close())}
                on_reconnect={Callback::from(move |()| j2.reconnect())}
            />
            <div class="progress" data-test="job-progress" data-percent={percent.to_string()}>
                <div class="bar" style={format!("width: {percent}%")} />
                <span>{ format!("{percent}%") }</span>
            </div>
            if let Some(p) = latest {
                <dl class="facts">
                    <dt>{ "status" }</dt><dd data-test="job-status">{ &p.status }</dd>
                    <dt>{ "step" }</dt><dd>{ format!("{} of {}", p.step, p.steps) }</dd>
                    <dt>{ "target" }</dt><dd><code>{ format!("{} · {}", p.target.db, p.target.operation) }</code></dd>
                    <dt>{ "message" }</dt><dd>{ &p.message }</dd>
                    <dt>{ "ping" }</dt><dd>{ ping.unwrap_or_default() }</dd>
                </dl>
            }
            <p class="count">{ format!("{} events received", job.received()) }</p>
        </div>
    }
}
