//! Each store's BigCommerce API quota as its last response told it (spec §7: a quota per
//! store per 30 s window, shared by every app of the store), so that anonymous checkout
//! traffic stops short of it and leaves a reserve for the job queue: order placement and sync
//! must not starve behind a flood of `methods` calls.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;

/// The share of a store's window quota that only background work may spend.
pub const RESERVE_PERCENT: u64 = 30;

#[derive(Clone, Copy, Debug)]
struct Reading {
    left: u64,
    quota: u64,
    resets_at: Instant,
}

/// Last readings per store. Bounded by the installed stores: only a store found installed
/// gets an API client.
#[derive(Default)]
pub struct QuotaBook {
    stores: Mutex<HashMap<String, Reading>>,
}

impl QuotaBook {
    /// Records what a response's `X-Rate-Limit-*` headers say; a 429 means nothing is left
    /// until its reset, with or without headers.
    pub fn record(&self, store: &str, status: u16, headers: &HeaderMap, now: Instant) {
        let num = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        let reset_ms = num("X-Rate-Limit-Time-Reset-Ms");
        let reading = match (
            num("X-Rate-Limit-Requests-Left"),
            num("X-Rate-Limit-Requests-Quota"),
        ) {
            (Some(left), Some(quota)) if quota > 0 => Reading {
                left: if status == 429 { 0 } else { left },
                quota,
                resets_at: now + Duration::from_millis(reset_ms.unwrap_or(30_000)),
            },
            _ if status == 429 => Reading {
                left: 0,
                quota: 1,
                resets_at: now
                    + Duration::from_millis(
                        reset_ms
                            .or_else(|| num("X-Retry-After").map(|s| s * 1000))
                            .unwrap_or(30_000),
                    ),
            },
            _ => return,
        };
        let mut stores = self.stores.lock().unwrap_or_else(|p| p.into_inner());
        stores.insert(store.to_string(), reading);
    }

    /// For a shopper's request: `Some(wait)` when the store's quota is down to its reserve
    /// (or spent) until the window resets in `wait`.
    pub fn shopper_must_wait(&self, store: &str, now: Instant) -> Option<Duration> {
        let stores = self.stores.lock().unwrap_or_else(|p| p.into_inner());
        let r = stores.get(store)?;
        if now >= r.resets_at {
            return None;
        }
        (r.left * 100 < r.quota * RESERVE_PERCENT).then(|| r.resets_at - now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(left: u64, quota: u64, reset_ms: u64) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("X-Rate-Limit-Requests-Left", left.into());
        h.insert("X-Rate-Limit-Requests-Quota", quota.into());
        h.insert("X-Rate-Limit-Time-Reset-Ms", reset_ms.into());
        h
    }

    #[test]
    fn shoppers_stop_at_the_reserve_until_the_window_resets() {
        let book = QuotaBook::default();
        let t0 = Instant::now();
        assert_eq!(book.shopper_must_wait("s", t0), None, "nothing known: go");
        book.record("s", 200, &headers(136, 450, 10_000), t0);
        assert_eq!(book.shopper_must_wait("s", t0), None, "30.2% left");
        book.record("s", 200, &headers(134, 450, 10_000), t0);
        assert_eq!(
            book.shopper_must_wait("s", t0),
            Some(Duration::from_secs(10)),
            "29.8% left: the rest is the job queue's"
        );
        assert_eq!(book.shopper_must_wait("other", t0), None, "per store");
        assert_eq!(
            book.shopper_must_wait("s", t0 + Duration::from_secs(10)),
            None
        );
    }

    #[test]
    fn a_429_without_headers_means_wait_thirty_seconds() {
        let book = QuotaBook::default();
        let t0 = Instant::now();
        book.record("s", 429, &HeaderMap::new(), t0);
        assert_eq!(
            book.shopper_must_wait("s", t0),
            Some(Duration::from_secs(30))
        );
        book.record("s", 200, &HeaderMap::new(), t0);
        assert!(
            book.shopper_must_wait("s", t0).is_some(),
            "a headerless answer changes nothing"
        );
    }
}
