//! gloo-net 0.7: an EventSource subscription read as a Stream, logging the data string (no decoding).
use futures::StreamExt as _;
use gloo_net::eventsource::futures::EventSource;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(start)]
pub fn start() -> Result<(), JsValue> {
    let mut source = EventSource::new("/subscribe").map_err(|e| JsValue::from_str(&format!("{e:?}")))?;
    let mut stream = source.subscribe("message").map_err(|e| JsValue::from_str(&e.to_string()))?;
    wasm_bindgen_futures::spawn_local(async move {
        while let Some(Ok((_, message))) = stream.next().await {
            web_sys::console::log_1(&message.data());
        }
        drop(source);
    });
    Ok(())
}
