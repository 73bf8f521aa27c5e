//! The HTTP surface: one warp filter per area, composed here with one rejection handler and
//! one request span (method, path without query, status, latency, store hash).
//!
//! Layer: top. `web/` parses, authorises and renders; it calls services (`checkout`, `orders`,
//! `onboarding`, `stores`) and never runs SQL or calls BigCommerce or seQura itself.

mod app;
mod assets;
mod checkout;
mod health;
mod merchant;
mod operator;
mod remote;
mod respond;
mod widgets;

use std::convert::Infallible;

use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

use crate::state::AppState;

pub use respond::{Page, html_page};

/// Every route of the app.
pub fn routes(
    state: AppState,
) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone + Send + Sync + 'static {
    let tally = state.log_tally.clone();
    let tag = state.log_tag.get();
    // The app's callbacks and webhooks first (see `app::routes`).
    app::routes(state.clone())
        .or(health::routes(state.clone()))
        .or(merchant::routes(state.clone()))
        .or(checkout::routes(state.clone()))
        .or(remote::routes(state.clone()))
        .or(widgets::routes(state.clone()))
        .or(assets::routes(state.clone()))
        .or(operator::routes(state))
        .recover(handle_rejection)
        .with(warp::log::custom(move |info| {
            let status = info.status().as_u16();
            crate::metrics::http_request(info.path(), status, info.elapsed());
            // The path only: query strings carry signed payloads and session tokens.
            macro_rules! line {
                ($lvl:ident) => {
                    tracing::$lvl!(
                        target: crate::telemetry::ACCESS,
                        method = %info.method(),
                        path = info.path(),
                        status,
                        latency_ms = info.elapsed().as_secs_f64() * 1000.0,
                        "request"
                    )
                };
            }
            // A refusal is anyone's to cause, as often as they like: each is a DEBUG line,
            // and a count a minute per status at INFO. Faults (500) stay one line each.
            match refused(status) {
                Some(kind) => {
                    line!(debug);
                    tally.note(tracing::Level::INFO, kind);
                }
                None => line!(info),
            }
        }))
        .with(warp::trace(move |info| {
            tracing::info_span!(
                "http",
                method = %info.method(),
                path = info.path(),
                app = tag,
                store_hash = tracing::field::Empty,
            )
        }))
}

/// The metrics listener's one route, `GET /metrics` in Prometheus' text format (see
/// `crate::metrics`); never part of [`routes`].
pub fn metrics_routes(
    state: AppState,
    handle: metrics_exporter_prometheus::PrometheusHandle,
) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone + Send + Sync + 'static {
    warp::path!("metrics")
        .and(warp::get())
        .then(move || {
            let (state, handle) = (state.clone(), handle.clone());
            async move {
                let body = crate::metrics::scrape(&state.db, &handle).await;
                warp::reply::with_header(
                    body,
                    "content-type",
                    "text/plain; version=0.0.4; charset=utf-8",
                )
            }
        })
        .recover(handle_rejection)
}

/// The summary a refused request's status is counted in; `None` for an answer or a fault.
fn refused(status: u16) -> Option<&'static str> {
    Some(match status {
        400 | 411 | 413 | 415 | 422 => "requests refused as malformed (400, 411, 413, 415, 422)",
        401 | 403 => "requests refused as unauthorised (401, 403)",
        404 | 405 | 410 => "requests answered 404, 405 or 410",
        408 => "requests cut off as too slow (408)",
        409 => "requests answered 409",
        429 => "requests refused by the rate limits (429)",
        501..=599 if status != 500 => "requests answered 5xx other than 500 (busy or upstream)",
        _ => return None,
    })
}

/// Rejections only mean "no route applies"; the answer is a short plain-text status.
async fn handle_rejection(err: Rejection) -> Result<warp::reply::Response, Infallible> {
    let (status, text) = if err.is_not_found() {
        (StatusCode::NOT_FOUND, "Not found")
    } else if err.find::<warp::reject::MethodNotAllowed>().is_some() {
        (StatusCode::METHOD_NOT_ALLOWED, "Method not allowed")
    } else if err.find::<warp::reject::PayloadTooLarge>().is_some() {
        (StatusCode::PAYLOAD_TOO_LARGE, "Request body too large")
    } else if err.find::<warp::reject::InvalidQuery>().is_some() {
        (StatusCode::BAD_REQUEST, "Invalid query string")
    } else if err.find::<warp::reject::InvalidHeader>().is_some()
        || err.find::<warp::reject::MissingHeader>().is_some()
    {
        (StatusCode::BAD_REQUEST, "Invalid or missing header")
    } else if err.find::<warp::reject::UnsupportedMediaType>().is_some() {
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "Unsupported media type")
    } else if err.find::<warp::body::BodyDeserializeError>().is_some() {
        (StatusCode::BAD_REQUEST, "Malformed request body")
    } else if err.find::<warp::reject::LengthRequired>().is_some() {
        (StatusCode::LENGTH_REQUIRED, "Length required")
    } else {
        tracing::warn!(rejection = ?err, "unhandled rejection");
        (StatusCode::BAD_REQUEST, "Bad request")
    };
    let mut resp = warp::reply::with_status(text, status).into_response();
    resp.headers_mut().insert(
        "x-content-type-options",
        warp::http::HeaderValue::from_static("nosniff"),
    );
    Ok(resp)
}
