//! What the `methods` endpoint read from BigCommerce in the last moments: a page (or a
//! script) asking again about the same cart costs no BigCommerce call, so real carts called
//! over and over spend at most one read each every [`FRESH_FOR`] (issue 31, 1.3, review 3);
//! and whether a product is marked as a service, read at most once a [`MARKS_FRESH_FOR`].
//!
//! Only `methods` reads from here: what it answers is which buttons to show, and a button
//! shown a few seconds late or early decides nothing, because `start` reads the checkout and
//! its products afresh before any order or solicitation is made and refuses what is no longer
//! eligible. Never used for anything that creates, confirms or pays.

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
/// How long a product's service mark answers `methods` (a merchant marking a product waits
/// this long to see its buttons go; `start` reads the mark afresh).
pub const MARKS_FRESH_FOR: Duration = Duration::from_secs(60);
/// Products' marks held at once (of all stores).
const MARKS_CAPACITY: usize = 4096;

/// A bounded map of reads per store, each answering for `ttl` after it was made. When full,
/// expired entries go first, then the oldest; the newest is always kept.
pub struct Recent<V> {
    ttl: Duration,
    capacity: usize,
    entries: Mutex<HashMap<(StoreHash, String), (Instant, V)>>,
}

impl<V: Clone> Recent<V> {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Recent {
            ttl,
            capacity,
            entries: Mutex::default(),
        }
    }

    /// What was read of `key` within the ttl before `now`, if anything.
    pub fn get(&self, store: &StoreHash, key: &str, now: Instant) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(&(store.clone(), key.to_string()))
            .filter(|(at, _)| now.saturating_duration_since(*at) < self.ttl)
            .map(|(_, v)| v.clone())
    }

    /// Keeps a read made at `now`.
    pub fn put(&self, store: &StoreHash, key: &str, value: V, now: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let key = (store.clone(), key.to_string());
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, (at, _)| now.saturating_duration_since(*at) < self.ttl);
            if entries.len() >= self.capacity {
                let oldest = entries
                    .iter()
                    .min_by_key(|(_, (at, _))| *at)
                    .map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    entries.remove(&k);
                }
            }
        }
        entries.insert(key, (now, value));
    }

    /// Entries held (fresh or not yet pruned).
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Checkouts read in the last [`FRESH_FOR`], by checkout id.
pub struct RecentCheckouts(Recent<Checkout>);

impl Default for RecentCheckouts {
    fn default() -> Self {
        RecentCheckouts(Recent::new(FRESH_FOR, CAPACITY))
    }
}

impl RecentCheckouts {
    /// The checkout read within [`FRESH_FOR`] before `now`, if any.
    pub fn get(&self, store: &StoreHash, checkout_id: &str, now: Instant) -> Option<Checkout> {
        self.0.get(store, checkout_id, now)
    }

    /// Keeps a read made at `now`, unless the checkout is large.
    pub fn put(&self, store: &StoreHash, checkout_id: &str, checkout: &Checkout, now: Instant) {
        let items = &checkout.cart.line_items;
        let parts = items.physical_items.len()
            + items.digital_items.len()
            + items.gift_certificates.len()
            + items.custom_items.len()
            + checkout.consignments.len();
        if parts <= MAX_PARTS {
            self.0.put(store, checkout_id, checkout.clone(), now);
        }
    }

    /// Checkouts held (fresh or not yet pruned).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Whether each product read in the last [`MARKS_FRESH_FOR`] is marked as a service (its
/// `sequra_service_end_date` custom field set), by product id.
pub struct ServiceMarks(Recent<bool>);

impl Default for ServiceMarks {
    fn default() -> Self {
        ServiceMarks(Recent::new(MARKS_FRESH_FOR, MARKS_CAPACITY))
    }
}

impl ServiceMarks {
    pub fn get(&self, store: &StoreHash, product: u64, now: Instant) -> Option<bool> {
        self.0.get(store, &product.to_string(), now)
    }

    pub fn put(&self, store: &StoreHash, product: u64, marked: bool, now: Instant) {
        self.0.put(store, &product.to_string(), marked, now);
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
