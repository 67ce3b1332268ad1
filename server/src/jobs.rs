//! Batch jobs (scenario 2): a job publishes its progress to its own topic, which keeps the whole job history so a
//! late subscriber sees everything from the start.
//!
//! Per step `i` of `n`: a `message` event with data
//! `{"target": {"db": "<table>", "operation": "READ"|"UPDATE"}, "status": "READY"|"RUNNING"|"DONE",
//! "message": "...", "step": i, "steps": n}`, then a `ping` event with plain text `step i/n`. At the end:
//! `event: ping` / `data: finished`. Jobs are kept at most `max_jobs` at once and `job_ttl` after they finish.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::AppError;
use crate::hub::Topic;
use crate::metrics::Metrics;

/// Most steps a job may have.
pub const MAX_STEPS: u64 = 1000;
/// Longest interval between steps, in milliseconds.
pub const MAX_INTERVAL_MS: u64 = 60_000;

/// One job: its topic and when it finished.
#[derive(Debug)]
pub struct Job {
    /// The job's events.
    pub topic: Arc<Topic>,
    created: Instant,
    finished: Mutex<Option<Instant>>,
}

/// The jobs of a server.
#[derive(Debug)]
pub struct Jobs {
    jobs: Mutex<HashMap<String, Arc<Job>>>,
    max_jobs: usize,
    ttl: Duration,
    buffer: usize,
    metrics: Arc<Metrics>,
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
    /// An empty registry.
    pub fn new(max_jobs: usize, ttl: Duration, buffer: usize, metrics: Arc<Metrics>) -> Self {
        Jobs {
            jobs: Mutex::new(HashMap::new()),
            max_jobs,
            ttl,
            buffer,
            metrics,
            counter: AtomicU64::new(0),
            seed: RandomState::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Job>>> {
        self.jobs.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The job `id`, if kept.
    pub fn get(&self, id: &str) -> Option<Arc<Job>> {
        self.lock().get(id).cloned()
    }

    fn new_id(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut h = self.seed.build_hasher();
        h.write_u64(n);
        format!("{:016x}{:04x}", h.finish(), n & 0xffff)
    }

    /// Starts a job of `steps` steps, `interval` apart; ends early at `shutdown`.
    pub fn start(&self, steps: u64, interval: Duration, shutdown: CancellationToken) -> Result<String, AppError> {
        let now = Instant::now();
        let mut jobs = self.lock();
        let ttl = self.ttl;
        let finished_at = |j: &Job| *j.finished.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        jobs.retain(|_, j| finished_at(j).is_none_or(|t| now.duration_since(t) < ttl));
        if jobs.len() >= self.max_jobs {
            let oldest_finished = jobs
                .iter()
                .filter(|(_, j)| finished_at(j).is_some())
                .min_by_key(|(_, j)| j.created)
                .map(|(id, _)| id.clone());
            match oldest_finished {
                Some(id) => {
                    jobs.remove(&id);
                }
                None => return Err(AppError::Unavailable("too many running jobs, try again later".into())),
            }
        }
        let history = usize::try_from(steps * 2 + 1).unwrap_or(usize::MAX);
        let topic = Arc::new(Topic::new(history, self.buffer.min(256), Arc::clone(&self.metrics)));
        let job = Arc::new(Job { topic, created: now, finished: Mutex::new(None) });
        let id = self.new_id();
        jobs.insert(id.clone(), Arc::clone(&job));
        drop(jobs);
        tokio::spawn(run(job, steps, interval, shutdown));
        Ok(id)
    }
}

async fn run(job: Arc<Job>, steps: u64, interval: Duration, shutdown: CancellationToken) {
    for i in 1..=steps {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
        // Names and data are fixed and valid; publishing cannot fail.
        let _ = job.topic.publish(None, &step_data(i, steps));
        let _ = job.topic.publish(Some("ping"), &format!("step {i}/{steps}"));
    }
    let _ = job.topic.publish(Some("ping"), "finished");
    *job.finished.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Instant::now());
}
