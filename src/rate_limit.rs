//! A fixed-window counter per key (shopper IP, checkout): enough to stop a script hammering
//! the public endpoints, cheap enough for every request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);
/// Above this many keys, expired windows are swept.
const SWEEP_AT: usize = 10_000;

#[derive(Clone, Default)]
pub struct RateLimiter {
    windows: Arc<Mutex<HashMap<String, (Instant, u32)>>>,
}

impl RateLimiter {
    /// Counts one request for `key`; false once more than `per_minute` arrived in the window.
    pub fn allow(&self, key: &str, per_minute: u32) -> bool {
        self.allow_at(key, per_minute, Instant::now())
    }

    fn allow_at(&self, key: &str, per_minute: u32, now: Instant) -> bool {
        let mut w = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if w.len() > SWEEP_AT {
            w.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        }
        let entry = w.entry(key.to_string()).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        entry.1 += 1;
        entry.1 <= per_minute
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_limited_within_its_window_and_free_again_after() {
        let r = RateLimiter::default();
        let t0 = Instant::now();
        assert!((0..3).all(|_| r.allow_at("a", 3, t0)));
        assert!(!r.allow_at("a", 3, t0));
        assert!(r.allow_at("b", 3, t0), "keys are independent");
        assert!(r.allow_at("a", 3, t0 + WINDOW));
    }
}
