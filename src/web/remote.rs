//! seQura's configuration webhook, `POST /sequra/configuration?storeId=…&signature=…` (see
//! `crate::remote`). The signature is checked before the body is received; the body is read
//! only up to `remote::MAX_BODY`.

use std::net::{IpAddr, SocketAddr};

use bytes::Buf;
use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use super::checkout::{client_ip, limit};
use crate::domain::{caller_block, caller_network};
use crate::remote::{self, TopicError};
use crate::state::AppState;

/// Calls per caller network per minute: seQura's teams page through catalogs, nobody else
/// gets past the signature.
const PER_IP_PER_MINUTE: u32 = 300;
/// Calls per network block (an IPv4 /24, an IPv6 /48) per minute whose signature was not
/// answered lately (`remote::known`), counted before it is checked: a block holds 65 536 IPv6
/// networks, each with its own 300, and every such call costs a database read and an HMAC per
/// connection. seQura's calls are known after their first answer, so a forger sharing seQura's
/// block (a cloud's) does not lock seQura out; counted before, calls in flight count too.
const UNKNOWN_PER_BLOCK_PER_MINUTE: u32 = 120;

#[derive(Deserialize)]
struct Query {
    #[serde(rename = "storeId")]
    store_id: Option<String>,
    signature: Option<String>,
}

pub fn routes(
    state: AppState,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone + Send + Sync + 'static {
    let with_state = warp::any().map(move || state.clone());
    warp::path!("sequra" / "configuration")
        .and(warp::post())
        .and(with_state)
        .and(crate::server::peer())
        .and(warp::header::optional::<String>("x-forwarded-for"))
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(warp::header::optional::<u64>("content-length"))
        .and(warp::body::stream())
        .then(
            |state: AppState,
             peer: Option<SocketAddr>,
             fwd: Option<String>,
             raw: String,
             length: Option<u64>,
             body| {
                Box::pin(async move {
                    let ip = client_ip(&state, peer, fwd.as_deref());
                    let outcome = handle(&state, ip, &raw, length, body).await;
                    reply(outcome)
                })
            },
        )
}

async fn handle<S, B>(
    state: &AppState,
    ip: Option<IpAddr>,
    raw_query: &str,
    length: Option<u64>,
    body: S,
) -> Result<serde_json::Value, TopicError>
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let query = serde_urlencoded::from_str::<Query>(raw_query).unwrap_or(Query {
        store_id: None,
        signature: None,
    });
    let (store_id, signature) = (
        query.store_id.as_deref().unwrap_or_default(),
        query.signature.as_deref().unwrap_or_default(),
    );
    let now = crate::clock::instant();
    let known = state.remote_known.knows(store_id, signature, now);
    if limit(state, ("remote", ip.map(caller_network)), PER_IP_PER_MINUTE).is_err()
        || (!known
            && limit(
                state,
                ("remote-unknown", ip.map(caller_block)),
                UNKNOWN_PER_BLOCK_PER_MINUTE,
            )
            .is_err())
    {
        return Err(TopicError::too_many());
    }
    let authorised =
        remote::authorise(state, query.store_id.as_deref(), query.signature.as_deref()).await;
    let store = match authorised {
        Ok(store) => {
            state.remote_known.remember(store_id, signature, now);
            store
        }
        Err(e) => {
            if e.status == 401 {
                state.remote_known.forget(store_id, signature);
            }
            return Err(e);
        }
    };
    tracing::Span::current().record("store_hash", store.as_str());
    if length.is_some_and(|l| l > remote::MAX_BODY as u64) {
        return Err(TopicError::too_large());
    }
    let body = read_limited(body, remote::MAX_BODY).await?;
    remote::answer(state, &store, &body).await
}

/// The body, refused as soon as it passes `max` bytes (a missing or lying `Content-Length`
/// gains nothing).
async fn read_limited<S, B>(body: S, max: usize) -> Result<Vec<u8>, TopicError>
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let mut body = std::pin::pin!(body);
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        let mut chunk = chunk.map_err(|_| {
            TopicError::invalid(
                "general.errors.requestBody",
                "The request body could not be read.",
            )
        })?;
        if out.len() + chunk.remaining() > max {
            return Err(TopicError::too_large());
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            out.extend_from_slice(part);
            let n = part.len();
            chunk.advance(n);
        }
    }
    Ok(out)
}

/// seQura's answer, or its error body, as JSON that is never cached or sniffed.
fn reply(outcome: Result<serde_json::Value, TopicError>) -> Response {
    let (status, body) = match outcome {
        Ok(v) => (StatusCode::OK, v),
        Err(e) => (
            StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
            e.body(),
        ),
    };
    let mut resp = warp::reply::with_status(warp::reply::json(&body), status).into_response();
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    resp
}
