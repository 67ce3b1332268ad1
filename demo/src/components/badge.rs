//! A stream's connection badge: readyState, close reason, last error, when it last went silent or offline and
//! recovered, and close / reconnect buttons.

use typed_eventsource::yew::Outage;
use typed_eventsource::{CloseReason, Error, ReadyState};
use yew::prelude::*;

use crate::api;

/// Props of [`ConnectionBadge`].
#[derive(PartialEq, Properties)]
pub struct BadgeProps {
    /// What the stream is (shown first), e.g. `GET /subscribe`.
    pub label: AttrValue,
    /// Its readyState.
    pub state: ReadyState,
    /// Why it closed, once it has.
    pub close_reason: Option<CloseReason>,
    /// The latest error, if any.
    pub error: Option<AttrValue>,
    /// When the stream last went silent or offline, and when it recovered.
    #[prop_or_default]
    pub outage: Option<Outage>,
    /// Whether it waits for the network now.
    #[prop_or_default]
    pub offline: bool,
    /// Called by the close button.
    pub on_close: Callback<()>,
    /// Called by the reconnect button.
    pub on_reconnect: Callback<()>,
}

/// The text of a state and close reason, e.g. "closed — terminal message, readyState 2".
pub fn status_text(state: ReadyState, reason: Option<&CloseReason>) -> String {
    let n = state as u16;
    match (state, reason) {
        (ReadyState::Closed, Some(CloseReason::Terminal { .. })) => {
            format!("closed — terminal message, readyState {n}")
        }
        (ReadyState::Closed, Some(CloseReason::Client)) => format!("closed — by the client, readyState {n}"),
        (ReadyState::Closed, Some(CloseReason::Failed { .. })) => format!("closed — failed, readyState {n}"),
        (state, _) => format!("{state}, readyState {n}"),
    }
}

/// The text of an outage, e.g. "silent since 10:02:13 (heartbeat timeout 45 s), recovered at 10:02:18".
pub fn outage_text(outage: &Outage, offline_now: bool) -> String {
    let what = match &outage.cause {
        Error::HeartbeatTimeout { timeout } => {
            format!("silent since {} (heartbeat timeout {} s)", api::clock(outage.since), timeout.as_secs())
        }
        _ => format!("offline since {}", api::clock(outage.since)),
    };
    match outage.recovered_at {
        Some(at) => format!("{what}, recovered at {}", api::clock(at)),
        None if offline_now => format!("{what} — waiting for the network"),
        None => format!("{what} — reconnecting"),
    }
}

/// The badge.
#[component]
pub fn ConnectionBadge(props: &BadgeProps) -> Html {
    let class = match props.state {
        ReadyState::Connecting => "badge connecting",
        ReadyState::Open => "badge open",
        ReadyState::Closed => "badge closed",
    };
    let close = props.on_close.reform(|_: MouseEvent| ());
    let reconnect = props.on_reconnect.reform(|_: MouseEvent| ());
    let detail = props.close_reason.as_ref().map(ToString::to_string);
    html! {
        <div class={class} data-test="badge" data-ready-state={(props.state as u16).to_string()}>
            <span class="dot" />
            <code class="label">{ &props.label }</code>
            <span class="status" data-test="status">{ status_text(props.state, props.close_reason.as_ref()) }</span>
            if let Some(detail) = detail { <span class="detail" title="close reason">{ detail }</span> }
            if let Some(error) = &props.error { <span class="error" title="last error">{ error }</span> }
            if let Some(outage) = &props.outage {
                <span class="outage" data-test="outage" title="liveness">{ outage_text(outage, props.offline) }</span>
            }
            <span class="actions">
                <button class="ghost" onclick={close} disabled={props.state == ReadyState::Closed}>{ "Close" }</button>
                <button class="ghost" onclick={reconnect}>{ "Reconnect" }</button>
            </span>
        </div>
    }
}
