//! Provisioning: what the app sets up in each store (webhooks, the checkout script on each
//! storefront the merchant chose, the order App Extension). Idempotent: it compares with what the store has and repairs drift,
//! never duplicating; each item's outcome is recorded for the dashboard and retries.

use serde_json::{Value, json};

use crate::bigcommerce::client::{AppExtension, BcError, Script, StoreApi, Webhook};
use crate::db::provisioning::Item;

/// The webhook scopes every store gets (bigcommerce-api.md §2.2).
pub const WEBHOOK_SCOPES: [&str; 12] = [
    "store/order/created",
    "store/order/updated",
    "store/order/statusUpdated",
    "store/order/archived",
    "store/order/refund/created",
    "store/shipment/created",
    "store/shipment/updated",
    "store/shipment/deleted",
    "store/app/uninstalled",
    // A cart solicited with seQura and sold another way (its sale may be archived before
    // seQura's approval arrives; see `checkout::other_payment`).
    "store/cart/converted",
    // Storefronts created, renamed, launched or closed: their scripts follow.
    "store/channel/created",
    "store/channel/updated",
];

/// The custom header carrying the per-store webhook secret on every delivery.
pub const WEBHOOK_SECRET_HEADER: &str = "X-Sequra-Webhook-Secret";

/// Name of the checkout script in the store's Script Manager.
pub const SCRIPT_NAME: &str = "seQura checkout";

/// The App Extension's deep link; BigCommerce substitutes `${id}`.
pub const EXTENSION_URL: &str = "/orders/${id}/sequra";

/// What one store should have.
pub struct Desired<'a> {
    /// `{public_url}/bc/webhooks`
    pub webhook_destination: &'a str,
    pub webhook_secret: &'a str,
    /// Absolute, versioned URL of the checkout script.
    pub script_src: &'a str,
    /// `sha384-…` SRI hash of the script's bytes.
    pub script_integrity: &'a str,
    /// The storefront channels that get the checkout script, one each.
    pub script_channels: &'a [u64],
}

/// Runs every step; one failing step does not stop the others.
pub async fn provision(api: &StoreApi, desired: &Desired<'_>) -> Vec<(Item, Result<(), BcError>)> {
    vec![
        (Item::Webhooks, ensure_webhooks(api, desired).await),
        (Item::Script, ensure_scripts(api, desired).await),
        (Item::Extension, ensure_extension(api).await),
    ]
}

/// One active hook per scope to our destination with the current secret header; hooks of
/// ours pointing elsewhere (an old public URL) are removed.
async fn ensure_webhooks(api: &StoreApi, d: &Desired<'_>) -> Result<(), BcError> {
    let existing = api.list_webhooks().await?;
    let headers = json!({ WEBHOOK_SECRET_HEADER: d.webhook_secret });
    for scope in WEBHOOK_SCOPES {
        let mut ours: Vec<&Webhook> = existing
            .iter()
            .filter(|h| h.scope == scope && h.destination == d.webhook_destination)
            .collect();
        ours.sort_by_key(|h| h.id);
        match ours.split_first() {
            None => {
                api.create_webhook(&json!({
                    "scope": scope,
                    "destination": d.webhook_destination,
                    "is_active": true,
                    "headers": headers,
                }))
                .await?;
            }
            Some((keep, extra)) => {
                let header_ok = keep
                    .headers
                    .as_ref()
                    .and_then(|h| h.get(WEBHOOK_SECRET_HEADER))
                    .and_then(Value::as_str)
                    == Some(d.webhook_secret);
                if !keep.is_active || !header_ok {
                    api.update_webhook(keep.id, &json!({"is_active": true, "headers": headers}))
                        .await?;
                }
                for h in extra {
                    api.delete_webhook(h.id).await?;
                }
            }
        }
    }
    for stale in existing.iter().filter(|h| {
        WEBHOOK_SCOPES.contains(&h.scope.as_str()) && h.destination != d.webhook_destination
    }) {
        api.delete_webhook(stale.id).await?;
    }
    Ok(())
}

fn script_body(d: &Desired<'_>, channel_id: u64) -> Value {
    json!({
        "name": SCRIPT_NAME,
        "description": "seQura payment buttons on the checkout's payment step",
        "kind": "src",
        "src": d.script_src,
        "integrity_hashes": [d.script_integrity],
        "load_method": "defer",
        "location": "footer",
        "visibility": "checkout",
        "consent_category": "essential",
        "auto_uninstall": true,
        "enabled": true,
        "channel_id": channel_id,
    })
}

fn script_matches(s: &Script, d: &Desired<'_>) -> bool {
    s.src.as_deref() == Some(d.script_src)
        && s.integrity_hashes == [d.script_integrity]
        && s.load_method.as_deref() == Some("defer")
        && s.location.as_deref() == Some("footer")
        && s.visibility.as_deref() == Some("checkout")
        && s.consent_category.as_deref() == Some("essential")
        && s.auto_uninstall == Some(true)
        && s.enabled != Some(false)
}

/// Exactly one script named [`SCRIPT_NAME`] on each wanted storefront channel, pointing at the
/// current version with its hash; none on any other. Removals go first: they free room under
/// BigCommerce's ten scripts per app for the storefronts switched on.
async fn ensure_scripts(api: &StoreApi, d: &Desired<'_>) -> Result<(), BcError> {
    let scripts = api.list_scripts().await?;
    let mut ours: Vec<&Script> = scripts.iter().filter(|s| s.name == SCRIPT_NAME).collect();
    ours.sort_by_key(|s| s.channel_id);
    let mut kept: Vec<&Script> = Vec::new();
    for s in &ours {
        let wanted = d.script_channels.contains(&s.channel_id);
        if wanted && !kept.iter().any(|k| k.channel_id == s.channel_id) {
            kept.push(s);
        } else {
            api.delete_script(&s.uuid).await?;
        }
    }
    for &channel in d.script_channels {
        match kept.iter().find(|k| k.channel_id == channel) {
            None => {
                api.create_script(&script_body(d, channel)).await?;
            }
            Some(keep) if !script_matches(keep, d) => {
                api.update_script(&keep.uuid, &script_body(d, channel))
                    .await?;
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// The "seQura order information" panel on orders, created only when missing.
async fn ensure_extension(api: &StoreApi) -> Result<(), BcError> {
    let existing: Vec<AppExtension> = api.list_app_extensions().await?;
    let ours: Vec<&AppExtension> = existing
        .iter()
        .filter(|e| e.url == EXTENSION_URL && e.model == "ORDERS")
        .collect();
    match ours.split_first() {
        None => {
            api.create_app_extension(json!({
                "context": "PANEL",
                "model": "ORDERS",
                "url": EXTENSION_URL,
                "label": {
                    "defaultValue": "seQura order information",
                    "locales": [{"value": "Información del pedido seQura", "localeCode": "es-ES"}],
                },
            }))
            .await?;
        }
        Some((_, extra)) => {
            for e in extra {
                api.delete_app_extension(&e.id).await?;
            }
        }
    }
    Ok(())
}
