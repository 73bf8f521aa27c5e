//! `GET /widgets/{store}/config?channel={id}`: what the storefront's widget script draws for
//! this visitor (see `checkout::widgets`). Anonymous and asked on every page view, so it is
//! answered from memory, cacheable (`ETag`, `If-None-Match` → 304) and limited per caller
//! like the checkout's endpoints. CORS for the store's storefront origins only.
//!
//! `GET /banners/{store}/{file}`: a banner image seQura pushed (see `remote::banners`), the
//! one thing the script draws that is not the app's JSON. Its name is its content: cached for
//! ever, by anyone.

use std::net::{IpAddr, SocketAddr};

use serde::Deserialize;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use super::checkout::{PER_IP_PER_MINUTE, client_ip, cors, limit, parse_store};
use super::respond::{log_failure, with_retry_after};
use crate::domain::caller_network;
use crate::error::AppError;
use crate::state::AppState;

/// A browser keeps the answer this long before asking again (with its `ETag`): the
/// merchant's changes reach a shopper's next page a minute later at most.
const CACHE_CONTROL: &str = "private, max-age=60";
/// A banner image's URL changes with its content.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

#[derive(Deserialize)]
struct ConfigQuery {
    #[serde(default)]
    channel: Option<u64>,
}

pub fn routes(
    state: AppState,
) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone + Send + Sync + 'static {
    config_route(state.clone()).or(banner_route(state))
}

fn banner_route(
    state: AppState,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone + Send + Sync + 'static {
    warp::path!("banners" / String / String)
        .and(warp::get())
        .and(crate::server::peer())
        .and(warp::header::optional::<String>("x-forwarded-for"))
        .then(
            move |store: String,
                  file: String,
                  peer: Option<SocketAddr>,
                  forwarded: Option<String>| {
                let state = state.clone();
                async move {
                    let ip = client_ip(&state, peer, forwarded.as_deref());
                    let found = banner(&state, &store, &file, ip).await;
                    banner_reply(&state, found)
                }
            },
        )
}

async fn banner(
    state: &AppState,
    store: &str,
    file: &str,
    ip: Option<IpAddr>,
) -> Result<(bytes::Bytes, String), AppError> {
    let store = parse_store(store)?;
    limit(
        state,
        ("banners", &store, ip.map(caller_network)),
        PER_IP_PER_MINUTE,
    )?;
    crate::remote::banners::image(state, &store, file)
        .await?
        .ok_or(AppError::NotFound)
}

fn banner_reply(state: &AppState, found: Result<(bytes::Bytes, String), AppError>) -> Response {
    let (mut resp, cache) = match found {
        Ok((bytes, content_type)) => {
            let mut r = Response::new(bytes.into());
            if let Ok(v) = HeaderValue::from_str(&content_type) {
                r.headers_mut().insert(header::CONTENT_TYPE, v);
            }
            (r, IMMUTABLE)
        }
        Err(e) => {
            log_failure(state, &e, "banner image request failed");
            let status = e.status();
            let text = status.canonical_reason().unwrap_or("Refused");
            let mut r = warp::reply::with_status(text, status).into_response();
            with_retry_after(&mut r, &e);
            (r, "no-store")
        }
    };
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

fn config_route(
    state: AppState,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone + Send + Sync + 'static {
    warp::path!("widgets" / String / "config")
        .and(warp::get())
        .and(warp::query::<ConfigQuery>())
        .and(warp::header::optional::<String>("origin"))
        .and(warp::header::optional::<String>("if-none-match"))
        .and(crate::server::peer())
        .and(warp::header::optional::<String>("x-forwarded-for"))
        .then(
            move |store: String,
                  query: ConfigQuery,
                  origin: Option<String>,
                  if_none_match: Option<String>,
                  peer: Option<SocketAddr>,
                  forwarded: Option<String>| {
                let state = state.clone();
                async move {
                    let ip = client_ip(&state, peer, forwarded.as_deref());
                    let result = config(&state, &store, query.channel, ip, origin.as_deref()).await;
                    reply(&state, result, if_none_match.as_deref())
                }
            },
        )
}

async fn config(
    state: &AppState,
    store: &str,
    channel: Option<u64>,
    ip: Option<IpAddr>,
    origin: Option<&str>,
) -> Result<crate::checkout::widgets::Answer, AppError> {
    let store = parse_store(store)?;
    limit(
        state,
        ("widgets", &store, ip.map(caller_network)),
        PER_IP_PER_MINUTE,
    )?;
    crate::checkout::widgets::config(state, &store, channel.unwrap_or(1), ip, origin).await
}

fn reply(
    state: &AppState,
    result: Result<crate::checkout::widgets::Answer, AppError>,
    if_none_match: Option<&str>,
) -> Response {
    let answer = match result {
        Ok(a) => a,
        Err(e) => {
            log_failure(state, &e, "widget configuration request failed");
            let status = e.status();
            let body = serde_json::json!({ "error": e.public().key });
            let mut resp =
                warp::reply::with_status(warp::reply::json(&body), status).into_response();
            let h = resp.headers_mut();
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            h.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            with_retry_after(&mut resp, &e);
            return resp;
        }
    };
    let unchanged = if_none_match.is_some_and(|v| {
        v.split(',')
            .any(|t| t.trim().trim_start_matches("W/") == &*answer.etag)
    });
    let mut resp = if unchanged {
        let mut r = Response::new(Vec::new().into());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        let mut r = Response::new(answer.body.as_bytes().to_vec().into());
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        r
    };
    let h = resp.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    if let Ok(v) = HeaderValue::from_str(&answer.etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // The answer differs by origin (CORS) and by the visitor's address (the allowed IPs):
    // `private` keeps shared caches out, `Vary` keeps the browser's apart per origin.
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(o) = &answer.origin {
        cors(&mut resp, o);
    }
    resp
}
