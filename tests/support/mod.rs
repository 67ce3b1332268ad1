//! Helpers for the browser tests: the server's URL, fetch, metrics, and waiting on what handlers collect.
#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;

use futures::future::{select, Either};
use js_sys::JSON;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{RequestCredentials, RequestInit, Response};

pub mod hook_payloads;

/// How long any wait may take before the test fails.
const WAIT_MS: u32 = 10_000;
/// How long a job of many steps may take to finish (see [`finished_job`]).
const JOB_WAIT_MS: u32 = 40_000;

/// A variable scripts/test.sh sets when it compiles the tests (the servers' URLs and tokens of this run).
fn compile_time(value: Option<&'static str>, name: &str) -> &'static str {
    value.unwrap_or_else(|| panic!("{name} must be set when the tests are compiled: run them with scripts/test.sh"))
}

/// `SSE_SERVER_URL` (set by scripts/test.sh at compile time) + `path`.
pub fn server_url(path: &str) -> String {
    let base = compile_time(option_env!("SSE_SERVER_URL"), "SSE_SERVER_URL");
    format!("{}{path}", base.trim_end_matches('/'))
}

/// A name no other test (or earlier run against the same server) uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", (js_sys::Math::random() * 1e12) as u64)
}

pub async fn sleep(ms: u32) {
    gloo_timers::future::TimeoutFuture::new(ms).await;
}

/// Awaits `fut`, failing the test after [`WAIT_MS`].
pub async fn with_timeout<T>(fut: impl Future<Output = T>, what: &str) -> T {
    let timeout = gloo_timers::future::TimeoutFuture::new(WAIT_MS);
    match select(Box::pin(fut), timeout).await {
        Either::Left((v, _)) => v,
        Either::Right(_) => panic!("timed out waiting for {what}"),
    }
}

async fn fetch(path: &str, method: &str, body: Option<&str>) -> Response {
    let init = RequestInit::new();
    init.set_method(method);
    init.set_credentials(RequestCredentials::Include);
    if let Some(body) = body {
        init.set_body(&JsValue::from_str(body));
        let headers = web_sys::Headers::new().expect("headers");
        headers.set("content-type", "application/json").expect("header");
        init.set_headers(&headers);
    }
    let window = web_sys::window().expect("a window");
    let promise = window.fetch_with_str_and_init(&server_url(path), &init);
    let resp = JsFuture::from(promise).await.unwrap_or_else(|e| panic!("{method} {path} failed: {e:?}"));
    resp.dyn_into::<Response>().expect("a Response")
}

async fn text(resp: &Response) -> String {
    let promise = resp.text().expect("text()");
    JsFuture::from(promise).await.expect("body").as_string().unwrap_or_default()
}

/// POSTs JSON and returns the parsed answer; fails the test on a non-2xx status.
pub async fn post_json(path: &str, body: &str) -> JsValue {
    let resp = fetch(path, "POST", Some(body)).await;
    let answer = text(&resp).await;
    assert!(resp.ok(), "POST {path} -> {}: {answer}", resp.status());
    if answer.is_empty() {
        JsValue::UNDEFINED
    } else {
        JSON::parse(&answer).unwrap_or(JsValue::UNDEFINED)
    }
}

/// Starts a batch job on the server and returns its id.
pub async fn start_job(steps: u32, interval_ms: u32) -> String {
    let answer = post_json("/jobs", &format!(r#"{{"steps": {steps}, "intervalMs": {interval_ms}}}"#)).await;
    js_sys::Reflect::get(&answer, &JsValue::from_str("id"))
        .ok()
        .and_then(|v| v.as_string().or_else(|| v.as_f64().map(|f| f.to_string())))
        .expect("the job id")
}

/// The server's `state` of job `id` (`GET /jobs/{id}`): `running`, `finished` or `interrupted`.
pub async fn job_state(id: &str) -> String {
    let resp = fetch(&format!("/jobs/{id}"), "GET", None).await;
    let answer = text(&resp).await;
    assert!(resp.ok(), "GET /jobs/{id} -> {}: {answer}", resp.status());
    let status = JSON::parse(&answer).unwrap_or(JsValue::UNDEFINED);
    js_sys::Reflect::get(&status, &JsValue::from_str("state")).ok().and_then(|v| v.as_string()).unwrap_or_default()
}

/// Starts a job of `steps` steps with no interval and waits until the server reports it finished, so its whole
/// history (2 × steps + 1 events, the terminal `ping` last) is stored before a stream opens: the stream gets it as
/// one burst. Returns the job's stream URL.
pub async fn finished_job(steps: u32) -> String {
    let id = start_job(steps, 0).await;
    // Each step is its own durable commit (two fsyncs: the store's two-phase commit), one after the other: 1,000
    // commits take 1–2 s on a quiet machine and several times that on a loaded one. This waits for the job; it does
    // not time it.
    for _ in 0..(JOB_WAIT_MS / 25) {
        match job_state(&id).await.as_str() {
            "running" => sleep(25).await,
            "finished" => return server_url(&format!("/jobs/{id}/events")),
            other => panic!("job {id} ended {other:?}, not finished"),
        }
    }
    panic!("timed out waiting for job {id} to finish");
}

/// Stores the server's subscriber cookie for `user` (a cross-origin fetch with credentials).
pub async fn login(user: &str) {
    let resp = fetch(&format!("/fixtures/login/{user}"), "POST", None).await;
    assert!(resp.ok(), "login -> {}", resp.status());
}

/// The server's `sse_open_streams{kind="..."}` gauge; fails the test if `/metrics` has no such line (the server
/// always writes one per kind, 0 included), so that a lost gauge cannot read as "no stream open".
pub async fn open_streams(kind: &str) -> u64 {
    let resp = fetch("/metrics", "GET", None).await;
    let body = text(&resp).await;
    assert!(resp.ok(), "GET /metrics -> {}: {body}", resp.status());
    let prefix = format!("sse_open_streams{{kind=\"{kind}\"}} ");
    let value = body
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no sse_open_streams{{kind=\"{kind}\"}} line in /metrics:\n{body}"));
    let value: f64 =
        value.trim().parse().unwrap_or_else(|e| panic!("sse_open_streams{{kind=\"{kind}\"}} {value}: {e}"));
    value as u64
}

/// Waits until the streams of `kind` that earlier tests opened are gone (the server notices a client leaving
/// asynchronously), and returns the gauge read then (0, since tests take turns ([`Turn`]) and drop their sources).
pub async fn settled_streams(kind: &str) -> u64 {
    wait_for_streams(kind, 0, "earlier tests' streams to close").await;
    open_streams(kind).await
}

/// Waits until the gauge for `kind` reads `expected`.
pub async fn wait_for_streams(kind: &str, expected: u64, what: &str) {
    for _ in 0..(WAIT_MS / 25) {
        if open_streams(kind).await == expected {
            return;
        }
        sleep(25).await;
    }
    panic!(
        "timed out waiting for {what}: sse_open_streams{{kind=\"{kind}\"}} is {}, not {expected}",
        open_streams(kind).await
    );
}

/// What handlers saw, in order.
pub struct Log<T>(pub Rc<RefCell<Vec<T>>>);

impl<T: std::fmt::Debug + 'static> Log<T> {
    pub fn new() -> Self {
        Log(Rc::new(RefCell::new(Vec::new())))
    }

    /// A two-argument handler recording `f(a, b)`.
    pub fn push_with<A, B>(&self, f: impl Fn(A, B) -> T + 'static) -> impl FnMut(A, B) + 'static {
        let log = self.0.clone();
        move |a, b| log.borrow_mut().push(f(a, b))
    }

    /// A handler taking a reference, recording `f(a)`.
    pub fn push_with_ref<A: ?Sized>(&self, f: impl Fn(&A) -> T + 'static) -> impl FnMut(&A) + 'static {
        let log = self.0.clone();
        move |a| log.borrow_mut().push(f(a))
    }

    /// A handler taking a value, recording `f(a)`.
    pub fn push_with_value<A>(&self, f: impl Fn(A) -> T + 'static) -> impl FnMut(A) + 'static {
        let log = self.0.clone();
        move |a| log.borrow_mut().push(f(a))
    }

    pub fn len(&self) -> usize {
        self.0.borrow().len()
    }

    pub fn take(&self) -> Vec<T> {
        std::mem::take(&mut *self.0.borrow_mut())
    }

    pub async fn wait_until(&self, done: impl Fn(&[T]) -> bool, what: &str) {
        for _ in 0..(WAIT_MS / 10) {
            if done(&self.0.borrow()) {
                return;
            }
            sleep(10).await;
        }
        panic!("timed out waiting for {what}; seen so far: {:?}", self.0.borrow());
    }

    pub async fn wait_len(&self, n: usize, what: &str) {
        self.wait_until(|v| v.len() >= n, what).await;
    }
}

/// A flag a handler sets.
#[derive(Clone)]
pub struct Flag(Rc<Cell<bool>>);

impl Flag {
    pub fn new() -> Self {
        Flag(Rc::new(Cell::new(false)))
    }

    pub fn setter(&self) -> impl FnMut() + 'static {
        let flag = self.0.clone();
        move || flag.set(true)
    }

    pub async fn wait(&self, what: &str) {
        for _ in 0..(WAIT_MS / 10) {
            if self.0.get() {
                return;
            }
            sleep(10).await;
        }
        panic!("timed out waiting for {what}");
    }
}

/// The second test server, which enforces auth (`--secret`, CORS naming this page's origin), + `path`.
pub fn auth_server_url(path: &str) -> String {
    let base = compile_time(option_env!("SSE_AUTH_SERVER_URL"), "SSE_AUTH_SERVER_URL");
    format!("{}{path}", base.trim_end_matches('/'))
}

/// A subscriber token for `alice` and a publisher token, minted by scripts/test.sh with the auth server's secret.
pub fn tokens() -> (&'static str, &'static str) {
    (
        compile_time(option_env!("SSE_ALICE_TOKEN"), "SSE_ALICE_TOKEN"),
        compile_time(option_env!("SSE_PUBLISHER_TOKEN"), "SSE_PUBLISHER_TOKEN"),
    )
}

/// POSTs JSON to an absolute URL with extra headers; returns the status.
pub async fn post_to(url: &str, body: &str, headers: &[(&str, &str)]) -> u16 {
    let init = RequestInit::new();
    init.set_method("POST");
    init.set_body(&JsValue::from_str(body));
    let h = web_sys::Headers::new().expect("headers");
    h.set("content-type", "application/json").expect("header");
    for (k, v) in headers {
        h.set(k, v).expect("header");
    }
    init.set_headers(&h);
    let window = web_sys::window().expect("a window");
    let resp = JsFuture::from(window.fetch_with_str_and_init(url, &init)).await.expect("fetch");
    resp.dyn_into::<Response>().expect("a Response").status()
}

thread_local! {
    static BUSY: Cell<bool> = const { Cell::new(false) };
    /// How many times the turn was taken: a waiter's deadline counts from the last hand-over, not from its start.
    static TAKEN: Cell<u64> = const { Cell::new(0) };
}

/// Held by a running test. wasm-bindgen-test interleaves async tests, and tests read the server's global stream
/// gauges (and count the events their streams get), so each test takes its turn.
pub struct Turn;

/// How long one test may hold the turn while another waits: longer than any one test takes (the slowest ~35 s),
/// so that a test that never gives the turn back fails the next one by name instead of hanging the file.
const TURN_WAIT_MS: u32 = 60_000;

impl Turn {
    pub async fn take() -> Turn {
        let mut holder = TAKEN.with(Cell::get);
        let mut waited = 0;
        while BUSY.with(|b| b.replace(true)) {
            let now = TAKEN.with(Cell::get);
            if now != holder {
                (holder, waited) = (now, 0);
            }
            assert!(waited < TURN_WAIT_MS, "timed out after {TURN_WAIT_MS} ms waiting for the turn: a test holds it");
            sleep(20).await;
            waited += 20;
        }
        TAKEN.with(|t| t.set(t.get() + 1));
        Turn
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        BUSY.with(|b| b.set(false));
    }
}

/// The SSE server nobody on this project wrote (tests/foreign/server.mjs, better-sse), + `path`.
pub fn foreign_url(path: &str) -> String {
    let base = compile_time(option_env!("SSE_FOREIGN_URL"), "SSE_FOREIGN_URL");
    format!("{}{path}", base.trim_end_matches('/'))
}

/// The server with 1 s heartbeats (`SSE_QUICK_URL`, for tests/liveness.rs) + `path`.
pub fn quick_url(path: &str) -> String {
    let base = compile_time(option_env!("SSE_QUICK_URL"), "SSE_QUICK_URL");
    format!("{}{path}", base.trim_end_matches('/'))
}

/// The same server through the blackhole proxy (tests/support/blackhole.mjs) + `path`.
pub fn blackhole_url(path: &str) -> String {
    let base = compile_time(option_env!("SSE_BLACKHOLE_URL"), "SSE_BLACKHOLE_URL");
    format!("{}{path}", base.trim_end_matches('/'))
}

/// What the blackhole proxy holds: connections open, of which silent, and accepted since it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyStats {
    pub open: u32,
    pub silent: u32,
    pub accepted: u32,
}

async fn proxy_control(method: &str, path: &str) -> JsValue {
    let base = compile_time(option_env!("SSE_BLACKHOLE_CONTROL_URL"), "SSE_BLACKHOLE_CONTROL_URL");
    let init = RequestInit::new();
    init.set_method(method);
    let window = web_sys::window().expect("a window");
    let url = format!("{}{path}", base.trim_end_matches('/'));
    let resp = JsFuture::from(window.fetch_with_str_and_init(&url, &init)).await.expect("the proxy's control server");
    let resp = resp.dyn_into::<Response>().expect("a Response");
    assert!(resp.ok(), "{method} {path} -> {}", resp.status());
    JSON::parse(&text(&resp).await).expect("JSON")
}

/// Makes every connection the proxy holds now go silent (both ways, left open); later ones are forwarded.
/// Returns how many were silenced.
pub async fn silence_proxy() -> u32 {
    let answer = proxy_control("POST", "/silence").await;
    js_sys::Reflect::get(&answer, &JsValue::from_str("silenced")).ok().and_then(|v| v.as_f64()).unwrap_or(0.0) as u32
}

/// The proxy's counts.
pub async fn proxy_stats() -> ProxyStats {
    let answer = proxy_control("GET", "/stats").await;
    let n = |k: &str| {
        js_sys::Reflect::get(&answer, &JsValue::from_str(k)).ok().and_then(|v| v.as_f64()).unwrap_or(0.0) as u32
    };
    ProxyStats { open: n("open"), silent: n("silent"), accepted: n("accepted") }
}
