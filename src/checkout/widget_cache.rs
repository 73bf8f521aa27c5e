//! The storefronts' widget answers in memory (see [`super::widgets`]): per installed store,
//! built by one request while the others wait, kept a minute or until the merchant saves
//! something they depend on.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::domain::{IpRange, StoreHash};

/// How long a built answer is served before it is built again (the merchant's saves drop it
/// at once; this bounds what they cannot reach: a method's dates, another process's change).
pub const FRESH_FOR: Duration = Duration::from_secs(60);

/// The answer for "nothing to show".
pub(crate) const NOTHING: &str = "{}";

/// Why a storefront's visitors are drawn nothing (the merchant's Diagnostics page says it
/// in their language: `diag_hidden_{key}` with the arguments).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "key", rename_all = "snake_case")]
pub enum Hidden {
    /// seQura is switched off on the storefront.
    StorefrontOff,
    /// seQura is switched off on every storefront (the payment step's answer).
    EveryStorefrontOff,
    NotConnected,
    /// No promotional widget is on for the storefront.
    NoWidgetOn,
    /// The excluded categories hold more products than the app reads.
    TooManyExcluded,
    /// No selling country for the storefront's language, or none with a merchant ref.
    NoCountry,
    /// The country's merchant ref has no account details from seQura.
    NoAccount {
        merchant_ref: String,
    },
    /// The storefront sells in a currency the ref (or seQura's checkout) does not take.
    Currency {
        currency: String,
        takes: String,
    },
    /// Another store of this installation sells with the ref.
    AnotherStore {
        merchant_ref: String,
    },
    /// seQura gave no assets key for the ref.
    NoAssetsKey {
        merchant_ref: String,
    },
    /// None of the widgets' methods is on offer now.
    NothingPromotable {
        merchant_ref: String,
    },
    /// The visitor's address is not among the allowed IPs.
    IpNotAllowed,
}

/// One store's answers, as built: each of its storefronts' (any other channel is told
/// nothing), and what every visitor is checked against.
#[derive(Debug)]
pub(crate) struct Built {
    pub(crate) at: Instant,
    /// Per channel the store has: the answer and its `ETag`.
    pub(crate) answers: HashMap<u64, (Arc<str>, Arc<str>)>,
    /// Per channel answered nothing, why.
    pub(crate) hidden: HashMap<u64, Hidden>,
    /// Empty: every visitor.
    pub(crate) allowed_ips: Vec<IpRange>,
    /// The storefront origins a browser may ask from.
    pub(crate) origins: Vec<String>,
}

/// The built answers, per installed store: one entry holds all of its storefronts', so a
/// made-up channel is answered from it (nothing) without reading anything, and the memory
/// is the installed stores' storefronts. A store's answers are built by one request at a
/// time: the visitors arriving meanwhile wait for that build instead of each reading the
/// database.
#[derive(Default)]
pub struct WidgetConfigs {
    built: Mutex<HashMap<StoreHash, Arc<Built>>>,
    pub(crate) building: crate::locks::KeyedLocks,
    /// Bumped by every [`Self::forget`]: a build that began before is not kept (it may
    /// have read what the merchant just changed).
    forgotten: AtomicU64,
    /// Answers built since start (each a round of database reads).
    pub(crate) builds: AtomicU64,
}

impl std::fmt::Debug for WidgetConfigs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WidgetConfigs")
            .field("stores", &self.lock().len())
            .finish_non_exhaustive()
    }
}

impl WidgetConfigs {
    /// How many times a store's answers were built since start: what anonymous callers
    /// made us read.
    pub fn builds(&self) -> u64 {
        self.builds.load(Ordering::Relaxed)
    }

    /// The merchant changed something the answers depend on: the store's are built again.
    pub fn forget(&self, store: &StoreHash) {
        let mut map = self.lock();
        self.forgotten.fetch_add(1, Ordering::SeqCst);
        map.remove(store);
    }

    pub(crate) fn get(&self, store: &StoreHash, now: Instant) -> Option<Arc<Built>> {
        self.lock()
            .get(store)
            .filter(|b| now.duration_since(b.at) < FRESH_FOR)
            .cloned()
    }

    /// Keeps `built` unless the store was forgotten since `since` (a [`Self::epoch`]).
    pub(crate) fn put(&self, store: &StoreHash, since: u64, built: Arc<Built>) {
        let mut map = self.lock();
        if self.forgotten.load(Ordering::SeqCst) == since {
            map.insert(store.clone(), built);
        }
    }

    pub(crate) fn epoch(&self) -> u64 {
        self.forgotten.load(Ordering::SeqCst)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<StoreHash, Arc<Built>>> {
        self.built.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A strong `ETag` of an answer.
pub(crate) fn etag_of(body: &str) -> Arc<str> {
    Arc::from(format!(
        "\"{}\"",
        hex::encode(&Sha256::digest(body.as_bytes())[..12])
    ))
}
