//! A real Redis Cluster for the tests: 3 primaries + 3 replicas from Debian's `redis-server` in cluster mode, each on
//! a free loopback port (and its cluster bus port + 10000) with its own temp dir and AOF, joined by
//! `redis-cli --cluster create`. A 1 s node timeout, so that a killed primary's replica takes over within seconds.
//! Every node is killed on drop.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::process::TempDir;

pub struct Node {
    pub port: u16,
    process: Option<std::process::Child>,
    dir: TempDir,
}

pub struct RedisCluster {
    pub nodes: Vec<Node>,
}

/// A free port whose cluster bus port (+10000) is free too.
fn free_port() -> u16 {
    loop {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

fn redis_cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("redis-cli is missing: run scripts/setup.sh (apt-get install redis-server)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl RedisCluster {
    pub fn start() -> Self {
        let mut nodes = Vec::new();
        for _ in 0..6 {
            let port = free_port();
            let dir = TempDir::new("redis-cluster");
            let process = Some(spawn(port, &dir));
            nodes.push(Node { port, process, dir });
        }
        for n in &nodes {
            wait_until(Duration::from_secs(10), || redis_cli(n.port, &["PING"]).starts_with("PONG"));
        }
        let addrs: Vec<String> = nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)).collect();
        let mut create = Command::new("redis-cli");
        create.arg("--cluster").arg("create").args(&addrs);
        let out = create.args(["--cluster-replicas", "1", "--cluster-yes"]).stdin(Stdio::null()).output().unwrap();
        assert!(out.status.success(), "redis-cli --cluster create: {}", String::from_utf8_lossy(&out.stdout));
        let cluster = RedisCluster { nodes };
        cluster.wait_ok();
        cluster.wait_replicas_in_sync();
        cluster
    }

    /// The seed URLs, comma-separated (what `--redis-url` takes).
    pub fn urls(&self) -> String {
        self.nodes.iter().map(|n| format!("redis://127.0.0.1:{}", n.port)).collect::<Vec<_>>().join(",")
    }

    /// One node's URL (the store recognises a cluster from any node).
    pub fn url(&self, node: usize) -> String {
        format!("redis://127.0.0.1:{}", self.nodes[node].port)
    }

    /// Waits until every running node says `cluster_state:ok` and agrees on who the primaries are.
    pub fn wait_ok(&self) {
        wait_until(Duration::from_secs(30), || {
            self.running().all(|n| redis_cli(n.port, &["CLUSTER", "INFO"]).contains("cluster_state:ok"))
                && self.running().all(|n| self.primaries_seen_by(n.port) == self.primaries_seen_by(self.first()))
        });
    }

    fn first(&self) -> u16 {
        self.running().next().unwrap().port
    }

    fn running(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| n.process.is_some())
    }

    fn primaries_seen_by(&self, port: u16) -> Vec<u16> {
        let mut out: Vec<u16> = redis_cli(port, &["CLUSTER", "NODES"])
            .lines()
            .filter(|l| l.contains("master") && !l.contains("fail"))
            .filter_map(|l| l.split_whitespace().nth(1)?.split(['@', ':']).nth(1)?.parse().ok())
            .collect();
        out.sort_unstable();
        out
    }

    /// The port of the replica of the primary on `port`.
    pub fn replica_of(&self, port: u16) -> u16 {
        let nodes = redis_cli(self.first(), &["CLUSTER", "NODES"]);
        let id_of = |p: u16| {
            nodes
                .lines()
                .find(|l| l.split_whitespace().nth(1).is_some_and(|a| a.starts_with(&format!("127.0.0.1:{p}@"))))
                .and_then(|l| l.split_whitespace().next())
                .map(str::to_owned)
        };
        let primary = id_of(port).unwrap();
        let line =
            nodes.lines().find(|l| l.contains("slave") && l.split_whitespace().nth(3) == Some(&primary)).unwrap();
        line.split_whitespace().nth(1).unwrap().split(['@', ':']).nth(1).unwrap().parse().unwrap()
    }

    /// Runs `args` with redis-cli on the node on `port`; its output.
    pub fn cli(&self, port: u16, args: &[&str]) -> String {
        redis_cli(port, args)
    }

    /// The ports of the running primaries.
    pub fn primaries(&self) -> Vec<u16> {
        self.primaries_seen_by(self.first())
    }

    /// The port of the primary that holds `key`'s slot now.
    pub fn primary_of(&self, key: &str) -> u16 {
        self.primary_of_slot(self.slot_of(key))
    }

    /// The slot of `key`.
    pub fn slot_of(&self, key: &str) -> u16 {
        redis_cli(self.first(), &["CLUSTER", "KEYSLOT", key]).trim().parse().unwrap()
    }

    /// The port of the primary that holds `slot` now.
    pub fn primary_of_slot(&self, slot: u16) -> u16 {
        for line in redis_cli(self.first(), &["CLUSTER", "NODES"]).lines().filter(|l| l.contains("master")) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let port: u16 = fields[1].split(['@', ':']).nth(1).unwrap().parse().unwrap();
            for range in &fields[8..] {
                let (from, to) = range.split_once('-').unwrap_or((range, range));
                if let (Ok(from), Ok(to)) = (from.parse::<u16>(), to.parse::<u16>()) {
                    if (from..=to).contains(&slot) {
                        return port;
                    }
                }
            }
        }
        panic!("no primary holds slot {slot}");
    }

    /// Moves `slot` (with its keys) to the primary on `to`, as `redis-cli --cluster reshard` does for each slot:
    /// IMPORTING / MIGRATING, `MIGRATE` of its keys in batches, then the new owner told to every primary.
    pub fn move_slot(&self, slot: u16, to: u16) {
        let from = self.primary_of_slot(slot);
        assert_ne!(from, to, "slot {slot} is on {to} already");
        let slot = slot.to_string();
        let id = |port: u16| redis_cli(port, &["CLUSTER", "MYID"]).trim().to_owned();
        let (from_id, to_id) = (id(from), id(to));
        assert!(redis_cli(to, &["CLUSTER", "SETSLOT", &slot, "IMPORTING", &from_id]).starts_with("OK"));
        assert!(redis_cli(from, &["CLUSTER", "SETSLOT", &slot, "MIGRATING", &to_id]).starts_with("OK"));
        loop {
            let keys: Vec<String> = redis_cli(from, &["CLUSTER", "GETKEYSINSLOT", &slot, "100"])
                .lines()
                .filter(|k| !k.is_empty())
                .map(str::to_owned)
                .collect();
            if keys.is_empty() {
                break;
            }
            let to_port = to.to_string();
            let mut args = vec!["MIGRATE", "127.0.0.1", to_port.as_str(), "", "0", "5000", "KEYS"];
            args.extend(keys.iter().map(String::as_str));
            let out = redis_cli(from, &args);
            assert!(out.starts_with("OK") || out.starts_with("NOKEY"), "MIGRATE: {out}");
        }
        for port in self.primaries() {
            redis_cli(port, &["CLUSTER", "SETSLOT", &slot, "NODE", &to_id]);
        }
        self.wait_ok();
    }

    /// The keys whose name matches `pattern`, on every primary.
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        let mut keys = Vec::new();
        for port in self.primaries() {
            keys.extend(
                redis_cli(port, &["--scan", "--pattern", pattern]).lines().filter(|k| !k.is_empty()).map(str::to_owned),
            );
        }
        keys
    }

    /// Waits until every running replica is in sync with its primary: only then can it take over.
    pub fn wait_replicas_in_sync(&self) {
        for n in self.running() {
            wait_until(Duration::from_secs(30), || {
                let info = redis_cli(n.port, &["INFO", "replication"]);
                info.contains("role:master") || info.contains("master_link_status:up")
            });
        }
    }

    /// Stops the node on `port` without closing anything (SIGSTOP: a hung process, or a network path that went
    /// silent): its connections stay open and nothing answers. It no longer counts as running; the returned process
    /// is killed when dropped.
    pub fn stop(&mut self, port: u16) -> Stopped {
        let node = self.nodes.iter_mut().find(|n| n.port == port).unwrap();
        let process = node.process.take().expect("the node is running");
        let ok = Command::new("kill").args(["-STOP", &process.id().to_string()]).status().unwrap().success();
        assert!(ok, "SIGSTOP failed");
        Stopped(process)
    }

    /// Starts the killed node on `port` again, with its data and cluster identity (it rejoins; after a failover, as
    /// a replica of the node that took its place).
    pub fn restart(&mut self, port: u16) {
        let node = self.nodes.iter_mut().find(|n| n.port == port).unwrap();
        assert!(node.process.is_none(), "node {port} is running");
        node.process = Some(spawn(port, &node.dir));
        wait_until(Duration::from_secs(10), || redis_cli(port, &["PING"]).starts_with("PONG"));
    }

    /// SIGKILL of the node on `port`.
    pub fn kill9(&mut self, port: u16) {
        let node = self.nodes.iter_mut().find(|n| n.port == port).unwrap();
        if let Some(mut p) = node.process.take() {
            let _ = p.kill();
            let _ = p.wait();
        }
    }

    /// Runs a command on every running primary (one connection each: no cluster routing).
    pub fn on_every_primary(&self, args: &[&str]) -> Vec<String> {
        self.primaries().into_iter().map(|port| redis_cli(port, args)).collect()
    }

    /// Deletes every key matching `pattern` on every primary (a wiped deployment).
    pub fn delete_matching(&self, pattern: &str) {
        for port in self.primaries() {
            for key in redis_cli(port, &["--scan", "--pattern", pattern]).lines().filter(|k| !k.is_empty()) {
                redis_cli(port, &["DEL", key]);
            }
        }
    }

    /// The number of keys on each primary whose name matches `pattern`.
    pub fn keys_per_primary(&self, pattern: &str) -> Vec<usize> {
        self.primaries()
            .into_iter()
            .map(|port| redis_cli(port, &["--scan", "--pattern", pattern]).lines().filter(|k| !k.is_empty()).count())
            .collect()
    }
}

/// A cluster-enabled redis-server on `port` with its files in `dir`.
fn spawn(port: u16, dir: &TempDir) -> std::process::Child {
    Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes"])
        .args(["--appendfsync", "always", "--daemonize", "no", "--logfile", "redis.log"])
        .args(["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout"])
        .arg("1000")
        .args(["--enable-debug-command", "local"])
        // A replica's first sync at once (not after the default 5 s wait for more replicas): a replica that never
        // synced cannot be promoted.
        .args(["--repl-diskless-sync-delay", "0"])
        .arg("--dir")
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server is missing: run scripts/setup.sh (apt-get install redis-server)")
}

fn wait_until(limit: Duration, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < limit, "the Redis Cluster did not get there within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            if let Some(mut p) = n.process.take() {
                let _ = p.kill();
                let _ = p.wait();
            }
        }
    }
}

/// A stopped node's process ([`RedisCluster::stop`]): killed when dropped.
pub struct Stopped(std::process::Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
