//! BigCommerce's app callbacks: `/bc/auth`, `/bc/load`, `/bc/uninstall`, `/bc/remove-user`,
//! and the webhook receiver's address `/bc/webhooks`.
//! <https://developer.bigcommerce.com/docs/integrations/apps/guide/callbacks>

use serde::Deserialize;
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

use super::merchant;
use super::respond::{Page, accept_language, finish, redirect};
use crate::bigcommerce::{signed_payload, webhook_signature};
use crate::domain::BcOrderId;
use crate::error::{AppError, Public};
use crate::i18n::Lang;
use crate::state::AppState;
use crate::stores::lifecycle::{self, AuthQuery};
use crate::stores::provisioning::WEBHOOK_SECRET_HEADER;
use crate::stores::webhooks;

#[derive(Debug, Deserialize)]
struct SignedQuery {
    signed_payload_jwt: Option<String>,
}

pub fn routes(
    state: AppState,
) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone + Send + Sync + 'static {
    let with_state = warp::any().map(move || state.clone());
    let auth = warp::path!("bc" / "auth")
        .and(warp::get())
        .and(with_state.clone())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(accept_language())
        .then(|state: AppState, raw: String, lang: Lang| {
            Box::pin(async move {
                let page = auth(&state, &raw).await;
                finish(&state, lang, page)
            })
        });
    let load = signed_route("load", with_state.clone(), load);
    let uninstall = signed_route("uninstall", with_state.clone(), uninstall);
    let remove_user = signed_route("remove-user", with_state.clone(), remove_user);
    let webhooks = warp::path!("bc" / "webhooks")
        .and(warp::post())
        .and(with_state.clone())
        .and(warp::header::optional::<String>(WEBHOOK_SECRET_HEADER))
        .and(warp::header::optional::<String>("webhook-id"))
        .and(warp::header::optional::<String>("webhook-timestamp"))
        .and(warp::header::optional::<String>("webhook-signature"))
        .and(
            warp::body::content_length_limit(256 * 1024)
                .and(warp::body::bytes())
                .or(warp::any().map(bytes::Bytes::new))
                .unify(),
        )
        .then(
            |state: AppState,
             secret: Option<String>,
             id: Option<String>,
             timestamp: Option<String>,
             signature: Option<String>,
             body: bytes::Bytes| async move {
                let sig = webhook_signature::SignatureHeaders {
                    id,
                    timestamp,
                    signature,
                };
                let now = signed_payload::unix_now() as i64;
                // Stored before the 200; nothing else happens on the request path.
                let (status, outcome) =
                    match webhooks::receive(&state, secret.as_deref(), &sig, &body, now).await {
                        Ok(webhooks::Received::Stored) => (StatusCode::OK, "stored"),
                        Ok(webhooks::Received::Duplicate) => (StatusCode::OK, "duplicate"),
                        Ok(webhooks::Received::Ignored) => (StatusCode::OK, "ignored"),
                        Err(e) => {
                            if e.status().is_server_error() {
                                tracing::error!(error = ?e, "webhook could not be stored");
                                (e.status(), "failed")
                            } else {
                                (e.status(), "refused")
                            }
                        }
                    };
                crate::metrics::webhook(outcome);
                warp::reply::with_status(warp::reply(), status).into_response()
            },
        );
    // Webhooks first: they are most of the app's traffic, and each filter tried before the
    // matching one costs every request a little.
    webhooks.or(auth).or(load).or(uninstall).or(remove_user)
}

/// A `GET /bc/{name}?signed_payload_jwt=…` route; a missing or repeated parameter is a 400.
fn signed_route<F, Fut>(
    name: &'static str,
    with_state: impl Filter<Extract = (AppState,), Error = std::convert::Infallible>
    + Clone
    + Send
    + Sync
    + 'static,
    handler: F,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone + Send + Sync + 'static
where
    F: Fn(AppState, String) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Page> + Send,
{
    warp::path("bc")
        .and(warp::path(name))
        .and(warp::path::end())
        .and(warp::get())
        .and(with_state)
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(accept_language())
        .then(move |state: AppState, raw: String, lang: Lang| {
            let handler = handler.clone();
            // Boxed, like the checkout's: the install and load handlers call BigCommerce.
            Box::pin(async move {
                let page = match signed_payload_param(&raw) {
                    Ok(jwt) => handler(state.clone(), jwt).await,
                    Err(e) => Err(e),
                };
                finish(&state, lang, page)
            })
        })
}

fn signed_payload_param(raw: &str) -> Result<String, AppError> {
    let q: SignedQuery = serde_urlencoded::from_str(raw)
        .map_err(|_| AppError::BadRequest(Public::new("err_link_malformed")))?;
    q.signed_payload_jwt
        .filter(|s| !s.is_empty())
        .ok_or_else(|| AppError::BadRequest(Public::new("err_no_signed_payload")))
}

async fn auth(state: &AppState, raw: &str) -> Page {
    let q: AuthQuery = serde_urlencoded::from_str(raw)
        .map_err(|_| AppError::BadRequest(Public::new("err_install_link")))?;
    let external = q.external_install.is_some();
    match lifecycle::install(state, &q).await {
        Ok(installed) if external => {
            let _ = installed;
            Ok(redirect(
                StatusCode::FOUND,
                state.bigcommerce.external_install_report_url(true).as_str(),
            ))
        }
        Ok(installed) => merchant::dashboard(state, &installed.store, installed.user).await,
        Err(e) if external => {
            tracing::warn!(error = %e, "external install failed");
            Ok(redirect(
                StatusCode::FOUND,
                state
                    .bigcommerce
                    .external_install_report_url(false)
                    .as_str(),
            ))
        }
        Err(e) => Err(e),
    }
}

async fn load(state: AppState, jwt: String) -> Page {
    let payload = lifecycle::load(&state, &jwt).await?;
    let user = payload.user_id();
    match order_panel_target(&payload.url) {
        Some(order) => {
            let merchant = merchant::Merchant::for_user(&state, &payload.store, user)
                .await?
                .ok_or_else(AppError::not_installed)?;
            merchant::order_panel(&state, &merchant, order).await
        }
        None => merchant::landing(&state, &payload.store, user).await,
    }
}

/// `/orders/{id}/sequra` (the App Extension's deep link) → that order's id.
fn order_panel_target(url: &str) -> Option<BcOrderId> {
    let path = url.split(['?', '#']).next().unwrap_or("");
    let rest = path.strip_prefix("/orders/")?;
    let (id, tail) = rest.split_once('/')?;
    (tail == "sequra")
        .then(|| BcOrderId::parse(id).ok())
        .flatten()
}

async fn uninstall(state: AppState, jwt: String) -> Page {
    lifecycle::uninstall(&state, &jwt).await?;
    Ok(warp::reply::json(&serde_json::json!({"status": "uninstalled"})).into_response())
}

async fn remove_user(state: AppState, jwt: String) -> Page {
    lifecycle::remove_user(&state, &jwt).await?;
    Ok(warp::reply::json(&serde_json::json!({"status": "removed"})).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_order_panel_link_opens_the_panel() {
        assert_eq!(
            order_panel_target("/orders/106/sequra"),
            Some(BcOrderId(106))
        );
        assert_eq!(
            order_panel_target("/orders/106/sequra?x=1"),
            Some(BcOrderId(106))
        );
        for other in [
            "/",
            "",
            "/orders/106",
            "/orders/x/sequra",
            "/orders/106/other",
            "/orders/0/sequra",
        ] {
            assert_eq!(order_panel_target(other), None, "{other}");
        }
    }
}
