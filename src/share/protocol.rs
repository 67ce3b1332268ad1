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

    /// The sender and the message in `value`, if it is exactly one of ours: a plain object with a finite number
    /// `from`, a known `k` and every field of that kind with its type (a string is a string, `seq` a positive whole
    /// number, `types` an array of at most [`MAX_TYPES`] short strings). Anything else on the channel is ignored
    /// (another version, another library, a script posting junk): a missing field is never read as a default.
    pub(super) fn from_js(value: &JsValue) -> Option<(f64, Message)> {
        if !value.is_object() || Array::is_array(value) {
            return None;
        }
        let get = |k: &str| Reflect::get(value, &JsValue::from_str(k)).ok().filter(|v| !v.is_undefined());
        let text = |k: &str| get(k)?.as_string();
        let number = |k: &str| get(k)?.as_f64().filter(|n| n.is_finite());
        let seq = || number("seq").filter(|n| *n >= 1.0 && n.fract() == 0.0);
        let types = || {
            let list = get("types").filter(Array::is_array).map(|v| Array::from(&v))?;
            if list.length() as usize > MAX_TYPES {
                return None;
            }
            list.iter()
                .map(|v| {
                    v.as_string().filter(|s| !s.is_empty() && s.len() <= MAX_TYPE_LEN).map(|s| Rc::from(s.as_str()))
                })
                .collect::<Option<Vec<Rc<str>>>>()
        };
        let from = number("from")?;
        let message = match text("k")?.as_str() {
            "ping" => Message::Ping { types: types()? },
            "hb" => Message::Heartbeat { open: get("open")?.as_bool()? },
            "sync" => Message::Sync,
            // `seq` 0 and an empty id: a member that has seen nothing yet.
            "seen" => Message::Seen {
                seq: number("seq").filter(|n| *n >= 0.0 && n.fract() == 0.0)?,
                id: text("id")?,
                types: types()?,
            },
            "leader" => Message::Leader,
            "open" => Message::Open,
            "ev" => Message::Event {
                event: text("event").filter(|e| !e.is_empty())?,
                data: text("data")?,
                id: text("id")?,
                origin: text("origin")?,
                seq: seq()?,
            },
            "end" => Message::End(match text("how")?.as_str() {
                "reconnecting" => Ended::Reconnecting,
                #[cfg(feature = "fetch")]
                "lost" => {
                    Ended::Lost { retry_ms: number("retry").filter(|n| *n >= 0.0 && *n <= f64::from(u32::MAX))? as u32 }
                }
                #[cfg(feature = "fetch")]
                "nocontent" => Ended::NoContent,
                "failed" => Ended::Failed {
                    message: text("message")?,
                    status: match get("status") {
                        None => None,
                        Some(s) => Some(s.as_f64().filter(|n| (100.0..=999.0).contains(n) && n.fract() == 0.0)? as u16),
                    },
                    content_type: match get("contentType") {
                        None => None,
                        Some(c) => Some(c.as_string()?),
                    },
                },
                _ => return None,
            }),
            "err" => {
                Message::Error(Error::Decode { event: text("event")?, data: text("data")?, reason: text("reason")? })
            }
            "bye" => Message::Bye,
            _ => return None,
        };
        Some((from, message))
    }
}

/// Most event types one message may carry (an app listens for a handful).
pub(super) const MAX_TYPES: usize = 64;
/// Longest event type name accepted from another tab.
const MAX_TYPE_LEN: usize = 256;

fn strings(types: &[Rc<str>]) -> JsValue {
    types.iter().map(|t| JsValue::from_str(t)).collect::<Array>().into()
}
