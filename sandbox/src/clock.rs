//! The stand-ins' clock: the system's, plus however far a test moved it forward, so that the
//! services' time passes with the app's when a simulation makes days go by without waiting
//! (BigCommerce's modification dates and signed payloads, seQura's campaigns and forms).
//! Process-wide, like the clock it stands for. [`instant`] is the monotonic clock moved as
//! far, for the services' windows and delays (BigCommerce's rate window, its webhook retries),
//! which end when the clock jumps past them; [`jumped`] wakes whoever waits for one.

use std::sync::atomic::{AtomicI64, Ordering};

use std::time::{Duration, Instant};

use time::OffsetDateTime;
use tokio::sync::Notify;

static AHEAD_MS: AtomicI64 = AtomicI64::new(0);

/// Now, by the services.
pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc() + time::Duration::milliseconds(AHEAD_MS.load(Ordering::Relaxed))
}

/// Moves the services' clock forward by `by` (it never goes back).
pub fn advance(by: std::time::Duration) {
    let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
    AHEAD_MS.fetch_add(ms, Ordering::Relaxed);
    JUMPS.notify_waiters();
}

static JUMPS: Notify = Notify::const_new();

/// The monotonic clock, moved as far as the services' clock.
pub fn instant() -> Instant {
    let ahead = u64::try_from(AHEAD_MS.load(Ordering::Relaxed)).unwrap_or(0);
    Instant::now() + Duration::from_millis(ahead)
}

/// Resolves at the clock's next jump ahead.
pub async fn jumped() {
    JUMPS.notified().await;
}
