//! A real `redis-server` (Debian's package) on a free loopback port with its own temporary dir and AOF
//! (`appendonly yes`, `appendfsync always`), for the Redis store's tests. Killed on drop.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::process::TempDir;

pub struct RedisServer {
    process: Option<std::process::Child>,
    pub port: u16,
    pub dir: TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl RedisServer {
    pub fn start() -> Self {
        let mut r = RedisServer { process: None, port: free_port(), dir: TempDir::new("redis") };
        r.restart();
        r
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts it again on the same port and data (AOF): nothing acknowledged is lost.
    pub fn restart(&mut self) {
        assert!(self.process.is_none(), "already running");
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes"])
            .args(["--appendfsync", "always", "--daemonize", "no", "--logfile", "redis.log"])
            // DEBUG SLEEP: a stalled Redis (tests of timeouts).
            .args(["--enable-debug-command", "local"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is missing: run scripts/setup.sh (apt-get install redis-server)");
        self.process = Some(child);
        for _ in 0..200 {
            if let Ok(mut c) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                use std::io::{Read as _, Write as _};
                let mut buf = [0u8; 64];
                if c.write_all(b"PING\r\n").is_ok() && c.read(&mut buf).is_ok_and(|n| buf[..n].starts_with(b"+PONG")) {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("redis-server did not start on port {}", self.port);
    }

    /// SIGKILL.
    pub fn kill9(&mut self) {
        if let Some(mut p) = self.process.take() {
            let _ = p.kill();
            let _ = p.wait();
        }
    }

    /// Runs one command (tests: FLUSHALL, CLIENT KILL ...).
    pub async fn command(&self, args: &[&str]) -> redis::Value {
        let client = redis::Client::open(self.url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query_async(&mut conn).await.unwrap()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill9();
    }
}
