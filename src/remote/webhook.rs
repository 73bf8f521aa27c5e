//! seQura's configuration webhook: `POST {public_url}/sequra/configuration?storeId=…&signature=…`,
//! a flat JSON object whose `topic` names what seQura asks for. Checked in seQura's core's
//! order: the signature (before anything else is read: the body is not even received), then
//! `topic` present, then known, then the topic's own validation. Every refusal is seQura's
//! four-field error body with a 4xx; a topic that writes does so atomically or not at all.

use serde_json::{Map, Value};

use super::error::{TopicError, fault};
use super::{signature, topics};
use crate::db;
use crate::domain::StoreHash;
use crate::error::AppError;
use crate::state::AppState;

/// The store the URL names, when one of its seQura connections signs it and its merchant lets
/// seQura configure it. Nothing else is read before this passes.
pub async fn authorise(
    state: &AppState,
    store_id: Option<&str>,
    given: Option<&str>,
) -> Result<StoreHash, TopicError> {
    let (Some(store_id), Some(given)) = (store_id, given) else {
        return Err(TopicError::signature());
    };
    let Ok(store) = StoreHash::parse(store_id) else {
        return Err(TopicError::signature());
    };
    let key = state.key.clone();
    let hash = store.clone();
    let found = state
        .db
        .call(move |conn| {
            if db::stores::get_installed(conn, &hash)?.is_none() {
                return Ok(None);
            }
            let mut passwords = Vec::new();
            for c in db::sequra::connections(conn, &hash)? {
                if let Some(p) = db::sequra::password(conn, &key, &hash, &c.deployment)? {
                    passwords.push(p);
                }
            }
            Ok(Some((passwords, db::remote::enabled(conn, &hash)?)))
        })
        .await
        .map_err(|e| fault(AppError::from(e)))?;
    let Some((passwords, enabled)) = found else {
        return Err(TopicError::signature());
    };
    if !signature::verify(&store, given, &passwords) {
        return Err(TopicError::signature());
    }
    if !enabled {
        return Err(TopicError::disabled());
    }
    Ok(store)
}

/// What the authorised `store`'s request asks for, answered.
pub async fn answer(state: &AppState, store: &StoreHash, body: &[u8]) -> Result<Value, TopicError> {
    // Anything but a JSON object reads as an empty one: no topic.
    let request: Map<String, Value> = match serde_json::from_slice(body) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let topic = match request.get("topic") {
        Some(Value::String(t)) if !t.trim().is_empty() => t.trim().to_string(),
        _ => return Err(TopicError::topic_missing()),
    };
    let outcome = topics::dispatch(state, store, &topic, &request).await;
    match &outcome {
        // A read is a DEBUG line: seQura paging through a catalog would otherwise fill the
        // store's own log (2 000 lines), which keeps INFO and above. A write's changes are in
        // the transaction log too.
        Ok(_) if topic.starts_with("get-") => tracing::debug!(
            topic = topic.as_str(),
            "seQura remote configuration answered"
        ),
        Ok(_) => tracing::info!(
            topic = topic.as_str(),
            "seQura remote configuration answered"
        ),
        Err(e) if e.status >= 500 => {}
        Err(e) => tracing::info!(
            topic = topic.as_str(),
            error = e.code.as_ref(),
            "seQura remote configuration refused"
        ),
    }
    outcome
}
