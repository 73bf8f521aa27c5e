//! `get-order-status-list`, `get-order-status-settings` and `save-order-status-settings`: the
//! Order status page. This app maps seQura's `approved`, `needs_review` and `cancelled`;
//! seQura's core also names `solicited` and `shipped`, which this app gives no status (an
//! order is placed once approved, and shipping is the merchant's own status change): they are
//! accepted and change nothing. A state not named in the request keeps its status.

use serde_json::{Map, Value, json};

use super::changes::{self, Change, Shown};
use super::error::{TopicError, fault};
use super::request::{self, wrong_type};
use crate::bigcommerce::client::OrderStatus;
use crate::db;
use crate::domain::{SequraStatus, StoreHash};
use crate::onboarding;
use crate::state::AppState;

/// seQura's order states (its core's `OrderStates`).
const SEQURA_STATES: [&str; 5] = [
    "solicited",
    "approved",
    "needs_review",
    "cancelled",
    "shipped",
];

/// `get-order-status-list`: the store's statuses an order may be given.
pub async fn list(state: &AppState, store: &StoreHash) -> Result<Value, TopicError> {
    let statuses = onboarding::selectable_statuses(state, store)
        .await
        .map_err(fault)?;
    Ok(json!(
        statuses
            .iter()
            .map(|s| json!({"id": s.id.to_string(), "name": s.custom_label}))
            .collect::<Vec<_>>()
    ))
}

/// `get-order-status-settings`: each mapped seQura state and its status id (`""`: None,
/// the order's status is left alone).
pub async fn settings(state: &AppState, store: &StoreHash) -> Result<Value, TopicError> {
    let hash = store.clone();
    let mappings = state
        .db
        .call(move |c| db::settings::status_mappings(c, &hash))
        .await
        .map_err(|e| fault(e.into()))?;
    Ok(json!(
        mappings
            .iter()
            .map(|(s, id)| json!({
                "sequraStatus": s.as_str(),
                "shopStatus": id.map(|i| i.to_string()).unwrap_or_default(),
            }))
            .collect::<Vec<_>>()
    ))
}

fn invalid_status(status: &str) -> TopicError {
    let shown: String = status.chars().take(40).collect();
    let mut e = TopicError::invalid(
        "general.errors.orderStatusMapping.invalidStatus",
        format!("Invalid seQura order status: {shown}"),
    );
    e.parameters = vec![shown];
    e
}

/// The request's `(seQura state, status id or "")` pairs of the states this app maps.
fn requested(req: &Map<String, Value>) -> Result<Vec<(String, String)>, TopicError> {
    const NAME: &str = "orderStatusMappings";
    let items = match req.get(NAME) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) if items.len() <= 20 => items,
        Some(_) => return Err(wrong_type(NAME)),
    };
    let mut out = Vec::new();
    for item in items {
        let Value::Object(o) = item else {
            return Err(wrong_type(NAME));
        };
        let status = match o.get("sequraStatus") {
            Some(Value::String(s)) => s.as_str(),
            Some(other) => return Err(invalid_status(&other.to_string())),
            None => return Err(invalid_status("")),
        };
        if !SEQURA_STATES.contains(&status) {
            return Err(invalid_status(status));
        }
        let shop = match o.get("shopStatus") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.trim().to_string(),
            Some(Value::Number(n)) => n.to_string(),
            Some(_) => return Err(wrong_type(NAME)),
        };
        if SequraStatus::parse(status).is_some() {
            out.push((status.to_string(), shop));
        }
    }
    Ok(out)
}

/// `save-order-status-settings`: checked as the Order status page checks it, saved with its
/// transaction-log entries in one transaction.
pub async fn save(
    state: &AppState,
    store: &StoreHash,
    req: &Map<String, Value>,
) -> Result<Value, TopicError> {
    let given = requested(req)?;
    if given.is_empty() {
        return Ok(json!([]));
    }
    let statuses = onboarding::selectable_statuses(state, store)
        .await
        .map_err(fault)?;
    // What the page would submit: the mapping as the transaction finds it, with the states
    // seQura names changed (read there, not before: a merchant's save meanwhile would be
    // undone by the states seQura left out).
    let (i18n, hash) = (state.i18n.clone(), store.clone());
    let checked = state
        .db
        .call(move |conn| {
            let tx = conn.transaction()?;
            let before = db::settings::status_mappings(&tx, &hash)?;
            let chosen = match onboarding::check_mapping(&statuses, &submitted(&given, &before)) {
                Ok(chosen) => chosen,
                Err(e) => return Ok(Err(e)),
            };
            let changes: Vec<Change> = chosen
                .iter()
                .filter_map(|(s, after)| {
                    let before = before.iter().find(|(b, _)| b == s).and_then(|(_, id)| *id);
                    Change::of(
                        Some("nav_order_status"),
                        state_term(*s),
                        shown(&statuses, before),
                        shown(&statuses, *after),
                    )
                })
                .collect();
            if !changes.is_empty() {
                db::settings::save_status_mappings(&tx, &hash, &chosen)?;
                changes::record(&tx, &i18n, &hash, &changes)?;
                tx.commit()?;
            }
            Ok(Ok(()))
        })
        .await
        .map_err(|e| fault(e.into()))?;
    checked.map_err(|e| {
        request::form_error(
            &state.i18n,
            "general.errors.orderStatusMapping.invalidShopStatus",
            &e,
            str::to_string,
        )
    })?;
    Ok(json!([]))
}

/// The page's form for the mapping `current`, with the states seQura named set as it said.
fn submitted(
    given: &[(String, String)],
    current: &[(SequraStatus, Option<u32>)],
) -> Vec<(String, String)> {
    SequraStatus::ALL
        .iter()
        .map(|s| {
            let value = given
                .iter()
                .rev()
                .find(|(k, _)| k == s.as_str())
                .map(|(_, v)| v.clone())
                .or_else(|| {
                    current
                        .iter()
                        .find(|(c, _)| c == s)
                        .and_then(|(_, id)| id.map(|i| i.to_string()))
                })
                .unwrap_or_default();
            (s.as_str().to_string(), value)
        })
        .collect()
}

fn state_term(s: SequraStatus) -> &'static str {
    match s {
        SequraStatus::Approved => "status_approved",
        SequraStatus::NeedsReview => "status_needs_review",
        SequraStatus::Cancelled => "status_cancelled",
    }
}

/// A status as the merchant names it (its label), or None.
fn shown(statuses: &[OrderStatus], id: Option<u32>) -> Shown {
    match id {
        None => Shown::Term("status_none"),
        Some(id) => Shown::Text(
            statuses
                .iter()
                .find(|s| s.id == id)
                .map(|s| s.custom_label.clone())
                .unwrap_or_else(|| id.to_string()),
        ),
    }
}
