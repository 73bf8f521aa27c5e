//! Payment methods: imported per merchant ref (on connect and on "Refresh"), cached with their
//! fetch time, listed per selling country.

use base64::Engine;

use super::{FormError, FormErrors, sequra_account};
use crate::db;
use crate::domain::{Country, MerchantRef, StoreHash};
use crate::error::AppError;
use crate::i18n::{Lang, format_eur};
use crate::sequra::PaymentCategory;
use crate::state::AppState;

/// Largest inline SVG icon shown; larger ones are left out.
const MAX_ICON_BYTES: usize = 64 * 1024;

/// Re-imports the payment methods of every merchant ref the account owns.
pub async fn refresh_methods(state: &AppState, store: &StoreHash) -> Result<(), FormError> {
    let hash = store.clone();
    let merchants = state
        .db
        .call(move |conn| db::sequra::merchants(conn, &hash))
        .await?;
    let mut failed = false;
    let mut connected = false;
    for m in merchants {
        // Each ref from its own deployment, with that deployment's account.
        let Some(account) = sequra_account(state, store, m.merchant_ref.as_str()).await? else {
            continue;
        };
        connected = true;
        match state
            .sequra
            .merchant_payment_methods(&account, m.merchant_ref.as_str())
            .await
        {
            Ok(categories) => {
                let json =
                    serde_json::to_string(&categories).map_err(|e| AppError::Internal(e.into()))?;
                let hash = store.clone();
                state
                    .db
                    .call(move |conn| db::sequra::save_methods(conn, &hash, &m.merchant_ref, &json))
                    .await?;
                state.widget_configs.forget(store);
            }
            Err(e) => {
                tracing::warn!(merchant_ref = m.merchant_ref.as_str(), error = %e, "payment methods import failed");
                failed = true;
            }
        }
    }
    if !connected {
        return Err(FormError::Invalid(FormErrors::general("err_not_connected")));
    }
    if failed {
        return Err(FormError::Invalid(FormErrors::general(
            "err_methods_refresh",
        )));
    }
    Ok(())
}

/// Whether the checkout shows one "Pay with seQura" button instead of one per method.
pub async fn single_button(state: &AppState, store: &StoreHash) -> Result<bool, AppError> {
    let hash = store.clone();
    Ok(state
        .db
        .call(move |conn| db::settings::single_button(conn, &hash))
        .await?)
}

/// Saves the single-button choice: the next `methods` call of every checkout follows it.
pub async fn save_single_button(
    state: &AppState,
    store: &StoreHash,
    on: bool,
) -> Result<(), FormError> {
    let hash = store.clone();
    state
        .db
        .call(move |conn| db::settings::save_single_button(conn, &hash, on))
        .await?;
    tracing::info!(single_button = on, "checkout layout saved");
    Ok(())
}

/// The title of `product` among the cached methods of `merchant_ref` ("seQura" when not
/// found): what an order paid with it is called.
pub async fn method_title(
    state: &AppState,
    store: &StoreHash,
    merchant_ref: &str,
    product: &str,
) -> String {
    let hash = store.clone();
    let cached = state
        .db
        .call(move |c| db::sequra::methods(c, &hash))
        .await
        .unwrap_or_default();
    cached
        .iter()
        .filter(|m| m.merchant_ref.as_str() == merchant_ref)
        .filter_map(|m| serde_json::from_str::<Vec<PaymentCategory>>(&m.methods).ok())
        .flatten()
        .flat_map(|c| c.methods)
        // A campaign's method shares its product's code: the plain one names it first.
        .min_by_key(|m| (m.product != product, m.campaign.is_some()))
        .filter(|m| m.product == product)
        .map_or_else(|| "seQura".into(), |m| m.title)
}

/// One payment method as the page lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MethodRow {
    pub country: String,
    pub merchant_ref: String,
    pub title: String,
    pub product: String,
    pub campaign: Option<String>,
    pub category: String,
    pub min_amount: Option<String>,
    pub max_amount: Option<String>,
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
    /// `data:image/svg+xml;base64,…`: seQura's inline SVG shown as an image, never as HTML.
    pub icon: Option<String>,
    pub fetched_at: String,
}

/// The methods page: the countries to filter by and the rows of the chosen one (or all).
#[derive(Debug, Clone, serde::Serialize)]
pub struct MethodsView {
    pub countries: Vec<String>,
    pub selected: Option<String>,
    pub rows: Vec<MethodRow>,
}

/// Lists the cached methods. With selling countries set, each country shows its merchant's
/// methods; before that, each merchant ref shows under its own country.
pub async fn methods_view(
    state: &AppState,
    store: &StoreHash,
    filter: Option<Country>,
    lang: Lang,
) -> Result<MethodsView, AppError> {
    let hash = store.clone();
    let (countries, merchants, cached) = state
        .db
        .call(move |conn| {
            Ok((
                db::settings::countries(conn, &hash)?,
                db::sequra::merchants(conn, &hash)?,
                db::sequra::methods(conn, &hash)?,
            ))
        })
        .await?;
    let pairs: Vec<(String, MerchantRef)> = if countries.is_empty() {
        merchants
            .iter()
            .map(|m| (m.country.clone(), m.merchant_ref.clone()))
            .collect()
    } else {
        countries
            .iter()
            .map(|(c, m)| (c.code().to_string(), m.clone()))
            .collect()
    };
    let mut all_countries: Vec<String> = pairs.iter().map(|(c, _)| c.clone()).collect();
    all_countries.dedup();
    let selected = filter.map(|c| c.code().to_string());
    let mut rows = Vec::new();
    for (country, merchant) in &pairs {
        if selected.as_ref().is_some_and(|s| s != country) {
            continue;
        }
        let Some(stored) = cached.iter().find(|c| &c.merchant_ref == merchant) else {
            continue;
        };
        let categories: Vec<PaymentCategory> =
            serde_json::from_str(&stored.methods).unwrap_or_default();
        for cat in &categories {
            for m in &cat.methods {
                rows.push(MethodRow {
                    country: country.clone(),
                    merchant_ref: merchant.to_string(),
                    title: m.title.clone(),
                    product: m.product.clone(),
                    campaign: m.campaign.clone(),
                    category: cat.category.clone(),
                    min_amount: m.min_amount.map(|c| format_eur(c, lang)),
                    max_amount: m.max_amount.map(|c| format_eur(c, lang)),
                    starts_at: m.starts_at.as_deref().map(date_part),
                    ends_at: m.ends_at.as_deref().map(date_part),
                    icon: m.icon.as_deref().and_then(icon_data_uri),
                    fetched_at: stored.fetched_at.clone(),
                });
            }
        }
    }
    Ok(MethodsView {
        countries: all_countries,
        selected,
        rows,
    })
}

fn date_part(iso: &str) -> String {
    iso.get(..10).unwrap_or(iso).to_string()
}

/// An inline SVG as a data URI for an `<img>`: browsers never run scripts in image SVGs.
pub fn icon_data_uri(svg: &str) -> Option<String> {
    let svg = svg.trim();
    if svg.len() > MAX_ICON_BYTES || !svg.starts_with("<svg") && !svg.starts_with("<?xml") {
        return None;
    }
    Some(format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(svg)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icons_become_data_uris_and_non_svg_is_dropped() {
        let uri = icon_data_uri("<svg xmlns='http://www.w3.org/2000/svg'></svg>").unwrap();
        assert!(uri.starts_with("data:image/svg+xml;base64,"));
        assert!(!uri.contains('<'));
        assert_eq!(icon_data_uri("<script>alert(1)</script>"), None);
        assert_eq!(
            icon_data_uri(&format!("<svg>{}</svg>", "a".repeat(70_000))),
            None
        );
    }
}
