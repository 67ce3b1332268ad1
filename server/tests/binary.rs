//! The real binary: startup contract, SIGTERM with open streams, the `token` subcommand, refusing to run without a
//! secret.
#![allow(clippy::unwrap_used)]
#![cfg(unix)]

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_typed-eventsource-server");

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary and returns it with the URL parsed from its one stdout line.
fn start(args: &[&str]) -> (Child, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .env_remove("SSE_SECRET")
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let url = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("bad line {line:?}")).to_owned();
    assert!(url.starts_with("http://127.0.0.1:"));
    (Child(child), url)
}

#[tokio::test]
async fn sigterm_with_open_streams_exits_within_2s() {
    // No subcommand: `serve` is the default.
    let (mut child, url) = start(&["--listen", "127.0.0.1:0", "--dev", "--fixtures"]);
    let mut streams = Vec::new();
    for path in ["/subscribe", "/sse/alice", "/fixtures/whoami", "/subscribe"] {
        let res = reqwest::get(format!("{url}{path}")).await.unwrap();
        assert_eq!(res.status(), 200);
        streams.push(res);
    }
    let metrics = reqwest::get(format!("{url}/metrics")).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("sse_open_streams{kind=\"broadcast\"} 2"), "{metrics}");
    let t = Instant::now();
    let pid = child.0.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(2), "still running after 2 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for mut r in streams {
        let ended = tokio::time::timeout(Duration::from_secs(1), async { while let Ok(Some(_)) = r.chunk().await {} }).await;
        assert!(ended.is_ok());
    }
}

#[tokio::test]
async fn serve_subcommand_with_auth_and_minted_tokens() {
    let (_child, url) = start(&["serve", "--listen", "127.0.0.1:0", "--secret", "s3cret"]);
    let mint = |args: &[&str]| {
        let out = Command::new(BIN).arg("token").args(args).args(["--secret", "s3cret"]).output().unwrap();
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
