//! Which seQura methods a checkout may offer: the shopper's country → its merchant ref, EUR,
//! the amount within each method's limits and dates, the allowed IPs, no excluded product or
//! category. Uses the cached methods: no call to seQura per page view while they are fresh.

use std::net::IpAddr;

use serde::Serialize;

use crate::bigcommerce::checkouts::Checkout;
use crate::bigcommerce::client::StoreApi;
use crate::db;
use crate::domain::{Country, MerchantRef, StoreHash};
use crate::error::AppError;
use crate::onboarding::{self, general_settings};
use crate::sequra::{PaymentCategory, PaymentMethod, SequraAccount};
use crate::state::AppState;
use crate::stores::lifecycle::store_api;

/// Cached payment methods older than this are imported again before use.
const METHODS_FRESH_FOR: time::Duration = time::Duration::hours(24);

/// One button on the payment step.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OfferedMethod {
    pub product: String,
    pub campaign: Option<String>,
    pub title: String,
    pub claim: Option<String>,
    pub cost_description: Option<String>,
    pub category: String,
    /// `data:image/svg+xml;base64,…`
    pub icon: Option<String>,
}

/// seQura's product code for "the shopper picks the plan inside the form" (delegated
/// selection: `form_v2?product=tbs`, no campaign; sequra-remote-configuration.md §5.1).
pub const DELEGATED_PRODUCT: &str = "tbs";

/// What the eligibility check found, for `start` to build on.
pub struct Eligibility {
    pub account: SequraAccount,
    pub api: StoreApi,
    pub checkout: Checkout,
    pub merchant_ref: MerchantRef,
    /// Every method the amount and dates admit (whatever the buttons look like).
    pub methods: Vec<(OfferedMethod, PaymentMethod)>,
    /// The merchant shows one seQura button instead of one per method.
    pub single_button: bool,
    /// seQura's form opens on the app's own page instead of over the checkout.
    pub hosted_page: bool,
}

impl Eligibility {
    /// The buttons the payment step shows: one per method, or the single seQura button
    /// (titled in `title`) when the merchant chose it and at least one method is offered.
    pub fn buttons(&self, title: &str, detail: &str) -> Vec<OfferedMethod> {
        if !self.single_button {
            return self.methods.iter().map(|(m, _)| m.clone()).collect();
        }
        if self.methods.is_empty() {
            return Vec::new();
        }
        vec![OfferedMethod {
            product: DELEGATED_PRODUCT.into(),
            campaign: None,
            title: title.into(),
            claim: Some(detail.into()),
            cost_description: None,
            category: "delegated".into(),
            icon: None,
        }]
    }

    /// Whether the button `(product, campaign)` is one the payment step shows, and a method
    /// behind it admits `due` (cents, the server's number): the single button stands for
    /// every offered method, and a per-method button for its own only.
    pub fn admits(&self, product: &str, campaign: Option<&str>, due: i64) -> bool {
        let fits = |m: &PaymentMethod| {
            m.min_amount.is_none_or(|min| due >= min) && m.max_amount.is_none_or(|max| due <= max)
        };
        if due <= 0 {
            return false;
        }
        if self.single_button {
            return product == DELEGATED_PRODUCT
                && campaign.is_none()
                && self.methods.iter().any(|(_, m)| fits(m));
        }
        self.methods
            .iter()
            .any(|(o, m)| o.product == product && o.campaign.as_deref() == campaign && fits(m))
    }
}

/// How the checkout is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Read {
    /// From BigCommerce now: for anything that makes an order, a solicitation or a payment.
    Fresh,
    /// A read of the last seconds will do ([`crate::checkout::recent`]): only for showing the
    /// buttons, which `start` checks again with a fresh read.
    Recent,
}

/// Who asks: the shopper's address, and the storefront origin their browser called from.
#[derive(Clone, Copy, Debug, Default)]
pub struct Caller<'a> {
    pub ip: Option<IpAddr>,
    pub origin: Option<&'a str>,
}

/// The methods this checkout may offer; `None` when seQura is not offered at all (not
/// connected, storefront switched off, wrong currency or country, IP not allowed, excluded
/// item). A browser calling from another storefront than the checkout's is refused.
pub async fn eligible(
    state: &AppState,
    store: &StoreHash,
    checkout_id: &str,
    read: Read,
    amount_hint: Option<i64>,
    caller: Caller<'_>,
) -> Result<Option<Eligibility>, AppError> {
    let shopper_ip = caller.ip;
    // Not connected: nothing to offer, and nothing read from BigCommerce to learn it.
    let hash = store.clone();
    let Some(connection) = state
        .db
        .call(move |c| db::sequra::connection(c, &hash))
        .await?
    else {
        return Ok(None);
    };
    let key = (store, checkout_id);
    if state.unknown_checkouts.count(key) > 0 {
        return Err(AppError::NotFound);
    }
    // An anonymous shopper's calls leave the store's quota reserve to the job queue, and
    // each caller spends only its part of the rest; an id not seen to exist yet (all that a
    // flood of made-up ids has) is looked up from the part such lookups may spend.
    let api = store_api(state, store).await?.for_shopper(shopper_ip);
    let recent = match read {
        Read::Recent => state
            .recent_checkouts
            .get(store, checkout_id, crate::clock::instant()),
        Read::Fresh => None,
    };
    let checkout = match recent {
        Some(c) => c,
        None => read_checkout(state, &api, store, checkout_id).await?,
    };
    if !crate::stores::storefronts::admits(state, store, checkout.channel_id, caller.origin).await?
    {
        return Ok(None);
    }
    if !checkout.cart.currency.eq_ignore_ascii_case("EUR") {
        return Ok(None);
    }
    let Some(country) = checkout
        .shopper_country()
        .as_deref()
        .and_then(Country::parse)
    else {
        return Ok(None);
    };
    let (hash, environment) = (store.clone(), connection.environment.clone());
    let (countries, cached, first_holder, merchants, single_button) = state
        .db
        .call(move |conn| {
            let countries = db::settings::countries(conn, &hash)?;
            // The ref's first store only: another store's order of the same number would be
            // refused at seQura and cancelled (a database saved before the countries step
            // refused a shared ref may hold one twice).
            let first = match countries.iter().find(|(c, _)| *c == country) {
                Some((_, m)) => db::settings::merchant_ref_holders(conn, &environment, m)?
                    .into_iter()
                    .next(),
                None => None,
            };
            Ok((
                countries,
                db::sequra::methods(conn, &hash)?,
                first,
                db::sequra::merchants(conn, &hash)?,
                db::settings::single_button(conn, &hash)?,
            ))
        })
        .await?;
    let Some(merchant_ref) = countries
        .into_iter()
        .find(|(c, _)| *c == country)
        .map(|(_, m)| m)
    else {
        return Ok(None);
    };
    if first_holder.as_ref() != Some(store) {
        // Debug only: every shopper's call passes here (a log line per anonymous request).
        tracing::debug!(
            merchant_ref = merchant_ref.as_str(),
            "seQura not offered: another store of this installation sells with this merchant ref"
        );
        return Ok(None);
    }
    // A cart only in its merchant ref's currency (its credentials say which); seQura's
    // checkout takes euros only, checked above.
    let takes = merchants
        .iter()
        .find(|m| m.merchant_ref == merchant_ref)
        .is_some_and(|m| m.currency.eq_ignore_ascii_case(&checkout.cart.currency));
    if !takes {
        return Ok(None);
    }
    // Nothing to ship (digital goods, gift certificates only): seQura's plugins offer such a
    // cart only where the contract sells services.
    let items = &checkout.cart.line_items;
    let ships = !items.physical_items.is_empty() || !items.custom_items.is_empty();
    let services = merchants
        .iter()
        .find(|m| m.merchant_ref == merchant_ref)
        .is_some_and(|m| onboarding::terms_of(&m.payload).services);
    if !ships && !services {
        return Ok(None);
    }
    let Some(account) = onboarding::sequra_account(state, store, merchant_ref.as_str()).await?
    else {
        return Ok(None);
    };
    let settings = general_settings(state, store).await?;
    if !crate::domain::ip_allowed(&settings.allowed_ips, shopper_ip) {
        return Ok(None);
    }
    if !settings.excluded_products.is_empty() || !settings.excluded_categories.is_empty() {
        let ids = checkout.product_ids();
        if ids
            .iter()
            .any(|id| settings.excluded_products.iter().any(|p| p.id == *id))
        {
            return Ok(None);
        }
        if !settings.excluded_categories.is_empty() && !ids.is_empty() {
            let products = api.products_by_id(&ids).await?;
            let excluded = products.iter().any(|p| {
                p.categories
                    .iter()
                    .any(|c| settings.excluded_categories.iter().any(|x| x.id == *c))
            });
            if excluded {
                return Ok(None);
            }
        }
    }
    // A product the merchant marked as a service, where the contract sells none: seQura's
    // plugins do not offer the cart (the start refuses it too, reading the marks afresh).
    if !services && marks_a_service(state, store, &api, &checkout.product_ids()).await? {
        return Ok(None);
    }
    let categories = methods_of(state, store, &account, &merchant_ref, &cached).await?;
    // The shopper's outstanding balance (store credit applied) counts, never above the total.
    let amount = amount_hint
        .filter(|a| *a >= 0)
        .map(|a| a.min(checkout.grand_total))
        .unwrap_or(checkout.grand_total);
    let methods = offered(&categories, amount, crate::clock::now());
    Ok(Some(Eligibility {
        account,
        api,
        checkout,
        merchant_ref,
        methods,
        single_button,
        hosted_page: settings.hosted_page,
    }))
}

/// Whether the payment step offers seQura at all to a shopper at `ip`, before any cart's own
/// conditions (its country's merchant ref and currency, the amount, excluded products): the
/// merchant's Diagnostics page asks. `None`: it does; else why not, as the widgets say it.
pub async fn offered_to(
    state: &AppState,
    store: &StoreHash,
    ip: IpAddr,
) -> Result<Option<crate::checkout::widget_cache::Hidden>, AppError> {
    use crate::checkout::widget_cache::Hidden;
    let progress = onboarding::progress(state, store).await?;
    if !progress.connected() {
        return Ok(Some(Hidden::NotConnected));
    }
    if !crate::stores::storefronts::admits_any(state, store).await? {
        return Ok(Some(Hidden::EveryStorefrontOff));
    }
    if progress.countries.is_empty() {
        return Ok(Some(Hidden::NoCountry));
    }
    let settings = general_settings(state, store).await?;
    if !crate::domain::ip_allowed(&settings.allowed_ips, Some(ip)) {
        return Ok(Some(Hidden::IpNotAllowed));
    }
    Ok(None)
}

/// Whether any of the products is marked as a service (`sequra_service_end_date` set). Each
/// product's mark is read once a [`super::recent::MARKS_FRESH_FOR`] at most, from the
/// shopper's share of the store's quota.
async fn marks_a_service(
    state: &AppState,
    store: &StoreHash,
    api: &StoreApi,
    ids: &[u64],
) -> Result<bool, AppError> {
    let now = crate::clock::instant();
    let mut unknown = Vec::new();
    for id in ids {
        match state.service_marks.get(store, *id, now) {
            Some(true) => return Ok(true),
            Some(false) => {}
            None => unknown.push(*id),
        }
    }
    if unknown.is_empty() {
        return Ok(false);
    }
    let products = api.products_with_custom_fields(&unknown).await?;
    let mut any = false;
    for id in unknown {
        let marked = products.iter().filter(|p| p.id == id).any(|p| {
            p.custom_fields
                .iter()
                .any(|f| f.name == super::cart::FIELD_SERVICE_END && !f.value.trim().is_empty())
        });
        state.service_marks.put(store, id, marked, now);
        any |= marked;
    }
    Ok(any)
}

/// The checkout from BigCommerce, for a shopper: an id not seen to exist yet is looked up
/// from the part of the shoppers' share such lookups may spend, one BigCommerce answers 404
/// for is remembered as unknown, and the read is kept for `methods`.
async fn read_checkout(
    state: &AppState,
    api: &StoreApi,
    store: &StoreHash,
    checkout_id: &str,
) -> Result<Checkout, AppError> {
    let key = (store, checkout_id);
    let seen = state.seen_checkouts.count(key) > 0;
    let lookup = if seen {
        api.checkout(checkout_id).await
    } else {
        api.for_unseen_checkout().checkout(checkout_id).await
    };
    let checkout = match lookup {
        Ok(c) => c,
        Err(crate::bigcommerce::client::BcError::NotFound(_)) => {
            state.unknown_checkouts.allow(key, u32::MAX);
            return Err(AppError::NotFound);
        }
        Err(e) => return Err(e.into()),
    };
    if !seen {
        state.seen_checkouts.allow(key, u32::MAX);
    }
    state
        .recent_checkouts
        .put(store, checkout_id, &checkout, crate::clock::instant());
    Ok(checkout)
}

/// The merchant's cached methods, imported again when missing or stale.
async fn methods_of(
    state: &AppState,
    store: &StoreHash,
    account: &SequraAccount,
    merchant: &MerchantRef,
    cached: &[db::sequra::StoredMethods],
) -> Result<Vec<PaymentCategory>, AppError> {
    let found = cached.iter().find(|c| &c.merchant_ref == merchant);
    let fresh = found.is_some_and(|c| {
        time::OffsetDateTime::parse(
            &c.fetched_at,
            &time::format_description::well_known::Rfc3339,
        )
        .is_ok_and(|t| crate::clock::now() - t < METHODS_FRESH_FOR)
    });
    if let (Some(c), true) = (found, fresh) {
        return Ok(serde_json::from_str(&c.methods).unwrap_or_default());
    }
    match state
        .sequra
        .merchant_payment_methods(account, merchant.as_str())
        .await
    {
        Ok(categories) => {
            let json =
                serde_json::to_string(&categories).map_err(|e| AppError::Internal(e.into()))?;
            let (hash, m) = (store.clone(), merchant.clone());
            state
                .db
                .call(move |conn| db::sequra::save_methods(conn, &hash, &m, &json))
                .await?;
            // The widgets promote what the checkout offers: from this list on.
            state.widget_configs.forget(store);
            Ok(categories)
        }
        // seQura unreachable: the stale list is better than no buttons.
        // A shopper's call asks this: during an outage, every call would log it.
        Err(e) => {
            tracing::debug!(error = %e, "payment methods refresh failed; using the cached list");
            state.log_tally.note(
                tracing::Level::WARN,
                "payment methods refreshes failed; the cached lists were used (each error at debug)",
            );
            Ok(found
                .and_then(|c| serde_json::from_str(&c.methods).ok())
                .unwrap_or_default())
        }
    }
}

/// Whether a method's validity dates admit `now` (a date missing or unreadable does not limit).
pub fn in_window(m: &PaymentMethod, now: time::OffsetDateTime) -> bool {
    let parse = |s: &Option<String>| {
        s.as_deref().and_then(|s| {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
        })
    };
    parse(&m.starts_at).is_none_or(|t| t <= now) && parse(&m.ends_at).is_none_or(|t| now < t)
}

/// The methods whose limits and validity dates admit `amount` (cents) at `now`.
pub fn offered(
    categories: &[PaymentCategory],
    amount: i64,
    now: time::OffsetDateTime,
) -> Vec<(OfferedMethod, PaymentMethod)> {
    let mut out = Vec::new();
    for cat in categories {
        for m in &cat.methods {
            let above_min = m.min_amount.is_none_or(|min| amount >= min);
            let below_max = m.max_amount.is_none_or(|max| amount <= max);
            if amount > 0 && above_min && below_max && in_window(m, now) {
                out.push((
                    OfferedMethod {
                        product: m.product.clone(),
                        campaign: m.campaign.clone(),
                        title: m.title.clone(),
                        claim: m.claim.clone(),
                        cost_description: m.cost_description.clone(),
                        category: cat.category.clone(),
                        icon: m.icon.as_deref().and_then(crate::onboarding::icon_data_uri),
                    },
                    m.clone(),
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn method(product: &str, min: Option<i64>, max: Option<i64>, ends: &str) -> PaymentMethod {
        serde_json::from_value(serde_json::json!({
            "product": product, "campaign": null, "title": product,
            "starts_at": "2000-01-01T00:00:00Z", "ends_at": ends,
            "min_amount": min, "max_amount": max
        }))
        .unwrap()
    }

    #[test]
    fn limits_and_dates_decide_which_methods_are_offered() {
        let cats = vec![PaymentCategory {
            title: "x".into(),
            description: None,
            icon: None,
            category: "part_payment".into(),
            methods: vec![
                method("i1", Some(0), None, "2222-01-01T00:00:00Z"),
                method("pp3", Some(5000), Some(300000), "2222-01-01T00:00:00Z"),
                method("old", None, None, "2001-01-01T00:00:00Z"),
            ],
        }];
        let now = crate::clock::now();
        let products = |amount| {
            offered(&cats, amount, now)
                .into_iter()
                .map(|(o, _)| o.product)
                .collect::<Vec<_>>()
        };
        assert_eq!(products(4999), vec!["i1"]);
        assert_eq!(products(5000), vec!["i1", "pp3"]);
        assert_eq!(products(300001), vec!["i1"]);
        assert!(products(0).is_empty());
    }
}
