//! Bare web-sys: an EventSource and an onmessage closure logging the data string (no decoding).
use wasm_bindgen::prelude::*;
use web_sys::{EventSource, MessageEvent};

#[wasm_bindgen(start)]
pub fn start() -> Result<(), JsValue> {
    let source = EventSource::new("/subscribe")?;
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(|e: MessageEvent| web_sys::console::log_1(&e.data()));
    source.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    std::mem::forget(source);
    Ok(())
}
