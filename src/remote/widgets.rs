//! `get-widget-settings` and `save-widget-settings`: the Promotional widgets page's settings of
//! all storefronts (a storefront with settings of its own keeps them: seQura's core knows one
//! set per store), as seQura's core names their fields. Omitted fields are unchanged (see
//! `remote::general`); the listing's per-country messages have no field in seQura's topics
//! and are never changed here.

use serde_json::{Map, Value, json};

use super::changes::{self, Change, Shown};
use super::error::{TopicError, fault};
use super::request::{self, bool_field, string_field, wrong_type};
use crate::db;
use crate::domain::StoreHash;
use crate::onboarding::widgets::{
    self, LISTING_CATEGORY, MethodOverride, WIDGET_CATEGORIES, WidgetSettings,
};
use crate::state::AppState;

/// `get-widget-settings`.
pub async fn get(state: &AppState, store: &StoreHash) -> Result<Value, TopicError> {
    let (s, _) = widgets::settings_for(state, store, None)
        .await
        .map_err(fault)?;
    let methods = widgets::imported_methods(state, store)
        .await
        .map_err(fault)?;
    Ok(json!({
        "displayWidgetOnProductPage": s.product.enabled,
        "showInstallmentAmountInProductListing": s.listing.enabled,
        "showInstallmentAmountInCartPage": s.cart.enabled,
        "widgetStyles": s.style,
        "productPriceSelector": s.product.price_selector,
        "defaultProductLocationSelector": s.product.location_selector,
        "altProductPriceSelector": s.product.alt_price_selector,
        "altProductPriceTriggerSelector": s.product.alt_price_trigger_selector,
        "customLocations": s.product.overrides.iter().map(|o| json!({
            "product": o.method,
            "selForTarget": o.location_selector,
            "displayWidget": !o.hidden,
            "widgetStyles": o.style,
        })).collect::<Vec<_>>(),
        "cartPriceSelector": s.cart.price_selector,
        "cartLocationSelector": s.cart.location_selector,
        "widgetOnCartPage": s.cart.method,
        "listingPriceSelector": s.listing.price_selector,
        "listingLocationSelector": s.listing.location_selector,
        "widgetOnListingPage": s.listing.method,
        "paymentMethods": methods.iter().map(|m| json!({
            "category": m.category,
            "product": m.product,
            "title": m.title,
        })).collect::<Vec<_>>(),
        "paymentMethodCategoriesForProductPage": ["part_payment", "pay_later"],
        "paymentMethodCategoriesForCart": ["part_payment", "pay_later"],
        "paymentMethodCategoriesForListing": [LISTING_CATEGORY],
    }))
}

/// seQura's name of a field of the Widgets page.
fn field_name(page: &str) -> String {
    match page {
        "product_method" => "displayWidgetOnProductPage",
        "product_price_selector" => "productPriceSelector",
        "product_location_selector" => "defaultProductLocationSelector",
        "product_alt_price_selector" => "altProductPriceSelector",
        "product_alt_price_trigger_selector" => "altProductPriceTriggerSelector",
        "cart_method" => "widgetOnCartPage",
        "cart_price_selector" => "cartPriceSelector",
        "cart_location_selector" => "cartLocationSelector",
        "listing_method" => "widgetOnListingPage",
        "listing_price_selector" => "listingPriceSelector",
        "listing_location_selector" => "listingLocationSelector",
        "style" => "widgetStyles",
        other if other.starts_with("override") => "customLocations",
        other => other,
    }
    .to_string()
}

/// `customLocations`: `[{product, selForTarget, displayWidget, widgetStyles}]`.
fn custom_locations(req: &Map<String, Value>) -> Result<Option<Vec<MethodOverride>>, TopicError> {
    const NAME: &str = "customLocations";
    let items = match req.get(NAME) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(wrong_type(NAME)),
    };
    // The page's own limit applies once read; this bounds what is read.
    if items.len() > 100 {
        return Err(wrong_type(NAME));
    }
    items
        .iter()
        .map(|item| {
            let Value::Object(o) = item else {
                return Err(wrong_type(NAME));
            };
            let text = |k: &str| match o.get(k) {
                None | Some(Value::Null) => Ok(String::new()),
                Some(Value::String(s)) => Ok(s.clone()),
                Some(_) => Err(wrong_type(NAME)),
            };
            let shown = match o.get("displayWidget") {
                None | Some(Value::Null) => true,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err(wrong_type(NAME)),
            };
            Ok(MethodOverride {
                method: text("product")?,
                location_selector: text("selForTarget")?,
                hidden: !shown,
                style: text("widgetStyles")?,
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// `save-widget-settings`: checked as the Widgets page checks it, written with its
/// transaction-log entries in one transaction, and the storefronts' widget answers forgotten
/// as after the page's save.
pub async fn save(
    state: &AppState,
    store: &StoreHash,
    req: &Map<String, Value>,
) -> Result<Value, TopicError> {
    // The fields seQura leaves out keep what the store holds when the save is written: one
    // that found the settings changed since it read them (the merchant's page saved meanwhile)
    // is made again from the new ones.
    for _ in 0..3 {
        if let Some(answer) = save_once(state, store, req).await? {
            return Ok(answer);
        }
    }
    Err(TopicError::conflict(
        "general.errors.widgetSettings.changedMeanwhile",
    ))
}

/// One try of [`save`]; `None` when the settings changed between its read and its write.
async fn save_once(
    state: &AppState,
    store: &StoreHash,
    req: &Map<String, Value>,
) -> Result<Option<Value>, TopicError> {
    let (current, _) = widgets::settings_for(state, store, None)
        .await
        .map_err(fault)?;
    let mut s = current.clone();
    let set_bool = |target: &mut bool, name: &str| -> Result<(), TopicError> {
        if let Some(v) = bool_field(req, name)? {
            *target = v;
        }
        Ok(())
    };
    set_bool(&mut s.product.enabled, "displayWidgetOnProductPage")?;
    set_bool(
        &mut s.listing.enabled,
        "showInstallmentAmountInProductListing",
    )?;
    set_bool(&mut s.cart.enabled, "showInstallmentAmountInCartPage")?;
    for (target, name) in [
        (&mut s.style, "widgetStyles"),
        (&mut s.product.price_selector, "productPriceSelector"),
        (
            &mut s.product.location_selector,
            "defaultProductLocationSelector",
        ),
        (&mut s.product.alt_price_selector, "altProductPriceSelector"),
        (
            &mut s.product.alt_price_trigger_selector,
            "altProductPriceTriggerSelector",
        ),
        (&mut s.cart.price_selector, "cartPriceSelector"),
        (&mut s.cart.location_selector, "cartLocationSelector"),
        (&mut s.cart.method, "widgetOnCartPage"),
        (&mut s.listing.price_selector, "listingPriceSelector"),
        (&mut s.listing.location_selector, "listingLocationSelector"),
        (&mut s.listing.method, "widgetOnListingPage"),
    ] {
        if let Some(v) = string_field(req, name)? {
            *target = v;
        }
    }
    if let Some(overrides) = custom_locations(req)? {
        s.product.overrides = overrides;
    }
    let methods = widgets::promotable(state, store).await.map_err(fault)?;
    // seQura's product-page widget shows every method of its categories; this app's promotes
    // one, which no field of seQura's names: switched on without one, it promotes the first
    // imported method of those categories (part payment first), as a merchant would pick.
    if s.product.enabled && s.product.method.is_empty() {
        s.product.method = WIDGET_CATEGORIES
            .iter()
            .rev()
            .find_map(|cat| methods.iter().find(|(_, c)| c == cat))
            .map(|(p, _)| p.clone())
            .unwrap_or_default();
    }
    let valid = widgets::validate(&s, &methods).map_err(|e| {
        request::form_error(
            &state.i18n,
            "general.errors.widgetSettings.invalid",
            &e,
            field_name,
        )
    })?;
    if valid == current {
        return Ok(Some(json!([])));
    }
    let changes = widget_changes(&current, &valid);
    let (i18n, hash) = (state.i18n.clone(), store.clone());
    let written = state
        .db
        .call(move |conn| {
            let tx = conn.transaction()?;
            if widgets::stored_default(&tx, &hash)? != current {
                return Ok(false);
            }
            widgets::write(&tx, &hash, db::widgets::DEFAULT, &valid)?;
            changes::record(&tx, &i18n, &hash, &changes)?;
            tx.commit()?;
            Ok(true)
        })
        .await
        .map_err(|e| fault(e.into()))?;
    if !written {
        return Ok(None);
    }
    widgets::saved(state, store);
    Ok(Some(json!([])))
}

/// The widgets' changes, as the log shows them.
fn widget_changes(before: &WidgetSettings, after: &WidgetSettings) -> Vec<Change> {
    let (p, c, l) = (
        Some("widget_product_title"),
        Some("widget_cart_title"),
        Some("widget_listing_title"),
    );
    let overrides = |s: &WidgetSettings| {
        s.product
            .overrides
            .iter()
            .map(|o| {
                let mut t = o.method.clone();
                if !o.location_selector.is_empty() {
                    t.push_str(&format!(" {}", o.location_selector));
                }
                if o.hidden {
                    t.push_str(" (-)");
                }
                if !o.style.is_empty() {
                    t.push_str(&format!(" {}", o.style));
                }
                t
            })
            .collect::<Vec<_>>()
    };
    let text = |area, key, b: &str, a: &str| Change::of(area, key, Shown::text(b), Shown::text(a));
    let on = |area, b: bool, a: bool| {
        Change::of(area, "widget_show", Shown::on_off(b), Shown::on_off(a))
    };
    let (b, a) = (before, after);
    [
        on(p, b.product.enabled, a.product.enabled),
        text(p, "widget_method", &b.product.method, &a.product.method),
        text(
            p,
            "widget_price_selector",
            &b.product.price_selector,
            &a.product.price_selector,
        ),
        text(
            p,
            "widget_location_selector",
            &b.product.location_selector,
            &a.product.location_selector,
        ),
        text(
            p,
            "widget_alt_price_selector",
            &b.product.alt_price_selector,
            &a.product.alt_price_selector,
        ),
        text(
            p,
            "widget_alt_trigger_selector",
            &b.product.alt_price_trigger_selector,
            &a.product.alt_price_trigger_selector,
        ),
        Change::of(
            p,
            "widget_overrides_title",
            Shown::list(&overrides(b)),
            Shown::list(&overrides(a)),
        ),
        on(c, b.cart.enabled, a.cart.enabled),
        text(c, "widget_method", &b.cart.method, &a.cart.method),
        text(
            c,
            "widget_price_selector",
            &b.cart.price_selector,
            &a.cart.price_selector,
        ),
        text(
            c,
            "widget_location_selector",
            &b.cart.location_selector,
            &a.cart.location_selector,
        ),
        on(l, b.listing.enabled, a.listing.enabled),
        text(l, "widget_method", &b.listing.method, &a.listing.method),
        text(
            l,
            "widget_price_selector",
            &b.listing.price_selector,
            &a.listing.price_selector,
        ),
        text(
            l,
            "widget_location_selector",
            &b.listing.location_selector,
            &a.listing.location_selector,
        ),
        text(None, "widget_style", &b.style, &a.style),
    ]
    .into_iter()
    .flatten()
    .collect()
}
