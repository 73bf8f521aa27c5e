//! The machine's clock, as the app reads it: the system's, plus however far it was moved
//! forward. Every time the app stores or compares asks this clock (the queue's due times and
//! leases, sessions, signed payloads' expiry, the reconciliation's cursor, the report's day),
//! so all of it moves together when the machine's clock jumps ahead (a resume from suspend, an
//! NTP step) — or when the simulator makes days pass without waiting for them.
//!
//! Process-wide, like the system clock it stands for (one app per process in production).
//! `SEQURA_BC_CLOCK_AHEAD_MS`, read once at the first look, starts a process that far ahead
//! (what `faketime` does to a whole process): the simulator's restarted app keeps the time the
//! scenario reached. Monotonic windows (rate limits, quotas, timeouts) use `Instant` and are
//! not this clock's business.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicI64, Ordering};

use time::OffsetDateTime;

/// The environment variable that starts the clock ahead (milliseconds).
pub const AHEAD_ENV: &str = "SEQURA_BC_CLOCK_AHEAD_MS";

fn ahead() -> &'static AtomicI64 {
    static AHEAD: OnceLock<AtomicI64> = OnceLock::new();
    AHEAD.get_or_init(|| {
        let start = std::env::var(AHEAD_ENV)
            .ok()
            .and_then(|v| v.trim().parse::<i64>().ok())
            .filter(|ms| *ms >= 0)
            .unwrap_or(0);
        AtomicI64::new(start)
    })
}

/// Now.
pub fn now() -> OffsetDateTime {
    let ms = ahead().load(Ordering::Relaxed);
    OffsetDateTime::now_utc() + time::Duration::milliseconds(ms)
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    (now().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    u64::try_from(now().unix_timestamp()).unwrap_or(0)
}

/// How far ahead of the system clock this clock is (milliseconds).
pub fn ahead_ms() -> i64 {
    ahead().load(Ordering::Relaxed)
}

/// Moves the clock forward by `by`: what the machine's clock jumping ahead does. It never
/// goes back.
pub fn advance(by: std::time::Duration) {
    let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
    ahead().fetch_add(ms, Ordering::Relaxed);
}
