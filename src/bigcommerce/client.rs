//! HTTP client for BigCommerce: the login service's token exchange and a store's REST v2/v3
//! and GraphQL APIs. Base URLs come from config so tests and the demo use the stand-in.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use url::Url;

use super::checkouts::Checkout;
use super::models::{Order, OrderProduct, OrderSummary, Refund, Shipment, ShippingAddress};
use super::quota::{QuotaBook, Refused, Spender};
use crate::config::SecretString;
use crate::domain::StoreHash;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const TOTAL_TIMEOUT: Duration = Duration::from_secs(20);

/// Why a BigCommerce call failed, classified because callers act differently on each.
/// Messages are safe to show a merchant: no token or secret is ever in them.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BcError {
    #[error("BigCommerce refused the app's credentials (401): {0}")]
    Unauthorized(String),
    #[error("the app lacks a permission in this store (403): {0}")]
    Forbidden(String),
    #[error("not found at BigCommerce (404): {0}")]
    NotFound(String),
    #[error("BigCommerce rejected the request ({status}): {message}")]
    Rejected { status: u16, message: String },
    #[error("BigCommerce rate limit reached; retry in {retry_after_ms} ms")]
    RateLimited { retry_after_ms: u64 },
    /// Not sent: this anonymous caller has spent its part of the store's quota.
    #[error("this caller's part of the store's BigCommerce quota is spent")]
    CallerLimited,
    #[error("BigCommerce is unreachable or failing: {0}")]
    Transient(String),
    #[error("unexpected answer from BigCommerce: {0}")]
    Invalid(String),
}

impl BcError {
    /// Whether the same request may succeed later (5xx, timeout, connection, rate limit).
    pub fn is_transient(&self) -> bool {
        matches!(self, BcError::Transient(_) | BcError::RateLimited { .. })
    }
}

/// The shared HTTP client and the configured BigCommerce hosts.
#[derive(Clone)]
pub struct BigCommerce {
    http: reqwest::Client,
    login_url: Url,
    api_url: Url,
    client_id: String,
    client_secret: SecretString,
    quota: Arc<QuotaBook>,
}

/// A user as the token endpoint returns it.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct TokenUser {
    pub id: u64,
    #[serde(default)]
    pub username: Option<String>,
    pub email: String,
}

/// `POST /oauth2/token` response (bigcommerce-api.md §1.3).
#[derive(Debug, Clone, Deserialize)]
pub struct TokenResponse {
    pub access_token: SecretString,
    #[serde(default)]
    pub scope: String,
    pub user: TokenUser,
    pub owner: TokenUser,
    pub context: String,
    #[serde(default)]
    pub account_uuid: Option<String>,
}

/// The parts of `GET /v2/store` the app keeps.
#[derive(Debug, Clone, Deserialize)]
pub struct StoreInfo {
    pub id: String,
    #[serde(default, deserialize_with = "string_or_number")]
    pub store_id: Option<String>,
    #[serde(default)]
    pub name: String,
    /// ISO 3166-1 alpha-2 country of the store (`store_information.v2.yml`).
    #[serde(default)]
    pub country_code: Option<String>,
    /// The storefront's HTTPS address, e.g. `https://shop.example.com`.
    #[serde(default)]
    pub secure_url: Option<String>,
    /// The store's language, e.g. `es`.
    #[serde(default)]
    pub language: Option<String>,
}

fn string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

/// A webhook as `/v3/hooks` returns it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Webhook {
    pub id: i64,
    pub scope: String,
    pub destination: String,
    #[serde(default)]
    pub is_active: bool,
    #[serde(default)]
    pub headers: Option<serde_json::Map<String, Value>>,
}

/// A script as `/v3/content/scripts` returns it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Script {
    pub uuid: String,
    pub name: String,
    /// The storefront channel it renders on (1 when the script says nothing).
    #[serde(default = "default_channel")]
    pub channel_id: u64,
    #[serde(default)]
    pub src: Option<String>,
    /// `null` for a script without hashes reads as none.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub integrity_hashes: Vec<String>,
    #[serde(default)]
    pub load_method: Option<String>,
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default)]
    pub visibility: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub consent_category: Option<String>,
    #[serde(default)]
    pub auto_uninstall: Option<bool>,
    #[serde(default)]
    pub enabled: Option<bool>,
}

fn default_channel() -> u64 {
    1
}

/// A channel of the store (`GET /v3/channels`).
#[derive(Debug, Clone, Deserialize)]
pub struct Channel {
    pub id: u64,
    #[serde(default)]
    pub name: String,
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub platform: String,
    #[serde(default)]
    pub status: String,
}

/// A channel's site addresses, no trailing `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub url: String,
    /// The checkout's own address, when it is not the site's.
    pub checkout_url: Option<String>,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

/// An App Extension as the GraphQL Admin API returns it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct AppExtension {
    pub id: String,
    pub url: String,
    pub model: String,
    pub context: String,
}

/// An order status as `GET /v2/order_statuses` returns it (spec §3.4). `custom_label` is the
/// merchant's name for it; the system name when BigCommerce leaves it blank.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderStatus {
    pub id: u32,
    pub name: String,
    #[serde(default)]
    pub custom_label: String,
}

/// A shipping zone from `GET /v2/shipping/zones`, with the countries of its locations
/// (uppercase, deduplicated, in order). A `global` zone has no countries: it covers the rest
/// of the world. Serializes with `type` for `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShippingZone {
    pub id: u64,
    pub name: String,
    /// `zip`, `country`, `state` or `global`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub countries: Vec<String>,
}

/// A catalog product (`GET /v3/catalog/products`, the fields the app asks for).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogProduct {
    pub id: u64,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub sku: String,
    /// Category ids.
    #[serde(default)]
    pub categories: Vec<u64>,
    /// Only with [`StoreApi::products_with_custom_fields`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_fields: Vec<CustomField>,
}

/// A product custom field (`include=custom_fields`): a name and a value the merchant sets,
/// at most 250 characters each.
/// <https://developer.bigcommerce.com/docs/rest-catalog/products/custom-fields>
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomField {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub value: String,
}

/// A catalog category (`GET /v3/catalog/categories`); `parent_id` 0 is top level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogCategory {
    pub id: u64,
    #[serde(default)]
    pub parent_id: u64,
    #[serde(default)]
    pub name: String,
}

/// The order fields the app writes with `PUT /v2/orders/{id}`; `None` fields are left out
/// of the body, so BigCommerce leaves them unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OrderUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_id: Option<u32>,
    /// The label the merchant and shopper see, e.g. `seQura – Paga en 3 plazos`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_method: Option<String>,
    /// The provider's payment reference (the seQura order uuid).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_provider_id: Option<String>,
}

/// An order metafield as `/v3/orders/{id}/metafields` returns it (the fields the app reads).
#[derive(Debug, Clone, Deserialize)]
struct Metafield {
    id: u64,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    permission_set: String,
}

impl Metafield {
    /// The app's own metafield `namespace`/`key` among `listed`. BigCommerce keeps one per
    /// client: another app (or an API account) may have one of the same name on the order,
    /// visible to every client unless `app_only`. The app writes only `app_only` ones, and
    /// another client's `app_only` ones are never listed to it: those are its own.
    fn own(listed: Vec<Self>, namespace: &str, key: &str) -> Option<Self> {
        listed
            .into_iter()
            .find(|m| m.namespace == namespace && m.key == key && m.permission_set == "app_only")
    }
}

/// The v2 zone object; only what [`ShippingZone`] keeps.
#[derive(Deserialize)]
struct RawZone {
    id: u64,
    #[serde(default)]
    name: String,
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    locations: Vec<RawZoneLocation>,
}

#[derive(Deserialize)]
struct RawZoneLocation {
    #[serde(default)]
    country_iso2: Option<String>,
}

impl From<RawZone> for ShippingZone {
    fn from(z: RawZone) -> Self {
        let mut countries: Vec<String> = Vec::new();
        for code in z.locations.into_iter().filter_map(|l| l.country_iso2) {
            let code = code.trim().to_ascii_uppercase();
            if !code.is_empty() && !countries.contains(&code) {
                countries.push(code);
            }
        }
        ShippingZone {
            id: z.id,
            name: z.name,
            kind: z.kind,
            countries,
        }
    }
}

/// What a read of the orders modified since a date got.
#[derive(Debug)]
pub struct ModifiedOrders {
    /// Oldest modification first.
    pub orders: Vec<OrderSummary>,
    /// `None`: every order modified since was read. Otherwise the read stopped at its bound:
    /// every order modified before this second is in `orders`; from it on, some may not be.
    pub resume_at: Option<i64>,
}

/// The product fields the app reads; BigCommerce always adds `id`.
const PRODUCT_FIELDS: &str = "id,name,sku,categories";
const CATEGORY_FIELDS: &str = "id,parent_id,name";
/// BigCommerce's largest `limit` (spec §7).
const MAX_LIMIT: u32 = 250;
/// Pages read from a v2 collection (250 × 40 = 10 000 rows); a longer one is refused.
const MAX_V2_PAGES: u32 = 40;
/// Ids per `id:in` request, to keep URLs short.
const IDS_PER_REQUEST: usize = 50;
/// Products of the excluded categories the storefront's widgets are told about: a bound on
/// the quota one store's read spends and on the widget settings' size.
pub const MAX_CATEGORY_PRODUCTS: usize = 5000;

impl BigCommerce {
    pub fn new(
        login_url: Url,
        api_url: Url,
        client_id: String,
        client_secret: SecretString,
    ) -> Result<Self, BcError> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(TOTAL_TIMEOUT)
            .user_agent(concat!("sequra-bc/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| BcError::Invalid(e.to_string()))?;
        Ok(Self {
            http,
            login_url,
            api_url,
            client_id,
            client_secret,
            quota: Arc::default(),
        })
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    pub fn login_url(&self) -> &Url {
        &self.login_url
    }

    /// Exchanges an install `code` for a store token.
    /// <https://developer.bigcommerce.com/docs/integrations/apps/guide/auth>
    pub async fn exchange_code(
        &self,
        code: &str,
        scope: &str,
        context: &str,
        redirect_uri: &str,
    ) -> Result<TokenResponse, BcError> {
        let url = join(&self.login_url, "oauth2/token");
        let body = json!({
            "client_id": self.client_id,
            "client_secret": self.client_secret.expose(),
            "code": code,
            "context": context,
            "scope": scope,
            "grant_type": "authorization_code",
            "redirect_uri": redirect_uri,
        });
        let resp = self
            .http
            .post(url)
            .header("Accept", "application/json")
            .json(&body)
            .send()
            .await
            .map_err(transport)?;
        decode(resp).await
    }

    /// Where an `external_install` reports its outcome.
    /// <https://developer.bigcommerce.com/docs/integrations/apps/guide/buttons>
    pub fn external_install_report_url(&self, succeeded: bool) -> Url {
        join(
            &self.login_url,
            &format!(
                "app/{}/install/{}",
                self.client_id,
                if succeeded { "succeeded" } else { "failed" }
            ),
        )
    }

    /// The API of one store, authenticated with its token.
    pub fn store(&self, hash: &StoreHash, token: SecretString) -> StoreApi {
        StoreApi {
            http: self.http.clone(),
            base: join(&self.api_url, &format!("stores/{hash}/")),
            token,
            store: hash.to_string(),
            quota: self.quota.clone(),
            spender: Spender::App,
        }
    }
}

/// One store's REST and GraphQL APIs.
#[derive(Clone)]
pub struct StoreApi {
    http: reqwest::Client,
    base: Url,
    token: SecretString,
    store: String,
    quota: Arc<QuotaBook>,
    /// Calls made for an anonymous shopper stop at the store's quota reserve and at the
    /// caller's part of the shoppers' share.
    spender: Spender,
}

/// `{data, meta}` envelope of v3 responses.
#[derive(Deserialize)]
struct Envelope<T> {
    data: T,
    #[serde(default)]
    meta: Option<Value>,
}

impl StoreApi {
    /// This client's calls serve an anonymous caller at `ip`: they are refused (without
    /// calling) once the store's quota is down to the job queue's reserve (as rate limited)
    /// or the caller's part of the shoppers' share is spent ([`BcError::CallerLimited`]).
    pub fn for_shopper(mut self, ip: Option<std::net::IpAddr>) -> Self {
        self.spender = Spender::Shopper {
            caller: ip.map(crate::domain::caller_network),
            unseen: false,
        };
        self
    }

    /// This client's calls serve seQura's configuration webhook: like a shopper's, they stop
    /// at the store's quota reserve (the job queue's), and all of seQura's calls together
    /// spend one caller's part of the shoppers' share (paging through a catalog must not
    /// starve a checkout or an order sync).
    pub fn for_remote(self) -> Self {
        self.for_shopper(None)
    }

    /// This client's calls look up a checkout id not yet seen to exist: they draw on the
    /// part of the shoppers' share such lookups may spend (a flood of made-up ids).
    pub fn for_unseen_checkout(&self) -> Self {
        let mut api = self.clone();
        if let Spender::Shopper { caller, .. } = api.spender {
            api.spender = Spender::Shopper {
                caller,
                unseen: true,
            };
        }
        api
    }

    /// Sends with the store's token, after the reserve check; every answer's rate-limit
    /// headers are recorded for the next check.
    async fn execute(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, BcError> {
        match self
            .quota
            .spend(&self.store, self.spender, crate::clock::instant())
        {
            Ok(()) => {}
            Err(Refused::Store(wait)) => {
                crate::metrics::rate_limited("bigcommerce_store_reserve");
                return Err(BcError::RateLimited {
                    retry_after_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1),
                });
            }
            Err(Refused::Caller(_)) => {
                crate::metrics::rate_limited("bigcommerce_caller_share");
                return Err(BcError::CallerLimited);
            }
        }
        let started = std::time::Instant::now();
        let sent = req
            .header("X-Auth-Token", self.token.expose())
            .header("Accept", "application/json")
            .send()
            .await;
        crate::metrics::outbound(
            "bigcommerce",
            sent.as_ref().map_or(0, |r| r.status().as_u16()),
            started.elapsed(),
        );
        let resp = sent.map_err(transport)?;
        self.quota.record(
            &self.store,
            resp.status().as_u16(),
            resp.headers(),
            crate::clock::instant(),
        );
        Ok(resp)
    }

    async fn send<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T, BcError> {
        self.send_to(method, join(&self.base, path), body).await
    }

    /// `GET path?query` with each value percent-encoded (keys are the app's own constants).
    async fn get_with<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, BcError> {
        let mut url = join(&self.base, path);
        let qs = query
            .iter()
            .map(|(k, v)| format!("{k}={}", encode_query_value(v)))
            .collect::<Vec<_>>()
            .join("&");
        url.set_query((!qs.is_empty()).then_some(qs.as_str()));
        self.send_to(reqwest::Method::GET, url, None).await
    }

    async fn send_to<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<T, BcError> {
        let mut req = self.http.request(method, url);
        if let Some(body) = body {
            req = req.json(body);
        }
        decode(self.execute(req).await?).await
    }

    /// <https://developer.bigcommerce.com/docs/rest-management/store-information#get-store-information>
    pub async fn store_info(&self) -> Result<StoreInfo, BcError> {
        self.send(reqwest::Method::GET, "v2/store", None).await
    }

    /// The store's order statuses with the merchant's labels (a blank `custom_label` becomes
    /// the system name).
    /// <https://developer.bigcommerce.com/docs/rest-management/orders/order-status#get-all-order-statuses>
    pub async fn order_statuses(&self) -> Result<Vec<OrderStatus>, BcError> {
        let statuses: Option<Vec<OrderStatus>> = self
            .send(reqwest::Method::GET, "v2/order_statuses", None)
            .await?;
        Ok(statuses
            .unwrap_or_default()
            .into_iter()
            .map(|mut s| {
                if s.custom_label.trim().is_empty() {
                    s.custom_label = s.name.clone();
                }
                s
            })
            .collect())
    }

    /// The store's shipping zones; none (204 or an empty body) is an empty list.
    /// <https://developer.bigcommerce.com/docs/rest-management/shipping-v2/shipping-zones#get-all-shipping-zones>
    pub async fn shipping_zones(&self) -> Result<Vec<ShippingZone>, BcError> {
        let zones: Option<Vec<RawZone>> = self
            .send(reqwest::Method::GET, "v2/shipping/zones", None)
            .await?;
        Ok(zones
            .unwrap_or_default()
            .into_iter()
            .map(ShippingZone::from)
            .collect())
    }

    /// Up to `limit` (1–250) products whose name, SKU, description or brand matches
    /// `keyword`; a blank keyword lists the first products.
    /// <https://developer.bigcommerce.com/docs/rest-catalog/products#get-all-products>
    pub async fn search_products(
        &self,
        keyword: &str,
        limit: u32,
    ) -> Result<Vec<CatalogProduct>, BcError> {
        self.products_page(keyword, 1, limit).await
    }

    /// Page `page` (from 1) of `limit` (1–250) products whose name, SKU, description or brand
    /// matches `keyword` (a blank one: every product), by name (as a person looks for one, and
    /// as seQura's plugins list them).
    /// <https://developer.bigcommerce.com/docs/rest-catalog/products#get-all-products>
    pub async fn products_page(
        &self,
        keyword: &str,
        page: u32,
        limit: u32,
    ) -> Result<Vec<CatalogProduct>, BcError> {
        let path = "v3/catalog/products";
        let by_name = [("sort", "name"), ("direction", "asc")];
        self.catalog_page(
            path,
            PRODUCT_FIELDS,
            ("keyword", keyword),
            &by_name,
            page,
            limit,
        )
        .await
    }

    /// Page `page` (from 1) of `limit` (1–250) rows of the catalog list at `path` with `fields`
    /// in the `order` given (query parameters; none: BigCommerce's), filtered by `search`'s
    /// value as its query parameter when the value is not blank.
    async fn catalog_page<T: DeserializeOwned>(
        &self,
        path: &str,
        fields: &str,
        (param, search): (&str, &str),
        order: &[(&str, &str)],
        page: u32,
        limit: u32,
    ) -> Result<Vec<T>, BcError> {
        let (page, limit) = (
            page.max(1).to_string(),
            limit.clamp(1, MAX_LIMIT).to_string(),
        );
        let search = search.trim();
        let mut query = vec![
            ("include_fields", fields),
            ("page", page.as_str()),
            ("limit", limit.as_str()),
        ];
        if !search.is_empty() {
            query.insert(0, (param, search));
        }
        query.extend_from_slice(order);
        let env: Envelope<Vec<T>> = self.get_with(path, &query).await?;
        Ok(env.data)
    }

    /// Page `page` (from 1) of `limit` (1–250) categories whose name contains `name`
    /// (`name:like`; a blank one: every category), in BigCommerce's order.
    /// <https://developer.bigcommerce.com/docs/rest-catalog/categories#get-all-categories>
    pub async fn categories_page(
        &self,
        name: &str,
        page: u32,
        limit: u32,
    ) -> Result<Vec<CatalogCategory>, BcError> {
        let path = "v3/catalog/categories";
        self.catalog_page(path, CATEGORY_FIELDS, ("name:like", name), &[], page, limit)
            .await
    }

    /// The categories with these ids (unknown ids are left out), in BigCommerce's order.
    /// <https://developer.bigcommerce.com/docs/rest-catalog/categories#get-all-categories>
    pub async fn categories_by_id(&self, ids: &[u64]) -> Result<Vec<CatalogCategory>, BcError> {
        self.catalog_by_id("v3/catalog/categories", CATEGORY_FIELDS, ids, None)
            .await
    }

    /// The products with these ids (unknown ids are left out), in BigCommerce's order.
    /// <https://developer.bigcommerce.com/docs/rest-catalog/products#get-all-products>
    pub async fn products_by_id(&self, ids: &[u64]) -> Result<Vec<CatalogProduct>, BcError> {
        self.products_by_id_with(ids, None).await
    }

    /// [`StoreApi::products_by_id`] with each product's custom fields (`include=custom_fields`,
    /// in the same requests).
    pub async fn products_with_custom_fields(
        &self,
        ids: &[u64],
    ) -> Result<Vec<CatalogProduct>, BcError> {
        self.products_by_id_with(ids, Some("custom_fields")).await
    }

    async fn products_by_id_with(
        &self,
        ids: &[u64],
        include: Option<&str>,
    ) -> Result<Vec<CatalogProduct>, BcError> {
        self.catalog_by_id("v3/catalog/products", PRODUCT_FIELDS, ids, include)
            .await
    }

    /// The rows of the catalog list at `path` with these ids (each asked once; unknown ids are
    /// left out), `fields` and `include`, in BigCommerce's order.
    async fn catalog_by_id<T: DeserializeOwned>(
        &self,
        path: &str,
        fields: &str,
        ids: &[u64],
        include: Option<&str>,
    ) -> Result<Vec<T>, BcError> {
        let mut unique: Vec<u64> = Vec::with_capacity(ids.len());
        for id in ids {
            if !unique.contains(id) {
                unique.push(*id);
            }
        }
        let limit = MAX_LIMIT.to_string();
        let mut out = Vec::new();
        for chunk in unique.chunks(IDS_PER_REQUEST) {
            let list = chunk
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(",");
            let mut query = vec![
                ("id:in", list.as_str()),
                ("include_fields", fields),
                ("limit", &limit),
            ];
            if let Some(include) = include {
                query.push(("include", include));
            }
            let env: Envelope<Vec<T>> = self.get_with(path, &query).await?;
            out.extend(env.data);
        }
        Ok(out)
    }

    /// The ids of the products assigned to any of `categories`, at most `MAX_CATEGORY_PRODUCTS`
    /// (pages of 250 until a short page). `categories:in` matches the categories a product is
    /// assigned to, not their subcategories: as the checkout's own check does.
    /// <https://developer.bigcommerce.com/docs/rest-catalog/products#get-all-products>
    pub async fn products_in_categories(&self, categories: &[u64]) -> Result<Vec<u64>, BcError> {
        #[derive(Deserialize)]
        struct Id {
            id: u64,
        }
        let mut out = Vec::new();
        if categories.is_empty() {
            return Ok(out);
        }
        let list = categories
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let limit = MAX_LIMIT.to_string();
        for page in 1..=(MAX_CATEGORY_PRODUCTS / MAX_LIMIT as usize) {
            let page = page.to_string();
            let env: Envelope<Vec<Id>> = self
                .get_with(
                    "v3/catalog/products",
                    &[
                        ("categories:in", &list),
                        ("include_fields", "id"),
                        ("limit", &limit),
                        ("page", &page),
                    ],
                )
                .await?;
            let n = env.data.len();
            out.extend(env.data.into_iter().map(|p| p.id));
            if n < MAX_LIMIT as usize {
                break;
            }
        }
        Ok(out)
    }

    /// Up to `limit` (1–250) categories whose name contains `name` (`name:like`); a blank
    /// name lists the first categories.
    /// <https://developer.bigcommerce.com/docs/rest-catalog/categories#get-all-categories>
    pub async fn search_categories(
        &self,
        name: &str,
        limit: u32,
    ) -> Result<Vec<CatalogCategory>, BcError> {
        self.categories_page(name, 1, limit).await
    }

    /// Every webhook of this app in the store, across pages.
    /// <https://developer.bigcommerce.com/docs/rest-management/webhooks#get-webhooks>
    pub async fn list_webhooks(&self) -> Result<Vec<Webhook>, BcError> {
        self.list_v3("v3/hooks").await
    }

    /// <https://developer.bigcommerce.com/docs/rest-management/webhooks#create-a-webhook>
    pub async fn create_webhook(&self, body: &Value) -> Result<Webhook, BcError> {
        let env: Envelope<Webhook> = self
            .send(reqwest::Method::POST, "v3/hooks", Some(body))
            .await?;
        Ok(env.data)
    }

    /// <https://developer.bigcommerce.com/docs/rest-management/webhooks#update-a-webhook>
    pub async fn update_webhook(&self, id: i64, body: &Value) -> Result<Webhook, BcError> {
        let env: Envelope<Webhook> = self
            .send(reqwest::Method::PUT, &format!("v3/hooks/{id}"), Some(body))
            .await?;
        Ok(env.data)
    }

    /// <https://developer.bigcommerce.com/docs/rest-management/webhooks#delete-a-webhook>
    pub async fn delete_webhook(&self, id: i64) -> Result<(), BcError> {
        let _: Value = self
            .send(reqwest::Method::DELETE, &format!("v3/hooks/{id}"), None)
            .await?;
        Ok(())
    }

    /// Every script this app created in the store.
    /// <https://developer.bigcommerce.com/docs/rest-content/scripts#get-scripts>
    pub async fn list_scripts(&self) -> Result<Vec<Script>, BcError> {
        self.list_v3("v3/content/scripts").await
    }

    /// <https://developer.bigcommerce.com/docs/rest-content/scripts#create-a-script>
    pub async fn create_script(&self, body: &Value) -> Result<Script, BcError> {
        let env: Envelope<Script> = self
            .send(reqwest::Method::POST, "v3/content/scripts", Some(body))
            .await?;
        Ok(env.data)
    }

    /// <https://developer.bigcommerce.com/docs/rest-content/scripts#update-a-script>
    pub async fn update_script(&self, uuid: &str, body: &Value) -> Result<Script, BcError> {
        let env: Envelope<Script> = self
            .send(
                reqwest::Method::PUT,
                &format!("v3/content/scripts/{uuid}"),
                Some(body),
            )
            .await?;
        Ok(env.data)
    }

    /// <https://developer.bigcommerce.com/docs/rest-content/scripts#delete-a-script>
    pub async fn delete_script(&self, uuid: &str) -> Result<(), BcError> {
        let req = self
            .http
            .delete(join(&self.base, &format!("v3/content/scripts/{uuid}")));
        check_status(self.execute(req).await?).await.map(|_| ())
    }

    /// A checkout, by id (the cart id).
    /// <https://developer.bigcommerce.com/docs/rest-management/checkouts#get-a-checkout>
    pub async fn checkout(&self, checkout_id: &str) -> Result<Checkout, BcError> {
        let env: Envelope<Checkout> = self
            .send(
                reqwest::Method::GET,
                &format!("v3/checkouts/{}", encode_query_value(checkout_id)),
                None,
            )
            .await?;
        Ok(env.data)
    }

    /// Creates an order from the checkout and returns its id. BigCommerce creates a new
    /// Incomplete (status 0) order on every call. The call takes no body but requires
    /// `Content-Type: application/json`: an empty JSON object carries it.
    /// <https://developer.bigcommerce.com/docs/rest-management/checkouts/checkout-orders#create-an-order>
    pub async fn create_order_from_checkout(&self, checkout_id: &str) -> Result<u64, BcError> {
        let body: Value = self
            .send(
                reqwest::Method::POST,
                &format!("v3/checkouts/{}/orders", encode_query_value(checkout_id)),
                Some(&json!({})),
            )
            .await?;
        body.pointer("/data/id")
            .and_then(Value::as_u64)
            .ok_or_else(|| BcError::Invalid("created order without an id".into()))
    }

    /// A checkout token for the order confirmation page, usable `max_uses` times for
    /// `ttl_secs` seconds (1 – 2 592 000). The reference's schema puts `checkoutToken` at the
    /// top level and its example under `data`: both are read.
    /// <https://developer.bigcommerce.com/docs/rest-management/checkouts/checkout-token>
    pub async fn create_checkout_token(
        &self,
        checkout_id: &str,
        max_uses: u32,
        ttl_secs: u32,
    ) -> Result<SecretString, BcError> {
        let body = json!({"maxUses": max_uses, "ttl": ttl_secs});
        let resp: Value = self
            .send(
                reqwest::Method::POST,
                &format!("v3/checkouts/{}/token", encode_query_value(checkout_id)),
                Some(&body),
            )
            .await?;
        resp.get("checkoutToken")
            .or_else(|| resp.pointer("/data/checkoutToken"))
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(SecretString::new)
            .ok_or_else(|| BcError::Invalid("checkout token answer without a token".into()))
    }

    /// Deletes the cart (and its checkout) once a seQura order paid it; a cart already gone
    /// (404) is fine.
    /// <https://developer.bigcommerce.com/docs/rest-management/carts/carts-single#delete-a-cart>
    /// `true` when this call deleted it; `false` when it was gone already (deleted, or
    /// converted into an order by a payment).
    pub async fn delete_cart(&self, cart_id: &str) -> Result<bool, BcError> {
        let path = format!("v3/carts/{}", encode_query_value(cart_id));
        match self
            .send::<Option<Value>>(reqwest::Method::DELETE, &path, None)
            .await
        {
            Ok(_) => Ok(true),
            Err(BcError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Whether the channel's checkout asks the shopper to accept terms and conditions.
    /// <https://developer.bigcommerce.com/docs/rest-management/checkouts/checkout-settings>
    pub async fn terms_enabled(&self, channel_id: u64) -> Result<bool, BcError> {
        let resp: Value = self
            .send(
                reqwest::Method::GET,
                &format!("v3/checkouts/settings/channels/{channel_id}"),
                None,
            )
            .await?;
        Ok(resp
            .pointer("/data/is_order_terms_and_conditions_enabled")
            .and_then(Value::as_bool)
            .unwrap_or(false))
    }

    /// An order (Incomplete ones too), amounts in cents.
    /// <https://developer.bigcommerce.com/docs/rest-management/orders#get-an-order>
    pub async fn order(&self, id: u64) -> Result<Order, BcError> {
        self.send(reqwest::Method::GET, &format!("v2/orders/{id}"), None)
            .await
    }

    /// Every product line of an order, across pages; none (204) is an empty list.
    /// <https://developer.bigcommerce.com/docs/rest-management/orders/order-products>
    pub async fn order_products(&self, id: u64) -> Result<Vec<OrderProduct>, BcError> {
        self.list_v2(&format!("v2/orders/{id}/products")).await
    }

    /// Every shipping address of an order, across pages; none (204) is an empty list.
    /// <https://developer.bigcommerce.com/docs/rest-management/orders/order-shipping-addresses>
    pub async fn order_shipping_addresses(&self, id: u64) -> Result<Vec<ShippingAddress>, BcError> {
        self.list_v2(&format!("v2/orders/{id}/shipping_addresses"))
            .await
    }

    /// Every shipment of an order; none (204) is an empty list.
    /// <https://developer.bigcommerce.com/docs/rest-management/orders/order-shipments>
    pub async fn order_shipments(&self, id: u64) -> Result<Vec<Shipment>, BcError> {
        self.list_v2(&format!("v2/orders/{id}/shipments")).await
    }

    /// Every refund of an order.
    /// <https://developer.bigcommerce.com/docs/rest-management/orders/payment-actions#get-refunds-for-order>
    pub async fn order_refunds(&self, id: u64) -> Result<Vec<Refund>, BcError> {
        self.list_v3(&format!("v3/orders/{id}/payment_actions/refunds"))
            .await
    }

    /// Orders created at or after `since` (unix seconds), Incomplete ones excluded, by id; at
    /// most `max` of them (delivery report statistics).
    pub async fn orders_created_since(
        &self,
        since: i64,
        max: usize,
    ) -> Result<Vec<Order>, BcError> {
        self.orders_since(&[], since, max, |o: &Order| {
            (o.id.0, unix_of(o.date_created.as_deref()))
        })
        .await
    }

    /// Orders matching `filters` created at or after `since` (unix seconds), by id; at most
    /// `max`. `key` gives an order's id and creation time (when it has one).
    async fn orders_since<T: DeserializeOwned>(
        &self,
        filters: &[(&str, &str)],
        since: i64,
        max: usize,
        key: impl Fn(&T) -> (u64, Option<i64>),
    ) -> Result<Vec<T>, BcError> {
        // Widened by a second (whether the bound includes its value is not documented);
        // what it lets in from before `since` is dropped.
        let from = rfc2822(since.saturating_sub(1))?;
        let mut out: Vec<T> = Vec::new();
        let mut read_to: Option<u64> = None;
        // Each page starts at the last id read (keyset): an order that leaves the list
        // meanwhile (archived) would make an offset page skip the order after it. Whether
        // `min_id` includes its value is not documented: the last id read is asked again and
        // dropped.
        for _ in 0..MAX_V2_PAGES {
            let min_id = read_to.unwrap_or(0).to_string();
            let mut query = filters.to_vec();
            query.extend([
                ("min_date_created", from.as_str()),
                ("min_id", &min_id),
                ("sort", "id:asc"),
            ]);
            let rows: Vec<T> = self.orders_page(&query).await?;
            let full = rows.len() >= MAX_LIMIT as usize;
            let Some(last) = rows.iter().map(|o| key(o).0).max() else {
                break;
            };
            out.extend(rows.into_iter().filter(|o| {
                let (id, created) = key(o);
                read_to.is_none_or(|to| id > to) && created.is_none_or(|at| at >= since)
            }));
            let progressed = read_to.is_none_or(|to| last > to);
            read_to = Some(last);
            if !full || !progressed || out.len() >= max {
                break;
            }
        }
        out.truncate(max);
        Ok(out)
    }

    /// Orders modified at or after `since` (unix seconds), Incomplete ones excluded, each
    /// once, oldest modification first; about `max` of them (a page more at most), and where
    /// the read stopped when it did not get to the end.
    /// <https://developer.bigcommerce.com/docs/rest-management/orders#get-all-orders>
    pub async fn orders_modified_since(
        &self,
        since: i64,
        max: usize,
    ) -> Result<ModifiedOrders, BcError> {
        let mut out: Vec<OrderSummary> = Vec::new();
        // Each order once, as last read: one changed during the read comes again with a
        // later date, which is the one the caller must compare with what it processed.
        // What the widened bound let in from before `since` is not asked for.
        let mut index: HashMap<u64, usize> = HashMap::new();
        let mut keep = |out: &mut Vec<OrderSummary>, rows: Vec<OrderSummary>| {
            for o in rows {
                if modified_unix(&o).is_some_and(|at| at < since) {
                    continue;
                }
                match index.get(&o.id) {
                    Some(&i) => {
                        if modified_unix(&o) > modified_unix(&out[i]) {
                            out[i] = o;
                        }
                    }
                    None => {
                        index.insert(o.id, out.len());
                        out.push(o);
                    }
                }
            }
        };
        // Every order modified in [since, cursor) has been read. The read may stop anywhere
        // (rows, requests): it says it stopped at `cursor`, never later, so the next read
        // starts where nothing is unread behind it.
        let mut cursor = since;
        let mut requests = 0;
        let mut spent = |out: &Vec<OrderSummary>| {
            let stop = requests >= MAX_V2_PAGES || out.len() >= max;
            if !stop {
                requests += 1;
            }
            stop
        };
        // Keyset paging: each page starts at the last modification read, not at an offset (an
        // order changed meanwhile moves to the end of the list, and the one after it would
        // slide onto a page already read); rows already read are dropped. A page that does not
        // get past its first second (more orders changed in it than a page holds) has that
        // second read whole by id. The bounds are widened by a second and `min_id` starts at
        // the last id read: the contract does not say whether bounds include their value.
        let resume_at = loop {
            if spent(&out) {
                break Some(cursor);
            }
            let rows: Vec<OrderSummary> = self
                .orders_page(&[
                    ("min_date_modified", &rfc2822(cursor.saturating_sub(1))?),
                    ("sort", "date_modified:asc"),
                ])
                .await?;
            let full = rows.len() >= MAX_LIMIT as usize;
            let last = rows.iter().filter_map(modified_unix).max();
            keep(&mut out, rows);
            match last {
                // A page of a sorted list that is not full ends it.
                _ if !full => break None,
                // Everything before the page's last second is in it.
                Some(last) if last > cursor => cursor = last,
                _ => {
                    let (from, to) = (rfc2822(cursor - 1)?, rfc2822(cursor + 1)?);
                    let mut min_id = 0u64;
                    let whole = loop {
                        if spent(&out) {
                            break false;
                        }
                        let rows: Vec<OrderSummary> = self
                            .orders_page(&[
                                ("min_date_modified", &from),
                                ("max_date_modified", &to),
                                ("min_id", &min_id.to_string()),
                                ("sort", "id:asc"),
                            ])
                            .await?;
                        let full = rows.len() >= MAX_LIMIT as usize;
                        let Some(last_id) = rows.iter().map(|o| o.id).max() else {
                            break true;
                        };
                        keep(&mut out, rows);
                        if !full || last_id <= min_id {
                            break !full;
                        }
                        min_id = last_id;
                    };
                    // Stopped inside the second: ids of the next one may have come, higher
                    // ids of this one not.
                    if !whole {
                        break Some(cursor);
                    }
                    cursor += 1;
                }
            }
        };
        // A second read whole by id comes in id order: by date again (stable).
        out.sort_by_cached_key(|o| modified_unix(o).unwrap_or(i64::MIN));
        Ok(ModifiedOrders {
            orders: out,
            resume_at,
        })
    }

    /// Incomplete orders (status 0: made from a checkout, never placed) created at or after
    /// `since` (unix seconds), by id; at most `max`. The orders list leaves them out unless
    /// asked for them by status.
    /// <https://developer.bigcommerce.com/docs/rest-management/orders#get-all-orders>
    pub async fn incomplete_orders_since(
        &self,
        since: i64,
        max: usize,
    ) -> Result<Vec<OrderSummary>, BcError> {
        // The summary has no creation time: the query's bound is all there is.
        self.orders_since(&[("status_id", "0")], since, max, |o: &OrderSummary| {
            (o.id, None)
        })
        .await
    }

    /// The newest order the orders list shows made before `until` (unix seconds): every order
    /// with a lower id was made before it (ids grow as orders are made). Incomplete and
    /// archived orders are not listed.
    /// <https://developer.bigcommerce.com/docs/rest-management/orders#get-all-orders>
    pub async fn newest_order_created_before(&self, until: i64) -> Result<Option<u64>, BcError> {
        let to = rfc2822(until)?;
        let rows: Option<Vec<OrderSummary>> = self
            .get_with(
                "v2/orders",
                &[
                    ("max_date_created", &to),
                    ("sort", "id:desc"),
                    ("limit", "1"),
                ],
            )
            .await?;
        Ok(rows.unwrap_or_default().iter().map(|o| o.id).max())
    }

    /// One page (the largest) of `GET /v2/orders` with `query`; none (204) is an empty page.
    async fn orders_page<T: DeserializeOwned>(
        &self,
        query: &[(&str, &str)],
    ) -> Result<Vec<T>, BcError> {
        let limit = MAX_LIMIT.to_string();
        let mut query = query.to_vec();
        query.push(("limit", &limit));
        let rows: Option<Vec<T>> = self.get_with("v2/orders", &query).await?;
        Ok(rows.unwrap_or_default())
    }

    /// The orders made from a cart (`cart_id`, the checkout id): the first 250, which is
    /// more than any cart makes. [U] Like the control panel, the list leaves Incomplete
    /// orders out; the caller asks only about the others.
    /// <https://developer.bigcommerce.com/docs/rest-management/orders#get-all-orders>
    pub async fn orders_of_cart(&self, cart_id: &str) -> Result<Vec<OrderSummary>, BcError> {
        self.orders_page(&[("cart_id", cart_id)]).await
    }

    /// Writes the given order fields; the others stay as they are.
    /// <https://developer.bigcommerce.com/docs/rest-management/orders#update-an-order>
    pub async fn update_order(&self, id: u64, update: &OrderUpdate) -> Result<(), BcError> {
        let body = serde_json::to_value(update).map_err(|e| BcError::Invalid(e.to_string()))?;
        let _: Value = self
            .send(
                reqwest::Method::PUT,
                &format!("v2/orders/{id}"),
                Some(&body),
            )
            .await?;
        Ok(())
    }

    /// Sets the app's private (`app_only`) order metafield `namespace`/`key` to `value`:
    /// creates it, or updates the existing one. Calling it again with the same value changes
    /// nothing.
    /// <https://developer.bigcommerce.com/docs/rest-management/orders/order-metafields>
    pub async fn put_order_metafield(
        &self,
        id: u64,
        namespace: &str,
        key: &str,
        value: &str,
    ) -> Result<(), BcError> {
        let path = format!("v3/orders/{id}/metafields");
        if self.write_metafield(&path, namespace, key, value).await?
            || self.post_metafield(&path, namespace, key, value).await?
        {
            return Ok(());
        }
        // Created meanwhile by another writer: update that one.
        if self.write_metafield(&path, namespace, key, value).await? {
            Ok(())
        } else {
            Err(BcError::Invalid(
                "the order's metafield exists and cannot be found".into(),
            ))
        }
    }

    /// Creates the app's private order metafield `namespace`/`key` with `value`, or updates
    /// it when it exists already: the create first, for a write on a path that must be
    /// short (one call where the metafield is new, which is usual there).
    /// <https://developer.bigcommerce.com/docs/rest-management/orders/order-metafields>
    pub async fn create_order_metafield(
        &self,
        id: u64,
        namespace: &str,
        key: &str,
        value: &str,
    ) -> Result<(), BcError> {
        let path = format!("v3/orders/{id}/metafields");
        if !self.post_metafield(&path, namespace, key, value).await? {
            self.write_metafield(&path, namespace, key, value).await?;
        }
        Ok(())
    }

    /// Creates the app's private (`app_only`) metafield `namespace`/`key` at `path`; false
    /// when it exists already (409).
    async fn post_metafield(
        &self,
        path: &str,
        namespace: &str,
        key: &str,
        value: &str,
    ) -> Result<bool, BcError> {
        let body = json!({
            "permission_set": "app_only",
            "namespace": namespace,
            "key": key,
            "value": value,
        });
        match self
            .send::<Value>(reqwest::Method::POST, path, Some(&body))
            .await
        {
            Ok(_) => Ok(true),
            Err(BcError::Rejected { status: 409, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The value of the app's order metafield `namespace`/`key`, if the order has it.
    /// <https://developer.bigcommerce.com/docs/rest-management/orders/order-metafields>
    pub async fn order_metafield(
        &self,
        id: u64,
        namespace: &str,
        key: &str,
    ) -> Result<Option<String>, BcError> {
        let env: Envelope<Vec<Metafield>> = self
            .get_with(
                &format!("v3/orders/{id}/metafields"),
                &[("namespace", namespace), ("key", key)],
            )
            .await?;
        Ok(Metafield::own(env.data, namespace, key).map(|m| m.value))
    }

    /// Updates the metafield `namespace`/`key` if it exists (only when the value differs);
    /// whether it exists.
    async fn write_metafield(
        &self,
        path: &str,
        namespace: &str,
        key: &str,
        value: &str,
    ) -> Result<bool, BcError> {
        let env: Envelope<Vec<Metafield>> = self
            .get_with(path, &[("namespace", namespace), ("key", key)])
            .await?;
        let Some(existing) = Metafield::own(env.data, namespace, key) else {
            return Ok(false);
        };
        if existing.value != value {
            let body = json!({
                "permission_set": "app_only",
                "namespace": namespace,
                "key": key,
                "value": value,
            });
            let _: Value = self
                .send(
                    reqwest::Method::PUT,
                    &format!("{path}/{}", existing.id),
                    Some(&body),
                )
                .await?;
        }
        Ok(true)
    }

    /// The store's channels.
    /// <https://developer.bigcommerce.com/docs/rest-management/channels#get-all-channels>
    pub async fn channels(&self) -> Result<Vec<Channel>, BcError> {
        self.list_v3("v3/channels").await
    }

    /// A channel's site: its primary URL and its checkout URL (no trailing `/`); `None` when
    /// the channel has no site.
    /// <https://developer.bigcommerce.com/docs/rest-management/channels/site#get-a-channel-site>
    pub async fn channel_site(&self, channel_id: u64) -> Result<Option<Site>, BcError> {
        let resp: Result<Value, BcError> = self
            .send(
                reqwest::Method::GET,
                &format!("v3/channels/{channel_id}/site"),
                None,
            )
            .await;
        let v = match resp {
            Ok(v) => v,
            Err(BcError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let clean = |u: &str| {
            let u = u.trim().trim_end_matches('/');
            (u.starts_with("http://") || u.starts_with("https://")).then(|| u.to_string())
        };
        let of_type = |t: &str| {
            v.pointer("/data/urls")
                .and_then(Value::as_array)
                .and_then(|urls| {
                    urls.iter()
                        .find(|u| u.get("type").and_then(Value::as_str) == Some(t))
                })
                .and_then(|u| u.get("url"))
                .and_then(Value::as_str)
                .and_then(clean)
        };
        let Some(url) = of_type("primary").or_else(|| {
            v.pointer("/data/url")
                .and_then(Value::as_str)
                .and_then(clean)
        }) else {
            return Ok(None);
        };
        let checkout_url = of_type("checkout").filter(|c| *c != url);
        Ok(Some(Site { url, checkout_url }))
    }

    /// A channel's default currency.
    /// <https://developer.bigcommerce.com/docs/rest-management/channels/currency-assignments>
    pub async fn channel_currency(&self, channel_id: u64) -> Result<Option<String>, BcError> {
        let resp: Result<Value, BcError> = self
            .send(
                reqwest::Method::GET,
                &format!("v3/channels/{channel_id}/currency-assignments"),
                None,
            )
            .await;
        match resp {
            Ok(v) => Ok(v
                .pointer("/data/default_currency")
                .and_then(Value::as_str)
                .map(str::to_string)),
            Err(BcError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A channel's default shopper language, e.g. `fr` ([U]: BigCommerce's Settings API,
    /// `GET /v3/settings/store/locale?channel_id=`, not in our contracts; unreadable is `None`
    /// and the store's language is used).
    pub async fn channel_locale(&self, channel_id: u64) -> Result<Option<String>, BcError> {
        let resp: Result<Value, BcError> = self
            .send(
                reqwest::Method::GET,
                &format!("v3/settings/store/locale?channel_id={channel_id}"),
                None,
            )
            .await;
        match resp {
            Ok(v) => Ok(v
                .pointer("/data/default_shopper_language")
                .and_then(Value::as_str)
                .map(str::to_string)),
            Err(BcError::NotFound(_) | BcError::Forbidden(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every row of a v2 collection, `limit=250` a page until a short page; 204 or an empty
    /// body is the end.
    async fn list_v2<T: DeserializeOwned>(&self, path: &str) -> Result<Vec<T>, BcError> {
        let mut out = Vec::new();
        for page in 1..=MAX_V2_PAGES {
            let rows: Option<Vec<T>> = self
                .get_with(
                    path,
                    &[
                        ("page", &page.to_string()),
                        ("limit", &MAX_LIMIT.to_string()),
                    ],
                )
                .await?;
            let rows = rows.unwrap_or_default();
            let n = rows.len();
            out.extend(rows);
            if n < MAX_LIMIT as usize {
                return Ok(out);
            }
        }
        // Never a silent part of a collection (an order's products cut short would make a
        // cart that charges less than the order): more rows than the app reads is an error.
        Err(BcError::Invalid(format!(
            "{path} has more than {} rows",
            MAX_V2_PAGES * MAX_LIMIT
        )))
    }

    async fn list_v3<T: DeserializeOwned>(&self, path: &str) -> Result<Vec<T>, BcError> {
        let mut out = Vec::new();
        for page in 1..=50 {
            let env: Envelope<Vec<T>> = self
                .send(
                    reqwest::Method::GET,
                    &format!("{path}?page={page}&limit=250"),
                    None,
                )
                .await?;
            let n = env.data.len();
            out.extend(env.data);
            let total_pages = env
                .meta
                .as_ref()
                .and_then(|m| m.pointer("/pagination/total_pages"))
                .and_then(Value::as_u64)
                .unwrap_or(1);
            if n == 0 || page as u64 >= total_pages {
                break;
            }
        }
        Ok(out)
    }

    /// Runs a GraphQL Admin API operation; GraphQL `errors` become [`BcError::Rejected`].
    /// <https://developer.bigcommerce.com/docs/integrations/apps/app-extensions/guide>
    pub async fn graphql(&self, query: &str, variables: Value) -> Result<Value, BcError> {
        let body = json!({"query": query, "variables": variables});
        let resp: Value = self
            .send(reqwest::Method::POST, "graphql", Some(&body))
            .await?;
        if let Some(errors) = resp.get("errors").and_then(Value::as_array)
            && !errors.is_empty()
        {
            let message = errors
                .iter()
                .filter_map(|e| e.get("message").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("; ");
            return Err(BcError::Rejected {
                status: 200,
                message,
            });
        }
        resp.get("data")
            .cloned()
            .ok_or_else(|| BcError::Invalid("GraphQL answer without data".into()))
    }

    /// The app's App Extensions in this store.
    pub async fn list_app_extensions(&self) -> Result<Vec<AppExtension>, BcError> {
        let data = self
            .graphql(
                "query { store { appExtensions { edges { node { id url model context label { defaultValue } } } } } }",
                json!({}),
            )
            .await?;
        let edges = data
            .pointer("/store/appExtensions/edges")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        edges
            .into_iter()
            .map(|e| {
                serde_json::from_value(e.get("node").cloned().unwrap_or(Value::Null))
                    .map_err(|err| BcError::Invalid(format!("app extension: {err}")))
            })
            .collect()
    }

    /// Creates an App Extension from a `CreateAppExtensionInput`.
    pub async fn create_app_extension(&self, input: Value) -> Result<AppExtension, BcError> {
        let data = self
            .graphql(
                "mutation AppExtension($input: CreateAppExtensionInput!) { appExtension { createAppExtension(input: $input) { appExtension { id context model url label { defaultValue locales { value localeCode } } } } } }",
                json!({"input": input}),
            )
            .await?;
        serde_json::from_value(
            data.pointer("/appExtension/createAppExtension/appExtension")
                .cloned()
                .unwrap_or(Value::Null),
        )
        .map_err(|e| BcError::Invalid(format!("created app extension: {e}")))
    }

    /// Deletes an App Extension by id.
    pub async fn delete_app_extension(&self, id: &str) -> Result<(), BcError> {
        self.graphql(
            "mutation AppExtension($input: DeleteAppExtensionInput!) { appExtension { deleteAppExtension(input: $input) { deletedAppExtensionId } } }",
            json!({"input": {"id": id}}),
        )
        .await
        .map(|_| ())
    }
}

fn join(base: &Url, path: &str) -> Url {
    let mut s = base.as_str().trim_end_matches('/').to_string();
    s.push('/');
    s.push_str(path.trim_start_matches('/'));
    Url::parse(&s).unwrap_or_else(|_| base.clone())
}

/// Percent-encodes a query value: RFC 3986 unreserved characters, `,` and `:` stay (id lists
/// and `include_fields` read as BigCommerce documents them); everything else, including space,
/// `&`, `#`, `+` and `=`, becomes `%XX` of its UTF-8 bytes.
fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b',' | b':') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn transport(e: reqwest::Error) -> BcError {
    // Never include the URL: it can hold a store hash, never a token, but keep messages short.
    if e.is_timeout() {
        BcError::Transient("timed out".into())
    } else if e.is_connect() {
        BcError::Transient("could not connect".into())
    } else {
        BcError::Transient(e.without_url().to_string())
    }
}

async fn check_status(resp: reqwest::Response) -> Result<reqwest::Response, BcError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let retry_after_ms = retry_after_ms(resp.headers());
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    let message = error_message(&body);
    Err(match status.as_u16() {
        401 => BcError::Unauthorized(message),
        403 => BcError::Forbidden(message),
        404 => BcError::NotFound(message),
        429 => BcError::RateLimited { retry_after_ms },
        s if s >= 500 => BcError::Transient(format!("{s}: {message}")),
        s => BcError::Rejected { status: s, message },
    })
}

async fn decode<T: DeserializeOwned>(resp: reqwest::Response) -> Result<T, BcError> {
    let resp = check_status(resp).await?;
    if resp.status() == reqwest::StatusCode::NO_CONTENT {
        return serde_json::from_value(Value::Null).map_err(|e| BcError::Invalid(e.to_string()));
    }
    let bytes = resp.bytes().await.map_err(transport)?;
    if bytes.is_empty() {
        return serde_json::from_value(Value::Null).map_err(|e| BcError::Invalid(e.to_string()));
    }
    serde_json::from_slice(&bytes).map_err(|e| BcError::Invalid(e.to_string()))
}

/// How long BigCommerce asks us to wait, from its rate-limit headers.
fn retry_after_ms(headers: &reqwest::header::HeaderMap) -> u64 {
    let num = |name: &str| super::quota::header_number(headers, name);
    num("X-Rate-Limit-Time-Reset-Ms")
        .or_else(|| num("X-Retry-After").map(|s| s * 1000))
        .unwrap_or(30_000)
}

/// The human part of a v2 (`[{status, message}]`), v3 (`{title, errors}`) or login error body.
fn error_message(body: &Value) -> String {
    let text = match body {
        Value::Array(items) => items
            .iter()
            .filter_map(|i| i.get("message").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("; "),
        Value::Object(map) => {
            let mut parts: Vec<String> = Vec::new();
            for key in ["title", "error_description", "error", "message"] {
                if let Some(s) = map.get(key).and_then(Value::as_str) {
                    parts.push(s.to_string());
                    break;
                }
            }
            if let Some(Value::Object(errors)) = map.get("errors") {
                for (field, msg) in errors {
                    parts.push(format!("{field}: {}", msg.as_str().unwrap_or("invalid")));
                }
            }
            parts.join("; ")
        }
        _ => String::new(),
    };
    let text: String = text.chars().take(300).collect();
    if text.is_empty() {
        "no details given".into()
    } else {
        text
    }
}

/// Unix seconds as the RFC 2822 date BigCommerce reads in the orders' filters
/// (`orders.v2.oas2.yml`; a filter it cannot read is ignored, which would list the store's
/// oldest orders instead).
fn rfc2822(unix: i64) -> Result<String, BcError> {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc2822)
                .ok()
        })
        .ok_or_else(|| BcError::Invalid(format!("no date for {unix}")))
}

/// An order's modification time (RFC 2822 in the v2 API) as Unix seconds.
fn modified_unix(o: &OrderSummary) -> Option<i64> {
    unix_of(o.date_modified.as_deref())
}

/// An RFC 2822 date of BigCommerce's v2 API in unix seconds.
fn unix_of(date: Option<&str>) -> Option<i64> {
    time::OffsetDateTime::parse(date?.trim(), &time::format_description::well_known::Rfc2822)
        .ok()
        .map(|t| t.unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded_but_lists_stay_readable() {
        assert_eq!(
            encode_query_value("blanco & negro #2"),
            "blanco%20%26%20negro%20%232"
        );
        assert_eq!(encode_query_value("a+b=c?d/e"), "a%2Bb%3Dc%3Fd%2Fe");
        assert_eq!(encode_query_value("1,2,3"), "1,2,3");
        assert_eq!(encode_query_value("Pantalón"), "Pantal%C3%B3n");
    }

    #[test]
    fn zones_keep_location_countries_uppercase_and_once() {
        let raw: RawZone = serde_json::from_value(json!({
            "id": 3,
            "name": "Península",
            "type": "state",
            "locations": [
                {"id": 1, "country_iso2": "es", "state_iso2": "M"},
                {"id": 2, "country_iso2": "ES", "state_iso2": "B"},
                {"id": 3, "zip": "1000"},
                {"id": 4, "country_iso2": "PT"},
            ],
        }))
        .unwrap();
        let zone = ShippingZone::from(raw);
        assert_eq!(zone.kind, "state");
        assert_eq!(zone.countries, vec!["ES".to_owned(), "PT".to_owned()]);
    }
}
