//! The Storefronts section: which of the store's storefronts show seQura.

use warp::http::StatusCode;

use super::{Merchant, Request, see_other};
use crate::error::{AppError, Public};
use crate::state::AppState;
use crate::stores::storefronts;
use crate::web::respond::Page;

pub(super) async fn storefronts_page(state: AppState, merchant: Merchant, _req: Request) -> Page {
    let view = storefronts::view(&state, &merchant.store).await?;
    // Shown once as new: the merchant has seen them now.
    storefronts::mark_seen(&state, &merchant.store).await?;
    merchant.render(
        &state,
        StatusCode::OK,
        "storefronts.html",
        "storefronts",
        minijinja::context! { view => minijinja::value::Serde(&view) },
    )
}

/// The form lists every storefront it showed (`channel`), ticked ones on (`on`): a storefront
/// the form did not show (a new one) keeps following the default.
pub(super) async fn storefronts_submit(state: AppState, merchant: Merchant, req: Request) -> Page {
    req.require_form()?;
    let bad = || AppError::BadRequest(Public::new("err_request_body"));
    let parse = |v: &str| v.parse::<u64>().map_err(|_| bad());
    let shown = req
        .fields("channel")
        .iter()
        .map(|v| parse(v))
        .collect::<Result<Vec<u64>, _>>()?;
    let on = req
        .fields("on")
        .iter()
        .map(|v| parse(v))
        .collect::<Result<Vec<u64>, _>>()?;
    if shown.len() > 1000 {
        return Err(bad());
    }
    let switches = shown.iter().map(|c| (*c, on.contains(c))).collect();
    let default_on = req.field("default_on") == Some("on");
    storefronts::save(&state, &merchant.store, switches, default_on).await?;
    see_other(&merchant, "/app/storefronts", Some("saved"))
}
