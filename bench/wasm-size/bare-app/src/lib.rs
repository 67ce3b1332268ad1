//! Bare web-sys: an EventSource and an onmessage closure logging the data string (no decoding). Both are kept for
//! the page's lifetime in a thread-local (owned, not leaked with `forget`).
use std::cell::RefCell;

use wasm_bindgen::prelude::*;
use web_sys::{EventSource, MessageEvent};

type Kept = (EventSource, Closure<dyn FnMut(MessageEvent)>);

thread_local! {
    static KEPT: RefCell<Option<Kept>> = const { RefCell::new(None) };
}

#[wasm_bindgen(start)]
pub fn start() -> Result<(), JsValue> {
    let source = EventSource::new("/subscribe")?;
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(|e: MessageEvent| web_sys::console::log_1(&e.data()));
    source.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    KEPT.with(|k| *k.borrow_mut() = Some((source, on_message)));
    Ok(())
}
