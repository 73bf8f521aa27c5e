//! Per-key async locks: work on one checkout or one seQura order runs one at a time inside
//! this process, so concurrent requests cannot both create an order or place one twice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Serialises work per key (a checkout, a solicitation) inside this process.
#[derive(Clone, Default)]
pub struct KeyedLocks {
    inner: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

impl KeyedLocks {
    pub fn lock_for(&self, key: String) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        // Entries nobody holds any more are dropped as we go, so the map stays small.
        map.retain(|_, m| Arc::strong_count(m) > 1);
        map.entry(key).or_default().clone()
    }
}
