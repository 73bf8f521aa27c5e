//! BigCommerce webhook deliveries: parsed, authenticated (the per-store secret header, checked
//! in constant time, plus a Standard Webhooks signature when one is present) and stored before
//! the 200 that acknowledges them. Processing happens off the request path.
//! <https://developer.bigcommerce.com/docs/integrations/webhooks>

use base64::Engine;
use serde::Deserialize;

use crate::config::SecretString;
use crate::crypto::{constant_time_eq, hmac_sha256};
use crate::db;
use crate::db::solicitations::SolicitationState;
use crate::db::stores;
use crate::db::webhook_events::NewEvent;
use crate::domain::{BcOrderId, StoreHash};
use crate::error::{AppError, Public};
use crate::jobs::{self, Job};
use crate::state::AppState;

/// Standard Webhooks timestamps older or newer than this are refused (replays).
const SIGNATURE_TOLERANCE_SECS: i64 = 5 * 60;

/// How long an order's sync waits for the other webhooks of the same merchant action.
const SYNC_DEBOUNCE: std::time::Duration = std::time::Duration::from_millis(200);

/// The scopes whose deliveries are stored for order management.
const HANDLED: [&str; 4] = [
    "store/order/",
    "store/shipment/",
    "store/app/uninstalled",
    "store/order/refund/",
];

#[derive(Debug, Deserialize)]
struct Body {
    scope: String,
    producer: String,
    hash: String,
    #[serde(default)]
    created_at: Option<i64>,
    #[serde(default)]
    data: Option<Data>,
}

/// The ids a delivery's `data` carries; the rest of it is skipped unread (no allocation per
/// delivery for what the app does not use). An id that is not an integer counts as absent.
#[derive(Debug, Default, Deserialize)]
struct Data {
    #[serde(default, deserialize_with = "integer_or_none")]
    id: Option<i64>,
    #[serde(default, rename = "orderId", deserialize_with = "integer_or_none")]
    order_id: Option<i64>,
}

fn integer_or_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(serde_json::Value::deserialize(d)?.as_i64())
}

/// The Standard Webhooks headers, when BigCommerce sent them.
#[derive(Debug, Clone, Default)]
pub struct SignatureHeaders {
    pub id: Option<String>,
    pub timestamp: Option<String>,
    pub signature: Option<String>,
}

/// What became of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    Stored,
    Duplicate,
    /// A scope the app does not act on: acknowledged, not stored.
    Ignored,
}

fn bad() -> AppError {
    AppError::BadRequest(Public::new("err_request_body"))
}

fn refused() -> AppError {
    AppError::Unauthorized(Public::new("err_webhook_refused"))
}

/// Authenticates and stores one delivery. 400 when malformed; 401 for an unknown store, a
/// wrong secret, or (with `require_webhook_signature`) a missing or bad signature — and then
/// nothing is stored.
pub async fn receive(
    state: &AppState,
    secret_header: Option<&str>,
    sig: &SignatureHeaders,
    raw: &[u8],
    now_unix: i64,
) -> Result<Received, AppError> {
    let body: Body = serde_json::from_slice(raw).map_err(|_| bad())?;
    if body.hash.is_empty() || body.hash.len() > 128 || body.scope.len() > 100 {
        return Err(bad());
    }
    let store = StoreHash::from_context(&body.producer).map_err(|_| bad())?;
    tracing::Span::current().record("store_hash", store.as_str());
    let given = secret_header.unwrap_or("");
    // The remembered secret answers most deliveries; any mismatch is checked against the
    // database (a reinstall makes a new secret), so the cache never refuses a good one.
    let cached = state
        .webhook_secrets
        .get(&store)
        .is_some_and(|s| constant_time_eq(given.as_bytes(), s.expose().as_bytes()));
    if !cached {
        let (hash, key) = (store.clone(), state.key.clone());
        let secret = state
            .db
            .call(move |conn| stores::webhook_secret(conn, &key, &hash))
            .await?;
        let Some(secret) = secret else {
            state.webhook_secrets.forget(&store);
            return Err(refused());
        };
        if !constant_time_eq(given.as_bytes(), secret.expose().as_bytes()) {
            tracing::warn!("webhook with a wrong secret refused");
            return Err(refused());
        }
        state.webhook_secrets.remember(&store, secret);
    }
    if sig.signature.is_none() && state.settings.bigcommerce.require_webhook_signature {
        tracing::warn!("webhook without a signature refused (signatures are required)");
        return Err(refused());
    }
    if sig.signature.is_some() {
        let secret = state.settings.bigcommerce.client_secret.expose().as_bytes();
        if !verify_standard_signature(secret, sig, raw, now_unix) {
            // The store's secret header already authenticated it; the signature scheme is
            // unconfirmed, so a mismatch is counted and logged, and refused only when the
            // operator asked for it.
            let seen = state
                .unverified_webhook_signatures
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                + 1;
            if state.settings.bigcommerce.require_webhook_signature {
                tracing::warn!(seen, "webhook with a bad signature refused");
                return Err(refused());
            }
            tracing::warn!(
                seen,
                "webhook signature did not verify; accepted on its secret"
            );
        }
    }
    if !HANDLED.iter().any(|p| body.scope.starts_with(p)) {
        return Ok(Received::Ignored);
    }
    let data = body.data.unwrap_or_default();
    let resource_id = data.id;
    let order_id = if body.scope.starts_with("store/shipment/") {
        data.order_id
    } else if body.scope.starts_with("store/order/") {
        resource_id
    } else {
        None
    };
    let cancelled = body.scope == "store/app/uninstalled";
    let key = delivery_key(store.as_str(), &body.scope, &body.hash, body.created_at);
    let fresh = state.recent_deliveries.claim(key);
    // A repeat about no order asks for nothing. One about an order still goes on: it may be
    // a seQura order's, whose sync it asks for again (below).
    if !fresh && order_id.is_none() {
        return Ok(Received::Duplicate);
    }
    let payload = String::from_utf8_lossy(raw).into_owned();
    // The event and the work it calls for are stored together, before the 200.
    // Grouped with the other deliveries arriving meanwhile into one transaction: one fsync
    // for many acknowledgements.
    let written = state
        .db
        .batched(move |tx| {
            let solicitation = match order_id {
                Some(id) if id > 0 => {
                    db::solicitations::for_order(tx, &store, BcOrderId(id as u64))?
                }
                _ => None,
            };
            if fresh {
                db::webhook_events::insert(
                    tx,
                    &NewEvent {
                        store: &store,
                        scope: &body.scope,
                        event_hash: &body.hash,
                        resource_id,
                        order_id,
                        payload: &payload,
                        created_at: body.created_at,
                        sequra_order: solicitation.is_some(),
                    },
                )?;
            }
            let job = match solicitation {
                // A re-delivery still asks for a sync (coalesced with a waiting one): the
                // `hash` may not tell two changes apart, and a sync sends only differences.
                Some(s)
                    if matches!(
                        s.state,
                        SolicitationState::Approved | SolicitationState::OnHold
                    ) =>
                {
                    Some(Job::SyncOrder {
                        order_id: s.bc_order_id.0,
                    })
                }
                _ if cancelled && fresh => Some(Job::StoreCancelled),
                _ => None,
            };
            if let Some(job) = &job {
                jobs::enqueue_after(tx, &store, job, SYNC_DEBOUNCE)?;
            }
            Ok(job.is_some())
        })
        .await;
    let queued = match written {
        Ok(queued) => queued,
        Err(e) => {
            if fresh {
                state.recent_deliveries.release(key);
            }
            return Err(e.into());
        }
    };
    if queued {
        state.jobs.wake();
    }
    Ok(if fresh {
        Received::Stored
    } else {
        Received::Duplicate
    })
}

/// Standard Webhooks: `v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>` among the
/// space-separated signatures, and a timestamp within the tolerance.
pub fn verify_standard_signature(
    secret: &[u8],
    sig: &SignatureHeaders,
    body: &[u8],
    now_unix: i64,
) -> bool {
    let (Some(id), Some(ts), Some(list)) = (&sig.id, &sig.timestamp, &sig.signature) else {
        return false;
    };
    let Ok(ts_num) = ts.trim().parse::<i64>() else {
        return false;
    };
    if (now_unix - ts_num).abs() > SIGNATURE_TOLERANCE_SECS {
        return false;
    }
    let mut signed = Vec::with_capacity(id.len() + ts.len() + body.len() + 2);
    signed.extend_from_slice(id.as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(ts.trim().as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(body);
    let expected = base64::engine::general_purpose::STANDARD.encode(hmac_sha256(secret, &signed));
    list.split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .any(|s| constant_time_eq(s.as_bytes(), expected.as_bytes()))
}

/// The stores' webhook secrets, decrypted once: the intake's hot path reads no database row
/// for a delivery whose secret is already known. Forgotten when the store is uninstalled.
#[derive(Default)]
pub struct SecretCache(std::sync::RwLock<std::collections::HashMap<StoreHash, SecretString>>);

impl SecretCache {
    pub fn get(&self, store: &StoreHash) -> Option<SecretString> {
        self.0.read().ok()?.get(store).cloned()
    }

    pub fn remember(&self, store: &StoreHash, secret: SecretString) {
        if let Ok(mut m) = self.0.write() {
            m.insert(store.clone(), secret);
        }
    }

    pub fn forget(&self, store: &StoreHash) {
        if let Ok(mut m) = self.0.write() {
            m.remove(store);
        }
    }
}

/// How long one generation of remembered deliveries lasts. A delivery is recognised as a
/// repeat for at least this long (BigCommerce's retries span about 48 hours) and at most twice
/// this long; memory holds two generations.
const DEDUPE_GENERATION: std::time::Duration = std::time::Duration::from_secs(3 * 24 * 3600);

/// The deliveries of the last days, by a 128-bit digest of (store, scope, hash), against which
/// a delivery is de-duplicated before it is stored. A unique index on the table did this, but
/// BigCommerce's hashes are random, so every insert wrote a random index page: a commit of 20
/// deliveries wrote 20 pages instead of two. The table is now only appended to, and rebuilds
/// this at start ([`RecentDeliveries::load`]).
pub struct RecentDeliveries(std::sync::Mutex<Generations>);

struct Generations {
    current: std::collections::HashSet<u128>,
    previous: std::collections::HashSet<u128>,
    started: std::time::Instant,
}

impl Default for RecentDeliveries {
    fn default() -> Self {
        Self(std::sync::Mutex::new(Generations {
            current: Default::default(),
            previous: Default::default(),
            started: std::time::Instant::now(),
        }))
    }
}

/// The digest a delivery is remembered by (its parts separated, so no two tuples collide).
/// BigCommerce's retries of a delivery repeat its body, `created_at` included; `hash` alone
/// is not unique (the documented examples share one across an order's events), so two events
/// with one hash but different times are two deliveries (an app uninstalled again after a
/// reinstall, an order updated twice).
fn delivery_key(store: &str, scope: &str, hash: &str, created_at: Option<i64>) -> u128 {
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
    /// Remembers the deliveries stored in the last two generations' time.
    pub fn load(&self, conn: &rusqlite::Connection) -> Result<usize, db::DbError> {
        let since = db::timestamp(time::OffsetDateTime::now_utc() - 2 * DEDUPE_GENERATION);
        let mut g = self
            .0
            .lock()
            .map_err(|_| db::DbError::Task("poisoned".into()))?;
        db::webhook_events::each_received_since(conn, &since, |store, scope, hash, created| {
            g.current.insert(delivery_key(store, scope, hash, created));
        })
    }

    /// True for a delivery not seen before, now remembered; false for a repeat.
    fn claim(&self, key: u128) -> bool {
        self.claim_at(key, std::time::Instant::now())
    }

    fn claim_at(&self, key: u128, now: std::time::Instant) -> bool {
        let Ok(mut g) = self.0.lock() else {
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

    /// Forgets a claimed delivery that could not be stored (BigCommerce sends it again).
    fn release(&self, key: u128) {
        if let Ok(mut g) = self.0.lock() {
            g.current.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(recent.claim(fresh));
        recent.release(fresh);
        assert!(recent.claim(fresh));
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
        assert!(!recent.claim(delivery_key("abc123", "store/order/updated", "h1", None)));
        assert!(recent.claim(delivery_key("abc123", "store/order/updated", "old", None)));
        assert!(recent.claim(delivery_key("abc123", "store/order/updated", "h3", None)));
    }

    fn sign(secret: &[u8], id: &str, ts: i64, body: &[u8]) -> String {
        let msg = [id.as_bytes(), b".", ts.to_string().as_bytes(), b".", body].concat();
        format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(hmac_sha256(secret, &msg))
        )
    }

    #[test]
    fn standard_webhook_signatures_verify_and_refuse_tampering_and_replays() {
        let body = br#"{"scope":"store/order/updated"}"#;
        let good = SignatureHeaders {
            id: Some("msg_1".into()),
            timestamp: Some("1000".into()),
            signature: Some(format!("v1,bogus {}", sign(b"secret", "msg_1", 1000, body))),
        };
        assert!(verify_standard_signature(b"secret", &good, body, 1000));
        assert!(!verify_standard_signature(b"other", &good, body, 1000));
        assert!(!verify_standard_signature(b"secret", &good, b"{}", 1000));
        assert!(!verify_standard_signature(
            b"secret",
            &good,
            body,
            1000 + 301
        ));
        let missing = SignatureHeaders { id: None, ..good };
        assert!(!verify_standard_signature(b"secret", &missing, body, 1000));
    }
}
