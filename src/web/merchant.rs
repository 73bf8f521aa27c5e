//! The merchant's pages inside the control panel. The store and user come only from the
//! signed session token (query `session=` or `Authorization: Bearer`), never from the URL.

use serde::{Deserialize, Serialize};
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

use super::respond::{Page, finish, html_page, redirect};
use crate::bigcommerce::lifecycle;
use crate::bigcommerce::signed_payload::unix_now;
use crate::db::provisioning::ItemState;
use crate::db::{stores, users};
use crate::domain::{BcOrderId, StoreHash, UserId};
use crate::error::AppError;
use crate::session::Session;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
struct SessionQuery {
    session: Option<String>,
}

pub fn routes(
    state: AppState,
) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone + Send + Sync + 'static {
    let with_state = warp::any().map(move || state.clone());
    let token = warp::query::raw()
        .or(warp::any().map(String::new))
        .unify()
        .and(warp::header::optional::<String>("authorization"))
        .map(|raw: String, header: Option<String>| {
            let from_query = serde_urlencoded::from_str::<SessionQuery>(&raw)
                .ok()
                .and_then(|q| q.session);
            from_query
                .or_else(|| header.and_then(|h| h.strip_prefix("Bearer ").map(str::to_string)))
        });
    let dashboard = warp::path!("app")
        .and(warp::get())
        .and(with_state.clone())
        .and(token)
        .then(|state: AppState, token: Option<String>| async move {
            let page = async {
                let s = authenticate(&state, token).await?;
                dashboard(&state, &s.store, s.user).await
            }
            .await;
            finish(&state, page)
        });
    let panel = warp::path!("app" / "orders" / String / "sequra")
        .and(warp::get())
        .and(with_state.clone())
        .and(token)
        .then(
            |order: String, state: AppState, token: Option<String>| async move {
                let page = async {
                    let s = authenticate(&state, token).await?;
                    let order = BcOrderId::parse(&order).map_err(|_| AppError::NotFound)?;
                    order_panel(&state, &s.store, s.user, order).await
                }
                .await;
                finish(&state, page)
            },
        );
    let retry = warp::path!("app" / "provisioning" / "retry")
        .and(warp::post())
        .and(with_state)
        .and(token)
        .then(|state: AppState, token: Option<String>| async move {
            let page = async {
                let s = authenticate(&state, token).await?;
                tracing::Span::current().record("store_hash", s.store.as_str());
                lifecycle::provision_store(&state, &s.store).await?;
                let fresh = state.sessions.issue(&s.store, s.user, unix_now());
                Ok(redirect(
                    StatusCode::SEE_OTHER,
                    &format!("/app?session={fresh}"),
                ))
            }
            .await;
            finish(&state, page)
        });
    dashboard.or(panel).or(retry)
}

/// Checks the session token, and that its store is still installed and its user not removed.
async fn authenticate(state: &AppState, token: Option<String>) -> Result<Session, AppError> {
    let token = token.ok_or_else(|| {
        AppError::Unauthorized(
            "No session: open the app from your BigCommerce control panel.".into(),
        )
    })?;
    let session = state
        .sessions
        .verify(&token, unix_now())
        .map_err(|e| AppError::Unauthorized(e.to_string()))?;
    tracing::Span::current().record("store_hash", session.store.as_str());
    let (store, user) = (session.store.clone(), session.user);
    let allowed =
        state
            .db
            .call(move |conn| {
                Ok(stores::get_installed(conn, &store)?.is_some()
                    && users::exists(conn, &store, user)?)
            })
            .await?;
    if !allowed {
        return Err(AppError::Unauthorized(
            "This session is no longer valid: open the app again from your control panel.".into(),
        ));
    }
    Ok(session)
}

#[derive(Serialize)]
struct ItemView {
    key: &'static str,
    label: &'static str,
    ok: bool,
    reason: Option<String>,
    checked_at: String,
}

fn item_view(i: &ItemState) -> ItemView {
    use crate::db::provisioning::Item;
    let label = match i.item {
        Item::Webhooks => "Order notifications (webhooks)",
        Item::Script => "Checkout script",
        Item::Extension => "\"seQura order information\" panel on orders",
    };
    ItemView {
        key: i.item.as_str(),
        label,
        ok: i.ok,
        reason: i.reason.clone(),
        checked_at: readable_time(&i.checked_at),
    }
}

/// `2026-11-28T05:43:47Z` → `2026-11-28 05:43 UTC`.
fn readable_time(rfc3339: &str) -> String {
    match (rfc3339.get(..10), rfc3339.get(11..16)) {
        (Some(date), Some(time)) => format!("{date} {time} UTC"),
        _ => rfc3339.to_string(),
    }
}

/// The dashboard: install health and the seQura connection.
pub(super) async fn dashboard(state: &AppState, store: &StoreHash, user: UserId) -> Page {
    let health = lifecycle::health(state, store).await?;
    let session = state.sessions.issue(store, user, unix_now());
    html_page(
        state,
        StatusCode::OK,
        "dashboard.html",
        minijinja::context! {
            session => session,
            store_hash => store.as_str(),
            store_name => health.store.store_name.clone().unwrap_or_else(|| store.to_string()),
            items => minijinja::value::Serde(health.items.iter().map(item_view).collect::<Vec<_>>()),
            all_ok => health.all_ok,
            sequra_connected => false,
        },
    )
}

/// The order panel opened by the App Extension (its seQura details arrive with checkout).
pub(super) async fn order_panel(
    state: &AppState,
    store: &StoreHash,
    user: UserId,
    order: BcOrderId,
) -> Page {
    let health = lifecycle::health(state, store).await?;
    let session = state.sessions.issue(store, user, unix_now());
    html_page(
        state,
        StatusCode::OK,
        "order_panel.html",
        minijinja::context! {
            session => session,
            store_hash => store.as_str(),
            store_name => health.store.store_name.clone().unwrap_or_else(|| store.to_string()),
            order_id => order.0,
        },
    )
}
