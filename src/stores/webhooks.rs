//! BigCommerce webhook deliveries: parsed, authenticated (the per-store secret header, checked
//! in constant time, plus a Standard Webhooks signature when one is present) and stored before
//! the 200 that acknowledges them. Processing happens off the request path.
//! <https://developer.bigcommerce.com/docs/integrations/webhooks>

use serde::Deserialize;

use crate::bigcommerce::webhook_signature::{SignatureHeaders, verify_standard_signature};
use crate::crypto::constant_time_eq;
use crate::db;
use crate::db::solicitations::SolicitationState;
use crate::db::stores;
use crate::db::webhook_events::NewEvent;
use crate::domain::{BcOrderId, CheckoutId, StoreHash};
use crate::error::{AppError, Public};
use crate::queue::{self, Job};
use crate::state::AppState;

use super::deliveries::delivery_key;

/// How long an order's sync waits for the other webhooks of the same merchant action.
const SYNC_DEBOUNCE: std::time::Duration = std::time::Duration::from_millis(200);

/// The scopes whose deliveries are stored for order management.
const HANDLED: [&str; 6] = [
    "store/order/",
    "store/shipment/",
    "store/app/uninstalled",
    "store/order/refund/",
    CART_CONVERTED,
    CHANNEL,
];

/// A storefront created or changed: provisioning reads the storefronts again and puts the
/// scripts where they now belong.
const CHANNEL: &str = "store/channel/";

/// A cart became an order: a solicited cart sold another way (see `other_payment`).
const CART_CONVERTED: &str = "store/cart/converted";

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

/// The ids a delivery's `data` carries; the rest of it is skipped unread. An order's or a
/// shipment's id is an integer, a cart's a UUID; anything else counts as absent.
#[derive(Debug, Default, Deserialize)]
struct Data {
    #[serde(default, deserialize_with = "id_or_none")]
    id: Option<Id>,
    #[serde(default, rename = "orderId", deserialize_with = "integer_or_none")]
    order_id: Option<i64>,
}

#[derive(Debug)]
enum Id {
    Integer(i64),
    Cart(CheckoutId),
}

fn id_or_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Id>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Number(n) => n.as_i64().map(Id::Integer),
        serde_json::Value::String(s) => CheckoutId::parse(&s).ok().map(Id::Cart),
        _ => None,
    })
}

fn integer_or_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(serde_json::Value::deserialize(d)?.as_i64())
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
        let epoch = state.webhook_secrets.epoch();
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
            state.log_tally.note(
                tracing::Level::WARN,
                "BigCommerce webhooks with a wrong secret refused",
            );
            return Err(refused());
        }
        state.webhook_secrets.remember(&store, secret, epoch);
    }
    if sig.signature.is_none() && state.settings.bigcommerce.require_webhook_signature {
        state.log_tally.note(
            tracing::Level::WARN,
            "BigCommerce webhooks without a signature refused (signatures are required)",
        );
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
                state.log_tally.note(
                    tracing::Level::WARN,
                    "BigCommerce webhooks with a bad signature refused",
                );
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
    let (resource_id, cart) = match data.id {
        Some(Id::Integer(id)) => (Some(id), None),
        Some(Id::Cart(cart)) if body.scope == CART_CONVERTED => (None, Some(cart)),
        _ => (None, None),
    };
    let order_id = if body.scope.starts_with("store/shipment/") || body.scope == CART_CONVERTED {
        data.order_id
    } else if body.scope.starts_with("store/order/") {
        resource_id
    } else {
        None
    };
    let cancelled = body.scope == "store/app/uninstalled";
    let channel = body.scope.starts_with(CHANNEL);
    let key = delivery_key(store.as_str(), &body.scope, &body.hash, body.created_at);
    let Ok(fresh) = state.recent_deliveries.claim(key).await else {
        // The deliveries stored before this start could not be read yet: taken for new, a
        // repeat would be stored twice. BigCommerce delivers it again.
        return Err(AppError::Busy {
            retry_after_secs: 1,
        });
    };
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
            if let (Some(cart), Some(order)) = (&cart, order_id.filter(|id| *id > 0)) {
                db::solicitations::record_conversion(
                    tx,
                    &store,
                    cart.as_str(),
                    BcOrderId(order as u64),
                )?;
            }
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
                _ if channel && fresh => Some(Job::Provision),
                _ => None,
            };
            if let Some(job) = &job {
                queue::enqueue_after(tx, &store, job, SYNC_DEBOUNCE)?;
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
