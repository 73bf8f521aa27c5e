//! Order-status mapping: seQura `approved`, `needs_review`, `cancelled` → a BigCommerce status
//! (with the merchant's custom labels) or None, which leaves the order's status alone.

use super::{FormError, FormErrors};
use crate::bigcommerce::client::OrderStatus;
use crate::db;
use crate::domain::{SequraStatus, StoreHash};
use crate::error::AppError;
use crate::state::AppState;
use crate::stores::lifecycle::store_api;

/// One seQura state and the BigCommerce status it moves an order to.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MappingRow {
    pub sequra_status: &'static str,
    pub bc_status_id: Option<u32>,
}

/// The mapping and the store's statuses to choose from (incomplete orders excluded).
pub async fn mapping_view(
    state: &AppState,
    store: &StoreHash,
) -> Result<(Vec<MappingRow>, Vec<OrderStatus>), AppError> {
    let hash = store.clone();
    let mappings = state
        .db
        .call(move |conn| db::settings::status_mappings(conn, &hash))
        .await?;
    let statuses = selectable_statuses(state, store).await?;
    Ok((
        mappings
            .into_iter()
            .map(|(s, id)| MappingRow {
                sequra_status: s.as_str(),
                bc_status_id: id,
            })
            .collect(),
        statuses,
    ))
}

/// The store's statuses an order may be given (Incomplete excluded), with the merchant's
/// labels.
pub async fn selectable_statuses(
    state: &AppState,
    store: &StoreHash,
) -> Result<Vec<OrderStatus>, AppError> {
    let api = store_api(state, store).await?;
    let mut statuses = api.order_statuses().await?;
    // Incomplete (0) is BigCommerce's own state for unplaced orders: never a target.
    statuses.retain(|s| s.id != 0);
    Ok(statuses)
}

/// Checks a submitted mapping against the store's `statuses`: every seQura state gets its
/// chosen status, or None (empty, `none`, or not submitted).
pub fn check_mapping(
    statuses: &[OrderStatus],
    submitted: &[(String, String)],
) -> Result<Vec<(SequraStatus, Option<u32>)>, FormErrors> {
    let mut errors = FormErrors::default();
    let mut chosen = Vec::new();
    for s in SequraStatus::ALL {
        let value = submitted
            .iter()
            .find(|(k, _)| k == s.as_str())
            .map(|(_, v)| v.trim())
            .unwrap_or("");
        if value.is_empty() || value == "none" {
            chosen.push((s, None));
            continue;
        }
        match value.parse::<u32>() {
            Ok(id) if !s.may_give(id) => errors = errors.field(s.as_str(), "err_status_closes"),
            Ok(id) if statuses.iter().any(|x| x.id == id) => chosen.push((s, Some(id))),
            _ => errors = errors.field(s.as_str(), "err_status_unknown"),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(chosen)
}

/// Saves the mapping; every chosen status must be one of the store's, or None (empty).
pub async fn save_mapping(
    state: &AppState,
    store: &StoreHash,
    submitted: &[(String, String)],
) -> Result<(), FormError> {
    let statuses = selectable_statuses(state, store).await?;
    let chosen = check_mapping(&statuses, submitted).map_err(FormError::Invalid)?;
    let hash = store.clone();
    state
        .db
        .call(move |conn| {
            let tx = conn.transaction()?;
            db::settings::save_status_mappings(&tx, &hash, &chosen)?;
            tx.commit()?;
            Ok(())
        })
        .await?;
    Ok(())
}
