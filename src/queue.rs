//! The durable job queue's vocabulary: what a job is, queuing it in the caller's transaction,
//! the wake-up signal and the retry policy. Services write jobs here; `workers` runs them. It
//! must not call a service (that is the workers' dispatch, above every service).
//!
//! - A job is stored (`db::jobs`) in the same transaction as the fact that calls for it, and
//!   only then acknowledged; a crash at any instant loses neither.
//! - Jobs of one order share a serial key: one at a time, oldest first.
//! - Transient failures (5xx, timeouts, connection errors, 429) retry with exponential
//!   backoff and jitter, or at BigCommerce's rate-limit reset time; past `max_age_secs` a job
//!   fails and its order gets a transaction-log entry — but a placement, which keeps trying
//!   (see [`Job::gives_up`]). Permanent failures fail at once (the handler has logged why).
//! - Every job's effect is idempotent, so a job interrupted by a crash simply runs again.

use std::sync::Arc;
use std::time::Duration;

use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::bigcommerce::client::BcError;
use crate::config::JobsSettings;
use crate::db::{self, DbError};
use crate::domain::StoreHash;
use crate::error::AppError;
use crate::sequra::SequraError;

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
    /// Register the store's configuration webhook with seQura's `deployment` (remote
    /// configuration), with that connection's credentials as they are when it runs.
    RegisterRemote { deployment: String },
    /// Delete a registration from seQura's `deployment`: row `id` of
    /// `remote_deregistrations` holds what the call needs, sealed (never this payload).
    DeregisterRemote { id: i64, deployment: String },
}

impl Job {
    /// Whether the job fails for good once it has kept failing past the queue's maximum age.
    /// A placement never does: seQura has decided a payment the BigCommerce order must show
    /// (a shopper charged for an order left Incomplete), and a failed placement is not queued
    /// again by the sweep — so it keeps trying, and the merchant is told once
    /// (`orders::kept_failing`).
    pub fn gives_up(&self) -> bool {
        !matches!(self, Job::PlaceOrder { .. })
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Job::SyncOrder { .. } => "sync_order",
            Job::PlaceOrder { .. } => "place_order",
            Job::Provision => "provision",
            Job::DeliveryReport { .. } => "delivery_report",
            Job::StoreCancelled => "store_cancelled",
            Job::RegisterRemote { .. } => "register_remote",
            Job::DeregisterRemote { .. } => "deregister_remote",
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
            // A deployment's registrations and deletions in the order they were asked for: a
            // disconnect's deletion before a reconnection's registration of the same URL.
            Job::RegisterRemote { deployment } | Job::DeregisterRemote { deployment, .. } => {
                format!("remote:{deployment}")
            }
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
            Job::RegisterRemote { deployment } => format!("remote-register:{deployment}"),
            Job::DeregisterRemote { id, .. } => format!("remote-deregister:{id}"),
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
            // The store's token revoked (an uninstall the app has not heard of yet) or
            // replaced (a reinstall): which, the next try knows. A job uninstalled for good
            // ends unfailed then; one whose token is really broken fails at its maximum age
            // (a placement goes on trying, every `retry_max_ms`, until the store is
            // reinstalled or uninstalled: see `Job::gives_up`).
            BcError::Unauthorized(_) => JobError::retry(e.to_string()),
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

/// The queue's wake-up signal and settings, shared through `AppState`.
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

    /// Waits for the next [`Queue::wake`] (or the one given since the last wait).
    pub async fn woken(&self) {
        self.wake.notified().await;
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
