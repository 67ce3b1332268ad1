//! The messages tabs exchange over the `BroadcastChannel`: plain objects `{ k, from, ... }`, so that they clone
//! cheaply and read well in the browser's devtools.

use std::rc::Rc;

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::JsValue;

use crate::transport::Ended;
use crate::Error;

/// One message between the members of a shared stream.
pub(super) enum Message {
    /// Follower → leader: are you there? (with the follower's event types, which the leader then listens for).
    Ping { types: Vec<Rc<str>> },
    /// Leader → all: alive, and whether its connection is open.
    Heartbeat { open: bool },
    /// New leader → all: tell me what you have seen.
    Sync,
    /// Member → new leader: the latest relayed event it has delivered (sequence number, id) and its event types.
    Seen { seq: f64, id: String, types: Vec<Rc<str>> },
    /// New leader → all: I hold the lock (a leader hearing this from another tab has had its lock stolen).
    Leader,
    /// Leader → all: the connection opened.
    Open,
    /// Leader → all: an event, with its meta and sequence number.
    Event { event: String, data: String, id: String, origin: String, seq: f64 },
    /// Leader → all: the connection ended.
    End(Ended),
    /// Leader → all: an error that does not end the connection (an event the fetch decoder refused).
    Error(Error),
    /// Leader → all: leaving (the lock is released next).
    Bye,
}

impl Message {
    /// Whether only a leader sends it (a follower's watchdog counts it as a sign of life).
    pub(super) fn is_leaders(&self) -> bool {
        !matches!(self, Message::Ping { .. } | Message::Sync | Message::Seen { .. })
    }

    pub(super) fn to_js(&self, from: f64) -> JsValue {
        let o = Object::new();
        let set = |k: &str, v: JsValue| {
            // Setting a property on a fresh plain object cannot fail.
            let _ = Reflect::set(&o, &JsValue::from_str(k), &v);
        };
        set("from", from.into());
        let kind = match self {
            Message::Ping { types } => {
                set("types", strings(types));
                "ping"
            }
            Message::Heartbeat { open } => {
                set("open", (*open).into());
                "hb"
            }
            Message::Sync => "sync",
            Message::Seen { seq, id, types } => {
                set("seq", (*seq).into());
                set("id", id.as_str().into());
                set("types", strings(types));
                "seen"
            }
            Message::Leader => "leader",
            Message::Open => "open",
            Message::Event { event, data, id, origin, seq } => {
                set("event", event.as_str().into());
                set("data", data.as_str().into());
                set("id", id.as_str().into());
                set("origin", origin.as_str().into());
                set("seq", (*seq).into());
                "ev"
            }
            Message::End(end) => {
                match end {
                    Ended::Reconnecting => set("how", "reconnecting".into()),
                    #[cfg(feature = "fetch")]
                    Ended::Lost { retry_ms } => {
                        set("how", "lost".into());
                        set("retry", (*retry_ms).into());
                    }
                    Ended::Failed { message, status, content_type } => {
                        set("how", "failed".into());
                        set("message", message.as_str().into());
                        if let Some(status) = status {
                            set("status", (*status).into());
                        }
                        if let Some(content_type) = content_type {
                            set("contentType", content_type.as_str().into());
                        }
                    }
                    #[cfg(feature = "fetch")]
                    Ended::NoContent => set("how", "nocontent".into()),
                }
                "end"
            }
            Message::Error(error) => {
                if let Error::Decode { event, data, reason } = error {
                    set("event", event.as_str().into());
                    set("data", data.as_str().into());
                    set("reason", reason.as_str().into());
                }
                "err"
            }
            Message::Bye => "bye",
        };
        set("k", kind.into());
        o.into()
    }

    /// The message in `value`, if it is one (anything else on the channel is ignored).
    pub(super) fn from_js(value: &JsValue) -> Option<Message> {
        let get = |k: &str| Reflect::get(value, &JsValue::from_str(k)).ok().filter(|v| !v.is_undefined());
        let text = |k: &str| get(k).and_then(|v| v.as_string()).unwrap_or_default();
        let number = |k: &str| get(k).and_then(|v| v.as_f64()).unwrap_or(0.0);
        let types = || {
            get("types").map_or_else(Vec::new, |t| {
                Array::from(&t).iter().filter_map(|v| v.as_string()).map(|s| Rc::from(s.as_str())).collect()
            })
        };
        Some(match get("k")?.as_string()?.as_str() {
            "ping" => Message::Ping { types: types() },
            "hb" => Message::Heartbeat { open: get("open").and_then(|v| v.as_bool()).unwrap_or(false) },
            "sync" => Message::Sync,
            "seen" => Message::Seen { seq: number("seq"), id: text("id"), types: types() },
            "leader" => Message::Leader,
            "open" => Message::Open,
            "ev" => Message::Event {
                event: text("event"),
                data: text("data"),
                id: text("id"),
                origin: text("origin"),
                seq: number("seq"),
            },
            "end" => Message::End(match get("how")?.as_string()?.as_str() {
                "reconnecting" => Ended::Reconnecting,
                #[cfg(feature = "fetch")]
                "lost" => Ended::Lost { retry_ms: number("retry") as u32 },
                #[cfg(feature = "fetch")]
                "nocontent" => Ended::NoContent,
                _ => Ended::Failed {
                    message: text("message"),
                    status: get("status").and_then(|v| v.as_f64()).map(|s| s as u16),
                    content_type: get("contentType").and_then(|v| v.as_string()),
                },
            }),
            "err" => Message::Error(Error::Decode { event: text("event"), data: text("data"), reason: text("reason") }),
            "bye" => Message::Bye,
            _ => return None,
        })
    }
}

fn strings(types: &[Rc<str>]) -> JsValue {
    types.iter().map(|t| JsValue::from_str(t)).collect::<Array>().into()
}
