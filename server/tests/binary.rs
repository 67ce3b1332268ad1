//! The real binary: startup contract, SIGTERM with open streams, the `token` subcommand, refusing to run without a
//! secret.
#![allow(clippy::unwrap_used)]
#![cfg(unix)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::process::{start_in, Child, TempDir, BIN};

/// Starts the binary in a fresh data dir (kept with the child).
fn start(args: &[&str]) -> (Child, String, TempDir) {
    let dir = TempDir::new("binary");
    let child = start_in(dir.path(), args);
    let url = child.url.clone();
    (child, url, dir)
}

#[tokio::test]
async fn sigterm_with_open_streams_exits_within_2s() {
    // No subcommand: `serve` is the default.
    let (mut child, url, _dir) = start(&["--listen", "127.0.0.1:0", "--dev", "--fixtures"]);
    let mut streams = Vec::new();
    for path in ["/subscribe", "/sse/alice", "/fixtures/whoami", "/subscribe"] {
        let res = reqwest::get(format!("{url}{path}")).await.unwrap();
        assert_eq!(res.status(), 200);
        streams.push(res);
    }
    let metrics = reqwest::get(format!("{url}/metrics")).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("sse_open_streams{kind=\"broadcast\"} 2"), "{metrics}");
    let t = Instant::now();
    let pid = child.process.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    loop {
        if let Some(status) = child.process.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(2), "still running after 2 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for mut r in streams {
        let ended =
            tokio::time::timeout(Duration::from_secs(1), async { while let Ok(Some(_)) = r.chunk().await {} }).await;
        assert!(ended.is_ok());
    }
}

#[tokio::test]
async fn serve_subcommand_with_auth_and_minted_tokens() {
    let (_child, url, _dir) = start(&["serve", "--listen", "127.0.0.1:0", "--secret", common::SECRET]);
    let mint = |args: &[&str]| {
        let out = Command::new(BIN).arg("token").args(args).args(["--secret", common::SECRET]).output().unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let alice = mint(&["--user", "alice"]);
    let publisher = mint(&["--user", "ops", "--publisher", "--ttl-secs", "60"]);
    let c = reqwest::Client::new();
    assert_eq!(c.get(format!("{url}/sse/alice")).send().await.unwrap().status(), 401);
    let res = c.get(format!("{url}/sse/alice?token={alice}")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let post = |tok: String| {
        c.post(format!("{url}/notify/alice"))
            .bearer_auth(tok)
            .header("content-type", "application/json")
            .body(r#"{"data":{"message":"card assigned to you"}}"#)
            .send()
    };
    assert_eq!(post(alice.clone()).await.unwrap().status(), 403);
    assert_eq!(post(publisher).await.unwrap().status(), 200);
}

#[test]
fn refuses_to_start_without_a_secret_unless_dev() {
    let out = Command::new(BIN).args(["serve", "--listen", "127.0.0.1:0"]).env_remove("SSE_SECRET").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--secret"));
}
