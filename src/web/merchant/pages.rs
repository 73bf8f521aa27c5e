//! The dashboard, the order panel, and where a load lands.

use serde::Serialize;
use warp::http::StatusCode;

use super::settings;
use super::{Merchant, Request, see_other};
use crate::db::provisioning::{Item, ItemState};
use crate::domain::{BcOrderId, StoreHash, UserId};
use crate::error::AppError;
use crate::i18n::format_eur;
use crate::onboarding;
use crate::orders::view;
use crate::state::AppState;
use crate::stores::lifecycle;
use crate::web::respond::Page;

#[derive(Serialize)]
pub(super) struct ItemView {
    key: &'static str,
    ok: bool,
    reason: Option<String>,
    checked_at: String,
}

pub(super) fn item_view(i: &ItemState) -> ItemView {
    ItemView {
        key: i.item.as_str(),
        ok: i.ok,
        reason: i.reason.clone(),
        checked_at: i.checked_at.clone(),
    }
}

async fn merchant_for(
    state: &AppState,
    store: &StoreHash,
    user: UserId,
) -> Result<Merchant, AppError> {
    Merchant::for_user(state, store, user)
        .await?
        .ok_or_else(AppError::not_installed)
}

/// After install or load from the Apps menu: the onboarding step still to do, else the
/// dashboard.
pub(in crate::web) async fn landing(state: &AppState, store: &StoreHash, user: UserId) -> Page {
    let merchant = merchant_for(state, store, user).await?;
    let progress = onboarding::progress(state, store).await?;
    match progress.next_step() {
        Some("connect") => {
            settings::render_connect(state, &merchant, &progress, None, Default::default()).await
        }
        Some("countries") => {
            settings::render_countries(state, &merchant, &progress, None, Vec::new()).await
        }
        _ => render_dashboard(state, &merchant).await,
    }
}

/// The dashboard for a user known from a verified payload.
pub(in crate::web) async fn dashboard(state: &AppState, store: &StoreHash, user: UserId) -> Page {
    let merchant = merchant_for(state, store, user).await?;
    render_dashboard(state, &merchant).await
}

pub(super) async fn dashboard_page(state: AppState, merchant: Merchant, _req: Request) -> Page {
    render_dashboard(&state, &merchant).await
}

async fn render_dashboard(state: &AppState, merchant: &Merchant) -> Page {
    let health = lifecycle::health(state, &merchant.store).await?;
    let progress = onboarding::progress(state, &merchant.store).await?;
    let missing: Vec<&str> = [
        (!progress.connected()).then_some("connect"),
        progress.countries.is_empty().then_some("countries"),
        (!progress.methods_imported).then_some("methods"),
    ]
    .into_iter()
    .flatten()
    .collect();
    let problems = view::dashboard_problems(state, &merchant.store).await?;
    let storefronts = crate::stores::storefronts::view(state, &merchant.store).await?;
    merchant.render(
        state,
        StatusCode::OK,
        "dashboard.html",
        "dashboard",
        minijinja::context! {
            items => minijinja::value::Serde(health.items.iter().map(item_view).collect::<Vec<_>>()),
            item_keys => Item::ALL.iter().map(|i| i.as_str()).collect::<Vec<_>>(),
            all_ok => health.all_ok,
            connection => minijinja::value::Serde(&progress.connection),
            countries => progress.countries.iter().map(|(c, m)| format!("{c} · {m}")).collect::<Vec<_>>(),
            missing => missing,
            complete => progress.complete(),
            problems => problems.any().then_some(minijinja::value::Serde(&problems)),
            storefronts => minijinja::value::Serde(&storefronts),
        },
    )
}

/// Runs the installation again; back to the page that asked (the dashboard or Diagnostics).
pub(super) async fn retry_provisioning(state: AppState, merchant: Merchant, req: Request) -> Page {
    lifecycle::provision_store(&state, &merchant.store).await?;
    let back = match req.field("back") {
        Some("diagnostics") => "/app/diagnostics",
        _ => "/app",
    };
    see_other(&merchant, back, None)
}

/// The order panel opened by the App Extension: the seQura order behind a BigCommerce order,
/// what seQura holds of it and its log (or that it was not paid with seQura).
pub(in crate::web) async fn order_panel(
    state: &AppState,
    merchant: &Merchant,
    order: BcOrderId,
) -> Page {
    let mut panel = view::order_panel(state, &merchant.store, order).await?;
    if let Some(p) = panel.as_mut() {
        for e in &mut p.entries {
            e.localize(&state.i18n, merchant.lang);
        }
    }
    let money = |cents: i64| format_eur(cents, merchant.lang);
    let amounts = panel.as_ref().and_then(|p| p.amounts).map(|a| {
        minijinja::context! {
            shipped => money(a.shipped),
            unshipped => money(a.unshipped),
            refunded => money(a.refunded),
        }
    });
    merchant.render(
        state,
        StatusCode::OK,
        "order_panel.html",
        "order",
        minijinja::context! {
            order_id => order.0,
            panel => panel.map(minijinja::value::Serde),
            amounts => amounts,
        },
    )
}
