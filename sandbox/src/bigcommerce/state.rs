//! The stand-in's state: stores, grant codes, tokens, webhooks, scripts, App Extensions,
//! recorded requests and injected failures. Guarded by one `std::sync::Mutex`.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use rand::RngExt;
use serde_json::{Map, Value, json};
use url::Url;

use super::commerce::Commerce;
use super::deliveries::Outbox;
use super::{ChannelSpec, ExternalInstallReport, RecordedRequest, StandInConfig, StoreSpec, User};

/// Grant codes expire this long after `/bc/auth` is shown ([U]: BigCommerce documents no TTL).
pub(crate) const CODE_TTL_SECS: i64 = 600;
/// Scopes BigCommerce adds to every grant, whatever the app configured (spec §1.2).
pub(crate) const EXTRA_GRANTED_SCOPES: [&str; 2] = ["store_v2_default", "users_basic_information"];
/// Rate-limit window (spec §7).
pub(crate) const RATE_WINDOW: Duration = Duration::from_secs(30);

pub(crate) struct StoreRec {
    pub spec: StoreSpec,
    /// Users BigCommerce has shown the app to (install or load), by id.
    pub users: BTreeMap<u64, User>,
    /// Carts, customers, orders, checkout tokens, metafields, checkout settings.
    pub commerce: Commerce,
    /// `(date_created, date_modified)` of the channels added after the store (RFC 3339).
    pub channel_dates: BTreeMap<u64, (String, String)>,
}

impl StoreRec {
    /// The store as added; channel 1, which every store has, is built from the store's own
    /// fields when the spec lacks it.
    pub fn new(mut spec: StoreSpec) -> Self {
        if spec.channel(1).is_none() {
            let default = spec.default_channel();
            spec = spec.with_channel(default);
        }
        spec.channels.sort_by_key(|c| c.id);
        let mut users = BTreeMap::new();
        users.insert(spec.owner.id, spec.owner.clone());
        StoreRec {
            spec,
            users,
            commerce: Commerce::default(),
            channel_dates: BTreeMap::new(),
        }
    }
}

pub(crate) struct AuthCode {
    pub store_hash: String,
    pub user: User,
    /// The scope string sent to `/bc/auth` (space separated).
    pub scope: String,
    pub issued_at: i64,
    pub used: bool,
}

pub(crate) struct TokenRec {
    pub store_hash: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub revoked: bool,
}

pub(crate) struct Webhook {
    pub id: u64,
    pub client_id: String,
    pub store_hash: String,
    pub scope: String,
    pub destination: String,
    pub headers: Option<Map<String, Value>>,
    pub is_active: bool,
    /// Switched off by BigCommerce after the last failed retry (admin `status: deactivated`).
    pub deactivated: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Webhook {
    /// `inactive`, `active` or `deactivated`, as `GET /v3/hooks/admin` reports it.
    pub fn admin_status(&self) -> &'static str {
        match (self.is_active, self.deactivated) {
            (true, _) => "active",
            (false, true) => "deactivated",
            (false, false) => "inactive",
        }
    }

    /// `webhook_Full`.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "client_id": self.client_id,
            "store_hash": self.store_hash,
            "scope": self.scope,
            "destination": self.destination,
            "headers": self.headers,
            "is_active": self.is_active,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }
}

#[derive(Clone)]
pub(crate) struct Script {
    pub uuid: String,
    pub client_id: String,
    pub store_hash: String,
    pub name: String,
    pub description: String,
    pub kind: String,
    pub src: Option<String>,
    pub html: Option<String>,
    pub auto_uninstall: bool,
    pub load_method: String,
    pub location: String,
    pub visibility: String,
    pub consent_category: String,
    pub enabled: bool,
    pub channel_id: u64,
    pub integrity_hashes: Vec<String>,
    pub date_created: String,
    pub date_modified: String,
}

impl Script {
    /// `script_Full`: `src` only for kind `src`, `html` only for kind `script_tag`;
    /// `integrity_hashes` `null` when there are none.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "uuid": self.uuid,
            "name": self.name,
            "description": self.description,
            "kind": self.kind,
            "auto_uninstall": self.auto_uninstall,
            "load_method": self.load_method,
            "location": self.location,
            "visibility": self.visibility,
            "api_client_id": self.client_id,
            "consent_category": self.consent_category,
            "enabled": self.enabled,
            "channel_id": self.channel_id,
            // [U] A script without hashes answers `null`, as the real API has been seen to.
            "integrity_hashes": (!self.integrity_hashes.is_empty()).then_some(&self.integrity_hashes),
            "date_created": self.date_created,
            "date_modified": self.date_modified,
        });
        if let Some(obj) = v.as_object_mut() {
            if let Some(src) = &self.src {
                obj.insert("src".into(), Value::String(src.clone()));
            }
            if let Some(html) = &self.html {
                obj.insert("html".into(), Value::String(html.clone()));
            }
        }
        v
    }
}

pub(crate) struct AppExtension {
    pub id: String,
    pub store_hash: String,
    pub client_id: String,
    pub context: String,
    pub model: String,
    pub url: String,
    pub label_default: String,
    /// `(value, localeCode)` pairs.
    pub label_locales: Vec<(String, String)>,
}

impl AppExtension {
    pub fn to_json(&self) -> Value {
        let locales: Vec<Value> = self
            .label_locales
            .iter()
            .map(|(value, code)| json!({"value": value, "localeCode": code}))
            .collect();
        json!({
            "id": self.id,
            "context": self.context,
            "model": self.model,
            "url": self.url,
            "label": {"defaultValue": self.label_default, "locales": locales},
        })
    }
}

pub(crate) struct FailRule {
    pub method: String,
    pub path_contains: String,
    pub status: u16,
    pub remaining: usize,
    /// Answer without the rate-limit headers (a 429 under platform load, spec §7).
    pub bare: bool,
}

pub(crate) struct RateWindow {
    pub started: Instant,
    pub used: u32,
}

/// Rate-limit numbers for the response headers.
pub(crate) struct RateInfo {
    pub quota: u32,
    pub left: u32,
    pub reset_ms: u64,
    pub exceeded: bool,
}

pub(crate) struct State {
    pub cfg: StandInConfig,
    /// The stand-in's own base URL (`http://127.0.0.1:PORT/`), for storefront and resource
    /// URLs.
    pub base_url: Url,
    /// The Developer Portal account that owns the app profile (`account_uuid`).
    pub account_uuid: String,
    pub stores: BTreeMap<String, StoreRec>,
    pub codes: HashMap<String, AuthCode>,
    pub tokens: HashMap<String, TokenRec>,
    pub webhooks: Vec<Webhook>,
    pub next_webhook_id: u64,
    pub hook_admin_emails: HashMap<(String, String), Vec<String>>,
    pub scripts: Vec<Script>,
    pub extensions: Vec<AppExtension>,
    pub next_extension_id: u64,
    pub requests: Vec<RecordedRequest>,
    pub failures: Vec<FailRule>,
    /// Test control: `(store, order, order_Put body)` applied after the store's next
    /// `GET /v2/orders` page (`BigCommerceStandIn::edit_order_after_next_list`).
    pub list_edits: Vec<(String, u64, Map<String, Value>)>,
    /// The orders list's `min_…`/`max_…` filters leave out their own value (see
    /// `BigCommerceStandIn::set_exclusive_list_bounds`).
    pub exclusive_list_bounds: bool,
    /// The storefront's other payment methods complete the Incomplete order an app made from
    /// the checkout (see `BigCommerceStandIn::set_checkout_reuses_incomplete_order`).
    pub reuse_incomplete_orders: bool,
    pub external_reports: Vec<ExternalInstallReport>,
    pub rate: HashMap<String, RateWindow>,
    pub rate_quota: u32,
    /// 429s answered for a spent quota, per store.
    pub rate_refused: HashMap<String, u32>,
    /// How long every API call (`/stores/…`) takes to answer (a slow BigCommerce).
    pub api_latency: std::time::Duration,
    /// Control panel: iframe targets by one-time id (install URLs carry a single-use code).
    pub frames: HashMap<String, String>,
    /// Control panel: one notice per store (or per `{hash}/orders/{id}` page), shown once.
    pub notices: HashMap<String, String>,
    /// Webhook events waiting for delivery, the delivery log and its test controls.
    pub outbox: Outbox,
    /// The storefronts of Stencil channels other than 1, each on a listener of its own:
    /// `(store, channel)` → `http://127.0.0.1:PORT` (no trailing `/`).
    pub storefronts: HashMap<(String, u64), String>,
}

impl State {
    pub fn new(cfg: StandInConfig, base_url: Url) -> Self {
        State {
            cfg,
            base_url,
            account_uuid: uuid::Uuid::new_v4().to_string(),
            stores: BTreeMap::new(),
            codes: HashMap::new(),
            tokens: HashMap::new(),
            webhooks: Vec::new(),
            next_webhook_id: 22_561_001,
            hook_admin_emails: HashMap::new(),
            scripts: Vec::new(),
            extensions: Vec::new(),
            next_extension_id: 1,
            requests: Vec::new(),
            failures: Vec::new(),
            list_edits: Vec::new(),
            exclusive_list_bounds: false,
            reuse_incomplete_orders: false,
            external_reports: Vec::new(),
            rate: HashMap::new(),
            rate_quota: 450,
            rate_refused: HashMap::new(),
            api_latency: std::time::Duration::ZERO,
            frames: HashMap::new(),
            notices: HashMap::new(),
            outbox: Outbox::default(),
            storefronts: HashMap::new(),
        }
    }

    /// `{base}/stores/{hash}`, the API root v2 resource links start with.
    pub fn api_base(&self, store_hash: &str) -> String {
        format!(
            "{}/stores/{store_hash}",
            self.base_url.as_str().trim_end_matches('/')
        )
    }

    /// The stand-in's storefront of a store, `{base}/storefront/{hash}` (no trailing `/`).
    pub fn own_storefront(&self, store_hash: &str) -> String {
        format!(
            "{}/storefront/{store_hash}",
            self.base_url.as_str().trim_end_matches('/')
        )
    }

    /// The storefront URL BigCommerce reports (`secure_url`, the channel site): the spec's
    /// override, else [`Self::own_storefront`].
    pub fn storefront_url(&self, spec: &StoreSpec) -> String {
        spec.secure_url
            .as_ref()
            .map(|u| u.as_str().trim_end_matches('/').to_owned())
            .unwrap_or_else(|| self.own_storefront(&spec.hash))
    }

    /// The storefront the stand-in serves for a channel: `{base}/storefront/{hash}` for
    /// channel 1, the channel's own listener for another Stencil channel; `None` for a
    /// headless or unknown channel.
    pub fn served_storefront(&self, store_hash: &str, channel_id: u64) -> Option<String> {
        if channel_id == 1 {
            return Some(self.own_storefront(store_hash));
        }
        self.storefronts
            .get(&(store_hash.to_owned(), channel_id))
            .cloned()
    }

    /// The URL a channel's site reports (no trailing `/`): the channel's `site_url`, else
    /// for channel 1 [`Self::storefront_url`], else its served storefront; `None` for a
    /// headless channel without a site.
    pub fn channel_site_url(&self, spec: &StoreSpec, channel: &ChannelSpec) -> Option<String> {
        match (&channel.site_url, channel.id) {
            (Some(url), _) => Some(url.as_str().trim_end_matches('/').to_owned()),
            (None, 1) => Some(self.storefront_url(spec)),
            (None, id) if channel.is_stencil() => self.served_storefront(&spec.hash, id),
            (None, _) => None,
        }
    }

    /// The scope string BigCommerce grants: the app's scopes plus the ones it always adds.
    pub fn granted_scope(&self) -> String {
        let mut scopes: Vec<&str> = self.cfg.app_scopes.split_whitespace().collect();
        for extra in EXTRA_GRANTED_SCOPES {
            if !scopes.contains(&extra) {
                scopes.push(extra);
            }
        }
        scopes.join(" ")
    }

    /// The live token of the configured app on a store.
    pub fn app_token(&self, store_hash: &str) -> Option<&str> {
        self.tokens
            .iter()
            .find(|(_, t)| {
                !t.revoked && t.store_hash == store_hash && t.client_id == self.cfg.client_id
            })
            .map(|(k, _)| k.as_str())
    }

    /// Revokes every token `client_id` holds on a store.
    pub fn revoke_tokens(&mut self, store_hash: &str, client_id: &str) {
        for t in self.tokens.values_mut() {
            if t.store_hash == store_hash && t.client_id == client_id {
                t.revoked = true;
            }
        }
    }

    pub fn issue_token(&mut self, store_hash: &str, client_id: &str, scope: &str) -> String {
        let token = random_token(31);
        self.tokens.insert(
            token.clone(),
            TokenRec {
                store_hash: store_hash.to_owned(),
                client_id: client_id.to_owned(),
                scopes: scope.split_whitespace().map(str::to_owned).collect(),
                revoked: false,
            },
        );
        token
    }

    pub fn remember_user(&mut self, store_hash: &str, user: &User) {
        if let Some(store) = self.stores.get_mut(store_hash) {
            store.users.insert(user.id, user.clone());
        }
    }

    /// What BigCommerce does when the app is uninstalled from a store: revoke the token,
    /// delete the app's webhooks, its `auto_uninstall` scripts and its App Extensions.
    pub fn apply_uninstall(&mut self, store_hash: &str) {
        let client = self.cfg.client_id.clone();
        self.revoke_tokens(store_hash, &client);
        self.webhooks
            .retain(|h| !(h.store_hash == store_hash && h.client_id == client));
        self.scripts
            .retain(|s| !(s.store_hash == store_hash && s.client_id == client && s.auto_uninstall));
        self.extensions
            .retain(|e| !(e.store_hash == store_hash && e.client_id == client));
    }

    /// Consumes one matching injected failure, if any: its status, and whether it goes
    /// without rate-limit headers.
    pub fn take_failure(&mut self, method: &str, path: &str) -> Option<(u16, bool)> {
        let idx = self.failures.iter().position(|f| {
            f.remaining > 0
                && f.method.eq_ignore_ascii_case(method)
                && path.contains(f.path_contains.as_str())
        })?;
        let rule = &mut self.failures[idx];
        rule.remaining -= 1;
        let failure = (rule.status, rule.bare);
        if rule.remaining == 0 {
            self.failures.remove(idx);
        }
        Some(failure)
    }

    /// Counts one request against the store's quota when `count` is set.
    pub fn rate_tick(&mut self, store_hash: &str, count: bool) -> RateInfo {
        let quota = self.rate_quota;
        let now = crate::clock::instant();
        let window = self
            .rate
            .entry(store_hash.to_owned())
            .or_insert(RateWindow {
                started: now,
                used: 0,
            });
        if now.duration_since(window.started) >= RATE_WINDOW {
            window.started = now;
            window.used = 0;
        }
        let mut exceeded = false;
        if count {
            if window.used >= quota {
                exceeded = true;
            } else {
                window.used += 1;
            }
        }
        let elapsed = now.duration_since(window.started);
        let reset_ms = RATE_WINDOW.saturating_sub(elapsed).as_millis() as u64;
        RateInfo {
            quota,
            left: quota.saturating_sub(window.used),
            reset_ms,
            exceeded,
        }
    }
}

/// Whether a granted scope list covers `required`; a modify scope covers its `_read_only`.
pub(crate) fn has_scope(scopes: &[String], required: &str) -> bool {
    scopes.iter().any(|s| {
        s == required
            || required
                .strip_suffix("_read_only")
                .is_some_and(|modify| s == modify)
    })
}

/// Lowercase alphanumeric, the alphabet of BigCommerce tokens, codes and client ids.
pub(crate) fn random_token(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

pub(crate) fn now_unix() -> i64 {
    crate::clock::now().unix_timestamp()
}

pub(crate) fn now_rfc3339() -> String {
    crate::clock::now()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::has_scope;

    #[test]
    fn a_modify_scope_covers_its_read_only_scope_but_not_the_reverse() {
        let granted = vec!["store_v2_content".to_owned()];
        assert!(has_scope(&granted, "store_v2_content_read_only"));
        assert!(has_scope(&granted, "store_v2_content"));
        let ro = vec!["store_v2_content_read_only".to_owned()];
        assert!(!has_scope(&ro, "store_v2_content"));
    }
}
