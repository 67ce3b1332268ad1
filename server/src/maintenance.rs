//! Background upkeep, off the publishing path: age retention in small bounded steps (each one short store write,
//! batched with whatever publishers send meanwhile), expiry of finished jobs, dropping live channels nobody listens
//! to, and — while the store is failing — a probe write every second, so `/healthz` and publishing recover by
//! themselves once the disk works again.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::hub::Hub;
use crate::jobs::Jobs;
use crate::store::{Outcome, Write};

/// Time between two retention steps while the store is healthy.
pub const SWEEP_EVERY: Duration = Duration::from_secs(5);
/// Topics visited by one retention step.
pub const SWEEP_BUDGET: usize = 512;
/// Time between two probe writes while the store is failing.
pub const PROBE_EVERY: Duration = Duration::from_secs(1);

/// Runs until `shutdown`.
pub async fn run(hub: Arc<Hub>, jobs: Arc<Jobs>, shutdown: CancellationToken) {
    let mut since_sweep = Duration::ZERO;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(PROBE_EVERY) => {}
        }
        since_sweep += PROBE_EVERY;
        if hub.write_error().is_some() {
            if hub.commit(Write::Probe).await.is_ok() {
                tracing::info!("the store accepts writes again");
            }
            continue;
        }
        if since_sweep < SWEEP_EVERY {
            continue;
        }
        since_sweep = Duration::ZERO;
        hub.prune();
        match sweep(&hub).await {
            Ok((0, 0)) => {}
            Ok((events, topics)) => tracing::debug!(events, topics, "retention removed old events"),
            Err(e) => tracing::warn!(error = %e, "retention step failed"),
        }
        if let Err(e) = jobs.expire().await {
            tracing::warn!(error = %e, "expiring finished jobs failed");
        }
    }
}

/// One retention step: events and topics removed.
pub async fn sweep(hub: &Hub) -> Result<(u64, u64), crate::store::StoreError> {
    match hub.commit(Write::Sweep { budget: SWEEP_BUDGET }).await? {
        Outcome::Swept { events, topics } => Ok((events, topics)),
        _ => Ok((0, 0)),
    }
}
