//! Batch jobs (scenario 2): a job publishes its progress to its own topic (`j:<id>`), which keeps the whole job
//! history so a late subscriber sees everything from the start.
//!
//! Per step `i` of `n`: a `message` event with data
//! `{"target": {"db": "<table>", "operation": "READ"|"UPDATE"}, "status": "READY"|"RUNNING"|"DONE",
//! "message": "...", "step": i, "steps": n}`, then a `ping` event with plain text `step i/n`. At the end:
//! `event: ping` / `data: finished`. Jobs are kept at most `max_jobs` at once and `job_ttl` after they finish.
//!
//! Jobs are stored ([`JobRecord`]), so they outlive a restart: a job known before is streamable after (its history
//! is replayed from the store), and a job that was running when the server stopped ends, at the next start, with
//! `event: ping` / `data: interrupted` — a terminal outcome, so a client closes instead of waiting forever.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::error::AppError;
use crate::hub::Hub;
use crate::store::{now_ms, topic, JobEnd, JobRecord, Payload, StoreError, Write};

/// Most steps a job may have.
pub const MAX_STEPS: u64 = 1000;
/// Longest interval between steps, in milliseconds.
pub const MAX_INTERVAL_MS: u64 = 60_000;
/// The data of the terminal `ping` of a job that ran to its end.
pub const FINISHED: &str = "finished";
/// The data of the terminal `ping` of a job that was running when the server stopped.
pub const INTERRUPTED: &str = "interrupted";
/// How long a job waits before trying again when the store refuses its progress.
const RETRY: Duration = Duration::from_millis(500);

/// The jobs of a server.
#[derive(Debug)]
pub struct Jobs {
    jobs: Mutex<HashMap<String, JobRecord>>,
    hub: Arc<Hub>,
    max_jobs: usize,
    ttl: Duration,
    counter: AtomicU64,
    seed: RandomState,
}

const TABLES: [&str; 3] = ["customers", "orders", "invoices"];

/// The `message` data of step `i` of `n`.
pub fn step_data(i: u64, n: u64) -> String {
    let table = TABLES[usize::try_from(i.saturating_sub(1) % 3).unwrap_or(0)];
    let (operation, message) = if i % 2 == 1 { ("READ", "reading database...") } else { ("UPDATE", "updating database...") };
    let status = if i == n {
        "DONE"
    } else if i == 1 {
        "READY"
    } else {
        "RUNNING"
    };
    serde_json::json!({
        "target": { "db": table, "operation": operation },
        "status": status,
        "message": message,
        "step": i,
        "steps": n,
    })
    .to_string()
}

impl Jobs {
    /// The jobs stored in `hub`'s store; jobs that were running when the server stopped are ended as
    /// [`INTERRUPTED`] (their terminal event is published now).
    pub async fn recover(hub: Arc<Hub>, max_jobs: usize, ttl: Duration) -> Result<Self, StoreError> {
        let mut jobs = HashMap::new();
        for mut record in hub.store().jobs().await? {
            if record.ended.is_none() {
                let name = topic::job(&record.id);
                hub.publish(&name, Payload::new(Some("ping"), INTERRUPTED)).await.map_err(|e| match e {
                    crate::hub::PublishError::Store(e) => e,
                    crate::hub::PublishError::Encode(e) => StoreError::Invalid(e.to_string()),
                })?;
                record.ended = Some(JobEnd { at_ms: now_ms(), outcome: INTERRUPTED.into() });
                hub.commit(Write::PutJob(record.clone())).await?;
                tracing::info!(job = %record.id, "job was running when the server stopped: ended as interrupted");
            }
            jobs.insert(record.id.clone(), record);
        }
        Ok(Jobs { jobs: Mutex::new(jobs), hub, max_jobs, ttl, counter: AtomicU64::new(0), seed: RandomState::new() })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, JobRecord>> {
        self.jobs.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether job `id` is kept.
    pub fn exists(&self, id: &str) -> bool {
        self.lock().contains_key(id)
    }

    /// The record of job `id`.
    pub fn get(&self, id: &str) -> Option<JobRecord> {
        self.lock().get(id).cloned()
    }

    fn new_id(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut h = self.seed.build_hasher();
        h.write_u64(n);
        h.write_u64(now_ms());
        format!("{:016x}{:04x}", h.finish(), n & 0xffff)
    }

    fn expired(&self, record: &JobRecord, now: u64) -> bool {
        let ttl = u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX);
        record.ended.as_ref().is_some_and(|e| now.saturating_sub(e.at_ms) >= ttl)
    }

    /// Deletes the jobs that ended more than the TTL ago (record and history).
    pub async fn expire(&self) -> Result<usize, StoreError> {
        let now = now_ms();
        let ids: Vec<String> = self.lock().values().filter(|r| self.expired(r, now)).map(|r| r.id.clone()).collect();
        for id in &ids {
            self.hub.commit(Write::DeleteJob { id: id.clone() }).await?;
            self.lock().remove(id);
        }
        Ok(ids.len())
    }

    /// Starts a job of `steps` steps, `interval` apart, once its record is stored; stops early at `shutdown` (the
    /// next start ends it as interrupted).
    pub async fn start(self: &Arc<Self>, steps: u64, interval: Duration, shutdown: CancellationToken) -> Result<String, AppError> {
        self.expire().await?;
        let evict = {
            let jobs = self.lock();
            if jobs.len() >= self.max_jobs {
                let oldest_ended = jobs.values().filter(|r| r.ended.is_some()).min_by_key(|r| r.created_ms).map(|r| r.id.clone());
                match oldest_ended {
                    Some(id) => Some(id),
                    None => return Err(AppError::Unavailable("too many running jobs, try again later".into())),
                }
            } else {
                None
            }
        };
        if let Some(id) = evict {
            self.hub.commit(Write::DeleteJob { id: id.clone() }).await?;
            self.lock().remove(&id);
        }
        let interval_ms = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX);
        let record = JobRecord { id: self.new_id(), steps, interval_ms, created_ms: now_ms(), ended: None };
        self.hub.commit(Write::PutJob(record.clone())).await?;
        let id = record.id.clone();
        self.lock().insert(id.clone(), record);
        tokio::spawn(Arc::clone(self).run(id.clone(), steps, interval, shutdown));
        Ok(id)
    }

    /// Publishes `payload` to the job's topic, trying again while the store refuses; `false` at shutdown.
    async fn publish(&self, name: &str, payload: Payload, shutdown: &CancellationToken) -> bool {
        loop {
            match self.hub.publish(name, payload.clone()).await {
                Ok(_) => return true,
                Err(e) => tracing::warn!(topic = name, error = %e, "job progress not stored; trying again"),
            }
            tokio::select! {
                () = shutdown.cancelled() => return false,
                () = tokio::time::sleep(RETRY) => {}
            }
        }
    }

    async fn run(self: Arc<Self>, id: String, steps: u64, interval: Duration, shutdown: CancellationToken) {
        let name = topic::job(&id);
        for i in 1..=steps {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(interval) => {}
            }
            if !self.publish(&name, Payload::new(None, step_data(i, steps)), &shutdown).await
                || !self.publish(&name, Payload::new(Some("ping"), format!("step {i}/{steps}")), &shutdown).await
            {
                return;
            }
        }
        if !self.publish(&name, Payload::new(Some("ping"), FINISHED), &shutdown).await {
            return;
        }
        let Some(mut record) = self.get(&id) else { return };
        record.ended = Some(JobEnd { at_ms: now_ms(), outcome: FINISHED.into() });
        loop {
            match self.hub.commit(Write::PutJob(record.clone())).await {
                Ok(_) => break,
                Err(e) => tracing::warn!(job = %id, error = %e, "job end not stored; trying again"),
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(RETRY) => {}
            }
        }
        self.lock().insert(id, record);
    }
}
