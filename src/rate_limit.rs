//! Fixed-window counters per key (a store and shopper IP, a checkout): enough to stop a script
//! hammering the public endpoints, cheap enough for every request, and bounded whatever keys
//! an attacker makes up.
//!
//! Keys are hashed (SipHash with this process's random keys, so collisions cannot be aimed)
//! into a table of fixed size: `SETS` sets of `WAYS` counters. A key lives in one set; a new
//! key takes the set's free or expired counter, else the one least recently used. So memory
//! is `CAPACITY` counters from the start, and each request looks at `WAYS` counters under the
//! lock, however many keys exist. A key under attack is used on every request of the attack
//! and so is the last to be pushed out.

use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);
const WAYS: usize = 4;
const SETS: usize = 1 << 15;
/// Counters in the default table: the most keys limited at once.
pub const CAPACITY: usize = SETS * WAYS;

#[derive(Clone, Copy, Default)]
struct Counter {
    key: u64,
    /// Seconds since the limiter was made.
    window_start: u32,
    /// The table's use count when this key was last counted (finer than seconds: a flood
    /// fits in one second).
    last_seen: u32,
    /// 0: free.
    count: u32,
}

impl Counter {
    fn live(&self, now: u32, window: u32) -> bool {
        self.count > 0 && now.wrapping_sub(self.window_start) < window
    }
}

struct Table {
    counters: Box<[Counter]>,
    /// Calls so far (wrapping): the clock of `last_seen`.
    uses: u32,
}

#[derive(Clone)]
pub struct RateLimiter {
    table: Arc<Mutex<Table>>,
    sets: usize,
    window: u32,
    hasher: RandomState,
    epoch: Instant,
}

/// One-minute windows, [`CAPACITY`] counters.
impl Default for RateLimiter {
    fn default() -> Self {
        Self::new(WINDOW, CAPACITY)
    }
}

impl RateLimiter {
    /// Windows of `window` (whole seconds) and room for `capacity` keys (rounded up to a
    /// power of two of `WAYS`-counter sets).
    pub fn new(window: Duration, capacity: usize) -> Self {
        let sets = capacity.div_ceil(WAYS).next_power_of_two();
        Self {
            table: Arc::new(Mutex::new(Table {
                counters: vec![Counter::default(); sets * WAYS].into(),
                uses: 0,
            })),
            sets,
            window: u32::try_from(window.as_secs()).unwrap_or(u32::MAX).max(1),
            hasher: RandomState::new(),
            epoch: crate::clock::instant(),
        }
    }

    /// How many times `key` was counted in its open window (0: not at all), counting nothing.
    pub fn count(&self, key: impl Hash) -> u32 {
        self.count_at(key, crate::clock::instant())
    }

    /// [`Self::count`] at `now` (for callers that read the clock once). A key read counts as
    /// used: one only read while it refuses (a block over its limit) is not pushed out first.
    pub fn count_at(&self, key: impl Hash, now: Instant) -> u32 {
        let hash = self.hasher.hash_one(key);
        let now = self.secs(now);
        let set = (hash as usize) & (self.sets - 1);
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        let uses = table.uses;
        table.counters[set * WAYS..(set + 1) * WAYS]
            .iter_mut()
            .find(|c| c.key == hash && c.live(now, self.window))
            .map_or(0, |c| {
                c.last_seen = uses;
                c.count
            })
    }

    /// Counts one request for `key`; false once more than `per_minute` arrived in its window.
    pub fn allow(&self, key: impl Hash, per_minute: u32) -> bool {
        self.allow_at(key, per_minute, crate::clock::instant())
    }

    /// Bytes the table takes (fixed at creation).
    pub fn table_bytes(&self) -> usize {
        self.sets * WAYS * std::mem::size_of::<Counter>()
    }

    /// Counters holding a key whose window is still open.
    pub fn live_keys(&self) -> usize {
        let now = self.secs(crate::clock::instant());
        let table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        table
            .counters
            .iter()
            .filter(|c| c.live(now, self.window))
            .count()
    }

    fn secs(&self, now: Instant) -> u32 {
        u32::try_from(now.saturating_duration_since(self.epoch).as_secs()).unwrap_or(u32::MAX)
    }

    /// [`Self::allow`] at `now` (for callers that read the clock once).
    pub fn allow_at(&self, key: impl Hash, per_minute: u32, now: Instant) -> bool {
        let hash = self.hasher.hash_one(key);
        let now = self.secs(now);
        let set = (hash as usize) & (self.sets - 1);
        let window = self.window;
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        table.uses = table.uses.wrapping_add(1);
        let uses = table.uses;
        let ways = &mut table.counters[set * WAYS..(set + 1) * WAYS];
        let counter = match ways.iter().position(|c| c.count > 0 && c.key == hash) {
            Some(i) => &mut ways[i],
            None => {
                // A free or expired counter, else the one unused longest.
                let victim = ways
                    .iter_mut()
                    .max_by_key(|c| {
                        if c.live(now, window) {
                            uses.wrapping_sub(c.last_seen)
                        } else {
                            u32::MAX
                        }
                    })
                    .expect("a set has ways");
                *victim = Counter {
                    key: hash,
                    window_start: now,
                    last_seen: uses,
                    count: 0,
                };
                victim
            }
        };
        if !counter.live(now, window) {
            counter.window_start = now;
            counter.count = 0;
        }
        counter.count = counter.count.saturating_add(1);
        counter.last_seen = uses;
        counter.count <= per_minute
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

    /// B10: a million made-up keys fit in the fixed table, and the key being limited stays
    /// limited throughout (it is the most recently used in its set).
    #[test]
    fn a_million_distinct_keys_take_no_more_memory_and_do_not_free_a_limited_key() {
        let r = RateLimiter::default();
        let t0 = Instant::now();
        let attacker = ("ip", "store", "203.0.113.7");
        assert!((0..10).all(|_| r.allow_at(attacker, 10, t0)));
        for i in 0..1_000_000u32 {
            let _ = r.allow_at(("methods", "store", i), 60, t0);
            if i % 1000 == 0 {
                assert!(
                    !r.allow_at(attacker, 10, t0),
                    "the limited key was freed after {i} other keys"
                );
            }
        }
        assert_eq!(
            r.table.lock().unwrap().counters.len(),
            CAPACITY,
            "the table never grows"
        );
        assert!(r.live_keys() <= CAPACITY);
        // A fresh key is still counted from one.
        assert!(r.allow_at("fresh", 1, t0));
        assert!(!r.allow_at("fresh", 1, t0));
    }

    /// One set of four: a new key takes an expired counter first, else the least recently
    /// used one, never one just used.
    #[test]
    fn a_full_set_gives_up_its_expired_then_its_least_recently_used_counter() {
        let r = RateLimiter::new(WINDOW, WAYS);
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert!(r.allow_at("old", 1, at(0)));
        for k in ["a", "b", "c"] {
            assert!(r.allow_at(k, 1, at(30)));
        }
        // "old" has expired: "d" takes its counter, and a, b, c stay counted.
        assert!(r.allow_at("d", 1, at(70)));
        for k in ["a", "b", "c", "d"] {
            assert!(!r.allow_at(k, 1, at(70)), "{k} was pushed out");
        }
        // All live: "e" takes the least recently used ("a"), whose count starts over.
        assert!(!r.allow_at("b", 1, at(71)));
        assert!(!r.allow_at("c", 1, at(71)));
        assert!(!r.allow_at("d", 1, at(71)));
        assert!(r.allow_at("e", 1, at(72)));
        assert!(
            !r.allow_at("b", 1, at(72)),
            "b was used more recently than a"
        );
        assert!(r.allow_at("a", 1, at(72)), "a was pushed out");
    }

    /// A key only read while it refuses (the configuration webhook's locked block) is used:
    /// others push out the key unused longest, not it.
    #[test]
    fn a_key_only_read_is_not_pushed_out_first() {
        let r = RateLimiter::new(WINDOW, WAYS);
        let t0 = Instant::now();
        assert!(r.allow_at("locked", 1, t0));
        for k in ["a", "b", "c"] {
            assert!(r.allow_at(k, 1, t0));
        }
        assert_eq!(r.count_at("locked", t0), 1);
        assert!(r.allow_at("d", 1, t0));
        assert_eq!(r.count_at("locked", t0), 1, "locked was pushed out");
        assert!(r.allow_at("a", 1, t0), "a, unused longest, was");
    }
}
