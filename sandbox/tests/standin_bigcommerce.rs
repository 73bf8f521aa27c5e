//! The BigCommerce stand-in, over real HTTP: it must refuse what BigCommerce refuses.

#[path = "common/browser.rs"]
mod browser;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::StatusCode;
use sequra_bc_sandbox::bigcommerce::{BigCommerceStandIn, StandInConfig, StoreSpec, User};
use serde_json::{Value, json};
use url::Url;

const ERROR_TYPE: &str = "/api-docs/getting-started/api-status-codes";

struct Harness {
    bc: BigCommerceStandIn,
    http: reqwest::Client,
    /// Requests the fake app received: (path, query).
    app_calls: Arc<Mutex<Vec<(String, String)>>>,
}

/// A fake app that answers 200 to everything and records what it got.
async fn fake_app() -> (Url, Arc<Mutex<Vec<(String, String)>>>) {
    use warp::Filter;
    let calls = Arc::new(Mutex::new(Vec::new()));
    let rec = calls.clone();
    let route = warp::path::full()
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .map(move |p: warp::path::FullPath, q: String| {
            rec.lock().unwrap().push((p.as_str().to_owned(), q));
            "ok"
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(warp::serve(route).incoming(listener).run());
    (Url::parse(&format!("http://{addr}")).unwrap(), calls)
}

async fn harness() -> Harness {
    let (app_url, app_calls) = fake_app().await;
    let bc = BigCommerceStandIn::start(([127, 0, 0, 1], 0).into(), StandInConfig::for_app(app_url))
        .await
        .unwrap();
    bc.add_store(StoreSpec::demo("storea"));
    bc.add_store(StoreSpec::demo("storeb"));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Harness {
        bc,
        http,
        app_calls,
    }
}

fn query_map(url: &Url) -> HashMap<String, String> {
    url.query_pairs().into_owned().collect()
}

impl Harness {
    fn url(&self, path: &str) -> String {
        format!(
            "{}{}",
            self.bc.base_url().as_str().trim_end_matches('/'),
            path
        )
    }

    fn owner(&self, hash: &str) -> User {
        self.bc.store_owner(hash).unwrap()
    }

    /// The exchange body the app sends for an `/bc/auth` URL.
    fn exchange_body(&self, auth_url: &Url) -> Value {
        let q = query_map(auth_url);
        json!({
            "client_id": self.bc.client_id(),
            "client_secret": self.bc.client_secret(),
            "code": q["code"],
            "context": q["context"],
            "scope": q["scope"],
            "grant_type": "authorization_code",
            "redirect_uri": format!("{}/bc/auth", self.bc.app_url().as_str().trim_end_matches('/')),
        })
    }

    async fn exchange(&self, body: &Value) -> (StatusCode, Value) {
        let resp = self
            .http
            .post(self.url("/oauth2/token"))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Installs the app on a store and returns its access token.
    async fn install(&self, hash: &str) -> String {
        let url = self.bc.begin_install(hash, &self.owner(hash));
        let (status, body) = self.exchange(&self.exchange_body(&url)).await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut req = self
            .http
            .request(method.parse().unwrap(), self.url(path))
            .header("accept", "application/json");
        if let Some(t) = token {
            req = req.header("x-auth-token", t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.unwrap()
    }

    async fn json(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let resp = self.call(method, path, Some(token), body).await;
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn create_hook(&self, token: &str, scope: &str, dest: &str) -> (StatusCode, Value) {
        self.json(
            "POST",
            "/stores/storea/v3/hooks",
            token,
            Some(
                json!({"scope": scope, "destination": dest, "is_active": true,
                        "headers": {"Authorization": "Bearer s3cret"}}),
            ),
        )
        .await
    }

    async fn graphql(&self, token: &str, query: &str, variables: Value) -> (StatusCode, Value) {
        self.json(
            "POST",
            "/stores/storea/graphql",
            token,
            Some(json!({"query": query, "variables": variables})),
        )
        .await
    }
}

fn script(name: &str) -> Value {
    json!({
        "name": name,
        "description": "seQura checkout",
        "kind": "src",
        "src": "https://app.example.com/static/checkout.js",
        "load_method": "defer",
        "location": "footer",
        "visibility": "checkout",
        "consent_category": "essential",
        "auto_uninstall": true,
        "integrity_hashes": [format!("sha384-{}", "A".repeat(64))],
    })
}

const CREATE_EXT: &str = "mutation AppExtension($input: CreateAppExtensionInput!) { appExtension { createAppExtension(input: $input) { appExtension { id context model url label { defaultValue locales { value localeCode } } } } } }";

fn ext_input(model: &str) -> Value {
    json!({"input": {"context": "PANEL", "model": model, "url": "/orders/${id}/sequra",
        "label": {"defaultValue": "seQura order information",
                  "locales": [{"value": "Información del pedido seQura", "localeCode": "es-ES"}]}}})
}

// ----------------------------------------------------------------------------------------
// Login service

#[tokio::test]
async fn a_code_exchanges_once_and_the_second_exchange_is_refused() {
    let h = harness().await;
    let url = h.bc.begin_install("storea", &h.owner("storea"));
    let body = h.exchange_body(&url);

    let (status, first) = h.exchange(&body).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["context"], "stores/storea");
    assert_eq!(first["account_uuid"], h.bc.account_uuid().as_str());
    assert_eq!(first["user"]["email"], h.owner("storea").email.as_str());
    assert_eq!(first["owner"]["id"], h.owner("storea").id);
    assert!(first["access_token"].as_str().unwrap().len() > 20);

    let (status, second) = h.exchange(&body).await;
    assert_eq!(status, 400);
    assert_eq!(second["error"], "invalid_grant");
}

#[tokio::test]
async fn the_auth_url_carries_the_code_scope_context_and_account() {
    let h = harness().await;
    let url = h.bc.begin_install("storea", &h.owner("storea"));
    assert_eq!(url.path(), "/bc/auth");
    assert!(url.as_str().contains("context=stores%2Fstorea"));
    let q = query_map(&url);
    assert!(q["scope"].contains("store_content_checkout"));
    assert!(q["scope"].contains("store_v2_default users_basic_information"));
    assert_eq!(q["account_uuid"], h.bc.account_uuid());
    assert!(!q.contains_key("external_install"));
    let ext = h.bc.begin_external_install("storea", &h.owner("storea"));
    assert_eq!(query_map(&ext)["external_install"], "1");
}

#[tokio::test]
async fn a_form_encoded_exchange_works_and_grants_the_extra_scopes() {
    let h = harness().await;
    let url = h.bc.begin_install("storea", &h.owner("storea"));
    let body = h.exchange_body(&url);
    let form: Vec<(String, String)> = body
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    let resp = h
        .http
        .post(h.url("/oauth2/token"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let granted: Value = resp.json().await.unwrap();
    let scope = granted["scope"].as_str().unwrap();
    assert!(scope.contains("store_v2_default"));
    assert!(scope.contains("users_basic_information"));
    assert!(scope.contains("store_app_extensions_manage"));
}

#[tokio::test]
async fn a_wrong_client_secret_or_client_id_is_refused_and_the_code_survives() {
    let h = harness().await;
    let url = h.bc.begin_install("storea", &h.owner("storea"));
    let mut body = h.exchange_body(&url);
    body["client_secret"] = json!("nope");
    let (status, err) = h.exchange(&body).await;
    assert_eq!(status, 401);
    assert_eq!(err["error"], "invalid_client");

    let mut body = h.exchange_body(&url);
    body["client_id"] = json!("someoneelse");
    assert_eq!(h.exchange(&body).await.0, 401);

    assert_eq!(h.exchange(&h.exchange_body(&url)).await.0, 200);
}

#[tokio::test]
async fn a_mismatched_context_redirect_uri_grant_type_or_scope_is_refused() {
    let h = harness().await;
    let url = h.bc.begin_install("storea", &h.owner("storea"));
    let cases = [
        ("context", json!("stores/storeb"), "invalid_grant"),
        (
            "redirect_uri",
            json!("https://evil.example.com/bc/auth"),
            "invalid_grant",
        ),
        (
            "grant_type",
            json!("client_credentials"),
            "unsupported_grant_type",
        ),
        ("scope", json!("store_v2_orders"), "invalid_scope"),
        ("code", json!("unknowncode"), "invalid_grant"),
    ];
    for (field, value, error) in cases {
        let mut body = h.exchange_body(&url);
        body[field] = value;
        let (status, err) = h.exchange(&body).await;
        assert_eq!(status, 400, "{field}");
        assert_eq!(err["error"], error, "{field}");
        assert!(err["error_description"].is_string());
    }
    let mut body = h.exchange_body(&url);
    body.as_object_mut().unwrap().remove("redirect_uri");
    assert_eq!(h.exchange(&body).await.1["error"], "invalid_request");
}

#[tokio::test]
async fn an_expired_code_is_refused() {
    let h = harness().await;
    let url = h.bc.begin_install("storea", &h.owner("storea"));
    h.bc.expire_pending_codes();
    let (status, err) = h.exchange(&h.exchange_body(&url)).await;
    assert_eq!(status, 400);
    assert_eq!(err["error"], "invalid_grant");
}

#[tokio::test]
async fn a_reinstall_invalidates_the_previous_token() {
    let h = harness().await;
    let first = h.install("storea").await;
    assert!(h.bc.access_token_valid("storea"));
    let second = h.install("storea").await;
    assert_ne!(first, second);
    let (status, _) = h.json("GET", "/stores/storea/v2/store", &first, None).await;
    assert_eq!(status, 401);
    let (status, _) = h
        .json("GET", "/stores/storea/v2/store", &second, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        h.bc.access_token("storea").as_deref(),
        Some(second.as_str())
    );
}

#[tokio::test]
async fn external_install_reports_are_recorded_and_another_client_is_404() {
    let h = harness().await;
    let cid = h.bc.client_id();
    let resp = h
        .http
        .get(h.url(&format!("/app/{cid}/install/succeeded")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("<p>"));
    let resp = h
        .http
        .get(h.url("/app/otherclient/install/failed"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let reports = h.bc.external_install_reports();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].outcome, "succeeded");
    assert_eq!(reports[0].client_id, cid);
}

// ----------------------------------------------------------------------------------------
// Authentication, scopes, rate limits

#[tokio::test]
async fn a_token_of_store_a_gets_401_on_store_b_in_both_error_shapes() {
    let h = harness().await;
    let token = h.install("storea").await;
    let (status, v3) = h.json("GET", "/stores/storeb/v3/hooks", &token, None).await;
    assert_eq!(status, 401);
    assert_eq!(v3["status"], 401);
    assert_eq!(v3["type"], ERROR_TYPE);
    assert!(v3["title"].is_string());

    let (status, v2) = h.json("GET", "/stores/storeb/v2/store", &token, None).await;
    assert_eq!(status, 401);
    assert_eq!(v2[0]["status"], 401);
    assert!(v2[0]["message"].is_string());
}

#[tokio::test]
async fn a_missing_or_unknown_token_gets_401() {
    let h = harness().await;
    let resp = h.call("GET", "/stores/storea/v3/hooks", None, None).await;
    assert_eq!(resp.status(), 401);
    let resp = h
        .call("GET", "/stores/storea/v3/hooks", Some("madeup"), None)
        .await;
    assert_eq!(resp.status(), 401);
    let resp = h.call("POST", "/stores/storea/graphql", None, None).await;
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn a_missing_scope_gets_403_with_the_v3_body() {
    let h = harness().await;
    h.bc.set_app_scopes("store_v2_orders store_v2_content");
    let token = h.install("storea").await;
    let (status, body) = h
        .json(
            "POST",
            "/stores/storea/v3/content/scripts",
            &token,
            Some(script("checkout")),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(body["status"], 403);
    assert_eq!(body["type"], ERROR_TYPE);

    let mut storefront = script("storefront");
    storefront["visibility"] = json!("storefront");
    let (status, _) = h
        .json(
            "POST",
            "/stores/storea/v3/content/scripts",
            &token,
            Some(storefront),
        )
        .await;
    assert_eq!(status, 200);

    let (status, _) = h.graphql(&token, CREATE_EXT, ext_input("ORDERS")).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn store_information_has_the_hash_the_numeric_store_id_and_spanish_defaults() {
    let h = harness().await;
    let token = h.install("storea").await;
    let (status, store) = h.json("GET", "/stores/storea/v2/store", &token, None).await;
    assert_eq!(status, 200);
    let spec = h.bc.store("storea").unwrap();
    assert_eq!(store["id"], "storea");
    assert_eq!(store["store_id"], spec.store_id);
    assert_eq!(store["country"], "Spain");
    assert_eq!(store["country_code"], "ES");
    assert_eq!(store["currency"], "EUR");
    assert_eq!(store["language"], "es");
    assert_eq!(store["secure_url"], h.bc.storefront_url("storea"));
    assert_eq!(
        h.bc.storefront_url("storea"),
        format!("{}storefront/storea", h.bc.base_url())
    );
    assert_eq!(store["timezone"]["name"], "Europe/Madrid");
    assert_eq!(store["admin_email"], spec.owner.email.as_str());

    let (status, time) = h.json("GET", "/stores/storea/v2/time", &token, None).await;
    assert_eq!(status, 200);
    assert!(time["time"].as_i64().unwrap() > 1_700_000_000);
}

#[tokio::test]
async fn rate_limit_headers_are_on_every_api_response_and_the_quota_is_enforced() {
    let h = harness().await;
    let token = h.install("storea").await;
    for (path, tok) in [
        ("/stores/storea/v2/store", Some(token.as_str())),
        ("/stores/storea/v3/hooks", Some(token.as_str())),
        ("/stores/storea/v3/nothing", Some(token.as_str())),
        ("/stores/storea/v3/hooks", None),
    ] {
        let resp = h.call("GET", path, tok, None).await;
        for name in [
            "x-rate-limit-time-window-ms",
            "x-rate-limit-time-reset-ms",
            "x-rate-limit-requests-quota",
            "x-rate-limit-requests-left",
        ] {
            assert!(resp.headers().contains_key(name), "{name} on {path}");
        }
    }
    h.bc.set_rate_limit_quota(4);
    let mut last = None;
    for _ in 0..6 {
        last = Some(
            h.call("GET", "/stores/storea/v2/time", Some(&token), None)
                .await,
        );
    }
    let last = last.unwrap();
    assert_eq!(last.status(), 429);
    assert_eq!(last.headers()["x-rate-limit-requests-left"], "0");
    assert!(last.headers().contains_key("x-retry-after"));
}

#[tokio::test]
async fn unknown_paths_are_404_and_malformed_json_is_400() {
    let h = harness().await;
    let token = h.install("storea").await;
    let (status, body) = h
        .json("GET", "/stores/storea/v3/catalog/nothing", &token, None)
        .await;
    assert_eq!(status, 404);
    assert_eq!(body["status"], 404);
    let (status, body) = h
        .json("GET", "/stores/storea/v2/nothing", &token, None)
        .await;
    assert_eq!(status, 404);
    assert_eq!(body[0]["status"], 404);

    let resp = h
        .http
        .post(h.url("/stores/storea/v3/hooks"))
        .header("x-auth-token", &token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["title"], "Input is invalid.");
}

// ----------------------------------------------------------------------------------------
// Webhooks

#[tokio::test]
async fn webhook_destinations_must_be_https_on_443_except_loopback() {
    let h = harness().await;
    let token = h.install("storea").await;
    let (status, body) = h
        .create_hook(
            &token,
            "store/order/created",
            "https://app.example.com:8443/wh",
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(body["title"], "JSON data is missing or invalid");
    assert!(body["errors"]["destination"].is_string());
    let (status, _) = h
        .create_hook(&token, "store/order/created", "http://app.example.com/wh")
        .await;
    assert_eq!(status, 422);

    let (status, ok) = h
        .create_hook(&token, "store/order/created", "https://app.example.com/wh")
        .await;
    assert_eq!(status, 200);
    let (status, local) = h
        .create_hook(&token, "store/order/created", "http://127.0.0.1:3000/wh")
        .await;
    assert_eq!(status, 200);
    let hook = &local["data"];
    assert_eq!(hook["client_id"], h.bc.client_id().as_str());
    assert_eq!(hook["store_hash"], "storea");
    assert_eq!(hook["is_active"], true);
    assert_eq!(hook["headers"]["Authorization"], "Bearer s3cret");
    assert!(hook["created_at"].as_i64().unwrap() > 0);
    assert_eq!(local["meta"], json!({}));
    assert_ne!(ok["data"]["id"], hook["id"]);
}

#[tokio::test]
async fn webhook_creation_validates_every_field() {
    let h = harness().await;
    let token = h.install("storea").await;
    let (status, body) = h
        .json("POST", "/stores/storea/v3/hooks", &token, Some(json!({})))
        .await;
    assert_eq!(status, 422);
    assert_eq!(body["errors"]["destination"], "error.path.missing.");
    assert_eq!(body["errors"]["scope"], "error.path.missing.");
    for bad in [
        json!({"scope": "store/order/nothing", "destination": "https://a.example.com/w"}),
        json!({"scope": "store/order/created", "destination": "https://a.example.com/w", "is_active": "yes"}),
        json!({"scope": "store/order/created", "destination": "https://a.example.com/w", "headers": {"X-Key": 1}}),
        json!({"scope": "store/order/created", "destination": "https://a.example.com/w", "headers": ["x"]}),
    ] {
        let (status, _) = h
            .json("POST", "/stores/storea/v3/hooks", &token, Some(bad.clone()))
            .await;
        assert_eq!(status, 422, "{bad}");
    }
    let (status, body) = h
        .json(
            "POST",
            "/stores/storea/v3/hooks",
            &token,
            Some(json!({"scope": "store/order/*", "destination": "https://a.example.com/w", "headers": null})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["headers"], Value::Null);
}

#[tokio::test]
async fn a_duplicate_scope_and_destination_is_refused_with_422() {
    let h = harness().await;
    let token = h.install("storea").await;
    let dest = "https://app.example.com/wh";
    assert_eq!(
        h.create_hook(&token, "store/order/created", dest).await.0,
        200
    );
    let (status, body) = h.create_hook(&token, "store/order/created", dest).await;
    assert_eq!(status, 422);
    assert_eq!(body["type"], ERROR_TYPE);
    assert!(body["title"].as_str().unwrap().contains("already exists"));
    assert_eq!(
        h.create_hook(&token, "store/order/updated", dest).await.0,
        200
    );
}

#[tokio::test]
async fn the_eleventh_hook_for_a_scope_is_refused() {
    let h = harness().await;
    let token = h.install("storea").await;
    for i in 0..10 {
        let dest = format!("https://app{i}.example.com/wh");
        assert_eq!(
            h.create_hook(&token, "store/order/created", &dest).await.0,
            200
        );
    }
    let (status, body) = h
        .create_hook(
            &token,
            "store/order/created",
            "https://app10.example.com/wh",
        )
        .await;
    assert_eq!(status, 422);
    assert!(body["errors"]["scope"].is_string());
    let (status, _) = h
        .create_hook(
            &token,
            "store/order/updated",
            "https://app10.example.com/wh",
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_hook_list_shows_only_the_tokens_client_and_filters_and_paginates() {
    let h = harness().await;
    let token = h.install("storea").await;
    let other = h.bc.issue_token("storea", "otherclient", "store_v2_orders");
    h.create_hook(&token, "store/order/created", "https://a.example.com/w")
        .await;
    h.create_hook(&token, "store/order/updated", "https://a.example.com/w")
        .await;
    h.create_hook(&other, "store/order/created", "https://b.example.com/w")
        .await;
    let (_, list) = h.json("GET", "/stores/storea/v3/hooks", &token, None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    assert!(
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["destination"] == "https://a.example.com/w")
    );
    assert_eq!(list["meta"]["pagination"]["total"], 2);
    assert_eq!(
        list["meta"]["pagination"]["links"]["current"],
        "?page=1&limit=50"
    );

    let (_, filtered) = h
        .json(
            "GET",
            "/stores/storea/v3/hooks?scope=store/order/updated",
            &token,
            None,
        )
        .await;
    assert_eq!(filtered["data"].as_array().unwrap().len(), 1);

    let (_, page) = h
        .json(
            "GET",
            "/stores/storea/v3/hooks?limit=1&page=2",
            &token,
            None,
        )
        .await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert_eq!(page["meta"]["pagination"]["total_pages"], 2);
    assert_eq!(
        page["meta"]["pagination"]["links"]["previous"],
        "?page=1&limit=1"
    );

    let id = list["data"][0]["id"].as_u64().unwrap();
    h.bc.deactivate_webhook("storea", id);
    let (_, inactive) = h
        .json(
            "GET",
            "/stores/storea/v3/hooks?is_active=false",
            &token,
            None,
        )
        .await;
    assert_eq!(inactive["data"][0]["id"], id);
    assert_eq!(h.bc.webhooks("storea").len(), 3);
}

#[tokio::test]
async fn a_hook_can_be_updated_and_another_clients_hook_is_404() {
    let h = harness().await;
    let token = h.install("storea").await;
    let other = h.bc.issue_token("storea", "otherclient", "");
    let (_, created) = h
        .create_hook(&token, "store/order/created", "https://a.example.com/w")
        .await;
    let id = created["data"]["id"].as_u64().unwrap();
    let path = format!("/stores/storea/v3/hooks/{id}");

    let (status, updated) = h
        .json("PUT", &path, &token, Some(json!({"is_active": false})))
        .await;
    assert_eq!(status, 200);
    assert_eq!(updated["data"]["is_active"], false);
    assert_eq!(updated["data"]["scope"], "store/order/created");
    let (status, _) = h.json("PUT", &path, &token, Some(json!({}))).await;
    assert_eq!(status, 422);

    let (status, body) = h.json("GET", &path, &other, None).await;
    assert_eq!(status, 404);
    assert_eq!(body["title"], format!("Webhook with id [{id}] not found"));
}

#[tokio::test]
async fn a_deleted_hook_is_404_with_the_documented_body() {
    let h = harness().await;
    let token = h.install("storea").await;
    let (_, created) = h
        .create_hook(&token, "store/order/created", "https://a.example.com/w")
        .await;
    let id = created["data"]["id"].as_u64().unwrap();
    let path = format!("/stores/storea/v3/hooks/{id}");
    let (status, deleted) = h.json("DELETE", &path, &token, None).await;
    assert_eq!(status, 200);
    assert_eq!(deleted["data"]["id"], id);
    let (status, body) = h.json("GET", &path, &token, None).await;
    assert_eq!(status, 404);
    assert_eq!(
        body,
        json!({"status": 404, "title": format!("Webhook with id [{id}] not found"), "type": ERROR_TYPE})
    );
}

// ----------------------------------------------------------------------------------------
// Scripts

#[tokio::test]
async fn a_script_is_created_with_its_uuid_dates_and_integrity_hashes() {
    let h = harness().await;
    let token = h.install("storea").await;
    let (status, body) = h
        .json(
            "POST",
            "/stores/storea/v3/content/scripts",
            &token,
            Some(script("seQura")),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let s = &body["data"];
    assert_eq!(s["name"], "seQura");
    assert_eq!(s["kind"], "src");
    assert_eq!(s["api_client_id"], h.bc.client_id().as_str());
    assert_eq!(
        s["integrity_hashes"][0],
        format!("sha384-{}", "A".repeat(64))
    );
    assert!(s.get("html").is_none());
    assert!(s["date_created"].as_str().unwrap().ends_with('Z'));
    let uuid = s["uuid"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(uuid).is_ok());

    let path = format!("/stores/storea/v3/content/scripts/{uuid}");
    let (status, got) = h.json("GET", &path, &token, None).await;
    assert_eq!(status, 200);
    assert_eq!(got["data"]["uuid"], uuid);
    let (status, put) = h
        .json("PUT", &path, &token, Some(json!({"enabled": false})))
        .await;
    assert_eq!(status, 200);
    assert_eq!(put["data"]["enabled"], false);
    assert_eq!(put["data"]["src"], s["src"]);
    let resp = h.call("DELETE", &path, Some(&token), None).await;
    assert_eq!(resp.status(), 204);
    assert_eq!(h.json("GET", &path, &token, None).await.0, 404);
}

#[tokio::test]
async fn invalid_scripts_are_refused_with_422() {
    let h = harness().await;
    let token = h.install("storea").await;
    let tag = "<script>window.seq=1</script>";
    let cases = [
        ("kind", json!({"kind": "inline"})),
        (
            "load_method",
            json!({"kind": "script_tag", "src": null, "integrity_hashes": [], "html": tag, "load_method": "defer"}),
        ),
        (
            "html",
            json!({"kind": "script_tag", "src": null, "integrity_hashes": [], "html": "<div></div>", "load_method": "default"}),
        ),
        ("src", json!({"src": null})),
        ("src", json!({"src": "/relative.js"})),
        ("src", json!({"src": "http://cdn.example.com/a.js"})),
        ("name", json!({"name": ""})),
        ("visibility", json!({"visibility": "everywhere"})),
        ("location", json!({"location": "body"})),
        ("consent_category", json!({"consent_category": "unknown"})),
        (
            "integrity_hashes",
            json!({"integrity_hashes": [{"hash": format!("sha384-{}", "A".repeat(64))}]}),
        ),
        (
            "integrity_hashes",
            json!({"integrity_hashes": ["sha384-short"]}),
        ),
        ("channel_id", json!({"channel_id": 0})),
    ];
    for (field, patch) in cases {
        let mut body = script("bad");
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, err) = h
            .json(
                "POST",
                "/stores/storea/v3/content/scripts",
                &token,
                Some(body),
            )
            .await;
        assert_eq!(status, 422, "{field}: {err}");
        assert!(err["errors"][field].is_string(), "{field}: {err}");
    }
    let mut missing_name = script("x");
    missing_name.as_object_mut().unwrap().remove("name");
    let (status, err) = h
        .json(
            "POST",
            "/stores/storea/v3/content/scripts",
            &token,
            Some(missing_name),
        )
        .await;
    assert_eq!(status, 422);
    assert!(err["errors"]["name"].is_string());

    let ok_tag =
        json!({"name": "tag", "kind": "script_tag", "html": tag, "visibility": "checkout"});
    let (status, body) = h
        .json(
            "POST",
            "/stores/storea/v3/content/scripts",
            &token,
            Some(ok_tag),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["load_method"], "default");
    assert!(body["data"].get("src").is_none());
}

/// PCI DSS 4.0 6.4.3 (spec §4.1 (a), `scripts.mdx` "Subresource integrity"): every script on
/// the checkout page needs at least one SRI hash. An external script shown on checkout
/// (`checkout`, or `all_pages`, which includes it) without one is refused with 422, on create
/// and on update; elsewhere none is needed, and a script without hashes lists them as `null`.
/// Under platform load BigCommerce answers 429 with none of its rate-limit headers (spec §7);
/// `overload_next` does so for the matching requests, then the API answers as usual.
#[tokio::test]
async fn an_overload_429_carries_no_rate_limit_headers() {
    let h = harness().await;
    let token = h.install("storea").await;
    h.bc.overload_next("GET", "/v2/store", 1);
    let resp = h
        .call("GET", "/stores/storea/v2/store", Some(&token), None)
        .await;
    assert_eq!(resp.status(), 429);
    let names: Vec<String> = resp.headers().keys().map(|k| k.to_string()).collect();
    assert!(
        names
            .iter()
            .all(|n| !n.starts_with("x-rate-limit") && n != "x-retry-after"),
        "{names:?}"
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body[0]["status"], 429, "the v2 error shape");
    let resp = h
        .call("GET", "/stores/storea/v2/store", Some(&token), None)
        .await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("x-rate-limit-requests-left"));
}

#[tokio::test]
async fn a_checkout_script_without_an_sri_hash_is_refused() {
    let h = harness().await;
    let token = h.install("storea").await;
    let post = |body: Value| {
        h.json(
            "POST",
            "/stores/storea/v3/content/scripts",
            &token,
            Some(body),
        )
    };
    for (visibility, hashes) in [
        ("checkout", None),
        ("checkout", Some(json!(null))),
        ("checkout", Some(json!([]))),
        ("all_pages", Some(json!([]))),
    ] {
        let mut body = script("no-sri");
        body["visibility"] = json!(visibility);
        match hashes {
            None => {
                body.as_object_mut().unwrap().remove("integrity_hashes");
            }
            Some(v) => body["integrity_hashes"] = v,
        }
        let (status, err) = post(body).await;
        assert_eq!(status, 422, "{visibility} {err}");
        assert!(err["errors"]["integrity_hashes"].is_string(), "{err}");
    }
    assert!(h.bc.scripts("storea").is_empty());

    let (status, ok) = post(script("with-sri")).await;
    assert_eq!(status, 200, "{ok}");
    let path = format!(
        "/stores/storea/v3/content/scripts/{}",
        ok["data"]["uuid"].as_str().unwrap()
    );
    let (status, err) = h
        .json("PUT", &path, &token, Some(json!({"integrity_hashes": []})))
        .await;
    assert_eq!(status, 422, "hashes removed: {err}");
    assert_eq!(
        h.bc.scripts("storea")[0]["integrity_hashes"],
        script("x")["integrity_hashes"],
        "unchanged"
    );

    // A storefront script needs none; its hashes read back as null.
    let mut storefront = script("storefront");
    storefront["visibility"] = json!("storefront");
    storefront
        .as_object_mut()
        .unwrap()
        .remove("integrity_hashes");
    let (status, body) = post(storefront).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["data"]["integrity_hashes"].is_null(), "{body}");
    // Moving it onto checkout without a hash is refused too.
    let path = format!(
        "/stores/storea/v3/content/scripts/{}",
        body["data"]["uuid"].as_str().unwrap()
    );
    let (status, _) = h
        .json(
            "PUT",
            &path,
            &token,
            Some(json!({"visibility": "checkout"})),
        )
        .await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn the_eleventh_script_of_an_app_is_refused_and_other_apps_scripts_are_invisible() {
    let h = harness().await;
    let token = h.install("storea").await;
    for i in 0..10 {
        let (status, _) = h
            .json(
                "POST",
                "/stores/storea/v3/content/scripts",
                &token,
                Some(script(&format!("s{i}"))),
            )
            .await;
        assert_eq!(status, 200);
    }
    let (status, body) = h
        .json(
            "POST",
            "/stores/storea/v3/content/scripts",
            &token,
            Some(script("s10")),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(body["status"], 422);

    let other =
        h.bc.issue_token("storea", "otherclient", "store_content_checkout");
    let (status, _) = h
        .json(
            "POST",
            "/stores/storea/v3/content/scripts",
            &other,
            Some(script("mine")),
        )
        .await;
    assert_eq!(status, 200);
    let (_, list) = h
        .json("GET", "/stores/storea/v3/content/scripts", &other, None)
        .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["meta"]["pagination"]["total"], 1);
    let foreign = h.bc.scripts("storea")[0]["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = h
        .json(
            "GET",
            &format!("/stores/storea/v3/content/scripts/{foreign}"),
            &other,
            None,
        )
        .await;
    assert_eq!(status, 404);
}

// ----------------------------------------------------------------------------------------
// GraphQL App Extensions

#[tokio::test]
async fn app_extensions_are_created_queried_updated_and_deleted() {
    let h = harness().await;
    let token = h.install("storea").await;
    let (status, created) = h.graphql(&token, CREATE_EXT, ext_input("ORDERS")).await;
    assert_eq!(status, 200);
    let ext = &created["data"]["appExtension"]["createAppExtension"]["appExtension"];
    let id = ext["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("bc/store/appExtension/"));
    assert_eq!(ext["context"], "PANEL");
    assert_eq!(ext["label"]["locales"][0]["localeCode"], "es-ES");

    let (_, listed) = h
        .graphql(
            &token,
            "query { store { appExtensions { edges { node { id url model context label { defaultValue } } } } } }",
            json!({}),
        )
        .await;
    let edges = listed["data"]["store"]["appExtensions"]["edges"]
        .as_array()
        .unwrap();
    assert_eq!(edges.len(), 1);
    assert_eq!(edges[0]["node"]["url"], "/orders/${id}/sequra");

    let (_, updated) = h
        .graphql(
            &token,
            "mutation U($input: UpdateAppExtensionInput!) { appExtension { updateAppExtension(input: $input) { appExtension { id url } } } }",
            json!({"input": {"id": id, "data": {"url": "/orders/${id}/sequra-v2"}}}),
        )
        .await;
    assert_eq!(
        updated["data"]["appExtension"]["updateAppExtension"]["appExtension"]["url"],
        "/orders/${id}/sequra-v2"
    );

    let inline = format!(
        "mutation {{ appExtension {{ deleteAppExtension(input: {{id: \"{id}\"}}) {{ deletedAppExtensionId }} }} }}"
    );
    let (_, deleted) = h.graphql(&token, &inline, Value::Null).await;
    assert_eq!(
        deleted["data"]["appExtension"]["deleteAppExtension"]["deletedAppExtensionId"],
        id.as_str()
    );
    assert!(h.bc.app_extensions("storea").is_empty());
}

#[tokio::test]
async fn the_third_extension_per_model_and_invalid_input_are_graphql_errors() {
    let h = harness().await;
    let token = h.install("storea").await;
    for _ in 0..2 {
        let (_, body) = h.graphql(&token, CREATE_EXT, ext_input("ORDERS")).await;
        assert!(body.get("errors").is_none(), "{body}");
    }
    let (status, third) = h.graphql(&token, CREATE_EXT, ext_input("ORDERS")).await;
    assert_eq!(status, 200);
    assert!(third["errors"][0]["message"].is_string());
    let (_, products) = h.graphql(&token, CREATE_EXT, ext_input("PRODUCTS")).await;
    assert!(products.get("errors").is_none());

    let mut bad = ext_input("ORDERS");
    bad["input"]["url"] = json!(format!("/{}", "x".repeat(260)));
    let (status, body) = h.graphql(&token, CREATE_EXT, bad).await;
    assert_eq!(status, 200);
    assert!(body["errors"][0]["message"].is_string());
    let mut bad = ext_input("CUSTOMERS");
    bad["input"]["context"] = json!("MODAL");
    assert!(h.graphql(&token, CREATE_EXT, bad).await.1["errors"].is_array());
    let mut bad = ext_input("CUSTOMERS");
    bad["input"]["label"] = json!({"locales": []});
    assert!(h.graphql(&token, CREATE_EXT, bad).await.1["errors"].is_array());

    // Limits are per store: store B still has room for ORDERS extensions.
    let token_b = h.install("storeb").await;
    let (_, body) = h
        .json(
            "POST",
            "/stores/storeb/graphql",
            &token_b,
            Some(json!({"query": CREATE_EXT, "variables": ext_input("ORDERS")})),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(h.bc.app_extensions("storeb").len(), 1);
}

// ----------------------------------------------------------------------------------------
// Control-panel simulator

#[tokio::test]
async fn the_load_jwt_has_the_documented_claims_and_verifies_with_the_secret() {
    let h = harness().await;
    let owner = h.owner("storea");
    let url = h.bc.load_url("storea", &owner, "/");
    assert_eq!(url.path(), "/bc/load");
    let jwt = query_map(&url)["signed_payload_jwt"].clone();
    let mut v = Validation::new(Algorithm::HS256);
    v.set_audience(&[h.bc.client_id()]);
    v.set_issuer(&["bc"]);
    let claims = jsonwebtoken::decode::<Value>(
        &jwt,
        &DecodingKey::from_secret(h.bc.client_secret().as_bytes()),
        &v,
    )
    .unwrap()
    .claims;
    let iat = claims["iat"].as_i64().unwrap();
    assert_eq!(claims["nbf"].as_i64().unwrap(), iat - 5);
    assert_eq!(claims["exp"].as_i64().unwrap(), iat - 5 + 86_400);
    assert_eq!(claims["sub"], "stores/storea");
    assert_eq!(claims["url"], "/");
    assert_eq!(claims["channel_id"], Value::Null);
    assert_eq!(claims["user"]["locale"], "es-ES");
    assert_eq!(claims["owner"]["email"], owner.email.as_str());
    assert!(uuid::Uuid::parse_str(claims["jti"].as_str().unwrap()).is_ok());

    let panel = h.bc.order_panel_url("storea", &owner, 106);
    let jwt = query_map(&panel)["signed_payload_jwt"].clone();
    let claims = jsonwebtoken::decode::<Value>(
        &jwt,
        &DecodingKey::from_secret(h.bc.client_secret().as_bytes()),
        &v,
    )
    .unwrap()
    .claims;
    assert_eq!(claims["url"], "/orders/106/sequra");
    assert_eq!(claims["channel_id"], 1);

    let crafted = h.bc.mint_signed_payload_jwt(&json!({"aud": "x", "exp": 1}));
    assert_eq!(crafted.split('.').count(), 3);
}

#[tokio::test]
async fn uninstall_calls_the_app_and_removes_the_token_hooks_auto_scripts_and_extensions() {
    let h = harness().await;
    let token = h.install("storea").await;
    let token_b = h.install("storeb").await;
    h.create_hook(&token, "store/order/created", "https://a.example.com/w")
        .await;
    let other = h.bc.issue_token("storea", "otherclient", "");
    h.create_hook(&other, "store/order/created", "https://b.example.com/w")
        .await;
    h.json(
        "POST",
        "/stores/storea/v3/content/scripts",
        &token,
        Some(script("auto")),
    )
    .await;
    let mut keep = script("keep");
    keep["auto_uninstall"] = json!(false);
    h.json(
        "POST",
        "/stores/storea/v3/content/scripts",
        &token,
        Some(keep),
    )
    .await;
    h.graphql(&token, CREATE_EXT, ext_input("ORDERS")).await;

    assert_eq!(h.bc.uninstall("storea").await.unwrap(), 200);

    let calls = h.app_calls.lock().unwrap().clone();
    let (path, query) = calls.last().unwrap();
    assert_eq!(path, "/bc/uninstall");
    assert!(query.starts_with("signed_payload_jwt="));
    assert!(!h.bc.access_token_valid("storea"));
    assert_eq!(
        h.json("GET", "/stores/storea/v2/time", &token, None)
            .await
            .0,
        401
    );
    let hooks = h.bc.webhooks("storea");
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0]["client_id"], "otherclient");
    let scripts = h.bc.scripts("storea");
    assert_eq!(scripts.len(), 1);
    assert_eq!(scripts[0]["name"], "keep");
    assert!(h.bc.app_extensions("storea").is_empty());
    // Store B is untouched.
    assert_eq!(
        h.json("GET", "/stores/storeb/v2/time", &token_b, None)
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn remove_user_calls_the_app_with_that_user_in_the_jwt() {
    let h = harness().await;
    h.install("storea").await;
    let staff = User {
        id: 777,
        email: "staff@example.com".into(),
        locale: "en-US".into(),
    };
    let _ = h.bc.load_url("storea", &staff, "/");
    assert_eq!(h.bc.remove_user("storea", 777).await.unwrap(), 200);
    let calls = h.app_calls.lock().unwrap().clone();
    let (path, query) = calls.last().unwrap();
    assert_eq!(path, "/bc/remove-user");
    let jwt = query.trim_start_matches("signed_payload_jwt=");
    let mut v = Validation::new(Algorithm::HS256);
    v.set_audience(&[h.bc.client_id()]);
    let claims = jsonwebtoken::decode::<Value>(
        jwt,
        &DecodingKey::from_secret(h.bc.client_secret().as_bytes()),
        &v,
    )
    .unwrap()
    .claims;
    assert_eq!(claims["user"]["id"], 777);
    assert_eq!(claims["user"]["email"], "staff@example.com");
    assert!(h.bc.access_token_valid("storea"));
}

#[tokio::test]
async fn fail_next_returns_the_injected_status_once() {
    let h = harness().await;
    let token = h.install("storea").await;
    h.bc.fail_next("POST", "/v3/content/scripts", 500, 1);
    let (status, body) = h
        .json(
            "POST",
            "/stores/storea/v3/content/scripts",
            &token,
            Some(script("s")),
        )
        .await;
    assert_eq!(status, 500);
    assert_eq!(body["status"], 500);
    assert_eq!(body["type"], ERROR_TYPE);
    assert!(h.bc.scripts("storea").is_empty());
    let (status, _) = h
        .json(
            "POST",
            "/stores/storea/v3/content/scripts",
            &token,
            Some(script("s")),
        )
        .await;
    assert_eq!(status, 200);

    h.bc.fail_next("GET", "/v2/store", 503, 2);
    for _ in 0..2 {
        let (status, body) = h.json("GET", "/stores/storea/v2/store", &token, None).await;
        assert_eq!(status, 503);
        assert_eq!(body[0]["status"], 503);
    }
    assert_eq!(
        h.json("GET", "/stores/storea/v2/store", &token, None)
            .await
            .0,
        200
    );

    h.bc.fail_next("GET", "/v3/hooks", 429, 1);
    let resp = h
        .call("GET", "/stores/storea/v3/hooks", Some(&token), None)
        .await;
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().contains_key("x-retry-after"));
}

#[tokio::test]
async fn every_request_is_recorded_in_order() {
    let h = harness().await;
    let token = h.install("storea").await;
    h.bc.clear_requests();
    h.json("GET", "/stores/storea/v2/time?x=1", &token, None)
        .await;
    h.create_hook(&token, "store/order/created", "https://a.example.com/w")
        .await;
    let reqs = h.bc.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].method, "GET");
    assert_eq!(reqs[0].path, "/stores/storea/v2/time");
    assert_eq!(reqs[0].query, "x=1");
    assert_eq!(reqs[0].header("X-Auth-Token"), Some(token.as_str()));
    assert_eq!(reqs[1].method, "POST");
    assert!(reqs[1].body.contains("store/order/created"));
}

#[tokio::test]
async fn the_control_panel_pages_install_open_and_uninstall_the_app() {
    let h = harness().await;
    let mut evil = StoreSpec::demo("storec");
    evil.name = "<script>alert(1)</script>".into();
    h.bc.add_store(evil);

    let home = h.http.get(h.url("/")).send().await.unwrap();
    assert_eq!(home.status(), 200);
    let html = home.text().await.unwrap();
    assert!(html.contains("/manage/storea"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!html.contains("<script>alert"));

    let page = h.http.get(h.url("/manage/storea")).send().await.unwrap();
    assert!(page.text().await.unwrap().contains("Install seQura"));

    let resp = h
        .http
        .post(h.url("/manage/storea/install"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let app_page = h.http.get(h.url(&location)).send().await.unwrap();
    let html = app_page.text().await.unwrap();
    assert!(html.contains("<iframe"));
    assert!(html.contains("/bc/auth?account_uuid="));

    // The fake app never exchanges the code, so the store is not installed yet.
    h.install("storea").await;
    let html = h
        .http
        .get(h.url("/manage/storea/app"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("/bc/load?signed_payload_jwt="));

    let resp = h
        .http
        .post(h.url("/manage/storea/uninstall"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert!(!h.bc.access_token_valid("storea"));
    let html = h
        .http
        .get(h.url("/manage/storea"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("answered HTTP 200"));
    assert_eq!(
        h.http
            .get(h.url("/manage/nostore"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn the_orders_page_opens_the_registered_order_action_in_a_side_panel() {
    let h = harness().await;
    let token = h.install("storea").await;
    let html = h
        .http
        .get(h.url("/manage/storea/orders?panel=106"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("No app has registered"));
    h.graphql(&token, CREATE_EXT, ext_input("ORDERS")).await;
    let html = h
        .http
        .get(h.url("/manage/storea/orders?panel=106"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("class=\"panel\""));
    assert!(html.contains("/bc/load?signed_payload_jwt="));
}

#[tokio::test]
async fn shutdown_stops_the_server() {
    let h = harness().await;
    let url = h.url("/");
    h.bc.clone().shutdown().await;
    assert!(h.http.get(url).send().await.is_err());
}

/// `GET /v3/catalog/products?{q}` of storea.
async fn products(h: &Harness, token: &str, q: &str) -> (StatusCode, Value) {
    h.json(
        "GET",
        &format!("/stores/storea/v3/catalog/products?{q}"),
        token,
        None,
    )
    .await
}

fn ids(list: &Value) -> Vec<u64> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn order_statuses_are_the_fifteen_of_the_spec_with_custom_labels() {
    let h = harness().await;
    let token = h.install("storea").await;
    let (status, list) = h
        .json("GET", "/stores/storea/v2/order_statuses", &token, None)
        .await;
    assert_eq!(status, 200);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 15);
    for (i, s) in list.iter().enumerate() {
        assert_eq!(s["id"], i as u64);
        for field in ["name", "system_label", "custom_label", "system_description"] {
            assert!(s[field].is_string(), "{field} of {s}");
        }
        assert!(s["order"].is_u64());
    }
    assert_eq!(list[0]["name"], "Incomplete");
    assert_eq!(list[7]["name"], "Awaiting Payment");
    assert_eq!(list[14]["name"], "Partially Refunded");
    // The demo store relabels 11; the others keep their system label.
    assert_eq!(list[11]["name"], "Awaiting Fulfillment");
    assert_eq!(list[11]["system_label"], "Awaiting Fulfillment");
    assert_eq!(list[11]["custom_label"], "Listo para preparar");
    assert_eq!(list[7]["custom_label"], "Awaiting Payment");

    assert!(h.bc.set_order_status_label("storea", 7, "Pendiente de pago"));
    assert!(h.bc.reset_order_status_label("storea", 11));
    assert!(!h.bc.set_order_status_label("nostore", 7, "x"));
    let (_, list) = h
        .json("GET", "/stores/storea/v2/order_statuses", &token, None)
        .await;
    assert_eq!(list[7]["custom_label"], "Pendiente de pago");
    assert_eq!(list[11]["custom_label"], "Awaiting Fulfillment");

    let (status, one) = h
        .json("GET", "/stores/storea/v2/order_statuses/7", &token, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(one["custom_label"], "Pendiente de pago");
    let (status, body) = h
        .json("GET", "/stores/storea/v2/order_statuses/15", &token, None)
        .await;
    assert_eq!(status, 404);
    assert_eq!(body[0]["status"], 404);
}

#[tokio::test]
async fn order_statuses_need_an_orders_scope_and_read_only_is_enough() {
    let h = harness().await;
    let ro =
        h.bc.issue_token("storea", "ro", "store_v2_orders_read_only");
    let (status, _) = h
        .json("GET", "/stores/storea/v2/order_statuses", &ro, None)
        .await;
    assert_eq!(status, 200);
    let none =
        h.bc.issue_token("storea", "none", "store_v2_default store_v2_information");
    let (status, body) = h
        .json("GET", "/stores/storea/v2/order_statuses", &none, None)
        .await;
    assert_eq!(status, 403);
    assert_eq!(body[0]["status"], 403);
    assert!(body[0]["message"].is_string());
}

#[tokio::test]
async fn shipping_zones_are_one_country_zone_per_shipping_country() {
    let h = harness().await;
    let token = h.install("storea").await;
    let (status, zones) = h
        .json("GET", "/stores/storea/v2/shipping/zones", &token, None)
        .await;
    assert_eq!(status, 200);
    let zones = zones.as_array().unwrap();
    let countries: Vec<&str> = zones
        .iter()
        .map(|z| z["locations"][0]["country_iso2"].as_str().unwrap())
        .collect();
    assert_eq!(countries, ["ES", "FR", "PT", "DE"]);
    for z in zones {
        assert_eq!(z["type"], "country");
        assert!(z["id"].is_u64());
        assert!(z["name"].is_string());
        assert!(z["locations"][0]["id"].is_u64());
        assert_eq!(z["enabled"], true);
        assert!(z["free_shipping"]["enabled"].is_boolean());
    }
    assert_eq!(zones[0]["name"], "España");

    h.bc.set_shipping_countries("storea", &["it"]);
    h.bc.set_ships_rest_of_world("storea", true);
    let (_, zones) = h
        .json("GET", "/stores/storea/v2/shipping/zones", &token, None)
        .await;
    assert_eq!(zones.as_array().unwrap().len(), 2);
    assert_eq!(zones[0]["locations"][0]["country_iso2"], "IT");
    assert_eq!(zones[1]["type"], "global");
    assert_eq!(zones[1]["locations"], json!([]));

    h.bc.set_shipping_countries("storea", &[]);
    h.bc.set_ships_rest_of_world("storea", false);
    let resp = h
        .call(
            "GET",
            "/stores/storea/v2/shipping/zones",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(resp.status(), 204);
    assert!(resp.text().await.unwrap().is_empty());
}

#[tokio::test]
async fn shipping_zones_need_the_information_scope() {
    let h = harness().await;
    let token =
        h.bc.issue_token("storea", "c", "store_v2_default store_v2_orders");
    let (status, body) = h
        .json("GET", "/stores/storea/v2/shipping/zones", &token, None)
        .await;
    assert_eq!(status, 403);
    assert_eq!(body[0]["status"], 403);
    let modify = h.bc.issue_token("storea", "c", "store_v2_information");
    let (status, _) = h
        .json("GET", "/stores/storea/v2/shipping/zones", &modify, None)
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn products_filter_by_keyword_in_name_or_sku_case_insensitively() {
    let h = harness().await;
    let token = h.install("storea").await;
    let (status, all) = h
        .json("GET", "/stores/storea/v3/catalog/products", &token, None)
        .await;
    assert_eq!(status, 200);
    let p = &all["data"][0];
    assert_eq!(p["id"], 101);
    assert_eq!(p["name"], "Camiseta básica de algodón");
    assert_eq!(p["sku"], "CAM-001");
    assert_eq!(p["price"], 19.95);
    assert_eq!(p["categories"], json!([18, 19]));
    assert!(p["type"].is_string());
    let total = all["meta"]["pagination"]["total"].as_u64().unwrap();
    assert_eq!(total as usize, all["data"].as_array().unwrap().len());
    assert!(total >= 8);

    let get = |q: &'static str| {
        let (h, token) = (&h, token.clone());
        async move {
            let (status, body) = products(h, &token, q).await;
            assert_eq!(status, 200, "{q}: {body}");
            body
        }
    };
    assert_eq!(ids(&get("keyword=CAMISETA").await), [101, 102]);
    assert_eq!(ids(&get("keyword=cam-00").await), [101, 102]);
    assert_eq!(ids(&get("keyword=zap-001").await), [104]);
    assert_eq!(ids(&get("keyword=B%C3%81SICA").await), [101]);
    assert_eq!(ids(&get("keyword=blanco%20%26%20negro").await), [107]);
    assert_eq!(ids(&get("keyword=nada+parecido").await), Vec::<u64>::new());
    assert_eq!(ids(&get("id:in=108,101,999").await), [101, 108]);
    assert_eq!(ids(&get("id%3Ain=104").await), [104]);
    assert_eq!(ids(&get("id=105").await), [105]);
    assert_eq!(ids(&get("sku=TRG-050").await), [108]);
    // Unknown filters are ignored.
    assert_eq!(
        ids(&get("keyword=camiseta&is_featured=1&whatever=x").await),
        [101, 102]
    );

    let slim = get("keyword=cam&include_fields=name,sku,categories").await;
    let keys: Vec<&String> = slim["data"][0].as_object().unwrap().keys().collect();
    let mut keys: Vec<&str> = keys.into_iter().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["categories", "id", "name", "sku"]);
    let no_price = get("id=101&exclude_fields=price,id").await;
    assert!(no_price["data"][0].get("price").is_none());
    assert_eq!(no_price["data"][0]["id"], 101);
}

#[tokio::test]
async fn products_paginate_with_meta_and_refuse_bad_paging() {
    let h = harness().await;
    let token = h.install("storea").await;
    let (status, page) = h
        .json(
            "GET",
            "/stores/storea/v3/catalog/products?limit=3&page=2",
            &token,
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(ids(&page), [104, 105, 106]);
    let meta = &page["meta"]["pagination"];
    assert_eq!(meta["total"], 9);
    assert_eq!(meta["count"], 3);
    assert_eq!(meta["per_page"], 3);
    assert_eq!(meta["current_page"], 2);
    assert_eq!(meta["total_pages"], 3);
    assert_eq!(meta["links"]["previous"], "?page=1&limit=3");
    assert_eq!(meta["links"]["next"], "?page=3&limit=3");

    for q in ["limit=0", "page=abc", "limit=-1"] {
        let (status, body) = h
            .json(
                "GET",
                &format!("/stores/storea/v3/catalog/products?{q}"),
                &token,
                None,
            )
            .await;
        assert_eq!(status, 422, "{q}");
        assert_eq!(body["type"], ERROR_TYPE);
        assert!(body["errors"].is_object());
    }
    let (status, body) = h
        .json(
            "GET",
            "/stores/storea/v3/catalog/products?id:in=1,x",
            &token,
            None,
        )
        .await;
    assert_eq!(status, 422);
    assert!(body["errors"]["id:in"].is_string());
}

/// `sort` takes the products list's sort fields (`ProductsSortEnum`: id, name, sku, price,
/// date_modified, date_last_imported, inventory_level, is_visible, total_sold) with
/// `direction` asc or desc; anything else is refused, not ignored.
#[tokio::test]
async fn products_sort_by_name_or_sku_either_way_and_refuse_unknown_sorts() {
    let h = harness().await;
    let token = h.install("storea").await;
    let get = |q: &'static str| {
        let (h, token) = (&h, token.clone());
        async move { products(h, &token, q).await }
    };
    let (status, body) = get("sort=name&limit=4").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        ids(&body),
        [106, 105, 107, 101],
        "Bolso, Botas, Calcetines, Camiseta básica"
    );
    let (_, body) = get("sort=name&direction=asc&limit=2&page=2").await;
    assert_eq!(ids(&body), [107, 101]);
    let (_, body) = get("sort=name&direction=desc&limit=2").await;
    assert_eq!(ids(&body), [104, 108], "Zapatillas, Tarjeta");
    let (_, body) = get("sort=sku&keyword=cam").await;
    assert_eq!(ids(&body), [101, 102]);
    let (_, body) = get("sort=id&direction=desc&limit=1").await;
    assert_eq!(ids(&body), [109]);
    for q in [
        "sort=colour",
        "sort=name&direction=up",
        "direction=sideways",
    ] {
        let (status, body) = get(q).await;
        assert_eq!(status, 422, "{q}: {body}");
        assert_eq!(body["type"], ERROR_TYPE);
    }
}

#[tokio::test]
async fn categories_filter_by_name_like_id_in_and_parent() {
    let h = harness().await;
    let token = h.install("storea").await;
    let get = |q: &'static str| {
        let h = &h;
        let token = token.clone();
        async move {
            let (status, body) = h
                .json(
                    "GET",
                    &format!("/stores/storea/v3/catalog/categories?{q}"),
                    &token,
                    None,
                )
                .await;
            assert_eq!(status, 200, "{q}: {body}");
            body
        }
    };
    let all = get("").await;
    let names: Vec<&str> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for expected in ["Ropa", "Calzado", "Tarjetas regalo"] {
        assert!(names.contains(&expected), "{names:?}");
    }
    let camisetas = &all["data"][1];
    assert_eq!(camisetas["name"], "Camisetas");
    assert_eq!(camisetas["parent_id"], 18);
    assert_eq!(camisetas["custom_url"]["url"], "/ropa/camisetas/");
    assert_eq!(all["meta"]["pagination"]["total"], 7);

    assert_eq!(ids(&get("name:like=regalo").await), [23]);
    assert_eq!(ids(&get("name%3Alike=CAL").await), [21]);
    assert_eq!(ids(&get("name=Ropa").await), [18]);
    assert_eq!(ids(&get("id:in=21,23").await), [21, 23]);
    assert_eq!(ids(&get("parent_id=18").await), [19, 20]);
    assert_eq!(ids(&get("name:like=zzz").await), Vec::<u64>::new());
    let page = get("limit=2&page=4").await;
    assert_eq!(ids(&page), [24]);
    assert_eq!(page["meta"]["pagination"]["total_pages"], 4);
    let slim = get("include_fields=parent_id,name&id=19").await;
    assert_eq!(
        slim["data"][0],
        json!({"id": 19, "parent_id": 18, "name": "Camisetas"})
    );
}

#[tokio::test]
async fn the_catalog_needs_a_products_scope_and_is_per_store() {
    let h = harness().await;
    let none =
        h.bc.issue_token("storea", "c", "store_v2_default store_v2_orders");
    for path in [
        "/stores/storea/v3/catalog/products",
        "/stores/storea/v3/catalog/categories",
    ] {
        let (status, body) = h.json("GET", path, &none, None).await;
        assert_eq!(status, 403, "{path}");
        assert_eq!(body["status"], 403);
        assert_eq!(body["type"], ERROR_TYPE);
    }
    let modify = h.bc.issue_token("storea", "c", "store_v2_products");
    let (status, _) = h
        .json("GET", "/stores/storea/v3/catalog/categories", &modify, None)
        .await;
    assert_eq!(status, 200);

    h.bc.set_catalog(
        "storeb",
        vec![sequra_bc_sandbox::bigcommerce::CatalogProduct::new(
            7,
            "Solo en B",
            "B-1",
            100,
            &[],
        )],
        vec![],
    );
    let token_b = h.install("storeb").await;
    let (_, b) = h
        .json("GET", "/stores/storeb/v3/catalog/products", &token_b, None)
        .await;
    assert_eq!(ids(&b), [7]);
    let (_, cats) = h
        .json(
            "GET",
            "/stores/storeb/v3/catalog/categories",
            &token_b,
            None,
        )
        .await;
    assert_eq!(cats["data"], json!([]));
    assert_eq!(cats["meta"]["pagination"]["total"], 0);
    let (status, _) = h
        .json(
            "POST",
            "/stores/storeb/v3/catalog/products",
            &token_b,
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 405);
}

// ----------------------------------------------------------------------------------------
// Checkouts, orders, metafields, channels, customers and the storefront

/// A v2 money string: digits, a point, exactly four decimals.
fn is_v2_money(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        let (int, frac) = s
            .trim_start_matches('-')
            .split_once('.')
            .unwrap_or(("", ""));
        !int.is_empty()
            && int.bytes().all(|b| b.is_ascii_digit())
            && frac.len() == 4
            && frac.bytes().all(|b| b.is_ascii_digit())
    })
}

/// The `name=value` of a response's `Set-Cookie` for `name`.
fn set_cookie(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_owned())
        .find(|kv| kv.starts_with(&format!("{name}=")))
}

impl Harness {
    fn storefront(&self, hash: &str, path: &str) -> String {
        format!("{}{path}", self.bc.storefront_url(hash))
    }

    /// A storefront GET with a `Cookie` header.
    async fn shopper_get(&self, url: &str, cookie: Option<&str>) -> reqwest::Response {
        let mut req = self.http.get(url);
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        req.send().await.unwrap()
    }

    async fn shopper_post(
        &self,
        url: &str,
        cookie: Option<&str>,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut req = self.http.post(url).form(form);
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        req.send().await.unwrap()
    }

    async fn create_order(&self, token: &str, checkout: &str) -> u64 {
        let (status, body) = self
            .json(
                "POST",
                &format!("/stores/storea/v3/checkouts/{checkout}/orders"),
                token,
                Some(json!({})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["data"]["id"].as_u64().unwrap()
    }

    async fn checkout_token(&self, token: &str, checkout: &str) -> String {
        let (status, body) = self
            .json(
                "POST",
                &format!("/stores/storea/v3/checkouts/{checkout}/token"),
                token,
                Some(json!({"maxUses": 1, "ttl": 600})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["checkoutToken"].as_str().unwrap().to_owned()
    }
}

#[tokio::test]
async fn a_checkout_has_the_v3_shape_with_the_spanish_default_shopper() {
    let h = harness().await;
    let token = h.install("storea").await;
    let id = h.bc.create_checkout("storea", &[(101, 2), (109, 1)], "ES");
    let (status, body) = h
        .json(
            "GET",
            &format!("/stores/storea/v3/checkouts/{id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let c = &body["data"];
    assert_eq!(c["id"], id.as_str());
    assert_eq!(c["cart"]["id"], id.as_str());
    assert_eq!(c["cart"]["customer_id"], 0);
    assert_eq!(c["cart"]["email"], "test@sequra.es");
    assert_eq!(c["cart"]["currency"]["code"], "EUR");
    assert_eq!(c["cart"]["channel_id"], 1);
    let physical = &c["cart"]["line_items"]["physical_items"];
    assert_eq!(physical.as_array().unwrap().len(), 1);
    assert_eq!(physical[0]["product_id"], 101);
    assert_eq!(physical[0]["sku"], "CAM-001");
    assert_eq!(physical[0]["quantity"], 2);
    assert_eq!(physical[0]["is_taxable"], true);
    assert_eq!(physical[0]["list_price"], 19.95);
    assert_eq!(physical[0]["sale_price"], 19.95);
    assert_eq!(physical[0]["extended_sale_price"], 39.9);
    let digital = &c["cart"]["line_items"]["digital_items"];
    assert_eq!(digital[0]["product_id"], 109);
    assert_eq!(digital[0]["extended_sale_price"], 9.9);
    assert_eq!(c["cart"]["line_items"]["gift_certificates"], json!([]));
    assert_eq!(c["cart"]["line_items"]["custom_items"], json!([]));
    let billing = &c["billing_address"];
    assert_eq!(billing["first_name"], "Fulano");
    assert_eq!(billing["last_name"], "De Tal");
    assert_eq!(billing["address1"], "Carrer d'Alí Bei, 7");
    assert_eq!(billing["postal_code"], "08010");
    assert_eq!(billing["city"], "Barcelona");
    assert_eq!(billing["country_code"], "ES");
    let consignment = &c["consignments"][0];
    assert_eq!(consignment["address"]["country_code"], "ES");
    assert_eq!(
        consignment["selected_shipping_option"]["description"],
        "Envío estándar"
    );
    assert_eq!(consignment["selected_shipping_option"]["cost"], 4.95);
    assert_eq!(consignment["shipping_cost_inc_tax"], 4.95);
    assert_eq!(consignment["line_item_ids"], json!([physical[0]["id"]]));
    assert_eq!(c["subtotal_inc_tax"], 49.8);
    assert_eq!(c["grand_total"], 54.75);
    // 54.75 / 1.21 = 45.2479… → VAT 9.50
    assert_eq!(c["tax_total"], 9.5);
    assert_eq!(c["order_id"], Value::Null);
    assert_eq!(c["version"], 1);

    let (status, body) = h
        .json("GET", "/stores/storea/v3/checkouts/nope", &token, None)
        .await;
    assert_eq!(status, 404);
    assert_eq!(body["status"], 404);
    assert_eq!(body["type"], ERROR_TYPE);
    // Carts are per store.
    let token_b = h.install("storeb").await;
    let (status, _) = h
        .json(
            "GET",
            &format!("/stores/storeb/v3/checkouts/{id}"),
            &token_b,
            None,
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_digital_only_cart_has_no_consignment_and_no_shipping() {
    let h = harness().await;
    let token = h.install("storea").await;
    let id = h.bc.create_checkout("storea", &[(109, 1)], "FR");
    let (_, body) = h
        .json(
            "GET",
            &format!("/stores/storea/v3/checkouts/{id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(body["data"]["consignments"], json!([]));
    assert_eq!(body["data"]["grand_total"], 9.9);
    assert_eq!(body["data"]["billing_address"]["country_code"], "FR");
    let order = h.create_order(&token, &id).await;
    let o = h.bc.order("storea", order).unwrap();
    assert_eq!(o["order_is_digital"], true);
    assert_eq!(o["shipping_cost_inc_tax"], "0.0000");
    let resp = h
        .call(
            "GET",
            &format!("/stores/storea/v2/orders/{order}/shipping_addresses"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(resp.status(), 204);
}

#[tokio::test]
async fn every_post_orders_creates_a_new_incomplete_order_from_the_cart() {
    let h = harness().await;
    let token = h.install("storea").await;
    let id = h.bc.create_checkout("storea", &[(101, 2), (109, 1)], "ES");
    let first = h.create_order(&token, &id).await;
    let second = h.create_order(&token, &id).await;
    assert_ne!(first, second);
    assert_eq!(h.bc.orders("storea").len(), 2);

    let (status, o) = h
        .json(
            "GET",
            &format!("/stores/storea/v2/orders/{second}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, 200, "{o}");
    assert_eq!(o["id"], second);
    assert_eq!(o["status_id"], 0);
    assert_eq!(o["status"], "Incomplete");
    assert_eq!(o["cart_id"], id.as_str());
    assert_eq!(o["order_source"], "checkout_api");
    assert_eq!(o["channel_id"], 1);
    assert_eq!(o["customer_id"], 0);
    assert_eq!(o["is_tax_inclusive_pricing"], true);
    assert_eq!(o["currency_code"], "EUR");
    assert_eq!(o["default_currency_code"], "EUR");
    assert_eq!(o["subtotal_inc_tax"], "49.8000");
    assert_eq!(o["shipping_cost_inc_tax"], "4.9500");
    assert_eq!(o["shipping_cost_ex_tax"], "4.0909");
    assert_eq!(o["total_inc_tax"], "54.7500");
    assert_eq!(o["store_credit_amount"], "0.0000");
    assert_eq!(o["gift_certificate_amount"], "0.0000");
    assert_eq!(o["items_total"], 3);
    assert_eq!(o["billing_address"]["country_iso2"], "ES");
    assert_eq!(o["billing_address"]["email"], "test@sequra.es");
    assert!(o["date_created"].as_str().unwrap().ends_with("+0000"));
    for field in [
        "subtotal_ex_tax",
        "subtotal_tax",
        "total_ex_tax",
        "total_tax",
        "handling_cost_inc_tax",
        "wrapping_cost_inc_tax",
        "discount_amount",
        "coupon_discount",
        "refunded_amount",
    ] {
        assert!(is_v2_money(&o[field]), "{field}: {}", o[field]);
    }
    let ex = |f: &str| {
        o[f].as_str()
            .unwrap()
            .replace('.', "")
            .parse::<i64>()
            .unwrap()
    };
    assert_eq!(ex("total_ex_tax") + ex("total_tax"), 547_500);

    let (status, products) = h
        .json(
            "GET",
            &format!("/stores/storea/v2/orders/{second}/products"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, 200);
    let products = products.as_array().unwrap();
    assert_eq!(products.len(), 2);
    assert_eq!(products[0]["type"], "physical");
    assert_eq!(products[0]["product_id"], 101);
    assert_eq!(products[0]["quantity"], 2);
    assert_eq!(products[0]["price_inc_tax"], "19.9500");
    assert_eq!(products[0]["total_inc_tax"], "39.9000");
    assert_eq!(products[1]["type"], "digital");
    assert_eq!(products[1]["order_address_id"], 0);
    let (_, addresses) = h
        .json(
            "GET",
            &format!("/stores/storea/v2/orders/{second}/shipping_addresses"),
            &token,
            None,
        )
        .await;
    let a = &addresses[0];
    assert_eq!(a["country_iso2"], "ES");
    assert_eq!(a["street_1"], "Carrer d'Alí Bei, 7");
    assert_eq!(a["shipping_method"], "Envío estándar");
    assert_eq!(a["cost_inc_tax"], "4.9500");
    assert_eq!(a["shipping_zone_name"], "España");
    assert_eq!(a["items_total"], 2);
    assert_eq!(products[0]["order_address_id"], a["id"]);

    // The checkout points at the last order; the list hides Incomplete orders unless asked.
    let (_, c) = h
        .json(
            "GET",
            &format!("/stores/storea/v3/checkouts/{id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(c["data"]["order_id"], second.to_string());
    let resp = h
        .call("GET", "/stores/storea/v2/orders", Some(&token), None)
        .await;
    assert_eq!(resp.status(), 204);
    let (status, list) = h
        .json(
            "GET",
            &format!("/stores/storea/v2/orders?status_id=0&cart_id={id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(ids(&json!({"data": list})), [first, second]);
    let (_, page) = h
        .json(
            "GET",
            "/stores/storea/v2/orders?status_id=0&limit=1&page=2&sort=id:desc",
            &token,
            None,
        )
        .await;
    assert_eq!(page[0]["id"], first);
    let (status, _) = h
        .json("GET", "/stores/storea/v2/orders?status_id=x", &token, None)
        .await;
    assert_eq!(status, 400);
    // More than 250 a page is refused, not cut short.
    let (status, body) = h
        .json("GET", "/stores/storea/v2/orders?limit=251", &token, None)
        .await;
    assert_eq!(status, 413);
    assert_eq!(body[0]["status"], 413);
    let (status, _) = h
        .json(
            "GET",
            "/stores/storea/v2/orders?status_id=0&limit=250",
            &token,
            None,
        )
        .await;
    assert_eq!(status, 200);

    let (status, body) = h
        .json("GET", "/stores/storea/v2/orders/99999", &token, None)
        .await;
    assert_eq!(status, 404);
    assert_eq!(body[0]["status"], 404);
    let (status, _) = h
        .json(
            "POST",
            "/stores/storea/v3/checkouts/nope/orders",
            &token,
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 404);
    let empty = h.bc.create_checkout("storea", &[], "ES");
    let (status, _) = h
        .json(
            "POST",
            &format!("/stores/storea/v3/checkouts/{empty}/orders"),
            &token,
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 422);
}

/// `createOrder` requires `Content-Type` (`checkouts.v3.yml`, parameter `Content-Type`,
/// `required: true`, `application/json`): without it, or with another type, 415 and no order.
#[tokio::test]
async fn creating_an_order_from_a_checkout_needs_a_json_content_type() {
    let h = harness().await;
    let token = h.install("storea").await;
    let id = h.bc.create_checkout("storea", &[(104, 1)], "ES");
    let path = format!("/stores/storea/v3/checkouts/{id}/orders");
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let mut req = h
            .http
            .post(h.url(&path))
            .header("accept", "application/json")
            .header("x-auth-token", &token);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct).body("{}");
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 415, "{content_type:?}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["status"], 415);
        assert_eq!(body["type"], ERROR_TYPE);
    }
    assert!(h.bc.orders("storea").is_empty(), "no order was created");
    // The type may carry parameters; the body is not read.
    let resp = h
        .http
        .post(h.url(&path))
        .header("accept", "application/json")
        .header("x-auth-token", &token)
        .header("content-type", "application/json; charset=utf-8")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(h.bc.orders("storea").len(), 1);
}

#[tokio::test]
async fn the_list_filters_by_modification_date_and_status() {
    let h = harness().await;
    let token = h.install("storea").await;
    let id = h.bc.create_checkout("storea", &[(104, 1)], "ES");
    let order = h.create_order(&token, &id).await;
    let (status, _) = h
        .json(
            "PUT",
            &format!("/stores/storea/v2/orders/{order}"),
            &token,
            Some(json!({"status_id": 11})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, list) = h
        .json(
            "GET",
            "/stores/storea/v2/orders?min_date_modified=2020-01-01T00:00:00Z&status_id=11",
            &token,
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(list[0]["id"], order);
    let resp = h
        .call(
            "GET",
            "/stores/storea/v2/orders?min_date_modified=Thu,%2001%20Jan%202099%2000:00:00%20%2B0000",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(resp.status(), 204);
    let (status, _) = h
        .json(
            "GET",
            "/stores/storea/v2/orders?min_date_modified=yesterday",
            &token,
            None,
        )
        .await;
    assert_eq!(status, 400);
    // A Unix time is not a date BigCommerce reads (RFC 2822 or ISO 8601 only).
    for filter in ["min_date_modified", "min_date_created"] {
        let (status, body) = h
            .json(
                "GET",
                &format!("/stores/storea/v2/orders?{filter}=1577836800"),
                &token,
                None,
            )
            .await;
        assert_eq!(status, 400, "{filter}: {body}");
    }
}

/// The ids of a v2 list page (204: none).
async fn list_ids(h: &Harness, token: &str, query: &str) -> Vec<u64> {
    let resp = h
        .call(
            "GET",
            &format!("/stores/storea/v2/orders?{query}"),
            Some(token),
            None,
        )
        .await;
    match resp.status() {
        StatusCode::NO_CONTENT => Vec::new(),
        StatusCode::OK => {
            let list: Value = resp.json().await.unwrap();
            list.as_array()
                .unwrap()
                .iter()
                .map(|o| o["id"].as_u64().unwrap())
                .collect()
        }
        other => panic!("{query}: {other}"),
    }
}

/// `getOrders`' id and date bounds include their value (dates compared to the instant, RFC
/// 2822 or RFC 3339), combine, and sort as `orders.v2.oas2.yml` lists; equal values come in
/// descending id order [U], never by ascending id a client could rely on.
#[tokio::test]
async fn the_list_bounds_ids_and_dates_inclusively_and_sorts_on_the_contract_fields() {
    let h = harness().await;
    let token = h.install("storea").await;
    let created = [
        "Mon, 01 Jan 2024 10:00:00 +0000",
        "Mon, 01 Jan 2024 10:00:00 +0000",
        "Mon, 01 Jan 2024 10:00:01 +0000",
        "Mon, 01 Jan 2024 10:00:02 +0000",
    ];
    let mut ids = Vec::new();
    for date in created {
        let id = h.bc.create_checkout("storea", &[(104, 1)], "ES");
        let order = h.create_order(&token, &id).await;
        let (status, body) = h
            .json(
                "PUT",
                &format!("/stores/storea/v2/orders/{order}"),
                &token,
                Some(json!({"status_id": 11, "date_created": date})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["date_created"], date);
        ids.push(order);
    }
    let [a, b, c, d] = ids[..] else {
        unreachable!()
    };
    let q = |s: &str| s.replace(' ', "%20").replace('+', "%2B");

    let first_second = q("Mon, 01 Jan 2024 10:00:00 +0000");
    let second_second = q("Mon, 01 Jan 2024 10:00:01 +0000");
    assert_eq!(
        list_ids(
            &h,
            &token,
            &format!("min_date_created={first_second}&max_date_created={second_second}")
        )
        .await,
        [a, b, c],
        "both date bounds include their second; by id without a sort"
    );
    assert_eq!(
        list_ids(
            &h,
            &token,
            &format!("min_date_created={first_second}&max_date_created={first_second}")
        )
        .await,
        [a, b],
        "one second, both bounds on it"
    );
    assert_eq!(
        list_ids(
            &h,
            &token,
            "min_date_created=2024-01-01T10:00:00.500Z&max_date_created=2024-01-01T10:00:01.000%2B00:00"
        )
        .await,
        [c],
        "RFC 3339 with a fraction: 10:00:00 is before 10:00:00.5"
    );
    assert_eq!(
        list_ids(&h, &token, &format!("min_id={b}&max_id={c}")).await,
        [b, c]
    );
    assert_eq!(
        list_ids(&h, &token, &format!("min_id={d}&max_id={a}")).await,
        Vec::<u64>::new()
    );
    assert_eq!(
        list_ids(&h, &token, "sort=date_created:asc").await,
        [b, a, c, d],
        "equal dates by descending id"
    );
    assert_eq!(
        list_ids(&h, &token, "sort=date_created:desc").await,
        [d, c, b, a]
    );
    assert_eq!(list_ids(&h, &token, "sort=id:desc").await, [d, c, b, a]);
    assert_eq!(list_ids(&h, &token, "sort=id").await, [a, b, c, d]);
    // All four were placed within a moment: one modification second, read by id from an id.
    let modified = h.bc.order("storea", d).unwrap()["date_modified"]
        .as_str()
        .unwrap()
        .to_owned();
    if h.bc.order("storea", a).unwrap()["date_modified"] == modified.as_str() {
        let t = q(&modified);
        assert_eq!(
            list_ids(
                &h,
                &token,
                &format!(
                    "min_date_modified={t}&max_date_modified={t}&sort=id:asc&min_id={b}&limit=2&page=1"
                )
            )
            .await,
            [b, c]
        );
        assert_eq!(
            list_ids(&h, &token, "sort=date_modified:asc").await,
            [d, c, b, a]
        );
    }
    for field in ["customer_id", "channel_id", "external_id", "status_id"] {
        assert_eq!(
            list_ids(&h, &token, &format!("sort={field}:asc"))
                .await
                .len(),
            4,
            "{field}"
        );
    }
}

/// What the list cannot read is refused (400, v2 error array) rather than ignored, which
/// would list other orders [U]; so is a creation date that is not RFC 2822.
#[tokio::test]
async fn the_list_refuses_sorts_ids_and_dates_it_cannot_read() {
    let h = harness().await;
    let token = h.install("storea").await;
    let id = h.bc.create_checkout("storea", &[(104, 1)], "ES");
    let order = h.create_order(&token, &id).await;
    assert!(h.bc.set_order_status("storea", order, 11));
    for query in [
        "sort=total",
        "sort=id:up",
        "sort=ID:ASC",
        "sort=",
        "min_id=abc",
        "max_id=1.5",
        "min_id=-1",
        "max_date_modified=yesterday",
        "max_date_created=1577836800",
        "min_date_modified=2024-13-01T00:00:00Z",
    ] {
        let (status, body) = h
            .json(
                "GET",
                &format!("/stores/storea/v2/orders?{query}"),
                &token,
                None,
            )
            .await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body[0]["status"], 400, "{query}");
        assert!(
            body[0]["message"]
                .as_str()
                .unwrap()
                .starts_with("The field '"),
            "{query}: {body}"
        );
    }
    let before = h.bc.order("storea", order).unwrap()["date_created"].clone();
    let (status, body) = h
        .json(
            "PUT",
            &format!("/stores/storea/v2/orders/{order}"),
            &token,
            Some(json!({"date_created": "2024-01-01"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(h.bc.order("storea", order).unwrap()["date_created"], before);
}

/// The test control: the queued edit lands right after the store's next list page, as a
/// `PUT` (new `date_modified`, the field written); not after an empty answer, nor after
/// another store's list.
#[tokio::test]
async fn an_edit_queued_for_the_next_list_page_lands_right_after_it() {
    let h = harness().await;
    let token = h.install("storea").await;
    let token_b = h.install("storeb").await;
    let id = h.bc.create_checkout("storea", &[(104, 1)], "ES");
    let order = h.create_order(&token, &id).await;
    assert!(h.bc.set_order_status("storea", order, 11));
    h.bc.edit_order_after_next_list("storea", order, json!({"staff_notes": "edited meanwhile"}));
    let notes = || h.bc.order("storea", order).unwrap()["staff_notes"].clone();
    assert_eq!(list_ids(&h, &token, "status_id=5").await, Vec::<u64>::new());
    assert_eq!(notes(), "", "not after a 204");
    let resp = h
        .call("GET", "/stores/storeb/v2/orders", Some(&token_b), None)
        .await;
    assert_eq!(resp.status(), 204);
    assert_eq!(notes(), "", "not after another store's list");
    let (status, list) = h
        .json("GET", "/stores/storea/v2/orders", &token, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        list[0]["staff_notes"], "",
        "the page shows the order before the edit"
    );
    assert_eq!(notes(), "edited meanwhile");
    h.bc.set_order_status("storea", order, 11);
    let (_, again) = h
        .json("GET", "/stores/storea/v2/orders", &token, None)
        .await;
    assert_eq!(again[0]["staff_notes"], "edited meanwhile", "applied once");
}

#[tokio::test]
async fn checkout_tokens_are_validated_single_use_and_expire() {
    let h = harness().await;
    let token = h.install("storea").await;
    let id = h.bc.create_checkout("storea", &[(104, 1)], "ES");
    let path = format!("/stores/storea/v3/checkouts/{id}/token");
    for bad in [
        json!({"maxUses": 1, "ttl": 0}),
        json!({"maxUses": 1, "ttl": 2_592_001}),
        json!({"maxUses": 0, "ttl": 60}),
        json!({"maxUses": "one", "ttl": 60}),
        json!({"maxUses": 1, "ttl": 1.5}),
    ] {
        let (status, body) = h.json("POST", &path, &token, Some(bad.clone())).await;
        assert_eq!(status, 422, "{bad} → {body}");
        assert!(body["errors"].is_object(), "{body}");
    }
    let (status, body) = h
        .json(
            "POST",
            &path,
            &token,
            Some(json!({"maxUses": 1, "ttl": 2_592_000})),
        )
        .await;
    assert_eq!(status, 200);
    let checkout_token = body["checkoutToken"].as_str().unwrap();
    assert_eq!(checkout_token.len(), 64);
    assert!(checkout_token.bytes().all(|b| b.is_ascii_hexdigit()));
    let (status, _) = h
        .json(
            "POST",
            "/stores/storea/v3/checkouts/nope/token",
            &token,
            Some(json!({"maxUses": 1, "ttl": 60})),
        )
        .await;
    assert_eq!(status, 404);
    let read_only =
        h.bc.issue_token("storea", &h.bc.client_id(), "store_checkout_read_only");
    let (status, _) = h
        .json(
            "POST",
            &path,
            &read_only,
            Some(json!({"maxUses": 1, "ttl": 60})),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = h
        .json(
            "GET",
            &format!("/stores/storea/v3/checkouts/{id}"),
            &read_only,
            None,
        )
        .await;
    assert_eq!(status, 200);

    // The confirmation page: the right token once, nothing else.
    let order = h.create_order(&token, &id).await;
    let t = h.checkout_token(&token, &id).await;
    let other = h.bc.create_checkout("storea", &[(101, 1)], "ES");
    let other_order = h.create_order(&token, &other).await;
    let other_token = h.checkout_token(&token, &other).await;

    let page = |path: String| h.shopper_get_owned(path);
    let wrong = page(h.storefront(
        "storea",
        &format!("/order-confirmation/{order}?t={other_token}"),
    ))
    .await;
    assert_eq!(wrong.0, 403);
    let none = page(h.storefront("storea", &format!("/order-confirmation/{order}"))).await;
    assert_eq!(none.0, 403);
    let (status, html) =
        page(h.storefront("storea", &format!("/order-confirmation/{order}?t={t}"))).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Thank you"));
    assert!(html.contains(&format!("<strong id=\"order-number\">{order}</strong>")));
    assert!(html.contains("Incomplete"));
    let (status, _) =
        page(h.storefront("storea", &format!("/order-confirmation/{order}?t={t}"))).await;
    assert_eq!(status, 403, "a used token");
    // `maxUses` is honoured; the checkout-js path works too.
    let (_, body) = h
        .json(
            "POST",
            &path,
            &token,
            Some(json!({"maxUses": 2, "ttl": 60})),
        )
        .await;
    let two = body["checkoutToken"].as_str().unwrap().to_owned();
    for expected in [200, 200, 403] {
        let (status, _) = page(h.storefront(
            "storea",
            &format!("/checkout/order-confirmation/{order}?t={two}"),
        ))
        .await;
        assert_eq!(status, expected);
    }
    // Expired.
    h.bc.expire_checkout_tokens("storea");
    let (status, _) = page(h.storefront(
        "storea",
        &format!("/order-confirmation/{other_order}?t={other_token}"),
    ))
    .await;
    assert_eq!(status, 403);
}

impl Harness {
    async fn shopper_get_owned(&self, url: String) -> (StatusCode, String) {
        let resp = self.shopper_get(&url, None).await;
        let status = resp.status();
        (status, resp.text().await.unwrap())
    }
}

#[tokio::test]
async fn order_updates_are_validated_and_placing_the_order_completes_the_checkout() {
    let h = harness().await;
    let token = h.install("storea").await;
    let id = h.bc.create_checkout("storea", &[(104, 1)], "ES");
    let order = h.create_order(&token, &id).await;
    let path = format!("/stores/storea/v2/orders/{order}");

    for (body, needle) in [
        (json!({"status_id": 99}), "status_id"),
        (json!({"status_id": "11"}), "status_id"),
        (json!({"foo": 1}), "not supported"),
        (
            json!({"store_credit_amount": "1.0000"}),
            "cannot be written",
        ),
        (json!({"cart_id": "x"}), "cannot be written"),
        (json!({"payment_provider_id": true}), "payment_provider_id"),
        (json!({"total_inc_tax": "12,50"}), "total_inc_tax"),
    ] {
        let (status, resp) = h.json("PUT", &path, &token, Some(body.clone())).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(resp[0]["status"], 400);
        assert!(
            resp[0]["message"].as_str().unwrap().contains(needle),
            "{body} → {resp}"
        );
    }
    assert_eq!(
        h.bc.order("storea", order).unwrap()["status_id"],
        0,
        "nothing written"
    );
    let (status, _) = h.json("PUT", &path, &token, Some(json!([1]))).await;
    assert_eq!(status, 400);

    let (status, o) = h
        .json(
            "PUT",
            &path,
            &token,
            Some(json!({
                "status_id": 11,
                "payment_method": "seQura – Paga en 3 plazos",
                "payment_provider_id": 12345,
                "staff_notes": "seQura ref abc",
            })),
        )
        .await;
    assert_eq!(status, 200, "{o}");
    assert_eq!(o["status_id"], 11);
    assert_eq!(o["status"], "Awaiting Fulfillment");
    assert_eq!(o["payment_method"], "seQura – Paga en 3 plazos");
    assert_eq!(o["payment_provider_id"], 12345);
    assert_eq!(o["staff_notes"], "seQura ref abc");
    let (_, again) = h
        .json(
            "PUT",
            &path,
            &token,
            Some(json!({"payment_provider_id": "7f5c-uuid"})),
        )
        .await;
    assert_eq!(again["payment_provider_id"], "7f5c-uuid");
    assert_eq!(again["status_id"], 11, "unchanged");

    // Placed: no more tokens for that checkout; the cart itself stays until deleted.
    let (status, _) = h
        .json(
            "POST",
            &format!("/stores/storea/v3/checkouts/{id}/token"),
            &token,
            Some(json!({"maxUses": 1, "ttl": 60})),
        )
        .await;
    assert_eq!(status, 422);
    let (status, _) = h
        .json(
            "GET",
            &format!("/stores/storea/v3/checkouts/{id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, list) = h
        .json(
            "GET",
            &format!("/stores/storea/v2/orders?cart_id={id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(list[0]["id"], order);

    let read_only =
        h.bc.issue_token("storea", &h.bc.client_id(), "store_v2_orders_read_only");
    let (status, body) = h
        .json("PUT", &path, &read_only, Some(json!({"status_id": 5})))
        .await;
    assert_eq!(status, 403);
    assert_eq!(body[0]["status"], 403);
    assert_eq!(h.json("GET", &path, &read_only, None).await.0, 200);
    let (status, _) = h
        .json(
            "PUT",
            "/stores/storea/v2/orders/424242",
            &token,
            Some(json!({"status_id": 5})),
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn store_credit_applied_on_the_checkout_is_carried_into_the_order_and_taken_when_placed() {
    let h = harness().await;
    let token = h.install("storea").await;
    let id = h.bc.create_checkout("storea", &[(104, 1)], "ES");
    let customer =
        h.bc.add_customer("storea", "Ana García", "ana@example.com", 3000);
    assert!(!h.bc.apply_store_credit("storea", &id), "a guest has none");
    assert!(h.bc.attach_customer("storea", &id, customer));
    assert!(h.bc.apply_store_credit("storea", &id));

    let (status, c) = h
        .json(
            "GET",
            &format!("/stores/storea/v2/customers/{customer}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["store_credit"], "30.0000");
    assert_eq!(c["first_name"], "Ana");
    assert_eq!(c["last_name"], "García");

    let first = h.create_order(&token, &id).await;
    let o = h.bc.order("storea", first).unwrap();
    assert_eq!(o["customer_id"], customer);
    assert_eq!(o["store_credit_amount"], "30.0000");
    assert_eq!(o["total_inc_tax"], "84.8500");
    // Still usable until an order is placed.
    assert_eq!(h.bc.customer_store_credit("storea", customer), Some(3000));
    let second = h.create_order(&token, &id).await;
    assert_eq!(
        h.bc.order("storea", second).unwrap()["store_credit_amount"],
        "30.0000"
    );
    let (status, _) = h
        .json(
            "PUT",
            &format!("/stores/storea/v2/orders/{second}"),
            &token,
            Some(json!({"status_id": 11})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(h.bc.customer_store_credit("storea", customer), Some(0));
    let (_, c) = h
        .json(
            "GET",
            &format!("/stores/storea/v2/customers/{customer}"),
            &token,
            None,
        )
        .await;
    assert_eq!(c["store_credit"], "0.0000");

    // More credit than the total: the total is redeemed, the rest stays.
    let rich =
        h.bc.add_customer("storea", "Rica", "rica@example.com", 10_000);
    let small = h.bc.create_checkout("storea", &[(107, 1)], "ES");
    h.bc.attach_customer("storea", &small, rich);
    h.bc.apply_store_credit("storea", &small);
    let order = h.create_order(&token, &small).await;
    assert_eq!(
        h.bc.order("storea", order).unwrap()["store_credit_amount"],
        "16.9500"
    );
    h.json(
        "PUT",
        &format!("/stores/storea/v2/orders/{order}"),
        &token,
        Some(json!({"status_id": 11})),
    )
    .await;
    assert_eq!(h.bc.customer_store_credit("storea", rich), Some(8305));

    let (status, body) = h
        .json("GET", "/stores/storea/v2/customers/999", &token, None)
        .await;
    assert_eq!(status, 404);
    assert_eq!(body[0]["status"], 404);
    let none = h.bc.issue_token("storea", "c", "store_v2_default");
    let (status, _) = h
        .json(
            "GET",
            &format!("/stores/storea/v2/customers/{customer}"),
            &none,
            None,
        )
        .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn a_cart_change_bumps_the_version() {
    let h = harness().await;
    let token = h.install("storea").await;
    let id = h.bc.create_checkout("storea", &[(104, 1)], "ES");
    let version = |h: &Harness, id: &str| h.bc.checkout("storea", id).unwrap()["version"].clone();
    assert_eq!(version(&h, &id), 1);
    assert!(h.bc.add_to_checkout("storea", &id, 107, 2));
    assert_eq!(version(&h, &id), 2);
    assert!(h.bc.set_billing_country("storea", &id, "fr"));
    assert_eq!(version(&h, &id), 3);
    assert!(!h.bc.add_to_checkout("storea", &id, 999, 1));
    assert!(!h.bc.add_to_checkout("storea", "nope", 107, 1));
    assert_eq!(version(&h, &id), 3);
    let (_, c) = h
        .json(
            "GET",
            &format!("/stores/storea/v3/checkouts/{id}"),
            &token,
            None,
        )
        .await;
    let c = &c["data"];
    assert_eq!(c["version"], 3);
    assert_eq!(c["cart"]["line_items"]["physical_items"][1]["quantity"], 2);
    assert_eq!(c["billing_address"]["country_code"], "FR");
    assert_eq!(c["consignments"][0]["address"]["country_code"], "ES");
    assert!(h.bc.set_shipping_country("storea", &id, "PT"));
    assert_eq!(version(&h, &id), 4);
    assert!(h.bc.add_to_checkout("storea", &id, 107, 1));
    let (_, c) = h
        .json(
            "GET",
            &format!("/stores/storea/v3/checkouts/{id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(
        c["data"]["cart"]["line_items"]["physical_items"][1]["quantity"],
        3
    );
}

#[tokio::test]
async fn order_metafields_are_validated_private_to_the_app_and_unique_per_key() {
    let h = harness().await;
    let token = h.install("storea").await;
    let id = h.bc.create_checkout("storea", &[(104, 1)], "ES");
    let order = h.create_order(&token, &id).await;
    let path = format!("/stores/storea/v3/orders/{order}/metafields");
    let field = json!({"permission_set": "app_only", "namespace": "sequra", "key": "reference",
                       "value": "7f5c", "description": "seQura order"});
    let (status, body) = h.json("POST", &path, &token, Some(field.clone())).await;
    assert_eq!(status, 200, "{body}");
    let m = &body["data"];
    assert_eq!(m["namespace"], "sequra");
    assert_eq!(m["resource_type"], "order");
    assert_eq!(m["resource_id"], order);
    assert_eq!(m["owner_client_id"], h.bc.client_id().as_str());
    let mid = m["id"].as_u64().unwrap();

    let (status, body) = h.json("POST", &path, &token, Some(field.clone())).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["status"], 409);
    for (bad, name) in [
        (
            json!({"permission_set": "private", "namespace": "n", "key": "k", "value": "v"}),
            "permission_set",
        ),
        (
            json!({"permission_set": "read", "namespace": "n", "value": "v"}),
            "key",
        ),
        (
            json!({"permission_set": "read", "namespace": "", "key": "k", "value": "v"}),
            "namespace",
        ),
        (
            json!({"permission_set": "read", "namespace": "n", "key": "k", "value": ""}),
            "value",
        ),
        (
            json!({"permission_set": "read", "namespace": "n", "key": "k".repeat(65), "value": "v"}),
            "key",
        ),
    ] {
        let (status, body) = h.json("POST", &path, &token, Some(bad.clone())).await;
        assert_eq!(status, 422, "{bad}");
        assert!(body["errors"].get(name).is_some(), "{bad} → {body}");
    }
    let (status, _) = h
        .json(
            "POST",
            "/stores/storea/v3/orders/424242/metafields",
            &token,
            Some(field.clone()),
        )
        .await;
    assert_eq!(status, 404);

    let (_, list) = h
        .json(
            "GET",
            &format!("{path}?namespace=sequra&key=reference"),
            &token,
            None,
        )
        .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["meta"]["pagination"]["total"], 1);
    let (_, none) = h
        .json("GET", &format!("{path}?namespace=other"), &token, None)
        .await;
    assert_eq!(none["data"], json!([]));

    // Another app neither sees it nor clashes with it.
    let other = h.bc.issue_token("storea", "otherapp", "store_v2_orders");
    let (_, theirs) = h.json("GET", &path, &other, None).await;
    assert_eq!(theirs["data"], json!([]));
    let item = format!("{path}/{mid}");
    assert_eq!(h.json("GET", &item, &other, None).await.0, 404);
    let (status, _) = h.json("POST", &path, &other, Some(field.clone())).await;
    assert_eq!(status, 200);
    assert_eq!(h.bc.order_metafields("storea", order).len(), 2);

    let (status, updated) = h
        .json("PUT", &item, &token, Some(json!({"value": "8a6d"})))
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["data"]["value"], "8a6d");
    assert_eq!(updated["data"]["key"], "reference");
    let (status, _) = h
        .json(
            "PUT",
            &item,
            &token,
            Some(json!({"permission_set": "nope"})),
        )
        .await;
    assert_eq!(status, 422);
    let read_only =
        h.bc.issue_token("storea", &h.bc.client_id(), "store_v2_orders_read_only");
    assert_eq!(h.json("GET", &item, &read_only, None).await.0, 200);
    assert_eq!(
        h.json("POST", &path, &read_only, Some(field.clone()))
            .await
            .0,
        403
    );
    let resp = h.call("DELETE", &item, Some(&token), None).await;
    assert_eq!(resp.status(), 204);
    assert_eq!(h.json("GET", &item, &token, None).await.0, 404);
    assert_eq!(h.bc.order_metafields("storea", order).len(), 1);
}

#[tokio::test]
async fn checkout_settings_report_the_terms_per_channel() {
    let h = harness().await;
    let token = h.install("storea").await;
    let path = "/stores/storea/v3/checkouts/settings/channels/1";
    let (status, body) = h.json("GET", path, &token, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["is_order_terms_and_conditions_enabled"], false);
    assert_eq!(body["data"]["order_terms_and_conditions_type"], "link");
    assert!(
        body["data"]["order_terms_and_conditions_link"]
            .as_str()
            .unwrap()
            .starts_with(&h.bc.storefront_url("storea"))
    );
    assert!(h.bc.set_terms("storea", true));
    let (_, body) = h.json("GET", path, &token, None).await;
    assert_eq!(body["data"]["is_order_terms_and_conditions_enabled"], true);
    let (_, b) = h
        .json(
            "GET",
            "/stores/storeb/v3/checkouts/settings/channels/1",
            &h.install("storeb").await,
            None,
        )
        .await;
    assert_eq!(b["data"]["is_order_terms_and_conditions_enabled"], false);
    let (status, _) = h
        .json(
            "GET",
            "/stores/storea/v3/checkouts/settings/channels/2",
            &token,
            None,
        )
        .await;
    assert_eq!(status, 422);
    let (status, global) = h
        .json("GET", "/stores/storea/v3/checkouts/settings", &token, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(global["data"]["custom_checkout_script_url"], "");
    let none = h.bc.issue_token("storea", "c", "store_v2_orders");
    assert_eq!(h.json("GET", path, &none, None).await.0, 403);
}

#[tokio::test]
async fn a_deleted_cart_is_gone_but_its_orders_stay() {
    let h = harness().await;
    let token = h.install("storea").await;
    let id = h.bc.create_checkout("storea", &[(104, 1)], "ES");
    let order = h.create_order(&token, &id).await;
    let path = format!("/stores/storea/v3/carts/{id}");
    let no_cart = h.bc.issue_token("storea", "c", "store_checkout");
    assert_eq!(
        h.call("DELETE", &path, Some(&no_cart), None).await.status(),
        403
    );
    assert_eq!(
        h.call("DELETE", &path, Some(&token), None).await.status(),
        204
    );
    assert_eq!(
        h.call("DELETE", &path, Some(&token), None).await.status(),
        404
    );
    let (status, _) = h
        .json(
            "GET",
            &format!("/stores/storea/v3/checkouts/{id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, 404);
    assert!(h.bc.checkout("storea", &id).is_none());
    assert_eq!(h.bc.order("storea", order).unwrap()["cart_id"], id.as_str());
}

#[tokio::test]
async fn the_channel_site_is_the_storefront() {
    let h = harness().await;
    let token = h.install("storea").await;
    let (status, list) = h
        .json("GET", "/stores/storea/v3/channels", &token, None)
        .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["data"][0]["id"], 1);
    assert_eq!(list["data"][0]["type"], "storefront");
    assert_eq!(list["data"][0]["platform"], "bigcommerce");
    assert_eq!(list["meta"]["pagination"]["total"], 1);
    let (status, site) = h
        .json("GET", "/stores/storea/v3/channels/1/site", &token, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        site["data"]["url"],
        format!("{}/", h.bc.storefront_url("storea"))
    );
    assert_eq!(site["data"]["channel_id"], 1);
    let (status, _) = h
        .json("GET", "/stores/storea/v3/channels/2/site", &token, None)
        .await;
    assert_eq!(status, 404);
    let none = h.bc.issue_token("storea", "c", "store_v2_orders");
    assert_eq!(
        h.json("GET", "/stores/storea/v3/channels", &none, None)
            .await
            .0,
        403
    );
    assert_eq!(
        h.json("GET", "/stores/storea/v3/channels/1/site", &none, None)
            .await
            .0,
        403
    );
}

#[tokio::test]
async fn the_shopping_endpoints_need_their_scopes() {
    let h = harness().await;
    let id = h.bc.create_checkout("storea", &[(104, 1)], "ES");
    let none = h.bc.issue_token("storea", "c", "store_v2_default");
    for (method, path) in [
        ("GET", format!("/stores/storea/v3/checkouts/{id}")),
        ("POST", format!("/stores/storea/v3/checkouts/{id}/orders")),
        ("GET", "/stores/storea/v3/checkouts/settings".to_owned()),
        ("GET", "/stores/storea/v3/orders/100/metafields".to_owned()),
    ] {
        let (status, body) = h.json(method, &path, &none, None).await;
        assert_eq!(status, 403, "{path}");
        assert_eq!(body["type"], ERROR_TYPE, "{path}");
    }
    for path in ["/stores/storea/v2/orders", "/stores/storea/v2/orders/100"] {
        let (status, body) = h.json("GET", path, &none, None).await;
        assert_eq!(status, 403, "{path}");
        assert_eq!(body[0]["status"], 403, "{path}");
    }
}

#[tokio::test]
async fn the_storefront_sells_builds_a_cart_and_renders_the_one_page_checkout() {
    let h = harness().await;
    let token = h.install("storea").await;
    let (status, _) = h
        .json("POST", "/stores/storea/v3/content/scripts", &token, Some(json!({
            "name": "seQura", "kind": "src", "src": "https://app.example.com/static/checkout.js",
            "load_method": "defer", "location": "footer", "visibility": "checkout",
            "consent_category": "essential",
            "integrity_hashes": [format!("sha384-{}", "A".repeat(64))],
        })))
        .await;
    assert_eq!(status, 200);
    let (status, _) = h
        .json(
            "POST",
            "/stores/storea/v3/content/scripts",
            &token,
            Some(json!({
                "name": "promo", "kind": "src", "src": "https://app.example.com/static/promo.js",
                "location": "head", "visibility": "storefront",
            })),
        )
        .await;
    assert_eq!(status, 200);

    let (status, home) = h.shopper_get_owned(h.storefront("storea", "/")).await;
    assert_eq!(status, 200);
    assert!(home.contains("Add to cart"));
    assert!(home.contains("Camiseta básica de algodón"));
    assert!(home.contains("<script src=\"https://app.example.com/static/promo.js\"></script>"));
    assert!(
        !home.contains("checkout.js\""),
        "checkout scripts stay on the checkout"
    );

    let resp = h
        .shopper_post(
            &h.storefront("storea", "/cart/add"),
            None,
            &[("product_id", "104"), ("quantity", "2")],
        )
        .await;
    assert_eq!(resp.status(), 303);
    let cart_cookie = set_cookie(&resp, "bc_cart_storea").expect("a cart cookie");
    let cart_id = cart_cookie.split_once('=').unwrap().1.to_owned();
    let resp = h
        .shopper_post(
            &h.storefront("storea", "/cart/add"),
            Some(&cart_cookie),
            &[("product_id", "107"), ("quantity", "1")],
        )
        .await;
    assert_eq!(resp.status(), 303);
    let c = h.bc.checkout("storea", &cart_id).unwrap();
    assert_eq!(
        c["cart"]["line_items"]["physical_items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(c["version"], 3, "created, then two additions");
    let (status, cart) = {
        let r = h
            .shopper_get(&h.storefront("storea", "/cart"), Some(&cart_cookie))
            .await;
        (r.status(), r.text().await.unwrap())
    };
    assert_eq!(status, 200);
    assert!(cart.contains("Zapatillas urbanas"));
    assert!(cart.contains("Finalizar compra"));

    let resp = h
        .shopper_get(&h.storefront("storea", "/checkout"), Some(&cart_cookie))
        .await;
    assert_eq!(resp.status(), 200);
    let page = resp.text().await.unwrap();
    for needle in [
        "<div class=\"checkout-step checkout-step--payment\">",
        "<ul class=\"form-checklist\">",
        "name=\"paymentProviderRadio\"",
        "Transferencia bancaria",
        "<button id=\"checkout-payment-continue\"",
        "Realizar pedido",
        "value=\"Fulano\"",
        "value=\"De Tal\"",
        "test@sequra.es",
        "Carrer d&#39;Alí Bei, 7",
        "value=\"08010\"",
        "<option value=\"ES\" selected>",
        "<option value=\"FR\">",
        "<option value=\"IT\">",
        "<option value=\"PT\">",
        "<option value=\"DE\">",
        "Envío estándar",
        "/assets/checkout.js",
    ] {
        assert!(page.contains(needle), "{needle} missing");
    }
    assert!(!page.contains("checkout-terms"), "terms are off");
    assert!(!page.contains("useStoreCredit"), "a guest has no credit");
    let script = format!(
        "<script src=\"https://app.example.com/static/checkout.js\" integrity=\"sha384-{}\" crossorigin=\"anonymous\" defer></script>",
        "A".repeat(64)
    );
    let at = page
        .find(&script)
        .expect("the checkout script, as BigCommerce writes it");
    assert!(at > page.find("</main>").unwrap(), "in the footer");
    assert!(!page.contains("promo.js"));

    h.bc.set_terms("storea", true);
    let customer =
        h.bc.add_customer("storea", "Fulano De Tal", "test@sequra.es", 2500);
    h.bc.attach_customer("storea", &cart_id, customer);
    let page = h
        .shopper_get(&h.storefront("storea", "/checkout"), Some(&cart_cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("<fieldset class=\"form-fieldset checkout-terms\">"));
    assert!(page.contains("<input type=\"checkbox\" id=\"terms\" name=\"terms\""));
    assert!(page.contains("id=\"useStoreCredit\""));
    assert!(!page.contains("store-credit\" checked>"), "not applied yet");
    h.bc.apply_store_credit("storea", &cart_id);
    let page = h
        .shopper_get(&h.storefront("storea", "/checkout"), Some(&cart_cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("store-credit\" checked>"));
    assert!(
        page.contains("id=\"cart-outstanding\">151,75 €"),
        "176,75 € less 25,00 €"
    );

    let js = h
        .shopper_get(&h.storefront("storea", "/assets/checkout.js"), None)
        .await;
    assert_eq!(js.status(), 200);
    assert!(
        js.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    assert!(js.text().await.unwrap().contains("useStoreCredit"));

    // Without a cart the checkout sends the shopper to the cart.
    let resp = h
        .shopper_get(&h.storefront("storea", "/checkout"), None)
        .await;
    assert_eq!(resp.status(), 303);
}

#[tokio::test]
async fn the_checkout_url_sets_the_cart_cookie_and_values_are_escaped() {
    let h = harness().await;
    h.bc.set_catalog(
        "storea",
        vec![sequra_bc_sandbox::bigcommerce::CatalogProduct::new(
            1,
            "<b>\"Bolso\" & co</b>",
            "X'1",
            1000,
            &[],
        )],
        vec![],
    );
    let id = h.bc.create_checkout("storea", &[(1, 1)], "ES");
    let url = h.bc.checkout_url("storea", &id);
    assert!(url.starts_with(&h.bc.storefront_url("storea")));
    let resp = h.shopper_get(&url, None).await;
    assert_eq!(resp.status(), 303);
    let cookie = set_cookie(&resp, "bc_cart_storea").unwrap();
    assert_eq!(cookie, format!("bc_cart_storea={id}"));
    let page = h
        .shopper_get(&h.storefront("storea", "/checkout"), Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("&lt;b&gt;&quot;Bolso&quot; &amp; co&lt;/b&gt;"));
    assert!(!page.contains("<b>\"Bolso\""));
    let home = h.shopper_get_owned(h.storefront("storea", "/")).await.1;
    assert!(home.contains("X&#39;1"));
    let resp = h
        .shopper_get(&h.bc.checkout_url("storea", "not-a-cart"), None)
        .await;
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn the_storefront_api_reads_the_shoppers_checkout_and_toggles_store_credit() {
    let h = harness().await;
    let id = h.bc.create_checkout("storea", &[(104, 1)], "ES");
    let cookie = format!("bc_cart_storea={id}");
    let api = |path: &str| h.storefront("storea", &format!("/api/storefront{path}"));

    let resp = h.shopper_get(&api("/carts"), Some(&cookie)).await;
    assert_eq!(resp.status(), 200);
    let carts: Value = resp.json().await.unwrap();
    assert_eq!(carts[0]["id"], id.as_str());
    assert_eq!(carts[0]["currency"]["code"], "EUR");
    let carts: Value = h
        .shopper_get(&api("/carts"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(carts, json!([]));

    let checkout_path = format!("/checkouts/{id}");
    let c: Value = h
        .shopper_get(&api(&checkout_path), Some(&cookie))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(c["grandTotal"], 84.85);
    assert_eq!(c["outstandingBalance"], 84.85);
    assert_eq!(c["isStoreCreditApplied"], false);
    assert_eq!(c["customer"]["isGuest"], true);
    assert_eq!(c["customer"]["storeCredit"], 0);
    assert_eq!(c["cart"]["currency"]["code"], "EUR");
    assert_eq!(c["billingAddress"]["countryCode"], "ES");
    assert_eq!(
        c["consignments"][0]["selectedShippingOption"]["description"],
        "Envío estándar"
    );
    assert_eq!(c["version"], 1);
    // Another shopper's cookie (or none) does not open it.
    assert_eq!(
        h.shopper_get(&api(&checkout_path), None).await.status(),
        404
    );
    assert_eq!(
        h.shopper_get(&api(&checkout_path), Some("bc_cart_storea=other"))
            .await
            .status(),
        404
    );
    let credit = api(&format!("/checkouts/{id}/store-credit"));
    let guest = h
        .http
        .post(&credit)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(guest.status(), 400);

    let customer =
        h.bc.add_customer("storea", "Fulano De Tal", "test@sequra.es", 2000);
    h.bc.attach_customer("storea", &id, customer);
    let resp = h
        .http
        .post(&credit)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let c: Value = resp.json().await.unwrap();
    assert_eq!(c["isStoreCreditApplied"], true);
    assert_eq!(c["grandTotal"], 84.85);
    assert_eq!(c["outstandingBalance"], 64.85);
    assert_eq!(c["customer"]["isGuest"], false);
    assert_eq!(c["customer"]["storeCredit"], 20.0);
    assert_eq!(c["version"], 3, "customer attached, credit applied");
    let resp = h
        .http
        .delete(&credit)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    let c: Value = resp.json().await.unwrap();
    assert_eq!(c["isStoreCreditApplied"], false);
    assert_eq!(c["outstandingBalance"], 84.85);
    assert_eq!(c["version"], 4);

    // The root alias serves the store of the last storefront visited.
    let visit = h.shopper_get(&h.storefront("storea", "/"), None).await;
    let store_cookie = set_cookie(&visit, "bc_store").unwrap();
    let both = format!("{store_cookie}; {cookie}");
    let resp = h
        .shopper_get(&h.url("/api/storefront/carts"), Some(&both))
        .await;
    let carts: Value = resp.json().await.unwrap();
    assert_eq!(carts[0]["id"], id.as_str());
    assert_eq!(
        h.shopper_get(&h.url("/api/storefront/carts"), None)
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn placing_an_order_on_the_storefront_needs_the_terms_and_shows_the_confirmation() {
    let h = harness().await;
    let id = h.bc.create_checkout("storea", &[(104, 1)], "ES");
    let customer =
        h.bc.add_customer("storea", "Fulano De Tal", "test@sequra.es", 1000);
    h.bc.attach_customer("storea", &id, customer);
    h.bc.apply_store_credit("storea", &id);
    h.bc.set_terms("storea", true);
    let cookie = format!("bc_cart_storea={id}");
    let place = h.storefront("storea", "/checkout/order");
    let resp = h
        .shopper_post(
            &place,
            Some(&cookie),
            &[("paymentProviderRadio", "bankdeposit")],
        )
        .await;
    assert_eq!(resp.status(), 422);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("términos y condiciones")
    );
    assert!(h.bc.orders("storea").is_empty());

    // The shopper changes the shipping country first.
    let resp = h
        .shopper_post(
            &h.storefront("storea", "/checkout/addresses"),
            Some(&cookie),
            &[("shipping_country", "PT"), ("billing_country", "PT")],
        )
        .await;
    assert_eq!(resp.status(), 303);
    let c = h.bc.checkout("storea", &id).unwrap();
    assert_eq!(c["consignments"][0]["address"]["country_code"], "PT");
    assert_eq!(c["billing_address"]["country_code"], "PT");

    let resp = h
        .shopper_post(
            &place,
            Some(&cookie),
            &[("paymentProviderRadio", "bankdeposit"), ("terms", "on")],
        )
        .await;
    assert_eq!(resp.status(), 303);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.contains("/checkout/order-confirmation/"),
        "{location}"
    );
    assert!(
        set_cookie(&resp, "bc_cart_storea").is_some_and(|c| c == "bc_cart_storea="),
        "the cart cookie is cleared"
    );
    let orders = h.bc.orders("storea");
    assert_eq!(orders.len(), 1);
    let o = &orders[0];
    assert_eq!(o["status_id"], 7);
    assert_eq!(o["order_source"], "www");
    assert_eq!(o["payment_method"], "Transferencia bancaria");
    assert_eq!(o["store_credit_amount"], "10.0000");
    assert_eq!(h.bc.customer_store_credit("storea", customer), Some(0));
    assert!(h.bc.checkout("storea", &id).is_none(), "the cart is gone");
    let (status, html) = h.shopper_get_owned(h.url(&location)).await;
    assert_eq!(status, 200);
    assert!(html.contains(&format!("id=\"order-number\">{}<", o["id"])));
    assert!(html.contains("Awaiting Payment"));
}

// ----------------------------------------------------------------------------------------
// After the sale: shipments, refunds, archive, edits, webhooks, the order page

use std::collections::VecDeque;
use std::time::Duration;

use sequra_bc_sandbox::bigcommerce::RefundSpec;

impl Harness {
    /// An order of `items` (ES shopper), placed by the app (status 0 → 11).
    async fn placed_order(&self, token: &str, items: &[(u64, u64)]) -> u64 {
        let checkout = self.bc.create_checkout("storea", items, "ES");
        let order = self.create_order(token, &checkout).await;
        let (status, body) = self
            .json(
                "PUT",
                &format!("/stores/storea/v2/orders/{order}"),
                token,
                Some(json!({"status_id": 11})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        order
    }

    /// The order's product line ids, in order.
    fn line_ids(&self, order: u64) -> Vec<u64> {
        self.bc
            .order_products("storea", order)
            .iter()
            .map(|p| p["id"].as_u64().unwrap())
            .collect()
    }

    /// The order's shipping address id.
    fn address_id(&self, order: u64) -> u64 {
        self.bc.order_products("storea", order)[0]["order_address_id"]
            .as_u64()
            .unwrap()
    }

    fn line(&self, order: u64, id: u64) -> Value {
        self.bc
            .order_products("storea", order)
            .into_iter()
            .find(|p| p["id"] == id)
            .unwrap()
    }

    fn status_of(&self, order: u64) -> u64 {
        self.bc.order("storea", order).unwrap()["status_id"]
            .as_u64()
            .unwrap()
    }
}

/// The ids of a v2 list (a bare array).
fn array_ids(list: &Value) -> Vec<u64> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_u64().unwrap())
        .collect()
}

/// One POST a [`Receiver`] got: its lower-case headers and JSON body.
type Received = (HashMap<String, String>, Value);

/// A local webhook receiver: each POST gets the next status of its script, then `default`.
struct Receiver {
    url: String,
    /// Each POST, in arrival order.
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn bodies(&self) -> Vec<Value> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|(_, b)| b.clone())
            .collect()
    }

    fn scopes(&self) -> Vec<String> {
        self.bodies()
            .iter()
            .map(|b| b["scope"].as_str().unwrap().to_owned())
            .collect()
    }
}

async fn receiver(script: &[u16], default: u16) -> Receiver {
    use warp::Filter;
    let got = Arc::new(Mutex::new(Vec::new()));
    let script = Arc::new(Mutex::new(
        script.iter().copied().collect::<VecDeque<u16>>(),
    ));
    let (rec, next) = (got.clone(), script.clone());
    let route = warp::post()
        .and(warp::header::headers_cloned())
        .and(warp::body::bytes())
        .map(move |headers: warp::http::HeaderMap, body: bytes::Bytes| {
            let headers = headers
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
                .collect();
            rec.lock()
                .unwrap()
                .push((headers, serde_json::from_slice(&body).unwrap()));
            let code = next.lock().unwrap().pop_front().unwrap_or(default);
            warp::reply::with_status("", warp::http::StatusCode::from_u16(code).unwrap())
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(warp::serve(route).incoming(listener).run());
    Receiver {
        url: format!("http://{addr}/hooks"),
        got,
    }
}

#[tokio::test]
async fn shipments_move_the_order_to_partially_shipped_then_shipped_and_deleting_one_keeps_the_status()
 {
    let h = harness().await;
    let token = h.install("storea").await;
    let order = h.placed_order(&token, &[(101, 2), (109, 1)]).await;
    let [shirt, pdf] = h.line_ids(order)[..] else {
        panic!("two lines")
    };
    let address = h.address_id(order);
    let base = format!("/stores/storea/v2/orders/{order}/shipments");

    let resp = h.call("GET", &base, Some(&token), None).await;
    assert_eq!(resp.status(), 204, "no shipments yet");
    let (_, count) = h.json("GET", &format!("{base}/count"), &token, None).await;
    assert_eq!(count, json!({"count": 0}));

    let (status, first) = h
        .json(
            "POST",
            &base,
            &token,
            Some(
                json!({"order_address_id": address, "tracking_number": "EJ958083578ES",
                "shipping_provider": "", "tracking_carrier": "correos",
                "items": [{"order_product_id": shirt, "quantity": 1}]}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["order_id"], order);
    assert_eq!(first["order_address_id"], address);
    assert_eq!(
        first["items"],
        json!([{"order_product_id": shirt, "product_id": 101, "quantity": 1}])
    );
    assert_eq!(first["tracking_number"], "EJ958083578ES");
    assert_eq!(
        first["generated_tracking_link"],
        "https://track.aftership.com/correos/EJ958083578ES"
    );
    assert_eq!(first["shipping_address"]["street_1"], "Carrer d'Alí Bei, 7");
    assert_eq!(first["billing_address"]["email"], "test@sequra.es");
    assert!(first["date_created"].as_str().unwrap().ends_with("+0000"));
    assert_eq!(h.status_of(order), 3, "Partially Shipped");
    let o = h.bc.order("storea", order).unwrap();
    assert_eq!(o["items_shipped"], 1);
    assert_ne!(o["date_shipped"], "");
    assert_eq!(h.line(order, shirt)["quantity_shipped"], 1);
    assert_eq!(h.line(order, pdf)["quantity_shipped"], 0);

    let (status, second) = h
        .json(
            "POST",
            &base,
            &token,
            Some(json!({"order_address_id": address,
                "items": [{"order_product_id": shirt, "product_id": 101, "quantity": 1}]})),
        )
        .await;
    assert_eq!(status, 201, "{second}");
    assert_eq!(
        h.status_of(order),
        2,
        "Shipped: the digital line needs no shipment"
    );
    let (status, list) = h.json("GET", &base, &token, None).await;
    assert_eq!(status, 200);
    assert_eq!(
        array_ids(&list),
        vec![
            first["id"].as_u64().unwrap(),
            second["id"].as_u64().unwrap()
        ]
    );
    let (_, count) = h.json("GET", &format!("{base}/count"), &token, None).await;
    assert_eq!(count["count"], 2);

    let one = format!("{base}/{}", first["id"]);
    let (status, updated) = h
        .json(
            "PUT",
            &one,
            &token,
            Some(json!({"tracking_number": "NEW123", "comments": "Caja 2"})),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["tracking_number"], "NEW123");
    assert_eq!(updated["comments"], "Caja 2");
    let (_, again) = h.json("GET", &one, &token, None).await;
    assert_eq!(again["tracking_number"], "NEW123");

    let resp = h.call("DELETE", &one, Some(&token), None).await;
    assert_eq!(resp.status(), 204);
    assert_eq!(
        h.status_of(order),
        2,
        "deleting a shipment does not move the status"
    );
    assert_eq!(h.line(order, shirt)["quantity_shipped"], 1);
    assert_eq!(h.bc.order("storea", order).unwrap()["items_shipped"], 1);
    assert_eq!(h.call("GET", &one, Some(&token), None).await.status(), 404);
    let resp = h.call("DELETE", &base, Some(&token), None).await;
    assert_eq!(resp.status(), 204);
    assert_eq!(h.call("GET", &base, Some(&token), None).await.status(), 204);
    assert_eq!(h.line(order, shirt)["quantity_shipped"], 0);
}

#[tokio::test]
async fn invalid_shipments_are_refused_with_v2_error_arrays_and_ship_nothing() {
    let h = harness().await;
    let token = h.install("storea").await;
    let order = h.placed_order(&token, &[(101, 2), (109, 1)]).await;
    let [shirt, pdf] = h.line_ids(order)[..] else {
        panic!("two lines")
    };
    let address = h.address_id(order);
    let base = format!("/stores/storea/v2/orders/{order}/shipments");
    let item = |id: u64, q: u64| json!([{"order_product_id": id, "quantity": q}]);
    for (body, needle) in [
        (json!({"order_address_id": address}), "'items' is required"),
        (
            json!({"items": item(shirt, 1)}),
            "'order_address_id' is required",
        ),
        (
            json!({"order_address_id": address + 99, "items": item(shirt, 1)}),
            "shipping address",
        ),
        (
            json!({"order_address_id": address, "items": item(shirt, 3)}),
            "left to ship",
        ),
        (
            json!({"order_address_id": address, "items": [{"order_product_id": shirt, "quantity": 2}, {"order_product_id": shirt, "quantity": 1}]}),
            "left to ship",
        ),
        (
            json!({"order_address_id": address, "items": item(9999, 1)}),
            "does not exist",
        ),
        (
            json!({"order_address_id": address, "items": item(pdf, 1)}),
            "digital",
        ),
        (
            json!({"order_address_id": address, "items": item(shirt, 0)}),
            "items.quantity",
        ),
        (
            json!({"order_address_id": address, "items": []}),
            "'items' is invalid",
        ),
        (
            json!({"order_address_id": address, "items": item(shirt, 1), "tracking_number": "X".repeat(51)}),
            "tracking_number",
        ),
        (
            json!({"order_address_id": address, "items": item(shirt, 1), "date_created": "x"}),
            "cannot be written",
        ),
        (
            json!({"order_address_id": address, "items": item(shirt, 1), "foo": 1}),
            "not supported",
        ),
    ] {
        let (status, resp) = h.json("POST", &base, &token, Some(body.clone())).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(resp[0]["status"], 400, "{resp}");
        let all = resp.to_string();
        assert!(all.contains(needle), "{body} → {resp}");
    }
    assert_eq!(h.status_of(order), 11, "nothing shipped");
    assert_eq!(h.line(order, shirt)["quantity_shipped"], 0);
    assert_eq!(h.call("GET", &base, Some(&token), None).await.status(), 204);

    let (status, resp) = h
        .json(
            "POST",
            "/stores/storea/v2/orders/9999/shipments",
            &token,
            Some(json!({"order_address_id": address, "items": item(shirt, 1)})),
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(resp[0]["status"], 404);
    assert_eq!(
        h.call("GET", &format!("{base}/77"), Some(&token), None)
            .await
            .status(),
        404
    );
    assert_eq!(
        h.call(
            "PUT",
            &format!("{base}/77"),
            Some(&token),
            Some(json!({"comments": "x"}))
        )
        .await
        .status(),
        404
    );
    let reader =
        h.bc.issue_token("storea", "reader", "store_v2_orders_read_only");
    let resp = h
        .call(
            "POST",
            &base,
            Some(&reader),
            Some(json!({"order_address_id": address, "items": item(shirt, 1)})),
        )
        .await;
    assert_eq!(resp.status(), 403);
    assert_eq!(
        h.call("GET", &base, Some(&reader), None).await.status(),
        204,
        "reads need only read-only"
    );

    // A PUT takes no items.
    let id = h.bc.ship_items("storea", order, &[(shirt, 1)]).unwrap();
    let (status, resp) = h
        .json(
            "PUT",
            &format!("{base}/{id}"),
            &token,
            Some(json!({"items": item(shirt, 1)})),
        )
        .await;
    assert_eq!(status, 400, "{resp}");
}

#[tokio::test]
async fn refunds_are_quoted_made_and_move_the_status_to_partially_refunded_then_refunded() {
    let h = harness().await;
    let token = h.install("storea").await;
    // 2 × 19.95 + 4.95 shipping = 44.85
    let order = h.placed_order(&token, &[(101, 2)]).await;
    let shirt = h.line_ids(order)[0];
    let address = h.address_id(order);
    let v3 = format!("/stores/storea/v3/orders/{order}/payment_actions");

    let (status, quote) = h
        .json(
            "POST",
            &format!("{v3}/refund_quotes"),
            &token,
            Some(json!({"items": [{"item_type": "PRODUCT", "item_id": shirt, "quantity": 1}]})),
        )
        .await;
    assert_eq!(status, 201, "{quote}");
    let q = &quote["data"];
    assert_eq!(q["order_id"], order);
    assert_eq!(q["total_refund_amount"], json!(19.95));
    assert_eq!(q["total_refund_tax_amount"], json!(3.46));
    assert_eq!(q["order_level_refund_amount"], json!(0.0));
    assert_eq!(q["tax_inclusive"], true);
    assert_eq!(q["refund_methods"][0][0]["provider_id"], "custom");
    assert_eq!(q["refund_methods"][0][0]["amount"], json!(19.95));
    assert_eq!(q["refund_methods"][0][0]["offline"], true);
    assert_eq!(
        q["refund_methods"].as_array().unwrap().len(),
        1,
        "a guest: no store credit"
    );
    assert!(
        h.bc.order_refunds("storea", order).is_empty(),
        "a quote refunds nothing"
    );

    let (status, made) = h
        .json(
            "POST",
            &format!("{v3}/refunds"),
            &token,
            Some(json!({
                "items": [{"item_type": "PRODUCT", "item_id": shirt, "quantity": 1, "reason": "Talla"}],
                "payments": [{"provider_id": "custom", "amount": 19.95, "offline": true}],
            })),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let r = &made["data"];
    assert_eq!(r["order_id"], order);
    assert_eq!(r["total_amount"], json!(19.95));
    assert_eq!(r["total_tax"], json!(3.46));
    assert_eq!(r["reason"], "Talla");
    assert_eq!(r["uses_merchant_override_values"], false);
    assert_eq!(
        r["items"],
        json!([{"item_type": "PRODUCT", "item_id": shirt, "reason": "Talla", "quantity": 1,
            "requested_amount": 19.95, "adjustments": []}])
    );
    assert_eq!(r["payments"][0]["provider_id"], "custom");
    assert_eq!(r["payments"][0]["amount"], json!(19.95));
    assert_eq!(r["payments"][0]["is_declined"], false);
    let refund_id = r["id"].as_u64().unwrap();
    assert_eq!(h.status_of(order), 14, "Partially Refunded");
    let line = h.line(order, shirt);
    assert_eq!(line["quantity_refunded"], 1);
    assert_eq!(line["refund_amount"], "19.9500");
    assert_eq!(line["is_refunded"], false);
    assert_eq!(
        h.bc.order("storea", order).unwrap()["payment_status"],
        "partially refunded"
    );

    let (status, one) = h
        .json(
            "GET",
            &format!("/stores/storea/v3/orders/payment_actions/refunds/{refund_id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(one["data"], *r);

    let (status, second) = h
        .json(
            "POST",
            &format!("{v3}/refunds"),
            &token,
            Some(json!({
                "items": [{"item_type": "PRODUCT", "item_id": shirt, "quantity": 1},
                          {"item_type": "SHIPPING", "item_id": address, "amount": 4.95}],
                "payments": [{"provider_id": "custom", "amount": 24.9, "offline": true}],
            })),
        )
        .await;
    assert_eq!(status, 201, "{second}");
    assert_eq!(second["data"]["total_amount"], json!(24.9));
    assert_eq!(h.status_of(order), 4, "Refunded: nothing left");
    let line = h.line(order, shirt);
    assert_eq!(line["quantity_refunded"], 2);
    assert_eq!(line["refund_amount"], "39.9000");
    assert_eq!(line["is_refunded"], true);
    assert_eq!(
        h.bc.order("storea", order).unwrap()["payment_status"],
        "refunded"
    );

    let (_, list) = h.json("GET", &format!("{v3}/refunds"), &token, None).await;
    assert_eq!(
        ids(&list),
        vec![refund_id, second["data"]["id"].as_u64().unwrap()]
    );
    let other = h.placed_order(&token, &[(107, 1)]).await;
    let other_refund =
        h.bc.refund(
            "storea",
            other,
            &RefundSpec {
                order_cents: 500,
                ..Default::default()
            },
        )
        .unwrap();
    let (_, all) = h
        .json(
            "GET",
            "/stores/storea/v3/orders/payment_actions/refunds",
            &token,
            None,
        )
        .await;
    assert_eq!(all["data"].as_array().unwrap().len(), 3);
    let (_, filtered) = h
        .json(
            "GET",
            &format!("/stores/storea/v3/orders/payment_actions/refunds?order_id:in={other}"),
            &token,
            None,
        )
        .await;
    assert_eq!(ids(&filtered), vec![other_refund]);
    let (_, by_id) = h
        .json(
            "GET",
            &format!(
                "/stores/storea/v3/orders/payment_actions/refunds?id:in={refund_id},{other_refund}"
            ),
            &token,
            None,
        )
        .await;
    assert_eq!(ids(&by_id), vec![refund_id, other_refund]);
    let (status, _) = h
        .json(
            "GET",
            "/stores/storea/v3/orders/payment_actions/refunds?id:in=x",
            &token,
            None,
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(h.status_of(other), 14);
    let (_, list_b) = h
        .json(
            "GET",
            "/stores/storeb/v3/orders/payment_actions/refunds",
            &h.install("storeb").await,
            None,
        )
        .await;
    assert_eq!(list_b["data"], json!([]), "refunds are per store");
}

#[tokio::test]
async fn invalid_refunds_are_refused_with_422_and_refund_nothing() {
    let h = harness().await;
    let token = h.install("storea").await;
    let order = h.placed_order(&token, &[(101, 2)]).await;
    let shirt = h.line_ids(order)[0];
    let address = h.address_id(order);
    let refunds = format!("/stores/storea/v3/orders/{order}/payment_actions/refunds");
    let custom =
        |amount: f64| json!([{"provider_id": "custom", "amount": amount, "offline": true}]);
    let product = |q: u64| json!([{"item_type": "PRODUCT", "item_id": shirt, "quantity": q}]);
    for (body, needle) in [
        (
            json!({"items": product(3), "payments": custom(59.85)}),
            "left to refund",
        ),
        (
            json!({"items": [{"item_type": "SHIPPING", "item_id": address, "amount": 5.0}], "payments": custom(5.0)}),
            "left to refund",
        ),
        (
            json!({"items": [{"item_type": "SHIPPING", "item_id": address + 1, "amount": 1.0}], "payments": custom(1.0)}),
            "not on order",
        ),
        (
            json!({"items": [{"item_type": "PRODUCT", "item_id": 9999, "quantity": 1}], "payments": custom(19.95)}),
            "not on order",
        ),
        (
            json!({"items": [{"item_type": "ORDER", "item_id": order, "amount": 44.86}], "payments": custom(44.86)}),
            "left to refund",
        ),
        (
            json!({"items": [{"item_type": "ORDER", "item_id": order + 1, "amount": 1.0}], "payments": custom(1.0)}),
            "order id",
        ),
        (
            json!({"items": [{"item_type": "ORDER", "item_id": order, "amount": 1.005}], "payments": custom(1.0)}),
            "2 decimals",
        ),
        (
            json!({"items": [{"item_type": "HANDLING", "item_id": address, "amount": 1.0}], "payments": custom(1.0)}),
            "no HANDLING",
        ),
        (
            json!({"items": product(1), "payments": custom(19.94)}),
            "add up",
        ),
        (
            json!({"items": product(1), "payments": [{"provider_id": "paypal", "amount": 19.95}]}),
            "cannot refund",
        ),
        (
            json!({"items": product(1), "payments": [{"provider_id": "storecredit", "amount": 19.95}]}),
            "Unable to provide store credit for a guest customer.",
        ),
        (json!({"items": product(1)}), "payments"),
        (json!({"payments": custom(1.0)}), "items"),
        (
            json!({"items": [], "payments": custom(1.0)}),
            "At least one item",
        ),
        (
            json!({"items": product(0), "payments": custom(0.0)}),
            "quantity",
        ),
        (json!({"tax_adjustment_amount": 1.0}), "overcharged tax"),
    ] {
        let (status, resp) = h.json("POST", &refunds, &token, Some(body.clone())).await;
        assert_eq!(status, 422, "{body} → {resp}");
        let error = &resp["data"][0];
        assert_eq!(error["status"], 422, "{resp}");
        assert_eq!(error["type"], ERROR_TYPE);
        assert!(resp.to_string().contains(needle), "{body} → {resp}");
    }
    // The documented example, exactly.
    let (_, guest) = h
        .json("POST", &refunds, &token, Some(json!({"items": product(1), "payments": [{"provider_id": "storecredit", "amount": 19.95, "offline": false}]})))
        .await;
    assert_eq!(
        guest,
        json!({"data": [{"status": 422, "title": "Unable to provide store credit for a guest customer.", "type": ERROR_TYPE}]})
    );
    // Quotes answer the plain v3 error.
    let (status, resp) = h
        .json(
            "POST",
            &format!("/stores/storea/v3/orders/{order}/payment_actions/refund_quotes"),
            &token,
            Some(json!({"items": product(3)})),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(resp["status"], 422);
    assert!(
        resp["title"].as_str().unwrap().contains("left to refund"),
        "{resp}"
    );

    assert!(h.bc.order_refunds("storea", order).is_empty());
    assert_eq!(h.status_of(order), 11);
    assert_eq!(h.line(order, shirt)["quantity_refunded"], 0);

    let checkout = h.bc.create_checkout("storea", &[(101, 1)], "ES");
    let incomplete = h.create_order(&token, &checkout).await;
    let (status, resp) = h
        .json(
            "POST",
            &format!("/stores/storea/v3/orders/{incomplete}/payment_actions/refunds"),
            &token,
            Some(json!({"items": [{"item_type": "ORDER", "item_id": incomplete, "amount": 1.0}], "payments": custom(1.0)})),
        )
        .await;
    assert_eq!(status, 422);
    assert!(resp.to_string().contains("incomplete"), "{resp}");
    let resp = h
        .call(
            "POST",
            "/stores/storea/v3/orders/9999/payment_actions/refunds",
            Some(&token),
            Some(json!({"items": product(1), "payments": custom(19.95)})),
        )
        .await;
    assert_eq!(resp.status(), 404);
    assert_eq!(
        h.call(
            "GET",
            "/stores/storea/v3/orders/payment_actions/refunds/4242",
            Some(&token),
            None
        )
        .await
        .status(),
        404
    );
    let reader =
        h.bc.issue_token("storea", "reader", "store_v2_orders_read_only");
    let resp = h
        .call(
            "POST",
            &refunds,
            Some(&reader),
            Some(json!({"items": product(1), "payments": custom(19.95)})),
        )
        .await;
    assert_eq!(resp.status(), 403);
    assert_eq!(
        h.call("GET", &refunds, Some(&reader), None).await.status(),
        200
    );
    let nobody = h.bc.issue_token("storea", "nobody", "store_v2_content");
    assert_eq!(
        h.call("GET", &refunds, Some(&nobody), None).await.status(),
        403
    );
}

#[tokio::test]
async fn a_registered_customers_refund_can_go_to_store_credit() {
    let h = harness().await;
    let token = h.install("storea").await;
    let customer =
        h.bc.add_customer("storea", "Ana López", "ana@example.com", 0);
    let checkout = h.bc.create_checkout("storea", &[(107, 1)], "ES");
    assert!(h.bc.attach_customer("storea", &checkout, customer));
    let order = h.create_order(&token, &checkout).await;
    h.json(
        "PUT",
        &format!("/stores/storea/v2/orders/{order}"),
        &token,
        Some(json!({"status_id": 11})),
    )
    .await;
    let (status, made) = h
        .json(
            "POST",
            &format!("/stores/storea/v3/orders/{order}/payment_actions/refunds"),
            &token,
            Some(
                json!({"items": [{"item_type": "ORDER", "item_id": order, "amount": 7.5}],
                "payments": [{"provider_id": "storecredit", "amount": 7.5, "offline": false}]}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(
        made["data"]["total_tax"],
        json!(0.0),
        "order-level refunds are tax-exempt"
    );
    assert_eq!(h.bc.customer_store_credit("storea", customer), Some(750));
}

#[tokio::test]
async fn archived_orders_leave_the_list_but_stay_readable_by_id() {
    let h = harness().await;
    let token = h.install("storea").await;
    let first = h.placed_order(&token, &[(101, 1)]).await;
    let second = h.placed_order(&token, &[(102, 1)]).await;
    let resp = h
        .call(
            "DELETE",
            &format!("/stores/storea/v2/orders/{first}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(resp.status(), 204);
    let (status, o) = h
        .json(
            "GET",
            &format!("/stores/storea/v2/orders/{first}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(o["is_deleted"], true);
    let (_, list) = h
        .json("GET", "/stores/storea/v2/orders", &token, None)
        .await;
    assert_eq!(array_ids(&list), vec![second]);
    let (status, o) = h
        .json(
            "PUT",
            &format!("/stores/storea/v2/orders/{second}"),
            &token,
            Some(json!({"is_deleted": true})),
        )
        .await;
    assert_eq!(status, 200, "{o}");
    assert_eq!(o["is_deleted"], true);
    assert_eq!(
        h.call("GET", "/stores/storea/v2/orders", Some(&token), None)
            .await
            .status(),
        204
    );
    let (status, _) = h
        .json(
            "PUT",
            &format!("/stores/storea/v2/orders/{second}"),
            &token,
            Some(json!({"is_deleted": "yes"})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        h.call(
            "DELETE",
            "/stores/storea/v2/orders/9999",
            Some(&token),
            None
        )
        .await
        .status(),
        404
    );
    let reader =
        h.bc.issue_token("storea", "reader", "store_v2_orders_read_only");
    assert_eq!(
        h.call(
            "DELETE",
            &format!("/stores/storea/v2/orders/{first}"),
            Some(&reader),
            None
        )
        .await
        .status(),
        403
    );
}

#[tokio::test]
async fn order_edits_update_add_and_remove_lines_and_the_address_all_or_nothing() {
    let h = harness().await;
    let token = h.install("storea").await;
    // 101: 19.95, 102: 29.95, 107: 12.00; shipping 4.95.
    let order = h.placed_order(&token, &[(101, 1), (102, 1)]).await;
    let [shirt, linen] = h.line_ids(order)[..] else {
        panic!("two lines")
    };
    let address = h.address_id(order);
    let path = format!("/stores/storea/v2/orders/{order}");
    let (status, o) = h
        .json(
            "PUT",
            &path,
            &token,
            Some(json!({
                "products": [{"id": shirt, "quantity": 3}, {"product_id": 107, "quantity": 2},
                             {"id": linen, "price_inc_tax": 25.0}],
                "shipping_addresses": [{"id": address, "street_1": "Calle Nueva 5", "city": "Girona"}],
            })),
        )
        .await;
    assert_eq!(status, 200, "{o}");
    // 3 × 19.95 + 25.00 + 2 × 12.00 = 108.85; + 4.95
    assert_eq!(o["subtotal_inc_tax"], "108.8500");
    assert_eq!(o["total_inc_tax"], "113.8000");
    assert_eq!(o["items_total"], 6);
    let products = h.bc.order_products("storea", order);
    assert_eq!(products.len(), 3);
    assert_eq!(products[0]["quantity"], 3);
    assert_eq!(products[0]["total_inc_tax"], "59.8500");
    assert_eq!(products[1]["price_inc_tax"], "25.0000");
    assert_eq!(products[1]["price_ex_tax"], "20.6612");
    assert_eq!(products[2]["product_id"], 107);
    assert_eq!(products[2]["quantity"], 2);
    assert_eq!(products[2]["order_address_id"], address);
    let (_, addresses) = h
        .json("GET", &format!("{path}/shipping_addresses"), &token, None)
        .await;
    assert_eq!(addresses[0]["street_1"], "Calle Nueva 5");
    assert_eq!(addresses[0]["city"], "Girona");
    assert_eq!(addresses[0]["items_total"], 6);

    let added = products[2]["id"].as_u64().unwrap();
    let (status, o) = h
        .json(
            "PUT",
            &path,
            &token,
            Some(json!({"products": [{"id": added, "quantity": 0}]})),
        )
        .await;
    assert_eq!(status, 200, "{o}");
    assert_eq!(h.line_ids(order), vec![shirt, linen]);

    h.bc.ship_items("storea", order, &[(shirt, 2)]).unwrap();
    for (body, needle) in [
        (
            json!({"products": [{"id": shirt, "quantity": 1}]}),
            "already shipped",
        ),
        (
            json!({"products": [{"id": shirt, "quantity": 0}]}),
            "cannot be removed",
        ),
        (
            json!({"products": [{"id": 9999, "quantity": 1}]}),
            "does not exist",
        ),
        (
            json!({"products": [{"product_id": 4242, "quantity": 1}]}),
            "catalog",
        ),
        (json!({"products": [{"product_id": 107}]}), "quantity"),
        (
            json!({"products": [{"id": linen, "quantity": -1}]}),
            "products.quantity",
        ),
        (
            json!({"products": [{"id": linen, "colour": "red"}]}),
            "not supported",
        ),
        (json!({"products": {"id": linen}}), "'products' is invalid"),
        (
            json!({"shipping_addresses": [{"id": address + 7, "city": "Lleida"}]}),
            "does not exist",
        ),
        (
            json!({"shipping_addresses": [{"id": address, "city": 5}]}),
            "shipping_addresses.city",
        ),
        // All or nothing: the valid change is not applied either.
        (
            json!({"products": [{"id": linen, "quantity": 5}, {"id": 9999, "quantity": 1}], "staff_notes": "x"}),
            "does not exist",
        ),
    ] {
        let (status, resp) = h.json("PUT", &path, &token, Some(body.clone())).await;
        assert_eq!(status, 400, "{body} → {resp}");
        assert!(resp.to_string().contains(needle), "{body} → {resp}");
    }
    assert_eq!(h.line(order, linen)["quantity"], 1);
    assert_eq!(h.line(order, shirt)["quantity"], 3);
    assert_eq!(h.bc.order("storea", order).unwrap()["staff_notes"], "");
    let (status, _) = h
        .json("PUT", &path, &token, Some(json!({"products": [{"name": "Arreglo", "quantity": 1, "price_inc_tax": 6.05, "price_ex_tax": 5.0}]})))
        .await;
    assert_eq!(status, 200, "a custom product");
    assert_eq!(
        h.bc.order_products("storea", order).last().unwrap()["name"],
        "Arreglo"
    );
}

#[tokio::test]
async fn webhooks_carry_the_documented_payloads_and_the_hooks_custom_header() {
    let h = harness().await;
    let token = h.install("storea").await;
    let rx = receiver(&[], 200).await;
    let (status, hook) = h.create_hook(&token, "store/order/*", &rx.url).await;
    assert_eq!(status, 200, "{hook}");
    h.create_hook(&token, "store/shipment/created", &rx.url)
        .await;
    let store_id = h.bc.store("storea").unwrap().store_id.to_string();

    let checkout = h.bc.create_checkout("storea", &[(101, 2)], "ES");
    let order = h.create_order(&token, &checkout).await;
    h.json(
        "PUT",
        &format!("/stores/storea/v2/orders/{order}"),
        &token,
        Some(json!({"status_id": 11})),
    )
    .await;
    let shirt = h.line_ids(order)[0];
    let shipment = h.bc.ship_items("storea", order, &[(shirt, 1)]).unwrap();
    let refund =
        h.bc.refund(
            "storea",
            order,
            &RefundSpec {
                items: vec![(shirt, 1)],
                ..Default::default()
            },
        )
        .unwrap();
    assert!(h.bc.archive_order("storea", order));
    assert!(h.bc.webhooks_settled(Duration::from_secs(10)).await);

    let o = |extra: Value| {
        let mut d = json!({"type": "order", "id": order});
        d.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        d
    };
    let expected = vec![
        ("store/order/created", o(json!({}))),
        (
            "store/order/statusUpdated",
            o(json!({"status": {"previous_status_id": 0, "new_status_id": 11}})),
        ),
        ("store/order/updated", o(json!({}))),
        (
            "store/shipment/created",
            json!({"type": "shipment", "id": shipment, "orderId": order}),
        ),
        (
            "store/order/statusUpdated",
            o(json!({"status": {"previous_status_id": 11, "new_status_id": 3}})),
        ),
        ("store/order/updated", o(json!({}))),
        (
            "store/order/refund/created",
            o(json!({"refund": {"refund_id": refund}})),
        ),
        (
            "store/order/statusUpdated",
            o(json!({"status": {"previous_status_id": 3, "new_status_id": 14}})),
        ),
        ("store/order/updated", o(json!({}))),
        ("store/order/archived", o(json!({}))),
    ];
    let bodies = rx.bodies();
    let got: Vec<(String, Value)> = bodies
        .iter()
        .map(|b| (b["scope"].as_str().unwrap().to_owned(), b["data"].clone()))
        .collect();
    let want: Vec<(String, Value)> = expected
        .into_iter()
        .map(|(s, d)| (s.to_owned(), d))
        .collect();
    assert_eq!(got, want);
    let mut hashes = HashMap::new();
    for b in &bodies {
        let keys: Vec<&str> = b.as_object().unwrap().keys().map(String::as_str).collect();
        let mut keys = keys;
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "created_at",
                "data",
                "hash",
                "producer",
                "scope",
                "store_id"
            ]
        );
        assert_eq!(
            b["store_id"],
            store_id.as_str(),
            "the numeric id, as a string"
        );
        assert_eq!(b["producer"], "stores/storea");
        let hash = b["hash"].as_str().unwrap();
        assert_eq!(hash.len(), 40);
        assert!(
            hash.bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert!(b["created_at"].as_i64().unwrap() > 1_700_000_000);
        // As documented, the hash of the event's data: events about one resource share it
        // (see `duplicates_share_the_hash_and_inactive_hooks_get_nothing`).
        hashes.insert(hash.to_owned(), ());
    }
    for (headers, _) in rx.got.lock().unwrap().iter() {
        assert_eq!(headers["authorization"], "Bearer s3cret");
        assert_eq!(headers["content-type"], "application/json");
    }
    let log = h.bc.webhook_deliveries();
    assert_eq!(log.len(), 10);
    assert!(
        log.iter()
            .all(|d| d.attempt == 1 && d.status == Ok(200) && d.succeeded())
    );
    assert!(log.iter().all(|d| d.order_id == Some(order)));
    assert_eq!(log[3].scope, "store/shipment/created");
    assert_eq!(h.bc.pending_webhooks(), 0);
}

#[tokio::test]
async fn a_failed_delivery_is_retried_on_the_schedule_until_a_2xx() {
    let h = harness().await;
    let token = h.install("storea").await;
    h.bc.set_webhook_time_scale(Duration::from_millis(1));
    let rx = receiver(&[500, 503], 200).await;
    h.create_hook(&token, "store/order/created", &rx.url).await;
    let checkout = h.bc.create_checkout("storea", &[(101, 1)], "ES");
    let order = h.create_order(&token, &checkout).await;
    assert!(h.bc.webhooks_settled(Duration::from_secs(10)).await);

    let bodies = rx.bodies();
    assert_eq!(bodies.len(), 3);
    assert!(
        bodies.iter().all(|b| b == &bodies[0]),
        "a retry is the same delivery, same hash"
    );
    let log = h.bc.webhook_deliveries();
    let attempts: Vec<(u32, Result<u16, String>)> =
        log.iter().map(|d| (d.attempt, d.status.clone())).collect();
    assert_eq!(attempts, vec![(1, Ok(500)), (2, Ok(503)), (3, Ok(200))]);
    assert!(log.iter().all(|d| d.order_id == Some(order)));
    // 60 then 180 documented seconds, at 1 ms each.
    assert!(log[1].at.duration_since(log[0].at) >= Duration::from_millis(60));
    assert!(log[2].at.duration_since(log[1].at) >= Duration::from_millis(180));
    let (_, hooks) = h.json("GET", "/stores/storea/v3/hooks", &token, None).await;
    assert_eq!(hooks["data"][0]["is_active"], true);
}

#[tokio::test]
async fn a_hook_is_deactivated_after_the_last_retry_and_gets_nothing_more() {
    let h = harness().await;
    let token = h.install("storea").await;
    h.bc.set_webhook_time_scale(Duration::from_micros(5));
    let rx = receiver(&[], 500).await;
    let (_, hook) = h.create_hook(&token, "store/order/created", &rx.url).await;
    let hook_id = hook["data"]["id"].as_u64().unwrap();
    let checkout = h.bc.create_checkout("storea", &[(101, 1)], "ES");
    h.create_order(&token, &checkout).await;
    assert!(h.bc.webhooks_settled(Duration::from_secs(20)).await);

    let log = h.bc.webhook_deliveries();
    assert_eq!(log.len(), 12, "the first attempt and eleven retries");
    assert_eq!(
        log.iter().map(|d| d.attempt).collect::<Vec<_>>(),
        (1..=12).collect::<Vec<_>>()
    );
    assert!(log.iter().all(|d| d.status == Ok(500) && !d.succeeded()));
    assert_eq!(rx.bodies().len(), 12);
    let (_, got) = h
        .json(
            "GET",
            &format!("/stores/storea/v3/hooks/{hook_id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(got["data"]["is_active"], false);
    let (_, admin) = h
        .json("GET", "/stores/storea/v3/hooks/admin", &token, None)
        .await;
    assert_eq!(admin["data"]["hooks_list"][0]["status"], "deactivated");

    h.create_order(&token, &checkout).await;
    assert!(h.bc.webhooks_settled(Duration::from_secs(5)).await);
    assert_eq!(rx.bodies().len(), 12, "a deactivated hook gets nothing");

    let (status, _) = h
        .json(
            "PUT",
            &format!("/stores/storea/v3/hooks/{hook_id}"),
            &token,
            Some(json!({"is_active": true})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, admin) = h
        .json("GET", "/stores/storea/v3/hooks/admin", &token, None)
        .await;
    assert_eq!(admin["data"]["hooks_list"][0]["status"], "active");
}

#[tokio::test]
async fn duplicates_share_the_hash_and_inactive_hooks_get_nothing() {
    let h = harness().await;
    let token = h.install("storea").await;
    let active = receiver(&[], 200).await;
    let inactive = receiver(&[], 200).await;
    h.create_hook(&token, "store/order/*", &active.url).await;
    let (status, _) = h
        .json(
            "POST",
            "/stores/storea/v3/hooks",
            &token,
            Some(
                json!({"scope": "store/order/*", "destination": inactive.url, "is_active": false}),
            ),
        )
        .await;
    assert_eq!(status, 200);
    h.bc.set_webhook_duplicates(3);
    let order = h.placed_order(&token, &[(101, 1)]).await;
    assert!(h.bc.webhooks_settled(Duration::from_secs(10)).await);

    let bodies = active.bodies();
    assert_eq!(
        bodies.len(),
        9,
        "created, statusUpdated and updated, three times each"
    );
    for event in bodies.chunks(3) {
        assert!(
            event.iter().all(|b| b == &event[0]),
            "a duplicate is byte for byte the same"
        );
    }
    let hashes: Vec<&str> = bodies
        .iter()
        .step_by(3)
        .map(|b| b["hash"].as_str().unwrap())
        .collect();
    assert_eq!(hashes.len(), 3);
    // One order's created and updated (same data) share a hash, as the documented examples
    // do; statusUpdated carries other data, so another hash.
    assert_eq!(hashes[0], hashes[2]);
    assert_ne!(hashes[0], hashes[1]);
    assert!(inactive.bodies().is_empty());

    // Two updates of the same order with the same data are two events.
    h.bc.set_webhook_duplicates(1);
    assert!(h.bc.set_order_status("storea", order, 11));
    assert!(h.bc.set_order_status("storea", order, 11));
    assert!(h.bc.webhooks_settled(Duration::from_secs(10)).await);
    let bodies = active.bodies();
    assert_eq!(
        active.scopes()[9..],
        ["store/order/updated", "store/order/updated"]
    );
    assert_eq!(bodies[9]["data"], bodies[10]["data"]);
    assert_eq!(
        bodies[9]["hash"], bodies[10]["hash"],
        "one resource, one hash"
    );
}

#[tokio::test]
async fn held_webhooks_can_be_released_out_of_order() {
    let h = harness().await;
    let token = h.install("storea").await;
    let rx = receiver(&[], 200).await;
    h.create_hook(&token, "store/order/*", &rx.url).await;
    h.bc.hold_webhooks(true);
    h.placed_order(&token, &[(101, 1)]).await;
    assert_eq!(h.bc.pending_webhooks(), 3);
    assert!(!h.bc.webhooks_settled(Duration::from_millis(100)).await);
    assert!(rx.bodies().is_empty());
    h.bc.release_webhooks_reversed();
    assert!(h.bc.webhooks_settled(Duration::from_secs(10)).await);
    assert_eq!(
        rx.scopes(),
        [
            "store/order/updated",
            "store/order/statusUpdated",
            "store/order/created"
        ]
    );
    // Holding again, then letting go, keeps the order.
    h.bc.hold_webhooks(true);
    let order = h.placed_order(&token, &[(102, 1)]).await;
    h.bc.hold_webhooks(false);
    assert!(h.bc.webhooks_settled(Duration::from_secs(10)).await);
    assert_eq!(
        rx.scopes()[3..],
        [
            "store/order/created",
            "store/order/statusUpdated",
            "store/order/updated"
        ]
    );
    assert_eq!(rx.bodies()[3]["data"]["id"], order);
}

#[tokio::test]
async fn the_merchant_helpers_change_orders_and_fire_their_webhooks() {
    let h = harness().await;
    let token = h.install("storea").await;
    let rx = receiver(&[], 200).await;
    h.create_hook(&token, "store/order/*", &rx.url).await;
    h.create_hook(&token, "store/shipment/*", &rx.url).await;
    let order = h.placed_order(&token, &[(101, 2), (109, 1)]).await;
    let [shirt, pdf] = h.line_ids(order)[..] else {
        panic!("two lines")
    };
    assert!(h.bc.webhooks_settled(Duration::from_secs(10)).await);
    let seen = rx.bodies().len();

    assert!(h.bc.set_order_product_quantity("storea", order, 0, 3));
    assert_eq!(h.line(order, shirt)["quantity"], 3);
    let boots = h.bc.add_order_product("storea", order, 105, 1).unwrap();
    assert_eq!(h.line(order, boots)["product_id"], 105);
    assert_eq!(h.bc.add_order_product("storea", order, 4242, 1), None);
    assert!(h.bc.remove_order_product("storea", order, boots));
    assert!(!h.bc.remove_order_product("storea", order, boots));
    assert!(h.bc.set_order_shipping_street("storea", order, "Rambla 1"));
    let shipment = h.bc.ship_items("storea", order, &[(shirt, 1)]).unwrap();
    assert_eq!(
        h.bc.ship_items("storea", order, &[(pdf, 1)]),
        None,
        "digital"
    );
    assert_eq!(h.bc.ship_items("storea", order, &[]), None, "no items");
    assert_eq!(
        h.bc.order_shipments("storea", order)[0]["shipping_address"]["street_1"],
        "Rambla 1"
    );
    let all = h.bc.ship_all("storea", order).unwrap();
    assert_eq!(h.bc.ship_all("storea", order), None, "nothing left");
    assert_eq!(h.status_of(order), 2);
    assert!(h.bc.delete_shipment("storea", order, shipment));
    assert!(!h.bc.delete_shipment("storea", order, shipment));
    assert_eq!(h.status_of(order), 2);
    let refund =
        h.bc.refund(
            "storea",
            order,
            &RefundSpec {
                items: vec![(pdf, 1)],
                shipping_cents: 495,
                order_cents: 100,
            },
        )
        .unwrap();
    assert_eq!(
        h.bc.order_refunds("storea", order)[0]["total_amount"],
        json!(15.85)
    );
    assert_eq!(
        h.bc.refund(
            "storea",
            order,
            &RefundSpec {
                order_cents: 99_999,
                ..Default::default()
            }
        ),
        None
    );
    assert!(h.bc.set_order_status("storea", order, 5));
    assert!(!h.bc.set_order_status("storea", order, 99));
    assert!(h.bc.archive_order("storea", order));
    assert!(!h.bc.archive_order("storea", 9999));
    assert!(h.bc.webhooks_settled(Duration::from_secs(10)).await);

    let scopes = rx.scopes()[seen..].to_vec();
    let o = "store/order/";
    let expected: Vec<String> = [
        "updated",
        "updated",
        "updated",
        "updated", // quantity, add, remove, street
        "+shipment/created",
        "statusUpdated",
        "updated", // 11 → 3
        "+shipment/created",
        "statusUpdated",
        "updated", // 3 → 2
        "+shipment/deleted",
        "updated",
        "refund/created",
        "statusUpdated",
        "updated", // 2 → 14
        "statusUpdated",
        "updated", // → 5
        "archived",
    ]
    .iter()
    .map(|s| match s.strip_prefix('+') {
        Some(rest) => format!("store/{rest}"),
        None => format!("{o}{s}"),
    })
    .collect();
    assert_eq!(scopes, expected);
    let bodies = rx.bodies();
    assert_eq!(
        bodies[seen + 7]["data"],
        json!({"type": "shipment", "id": all, "orderId": order})
    );
    assert_eq!(bodies[seen + 12]["data"]["refund"]["refund_id"], refund);
    assert_eq!(
        bodies[seen + 15]["data"]["status"],
        json!({"previous_status_id": 14, "new_status_id": 5})
    );
}

#[tokio::test]
async fn the_order_page_forms_go_through_the_api_and_show_refusals() {
    let h = harness().await;
    let token = h.install("storea").await;
    let rx = receiver(&[], 200).await;
    h.create_hook(&token, "store/order/statusUpdated", &rx.url)
        .await;
    let order = h.placed_order(&token, &[(101, 2), (109, 1)]).await;
    let [shirt, pdf] = h.line_ids(order)[..] else {
        panic!("two lines")
    };
    let page = format!("/manage/storea/orders/{order}");
    let list = h
        .http
        .get(h.url("/manage/storea/orders"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        list.contains(&format!("href=\"{page}\"")),
        "the list links each order"
    );

    let html = h
        .http
        .get(h.url(&page))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        "Edit order",
        "Ship items",
        "Ship all remaining",
        "Refund",
        "Cancel order",
        "Archive",
        &format!("name=\"qty_{shirt}\""),
        &format!("action=\"{page}/ship\""),
        "name=\"status_id\"",
        "Camiseta básica de algodón",
    ] {
        assert!(html.contains(needle), "{needle}");
    }
    assert!(!html.contains("<script"), "plain forms");

    let post = |action: &str, form: Vec<(String, String)>| {
        let url = h.url(&format!("{page}/{action}"));
        let http = h.http.clone();
        async move {
            let resp = http.post(url).form(&form).send().await.unwrap();
            assert_eq!(resp.status(), 303);
            resp.headers()["location"].to_str().unwrap().to_owned()
        }
    };
    let f = |pairs: &[(&str, String)]| {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect::<Vec<_>>()
    };
    let show = || async {
        h.http
            .get(h.url(&page))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };

    // Refused: more than is left to ship.
    assert_eq!(
        post("ship", f(&[(&format!("qty_{shirt}"), "5".into())])).await,
        page
    );
    let html = show().await;
    assert!(
        html.contains("Error: ") && html.contains("left to ship"),
        "the refusal is shown"
    );
    assert_eq!(h.line(order, shirt)["quantity_shipped"], 0);
    assert!(!show().await.contains("Error: "), "shown once");

    post(
        "ship",
        f(&[
            (&format!("qty_{shirt}"), "1".into()),
            ("tracking_number", "TRK1".into()),
        ]),
    )
    .await;
    assert_eq!(h.line(order, shirt)["quantity_shipped"], 1);
    assert_eq!(h.status_of(order), 3);
    let (_, shipments) = h
        .json(
            "GET",
            &format!("/stores/storea/v2/orders/{order}/shipments"),
            &token,
            None,
        )
        .await;
    assert_eq!(shipments[0]["tracking_number"], "TRK1");
    post("ship", f(&[("all", "1".into())])).await;
    assert_eq!(h.line(order, shirt)["quantity_shipped"], 2);
    assert_eq!(h.status_of(order), 2);

    post(
        "refund",
        f(&[
            (&format!("qty_{pdf}"), "1".into()),
            ("shipping_amount", "4,95".into()),
            ("order_amount", "".into()),
            ("provider", "custom".into()),
        ]),
    )
    .await;
    let (_, refunds) = h
        .json(
            "GET",
            &format!("/stores/storea/v3/orders/{order}/payment_actions/refunds"),
            &token,
            None,
        )
        .await;
    assert_eq!(refunds["data"][0]["total_amount"], json!(14.85));
    assert_eq!(h.status_of(order), 14);
    post("refund", f(&[("order_amount", "500".into())])).await;
    assert!(show().await.contains("left to refund"));
    post("refund", f(&[("shipping_amount", "abc".into())])).await;
    assert!(show().await.contains("not an amount"));
    assert_eq!(h.bc.order_refunds("storea", order).len(), 1);

    post(
        "edit",
        f(&[
            (&format!("qty_{shirt}"), "3".into()),
            ("add_product_id", "107".into()),
            ("add_quantity", "2".into()),
            ("ship_street_1", "Gran Via 1".into()),
        ]),
    )
    .await;
    let products = h.bc.order_products("storea", order);
    assert_eq!(products[0]["quantity"], 3);
    assert_eq!(products.last().unwrap()["product_id"], 107);
    assert_eq!(products.last().unwrap()["quantity"], 2);
    let (_, addresses) = h
        .json(
            "GET",
            &format!("/stores/storea/v2/orders/{order}/shipping_addresses"),
            &token,
            None,
        )
        .await;
    assert_eq!(addresses[0]["street_1"], "Gran Via 1");
    post("edit", f(&[(&format!("qty_{shirt}"), "1".into())])).await;
    assert!(show().await.contains("already shipped"));
    assert_eq!(h.line(order, shirt)["quantity"], 3);

    post("status", f(&[("status_id", "9".into())])).await;
    assert_eq!(h.status_of(order), 9);
    post("cancel", Vec::new()).await;
    assert_eq!(h.status_of(order), 5);
    post("archive", Vec::new()).await;
    assert_eq!(h.bc.order("storea", order).unwrap()["is_deleted"], true);
    assert!(show().await.contains("(archived)"));

    assert!(h.bc.webhooks_settled(Duration::from_secs(10)).await);
    let moves: Vec<Value> = rx
        .bodies()
        .iter()
        .map(|b| b["data"]["status"]["new_status_id"].clone())
        .collect();
    assert_eq!(
        moves,
        vec![json!(11), json!(3), json!(2), json!(14), json!(9), json!(5)]
    );
    assert_eq!(
        h.http
            .get(h.url("/manage/storea/orders/9999"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn a_storefront_order_fires_created_the_move_to_awaiting_payment_and_the_cart_conversion() {
    let h = harness().await;
    let token = h.install("storea").await;
    let rx = receiver(&[], 200).await;
    h.create_hook(&token, "store/order/*", &rx.url).await;
    h.create_hook(&token, "store/cart/converted", &rx.url).await;
    let id = h.bc.create_checkout("storea", &[(104, 1)], "ES");
    let resp = h
        .shopper_post(
            &h.storefront("storea", "/checkout/order"),
            Some(&format!("bc_cart_storea={id}")),
            &[("paymentProviderRadio", "bankdeposit")],
        )
        .await;
    assert_eq!(resp.status(), 303);
    let order = h.bc.orders("storea")[0]["id"].as_u64().unwrap();
    assert!(h.bc.webhooks_settled(Duration::from_secs(10)).await);
    let got: Vec<(String, Value)> = rx
        .bodies()
        .iter()
        .map(|b| (b["scope"].as_str().unwrap().to_owned(), b["data"].clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "store/order/created".to_owned(),
                json!({"type": "order", "id": order})
            ),
            (
                "store/order/statusUpdated".to_owned(),
                json!({"type": "order", "id": order,
                    "status": {"previous_status_id": 0, "new_status_id": 7}})
            ),
            (
                "store/order/updated".to_owned(),
                json!({"type": "order", "id": order})
            ),
            (
                "store/cart/converted".to_owned(),
                json!({"type": "cart", "id": id, "orderId": order})
            ),
        ]
    );
}

#[tokio::test]
async fn paying_a_checkout_otherwise_converts_the_cart_into_an_order_of_its_own() {
    let h = harness().await;
    let token = h.install("storea").await;
    let rx = receiver(&[], 200).await;
    h.create_hook(&token, "store/order/*", &rx.url).await;
    h.create_hook(&token, "store/cart/converted", &rx.url).await;
    let id = h.bc.create_checkout("storea", &[(104, 1)], "ES");
    // An app made an Incomplete order from the checkout (a seQura form is open).
    let incomplete = h.create_order(&token, &id).await;
    assert!(h.bc.webhooks_settled(Duration::from_secs(10)).await);
    let before = rx.bodies().len();

    // The shopper pays the same cart by bank transfer in another tab.
    let order = h.bc.pay_checkout_otherwise("storea", &id).unwrap();
    assert_ne!(order, incomplete, "an order of its own");
    let o = h.bc.order("storea", order).unwrap();
    assert_eq!(o["status_id"], 7);
    assert_eq!(o["cart_id"], json!(id));
    assert_eq!(o["payment_method"], "Transferencia bancaria");
    assert_eq!(h.bc.order("storea", incomplete).unwrap()["status_id"], 0);

    // The cart is converted: deleted, its checkout gone.
    assert!(h.bc.checkout("storea", &id).is_none());
    let (status, _) = h
        .json(
            "GET",
            &format!("/stores/storea/v3/checkouts/{id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, 404);
    // The orders of the cart (Incomplete ones left out, as the list does) name it.
    let (status, listed) = h
        .json(
            "GET",
            &format!("/stores/storea/v2/orders?cart_id={id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, 200, "{listed}");
    let ids: Vec<u64> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, vec![order]);

    // The webhooks of any other order creation.
    assert!(h.bc.webhooks_settled(Duration::from_secs(10)).await);
    let got: Vec<(String, Value)> = rx.bodies()[before..]
        .iter()
        .map(|b| (b["scope"].as_str().unwrap().to_owned(), b["data"].clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "store/order/created".to_owned(),
                json!({"type": "order", "id": order})
            ),
            (
                "store/order/statusUpdated".to_owned(),
                json!({"type": "order", "id": order,
                    "status": {"previous_status_id": 0, "new_status_id": 7}})
            ),
            (
                "store/order/updated".to_owned(),
                json!({"type": "order", "id": order})
            ),
            (
                "store/cart/converted".to_owned(),
                json!({"type": "cart", "id": id, "orderId": order})
            ),
        ]
    );

    // A converted cart cannot be paid again; nor can an unknown one.
    assert_eq!(h.bc.pay_checkout_otherwise("storea", &id), None);
    assert_eq!(h.bc.pay_checkout_otherwise("storea", "nope"), None);
    assert_eq!(h.bc.pay_checkout_otherwise("nostore", &id), None);
    assert_eq!(h.bc.orders("storea").len(), 2);
}

/// The other way BigCommerce may behave (undocumented): its checkout completes the Incomplete
/// order the app made from the cart, without a `store/order/created` of its own.
#[tokio::test]
async fn paying_otherwise_may_complete_the_apps_own_incomplete_order() {
    let h = harness().await;
    let token = h.install("storea").await;
    let rx = receiver(&[], 200).await;
    h.create_hook(&token, "store/order/*", &rx.url).await;
    h.create_hook(&token, "store/cart/converted", &rx.url).await;
    h.bc.set_checkout_reuses_incomplete_order(true);
    let id = h.bc.create_checkout("storea", &[(104, 1)], "ES");
    let incomplete = h.create_order(&token, &id).await;
    assert!(h.bc.webhooks_settled(Duration::from_secs(10)).await);
    let before = rx.bodies().len();

    let order = h.bc.pay_checkout_otherwise("storea", &id).unwrap();
    assert_eq!(order, incomplete, "the app's own order is the one paid");
    let o = h.bc.order("storea", order).unwrap();
    assert_eq!(o["status_id"], 7);
    assert_eq!(o["payment_method"], "Transferencia bancaria");
    assert_eq!(o["payment_provider_id"], "");
    assert!(h.bc.checkout("storea", &id).is_none());
    assert_eq!(h.bc.orders("storea").len(), 1);
    assert!(h.bc.webhooks_settled(Duration::from_secs(10)).await);
    let scopes: Vec<String> = rx.bodies()[before..]
        .iter()
        .map(|b| b["scope"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        scopes,
        [
            "store/order/statusUpdated",
            "store/order/updated",
            "store/cart/converted"
        ]
    );
}

// ----------------------------------------------------------------------------------------
// Channels (Multi-Storefront): sites, scripts, storefronts, checkouts, webhooks, terms

use sequra_bc_sandbox::bigcommerce::ChannelSpec;

/// `storec`: two Stencil storefronts (1 Spain, 2 France) and a headless one (3) at its own
/// site; the app installed. Returns the token.
async fn multi_storefront(h: &Harness) -> String {
    h.bc.add_store(StoreSpec::demo_two_storefronts("storec"));
    let headless = ChannelSpec::headless(
        0,
        "B2B",
        "next",
        Url::parse("https://b2b.example.com").unwrap(),
        "es",
        "EUR",
    );
    assert_eq!(h.bc.add_channel("storec", headless), 3);
    h.install("storec").await
}

fn data_ids(list: &Value) -> Vec<u64> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn channels_are_listed_and_filtered_each_with_its_site_theme_currency_and_locale() {
    let h = harness().await;
    let token = multi_storefront(&h).await;
    let get = |path: String| {
        let (h, token) = (&h, &token);
        async move {
            h.json("GET", &format!("/stores/storec/v3{path}"), token, None)
                .await
        }
    };

    let (status, list) = get("/channels".into()).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(data_ids(&list), [1, 2, 3]);
    assert_eq!(list["meta"]["pagination"]["total"], 3);
    assert!(
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["type"] == "storefront")
    );
    assert_eq!(list["data"][0]["name"], "Spain");
    assert_eq!(list["data"][1]["name"], "France");
    assert_eq!(list["data"][2]["platform"], "next");
    let (_, stencil) = get("/channels?platform:in=bigcommerce".into()).await;
    assert_eq!(data_ids(&stencil), [1, 2]);
    let (_, pos) = get("/channels?type:in=pos,marketplace".into()).await;
    assert_eq!(data_ids(&pos), Vec::<u64>::new());
    let (_, paged) = get("/channels?limit=2&page=2".into()).await;
    assert_eq!(data_ids(&paged), [3]);
    assert_eq!(get("/channels?status:in=bogus".into()).await.0, 422);
    h.bc.update_channel("storec", 3, |c| c.status = "inactive".to_owned());
    let (_, active) = get("/channels?status:in=active".into()).await;
    assert_eq!(data_ids(&active), [1, 2]);

    let (status, france) = get("/channels/2?include=currencies".into()).await;
    assert_eq!(status, 200, "{france}");
    assert_eq!(france["data"]["name"], "France");
    assert_eq!(france["data"]["currencies"]["default_currency"], "EUR");
    assert_eq!(get("/channels/9".into()).await.0, 404);

    // Each channel its own site: the storefronts on their own origins, the headless one
    // where it says.
    let sf1 = h.bc.channel_storefront_url("storec", 1);
    let sf2 = h.bc.channel_storefront_url("storec", 2);
    assert_eq!(sf1, h.bc.storefront_url("storec"));
    let origin = |u: &str| Url::parse(u).unwrap().origin();
    assert_ne!(
        origin(&sf1),
        origin(&sf2),
        "each storefront on its own origin"
    );
    for (id, url) in [
        (1, sf1.clone()),
        (2, sf2.clone()),
        (3, "https://b2b.example.com".into()),
    ] {
        let (status, site) = get(format!("/channels/{id}/site")).await;
        assert_eq!(status, 200, "{site}");
        assert_eq!(site["data"]["channel_id"], id);
        assert_eq!(site["data"]["url"], format!("{url}/"));
        for u in site["data"]["urls"].as_array().unwrap() {
            assert_eq!(u["url"], format!("{url}/"), "{u}");
        }
    }
    assert_eq!(get("/channels/9/site".into()).await.0, 404);

    assert_eq!(get("/channels/1/active-theme".into()).await.0, 200);
    let (status, theme) = get("/channels/2/active-theme".into()).await;
    assert_eq!(status, 200);
    assert!(theme["data"]["active_theme_uuid"].is_string());
    let (status, none) = get("/channels/3/active-theme".into()).await;
    assert_eq!(status, 404, "a headless channel has no Stencil theme");
    assert_eq!(none["title"], "No active theme found with channel_id: 3");

    let (status, cur) = get("/channels/2/currency-assignments".into()).await;
    assert_eq!(status, 200);
    assert_eq!(
        cur["data"],
        json!({"channel_id": 2, "enabled_currencies": ["EUR"], "default_currency": "EUR"})
    );
    assert_eq!(get("/channels/9/currency-assignments".into()).await.0, 404);

    let (status, fr) = get("/settings/store/locale?channel_id=2".into()).await;
    assert_eq!(status, 200, "{fr}");
    assert_eq!(
        fr,
        json!({"data": {"default_shopper_language": "fr",
            "shopper_language_selection_method": "default_shopper_language",
            "store_country": "Spain"}, "meta": {}})
    );
    let (_, global) = get("/settings/store/locale".into()).await;
    assert_eq!(global["data"]["default_shopper_language"], "es");
    assert_eq!(
        get("/settings/store/locale?channel_id=9".into()).await.0,
        422
    );
    let (_, store) = h.json("GET", "/stores/storec/v2/store", &token, None).await;
    assert_eq!(store["features"]["multi_storefront_enabled"], true);

    let none = h.bc.issue_token("storec", "c", "store_v2_orders");
    for path in [
        "/channels/2/active-theme",
        "/channels/2/currency-assignments",
        "/settings/store/locale",
    ] {
        let (status, _) = h
            .json("GET", &format!("/stores/storec/v3{path}"), &none, None)
            .await;
        assert_eq!(status, 403, "{path}");
    }
}

#[tokio::test]
async fn a_script_on_a_channel_the_store_lacks_is_refused() {
    let h = harness().await;
    let token = h.install("storea").await;
    let on = |channel: u64, name: &str| {
        let mut s = script(name);
        s["channel_id"] = json!(channel);
        s
    };
    let (status, body) = h
        .json(
            "POST",
            "/stores/storea/v3/content/scripts",
            &token,
            Some(on(2, "fr")),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(body["errors"]["channel_id"].is_string(), "{body}");
    assert!(h.bc.scripts("storea").is_empty());

    let (status, es) = h
        .json(
            "POST",
            "/stores/storea/v3/content/scripts",
            &token,
            Some(on(1, "es")),
        )
        .await;
    assert_eq!(status, 200, "{es}");
    let path = format!(
        "/stores/storea/v3/content/scripts/{}",
        es["data"]["uuid"].as_str().unwrap()
    );
    let (status, body) = h
        .json("PUT", &path, &token, Some(json!({"channel_id": 5})))
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(body["errors"]["channel_id"].is_string(), "{body}");
    assert_eq!(h.bc.scripts("storea")[0]["channel_id"], 1, "unchanged");

    // Once the store has a second storefront, a script may go there.
    let fr =
        h.bc.add_channel("storea", ChannelSpec::stencil(0, "France", "fr", "EUR"));
    assert_eq!(fr, 2);
    let (status, body) = h
        .json(
            "POST",
            "/stores/storea/v3/content/scripts",
            &token,
            Some(on(2, "fr")),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, list) = h
        .json(
            "GET",
            "/stores/storea/v3/content/scripts?channel_id:in=2",
            &token,
            None,
        )
        .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["data"][0]["name"], "fr");
    assert_eq!(
        h.bc.scripts_of("storea"),
        vec![
            (
                1,
                "es".to_owned(),
                "https://app.example.com/static/checkout.js".to_owned()
            ),
            (
                2,
                "fr".to_owned(),
                "https://app.example.com/static/checkout.js".to_owned()
            ),
        ]
    );
}

#[tokio::test]
async fn each_storefront_renders_only_its_channels_scripts() {
    let h = harness().await;
    let token = multi_storefront(&h).await;
    for (channel, file) in [(1, "es.js"), (2, "fr.js"), (3, "b2b.js")] {
        let body = json!({"name": file, "kind": "src", "src": format!("https://app.example.com/{file}"),
            "visibility": "storefront", "location": "footer", "channel_id": channel});
        let (status, b) = h
            .json(
                "POST",
                "/stores/storec/v3/content/scripts",
                &token,
                Some(body),
            )
            .await;
        assert_eq!(status, 200, "{b}");
    }
    let page = |url: String| {
        let h = &h;
        async move {
            let resp = h.shopper_get(&url, None).await;
            assert_eq!(resp.status(), 200, "{url}");
            resp.text().await.unwrap()
        }
    };
    let es = page(format!("{}/", h.bc.channel_storefront_url("storec", 1))).await;
    assert!(es.contains("https://app.example.com/es.js"));
    assert!(!es.contains("fr.js") && !es.contains("b2b.js"), "{es}");
    assert!(es.contains("lang=\"es\""));
    let sf2 = h.bc.channel_storefront_url("storec", 2);
    let fr = page(format!("{sf2}/")).await;
    assert!(fr.contains("https://app.example.com/fr.js"), "{fr}");
    assert!(!fr.contains("es.js") && !fr.contains("b2b.js"), "{fr}");
    assert!(fr.contains("lang=\"fr\"") && fr.contains("France"));
    assert!(
        fr.contains("href=\"/cart\""),
        "links stay on the storefront's own origin"
    );
    // A channel that goes stops serving its storefront.
    assert!(h.bc.update_channel("storec", 2, |c| c.status = "archived".to_owned()));
    assert_eq!(h.shopper_get(&format!("{sf2}/"), None).await.status(), 404);
}

#[tokio::test]
async fn a_checkout_and_its_orders_on_the_second_storefront_carry_channel_2() {
    let h = harness().await;
    let token = multi_storefront(&h).await;
    let api = |path: String| format!("/stores/storec/v3{path}");

    // Made by the app from a checkout of channel 2.
    let id = h.bc.create_checkout_on("storec", 2, &[(104, 1)], "FR");
    let (status, c) = h
        .json("GET", &api(format!("/checkouts/{id}")), &token, None)
        .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["data"]["cart"]["channel_id"], 2);
    let (status, o) = h
        .json(
            "POST",
            &api(format!("/checkouts/{id}/orders")),
            &token,
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{o}");
    let order =
        h.bc.order("storec", o["data"]["id"].as_u64().unwrap())
            .unwrap();
    assert_eq!(order["channel_id"], 2);
    assert_eq!(order["customer_locale"], "fr");

    // Bought on the French storefront itself.
    let sf2 = h.bc.channel_storefront_url("storec", 2);
    let id = h.bc.create_checkout_on("storec", 2, &[(101, 1)], "FR");
    let url = h.bc.checkout_url_on("storec", 2, &id);
    assert!(url.starts_with(&sf2), "{url}");
    let resp = h.shopper_get(&url, None).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], "/checkout");
    let cookie = set_cookie(&resp, "bc_cart_storec_2").expect("the channel's cart cookie");
    assert!(set_cookie(&resp, "bc_store").is_none());
    // Channel 1's storefront does not open channel 2's cart.
    let resp = h
        .shopper_get(&h.bc.checkout_url_on("storec", 1, &id), None)
        .await;
    assert_eq!(resp.status(), 404);
    let resp = h
        .shopper_get(
            &format!("{sf2}/api/storefront/checkouts/{id}"),
            Some(&cookie),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let sf: Value = resp.json().await.unwrap();
    assert_eq!(sf["channelId"], 2);
    assert_eq!(sf["cart"]["locale"], "fr");

    let resp = h
        .shopper_post(
            &format!("{sf2}/checkout/order"),
            Some(&cookie),
            &[("paymentProviderRadio", "bankdeposit")],
        )
        .await;
    assert_eq!(resp.status(), 303);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("/checkout/order-confirmation/"),
        "{location}"
    );
    let placed =
        h.bc.orders("storec")
            .into_iter()
            .find(|o| o["cart_id"] == id.as_str())
            .unwrap();
    assert_eq!(placed["channel_id"], 2);
    let (status, listed) = h
        .json("GET", "/stores/storec/v2/orders?channel_id=2", &token, None)
        .await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(array_ids(&listed), [placed["id"].as_u64().unwrap()]);
    let resp = h
        .call(
            "GET",
            "/stores/storec/v2/orders?channel_id=1",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(resp.status(), 204, "no order of channel 1");
    // Confirmed on its own storefront, not on another.
    let on_sf1 = format!("{}{location}", h.bc.channel_storefront_url("storec", 1));
    assert_eq!(h.shopper_get(&on_sf1, None).await.status(), 403);
    let resp = h.shopper_get(&format!("{sf2}{location}"), None).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("order-number"));
}

#[tokio::test]
async fn adding_and_updating_a_channel_fire_the_channel_webhooks() {
    let h = harness().await;
    let token = h.install("storea").await;
    let rx = receiver(&[], 200).await;
    let (status, hook) = h.create_hook(&token, "store/channel/*", &rx.url).await;
    assert_eq!(status, 200, "{hook}");

    let id =
        h.bc.add_channel("storea", ChannelSpec::stencil(0, "France", "fr", "EUR"));
    assert_eq!(id, 2);
    // Not a field the contract lists: no webhook.
    assert!(h.bc.update_channel("storea", id, |c| c.locale = "fr-FR".to_owned()));
    assert!(h.bc.update_channel("storea", id, |c| c.status = "deleted".to_owned()));
    assert!(
        !h.bc
            .update_channel("storea", 9, |c| c.status = "deleted".to_owned())
    );
    assert!(h.bc.webhooks_settled(Duration::from_secs(10)).await);
    assert_eq!(
        rx.scopes(),
        ["store/channel/created", "store/channel/updated"]
    );
    let store_id = h.bc.store("storea").unwrap().store_id.to_string();
    for body in rx.bodies() {
        assert_eq!(body["data"], json!({"type": "channel", "id": 2}), "{body}");
        assert_eq!(body["store_id"], store_id.as_str());
        assert_eq!(body["producer"], "stores/storea");
    }
    let (_, channel) = h
        .json("GET", "/stores/storea/v3/channels/2", &token, None)
        .await;
    assert_eq!(channel["data"]["status"], "deleted");
    assert_eq!(h.bc.channel("storea", 2).unwrap().locale, "fr-FR");
}

#[tokio::test]
async fn terms_and_conditions_are_set_per_channel() {
    let h = harness().await;
    let token = multi_storefront(&h).await;
    assert!(h.bc.set_channel_terms("storec", 2, true));
    assert!(!h.bc.set_channel_terms("storec", 9, true));
    let settings = |id: u64| {
        let (h, token) = (&h, &token);
        async move {
            h.json(
                "GET",
                &format!("/stores/storec/v3/checkouts/settings/channels/{id}"),
                token,
                None,
            )
            .await
        }
    };
    let (status, es) = settings(1).await;
    assert_eq!(status, 200);
    assert_eq!(es["data"]["is_order_terms_and_conditions_enabled"], false);
    let (status, fr) = settings(2).await;
    assert_eq!(status, 200);
    assert_eq!(fr["data"]["is_order_terms_and_conditions_enabled"], true);
    let sf2 = h.bc.channel_storefront_url("storec", 2);
    assert!(
        fr["data"]["order_terms_and_conditions_link"]
            .as_str()
            .unwrap()
            .starts_with(&sf2)
    );
    let (status, headless) = settings(3).await;
    assert_eq!(status, 200);
    assert_eq!(
        headless["data"]["is_order_terms_and_conditions_enabled"],
        false
    );
    let (status, body) = settings(9).await;
    assert_eq!(status, 422);
    assert_eq!(body["title"], "Invalid channelId");

    // Each storefront's checkout enforces its own channel's setting.
    let es_cart = h.bc.create_checkout_on("storec", 1, &[(101, 1)], "ES");
    let fr_cart = h.bc.create_checkout_on("storec", 2, &[(101, 1)], "FR");
    let place = |sf: String, cookie: String| {
        let h = &h;
        async move {
            h.shopper_post(
                &format!("{sf}/checkout/order"),
                Some(&cookie),
                &[("paymentProviderRadio", "bankdeposit")],
            )
            .await
            .status()
        }
    };
    assert_eq!(
        place(sf2.clone(), format!("bc_cart_storec_2={fr_cart}")).await,
        422
    );
    let sf1 = h.bc.channel_storefront_url("storec", 1);
    assert_eq!(place(sf1, format!("bc_cart_storec={es_cart}")).await, 303);
    assert!(h.bc.set_terms("storec", true), "set_terms is channel 1's");
    assert_eq!(
        settings(1).await.1["data"]["is_order_terms_and_conditions_enabled"],
        true
    );
}

// ---------------------------------------------------------------------------------------
// Cornerstone-shaped catalogue and cart pages (issue 15).

/// Every `<script …>` of a page has a `src`: no inline script.
fn assert_no_inline_script(page: &str) {
    for (at, _) in page.match_indices("<script") {
        let tag = &page[at..at + page[at..].find('>').unwrap()];
        assert!(tag.contains(" src=\""), "inline script: {tag}");
    }
}

#[tokio::test]
async fn product_pages_listings_and_the_cart_are_shaped_like_cornerstones() {
    let h = harness().await;
    let token = h.install("storea").await;
    let script = |name: &str, visibility: &str, location: &str, load: &str| {
        json!({
            "name": name, "kind": "src", "src": format!("https://app.example.com/static/{name}.js"),
            "load_method": load, "location": location, "visibility": visibility,
            "consent_category": "targeting",
            "integrity_hashes": [format!("sha384-{}", "B".repeat(64))],
        })
    };
    for body in [
        script("widgets", "storefront", "footer", "defer"),
        script("everywhere", "all_pages", "head", "async"),
        script("pay", "checkout", "footer", "defer"),
        script("thanks", "order_confirmation", "footer", "default"),
    ] {
        let (status, b) = h
            .json(
                "POST",
                "/stores/storea/v3/content/scripts",
                &token,
                Some(body),
            )
            .await;
        assert_eq!(status, 200, "{b}");
    }
    let tag = |name: &str, load: &str| {
        format!(
            "<script src=\"https://app.example.com/static/{name}.js\" integrity=\"sha384-{}\" crossorigin=\"anonymous\"{load}></script>",
            "B".repeat(64)
        )
    };
    let scripts_of = |page: &str| {
        let widgets = page
            .find(&tag("widgets", " defer"))
            .expect("storefront script");
        assert!(widgets > page.find("</main>").unwrap(), "in the footer");
        let everywhere = page
            .find(&tag("everywhere", " async"))
            .expect("all_pages script");
        assert!(everywhere < page.find("</head>").unwrap(), "in the head");
        assert!(!page.contains("pay.js") && !page.contains("thanks.js"));
        assert!(page.contains("/assets/theme.js\" defer></script>"));
        assert_no_inline_script(page);
    };

    let (status, view) = h
        .shopper_get_owned(h.storefront("storea", "/products/103"))
        .await;
    assert_eq!(status, 200);
    for needle in [
        "<div class=\"productView\" data-event-type=\"product\" data-entity-id=\"103\"",
        "<div class=\"productView-price\">",
        "<span data-product-price-with-tax class=\"price\">49,95 €</span>",
        "<div data-content-region=\"product_below_price\"></div>",
        "<input type=\"hidden\" name=\"product_id\" value=\"103\">",
        "<select class=\"form-select\" id=\"variant_id\" name=\"variant_id\" data-product-variant>",
        "<option value=\"1103\" data-price=\"49,95 €\">Algodón</option>",
        "<option value=\"2103\" data-price=\"89,95 €\">Lana</option>",
        "data-product-category=\"Ropa, Pantalones\"",
    ] {
        assert!(view.contains(needle), "{needle} missing");
    }
    scripts_of(&view);
    let (_, plain) = h
        .shopper_get_owned(h.storefront("storea", "/products/105"))
        .await;
    assert!(plain.contains("<span data-product-price-with-tax class=\"price\">129,00 €</span>"));
    assert!(
        !plain.contains("data-product-variant"),
        "no variants, no choice"
    );
    for missing in [
        "/products/999",
        "/products/abc",
        "/categories/999",
        "/categories/x",
    ] {
        assert_eq!(
            h.shopper_get_owned(h.storefront("storea", missing)).await.0,
            404,
            "{missing}"
        );
    }

    let (status, shoes) = h
        .shopper_get_owned(h.storefront("storea", "/categories/21"))
        .await;
    assert_eq!(status, 200);
    assert!(shoes.contains("data-category-id=\"21\">Calzado</h1>"));
    let cards: Vec<&str> = shoes.split("<article class=\"card\"").skip(1).collect();
    assert_eq!(cards.len(), 2, "the shoes only");
    assert!(cards[0].contains("data-entity-id=\"104\""));
    assert!(cards[0].contains(
        "<div class=\"card-text\" data-test-info-type=\"price\"><div class=\"price-section price-section--withTax price--withTax\"><span data-product-price-with-tax class=\"price\">79,90 €</span>"
    ));
    assert!(cards[0].contains("href=\"/storefront/storea/products/104\""));
    assert!(cards[1].contains("data-entity-id=\"105\""));
    scripts_of(&shoes);
    let (_, home) = h.shopper_get_owned(h.storefront("storea", "/")).await;
    assert_eq!(home.matches("<article class=\"card\"").count(), 9);
    assert!(home.contains("<ul class=\"productGrid products\"><li class=\"product\">"));
    scripts_of(&home);

    // A variant is bought at its price; an unknown one is refused.
    let resp = h
        .shopper_post(
            &h.storefront("storea", "/cart/add"),
            None,
            &[
                ("product_id", "103"),
                ("variant_id", "2103"),
                ("quantity", "1"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 303);
    let cookie = set_cookie(&resp, "bc_cart_storea").unwrap();
    let cart_id = cookie.split_once('=').unwrap().1.to_owned();
    for bad in ["9999", "1104", "x"] {
        let resp = h
            .shopper_post(
                &h.storefront("storea", "/cart/add"),
                Some(&cookie),
                &[
                    ("product_id", "103"),
                    ("variant_id", bad),
                    ("quantity", "1"),
                ],
            )
            .await;
        assert_eq!(resp.status(), 422, "{bad}");
    }
    let c = h.bc.checkout("storea", &cart_id).unwrap();
    let lines = c["cart"]["line_items"]["physical_items"]
        .as_array()
        .unwrap();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["variant_id"], 2103);
    assert_eq!(lines[0]["sale_price"], 89.95);
    let item = lines[0]["id"].as_str().unwrap().to_owned();

    let page = h
        .shopper_get(&h.storefront("storea", "/cart"), Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    for needle in [
        "<div data-cart-content",
        "<div data-cart-totals",
        "Pantalón chino (Lana)",
        &format!("data-cart-itemid=\"{item}\" aria-label=\"Cantidad\""),
        "data-update-endpoint=\"/storefront/storea/cart/update\"",
    ] {
        assert!(page.contains(needle), "{needle} missing");
    }
    let grand = |html: &str| {
        let at = html
            .find("cart-total-grandTotal\"><span>")
            .expect("grand total")
            + 29;
        html[at..at + html[at..].find('<').unwrap()].to_owned()
    };
    let total = c["cart"]["cart_amount_inc_tax"].as_f64().unwrap();
    let before = grand(&page);
    assert!(before.ends_with(" €"), "{before}");
    scripts_of(&page);

    // A quantity change: the cart and the re-rendered totals follow.
    let update = |cookie: Option<String>, item: String, quantity: &'static str| {
        let h = &h;
        async move {
            let resp = h
                .shopper_post(
                    &h.storefront("storea", "/cart/update"),
                    cookie.as_deref(),
                    &[("item_id", item.as_str()), ("quantity", quantity)],
                )
                .await;
            let status = resp.status();
            (status, resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, body) = update(Some(cookie.clone()), item.clone(), "3").await;
    assert_eq!(status, 200, "{body}");
    let c3 = h.bc.checkout("storea", &cart_id).unwrap();
    assert_eq!(c3["cart"]["line_items"]["physical_items"][0]["quantity"], 3);
    assert!(c3["cart"]["cart_amount_inc_tax"].as_f64().unwrap() > total);
    let after = grand(body["totals"].as_str().unwrap());
    assert_ne!(after, before);
    assert!(body["content"].as_str().unwrap().contains("value=\"3\""));
    assert_eq!(
        grand(
            &h.shopper_get(&h.storefront("storea", "/cart"), Some(&cookie))
                .await
                .text()
                .await
                .unwrap()
        ),
        after
    );
    for (cookie, item, quantity, expect) in [
        (Some(cookie.clone()), item.clone(), "0", 422),
        (Some(cookie.clone()), item.clone(), "100", 422),
        (Some(cookie.clone()), "nope".to_owned(), "2", 404),
        (None, item.clone(), "2", 404),
    ] {
        assert_eq!(update(cookie, item, quantity).await.0, expect);
    }
    assert_eq!(
        h.bc.checkout("storea", &cart_id).unwrap()["cart"]["line_items"]["physical_items"][0]["quantity"],
        3,
        "refused changes change nothing"
    );

    // The cart page opens a given cart (for a browser), of its own storefront only.
    let resp = h
        .shopper_get(&h.bc.cart_url_on("storea", 1, &cart_id), None)
        .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(set_cookie(&resp, "bc_cart_storea").unwrap(), cookie);
    let js = h
        .shopper_get(&h.storefront("storea", "/assets/theme.js"), None)
        .await;
    assert!(
        js.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    assert!(
        js.text()
            .await
            .unwrap()
            .contains("data-product-price-with-tax")
    );
}

#[tokio::test]
async fn each_storefront_renders_its_own_channels_storefront_scripts() {
    use sequra_bc_sandbox::bigcommerce::ChannelSpec;
    let h = harness().await;
    let token = h.install("storea").await;
    let fr =
        h.bc.add_channel("storea", ChannelSpec::stencil(0, "France", "fr", "EUR"));
    for (channel, name) in [(1, "es"), (fr, "fr")] {
        let (status, b) = h
            .json(
                "POST",
                "/stores/storea/v3/content/scripts",
                &token,
                Some(json!({
                    "name": name, "kind": "src", "channel_id": channel,
                    "src": format!("https://app.example.com/static/widgets-{name}.js"),
                    "load_method": "defer", "location": "footer", "visibility": "storefront",
                    "integrity_hashes": [format!("sha384-{}", "C".repeat(64))],
                })),
            )
            .await;
        assert_eq!(status, 200, "{b}");
    }
    for (channel, own, other) in [
        (1, "widgets-es", "widgets-fr"),
        (fr, "widgets-fr", "widgets-es"),
    ] {
        let base = h.bc.channel_storefront_url("storea", channel);
        for path in ["/", "/products/104", "/categories/21", "/cart"] {
            let (status, page) = h.shopper_get_owned(format!("{base}{path}")).await;
            assert_eq!(status, 200, "{channel} {path}");
            assert!(
                page.contains(&format!("{own}.js\" integrity=\"sha384-")),
                "{channel} {path}"
            );
            assert!(!page.contains(other), "{channel} {path}");
            assert_no_inline_script(&page);
        }
    }
    assert_eq!(
        h.bc.product_url_on("storea", fr, 103),
        format!("{}/products/103", h.bc.channel_storefront_url("storea", fr))
    );
}

#[tokio::test]
async fn the_theme_script_follows_a_variant_choice_and_a_quantity_change() {
    let h = harness().await;
    let (c, _driver) = browser::browser().await;
    c.goto(&h.bc.product_url_on("storea", 1, 103))
        .await
        .unwrap();
    let shown = "return document.querySelector('.productView-price [data-product-price-with-tax]').textContent;";
    assert_eq!(browser::js(&c, shown, vec![]).await, "49,95 €");
    browser::js(
        &c,
        "var s = document.querySelector('select[data-product-variant]');
         s.value = '2103';
         s.dispatchEvent(new Event('change', {bubbles: true}));",
        vec![],
    )
    .await;
    assert_eq!(browser::js(&c, shown, vec![]).await, "89,95 €");
    // The form buys the variant chosen.
    c.find(fantoccini::Locator::Css("#form-action-addToCart"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser::until(
        &c,
        "return location.pathname.endsWith('/cart') && document.querySelector('[data-cart-totals]');",
        vec![],
    )
    .await;
    let grand =
        "return document.querySelector('[data-cart-totals] .cart-total-grandTotal').textContent;";
    let before = browser::js(&c, grand, vec![]).await;
    assert!(before.as_str().unwrap().ends_with(" €"), "{before}");
    // Something another script drew inside the totals is gone once they are re-rendered.
    browser::js(
        &c,
        "var m = document.createElement('div'); m.id = 'drawn-by-another';
         document.querySelector('[data-cart-totals]').appendChild(m);",
        vec![],
    )
    .await;
    c.find(fantoccini::Locator::Css("button[data-action=\"inc\"]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let after = browser::until(
        &c,
        "var t = document.querySelector('[data-cart-totals] .cart-total-grandTotal');
         return t && t.textContent !== arguments[0] ? t.textContent : null;",
        vec![before.clone()],
    )
    .await;
    assert_ne!(after, before);
    assert_eq!(
        browser::js(
            &c,
            "return !!document.getElementById('drawn-by-another');",
            vec![]
        )
        .await,
        false
    );
    assert_eq!(
        browser::js(
            &c,
            "return document.querySelector('input.cart-item-qty-input').value;",
            vec![]
        )
        .await,
        "2"
    );
    c.close().await.unwrap();
}

#[tokio::test]
async fn products_carry_their_custom_fields_only_when_included() {
    let h = harness().await;
    let token = h.install("storea").await;
    let mut products = sequra_bc_sandbox::bigcommerce::demo_products();
    products[0] = products[0]
        .clone()
        .with_custom_field("sequra_service_end_date", "P6M")
        .with_custom_field("sequra_registration_amount", "10.00");
    assert!(h.bc.set_catalog(
        "storea",
        products,
        sequra_bc_sandbox::bigcommerce::demo_categories()
    ));
    let (status, plain) = h
        .json(
            "GET",
            "/stores/storea/v3/catalog/products?id:in=101,102",
            &token,
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert!(plain["data"][0].get("custom_fields").is_none(), "{plain}");
    let (status, with) = h
        .json(
            "GET",
            "/stores/storea/v3/catalog/products?id:in=101,102&include_fields=id,name&include=custom_fields",
            &token,
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        with["data"][0]["custom_fields"],
        json!([
            {"id": 10101, "name": "sequra_service_end_date", "value": "P6M"},
            {"id": 10102, "name": "sequra_registration_amount", "value": "10.00"}
        ])
    );
    assert_eq!(with["data"][1]["custom_fields"], json!([]));
    assert!(
        with["data"][0].get("sku").is_none(),
        "include_fields still applies"
    );
}
