//! The topics of seQura's configuration webhook this app answers, each with the exact request
//! and response fields of seQura's core (`../shared/spec/sequra-remote-configuration.md` §2.5).
//! A topic the app does not build (express checkout, affiliates) is `UNKNOWN_TOPIC`, and a
//! capability is declared to seQura only for topics answered here.

use serde_json::{Map, Value, json};

use super::webhook::{TopicError, fault};
use crate::db;
use crate::domain::StoreHash;
use crate::state::AppState;

/// The capabilities declared to seQura when registering: only those whose topics are answered
/// here (seQura's wire strings, `../shared/spec/sequra-remote-configuration.md` §3).
pub fn capabilities() -> &'static [&'static str] {
    &["store-info", "banner"]
}

/// The answer to `topic` for `store`; `request` is the whole flat body (`topic` included).
pub async fn dispatch(
    state: &AppState,
    store: &StoreHash,
    topic: &str,
    request: &Map<String, Value>,
) -> Result<Value, TopicError> {
    let _ = request;
    match topic {
        "get-store-info" => store_info(state, store).await,
        "get-banner-settings" => super::banners::get(state, store).await,
        "save-banner-settings" => super::banners::save(state, store, request).await,
        other => Err(TopicError::unknown_topic(other)),
    }
}

/// `get-store-info`: what seQura's support sees of the installation (snake_case here, as the
/// core sends it). Nothing secret: no token, key, password or path.
async fn store_info(state: &AppState, store: &StoreHash) -> Result<Value, TopicError> {
    let hash = store.clone();
    let found = state
        .db
        .call(move |conn| db::stores::get(conn, &hash))
        .await
        .map_err(|e| fault(e.into()))?;
    let found = found.ok_or_else(TopicError::signature)?;
    let platform = crate::checkout::payment::platform();
    Ok(json!({
        "store_name": found.store_name.unwrap_or_default(),
        "store_url": found
            .storefront_url
            .unwrap_or_else(|| super::signature::store_url(store)),
        "platform": platform.name,
        "platform_version": platform.version,
        "plugin_version": platform.plugin_version,
        // seQura's core reports PHP's; this app has none.
        "php_version": "",
        "db": format!("{} {}", platform.db_name, platform.db_version),
        "os": platform.uname,
        "plugins": [],
        "active_theme": Value::Null,
    }))
}
