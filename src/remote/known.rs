//! The configuration webhook's signed calls answered lately. A network block's calls with a
//! signature not known here are limited before the signature is checked (`web::remote`);
//! seQura may call from the same block as an attacker (a cloud's shared /24 or /48), so a
//! caller presenting a store's signature that was answered lately skips that block's limit,
//! and only calls that find no match here spend it.
//!
//! Kept as hashes under this process's random keys, bounded, each for a day.
//!
//! Layer: beside `state`, which holds it; it imports nothing of the app.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The most pairs kept: a few thousand stores' signatures.
const MAX: usize = 4096;
/// How long one is trusted without being seen again.
const TTL: Duration = Duration::from_secs(24 * 3600);

#[derive(Default)]
pub struct KnownSignatures {
    seen: Mutex<HashMap<u64, Instant>>,
    hasher: RandomState,
}

impl KnownSignatures {
    fn key(&self, store_id: &str, signature: &str) -> u64 {
        self.hasher.hash_one((store_id, signature))
    }

    /// Whether `signature` was answered for `store_id` within the last day.
    pub fn knows(&self, store_id: &str, signature: &str, now: Instant) -> bool {
        let key = self.key(store_id, signature);
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.get(&key)
            .is_some_and(|at| now.saturating_duration_since(*at) < TTL)
    }

    /// `signature` was just answered for `store_id`.
    pub fn remember(&self, store_id: &str, signature: &str, now: Instant) {
        let key = self.key(store_id, signature);
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= MAX && !seen.contains_key(&key) {
            seen.retain(|_, at| now.saturating_duration_since(*at) < TTL);
            if seen.len() >= MAX
                && let Some(oldest) = seen.iter().min_by_key(|(_, at)| **at).map(|(k, _)| *k)
            {
                seen.remove(&oldest);
            }
        }
        seen.insert(key, now);
    }

    /// `signature` no longer opens `store_id` (its password changed, its store went).
    pub fn forget(&self, store_id: &str, signature: &str) {
        let key = self.key(store_id, signature);
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.remove(&key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_is_known_for_its_store_for_a_day_and_the_oldest_go_past_the_bound() {
        let known = KnownSignatures::default();
        let t = Instant::now();
        known.remember("abc", "sig", t);
        assert!(known.knows("abc", "sig", t + Duration::from_secs(3600)));
        assert!(!known.knows("abd", "sig", t), "another store");
        assert!(!known.knows("abc", "sig2", t), "another signature");
        assert!(!known.knows("abc", "sig", t + TTL), "a day later");
        known.forget("abc", "sig");
        assert!(!known.knows("abc", "sig", t));

        for i in 0..MAX {
            known.remember(&format!("s{i}"), "x", t + Duration::from_millis(i as u64));
        }
        known.remember("new", "x", t + Duration::from_secs(10));
        assert!(known.knows("new", "x", t + Duration::from_secs(10)));
        assert!(!known.knows("s0", "x", t), "the oldest went");
        assert!(known.knows("s1", "x", t));
    }
}
