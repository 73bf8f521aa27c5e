//! Each store's BigCommerce API quota (spec §7: a quota per store per 30 s window, shared by
//! every app of the store), so that anonymous checkout traffic stops short of it and leaves a
//! reserve for the job queue: order placement and sync must not starve behind a flood of
//! `methods` calls.
//!
//! Every call is counted here before it is sent, so calls in flight are counted too (many
//! concurrent shopper requests all pass a check made only against the last answer). Answers
//! then correct the count downwards only: within a window an answer reflects fewer calls than
//! we have sent, never more, whatever order answers arrive in.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;

/// The share of a store's window quota that only background work may spend.
pub const RESERVE_PERCENT: u64 = 30;
/// BigCommerce's window (spec §7).
const WINDOW: Duration = Duration::from_secs(30);
/// What a store is assumed to have before its first answer: the smallest plan's quota.
const FIRST_GUESS: u64 = 150;

#[derive(Clone, Copy, Debug)]
struct Reading {
    left: u64,
    quota: u64,
    resets_at: Instant,
    /// No answer yet: the numbers are [`FIRST_GUESS`].
    guessed: bool,
}

/// Counts per store. Bounded by the installed stores: only a store found installed gets an
/// API client.
#[derive(Default)]
pub struct QuotaBook {
    stores: Mutex<HashMap<String, Reading>>,
}

impl QuotaBook {
    /// Counts one call about to be sent. A shopper's call is refused instead, with the time
    /// until the window resets, once what is left is down to the reserve.
    pub fn spend(&self, store: &str, for_shopper: bool, now: Instant) -> Result<(), Duration> {
        let mut stores = self.stores.lock().unwrap_or_else(|p| p.into_inner());
        let r = stores.entry(store.to_string()).or_insert(Reading {
            left: FIRST_GUESS,
            quota: FIRST_GUESS,
            resets_at: now + WINDOW,
            guessed: true,
        });
        if now >= r.resets_at {
            // A new window, as far as we can tell until its first answer.
            r.left = r.quota;
            r.resets_at = now + WINDOW;
        }
        if for_shopper && r.left * 100 < r.quota * RESERVE_PERCENT {
            return Err(r.resets_at - now);
        }
        r.left = r.left.saturating_sub(1);
        Ok(())
    }

    /// Takes in what an answer's `X-Rate-Limit-*` headers say; a 429 means nothing is left
    /// until its reset, with or without headers.
    pub fn record(&self, store: &str, status: u16, headers: &HeaderMap, now: Instant) {
        let num = |name: &str| header_number(headers, name);
        let reset = |ms: Option<u64>| now + Duration::from_millis(ms.unwrap_or(30_000));
        let reset_ms = num("X-Rate-Limit-Time-Reset-Ms");
        let (left, quota, resets_at) = match (
            num("X-Rate-Limit-Requests-Left"),
            num("X-Rate-Limit-Requests-Quota"),
        ) {
            (Some(left), Some(quota)) if quota > 0 => {
                (if status == 429 { 0 } else { left }, quota, reset(reset_ms))
            }
            _ if status == 429 => (
                0,
                0,
                reset(reset_ms.or_else(|| num("X-Retry-After").map(|s| s * 1000))),
            ),
            _ => return,
        };
        let mut stores = self.stores.lock().unwrap_or_else(|p| p.into_inner());
        let r = stores.entry(store.to_string()).or_insert(Reading {
            left,
            quota: quota.max(1),
            resets_at,
            guessed: false,
        });
        // The same window with the same quota: our count (calls in flight included) stands
        // unless the answer says less. Otherwise (a new window, a first answer after the
        // guess, a changed plan) the answer is the count.
        let same_window = resets_at <= r.resets_at + Duration::from_secs(1)
            && (quota == 0 || quota == r.quota)
            && !r.guessed;
        r.guessed = false;
        if quota > 0 {
            r.quota = quota;
        }
        if same_window {
            r.left = r.left.min(left);
        } else {
            r.left = left;
            r.resets_at = resets_at;
        }
    }
}

/// A whole-number header of BigCommerce's (`X-Rate-Limit-*`, `X-Retry-After`).
pub fn header_number(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
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
        book.record("s", 200, &headers(135, 450, 10_000), t0);
        assert_eq!(book.spend("s", true, t0), Ok(()), "30 % left");
        assert_eq!(
            book.spend("s", true, t0),
            Err(Duration::from_secs(10)),
            "29.8 % left"
        );
        assert_eq!(
            book.spend("s", false, t0),
            Ok(()),
            "the job queue's reserve"
        );
        assert_eq!(book.spend("other", true, t0), Ok(()), "per store");
        let later = t0 + Duration::from_secs(10);
        assert_eq!(book.spend("s", true, later), Ok(()), "a new window");
    }

    /// Calls in flight count: a hundred concurrent shopper calls leave the reserve alone
    /// although no answer has come back yet.
    #[test]
    fn calls_in_flight_are_counted_before_their_answers() {
        let book = QuotaBook::default();
        let t0 = Instant::now();
        book.record("s", 200, &headers(100, 100, 20_000), t0);
        let sent = (0..100)
            .filter(|_| book.spend("s", true, t0).is_ok())
            .count();
        assert_eq!(sent, 71, "down to 29 of 100");
        // Late answers of earlier calls say more was left: they do not give it back.
        book.record("s", 200, &headers(90, 100, 19_000), t0);
        assert!(book.spend("s", true, t0).is_err());
    }

    #[test]
    fn before_any_answer_a_store_has_the_smallest_plan() {
        let book = QuotaBook::default();
        let t0 = Instant::now();
        let sent = (0..200)
            .filter(|_| book.spend("s", true, t0).is_ok())
            .count();
        assert_eq!(sent, 106, "150 less a 30 % reserve, rounded");
    }

    #[test]
    fn a_429_without_headers_means_wait_thirty_seconds() {
        let book = QuotaBook::default();
        let t0 = Instant::now();
        book.record("s", 429, &HeaderMap::new(), t0);
        assert_eq!(book.spend("s", true, t0), Err(Duration::from_secs(30)));
        book.record("s", 200, &HeaderMap::new(), t0);
        assert!(
            book.spend("s", true, t0).is_err(),
            "a headerless answer changes nothing"
        );
    }
}
