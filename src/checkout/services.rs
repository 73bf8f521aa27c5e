//! The order's services (issue 16): its merchant ref's contract terms, the store's default
//! end date and its products' seQura custom fields, for [`super::cart::build_cart_for`].

use std::collections::HashMap;

use super::cart::{CartError, ProductFields, Services};
use crate::bigcommerce::client::StoreApi;
use crate::bigcommerce::models::OrderProduct;
use crate::db;
use crate::db::solicitations::Solicitation;
use crate::domain::StoreHash;
use crate::error::AppError;
use crate::onboarding;
use crate::state::AppState;

/// Reads what makes the order's products services. The products' custom fields are read
/// (one catalog request per 50 products) when the contract allows services, and, when
/// `to_refuse` (a cart about to reach seQura), also when it does not: a product the merchant
/// marked as a service is then refused, not sold as a product. A field that cannot be read
/// is the inner error.
pub async fn order_services(
    state: &AppState,
    store: &StoreHash,
    api: &StoreApi,
    merchant_ref: &str,
    products: &[OrderProduct],
    to_refuse: bool,
) -> Result<Result<Services, CartError>, AppError> {
    let (hash, wanted) = (store.clone(), merchant_ref.to_string());
    let payload = state
        .db
        .call(move |c| {
            Ok(db::sequra::merchants(c, &hash)?
                .into_iter()
                .find(|m| m.merchant_ref.as_str() == wanted)
                .map(|m| m.payload))
        })
        .await?;
    let terms = payload
        .as_deref()
        .map(onboarding::terms_of)
        .unwrap_or_default();
    let default_end = onboarding::general_settings(state, store)
        .await?
        .services_end_date;
    let mut services = Services {
        terms,
        default_end,
        products: HashMap::new(),
    };
    let ids: Vec<u64> = products
        .iter()
        .map(|p| p.product_id)
        .filter(|id| *id != 0)
        .collect();
    if ids.is_empty() || !(terms.services || to_refuse) {
        return Ok(Ok(services));
    }
    for product in api.products_with_custom_fields(&ids).await? {
        let fields = product
            .custom_fields
            .iter()
            .map(|f| (f.name.as_str(), f.value.as_str()));
        match ProductFields::parse(product.id, fields) {
            Ok(f) => {
                services.products.insert(product.id, f);
            }
            Err(e) => return Ok(Err(e)),
        }
    }
    Ok(Ok(services))
}

/// The services of a solicited order as seQura took them: kept with its seQura order when it
/// was solicited (V24), so a product the merchant marks, unmarks or reprices since changes
/// nothing seQura is told. An order solicited before V24 reads them as they are now.
pub async fn solicited_services(
    state: &AppState,
    store: &StoreHash,
    api: &StoreApi,
    s: &Solicitation,
    products: &[OrderProduct],
) -> Result<Result<Services, CartError>, AppError> {
    let (hash, sid, uuid) = (store.clone(), s.id, s.sequra_uuid.clone());
    let kept =
        state
            .db
            .call(move |c| match uuid {
                Some(uuid) => Ok(db::solicitations::attempt_for_uuid(c, &hash, sid, &uuid)?
                    .and_then(|a| a.services)),
                None => Ok(None),
            })
            .await?;
    if let Some(services) = kept.and_then(|k| serde_json::from_str(&k).ok()) {
        return Ok(Ok(services));
    }
    let merchant_ref = s.merchant_ref.clone().unwrap_or_default();
    order_services(state, store, api, &merchant_ref, products, false).await
}
