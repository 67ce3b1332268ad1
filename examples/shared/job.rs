//! What the component examples (examples/leptos.rs, examples/dioxus.rs) share: a job's stream as one enum, and
//! starting a job on the project's server.

use wasm_bindgen::JsCast;

#[derive(Clone, PartialEq, serde::Deserialize)]
pub struct Progress {
    pub status: String,
    pub step: u32,
    pub steps: u32,
}

/// A job's whole stream: progress as unnamed `message` events, `ping` events with text.
#[derive(Clone, PartialEq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobEvent {
    #[serde(rename = "message")]
    Progress(Progress),
    Ping(String),
}

impl JobEvent {
    /// How far the job is, in percent (a ping is only sent at the end).
    pub fn percent(&self) -> u32 {
        match self {
            JobEvent::Progress(p) => p.step * 100 / p.steps.max(1),
            JobEvent::Ping(_) => 100,
        }
    }
}

/// `POST /jobs` (a three-step job), the new job's id.
pub async fn start_job() -> Option<String> {
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_body(&r#"{"steps": 3, "intervalMs": 500}"#.into());
    let headers = web_sys::Headers::new().ok()?;
    headers.set("Content-Type", "application/json").ok()?;
    init.set_headers(&headers);
    let window = web_sys::window()?;
    let response = wasm_bindgen_futures::JsFuture::from(window.fetch_with_str_and_init("/jobs", &init)).await.ok()?;
    let response: web_sys::Response = response.dyn_into().ok()?;
    let json = wasm_bindgen_futures::JsFuture::from(response.json().ok()?).await.ok()?;
    let id = js_sys::Reflect::get(&json, &"id".into()).ok()?;
    id.as_string().or_else(|| id.as_f64().map(|n| n.to_string()))
}
