//! The job queue's workers inside `serve`: they claim due jobs, run each through the service
//! that owns it, and record the outcome (done, retry with backoff, failed).
//!
//! Layer: top, beside `web` and `startup`: the only place that dispatches a job to a service.

use std::time::Duration;

use tokio::task::JoinSet;
use tracing::Instrument;

use crate::db;
use crate::domain::StoreHash;
use crate::queue::{Job, JobError};
use crate::state::AppState;

/// The workers: claims due jobs and runs up to `workers` at once until `stop` changes.
pub async fn work(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    match state.db.call(|c| db::jobs::reset_interrupted(c)).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(jobs = n, "jobs interrupted by a stop run again"),
        Err(e) => tracing::error!(error = %e, "could not reset interrupted jobs"),
    }
    let workers = state.jobs.settings.workers.max(1);
    let mut running: JoinSet<()> = JoinSet::new();
    // The jobs this process runs or is recording the outcome of: their leases are not for
    // another claim to take (the wall clock may jump past them).
    let in_flight = InFlight::default();
    loop {
        let free = workers.saturating_sub(running.len());
        let mut claimed = 0;
        if free > 0 {
            // Through the batch writer, like the jobs' outcomes: the queue's writes never
            // wait on each other for SQLite's lock.
            let lease_ms = state.jobs.lease().as_millis() as i64;
            let held = in_flight.ids();
            match state
                .db
                .batched(move |c| db::jobs::claim(c, free, lease_ms, &held))
                .await
            {
                Ok(jobs) => {
                    claimed = jobs.len();
                    for job in jobs {
                        let (state, claim) = (state.clone(), in_flight.claim(job.id));
                        let span = crate::telemetry::store_span(&state.log_tag, &job.store);
                        running.spawn(
                            async move { execute_and_finish(&state, job, claim).await }
                                .instrument(span),
                        );
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not claim jobs"),
            }
        }
        if claimed > 0 && claimed == free {
            // Maybe more are due; but first let one finish.
            tokio::select! {
                _ = running.join_next() => {}
                _ = stop.changed() => break,
            }
            continue;
        }
        if claimed > 0 {
            continue;
        }
        // A due job left unclaimed waits behind its order's running job (that job finishing,
        // or a wake-up, ends the wait) or behind an earlier job of its order not yet due (a
        // debounced sync before a placement): the first job to fall due ends the wait.
        let wait = match state.db.call(|c| db::jobs::next_due(c)).await {
            Ok(Some(due)) => (due - db::jobs::now_ms()).clamp(5, 1000) as u64,
            _ => 1000,
        };
        tokio::select! {
            _ = state.jobs.woken() => {}
            // The clock jumped (the machine's, or the simulator's): a job may be due now.
            _ = crate::clock::jumped() => {}
            Some(_) = running.join_next(), if !running.is_empty() => {}
            _ = tokio::time::sleep(Duration::from_millis(wait)) => {}
            _ = stop.changed() => break,
        }
    }
    // Let running jobs finish briefly; any cut short run again at the next start.
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while running.join_next().await.is_some() {}
    })
    .await;
}

/// The ids of the jobs in flight in this process.
#[derive(Clone, Default)]
struct InFlight(std::sync::Arc<std::sync::Mutex<std::collections::HashSet<i64>>>);

impl InFlight {
    fn ids(&self) -> Vec<i64> {
        self.lock().iter().copied().collect()
    }
    /// The job is in flight until what this returns is dropped: when its outcome is
    /// recorded, or when its task ends any other way (a panic), so that its lease can expire
    /// and its order's later jobs are not held for ever.
    fn claim(&self, id: i64) -> Claim {
        self.lock().insert(id);
        Claim {
            id,
            in_flight: self.clone(),
        }
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<i64>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One job in flight (see [`InFlight::claim`]).
struct Claim {
    id: i64,
    in_flight: InFlight,
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.in_flight.lock().remove(&self.id);
    }
}

async fn execute_and_finish(state: &AppState, job: db::jobs::Job, claim: Claim) {
    let parsed: Result<Job, _> = serde_json::from_str(&job.payload);
    // Cut off well within the lease: past it the job is claimable again, and two runs of
    // one job must never overlap.
    let limit = state.jobs.lease() * 4 / 5;
    let outcome = match &parsed {
        Ok(j) => match tokio::time::timeout(limit, caught(execute(state, &job.store, j))).await {
            Ok(outcome) => outcome,
            Err(_) => Err(JobError::retry(format!("took longer than {limit:?}"))),
        },
        Err(e) => Err(JobError::Permanent(format!("unreadable job: {e}"))),
    };
    let id = job.id;
    let finish = match outcome {
        // Outcomes go through the batch writer: many jobs finishing together share a commit.
        // The worker does not wait for a success to be committed: until it is, the job stays
        // `running`, so nothing after it in its order starts, and a crash before it only
        // runs the (idempotent) job again.
        Ok(()) => {
            crate::metrics::job(&job.kind, "done");
            let state = state.clone();
            tokio::spawn(
                async move {
                    if let Err(e) = state.db.batched(move |c| db::jobs::complete(c, id)).await {
                        tracing::error!(job = id, error = %e, "could not record a job's success");
                    }
                    drop(claim);
                    state.jobs.wake();
                }
                .in_current_span(),
            );
            return;
        }
        Err(JobError::Permanent(reason)) => {
            crate::metrics::job(&job.kind, "failed");
            tracing::warn!(job = id, kind = %job.kind, %reason, "job failed");
            state
                .db
                .batched(move |c| db::jobs::fail(c, id, &reason))
                .await
        }
        Err(JobError::Retry { reason, after }) => {
            let age_ms = db::jobs::now_ms() - job.created_at;
            let max_age_ms = state.jobs.settings.max_age_secs.saturating_mul(1000) as i64;
            let too_old = age_ms >= max_age_ms;
            let keeps_trying = parsed.as_ref().is_ok_and(|j| !j.gives_up());
            if too_old && let Ok(j) = &parsed {
                crate::orders::kept_failing(state, &job.store, j, &reason).await;
            }
            if too_old && !keeps_trying {
                crate::metrics::job(&job.kind, "gave_up");
                tracing::warn!(job = id, kind = %job.kind, %reason, "job gave up");
                state
                    .db
                    .batched(move |c| db::jobs::fail(c, id, &reason))
                    .await
            } else {
                crate::metrics::job(&job.kind, "retry");
                let delay = state.jobs.backoff(job.attempts, after);
                tracing::info!(job = id, kind = %job.kind, attempts = job.attempts,
                    delay_ms = delay.as_millis() as u64, %reason, "job will retry");
                let run_at = db::jobs::now_ms() + delay.as_millis() as i64;
                state
                    .db
                    .batched(move |c| db::jobs::retry_at(c, id, run_at, &reason))
                    .await
            }
        }
    };
    drop(claim);
    if let Err(e) = finish {
        // The job stays `running` and runs again once its lease expires.
        tracing::error!(job = id, error = %e, "could not record a job's outcome");
    }
    state.jobs.wake();
}

/// A job whose run panics (a bug) is retried with backoff like any failure, and given up
/// (the merchant told) past the queue's age: left `running`, it would be claimed again after
/// every lease, for ever, and its order's later jobs held behind it.
async fn caught(
    run: impl std::future::Future<Output = Result<(), JobError>>,
) -> Result<(), JobError> {
    use futures_util::FutureExt;
    std::panic::AssertUnwindSafe(run)
        .catch_unwind()
        .await
        .unwrap_or_else(|_| Err(JobError::retry("the job stopped on an internal error")))
}

async fn execute(state: &AppState, store: &StoreHash, job: &Job) -> Result<(), JobError> {
    match job {
        Job::SyncOrder { order_id } => crate::orders::sync::run(state, store, *order_id).await,
        Job::PlaceOrder {
            solicitation_id, ..
        } => crate::orders::placement::run(state, store, *solicitation_id).await,
        Job::Provision => crate::stores::lifecycle::provision_store(state, store)
            .await
            .map_err(JobError::from),
        Job::DeliveryReport { report_id } => {
            crate::orders::report::send(state, store, *report_id).await
        }
        Job::StoreCancelled => {
            crate::stores::lifecycle::forget_store(state, store).await?;
            tracing::info!(
                store_hash = store.as_str(),
                "store cancelled at BigCommerce"
            );
            Ok(())
        }
        Job::RegisterRemote { deployment } => {
            crate::remote::registrar::register(state, store, deployment).await
        }
        Job::DeregisterRemote { id, .. } => {
            crate::remote::registrar::deregister(state, store, *id).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run that panics ends as a failure to retry, recorded like any other.
    #[tokio::test]
    async fn a_job_that_panics_is_a_failure_to_retry() {
        let outcome = caught(async { panic!("a bug in a job") }).await;
        assert!(
            matches!(outcome, Err(JobError::Retry { .. })),
            "{outcome:?}"
        );
        assert_eq!(caught(async { Ok(()) }).await, Ok(()));
    }

    /// A job whose task panics is no longer in flight: its lease can expire and its order's
    /// later jobs run (until the next start they were held for good).
    #[tokio::test]
    async fn a_job_whose_task_panicked_is_no_longer_in_flight() {
        let in_flight = InFlight::default();
        let claim = in_flight.claim(7);
        let ended = tokio::spawn(async move {
            let _claim = claim;
            panic!("a bug in a job");
        })
        .await;
        assert!(ended.is_err());
        assert!(in_flight.ids().is_empty(), "{:?}", in_flight.ids());
    }
}
