//! `get-general-settings`, `save-general-settings` and `get-selling-countries`: the General
//! settings and Selling countries pages, as seQura's core names their fields.
//!
//! A field seQura leaves out (or sends as `null`) is **unchanged**. seQura's core resets an
//! omitted field to its default (an omitted `sellingCountries` clears the countries): a partial
//! body from seQura's tools would then wipe a merchant's selling countries or IP list, which
//! stops their sales or opens seQura to every shopper. Keeping what is not sent cannot lose
//! anything; an explicit `[]` still empties a list (and an empty `sellingCountries` is refused,
//! as the Countries page refuses it).

use serde_json::{Map, Value, json};

use super::changes::{self, Change, Shown};
use super::error::{TopicError, fault};
use super::request::{self, bool_field, id_list, string_field, string_list};
use crate::db;
use crate::domain::{Country, MerchantRef, StoreHash};
use crate::error::AppError;
use crate::i18n::Lang;
use crate::onboarding::{self, ExcludedCategory, ExcludedProduct, FormError, GeneralForm};
use crate::state::AppState;
use crate::stores::lifecycle::store_api;

/// More than the page takes is refused before BigCommerce is asked for their names.
const MAX_ITEMS: usize = 500;

/// The hosted-page setting (`showSeQuraCheckoutAsHostedPage`): seQura's form on a page of its
/// own (the General settings page's switch).
fn hosted_page(settings: &onboarding::GeneralSettings) -> bool {
    settings.hosted_page
}

/// `get-general-settings`.
pub async fn get(state: &AppState, store: &StoreHash) -> Result<Value, TopicError> {
    let g = onboarding::general_settings(state, store)
        .await
        .map_err(fault)?;
    let services = onboarding::service_terms(state, store)
        .await
        .map_err(fault)?;
    let codes = |f: fn(&crate::domain::ServiceTerms) -> bool| {
        services
            .iter()
            .filter(|s| f(&s.terms))
            .map(|s| s.country.code())
            .collect::<Vec<_>>()
    };
    Ok(json!({
        "sendOrderReportsPeriodicallyToSeQura": g.send_order_reports,
        "showSeQuraCheckoutAsHostedPage": hosted_page(&g),
        "allowedIPAddresses": g.allowed_ips.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "excludedProducts": g.excluded_products.iter()
            .map(|p| json!({"id": p.id.to_string(), "name": p.name}))
            .collect::<Vec<_>>(),
        "excludedCategories": g.excluded_categories.iter()
            .map(|c| json!({"id": c.id.to_string(), "name": c.name}))
            .collect::<Vec<_>>(),
        // seQura's contract decides these per merchant ref in this app (the General settings
        // page shows them read-only): the selling countries whose contract allows each.
        "enabledForServices": codes(|t| t.services),
        "allowFirstServicePaymentDelay": codes(|t| t.first_charge_delay),
        "allowServiceRegistrationItems": codes(|t| t.registration),
        "defaultServicesEndDate": g.services_end_date.to_string(),
        "sellingCountries": services.iter().map(|s| s.country.code()).collect::<Vec<_>>(),
    }))
}

/// seQura's name of a field of the General settings and Countries pages.
fn field_name(page: &str) -> String {
    match page {
        "allowed_ips" => "allowedIPAddresses".into(),
        "excluded_products" => "excludedProducts".into(),
        "excluded_categories" => "excludedCategories".into(),
        "services_end_date" => "defaultServicesEndDate".into(),
        other if other.starts_with("ref_") => "sellingCountries".into(),
        other => other.into(),
    }
}

/// Catalog ids none of the store's products or categories has.
fn unknown_items(kind: &'static str, field: &str, ids: &[u64]) -> TopicError {
    let mut e = TopicError::invalid(
        kind,
        format!(
            "No such item in the store's catalog: {}",
            ids.iter()
                .take(20)
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    e.parameters = std::iter::once(field.to_string())
        .chain(ids.iter().map(u64::to_string))
        .collect();
    e
}

/// The fields of `save-general-settings` seQura sent (`None`: not sent, unchanged).
struct Given {
    reports: Option<bool>,
    hosted_page: Option<bool>,
    ips: Option<Vec<String>>,
    products: Option<Vec<ExcludedProduct>>,
    categories: Option<Vec<ExcludedCategory>>,
    end_date: Option<String>,
}

impl Given {
    /// What the General settings page would submit: `current`, with what seQura sent.
    fn form(&self, current: &onboarding::GeneralSettings) -> GeneralForm {
        GeneralForm {
            allowed_ips: match &self.ips {
                Some(list) => list.join("\n"),
                None => current
                    .allowed_ips
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n"),
            },
            excluded_products: self
                .products
                .as_ref()
                .unwrap_or(&current.excluded_products)
                .iter()
                .filter_map(|p| serde_json::to_string(p).ok())
                .collect(),
            excluded_categories: self
                .categories
                .as_ref()
                .unwrap_or(&current.excluded_categories)
                .iter()
                .filter_map(|c| serde_json::to_string(c).ok())
                .collect(),
            send_order_reports: self.reports.unwrap_or(current.send_order_reports),
            services_end_date: self
                .end_date
                .clone()
                .unwrap_or_else(|| current.services_end_date.to_string()),
            hosted_page: self.hosted_page.unwrap_or(current.hosted_page),
        }
    }
}

/// `save-general-settings`: checked as the pages check them, written all together or not at
/// all, and each change recorded in the transaction log.
pub async fn save(
    state: &AppState,
    store: &StoreHash,
    req: &Map<String, Value>,
) -> Result<Value, TopicError> {
    const CODE: &str = "general.errors.generalSettings.invalid";
    // Every field's type first: a malformed body changes nothing and asks BigCommerce nothing.
    let reports = bool_field(req, "sendOrderReportsPeriodicallyToSeQura")?;
    let hosted_page = bool_field(req, "showSeQuraCheckoutAsHostedPage")?;
    let ips = string_list(req, "allowedIPAddresses", MAX_ITEMS)?;
    let products = id_list(req, "excludedProducts", MAX_ITEMS)?;
    let categories = id_list(req, "excludedCategories", MAX_ITEMS)?;
    let end_date = string_field(req, "defaultServicesEndDate")?;
    // seQura's contract options decide these in this app (read from seQura's credentials at
    // connect): type-checked, accepted, and without effect.
    for field in [
        "enabledForServices",
        "allowFirstServicePaymentDelay",
        "allowServiceRegistrationItems",
    ] {
        string_list(req, field, 100)?;
    }
    let countries = string_list(req, "sellingCountries", 100)?;
    let mut given = Given {
        reports,
        hosted_page,
        ips,
        products: None,
        categories: None,
        end_date,
    };

    // The page's checks before BigCommerce is asked anything…
    let current = onboarding::general_settings(state, store)
        .await
        .map_err(fault)?;
    onboarding::check_general(&given.form(&current))
        .map_err(|e| request::form_error(&state.i18n, CODE, &e, field_name))?;
    // …then the catalog's names of the items seQura names.
    if let Some(ids) = &products {
        given.products = Some(resolve_products(state, store, ids).await?);
    }
    if let Some(ids) = &categories {
        given.categories = Some(resolve_categories(state, store, ids).await?);
    }
    let chosen = match &countries {
        Some(codes) => {
            let mut chosen = onboarding::check_country_codes(state, store, codes)
                .await
                .map_err(|e| form_failure(state, e))?;
            // In the order the database answers them, to tell a change from none.
            chosen.sort_by_key(|(c, _)| Country::ALL.iter().position(|x| x == c));
            Some(chosen)
        }
        None => None,
    };

    let (i18n, hash) = (state.i18n.clone(), store.clone());
    let outcome = state
        .db
        .call(move |conn| {
            let tx = conn.transaction()?;
            let before = db::settings::general(&tx, &hash)?;
            // What seQura does not name is what is stored now, in this transaction (as read
            // before BigCommerce was asked, a merchant's save meanwhile would be undone).
            let current = onboarding::decoded(&before);
            let form = given.form(&current);
            let stored = match onboarding::check_general(&form) {
                Ok(stored) => stored,
                Err(e) => return Ok(Err((CODE, e))),
            };
            let before_countries = db::settings::countries(&tx, &hash)?;
            let mut changes = general_changes(&current, &onboarding::decoded(&stored));
            let general_changed = before != stored;
            if general_changed {
                onboarding::write_general(&tx, &hash, &stored)?;
            }
            let mut countries_changed = false;
            if let Some(chosen) = chosen.filter(|c| *c != before_countries) {
                if let Some(refused) =
                    onboarding::countries_refused(onboarding::write_countries(&tx, &hash, &chosen)?)
                {
                    // Nothing is committed: the general settings are not saved either.
                    return Ok(Err(("general.errors.sellingCountries.invalid", refused)));
                }
                changes.extend(Change::of(
                    None,
                    "nav_countries",
                    Shown::list(&codes_of(&before_countries)),
                    Shown::list(&codes_of(&chosen)),
                ));
                countries_changed = true;
            }
            changes::record(&tx, &i18n, &hash, &changes)?;
            tx.commit()?;
            Ok(Ok((general_changed, countries_changed)))
        })
        .await
        .map_err(|e| fault(e.into()))?;
    match outcome {
        Err((code, refused)) => Err(request::form_error(&state.i18n, code, &refused, field_name)),
        Ok((general_changed, countries_changed)) => {
            if general_changed {
                onboarding::general_saved(state, store);
            } else if countries_changed {
                state.widget_configs.forget(store);
            }
            Ok(json!([]))
        }
    }
}

fn codes_of(countries: &[(Country, MerchantRef)]) -> Vec<&'static str> {
    countries.iter().map(|(c, _)| c.code()).collect()
}

/// A page's refusal (`Invalid`) in seQura's body; the app's own failure as a fault.
fn form_failure(state: &AppState, e: FormError) -> TopicError {
    match e {
        FormError::Invalid(e) => request::form_error(
            &state.i18n,
            "general.errors.sellingCountries.invalid",
            &e,
            field_name,
        ),
        FormError::App(e) => fault(e),
    }
}

/// The general settings' changes, as the log shows them.
fn general_changes(
    before: &onboarding::GeneralSettings,
    after: &onboarding::GeneralSettings,
) -> Vec<Change> {
    let ips = |g: &onboarding::GeneralSettings| {
        g.allowed_ips
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    };
    let products = |g: &onboarding::GeneralSettings| {
        g.excluded_products
            .iter()
            .map(|p| p.name.clone())
            .collect::<Vec<_>>()
    };
    let categories = |g: &onboarding::GeneralSettings| {
        g.excluded_categories
            .iter()
            .map(|c| c.name.clone())
            .collect::<Vec<_>>()
    };
    [
        Change::of(
            None,
            "allowed_ips_label",
            Shown::list(&ips(before)),
            Shown::list(&ips(after)),
        ),
        Change::of(
            Some("excluded_title"),
            "products_label",
            Shown::list(&products(before)),
            Shown::list(&products(after)),
        ),
        Change::of(
            Some("excluded_title"),
            "categories_label",
            Shown::list(&categories(before)),
            Shown::list(&categories(after)),
        ),
        Change::of(
            None,
            "send_reports_label",
            Shown::on_off(before.send_order_reports),
            Shown::on_off(after.send_order_reports),
        ),
        Change::of(
            None,
            "services_end_date_label",
            Shown::text(&before.services_end_date.to_string()),
            Shown::text(&after.services_end_date.to_string()),
        ),
        Change::of(
            None,
            "hosted_page_label",
            Shown::on_off(before.hosted_page),
            Shown::on_off(after.hosted_page),
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The products with these ids, named as the catalog names them; an id the catalog does not
/// hold is refused.
async fn resolve_products(
    state: &AppState,
    store: &StoreHash,
    ids: &[u64],
) -> Result<Vec<ExcludedProduct>, TopicError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let api = store_api(state, store).await.map_err(fault)?;
    let found = api
        .products_by_id(ids)
        .await
        .map_err(|e| fault(AppError::from(e)))?;
    let missing: Vec<u64> = ids
        .iter()
        .copied()
        .filter(|id| !found.iter().any(|p| p.id == *id))
        .collect();
    if !missing.is_empty() {
        return Err(unknown_items(
            "general.errors.generalSettings.unknownProduct",
            "excludedProducts",
            &missing,
        ));
    }
    // In the order seQura sent them.
    Ok(ids
        .iter()
        .filter_map(|id| found.iter().find(|p| p.id == *id))
        .map(|p| ExcludedProduct {
            id: p.id,
            name: p.name.clone(),
            sku: p.sku.clone(),
        })
        .collect())
}

/// The categories with these ids, named as the catalog names them; an id the catalog does not
/// hold is refused.
async fn resolve_categories(
    state: &AppState,
    store: &StoreHash,
    ids: &[u64],
) -> Result<Vec<ExcludedCategory>, TopicError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let api = store_api(state, store).await.map_err(fault)?;
    let found = api
        .categories_by_id(ids)
        .await
        .map_err(|e| fault(AppError::from(e)))?;
    let missing: Vec<u64> = ids
        .iter()
        .copied()
        .filter(|id| !found.iter().any(|c| c.id == *id))
        .collect();
    if !missing.is_empty() {
        return Err(unknown_items(
            "general.errors.generalSettings.unknownCategory",
            "excludedCategories",
            &missing,
        ));
    }
    Ok(ids
        .iter()
        .filter_map(|id| found.iter().find(|c| c.id == *id))
        .map(|c| ExcludedCategory {
            id: c.id,
            name: c.name.clone(),
        })
        .collect())
}

/// `get-selling-countries`: the codes of the countries seQura may choose as selling countries
/// (the store sells there and the account has a merchant ref for it), searched by the
/// country's name, one page.
pub async fn selling_countries(
    state: &AppState,
    store: &StoreHash,
    req: &Map<String, Value>,
) -> Result<Value, TopicError> {
    let paging = request::Paging::of(req)?;
    let all = onboarding::sellable_countries(state, store)
        .await
        .map_err(fault)?;
    let needle = folded(&paging.search);
    // seQura's core searches the platform's country names; seQura's team may type one in any
    // language this app speaks, with or without its accents, or the code.
    let matches = |c: &Country| {
        needle.is_empty()
            || folded(c.code()) == needle
            || folded(c.name()).contains(&needle)
            || Lang::ALL.iter().any(|l| {
                let key = format!("country_{}", c.code());
                let name = state.i18n.t(*l, &key);
                name != key && folded(name).contains(&needle)
            })
    };
    let matching: Vec<&'static str> = all.into_iter().filter(matches).map(Country::code).collect();
    Ok(json!(paging.slice(&matching)))
}

/// `text` lower-cased and without the accents of the app's languages (España → espana).
fn folded(text: &str) -> String {
    text.trim()
        .to_lowercase()
        .chars()
        .map(|c| match c {
            'á' | 'à' | 'â' | 'ä' | 'ã' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'í' | 'ì' | 'î' | 'ï' => 'i',
            'ó' | 'ò' | 'ô' | 'ö' | 'õ' => 'o',
            'ú' | 'ù' | 'û' | 'ü' => 'u',
            'ñ' => 'n',
            'ç' => 'c',
            other => other,
        })
        .collect()
}
