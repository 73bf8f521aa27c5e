//! The shopper's endpoints: `POST /checkout/{store}/methods` and `/start` (called by the
//! checkout script, CORS only for the store's storefront), `GET /checkout/{store}/return`
//! (seQura sends the shopper back here), and seQura's `POST /sequra/ipn` and `/sequra/events`.
//! <https://docs.sequra.com/docs/start-solicitation>

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use serde::Deserialize;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use super::respond::{html_page, log_failure, redirect, with_retry_after};
use crate::checkout::eligibility;
use crate::checkout::notification::{Notification, NotificationError};
use crate::checkout::payment::{self, CheckoutPayment, Reply as NotifyReply, Returned, Shopper};
use crate::domain::{BcOrderId, CheckoutId, IpRange, StoreHash, caller_network, canonical_ip};
use crate::error::{AppError, Public};
use crate::i18n::Lang;
use crate::state::AppState;

const MAX_JSON: u64 = 16 * 1024;
const MAX_FORM: u64 = 64 * 1024;
/// Requests per shopper IP per minute (offices and mobile networks share addresses).
pub(super) const PER_IP_PER_MINUTE: u32 = 600;
/// Pending pages re-check this many times, two seconds apart, before explaining.
const PENDING_CHECKS: u32 = 15;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MethodsBody {
    checkout_id: String,
    /// The outstanding balance the storefront shows (store credit applied), in cents.
    #[serde(default)]
    amount: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartBody {
    checkout_id: String,
    product: String,
    #[serde(default)]
    campaign: Option<String>,
    #[serde(default)]
    amount: Option<i64>,
}

#[derive(Deserialize)]
struct HostedQuery {
    sid: i64,
    attempt: i64,
    signature: String,
}

#[derive(Deserialize)]
struct ReturnQuery {
    order: String,
    sid: i64,
    signature: String,
    #[serde(default)]
    attempt: u32,
    /// The checkout script's link back to a paid order (signed apart from the return link).
    #[serde(default)]
    placed: Option<String>,
}

pub fn routes(
    state: AppState,
) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone + Send + Sync + 'static {
    let with_state = {
        let state = state.clone();
        warp::any().map(move || state.clone())
    };
    let client_ip = {
        let state = state.clone();
        crate::server::peer()
            .and(warp::header::optional::<String>("x-forwarded-for"))
            .map(move |peer: Option<SocketAddr>, fwd: Option<String>| {
                client_ip(&state, peer, fwd.as_deref())
            })
    };
    let json_body = warp::body::content_length_limit(MAX_JSON)
        .and(warp::body::bytes())
        .or(warp::any().map(Bytes::new))
        .unify();
    // Handlers are boxed: every request's future is one enum over all routes' futures, and
    // these (outbound calls to BigCommerce and seQura) are kilobytes, copied on every request.
    let methods = warp::path!("checkout" / String / "methods")
        .and(warp::post())
        .and(with_state.clone())
        .and(warp::header::optional::<String>("origin"))
        .and(client_ip.clone())
        .and(json_body)
        .then(
            |store: String,
             state: AppState,
             origin: Option<String>,
             ip: Option<IpAddr>,
             body: Bytes| {
                Box::pin(async move {
                    let (store, allowed) =
                        match allowed_origin(&state, &store, origin.as_deref(), ip).await {
                            Ok(x) => x,
                            Err(e) => return json_reply(&state, Err(e), None),
                        };
                    let result = async {
                        let body: MethodsBody = parse_json(&body)?;
                        let checkout = checkout_id(&body.checkout_id)?;
                        limit(&state, ("methods", &store, checkout.key()), 60)?;
                        let payment = payment::checkout_payment(
                            &state,
                            &store,
                            checkout.as_str(),
                            origin.as_deref(),
                        )
                        .await?;
                        if let Some(CheckoutPayment::Placed(url)) = payment {
                            // A page restored from the browser's cache after paying: its
                            // form is stale, the order is placed.
                            return Ok(serde_json::json!({ "methods": [], "placed": url }));
                        }
                        let eligible = eligibility::eligible(
                            &state,
                            &store,
                            checkout.as_str(),
                            // Showing buttons only: `start` reads the checkout afresh.
                            eligibility::Read::Recent,
                            body.amount,
                            eligibility::Caller {
                                ip,
                                origin: origin.as_deref(),
                            },
                        )
                        .await?;
                        let i18n = &state.i18n;
                        let (title, detail) =
                            ("checkout_single_button", "checkout_single_button_detail");
                        let methods = eligible
                            .as_ref()
                            .map(|e| e.buttons(i18n.t(Lang::En, title), i18n.t(Lang::En, detail)))
                            .unwrap_or_default();
                        let mut answer = serde_json::json!({ "methods": methods });
                        if eligible.as_ref().is_some_and(|e| e.single_button) && !methods.is_empty()
                        {
                            // The single button's words in every language: the script shows
                            // the storefront page's.
                            answer["single"] = serde_json::json!({
                                "title": i18n.all(title, &[]),
                                "detail": i18n.all(detail, &[]),
                            });
                        }
                        if payment == Some(CheckoutPayment::Declined) {
                            answer["last_payment"] = "declined".into();
                            answer["notice"] = state.i18n.all("shopper_declined_notice", &[]);
                        }
                        Ok(answer)
                    }
                    .await;
                    json_reply(&state, result, allowed)
                })
            },
        );
    let start = warp::path!("checkout" / String / "start")
        .and(warp::post())
        .and(with_state.clone())
        .and(warp::header::optional::<String>("origin"))
        .and(client_ip.clone())
        .and(warp::header::optional::<String>("user-agent"))
        .and(json_body)
        .then(
            |store: String,
             state: AppState,
             origin: Option<String>,
             ip: Option<IpAddr>,
             ua: Option<String>,
             body: Bytes| {
                Box::pin(async move {
                    let (store, allowed) =
                        match allowed_origin(&state, &store, origin.as_deref(), ip).await {
                            Ok(x) => x,
                            Err(e) => return json_reply(&state, Err(e), None),
                        };
                    let result = async {
                        let body: StartBody = parse_json(&body)?;
                        let checkout = checkout_id(&body.checkout_id)?;
                        limit(&state, ("start", &store, checkout.key()), 10)?;
                        let shopper = Shopper {
                            ip,
                            user_agent: ua.unwrap_or_default().chars().take(500).collect(),
                            origin: origin.clone(),
                        };
                        let started = payment::start(
                            &state,
                            &store,
                            checkout.as_str(),
                            &body.product,
                            body.campaign.as_deref().filter(|c| !c.is_empty()),
                            body.amount,
                            &shopper,
                        )
                        .await?;
                        Ok(serde_json::to_value(started).unwrap_or_default())
                    }
                    .await;
                    json_reply(&state, result, allowed)
                })
            },
        );
    let preflight = warp::path!("checkout" / String / String)
        .and(warp::options())
        .and(with_state.clone())
        .and(warp::header::optional::<String>("origin"))
        .then(
            |store: String, _action: String, state: AppState, origin: Option<String>| {
                Box::pin(async move {
                    let allowed = match parse_store(&store) {
                        Ok(store) => crate::stores::storefronts::allowed_origin(
                            &state,
                            &store,
                            origin.as_deref(),
                        )
                        .await
                        .ok()
                        .flatten(),
                        Err(_) => None,
                    };
                    let mut resp = warp::reply::with_status(warp::reply(), StatusCode::NO_CONTENT)
                        .into_response();
                    if let Some(o) = allowed {
                        cors(&mut resp, &o);
                        let h = resp.headers_mut();
                        h.insert(
                            header::ACCESS_CONTROL_ALLOW_METHODS,
                            HeaderValue::from_static("POST"),
                        );
                        h.insert(
                            header::ACCESS_CONTROL_ALLOW_HEADERS,
                            HeaderValue::from_static("content-type"),
                        );
                        h.insert(
                            header::ACCESS_CONTROL_MAX_AGE,
                            HeaderValue::from_static("600"),
                        );
                    }
                    resp
                })
            },
        );
    let returned = warp::path!("checkout" / String / "return")
        .and(warp::get())
        .and(with_state.clone())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(super::respond::accept_language())
        .then(
            |store: String, state: AppState, raw: String, browser: Lang| {
                Box::pin(async move {
                    // The storefront's language once the link is known, else the browser's.
                    let mut page_lang = browser;
                    let page = async {
                        let store = parse_store(&store)?;
                        let q: ReturnQuery = serde_urlencoded::from_str(&raw).map_err(|_| {
                            AppError::BadRequest(crate::error::Public::new("err_return_link"))
                        })?;
                        let order = BcOrderId::parse(&q.order).map_err(|_| {
                            AppError::BadRequest(crate::error::Public::new("err_return_link"))
                        })?;
                        let (outcome, language) = payment::returned(
                            &state,
                            &store,
                            order,
                            q.sid,
                            &q.signature,
                            q.placed.is_some(),
                        )
                        .await?;
                        let lang = language.map_or(browser, |l| Lang::from_locale(Some(&l)));
                        page_lang = lang;
                        shopper_page(&state, lang, outcome, &raw, q.attempt)
                    }
                    .await;
                    super::respond::finish(&state, page_lang, page)
                })
            },
        );
    let hosted = warp::path!("checkout" / String / "pay")
        .and(warp::get())
        .and(with_state.clone())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(super::respond::accept_language())
        .and(client_ip)
        .then(
            |store: String, state: AppState, raw: String, browser: Lang, ip: Option<IpAddr>| {
                Box::pin(async move {
                    let mut page_lang = browser;
                    let page = async {
                        let store = parse_store(&store)?;
                        limit(
                            &state,
                            ("ip", &store, ip.map(caller_network)),
                            PER_IP_PER_MINUTE,
                        )?;
                        let q: HostedQuery = serde_urlencoded::from_str(&raw).map_err(|_| {
                            AppError::BadRequest(crate::error::Public::new("err_return_link"))
                        })?;
                        let link = payment::HostedLink::verify(
                            &state,
                            &store,
                            q.sid,
                            q.attempt,
                            &q.signature,
                        )?;
                        // Each view reads seQura's form: a few a minute per payment (a real
                        // link's views only: forged ones never reach this).
                        limit(&state, ("pay", &store, q.sid, q.attempt), 20)?;
                        let (page, language) = payment::hosted_page(&state, &store, link).await?;
                        let lang = language.map_or(browser, |l| Lang::from_locale(Some(&l)));
                        page_lang = lang;
                        hosted_form_page(&state, lang, page)
                    }
                    .await;
                    super::respond::finish(&state, page_lang, page)
                })
            },
        );
    let ipn = warp::path!("sequra" / "ipn")
        .map(|| false)
        .or(warp::path!("sequra" / "events").map(|| true))
        .unify()
        .and(warp::post())
        .and(with_state)
        .and(
            warp::body::content_length_limit(MAX_FORM)
                .and(warp::body::bytes())
                .or(warp::any().map(Bytes::new))
                .unify(),
        )
        .then(|events: bool, state: AppState, body: Bytes| {
            Box::pin(async move {
                let resp = notification(&state, events, &body).await;
                let kind = if events { "event" } else { "ipn" };
                crate::metrics::notification(kind, resp.status().as_u16());
                resp
            })
        });
    methods
        .or(start)
        .unify()
        .or(preflight)
        .unify()
        .or(returned)
        .unify()
        .or(hosted)
        .unify()
        .or(ipn)
        .unify()
}

/// Who may read the answer: the store, and the caller's origin when it is the store's
/// storefront (every answer to it carries the CORS headers, refusals included, or the browser
/// hides them from the script). Any other origin is refused. The limit per store and caller
/// comes first: a flood with any origin costs no database read past it (a caller over the
/// limit gets its 429 without the CORS headers).
async fn allowed_origin(
    state: &AppState,
    store: &str,
    origin: Option<&str>,
    ip: Option<IpAddr>,
) -> Result<(StoreHash, Option<String>), AppError> {
    let store = parse_store(store)?;
    // Per store: a flood against one store does not lock its shoppers out of another's.
    limit(
        state,
        ("ip", &store, ip.map(caller_network)),
        PER_IP_PER_MINUTE,
    )?;
    let allowed = crate::stores::storefronts::allowed_origin(state, &store, origin).await?;
    Ok((store, allowed))
}

/// A checkout id of the wrong shape is unknown without asking BigCommerce.
fn checkout_id(s: &str) -> Result<CheckoutId, AppError> {
    CheckoutId::parse(s).map_err(|_| AppError::NotFound)
}

pub(super) fn parse_store(s: &str) -> Result<StoreHash, AppError> {
    StoreHash::parse(s).map_err(|_| AppError::NotFound)
}

fn parse_json<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, AppError> {
    serde_json::from_slice(body)
        .map_err(|_| AppError::BadRequest(crate::error::Public::new("err_request_body")))
}

/// The shopper's IP: the peer, unless the peer is a configured trusted proxy; then the
/// `X-Forwarded-For` list is walked from the right (proxies append the address they saw, so
/// only the right end is theirs; the left end is whatever the client sent) and the first
/// address that is not a trusted proxy is the shopper's.
pub(super) fn client_ip(
    state: &AppState,
    peer: Option<SocketAddr>,
    forwarded: Option<&str>,
) -> Option<IpAddr> {
    client_ip_from(&state.trusted_proxies, peer, forwarded)
}

fn client_ip_from(
    trusted: &[IpRange],
    peer: Option<SocketAddr>,
    forwarded: Option<&str>,
) -> Option<IpAddr> {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|r| r.contains(ip));
    // A `[::]` listener sees IPv4 peers as `::ffff:a.b.c.d`: the IPv4 address is meant.
    let peer = canonical_ip(peer?.ip());
    if !is_trusted(peer) {
        return Some(peer);
    }
    let mut nearest = peer;
    for hop in forwarded.unwrap_or("").rsplit(',') {
        match forwarded_hop(hop) {
            Some(ip) if is_trusted(ip) => nearest = ip,
            Some(ip) => return Some(ip),
            // Unreadable: nothing left of it can be believed; the last proxy's view stands.
            None => break,
        }
    }
    Some(nearest)
}

/// One `X-Forwarded-For` entry: an address, bracketed or not, with or without a port (some
/// proxies add the client's port).
fn forwarded_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    let ip = hop
        .parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            hop.strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .and_then(|h| h.parse().ok())
        })?;
    Some(canonical_ip(ip))
}

pub(super) fn limit(
    state: &AppState,
    key: impl std::hash::Hash,
    per_minute: u32,
) -> Result<(), AppError> {
    if state.rate_limiter.allow(key, per_minute) {
        Ok(())
    } else {
        crate::metrics::rate_limited("caller");
        Err(AppError::TooManyRequests)
    }
}

pub(super) fn cors(resp: &mut Response, origin: &str) {
    if let Ok(v) = HeaderValue::from_str(origin) {
        let h = resp.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
}

/// What an anonymous shopper is told: BigCommerce's own error text (the detail of
/// `err_bigcommerce`) is for the merchant and the operator's log, never a storefront's.
fn shoppers_words(p: Public) -> Public {
    match p.key {
        "err_bigcommerce" => Public::new("err_store_unavailable"),
        _ => p,
    }
}

/// JSON answers for the checkout script: `{…}` or `{"error": key, "message": {en, es, fr, it,
/// pt}}` with the status; CORS for `origin` (the storefront's) on every one.
fn json_reply(
    state: &AppState,
    result: Result<serde_json::Value, AppError>,
    origin: Option<String>,
) -> Response {
    let mut failure = None;
    let (status, body) = match result {
        Ok(v) => (StatusCode::OK, v),
        Err(e) => {
            log_failure(state, &e, "checkout request failed");
            let status = e.status();
            let p = shoppers_words(e.public());
            if matches!(
                e,
                AppError::BadRequest(_) | AppError::Forbidden(_) | AppError::Upstream(_)
            ) {
                // The shopper reads this message; the operator reads why (at debug: anyone
                // can send refused requests), and a count a minute.
                tracing::debug!(
                    status = status.as_u16(),
                    reason = p.key,
                    "checkout request refused"
                );
                state.log_tally.note(
                    tracing::Level::INFO,
                    "checkout requests refused (each one's reason at debug)",
                );
            }
            failure = Some(e);
            // Every language: the script shows the storefront page's own.
            let message = state
                .i18n
                .all(p.key, &[("detail", p.detail.as_deref().unwrap_or(""))]);
            (
                status,
                serde_json::json!({ "error": p.key, "message": message }),
            )
        }
    };
    let mut resp = warp::reply::with_status(warp::reply::json(&body), status).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(o) = origin {
        cors(&mut resp, &o);
    }
    if let Some(e) = &failure {
        with_retry_after(&mut resp, e);
    }
    resp
}

async fn notification(state: &AppState, events: bool, body: &[u8]) -> Response {
    let pairs: Vec<(String, String)> = match serde_urlencoded::from_bytes(body) {
        Ok(p) => p,
        Err(_) => return status_text(StatusCode::BAD_REQUEST, "malformed notification"),
    };
    let n = match Notification::parse(&pairs) {
        Ok(n) => n,
        // seQura's events webhook: an event the shop does not implement is a 501 with this
        // body, which tells seQura not to retry (sequra-api.md §6.6).
        Err(NotificationError::UnknownState(event)) if events => {
            // Anyone can post here: counted, not logged one by one (nor what they sent).
            state.log_tally.note(
                tracing::Level::INFO,
                "seQura events of an unknown kind answered 501",
            );
            let body = serde_json::json!({ "error": format!("Unknown event '{event}'") });
            return warp::reply::with_status(warp::reply::json(&body), StatusCode::NOT_IMPLEMENTED)
                .into_response();
        }
        Err(_) => {
            state.log_tally.note(
                tracing::Level::INFO,
                "malformed seQura notifications refused",
            );
            return status_text(StatusCode::BAD_REQUEST, "malformed notification");
        }
    };
    let Ok(verified) = n.verify(&state.key) else {
        state.log_tally.note(
            tracing::Level::WARN,
            "seQura notifications with a bad signature refused (forged or from another installation)",
        );
        return status_text(StatusCode::FORBIDDEN, "bad signature");
    };
    let mut answer = payment::notified(state, &n, verified).await;
    if matches!(answer, Ok(NotifyReply::Unknown)) {
        // Signed by the app, but lost in a restore: found again from the order if it can be
        // (the log says so, or says why not), then handled as usual.
        match crate::orders::recover::for_notification(state, &n).await {
            Ok(true) => answer = payment::notified(state, &n, verified).await,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, "a notification lost in a restore could not be looked up");
                return status_text(StatusCode::SERVICE_UNAVAILABLE, "try again later");
            }
        }
    }
    match answer {
        Ok(NotifyReply::Done) => status_text(StatusCode::OK, "ok"),
        Ok(NotifyReply::Unknown) => status_text(StatusCode::NOT_FOUND, "unknown order"),
        Ok(NotifyReply::Refused) => status_text(StatusCode::GONE, "order not placed"),
        Ok(NotifyReply::Duplicate) => status_text(
            StatusCode::CONFLICT,
            "another payment already pays this order",
        ),
        Ok(NotifyReply::RetryLater) => {
            status_text(StatusCode::SERVICE_UNAVAILABLE, "try again later")
        }
        Err(AppError::NotFound) => status_text(StatusCode::NOT_FOUND, "unknown order"),
        Err(e) => {
            if e.status().is_server_error() {
                log_failure(state, &e, "notification failed");
                status_text(StatusCode::SERVICE_UNAVAILABLE, "try again later")
            } else {
                status_text(e.status(), "refused")
            }
        }
    }
}

fn status_text(status: StatusCode, text: &'static str) -> Response {
    warp::reply::with_status(text, status).into_response()
}

/// The hosted page: seQura's form on a page of the app's own (the merchant's "hosted page"
/// setting), or a redirect where the form cannot be shown. The shopper pages' headers, with a
/// policy of its own: seQura's form runs scripts from seQura's hosts (each of its `<script>`
/// elements gets this response's nonce, nothing else inline runs; the API host and the assets
/// host, where seQura serves scripts, styles and fonts), frames seQura's pages, and its
/// stand-in posts to seQura's host, which sends the browser on to the storefront.
fn hosted_form_page(
    state: &AppState,
    lang: Lang,
    page: payment::HostedPage,
) -> super::respond::Page {
    let (html, back, sequra, storefront) = match page {
        payment::HostedPage::Redirect(url) => return Ok(redirect(StatusCode::SEE_OTHER, &url)),
        payment::HostedPage::Form {
            html,
            back,
            sequra_origins,
            storefront_origin,
        } => (html, back, sequra_origins, storefront_origin),
    };
    let nonce = hex::encode(rand::random::<[u8; 16]>());
    let t = |k: &str| state.i18n.t(lang, k).to_string();
    let body = state.templates.render(
        "hosted.html",
        minijinja::context! {
            lang => lang.code(),
            title => t("checkout_single_button"),
            text => t("hosted_intro"),
            back => back,
            back_label => t("shopper_back_to_checkout"),
            form => minijinja::Value::from_safe_string(with_nonce(&html, &nonce)),
        },
    )?;
    let resp = warp::reply::with_status(warp::reply::html(body), StatusCode::OK).into_response();
    let mut resp = super::respond::with_security_headers(state, resp);
    let storefront = storefront.unwrap_or_default();
    let csp = format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' {sequra}; \
         style-src 'self' 'unsafe-inline' {sequra}; font-src 'self' {sequra}; \
         img-src 'self' data: {sequra}; frame-src {sequra}; \
         connect-src 'self' {sequra}; form-action 'self' {sequra} {storefront}; \
         base-uri 'none'; object-src 'none'; frame-ancestors 'none'"
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        resp.headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, v);
    }
    Ok(resp)
}

/// seQura's form with `nonce` on each of its `<script` tags (the only scripts the hosted
/// page's policy lets run besides the app's own).
fn with_nonce(html: &str, nonce: &str) -> String {
    // ASCII lower-casing keeps every byte where it was: positions in `lower` are `html`'s.
    let lower = html.to_ascii_lowercase();
    let mut out = String::with_capacity(html.len() + 64);
    let mut from = 0;
    while let Some(i) = lower[from..].find("<script") {
        let after = from + i + "<script".len();
        out.push_str(&html[from..after]);
        out.push_str(&format!(" nonce=\"{nonce}\""));
        from = after;
    }
    out.push_str(&html[from..]);
    out
}

/// The shopper's page after seQura: confirmation redirect, review notice, pending, or failed.
fn shopper_page(
    state: &AppState,
    lang: Lang,
    outcome: Returned,
    raw_query: &str,
    attempt: u32,
) -> super::respond::Page {
    let t = |k: &str| state.i18n.t(lang, k).to_string();
    let (kind, title, text, link, refresh) = match outcome {
        Returned::Confirmation(url) => return Ok(redirect(StatusCode::SEE_OTHER, &url)),
        Returned::Placed(order) => (
            "placed",
            t("shopper_placed_title"),
            state.i18n.tf(
                lang,
                "shopper_placed_text",
                &[("order", &order.to_string())],
            ),
            None,
            None,
        ),
        Returned::Review(url) => (
            "review",
            t("shopper_review_title"),
            t("shopper_review_text"),
            url,
            None,
        ),
        Returned::Pending if attempt < PENDING_CHECKS => {
            let next: Vec<(String, String)> =
                serde_urlencoded::from_str::<Vec<(String, String)>>(raw_query)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|(k, _)| k != "attempt")
                    .chain([("attempt".to_string(), (attempt + 1).to_string())])
                    .collect();
            let query = serde_urlencoded::to_string(&next).unwrap_or_default();
            (
                "pending",
                t("shopper_pending_title"),
                t("shopper_pending_text"),
                None,
                Some(format!("?{query}")),
            )
        }
        Returned::Pending => (
            "slow",
            t("shopper_pending_title"),
            t("shopper_pending_slow"),
            None,
            None,
        ),
        Returned::NotCompleted(url) => (
            "failed",
            t("shopper_failed_title"),
            t("shopper_failed_text"),
            Some(url),
            None,
        ),
    };
    html_page(
        state,
        StatusCode::OK,
        "shopper.html",
        minijinja::context! {
            lang => lang.code(),
            kind => kind,
            title => title,
            text => text,
            link => link,
            link_label => if kind == "failed" { t("shopper_back_to_checkout") } else { t("shopper_continue") },
            refresh => refresh,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let trusted = vec![IpRange::parse("10.0.0.1").unwrap()];
        let pick = |peer: &str, fwd: Option<&str>| {
            client_ip_from(&trusted, Some(peer.parse().unwrap()), fwd)
                .unwrap()
                .to_string()
        };
        // nginx's proxy_add_x_forwarded_for appends what it saw: the client chose the left.
        assert_eq!(
            pick("10.0.0.1:5000", Some("6.6.6.6, 203.0.113.7")),
            "203.0.113.7"
        );
        // Through two trusted proxies, the first untrusted address from the right.
        assert_eq!(
            pick("10.0.0.1:5000", Some("6.6.6.6, 203.0.113.7, 10.0.0.1")),
            "203.0.113.7"
        );
        assert_eq!(pick("10.0.0.1:5000", Some("10.0.0.1")), "10.0.0.1");
        assert_eq!(
            pick("198.51.100.1:5000", Some("203.0.113.7")),
            "198.51.100.1"
        );
        assert_eq!(pick("10.0.0.1:5000", Some("not an ip")), "10.0.0.1");
        assert_eq!(pick("10.0.0.1:5000", None), "10.0.0.1");
    }

    /// Issue 31 (1.4): behind a `[::]` listener every address arrives mapped; ranges of
    /// proxies are believed, and what is passed on is the plain IPv4 address.
    #[test]
    fn mapped_peers_and_ranges_of_proxies_are_recognised() {
        let trusted = vec![
            IpRange::parse("127.0.0.0/8").unwrap(),
            IpRange::parse("fd00::/8").unwrap(),
        ];
        let pick = |peer: &str, fwd: Option<&str>| {
            client_ip_from(&trusted, Some(peer.parse().unwrap()), fwd)
                .unwrap()
                .to_string()
        };
        assert_eq!(
            pick("[::ffff:127.0.0.1]:5000", Some("203.0.113.7")),
            "203.0.113.7"
        );
        assert_eq!(
            pick("[fd00::2]:5000", Some("::ffff:203.0.113.7, fd00::1")),
            "203.0.113.7",
            "a mapped shopper is sent on as IPv4, through two proxies of the range"
        );
        assert_eq!(
            pick("[::ffff:198.51.100.1]:5000", Some("203.0.113.7")),
            "198.51.100.1",
            "an untrusted mapped peer is itself, unmapped"
        );
        assert_eq!(
            pick("127.0.0.1:5000", Some("203.0.113.7:41234")),
            "203.0.113.7"
        );
        assert_eq!(
            pick("127.0.0.1:5000", Some("[2001:db8::7]:443")),
            "2001:db8::7"
        );
        assert_eq!(pick("127.0.0.1:5000", Some("[2001:db8::7]")), "2001:db8::7");
    }
}
