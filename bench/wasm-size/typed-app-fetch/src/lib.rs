//! Typed dispatch with typed-eventsource built with its `fetch` feature (the fetch transport linked in, unused).
use std::cell::RefCell;

use serde::Deserialize;
use typed_eventsource::TypedEventSource;
use wasm_bindgen::prelude::*;

#[derive(Deserialize)]
struct Update {
    id: u64,
    text: String,
}

thread_local! {
    static SOURCE: RefCell<Option<TypedEventSource>> = const { RefCell::new(None) };
}

#[wasm_bindgen(start)]
pub fn start() -> Result<(), JsValue> {
    let source = TypedEventSource::builder("/subscribe")
        .on::<Update>("message", |u, _meta| web_sys::console::log_2(&u.id.into(), &u.text.into()))
        .open()
        .map_err(|e| JsValue::from_str(&e.to_string()))?;
    SOURCE.with(|s| *s.borrow_mut() = Some(source));
    Ok(())
}
