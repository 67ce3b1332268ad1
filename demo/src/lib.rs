//! The live demo of typed-eventsource: a Yew app with one panel per scenario of the project, talking to the server
//! that serves it (relative URLs, same origin). Run it with `scripts/demo.sh` (see README.md).

mod api;
mod components;

use wasm_bindgen::prelude::wasm_bindgen;

/// Mounts the app on `<body>` when the wasm module starts.
#[wasm_bindgen(start)]
pub fn start() {
    yew::Renderer::<components::App>::new().render();
}
