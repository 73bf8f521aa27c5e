//! Promotional widgets (issue 15): where seQura's "pay in 3 from €28/month" messages go on the
//! product page, the cart and the product listings, which method each one promotes, and
//! seQura's widget style. One set for all storefronts, and optionally one per storefront
//! (a storefront without its own follows the default: "same as the default storefront").
//! Nothing is saved unless every field is good; every bad field says why.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{FormError, FormErrors};
use crate::db;
use crate::domain::{Country, StoreHash};
use crate::error::AppError;
use crate::sequra::models::PaymentCategory;
use crate::state::AppState;

/// seQura's product-page and cart widgets promote methods of these categories.
pub const WIDGET_CATEGORIES: [&str; 2] = ["pay_later", "part_payment"];
/// The listing's mini-widget shows an instalment amount: part payments only.
pub const LISTING_CATEGORY: &str = "part_payment";

/// The keys of seQura's widget style (its widget configurator's JSON).
pub const STYLE_KEYS: [&str; 16] = [
    "alignment",
    "amount-font-bold",
    "amount-font-color",
    "amount-font-size",
    "background-color",
    "border-color",
    "border-radius",
    "class",
    "font-color",
    "link-font-color",
    "link-underline",
    "no-costs-claim",
    "size",
    "starting-text",
    "type",
    "branding",
];

const MAX_SELECTOR: usize = 300;
const MAX_STYLE: usize = 2000;
const MAX_MESSAGE: usize = 100;
const MAX_OVERRIDES: usize = 20;

/// A few ready styles the page offers (seQura's widget configurator makes more).
pub const STYLE_PRESETS: [(&str, &str); 3] = [
    (
        "text",
        r##"{"alignment":"left","amount-font-bold":"true","amount-font-color":"#1C1C1C","amount-font-size":"15","background-color":"white","border-color":"#B1AEBA","border-radius":"","class":"","font-color":"#1C1C1C","link-font-color":"#1C1C1C","link-underline":"true","no-costs-claim":"","size":"M","starting-text":"only","type":"text","branding":"black"}"##,
    ),
    (
        "banner",
        r##"{"alignment":"center","amount-font-bold":"true","amount-font-color":"#FFFFFF","amount-font-size":"15","background-color":"#00C2A3","border-color":"#00C2A3","border-radius":"8","class":"","font-color":"#FFFFFF","link-font-color":"#FFFFFF","link-underline":"true","no-costs-claim":"","size":"L","starting-text":"as-low-as","type":"banner","branding":"white"}"##,
    ),
    (
        "legacy",
        r##"{"alignment":"left","amount-font-bold":"true","amount-font-color":"#1C1C1C","amount-font-size":"15","background-color":"white","border-color":"#B1AEBA","border-radius":"","class":"","font-color":"#1C1C1C","link-font-color":"#1C1C1C","link-underline":"true","no-costs-claim":"","size":"M","starting-text":"only","type":"legacy","branding":"black"}"##,
    ),
];

/// The product page's widget.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductWidget {
    pub enabled: bool,
    /// The seQura product code it promotes (`pp3`, `sp1`, …).
    pub method: String,
    pub price_selector: String,
    pub location_selector: String,
    /// Where the price is when a variant changes it elsewhere (empty: the price selector).
    pub alt_price_selector: String,
    /// What, when it appears, says the alternative price applies.
    pub alt_price_trigger_selector: String,
    pub overrides: Vec<MethodOverride>,
}

/// One method's own placement on the product page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MethodOverride {
    pub method: String,
    /// Its own location (empty: the widget's).
    pub location_selector: String,
    pub hidden: bool,
    /// Its own style (empty: the widget's).
    pub style: String,
}

/// The cart's widget.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartWidget {
    pub enabled: bool,
    pub method: String,
    pub price_selector: String,
    pub location_selector: String,
}

/// The listing's mini-widget: one instalment amount per product card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListingWidget {
    pub enabled: bool,
    pub method: String,
    pub price_selector: String,
    pub location_selector: String,
    /// Per country: the message (`%s` is the instalment) and the one below the minimum
    /// (`%s` is the minimum amount; empty: nothing below the minimum).
    pub messages: BTreeMap<String, ListingMessage>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListingMessage {
    pub message: String,
    pub below: String,
}

/// Every widget setting of one storefront (or the default of all).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WidgetSettings {
    pub product: ProductWidget,
    pub cart: CartWidget,
    pub listing: ListingWidget,
    /// seQura's widget style, a JSON object (empty: seQura's own default).
    pub style: String,
}

impl Default for WidgetSettings {
    /// Off, with BigCommerce Cornerstone's selectors prefilled.
    fn default() -> Self {
        let messages = [
            ("ES", "Desde %s/mes", "Fracciona a partir de %s"),
            ("FR", "À partir de %s/mois", "Fractionnez à partir de %s"),
            ("IT", "Da %s/mese", "Dividi a partire da %s"),
            ("PT", "Desde %s/mês", "Divida a partir de %s"),
        ]
        .into_iter()
        .map(|(c, m, b)| {
            (
                c.to_string(),
                ListingMessage {
                    message: m.into(),
                    below: b.into(),
                },
            )
        })
        .collect();
        Self {
            product: ProductWidget {
                enabled: false,
                method: String::new(),
                price_selector: ".productView-price [data-product-price-with-tax]".into(),
                location_selector: "[data-content-region=\"product_below_price\"]".into(),
                alt_price_selector: String::new(),
                alt_price_trigger_selector: String::new(),
                overrides: Vec::new(),
            },
            cart: CartWidget {
                enabled: false,
                method: String::new(),
                price_selector: ".cart-total-grandTotal".into(),
                location_selector: "[data-cart-totals]".into(),
            },
            listing: ListingWidget {
                enabled: false,
                method: String::new(),
                price_selector: "article.card .card-text[data-test-info-type=\"price\"]".into(),
                location_selector: "article.card .card-text[data-test-info-type=\"price\"]".into(),
                messages,
            },
            style: String::new(),
        }
    }
}

impl WidgetSettings {
    /// Whether any widget is on: the storefront then gets the widget script.
    pub fn any_on(&self) -> bool {
        self.product.enabled || self.cart.enabled || self.listing.enabled
    }
}

/// The settings a storefront follows, from every saved set of the store (channel id, JSON;
/// the default's as [`db::widgets::DEFAULT`]): its own, else the default of all storefronts.
pub fn effective(saved: &[(u64, String)], channel: u64) -> WidgetSettings {
    let parse = |ch: u64| {
        saved
            .iter()
            .find(|(c, _)| *c == ch)
            .and_then(|(_, s)| serde_json::from_str::<WidgetSettings>(s).ok())
    };
    parse(channel)
        .or_else(|| parse(db::widgets::DEFAULT))
        .unwrap_or_default()
}

/// The methods a store may promote: (product code, category), from its imported methods.
pub type Promotable = Vec<(String, String)>;

/// Checks every field; the settings as they will be saved, or every error at once.
pub fn validate(s: &WidgetSettings, methods: &Promotable) -> Result<WidgetSettings, FormErrors> {
    let mut errors = FormErrors::default();
    let mut out = s.clone();
    let method_ok = |m: &str, cats: &[&str]| {
        methods
            .iter()
            .any(|(p, c)| p == m && cats.contains(&c.as_str()))
    };
    let check_method =
        |errors: &mut FormErrors, field: &str, m: &str, enabled: bool, cats: &[&str]| {
            if m.is_empty() {
                if enabled {
                    *errors = std::mem::take(errors).field(field, "err_widget_method_missing");
                }
            } else if !method_ok(m, cats) {
                *errors = std::mem::take(errors).field_with(
                    field,
                    "err_widget_method",
                    Some(m.chars().take(20).collect()),
                );
            }
        };
    check_method(
        &mut errors,
        "product_method",
        &s.product.method,
        s.product.enabled,
        &WIDGET_CATEGORIES,
    );
    check_method(
        &mut errors,
        "cart_method",
        &s.cart.method,
        s.cart.enabled,
        &WIDGET_CATEGORIES,
    );
    check_method(
        &mut errors,
        "listing_method",
        &s.listing.method,
        s.listing.enabled,
        &[LISTING_CATEGORY],
    );
    for (field, value, required) in [
        (
            "product_price_selector",
            &s.product.price_selector,
            s.product.enabled,
        ),
        (
            "product_location_selector",
            &s.product.location_selector,
            s.product.enabled,
        ),
        (
            "product_alt_price_selector",
            &s.product.alt_price_selector,
            false,
        ),
        (
            "product_alt_price_trigger_selector",
            &s.product.alt_price_trigger_selector,
            false,
        ),
        (
            "cart_price_selector",
            &s.cart.price_selector,
            s.cart.enabled,
        ),
        (
            "cart_location_selector",
            &s.cart.location_selector,
            s.cart.enabled,
        ),
        (
            "listing_price_selector",
            &s.listing.price_selector,
            s.listing.enabled,
        ),
        (
            "listing_location_selector",
            &s.listing.location_selector,
            s.listing.enabled,
        ),
    ] {
        if let Err(key) = selector(value, required) {
            errors = errors.field(field, key);
        }
    }
    if !s.product.alt_price_selector.trim().is_empty()
        && s.product.alt_price_trigger_selector.trim().is_empty()
    {
        errors = errors.field(
            "product_alt_price_trigger_selector",
            "err_widget_trigger_missing",
        );
    }
    if let Err((key, value)) = style(&s.style) {
        errors = errors.field_with("style", key, value);
    }
    if s.product.overrides.len() > MAX_OVERRIDES {
        errors = errors.field("overrides", "err_widget_overrides");
    }
    let mut seen = Vec::new();
    for (i, o) in s.product.overrides.iter().enumerate() {
        if !method_ok(&o.method, &WIDGET_CATEGORIES) || seen.contains(&&o.method) {
            errors = errors.field_with(
                &format!("override_{i}_method"),
                "err_widget_method",
                Some(o.method.chars().take(20).collect()),
            );
        }
        seen.push(&o.method);
        if let Err(key) = selector(&o.location_selector, false) {
            errors = errors.field(&format!("override_{i}_location"), key);
        }
        if let Err((key, value)) = style(&o.style) {
            errors = errors.field_with(&format!("override_{i}_style"), key, value);
        }
    }
    for (country, m) in &s.listing.messages {
        if Country::parse(country).is_none() {
            errors = errors.field("listing_messages", "err_widget_country");
            continue;
        }
        for (field, text, required) in [
            (format!("message_{country}"), &m.message, true),
            (format!("below_{country}"), &m.below, false),
        ] {
            let ok = (text.is_empty() && !required)
                || (text.matches("%s").count() == 1
                    && text.chars().count() <= MAX_MESSAGE
                    && !text.chars().any(|c| c.is_control() || c == '<' || c == '>'));
            if !ok {
                errors = errors.field(&field, "err_widget_message");
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    // Saved trimmed, the style in its compact form.
    for v in [
        &mut out.product.price_selector,
        &mut out.product.location_selector,
        &mut out.product.alt_price_selector,
        &mut out.product.alt_price_trigger_selector,
        &mut out.cart.price_selector,
        &mut out.cart.location_selector,
        &mut out.listing.price_selector,
        &mut out.listing.location_selector,
    ] {
        *v = v.trim().to_string();
    }
    out.style = compact(&out.style);
    for o in &mut out.product.overrides {
        o.location_selector = o.location_selector.trim().to_string();
        o.style = compact(&o.style);
    }
    Ok(out)
}

/// A CSS selector the storefront script can hand to `querySelectorAll`: printable, bounded,
/// without what would end a rule or start markup. Its syntax is the browser's to judge (the
/// script skips a selector the page refuses).
fn selector(v: &str, required: bool) -> Result<(), &'static str> {
    let v = v.trim();
    if v.is_empty() {
        return if required {
            Err("err_widget_selector_missing")
        } else {
            Ok(())
        };
    }
    if v.len() > MAX_SELECTOR
        || v.chars()
            .any(|c| c.is_control() || matches!(c, '<' | '{' | '}' | ';'))
    {
        return Err("err_widget_selector");
    }
    Ok(())
}

/// seQura's widget style: empty, or a JSON object of its known keys with plain values.
fn style(v: &str) -> Result<(), (&'static str, Option<String>)> {
    let v = v.trim();
    if v.is_empty() {
        return Ok(());
    }
    if v.len() > MAX_STYLE {
        return Err(("err_widget_style", None));
    }
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(v) else {
        return Err(("err_widget_style", None));
    };
    for (k, val) in &map {
        if !STYLE_KEYS.contains(&k.as_str()) {
            return Err(("err_widget_style_key", Some(k.chars().take(40).collect())));
        }
        let plain = match val {
            serde_json::Value::String(s) => !s.chars().any(|c| c.is_control() || c == '<'),
            serde_json::Value::Number(_) | serde_json::Value::Bool(_) => true,
            _ => false,
        };
        if !plain {
            return Err(("err_widget_style_key", Some(k.chars().take(40).collect())));
        }
    }
    Ok(())
}

fn compact(style: &str) -> String {
    serde_json::from_str::<serde_json::Value>(style.trim())
        .map(|v| v.to_string())
        .unwrap_or_default()
}

/// One imported method a widget may name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportedMethod {
    pub category: String,
    pub product: String,
    pub title: String,
}

/// The store's imported methods, each product once (its first category and title).
pub async fn imported_methods(
    state: &AppState,
    store: &StoreHash,
) -> Result<Vec<ImportedMethod>, AppError> {
    let hash = store.clone();
    let cached = state
        .db
        .call(move |c| db::sequra::methods(c, &hash))
        .await?;
    let mut out: Vec<ImportedMethod> = Vec::new();
    for stored in cached {
        let categories: Vec<PaymentCategory> =
            serde_json::from_str(&stored.methods).unwrap_or_default();
        for cat in categories {
            for m in cat.methods {
                if !out.iter().any(|x| x.product == m.product) {
                    out.push(ImportedMethod {
                        category: cat.category.clone(),
                        product: m.product,
                        title: m.title,
                    });
                }
            }
        }
    }
    Ok(out)
}

/// The methods the store may promote, from its imported methods.
pub async fn promotable(state: &AppState, store: &StoreHash) -> Result<Promotable, AppError> {
    Ok(imported_methods(state, store)
        .await?
        .into_iter()
        .map(|m| (m.product, m.category))
        .collect())
}

/// The settings of every storefront without its own, as stored (read inside a transaction
/// that writes them).
pub fn stored_default(
    conn: &rusqlite::Connection,
    store: &StoreHash,
) -> Result<WidgetSettings, crate::db::DbError> {
    Ok(db::widgets::get(conn, store, db::widgets::DEFAULT)?
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default())
}

/// One storefront's settings (`None`: the default of all storefronts), and whether they are
/// its own (a storefront without its own follows the default).
pub async fn settings_for(
    state: &AppState,
    store: &StoreHash,
    storefront: Option<u64>,
) -> Result<(WidgetSettings, bool), AppError> {
    let hash = store.clone();
    let (own, default) = state
        .db
        .call(move |c| {
            Ok((
                match storefront {
                    Some(ch) => db::widgets::get(c, &hash, ch)?,
                    None => None,
                },
                db::widgets::get(c, &hash, db::widgets::DEFAULT)?,
            ))
        })
        .await?;
    let parse = |s: String| serde_json::from_str::<WidgetSettings>(&s).ok();
    Ok(match own.and_then(parse) {
        Some(s) => (s, true),
        None => (default.and_then(parse).unwrap_or_default(), false),
    })
}

/// The widgets page: the settings shown, the methods to pick from, the storefronts.
#[derive(Debug, Clone, Serialize)]
pub struct WidgetsView {
    pub settings: WidgetSettings,
    /// `None`: the default of all storefronts.
    pub storefront: Option<u64>,
    /// The storefront has settings of its own.
    pub own: bool,
    /// (product code, category) of the imported methods.
    pub methods: Promotable,
    pub presets: Vec<(&'static str, &'static str)>,
}

pub async fn view(
    state: &AppState,
    store: &StoreHash,
    storefront: Option<u64>,
) -> Result<WidgetsView, AppError> {
    let (settings, own) = settings_for(state, store, storefront).await?;
    Ok(WidgetsView {
        settings,
        storefront,
        own,
        methods: promotable(state, store).await?,
        presets: STYLE_PRESETS.to_vec(),
    })
}

/// Saves one storefront's settings (`same_as_default`: it follows the default again, its own
/// are dropped), or the default's. Nothing is saved when a field is bad.
pub async fn save(
    state: &AppState,
    store: &StoreHash,
    storefront: Option<u64>,
    settings: Option<&WidgetSettings>,
) -> Result<(), FormError> {
    let hash = store.clone();
    let channel = storefront.unwrap_or(db::widgets::DEFAULT);
    let Some(settings) = settings else {
        if storefront.is_some() {
            state
                .db
                .call(move |c| {
                    let tx = c.transaction()?;
                    db::widgets::delete(&tx, &hash, channel)?;
                    crate::queue::enqueue(&tx, &hash, &crate::queue::Job::Provision)?;
                    tx.commit()?;
                    Ok(())
                })
                .await
                .map_err(AppError::from)?;
            saved(state, store);
        }
        return Ok(());
    };
    if let Some(ch) = storefront {
        let h = store.clone();
        let known = state
            .db
            .call(move |c| db::storefronts::get(c, &h, ch))
            .await
            .map_err(AppError::from)?;
        if known.is_none_or(|s| s.gone) {
            return Err(FormError::Invalid(FormErrors::general(
                "err_widget_storefront",
            )));
        }
    }
    let methods = promotable(state, store).await?;
    let valid = validate(settings, &methods).map_err(FormError::Invalid)?;
    state
        .db
        .call(move |c| {
            let tx = c.transaction()?;
            write(&tx, &hash, channel, &valid)?;
            tx.commit()?;
            Ok(())
        })
        .await
        .map_err(AppError::from)?;
    saved(state, store);
    Ok(())
}

/// Writes validated settings of `channel` ([`db::widgets::DEFAULT`]: of all storefronts)
/// within the caller's transaction. Once committed, [`saved`].
pub fn write(
    tx: &rusqlite::Connection,
    store: &StoreHash,
    channel: u64,
    valid: &WidgetSettings,
) -> Result<(), db::DbError> {
    // A struct of strings and booleans always serialises.
    let json = serde_json::to_string(valid).map_err(|e| db::DbError::Task(e.to_string()))?;
    db::widgets::put(tx, store, channel, &json)?;
    // Provisioning puts the widget script where widgets are now on (and takes it off where
    // they are not).
    crate::queue::enqueue(tx, store, &crate::queue::Job::Provision)?;
    Ok(())
}

/// After a save: provisioning runs now, and the storefronts are answered afresh.
pub fn saved(state: &AppState, store: &StoreHash) {
    state.jobs.wake();
    state.widget_configs.forget(store);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn methods() -> Promotable {
        vec![
            ("i1".into(), "pay_now".into()),
            ("sp1".into(), "pay_later".into()),
            ("pp3".into(), "part_payment".into()),
        ]
    }

    #[test]
    fn the_defaults_are_valid_and_off_with_cornerstones_selectors() {
        let d = WidgetSettings::default();
        assert!(!d.product.enabled && !d.cart.enabled && !d.listing.enabled);
        assert!(
            d.product
                .price_selector
                .contains("[data-product-price-with-tax]")
        );
        assert_eq!(validate(&d, &methods()).unwrap(), d);
        for (_, preset) in STYLE_PRESETS {
            assert!(style(preset).is_ok(), "{preset}");
        }
    }

    #[test]
    fn every_bad_field_is_named_at_once() {
        let mut s = WidgetSettings::default();
        s.product.enabled = true;
        s.product.method = "i1".into(); // pay now: not promotable
        s.product.price_selector = "".into();
        s.cart.enabled = true; // no method
        s.listing.enabled = true;
        s.listing.method = "sp1".into(); // listing: part payments only
        s.listing.location_selector = "div { color: red }".into();
        s.style = r#"{"size":"M","onload":"x"}"#.into();
        s.listing.messages.get_mut("ES").unwrap().message = "Desde/mes".into();
        s.product.alt_price_selector = ".price--alt".into();
        let e = validate(&s, &methods()).unwrap_err();
        let fields: Vec<&str> = e.fields.keys().map(String::as_str).collect();
        assert_eq!(
            fields,
            [
                "cart_method",
                "listing_location_selector",
                "listing_method",
                "message_ES",
                "product_alt_price_trigger_selector",
                "product_method",
                "product_price_selector",
                "style"
            ]
        );
        assert_eq!(e.fields["style"].value.as_deref(), Some("onload"));
    }

    #[test]
    fn good_settings_are_saved_trimmed_and_compact() {
        let mut s = WidgetSettings::default();
        s.product.enabled = true;
        s.product.method = "pp3".into();
        s.product.location_selector = "  .productView-price  ".into();
        s.style = "{ \"size\": \"L\" }".into();
        s.product.overrides.push(MethodOverride {
            method: "sp1".into(),
            location_selector: ".productView-options".into(),
            hidden: false,
            style: String::new(),
        });
        let v = validate(&s, &methods()).unwrap();
        assert_eq!(v.product.location_selector, ".productView-price");
        assert_eq!(v.style, r#"{"size":"L"}"#);
    }

    #[test]
    fn a_storefront_without_settings_of_its_own_follows_the_default() {
        let mut on = WidgetSettings::default();
        on.cart.enabled = true;
        let saved = vec![(0, serde_json::to_string(&on).unwrap())];
        assert!(effective(&saved, 1).any_on() && effective(&saved, 2).any_on());
        let mut saved = saved;
        saved.push((
            2,
            serde_json::to_string(&WidgetSettings::default()).unwrap(),
        ));
        assert!(effective(&saved, 1).any_on() && !effective(&saved, 2).any_on());
        assert!(!effective(&[], 1).any_on());
    }
}
