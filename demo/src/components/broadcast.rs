//! Scenarios 1 and 5: a broadcast board on `GET /subscribe`; the form publishes with `POST /update`.

use serde::Deserialize;
use typed_eventsource::yew::{use_event_source_typed_with_options, UseEventSourceOptions};
use typed_eventsource::ShareRole;
use typed_eventsource::SourceOptions;
use web_sys::HtmlTextAreaElement;
use yew::platform::spawn_local;
use yew::prelude::*;

use super::badge::ConnectionBadge;
use crate::api;

/// A message of the board, as `POST /update` publishes it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
struct Post {
    id: u64,
    text: String,
    timestamp: f64,
}

/// The board: a list of every message with its time, and a form to send one to every open page.
#[component]
pub fn BroadcastBoard() -> Html {
    // One connection for every tab of this browser (issue 14): one tab leads, the others get its events.
    let board = use_event_source_typed_with_options::<Post>(
        "/subscribe".to_owned(),
        UseEventSourceOptions::from(SourceOptions::default().share_across_tabs()).capacity(200),
    );
    let draft = use_state(String::new);
    let problem = use_state(|| None::<String>);

    let send = {
        let (draft, problem) = (draft.clone(), problem.clone());
        Callback::from(move |()| {
            let text = (*draft).clone();
            if text.trim().is_empty() {
                return;
            }
            let (draft, problem) = (draft.clone(), problem.clone());
            spawn_local(async move {
                match api::post_json("/update", &format!(r#"{{"text": {}}}"#, api::json_string(&text))).await {
                    Ok(_) => {
                        draft.set(String::new());
                        problem.set(None);
                    }
                    Err(e) => problem.set(Some(e)),
                }
            });
        })
    };
    let oninput = {
        let draft = draft.clone();
        Callback::from(move |e: InputEvent| draft.set(e.target_unchecked_into::<HtmlTextAreaElement>().value()))
    };
    let onkeydown = {
        let send = send.clone();
        Callback::from(move |e: KeyboardEvent| {
            if e.key() == "Enter" && !e.shift_key() {
                e.prevent_default();
                send.emit(());
            }
        })
    };
    let onsubmit = {
        let send = send.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            send.emit(());
        })
    };
    let (b1, b2) = (board.clone(), board.clone());

    html! {
        <section class="panel" id="broadcast" data-test="broadcast">
            <h2>{ "Broadcast board" }</h2>
            <p class="scenario">
                { "Scenarios 1 & 5 — every open page gets each message, framed safely (a newline stays inside its message) and replayed after a reconnect via Last-Event-ID." }
            </p>
            <ConnectionBadge
                label="GET /subscribe"
                state={board.state()}
                outage={board.last_outage().cloned()}
                offline={board.offline()}
                close_reason={board.close_reason().cloned()}
                error={board.error().map(|e| AttrValue::from(e.to_string()))}
                on_close={Callback::from(move |()| b1.close())}
                on_reconnect={Callback::from(move |()| b2.reconnect())}
            />
            <p class="shared" data-test="share-role">
                { match board.share_role() {
                    Some(ShareRole::Leader) => "Shared across tabs — this tab holds the one connection and relays it to your other tabs.",
                    Some(ShareRole::Alone) => "Not shared — this browser lacks Web Locks or BroadcastChannel: this tab has its own connection.",
                    Some(_) => "Shared across tabs — another tab holds the connection; this one receives its events.",
                    None => "",
                } }
            </p>
            <form class="compose" {onsubmit}>
                <textarea
                    data-test="board-input"
                    rows="2"
                    placeholder="Write a message — Enter sends, Shift+Enter adds a line"
                    value={(*draft).clone()}
                    {oninput}
                    {onkeydown}
                />
                <button type="submit" data-test="board-send" disabled={draft.trim().is_empty()}>{ "Send" }</button>
            </form>
            if let Some(p) = &*problem { <p class="error">{ p }</p> }
            // The server could not resume this page's stream (its store was wiped, say): what the page showed may be
            // incomplete, so it shows only what the server replays from now on — the whole history it still has.
            if let Some(gap) = board.last_gap() {
                <p class="gap" data-test="gap">
                    { "missed events — reloading" }
                    { gap.reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default() }
                </p>
            }
            <ol class="feed" data-test="board-list">
                { for board.messages().iter().rev().filter(|m| m.seq >= board.gap_seq()).map(|m| html! {
                    <li key={m.seq} data-test="board-item">
                        <time>{ api::clock(m.data.timestamp) }</time>
                        <span class="text">{ &m.data.text }</span>
                        <span class="id">{ format!("#{}", m.data.id) }</span>
                    </li>
                }) }
                if board.messages().iter().all(|m| m.seq < board.gap_seq()) { <li class="empty">{ "No messages yet — send one, then open this page in a second tab." }</li> }
            </ol>
        </section>
    }
}
