//! Endpoints, bad inputs, injection, auth, CORS, users, jobs, fixtures — against the real router on 127.0.0.1:0.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::{json, Value};
use typed_eventsource_server::auth::{now_secs, Claims, Keys};
use typed_eventsource_server::config::Config;

// ---- Endpoints: /update and /subscribe ----

#[tokio::test]
async fn update_publishes_message_to_every_subscriber() {
    let s = spawn(dev_config()).await;
    let mut a = open_url(&format!("{}/subscribe", s.url)).await;
    let mut b = open_url(&format!("{}/subscribe", s.url)).await;
    let res = post_json(&format!("{}/update", s.url), None, r#"{"text":"hello"}"#).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["text"], "hello");
    assert!(body["timestamp"].as_u64().unwrap() > 1_600_000_000_000);
    for events in [&mut a, &mut b] {
        let e = next(events).await;
        assert_eq!(e.event, "message");
        assert_eq!(e.id, s.id(body["id"].as_u64().unwrap()));
        assert_eq!(serde_json::from_str::<Value>(&e.data).unwrap(), body);
    }
}

#[tokio::test]
async fn stream_headers_and_retry_first() {
    let s = spawn(Config { retry: std::time::Duration::from_millis(1234), ..dev_config() }).await;
    let mut res = reqwest::get(format!("{}/subscribe", s.url)).await.unwrap();
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    assert_eq!(res.headers()["cache-control"], "no-cache");
    assert_eq!(res.headers()["x-accel-buffering"], "no");
    assert!(res.headers().get("content-encoding").is_none());
    let first = res.chunk().await.unwrap().unwrap();
    assert_eq!(&first[..], b"retry: 1234\n\n");
}

#[tokio::test]
async fn bad_inputs_are_rejected_and_nothing_is_published() {
    let s = spawn(Config { max_body_bytes: 1024, ..dev_config() }).await;
    let mut sub = open_url(&format!("{}/subscribe", s.url)).await;
    let url = format!("{}/update", s.url);
    let client = reqwest::Client::new();
    let big = format!(r#"{{"text":"{}"}}"#, "x".repeat(2000));
    let cases: Vec<(Option<&str>, String, u16)> = vec![
        (Some("application/json"), "{not json".into(), 400),
        (Some("application/json"), "[1,2]".into(), 400),
        (Some("application/json"), r#""text""#.into(), 400),
        (Some("application/json"), "{}".into(), 400),
        (Some("application/json"), r#"{"text":""}"#.into(), 400),
        (Some("application/json"), r#"{"text":5}"#.into(), 400),
        (Some("application/json"), r#"{"text":null}"#.into(), 400),
        (Some("application/json"), "".into(), 400),
        (Some("text/plain"), r#"{"text":"x"}"#.into(), 415),
        (None, r#"{"text":"x"}"#.into(), 415),
        (Some("application/json"), big, 413),
    ];
    for (ct, body, want) in cases {
        let mut req = client.post(&url).body(body.clone());
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), want, "{ct:?} {body:.40}");
        let err: Value = res.json().await.unwrap();
        assert!(err["error"].as_str().is_some_and(|e| !e.is_empty()), "{err}");
    }
    assert_eq!(s.metric("sse_events_published_total").await, 0);
    // The next good update is the first event the subscriber sees.
    post_json(&url, None, r#"{"text":"ok"}"#).await;
    let e = next(&mut sub).await;
    assert_eq!(e.id, s.id(1));
    assert_eq!(serde_json::from_str::<Value>(&e.data).unwrap()["text"], "ok");
}

#[tokio::test]
async fn injection_through_text_event_name_and_id_is_impossible() {
    let s = spawn(dev_config()).await;
    let mut sub = open_url(&format!("{}/subscribe", s.url)).await;
    let mut alice = open_url(&format!("{}/sse/alice", s.url)).await;
    let evil = "hi\n\nevent: admin\nid: 999\ndata: pwned\r\nretry: 1\r";
    let res = post_json(&format!("{}/update", s.url), None, &json!({ "text": evil }).to_string()).await;
    assert_eq!(res.status(), 200);
    let e = next(&mut sub).await;
    assert_eq!((e.event.as_str(), e.id.clone()), ("message", s.id(1)));
    assert_eq!(serde_json::from_str::<Value>(&e.data).unwrap()["text"], evil);
    // No injected event after it: the next one is the next published.
    post_json(&format!("{}/update", s.url), None, r#"{"text": "sentinel"}"#).await;
    next_is_sentinel(&mut sub, "sentinel").await;

    for name in ["a\nb", "a\rb", "a\0b", "x\n\ndata: y", ""] {
        let body = json!({ "event": name, "data": 1 }).to_string();
        let res = post_json(&format!("{}/notify/alice", s.url), None, &body).await;
        assert_eq!(res.status(), 400, "{name:?}");
        assert!(res.json::<Value>().await.unwrap()["error"].is_string());
    }
    // Raw string data with line breaks arrives intact as JSON.
    let res =
        post_json(&format!("{}/notify/alice", s.url), None, &json!({"data": "l1\nevent: x\n\nl2"}).to_string()).await;
    assert_eq!(res.status(), 200);
    let e = next(&mut alice).await;
    assert_eq!(e.event, "message");
    assert_eq!(serde_json::from_str::<Value>(&e.data).unwrap(), json!("l1\nevent: x\n\nl2"));

    // Ids that are not ours are never refused (a browser would not retry a 400): they get a replay-gap event.
    for bad in ["1%00", "abc", "-1", "1 2", "1%0Aevent:%20x"] {
        let mut ev = open_url(&format!("{}/subscribe?lastEventId={bad}", s.url)).await;
        let gap = next(&mut ev).await;
        assert_eq!((gap.event.as_str(), gap.id.as_str()), ("replay-gap", s.id(0).as_str()), "{bad:?}");
        assert_eq!(serde_json::from_str::<Value>(&gap.data).unwrap()["reason"], "malformed");
    }
    let mut ev = open(reqwest::Client::new().get(format!("{}/subscribe", s.url)).header("last-event-id", "12x")).await;
    let gap = next(&mut ev).await;
    assert_eq!(serde_json::from_str::<Value>(&gap.data).unwrap()["requested"], "12x");
}

// ---- Auth ----

#[tokio::test]
async fn per_user_stream_auth_denials() {
    let s = spawn(config()).await;
    let url = format!("{}/sse/alice", s.url);
    let c = reqwest::Client::new();
    let status = |req: reqwest::RequestBuilder| async move { req.send().await.unwrap().status().as_u16() };
    // No token.
    assert_eq!(status(c.get(&url)).await, 401);
    // Wrong user.
    assert_eq!(status(c.get(format!("{url}?token={}", s.token("bob")))).await, 403);
    assert_eq!(status(c.get(&url).header("cookie", format!("sse_token={}", s.token("bob")))).await, 403);
    // Bad signature.
    let forged =
        Keys::new("not-the-secret").mint("alice", typed_eventsource_server::auth::Role::Subscriber, 600).unwrap();
    assert_eq!(status(c.get(format!("{url}?token={forged}"))).await, 401);
    // Expired.
    let expired = s
        .state
        .auth
        .keys
        .mint_claims(&Claims { sub: "alice".into(), exp: now_secs() - 3600, ..Claims::default() })
        .unwrap();
    assert_eq!(status(c.get(format!("{url}?token={expired}"))).await, 401);
    // Garbage.
    assert_eq!(status(c.get(&url).bearer_auth("garbage")).await, 401);
    assert_eq!(s.metric("sse_auth_denied_total").await, 6);
    assert_eq!(s.metric("sse_open_streams{kind=\"user\"}").await, 0);
    // Good: query, cookie, bearer.
    let t = s.token("alice");
    let _a = open(c.get(format!("{url}?token={t}"))).await;
    let _b = open(c.get(&url).header("cookie", format!("other=1; sse_token={t}"))).await;
    let _c = open(c.get(&url).bearer_auth(&t)).await;
    assert_eq!(s.metric("sse_open_streams{kind=\"user\"}").await, 3);
}

#[tokio::test]
async fn publish_endpoints_need_a_publisher_token() {
    let s = spawn(config()).await;
    let sub_token = s.token("alice");
    let forged = Keys::new("nope").mint("x", typed_eventsource_server::auth::Role::Publisher, 600).unwrap();
    let cases = [
        ("/update", r#"{"text":"x"}"#),
        ("/notify/alice", r#"{"data":1}"#),
        ("/jobs", r#"{"steps":1,"intervalMs":0}"#),
    ];
    for (path, body) in cases {
        let url = format!("{}{path}", s.url);
        assert_eq!(post_json(&url, None, body).await.status(), 401, "{path} without token");
        assert_eq!(post_json(&url, Some(&sub_token), body).await.status(), 403, "{path} with subscriber token");
        assert_eq!(post_json(&url, Some(&forged), body).await.status(), 401, "{path} forged");
        // Auth comes before the body: a bad body without token is still 401.
        assert_eq!(post_json(&url, None, "{bad").await.status(), 401);
        assert_eq!(post_json(&url, Some(&s.publisher()), body).await.status(), 200, "{path} with publisher token");
    }
    assert_eq!(s.metric("sse_auth_denied_total").await, 12);
    assert!(s.metric("sse_events_published_total").await >= 2);
}

// ---- CORS ----

#[tokio::test]
async fn cors_with_credentials_names_the_origin() {
    let s = spawn(Config { cors_origins: vec!["http://app.example".into()], ..config() }).await;
    let c = reqwest::Client::new();
    let res = c.get(format!("{}/healthz", s.url)).header("origin", "http://app.example").send().await.unwrap();
    assert_eq!(res.headers()["access-control-allow-origin"], "http://app.example");
    assert_eq!(res.headers()["access-control-allow-credentials"], "true");
    let res = c
        .request(reqwest::Method::OPTIONS, format!("{}/update", s.url))
        .header("origin", "http://app.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type,authorization,last-event-id")
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    assert_eq!(res.headers()["access-control-allow-origin"], "http://app.example");
    assert_eq!(res.headers()["access-control-allow-credentials"], "true");
    let allowed = res.headers()["access-control-allow-headers"].to_str().unwrap().to_ascii_lowercase();
    for h in ["content-type", "authorization", "last-event-id"] {
        assert!(allowed.contains(h), "{allowed}");
    }
    // Other origins, including loopback outside --dev: no CORS grant, never `*`.
    for origin in ["http://evil.example", "http://127.0.0.1:9999"] {
        let res = c.get(format!("{}/healthz", s.url)).header("origin", origin).send().await.unwrap();
        assert!(res.headers().get("access-control-allow-origin").is_none(), "{origin}");
    }
}

#[tokio::test]
async fn dev_mode_mirrors_loopback_origins_only() {
    let s = spawn(dev_config()).await;
    let c = reqwest::Client::new();
    for origin in ["http://127.0.0.1:41234", "http://localhost:8080", "http://[::1]:3000"] {
        let res = c.get(format!("{}/subscribe", s.url)).header("origin", origin).send().await.unwrap();
        assert_eq!(res.headers()["access-control-allow-origin"], origin);
        assert_eq!(res.headers()["access-control-allow-credentials"], "true");
    }
    for origin in ["http://127.0.0.1.evil.example", "http://localhost:80x", "https://example.com"] {
        let res = c.get(format!("{}/healthz", s.url)).header("origin", origin).send().await.unwrap();
        assert!(res.headers().get("access-control-allow-origin").is_none(), "{origin}");
    }
}

// ---- Per-user streams ----

#[tokio::test]
async fn user_streams_are_isolated_and_every_tab_gets_each_event() {
    let s = spawn(dev_config()).await;
    let mut tab1 = open_url(&format!("{}/sse/alice", s.url)).await;
    let mut tab2 = open_url(&format!("{}/sse/alice", s.url)).await;
    let mut bob = open_url(&format!("{}/sse/bob", s.url)).await;
    let body = json!({"event": "card-assigned", "data": {"message": "card assigned to you"}}).to_string();
    let res: Value = post_json(&format!("{}/notify/alice", s.url), None, &body).await.json().await.unwrap();
    assert_eq!(res["id"], s.id(1));
    for tab in [&mut tab1, &mut tab2] {
        let e = next(tab).await;
        assert_eq!((e.event.as_str(), e.id.as_str()), ("card-assigned", s.id(1).as_str()));
        assert_eq!(serde_json::from_str::<Value>(&e.data).unwrap(), json!({"message": "card assigned to you"}));
    }
    // Alice's note did not reach bob: his next event is his own, published after it.
    post_json(&format!("{}/notify/bob", s.url), None, r#"{"data":"for bob"}"#).await;
    assert_eq!(next(&mut bob).await.data, "\"for bob\"");
    // And bob's did not reach alice's tabs: their next is alice's next.
    post_json(&format!("{}/notify/alice", s.url), None, r#"{"data":"sentinel"}"#).await;
    for tab in [&mut tab1, &mut tab2] {
        next_is_sentinel(tab, "sentinel").await;
    }
}

#[tokio::test]
async fn offline_notifications_are_delivered_on_connect() {
    let s = spawn(dev_config()).await;
    for i in 1..=3 {
        let res = post_json(&format!("{}/notify/carol", s.url), None, &json!({"data": {"n": i}}).to_string()).await;
        assert_eq!(res.status(), 200);
    }
    let mut c = open_url(&format!("{}/sse/carol", s.url)).await;
    for i in 1..=3 {
        let e = next(&mut c).await;
        assert_eq!(e.id, s.id(i));
        assert_eq!(serde_json::from_str::<Value>(&e.data).unwrap(), json!({"n": i}));
    }
    assert_eq!(s.metric("sse_events_replayed_total").await, 3);
    // Delivered once: a second fresh connection does not get them again, only live ones.
    let mut c2 = open_url(&format!("{}/sse/carol", s.url)).await;
    post_json(&format!("{}/notify/carol", s.url), None, r#"{"data":4}"#).await;
    assert_eq!(next(&mut c2).await.id, s.id(4));
    assert_eq!(next(&mut c).await.id, s.id(4));
}

#[tokio::test]
async fn notify_validation() {
    let s = spawn(dev_config()).await;
    for body in [r#"{}"#, r#"{"event":5,"data":1}"#, r#"[]"#] {
        assert_eq!(post_json(&format!("{}/notify/u", s.url), None, body).await.status(), 400, "{body}");
    }
    assert_eq!(s.metric("sse_events_published_total").await, 0);
}

// ---- Jobs ----

#[tokio::test]
async fn job_stream_shape_and_late_subscriber_history() {
    let s = spawn(dev_config()).await;
    let res: Value =
        post_json(&format!("{}/jobs", s.url), None, r#"{"steps":3,"intervalMs":20}"#).await.json().await.unwrap();
    let id = res["id"].as_str().unwrap().to_owned();
    let url = format!("{}/jobs/{id}/events", s.url);
    let mut early = open_url(&url).await;
    let mut seen = Vec::new();
    for _ in 0..7 {
        seen.push(next(&mut early).await);
    }
    for (k, i) in (1..=3).enumerate() {
        let msg = &seen[k * 2];
        assert_eq!(msg.event, "message");
        let d: Value = serde_json::from_str(&msg.data).unwrap();
        assert_eq!(d["step"], i);
        assert_eq!(d["steps"], 3);
        assert!(d["target"]["db"].is_string());
        assert!(["READ", "UPDATE"].contains(&d["target"]["operation"].as_str().unwrap()));
        assert_eq!(d["status"], ["READY", "RUNNING", "DONE"][k]);
        assert!(d["message"].as_str().unwrap().ends_with("database..."));
        let ping = &seen[k * 2 + 1];
        assert_eq!((ping.event.as_str(), ping.data.as_str()), ("ping", format!("step {i}/3").as_str()));
    }
    assert_eq!(
        (seen[6].event.as_str(), seen[6].data.as_str(), seen[6].id.as_str()),
        ("ping", "finished", s.id(7).as_str())
    );
    // Once the terminal ping is out, the status reads finished.
    let status: Value = reqwest::get(format!("{}/jobs/{id}", s.url)).await.unwrap().json().await.unwrap();
    assert_eq!((status["id"].as_str(), status["steps"].as_u64()), (Some(id.as_str()), Some(3)));
    assert_eq!((status["state"].as_str(), status["intervalMs"].as_u64()), (Some("finished"), Some(20)));
    assert!(status["endedMs"].as_u64() >= status["createdMs"].as_u64());
    let slow: Value =
        post_json(&format!("{}/jobs", s.url), None, r#"{"steps":2,"intervalMs":60000}"#).await.json().await.unwrap();
    let slow_status: Value =
        reqwest::get(format!("{}/jobs/{}", s.url, slow["id"].as_str().unwrap())).await.unwrap().json().await.unwrap();
    assert_eq!(slow_status["state"], "running");
    assert!(slow_status.get("endedMs").is_none());
    // A late subscriber gets the whole history.
    let mut late = open_url(&url).await;
    for (i, e) in seen.iter().enumerate() {
        let got = next(&mut late).await;
        assert_eq!((got.id.as_str(), &got.data), (e.id.as_str(), &e.data), "event {i}");
    }
    // Resume after an id.
    let mut resumed = open(reqwest::Client::new().get(&url).header("last-event-id", s.id(5))).await;
    assert_eq!(next(&mut resumed).await.id, s.id(6));
    assert_eq!(next(&mut resumed).await.data, "finished");
}

#[tokio::test]
async fn job_errors() {
    let s = spawn(dev_config()).await;
    for path in ["/jobs/nope/events", "/jobs/nope"] {
        let res = reqwest::get(format!("{}{path}", s.url)).await.unwrap();
        assert_eq!(res.status(), 404, "{path}");
        assert!(res.json::<Value>().await.unwrap()["error"].is_string());
    }
    for body in [
        r#"{}"#,
        r#"{"steps":0}"#,
        r#"{"steps":100000}"#,
        r#"{"steps":"3"}"#,
        r#"{"steps":2,"intervalMs":-1}"#,
        r#"{"steps":2,"intervalMs":1e9}"#,
    ] {
        assert_eq!(post_json(&format!("{}/jobs", s.url), None, body).await.status(), 400, "{body}");
    }
}

// ---- Ops, static files, limits ----

#[tokio::test]
async fn healthz_metrics_and_static_files() {
    let dir = std::env::temp_dir().join(format!("tes-www-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), "<h1>board</h1>").unwrap();
    let s = spawn(Config { www: dir.clone(), ..dev_config() }).await;
    assert_eq!(reqwest::get(format!("{}/healthz", s.url)).await.unwrap().status(), 200);
    let page = reqwest::get(format!("{}/", s.url)).await.unwrap().text().await.unwrap();
    assert_eq!(page, "<h1>board</h1>");
    let text = reqwest::get(format!("{}/metrics", s.url)).await.unwrap().text().await.unwrap();
    for name in [
        "sse_open_streams{kind=\"broadcast\"} 0",
        "sse_open_streams{kind=\"user\"} 0",
        "sse_open_streams{kind=\"job\"} 0",
        "sse_open_streams{kind=\"fixture\"} 0",
        "sse_events_published_total 0",
        "sse_events_delivered_total 0",
        "sse_events_replayed_total 0",
        "sse_slow_clients_evicted_total 0",
        "sse_auth_denied_total 0",
    ] {
        assert!(text.lines().any(|l| l == name), "{name} missing in\n{text}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn max_streams_gives_503() {
    let s = spawn(Config { max_streams: 2, ..dev_config() }).await;
    let _a = open_url(&format!("{}/subscribe", s.url)).await;
    let _b = open_url(&format!("{}/sse/x", s.url)).await;
    let res = reqwest::get(format!("{}/subscribe", s.url)).await.unwrap();
    assert_eq!(res.status(), 503);
    assert!(res.json::<Value>().await.unwrap()["error"].is_string());
    drop(_a);
    s.wait_metric("sse_open_streams{kind=\"broadcast\"}", 0, 5).await;
    let _c = open_url(&format!("{}/subscribe", s.url)).await;
}

// ---- Fixtures ----

#[tokio::test]
async fn fixtures_are_off_by_default() {
    let s = spawn(dev_config()).await;
    assert_eq!(reqwest::get(format!("{}/fixtures/wrong-type", s.url)).await.unwrap().status(), 404);
}

#[tokio::test]
async fn fixture_routes() {
    let s = spawn(Config { fixtures: true, ..config() }).await;
    let c = reqwest::Client::builder().build().unwrap();
    let res = c.get(format!("{}/fixtures/status/500", s.url)).send().await.unwrap();
    assert_eq!(res.status(), 500);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    assert_eq!(c.get(format!("{}/fixtures/status/204", s.url)).send().await.unwrap().status(), 204);
    let res = c.get(format!("{}/fixtures/wrong-type", s.url)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));

    // drop: retry 100, ids 1..N, then the end of the body.
    let body = c.get(format!("{}/fixtures/drop?events=3", s.url)).send().await.unwrap().text().await.unwrap();
    assert!(body.starts_with("retry: 100\n\n"), "{body}");
    assert!(body.contains("id: 3\ndata: {\"n\":3}\n\n") && !body.contains("id: 4"));
    let body = c
        .get(format!("{}/fixtures/drop?events=2", s.url))
        .header("last-event-id", "3")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("id: 4\n") && body.contains("id: 5\n") && !body.contains("id: 3\n"), "{body}");

    // flaky: 1st 1..5 then close, 2nd 503, 3rd after lastEventId up to 10, done 11, stays open.
    let url = format!("{}/fixtures/flaky/k1", s.url);
    let body = c.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(body.starts_with("retry: 50\n\n") && body.contains("id: 5\ndata: {\"n\":5}") && !body.contains("id: 6"));
    assert_eq!(c.get(&url).send().await.unwrap().status(), 503);
    let mut third = open(c.get(format!("{url}?lastEventId=5"))).await;
    for i in 6..=10 {
        let e = next(&mut third).await;
        assert_eq!((e.id, e.data), (i.to_string(), format!("{{\"n\":{i}}}")));
    }
    let done = next(&mut third).await;
    assert_eq!((done.event.as_str(), done.data.as_str(), done.id.as_str()), ("done", "end", "11"));
    assert_eq!(s.metric("sse_open_streams{kind=\"fixture\"}").await, 1);
    drop(third);

    // whoami: anonymous, then after login the cookie's user.
    let mut who = open(c.get(format!("{}/fixtures/whoami", s.url))).await;
    assert_eq!(next(&mut who).await.data, "\"anonymous\"");
    let res =
        c.post(format!("{}/fixtures/login/dave", s.url)).header("origin", "http://127.0.0.1:1").send().await.unwrap();
    assert_eq!(res.status(), 204);
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.starts_with("sse_token=")
            && cookie.contains("Path=/")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Lax")
    );
    let pair = cookie.split(';').next().unwrap().to_owned();
    let mut who = open(c.get(format!("{}/fixtures/whoami", s.url)).header("cookie", &pair)).await;
    assert_eq!(next(&mut who).await.data, "\"dave\"");
    // The login cookie opens dave's own stream (same verification as real auth).
    let _d = open(c.get(format!("{}/sse/dave", s.url)).header("cookie", &pair)).await;
    assert_eq!(c.get(format!("{}/sse/erin", s.url)).header("cookie", &pair).send().await.unwrap().status(), 403);
}
