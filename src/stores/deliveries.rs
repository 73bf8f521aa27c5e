//! What the webhook intake remembers between deliveries: the stores' decrypted secrets and the
//! deliveries of the last days (for de-duplication). Held in `AppState`; reads only `db`.

use crate::config::SecretString;
use crate::db;
use crate::domain::StoreHash;

/// The stores' webhook secrets, decrypted once: the intake's hot path reads no database row
/// for a delivery whose secret is already known. Forgotten when the store is uninstalled.
#[derive(Default)]
pub struct SecretCache(std::sync::RwLock<Secrets>);

#[derive(Default)]
struct Secrets {
    by_store: std::collections::HashMap<StoreHash, SecretString>,
    /// Counts the forgettings: a secret read from the database before one is not remembered
    /// after it (an uninstall that committed meanwhile would be undone in memory).
    epoch: u64,
}

impl SecretCache {
    pub fn get(&self, store: &StoreHash) -> Option<SecretString> {
        self.0.read().ok()?.by_store.get(store).cloned()
    }

    /// Taken before reading a secret from the database, and given to [`SecretCache::remember`].
    pub fn epoch(&self) -> u64 {
        self.0.read().map(|m| m.epoch).unwrap_or(u64::MAX)
    }

    /// Remembers a secret read at `epoch`, unless a store was forgotten since.
    pub fn remember(&self, store: &StoreHash, secret: SecretString, epoch: u64) {
        if let Ok(mut m) = self.0.write()
            && m.epoch == epoch
        {
            m.by_store.insert(store.clone(), secret);
        }
    }

    pub fn forget(&self, store: &StoreHash) {
        if let Ok(mut m) = self.0.write() {
            m.by_store.remove(store);
            m.epoch += 1;
        }
    }
}

/// How long one generation of remembered deliveries lasts. A delivery is recognised as a
/// repeat for at least this long (BigCommerce's retries span about 48 hours) and at most twice
/// this long; memory holds two generations.
const DEDUPE_GENERATION: std::time::Duration = std::time::Duration::from_secs(3 * 24 * 3600);

/// How long a delivery waits for the deliveries stored before this start to be remembered
/// (they are read while the server already answers) before it is answered 503: BigCommerce
/// then delivers it again.
pub const LOAD_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The deliveries of the last days, by a 128-bit digest of (store, scope, hash), against which
/// a delivery is de-duplicated before it is stored. A unique index on the table did this, but
/// BigCommerce's hashes are random, so every insert wrote a random index page: a commit of 20
/// deliveries wrote 20 pages instead of two. The table is now only appended to, and rebuilds
/// this at start ([`RecentDeliveries::load`]). With a fleet's traffic that takes a while (1.2 s
/// for 1.26 million deliveries), which the rest of the app need not wait for: the server
/// answers meanwhile, and a delivery waits for it ([`RecentDeliveries::claim`]), since taken
/// for new before it a repeat would be stored and processed twice.
pub struct RecentDeliveries {
    generations: std::sync::Mutex<Generations>,
    /// True once [`RecentDeliveries::load`] has run.
    loaded: tokio::sync::watch::Sender<bool>,
}

/// The deliveries stored before this start were not read within [`LOAD_WAIT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotLoaded;

struct Generations {
    current: std::collections::HashSet<u128>,
    previous: std::collections::HashSet<u128>,
    started: std::time::Instant,
}

impl Default for RecentDeliveries {
    fn default() -> Self {
        Self {
            generations: std::sync::Mutex::new(Generations {
                current: Default::default(),
                previous: Default::default(),
                started: crate::clock::instant(),
            }),
            loaded: tokio::sync::watch::Sender::new(false),
        }
    }
}

/// The digest a delivery is remembered by (its parts separated, so no two tuples collide).
/// BigCommerce's retries of a delivery repeat its body, `created_at` included; `hash` alone
/// is not unique (the documented examples share one across an order's events), so two events
/// with one hash but different times are two deliveries (an app uninstalled again after a
/// reinstall, an order updated twice).
pub(super) fn delivery_key(store: &str, scope: &str, hash: &str, created_at: Option<i64>) -> u128 {
    use sha2::Digest;
    let digest = sha2::Sha256::new()
        .chain_update(store)
        .chain_update([0])
        .chain_update(scope)
        .chain_update([0])
        .chain_update(hash)
        .chain_update([0])
        .chain_update(created_at.unwrap_or(i64::MIN).to_le_bytes())
        .finalize();
    let mut first = [0u8; 16];
    first.copy_from_slice(&digest[..16]);
    u128::from_le_bytes(first)
}

impl RecentDeliveries {
    /// Remembers the deliveries stored in the last two generations' time; claims wait until
    /// it has run.
    pub fn load(&self, conn: &rusqlite::Connection) -> Result<usize, db::DbError> {
        let since = db::timestamp(crate::clock::now() - 2 * DEDUPE_GENERATION);
        let mut g = self
            .generations
            .lock()
            .map_err(|_| db::DbError::Task("poisoned".into()))?;
        let n = db::webhook_events::each_received_since(
            conn,
            &since,
            |store, scope, hash, created| {
                g.current.insert(delivery_key(store, scope, hash, created));
            },
        )?;
        self.loaded.send_replace(true);
        Ok(n)
    }

    /// True for a delivery not seen before, now remembered; false for a repeat. Waits for
    /// [`RecentDeliveries::load`], up to [`LOAD_WAIT`].
    pub(super) async fn claim(&self, key: u128) -> Result<bool, NotLoaded> {
        self.claim_within(key, LOAD_WAIT).await
    }

    async fn claim_within(&self, key: u128, wait: std::time::Duration) -> Result<bool, NotLoaded> {
        if !*self.loaded.borrow() {
            let mut loaded = self.loaded.subscribe();
            match tokio::time::timeout(wait, loaded.wait_for(|l| *l)).await {
                Ok(Ok(_)) => {}
                // Not within `wait` (the sender lives as long as `self`: it is never dropped
                // while this waits).
                Ok(Err(_)) | Err(_) => return Err(NotLoaded),
            }
        }
        Ok(self.claim_at(key, crate::clock::instant()))
    }

    fn claim_at(&self, key: u128, now: std::time::Instant) -> bool {
        let Ok(mut g) = self.generations.lock() else {
            // Never refuse a delivery for want of memory: a repeat stored twice is processed
            // idempotently.
            return true;
        };
        if now.duration_since(g.started) >= DEDUPE_GENERATION {
            g.previous = std::mem::take(&mut g.current);
            g.started = now;
        }
        !g.previous.contains(&key) && g.current.insert(key)
    }

    /// Forgets a claimed delivery that could not be stored (BigCommerce sends it again), in
    /// whichever generation it now is: another delivery may have started a new one meanwhile.
    pub(super) fn release(&self, key: u128) {
        if let Ok(mut g) = self.generations.lock() {
            g.current.remove(&key);
            g.previous.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::webhook_events::NewEvent;

    #[test]
    fn a_claim_released_after_its_generation_ended_is_no_repeat() {
        let recent = RecentDeliveries::default();
        let start = std::time::Instant::now();
        let key = delivery_key("abc123", "store/app/uninstalled", "h", Some(1));
        assert!(recent.claim_at(key, start));
        // Another delivery starts the next generation while this one's write is pending.
        let other = delivery_key("abc123", "store/order/updated", "h", Some(2));
        assert!(recent.claim_at(other, start + DEDUPE_GENERATION));
        // The write failed: BigCommerce's retry must be stored, not answered as a repeat.
        recent.release(key);
        assert!(recent.claim_at(key, start + DEDUPE_GENERATION));
    }

    #[test]
    fn a_secret_read_before_an_uninstall_is_not_remembered_after_it() {
        let cache = SecretCache::default();
        let store = StoreHash::parse("abc123").unwrap();
        let read_at = cache.epoch();
        // The uninstall commits and forgets while the delivery was reading the old secret.
        cache.forget(&store);
        cache.remember(&store, SecretString::new("old"), read_at);
        assert!(cache.get(&store).is_none());
        let now = cache.epoch();
        cache.remember(&store, SecretString::new("new"), now);
        assert_eq!(cache.get(&store).unwrap().expose(), "new");
    }

    #[test]
    fn a_delivery_is_a_repeat_for_one_to_two_generations_then_forgotten() {
        let recent = RecentDeliveries::default();
        let start = std::time::Instant::now();
        let key = delivery_key("abc123", "store/order/updated", "7ee67cd1", Some(1));
        assert!(recent.claim_at(key, start));
        assert!(!recent.claim_at(key, start));
        // Other stores, scopes and hashes are other deliveries.
        for other in [
            delivery_key("abc124", "store/order/updated", "7ee67cd1", Some(1)),
            delivery_key("abc123", "store/order/statusUpdated", "7ee67cd1", Some(1)),
            delivery_key("abc123", "store/order/updated", "7ee67cd2", Some(1)),
            delivery_key("abc123", "store/order/updated", "7ee67cd1", Some(2)),
        ] {
            assert!(recent.claim_at(other, start));
        }
        // Still a repeat through the next generation, forgotten in the one after.
        let next = start + DEDUPE_GENERATION;
        assert!(!recent.claim_at(key, next));
        assert!(!recent.claim_at(key, next + DEDUPE_GENERATION / 2));
        let later = next + DEDUPE_GENERATION;
        assert!(recent.claim_at(key, later + DEDUPE_GENERATION));
        // A released claim (the delivery could not be stored) is no repeat.
        let fresh = delivery_key("abc123", "store/order/updated", "new", None);
        assert!(recent.claim_at(fresh, later));
        recent.release(fresh);
        assert!(recent.claim_at(fresh, later));
    }

    #[test]
    fn deliveries_stored_before_a_start_are_repeats_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = db::Db::open(&dir.path().join("t.db")).unwrap();
        db.migrate().unwrap();
        let store = StoreHash::parse("abc123").unwrap();
        let recent = RecentDeliveries::default();
        let loaded = db
            .call_blocking(|c| {
                c.execute(
                    "INSERT INTO stores (store_hash, status, installed_at)
                     VALUES ('abc123', 'installed', 'now')",
                    [],
                )?;
                // Appended in the order received: the old one first.
                for hash in ["old", "h1"] {
                    db::webhook_events::insert(
                        c,
                        &NewEvent {
                            store: &store,
                            scope: "store/order/updated",
                            event_hash: hash,
                            resource_id: Some(1),
                            order_id: Some(1),
                            payload: "{}",
                            created_at: None,
                            sequra_order: false,
                        },
                    )?;
                }
                // Received long ago: beyond the two generations, not loaded.
                c.execute(
                    "UPDATE webhook_events SET received_at = '2000-01-01T00:00:00Z'
                     WHERE event_hash = 'old'",
                    [],
                )?;
                recent.load(c)
            })
            .unwrap();
        assert_eq!(loaded, 1);
        let now = std::time::Instant::now();
        assert!(!recent.claim_at(
            delivery_key("abc123", "store/order/updated", "h1", None),
            now
        ));
        assert!(recent.claim_at(
            delivery_key("abc123", "store/order/updated", "old", None),
            now
        ));
        assert!(recent.claim_at(
            delivery_key("abc123", "store/order/updated", "h3", None),
            now
        ));
    }

    /// A database with a store and one delivery stored (hash `h1`), as before a restart.
    fn stored_before_the_start() -> (tempfile::TempDir, db::Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = db::Db::open(&dir.path().join("t.db")).unwrap();
        db.migrate().unwrap();
        let store = StoreHash::parse("abc123").unwrap();
        db.call_blocking(|c| {
            c.execute(
                "INSERT INTO stores (store_hash, status, installed_at)
                 VALUES ('abc123', 'installed', 'now')",
                [],
            )?;
            db::webhook_events::insert(
                c,
                &NewEvent {
                    store: &store,
                    scope: "store/order/updated",
                    event_hash: "h1",
                    resource_id: Some(1),
                    order_id: Some(1),
                    payload: "{}",
                    created_at: None,
                    sequra_order: false,
                },
            )
        })
        .unwrap();
        (dir, db)
    }

    /// The server answers while the deliveries stored before the start are read: a repeat of
    /// one arriving meanwhile waits for them, and is recognised.
    #[tokio::test]
    async fn a_repeat_arriving_while_the_stored_deliveries_load_waits_and_is_recognised() {
        let (_dir, db) = stored_before_the_start();
        let recent = RecentDeliveries::default();
        let repeat = delivery_key("abc123", "store/order/updated", "h1", None);
        let mut claim = std::pin::pin!(recent.claim(repeat));
        tokio::select! {
            biased;
            taken = &mut claim => panic!("claimed before the load: {taken:?}"),
            _ = tokio::task::yield_now() => {}
        }
        assert_eq!(db.call_blocking(|c| recent.load(c)).unwrap(), 1);
        assert_eq!(claim.await, Ok(false), "a repeat");
        let new = delivery_key("abc123", "store/order/updated", "h2", None);
        assert_eq!(recent.claim(new).await, Ok(true));
    }

    /// Should the load not finish (a database that cannot be read), a delivery is refused
    /// after its wait, not taken for new: BigCommerce delivers it again.
    #[tokio::test]
    async fn a_claim_waits_for_the_load_no_longer_than_it_is_told() {
        let (_dir, db) = stored_before_the_start();
        let recent = RecentDeliveries::default();
        let repeat = delivery_key("abc123", "store/order/updated", "h1", None);
        assert_eq!(
            recent.claim_within(repeat, std::time::Duration::ZERO).await,
            Err(NotLoaded)
        );
        db.call_blocking(|c| recent.load(c)).unwrap();
        assert_eq!(
            recent.claim_within(repeat, std::time::Duration::ZERO).await,
            Ok(false)
        );
    }
}
