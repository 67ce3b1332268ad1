//! Scenario 4: per-user notifications on `GET /sse/{user}`; the form notifies a user with `POST /notify/{user}`.

use std::rc::Rc;

use serde::Deserialize;
use typed_eventsource::yew::{use_event_source_with_options, UseEventSourceOptions};
use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::platform::spawn_local;
use yew::prelude::*;

use super::badge::ConnectionBadge;
use crate::api;

/// The people of the demo.
const USERS: [&str; 3] = ["alice", "bob", "carol"];

/// A notification's data, as this panel sends it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
struct Notification {
    message: String,
    #[serde(default)]
    from: String,
}

/// The whole user stream: unnamed events carry notifications.
#[derive(Debug, Clone, PartialEq, Deserialize)]
enum UserEvent {
    #[serde(rename = "message")]
    Notification(Notification),
}

/// The panel's form.
#[derive(Debug, Clone, PartialEq)]
struct Form {
    me: String,
    to: String,
    text: String,
    problem: Option<String>,
}

enum FormAction {
    Me(String),
    To(String),
    Text(String),
    Sent,
    Failed(String),
}

impl Reducible for Form {
    type Action = FormAction;

    fn reduce(self: Rc<Self>, action: FormAction) -> Rc<Self> {
        let mut next = (*self).clone();
        match action {
            FormAction::Me(me) => next.me = me,
            FormAction::To(to) => next.to = to,
            FormAction::Text(text) => next.text = text,
            FormAction::Sent => {
                next.text.clear();
                next.problem = None;
            }
            FormAction::Failed(e) => next.problem = Some(e),
        }
        Rc::new(next)
    }
}

/// Choose who you are; notify anyone; only that user's tabs receive it.
#[component]
pub fn Notifications() -> Html {
    let form = use_reducer(|| Form {
        me: USERS[0].to_owned(),
        to: USERS[1].to_owned(),
        text: "card assigned to you".to_owned(),
        problem: None,
    });
    // A new user is a new URL: the hook closes the old stream and opens this one.
    let inbox =
        use_event_source_with_options::<UserEvent>(format!("/sse/{}", form.me), UseEventSourceOptions::default());

    let on_me = {
        let form = form.dispatcher();
        Callback::from(move |e: Event| {
            form.dispatch(FormAction::Me(e.target_unchecked_into::<HtmlSelectElement>().value()))
        })
    };
    let on_to = {
        let form = form.dispatcher();
        Callback::from(move |e: Event| {
            form.dispatch(FormAction::To(e.target_unchecked_into::<HtmlSelectElement>().value()))
        })
    };
    let on_text = {
        let form = form.dispatcher();
        Callback::from(move |e: InputEvent| {
            form.dispatch(FormAction::Text(e.target_unchecked_into::<HtmlInputElement>().value()))
        })
    };
    let onsubmit = {
        let form = form.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let (to, body) = (
                form.to.clone(),
                format!(
                    r#"{{"data": {{"message": {}, "from": {}}}}}"#,
                    api::json_string(&form.text),
                    api::json_string(&form.me)
                ),
            );
            let dispatcher = form.dispatcher();
            spawn_local(async move {
                match api::post_json(&format!("/notify/{to}"), &body).await {
                    Ok(_) => dispatcher.dispatch(FormAction::Sent),
                    Err(e) => dispatcher.dispatch(FormAction::Failed(e)),
                }
            });
        })
    };
    let options = |selected: &str| {
        USERS.iter().map(|u| html! { <option value={*u} selected={*u == selected}>{ *u }</option> }).collect::<Html>()
    };
    let (i1, i2) = (inbox.clone(), inbox.clone());

    html! {
        <section class="panel" id="notifications" data-test="notifications">
            <h2>{ "Per-user notifications" }</h2>
            <p class="scenario">
                { "Scenario 4 — each user has their own stream; only that user's tabs receive a notification, and one sent while they are offline waits for them." }
            </p>
            <div class="row">
                <label>{ "I am " }
                    <select data-test="me" onchange={on_me}>{ options(&form.me) }</select>
                </label>
            </div>
            <ConnectionBadge
                label={AttrValue::from(format!("GET /sse/{}", form.me))}
                state={inbox.state()}
                outage={inbox.last_outage().cloned()}
                offline={inbox.offline()}
                close_reason={inbox.close_reason().cloned()}
                error={inbox.error().map(|e| AttrValue::from(e.to_string()))}
                on_close={Callback::from(move |()| i1.close())}
                on_reconnect={Callback::from(move |()| i2.reconnect())}
            />
            <form class="compose notify" {onsubmit}>
                <label>{ "Notify " }
                    <select data-test="to" onchange={on_to}>{ options(&form.to) }</select>
                </label>
                <input data-test="notify-text" value={form.text.clone()} oninput={on_text} />
                <button type="submit" data-test="notify-send" disabled={form.text.trim().is_empty()}>{ "Notify" }</button>
            </form>
            if let Some(p) = &form.problem { <p class="error">{ p }</p> }
            <ol class="feed" data-test="inbox">
                { for inbox.messages().iter().rev().map(|m| {
                    let UserEvent::Notification(n) = &m.data;
                    html! {
                        <li key={m.seq} data-test="inbox-item">
                            <time>{ api::clock(m.received_at) }</time>
                            <span class="text">{ &n.message }</span>
                            <span class="id">{ if n.from.is_empty() { String::new() } else { format!("from {}", n.from) } }</span>
                        </li>
                    }
                }) }
                if inbox.messages().is_empty() {
                    <li class="empty">{ format!("Nothing for {} yet — notify {} from another tab.", form.me, form.me) }</li>
                }
            </ol>
        </section>
    }
}
