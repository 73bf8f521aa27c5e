//! Each store's BigCommerce API quota (spec §7: a quota per store per 30 s window, shared by
//! every app of the store), so that anonymous checkout traffic stops short of it and leaves a
//! reserve for the job queue: order placement and sync must not starve behind a flood of
//! `methods` calls.
//!
//! The shoppers' share is split too, so that no anonymous caller can spend it for the others
//! (issue 31, 1.3): one caller (an IPv4 address or an IPv6 /64) may spend a quarter of it in a
//! window, and lookups of checkout ids not yet seen to exist (what a flood of made-up ids
//! costs) may spend half of it from all callers together and an eighth of that per caller.
//! Calls about a checkout already seen draw on the rest, so a shopper past the first lookup
//! is served whatever the number of addresses flooding.
//!
//! Addresses come in blocks an attacker gets at once (an IPv6 /48 holds 65 536 /64s and is
//! handed out free; an IPv4 /24 is one rented range), so each caller's block
//! ([`crate::domain::caller_block`]) is counted too: all the callers of a block together may
//! spend only what two callers may, in all and on unseen ids. Two, not one: a block also
//! holds honest neighbours (an office, a carrier's address pool) whose new shoppers must not
//! be refused for one another; and however many /64s an attacker's /48 holds, it spends no
//! more than two of them.
//!
//! Every call is counted here before it is sent, so calls in flight are counted too (many
//! concurrent shopper requests all pass a check made only against the last answer). Answers
//! then correct the count downwards only: within a window an answer reflects fewer calls than
//! we have sent, never more, whatever order answers arrive in.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;

use crate::rate_limit::RateLimiter;

/// The share of a store's window quota that only background work may spend.
pub const RESERVE_PERCENT: u64 = 30;
/// One caller may spend 1/this of the shoppers' share in a window.
const CALLER_DIVISOR: u64 = 4;
/// Lookups of unseen checkout ids may spend 1/this of the shoppers' share in a window...
const UNSEEN_DIVISOR: u64 = 2;
/// ...and one caller 1/this of that.
const CALLER_UNSEEN_DIVISOR: u64 = 8;
/// One block of callers may spend what this many callers may.
const BLOCK_CALLERS: u64 = 2;
/// Callers counted at once (a fixed table: made-up addresses never grow it).
const CALLERS: usize = 64 * 1024;
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
    /// Calls of this window that looked up a checkout id not seen before.
    unseen: u64,
}

/// Who a call is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spender {
    /// The job queue and the merchant's pages: may spend the reserve.
    App,
    /// An anonymous caller, by network ([`crate::domain::caller_network`]; `None`: no peer
    /// address); `unseen` for the lookup of a checkout id not yet seen to exist.
    Shopper {
        caller: Option<IpAddr>,
        unseen: bool,
    },
}

/// Why a call was not sent, and how long until the window resets (at most).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The store's shoppers' share (or its part for unseen ids) is spent.
    Store(Duration),
    /// This caller's part of it is spent.
    Caller(Duration),
}

/// How wide a caller's counter is.
#[derive(Clone, Copy, Hash)]
enum Width {
    /// The caller's network ([`crate::domain::caller_network`]).
    Caller,
    /// Its block ([`crate::domain::caller_block`]).
    Block,
}

/// Counts per store and per caller. Bounded by the installed stores (only a store found
/// installed gets an API client) and by [`CALLERS`].
pub struct QuotaBook {
    stores: Mutex<HashMap<String, Reading>>,
    /// Per (store, caller or block): calls, and lookups of unseen ids, in windows of
    /// [`WINDOW`]. A fixed table: made-up addresses push out the least recently used, never
    /// grow it.
    callers: RateLimiter,
}

impl Default for QuotaBook {
    fn default() -> Self {
        Self {
            stores: Mutex::default(),
            callers: RateLimiter::new(WINDOW, CALLERS),
        }
    }
}

impl QuotaBook {
    /// Counts one call about to be sent. A shopper's call is refused instead, with the time
    /// until the window resets, once what is left is down to the reserve, or once its part of
    /// the shoppers' share is spent (see the module's doc).
    pub fn spend(&self, store: &str, spender: Spender, now: Instant) -> Result<(), Refused> {
        let mut stores = self.stores.lock().unwrap_or_else(|p| p.into_inner());
        let r = stores.entry(store.to_string()).or_insert(Reading {
            left: FIRST_GUESS,
            quota: FIRST_GUESS,
            resets_at: now + WINDOW,
            guessed: true,
            unseen: 0,
        });
        if now >= r.resets_at {
            // A new window, as far as we can tell until its first answer.
            r.left = r.quota;
            r.resets_at = now + WINDOW;
            r.unseen = 0;
        }
        let wait = r.resets_at - now;
        if let Spender::Shopper { caller, unseen } = spender {
            if r.left * 100 < r.quota * RESERVE_PERCENT {
                return Err(Refused::Store(wait));
            }
            let share = r.quota * (100 - RESERVE_PERCENT) / 100;
            let unseen_share = (share / UNSEEN_DIVISOR).max(1);
            if unseen && r.unseen >= unseen_share {
                return Err(Refused::Store(wait));
            }
            let limit = |n: u64| u32::try_from(n.max(1)).unwrap_or(u32::MAX);
            let (all, unseen_part) = (share / CALLER_DIVISOR, unseen_share / CALLER_UNSEEN_DIVISOR);
            let block = caller.map(crate::domain::caller_block);
            let counters = [
                (Width::Caller, caller, false, limit(all)),
                (Width::Block, block, false, limit(all * BLOCK_CALLERS)),
                (Width::Caller, caller, true, limit(unseen_part)),
                (
                    Width::Block,
                    block,
                    true,
                    limit(unseen_part * BLOCK_CALLERS),
                ),
            ];
            let counters = counters.iter().filter(|c| unseen || !c.2);
            // Every counter is checked before any is counted: a call refused by one does not
            // use up another.
            if counters.clone().any(|&(width, ip, u, most)| {
                self.callers.count_at((store, width, ip, u), now) >= most
            }) {
                // The caller's window is its own (it opened at its first call): at most ours.
                return Err(Refused::Caller(WINDOW));
            }
            for &(width, ip, u, most) in counters {
                self.callers.allow_at((store, width, ip, u), most, now);
            }
            if unseen {
                r.unseen += 1;
            }
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
            unseen: 0,
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
            if resets_at > r.resets_at + Duration::from_secs(1) {
                r.unseen = 0;
            }
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

    /// A different caller (of a different block) each time, so that only the store's share
    /// limits.
    fn shopper() -> Spender {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(1);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        Spender::Shopper {
            caller: Some(IpAddr::V4((n << 8).into())),
            unseen: false,
        }
    }

    fn caller(ip: &str, unseen: bool) -> Spender {
        Spender::Shopper {
            caller: Some(ip.parse().unwrap()),
            unseen,
        }
    }

    /// Issue 31 (1.3): of 315 calls for shoppers (450 less the reserve), one caller spends a
    /// quarter, and lookups of unseen ids half of it, an eighth of that per caller; the
    /// others, and the job queue, are still served.
    #[test]
    fn a_caller_spends_only_its_part_of_the_shoppers_share() {
        let book = QuotaBook::default();
        let t0 = Instant::now();
        book.record("s", 200, &headers(450, 450, 30_000), t0);
        let sent = |spender: Spender| {
            (0..500)
                .take_while(|_| book.spend("s", spender, t0).is_ok())
                .count()
        };
        assert_eq!(sent(caller("203.0.113.1", true)), 19, "157 / 8 unseen ids");
        assert_eq!(
            book.spend("s", caller("203.0.113.1", true), t0),
            Err(Refused::Caller(WINDOW))
        );
        assert_eq!(
            sent(caller("203.0.113.1", false)),
            78 - 19,
            "315 / 4 in all"
        );
        assert!(book.spend("s", caller("198.51.100.2", true), t0).is_ok());
        // Many callers (of as many blocks) of unseen ids together: 157 in all, then the seen
        // go on.
        let unseen = (0..500)
            .filter(|i| {
                let ip = IpAddr::V4((0x0a00_0000 + (i << 8)).into());
                book.spend(
                    "s",
                    Spender::Shopper {
                        caller: Some(ip),
                        unseen: true,
                    },
                    t0,
                )
                .is_ok()
            })
            .count();
        assert_eq!(unseen, 157 - 20);
        assert!(book.spend("s", caller("198.51.100.7", false), t0).is_ok());
        assert!(book.spend("s", Spender::App, t0).is_ok());
        // A new window starts every count again.
        let later = t0 + WINDOW;
        assert!(book.spend("s", caller("203.0.113.1", true), later).is_ok());
    }

    /// Issue 31 (1.3, review 2): 200 /64s of one /48 (cheap to hold) look up made-up ids
    /// only as often as two callers; the part for unseen ids is left to new shoppers elsewhere.
    #[test]
    fn the_callers_of_one_block_look_up_unseen_ids_as_two_callers() {
        let book = QuotaBook::default();
        let t0 = Instant::now();
        book.record("s", 200, &headers(450, 450, 30_000), t0);
        let flood = (0..200u32)
            .filter(|i| {
                let ip = format!("2001:db8:0:{i:x}::1");
                book.spend("s", caller(&ip, true), t0).is_ok()
            })
            .count();
        assert_eq!(flood, 38, "157 / 8, twice, for the whole /48");
        assert_eq!(
            book.spend("s", caller("2001:db8:0:ff::1", true), t0),
            Err(Refused::Caller(WINDOW))
        );
        // The same for the addresses of one IPv4 /24.
        let flood = (0..=255u32)
            .filter(|i| {
                let ip = IpAddr::V4((0xcb00_7100 + i).into());
                book.spend(
                    "s",
                    Spender::Shopper {
                        caller: Some(ip),
                        unseen: true,
                    },
                    t0,
                )
                .is_ok()
            })
            .count();
        assert_eq!(flood, 38, "157 / 8, twice, for the whole /24");
        // 76 of 157 spent: a new shopper of another block, and its next call about the id
        // now seen.
        assert!(book.spend("s", caller("198.51.100.9", true), t0).is_ok());
        assert!(book.spend("s", caller("198.51.100.9", false), t0).is_ok());
        // A /64 of the flooding /48 is still served for ids already seen.
        assert!(
            book.spend("s", caller("2001:db8:0:7::1", false), t0)
                .is_ok()
        );
    }

    /// Issue 31 (1.3, review 3): the /64s of one /48 spend at most half of the shoppers' share
    /// (two callers' parts) however many of them call; one of them a quarter.
    #[test]
    fn one_block_spends_at_most_half_of_the_shoppers_share() {
        let book = QuotaBook::default();
        let t0 = Instant::now();
        book.record("s", 200, &headers(450, 450, 30_000), t0);
        let per_caller: Vec<usize> = (0..6u32)
            .map(|i| {
                let ip = format!("2001:db8:1:{i:x}::1");
                (0..500)
                    .take_while(|_| book.spend("s", caller(&ip, false), t0).is_ok())
                    .count()
            })
            .collect();
        assert_eq!(
            per_caller,
            [78, 78, 0, 0, 0, 0],
            "315 / 4 each, twice that in all"
        );
        assert!(book.spend("s", caller("198.51.100.9", false), t0).is_ok());
        assert!(book.spend("s", caller("2001:db8:2::1", false), t0).is_ok());
        // The block's window ends with its first call's.
        let later = t0 + WINDOW;
        assert!(
            book.spend("s", caller("2001:db8:1:5::1", false), later)
                .is_ok()
        );
    }

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
        assert_eq!(book.spend("s", shopper(), t0), Ok(()), "30 % left");
        assert_eq!(
            book.spend("s", shopper(), t0),
            Err(Refused::Store(Duration::from_secs(10))),
            "29.8 % left"
        );
        assert_eq!(
            book.spend("s", Spender::App, t0),
            Ok(()),
            "the job queue's reserve"
        );
        assert_eq!(book.spend("other", shopper(), t0), Ok(()), "per store");
        let later = t0 + Duration::from_secs(10);
        assert_eq!(book.spend("s", shopper(), later), Ok(()), "a new window");
    }

    /// Calls in flight count: a hundred concurrent shopper calls leave the reserve alone
    /// although no answer has come back yet.
    #[test]
    fn calls_in_flight_are_counted_before_their_answers() {
        let book = QuotaBook::default();
        let t0 = Instant::now();
        book.record("s", 200, &headers(100, 100, 20_000), t0);
        let sent = (0..100)
            .filter(|_| book.spend("s", shopper(), t0).is_ok())
            .count();
        assert_eq!(sent, 71, "down to 29 of 100");
        // Late answers of earlier calls say more was left: they do not give it back.
        book.record("s", 200, &headers(90, 100, 19_000), t0);
        assert!(book.spend("s", shopper(), t0).is_err());
    }

    #[test]
    fn before_any_answer_a_store_has_the_smallest_plan() {
        let book = QuotaBook::default();
        let t0 = Instant::now();
        let sent = (0..200)
            .filter(|_| book.spend("s", shopper(), t0).is_ok())
            .count();
        assert_eq!(sent, 106, "150 less a 30 % reserve, rounded");
    }

    #[test]
    fn a_429_without_headers_means_wait_thirty_seconds() {
        let book = QuotaBook::default();
        let t0 = Instant::now();
        book.record("s", 429, &HeaderMap::new(), t0);
        assert_eq!(
            book.spend("s", shopper(), t0),
            Err(Refused::Store(Duration::from_secs(30)))
        );
        book.record("s", 200, &HeaderMap::new(), t0);
        assert!(
            book.spend("s", shopper(), t0).is_err(),
            "a headerless answer changes nothing"
        );
    }
}
