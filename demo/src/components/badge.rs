//! A stream's connection badge: readyState, close reason, last error, and close / reconnect buttons.

use typed_eventsource::{CloseReason, ReadyState};
use yew::prelude::*;

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
            <span class="actions">
                <button class="ghost" onclick={close} disabled={props.state == ReadyState::Closed}>{ "Close" }</button>
                <button class="ghost" onclick={reconnect}>{ "Reconnect" }</button>
            </span>
        </div>
    }
}
