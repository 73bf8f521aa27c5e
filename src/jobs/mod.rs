//! The durable job queue's runtime: what a job is, queuing it in the caller's transaction,
//! and the workers inside `serve` that run due jobs with retries.
//!
//! - A job is stored (`db::jobs`) in the same transaction as the fact that calls for it, and
//!   only then acknowledged; a crash at any instant loses neither.
//! - Jobs of one order share a serial key: one at a time, oldest first.
//! - Transient failures (5xx, timeouts, connection errors, 429) retry with exponential
//!   backoff and jitter, or at BigCommerce's rate-limit reset time; past `max_age_secs` a job
//!   fails and its order gets a transaction-log entry. Permanent failures fail at once (the
//!   handler has logged why).
//! - Every job's effect is idempotent, so a job interrupted by a crash simply runs again.

use std::sync::Arc;
use std::time::Duration;

use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio::task::JoinSet;

use crate::bigcommerce::client::BcError;
use crate::config::JobsSettings;
use crate::db::{self, DbError};
use crate::domain::StoreHash;
use crate::error::AppError;
use crate::sequra::SequraError;
use crate::state::AppState;

/// A unit of outbound work, stored as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    /// Bring seQura's copy of the order in line with BigCommerce.
    SyncOrder { order_id: u64 },
    /// Give the BigCommerce order seQura's outcome (status, payment method, reference) and
    /// tell seQura the order number: the IPN follow-up.
    PlaceOrder { solicitation_id: i64, order_id: u64 },
    /// Create or repair the store's webhooks, script and App Extension.
    Provision,
    /// Send a claimed day's delivery report.
    DeliveryReport { report_id: i64 },
    /// `store/app/uninstalled`: the store was cancelled.
    StoreCancelled,
}

impl Job {
    pub fn kind(&self) -> &'static str {
        match self {
            Job::SyncOrder { .. } => "sync_order",
            Job::PlaceOrder { .. } => "place_order",
            Job::Provision => "provision",
            Job::DeliveryReport { .. } => "delivery_report",
            Job::StoreCancelled => "store_cancelled",
        }
    }

    /// Jobs about one order run one at a time, in order.
    fn serial_key(&self) -> String {
        match self {
            Job::SyncOrder { order_id } | Job::PlaceOrder { order_id, .. } => {
                format!("order:{order_id}")
            }
            Job::Provision | Job::StoreCancelled => "store".into(),
            Job::DeliveryReport { report_id } => format!("report:{report_id}"),
        }
    }

    /// The same work is queued once while it waits.
    pub fn dedupe_key(&self) -> String {
        match self {
            Job::SyncOrder { order_id } => format!("sync:{order_id}"),
            Job::PlaceOrder {
                solicitation_id, ..
            } => format!("place:{solicitation_id}"),
            Job::Provision => "provision".into(),
            Job::DeliveryReport { report_id } => format!("report:{report_id}"),
            Job::StoreCancelled => "store-cancelled".into(),
        }
    }

    /// The BigCommerce order it concerns, if any.
    pub fn order_id(&self) -> Option<u64> {
        match self {
            Job::SyncOrder { order_id } | Job::PlaceOrder { order_id, .. } => Some(*order_id),
            _ => None,
        }
    }
}

/// Queues `job` for `store` on `conn` (inside the caller's transaction); a pending job doing
/// the same work absorbs it. Returns the job's id. Call [`Queue::wake`] after committing.
pub fn enqueue(conn: &Connection, store: &StoreHash, job: &Job) -> Result<i64, DbError> {
    enqueue_after(conn, store, job, Duration::ZERO)
}

/// Like [`enqueue`], due `delay` from now: a burst of events about one order (BigCommerce
/// sends three for a shipment) then coalesces into one waiting job.
pub fn enqueue_after(
    conn: &Connection,
    store: &StoreHash,
    job: &Job,
    delay: Duration,
) -> Result<i64, DbError> {
    let payload = serde_json::to_string(job).map_err(|e| DbError::Invalid(e.to_string()))?;
    let (id, _) = db::jobs::enqueue(
        conn,
        &db::jobs::NewJob {
            store,
            kind: job.kind(),
            serial_key: &job.serial_key(),
            dedupe_key: &job.dedupe_key(),
            payload: &payload,
            run_at: db::jobs::now_ms() + delay.as_millis() as i64,
        },
    )?;
    Ok(id)
}

/// Why a job did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// May work later: retried with backoff (or after `after`).
    #[error("{reason} (will retry)")]
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    /// Will not work as it is; the handler has recorded why.
    #[error("{0}")]
    Permanent(String),
}

impl JobError {
    pub fn retry(reason: impl Into<String>) -> Self {
        JobError::Retry {
            reason: reason.into(),
            after: None,
        }
    }
}

impl From<BcError> for JobError {
    fn from(e: BcError) -> Self {
        match e {
            BcError::RateLimited { retry_after_ms } => JobError::Retry {
                reason: e.to_string(),
                after: Some(Duration::from_millis(retry_after_ms)),
            },
            BcError::Transient(_) => JobError::retry(e.to_string()),
            other => JobError::Permanent(other.to_string()),
        }
    }
}

impl From<SequraError> for JobError {
    fn from(e: SequraError) -> Self {
        if e.is_transient() {
            JobError::retry(e.to_string())
        } else {
            JobError::Permanent(e.to_string())
        }
    }
}

impl From<DbError> for JobError {
    fn from(e: DbError) -> Self {
        // The database being busy or failing is worth another try.
        JobError::retry(e.to_string())
    }
}

impl From<AppError> for JobError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Busy { retry_after_secs } => JobError::Retry {
                reason: e.to_string(),
                after: Some(Duration::from_secs(retry_after_secs)),
            },
            AppError::Upstream(_) | AppError::TooManyRequests | AppError::Internal(_) => {
                JobError::retry(format!("{e:?}"))
            }
            other => JobError::Permanent(format!("{other:?}")),
        }
    }
}

/// The queue's wake-up signal and settings, shared through [`AppState`].
#[derive(Clone)]
pub struct Queue {
    wake: Arc<Notify>,
    pub settings: Arc<JobsSettings>,
}

impl Queue {
    pub fn new(settings: JobsSettings) -> Self {
        Self {
            wake: Arc::new(Notify::new()),
            settings: Arc::new(settings),
        }
    }

    /// Tells the workers a job was queued.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// How long a running job's claim holds (see [`db::jobs::claim`]).
    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.settings.lease_secs.max(1))
    }

    /// The delay before attempt `attempts + 1`: `base × 2^(attempts − 1)`, capped, with
    /// jitter (50–100 %) so that many failed jobs do not return at the same instant.
    pub fn backoff(&self, attempts: i64, after: Option<Duration>) -> Duration {
        let jitter = 500 + u64::from(rand::random::<u16>()) % 501;
        if let Some(after) = after {
            // The server said when: that, plus up to 10 % so stores do not stampede.
            let ms = after.as_millis() as u64;
            return Duration::from_millis(ms + ms * (jitter - 500) / 5000);
        }
        let exp = attempts.clamp(1, 32) as u32 - 1;
        let ms = self
            .settings
            .retry_base_ms
            .saturating_mul(1u64.checked_shl(exp).unwrap_or(u64::MAX))
            .min(self.settings.retry_max_ms);
        Duration::from_millis(ms * jitter / 1000)
    }
}

/// The workers: claims due jobs and runs up to `workers` at once until `stop` changes.
pub async fn work(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    match state.db.call(|c| db::jobs::reset_interrupted(c)).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(jobs = n, "jobs interrupted by a stop run again"),
        Err(e) => tracing::error!(error = %e, "could not reset interrupted jobs"),
    }
    let workers = state.jobs.settings.workers.max(1);
    let mut running: JoinSet<()> = JoinSet::new();
    loop {
        let free = workers.saturating_sub(running.len());
        let mut claimed = 0;
        if free > 0 {
            // Through the batch writer, like the jobs' outcomes: the queue's writes never
            // wait on each other for SQLite's lock.
            let lease_ms = state.jobs.lease().as_millis() as i64;
            match state
                .db
                .batched(move |c| db::jobs::claim(c, free, lease_ms))
                .await
            {
                Ok(jobs) => {
                    claimed = jobs.len();
                    for job in jobs {
                        let state = state.clone();
                        running.spawn(async move { execute_and_finish(&state, job).await });
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
        // A due job left unclaimed waits behind its order's running job: that job finishing
        // (or a wake-up) ends the wait, not a timer.
        let wait = match state.db.call(|c| db::jobs::next_due(c)).await {
            Ok(Some(due)) if due > db::jobs::now_ms() => {
                (due - db::jobs::now_ms()).clamp(5, 1000) as u64
            }
            _ => 1000,
        };
        tokio::select! {
            _ = state.jobs.wake.notified() => {}
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

async fn execute_and_finish(state: &AppState, job: db::jobs::Job) {
    let parsed: Result<Job, _> = serde_json::from_str(&job.payload);
    // Cut off well within the lease: past it the job is claimable again, and two runs of
    // one job must never overlap.
    let limit = state.jobs.lease() * 4 / 5;
    let outcome = match &parsed {
        Ok(j) => match tokio::time::timeout(limit, execute(state, &job.store, j)).await {
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
            let state = state.clone();
            tokio::spawn(async move {
                if let Err(e) = state.db.batched(move |c| db::jobs::complete(c, id)).await {
                    tracing::error!(job = id, error = %e, "could not record a job's success");
                }
                state.jobs.wake();
            });
            return;
        }
        Err(JobError::Permanent(reason)) => {
            tracing::warn!(job = id, kind = %job.kind, %reason, "job failed");
            state
                .db
                .batched(move |c| db::jobs::fail(c, id, &reason))
                .await
        }
        Err(JobError::Retry { reason, after }) => {
            let age_ms = db::jobs::now_ms() - job.created_at;
            let max_age_ms = state.jobs.settings.max_age_secs.saturating_mul(1000) as i64;
            if age_ms >= max_age_ms {
                tracing::warn!(job = id, kind = %job.kind, %reason, "job gave up");
                if let Ok(j) = &parsed {
                    crate::orders::gave_up(state, &job.store, j, &reason).await;
                }
                state
                    .db
                    .batched(move |c| db::jobs::fail(c, id, &reason))
                    .await
            } else {
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
    if let Err(e) = finish {
        // The job stays `running` and runs again once its lease expires.
        tracing::error!(job = id, error = %e, "could not record a job's outcome");
    }
    state.jobs.wake();
}

async fn execute(state: &AppState, store: &StoreHash, job: &Job) -> Result<(), JobError> {
    match job {
        Job::SyncOrder { order_id } => crate::orders::sync::run(state, store, *order_id).await,
        Job::PlaceOrder {
            solicitation_id, ..
        } => crate::orders::placement::run(state, store, *solicitation_id).await,
        Job::Provision => crate::bigcommerce::lifecycle::provision_store(state, store)
            .await
            .map_err(JobError::from),
        Job::DeliveryReport { report_id } => {
            crate::orders::report::send(state, store, *report_id).await
        }
        Job::StoreCancelled => {
            crate::bigcommerce::lifecycle::forget_store(state, store).await?;
            tracing::info!(
                store_hash = store.as_str(),
                "store cancelled at BigCommerce"
            );
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter() {
        let q = Queue::new(JobsSettings {
            retry_base_ms: 1000,
            retry_max_ms: 10_000,
            ..JobsSettings::default()
        });
        for _ in 0..50 {
            let first = q.backoff(1, None).as_millis();
            assert!((500..=1000).contains(&first), "{first}");
            let third = q.backoff(3, None).as_millis();
            assert!((2000..=4000).contains(&third), "{third}");
            let late = q.backoff(30, None).as_millis();
            assert!((5000..=10_000).contains(&late), "{late}");
        }
    }

    #[test]
    fn backoff_honours_the_servers_reset_time() {
        let q = Queue::new(JobsSettings::default());
        for _ in 0..50 {
            let d = q.backoff(1, Some(Duration::from_millis(3000))).as_millis();
            assert!((3000..=3300).contains(&d), "{d}");
        }
    }

    #[test]
    fn jobs_of_one_order_share_a_serial_key() {
        let sync = Job::SyncOrder { order_id: 7 };
        let place = Job::PlaceOrder {
            solicitation_id: 1,
            order_id: 7,
        };
        assert_eq!(sync.serial_key(), place.serial_key());
        assert_ne!(sync.dedupe_key(), place.dedupe_key());
        let json = serde_json::to_string(&place).unwrap();
        assert_eq!(serde_json::from_str::<Job>(&json).unwrap(), place);
    }
}
