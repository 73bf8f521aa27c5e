//! Stateful BigCommerce stand-in for tests and `sequra-bc demo`: the login service
//! (`/oauth2/token`), the management API (`/stores/{hash}/v2|v3|graphql`), a
//! control-panel simulator, and each store's storefront with its checkout and Storefront
//! API (`/storefront/{hash}/…`), all on one loopback base URL
//! (`login_url = api_url = base_url`).
//!
//! Multi-Storefront: a store has the channels of its [`StoreSpec`] (channel 1 always), each
//! with its site, locale, currency and terms (`channels.rs`). The storefront of each Stencil
//! channel but 1 is served on a loopback listener of its own, so each storefront has its own
//! origin; `add_channel`, `update_channel` (with the channel webhooks),
//! `channel_storefront_url`, `create_checkout_on`, `checkout_url_on`, `set_channel_terms`
//! and `scripts_of` drive and inspect them.
//!
//! Shopping (carts, checkouts, customers with store credit, orders, checkout tokens, order
//! metafields) is modelled per store; the `create_checkout`, `add_customer`, `order`, …
//! methods of [`BigCommerceStandIn`] drive and inspect it from tests.
//!
//! After the sale, the merchant ships items, deletes shipments, refunds, edits, cancels and
//! archives orders through the API, the control panel's order page
//! (`/manage/{hash}/orders/{id}`) or the `ship_items`, `refund`, `set_order_status`, …
//! helpers, all on one code path (`fulfilment.rs`). Every order change is delivered as
//! BigCommerce's webhooks to the store's active hooks, with its retry schedule and
//! deactivation (`deliveries.rs`); `set_webhook_time_scale`, `set_webhook_duplicates`,
//! `hold_webhooks`, `release_webhooks_reversed`, `webhook_deliveries` and
//! `webhooks_settled` control and observe the deliveries.
//!
//! It enforces the contract in `spec/bigcommerce-api.md` and BigCommerce's OpenAPI files:
//! whatever BigCommerce would refuse, it refuses with BigCommerce's status and error body.
//! Behaviour BigCommerce does not document is marked [U] where it is chosen.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use sequra_bc_sandbox::bigcommerce::{BigCommerceStandIn, StandInConfig, StoreSpec};
//! let app_url: url::Url = "http://127.0.0.1:8080".parse()?;
//! let bc = BigCommerceStandIn::start(([127, 0, 0, 1], 0).into(), StandInConfig::for_app(app_url)).await?;
//! bc.add_store(StoreSpec::demo("abc123"));
//! let owner = bc.store_owner("abc123").expect("added above");
//! let auth_url = bc.begin_install("abc123", &owner); // open it as the browser would
//! # let _ = auth_url; Ok(()) }
//! ```

mod api;
mod catalog;
mod channels;
mod checkouts;
mod commerce;
mod control_panel;
mod deliveries;
mod fulfilment;
mod graphql;
mod hooks;
mod login;
mod metafields;
mod order_page;
mod order_statuses;
mod orders;
mod refunds;
mod respond;
mod scripts;
mod shipments;
mod shipping;
mod state;
mod storefront;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;
use url::Url;

use super::common::{self, Refusal, ServerGuard};
use respond::Resp;
use state::State;

pub(crate) use super::common::Incoming;
pub use super::common::RecordedRequest;
pub use deliveries::WebhookDelivery;

/// The app profile the stand-in knows: what the Developer Portal holds for the app.
#[derive(Clone)]
pub struct StandInConfig {
    pub client_id: String,
    pub client_secret: String,
    /// The app's public base URL; callbacks are `{app_url}/bc/auth|load|uninstall|remove-user`.
    pub app_url: Url,
    /// The app's configured OAuth scopes, space separated.
    pub app_scopes: String,
}

impl std::fmt::Debug for StandInConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StandInConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &"***")
            .field("app_url", &self.app_url.as_str())
            .field("app_scopes", &self.app_scopes)
            .finish()
    }
}

/// The scopes the seQura app needs (spec §1.7).
pub const SEQURA_APP_SCOPES: &str = "store_v2_orders store_v2_transactions_read_only \
store_checkout store_content_checkout store_v2_content store_cart \
store_v2_information_read_only store_v2_customers_read_only store_app_extensions_manage \
store_channel_settings_read_only store_sites_read_only store_v2_products_read_only";

impl StandInConfig {
    /// A demo app profile (fixed client id and secret) with the scopes of §1.7.
    pub fn for_app(app_url: Url) -> Self {
        StandInConfig {
            client_id: "sqdemo0client0id0for0bc0standin".to_owned(),
            client_secret: "sqdemo0client0secret0for0the0bigcommerce0standin0".to_owned(),
            app_url,
            app_scopes: SEQURA_APP_SCOPES.to_owned(),
        }
    }
}

/// A control-panel user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: u64,
    pub email: String,
    /// BCP-47, e.g. `es-ES`.
    pub locale: String,
}

/// A store on the simulated platform.
#[derive(Clone, Debug)]
pub struct StoreSpec {
    pub hash: String,
    pub name: String,
    /// The numeric store id (`store_id` in `/v2/store` and webhook payloads).
    pub store_id: u64,
    pub owner: User,
    pub country: String,
    /// ISO 3166-1 alpha-2.
    pub country_code: String,
    pub currency: String,
    pub language: String,
    /// Primary storefront domain.
    pub domain: String,
    /// `secure_url` in `/v2/store` and the channel site's URL; the stand-in's own storefront,
    /// `{base}/storefront/{hash}`, when `None`.
    pub secure_url: Option<Url>,
    pub timezone: String,
    /// ISO 3166-1 alpha-2 codes the store ships to: one `country` zone each in
    /// `GET /v2/shipping/zones`, in this order.
    pub shipping_countries: Vec<String>,
    /// Adds a `global` "Resto del mundo" zone (no locations) after the country zones.
    pub ships_rest_of_world: bool,
    /// Merchant-renamed order statuses `(status_id, custom_label)`; the others keep their
    /// system label as `custom_label` in `GET /v2/order_statuses`.
    pub order_status_labels: Vec<(u32, String)>,
    /// `GET /v3/catalog/products`, in id order.
    pub products: Vec<CatalogProduct>,
    /// `GET /v3/catalog/categories`, in id order.
    pub categories: Vec<CatalogCategory>,
    /// The store's channels (`GET /v3/channels`), in id order. Channel 1 is the default
    /// storefront, which BigCommerce always has: [`BigCommerceStandIn::add_store`] adds it
    /// (built from the store's own fields) when missing.
    pub channels: Vec<ChannelSpec>,
}

/// A sales channel of a store: with Multi-Storefront, each storefront is one, with its own
/// site, locale, default currency and checkout settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelSpec {
    /// 0 in [`BigCommerceStandIn::add_channel`]: the stand-in assigns the next free id.
    pub id: u64,
    pub name: String,
    /// `bigcommerce` is a Stencil storefront (the stand-in serves it and renders its
    /// scripts); any other (`next`, `catalyst`, `custom`, …) is headless.
    pub platform: String,
    /// `prelaunch`, `active`, `inactive`, `archived`, `deleted`, `terminated`, …
    pub status: String,
    /// The default shopper language, e.g. `es`, `fr`.
    pub locale: String,
    /// The default (and only enabled) currency, e.g. `EUR`.
    pub currency: String,
    /// "Customers must accept the terms and conditions" on this channel's checkout.
    pub terms_enabled: bool,
    /// The site URL the channel reports; `None`: the storefront the stand-in serves (for
    /// channel 1, the store's `secure_url` when set). A headless channel without one has no
    /// site.
    pub site_url: Option<Url>,
}

/// The platform of a Stencil storefront channel.
pub const STENCIL_PLATFORM: &str = "bigcommerce";

impl ChannelSpec {
    /// An active Stencil storefront the stand-in serves (terms off, no site override).
    pub fn stencil(id: u64, name: &str, locale: &str, currency: &str) -> Self {
        ChannelSpec {
            id,
            name: name.to_owned(),
            platform: STENCIL_PLATFORM.to_owned(),
            status: "active".to_owned(),
            locale: locale.to_owned(),
            currency: currency.to_owned(),
            terms_enabled: false,
            site_url: None,
        }
    }

    /// An active headless storefront (`platform` e.g. `next`) at `site_url`; the stand-in
    /// serves nothing for it.
    pub fn headless(
        id: u64,
        name: &str,
        platform: &str,
        site_url: Url,
        locale: &str,
        currency: &str,
    ) -> Self {
        ChannelSpec {
            platform: platform.to_owned(),
            site_url: Some(site_url),
            ..ChannelSpec::stencil(id, name, locale, currency)
        }
    }

    /// A Stencil storefront (BigCommerce's own themes), which renders Scripts-API scripts.
    pub fn is_stencil(&self) -> bool {
        self.platform == STENCIL_PLATFORM
    }

    /// `deleted`, `archived` or `terminated`: the storefront is gone.
    pub fn is_gone(&self) -> bool {
        matches!(self.status.as_str(), "deleted" | "archived" | "terminated")
    }
}

/// A catalog product (the fields the stand-in models; the rest of `product_Full` is filled
/// with fixed values).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogProduct {
    pub id: u64,
    pub name: String,
    pub sku: String,
    /// Price in cents of the store currency, tax included (`price` is `price_cents / 100`).
    pub price_cents: i64,
    /// Category ids.
    pub categories: Vec<u64>,
    /// `type: digital` (a download: no shipping); `physical` otherwise.
    #[serde(default)]
    pub digital: bool,
    /// The variants a shopper chooses between on the product page, the default first; empty:
    /// the product's one base variant (id `id + 1000`, at `price_cents`).
    #[serde(default)]
    pub variants: Vec<CatalogVariant>,
    /// Custom fields `(name, value)` the merchant set (products_catalog.v3.yml
    /// `productCustomField_Base`: `name` and `value`, 1–250 characters each), served with
    /// `include=custom_fields`, ids `id × 100 + 1, + 2, …` in this order.
    #[serde(default)]
    pub custom_fields: Vec<(String, String)>,
}

/// A variant of a product (one option value, e.g. a fabric), with its own price.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogVariant {
    pub id: u64,
    /// The option value the shopper picks, e.g. `Lana`.
    pub label: String,
    /// Price in cents, tax included.
    pub price_cents: i64,
}

/// A catalog category; `parent_id` 0 is a top-level category.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogCategory {
    pub id: u64,
    pub parent_id: u64,
    pub name: String,
}

impl CatalogProduct {
    pub fn new(id: u64, name: &str, sku: &str, price_cents: i64, categories: &[u64]) -> Self {
        CatalogProduct {
            id,
            name: name.to_owned(),
            sku: sku.to_owned(),
            price_cents,
            categories: categories.to_vec(),
            digital: false,
            variants: Vec::new(),
            custom_fields: Vec::new(),
        }
    }

    /// The same product with one more custom field.
    pub fn with_custom_field(mut self, name: &str, value: &str) -> Self {
        self.custom_fields.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The same product with these variants `(id, label, price_cents)`, the first the
    /// default: `price_cents` becomes the first one's.
    pub fn with_variants(mut self, variants: &[(u64, &str, i64)]) -> Self {
        self.variants = variants
            .iter()
            .map(|&(id, label, price_cents)| CatalogVariant {
                id,
                label: label.to_owned(),
                price_cents,
            })
            .collect();
        if let Some(first) = self.variants.first() {
            self.price_cents = first.price_cents;
        }
        self
    }

    /// The variant `(id, price_cents)` a shopper buys: `variant_id`, or the default when
    /// `None`; `None` when the product has no such variant.
    pub fn variant(&self, variant_id: Option<u64>) -> Option<(u64, i64)> {
        match (variant_id, self.variants.first()) {
            (None, None) => Some((self.id + 1000, self.price_cents)),
            (None, Some(v)) => Some((v.id, v.price_cents)),
            (Some(id), None) => (id == self.id + 1000).then_some((id, self.price_cents)),
            (Some(id), Some(_)) => self
                .variants
                .iter()
                .find(|v| v.id == id)
                .map(|v| (v.id, v.price_cents)),
        }
    }

    /// The same product as a digital one.
    pub fn as_digital(mut self) -> Self {
        self.digital = true;
        self
    }
}

impl CatalogCategory {
    pub fn new(id: u64, parent_id: u64, name: &str) -> Self {
        CatalogCategory {
            id,
            parent_id,
            name: name.to_owned(),
        }
    }
}

/// The demo catalog of a Spanish fashion shop: clothing, shoes, accessories, a gift card
/// (a product, as merchants sell them) and a digital download.
pub fn demo_categories() -> Vec<CatalogCategory> {
    vec![
        CatalogCategory::new(18, 0, "Ropa"),
        CatalogCategory::new(19, 18, "Camisetas"),
        CatalogCategory::new(20, 18, "Pantalones"),
        CatalogCategory::new(21, 0, "Calzado"),
        CatalogCategory::new(22, 0, "Accesorios"),
        CatalogCategory::new(23, 0, "Tarjetas regalo"),
        CatalogCategory::new(24, 0, "Descargas digitales"),
    ]
}

/// See [`demo_categories`].
pub fn demo_products() -> Vec<CatalogProduct> {
    vec![
        CatalogProduct::new(
            101,
            "Camiseta básica de algodón",
            "CAM-001",
            1995,
            &[18, 19],
        ),
        CatalogProduct::new(102, "Camiseta de lino", "CAM-002", 2995, &[18, 19]),
        // Two fabrics of two prices, either side of seQura's 50 € instalment minimum.
        CatalogProduct::new(103, "Pantalón chino", "PAN-001", 4995, &[18, 20])
            .with_variants(&[(1103, "Algodón", 4995), (2103, "Lana", 8995)]),
        CatalogProduct::new(104, "Zapatillas urbanas", "ZAP-001", 7990, &[21]),
        CatalogProduct::new(105, "Botas de piel", "BOT-001", 12900, &[21]),
        CatalogProduct::new(106, "Bolso de mano", "BOL-001", 5900, &[22]),
        CatalogProduct::new(107, "Calcetines Blanco & Negro", "CAL-003", 1200, &[22]),
        CatalogProduct::new(108, "Tarjeta regalo 50 €", "TRG-050", 5000, &[23]),
        CatalogProduct::new(109, "Guía de estilo (descarga PDF)", "DIG-001", 990, &[24])
            .as_digital(),
    ]
}

impl StoreSpec {
    /// A realistic Spanish store: Spain/ES, EUR, `es`, Europe/Madrid, owner with `es-ES`;
    /// ships to ES, FR, PT and DE; order status 11 relabelled "Listo para preparar"; the
    /// catalog of [`demo_products`] and [`demo_categories`].
    pub fn demo(hash: &str) -> Self {
        // FNV-1a, so each hash gets a stable numeric id and owner id.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in hash.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        StoreSpec {
            hash: hash.to_owned(),
            name: format!("Tienda {hash}"),
            store_id: 1_000_000 + h % 8_999_999,
            owner: User {
                id: 10_000 + h % 89_999,
                email: format!("propietario+{hash}@example.com"),
                locale: "es-ES".to_owned(),
            },
            country: "Spain".to_owned(),
            country_code: "ES".to_owned(),
            currency: "EUR".to_owned(),
            language: "es".to_owned(),
            domain: format!("tienda-{hash}.example.com"),
            secure_url: None,
            timezone: "Europe/Madrid".to_owned(),
            // DE is one seQura does not serve: the app must notice it.
            shipping_countries: ["ES", "FR", "PT", "DE"].map(str::to_owned).to_vec(),
            ships_rest_of_world: false,
            order_status_labels: vec![(11, "Listo para preparar".to_owned())],
            products: demo_products(),
            categories: demo_categories(),
            channels: Vec::new(),
        }
        .with_default_channel()
    }

    /// [`Self::demo`] with two Stencil storefronts: channel 1 "Spain" (`es`, EUR) and
    /// channel 2 "France" (`fr`, EUR), each served on its own address.
    pub fn demo_two_storefronts(hash: &str) -> Self {
        let mut spec = StoreSpec::demo(hash);
        if let Some(spain) = spec.channels.iter_mut().find(|c| c.id == 1) {
            spain.name = "Spain".to_owned();
        }
        spec.with_channel(ChannelSpec::stencil(2, "France", "fr", "EUR"))
    }

    /// Channel 1 as the store's own fields make it: named after the store, in its language
    /// and currency, at its `secure_url`.
    pub fn default_channel(&self) -> ChannelSpec {
        ChannelSpec {
            site_url: self.secure_url.clone(),
            ..ChannelSpec::stencil(1, &self.name, &self.language, &self.currency)
        }
    }

    /// Replaces the channels with the one [`Self::default_channel`] builds.
    pub fn with_default_channel(mut self) -> Self {
        self.channels = vec![self.default_channel()];
        self
    }

    /// Adds (or replaces, by id) a channel.
    pub fn with_channel(mut self, channel: ChannelSpec) -> Self {
        self.channels.retain(|c| c.id != channel.id);
        self.channels.push(channel);
        self.channels.sort_by_key(|c| c.id);
        self
    }

    pub fn channel(&self, id: u64) -> Option<&ChannelSpec> {
        self.channels.iter().find(|c| c.id == id)
    }
}

/// A `GET /app/{client_id}/install/succeeded|failed` the app sent after an external install.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalInstallReport {
    pub client_id: String,
    /// `succeeded` or `failed`.
    pub outcome: String,
    pub at: i64,
}

/// The stand-in's state, base URL and HTTP client (for server-side callbacks: `/bc/uninstall`,
/// `/bc/remove-user`).
pub(crate) type Shared = common::Shared<State>;

/// Handle to a running stand-in. Cheap to clone.
///
/// The server stops when the last handle is dropped, or at once with [`Self::shutdown`].
#[derive(Clone)]
pub struct BigCommerceStandIn {
    shared: Arc<Shared>,
    guard: Arc<ServerGuard>,
    /// The listeners of the storefronts of channels other than 1 (see `storefront.rs`).
    listeners: Arc<std::sync::Mutex<Vec<ServerGuard>>>,
    /// The runtime the stand-in was started on, where those listeners run.
    runtime: tokio::runtime::Handle,
}

impl BigCommerceStandIn {
    /// Binds `listen` (port 0 picks a free port) and serves in a spawned task.
    pub async fn start(listen: SocketAddr, cfg: StandInConfig) -> anyhow::Result<Self> {
        let common::Bound {
            listener,
            addr,
            base_url,
        } = common::bind(listen).await?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let shared = Arc::new(Shared::new(
            State::new(cfg, base_url.clone()),
            base_url,
            http,
        ));

        shared
            .lock()
            .outbox
            .attach(tokio::runtime::Handle::current(), Arc::downgrade(&shared));
        let guard = Arc::new(ServerGuard::serve(
            listener,
            shared.clone(),
            dispatch,
            refused,
        ));
        tracing::info!(%addr, "BigCommerce stand-in listening");
        Ok(BigCommerceStandIn {
            shared,
            guard,
            listeners: Arc::default(),
            runtime: tokio::runtime::Handle::current(),
        })
    }

    /// Stops the server and the storefront listeners (for every clone of this handle) and
    /// waits up to 5 s for each.
    pub async fn shutdown(self) {
        let listeners = std::mem::take(&mut *common::lock(&self.listeners));
        for l in listeners {
            l.shutdown().await;
        }
        self.guard.shutdown().await;
    }

    /// Starts the own listener of a channel's storefront (127.0.0.1, a free port) unless it
    /// has one; channel 1 is served on the base URL. A listener serves whatever the state
    /// says of its store and channel when a request comes, so it outlives a re-added store.
    fn ensure_storefront(&self, store_hash: &str, channel_id: u64) {
        let key = (store_hash.to_owned(), channel_id);
        if channel_id == 1 || self.shared.lock().storefronts.contains_key(&key) {
            return;
        }
        let bound = std::net::TcpListener::bind(("127.0.0.1", 0)).and_then(|l| {
            l.set_nonblocking(true)?;
            let addr = l.local_addr()?;
            let _rt = self.runtime.enter();
            Ok((tokio::net::TcpListener::from_std(l)?, addr))
        });
        let (listener, addr) = match bound {
            Ok(b) => b,
            Err(error) => {
                tracing::error!(%error, store_hash, channel_id, "storefront listener not started");
                return;
            }
        };
        let hash = store_hash.to_owned();
        let _rt = self.runtime.enter();
        let guard = ServerGuard::serve(
            listener,
            self.shared.clone(),
            move |shared: Arc<Shared>, req: Incoming| {
                let hash = hash.clone();
                async move { channel_dispatch(&shared, &req, &hash, channel_id) }
            },
            refused,
        );
        common::lock(&self.listeners).push(guard);
        tracing::info!(%addr, store_hash, channel_id, "storefront listening");
        self.shared
            .lock()
            .storefronts
            .insert(key, format!("http://{addr}"));
    }

    /// `http://127.0.0.1:PORT/`: the login service, the API and the control panel.
    pub fn base_url(&self) -> Url {
        self.shared.base_url.clone()
    }

    /// Points the app profile at the app (it may start after the stand-in).
    pub fn set_app_url(&self, url: Url) {
        self.shared.lock().cfg.app_url = url;
    }

    pub fn app_url(&self) -> Url {
        self.shared.lock().cfg.app_url.clone()
    }

    pub fn client_id(&self) -> String {
        self.shared.lock().cfg.client_id.clone()
    }

    pub fn client_secret(&self) -> String {
        self.shared.lock().cfg.client_secret.clone()
    }

    /// The `account_uuid` sent to `/bc/auth` and returned by the token exchange.
    pub fn account_uuid(&self) -> String {
        self.shared.lock().account_uuid.clone()
    }

    /// Changes the app's configured scopes. Affects grants from now on; tokens already
    /// issued keep their scopes (reinstall to get a token with the new ones).
    pub fn set_app_scopes(&self, scopes: &str) {
        self.shared.lock().cfg.app_scopes = scopes.to_owned();
    }

    /// Adds (or replaces) a store, with channel 1 when its spec lacks it, and starts the
    /// storefront of each of its other Stencil channels on its own address.
    pub fn add_store(&self, spec: StoreSpec) {
        let hash = spec.hash.clone();
        let stencil: Vec<u64> = spec
            .channels
            .iter()
            .filter(|c| c.is_stencil())
            .map(|c| c.id)
            .collect();
        self.shared
            .lock()
            .stores
            .insert(hash.clone(), state::StoreRec::new(spec));
        for id in stencil {
            self.ensure_storefront(&hash, id);
        }
    }

    // -----------------------------------------------------------------------------------
    // Channels (Multi-Storefront).

    /// The store's channels, by id.
    pub fn channels(&self, store_hash: &str) -> Vec<ChannelSpec> {
        self.store(store_hash)
            .map(|s| s.channels)
            .unwrap_or_default()
    }

    pub fn channel(&self, store_hash: &str, channel_id: u64) -> Option<ChannelSpec> {
        self.store(store_hash)?.channel(channel_id).cloned()
    }

    /// The merchant adds a channel (a storefront) to the store: `spec.id` 0 gets the next
    /// free id. A Stencil channel's storefront starts on its own address, then
    /// `store/channel/created` (`{type: "channel", id}`) goes to the subscribed hooks.
    /// Returns the channel's id.
    ///
    /// # Panics
    /// If the store was not added, or already has a channel with that id.
    pub fn add_channel(&self, store_hash: &str, mut spec: ChannelSpec) -> u64 {
        {
            let mut st = self.shared.lock();
            let store = st
                .stores
                .get_mut(store_hash)
                .unwrap_or_else(|| panic!("add_channel: unknown store {store_hash:?}"));
            if spec.id == 0 {
                spec.id = store.spec.channels.iter().map(|c| c.id).max().unwrap_or(0) + 1;
            }
            assert!(
                store.spec.channel(spec.id).is_none(),
                "add_channel: the store has a channel {}",
                spec.id
            );
            let now = state::now_rfc3339();
            store.channel_dates.insert(spec.id, (now.clone(), now));
            store.spec.channels.push(spec.clone());
            store.spec.channels.sort_by_key(|c| c.id);
        }
        if spec.is_stencil() {
            self.ensure_storefront(store_hash, spec.id);
        }
        let mut st = self.shared.lock();
        deliveries::emit(
            &mut st,
            store_hash,
            "store/channel/created",
            json!({"type": "channel", "id": spec.id}),
        );
        spec.id
    }

    /// The merchant changes a channel (its id stays). A change of `name` or `status` fires
    /// `store/channel/updated`, as the contract lists the fields that do (locale, currency,
    /// terms and site are other settings, and fire nothing). A channel goes by its status
    /// becoming `deleted` or `archived`: there is no channel-deleted webhook. Returns
    /// whether the channel exists.
    pub fn update_channel(
        &self,
        store_hash: &str,
        channel_id: u64,
        f: impl FnOnce(&mut ChannelSpec),
    ) -> bool {
        let stencil = {
            let mut st = self.shared.lock();
            let Some(store) = st.stores.get_mut(store_hash) else {
                return false;
            };
            let Some(channel) = store.spec.channels.iter_mut().find(|c| c.id == channel_id) else {
                return false;
            };
            let before = channel.clone();
            f(channel);
            channel.id = channel_id;
            let notable = before.name != channel.name || before.status != channel.status;
            let stencil = channel.is_stencil();
            if notable {
                let now = state::now_rfc3339();
                store
                    .channel_dates
                    .entry(channel_id)
                    .or_insert_with(|| (channels::CREATED.to_owned(), String::new()))
                    .1 = now;
                deliveries::emit(
                    &mut st,
                    store_hash,
                    "store/channel/updated",
                    json!({"type": "channel", "id": channel_id}),
                );
            }
            stencil
        };
        if stencil {
            self.ensure_storefront(store_hash, channel_id);
        }
        true
    }

    /// Where the stand-in serves a channel's storefront, without a trailing `/`:
    /// `{base}/storefront/{hash}` for channel 1 (as [`Self::storefront_url`]), the
    /// channel's own `http://127.0.0.1:PORT` for another Stencil channel (whatever site URL
    /// its spec reports), and a headless channel's `site_url`.
    ///
    /// # Panics
    /// For an unknown channel, or a headless one without a `site_url`.
    pub fn channel_storefront_url(&self, store_hash: &str, channel_id: u64) -> String {
        let st = self.shared.lock();
        let served = st.served_storefront(store_hash, channel_id);
        served
            .or_else(|| {
                let store = st.stores.get(store_hash)?;
                let channel = store.spec.channel(channel_id)?;
                st.channel_site_url(&store.spec, channel)
            })
            .unwrap_or_else(|| {
                panic!("channel_storefront_url: no storefront for channel {channel_id} of {store_hash:?}")
            })
    }

    /// Switches "customers must accept the terms and conditions" on a channel's checkout
    /// (its checkout settings and its storefront's checkout page). Returns whether the
    /// channel exists.
    pub fn set_channel_terms(&self, store_hash: &str, channel_id: u64, enabled: bool) -> bool {
        self.edit_store(store_hash, |spec| {
            if let Some(c) = spec.channels.iter_mut().find(|c| c.id == channel_id) {
                c.terms_enabled = enabled;
            }
        }) && self.channel(store_hash, channel_id).is_some()
    }

    /// Every script on a store (every client's), in creation order: `(channel_id, name,
    /// src)`, `src` being the `html` of a `script_tag` script.
    pub fn scripts_of(&self, store_hash: &str) -> Vec<(u64, String, String)> {
        let st = self.shared.lock();
        st.scripts
            .iter()
            .filter(|s| s.store_hash == store_hash)
            .map(|s| {
                let src = s.src.clone().or_else(|| s.html.clone()).unwrap_or_default();
                (s.channel_id, s.name.clone(), src)
            })
            .collect()
    }

    pub fn store(&self, store_hash: &str) -> Option<StoreSpec> {
        self.shared
            .lock()
            .stores
            .get(store_hash)
            .map(|s| s.spec.clone())
    }

    pub fn store_owner(&self, store_hash: &str) -> Option<User> {
        self.store(store_hash).map(|s| s.owner)
    }

    /// Changes a store's spec in place; `false` when there is no such store.
    fn edit_store(&self, store_hash: &str, edit: impl FnOnce(&mut StoreSpec)) -> bool {
        match self.shared.lock().stores.get_mut(store_hash) {
            Some(store) => {
                edit(&mut store.spec);
                true
            }
            None => false,
        }
    }

    /// The merchant renames an order status (its `custom_label`). Returns whether the store
    /// exists.
    pub fn set_order_status_label(&self, store_hash: &str, status_id: u32, label: &str) -> bool {
        self.edit_store(store_hash, |spec| {
            spec.order_status_labels.retain(|(id, _)| *id != status_id);
            spec.order_status_labels.push((status_id, label.to_owned()));
        })
    }

    /// Restores an order status's system label. Returns whether the store exists.
    pub fn reset_order_status_label(&self, store_hash: &str, status_id: u32) -> bool {
        self.edit_store(store_hash, |spec| {
            spec.order_status_labels.retain(|(id, _)| *id != status_id);
        })
    }

    /// Replaces the countries the store ships to (one `country` zone each). Returns whether
    /// the store exists.
    pub fn set_shipping_countries(&self, store_hash: &str, countries: &[&str]) -> bool {
        self.edit_store(store_hash, |spec| {
            spec.shipping_countries = countries.iter().map(|c| (*c).to_owned()).collect();
        })
    }

    /// Adds or removes the `global` "Resto del mundo" zone. Returns whether the store exists.
    pub fn set_ships_rest_of_world(&self, store_hash: &str, ships: bool) -> bool {
        self.edit_store(store_hash, |spec| spec.ships_rest_of_world = ships)
    }

    /// Replaces the store's catalog. Returns whether the store exists.
    pub fn set_catalog(
        &self,
        store_hash: &str,
        products: Vec<CatalogProduct>,
        categories: Vec<CatalogCategory>,
    ) -> bool {
        self.edit_store(store_hash, |spec| {
            spec.products = products;
            spec.categories = categories;
        })
    }

    // -----------------------------------------------------------------------------------
    // Shopping: carts, customers, orders (control helpers for tests and the demo).

    /// Runs `f` on a store's shopping state; `None` when there is no such store.
    fn with_commerce<T>(
        &self,
        store_hash: &str,
        f: impl FnOnce(&mut commerce::Commerce, &StoreSpec) -> T,
    ) -> Option<T> {
        let mut st = self.shared.lock();
        let store = st.stores.get_mut(store_hash)?;
        Some(f(&mut store.commerce, &store.spec))
    }

    /// A shopper fills a cart: a new checkout with `items` (`(product_id, quantity)` of the
    /// store's catalog), the default shopper of `country` (ISO alpha-2; seQura's Spanish test
    /// shopper for `ES`) as billing and shipping address, and "Envío estándar" (4.95 € with
    /// VAT) as shipping when an item is physical. Returns the checkout (= cart) id.
    ///
    /// # Panics
    /// If the store was not added, or a product is not in its catalog.
    pub fn create_checkout(&self, store_hash: &str, items: &[(u64, u64)], country: &str) -> String {
        self.create_checkout_on(store_hash, 1, items, country)
    }

    /// As [`Self::create_checkout`], on a channel's storefront: the cart has its
    /// `channel_id`, currency and locale, and every order made from it its `channel_id`.
    ///
    /// # Panics
    /// If the store or the channel does not exist, or a product is not in the catalog.
    pub fn create_checkout_on(
        &self,
        store_hash: &str,
        channel_id: u64,
        items: &[(u64, u64)],
        country: &str,
    ) -> String {
        self.with_commerce(store_hash, |c, spec| {
            let channel = spec
                .channel(channel_id)
                .unwrap_or_else(|| panic!("create_checkout: no channel {channel_id}"));
            let mut checkout = commerce::CheckoutRec::on_channel(channel, country);
            for (product_id, quantity) in items {
                let product = spec
                    .products
                    .iter()
                    .find(|p| p.id == *product_id)
                    .unwrap_or_else(|| panic!("create_checkout: no product {product_id}"));
                checkout.add(product, *quantity);
            }
            let id = checkout.id.clone();
            c.checkouts.insert(id.clone(), checkout);
            id
        })
        .unwrap_or_else(|| panic!("create_checkout: unknown store {store_hash:?}"))
    }

    /// Edits a checkout (version + 1); `false` when there is no such store or checkout.
    fn edit_checkout(
        &self,
        store_hash: &str,
        checkout_id: &str,
        edit: impl FnOnce(&mut commerce::CheckoutRec, &StoreSpec) -> bool,
    ) -> bool {
        self.with_commerce(store_hash, |c, spec| {
            let Some(checkout) = c.checkouts.get_mut(checkout_id) else {
                return false;
            };
            let changed = edit(checkout, spec);
            if changed {
                checkout.touch();
            }
            changed
        })
        .unwrap_or(false)
    }

    /// Adds `quantity` of a catalog product to a checkout (its `version` goes up). `false`
    /// when the store, the checkout or the product does not exist.
    pub fn add_to_checkout(
        &self,
        store_hash: &str,
        checkout_id: &str,
        product_id: u64,
        quantity: u64,
    ) -> bool {
        self.edit_checkout(store_hash, checkout_id, |checkout, spec| {
            match spec.products.iter().find(|p| p.id == product_id) {
                Some(p) => {
                    checkout.add(p, quantity);
                    true
                }
                None => false,
            }
        })
    }

    /// Changes the billing address's country (ISO alpha-2).
    pub fn set_billing_country(&self, store_hash: &str, checkout_id: &str, country: &str) -> bool {
        self.edit_checkout(store_hash, checkout_id, |checkout, _| {
            checkout.billing.country_code = country.trim().to_ascii_uppercase();
            true
        })
    }

    /// Changes the shipping address's country (ISO alpha-2).
    pub fn set_shipping_country(&self, store_hash: &str, checkout_id: &str, country: &str) -> bool {
        self.edit_checkout(store_hash, checkout_id, |checkout, _| {
            checkout.shipping.country_code = country.trim().to_ascii_uppercase();
            true
        })
    }

    /// Adds a registered customer with `store_credit_cents` of store credit; returns its id.
    ///
    /// # Panics
    /// If the store was not added.
    pub fn add_customer(
        &self,
        store_hash: &str,
        name: &str,
        email: &str,
        store_credit_cents: i64,
    ) -> u64 {
        self.with_commerce(store_hash, |c, _| {
            c.add_customer(name, email, store_credit_cents)
        })
        .unwrap_or_else(|| panic!("add_customer: unknown store {store_hash:?}"))
    }

    /// The customer signs in on a checkout: it becomes theirs (`customer_id`, email).
    pub fn attach_customer(&self, store_hash: &str, checkout_id: &str, customer_id: u64) -> bool {
        let Some(customer) = self
            .with_commerce(store_hash, |c, _| c.customers.get(&customer_id).cloned())
            .flatten()
        else {
            return false;
        };
        self.edit_checkout(store_hash, checkout_id, |checkout, _| {
            checkout.customer_id = customer.id;
            checkout.email = customer.email.clone();
            checkout.billing.email = customer.email.clone();
            checkout.billing.first_name = customer.first_name.clone();
            checkout.billing.last_name = customer.last_name.clone();
            true
        })
    }

    /// The shopper ticks "use store credit" (as `POST /api/storefront/checkouts/{id}/store-credit`).
    /// `false` when the checkout has no customer with credit.
    pub fn apply_store_credit(&self, store_hash: &str, checkout_id: &str) -> bool {
        let has_credit = self
            .with_commerce(store_hash, |c, _| {
                c.checkouts
                    .get(checkout_id)
                    .and_then(|checkout| c.customer_of(checkout))
                    .is_some_and(|cu| cu.store_credit > 0)
            })
            .unwrap_or(false);
        has_credit
            && self.edit_checkout(store_hash, checkout_id, |checkout, _| {
                checkout.store_credit_applied = true;
                true
            })
    }

    /// A customer's store credit, in cents.
    pub fn customer_store_credit(&self, store_hash: &str, customer_id: u64) -> Option<i64> {
        self.with_commerce(store_hash, |c, _| {
            c.customers
                .get(&customer_id)
                .map(|cu| (cu.store_credit + 50) / 100)
        })
        .flatten()
    }

    /// Switches "customers must accept the terms and conditions" on channel 1's checkout
    /// (its checkout settings and checkout page): [`Self::set_channel_terms`]. Returns
    /// whether the store exists.
    pub fn set_terms(&self, store_hash: &str, enabled: bool) -> bool {
        self.set_channel_terms(store_hash, 1, enabled)
    }

    /// The shopper pays the checkout with another payment method (the store's offline
    /// "Transferencia bancaria", as the storefront's "Realizar pedido" does), say in another
    /// tab while a seQura form is open: BigCommerce converts the cart into a new order in
    /// Awaiting Payment (7), deletes the cart (its checkout then answers 404) and fires
    /// `store/order/created`, `store/order/statusUpdated`, `store/order/updated` and
    /// `store/cart/converted`. Any Incomplete order an app made from the checkout is left as
    /// it was (unless [`Self::set_checkout_reuses_incomplete_order`]: then that order is the
    /// one paid, without `store/order/created`). Returns the paid order's id; `None` for an unknown store or checkout, or an
    /// empty cart (nothing changes then).
    pub fn pay_checkout_otherwise(&self, store_hash: &str, checkout_id: &str) -> Option<u64> {
        let mut st = self.shared.lock();
        storefront::pay_otherwise(&mut st, store_hash, checkout_id).map(|(id, _)| id)
    }

    /// The shopper removes every item of a cart: "removing the last `line_item` in the Cart
    /// deletes the Cart" (`carts.v3.yml`), so its checkout answers 404 as a converted one does,
    /// and no order is made. False for an unknown store or checkout.
    pub fn empty_cart(&self, store_hash: &str, checkout_id: &str) -> bool {
        self.with_commerce(store_hash, |c, _| c.checkouts.remove(checkout_id).is_some())
            .unwrap_or(false)
    }

    /// A checkout as `GET /v3/checkouts/{id}` returns its `data`.
    pub fn checkout(&self, store_hash: &str, checkout_id: &str) -> Option<serde_json::Value> {
        self.with_commerce(store_hash, |c, _| {
            c.checkouts
                .get(checkout_id)
                .map(commerce::CheckoutRec::v3_json)
        })
        .flatten()
    }

    /// An order as `GET /v2/orders/{id}` returns it (Incomplete ones too).
    pub fn order(&self, store_hash: &str, id: u64) -> Option<serde_json::Value> {
        let st = self.shared.lock();
        let o = st.stores.get(store_hash)?.commerce.orders.get(&id)?;
        Some(o.v2_json(
            &st.api_base(store_hash),
            order_statuses::system_name(o.status_id).unwrap_or(""),
        ))
    }

    /// Every order of a store (Incomplete ones too), by id.
    pub fn orders(&self, store_hash: &str) -> Vec<serde_json::Value> {
        let st = self.shared.lock();
        let Some(store) = st.stores.get(store_hash) else {
            return Vec::new();
        };
        let base = st.api_base(store_hash);
        store
            .commerce
            .orders
            .values()
            .map(|o| {
                o.v2_json(
                    &base,
                    order_statuses::system_name(o.status_id).unwrap_or(""),
                )
            })
            .collect()
    }

    /// Every metafield of an order (every client's), as `Metafield` JSON.
    pub fn order_metafields(&self, store_hash: &str, order_id: u64) -> Vec<serde_json::Value> {
        self.with_commerce(store_hash, |c, _| {
            c.metafields
                .iter()
                .filter(|m| m.order_id == order_id)
                .map(commerce::MetafieldRec::to_json)
                .collect()
        })
        .unwrap_or_default()
    }

    /// Makes every checkout token of a store expired (as if its `ttl` had passed).
    pub fn expire_checkout_tokens(&self, store_hash: &str) {
        self.with_commerce(store_hash, |c, _| storefront::expire_tokens(c));
    }

    /// The store's storefront, `{base}/storefront/{hash}` without a trailing `/` (what
    /// `/v2/store` `secure_url` and the channel site report unless the spec overrides them).
    pub fn storefront_url(&self, store_hash: &str) -> String {
        self.shared.lock().own_storefront(store_hash)
    }

    /// The checkout page of a cart, `{storefront}/checkout?cart={id}`: opening it sets the
    /// shopper's cart cookie and redirects to `{storefront}/checkout`, as a browser test
    /// needs.
    pub fn checkout_url(&self, store_hash: &str, checkout_id: &str) -> String {
        self.checkout_url_on(store_hash, 1, checkout_id)
    }

    /// As [`Self::checkout_url`], on a channel's storefront
    /// ([`Self::channel_storefront_url`]); a storefront opens only its own channel's carts.
    ///
    /// # Panics
    /// As [`Self::channel_storefront_url`].
    pub fn checkout_url_on(&self, store_hash: &str, channel_id: u64, checkout_id: &str) -> String {
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("cart", checkout_id)
            .finish();
        format!(
            "{}/checkout?{query}",
            self.channel_storefront_url(store_hash, channel_id)
        )
    }

    /// The cart page of a cart, `{storefront}/cart?cart={id}`: opening it sets the shopper's
    /// cart cookie and redirects to `{storefront}/cart` (Cornerstone's cart: quantities change
    /// in the page). A storefront opens only its own channel's carts.
    ///
    /// # Panics
    /// As [`Self::channel_storefront_url`].
    pub fn cart_url_on(&self, store_hash: &str, channel_id: u64, checkout_id: &str) -> String {
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("cart", checkout_id)
            .finish();
        format!(
            "{}/cart?{query}",
            self.channel_storefront_url(store_hash, channel_id)
        )
    }

    /// A product's page (Cornerstone's product view), `{storefront}/products/{id}`, on a
    /// channel's storefront; category listings are at `{storefront}/categories/{id}`.
    ///
    /// # Panics
    /// As [`Self::channel_storefront_url`].
    pub fn product_url_on(&self, store_hash: &str, channel_id: u64, product_id: u64) -> String {
        format!(
            "{}/products/{product_id}",
            self.channel_storefront_url(store_hash, channel_id)
        )
    }

    /// The merchant edits an order (Actions › Edit order): the `index`-th product line (0
    /// based) gets `quantity`, and the order's totals and `date_modified` follow; fires
    /// `store/order/updated`. `false` when the store, the order or the line does not exist,
    /// `quantity` is 0, or below what was shipped or refunded.
    pub fn set_order_product_quantity(
        &self,
        store_hash: &str,
        order_id: u64,
        index: usize,
        quantity: u64,
    ) -> bool {
        if quantity == 0 {
            return false;
        }
        let mut st = self.shared.lock();
        let Some(line_id) = order_rec(&st, store_hash, order_id)
            .and_then(|o| o.lines.get(index))
            .map(|l| l.id)
        else {
            return false;
        };
        let body = object(json!({"products": [{"id": line_id, "quantity": quantity}]}));
        orders::apply_update(&mut st, store_hash, order_id, &body).is_ok()
    }

    // -----------------------------------------------------------------------------------
    // After the sale: what the merchant does to orders (each goes through the API's code
    // and fires the same webhooks).

    /// An order's products as `GET /v2/orders/{id}/products` returns them.
    pub fn order_products(&self, store_hash: &str, order_id: u64) -> Vec<serde_json::Value> {
        let st = self.shared.lock();
        order_rec(&st, store_hash, order_id)
            .map(commerce::OrderRec::products_json)
            .unwrap_or_default()
    }

    /// An order's shipments as `GET /v2/orders/{id}/shipments` returns them.
    pub fn order_shipments(&self, store_hash: &str, order_id: u64) -> Vec<serde_json::Value> {
        let st = self.shared.lock();
        order_rec(&st, store_hash, order_id)
            .map(|o| o.shipments.iter().map(|s| s.to_json(o)).collect())
            .unwrap_or_default()
    }

    /// An order's shipping addresses as `GET /v2/orders/{id}/shipping_addresses` returns them.
    pub fn order_shipping_addresses(
        &self,
        store_hash: &str,
        order_id: u64,
    ) -> Vec<serde_json::Value> {
        let st = self.shared.lock();
        let api_base = st.api_base(store_hash);
        order_rec(&st, store_hash, order_id)
            .map(|o| o.shipping_addresses_json(&api_base))
            .unwrap_or_default()
    }

    /// An order's refunds as `GET /v3/orders/{id}/payment_actions/refunds` lists them.
    pub fn order_refunds(&self, store_hash: &str, order_id: u64) -> Vec<serde_json::Value> {
        let st = self.shared.lock();
        st.stores
            .get(store_hash)
            .map(|s| {
                s.commerce
                    .refunds
                    .values()
                    .filter(|r| r.order_id == order_id)
                    .map(fulfilment::RefundRec::to_json)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The merchant ships `items` (`(order_product_id, quantity)`) to the order's shipping
    /// address (Actions › Ship items): a shipment, status 3 or 2, and their webhooks.
    /// Returns the shipment id; `None` when BigCommerce would refuse it.
    pub fn ship_items(&self, store_hash: &str, order_id: u64, items: &[(u64, u64)]) -> Option<u64> {
        let mut st = self.shared.lock();
        let address_id = order_rec(&st, store_hash, order_id)?.shipping.as_ref()?.id;
        let fields = fulfilment::ShipmentFields {
            order_address_id: Some(address_id),
            items: Some(items.to_vec()),
            ..Default::default()
        };
        fulfilment::create_shipment(&mut st, store_hash, order_id, fields).ok()
    }

    /// Ships every physical unit not yet shipped, in one shipment. `None` when there is
    /// nothing left to ship.
    pub fn ship_all(&self, store_hash: &str, order_id: u64) -> Option<u64> {
        let items: Vec<(u64, u64)> = {
            let st = self.shared.lock();
            order_rec(&st, store_hash, order_id)?
                .lines
                .iter()
                .filter(|l| !l.digital && l.left_to_ship() > 0)
                .map(|l| (l.id, l.left_to_ship()))
                .collect()
        };
        if items.is_empty() {
            return None;
        }
        self.ship_items(store_hash, order_id, &items)
    }

    /// The merchant deletes a shipment: its units can be shipped again; the status stays.
    pub fn delete_shipment(&self, store_hash: &str, order_id: u64, shipment_id: u64) -> bool {
        let mut st = self.shared.lock();
        fulfilment::delete_shipments(&mut st, store_hash, order_id, Some(shipment_id)).is_ok()
    }

    /// The merchant refunds (Actions › Refund), marked as refunded externally (`custom`,
    /// offline) for the whole amount: status 14 or 4, and the webhooks. Returns the refund
    /// id; `None` when BigCommerce would refuse it.
    pub fn refund(&self, store_hash: &str, order_id: u64, spec: &RefundSpec) -> Option<u64> {
        let mut st = self.shared.lock();
        let order = order_rec(&st, store_hash, order_id)?;
        let items = spec.items_for(order);
        let total = fulfilment::compute(order, &items).ok()?.total;
        let req = fulfilment::RefundRequest {
            items,
            payments: vec![fulfilment::PaymentIn {
                provider_id: "custom".into(),
                amount: total,
                offline: true,
            }],
            merchant_override: None,
        };
        fulfilment::create_refund(&mut st, store_hash, order_id, req).ok()
    }

    /// The merchant changes the status (as `PUT {"status_id"}`): `statusUpdated` when it
    /// changes, and `updated`. `false` for an unknown order or status.
    pub fn set_order_status(&self, store_hash: &str, order_id: u64, status_id: u32) -> bool {
        let mut st = self.shared.lock();
        let body = object(json!({"status_id": status_id}));
        orders::apply_update(&mut st, store_hash, order_id, &body).is_ok()
    }

    /// The merchant archives an order (`store/order/archived`).
    pub fn archive_order(&self, store_hash: &str, order_id: u64) -> bool {
        let mut st = self.shared.lock();
        fulfilment::archive(&mut st, store_hash, order_id).is_ok()
    }

    /// The merchant adds `quantity` of a catalog product to an order (Edit order). Returns
    /// the new order product id.
    pub fn add_order_product(
        &self,
        store_hash: &str,
        order_id: u64,
        product_id: u64,
        quantity: u64,
    ) -> Option<u64> {
        let mut st = self.shared.lock();
        let before: Vec<u64> = order_rec(&st, store_hash, order_id)?
            .lines
            .iter()
            .map(|l| l.id)
            .collect();
        let body = object(json!({"products": [{"product_id": product_id, "quantity": quantity}]}));
        orders::apply_update(&mut st, store_hash, order_id, &body).ok()?;
        order_rec(&st, store_hash, order_id)?
            .lines
            .iter()
            .map(|l| l.id)
            .find(|id| !before.contains(id))
    }

    /// The merchant removes a line from an order (Edit order). `false` when it does not
    /// exist or was shipped or refunded.
    pub fn remove_order_product(
        &self,
        store_hash: &str,
        order_id: u64,
        order_product_id: u64,
    ) -> bool {
        let mut st = self.shared.lock();
        let body = object(json!({"products": [{"id": order_product_id, "quantity": 0}]}));
        orders::apply_update(&mut st, store_hash, order_id, &body).is_ok()
    }

    /// The merchant changes the shipping address's first street line (Edit order).
    pub fn set_order_shipping_street(
        &self,
        store_hash: &str,
        order_id: u64,
        street_1: &str,
    ) -> bool {
        let mut st = self.shared.lock();
        let Some(address_id) = order_rec(&st, store_hash, order_id)
            .and_then(|o| o.shipping.as_ref())
            .map(|s| s.id)
        else {
            return false;
        };
        let body =
            object(json!({"shipping_addresses": [{"id": address_id, "street_1": street_1}]}));
        orders::apply_update(&mut st, store_hash, order_id, &body).is_ok()
    }

    // -----------------------------------------------------------------------------------
    // Webhook delivery controls.

    /// How long one documented second of the retry schedule lasts (default 1 s); e.g.
    /// `Duration::from_micros(10)` runs all eleven retries in under 2 s.
    pub fn set_webhook_time_scale(&self, per_second: Duration) {
        self.shared.lock().outbox.set_time_scale(per_second);
    }

    /// Each event is delivered `n` times (at least once) to each hook, with one `hash`.
    pub fn set_webhook_duplicates(&self, n: usize) {
        self.shared.lock().outbox.set_duplicates(n);
    }

    /// While held, new events are queued but not sent; `hold_webhooks(false)` sends them in
    /// order.
    pub fn hold_webhooks(&self, hold: bool) {
        self.shared.lock().outbox.set_hold(hold);
    }

    /// Sends the held events newest first (out of order) and stops holding.
    pub fn release_webhooks_reversed(&self) {
        self.shared.lock().outbox.release(true);
    }

    /// Every delivery attempt so far, in the order they finished.
    pub fn webhook_deliveries(&self) -> Vec<WebhookDelivery> {
        self.shared.lock().outbox.deliveries()
    }

    /// Deliveries queued (held or waiting for a retry included) or in flight.
    pub fn pending_webhooks(&self) -> usize {
        self.shared.lock().outbox.pending()
    }

    /// `Some(wait)` when every delivery queued is a retry due `wait` from now (nothing in
    /// flight, held or due): moving the clock that far sends it.
    pub fn webhook_retries_ahead(&self) -> Option<Duration> {
        self.shared.lock().outbox.only_retries_ahead()
    }

    /// Waits until no delivery is queued or in flight; `false` if `timeout` passes first.
    pub async fn webhooks_settled(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.pending_webhooks() == 0 {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    pub fn clear_requests(&self) {
        self.shared.lock().requests.clear();
    }

    /// All webhooks on a store (every client), as `webhook_Full` JSON.
    pub fn webhooks(&self, store_hash: &str) -> Vec<serde_json::Value> {
        let st = self.shared.lock();
        st.webhooks
            .iter()
            .filter(|h| h.store_hash == store_hash)
            .map(state::Webhook::to_json)
            .collect()
    }

    /// All scripts on a store (every client), as `script_Full` JSON (`api_client_id` = owner).
    pub fn scripts(&self, store_hash: &str) -> Vec<serde_json::Value> {
        let st = self.shared.lock();
        st.scripts
            .iter()
            .filter(|s| s.store_hash == store_hash)
            .map(state::Script::to_json)
            .collect()
    }

    /// All App Extensions on a store (every client), as the GraphQL `AppExtension` node.
    pub fn app_extensions(&self, store_hash: &str) -> Vec<serde_json::Value> {
        let st = self.shared.lock();
        st.extensions
            .iter()
            .filter(|e| e.store_hash == store_hash)
            .map(state::AppExtension::to_json)
            .collect()
    }

    pub fn external_install_reports(&self) -> Vec<ExternalInstallReport> {
        self.shared.lock().external_reports.clone()
    }

    /// Whether the app holds a live token for the store.
    pub fn access_token_valid(&self, store_hash: &str) -> bool {
        self.shared.lock().app_token(store_hash).is_some()
    }

    /// The app's live token for the store, if installed.
    pub fn access_token(&self, store_hash: &str) -> Option<String> {
        self.shared.lock().app_token(store_hash).map(str::to_owned)
    }

    /// Mints a token for another app or API account on a store (to test per-client
    /// isolation). `scopes` is space separated.
    pub fn issue_token(&self, store_hash: &str, client_id: &str, scopes: &str) -> String {
        self.shared
            .lock()
            .issue_token(store_hash, client_id, scopes)
    }

    /// The next `times` requests whose method matches and whose path contains
    /// `path_contains` get `status` with the area's error body (v2 array, v3 object, or
    /// the login error) instead of being handled. Rules are consumed in insertion order.
    pub fn fail_next(&self, method: &str, path_contains: &str, status: u16, times: usize) {
        if times == 0 {
            return;
        }
        self.shared.lock().failures.push(state::FailRule {
            method: method.to_owned(),
            path_contains: path_contains.to_owned(),
            status,
            remaining: times,
            bare: false,
        });
    }

    /// The next `times` matching requests (as [`fail_next`](Self::fail_next)) get 429
    /// **without** any rate-limit header: BigCommerce's answer under platform load, which
    /// says only "retry later" (spec §7). The store's quota is not touched.
    pub fn overload_next(&self, method: &str, path_contains: &str, times: usize) {
        if times == 0 {
            return;
        }
        self.shared.lock().failures.push(state::FailRule {
            method: method.to_owned(),
            path_contains: path_contains.to_owned(),
            status: 429,
            remaining: times,
            bare: true,
        });
    }

    /// How many failures set with `fail_next` / `overload_next` are still to be answered.
    /// Drops every failure set with [`Self::fail_next`] or [`Self::overload_next`] and not yet
    /// answered: BigCommerce has recovered.
    pub fn clear_failures(&self) {
        self.shared.lock().failures.clear();
    }

    pub fn pending_failures(&self) -> usize {
        self.shared
            .lock()
            .failures
            .iter()
            .map(|f| f.remaining)
            .sum()
    }

    /// Right after the store's next `GET /v2/orders` page (a 200 answer), `body` is applied
    /// to the order as `PUT /v2/orders/{id}` applies it, webhooks included: someone else's
    /// change while a client pages through the list. A body `PUT` refuses changes nothing.
    pub fn edit_order_after_next_list(
        &self,
        store_hash: &str,
        order_id: u64,
        body: serde_json::Value,
    ) {
        self.shared
            .lock()
            .list_edits
            .push((store_hash.to_owned(), order_id, object(body)));
    }

    /// Whether the orders list's `min_id`/`max_id` and `min_…`/`max_…_date` filters include
    /// their own value is not documented [U]: the stand-in includes it unless this is set, and
    /// a client must read every order either way.
    pub fn set_exclusive_list_bounds(&self, exclusive: bool) {
        self.shared.lock().exclusive_list_bounds = exclusive;
    }

    /// Whether BigCommerce's checkout, paying a cart with another method, completes the
    /// Incomplete order an app made from it with `POST /v3/checkouts/{id}/orders` (the
    /// checkout's `order_id`) rather than making an order of its own, is not documented [U]:
    /// the stand-in makes its own unless this is set, and a client must be safe either way.
    pub fn set_checkout_reuses_incomplete_order(&self, reuse: bool) {
        self.shared.lock().reuse_incomplete_orders = reuse;
    }

    /// Every API call (`/stores/…`) answers only after `d` (a slow BigCommerce).
    pub fn set_api_latency(&self, d: std::time::Duration) {
        self.shared.lock().api_latency = d;
    }

    /// Requests per 30 s window per store before 429 (default 450, the Pro plan).
    pub fn set_rate_limit_quota(&self, quota: u32) {
        self.shared.lock().rate_quota = quota;
    }

    /// Requests the store has spent in its current window (counting nothing).
    pub fn rate_limit_used(&self, store_hash: &str) -> u32 {
        let mut st = self.shared.lock();
        let rate = st.rate_tick(store_hash, false);
        rate.quota - rate.left
    }

    /// Requests the store was refused with 429 because its quota was spent, since start.
    pub fn rate_limited_answers(&self, store_hash: &str) -> u32 {
        self.shared
            .lock()
            .rate_refused
            .get(store_hash)
            .copied()
            .unwrap_or(0)
    }

    /// Sets `is_active = false`, as BigCommerce does after the last failed retry.
    /// Returns whether the hook exists.
    pub fn deactivate_webhook(&self, store_hash: &str, id: u64) -> bool {
        let mut st = self.shared.lock();
        let now = state::now_unix();
        match st
            .webhooks
            .iter_mut()
            .find(|h| h.store_hash == store_hash && h.id == id)
        {
            Some(h) => {
                h.is_active = false;
                h.deactivated = true;
                h.updated_at = now;
                true
            }
            None => false,
        }
    }

    /// Makes every outstanding grant code expired (as if 10 minutes had passed).
    pub fn expire_pending_codes(&self) {
        let mut st = self.shared.lock();
        for code in st.codes.values_mut() {
            code.issued_at -= state::CODE_TTL_SECS + 1;
        }
    }

    /// The merchant clicks Install: creates a single-use grant code and returns the
    /// `/bc/auth` URL the control panel opens in its iframe.
    ///
    /// # Panics
    /// If the store was not added with [`Self::add_store`].
    pub fn begin_install(&self, store_hash: &str, user: &User) -> Url {
        self.shared.begin_install(store_hash, user, false)
    }

    /// As [`Self::begin_install`], for an install started at
    /// `login.bigcommerce.com/app/{client_id}/install`: adds `external_install=1`.
    ///
    /// # Panics
    /// If the store was not added with [`Self::add_store`].
    pub fn begin_external_install(&self, store_hash: &str, user: &User) -> Url {
        self.shared.begin_install(store_hash, user, true)
    }

    /// The merchant opens the app from the Apps menu: `{app_url}/bc/load?signed_payload_jwt=…`
    /// with `url` = `url_path` and `channel_id` null.
    pub fn load_url(&self, store_hash: &str, user: &User, url_path: &str) -> Url {
        self.shared.load_url(store_hash, user, url_path, None)
    }

    /// The merchant clicks "seQura order information" on an order: a load with
    /// `url` = `/orders/{id}/sequra` and `channel_id` 1.
    pub fn order_panel_url(&self, store_hash: &str, user: &User, order_id: u64) -> Url {
        self.shared.load_url(
            store_hash,
            user,
            &format!("/orders/{order_id}/sequra"),
            Some(1),
        )
    }

    /// The `signed_payload_jwt` BigCommerce would send (claims of spec §1.4).
    pub fn signed_payload_jwt(
        &self,
        store_hash: &str,
        user: &User,
        url_path: &str,
        channel_id: Option<u64>,
    ) -> String {
        self.shared
            .signed_payload_jwt(store_hash, user, url_path, channel_id)
    }

    /// Signs arbitrary claims with HS256 and the client secret, to craft variants.
    pub fn mint_signed_payload_jwt(&self, claims: &serde_json::Value) -> String {
        self.shared.mint_jwt(claims)
    }

    /// The merchant uninstalls the app: BigCommerce GETs `{app_url}/bc/uninstall` server-side,
    /// then revokes the token and deletes the app's webhooks, `auto_uninstall` scripts and
    /// App Extensions on that store, whatever the app answered. Returns the app's status.
    pub async fn uninstall(&self, store_hash: &str) -> anyhow::Result<u16> {
        self.shared.uninstall(store_hash).await
    }

    /// The store owner removes a user: BigCommerce GETs `{app_url}/bc/remove-user`.
    /// Returns the app's status.
    pub async fn remove_user(&self, store_hash: &str, user_id: u64) -> anyhow::Result<u16> {
        self.shared.remove_user(store_hash, user_id).await
    }
}

/// What [`BigCommerceStandIn::refund`] refunds; amounts in cents, tax included.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RefundSpec {
    /// `(order_product_id, quantity)`.
    pub items: Vec<(u64, u64)>,
    /// A `SHIPPING` item for the order's shipping address (0: none).
    pub shipping_cents: i64,
    /// An `ORDER` (order-level, tax-exempt) item (0: none).
    pub order_cents: i64,
}

impl RefundSpec {
    fn items_for(&self, order: &commerce::OrderRec) -> Vec<fulfilment::RefundItemIn> {
        let mut items: Vec<fulfilment::RefundItemIn> = self
            .items
            .iter()
            .map(|(id, quantity)| fulfilment::RefundItemIn::Product {
                id: *id,
                quantity: *quantity,
                adjustments: Vec::new(),
                reason: String::new(),
            })
            .collect();
        if self.shipping_cents != 0 {
            items.push(fulfilment::RefundItemIn::Amount {
                kind: "SHIPPING".into(),
                id: order.shipping.as_ref().map(|s| s.id).unwrap_or(0),
                amount: self.shipping_cents.saturating_mul(100),
                reason: String::new(),
            });
        }
        if self.order_cents != 0 {
            items.push(fulfilment::RefundItemIn::Amount {
                kind: "ORDER".into(),
                id: order.id,
                amount: self.order_cents.saturating_mul(100),
                reason: String::new(),
            });
        }
        items
    }
}

fn order_rec<'a>(st: &'a State, store_hash: &str, order_id: u64) -> Option<&'a commerce::OrderRec> {
    st.stores.get(store_hash)?.commerce.orders.get(&order_id)
}

/// The object of a `json!` literal.
fn object(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match v {
        serde_json::Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}

/// BigCommerce's v3 error for a request refused before dispatch.
fn refused(refusal: Refusal) -> Resp {
    match refusal {
        Refusal::TooLarge => respond::v3_error(413, "The request body is too large."),
        Refusal::LengthRequired => respond::v3_error(411, "A Content-Length header is required."),
        Refusal::Invalid => respond::v3_error(400, "Input is invalid."),
    }
}

async fn dispatch(shared: Arc<Shared>, req: Incoming) -> Resp {
    let (injected, latency) = {
        let mut st = shared.lock();
        st.requests.push(req.record());
        (
            st.take_failure(req.method.as_str(), &req.path),
            st.api_latency,
        )
    };
    if !latency.is_zero() && req.path.starts_with("/stores/") {
        tokio::time::sleep(latency).await;
    }
    let segments: Vec<String> = req
        .path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();

    if let Some((status, bare)) = injected {
        return injected_failure(&shared, &segs, status, bare);
    }

    match segs.as_slice() {
        ["oauth2", "token"] => login::token(&shared, &req),
        ["app", client_id, "install", outcome] => {
            login::install_report(&shared, &req, client_id, outcome)
        }
        ["stores", store_hash, rest @ ..] => api::handle(&shared, &req, store_hash, rest),
        ["storefront", store_hash, rest @ ..] => {
            storefront::handle(&shared, &req, store_hash, rest)
        }
        ["api", "storefront", rest @ ..] => storefront::root_api(&shared, &req, rest),
        [] | ["manage", ..] => control_panel::page(&shared, &req, &segs).await,
        _ => respond::text(404, "Not Found"),
    }
}

/// A request to the own listener of channel `channel_id`'s storefront.
fn channel_dispatch(shared: &Shared, req: &Incoming, store_hash: &str, channel_id: u64) -> Resp {
    let segs: Vec<&str> = req.path.split('/').filter(|s| !s.is_empty()).collect();
    storefront::handle_channel(shared, req, store_hash, channel_id, &segs)
}

/// The response for a request hit by [`BigCommerceStandIn::fail_next`].
fn injected_failure(shared: &Shared, segs: &[&str], status: u16, bare: bool) -> Resp {
    let title = respond::reason(status);
    match segs {
        ["oauth2", ..] => respond::oauth_error(status, "server_error", title),
        ["stores", store_hash, rest @ ..] => {
            let mut resp = if rest.first() == Some(&"v2") {
                respond::v2_error(status, title)
            } else {
                respond::v3_error(status, title)
            };
            if bare {
                return resp;
            }
            let mut st = shared.lock();
            let mut rate = st.rate_tick(store_hash, false);
            if status == 429 {
                rate.left = 0;
            }
            api::add_rate_headers(&mut resp, &rate, status == 429);
            resp
        }
        _ => respond::text(status, title),
    }
}
