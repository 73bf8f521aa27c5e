//! The payment itself: `start` (Incomplete order, token, seQura solicitation, identification
//! form) and the notifications that place the order (IPN `approved` / `needs_review`, events
//! `cancelled`), exactly once however often or concurrently they arrive.

use std::net::IpAddr;

use super::cart::CartError;
use super::cart::{Services, check_shipped_goods};
use super::eligibility::{self, Eligibility};
use super::notification::{Notification, NotifiedState, Verified, parameters, sign_return};
use super::{
    CartInput, build_cart_for, customer, delivery_address, delivery_method, invoice_address,
};
use crate::bigcommerce::client::{BcError, StoreApi};
use crate::bigcommerce::models::{Order, OrderProduct, ShippingAddress};
use crate::db;
use crate::db::order_sync::Accepted;
use crate::db::solicitations::{
    Attempt, AttemptState, NewAttempt, Solicitation, SolicitationState, Solicited,
};
use crate::db::transaction_log::Outcome;
use crate::domain::{BcOrderId, StoreHash};
use crate::error::{AppError, Public};
use crate::i18n::Message;
use crate::onboarding;
use crate::orders::About;
use crate::orders::holding::{Holding, OrderData, holding_for};
use crate::orders::mark::{self, PaymentMark};
use crate::queue::{self, Job};
use crate::sequra::{
    EventsWebhook, Gui, Merchant, MerchantOptions, MerchantReference, OrderRequest, Platform,
    SequraError,
};
use crate::state::AppState;

/// How long the confirmation-page token lives (seconds).
const TOKEN_TTL_SECS: u32 = 7 * 24 * 3600;

/// Who the shopper is, from the request.
#[derive(Debug, Clone, Default)]
pub struct Shopper {
    pub ip: Option<IpAddr>,
    pub user_agent: String,
    /// The storefront origin the shopper's browser called from.
    pub origin: Option<String>,
}

/// What `start` hands the checkout script: the form to show over the checkout, or (the
/// merchant's hosted page) the app's page that shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Started {
    /// seQura's identification form (HTML with scripts) to inject.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub form: Option<String>,
    /// The app's page with seQura's form (`/checkout/{store}/pay?…`, signed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
    pub order_id: u64,
}

/// The method title an attempt of the single button carries until seQura says which plan the
/// shopper chose (the IPN's `product_code`).
pub const DELEGATED_TITLE: &str = "seQura";

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
    let lock = checkout_lock(state, store, checkout_id);
    let _guard = lock.lock().await;
    let Some(e) = eligibility::eligible(
        state,
        store,
        checkout_id,
        eligibility::Read::Fresh,
        amount_hint,
        eligibility::Caller {
            ip: shopper.ip,
            origin: shopper.origin.as_deref(),
        },
    )
    .await?
    else {
        return Err(AppError::Forbidden(Public::new("err_sequra_not_available")));
    };
    // Exactly what the payment step shows: one button per method, or the single one.
    let Some(offered) = e
        .buttons(DELEGATED_TITLE, "")
        .into_iter()
        .find(|m| m.product == product && m.campaign.as_deref() == campaign)
    else {
        return Err(AppError::Forbidden(Public::new("err_method_not_eligible")));
    };
    let title = offered.title;
    let solicitation = incomplete_order(state, store, &e).await?;
    if solicitation.state.is_final() || solicitation.state == SolicitationState::OnHold {
        return Err(AppError::Forbidden(Public::new(
            "err_checkout_already_paid",
        )));
    }
    let data = order_data(
        state,
        store,
        &e.api,
        solicitation.bc_order_id.0,
        e.merchant_ref.as_str(),
    )
    .await?;
    // Every start is a seQura order of its own (another tab, a retry): each is kept, and its
    // id is signed into its notifications.
    let (hash, sid, deployment, environment, merchant_ref) = (
        store.clone(),
        solicitation.id,
        e.account.deployment.as_str(),
        e.account.environment.as_str(),
        e.merchant_ref.to_string(),
    );
    let (product_s, campaign_s, title_s) = (
        product.to_string(),
        campaign.map(str::to_string),
        title.clone(),
    );
    let attempt = state
        .db
        .call(move |conn| {
            db::solicitations::create_attempt(
                conn,
                &hash,
                sid,
                &NewAttempt {
                    deployment,
                    environment,
                    merchant_ref: &merchant_ref,
                    product: &product_s,
                    campaign: campaign_s.as_deref(),
                    method_title: &title_s,
                },
            )
        })
        .await?;
    let order = order_request(
        state,
        store,
        &solicitation,
        &data,
        &e.merchant_ref.to_string(),
        "",
        shopper,
        Some(attempt),
    )
    .await?;
    // The server's numbers decide: the amount due must still suit the chosen method.
    let due = order.cart.order_total_with_tax;
    if !e.admits(product, campaign, due) {
        return Err(AppError::Forbidden(Public::new("err_method_not_eligible")));
    }
    // What seQura will hold once it confirms this very order (nothing shipped yet).
    let held = confirmed_holding(&solicitation, &data)
        .ok_or_else(|| AppError::Forbidden(Public::new("err_sequra_not_available")))?;
    let solicited = state
        .sequra
        .start_solicitation(&e.account, e.merchant_ref.as_str(), &order)
        .await
        .map_err(|e| sequra_failure(state, e))?;
    let uuid = solicited.uuid.clone();
    let request = serde_json::to_string(&order)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("order request: {e}")))?;
    let held = serde_json::to_string(&held)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("holding: {e}")))?;
    // The cart was built, so its services were read.
    let services = data
        .services
        .as_ref()
        .ok()
        .and_then(|s| serde_json::to_string(s).ok())
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("services of a built cart")))?;
    let (ip_s, ua_s) = (
        order.customer.ip_number.clone(),
        order.customer.user_agent.clone(),
    );
    let (id, deployment, environment, merchant_ref, product_s, campaign_s, title_s, uuid_s) = (
        solicitation.id,
        e.account.deployment.as_str(),
        e.account.environment.as_str(),
        e.merchant_ref.to_string(),
        product.to_string(),
        campaign.map(str::to_string),
        title.clone(),
        uuid.clone(),
    );
    let current = state
        .db
        .call(move |conn| {
            let tx = conn.transaction()?;
            let started = db::solicitations::Started {
                uuid: &uuid_s,
                request: &request,
                holding: &held,
                services: &services,
            };
            db::solicitations::attempt_started(&tx, attempt, &started)?;
            let current = db::solicitations::mark_solicited(
                &tx,
                id,
                &Solicited {
                    deployment,
                    environment,
                    merchant_ref: &merchant_ref,
                    product: &product_s,
                    campaign: campaign_s.as_deref(),
                    method_title: &title_s,
                    sequra_uuid: &uuid_s,
                    shopper_ip: &ip_s,
                    user_agent: &ua_s,
                },
            )?;
            tx.commit()?;
            Ok(current)
        })
        .await?;
    if !current {
        // Another tab's payment finished (or was cancelled) while seQura answered this
        // start: its seQura order is never shown, so it is never completed.
        return Err(AppError::Forbidden(Public::new(
            "err_checkout_already_paid",
        )));
    }
    // Debug: anyone holding a real checkout id may start (within its limits), and a flood of
    // starts must not write a line each at the operator's level (soak seed 7750040).
    tracing::debug!(
        order_id = solicitation.bc_order_id.0,
        product,
        attempt,
        hosted_page = e.hosted_page,
        "seQura solicitation started"
    );
    if e.hosted_page {
        // The page fetches the form when the shopper opens it: seQura's form is per order and
        // never kept (sequra-api.md §4).
        return Ok(Started {
            form: None,
            page: Some(hosted_page_url(state, store, solicitation.id, attempt)),
            order_id: solicitation.bc_order_id.0,
        });
    }
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
        .map_err(|e| sequra_failure(state, e))?;
    Ok(Started {
        form: Some(form),
        page: None,
        order_id: solicitation.bc_order_id.0,
    })
}

/// The hosted page's address for one attempt: signed under a key of its own (it shows that
/// seQura order's form, nothing else), like the return link; no secret in it.
pub fn hosted_page_url(state: &AppState, store: &StoreHash, sid: i64, attempt: i64) -> String {
    state.public(&format!(
        "/checkout/{store}/pay?sid={sid}&attempt={attempt}&signature={}",
        sign_hosted_page(&state.key, store, sid, attempt)
    ))
}

fn sign_hosted_page(
    key: &crate::crypto::SecretsKey,
    store: &StoreHash,
    sid: i64,
    attempt: i64,
) -> String {
    let k = key.derive("sequra-hosted-page-v1");
    hex::encode(crate::crypto::hmac_sha256(
        &k,
        format!("{store}\n{sid}\n{attempt}").as_bytes(),
    ))
}

/// What the hosted page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostedPage {
    /// seQura's form for the attempt, with the way back to the checkout and the origins the
    /// page's policy must admit (seQura's API host, whence its form's script and frame).
    Form {
        html: String,
        back: String,
        /// seQura's origins the form loads from (space-separated).
        sequra_origins: String,
        storefront_origin: Option<String>,
    },
    /// Somewhere else: back to the checkout (form closed for good, or seQura cannot serve
    /// it), or to the order (already paid or in review).
    Redirect(String),
}

/// A hosted page's link whose signature was checked: only [`HostedLink::verify`] makes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostedLink {
    sid: i64,
    attempt: i64,
}

impl HostedLink {
    /// The link's payment, when `signature` is the app's for it. Checked before anything the
    /// payment has is spent (its views of seQura's form are limited): a forged link costs
    /// the real one nothing.
    pub fn verify(
        state: &AppState,
        store: &StoreHash,
        sid: i64,
        attempt: i64,
        signature: &str,
    ) -> Result<Self, AppError> {
        let want = sign_hosted_page(&state.key, store, sid, attempt);
        if !crate::crypto::constant_time_eq(want.as_bytes(), signature.as_bytes()) {
            return Err(AppError::Forbidden(Public::new("err_return_link")));
        }
        Ok(Self { sid, attempt })
    }

    /// The solicitation and attempt it names.
    pub fn ids(&self) -> (i64, i64) {
        (self.sid, self.attempt)
    }
}

/// `GET /checkout/{store}/pay` once its link is verified: fetches the attempt's form from
/// seQura (as `start` does over the checkout) while it can still be completed. Returns the
/// page and the storefront's language.
pub async fn hosted_page(
    state: &AppState,
    store: &StoreHash,
    link: HostedLink,
) -> Result<(HostedPage, Option<String>), AppError> {
    let (sid, attempt) = link.ids();
    let hash = store.clone();
    let (s, a) = state
        .db
        .call(move |conn| {
            Ok((
                db::solicitations::get(conn, &hash, sid)?,
                db::solicitations::attempt(conn, &hash, sid, attempt)?,
            ))
        })
        .await?;
    let (Some(s), Some(a)) = (s, a) else {
        return Err(AppError::NotFound);
    };
    let (storefront, language) =
        crate::stores::storefronts::shopper_home(state, store, s.channel_id).await?;
    let Some(storefront) = storefront else {
        return Err(AppError::Forbidden(Public::new("err_sequra_not_available")));
    };
    let back = format!("{storefront}/checkout");
    // Paid (this attempt or another tab's): the return link says where the order stands.
    if matches!(
        s.state,
        SolicitationState::Approved | SolicitationState::OnHold
    ) {
        return Ok((HostedPage::Redirect(return_url(state, store, &s)), language));
    }
    let open = s.state == SolicitationState::Solicited && a.state == AttemptState::Solicited;
    let Some(uuid) = a.sequra_uuid.as_deref().filter(|_| open) else {
        return Ok((HostedPage::Redirect(back), language));
    };
    let account = onboarding::order_account(state, store, Some(&a.deployment))
        .await?
        .filter(|acc| acc.environment.as_str() == a.environment);
    let Some(account) = account else {
        return Ok((HostedPage::Redirect(back), language));
    };
    let form = state
        .sequra
        .identification_form(
            &account,
            &a.merchant_ref,
            uuid,
            &a.product,
            a.campaign.as_deref(),
        )
        .await;
    let html = match form {
        Ok(html) => html,
        Err(e) => {
            // The shopper goes back to the checkout, cart intact; seQura's answer is the
            // operator's to read (counted: anyone can open a link they were given).
            sequra_failure(state, e);
            return Ok((HostedPage::Redirect(back), language));
        }
    };
    let storefront_origin = url::Url::parse(&storefront)
        .ok()
        .map(|u| u.origin().ascii_serialization());
    Ok((
        HostedPage::Form {
            html,
            back,
            sequra_origins: state.sequra.form_origins(&account),
            storefront_origin,
        },
        language,
    ))
}

/// A shopper's call (anyone's) can meet this on every request during a seQura outage: each
/// error at debug, a count a minute.
fn sequra_failure(state: &AppState, e: SequraError) -> AppError {
    tracing::debug!(error = %e, "seQura refused or failed");
    state.log_tally.note(
        tracing::Level::WARN,
        "seQura refused or failed a checkout call (each error at debug)",
    );
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
    // A cart whose payment seQura declined or cancelled is paid anew, by an order of its own:
    // the cancelled one keeps its status, and its late notifications are still refused.
    let retired = match existing {
        Some(s)
            if matches!(
                s.state,
                SolicitationState::Cancelled | SolicitationState::Rejected
            ) =>
        {
            Some(s.id)
        }
        Some(s) => return Ok(s),
        None => None,
    };
    // Every start of a changed cart makes an order of its own (bigcommerce-api.md §4.1): one
    // of an earlier cart paid (another tab changed the cart before the payment's placement
    // emptied it) means the checkout is paid, and no second order is made to be paid again.
    let (hash, checkout_id) = (store.clone(), e.checkout.id.clone());
    let (paid, earlier) = state
        .db
        .call(move |conn| {
            Ok((
                db::solicitations::paid_for_checkout(conn, &hash, &checkout_id, None)?,
                !db::solicitations::orders_of_checkout(conn, &hash, &checkout_id)?.is_empty(),
            ))
        })
        .await?;
    if paid.is_some() {
        return Err(AppError::Forbidden(Public::new(
            "err_checkout_already_paid",
        )));
    }
    // The token first: BigCommerce refuses one once an order of the checkout is finalised
    // (bigcommerce-api.md §4.1 (d), §4.2), and the documented flow makes it before the order.
    let token = match e
        .api
        .create_checkout_token(&e.checkout.id, 1, TOKEN_TTL_SECS)
        .await
    {
        Ok(token) => Some(token),
        // An earlier order of the checkout left Incomplete (a review seQura then cancelled,
        // of this cart or of an earlier version of it), which finalised the checkout for
        // BigCommerce's tokens: the app's own confirmation page stands in.
        Err(BcError::Rejected { status: 422, .. }) if earlier => None,
        Err(err) => return Err(err.into()),
    };
    let order_id = e.api.create_order_from_checkout(&e.checkout.id).await?;
    let (hash, key, checkout_id) = (store.clone(), state.key.clone(), e.checkout.id.clone());
    let channel = e.checkout.channel_id;
    state
        .db
        .call(move |conn| {
            let tx = conn.transaction()?;
            if let Some(old) = retired
                && !db::solicitations::retire(&tx, old)?
            {
                return Err(db::DbError::Invalid("a retired solicitation moved".into()));
            }
            let id = db::solicitations::create(
                &tx,
                &key,
                &hash,
                &db::solicitations::NewSolicitation {
                    checkout_id: &checkout_id,
                    version,
                    order: BcOrderId(order_id),
                    token: token.as_ref(),
                    channel_id: channel,
                },
            )?;
            let s = db::solicitations::get(&tx, &hash, id)?
                .ok_or_else(|| db::DbError::Invalid("solicitation vanished".into()))?;
            tx.commit()?;
            Ok(s)
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
    /// What makes its products services, or why they cannot be sold.
    pub services: Result<Services, CartError>,
}

/// Reads the order's current server numbers, and its products' services for `merchant_ref`.
pub async fn order_data(
    state: &AppState,
    store: &StoreHash,
    api: &StoreApi,
    id: u64,
    merchant_ref: &str,
) -> Result<FetchedOrder, AppError> {
    let (order, products, shipping) = tokio::try_join!(
        api.order(id),
        api.order_products(id),
        api.order_shipping_addresses(id)
    )?;
    let services =
        super::services::order_services(state, store, api, merchant_ref, &products, true).await?;
    let services = services.and_then(|s| check_shipped_goods(&products, &s).map(|()| s));
    Ok(FetchedOrder {
        order,
        products,
        shipping,
        services,
    })
}

/// The seQura order built from the BigCommerce order (server numbers only), with the
/// notification parameters of `attempt` (none: an attempt started before V8).
#[allow(clippy::too_many_arguments)]
pub async fn order_request(
    state: &AppState,
    store: &StoreHash,
    s: &Solicitation,
    data: &FetchedOrder,
    merchant_ref: &str,
    seq_state: &str,
    shopper: &Shopper,
    attempt: Option<i64>,
) -> Result<OrderRequest, AppError> {
    let id = s.bc_order_id.0;
    let FetchedOrder {
        order,
        products,
        shipping,
        services,
    } = data;
    let cart = services
        .as_ref()
        .map_err(Clone::clone)
        .and_then(|services| {
            build_cart_for(
                &CartInput {
                    order,
                    products,
                    shipping,
                    checkout_id: &s.checkout_id,
                },
                services,
            )
        })
        .map_err(|e| match e {
            CartError::Discrepancy { due, lines } => {
                // For the operator: the order has an amount the cart cannot explain.
                tracing::warn!(
                    order_id = id,
                    amount_due_cents = due,
                    lines_cents = lines,
                    "the order's lines do not add up to its total: seQura not offered"
                );
                AppError::Forbidden(Public::new("err_sequra_not_available"))
            }
            e => {
                tracing::warn!(error = %e, "the order cannot be paid with seQura");
                AppError::Forbidden(Public::new("err_method_not_eligible"))
            }
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
    let params = match attempt {
        Some(a) => parameters(&state.key, store, s.bc_order_id, s.id, a),
        None => std::collections::BTreeMap::from([
            ("store".to_string(), store.to_string()),
            ("order".to_string(), s.bc_order_id.to_string()),
            ("sid".to_string(), s.id.to_string()),
            (
                "signature".to_string(),
                sign_return(&state.key, store, s.bc_order_id, s.id),
            ),
        ]),
    };
    Ok(OrderRequest {
        state: seq_state.to_string(),
        merchant: Merchant {
            id: merchant_ref.to_string(),
            options: first_charge_on(services.as_ref().ok(), products),
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

/// `merchant.options.desired_first_charge_on` where the contract allows a first instalment
/// delay and a service names one (`2027-01-31T00:00:00+00:00`, UTC).
fn first_charge_on(
    services: Option<&Services>,
    products: &[OrderProduct],
) -> Option<MerchantOptions> {
    let at = services?
        .desired_first_charge_on(products, crate::clock::now())?
        .to_offset(time::UtcOffset::UTC);
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]+00:00");
    Some(MerchantOptions {
        desired_first_charge_on: Some(at.format(&format).ok()?),
        ..Default::default()
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

/// Where seQura sends the shopper back, signed with the return-link key (which authorises no
/// notification).
pub fn return_url(state: &AppState, store: &StoreHash, s: &Solicitation) -> String {
    state.public(&format!(
        "/checkout/{store}/return?order={}&sid={}&signature={}",
        s.bc_order_id,
        s.id,
        sign_return(&state.key, store, s.bc_order_id, s.id)
    ))
}

/// How a notification was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// 200: handled (or already handled).
    Done,
    /// 410: seQura refused the confirmation (cart changed), or the order is no longer to be
    /// paid: the order is not placed.
    Refused,
    /// 409: another seQura order already pays this BigCommerce order; this one must not be
    /// charged.
    Duplicate,
    /// 503: a service was unavailable; seQura may notify again and nothing is lost.
    RetryLater,
    /// Signed by the app for one of its orders, but the database does not know its seQura
    /// order: it was restored to a point before it (the caller may recover it, then ask again;
    /// else 404).
    Unknown,
}

/// What a notification does to its attempt and solicitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    /// Nothing (a repeat, or a late notification that would move backwards).
    Nothing,
    /// Answer 410: the order is not to be paid (any more).
    Refuse,
    /// Answer 409: another attempt pays the order.
    Duplicate,
    /// Confirm the attempt to seQura (`confirmed` or `on_hold`) and make it the order's.
    Confirm(SolicitationState),
    /// The attempt is cancelled; with `true`, the order is too (it was this attempt's).
    Cancel(bool),
}

/// The rules: the first attempt seQura approves or puts on hold becomes the order's; an
/// approval beats a hold; any other approval or hold afterwards is a duplicate; seQura's
/// cancellation of the order's attempt cancels the order, even after approval (seQura is the
/// authority on its order).
fn decide(s: &Solicitation, a: &Attempt, notified: NotifiedState, others_open: bool) -> Decision {
    use AttemptState as A;
    use NotifiedState as N;
    use SolicitationState as S;
    let theirs = s.sequra_uuid == a.sequra_uuid && matches!(s.state, S::OnHold | S::Approved);
    match (a.state, notified) {
        (A::Rejected, N::Cancelled) | (A::Cancelled, N::Cancelled) => return Decision::Nothing,
        (A::Rejected, _) | (A::Cancelled, _) => return Decision::Refuse,
        (A::Duplicate, N::Cancelled) => return Decision::Nothing,
        (A::Duplicate, _) => return Decision::Duplicate,
        _ => {}
    }
    match (s.state, notified) {
        (S::Created, _) => Decision::Refuse,
        (S::Solicited, N::Approved) => Decision::Confirm(S::Approved),
        (S::Solicited, N::NeedsReview) => Decision::Confirm(S::OnHold),
        (S::Solicited, N::Cancelled) => Decision::Cancel(!others_open),
        // The order's attempt: approved after review, or a repeat.
        (S::OnHold, N::Approved) if theirs => Decision::Confirm(S::Approved),
        (S::OnHold, N::NeedsReview) | (S::Approved, N::Approved | N::NeedsReview) if theirs => {
            Decision::Nothing
        }
        (S::OnHold | S::Approved, N::Cancelled) if theirs => Decision::Cancel(true),
        // Another attempt approved while the order's is only in review: the approval wins.
        (S::OnHold, N::Approved) => Decision::Confirm(S::Approved),
        (S::OnHold | S::Approved, N::Approved | N::NeedsReview) => Decision::Duplicate,
        (_, N::Cancelled) => Decision::Cancel(false),
        (S::Cancelled | S::Rejected, _) => Decision::Refuse,
    }
}

/// Held by a start for its whole run (one start at a time per checkout): a notification that
/// finds it held knows another tab's start is waiting for its seQura order. Keyed in lower
/// case: however the shopper's script spells an id, one checkout has one lock.
fn checkout_lock(
    state: &AppState,
    store: &StoreHash,
    checkout_id: &str,
) -> std::sync::Arc<tokio::sync::Mutex<()>> {
    state.payment_locks.lock_for(format!(
        "checkout:{store}:{}",
        checkout_id.to_ascii_lowercase()
    ))
}

pub use crate::orders::notification_lock;

/// Handles an IPN or events notification whose signature was verified.
pub async fn notified(
    state: &AppState,
    n: &Notification,
    verified: Verified,
) -> Result<Reply, AppError> {
    let mut _guard = notification_lock(state, &n.store, n.sid).lock_owned().await;
    tracing::Span::current().record("store_hash", n.store.as_str());
    let (s, a, others_open) = match lookup(state, n, verified).await? {
        Lookup::Signed(s, a, open) => (s, a, open),
        Lookup::Lost => return Ok(Reply::Unknown),
        Lookup::Found(s, _, _) => {
            // Under the lock of the solicitation found (not the one the notification names,
            // which may now be another order's), and read again under it.
            drop(_guard);
            _guard = notification_lock(state, &n.store, s.id).lock_owned().await;
            match lookup(state, n, verified).await? {
                Lookup::Found(s, a, open) | Lookup::Signed(s, a, open) => (s, a, open),
                Lookup::Lost => return Ok(Reply::Unknown),
            }
        }
    };
    // Whoever holds a return link (the shopper, their browser's history) can post these as
    // often as they like: counted, not a line each (and never in the store's own log).
    if verified == Verified::Legacy && !a.legacy {
        // The pre-V8 signature is the return link's: it signs only what was started then.
        state.log_tally.note(
            tracing::Level::WARN,
            "notifications signed like a return link refused",
        );
        return Err(AppError::Forbidden(Public::new("err_return_link")));
    }
    if verified == Verified::Legacy
        && n.state == NotifiedState::Cancelled
        && s.state == SolicitationState::Approved
    {
        // The pre-V8 signature is also in that order's return link: it never cancels a paid
        // order (as before V8; seQura's own cancellation of one comes signed anew).
        state.log_tally.note(
            tracing::Level::WARN,
            "pre-V8 signed cancellations of approved orders ignored",
        );
        return Ok(Reply::Done);
    }
    let a = chosen_plan(state, n, a).await?;
    // Another tab's start in flight (it holds the checkout) may still make a seQura order
    // the shopper completes: a cancellation now ends only this attempt. Otherwise the
    // checkout is held until this notification is done, so no start begins half way.
    let checkout = checkout_lock(state, &n.store, &s.checkout_id);
    let starting = checkout.try_lock();
    let others_open = others_open || starting.is_err();
    let decision = decide(&s, &a, n.state, others_open);
    tracing::info!(
        order_id = s.bc_order_id.0,
        attempt = a.id,
        notified = ?n.state,
        ?decision,
        "seQura notification"
    );
    match decision {
        Decision::Nothing => Ok(Reply::Done),
        Decision::Refuse => Ok(Reply::Refused),
        Decision::Duplicate => duplicate(state, &s, &a).await,
        Decision::Cancel(order_too) => cancel(state, &s, &a, order_too).await,
        Decision::Confirm(target) => {
            // One payment per checkout: another cart of it (another tab changed it) may be
            // paid, or being confirmed right now. Confirmations of one checkout take turns,
            // and the later one finds the earlier one's.
            let paying = paying_lock(state, &n.store, &s.checkout_id);
            let _paying = paying.lock().await;
            let (hash, checkout_id, sid) = (n.store.clone(), s.checkout_id.clone(), s.id);
            let paid = state
                .db
                .call(move |conn| {
                    db::solicitations::paid_for_checkout(conn, &hash, &checkout_id, Some(sid))
                })
                .await?;
            if let Some(other) = paid {
                return duplicate(state, &other, &a).await;
            }
            // Nor paid by another method in another tab (BigCommerce made an order of its
            // own from the cart): when BigCommerce cannot tell, seQura asks again later.
            // An approval closes the cart too: nobody else may sell it once seQura charges
            // for it. (A review keeps it: it may end in a cancellation, and the approval
            // after it asks again.)
            let close = target == SolicitationState::Approved;
            // Meanwhile the outcome about to be confirmed goes on the BigCommerce order, where
            // a database restored to a point before this answer finds it again
            // (`orders::recover`): no payment is confirmed that only the database records.
            let marking = async {
                if s.marked_for == Some(target) && s.sequra_uuid == a.sequra_uuid {
                    return Ok(());
                }
                let mark = PaymentMark::of(&a, target);
                let write = mark::write_before_answer(state, &n.store, &s, &mark);
                tokio::time::timeout(super::other_payment::BUDGET, write)
                    .await
                    .unwrap_or_else(|_| Err(AppError::Upstream(Public::new("err_bigcommerce"))))
            };
            let (charge, marked) = tokio::join!(
                super::other_payment::may_charge(state, &n.store, &s, close),
                marking
            );
            match charge {
                Ok(None) => {
                    if let Err(e) = marked {
                        tracing::warn!(order_id = s.bc_order_id.0, error = %e,
                            "the payment's mark could not be written: seQura is answered later");
                        return Ok(Reply::RetryLater);
                    }
                    confirm(state, &n.store, &s, &a, target, others_open).await
                }
                Ok(Some(other)) => paid_otherwise(state, &s, &a, other, others_open).await,
                Err(e @ (AppError::Upstream(_) | AppError::Busy { .. })) => {
                    tracing::warn!(error = %e, "cannot tell whether the cart was paid otherwise");
                    Ok(Reply::RetryLater)
                }
                Err(e) => Err(e),
            }
        }
    }
}

/// An attempt of the single button (`tbs`) takes the plan seQura reports the shopper chose in
/// its form: the IPN's `product_code` (sequra-api.md §6.2; the stand-in sends the plan picked
/// in its `tbs` chooser). From then on the attempt, and the order it pays, are that method's:
/// its title on the BigCommerce order's payment method and in the order panel.
async fn chosen_plan(state: &AppState, n: &Notification, a: Attempt) -> Result<Attempt, AppError> {
    if a.product != eligibility::DELEGATED_PRODUCT || n.state == NotifiedState::Cancelled {
        return Ok(a);
    }
    let Some(code) = n
        .product_code
        .as_deref()
        .filter(|c| super::notification::is_product_code(c))
        .filter(|c| *c != eligibility::DELEGATED_PRODUCT)
    else {
        return Ok(a);
    };
    let title = onboarding::method_title(state, &n.store, &a.merchant_ref, code).await;
    let (id, product, title2) = (a.id, code.to_string(), title.clone());
    let named = state
        .db
        .call(move |conn| db::solicitations::choose_plan(conn, id, &product, &title2))
        .await?;
    if named {
        tracing::info!(
            attempt = a.id,
            product = code,
            "the shopper chose a plan in seQura's form"
        );
    }
    Ok(Attempt {
        product: code.to_string(),
        method_title: title,
        ..a
    })
}

/// A notification's solicitation and attempt (and whether another attempt is still open).
enum Lookup {
    /// The ones it is signed for.
    Signed(Solicitation, Attempt, bool),
    /// Not the ones it is signed for: those are not in the database (or are now another
    /// order's), which a restore to an earlier point does; this order's seQura order of that
    /// reference, found again since (`orders::recover`).
    Found(Solicitation, Attempt, bool),
    /// Signed by the app, yet neither is in the database: lost in a restore.
    Lost,
}

/// Finds what notification `n` is about. A solicitation and attempt that exist for the order
/// the notification is signed for decide alone, as before: a seQura order of another
/// reference under them is refused (404), never looked for elsewhere.
async fn lookup(
    state: &AppState,
    n: &Notification,
    verified: Verified,
) -> Result<Lookup, AppError> {
    let (hash, sid, uuid, order) = (n.store.clone(), n.sid, n.order_ref.clone(), n.order);
    let found = state
        .db
        .call(move |conn| {
            let s = db::solicitations::get(conn, &hash, sid)?.filter(|s| s.bc_order_id == order);
            let a = match (&s, verified) {
                (None, _) => None,
                (Some(_), Verified::Attempt(id)) => {
                    db::solicitations::attempt(conn, &hash, sid, id)?
                }
                (Some(_), Verified::Legacy) => {
                    db::solicitations::attempt_for_uuid(conn, &hash, sid, &uuid)?
                }
            };
            if let (Some(s), Some(a)) = (s.clone(), a) {
                let open = db::solicitations::others_open(conn, sid, a.id)?;
                return Ok(Some(Lookup::Signed(s, a, open)));
            }
            if verified == Verified::Legacy {
                // The pre-V8 signature is also the return link's, whose holder names the
                // seQura order: it answers only for an attempt of its own solicitation, never
                // for one looked for elsewhere or lost in a restore (`orders::recover` would
                // record the order named).
                return Ok(None);
            }
            // An attempt from before V8 answers only to its own (old) signature.
            Ok(Some(
                match db::solicitations::for_order_uuid(conn, &hash, order, &uuid)?
                    .filter(|(_, a)| !a.legacy)
                {
                    Some((s, a)) => {
                        let open = db::solicitations::others_open(conn, s.id, a.id)?;
                        Lookup::Found(s, a, open)
                    }
                    None => Lookup::Lost,
                },
            ))
        })
        .await?;
    match found {
        Some(Lookup::Signed(s, a, open))
            if a.sequra_uuid.as_deref() == Some(n.order_ref.as_str()) =>
        {
            Ok(Lookup::Signed(s, a, open))
        }
        Some(Lookup::Signed(..)) | None => Err(AppError::NotFound),
        Some(other) => Ok(other),
    }
}

/// Held while a notification confirms a payment of the checkout to seQura.
fn paying_lock(
    state: &AppState,
    store: &StoreHash,
    checkout_id: &str,
) -> std::sync::Arc<tokio::sync::Mutex<()>> {
    state.payment_locks.lock_for(format!(
        "paying:{store}:{}",
        checkout_id.to_ascii_lowercase()
    ))
}

/// Confirms the attempt to seQura with the order it reviewed, then records it as the order's
/// and queues the BigCommerce follow-up. Only seQura is called: BigCommerce is the queue's.
async fn confirm(
    state: &AppState,
    store: &StoreHash,
    s: &Solicitation,
    a: &Attempt,
    target: SolicitationState,
    others_open: bool,
) -> Result<Reply, AppError> {
    let account = onboarding::order_account(state, store, Some(&a.deployment))
        .await?
        .filter(|acc| acc.environment.as_str() == a.environment)
        .ok_or_else(|| AppError::Forbidden(Public::new("err_sequra_not_available")))?;
    let seq_state = if target == SolicitationState::Approved {
        "confirmed"
    } else {
        "on_hold"
    };
    let (order, held) = match confirmation(state, store, s, a, seq_state).await {
        Ok(x) => x,
        Err(AppError::Upstream(_) | AppError::Busy { .. }) => return Ok(Reply::RetryLater),
        // A pre-V8 order rebuilt from BigCommerce that no longer makes a cart: refused (410,
        // seQura cancels it) rather than an answer seQura does not document.
        Err(AppError::Forbidden(_)) => return Ok(Reply::Refused),
        Err(e) => return Err(e),
    };
    let uuid = a.sequra_uuid.clone().unwrap_or_default();
    match state
        .sequra
        .update_order_state(&account, &a.merchant_ref, &uuid, &order)
        .await
    {
        Ok(()) => {}
        Err(SequraError::Conflict(messages)) => {
            tracing::warn!(
                ?messages,
                "seQura refused the confirmation: the cart changed"
            );
            return refuse(state, s, a, others_open).await;
        }
        Err(e) if e.is_transient() => return Ok(Reply::RetryLater),
        Err(e) => return Err(sequra_failure(state, e)),
    }
    let accepted = match (target, held) {
        (SolicitationState::Approved, Some(h)) => accepted_of(s, &h),
        _ => None,
    };
    // seQura has the outcome: record it and the BigCommerce follow-up in one transaction,
    // then acknowledge; the queue gives the BigCommerce order its status.
    let (hash, s2, a2) = (store.clone(), s.clone(), a.clone());
    let attempt_state = if target == SolicitationState::Approved {
        AttemptState::Approved
    } else {
        AttemptState::OnHold
    };
    let queued = state
        .db
        .call(move |conn| {
            let tx = conn.transaction()?;
            if !db::solicitations::settle(&tx, s2.id, s2.state, target, &a2)? {
                return Ok(false);
            }
            db::solicitations::set_attempt_state(&tx, a2.id, attempt_state)?;
            if let Some(acc) = accepted {
                db::order_sync::save(&tx, &hash, &acc, false)?;
            }
            queue_placement(&tx, &s2)?;
            tx.commit()?;
            Ok(true)
        })
        .await?;
    if queued {
        state.jobs.wake();
    }
    tracing::info!(
        order_id = s.bc_order_id.0,
        state = target.as_str(),
        "seQura order notified"
    );
    Ok(Reply::Done)
}

/// Refuses an approval seQura asked to have confirmed (answered 410, so seQura cancels its
/// order and charges nothing): the attempt is rejected. An order in review whose approval is
/// not confirmed is over: it gets the status mapped for cancelled. An order not yet decided
/// stays unplaced, and payable while another attempt may still be completed.
async fn refuse(
    state: &AppState,
    s: &Solicitation,
    a: &Attempt,
    others_open: bool,
) -> Result<Reply, AppError> {
    let (s2, a2) = (s.clone(), a.clone());
    let in_review = s.state == SolicitationState::OnHold && s.sequra_uuid == a.sequra_uuid;
    let queued = state
        .db
        .call(move |conn| {
            let tx = conn.transaction()?;
            db::solicitations::set_attempt_state(&tx, a2.id, AttemptState::Rejected)?;
            let mut queued = false;
            if in_review {
                queued = settle_cancelled(&tx, &s2, &a2)?;
            } else if s2.state == SolicitationState::Solicited && !others_open {
                db::solicitations::transition(&tx, s2.id, s2.state, SolicitationState::Rejected)?;
            }
            tx.commit()?;
            Ok(queued)
        })
        .await?;
    if queued {
        state.jobs.wake();
    }
    Ok(Reply::Refused)
}

/// The order to confirm an attempt with: the one solicited (what seQura reviewed and
/// approved), and what seQura then holds. Attempts from before V8 kept no request, nor do
/// attempts found again after a restore: theirs is rebuilt from the BigCommerce order.
pub async fn confirmation(
    state: &AppState,
    store: &StoreHash,
    s: &Solicitation,
    a: &Attempt,
    seq_state: &str,
) -> Result<(OrderRequest, Option<Holding>), AppError> {
    if let Some(request) = a.request.as_deref() {
        let mut order: OrderRequest = serde_json::from_str(request)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("stored order request: {e}")))?;
        order.state = seq_state.to_string();
        let held = a
            .holding
            .as_deref()
            .and_then(|h| serde_json::from_str(h).ok());
        return Ok((order, held));
    }
    let api = crate::stores::lifecycle::store_api(state, store).await?;
    let data = order_data(state, store, &api, s.bc_order_id.0, &a.merchant_ref).await?;
    // Signed for the attempt as it is stored now (one found again after a restore has an id
    // of its own); an attempt from before V8 keeps the old signature.
    let order = order_request(
        state,
        store,
        s,
        &data,
        &a.merchant_ref,
        seq_state,
        &Shopper::default(),
        (!a.legacy).then_some(a.id),
    )
    .await?;
    Ok((order, confirmed_holding(s, &data)))
}

/// Another attempt already pays the order: this one is refused (409) so that seQura does not
/// charge the shopper twice, and the merchant's log says so, once.
async fn duplicate(state: &AppState, s: &Solicitation, a: &Attempt) -> Result<Reply, AppError> {
    if a.state == AttemptState::Duplicate {
        return Ok(Reply::Duplicate);
    }
    let aid = a.id;
    state
        .db
        .call(move |conn| db::solicitations::set_attempt_state(conn, aid, AttemptState::Duplicate))
        .await?;
    let about = about_attempt(s, a);
    let message = Message::new("log_msg_duplicate_payment")
        .text("other", a.sequra_uuid.as_deref().unwrap_or("?"))
        .text("paid", s.sequra_uuid.as_deref().unwrap_or("?"));
    crate::orders::record(
        state,
        &s.store,
        &about,
        DUPLICATE_PAYMENT,
        Outcome::Rejected,
        &message,
    )
    .await;
    tracing::warn!(
        order_id = s.bc_order_id.0,
        attempt = a.id,
        "a second seQura approval for one order was refused"
    );
    Ok(Reply::Duplicate)
}

/// The cart was paid with another method (order `other`): seQura's approval is refused, so
/// that seQura cancels its order and charges nothing, and the merchant's log says why.
async fn paid_otherwise(
    state: &AppState,
    s: &Solicitation,
    a: &Attempt,
    other: u64,
    others_open: bool,
) -> Result<Reply, AppError> {
    let reply = refuse(state, s, a, others_open).await?;
    let message = Message::new("log_msg_paid_otherwise")
        .text("order", other.to_string())
        .text("uuid", a.sequra_uuid.as_deref().unwrap_or("?"));
    crate::orders::record(
        state,
        &s.store,
        &about_attempt(s, a),
        PAID_OTHERWISE,
        Outcome::Rejected,
        &message,
    )
    .await;
    tracing::warn!(
        order_id = s.bc_order_id.0,
        other_order = other,
        attempt = a.id,
        "a seQura approval of a cart paid otherwise was refused"
    );
    Ok(reply)
}

/// The log's event for an approval refused because the cart was paid otherwise.
pub const PAID_OTHERWISE: &str = "paid_otherwise";
/// The log's event for a second payment refused.
pub const DUPLICATE_PAYMENT: &str = "duplicate_payment";
/// The log's event for seQura cancelling an order.
pub const SEQURA_CANCELLED: &str = "sequra_cancellation";

/// seQura cancelled the attempt; with `order_too` the order is cancelled as well: recorded, and
/// the BigCommerce order given the status mapped for cancelled (from the queue). No call back
/// to seQura.
async fn cancel(
    state: &AppState,
    s: &Solicitation,
    a: &Attempt,
    order_too: bool,
) -> Result<Reply, AppError> {
    let (s2, a2) = (s.clone(), a.clone());
    let was_approved = s.state == SolicitationState::Approved;
    let cancelled = state
        .db
        .call(move |conn| {
            let tx = conn.transaction()?;
            db::solicitations::set_attempt_state(&tx, a2.id, AttemptState::Cancelled)?;
            let cancelled = order_too && settle_cancelled(&tx, &s2, &a2)?;
            tx.commit()?;
            Ok(cancelled)
        })
        .await?;
    if !cancelled {
        return Ok(Reply::Done);
    }
    state.jobs.wake();
    // A payment that had an outcome says on its order that seQura cancelled it. Best effort:
    // the cancellation is recorded already, and its placement writes the mark too.
    if matches!(
        s.state,
        SolicitationState::Approved | SolicitationState::OnHold
    ) && let Err(e) = mark::write_before_answer(
        state,
        &s.store,
        s,
        &PaymentMark::of(a, SolicitationState::Cancelled),
    )
    .await
    {
        tracing::warn!(order_id = s.bc_order_id.0, error = %e,
            "the cancellation's mark waits for its placement");
    }
    if was_approved {
        let about = about_attempt(s, a);
        crate::orders::record(
            state,
            &s.store,
            &about,
            SEQURA_CANCELLED,
            Outcome::Sent,
            &Message::new("log_msg_sequra_cancelled"),
        )
        .await;
    }
    Ok(Reply::Done)
}

/// The solicitation is cancelled by this attempt and the BigCommerce order is to get the
/// cancelled status (within `tx`); false when it had moved on already.
fn settle_cancelled(
    tx: &rusqlite::Connection,
    s: &Solicitation,
    a: &Attempt,
) -> Result<bool, db::DbError> {
    let settled = db::solicitations::settle(tx, s.id, s.state, SolicitationState::Cancelled, a)?;
    if settled {
        queue_placement(tx, s)?;
    }
    Ok(settled)
}

/// Queues giving the BigCommerce order the solicitation's new outcome (within `tx`).
fn queue_placement(tx: &rusqlite::Connection, s: &Solicitation) -> Result<(), db::DbError> {
    queue::enqueue(
        tx,
        &s.store,
        &Job::PlaceOrder {
            solicitation_id: s.id,
            order_id: s.bc_order_id.0,
        },
    )?;
    Ok(())
}

/// A log entry's subject: the order and this attempt's seQura order.
fn about_attempt<'a>(s: &Solicitation, a: &'a Attempt) -> About<'a> {
    About {
        order: Some(s.bc_order_id),
        sequra_uuid: a.sequra_uuid.as_deref(),
        environment: Some(&a.environment),
        merchant_ref: Some(&a.merchant_ref),
    }
}

/// The accepted state right after confirmation.
fn accepted_of(s: &Solicitation, h: &Holding) -> Option<Accepted> {
    Some(Accepted {
        solicitation_id: s.id,
        bc_order_id: s.bc_order_id,
        accepted: serde_json::to_string(h).ok()?,
        shipped_total: 0,
        unshipped_total: h.unshipped_cart.order_total_with_tax,
        refunded_total: 0,
        accepted_at: String::new(),
        shipped_at: None,
    })
}

/// What seQura holds once it confirms the order as it is now, if the order makes a cart.
pub fn confirmed_holding(s: &Solicitation, data: &FetchedOrder) -> Option<Holding> {
    holding_for(
        &OrderData {
            order: &data.order,
            products: &data.products,
            shipping: &data.shipping,
            shipments: &[],
            refunds: &[],
            checkout_id: &s.checkout_id,
        },
        data.services.as_ref().ok()?,
    )
    .ok()
}

/// The order confirmation page's path, as the Checkouts API reference documents it. [U]
/// checkout-js itself navigates to `/checkout/order-confirmation/…`: change it here only.
pub const ORDER_CONFIRMATION_PATH: &str = "/order-confirmation";

/// Where the return URL sends the shopper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Returned {
    /// Approved: straight to the store's confirmation page.
    Confirmation(String),
    /// Approved, without a way to the store's confirmation page (no checkout token, or it was
    /// spent): the app's own confirmation of the order.
    Placed(BcOrderId),
    /// In review: a notice first, then the confirmation page (when there is one).
    Review(Option<String>),
    /// The IPN has not arrived yet.
    Pending,
    /// Rejected or cancelled: back to the checkout, cart intact.
    NotCompleted(String),
}

/// `GET /checkout/{store}/return`: checks the signed parameters, then says where to go.
/// `placed`: the link the checkout script follows back to a paid order (signed apart).
pub async fn returned(
    state: &AppState,
    store: &StoreHash,
    order: BcOrderId,
    sid: i64,
    signature: &str,
    placed: bool,
) -> Result<(Returned, Option<String>), AppError> {
    let want = if placed {
        sign_placed(&state.key, store, order, sid)
    } else {
        sign_return(&state.key, store, order, sid)
    };
    if !crate::crypto::constant_time_eq(want.as_bytes(), signature.as_bytes()) {
        return Err(AppError::Forbidden(Public::new("err_return_link")));
    }
    let (hash, key) = (store.clone(), state.key.clone());
    let (s, token) = state
        .db
        .call(move |conn| {
            Ok((
                db::solicitations::get(conn, &hash, sid)?,
                db::solicitations::checkout_token(conn, &key, &hash, sid)?,
            ))
        })
        .await?;
    let s = s
        .filter(|s| s.bc_order_id == order)
        .ok_or(AppError::NotFound)?;
    // Back to the storefront the shopper paid on, in its language.
    let (storefront, language) =
        crate::stores::storefronts::shopper_home(state, store, s.channel_id).await?;
    // A storefront gone since the shopper paid there: the app's own pages say where the
    // order stands (another storefront would not show it).
    let Some(storefront) = storefront else {
        let outcome = match s.state {
            SolicitationState::Approved => Returned::Placed(order),
            SolicitationState::OnHold => Returned::Review(None),
            SolicitationState::Created | SolicitationState::Solicited => Returned::Pending,
            SolicitationState::Cancelled | SolicitationState::Rejected => {
                return Err(AppError::Forbidden(Public::new("err_sequra_not_available")));
            }
        };
        return Ok((outcome, language));
    };
    // The placed link never leads to the token: the shopper has been there already.
    let confirmation = token.filter(|_| !placed).map(|t| {
        format!(
            "{storefront}{ORDER_CONFIRMATION_PATH}/{order}?t={}",
            t.expose()
        )
    });
    let outcome = match (s.state, confirmation) {
        (SolicitationState::Approved, Some(url)) => Returned::Confirmation(url),
        (SolicitationState::Approved, None) => Returned::Placed(order),
        (SolicitationState::OnHold, url) => Returned::Review(url),
        (SolicitationState::Created | SolicitationState::Solicited, _) => Returned::Pending,
        (SolicitationState::Cancelled | SolicitationState::Rejected, _) => {
            Returned::NotCompleted(format!("{storefront}/checkout"))
        }
    };
    Ok((outcome, language))
}

/// The signature of the link to a paid order's confirmation the checkout script is given:
/// under a key of its own, so that it never stands for the return link (which leads to the
/// checkout token).
fn sign_placed(
    key: &crate::crypto::SecretsKey,
    store: &StoreHash,
    order: BcOrderId,
    sid: i64,
) -> String {
    let k = key.derive("sequra-placed-link-v1");
    hex::encode(crate::crypto::hmac_sha256(
        &k,
        format!("{store}\n{order}\n{sid}").as_bytes(),
    ))
}

/// What the checkout script is told about the checkout's seQura payments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckoutPayment {
    /// Paid or in review: the order is placed; the app's page about it.
    Placed(String),
    /// Its last payment was declined or cancelled: the cart may be paid again.
    Declined,
}

/// The checkout's seQura payment, from the app's records alone (no BigCommerce call: the
/// cart of a paid checkout is gone).
pub async fn checkout_payment(
    state: &AppState,
    store: &StoreHash,
    checkout_id: &str,
    origin: Option<&str>,
) -> Result<Option<CheckoutPayment>, AppError> {
    let (hash, checkout) = (store.clone(), checkout_id.to_string());
    let (paid, latest) = state
        .db
        .call(move |conn| {
            Ok((
                db::solicitations::paid_for_checkout(conn, &hash, &checkout, None)?,
                db::solicitations::latest_for_checkout(conn, &hash, &checkout)?,
            ))
        })
        .await?;
    // Told only to the checkout's own storefront, like everything else about it.
    if let Some(s) = paid.as_ref().or(latest.as_ref()) {
        crate::stores::storefronts::admits(state, store, s.channel_id, origin).await?;
    }
    if let Some(s) = paid {
        let link = format!(
            "/checkout/{store}/return?order={}&sid={}&placed=1&signature={}",
            s.bc_order_id,
            s.id,
            sign_placed(&state.key, store, s.bc_order_id, s.id)
        );
        return Ok(Some(CheckoutPayment::Placed(state.public(&link))));
    }
    Ok(latest
        .filter(|s| {
            matches!(
                s.state,
                SolicitationState::Cancelled | SolicitationState::Rejected
            )
        })
        .map(|_| CheckoutPayment::Declined))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solicitation(state: SolicitationState, uuid: &str) -> Solicitation {
        Solicitation {
            id: 1,
            store: StoreHash::parse("abc").unwrap(),
            checkout_id: "c".into(),
            checkout_version: 1,
            bc_order_id: BcOrderId(7),
            environment: Some("sandbox".into()),
            merchant_ref: Some("m".into()),
            product: Some("i1".into()),
            campaign: None,
            method_title: Some("Paga después".into()),
            sequra_uuid: Some(uuid.into()),
            state,
            shopper_ip: None,
            user_agent: None,
            placed_at: None,
            status_written_for: None,
            default_status_written: None,
            default_status_intended: None,
            channel_id: None,
            deployment: Some("sequra".into()),
            marked_for: None,
        }
    }

    fn attempt(state: AttemptState, uuid: &str) -> Attempt {
        Attempt {
            id: 2,
            solicitation_id: 1,
            sequra_uuid: Some(uuid.into()),
            environment: "sandbox".into(),
            merchant_ref: "m".into(),
            product: "i1".into(),
            campaign: None,
            method_title: "Paga después".into(),
            state,
            request: None,
            holding: None,
            legacy: false,
            deployment: "sequra".into(),
            services: None,
        }
    }

    #[test]
    fn the_first_approval_pays_and_any_later_one_is_a_duplicate() {
        use AttemptState as A;
        use Decision as D;
        use NotifiedState as N;
        use SolicitationState as S;
        #[rustfmt::skip]
        let cases = [
            // (order, its attempt, this attempt, notified, others open) → decision
            (S::Solicited, "b", (A::Solicited, "a"), N::Approved, true, D::Confirm(S::Approved)),
            (S::Solicited, "b", (A::Solicited, "a"), N::NeedsReview, false, D::Confirm(S::OnHold)),
            (S::Solicited, "b", (A::Solicited, "a"), N::Cancelled, true, D::Cancel(false)),
            (S::Solicited, "a", (A::Solicited, "a"), N::Cancelled, false, D::Cancel(true)),
            (S::OnHold, "a", (A::OnHold, "a"), N::Approved, false, D::Confirm(S::Approved)),
            (S::OnHold, "a", (A::OnHold, "a"), N::NeedsReview, false, D::Nothing),
            (S::OnHold, "a", (A::OnHold, "a"), N::Cancelled, false, D::Cancel(true)),
            // An approval beats another attempt's review; a second review is a duplicate.
            (S::OnHold, "a", (A::Solicited, "b"), N::Approved, false, D::Confirm(S::Approved)),
            (S::OnHold, "a", (A::Solicited, "b"), N::NeedsReview, false, D::Duplicate),
            (S::Approved, "a", (A::Approved, "a"), N::Approved, false, D::Nothing),
            (S::Approved, "a", (A::Approved, "a"), N::NeedsReview, false, D::Nothing),
            (S::Approved, "a", (A::Approved, "a"), N::Cancelled, false, D::Cancel(true)),
            (S::Approved, "a", (A::Solicited, "b"), N::Approved, false, D::Duplicate),
            (S::Approved, "a", (A::OnHold, "b"), N::Approved, false, D::Duplicate),
            (S::Approved, "a", (A::Duplicate, "b"), N::Approved, false, D::Duplicate),
            (S::Approved, "a", (A::OnHold, "b"), N::Cancelled, false, D::Cancel(false)),
            (S::Cancelled, "a", (A::Cancelled, "a"), N::Approved, false, D::Refuse),
            (S::Cancelled, "a", (A::Solicited, "b"), N::Approved, false, D::Refuse),
            (S::Rejected, "a", (A::Rejected, "a"), N::Approved, false, D::Refuse),
            (S::Solicited, "b", (A::Rejected, "a"), N::Approved, true, D::Refuse),
        ];
        for (s_state, s_uuid, (a_state, a_uuid), notified, open, want) in cases {
            let s = solicitation(s_state, s_uuid);
            let a = attempt(a_state, a_uuid);
            assert_eq!(
                decide(&s, &a, notified, open),
                want,
                "{s_state:?}/{s_uuid} {a_state:?}/{a_uuid} {notified:?}"
            );
        }
    }
}
