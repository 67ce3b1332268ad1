//! The real binary over HTTPS: `--dev-tls` (generated certificate, fingerprint logged), `--tls-cert`/`--tls-key`
//! with reload on SIGHUP, and the flag checks.
#![allow(clippy::unwrap_used)]
#![cfg(unix)]

const SECRET: &str = "tls-binary-test-secret-of-32-bytes-or-more";

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Client, Version};
use typed_eventsource_server::tls::{fingerprint, self_signed};

const BIN: &str = env!("CARGO_BIN_EXE_typed-eventsource-server");

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary; returns it, the URL of its stdout line and a channel of its stderr lines.
fn start(args: &[&str]) -> (Child, String, std::sync::mpsc::Receiver<String>) {
    let mut child = Command::new(BIN)
        .args(args)
        .args(["--store", "memory"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("SSE_SECRET")
        .env("NO_COLOR", "1")
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let url = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("bad line {line:?}")).to_owned();
    (Child(child), url, rx)
}

/// The DER of the certificate a fresh connection to `url` is served, and the HTTP version used.
async fn peer_certificate(client: &Client, url: &str) -> (Vec<u8>, Version) {
    let res = client.get(format!("{url}/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let info = res.extensions().get::<reqwest::tls::TlsInfo>().expect("tls info");
    (info.peer_certificate().expect("a certificate").to_vec(), res.version())
}

#[tokio::test]
async fn dev_tls_serves_h2_with_a_generated_certificate_whose_fingerprint_is_logged_and_sigterm_ends_it() {
    let (mut child, url, stderr) = start(&["--listen", "127.0.0.1:0", "--dev", "--dev-tls"]);
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    // The log goes on while the server runs: read it with a deadline instead of until it ends.
    let deadline = Instant::now() + Duration::from_secs(10);
    let logged = std::iter::from_fn(|| stderr.recv_timeout(deadline.saturating_duration_since(Instant::now())).ok())
        .find_map(|l| l.split_once("SHA-256 ").map(|(_, f)| f.trim().to_owned()))
        .expect("the fingerprint is logged within 10 s");
    let client = Client::builder().use_rustls_tls().danger_accept_invalid_certs(true).tls_info(true).build().unwrap();
    let (der, version) = peer_certificate(&client, &url).await;
    assert_eq!(version, Version::HTTP_2);
    assert_eq!(fingerprint(&der), logged);
    // SIGTERM with open HTTP/2 streams: every stream ends and the process exits within 2 s.
    let mut streams = Vec::new();
    for path in ["/subscribe", "/sse/alice", "/subscribe"] {
        let res = client.get(format!("{url}{path}")).send().await.unwrap();
        assert_eq!((res.status(), res.version()), (reqwest::StatusCode::OK, Version::HTTP_2));
        streams.push(res);
    }
    let t = Instant::now();
    assert!(Command::new("kill").args(["-TERM", &child.0.id().to_string()]).status().unwrap().success());
    loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(2), "still running after 2 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for mut r in streams {
        let ended =
            tokio::time::timeout(Duration::from_secs(1), async { while let Ok(Some(_)) = r.chunk().await {} }).await;
        assert!(ended.is_ok(), "a stream stayed open");
    }
}

#[tokio::test]
async fn sighup_reloads_the_certificate_files() {
    let dir = std::env::temp_dir().join(format!("sse-tls-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let write = |c: &typed_eventsource_server::tls::SelfSigned| {
        std::fs::write(&cert, &c.cert_pem).unwrap();
        std::fs::write(&key, &c.key_pem).unwrap();
    };
    let (a, b) = (self_signed().unwrap(), self_signed().unwrap());
    write(&a);
    let path = |p: &Path| p.to_str().unwrap().to_owned();
    let (child, url, _stderr) = start(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--secret",
        SECRET,
        "--tls-cert",
        &path(&cert),
        "--tls-key",
        &path(&key),
    ]);
    let client = || {
        Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_der(&a.cert_der).unwrap())
            .add_root_certificate(reqwest::Certificate::from_der(&b.cert_der).unwrap())
            .tls_info(true)
            .build()
            .unwrap()
    };
    assert_eq!(peer_certificate(&client(), &url).await.0, a.cert_der);
    write(&b);
    let pid = child.0.id().to_string();
    assert!(Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        // A new client, so a new connection and handshake.
        if peer_certificate(&client(), &url).await.0 == b.cert_der {
            break;
        }
        assert!(Instant::now() < deadline, "still serving the old certificate");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tls_flags_are_checked_before_serving() {
    let run = |args: &[&str]| {
        Command::new(BIN).args(args).args(["--store", "memory"]).env_remove("SSE_SECRET").output().unwrap()
    };
    // --dev-tls is a development feature.
    let out = run(&["serve", "--listen", "127.0.0.1:0", "--secret", SECRET, "--dev-tls"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--dev"));
    // A certificate needs its key.
    let out = run(&["serve", "--listen", "127.0.0.1:0", "--secret", SECRET, "--tls-cert", "cert.pem"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tls-key"));
    // Unreadable files: a clear error, no listening line.
    let out = run(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--secret",
        SECRET,
        "--tls-cert",
        "/nonexistent/c.pem",
        "--tls-key",
        "/nonexistent/k.pem",
    ]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/c.pem"));
}
