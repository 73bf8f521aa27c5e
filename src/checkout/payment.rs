//! The payment itself: `start` (Incomplete order, token, seQura solicitation, identification
//! form) and the notifications that place the order (IPN `approved` / `needs_review`, events
//! `cancelled`), exactly once however often or concurrently they arrive.

use std::net::IpAddr;

use super::eligibility::{self, Eligibility};
use super::notification::{Notification, NotifiedState, parameters, sign};
use super::{CartInput, build_cart, customer, delivery_address, delivery_method, invoice_address};
use crate::bigcommerce::client::{OrderUpdate, StoreApi};
use crate::db;
use crate::db::solicitations::{Solicitation, SolicitationState, Solicited};
use crate::domain::{BcOrderId, SequraStatus, StoreHash};
use crate::error::{AppError, Public};
use crate::onboarding;
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
    let order = order_request(
        state,
        store,
        &e.api,
        &solicitation,
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

/// The seQura order built from the current BigCommerce order (server numbers only).
async fn order_request(
    state: &AppState,
    store: &StoreHash,
    api: &StoreApi,
    s: &Solicitation,
    merchant_ref: &str,
    seq_state: &str,
    shopper: &Shopper,
) -> Result<OrderRequest, AppError> {
    let id = s.bc_order_id.0;
    let order = api.order(id).await?;
    let products = api.order_products(id).await?;
    let shipping = api.order_shipping_addresses(id).await?;
    let cart = build_cart(&CartInput {
        order: &order,
        products: &products,
        shipping: &shipping,
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
        delivery_method: delivery_method(&shipping),
        delivery_address: delivery_address(&order, &shipping),
        invoice_address: invoice_address(&order),
        customer: customer(&order, &language, &ip, &user_agent, order.customer_id != 0),
        cart,
        gui: Some(Gui {
            layout: "desktop".into(),
        }),
        platform: Platform {
            name: "BigCommerce".into(),
            version: "v3".into(),
            plugin_version: env!("CARGO_PKG_VERSION").into(),
            uname: std::env::consts::OS.into(),
            db_name: "sqlite".into(),
            db_version: rusqlite::version().into(),
        },
        trackings: None,
    })
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
    let api = crate::bigcommerce::lifecycle::store_api(state, &n.store).await?;
    let merchant_ref = s.merchant_ref.clone().unwrap_or_default();
    let uuid = n.order_ref.clone();

    if target != S::Cancelled {
        let seq_state = if target == S::Approved {
            "confirmed"
        } else {
            "on_hold"
        };
        let order = order_request(
            state,
            &n.store,
            &api,
            &s,
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
        if let Err(e) = place_in_bigcommerce(state, &n.store, &api, &s, target, &uuid).await {
            tracing::warn!(error = %e, "BigCommerce update failed; seQura may notify again");
            return Ok(Reply::RetryLater);
        }
        // seQura asks the shop to confirm again once it knows its order number.
        if let Err(e) = state
            .sequra
            .update_order_state(&account, &merchant_ref, &uuid, &order)
            .await
        {
            tracing::warn!(error = %e, "second confirmation with order_ref_1 failed");
        }
    } else if let Err(e) =
        set_mapped_status(state, &n.store, &api, &s, SequraStatus::Cancelled).await
    {
        tracing::warn!(error = %e, "BigCommerce update failed; seQura may notify again");
        return Ok(Reply::RetryLater);
    }
    let (id, from) = (s.id, s.state);
    state
        .db
        .call(move |conn| db::solicitations::transition(conn, id, from, target))
        .await?;
    tracing::info!(
        order_id = s.bc_order_id.0,
        state = target.as_str(),
        "seQura order notified"
    );
    Ok(Reply::Done)
}

async fn mapped_status(
    state: &AppState,
    store: &StoreHash,
    s: SequraStatus,
) -> Result<Option<u32>, AppError> {
    let hash = store.clone();
    let mappings = state
        .db
        .call(move |conn| db::settings::status_mappings(conn, &hash))
        .await?;
    Ok(mappings
        .into_iter()
        .find(|(x, _)| *x == s)
        .and_then(|(_, id)| id))
}

async fn place_in_bigcommerce(
    state: &AppState,
    store: &StoreHash,
    api: &StoreApi,
    s: &Solicitation,
    target: SolicitationState,
    uuid: &str,
) -> Result<(), AppError> {
    let status = if target == SolicitationState::Approved {
        SequraStatus::Approved
    } else {
        SequraStatus::NeedsReview
    };
    let title = s.method_title.clone().unwrap_or_else(|| "seQura".into());
    api.update_order(
        s.bc_order_id.0,
        &OrderUpdate {
            status_id: mapped_status(state, store, status).await?,
            payment_method: Some(format!("seQura – {title}")),
            payment_provider_id: Some(uuid.to_string()),
        },
    )
    .await?;
    api.put_order_metafield(s.bc_order_id.0, "sequra", "reference", uuid)
        .await?;
    Ok(())
}

async fn set_mapped_status(
    state: &AppState,
    store: &StoreHash,
    api: &StoreApi,
    s: &Solicitation,
    status: SequraStatus,
) -> Result<(), AppError> {
    if let Some(id) = mapped_status(state, store, status).await? {
        api.update_order(
            s.bc_order_id.0,
            &OrderUpdate {
                status_id: Some(id),
                payment_method: None,
                payment_provider_id: None,
            },
        )
        .await?;
    }
    Ok(())
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
