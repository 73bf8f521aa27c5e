//! The Diagnostics page (issue 17): the store's own recent log lines (filtered by level,
//! downloadable), the installation checks, and what the storefront would decide for a
//! shopper at an address the merchant types.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Serialize;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Reply;

use super::{Merchant, Request};
use crate::checkout::widget_cache::Hidden;
use crate::db::app_log::{KEEP_DAYS, KEEP_PER_STORE, Level, Line};
use crate::error::{AppError, Public};
use crate::state::AppState;
use crate::web::respond::{Page, with_security_headers};

/// Lines shown on the page; the download has every line kept.
const SHOWN: usize = 200;

/// The levels a filter `level` shows: that level and the graver ones (none or empty: all).
fn levels_from(level: Option<&str>) -> Result<(String, Vec<Level>), AppError> {
    match level.map(str::trim).filter(|l| !l.is_empty()) {
        None => Ok((String::new(), Vec::new())),
        Some(l) => {
            let min = Level::parse(l)
                .ok_or_else(|| AppError::BadRequest(Public::new("err_log_level")))?;
            Ok((
                min.as_str().to_string(),
                Level::ALL.into_iter().filter(|l| *l >= min).collect(),
            ))
        }
    }
}

async fn lines(
    state: &AppState,
    merchant: &Merchant,
    levels: Vec<Level>,
    limit: usize,
) -> Result<Vec<Line>, AppError> {
    let store = merchant.store.clone();
    Ok(state
        .db
        .call(move |c| crate::db::app_log::recent(c, &store, &levels, limit))
        .await?)
}

/// One storefront's answer for the address asked about.
#[derive(Serialize)]
struct StorefrontAnswer {
    channel: u64,
    name: String,
    shown: bool,
    reason: Option<String>,
}

/// What the storefront decides for a shopper at the address asked about.
#[derive(Serialize)]
struct IpAnswer {
    ip: String,
    checkout_shown: bool,
    checkout_reason: Option<String>,
    storefronts: Vec<StorefrontAnswer>,
}

/// `Hidden` in the merchant's language.
fn explain(state: &AppState, merchant: &Merchant, why: &Hidden) -> String {
    let (key, args): (&str, Vec<(&str, &str)>) = match why {
        Hidden::StorefrontOff => ("diag_hidden_storefront_off", vec![]),
        Hidden::EveryStorefrontOff => ("diag_hidden_every_storefront_off", vec![]),
        Hidden::NotConnected => ("diag_hidden_not_connected", vec![]),
        Hidden::NoWidgetOn => ("diag_hidden_no_widget_on", vec![]),
        Hidden::TooManyExcluded => ("diag_hidden_too_many_excluded", vec![]),
        Hidden::NoCountry => ("diag_hidden_no_country", vec![]),
        Hidden::NoAccount { merchant_ref } => (
            "diag_hidden_no_account",
            vec![("value", merchant_ref.as_str())],
        ),
        Hidden::Currency { currency, takes } => (
            "diag_hidden_currency",
            vec![("value", currency.as_str()), ("takes", takes.as_str())],
        ),
        Hidden::AnotherStore { merchant_ref } => (
            "diag_hidden_another_store",
            vec![("value", merchant_ref.as_str())],
        ),
        Hidden::NoAssetsKey { merchant_ref } => (
            "diag_hidden_no_assets_key",
            vec![("value", merchant_ref.as_str())],
        ),
        Hidden::NothingPromotable { merchant_ref } => (
            "diag_hidden_nothing_promotable",
            vec![("value", merchant_ref.as_str())],
        ),
        Hidden::IpNotAllowed => ("diag_hidden_ip_not_allowed", vec![]),
    };
    state.i18n.tf(merchant.lang, key, &args)
}

async fn ip_answer(
    state: &AppState,
    merchant: &Merchant,
    ip: IpAddr,
) -> Result<IpAnswer, AppError> {
    let store = &merchant.store;
    let checkout = crate::checkout::eligibility::offered_to(state, store, ip).await?;
    let decisions = crate::checkout::widgets::decide(state, store, ip).await?;
    let hash = store.clone();
    let names: BTreeMap<u64, String> = state
        .db
        .call(move |c| crate::db::storefronts::list(c, &hash))
        .await?
        .into_iter()
        .map(|s| (s.channel_id, s.name))
        .collect();
    let storefronts = decisions
        .into_iter()
        .map(|d| StorefrontAnswer {
            channel: d.channel,
            name: names
                .get(&d.channel)
                .cloned()
                .unwrap_or_else(|| merchant.store_name.clone()),
            shown: d.hidden.is_none(),
            reason: d.hidden.as_ref().map(|h| explain(state, merchant, h)),
        })
        .collect();
    Ok(IpAnswer {
        ip: ip.to_string(),
        checkout_shown: checkout.is_none(),
        checkout_reason: checkout.as_ref().map(|h| explain(state, merchant, h)),
        storefronts,
    })
}

pub(super) async fn diagnostics_page(state: AppState, merchant: Merchant, req: Request) -> Page {
    let (level, levels) = levels_from(req.query("level"))?;
    let typed = req.query("ip").map(str::trim).unwrap_or("");
    let (status, ip_answer, ip_error) = if typed.is_empty() {
        (StatusCode::OK, None, None)
    } else {
        match typed.parse::<IpAddr>() {
            Ok(ip) => (
                StatusCode::OK,
                Some(ip_answer(&state, &merchant, crate::domain::canonical_ip(ip)).await?),
                None,
            ),
            Err(_) => (
                StatusCode::BAD_REQUEST,
                None,
                Some(
                    state
                        .i18n
                        .tf(merchant.lang, "diag_ip_invalid", &[("value", typed)]),
                ),
            ),
        }
    };
    let health = crate::stores::lifecycle::health(&state, &merchant.store).await?;
    let progress = crate::onboarding::progress(&state, &merchant.store).await?;
    let setup = [
        ("connect", progress.connected()),
        ("countries", !progress.countries.is_empty()),
        ("methods", progress.methods_imported),
    ];
    let shown = lines(&state, &merchant, levels, SHOWN).await?;
    merchant.render(
        &state,
        status,
        "diagnostics.html",
        "diagnostics",
        minijinja::context! {
            items => minijinja::value::Serde(health.items.iter().map(super::pages::item_view).collect::<Vec<_>>()),
            all_ok => health.all_ok,
            setup => setup.iter().map(|&(key, ok)| minijinja::context! { key => key, ok => ok }).collect::<Vec<_>>(),
            level => level,
            // "info" is every line: the filter offers the two narrower ones.
            levels => [Level::Error.as_str(), Level::Warn.as_str()],
            lines => minijinja::value::Serde(&shown),
            shown_max => SHOWN,
            keep_days => KEEP_DAYS,
            keep_lines => KEEP_PER_STORE,
            typed_ip => typed,
            ip_answer => ip_answer.map(minijinja::value::Serde),
            ip_error => ip_error,
        },
    )
}

/// Every line kept (at the filter's levels) as a text file, oldest first.
pub(super) async fn diagnostics_download(
    state: AppState,
    merchant: Merchant,
    req: Request,
) -> Page {
    let (_, levels) = levels_from(req.query("level"))?;
    let mut kept = lines(&state, &merchant, levels, KEEP_PER_STORE).await?;
    kept.reverse();
    let mut body = String::new();
    for l in &kept {
        body.push_str(&format!(
            "{} {:<5} {}\n",
            l.at,
            l.level.as_str().to_uppercase(),
            l.message
        ));
    }
    let mut resp = warp::reply::with_status(body, StatusCode::OK).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    let name = format!(
        "attachment; filename=\"sequra-{}-log.txt\"",
        merchant.store.as_str()
    );
    if let Ok(v) = HeaderValue::from_str(&name) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(with_security_headers(&state, resp))
}
