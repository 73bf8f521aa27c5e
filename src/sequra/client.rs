//! HTTP client for seQura's merchant API (sequra-api.md §1–§9, §12). Base URLs come from
//! config so tests and the demo use the stand-in; every failure is classified for the caller.

use std::fmt;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::Url;

use super::deployments::{Deployment, Deployments, Environment, Listed, Overrides};
use super::models::{
    DeliveryReport, MerchantCredentials, OrderRequest, OrderUpdate, PaymentCategory,
};
use crate::config::SecretString;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const TOTAL_TIMEOUT: Duration = Duration::from_secs(30);
const MERCHANT_HEADER: &str = "Sequra-Merchant-Id";
const JSON: &str = "application/json";
const HTML: &str = "text/html";
/// Longest piece of seQura's error text kept, and how many of its messages.
const MAX_MESSAGE_CHARS: usize = 500;
const MAX_MESSAGES: usize = 20;
/// The largest JSON answer read (a credentials list of many merchant refs is a few KiB).
const MAX_JSON_BYTES: usize = 2 * 1024 * 1024;

/// A merchant's seQura account: HTTP Basic credentials for one environment. One account can
/// own several merchant refs (one per country). `Debug` never shows the password.
#[derive(Clone)]
pub struct SequraAccount {
    /// The deployment (brand) whose hosts the account lives on.
    pub deployment: Deployment,
    pub environment: Environment,
    pub username: String,
    pub password: SecretString,
}

impl SequraAccount {
    pub fn new(
        deployment: Deployment,
        environment: Environment,
        username: impl Into<String>,
        password: SecretString,
    ) -> Self {
        Self {
            deployment,
            environment,
            username: username.into(),
            password,
        }
    }
}

impl fmt::Debug for SequraAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SequraAccount")
            .field("deployment", &self.deployment)
            .field("environment", &self.environment)
            .field("username", &self.username)
            .field("password", &"***")
            .finish()
    }
}

/// Why a seQura call failed, classified because callers act differently on each: only
/// [`SequraError::Transient`] is worth retrying (§12). Messages are safe to show a merchant:
/// they never hold a password, a header or a URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SequraError {
    /// 401: wrong username or password for this environment.
    #[error("seQura did not accept the account's username or password")]
    Unauthorized,
    /// 403: the merchant ref is not owned by these credentials, or the order is unknown.
    #[error("seQura refused access: {0}")]
    Forbidden(String),
    /// 404.
    #[error("not found at seQura: {0}")]
    NotFound(String),
    /// 409: seQura's own messages, e.g. a cart that does not add up or changed too much.
    #[error("seQura rejected the order data: {}", .0.join("; "))]
    Conflict(Vec<String>),
    /// Any other 4xx.
    #[error("seQura rejected the request (HTTP {status}): {message}")]
    Rejected { status: u16, message: String },
    /// 5xx, timeouts and connection failures.
    #[error("seQura is unreachable or failing, try again later: {0}")]
    Transient(String),
    /// A success answer the client cannot read, or a request it cannot build.
    #[error("unexpected answer from seQura: {0}")]
    Invalid(String),
}

impl SequraError {
    /// Whether the same request may succeed later (5xx, timeout, connection failure).
    pub fn is_transient(&self) -> bool {
        matches!(self, SequraError::Transient(_))
    }
}

/// A started solicitation: seQura's order UUID and the order URL from `Location` (§3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SolicitedOrder {
    pub uuid: String,
    pub url: Url,
}

/// The shared HTTP client and every deployment's hosts.
#[derive(Clone)]
pub struct SequraClient {
    http: reqwest::Client,
    deployments: Deployments,
}

impl fmt::Debug for SequraClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SequraClient")
            .field("deployments", &self.deployments)
            .finish()
    }
}

#[derive(Serialize)]
struct OrderBody<'a, T> {
    order: &'a T,
}

#[derive(Serialize)]
struct DeliveryReportBody<'a> {
    delivery_report: &'a DeliveryReport,
}

#[derive(Deserialize)]
struct PaymentOptions {
    #[serde(default)]
    payment_options: Option<Vec<PaymentCategory>>,
}

impl SequraClient {
    /// A client of the seQura deployment at `sandbox_url` and `live_url` (the others at
    /// their built-in hosts), with a 5 s connect and a 30 s total timeout.
    pub fn new(sandbox_url: Url, live_url: Url) -> Result<Self, SequraError> {
        Self::with_timeouts(sandbox_url, live_url, CONNECT_TIMEOUT, TOTAL_TIMEOUT)
    }

    /// Like [`Self::new`], with explicit timeouts. Base URLs must be `http(s)`; a path prefix
    /// is kept and a trailing `/` added if missing.
    pub fn with_timeouts(
        sandbox_url: Url,
        live_url: Url,
        connect: Duration,
        total: Duration,
    ) -> Result<Self, SequraError> {
        let overrides = Overrides::default()
            .set(
                Deployment::Sequra,
                Environment::Sandbox,
                Some(normalise_base(sandbox_url)?),
                None,
            )
            .set(
                Deployment::Sequra,
                Environment::Live,
                Some(normalise_base(live_url)?),
                None,
            );
        Self::with_deployments(Deployments::new(overrides), connect, total)
    }

    /// A client of every deployment's hosts as `deployments` has them.
    pub fn with_deployments(
        deployments: Deployments,
        connect: Duration,
        total: Duration,
    ) -> Result<Self, SequraError> {
        let http = reqwest::Client::builder()
            .connect_timeout(connect)
            .timeout(total)
            // seQura does not redirect; not following keeps the Basic credentials on its host
            // and the solicitation's `Location` readable.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("sequra-bc/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SequraError::Invalid(format!("HTTP client: {}", e.without_url())))?;
        Ok(Self { http, deployments })
    }

    /// A client with the default timeouts.
    pub fn of(deployments: Deployments) -> Result<Self, SequraError> {
        Self::with_deployments(deployments, CONNECT_TIMEOUT, TOTAL_TIMEOUT)
    }

    /// Every deployment's hosts.
    pub fn deployments(&self) -> &Deployments {
        &self.deployments
    }

    /// The seQura deployment's API base URL of `env`, always ending in `/`.
    pub fn base_url(&self, env: Environment) -> Url {
        self.deployments.api(Deployment::Sequra, env)
    }

    /// The origin of the account's API host (`https://sandbox.sequrapi.com`): where
    /// `form_v2` is read from, and whence the form's script and frame load (§4).
    pub fn api_origin(&self, account: &SequraAccount) -> String {
        self.deployments
            .api(account.deployment, account.environment)
            .origin()
            .ascii_serialization()
    }

    /// The origins a browser loads seQura's form from for this account: its API host (the
    /// form's frame and script, sequra-api.md §4) and its assets host (`assets_base_url`, where
    /// seQura serves its scripts and styles), space-separated as a policy lists them.
    pub fn form_origins(&self, account: &SequraAccount) -> String {
        let assets = self
            .deployments
            .assets(account.deployment, account.environment)
            .origin()
            .ascii_serialization();
        let api = self.api_origin(account);
        if assets == api || assets == "null" {
            api
        } else {
            format!("{api} {assets}")
        }
    }

    /// Reads seQura's list of deployments (§1.1): `GET deployments` on the seQura
    /// deployment's live API, without authentication.
    /// <https://github.com/sequra/integration-core/blob/master/src/BusinessLogic/SeQuraAPI/Deployments/DeploymentsProxy.php>
    pub async fn read_deployments(&self) -> Result<Vec<Listed>, SequraError> {
        let mut url = self.deployments.list_source();
        url.path_segments_mut()
            .map_err(|_| SequraError::Invalid("the seQura base URL cannot hold a path".into()))?
            .pop_if_empty()
            .push("deployments");
        let resp = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, JSON)
            .send()
            .await
            .map_err(transport)?;
        let resp = check_status(resp).await?;
        decode_json(resp, "deployments").await
    }

    /// Validates the credentials and lists the merchant refs they may use (§2.1). Sent without
    /// `Sequra-Merchant-Id`.
    /// <https://github.com/sequra/integration-core/blob/master/src/BusinessLogic/SeQuraAPI/Connection/Request/ValidateConnectionHttpRequest.php>
    pub async fn credentials(
        &self,
        account: &SequraAccount,
    ) -> Result<Vec<MerchantCredentials>, SequraError> {
        let url = self.endpoint(account, &["merchants", "credentials"])?;
        let resp = self
            .send(account, reqwest::Method::GET, url, None, JSON, None)
            .await?;
        decode_json(resp, "merchant credentials").await
    }

    /// The payment methods enabled for a merchant ref, without order-specific costs (§5).
    /// <https://docs.sequrapi.com/api_ref/api_ref_paymentmethods_static_documentation.html>
    pub async fn merchant_payment_methods(
        &self,
        account: &SequraAccount,
        merchant_ref: &str,
    ) -> Result<Vec<PaymentCategory>, SequraError> {
        let url = self.endpoint(account, &["merchants", merchant_ref, "payment_methods"])?;
        let resp = self
            .send(
                account,
                reqwest::Method::GET,
                url,
                Some(merchant_ref),
                JSON,
                None,
            )
            .await?;
        let body: PaymentOptions = decode_json(resp, "payment methods").await?;
        Ok(body.payment_options.unwrap_or_default())
    }

    /// Starts a solicitation (`state` `""`): seQura answers 204 with the order URL in
    /// `Location`, whose last path segment is the order UUID (§3).
    /// <https://docs.sequra.com/docs/start-solicitation>
    pub async fn start_solicitation(
        &self,
        account: &SequraAccount,
        merchant_ref: &str,
        order: &OrderRequest,
    ) -> Result<SolicitedOrder, SequraError> {
        let url = self.endpoint(account, &["orders"])?;
        let body = encode(&OrderBody { order })?;
        let resp = self
            .send(
                account,
                reqwest::Method::POST,
                url.clone(),
                Some(merchant_ref),
                JSON,
                Some(body),
            )
            .await?;
        solicited_order(&url, resp.headers())
    }

    /// The identification form's HTML snippet (an iframe and scripts) for one product and
    /// optional campaign (§4). Never cache it.
    /// <https://docs.sequra.com/docs/fetch-identification-form>
    pub async fn identification_form(
        &self,
        account: &SequraAccount,
        merchant_ref: &str,
        uuid: &str,
        product: &str,
        campaign: Option<&str>,
    ) -> Result<String, SequraError> {
        let mut url = self.endpoint(account, &["orders", uuid, "form_v2"])?;
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("product", product);
            if let Some(campaign) = campaign {
                query.append_pair("campaign", campaign);
            }
            query.append_pair("ajax", "true");
        }
        let resp = self
            .send(
                account,
                reqwest::Method::GET,
                url,
                Some(merchant_ref),
                HTML,
                None,
            )
            .await?;
        // Each shopper's start holds one in memory: read no further than any answer can be.
        let bytes = read_capped(resp)
            .await?
            .ok_or_else(|| SequraError::Invalid("the form answer is too large".into()))?;
        String::from_utf8(bytes)
            .map_err(|_| SequraError::Invalid("the form answer is not UTF-8".into()))
    }

    /// The payment methods eligible for a solicited order, with its costs (§5).
    /// <https://docs.sequrapi.com/api_ref/api_ref_paymentmethods_static_documentation.html>
    pub async fn order_payment_methods(
        &self,
        account: &SequraAccount,
        merchant_ref: &str,
        uuid: &str,
    ) -> Result<Vec<PaymentCategory>, SequraError> {
        let url = self.endpoint(account, &["orders", uuid, "payment_methods"])?;
        let resp = self
            .send(
                account,
                reqwest::Method::GET,
                url,
                Some(merchant_ref),
                JSON,
                None,
            )
            .await?;
        let body: PaymentOptions = decode_json(resp, "payment methods").await?;
        Ok(body.payment_options.unwrap_or_default())
    }

    /// Confirms the order or puts it on hold: `order.state` is `"confirmed"` or `"on_hold"`,
    /// and the cart must match the solicited one, else [`SequraError::Conflict`] (§6.4).
    /// <https://docs.sequra.com/docs/put-the-order-on-hold-and-confirm-it>
    pub async fn update_order_state(
        &self,
        account: &SequraAccount,
        merchant_ref: &str,
        uuid: &str,
        order: &OrderRequest,
    ) -> Result<(), SequraError> {
        let url = self.endpoint(account, &["orders", uuid])?;
        let body = encode(&OrderBody { order })?;
        self.send(
            account,
            reqwest::Method::PUT,
            url,
            Some(merchant_ref),
            JSON,
            Some(body),
        )
        .await
        .map(|_| ())
    }

    /// Sends the order's full resulting state after a shipment, refund, cancellation or
    /// address change, addressed by the shop's `order_ref_1` (§7). 200, 202 and 204 all mean
    /// success; 404 is expected for orders still on hold.
    /// <https://docs.sequra.com/docs/order-update-api>
    pub async fn update_order(
        &self,
        account: &SequraAccount,
        merchant_ref: &str,
        order_ref_1: &str,
        update: &OrderUpdate,
    ) -> Result<(), SequraError> {
        let url = self.endpoint(account, &["merchants", merchant_ref, "orders", order_ref_1])?;
        let body = encode(&OrderBody { order: update })?;
        self.send(
            account,
            reqwest::Method::PUT,
            url,
            Some(merchant_ref),
            JSON,
            Some(body),
        )
        .await
        .map(|_| ())
    }

    /// Sends the daily delivery report and statistics (§9).
    /// <https://docs.sequra.com/docs/delivery-report-and-statistics>
    pub async fn delivery_report(
        &self,
        account: &SequraAccount,
        merchant_ref: &str,
        report: &DeliveryReport,
    ) -> Result<(), SequraError> {
        let url = self.endpoint(account, &["orders", "delivery_reports"])?;
        let body = encode(&DeliveryReportBody {
            delivery_report: report,
        })?;
        self.send(
            account,
            reqwest::Method::POST,
            url,
            Some(merchant_ref),
            JSON,
            Some(body),
        )
        .await
        .map(|_| ())
    }

    /// Registers the shop's configuration webhook with the account's deployment (remote
    /// configuration, `../shared/spec/sequra-remote-configuration.md` §1.1–§1.2):
    /// `POST store_integrations` with `{"store_integration": {"webhook_url", "capabilities"}}`.
    /// Success is a 2xx whose `Location` names `…store_integrations/<digits>`: its id. A 2xx
    /// without a usable `Location` fails, as seQura's core fails it.
    /// <https://github.com/sequra/integration-core/blob/master/src/BusinessLogic/SeQuraAPI/StoreIntegration/StoreIntegrationProxy.php>
    pub async fn register_store_integration(
        &self,
        account: &SequraAccount,
        merchant_id: Option<&str>,
        webhook_url: &str,
        capabilities: &[&str],
    ) -> Result<u64, SequraError> {
        if capabilities.is_empty() {
            // seQura's core refuses it before sending (`CapabilitiesEmptyException`).
            return Err(SequraError::Invalid("no capability to declare".into()));
        }
        let url = self.endpoint(account, &["store_integrations"])?;
        let body = encode(&serde_json::json!({
            "store_integration": {"webhook_url": webhook_url, "capabilities": capabilities},
        }))?;
        let resp = self
            .send(
                account,
                reqwest::Method::POST,
                url,
                merchant_id,
                JSON,
                Some(body),
            )
            .await?;
        integration_id(resp.headers())
    }

    /// Deletes a registration (§1.5): `DELETE store_integrations/{the whole signed URL,
    /// percent-encoded as one path segment}`. A 404 is [`SequraError::NotFound`]: nothing
    /// left to delete.
    /// <https://github.com/sequra/integration-core/blob/master/src/BusinessLogic/SeQuraAPI/StoreIntegration/Requests/DeleteStoreIntegrationHttpRequest.php>
    pub async fn delete_store_integration(
        &self,
        account: &SequraAccount,
        merchant_id: Option<&str>,
        webhook_url: &str,
    ) -> Result<(), SequraError> {
        let mut url = self.endpoint(account, &["store_integrations"])?;
        let path = format!("{}/{}", url.path(), raw_url_encode(webhook_url));
        url.set_path(&path);
        self.send(
            account,
            reqwest::Method::DELETE,
            url,
            merchant_id,
            JSON,
            None,
        )
        .await
        .map(|_| ())
    }

    /// The base URL of `env` with `segments` appended, each percent-encoded (a `/` inside a
    /// segment becomes `%2F`).
    fn endpoint(&self, account: &SequraAccount, segments: &[&str]) -> Result<Url, SequraError> {
        if let Some(bad) = segments
            .iter()
            .find(|s| s.is_empty() || **s == "." || **s == "..")
        {
            // URLs cannot carry these as a path segment, so no such order or merchant exists.
            return Err(SequraError::Rejected {
                status: 400,
                message: format!("the reference {bad:?} cannot be used in a seQura address"),
            });
        }
        let mut url = self
            .deployments
            .api(account.deployment, account.environment);
        url.path_segments_mut()
            .map_err(|_| SequraError::Invalid("the seQura base URL cannot hold a path".into()))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// Sends one authenticated request and classifies any non-2xx answer.
    async fn send(
        &self,
        account: &SequraAccount,
        method: reqwest::Method,
        url: Url,
        merchant_ref: Option<&str>,
        accept: &str,
        body: Option<Vec<u8>>,
    ) -> Result<reqwest::Response, SequraError> {
        let mut req = self
            .http
            .request(method.clone(), url.clone())
            .basic_auth(&account.username, Some(account.password.expose()))
            .header(reqwest::header::ACCEPT, accept);
        if let Some(merchant_ref) = merchant_ref {
            req = req.header(MERCHANT_HEADER, merchant_ref);
        }
        if let Some(body) = body {
            req = req.header(reqwest::header::CONTENT_TYPE, JSON).body(body);
        }
        let started = std::time::Instant::now();
        let sent = req.send().await;
        crate::metrics::outbound(
            "sequra",
            sent.as_ref().map_or(0, |r| r.status().as_u16()),
            started.elapsed(),
        );
        let resp = sent.map_err(transport)?;
        let status = resp.status();
        tracing::debug!(
            %method,
            path = url.path(),
            deployment = account.deployment.as_str(),
            environment = account.environment.as_str(),
            status = status.as_u16(),
            "seQura answered"
        );
        check_status(resp).await
    }
}

/// Checks a base URL and gives it a trailing `/`, without query or fragment.
fn normalise_base(url: Url) -> Result<Url, SequraError> {
    super::deployments::normalise(url).ok_or_else(|| {
        SequraError::Invalid("a seQura base URL must be an http or https URL".into())
    })
}

fn encode<T: Serialize>(body: &T) -> Result<Vec<u8>, SequraError> {
    serde_json::to_vec(body)
        .map_err(|e| SequraError::Invalid(format!("could not encode the request: {e}")))
}

/// The UUID and order URL from a solicitation's `Location`, resolved against the request URL.
fn solicited_order(
    request_url: &Url,
    headers: &reqwest::header::HeaderMap,
) -> Result<SolicitedOrder, SequraError> {
    let location = headers
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| SequraError::Invalid("the new order came without its location".into()))?;
    let url = request_url
        .join(location)
        .map_err(|_| SequraError::Invalid("the new order's location is not a URL".into()))?;
    let uuid = url
        .path_segments()
        .and_then(|mut segments| segments.rfind(|s| !s.is_empty()))
        .map(str::to_string)
        .filter(|s| s != "orders")
        .ok_or_else(|| {
            SequraError::Invalid("the new order's location holds no order reference".into())
        })?;
    Ok(SolicitedOrder { uuid, url })
}

/// The id in a registration's `Location` (`…/store_integrations/4`), as seQura's core reads it.
fn integration_id(headers: &reqwest::header::HeaderMap) -> Result<u64, SequraError> {
    let location = headers
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            SequraError::Invalid("seQura accepted the registration but sent no Location".into())
        })?;
    let invalid = || {
        SequraError::Invalid("the Location of seQura's answer names no store integration".into())
    };
    let path = location.split(['?', '#']).next().unwrap_or("");
    let (_, id) = path
        .rsplit_once("store_integrations/")
        .ok_or_else(invalid)?;
    let id = id.trim_end_matches('/');
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    id.parse().map_err(|_| invalid())
}

/// PHP's `rawurlencode`: every byte but `A–Z a–z 0–9 - _ . ~` as `%XX`.
fn raw_url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn transport(e: reqwest::Error) -> SequraError {
    // Never the URL or the request: only what went wrong.
    if e.is_timeout() {
        SequraError::Transient("seQura did not answer in time".into())
    } else if e.is_connect() {
        SequraError::Transient("could not connect to seQura".into())
    } else if e.is_builder() {
        SequraError::Invalid("the request could not be built (check the merchant ref)".into())
    } else if e.is_body() || e.is_decode() {
        SequraError::Transient("the answer from seQura was cut short".into())
    } else {
        SequraError::Transient(e.without_url().to_string())
    }
}

async fn check_status(resp: reqwest::Response) -> Result<reqwest::Response, SequraError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let code = status.as_u16();
    if code == 401 {
        // The body is plain text ("HTTP Basic: Access denied."), sometimes JSON: not needed.
        return Err(SequraError::Unauthorized);
    }
    if status.is_server_error() {
        return Err(SequraError::Transient(format!(
            "seQura answered HTTP {code}"
        )));
    }
    if !status.is_client_error() {
        return Err(SequraError::Invalid(format!(
            "unexpected HTTP status {code}"
        )));
    }
    let bytes = read_capped(resp).await.ok().flatten().unwrap_or_default();
    let messages = error_messages(&bytes);
    let joined = |default: &str| {
        if messages.is_empty() {
            default.to_string()
        } else {
            messages.join(". ")
        }
    };
    Err(match code {
        403 => SequraError::Forbidden(joined("access to this merchant or order is not allowed")),
        404 => SequraError::NotFound(joined("seQura does not know this order or address")),
        409 => SequraError::Conflict(if messages.is_empty() {
            vec!["seQura found the order data inconsistent".to_string()]
        } else {
            messages
        }),
        _ => SequraError::Rejected {
            status: code,
            message: joined("no details given"),
        },
    })
}

/// seQura's `{"errors": [<string> | {"title": …}]}` (or `{"error": …}`) messages; nothing for
/// a body that is not JSON (HTML error pages, plain text).
fn error_messages(body: &[u8]) -> Vec<String> {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return Vec::new();
    };
    let text_of = |v: &Value| -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Object(map) => ["title", "detail", "message", "error"]
                .iter()
                .find_map(|k| map.get(*k).and_then(Value::as_str))
                .map(str::to_string),
            _ => None,
        }
    };
    let raw: Vec<String> = match value.get("errors") {
        Some(Value::Array(items)) => items.iter().filter_map(text_of).collect(),
        Some(other) => text_of(other).into_iter().collect(),
        None => value.get("error").and_then(text_of).into_iter().collect(),
    };
    raw.into_iter()
        .map(|m| m.trim().chars().take(MAX_MESSAGE_CHARS).collect::<String>())
        .filter(|m| !m.is_empty())
        .take(MAX_MESSAGES)
        .collect()
}

/// The answer's body, read as it comes and no further than any answer of seQura's can be
/// (`None` past that): an endless body (the list of deployments read unauthenticated at
/// start-up, a broken host, a form) would otherwise fill the memory before the timeout.
async fn read_capped(mut resp: reqwest::Response) -> Result<Option<Vec<u8>>, SequraError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(transport)? {
        if bytes.len() + chunk.len() > MAX_JSON_BYTES {
            return Ok(None);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Some(bytes))
}

async fn decode_json<T: DeserializeOwned>(
    resp: reqwest::Response,
    what: &str,
) -> Result<T, SequraError> {
    let bytes = read_capped(resp)
        .await?
        .ok_or_else(|| SequraError::Invalid(format!("the {what} answer is too large")))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| SequraError::Invalid(format!("unreadable {what}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(sandbox: &str) -> SequraClient {
        SequraClient::new(
            Url::parse(sandbox).unwrap(),
            Url::parse("https://live.sequrapi.com").unwrap(),
        )
        .unwrap()
    }

    fn sandbox(deployment: Deployment) -> SequraAccount {
        SequraAccount::new(
            deployment,
            Environment::Sandbox,
            "u",
            SecretString::new("p"),
        )
    }

    #[test]
    fn base_urls_get_a_trailing_slash_and_keep_their_prefix() {
        let c = client("http://127.0.0.1:9/sandbox");
        assert_eq!(
            c.base_url(Environment::Sandbox).as_str(),
            "http://127.0.0.1:9/sandbox/"
        );
        assert_eq!(
            c.base_url(Environment::Live).as_str(),
            "https://live.sequrapi.com/"
        );
        let url = c
            .endpoint(&sandbox(Deployment::Sequra), &["orders", "u-1"])
            .unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:9/sandbox/orders/u-1");
        // Another deployment's account goes to that deployment's hosts.
        let url = c
            .endpoint(&sandbox(Deployment::Svea), &["orders", "u-1"])
            .unwrap();
        assert_eq!(
            url.as_str(),
            "https://next-sandbox.sequra.svea.com/orders/u-1"
        );
    }

    #[test]
    fn path_segments_are_percent_encoded() {
        let c = client("http://127.0.0.1:9/");
        let url = c
            .endpoint(
                &sandbox(Deployment::Sequra),
                &["merchants", "m", "orders", "A14/12 3?#%"],
            )
            .unwrap();
        assert_eq!(url.path(), "/merchants/m/orders/A14%2F12%203%3F%23%25");
    }

    #[test]
    fn dot_segments_and_empty_references_are_refused() {
        let c = client("http://127.0.0.1:9/");
        for bad in ["", ".", ".."] {
            let err = c
                .endpoint(
                    &sandbox(Deployment::Sequra),
                    &["merchants", "m", "orders", bad],
                )
                .unwrap_err();
            assert!(
                matches!(err, SequraError::Rejected { status: 400, .. }),
                "{bad:?}"
            );
        }
    }

    /// A host that answers `GET deployments` with an endless body (a tampered or broken
    /// list) is cut off at the size a list can have, not read into memory whole.
    #[tokio::test]
    async fn an_endless_list_of_deployments_is_cut_off() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = sock.read(&mut buf).await;
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n[";
            if sock.write_all(head.as_bytes()).await.is_err() {
                return 0usize;
            }
            let chunk = vec![b' '; 64 * 1024];
            let mut sent = 0usize;
            // Up to 64 MiB, or until the client hangs up.
            while sent < 64 * 1024 * 1024 {
                if sock.write_all(&chunk).await.is_err() {
                    break;
                }
                sent += chunk.len();
            }
            sent
        });
        let live = Url::parse(&format!("http://{addr}/live/")).unwrap();
        let c = SequraClient::new(Url::parse("http://127.0.0.1:9/").unwrap(), live).unwrap();
        let err = c.read_deployments().await.unwrap_err();
        assert!(matches!(err, SequraError::Invalid(_)), "{err:?}");
        let sent = server.await.unwrap();
        assert!(
            sent < 16 * 1024 * 1024,
            "{sent} bytes read before giving up"
        );
    }

    #[test]
    fn a_non_http_base_url_is_refused() {
        let err = SequraClient::new(
            Url::parse("mailto:a@b.c").unwrap(),
            Url::parse("https://live.sequrapi.com/").unwrap(),
        )
        .unwrap_err();
        assert!(matches!(err, SequraError::Invalid(_)));
    }

    #[test]
    fn environments_round_trip_through_their_names() {
        for env in [Environment::Sandbox, Environment::Live] {
            assert_eq!(Environment::parse(env.as_str()), Some(env));
            assert_eq!(
                serde_json::to_value(env).unwrap(),
                Value::String(env.as_str().into())
            );
        }
        assert_eq!(Environment::parse("Live"), None);
        assert_eq!(Environment::parse("production"), None);
    }

    #[test]
    fn a_relative_location_resolves_against_the_request() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::LOCATION,
            "/sandbox/orders/abc-123".parse().unwrap(),
        );
        let order = solicited_order(
            &Url::parse("http://127.0.0.1:9/sandbox/orders").unwrap(),
            &headers,
        )
        .unwrap();
        assert_eq!(order.uuid, "abc-123");
        assert_eq!(
            order.url.as_str(),
            "http://127.0.0.1:9/sandbox/orders/abc-123"
        );
    }

    #[test]
    fn a_location_without_an_order_reference_is_invalid() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::LOCATION,
            "https://sandbox.sequrapi.com/orders/".parse().unwrap(),
        );
        let err = solicited_order(
            &Url::parse("https://sandbox.sequrapi.com/orders").unwrap(),
            &headers,
        )
        .unwrap_err();
        assert!(matches!(err, SequraError::Invalid(_)));
    }

    #[test]
    fn error_messages_read_strings_objects_and_ignore_non_json() {
        assert_eq!(
            error_messages(br#"{"errors":["a", {"title": "b"}, 3]}"#),
            vec!["a".to_string(), "b".to_string()]
        );
        assert_eq!(
            error_messages(br#"{"error":"Unknown"}"#),
            vec!["Unknown".to_string()]
        );
        assert!(
            error_messages(b"<html>The page you were looking for doesn't exist</html>").is_empty()
        );
        assert!(error_messages(b"HTTP Basic: Access denied.").is_empty());
    }

    #[test]
    fn a_registration_location_must_name_a_store_integration() {
        let with = |v: &str| {
            let mut h = reqwest::header::HeaderMap::new();
            h.insert(reqwest::header::LOCATION, v.parse().unwrap());
            integration_id(&h)
        };
        assert_eq!(
            with("https://sandbox.sequrapi.com/store_integrations/4"),
            Ok(4)
        );
        assert_eq!(with("/sandbox/store_integrations/17/"), Ok(17));
        for bad in [
            "https://sandbox.sequrapi.com/store_integrations/",
            "https://sandbox.sequrapi.com/store_integrations/abc",
            "https://sandbox.sequrapi.com/orders/4",
        ] {
            assert!(matches!(with(bad), Err(SequraError::Invalid(_))), "{bad}");
        }
        assert!(matches!(
            integration_id(&reqwest::header::HeaderMap::new()),
            Err(SequraError::Invalid(_))
        ));
    }

    #[test]
    fn the_deleted_url_is_one_raw_url_encoded_segment() {
        // The spec's example (§1.7): every reserved character encoded.
        assert_eq!(
            raw_url_encode("https://shop.example.com/wp?storeId=1&signature=ab~c"),
            "https%3A%2F%2Fshop.example.com%2Fwp%3FstoreId%3D1%26signature%3Dab~c"
        );
        let c = client("http://127.0.0.1:9/sandbox/");
        let mut url = c
            .endpoint(&sandbox(Deployment::Sequra), &["store_integrations"])
            .unwrap();
        let path = format!("{}/{}", url.path(), raw_url_encode("https://a.b/?x=1&y=2"));
        url.set_path(&path);
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:9/sandbox/store_integrations/https%3A%2F%2Fa.b%2F%3Fx%3D1%26y%3D2"
        );
    }

    #[test]
    fn account_debug_hides_the_password() {
        let account = SequraAccount::new(
            Deployment::Sequra,
            Environment::Live,
            "user",
            SecretString::new("s3cr3t-pw"),
        );
        let shown = format!("{account:?}");
        assert!(shown.contains("user"));
        assert!(!shown.contains("s3cr3t-pw"));
    }

    #[test]
    fn only_transient_errors_are_transient() {
        assert!(SequraError::Transient("x".into()).is_transient());
        for e in [
            SequraError::Unauthorized,
            SequraError::Forbidden("x".into()),
            SequraError::NotFound("x".into()),
            SequraError::Conflict(vec!["x".into()]),
            SequraError::Rejected {
                status: 400,
                message: "x".into(),
            },
            SequraError::Invalid("x".into()),
        ] {
            assert!(!e.is_transient(), "{e:?}");
        }
    }
}
