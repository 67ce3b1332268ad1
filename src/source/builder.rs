//! [`TypedEventSourceBuilder`]: the URL, the [`SourceOptions`] and the handlers, all set before the connection opens.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

use serde::de::DeserializeOwned;
use wasm_bindgen::JsValue;

use super::engine::Engine;
use super::handle::TypedEventSource;
use super::options::SourceOptions;
use crate::handler::{self, Handlers};
use crate::transport::Link;
use crate::{event_names, CloseReason, Error, EventMeta, Gap, ReadyState, ReconnectPolicy, TerminalRule, Transport};

/// Builds a [`TypedEventSource`]: URL, credentials, terminal rules, reconnect policy and handlers, all set before the
/// connection opens, so no event can arrive before its handler.
///
/// ```no_run
/// # fn log(_: &str) {}
/// // Runs in a browser (see tests/browser.rs).
/// use typed_eventsource::{TypedEventSource, TerminalRule};
/// #[derive(serde::Deserialize)]
/// struct Progress { status: String, message: String }
///
/// let source = TypedEventSource::builder("/jobs/7/events")
///     .close_on(TerminalRule::event_with_data("ping", "finished"))
///     .on::<Progress>("message", |p, _meta| log(&p.message))
///     .on_text("ping", |text, _meta| log(&text))
///     .on_close(|reason| log(&reason.to_string()))
///     .open()?;
/// # Ok::<(), typed_eventsource::Error>(())
/// ```
#[must_use = "a builder does nothing until `open()`"]
pub struct TypedEventSourceBuilder {
    url: String,
    options: SourceOptions,
    handlers: Handlers,
    deferred_error: Option<Error>,
}

impl fmt::Debug for TypedEventSourceBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TypedEventSourceBuilder")
            .field("url", &self.url)
            .field("options", &self.options)
            .field("event_types", &self.handlers.event_types())
            .finish_non_exhaustive()
    }
}

impl TypedEventSourceBuilder {
    /// A builder for a source on `url`, with the default [`ReconnectPolicy`] and no terminal rule.
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// # fn log(_: &str) {}
    /// let source = TypedEventSourceBuilder::new("/subscribe").on_text("message", |t, _| log(&t)).open()?;
    /// # Ok::<(), typed_eventsource::Error>(())
    /// ```
    pub fn new(url: impl Into<String>) -> Self {
        Self::with_options(url, SourceOptions::default())
    }

    /// A builder for a source on `url` with `options`: the same [`SourceOptions`] the Yew hooks and the JavaScript API
    /// use. The setters below change one option each.
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// let options = SourceOptions::default().close_on(TerminalRule::event("done"));
    /// let source = TypedEventSourceBuilder::with_options("/jobs/7/events", options).open()?;
    /// # Ok::<(), typed_eventsource::Error>(())
    /// ```
    pub fn with_options(url: impl Into<String>, options: SourceOptions) -> Self {
        TypedEventSourceBuilder { url: url.into(), options, handlers: Handlers::default(), deferred_error: None }
    }

    /// Sends cookies cross-origin ([`withCredentials`]); the server must name the page's origin and allow credentials.
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// # let _ =
    /// TypedEventSource::builder("https://api.example.com/sse/alice").with_credentials(true)
    /// # ;
    /// ```
    ///
    /// [`withCredentials`]: https://developer.mozilla.org/en-US/docs/Web/API/EventSource/withCredentials
    pub fn with_credentials(mut self, yes: bool) -> Self {
        self.options = self.options.with_credentials(yes);
        self
    }

    /// Closes the source after the first event matching `rule` (rules add up: any match closes).
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// # fn log(_: &str) {}
    /// # let builder = TypedEventSource::builder("/subscribe");
    /// # let _ =
    /// builder.close_on(TerminalRule::event_with_data("ping", "finished"))
    /// # ;
    /// ```
    pub fn close_on(mut self, rule: TerminalRule) -> Self {
        self.options = self.options.close_on(rule);
        self
    }

    /// Whether the terminal event still goes to its handlers before the source closes (default `true`).
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// # fn log(_: &str) {}
    /// # let builder = TypedEventSource::builder("/subscribe");
    /// # let _ =
    /// builder.deliver_terminal(false)
    /// # ;
    /// ```
    pub fn deliver_terminal(mut self, yes: bool) -> Self {
        self.options = self.options.deliver_terminal(yes);
        self
    }

    /// What to do when the browser gives up; [`ReconnectPolicy::never`] to close like a native `EventSource`.
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// # fn log(_: &str) {}
    /// # let builder = TypedEventSource::builder("/subscribe");
    /// # let _ =
    /// builder.reconnect(ReconnectPolicy::default().max_retries(10))
    /// # ;
    /// ```
    pub fn reconnect(mut self, policy: ReconnectPolicy) -> Self {
        self.options = self.options.reconnect(policy);
        self
    }

    /// The transport: [`Transport::EventSource`] (the default) or `fetch` with your own method, headers and body —
    /// pass a [`FetchRequest`]. Nothing else changes.
    ///
    /// ```no_run
    /// # #[cfg(feature = "fetch")]
    /// # fn main() {
    /// # use typed_eventsource::{FetchRequest, TypedEventSource};
    /// # let token = "eyJ...";
    /// # let builder = TypedEventSource::builder("/subscribe");
    /// # let _ =
    /// builder.transport(FetchRequest::new().header("Authorization", format!("Bearer {token}")))
    /// # ;
    /// # }
    /// # #[cfg(not(feature = "fetch"))]
    /// # fn main() {}
    /// ```
    ///
    #[cfg_attr(feature = "fetch", doc = "[`FetchRequest`]: crate::FetchRequest")]
    #[cfg_attr(
        not(feature = "fetch"),
        doc = "[`FetchRequest`]: https://docs.rs/typed-eventsource/latest/typed_eventsource/struct.FetchRequest.html"
    )]
    pub fn transport(mut self, transport: impl Into<Transport>) -> Self {
        self.options = self.options.transport(transport);
        self
    }

    /// Closes the connection while the page is hidden and reconnects, resuming after the last event id, when it is
    /// shown again. Off by default: a hidden tab keeps receiving unless you ask.
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// # fn log(_: &str) {}
    /// # let builder = TypedEventSource::builder("/subscribe");
    /// # let _ =
    /// builder.pause_when_hidden(true)
    /// # ;
    /// ```
    pub fn pause_when_hidden(mut self, yes: bool) -> Self {
        self.options = self.options.pause_when_hidden(yes);
        self
    }

    /// How long the connection may stay silent before it is dropped and re-opened; see
    /// [`SourceOptions::heartbeat_timeout`] (`Duration::ZERO`: never).
    ///
    /// ```no_run
    /// # use typed_eventsource::TypedEventSource;
    /// # use std::time::Duration;
    /// let source = TypedEventSource::builder("/subscribe").heartbeat_timeout(Duration::from_secs(20)).open()?;
    /// # Ok::<(), typed_eventsource::Error>(())
    /// ```
    pub fn heartbeat_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.options = self.options.heartbeat_timeout(timeout);
        self
    }

    #[cfg(feature = "share")]
    /// (Feature `share`.) Shares one connection with the other tabs of this origin that open the same stream (same
    /// absolute URL, credentials flag and transport options); see [`SourceOptions::share_across_tabs`].
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// # fn log(_: &str) {}
    /// let source = TypedEventSource::builder("/subscribe").share_across_tabs().on_text("message", |t, _| log(&t)).open()?;
    /// # Ok::<(), typed_eventsource::Error>(())
    /// ```
    pub fn share_across_tabs(mut self) -> Self {
        self.options = self.options.share_across_tabs();
        self
    }

    #[cfg(feature = "share")]
    /// Shares one connection with the other tabs that use the same `key`; see [`SourceOptions::share`].
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// # fn log(_: &str) {}
    /// # let builder = TypedEventSource::builder("/subscribe");
    /// # let _ =
    /// builder.share("board")
    /// # ;
    /// ```
    pub fn share(mut self, key: impl Into<String>) -> Self {
        self.options = self.options.share(key);
        self
    }

    /// Resumes after `id`: the first connection already sends it (`lastEventId` query parameter for `EventSource`,
    /// `Last-Event-ID` header for fetch).
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// # fn log(_: &str) {}
    /// # let builder = TypedEventSource::builder("/subscribe");
    /// # let saved_id = String::from("41");
    /// # let _ =
    /// builder.last_event_id(saved_id)
    /// # ;
    /// ```
    pub fn last_event_id(mut self, id: impl Into<String>) -> Self {
        self.options = self.options.last_event_id(id);
        self
    }

    /// The query parameter carrying the id to resume after when the library opens a new `EventSource`
    /// ([`SourceOptions::resume_param`]; default `lastEventId`, `None` for none).
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// # fn log(_: &str) {}
    /// # let builder = TypedEventSource::builder("/subscribe");
    /// # let _ =
    /// builder.resume_param(Some("last_event_id"))
    /// # ;
    /// ```
    pub fn resume_param(mut self, name: Option<&str>) -> Self {
        self.options = self.options.resume_param(name);
        self
    }

    /// One more event type that signals a gap, besides `replay-gap` ([`SourceOptions::gap_event`]).
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// # fn log(_: &str) {}
    /// # let builder = TypedEventSource::builder("/subscribe");
    /// # let _ =
    /// builder.gap_event("resync")
    /// # ;
    /// ```
    pub fn gap_event(mut self, event: impl Into<String>) -> Self {
        self.options = self.options.gap_event(event);
        self
    }

    /// The de-duplication window ([`SourceOptions::dedup_window`]; default 64, 0 = off).
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// # fn log(_: &str) {}
    /// # let builder = TypedEventSource::builder("/subscribe");
    /// # let _ =
    /// builder.dedup_window(0)
    /// # ;
    /// ```
    pub fn dedup_window(mut self, window: usize) -> Self {
        self.options = self.options.dedup_window(window);
        self
    }

    /// Called with each gap the server signals (a `replay-gap` event, or a [`gap_event`](Self::gap_event)): events
    /// may have been missed, reload what they would have told. Gap events never reach ordinary handlers.
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// # fn log(_: &str) {}
    /// # let builder = TypedEventSource::builder("/subscribe");
    /// # fn refetch_state() {}
    /// # let _ =
    /// builder.on_gap(|gap| { log(&gap.to_string()); refetch_state(); })
    /// # ;
    /// ```
    pub fn on_gap(mut self, handler: impl FnMut(&Gap) + 'static) -> Self {
        self.handlers.signals.push(handler::on_gap(handler));
        self
    }

    /// Handles events of type `event` whose data is JSON decoding into `T`; data that does not decode goes to the
    /// error handlers as [`Error::Decode`].
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// # fn log(_: &str) {}
    /// # let builder = TypedEventSource::builder("/subscribe");
    /// # #[derive(serde::Deserialize)] struct Progress { status: String }
    /// # let _ =
    /// builder.on::<Progress>("message", |progress, meta| log(&format!("{} {}", meta.last_event_id, progress.status)))
    /// # ;
    /// ```
    pub fn on<T: DeserializeOwned + 'static>(
        mut self,
        event: &str,
        handler: impl FnMut(T, EventMeta) + 'static,
    ) -> Self {
        self.handlers.events.push((event.into(), handler::typed(handler)));
        self
    }

    /// Handles events of type `event` as raw text.
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// # fn log(_: &str) {}
    /// # let builder = TypedEventSource::builder("/subscribe");
    /// # let _ =
    /// builder.on_text("ping", |text, _meta| log(&text))
    /// # ;
    /// ```
    pub fn on_text(mut self, event: &str, handler: impl FnMut(String, EventMeta) + 'static) -> Self {
        self.handlers.events.push((event.into(), handler::text(handler)));
        self
    }

    /// Handles events of type `event` as parsed JSON values, undecoded (what the JavaScript API uses).
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// # fn log(_: &str) {}
    /// # let builder = TypedEventSource::builder("/subscribe");
    /// # use wasm_bindgen::JsValue;
    /// # let _ =
    /// builder.on_json("message", |value: JsValue, _meta| web_sys::console::log_1(&value))
    /// # ;
    /// ```
    pub fn on_json(mut self, event: &str, handler: impl FnMut(JsValue, EventMeta) + 'static) -> Self {
        self.handlers.events.push((event.into(), handler::json(handler)));
        self
    }

    /// Handles the whole stream as one enum `E`: event type `x` is decoded as variant `x` (serde renames respected)
    /// with the event's data as content — JSON, or plain text for a `String` variant; a unit variant ignores the data.
    /// The event types come from `E` itself ([`event_names`]); `E` must be externally tagged (serde's default).
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// # fn log(_: &str) {}
    /// # let builder = TypedEventSource::builder("/subscribe");
    /// # #[derive(serde::Deserialize)] struct Progress { status: String, message: String }
    /// #[derive(serde::Deserialize)]
    /// #[serde(rename_all = "lowercase")]
    /// enum Job { #[serde(rename = "message")] Progress(Progress), Ping(String) }
    /// # let _ =
    /// builder.on_enum(|event: Job, _meta| match event {
    ///     Job::Progress(p) => log(&p.message),
    ///     Job::Ping(text) => log(&text),
    /// })
    /// # ;
    /// ```
    pub fn on_enum<E: DeserializeOwned + 'static>(mut self, handler: impl FnMut(E, EventMeta) + 'static) -> Self {
        match event_names::<E>() {
            Ok(names) => {
                let shared: Rc<RefCell<dyn FnMut(E, EventMeta)>> = Rc::new(RefCell::new(handler));
                for name in names {
                    self.handlers.events.push(((*name).into(), handler::enum_variant::<E>(shared.clone())));
                }
            }
            Err(e) => self.deferred_error = Some(e),
        }
        self
    }

    /// Called each time the connection opens.
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// # fn log(_: &str) {}
    /// # let builder = TypedEventSource::builder("/subscribe");
    /// # let _ =
    /// builder.on_open(|| log("open"))
    /// # ;
    /// ```
    pub fn on_open(mut self, handler: impl FnMut() + 'static) -> Self {
        self.handlers.signals.push(handler::on_open(handler));
        self
    }

    /// Called with every error: transient (the browser reconnects), fatal, decode.
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// # fn log(_: &str) {}
    /// # let builder = TypedEventSource::builder("/subscribe");
    /// # let _ =
    /// builder.on_error(|e| if !e.is_recoverable() { log(&e.to_string()) })
    /// # ;
    /// ```
    pub fn on_error(mut self, handler: impl FnMut(&Error) + 'static) -> Self {
        self.handlers.signals.push(handler::on_error(handler));
        self
    }

    /// Called on every change of [`ReadyState`]: open, the browser reconnecting, closed.
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// # fn log(_: &str) {}
    /// # let builder = TypedEventSource::builder("/subscribe");
    /// # let _ =
    /// builder.on_state_change(|state| log(&state.to_string()))
    /// # ;
    /// ```
    pub fn on_state_change(mut self, handler: impl FnMut(ReadyState) + 'static) -> Self {
        self.handlers.signals.push(handler::on_state(handler));
        self
    }

    /// Called exactly once, when the source closes, with the reason.
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// # fn log(_: &str) {}
    /// # let builder = TypedEventSource::builder("/subscribe");
    /// # let _ =
    /// builder.on_close(|reason| assert!(reason.is_terminal()))
    /// # ;
    /// ```
    pub fn on_close(mut self, handler: impl FnMut(&CloseReason) + 'static) -> Self {
        self.handlers.signals.push(handler::on_close(handler));
        self
    }

    /// Opens the connection with every handler attached.
    ///
    /// # Errors
    /// [`Error::Open`] if the browser refuses the URL; [`Error::NotAnEnum`] if [`on_enum`](Self::on_enum) got a type
    /// that is not an externally tagged enum.
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// let source = TypedEventSource::builder("/subscribe").open()?;
    /// # Ok::<(), typed_eventsource::Error>(())
    /// ```
    pub fn open(self) -> Result<TypedEventSource, Error> {
        if let Some(e) = self.deferred_error {
            return Err(e);
        }
        let SourceOptions {
            settings,
            transport,
            last_event_id,
            pause_when_hidden,
            #[cfg(feature = "share")]
            share,
        } = self.options;
        #[cfg(not(feature = "share"))]
        let (link, pause) = (Link::new(transport), pause_when_hidden);
        #[cfg(feature = "share")]
        let (link, pause) = match share {
            // One hidden tab does not pause a connection the others share.
            Some(share) => (share.link(&self.url, settings.with_credentials, transport), None),
            None => (Link::new(transport), pause_when_hidden),
        };
        let engine = Engine::open(self.url, settings, link, last_event_id, pause, self.handlers)?;
        Ok(TypedEventSource::new(engine))
    }
}

impl TypedEventSource {
    /// A builder for a source on `url`.
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// # fn log(_: &str) {}
    /// let source = TypedEventSource::builder("/subscribe").on_text("message", |t, _| log(&t)).open()?;
    /// # Ok::<(), typed_eventsource::Error>(())
    /// ```
    pub fn builder(url: impl Into<String>) -> TypedEventSourceBuilder {
        TypedEventSourceBuilder::new(url)
    }
}
