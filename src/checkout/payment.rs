//! The payment itself: `start` (Incomplete order, token, seQura solicitation, identification
//! form) and the notifications that place the order (IPN `approved` / `needs_review`, events
//! `cancelled`), exactly once however often or concurrently they arrive.

use std::net::IpAddr;

use super::eligibility::{self, Eligibility};
use super::notification::{Notification, NotifiedState, parameters, sign};
use super::{CartInput, build_cart, customer, delivery_address, delivery_method, invoice_address};
use crate::bigcommerce::client::{BcError, StoreApi};
use crate::bigcommerce::models::{Order, OrderProduct, ShippingAddress};
use crate::db;
use crate::db::order_sync::Accepted;
use crate::db::solicitations::{Solicitation, SolicitationState, Solicited};
use crate::domain::{BcOrderId, StoreHash};
use crate::error::{AppError, Public};
use crate::jobs::{self, Job};
use crate::onboarding;
use crate::orders::holding::{OrderData, holding};
use crate::sequra::{
    EventsWebhook, Gui, Merchant, MerchantReference, OrderRequest, Platform, SequraError,
};
use crate::state::AppState;

/// How long the confirmation-page token lives (seconds).
const TOKEN_TTL_SECS: u32 = 7 * 24 * 3600;

/// Who the shopper is, from the request.
#[derive(Debug, Clone, Default)]
pub struct Shopper {
    pub ip: Option<IpAddr>,
    pub user_agent: String,
}

/// What `start` hands the checkout script.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Started {
    /// seQura's identification form (HTML with scripts) to inject.
    pub form: String,
    pub order_id: u64,
}

/// `POST /checkout/{store}/start`.
pub async fn start(
    state: &AppState,
    store: &StoreHash,
    checkout_id: &str,
    product: &str,
    campaign: Option<&str>,
    amount_hint: Option<i64>,
    shopper: &Shopper,
) -> Result<Started, AppError> {
    let lock = state
        .payment_locks
        .lock_for(format!("checkout:{store}:{checkout_id}"));
    let _guard = lock.lock().await;
    let Some(e) = eligibility::eligible(state, store, checkout_id, amount_hint, shopper.ip).await?
    else {
        return Err(AppError::Forbidden(Public::new("err_sequra_not_available")));
    };
    let Some((offered, _)) = e
        .methods
        .iter()
        .find(|(m, _)| m.product == product && m.campaign.as_deref() == campaign)
    else {
        return Err(AppError::Forbidden(Public::new("err_method_not_eligible")));
    };
    let title = offered.title.clone();
    let solicitation = incomplete_order(state, store, &e).await?;
    if solicitation.state.is_final() || solicitation.state == SolicitationState::OnHold {
        return Err(AppError::Forbidden(Public::new(
            "err_checkout_already_paid",
        )));
    }
    let data = order_data(&e.api, solicitation.bc_order_id.0).await?;
    let order = order_request(
        state,
        store,
        &solicitation,
        &data,
        &e.merchant_ref.to_string(),
        "",
        shopper,
    )
    .await?;
    // The server's numbers decide: the amount due must still suit the chosen method.
    let due = order.cart.order_total_with_tax;
    let still_offered = e.methods.iter().any(|(m, raw)| {
        m.product == product
            && m.campaign.as_deref() == campaign
            && raw.min_amount.is_none_or(|min| due >= min)
            && raw.max_amount.is_none_or(|max| due <= max)
    });
    if !still_offered || due <= 0 {
        return Err(AppError::Forbidden(Public::new("err_method_not_eligible")));
    }
    let solicited = state
        .sequra
        .start_solicitation(&e.account, e.merchant_ref.as_str(), &order)
        .await
        .map_err(sequra_failure)?;
    let uuid = solicited.uuid.clone();
    let (ip_s, ua_s) = (
        order.customer.ip_number.clone(),
        order.customer.user_agent.clone(),
    );
    let (id, environment, merchant_ref, product_s, campaign_s, title_s, uuid_s) = (
        solicitation.id,
        e.account.environment.as_str(),
        e.merchant_ref.to_string(),
        product.to_string(),
        campaign.map(str::to_string),
        title.clone(),
        uuid.clone(),
    );
    state
        .db
        .call(move |conn| {
            db::solicitations::mark_solicited(
                conn,
                id,
                &Solicited {
                    environment,
                    merchant_ref: &merchant_ref,
                    product: &product_s,
                    campaign: campaign_s.as_deref(),
                    method_title: &title_s,
                    sequra_uuid: &uuid_s,
                    shopper_ip: &ip_s,
                    user_agent: &ua_s,
                },
            )
        })
        .await?;
    let form = state
        .sequra
        .identification_form(
            &e.account,
            e.merchant_ref.as_str(),
            &uuid,
            product,
            campaign,
        )
        .await
        .map_err(sequra_failure)?;
    tracing::info!(
        order_id = solicitation.bc_order_id.0,
        product,
        "seQura solicitation started"
    );
    Ok(Started {
        form,
        order_id: solicitation.bc_order_id.0,
    })
}

fn sequra_failure(e: SequraError) -> AppError {
    tracing::warn!(error = %e, "seQura refused or failed");
    AppError::Upstream(Public::new("err_sequra_checkout"))
}

/// The Incomplete order of this checkout version: reused while the cart is unchanged, made
/// (with its confirmation token) otherwise.
async fn incomplete_order(
    state: &AppState,
    store: &StoreHash,
    e: &Eligibility,
) -> Result<Solicitation, AppError> {
    let (hash, checkout_id, version) = (store.clone(), e.checkout.id.clone(), e.checkout.version);
    let existing = state
        .db
        .call(move |conn| {
            db::solicitations::for_checkout_version(conn, &hash, &checkout_id, version)
        })
        .await?;
    if let Some(s) = existing {
        return Ok(s);
    }
    let order_id = e.api.create_order_from_checkout(&e.checkout.id).await?;
    let token = e
        .api
        .create_checkout_token(&e.checkout.id, 1, TOKEN_TTL_SECS)
        .await?;
    let (hash, key, checkout_id) = (store.clone(), state.key.clone(), e.checkout.id.clone());
    state
        .db
        .call(move |conn| {
            let id = db::solicitations::create(
                conn,
                &key,
                &hash,
                &checkout_id,
                version,
                BcOrderId(order_id),
                &token,
            )?;
            db::solicitations::get(conn, &hash, id)?
                .ok_or_else(|| db::DbError::Invalid("solicitation vanished".into()))
        })
        .await
        .map_err(Into::into)
}

/// A BigCommerce order as read for seQura: the order, its products, its shipping addresses.
#[derive(Debug, Clone)]
pub struct FetchedOrder {
    pub order: Order,
    pub products: Vec<OrderProduct>,
    pub shipping: Vec<ShippingAddress>,
}

/// Reads the order's current server numbers.
pub async fn order_data(api: &StoreApi, id: u64) -> Result<FetchedOrder, BcError> {
    let (order, products, shipping) = tokio::try_join!(
        api.order(id),
        api.order_products(id),
        api.order_shipping_addresses(id)
    )?;
    Ok(FetchedOrder {
        order,
        products,
        shipping,
    })
}

/// The seQura order built from the BigCommerce order (server numbers only).
pub async fn order_request(
    state: &AppState,
    store: &StoreHash,
    s: &Solicitation,
    data: &FetchedOrder,
    merchant_ref: &str,
    seq_state: &str,
    shopper: &Shopper,
) -> Result<OrderRequest, AppError> {
    let id = s.bc_order_id.0;
    let FetchedOrder {
        order,
        products,
        shipping,
    } = data;
    let cart = build_cart(&CartInput {
        order,
        products,
        shipping,
        checkout_id: &s.checkout_id,
    })
    .map_err(|e| {
        tracing::warn!(error = %e, "the order cannot be paid with seQura");
        AppError::Forbidden(Public::new("err_method_not_eligible"))
    })?;
    let language = store_language(state, store).await?;
    // Confirmations reuse what the shopper's browser sent at start.
    let ip = shopper
        .ip
        .map(|ip| ip.to_string())
        .or_else(|| s.shopper_ip.clone())
        .unwrap_or_default();
    let user_agent = Some(shopper.user_agent.trim())
        .filter(|ua| !ua.is_empty())
        .map(str::to_string)
        .or_else(|| s.user_agent.clone())
        .filter(|ua| !ua.is_empty())
        .unwrap_or_else(|| "unknown".into());
    let params = parameters(&state.key, store, s.bc_order_id, s.id);
    Ok(OrderRequest {
        state: seq_state.to_string(),
        merchant: Merchant {
            id: merchant_ref.to_string(),
            notify_url: Some(state.public("/sequra/ipn")),
            notification_parameters: Some(params.clone()),
            return_url: Some(return_url(state, store, s)),
            events_webhook: Some(EventsWebhook {
                url: state.public("/sequra/events"),
                parameters: Some(params),
            }),
            ..Default::default()
        },
        merchant_reference: Some(MerchantReference {
            order_ref_1: Some(id.to_string()),
            order_ref_2: None,
        }),
        delivery_method: delivery_method(shipping),
        delivery_address: delivery_address(order, shipping),
        invoice_address: invoice_address(order),
        customer: customer(order, &language, &ip, &user_agent, order.customer_id != 0),
        cart,
        gui: Some(Gui {
            layout: "desktop".into(),
        }),
        platform: platform(),
        trackings: None,
    })
}

/// The software seQura is told about.
pub fn platform() -> Platform {
    Platform {
        name: "BigCommerce".into(),
        version: "v3".into(),
        plugin_version: env!("CARGO_PKG_VERSION").into(),
        uname: std::env::consts::OS.into(),
        db_name: "sqlite".into(),
        db_version: rusqlite::version().into(),
    }
}

/// `es-ES` or `en-GB` from the store's language.
async fn store_language(state: &AppState, store: &StoreHash) -> Result<String, AppError> {
    let hash = store.clone();
    let lang = state
        .db
        .call(move |conn| Ok(db::stores::get(conn, &hash)?.and_then(|s| s.language)))
        .await?;
    Ok(match lang.as_deref().map(|l| l.to_ascii_lowercase()) {
        Some(l) if l.starts_with("es") => "es-ES".into(),
        Some(l) if l.starts_with("fr") => "fr-FR".into(),
        Some(l) if l.starts_with("it") => "it-IT".into(),
        Some(l) if l.starts_with("pt") => "pt-PT".into(),
        _ => "en-GB".into(),
    })
}

/// Where seQura sends the shopper back: signed like the notifications.
pub fn return_url(state: &AppState, store: &StoreHash, s: &Solicitation) -> String {
    state.public(&format!(
        "/checkout/{store}/return?order={}&sid={}&signature={}",
        s.bc_order_id,
        s.id,
        sign(&state.key, store, s.bc_order_id, s.id)
    ))
}

/// How a notification was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// 200: handled (or already handled).
    Done,
    /// 410: seQura refused the confirmation (cart changed): the order is not placed.
    Refused,
    /// 503: a service was unavailable; seQura may notify again and nothing is lost.
    RetryLater,
}

/// Handles an IPN or events notification whose signature was verified.
pub async fn notified(state: &AppState, n: &Notification) -> Result<Reply, AppError> {
    let lock = state
        .payment_locks
        .lock_for(format!("solicitation:{}:{}", n.store, n.sid));
    let _guard = lock.lock().await;
    tracing::Span::current().record("store_hash", n.store.as_str());
    let (hash, sid) = (n.store.clone(), n.sid);
    let s = state
        .db
        .call(move |conn| db::solicitations::get(conn, &hash, sid))
        .await?
        .filter(|s| {
            s.bc_order_id == n.order && s.sequra_uuid.as_deref() == Some(n.order_ref.as_str())
        })
        .ok_or(AppError::NotFound)?;
    use NotifiedState as N;
    use SolicitationState as S;
    let target = match (s.state, n.state) {
        (S::Solicited, N::Approved) | (S::OnHold, N::Approved) => S::Approved,
        (S::Solicited, N::NeedsReview) => S::OnHold,
        (S::Solicited, N::Cancelled) | (S::OnHold, N::Cancelled) => S::Cancelled,
        (S::Rejected, _) => return Ok(Reply::Refused),
        // Already there, or a late notification that would move the order backwards.
        (S::OnHold, N::NeedsReview) | (S::Approved, _) | (S::Cancelled, _) => {
            return Ok(Reply::Done);
        }
        (S::Created, _) => return Err(AppError::NotFound),
    };
    let account = onboarding::sequra_account(state, &n.store)
        .await?
        .filter(|a| Some(a.environment.as_str()) == s.environment.as_deref())
        .ok_or_else(|| AppError::Forbidden(Public::new("err_sequra_not_available")))?;
    let merchant_ref = s.merchant_ref.clone().unwrap_or_default();
    let uuid = n.order_ref.clone();

    let mut accepted = None;
    if target != S::Cancelled {
        let api = crate::bigcommerce::lifecycle::store_api(state, &n.store).await?;
        let seq_state = if target == S::Approved {
            "confirmed"
        } else {
            "on_hold"
        };
        let data = match order_data(&api, s.bc_order_id.0).await {
            Ok(d) => d,
            Err(e) if e.is_transient() => return Ok(Reply::RetryLater),
            Err(e) => return Err(e.into()),
        };
        let order = order_request(
            state,
            &n.store,
            &s,
            &data,
            &merchant_ref,
            seq_state,
            &Shopper::default(),
        )
        .await?;
        match state
            .sequra
            .update_order_state(&account, &merchant_ref, &uuid, &order)
            .await
        {
            Ok(()) => {}
            Err(SequraError::Conflict(messages)) => {
                tracing::warn!(
                    ?messages,
                    "seQura refused the confirmation: the cart changed"
                );
                let id = s.id;
                let from = s.state;
                state
                    .db
                    .call(move |conn| db::solicitations::transition(conn, id, from, S::Rejected))
                    .await?;
                return Ok(Reply::Refused);
            }
            Err(e) if e.is_transient() => return Ok(Reply::RetryLater),
            Err(e) => return Err(sequra_failure(e)),
        }
        if target == S::Approved {
            // What seQura now holds: the confirmed cart, nothing shipped.
            accepted = confirmed_holding(&s, &data);
        }
    }
    // seQura has the outcome: record it and the BigCommerce follow-up in one transaction,
    // then acknowledge. The follow-up runs now and, if BigCommerce fails, from the queue.
    let (hash, id, from, order_id) = (n.store.clone(), s.id, s.state, s.bc_order_id);
    let job = state
        .db
        .call(move |conn| {
            let tx = conn.transaction()?;
            if !db::solicitations::transition(&tx, id, from, target)? {
                return Ok(None);
            }
            if let Some(a) = accepted {
                db::order_sync::save(&tx, &hash, &a, false)?;
            }
            let job = jobs::enqueue(
                &tx,
                &hash,
                &Job::PlaceOrder {
                    solicitation_id: id,
                    order_id: order_id.0,
                },
            )?;
            tx.commit()?;
            Ok(Some(job))
        })
        .await?;
    if let Some(job) = job {
        jobs::run_now(state, job).await;
    }
    tracing::info!(
        order_id = s.bc_order_id.0,
        state = target.as_str(),
        "seQura order notified"
    );
    Ok(Reply::Done)
}

/// The accepted state right after confirmation, if the order makes a cart.
fn confirmed_holding(s: &Solicitation, data: &FetchedOrder) -> Option<Accepted> {
    let h = holding(&OrderData {
        order: &data.order,
        products: &data.products,
        shipping: &data.shipping,
        shipments: &[],
        refunds: &[],
        checkout_id: &s.checkout_id,
    })
    .ok()?;
    Some(Accepted {
        solicitation_id: s.id,
        bc_order_id: s.bc_order_id,
        accepted: serde_json::to_string(&h).ok()?,
        shipped_total: 0,
        unshipped_total: h.unshipped_cart.order_total_with_tax,
        refunded_total: 0,
        accepted_at: String::new(),
        shipped_at: None,
    })
}

/// The order confirmation page's path, as the Checkouts API reference documents it. [U]
/// checkout-js itself navigates to `/checkout/order-confirmation/…`: change it here only.
pub const ORDER_CONFIRMATION_PATH: &str = "/order-confirmation";

/// Where the return URL sends the shopper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Returned {
    /// Approved: straight to the store's confirmation page.
    Confirmation(String),
    /// In review: a notice first, then the confirmation page.
    Review(String),
    /// The IPN has not arrived yet.
    Pending,
    /// Rejected or cancelled: back to the checkout, cart intact.
    NotCompleted(String),
}

/// `GET /checkout/{store}/return`: checks the signed parameters, then says where to go.
pub async fn returned(
    state: &AppState,
    store: &StoreHash,
    order: BcOrderId,
    sid: i64,
    signature: &str,
) -> Result<(Returned, Option<String>), AppError> {
    let want = sign(&state.key, store, order, sid);
    if !crate::crypto::constant_time_eq(want.as_bytes(), signature.as_bytes()) {
        return Err(AppError::Forbidden(Public::new("err_return_link")));
    }
    let (hash, key) = (store.clone(), state.key.clone());
    let (s, token, info) = state
        .db
        .call(move |conn| {
            Ok((
                db::solicitations::get(conn, &hash, sid)?,
                db::solicitations::checkout_token(conn, &key, &hash, sid)?,
                db::stores::get(conn, &hash)?,
            ))
        })
        .await?;
    let s = s
        .filter(|s| s.bc_order_id == order)
        .ok_or(AppError::NotFound)?;
    let language = info.as_ref().and_then(|i| i.language.clone());
    let storefront = info
        .and_then(|i| i.storefront_url)
        .ok_or_else(|| AppError::Forbidden(Public::new("err_sequra_not_available")))?;
    let confirmation = format!(
        "{storefront}{ORDER_CONFIRMATION_PATH}/{order}?t={}",
        token.map(|t| t.expose().to_string()).unwrap_or_default()
    );
    let outcome = match s.state {
        SolicitationState::Approved => Returned::Confirmation(confirmation),
        SolicitationState::OnHold => Returned::Review(confirmation),
        SolicitationState::Created | SolicitationState::Solicited => Returned::Pending,
        SolicitationState::Cancelled | SolicitationState::Rejected => {
            Returned::NotCompleted(format!("{storefront}/checkout"))
        }
    };
    Ok((outcome, language))
}
