//! The topics of seQura's configuration webhook this app answers, each with the exact request
//! and response fields of seQura's core (`../shared/spec/sequra-remote-configuration.md` §2.5).
//! A topic the app does not build (express checkout, affiliates) is `UNKNOWN_TOPIC`, and a
//! capability is declared to seQura only for topics answered here.

use serde_json::{Map, Value, json};

use super::error::{TopicError, fault};
use super::{advanced, catalog, general, status, widgets};
use crate::db;
use crate::domain::StoreHash;
use crate::state::AppState;

/// The capabilities declared to seQura when registering: only those whose topics are answered
/// here (seQura's wire strings, `../shared/spec/sequra-remote-configuration.md` §3).
pub fn capabilities() -> &'static [&'static str] {
    &[
        "store-info",
        // General settings, selling countries, shop products and categories.
        "general",
        // The Widgets page, with its listing selectors and alternative product price.
        "widget",
        "listing-selectors",
        "alt-product-price",
        "order-status",
        // Advanced settings and the store's log.
        "advanced",
        // `showSeQuraCheckoutAsHostedPage` has its page here (the General settings switch).
        "hosted-checkout",
    ]
}

/// The answer to `topic` for `store`; `request` is the whole flat body (`topic` included).
pub async fn dispatch(
    state: &AppState,
    store: &StoreHash,
    topic: &str,
    request: &Map<String, Value>,
) -> Result<Value, TopicError> {
    match topic {
        "get-store-info" => store_info(state, store).await,
        "get-general-settings" => general::get(state, store).await,
        "save-general-settings" => general::save(state, store, request).await,
        "get-selling-countries" => general::selling_countries(state, store, request).await,
        "get-shop-products" => catalog::products(state, store, request).await,
        "get-shop-categories" => catalog::categories(state, store, request).await,
        "get-widget-settings" => widgets::get(state, store).await,
        "save-widget-settings" => widgets::save(state, store, request).await,
        "get-order-status-list" => status::list(state, store).await,
        "get-order-status-settings" => status::settings(state, store).await,
        "save-order-status-settings" => status::save(state, store, request).await,
        "get-advanced-settings" => advanced::get(state, store).await,
        "save-advanced-settings" => advanced::save(state, store, request).await,
        "get-log-content" => advanced::content(state, store).await,
        "remove-log-content" => advanced::remove(state, store).await,
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
