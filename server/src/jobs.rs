//! Batch jobs (scenario 2): a job publishes its progress to its own topic (`j:<id>`), which keeps the whole job
//! history so a late subscriber sees everything from the start.
//!
//! Per step `i` of `n`: a `message` event with data
//! `{"target": {"db": "<table>", "operation": "READ"|"UPDATE"}, "status": "READY"|"RUNNING"|"DONE",
//! "message": "...", "step": i, "steps": n}`, then a `ping` event with plain text `step i/n`. At the end:
//! `event: ping` / `data: finished`. At most `max_jobs` jobs run at once in the whole store (every instance sharing it:
//! the store admits a job in one conditional write, see [`Write::StartJob`]); finished jobs are kept `job_ttl`, and the
//! one that ended first makes room for a new one when `max_jobs` are kept.
//!
//! Jobs are stored ([`JobRecord`]), so they outlive a restart: a job known before is streamable after (its history
//! is replayed from the store), and a job that was running when the server stopped ends, at the next start, with
//! `event: ping` / `data: interrupted` — a terminal outcome, so a client closes instead of waiting forever.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::clock::now_ms;
use crate::hub::Hub;
use crate::store::{topic, JobRecord, Outcome, Payload, StoreError, Write};

/// Why a job was not started.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The publisher already runs `--max-jobs-per-publisher` jobs.
    #[error("this publisher already has {0} running jobs; try again when one has finished")]
    PublisherBusy(usize),
    /// `--max-jobs` jobs run already (for every server sharing the store).
    #[error(
        "too many running jobs: {0} run already (--max-jobs, for every server sharing the store); try again later"
    )]
    Busy(usize),
    /// The store refused, or the `Idempotency-Key` came with another request.
    #[error(transparent)]
    Publish(#[from] crate::hub::PublishError),
}

impl From<StoreError> for JobError {
    fn from(e: StoreError) -> Self {
        JobError::Publish(e.into())
    }
}

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
/// How long a running job's lease lasts by default; the instance running it renews it every third of that.
pub const LEASE: Duration = Duration::from_secs(15);

/// The jobs of a server: records and histories live in the store, so every instance sharing it can serve them.
#[derive(Debug)]
pub struct Jobs {
    hub: Arc<Hub>,
    max_jobs: usize,
    ttl: Duration,
    lease: Duration,
    counter: AtomicU64,
    seed: RandomState,
    /// Running jobs per publisher, started by this instance.
    running: std::sync::Mutex<HashMap<String, usize>>,
    max_per_publisher: usize,
}

/// One running job of a publisher: gives its slot back when dropped (the job ended, or the server stops).
#[derive(Debug)]
struct Slot {
    jobs: Arc<Jobs>,
    publisher: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut running = self.jobs.running();
        if let Some(n) = running.get_mut(&self.publisher) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                running.remove(&self.publisher);
            }
        }
    }
}

const TABLES: [&str; 3] = ["customers", "orders", "invoices"];

/// The `message` data of step `i` of `n`.
pub fn step_data(i: u64, n: u64) -> String {
    let table = TABLES[usize::try_from(i.saturating_sub(1) % 3).unwrap_or(0)];
    let (operation, message) =
        if i % 2 == 1 { ("READ", "reading database...") } else { ("UPDATE", "updating database...") };
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

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Jobs {
    /// The jobs of `hub`'s store. Jobs that were running when the server stopped end as [`INTERRUPTED`] (their
    /// terminal event is published now): with a store of its own, every job not ended; with a shared store, those
    /// whose lease ran out (see [`Jobs::reap`]).
    pub async fn recover(hub: Arc<Hub>, max_jobs: usize, ttl: Duration, lease: Duration) -> Result<Self, StoreError> {
        let jobs = Jobs {
            hub,
            max_jobs,
            ttl,
            lease,
            counter: AtomicU64::new(0),
            seed: RandomState::new(),
            running: std::sync::Mutex::default(),
            max_per_publisher: usize::MAX,
        };
        let ended = jobs.reap().await?;
        if ended > 0 {
            tracing::info!(jobs = ended, "jobs that were running when their server stopped ended as interrupted");
        }
        Ok(jobs)
    }

    /// Ends as interrupted the running jobs whose server is gone; returns how many. A job ends once, with one
    /// terminal event, even if several instances do this at the same time.
    pub async fn reap(&self) -> Result<usize, StoreError> {
        let now = now_ms();
        // A store of our own: nobody else can be running its jobs. A shared one: only expired leases.
        let only_if_lease_before = self.hub.is_shared().then_some(now);
        let mut ended = 0;
        for job in self.hub.store().jobs().await? {
            if job.ended.is_some() || only_if_lease_before.is_some_and(|t| job.lease_until_ms >= t) {
                continue;
            }
            let write = Write::EndJob { id: job.id.clone(), outcome: INTERRUPTED.into(), only_if_lease_before };
            if let Outcome::Appended { .. } = self.hub.commit(write).await? {
                tracing::info!(job = %job.id, "job ended as interrupted");
                ended += 1;
            }
        }
        Ok(ended)
    }

    /// These jobs with at most `max` running jobs per publisher (see [`Jobs::start`]).
    #[must_use]
    pub fn with_max_per_publisher(mut self, max: usize) -> Self {
        self.max_per_publisher = max.max(1);
        self
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        // Single counter updates: a panic elsewhere cannot leave the map inconsistent.
        self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes one of `publisher`'s job slots, or 429 when all are in use.
    fn take_slot(self: &Arc<Self>, publisher: &str) -> Result<Slot, JobError> {
        let mut running = self.running();
        let n = running.entry(publisher.to_owned()).or_insert(0);
        if *n >= self.max_per_publisher {
            return Err(JobError::PublisherBusy(self.max_per_publisher));
        }
        *n += 1;
        Ok(Slot { jobs: Arc::clone(self), publisher: publisher.to_owned() })
    }

    /// Whether job `id` exists (in this instance's store, whoever created it).
    pub async fn exists(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.record(id).await?.is_some())
    }

    /// Job `id`'s stored record (whoever created it), `None` if there is no such job.
    pub async fn record(&self, id: &str) -> Result<Option<JobRecord>, StoreError> {
        self.hub.store().job(id).await
    }

    fn new_id(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut h = self.seed.build_hasher();
        h.write_u64(n);
        h.write_u64(now_ms());
        format!("{:016x}{:04x}", h.finish(), n & 0xffff)
    }

    fn expired(&self, record: &JobRecord, now: u64) -> bool {
        record.ended.as_ref().is_some_and(|e| now.saturating_sub(e.at_ms) >= ms(self.ttl))
    }

    /// Deletes the jobs that ended more than the TTL ago (record and history).
    pub async fn expire(&self) -> Result<usize, StoreError> {
        let now = now_ms();
        let mut n = 0;
        for job in self.hub.store().jobs().await? {
            if self.expired(&job, now) {
                self.hub.commit(Write::DeleteJob { id: job.id }).await?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Starts a job of `steps` steps, `interval` apart, for `publisher` (429 when it has its maximum of running jobs
    /// on this instance), once its record is stored; 503 when the store runs `max_jobs` jobs already — counted by the
    /// store in the same atomic write that admits the job ([`Write::StartJob`]), so the cap holds for every instance
    /// sharing it. Stops early at `shutdown` (it then ends as interrupted at the next start, or when its lease runs
    /// out).
    pub async fn start(
        self: &Arc<Self>,
        publisher: &str,
        steps: u64,
        interval: Duration,
        shutdown: CancellationToken,
    ) -> Result<String, JobError> {
        Ok(self.start_keyed(publisher, steps, interval, shutdown, None).await?.0)
    }

    /// [`Jobs::start`] under an `Idempotency-Key` (store/idempotency.rs): a key seen within its window answers the
    /// job it created (`true`: nothing was started now).
    pub async fn start_keyed(
        self: &Arc<Self>,
        publisher: &str,
        steps: u64,
        interval: Duration,
        shutdown: CancellationToken,
        key: Option<crate::store::idempotency::Key>,
    ) -> Result<(String, bool), JobError> {
        let slot = self.take_slot(publisher)?;
        let now = now_ms();
        let record = JobRecord {
            id: self.new_id(),
            steps,
            interval_ms: ms(interval),
            created_ms: now,
            ended: None,
            lease_until_ms: now + ms(self.lease),
        };
        let max_running = u64::try_from(self.max_jobs).unwrap_or(u64::MAX);
        let start = Write::StartJob { job: record.clone(), max_running };
        let write = match key {
            Some(key) => Write::Keyed { key, write: Box::new(start) },
            None => start,
        };
        match self.hub.commit(write).await? {
            Outcome::Repeated(first) => {
                crate::metrics::Metrics::inc(&self.hub.metrics().idempotent_replays, 1);
                return Ok((first.data, true));
            }
            Outcome::KeyReused => return Err(crate::hub::PublishError::KeyReused.into()),
            Outcome::Busy => return Err(JobError::Busy(self.max_jobs)),
            _ => {}
        }
        let id = record.id.clone();
        tokio::spawn(Arc::clone(self).run(id.clone(), steps, interval, shutdown, slot));
        Ok((id, false))
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

    /// Waits `interval`, renewing the job's lease whenever a third of it has passed since `renewed` (however short
    /// the interval: a lease must never run out while its job runs); `false` at shutdown.
    async fn wait(
        &self,
        id: &str,
        interval: Duration,
        shutdown: &CancellationToken,
        renewed: &mut tokio::time::Instant,
    ) -> bool {
        let until = tokio::time::Instant::now() + interval;
        loop {
            let now = tokio::time::Instant::now();
            if now >= *renewed + self.lease / 3 {
                *renewed = now;
                let renew = Write::RenewJob { id: id.to_owned(), until_ms: now_ms() + ms(self.lease) };
                if let Err(e) = self.hub.commit(renew).await {
                    tracing::warn!(job = id, error = %e, "job lease not renewed");
                }
            }
            if tokio::time::Instant::now() >= until {
                return true;
            }
            tokio::select! {
                () = shutdown.cancelled() => return false,
                () = tokio::time::sleep_until(until.min(*renewed + self.lease / 3)) => {}
            }
        }
    }

    async fn run(
        self: Arc<Self>,
        id: String,
        steps: u64,
        interval: Duration,
        shutdown: CancellationToken,
        _slot: Slot,
    ) {
        let name = topic::job(&id);
        // The lease was set with the record.
        let mut renewed = tokio::time::Instant::now();
        for i in 1..=steps {
            if !self.wait(&id, interval, &shutdown, &mut renewed).await
                || !self.publish(&name, Payload::new(None, step_data(i, steps)), &shutdown).await
                || !self.publish(&name, Payload::new(Some("ping"), format!("step {i}/{steps}")), &shutdown).await
            {
                return;
            }
        }
        // The terminal event and the job's end in one step.
        let end = Write::EndJob { id: id.clone(), outcome: FINISHED.into(), only_if_lease_before: None };
        loop {
            match self.hub.commit(end.clone()).await {
                Ok(_) => return,
                Err(e) => tracing::warn!(job = %id, error = %e, "job end not stored; trying again"),
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(RETRY) => {}
            }
        }
    }
}
