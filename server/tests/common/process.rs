//! The real binary as a child process: start on port 0 with its own data dir, SIGKILL, SIGTERM, restart.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_typed-eventsource-server");

/// A fresh temporary folder, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("tes-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running server process; killed on drop.
pub struct Child {
    pub process: std::process::Child,
    pub url: String,
    pub stderr: PathBuf,
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl Child {
    /// SIGKILL and wait: no shutdown code runs.
    pub fn kill9(mut self) {
        self.process.kill().unwrap();
        self.process.wait().unwrap();
    }

    /// SIGTERM and wait for the exit (graceful shutdown).
    pub fn terminate(mut self) {
        let pid = self.process.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let status = self.process.wait().unwrap();
        assert!(status.success(), "{status}");
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

/// Starts the binary with `args` and `SSE_DATA_DIR=data_dir`; returns it once it printed its address.
pub fn start_in(data_dir: &Path, args: &[&str]) -> Child {
    try_start_in(data_dir, args).unwrap_or_else(|(code, log)| panic!("the server did not start ({code:?}): {log}"))
}

/// Like [`start_in`], but a refusal to start is returned: `(exit status, stderr)`.
pub fn try_start_in(data_dir: &Path, args: &[&str]) -> Result<Child, (Option<i32>, String)> {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    try_start_command(cmd, data_dir)
}

/// Like [`try_start_in`] with a prepared command (extra environment, a shell wrapper...).
pub fn try_start_command(mut cmd: Command, data_dir: &Path) -> Result<Child, (Option<i32>, String)> {
    static N: AtomicU64 = AtomicU64::new(0);
    let stderr =
        std::env::temp_dir().join(format!("tes-log-{}-{}.txt", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
    let mut process = cmd
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .env_remove("SSE_SECRET")
        .env("SSE_DATA_DIR", data_dir)
        .spawn()
        .unwrap();
    let stdout = process.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let Some(url) = line.trim().strip_prefix("listening on ") else {
        let status = process.wait().unwrap();
        return Err((status.code(), std::fs::read_to_string(&stderr).unwrap_or_default()));
    };
    assert!(url.starts_with("http://127.0.0.1:"));
    Ok(Child { url: url.to_owned(), process, stderr })
}

/// Waits until `GET url/healthz` answers `status`.
pub async fn wait_health(url: &str, status: u16, secs: u64) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Ok(res) = reqwest::get(format!("{url}/healthz")).await {
            if res.status().as_u16() == status {
                return res.json().await.unwrap();
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "/healthz never answered {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
