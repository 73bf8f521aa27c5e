//! The machine's clock, as the app reads it: the system's, plus however far it was moved
//! forward. Every time the app stores or compares asks this clock (the queue's due times and
//! leases, sessions, signed payloads' expiry, the reconciliation's cursor, the report's day),
//! so all of it moves together when the machine's clock jumps ahead (a resume from suspend, an
//! NTP step) — or when the simulator makes days pass without waiting for them.
//!
//! Process-wide, like the system clock it stands for (one app per process in production).
//! `SEQURA_BC_CLOCK_AHEAD_MS`, read once at the first look, starts a process that far ahead
//! (what `faketime` does to a whole process): the simulator's restarted app keeps the time the
//! scenario reached. Windows measured on a monotonic clock (rate limits, BigCommerce's quota
//! window) read [`instant`], the monotonic clock moved as far: a window ends when the clock
//! jumps past it, so the simulator makes a 30-second window pass without waiting for it.
//! Timeouts of I/O (a request, a lease's cut-off) stay on the system's clocks.
//!
//! `SEQURA_BC_CLOCK_FILE` names a file holding how far ahead (milliseconds) the clock should
//! be: a process started with it moves its clock there on SIGUSR1 ([`follow_file`]), so the
//! simulator can make time pass for an app in a process of its own without restarting it.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use tokio::sync::Notify;

/// The environment variable that starts the clock ahead (milliseconds).
pub const AHEAD_ENV: &str = "SEQURA_BC_CLOCK_AHEAD_MS";
/// The environment variable naming the file [`follow_file`] reads on SIGUSR1.
pub const FILE_ENV: &str = "SEQURA_BC_CLOCK_FILE";

/// The furthest the clock goes ahead: ten years, well inside every date type the app uses.
const MAX_AHEAD_MS: i64 = 10 * 366 * 24 * 3600 * 1000;

fn ahead() -> &'static AtomicI64 {
    static AHEAD: OnceLock<AtomicI64> = OnceLock::new();
    AHEAD.get_or_init(|| {
        let set = std::env::var(AHEAD_ENV).ok();
        let start = set
            .as_deref()
            .and_then(|v| v.trim().parse::<i64>().ok())
            .filter(|ms| (0..=MAX_AHEAD_MS).contains(ms));
        // Only the simulator means to set it: an operator who finds every date skewed must
        // be able to see why.
        match (&set, start) {
            (None, _) => {}
            (Some(_), Some(ms)) => {
                tracing::warn!(env = AHEAD_ENV, ahead_ms = ms, "the app's clock runs ahead")
            }
            (Some(_), None) => {
                tracing::warn!(
                    env = AHEAD_ENV,
                    "ignored: not a number of milliseconds up to ten years"
                )
            }
        }
        AtomicI64::new(start.unwrap_or(0))
    })
}

/// Now.
pub fn now() -> OffsetDateTime {
    let ms = ahead().load(Ordering::Relaxed);
    let system = OffsetDateTime::now_utc();
    system
        .checked_add(time::Duration::milliseconds(ms))
        .unwrap_or(system)
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

/// The monotonic clock moved as far as this one: for windows that must end when time
/// jumps ahead (see the module's doc). Never goes back.
pub fn instant() -> Instant {
    let ahead = u64::try_from(ahead_ms()).unwrap_or(0);
    Instant::now() + Duration::from_millis(ahead)
}

fn jumps() -> &'static Notify {
    static JUMPS: Notify = Notify::const_new();
    &JUMPS
}

/// Resolves at the clock's next jump ahead: a task waiting for a time on this clock (the
/// queue's next due job) looks again.
pub async fn jumped() {
    jumps().notified().await;
}

/// Moves the clock forward by `by`: what the machine's clock jumping ahead does. It never
/// goes back, nor further than ten years ahead.
pub fn advance(by: std::time::Duration) {
    let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
    let _ = ahead().fetch_update(Ordering::Relaxed, Ordering::Relaxed, |at| {
        Some(moved(at, ms))
    });
    jumps().notify_waiters();
}

/// Moves the clock forward to `ms` ahead of the system's (never back).
pub fn advance_to(ms: i64) {
    let by = ms.saturating_sub(ahead_ms()).max(0);
    advance(Duration::from_millis(by as u64));
}

/// With [`FILE_ENV`] set: on every SIGUSR1, moves the clock to what the file says (the
/// simulator's app in a process of its own). The signal's handler is in place when this
/// returns (SIGUSR1 would end a process without one), so call it before the app listens.
/// Without the variable, or off Unix, the future never resolves.
pub fn follow_file() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    let Some(path) = std::env::var_os(FILE_ENV) else {
        return Box::pin(std::future::pending());
    };
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut usr1) = signal(SignalKind::user_defined1()) else {
            return Box::pin(std::future::pending());
        };
        tracing::warn!(env = FILE_ENV, "the app's clock follows a file");
        Box::pin(async move {
            while usr1.recv().await.is_some() {
                let read = std::fs::read_to_string(&path).ok();
                match read
                    .as_deref()
                    .map(str::trim)
                    .and_then(|v| v.parse::<i64>().ok())
                {
                    Some(ms) if (0..=MAX_AHEAD_MS).contains(&ms) => {
                        advance_to(ms);
                        // Whoever moved the file's clock waits to see it moved here too.
                        let mut seen = path.clone();
                        seen.push(".seen");
                        let _ = std::fs::write(seen, ms.to_string());
                    }
                    _ => tracing::warn!(env = FILE_ENV, "ignored: not a number of milliseconds"),
                }
            }
        })
    }
    #[cfg(not(unix))]
    Box::pin(std::future::pending())
}

fn moved(at: i64, by_ms: i64) -> i64 {
    at.saturating_add(by_ms).min(MAX_AHEAD_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_never_runs_past_ten_years_ahead() {
        assert_eq!(moved(5, 10), 15);
        assert_eq!(moved(MAX_AHEAD_MS - 1, i64::MAX), MAX_AHEAD_MS);
    }
}
