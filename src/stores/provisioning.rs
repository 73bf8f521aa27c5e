//! Provisioning: what the app sets up in each store (webhooks, the checkout script on each
//! storefront the merchant chose and the widget script where widgets are on, the order App
//! Extension). Idempotent: it compares with what the store has and repairs drift,
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
/// Name of the widget script in the store's Script Manager.
pub const WIDGET_SCRIPT_NAME: &str = "seQura widgets";

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
    /// Absolute, versioned URL of the widget script with its store (`…?store=…`); each
    /// channel's adds `&channel=`.
    pub widget_src: &'a str,
    pub widget_integrity: &'a str,
    /// The storefront channels that get the widget script.
    pub widget_channels: &'a [u64],
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

/// One script the store should have.
struct WantedScript {
    name: &'static str,
    channel_id: u64,
    body: Value,
}

/// Every script the store should have: the checkout's on each of its channels first, then
/// the widgets' (the plan keeps them within BigCommerce's ten per app).
fn wanted_scripts(d: &Desired<'_>) -> Vec<WantedScript> {
    let checkout = d.script_channels.iter().map(|&channel| WantedScript {
        name: SCRIPT_NAME,
        channel_id: channel,
        body: json!({
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
            "channel_id": channel,
        }),
    });
    // Promotional messages the merchant chose to show are the shop's own content, neither
    // needed to buy (essential) nor measuring the visitor (analytics, targeting): a shopper
    // who refuses functional cookies sees none. The script stores nothing in the browser.
    let widgets = d.widget_channels.iter().map(|&channel| WantedScript {
        name: WIDGET_SCRIPT_NAME,
        channel_id: channel,
        body: json!({
            "name": WIDGET_SCRIPT_NAME,
            "description": "seQura promotional messages on product pages, listings and the cart",
            "kind": "src",
            // The script learns its storefront from its own URL.
            "src": format!("{}&channel={channel}", d.widget_src),
            "integrity_hashes": [d.widget_integrity],
            "load_method": "defer",
            "location": "footer",
            "visibility": "storefront",
            "consent_category": "functional",
            "auto_uninstall": true,
            "enabled": true,
            "channel_id": channel,
        }),
    });
    checkout.chain(widgets).collect()
}

fn script_matches(s: &Script, body: &Value) -> bool {
    let text = |k: &str| body.get(k).and_then(Value::as_str);
    s.src.as_deref() == text("src")
        && s.integrity_hashes.iter().map(String::as_str).eq(body
            .get("integrity_hashes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str))
        && s.load_method.as_deref() == text("load_method")
        && s.location.as_deref() == text("location")
        && s.visibility.as_deref() == text("visibility")
        && s.consent_category.as_deref() == text("consent_category")
        && s.auto_uninstall == Some(true)
        && s.enabled != Some(false)
}

/// Exactly one script of each of ours on each storefront channel that should have it,
/// pointing at the current version with its hash; none anywhere else. Removals go first:
/// they free room under BigCommerce's ten scripts per app for the ones wanted.
async fn ensure_scripts(api: &StoreApi, d: &Desired<'_>) -> Result<(), BcError> {
    let wanted = wanted_scripts(d);
    let scripts = api.list_scripts().await?;
    let mut ours: Vec<&Script> = scripts
        .iter()
        .filter(|s| s.name == SCRIPT_NAME || s.name == WIDGET_SCRIPT_NAME)
        .collect();
    ours.sort_by_key(|s| s.channel_id);
    let mut kept: Vec<&Script> = Vec::new();
    for s in &ours {
        let is_wanted = wanted
            .iter()
            .any(|w| w.name == s.name && w.channel_id == s.channel_id);
        if is_wanted
            && !kept
                .iter()
                .any(|k| k.name == s.name && k.channel_id == s.channel_id)
        {
            kept.push(s);
        } else {
            api.delete_script(&s.uuid).await?;
        }
    }
    for w in &wanted {
        match kept
            .iter()
            .find(|k| k.name == w.name && k.channel_id == w.channel_id)
        {
            None => {
                api.create_script(&w.body).await?;
            }
            Some(keep) if !script_matches(keep, &w.body) => {
                api.update_script(&keep.uuid, &w.body).await?;
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
