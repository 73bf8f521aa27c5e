//! General settings: allowed IP addresses and ranges (empty = everyone), products and categories
//! excluded from seQura (picked from the store's catalog), the daily order report, and whether
//! seQura's form opens on a page of its own (seQura's `showSeQuraCheckoutAsHostedPage`).

use serde::{Deserialize, Serialize};

use super::{FormError, FormErrors};
use crate::db;
use crate::db::settings::StoredGeneral;
use crate::domain::{
    Country, IpRange, MerchantRef, ServiceDate, ServiceTerms, StoreHash, parse_ranges,
};
use crate::error::AppError;
use crate::state::AppState;
use crate::stores::lifecycle::store_api;

const MAX_IPS: usize = 100;
const MAX_EXCLUDED: usize = 500;
const MAX_NAME: usize = 255;
/// Catalog search results per kind.
const SEARCH_LIMIT: u32 = 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExcludedProduct {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub sku: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExcludedCategory {
    pub id: u64,
    pub name: String,
}

/// The settings as the app uses them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GeneralSettings {
    pub allowed_ips: Vec<IpRange>,
    pub excluded_categories: Vec<ExcludedCategory>,
    pub excluded_products: Vec<ExcludedProduct>,
    pub send_order_reports: bool,
    /// A service's end date when its product names none.
    pub services_end_date: ServiceDate,
    /// seQura's form on the app's own page (`/checkout/{store}/pay`) instead of over the
    /// checkout.
    pub hosted_page: bool,
}

/// What the form submits: the IP list as typed, and each ticked item as its JSON value.
#[derive(Debug, Clone, Default)]
pub struct GeneralForm {
    pub allowed_ips: String,
    pub excluded_categories: Vec<String>,
    pub excluded_products: Vec<String>,
    pub send_order_reports: bool,
    pub services_end_date: String,
    pub hosted_page: bool,
}

/// The stored list is JSON strings: bare addresses (all that rows saved before ranges hold)
/// read as single-address ranges.
fn decode(stored: StoredGeneral) -> GeneralSettings {
    let ips: Vec<String> = serde_json::from_str(&stored.allowed_ips).unwrap_or_default();
    GeneralSettings {
        allowed_ips: ips.iter().filter_map(|s| IpRange::parse(s).ok()).collect(),
        excluded_categories: serde_json::from_str(&stored.excluded_categories).unwrap_or_default(),
        excluded_products: serde_json::from_str(&stored.excluded_products).unwrap_or_default(),
        send_order_reports: stored.send_order_reports,
        services_end_date: ServiceDate::parse(&stored.services_end_date)
            .unwrap_or_else(ServiceDate::default_end),
        hosted_page: stored.hosted_page,
    }
}

pub async fn general_settings(
    state: &AppState,
    store: &StoreHash,
) -> Result<GeneralSettings, AppError> {
    let hash = store.clone();
    let stored = state
        .db
        .call(move |conn| db::settings::general(conn, &hash))
        .await?;
    Ok(decode(stored))
}

/// One selling country's services terms, from its merchant ref's contract options.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CountryServices {
    pub country: Country,
    pub merchant_ref: MerchantRef,
    pub terms: ServiceTerms,
}

/// The services terms of each selling country, in the countries' order: a country whose
/// merchant ref's credentials are not stored allows nothing.
pub async fn service_terms(
    state: &AppState,
    store: &StoreHash,
) -> Result<Vec<CountryServices>, AppError> {
    let hash = store.clone();
    let (countries, merchants) = state
        .db
        .call(move |c| {
            Ok((
                db::settings::countries(c, &hash)?,
                db::sequra::merchants(c, &hash)?,
            ))
        })
        .await?;
    Ok(countries
        .into_iter()
        .map(|(country, merchant_ref)| {
            let terms = merchants
                .iter()
                .find(|m| m.merchant_ref == merchant_ref)
                .map(|m| terms_of(&m.payload))
                .unwrap_or_default();
            CountryServices {
                country,
                merchant_ref,
                terms,
            }
        })
        .collect())
}

/// The terms in a stored credentials object (`contract_options`); unreadable: none.
pub fn terms_of(payload: &str) -> ServiceTerms {
    #[derive(Deserialize)]
    struct Options {
        #[serde(default)]
        contract_options: Option<Vec<String>>,
    }
    serde_json::from_str::<Options>(payload)
        .ok()
        .and_then(|o| o.contract_options)
        .map(|o| ServiceTerms::from_contract_options(&o))
        .unwrap_or_default()
}

/// How many bad entries one error names (each cut to 60 characters); more are counted.
const MAX_NAMED: usize = 20;

/// Parses the IP list: separated by commas, spaces or new lines; each one an IPv4 or IPv6
/// address or range (`10.0.0.0/8`, `2001:db8::/32`). Every bad entry is named in one error.
pub fn parse_ips(text: &str) -> Result<Vec<IpRange>, FormErrors> {
    let out = parse_ranges(text).map_err(|bad| {
        let mut named: Vec<String> = bad
            .iter()
            .take(MAX_NAMED)
            .map(|e| format!("\"{}\"", e.0))
            .collect();
        if bad.len() > MAX_NAMED {
            named.push(format!("(+{})", bad.len() - MAX_NAMED));
        }
        FormErrors::default().field_with("allowed_ips", "err_ip_invalid", Some(named.join(", ")))
    })?;
    if out.len() > MAX_IPS {
        return Err(FormErrors::default().field("allowed_ips", "err_too_many"));
    }
    Ok(out)
}

fn parse_items<T: for<'de> Deserialize<'de> + PartialEq>(
    values: &[String],
    field: &str,
    name_of: impl Fn(&T) -> (&str, u64),
) -> Result<Vec<T>, FormErrors> {
    if values.len() > MAX_EXCLUDED {
        return Err(FormErrors::default().field(field, "err_too_many"));
    }
    let mut out: Vec<T> = Vec::new();
    for v in values {
        let item: T = serde_json::from_str(v)
            .map_err(|_| FormErrors::default().field(field, "err_excluded_invalid"))?;
        let (name, id) = name_of(&item);
        if id == 0 || name.trim().is_empty() || name.len() > MAX_NAME {
            return Err(FormErrors::default().field(field, "err_excluded_invalid"));
        }
        if !out.contains(&item) {
            out.push(item);
        }
    }
    Ok(out)
}

/// Checks the form: the settings as they will be stored, or every bad field at once.
pub fn check_general(form: &GeneralForm) -> Result<StoredGeneral, FormErrors> {
    let mut errors = FormErrors::default();
    let ips = parse_ips(&form.allowed_ips).unwrap_or_else(|e| {
        errors.fields.extend(e.fields);
        Vec::new()
    });
    let categories =
        parse_items::<ExcludedCategory>(&form.excluded_categories, "excluded_categories", |c| {
            (&c.name, c.id)
        })
        .unwrap_or_else(|e| {
            errors.fields.extend(e.fields);
            Vec::new()
        });
    let products =
        parse_items::<ExcludedProduct>(&form.excluded_products, "excluded_products", |p| {
            if p.sku.len() > MAX_NAME {
                ("", 0)
            } else {
                (&p.name, p.id)
            }
        })
        .unwrap_or_else(|e| {
            errors.fields.extend(e.fields);
            Vec::new()
        });
    let services_end_date = match form.services_end_date.trim() {
        "" => Some(ServiceDate::default_end()),
        text => ServiceDate::parse(text),
    };
    if services_end_date.is_none() {
        errors.fields.extend(
            FormErrors::default()
                .field("services_end_date", "err_services_end_date")
                .fields,
        );
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let services_end_date = services_end_date
        .unwrap_or_else(ServiceDate::default_end)
        .to_string();
    Ok(StoredGeneral {
        allowed_ips: to_json(&ips.iter().map(|ip| ip.to_string()).collect::<Vec<_>>()),
        excluded_categories: to_json(&categories),
        excluded_products: to_json(&products),
        send_order_reports: form.send_order_reports,
        services_end_date,
        hosted_page: form.hosted_page,
    })
}

/// The settings as the app reads them, from what is stored (or about to be).
pub fn decoded(stored: &StoredGeneral) -> GeneralSettings {
    decode(stored.clone())
}

/// Writes checked settings within the caller's transaction: provisioning then reads the
/// excluded categories' products for the widgets. Once committed, [`general_saved`].
pub fn write_general(
    tx: &rusqlite::Connection,
    store: &StoreHash,
    stored: &StoredGeneral,
) -> Result<(), db::DbError> {
    db::settings::save_general(tx, store, stored)?;
    crate::queue::enqueue(tx, store, &crate::queue::Job::Provision)?;
    Ok(())
}

/// After general settings were committed: provisioning runs now, the widgets are answered
/// afresh.
pub fn general_saved(state: &AppState, store: &StoreHash) {
    state.jobs.wake();
    state.widget_configs.forget(store);
}

/// Validates and saves the general settings.
pub async fn save_general(
    state: &AppState,
    store: &StoreHash,
    form: &GeneralForm,
) -> Result<(), FormError> {
    let stored = check_general(form).map_err(FormError::Invalid)?;
    let hash = store.clone();
    state
        .db
        .call(move |conn| {
            let tx = conn.transaction()?;
            write_general(&tx, &hash, &stored)?;
            tx.commit()?;
            Ok(())
        })
        .await?;
    general_saved(state, store);
    Ok(())
}

/// The excluded categories' products are read again after this long (products join
/// categories without the app hearing of it).
const CATEGORY_PRODUCTS_FRESH_FOR: time::Duration = time::Duration::hours(1);

/// Reads the products of the excluded categories, which the storefront's widgets are told
/// (a page names its product, not its categories), when the categories changed since the
/// last read or that read is over an hour old. At most
/// [`MAX_CATEGORY_PRODUCTS`](crate::bigcommerce::client::MAX_CATEGORY_PRODUCTS).
pub async fn read_category_products(
    state: &AppState,
    store: &StoreHash,
    api: &crate::bigcommerce::client::StoreApi,
) -> Result<(), AppError> {
    let settings = general_settings(state, store).await?;
    let mut categories: Vec<u64> = settings.excluded_categories.iter().map(|c| c.id).collect();
    categories.sort_unstable();
    categories.dedup();
    let hash = store.clone();
    let last = state
        .db
        .call(move |c| db::widgets::category_products(c, &hash))
        .await?;
    let fresh = last.as_ref().is_some_and(|l| {
        l.categories == categories
            && time::OffsetDateTime::parse(
                &l.read_at,
                &time::format_description::well_known::Rfc3339,
            )
            .is_ok_and(|t| crate::clock::now() - t < CATEGORY_PRODUCTS_FRESH_FOR)
    });
    if fresh || (last.is_none() && categories.is_empty()) {
        return Ok(());
    }
    let products = api.products_in_categories(&categories).await?;
    if products.len() >= crate::bigcommerce::client::MAX_CATEGORY_PRODUCTS {
        tracing::warn!(
            products = products.len(),
            "the excluded categories hold more products than the widgets can be told: no widget is shown"
        );
    }
    let hash = store.clone();
    state
        .db
        .call(move |c| db::widgets::save_category_products(c, &hash, &categories, &products))
        .await?;
    state.widget_configs.forget(store);
    Ok(())
}

fn to_json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

/// Products and categories of the store's catalog matching `query` (name or SKU).
#[derive(Debug, Clone, Default, Serialize)]
pub struct CatalogHits {
    pub products: Vec<ExcludedProduct>,
    pub categories: Vec<ExcludedCategory>,
}

pub async fn catalog_search(
    state: &AppState,
    store: &StoreHash,
    query: &str,
) -> Result<CatalogHits, AppError> {
    let query = query.trim();
    if query.is_empty() {
        return Ok(CatalogHits::default());
    }
    let query: String = query.chars().take(100).collect();
    let api = store_api(state, store).await?;
    let products = api.search_products(&query, SEARCH_LIMIT).await?;
    let categories = api.search_categories(&query, SEARCH_LIMIT).await?;
    Ok(CatalogHits {
        products: products
            .into_iter()
            .map(|p| ExcludedProduct {
                id: p.id,
                name: p.name,
                sku: p.sku,
            })
            .collect(),
        categories: categories
            .into_iter()
            .map(|c| ExcludedCategory {
                id: c.id,
                name: c.name,
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_lists_accept_addresses_and_ranges_in_any_separator_and_name_every_bad_one() {
        let ips = parse_ips("1.2.3.4, 2001:db8::1\n10.0.0.0/8 1.2.3.4;fd00::/8").unwrap();
        assert_eq!(ips.len(), 4);
        assert!(parse_ips("").unwrap().is_empty());
        let err = parse_ips("1.2.3.4, 999.1.1.1\n10.0.0.0/33\nfoo").unwrap_err();
        assert_eq!(
            err.fields["allowed_ips"].value.as_deref(),
            Some(r#""999.1.1.1", "10.0.0.0/33", "foo""#)
        );
        let many = (0..25)
            .map(|i| format!("bad{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        let err = parse_ips(&many).unwrap_err();
        let shown = err.fields["allowed_ips"].value.clone().unwrap();
        assert!(
            shown.contains("\"bad19\"") && !shown.contains("bad20"),
            "{shown}"
        );
        assert!(shown.ends_with("(+5)"), "{shown}");
    }

    /// Rows saved before ranges hold bare addresses: they read as single-address ranges.
    #[test]
    fn stored_bare_addresses_and_ranges_both_read() {
        let g = decode(StoredGeneral {
            allowed_ips: r#"["1.2.3.4","2001:db8::1","10.0.0.0/8"]"#.into(),
            ..StoredGeneral::default()
        });
        assert_eq!(g.services_end_date, ServiceDate::default_end());
        let shown: Vec<String> = g.allowed_ips.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["1.2.3.4", "2001:db8::1", "10.0.0.0/8"]);
        assert!(g.allowed_ips[2].contains("10.9.8.7".parse().unwrap()));
    }

    #[test]
    fn excluded_items_must_be_well_formed() {
        let ok = parse_items::<ExcludedProduct>(
            &[r#"{"id":5,"name":"Camiseta","sku":"CAM-001"}"#.into()],
            "p",
            |p| (&p.name, p.id),
        )
        .unwrap();
        assert_eq!(ok[0].sku, "CAM-001");
        for bad in [r#"{"id":0,"name":"x"}"#, r#"{"id":1,"name":""}"#, "nope"] {
            assert!(
                parse_items::<ExcludedProduct>(&[bad.into()], "p", |p| (&p.name, p.id)).is_err(),
                "{bad}"
            );
        }
    }
}
