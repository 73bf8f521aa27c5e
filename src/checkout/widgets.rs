//! What the storefront's widget script draws for one visitor (issue 15): the merchant ref of
//! the storefront's country with its assets key, seQura's script for the account's
//! environment, the methods a widget may promote now (their limits), the merchant's widget
//! settings for this storefront, and the products excluded from seQura. The app decides; the
//! script only draws. Nothing at all (`{}`) when seQura is not connected, the storefront is
//! switched off or has no widget on, the currency is not the merchant ref's, or the visitor's
//! IP is not allowed: the script then does not even load seQura's. Beside the widgets, the
//! banner seQura set for the storefront's country (`remote::banners`), wherever seQura sells
//! on the storefront as the checkout would (its widgets on or not), with the widget region
//! of the page it goes on; nothing either when the visitor's IP is not allowed.
//!
//! Every page view of every visitor asks, so the answer is served from memory: built once per
//! store for all of its storefronts (by one request while the others wait), kept [`FRESH_FOR`](super::widget_cache::FRESH_FOR) (or until the merchant saves something it depends on, see
//! [`WidgetConfigs::forget`](super::widget_cache::WidgetConfigs::forget)), with its `ETag`. Building it reads the database only: no call
//! to BigCommerce or seQura is ever made for an anonymous visitor here.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde_json::{Value, json};

use super::widget_cache::{Built, Hidden, NOTHING, etag_of};
use crate::db;
use crate::db::storefronts::Storefront;
use crate::domain::{Country, DisplayLocation, StoreHash};
use crate::error::{AppError, Public};
use crate::onboarding::widgets::{LISTING_CATEGORY, WIDGET_CATEGORIES, effective};
use crate::sequra::{PaymentCategory, PaymentMethod};
use crate::state::AppState;

/// The name of seQura's widget script under the assets base URL (spec §10).
const SEQURA_SCRIPT: &str = "sequra-checkout.min.js";

/// What one visitor is answered.
#[derive(Debug, Clone)]
pub struct Answer {
    pub body: Arc<str>,
    pub etag: Arc<str>,
    /// The storefront origin to allow (CORS), when a browser asked.
    pub origin: Option<String>,
}

/// The widget configuration of `channel` for a visitor at `ip` whose browser calls from
/// `origin`. A store not installed is not found; an origin that is none of the store's
/// storefronts' is refused.
pub async fn config(
    state: &AppState,
    store: &StoreHash,
    channel: u64,
    ip: Option<IpAddr>,
    origin: Option<&str>,
) -> Result<Answer, AppError> {
    let built = built_for(state, store).await?;
    if let Some(o) = origin
        && !built.origins.iter().any(|mine| mine == o)
    {
        return Err(AppError::Forbidden(Public::new("err_origin")));
    }
    let allowed = crate::domain::ip_allowed(&built.allowed_ips, ip);
    let (body, etag) = match built.answers.get(&channel) {
        Some((body, etag)) if allowed => (body.clone(), etag.clone()),
        _ => (Arc::from(NOTHING), etag_of(NOTHING)),
    };
    Ok(Answer {
        body,
        etag,
        origin: origin.map(str::to_string),
    })
}

/// What the widget script decides on one storefront for a visitor at one address (the
/// merchant's Diagnostics page asks).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Decision {
    pub channel: u64,
    /// Why nothing is drawn; `None`: the widgets are drawn.
    pub hidden: Option<Hidden>,
}

/// The decision of every storefront of the store for a visitor at `ip`, from the very
/// answers visitors are served (the same memory, the same checks, in the same order).
pub async fn decide(
    state: &AppState,
    store: &StoreHash,
    ip: IpAddr,
) -> Result<Vec<Decision>, AppError> {
    let built = built_for(state, store).await?;
    let allowed = crate::domain::ip_allowed(&built.allowed_ips, Some(ip));
    let mut channels: Vec<u64> = built.answers.keys().copied().collect();
    channels.sort_unstable();
    Ok(channels
        .into_iter()
        .map(|channel| {
            let hidden = match built.hidden.get(&channel) {
                Some(why) => Some(why.clone()),
                None if !allowed => Some(Hidden::IpNotAllowed),
                None => None,
            };
            Decision { channel, hidden }
        })
        .collect())
}

/// The store's answers: from memory, else built by this request while the others wait.
async fn built_for(state: &AppState, store: &StoreHash) -> Result<Arc<Built>, AppError> {
    let configs = &state.widget_configs;
    if let Some(b) = configs.get(store, crate::clock::instant()) {
        return Ok(b);
    }
    let lock = configs.building.lock_for(store.as_str().to_string());
    let _building = lock.lock().await;
    if let Some(b) = configs.get(store, crate::clock::instant()) {
        return Ok(b);
    }
    let since = configs.epoch();
    let built = Arc::new(build(state, store).await?);
    configs.put(store, since, built.clone());
    Ok(built)
}

/// Everything the answer is made of, read at once.
struct Inputs {
    store_url: Option<String>,
    store_language: Option<String>,
    storefronts: Vec<Storefront>,
    default_on: bool,
    environment: Option<String>,
    countries: Vec<(Country, crate::domain::MerchantRef)>,
    merchants: Vec<db::sequra::StoredMerchant>,
    methods: Vec<db::sequra::StoredMethods>,
    widgets: Vec<(u64, String)>,
    category_products: Vec<u64>,
    banners: Vec<db::banners::Banner>,
}

/// Builds the answers of every storefront of the store (a store whose storefronts were
/// never read has its default one only).
async fn build(state: &AppState, store: &StoreHash) -> Result<Built, AppError> {
    state.widget_configs.builds.fetch_add(1, Ordering::Relaxed);
    let hash = store.clone();
    let inputs = state
        .db
        .call(move |c| {
            let Some(installed) = db::stores::get_installed(c, &hash)? else {
                return Ok(None);
            };
            Ok(Some(Inputs {
                store_url: installed.storefront_url,
                store_language: installed.language,
                storefronts: db::storefronts::list(c, &hash)?,
                default_on: db::storefronts::default_on(c, &hash)?,
                environment: db::sequra::connection(c, &hash)?.map(|c| c.environment),
                countries: db::settings::countries(c, &hash)?,
                merchants: db::sequra::merchants(c, &hash)?,
                methods: db::sequra::methods(c, &hash)?,
                widgets: db::widgets::all(c, &hash)?,
                category_products: db::widgets::category_products(c, &hash)?
                    .map(|r| r.product_ids)
                    .unwrap_or_default(),
                banners: db::banners::list(c, &hash)?,
            }))
        })
        .await?
        .ok_or(AppError::NotFound)?;
    let general = crate::onboarding::general_settings(state, store).await?;
    let origins = crate::stores::storefronts::storefront_origins(
        inputs.store_url.as_deref(),
        &inputs.storefronts,
    );
    let channels: Vec<Option<&Storefront>> = if inputs.storefronts.is_empty() {
        vec![None]
    } else {
        inputs.storefronts.iter().map(Some).collect()
    };
    let mut answers = HashMap::new();
    let mut hidden = HashMap::new();
    for storefront in channels {
        let channel = storefront.map_or(1, |s| s.channel_id);
        let seller = seller(state, store, &inputs, storefront).await?;
        let banner = banner(state, store, &inputs, &seller);
        let body = match (answer(state, &inputs, &general, channel, &seller), banner) {
            (Ok(mut v), banner) => {
                if let Some(b) = banner {
                    v["banner"] = b;
                }
                v.to_string()
            }
            (Err(why), banner) => {
                hidden.insert(channel, why);
                match banner {
                    Some(b) => json!({ "banner": b }).to_string(),
                    None => NOTHING.to_string(),
                }
            }
        };
        let etag = etag_of(&body);
        answers.insert(channel, (Arc::from(body), etag));
    }
    Ok(Built {
        at: crate::clock::instant(),
        answers,
        hidden,
        allowed_ips: general.allowed_ips.clone(),
        origins,
    })
}

/// The language of a storefront (`es`, `fr`, …) from its locale (`es`, `es-ES`, `es_ES`).
fn language_of(locale: &str) -> String {
    locale
        .split(['-', '_'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// The selling country a storefront's visitors are taken to be in: the region of its locale
/// (`es-CO`), else its language's country (`fr` → France), else the store's only (or first)
/// selling country. A storefront in English of a Spanish shop promotes Spain's terms.
fn country_for(locale: &str, selling: &[Country]) -> Option<Country> {
    let region = locale.split(['-', '_']).nth(1).and_then(Country::parse);
    let by_language = match language_of(locale).as_str() {
        "es" => Some(Country::ES),
        "fr" => Some(Country::FR),
        "it" => Some(Country::IT),
        "pt" => Some(Country::PT),
        _ => None,
    };
    [region, by_language]
        .into_iter()
        .flatten()
        .find(|c| selling.contains(c))
        .or_else(|| selling.first().copied())
}

/// Who sells on a storefront, as the checkout would: its country (the storefront's locale's,
/// among the selling countries), the country's merchant ref and account, in a currency
/// seQura's checkout takes, and not another store's ref. What a promotion there promises.
struct Seller<'a> {
    locale: String,
    country: Country,
    merchant_ref: crate::domain::MerchantRef,
    merchant: &'a db::sequra::StoredMerchant,
}

/// The storefront's [`Seller`], or why seQura sells nothing there.
async fn seller<'a>(
    state: &AppState,
    store: &StoreHash,
    inputs: &'a Inputs,
    storefront: Option<&Storefront>,
) -> Result<Result<Seller<'a>, Hidden>, AppError> {
    if let Some(s) = storefront
        && !s.enabled.unwrap_or(inputs.default_on)
    {
        return Ok(Err(Hidden::StorefrontOff));
    }
    let Some(environment) = inputs.environment.as_deref() else {
        return Ok(Err(Hidden::NotConnected));
    };
    let locale = storefront
        .and_then(|s| s.locale.clone())
        .or_else(|| inputs.store_language.clone())
        .unwrap_or_else(|| "es".into());
    let selling: Vec<Country> = inputs.countries.iter().map(|(c, _)| *c).collect();
    let Some(country) = country_for(&locale, &selling) else {
        return Ok(Err(Hidden::NoCountry));
    };
    let Some(merchant_ref) = inputs
        .countries
        .iter()
        .find(|(c, _)| *c == country)
        .map(|(_, m)| m.clone())
    else {
        return Ok(Err(Hidden::NoCountry));
    };
    let Some(merchant) = inputs
        .merchants
        .iter()
        .find(|m| m.merchant_ref == merchant_ref)
    else {
        return Ok(Err(Hidden::NoAccount {
            merchant_ref: merchant_ref.to_string(),
        }));
    };
    // The checkout takes EUR only (issue 16 brings the merchant ref's own currency): a
    // storefront selling in another shows no promise its checkout would not keep.
    let currency = storefront
        .and_then(|s| s.currency.clone())
        .unwrap_or_else(|| merchant.currency.clone());
    if !currency.eq_ignore_ascii_case(&merchant.currency) || !currency.eq_ignore_ascii_case("EUR") {
        return Ok(Err(Hidden::Currency {
            currency: currency.clone(),
            takes: merchant.currency.clone(),
        }));
    }
    // As at the checkout: a ref another store of this installation sells with is not offered.
    let (env, m) = (environment.to_string(), merchant_ref.clone());
    let first_holder = state
        .db
        .call(move |c| db::settings::merchant_ref_holders(c, &env, &m))
        .await?
        .into_iter()
        .next();
    if first_holder.as_ref() != Some(store) {
        return Ok(Err(Hidden::AnotherStore {
            merchant_ref: merchant_ref.to_string(),
        }));
    }
    Ok(Ok(Seller {
        locale,
        country,
        merchant_ref,
        merchant,
    }))
}

/// Where a banner goes on each kind of page: BigCommerce's widget region of that page in
/// Stencil themes (Cornerstone's `{{{region name="…"}}}`, rendered as
/// `<div data-content-region="…">`), which only that kind of page has: the region tells the
/// script which page it is on.
fn region(location: DisplayLocation) -> &'static str {
    match location {
        DisplayLocation::Home => "[data-content-region=\"home_below_menu\"]",
        DisplayLocation::Product => "[data-content-region=\"product_below_content\"]",
        DisplayLocation::Cart => "[data-content-region=\"cart_below_totals\"]",
        DisplayLocation::ProductListing => "[data-content-region=\"category_below_header\"]",
    }
}

/// The banner seQura set for the storefront's country, where seQura sells there (the same
/// decision as the widgets', whatever the widgets' own settings).
fn banner(
    state: &AppState,
    store: &StoreHash,
    inputs: &Inputs,
    seller: &Result<Seller<'_>, Hidden>,
) -> Option<Value> {
    let seller = seller.as_ref().ok()?;
    let b = inputs
        .banners
        .iter()
        .find(|b| b.country == seller.country)?;
    let lang = crate::i18n::Lang::from_locale(Some(&seller.locale));
    Some(json!({
        "location": b.location.wire(),
        "region": region(b.location),
        "image": state.public(&crate::domain::banner_path(store, &b.file)),
        "width": b.width,
        "height": b.height,
        "link": b.link_url,
        "alt": state.i18n.t(lang, "banner_alt"),
    }))
}

/// The answer's JSON, or why there is nothing to show.
fn answer(
    state: &AppState,
    inputs: &Inputs,
    general: &crate::onboarding::GeneralSettings,
    channel: u64,
    seller: &Result<Seller<'_>, Hidden>,
) -> Result<Value, Hidden> {
    // In the order the Diagnostics page explains them: the storefront, the connection, the
    // widgets, then who sells there.
    if let Err(why @ (Hidden::StorefrontOff | Hidden::NotConnected)) = seller {
        return Err(why.clone());
    }
    let Some(environment) = inputs.environment.as_deref() else {
        return Err(Hidden::NotConnected);
    };
    let settings = effective(&inputs.widgets, channel);
    if !settings.any_on() {
        return Err(Hidden::NoWidgetOn);
    }
    // The excluded categories' products were read up to the bound only: a product past it
    // would be promoted though the checkout refuses it, so nothing is promoted.
    if inputs.category_products.len() >= crate::bigcommerce::client::MAX_CATEGORY_PRODUCTS {
        return Err(Hidden::TooManyExcluded);
    }
    let (locale, country, merchant_ref, merchant) = match seller {
        Ok(s) => (
            s.locale.clone(),
            s.country,
            s.merchant_ref.clone(),
            s.merchant,
        ),
        Err(why) => return Err(why.clone()),
    };
    let asset_key = serde_json::from_str::<Value>(&merchant.payload)
        .ok()
        .and_then(|p| {
            p.get("assets_key")
                .and_then(Value::as_str)
                .map(String::from)
        });
    let Some(asset_key) = asset_key.filter(|k| !k.is_empty()) else {
        return Err(Hidden::NoAssetsKey {
            merchant_ref: merchant_ref.to_string(),
        });
    };
    let categories: Vec<PaymentCategory> = inputs
        .methods
        .iter()
        .find(|m| m.merchant_ref == merchant_ref)
        .and_then(|m| serde_json::from_str(&m.methods).ok())
        .unwrap_or_default();
    let now = crate::clock::now();
    // (category, method) of every method promotable now.
    let promotable: Vec<(&str, &PaymentMethod)> = categories
        .iter()
        .filter(|c| WIDGET_CATEGORIES.contains(&c.category.as_str()))
        .flat_map(|c| c.methods.iter().map(move |m| (c.category.as_str(), m)))
        .filter(|(_, m)| crate::checkout::eligibility::in_window(m, now))
        .collect();
    let find = |product: &str, categories: &[&str]| {
        promotable
            .iter()
            .find(|(c, m)| m.product == product && categories.contains(c))
            .map(|(_, m)| *m)
    };
    let style = parse_style(&settings.style);
    let mut widgets = Vec::new();
    if settings.product.enabled {
        let p = &settings.product;
        let own = |method: &str| p.overrides.iter().find(|o| o.method == method);
        // The promoted method first, then every other method given a placement of its own.
        let mut methods = vec![p.method.as_str()];
        methods.extend(
            p.overrides
                .iter()
                .map(|o| o.method.as_str())
                .filter(|m| *m != p.method),
        );
        for method in methods {
            let over = own(method);
            if over.is_some_and(|o| o.hidden) {
                continue;
            }
            let Some(m) = find(method, &WIDGET_CATEGORIES) else {
                continue;
            };
            let location = over
                .map(|o| o.location_selector.as_str())
                .filter(|l| !l.is_empty())
                .unwrap_or(&p.location_selector);
            let style = over
                .map(|o| o.style.as_str())
                .filter(|s| !s.is_empty())
                .map_or_else(|| style.clone(), parse_style);
            widgets.push(widget(
                "product",
                m,
                &p.price_selector,
                &p.alt_price_selector,
                &p.alt_price_trigger_selector,
                location,
                style,
            ));
        }
    }
    if settings.cart.enabled
        && let Some(m) = find(&settings.cart.method, &WIDGET_CATEGORIES)
    {
        let c = &settings.cart;
        widgets.push(widget(
            "cart",
            m,
            &c.price_selector,
            "",
            "",
            &c.location_selector,
            style.clone(),
        ));
    }
    let mut mini = Vec::new();
    if settings.listing.enabled
        && let Some(m) = find(&settings.listing.method, &[LISTING_CATEGORY])
        && let Some(text) = settings.listing.messages.get(country.code())
    {
        let l = &settings.listing;
        mini.push(json!({
            "product": m.product,
            "campaign": m.campaign,
            "price": l.price_selector,
            "location": l.location_selector,
            "message": text.message,
            "below": text.below,
            "min": m.min_amount.unwrap_or(0),
            "max": m.max_amount,
        }));
    }
    if widgets.is_empty() && mini.is_empty() {
        return Err(Hidden::NothingPromotable {
            merchant_ref: merchant_ref.to_string(),
        });
    }
    let mut products: Vec<&str> = Vec::new();
    for (_, m) in &promotable {
        if !products.contains(&m.product.as_str()) {
            products.push(&m.product);
        }
    }
    let mut excluded: Vec<u64> = general.excluded_products.iter().map(|p| p.id).collect();
    excluded.extend(&inputs.category_products);
    excluded.sort_unstable();
    excluded.dedup();
    let language = language_of(&locale);
    let (decimal, thousands) = if language == "en" {
        (".", ",")
    } else {
        (",", ".")
    };
    // seQura's script from the merchant ref's own deployment.
    let deployment = crate::sequra::Deployment::parse(&merchant.deployment)
        .unwrap_or(crate::sequra::Deployment::Sequra);
    let env = crate::sequra::Environment::parse(environment)
        .unwrap_or(crate::sequra::Environment::Sandbox);
    let assets = state.sequra.deployments().assets(deployment, env);
    Ok(json!({
        "merchant": merchant_ref.as_str(),
        "assetKey": asset_key,
        "scriptUri": format!("{}/{SEQURA_SCRIPT}", assets.as_str().trim_end_matches('/')),
        "locale": format!("{language}-{}", country.code()),
        "currency": merchant.currency.to_ascii_uppercase(),
        "decimalSeparator": decimal,
        "thousandSeparator": thousands,
        "products": products,
        "widgets": widgets,
        "miniWidgets": mini,
        "excluded": excluded,
    }))
}

fn widget(
    kind: &str,
    m: &PaymentMethod,
    price: &str,
    alt_price: &str,
    alt_trigger: &str,
    location: &str,
    style: Value,
) -> Value {
    json!({
        "kind": kind,
        "product": m.product,
        "campaign": m.campaign,
        "price": price,
        "altPrice": alt_price,
        "altTrigger": alt_trigger,
        "location": location,
        "style": style,
        "min": m.min_amount.unwrap_or(0),
        "max": m.max_amount,
    })
}

/// A saved style (validated on save) as the object the script spreads into attributes.
fn parse_style(style: &str) -> Value {
    match serde_json::from_str::<Value>(style) {
        Ok(v @ Value::Object(_)) => v,
        _ => json!({}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_storefront_promotes_the_terms_of_its_locales_country_among_those_sold_in() {
        let all = [Country::ES, Country::FR, Country::PT];
        assert_eq!(country_for("fr", &all), Some(Country::FR));
        assert_eq!(country_for("pt-PT", &all), Some(Country::PT));
        assert_eq!(country_for("es_ES", &all), Some(Country::ES));
        assert_eq!(
            country_for("it", &all),
            Some(Country::ES),
            "not sold in Italy"
        );
        assert_eq!(country_for("en", &all), Some(Country::ES));
        assert_eq!(country_for("en", &[]), None);
        assert_eq!(
            country_for("es-PE", &[Country::ES, Country::PE]),
            Some(Country::PE)
        );
    }
}
