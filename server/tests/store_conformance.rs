//! The store contract (`store` module docs), checked unchanged against every backend: the memory store, the
//! embedded store (each store in its own temp dir) and the Redis store (a real `redis-server` started here on a free
//! port with its own temp dir; each store under its own key prefix), and the Redis store on a Redis Cluster (3
//! primaries + 3 replicas started here; every check in turn on one cluster). The checks live in
//! `store::conformance`.
#![allow(clippy::unwrap_used)]
#![cfg(unix)]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use common::process::TempDir;
use common::redis_cluster::RedisCluster;
use common::redis_server::RedisServer;
use typed_eventsource_server::store::conformance::{Backend, CHECKS};
use typed_eventsource_server::store::embedded::EmbeddedStore;
use typed_eventsource_server::store::redis::RedisStore;
use typed_eventsource_server::store::{BoxFuture, Store, StoreOptions};

struct Memory;

impl Backend for Memory {
    fn fresh(&self, options: StoreOptions) -> BoxFuture<'_, Arc<dyn Store>> {
        Box::pin(
            async move { Arc::new(typed_eventsource_server::store::memory::open(options).unwrap()) as Arc<dyn Store> },
        )
    }

    fn reopen(&self, _options: StoreOptions) -> BoxFuture<'_, Option<Arc<dyn Store>>> {
        Box::pin(async { None })
    }

    fn wipe(&self) -> BoxFuture<'_, bool> {
        Box::pin(async { false })
    }

    fn interrupt_live(&self) -> BoxFuture<'_, bool> {
        Box::pin(async { false })
    }
}

/// Every store in a new temp dir; `reopen` opens the last one's again.
#[derive(Default)]
struct Embedded {
    dirs: Mutex<Vec<TempDir>>,
}

impl Backend for Embedded {
    fn fresh(&self, options: StoreOptions) -> BoxFuture<'_, Arc<dyn Store>> {
        Box::pin(async move {
            let dir = TempDir::new("conformance");
            let store = EmbeddedStore::open(dir.path(), options).unwrap();
            self.dirs.lock().unwrap().push(dir);
            Arc::new(store) as Arc<dyn Store>
        })
    }

    fn reopen(&self, options: StoreOptions) -> BoxFuture<'_, Option<Arc<dyn Store>>> {
        Box::pin(async move {
            let path = self.dirs.lock().unwrap().last().unwrap().path().to_owned();
            Some(Arc::new(EmbeddedStore::open(&path, options).unwrap()) as Arc<dyn Store>)
        })
    }

    fn wipe(&self) -> BoxFuture<'_, bool> {
        Box::pin(async { false })
    }

    fn interrupt_live(&self) -> BoxFuture<'_, bool> {
        Box::pin(async { false })
    }
}

/// One redis-server; every store under a new key prefix; `reopen` opens the last prefix again.
struct Redis {
    server: RedisServer,
    prefix: Mutex<String>,
}

impl Redis {
    fn start() -> Self {
        Redis { server: RedisServer::start(), prefix: Mutex::default() }
    }

    async fn open(&self, prefix: &str, options: StoreOptions) -> Arc<dyn Store> {
        Arc::new(RedisStore::open(&self.server.url(), prefix, options).await.unwrap())
    }
}

impl Backend for Redis {
    fn fresh(&self, options: StoreOptions) -> BoxFuture<'_, Arc<dyn Store>> {
        static N: AtomicU64 = AtomicU64::new(0);
        Box::pin(async move {
            let prefix = format!("conf{}:", N.fetch_add(1, Ordering::Relaxed));
            self.prefix.lock().unwrap().clone_from(&prefix);
            self.open(&prefix, options).await
        })
    }

    fn reopen(&self, options: StoreOptions) -> BoxFuture<'_, Option<Arc<dyn Store>>> {
        Box::pin(async move {
            let prefix = self.prefix.lock().unwrap().clone();
            Some(self.open(&prefix, options).await)
        })
    }

    fn wipe(&self) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            let pattern = format!("{}*", self.prefix.lock().unwrap());
            let delete = "for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) end";
            self.server.command(&["EVAL", delete, "0", &pattern]).await;
            true
        })
    }

    fn interrupt_live(&self) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            self.server.command(&["CLIENT", "KILL", "TYPE", "pubsub"]).await;
            true
        })
    }
}

/// One Redis Cluster; every store under a new key prefix (spread over all its slot groups); `reopen` opens the last
/// prefix again.
struct Cluster {
    cluster: RedisCluster,
    prefix: Mutex<String>,
}

impl Cluster {
    async fn open(&self, prefix: &str, options: StoreOptions) -> Arc<dyn Store> {
        Arc::new(RedisStore::open(&self.cluster.urls(), prefix, options).await.unwrap())
    }
}

impl Backend for Cluster {
    fn fresh(&self, options: StoreOptions) -> BoxFuture<'_, Arc<dyn Store>> {
        static N: AtomicU64 = AtomicU64::new(0);
        Box::pin(async move {
            let prefix = format!("cc{}:", N.fetch_add(1, Ordering::Relaxed));
            self.prefix.lock().unwrap().clone_from(&prefix);
            self.open(&prefix, options).await
        })
    }

    fn reopen(&self, options: StoreOptions) -> BoxFuture<'_, Option<Arc<dyn Store>>> {
        Box::pin(async move {
            let prefix = self.prefix.lock().unwrap().clone();
            Some(self.open(&prefix, options).await)
        })
    }

    fn wipe(&self) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            let prefix = self.prefix.lock().unwrap().clone();
            self.cluster.delete_matching(&format!("{prefix}*"));
            true
        })
    }

    fn interrupt_live(&self) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            self.cluster.on_every_primary(&["CLIENT", "KILL", "TYPE", "pubsub"]);
            true
        })
    }
}

/// Every check against a store on a Redis Cluster, one after another on one cluster (it takes seconds to start);
/// the failing check is named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_passes_every_check() {
    let backend = Cluster { cluster: RedisCluster::start(), prefix: Mutex::default() };
    for (name, check) in CHECKS {
        eprintln!("redis cluster: {name}");
        check(&backend).await;
    }
}

/// One test per check and backend (`memory::jobs`, `redis::epochs`, ...), so a failure names both; each Redis test
/// starts its own redis-server.
macro_rules! conformance {
    ($($check:ident),* $(,)?) => {
        /// The checks this file runs: every one of `CHECKS`.
        const LISTED: &[&str] = &[$(stringify!($check)),*];

        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    typed_eventsource_server::store::conformance::$check(&super::Memory).await;
                }
            )*
        }

        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    typed_eventsource_server::store::conformance::$check(&super::Embedded::default()).await;
                }
            )*
        }

        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    typed_eventsource_server::store::conformance::$check(&super::Redis::start()).await;
                }
            )*
        }
    };
}

conformance!(
    positions_increase_per_topic_and_are_unique,
    batch_outcomes_in_order,
    read_after_and_limit,
    retention_by_count,
    retention_by_age,
    retention_by_bytes_per_user_topic,
    user_topics_capped_by_count_and_bytes,
    offline_marks,
    epochs,
    jobs,
    job_leases,
    idempotency_keys,
    live_delivery,
    live_delivery_fills_holes,
    live_delivery_after_unwatch,
);

#[test]
fn every_check_runs_against_every_backend() {
    let all: Vec<&str> = CHECKS.iter().map(|(name, _)| *name).collect();
    assert_eq!(LISTED, all, "list each check of store::conformance::CHECKS in conformance!(...)");
}
