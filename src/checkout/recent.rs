//! Checkouts read from BigCommerce in the last seconds, for the `methods` endpoint only: a
//! page (or a script) asking again about the same cart costs no BigCommerce call, so real
//! carts called over and over spend at most one read each every [`FRESH_FOR`] (issue 31,
//! 1.3, review 3).
//!
//! Only `methods` reads from here: what it answers is which buttons to show, and a button
//! shown a few seconds late or early decides nothing, because `start` reads the checkout
//! afresh before any order or solicitation is made and refuses what is no longer eligible.
//! Never used for anything that creates, confirms or pays.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::bigcommerce::checkouts::Checkout;
use crate::domain::StoreHash;

/// How long a read answers `methods` (a shopper changing the address or the shipping option
/// comes back to the payment step later than this).
pub const FRESH_FOR: Duration = Duration::from_secs(5);
/// Checkouts held at once (of all stores): the oldest goes first.
const CAPACITY: usize = 512;
/// Larger checkouts (lines and consignments) are not held, so that each entry stays a few
/// kilobytes whatever a cart holds; they are read each time.
const MAX_PARTS: usize = 32;

/// The bounded cache (see the module's doc).
#[derive(Default)]
pub struct RecentCheckouts {
    entries: Mutex<HashMap<(StoreHash, String), (Instant, Checkout)>>,
}

impl RecentCheckouts {
    /// The checkout read within [`FRESH_FOR`] before `now`, if any.
    pub fn get(&self, store: &StoreHash, checkout_id: &str, now: Instant) -> Option<Checkout> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(&(store.clone(), checkout_id.to_string()))
            .filter(|(at, _)| now.saturating_duration_since(*at) < FRESH_FOR)
            .map(|(_, c)| c.clone())
    }

    /// Keeps a read made at `now`. When full, expired entries go first, then the oldest.
    pub fn put(&self, store: &StoreHash, checkout_id: &str, checkout: &Checkout, now: Instant) {
        let items = &checkout.cart.line_items;
        let parts = items.physical_items.len()
            + items.digital_items.len()
            + items.gift_certificates.len()
            + items.custom_items.len()
            + checkout.consignments.len();
        if parts > MAX_PARTS {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let key = (store.clone(), checkout_id.to_string());
        if entries.len() >= CAPACITY && !entries.contains_key(&key) {
            entries.retain(|_, (at, _)| now.saturating_duration_since(*at) < FRESH_FOR);
            if entries.len() >= CAPACITY {
                let oldest = entries
                    .iter()
                    .min_by_key(|(_, (at, _))| *at)
                    .map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    entries.remove(&k);
                }
            }
        }
        entries.insert(key, (now, checkout.clone()));
    }

    /// Checkouts held (fresh or not yet pruned).
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkout(id: &str, lines: usize) -> Checkout {
        let items: Vec<serde_json::Value> = (0..lines)
            .map(|i| {
                serde_json::json!({
                    "id": format!("l{i}"), "product_id": 104, "name": "Mug",
                    "quantity": 1, "extended_sale_price": 10.0
                })
            })
            .collect();
        serde_json::from_value(serde_json::json!({
            "id": id,
            "cart": {
                "id": id,
                "currency": { "code": "EUR" },
                "line_items": { "physical_items": items }
            },
            "grand_total": 10.0
        }))
        .unwrap()
    }

    #[test]
    fn a_read_answers_for_a_few_seconds_per_store_and_checkout() {
        let cache = RecentCheckouts::default();
        let (s, other) = (
            StoreHash::parse("abc").unwrap(),
            StoreHash::parse("def").unwrap(),
        );
        let t0 = Instant::now();
        cache.put(&s, "c1", &checkout("c1", 1), t0);
        assert_eq!(cache.get(&s, "c1", t0).unwrap().id, "c1");
        assert!(cache.get(&s, "c2", t0).is_none());
        assert!(cache.get(&other, "c1", t0).is_none(), "per store");
        assert!(cache.get(&s, "c1", t0 + FRESH_FOR / 2).is_some());
        assert!(cache.get(&s, "c1", t0 + FRESH_FOR).is_none(), "expired");
        // A large checkout is not held.
        cache.put(&s, "big", &checkout("big", MAX_PARTS + 1), t0);
        assert!(cache.get(&s, "big", t0).is_none());
    }

    /// However many checkouts are read, at most `CAPACITY` are held; expired ones go first,
    /// then the oldest, and the newest read is always kept.
    #[test]
    fn the_cache_holds_a_bounded_number_of_checkouts() {
        let cache = RecentCheckouts::default();
        let s = StoreHash::parse("abc").unwrap();
        let t0 = Instant::now();
        let c = checkout("x", 1);
        for i in 0..CAPACITY {
            cache.put(&s, &format!("old{i}"), &c, t0);
        }
        let later = t0 + FRESH_FOR;
        for i in 0..3 * CAPACITY {
            let at = later + Duration::from_millis(i as u64);
            cache.put(&s, &format!("new{i}"), &c, at);
            assert!(cache.len() <= CAPACITY);
            assert!(cache.get(&s, &format!("new{i}"), at).is_some());
        }
        let end = later + Duration::from_millis(3 * CAPACITY as u64);
        assert!(
            cache
                .get(&s, &format!("new{}", 3 * CAPACITY - 1), end)
                .is_some()
        );
        assert!(cache.get(&s, "new0", end).is_none(), "the oldest went");
    }
}
