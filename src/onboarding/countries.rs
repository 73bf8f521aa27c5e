//! Selling countries: the countries the store sells to (store country and shipping zones, from
//! BigCommerce) that seQura supports, each with a merchant ref owned by the connected account.

use std::collections::BTreeSet;

use super::{FormError, FormErrors};
use crate::db;
use crate::db::sequra::StoredMerchant;
use crate::domain::{Country, MerchantRef, StoreHash};
use crate::error::AppError;
use crate::state::AppState;
use crate::stores::lifecycle::store_api;

/// The only currency seQura's checkout takes (integration-core's `SUPPORTED_CURRENCIES`).
pub const SUPPORTED_CURRENCY: &str = "EUR";

/// One supported country the store sells to.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CountryRow {
    pub code: String,
    pub enabled: bool,
    /// The saved merchant ref, else the account's merchant for this country.
    pub merchant_ref: String,
    /// Merchant refs of the account that may serve this country.
    pub options: Vec<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct CountryView {
    pub rows: Vec<CountryRow>,
    /// Countries the store sells to that seQura does not support.
    pub unsupported: Vec<String>,
    /// BigCommerce could not be asked; the list falls back to what is known.
    pub store_countries_unavailable: bool,
}

/// The countries the store sells to, from BigCommerce.
async fn store_countries(
    state: &AppState,
    store: &StoreHash,
) -> Result<BTreeSet<String>, AppError> {
    let api = store_api(state, store).await?;
    let info = api.store_info().await?;
    let zones = api.shipping_zones().await?;
    let mut out = BTreeSet::new();
    if let Some(c) = info.country_code.filter(|c| !c.trim().is_empty()) {
        out.insert(c.trim().to_ascii_uppercase());
    }
    for z in zones {
        out.extend(z.countries.into_iter().map(|c| c.to_ascii_uppercase()));
    }
    Ok(out)
}

fn serves(m: &StoredMerchant, country: Country) -> bool {
    if m.country.eq_ignore_ascii_case(country.code()) {
        return true;
    }
    serde_json::from_str::<serde_json::Value>(&m.payload)
        .ok()
        .and_then(|p| p.get("allowed_countries").cloned())
        .and_then(|a| serde_json::from_value::<Vec<String>>(a).ok())
        .is_some_and(|list| list.iter().any(|c| c.eq_ignore_ascii_case(country.code())))
}

struct Known {
    offered: Vec<Country>,
    unsupported: Vec<String>,
    unavailable: bool,
    saved: Vec<(Country, MerchantRef)>,
    merchants: Vec<StoredMerchant>,
}

async fn known(state: &AppState, store: &StoreHash) -> Result<Known, AppError> {
    let hash = store.clone();
    let (saved, merchants) = state
        .db
        .call(move |conn| {
            Ok((
                db::settings::countries(conn, &hash)?,
                db::sequra::merchants(conn, &hash)?,
            ))
        })
        .await?;
    let (sells_to, unavailable) = match store_countries(state, store).await {
        Ok(c) => (c, false),
        Err(e) => {
            tracing::warn!(error = %e, "store countries unavailable");
            // Fall back to what is already configured and what the account covers.
            let mut c: BTreeSet<String> = saved.iter().map(|(c, _)| c.code().to_string()).collect();
            c.extend(merchants.iter().map(|m| m.country.to_ascii_uppercase()));
            (c, true)
        }
    };
    let offered: Vec<Country> = Country::ALL
        .into_iter()
        .filter(|c| sells_to.contains(c.code()))
        .collect();
    let unsupported = sells_to
        .iter()
        .filter(|c| Country::parse(c).is_none())
        .cloned()
        .collect();
    Ok(Known {
        offered,
        unsupported,
        unavailable,
        saved,
        merchants,
    })
}

/// The countries page.
pub async fn countries_view(state: &AppState, store: &StoreHash) -> Result<CountryView, AppError> {
    let k = known(state, store).await?;
    let rows = k
        .offered
        .iter()
        .map(|&c| {
            let saved = k
                .saved
                .iter()
                .find(|(x, _)| *x == c)
                .map(|(_, m)| m.to_string());
            let options: Vec<String> = k
                .merchants
                .iter()
                .filter(|m| serves(m, c))
                .map(|m| m.merchant_ref.to_string())
                .collect();
            let prefill = k
                .merchants
                .iter()
                .find(|m| m.country.eq_ignore_ascii_case(c.code()))
                .map(|m| m.merchant_ref.to_string());
            CountryRow {
                code: c.code().to_string(),
                // Before the first save, every country the account has a merchant for is on.
                enabled: if k.saved.is_empty() {
                    prefill.is_some()
                } else {
                    saved.is_some()
                },
                merchant_ref: saved.or(prefill).unwrap_or_default(),
                options,
            }
        })
        .collect();
    Ok(CountryView {
        rows,
        unsupported: k.unsupported,
        store_countries_unavailable: k.unavailable,
    })
}

/// One submitted row: the country, whether it is ticked, and the merchant ref typed or chosen.
#[derive(Debug, Clone)]
pub struct SubmittedCountry {
    pub code: String,
    pub enabled: bool,
    pub merchant_ref: String,
}

/// Checks the ticked countries against what the store sells to and what the account owns:
/// the countries with their merchant refs, or every error at once.
fn check(
    k: &Known,
    submitted: &[SubmittedCountry],
) -> Result<Vec<(Country, MerchantRef)>, FormErrors> {
    if k.merchants.is_empty() {
        return Err(FormErrors::general("err_not_connected"));
    }
    let mut errors = FormErrors::default();
    let mut chosen: Vec<(Country, MerchantRef)> = Vec::new();
    for s in submitted.iter().filter(|s| s.enabled) {
        let field = format!("ref_{}", s.code.to_ascii_uppercase());
        let Some(country) = Country::parse(&s.code).filter(|c| k.offered.contains(c)) else {
            // Not a row of the page (a forged or stale form): say so above the form.
            errors.general = Some(super::Msg {
                key: "err_country_not_offered".into(),
                value: Some(s.code.chars().take(8).collect()),
            });
            continue;
        };
        if chosen.iter().any(|(c, _)| *c == country) {
            continue;
        }
        let Ok(merchant_ref) = MerchantRef::parse(&s.merchant_ref) else {
            errors = errors.field(&field, "err_merchant_ref_required");
            continue;
        };
        match k.merchants.iter().find(|m| m.merchant_ref == merchant_ref) {
            None => errors = errors.field(&field, "err_merchant_ref_unknown"),
            Some(m) if !serves(m, country) => {
                errors = errors.field(&field, "err_merchant_ref_country")
            }
            // seQura's checkout takes euros only (its own library's supported currencies):
            // a merchant ref in another (Colombia's COP, Peru's PEN) would never be offered.
            Some(m) if !m.currency.eq_ignore_ascii_case(SUPPORTED_CURRENCY) => {
                errors = errors.field_with(
                    &field,
                    "err_merchant_ref_currency",
                    Some(m.currency.chars().take(3).collect()),
                )
            }
            Some(_) => chosen.push((country, merchant_ref)),
        }
    }
    if errors.is_empty() && chosen.is_empty() {
        errors = FormErrors::general("err_no_country");
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(chosen)
}

/// Checks `codes` as the countries page would save them ticked, each with the merchant ref
/// the page shows for it (its saved ref, else the account's merchant of that country).
pub async fn check_country_codes(
    state: &AppState,
    store: &StoreHash,
    codes: &[String],
) -> Result<Vec<(Country, MerchantRef)>, FormError> {
    let k = known(state, store).await?;
    let submitted: Vec<SubmittedCountry> = codes
        .iter()
        .map(|code| {
            let country = Country::parse(code.trim());
            SubmittedCountry {
                code: code.trim().chars().take(8).collect(),
                enabled: true,
                merchant_ref: country.and_then(|c| page_ref(&k, c)).unwrap_or_default(),
            }
        })
        .collect();
    check(&k, &submitted).map_err(FormError::Invalid)
}

/// The merchant ref the countries page shows for `country`.
fn page_ref(k: &Known, country: Country) -> Option<String> {
    k.saved
        .iter()
        .find(|(x, _)| *x == country)
        .map(|(_, m)| m.to_string())
        .or_else(|| {
            k.merchants
                .iter()
                .find(|m| m.country.eq_ignore_ascii_case(country.code()))
                .map(|m| m.merchant_ref.to_string())
        })
}

/// The countries the store sells to that seQura supports and the account has a merchant ref
/// for (what seQura may choose selling countries from), in [`Country::ALL`]'s order.
pub async fn sellable_countries(
    state: &AppState,
    store: &StoreHash,
) -> Result<Vec<Country>, AppError> {
    let k = known(state, store).await?;
    Ok(k.offered
        .iter()
        .copied()
        .filter(|&c| k.merchants.iter().any(|m| serves(m, c)))
        .collect())
}

/// Saves checked countries within the caller's transaction, unless another installed store
/// of this installation sells with one of the refs on the same seQura environment (see
/// [`db::settings::merchant_ref_holders`]): then nothing is saved and those countries are
/// the answer. `None`: the store is not connected.
pub fn write_countries(
    conn: &rusqlite::Connection,
    store: &StoreHash,
    chosen: &[(Country, MerchantRef)],
) -> Result<Option<Vec<Country>>, db::DbError> {
    let Some(connection) = db::sequra::connection(conn, store)? else {
        return Ok(None);
    };
    let mut taken = Vec::new();
    for (country, merchant_ref) in chosen {
        let holders =
            db::settings::merchant_ref_holders(conn, &connection.environment, merchant_ref)?;
        if holders.iter().any(|h| h != store) {
            taken.push(*country);
        }
    }
    if taken.is_empty() {
        db::settings::save_countries(conn, store, chosen)?;
    }
    Ok(Some(taken))
}

/// The form errors of [`write_countries`]' answer, if any.
pub fn countries_refused(outcome: Option<Vec<Country>>) -> Option<FormErrors> {
    match outcome {
        None => Some(FormErrors::general("err_not_connected")),
        Some(taken) if !taken.is_empty() => {
            let mut errors = FormErrors::default();
            for country in taken {
                errors = errors.field(
                    &format!("ref_{}", country.code()),
                    "err_merchant_ref_in_use",
                );
            }
            Some(errors)
        }
        Some(_) => None,
    }
}

/// Validates and saves the selling countries: each ticked country must be one the store
/// sells to, with a merchant ref the account owns for that country and that no other
/// installed store of this installation sells with on the same seQura environment (see
/// [`db::settings::merchant_ref_holders`]).
pub async fn save_countries(
    state: &AppState,
    store: &StoreHash,
    submitted: &[SubmittedCountry],
) -> Result<(), FormError> {
    let k = known(state, store).await?;
    let chosen = check(&k, submitted).map_err(FormError::Invalid)?;
    let hash = store.clone();
    let outcome = state
        .db
        .call(move |conn| {
            // Checked and saved in one transaction: the database serialises them against
            // another store's save.
            let tx = conn.transaction()?;
            let outcome = write_countries(&tx, &hash, &chosen)?;
            tx.commit()?;
            Ok(outcome)
        })
        .await?;
    state.widget_configs.forget(store);
    match countries_refused(outcome) {
        Some(errors) => Err(FormError::Invalid(errors)),
        None => Ok(()),
    }
}
