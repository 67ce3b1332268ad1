//! The hidden-page pause ([`SourceOptions::pause_when_hidden`](super::SourceOptions::pause_when_hidden)): the
//! connection closes while the page is hidden and re-opens, after the last event id, when it is shown again.
//! Linked only into apps that turn it on.

use std::rc::Rc;

use wasm_bindgen::JsCast;
use web_sys::Document;

use super::engine::{with, Engine};
use crate::interop::{listen, Global};

/// The page's document, if any (none in a worker).
fn document() -> Option<Document> {
    Global::document().dyn_into::<Document>().ok()
}

impl Engine {
    /// Listens for `visibilitychange` on the document for as long as the source is open.
    pub(crate) fn pause_while_hidden(self: &Rc<Self>) {
        let Some(document) = document() else { return };
        let weak = Rc::downgrade(self);
        let target = document.clone();
        let listener = listen(&target, "visibilitychange".into(), move |_: &web_sys::Event| {
            with(&weak, |s| {
                let hidden = document.hidden();
                if s.is_closed() || hidden == s.paused.get() {
                    return;
                }
                s.paused.set(hidden);
                if hidden {
                    s.suspend();
                } else {
                    s.reconnect_now();
                }
            })
        });
        self.visibility.set(Some(listener));
    }
}
