//! `AppState`: everything a request or background task needs, passed explicitly.
//!
//! It holds; it does not act. What it holds is typed by the module that owns it, and nothing
//! here imports a module that imports `state`.

use std::sync::Arc;

use url::Url;

use crate::assets::StorefrontScript;
use crate::bigcommerce::client::BigCommerce;
use crate::config::Settings;
use crate::crypto::SecretsKey;
use crate::db::Db;
use crate::domain::StoreHash;
use crate::i18n::Catalogs;
use crate::locks::KeyedLocks;
use crate::rate_limit::RateLimiter;
use crate::sequra::SequraClient;
use crate::session::SessionSigner;
use crate::templates::Templates;

/// How long a checkout id BigCommerce does not know is refused without asking again.
pub const UNKNOWN_CHECKOUT_FOR: std::time::Duration = std::time::Duration::from_secs(120);
/// How long a checkout id BigCommerce answered for counts as seen (its lookups no longer draw
/// on the part of the quota kept for ids never seen).
pub const SEEN_CHECKOUT_FOR: std::time::Duration = std::time::Duration::from_secs(3600);

/// Shared application state, passed explicitly (no globals anywhere). One `Arc`: every
/// request's filters clone it, so a clone is one reference count, not a dozen plus a URL.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// What [`AppState`] shares; its fields are read through `Deref`.
pub struct Shared {
    pub settings: Arc<Settings>,
    /// Validated public base URL (no trailing slash in its string form).
    pub public_url: Url,
    pub db: Db,
    pub key: SecretsKey,
    pub sessions: SessionSigner,
    pub bigcommerce: BigCommerce,
    pub sequra: SequraClient,
    pub i18n: Catalogs,
    pub templates: Templates,
    pub checkout_script: Arc<StorefrontScript>,
    pub widget_script: Arc<StorefrontScript>,
    /// Serialises starts per checkout and notifications per seQura order.
    pub payment_locks: KeyedLocks,
    pub rate_limiter: RateLimiter,
    /// Checkout ids BigCommerce just answered 404 for, per store: asked again within
    /// `UNKNOWN_CHECKOUT_FOR`, they are refused without spending the store's quota.
    pub unknown_checkouts: RateLimiter,
    /// Checkout ids BigCommerce answered for, per store, within `SEEN_CHECKOUT_FOR`.
    pub seen_checkouts: RateLimiter,
    /// Checkouts read in the last seconds, for `methods` only.
    pub recent_checkouts: Arc<crate::checkout::recent::RecentCheckouts>,
    /// Products' service marks `methods` read lately.
    pub service_marks: Arc<crate::checkout::recent::ServiceMarks>,
    /// The storefronts' widget configurations, built once a minute at most.
    pub widget_configs: Arc<crate::checkout::widget_cache::WidgetConfigs>,
    /// The banner images being served, one copy each.
    pub banner_images: Arc<crate::remote::banner_images::BannerImages>,
    /// The configuration webhook's signatures answered lately (`remote::known`).
    pub remote_known: Arc<crate::remote::known::KnownSignatures>,
    /// The `Content-Security-Policy` of every page, built once.
    pub content_security_policy: Arc<str>,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Arc<Vec<crate::domain::IpRange>>,
    /// The job queue's wake-up signal and settings.
    pub jobs: crate::queue::Queue,
    /// Webhook deliveries whose Standard Webhooks signature did not verify (accepted unless
    /// `bigcommerce.require_webhook_signature`), since start.
    pub unverified_webhook_signatures: Arc<std::sync::atomic::AtomicU64>,
    /// Webhook secrets already decrypted.
    pub webhook_secrets: Arc<crate::stores::deliveries::SecretCache>,
    /// The deliveries of the last days, for de-duplication (loaded at start).
    pub recent_deliveries: crate::stores::deliveries::RecentDeliveries,
    /// Repeated log lines (what anonymous callers can make us write), summarised.
    pub log_tally: Arc<crate::telemetry::Tally>,
    /// This app's claim on its stores' log lines (spans carry it as `app`).
    pub log_tag: Arc<crate::telemetry::AppTag>,
    /// One provisioning run at a time per store, so concurrent installs never duplicate.
    provision_locks: KeyedLocks,
}

impl AppState {
    pub fn new(
        settings: Settings,
        public_url: Url,
        db: Db,
        key: SecretsKey,
    ) -> anyhow::Result<Self> {
        let bigcommerce = BigCommerce::new(
            settings.login_url(),
            settings.api_url(),
            settings.bigcommerce.client_id.clone(),
            settings.bigcommerce.client_secret.clone(),
        )?;
        let deployments = crate::sequra::deployments::from_settings(&settings.sequra)
            .map_err(|e| anyhow::anyhow!(e))?;
        let sequra = SequraClient::of(deployments)?;
        let sessions = SessionSigner::new(key.derive("merchant-session-v1"));
        let trusted_proxies = Arc::new(settings.trusted_proxies()?);
        let content_security_policy = content_security_policy(&bigcommerce).into();
        let jobs = crate::queue::Queue::new(settings.jobs.clone());
        Ok(Self(Arc::new(Shared {
            settings: Arc::new(settings),
            public_url,
            db,
            key,
            sessions,
            bigcommerce,
            sequra,
            i18n: Catalogs::load()?,
            templates: Templates::load()?,
            checkout_script: Arc::new(StorefrontScript::checkout()?),
            widget_script: Arc::new(StorefrontScript::widgets()?),
            payment_locks: KeyedLocks::default(),
            rate_limiter: RateLimiter::default(),
            unknown_checkouts: RateLimiter::new(UNKNOWN_CHECKOUT_FOR, 16 * 1024),
            seen_checkouts: RateLimiter::new(SEEN_CHECKOUT_FOR, 16 * 1024),
            recent_checkouts: Arc::default(),
            service_marks: Arc::default(),
            widget_configs: Arc::default(),
            banner_images: Arc::default(),
            remote_known: Arc::default(),
            trusted_proxies,
            content_security_policy,
            jobs,
            webhook_secrets: Arc::default(),
            unverified_webhook_signatures: Arc::default(),
            recent_deliveries: Default::default(),
            log_tally: Arc::default(),
            log_tag: Arc::new(crate::telemetry::STORE_LINES.register()),
            provision_locks: KeyedLocks::default(),
        })))
    }

    /// `{public_url}{path}` for a path starting with `/`.
    pub fn public(&self, path: &str) -> String {
        format!("{}{}", self.public_url.as_str().trim_end_matches('/'), path)
    }

    /// The per-store provisioning lock.
    pub fn provision_lock(&self, store: &StoreHash) -> Arc<tokio::sync::Mutex<()>> {
        self.provision_locks.lock_for(format!("provision:{store}"))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The control panel's origins may frame us; so may the configured login host's origin (the
/// stand-in's, in the demo and tests).
fn content_security_policy(bc: &BigCommerce) -> String {
    let mut ancestors = String::from("https://*.mybigcommerce.com https://login.bigcommerce.com");
    let login = bc.login_url().origin().ascii_serialization();
    if login != "https://login.bigcommerce.com" && login != "null" {
        ancestors.push(' ');
        ancestors.push_str(&login);
    }
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors {ancestors}"
    )
}
