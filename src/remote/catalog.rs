//! `get-shop-products` and `get-shop-categories`: one page of the store's catalog, searched,
//! straight from BigCommerce's catalog API (nothing is copied). seQura's calls stop at the
//! store's API quota reserve, as a shopper's do ([`StoreApi::for_remote`]): paging through a
//! catalog never starves an order's sync.
//!
//! [`StoreApi::for_remote`]: crate::bigcommerce::client::StoreApi::for_remote

use serde_json::{Map, Value, json};

use super::error::{TopicError, fault};
use super::request::Paging;
use crate::bigcommerce::client::StoreApi;
use crate::domain::StoreHash;
use crate::error::AppError;
use crate::state::AppState;
use crate::stores::lifecycle::store_api;

async fn api(state: &AppState, store: &StoreHash) -> Result<StoreApi, TopicError> {
    Ok(store_api(state, store).await.map_err(fault)?.for_remote())
}

/// `get-shop-products`: `[{id, sku, name}]`, searched by name or SKU (BigCommerce's
/// `keyword`).
pub async fn products(
    state: &AppState,
    store: &StoreHash,
    req: &Map<String, Value>,
) -> Result<Value, TopicError> {
    let paging = Paging::of(req)?;
    let found = api(state, store)
        .await?
        .products_page(&paging.search, paging.page, paging.limit)
        .await
        .map_err(|e| fault(AppError::from(e)))?;
    Ok(json!(
        found
            .iter()
            .map(|p| json!({"id": p.id.to_string(), "sku": p.sku, "name": p.name}))
            .collect::<Vec<_>>()
    ))
}

/// `get-shop-categories`: `[{id, name}]`, searched by name (BigCommerce's `name:like`).
pub async fn categories(
    state: &AppState,
    store: &StoreHash,
    req: &Map<String, Value>,
) -> Result<Value, TopicError> {
    let paging = Paging::of(req)?;
    let found = api(state, store)
        .await?
        .categories_page(&paging.search, paging.page, paging.limit)
        .await
        .map_err(|e| fault(AppError::from(e)))?;
    Ok(json!(
        found
            .iter()
            .map(|c| json!({"id": c.id.to_string(), "name": c.name}))
            .collect::<Vec<_>>()
    ))
}
