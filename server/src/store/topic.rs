//! Topic keys: the one place their spelling lives (`b`, `u:<user>`, `j:<job id>`). Everything else asks a [`Topic`]
//! (or [`Kind::of`] a key) what it is, instead of matching prefixes.
//!
//! ```
//! use typed_eventsource_server::store::topic::{self, Kind, Topic};
//! let alice = topic::user("alice");
//! assert_eq!(alice.kind(), Kind::User);
//! assert_eq!(&*alice, "u:alice");
//! assert_eq!(topic::job("7").job_id(), Some("7"));
//! assert_eq!(Topic::from(topic::BROADCAST).kind(), Kind::Broadcast);
//! ```

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// The key of the broadcast board.
pub const BROADCAST: &str = "b";
const USER: &str = "u:";
const JOB: &str = "j:";

/// What a topic is for; decides its retention, live buffer and offline marks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// The broadcast board.
    Broadcast,
    /// One user's notifications: bounded in number and bytes on disk, offline marks.
    User,
    /// One job's progress: kept whole until the job is deleted.
    Job,
    /// Any other key (kept like the broadcast board).
    Other,
}

impl Kind {
    /// The kind of the topic keyed `key`.
    pub fn of(key: &str) -> Kind {
        if key == BROADCAST {
            Kind::Broadcast
        } else if key.starts_with(USER) {
            Kind::User
        } else if key.starts_with(JOB) {
            Kind::Job
        } else {
            Kind::Other
        }
    }
}

/// A topic's key in the store. Derefs to its key (`&str`), so it goes wherever a key does. Shared: a clone (one per
/// event of a batch publish) copies no text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Topic(Arc<str>);

impl Topic {
    /// The broadcast board.
    pub fn broadcast() -> Topic {
        Topic(Arc::from(BROADCAST))
    }

    /// What this topic is for.
    pub fn kind(&self) -> Kind {
        Kind::of(&self.0)
    }

    /// The job id of a job topic.
    pub fn job_id(&self) -> Option<&str> {
        self.0.strip_prefix(JOB)
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The topic of `user`.
pub fn user(user: &str) -> Topic {
    Topic(Arc::from(format!("{USER}{user}")))
}

/// The topic of job `id`.
pub fn job(id: &str) -> Topic {
    Topic(Arc::from(format!("{JOB}{id}")))
}

/// Whether `key` is a per-user topic (bounded in number and bytes on disk).
pub fn is_user(key: &str) -> bool {
    Kind::of(key) == Kind::User
}

impl Deref for Topic {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Topic {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Topic {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Any key is a topic; its [`Kind`] follows from its spelling.
impl From<&str> for Topic {
    fn from(key: &str) -> Topic {
        Topic(Arc::from(key))
    }
}

impl From<String> for Topic {
    fn from(key: String) -> Topic {
        Topic(Arc::from(key))
    }
}

impl From<Topic> for String {
    fn from(topic: Topic) -> String {
        topic.0.to_string()
    }
}

impl PartialEq<str> for Topic {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<&str> for Topic {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}
