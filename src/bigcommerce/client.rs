//! HTTP client for BigCommerce: the login service's token exchange and a store's REST v2/v3
//! and GraphQL APIs. Base URLs come from config so tests and the demo use the stand-in.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use url::Url;

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
    #[error("BigCommerce is unreachable or failing: {0}")]
    Transient(String),
    #[error("unexpected answer from BigCommerce: {0}")]
    Invalid(String),
}

/// The shared HTTP client and the configured BigCommerce hosts.
#[derive(Clone)]
pub struct BigCommerce {
    http: reqwest::Client,
    login_url: Url,
    api_url: Url,
    client_id: String,
    client_secret: SecretString,
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
    #[serde(default)]
    pub src: Option<String>,
    #[serde(default)]
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

/// An App Extension as the GraphQL Admin API returns it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct AppExtension {
    pub id: String,
    pub url: String,
    pub model: String,
    pub context: String,
}

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
        }
    }
}

/// One store's REST and GraphQL APIs.
pub struct StoreApi {
    http: reqwest::Client,
    base: Url,
    token: SecretString,
}

/// `{data, meta}` envelope of v3 responses.
#[derive(Deserialize)]
struct Envelope<T> {
    data: T,
    #[serde(default)]
    meta: Option<Value>,
}

impl StoreApi {
    async fn send<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T, BcError> {
        let mut req = self
            .http
            .request(method, join(&self.base, path))
            .header("X-Auth-Token", self.token.expose())
            .header("Accept", "application/json");
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.map_err(transport)?;
        decode(resp).await
    }

    /// <https://developer.bigcommerce.com/docs/rest-management/store-information#get-store-information>
    pub async fn store_info(&self) -> Result<StoreInfo, BcError> {
        self.send(reqwest::Method::GET, "v2/store", None).await
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
        let resp = self
            .http
            .delete(join(&self.base, &format!("v3/content/scripts/{uuid}")))
            .header("X-Auth-Token", self.token.expose())
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(transport)?;
        check_status(resp).await.map(|_| ())
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
    let num = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
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
