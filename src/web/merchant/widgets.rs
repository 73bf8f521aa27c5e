//! The Promotional widgets page: the settings of all storefronts, or of one.

use std::collections::BTreeMap;

use super::settings::{invalid_or, status_for, translate};
use super::{Merchant, Request, see_other};
use crate::error::{AppError, Public};
use crate::onboarding::FormErrors;
use crate::onboarding::widgets::{
    self, CartWidget, ListingMessage, ListingWidget, MethodOverride, ProductWidget, WidgetSettings,
};
use crate::state::AppState;
use crate::stores::storefronts;
use crate::web::respond::Page;

/// Rows of per-method overrides the form offers.
const OVERRIDE_ROWS: usize = 3;
const COUNTRIES: [&str; 4] = ["ES", "FR", "IT", "PT"];

fn storefront_of(req: &Request) -> Result<Option<u64>, AppError> {
    match req
        .query("storefront")
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => Ok(None),
        Some(s) => s
            .parse::<u64>()
            .ok()
            .filter(|c| *c >= 1)
            .map(Some)
            .ok_or_else(|| AppError::BadRequest(Public::new("err_request_body"))),
    }
}

pub(super) async fn widgets_page(state: AppState, merchant: Merchant, req: Request) -> Page {
    let storefront = storefront_of(&req)?;
    let view = widgets::view(&state, &merchant.store, storefront).await?;
    render(
        &state,
        &merchant,
        view.settings.clone(),
        storefront,
        view.own,
        None,
    )
    .await
}

async fn render(
    state: &AppState,
    merchant: &Merchant,
    settings: WidgetSettings,
    storefront: Option<u64>,
    own: bool,
    errors: Option<FormErrors>,
) -> Page {
    let view = widgets::view(state, &merchant.store, storefront).await?;
    let (fronts, _) = storefronts::stored(state, &merchant.store).await?;
    let banners = crate::remote::banners::view(state, &merchant.store).await?;
    let status = status_for(&errors);
    let errors = errors
        .map(|e| translate(state, merchant, &e))
        .unwrap_or_default();
    let mut overrides = settings.product.overrides.clone();
    overrides.resize(
        OVERRIDE_ROWS.max(overrides.len()),
        MethodOverride {
            method: String::new(),
            location_selector: String::new(),
            hidden: false,
            style: String::new(),
        },
    );
    merchant.render(
        state,
        status,
        "widgets.html",
        "widgets",
        minijinja::context! {
            s => minijinja::value::Serde(&settings),
            overrides => minijinja::value::Serde(&overrides),
            storefront => storefront,
            own => own,
            storefronts => minijinja::value::Serde(
                fronts.iter().filter(|f| !f.gone).map(|f| (f.channel_id, f.name.clone())).collect::<Vec<_>>()),
            methods => minijinja::value::Serde(&view.methods),
            presets => minijinja::value::Serde(&view.presets),
            countries => COUNTRIES,
            errors => minijinja::value::Serde(&errors),
            banners => minijinja::value::Serde(&banners),
        },
    )
}

/// The form as the merchant filled it.
fn submitted(req: &Request) -> WidgetSettings {
    let text = |name: &str| req.field(name).unwrap_or("").to_string();
    let on = |name: &str| req.field(name) == Some("on");
    let overrides = (0..OVERRIDE_ROWS * 4)
        .map_while(|i| {
            req.field(&format!("override_{i}_method"))
                .map(|m| MethodOverride {
                    method: m.trim().to_string(),
                    location_selector: text(&format!("override_{i}_location")),
                    hidden: on(&format!("override_{i}_hidden")),
                    style: text(&format!("override_{i}_style")),
                })
        })
        .filter(|o| !o.method.is_empty())
        .collect();
    let messages: BTreeMap<String, ListingMessage> = COUNTRIES
        .iter()
        .map(|c| {
            (
                c.to_string(),
                ListingMessage {
                    message: text(&format!("message_{c}")),
                    below: text(&format!("below_{c}")),
                },
            )
        })
        .collect();
    let preset = req.field("style_preset").unwrap_or("");
    let style = widgets::STYLE_PRESETS
        .iter()
        .find(|(name, _)| *name == preset)
        .map_or_else(|| text("style"), |(_, s)| s.to_string());
    WidgetSettings {
        product: ProductWidget {
            enabled: on("product_enabled"),
            method: text("product_method"),
            price_selector: text("product_price_selector"),
            location_selector: text("product_location_selector"),
            alt_price_selector: text("product_alt_price_selector"),
            alt_price_trigger_selector: text("product_alt_price_trigger_selector"),
            overrides,
        },
        cart: CartWidget {
            enabled: on("cart_enabled"),
            method: text("cart_method"),
            price_selector: text("cart_price_selector"),
            location_selector: text("cart_location_selector"),
        },
        listing: ListingWidget {
            enabled: on("listing_enabled"),
            method: text("listing_method"),
            price_selector: text("listing_price_selector"),
            location_selector: text("listing_location_selector"),
            messages,
        },
        style,
    }
}

pub(super) async fn widgets_submit(state: AppState, merchant: Merchant, req: Request) -> Page {
    req.require_form()?;
    let storefront = storefront_of(&req)?;
    let path = match storefront {
        Some(c) => format!("/app/widgets?storefront={c}"),
        None => "/app/widgets".to_string(),
    };
    if storefront.is_some() && req.field("same_as_default") == Some("on") {
        invalid_or(widgets::save(&state, &merchant.store, storefront, None).await)?
            .map_err(|_| AppError::BadRequest(Public::new("err_request_body")))?;
        return see_other(&merchant, &path, Some("saved"));
    }
    let settings = submitted(&req);
    match invalid_or(widgets::save(&state, &merchant.store, storefront, Some(&settings)).await)? {
        Ok(()) => see_other(&merchant, &path, Some("saved")),
        Err(errors) => render(&state, &merchant, settings, storefront, true, Some(errors)).await,
    }
}
