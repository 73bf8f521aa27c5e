//! The seQura stand-in, over real HTTP: it must refuse what seQura refuses, with seQura's
//! status codes and bodies, and call the shop back as seQura does.

#[path = "common/browser.rs"]
mod browser;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use sequra_bc_sandbox::sequra::{
    AccountSpec, DEMO_MERCHANT_ES, DEMO_MERCHANT_FR, DEMO_PASSWORD, DEMO_SVEA_MERCHANT_IT,
    DEMO_SVEA_MERCHANT_PT, DEMO_SVEA_USERNAME, DEMO_USERNAME, LIVE_MERCHANT, LIVE_PASSWORD,
    LIVE_SVEA_MERCHANT, LIVE_SVEA_USERNAME, LIVE_USERNAME, MerchantSpec, SERVICES_MERCHANT,
    SERVICES_USERNAME, SequraStandIn, ShopperProfile,
};
use serde_json::{Value, json};
use url::Url;

// ---------------------------------------------------------------------------------------
// A tiny shop that receives IPNs and events.

#[derive(Clone, Debug)]
struct Call {
    path: String,
    query: String,
    content_type: String,
    user_agent: String,
    accept: String,
    fields: Vec<(String, String)>,
}

impl Call {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Clone)]
struct ShopCfg {
    ipn_status: u16,
    event_status: u16,
    /// PUT the order back (`confirmed` | `on_hold`) while handling each IPN, first without
    /// and then with this `order_ref_1`, as core does.
    confirm_as: Option<String>,
}

struct Shop {
    url: Url,
    calls: Arc<Mutex<Vec<Call>>>,
    /// Statuses of the shop's confirmation PUTs.
    puts: Arc<Mutex<Vec<u16>>>,
    cfg: Arc<Mutex<ShopCfg>>,
}

impl Shop {
    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    fn set(&self, f: impl FnOnce(&mut ShopCfg)) {
        f(&mut self.cfg.lock().unwrap());
    }

    fn notify_url(&self) -> String {
        format!("{}ipn?order=123&store_id=1", self.url)
    }

    fn events_url(&self) -> String {
        format!("{}events?order=123", self.url)
    }
}

/// Confirms an order the way the app does while handling an IPN.
async fn confirm_during_ipn(
    sq: &SequraStandIn,
    uuid: &str,
    sq_state: &str,
    order_ref_1: &str,
) -> Vec<u16> {
    let Some(order) = sq.order(uuid) else {
        return vec![];
    };
    let state = if sq_state == "approved" {
        "confirmed"
    } else {
        "on_hold"
    };
    let mut body = order.solicited.clone();
    body["state"] = json!(state);
    let http = reqwest::Client::new();
    let url = format!("{}orders/{uuid}", sq.sandbox_url());
    let mut statuses = Vec::new();
    for with_ref in [false, true] {
        if with_ref {
            body["merchant_reference"] = json!({"order_ref_1": order_ref_1});
        }
        let resp = http
            .put(&url)
            .basic_auth(DEMO_USERNAME, Some(DEMO_PASSWORD))
            .header("Sequra-Merchant-Id", &order.merchant_ref)
            .json(&json!({"order": body}))
            .send()
            .await
            .unwrap();
        statuses.push(resp.status().as_u16());
    }
    statuses
}

async fn shop(sq: SequraStandIn) -> Shop {
    use warp::Filter;
    let calls = Arc::new(Mutex::new(Vec::new()));
    let puts = Arc::new(Mutex::new(Vec::new()));
    let cfg = Arc::new(Mutex::new(ShopCfg {
        ipn_status: 200,
        event_status: 200,
        confirm_as: None,
    }));
    let (rec, put_rec, conf) = (calls.clone(), puts.clone(), cfg.clone());
    let route = warp::post()
        .and(warp::path::full())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(warp::header::headers_cloned())
        .and(warp::body::bytes())
        .then(
            move |path: warp::path::FullPath,
                  query: String,
                  headers: warp::http::HeaderMap,
                  body: bytes::Bytes| {
                let (rec, put_rec, conf, sq) =
                    (rec.clone(), put_rec.clone(), conf.clone(), sq.clone());
                async move {
                    let h = |k: &str| {
                        headers
                            .get(k)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_owned()
                    };
                    let call = Call {
                        path: path.as_str().to_owned(),
                        query,
                        content_type: h("content-type"),
                        user_agent: h("user-agent"),
                        accept: h("accept"),
                        fields: serde_urlencoded::from_bytes(&body).unwrap(),
                    };
                    rec.lock().unwrap().push(call.clone());
                    let cfg = conf.lock().unwrap().clone();
                    let status = if call.path == "/ipn" {
                        if let (Some(r1), Some(uuid), Some(state)) = (
                            &cfg.confirm_as,
                            call.field("order_ref"),
                            call.field("sq_state"),
                        ) && state != "cancelled"
                        {
                            let s = confirm_during_ipn(&sq, uuid, state, r1).await;
                            put_rec.lock().unwrap().extend(s);
                        }
                        cfg.ipn_status
                    } else {
                        cfg.event_status
                    };
                    warp::reply::with_status(
                        String::new(),
                        warp::http::StatusCode::from_u16(status).unwrap(),
                    )
                }
            },
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(warp::serve(route).incoming(listener).run());
    Shop {
        url: Url::parse(&format!("http://{addr}/")).unwrap(),
        calls,
        puts,
        cfg,
    }
}

// ---------------------------------------------------------------------------------------
// Harness.

struct H {
    sq: SequraStandIn,
    http: reqwest::Client,
    shop: Shop,
}

async fn harness() -> H {
    let sq = SequraStandIn::start(([127, 0, 0, 1], 0).into())
        .await
        .unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let shop = shop(sq.clone()).await;
    H { sq, http, shop }
}

/// A complete order for `merchant` whose items add up to 7302 cents.
fn order(merchant: &str, shop: &Shop) -> Value {
    json!({
        "state": "",
        "merchant": {
            "id": merchant,
            "notify_url": shop.notify_url(),
            "notification_parameters": {"order": "123", "storeId": "1", "signature": "abc123"},
            "return_url": format!("{}return?order=123&sq_product=SQ_PRODUCT_CODE", shop.url),
            "abort_url": format!("{}checkout", shop.url),
            "events_webhook": {
                "url": shop.events_url(),
                "parameters": {"order": "123", "storeId": "1", "signature": "abc123"}
            },
            "options": {"has_jquery": false, "uses_shipped_cart": false}
        },
        "cart": {
            "currency": "EUR", "gift": false, "order_total_with_tax": 7302, "cart_ref": "cart-1",
            "items": [
                {"type": "product", "reference": "12-123", "name": "Leather Case", "price_with_tax": 3530,
                 "quantity": 2, "total_with_tax": 7060, "downloadable": false},
                {"type": "handling", "reference": "seur24", "name": "SEUR 24h", "total_with_tax": 242}
            ]
        },
        "delivery_method": {"name": "SEUR24"},
        "delivery_address": address(),
        "invoice_address": address(),
        "customer": {
            "given_names": "Fulano", "surnames": "De Tal", "email": "test@sequra.es",
            "logged_in": false, "language_code": "es-ES", "ip_number": "12.23.34.45",
            "user_agent": "Mozilla/5.0"
        },
        "gui": {"layout": "desktop"},
        "platform": {"name": "BigCommerce", "version": "3", "uname": "Linux", "db_name": "sqlite",
                     "db_version": "3"}
    })
}

fn address() -> Value {
    json!({
        "given_names": "Fulano", "surnames": "De Tal", "company": "", "address_line_1": "Carrer d'Alí Bei, 7",
        "address_line_2": "", "postal_code": "08010", "city": "Barcelona", "country_code": "ES",
        "phone": "666666666", "state": "Barcelona"
    })
}

impl H {
    fn sandbox(&self, path: &str) -> String {
        format!("{}{path}", self.sq.sandbox_url())
    }

    fn live(&self, path: &str) -> String {
        format!("{}{path}", self.sq.live_url())
    }

    /// A request as the demo account, with `Sequra-Merchant-Id` when given.
    async fn call(
        &self,
        method: Method,
        url: &str,
        merchant: Option<&str>,
        body: Option<&Value>,
    ) -> reqwest::Response {
        let mut req = self
            .http
            .request(method, url)
            .basic_auth(DEMO_USERNAME, Some(DEMO_PASSWORD))
            .header("Accept", "application/json");
        if let Some(m) = merchant {
            req = req.header("Sequra-Merchant-Id", m);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send().await.unwrap()
    }

    async fn post_order(&self, order: &Value) -> reqwest::Response {
        let m = order["merchant"]["id"]
            .as_str()
            .unwrap_or(DEMO_MERCHANT_ES)
            .to_owned();
        self.call(
            Method::POST,
            &self.sandbox("orders"),
            Some(&m),
            Some(&json!({"order": order})),
        )
        .await
    }

    /// Solicits a valid order and returns its UUID.
    async fn solicit(&self, order: &Value) -> String {
        let resp = self.post_order(order).await;
        assert_eq!(
            resp.status(),
            StatusCode::NO_CONTENT,
            "{:?}",
            resp.text().await
        );
        let location = resp.headers()["location"].to_str().unwrap().to_owned();
        location.rsplit('/').next().unwrap().to_owned()
    }

    async fn put_order(&self, uuid: &str, order: &Value) -> reqwest::Response {
        self.call(
            Method::PUT,
            &self.sandbox(&format!("orders/{uuid}")),
            Some(DEMO_MERCHANT_ES),
            Some(&json!({"order": order})),
        )
        .await
    }

    /// Solicits, completes with approval and confirms with `order_ref_1`.
    async fn confirmed_order(&self, order_ref_1: &str) -> String {
        let uuid = self.solicit(&order(DEMO_MERCHANT_ES, &self.shop)).await;
        self.sq
            .complete_form(&uuid, "i1", None, ShopperProfile::Approve)
            .await
            .unwrap();
        let resp = self
            .put_order(
                &uuid,
                &confirmation(&self.sq, &uuid, "confirmed", Some(order_ref_1)),
            )
            .await;
        assert_eq!(resp.status(), StatusCode::OK);
        uuid
    }
}

/// The solicited order with `state` and `merchant_reference` set.
fn confirmation(sq: &SequraStandIn, uuid: &str, state: &str, order_ref_1: Option<&str>) -> Value {
    let mut body = sq.order(uuid).unwrap().solicited;
    body["state"] = json!(state);
    if let Some(r) = order_ref_1 {
        body["merchant_reference"] = json!({"order_ref_1": r});
    }
    body
}

async fn errors(resp: reqwest::Response) -> Vec<String> {
    let body: Value = resp.json().await.unwrap();
    body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors in {body}"))
        .iter()
        .map(|e| e.as_str().unwrap().to_owned())
        .collect()
}

// ---------------------------------------------------------------------------------------
// Deployments, credentials, authentication.

#[tokio::test]
async fn deployments_are_listed_without_credentials_and_point_at_the_stand_in() {
    let h = harness().await;
    let resp = h
        .http
        .get(format!("{}deployments", h.sq.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    let ids: Vec<&str> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["sequra", "svea"]);
    assert_eq!(
        body[0]["sandbox"]["api_base_url"],
        h.sq.sandbox_url().as_str()
    );
    assert_eq!(body[0]["live"]["api_base_url"], h.sq.live_url().as_str());
    assert!(
        body[0]["live"]["assets_base_url"]
            .as_str()
            .unwrap()
            .ends_with("/live/assets/")
    );
}

#[tokio::test]
async fn credentials_list_every_merchant_of_the_account_with_the_documented_fields() {
    let h = harness().await;
    let resp = h
        .call(Method::GET, &h.sandbox("merchants/credentials"), None, None)
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    let refs: Vec<&str> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["ref"].as_str().unwrap())
        .collect();
    assert_eq!(
        refs,
        [
            DEMO_MERCHANT_ES,
            DEMO_MERCHANT_FR,
            "dummy_automated_tests_it",
            "dummy_automated_tests_pt"
        ]
    );
    let es = &body[0];
    for key in [
        "ref",
        "name",
        "country",
        "allowed_countries",
        "currency",
        "assets_key",
        "contract_options",
        "extra_information",
        "verify_signature",
        "signature_secret",
        "confirmation_path",
        "realm",
    ] {
        assert!(es.get(key).is_some(), "missing {key} in {es}");
    }
    assert_eq!(es["country"], "ES");
    assert_eq!(es["currency"], "EUR");
    assert_eq!(es["realm"], "sequra");
    assert_eq!(es["signature_secret"].as_str().unwrap().len(), 32);
    assert_eq!(body[1]["country"], "FR");

    let services = h
        .http
        .get(h.sandbox("merchants/credentials"))
        .basic_auth(SERVICES_USERNAME, Some(DEMO_PASSWORD))
        .send()
        .await
        .unwrap();
    let services: Value = services.json().await.unwrap();
    assert_eq!(services[0]["ref"], SERVICES_MERCHANT);
    assert_eq!(
        services[0]["contract_options"],
        json!([
            "services",
            "allow_first_instalment_delay",
            "with_registration",
            "allow_multiple_services_per_order"
        ])
    );

    let live = h
        .http
        .get(h.live("merchants/credentials"))
        .basic_auth(LIVE_USERNAME, Some(LIVE_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), StatusCode::OK);
    let live: Value = live.json().await.unwrap();
    assert_eq!(live[0]["ref"], LIVE_MERCHANT);
}

#[tokio::test]
async fn credentials_of_one_environment_are_refused_on_the_other_with_a_plain_text_401() {
    let h = harness().await;
    let cases = [
        (
            h.live("merchants/credentials"),
            Some((DEMO_USERNAME, DEMO_PASSWORD)),
        ),
        (
            h.sandbox("merchants/credentials"),
            Some((LIVE_USERNAME, LIVE_PASSWORD)),
        ),
        (
            h.sandbox("merchants/credentials"),
            Some((DEMO_USERNAME, "wrong")),
        ),
        (h.sandbox("merchants/credentials"), None),
        (
            h.sandbox(&format!("merchants/{DEMO_MERCHANT_ES}/payment_methods")),
            None,
        ),
    ];
    for (url, creds) in cases {
        let mut req = h.http.get(&url);
        if let Some((u, p)) = creds {
            req = req.basic_auth(u, Some(p));
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{url} {creds:?}");
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
        assert_eq!(resp.text().await.unwrap(), "HTTP Basic: Access denied.");
    }
}

#[tokio::test]
async fn an_added_account_owns_its_merchants_in_its_environment_only() {
    let h = harness().await;
    h.sq.add_account(AccountSpec {
        environment: "live".into(),
        username: "acme".into(),
        password: "s3cret".into(),
        merchants: vec![
            MerchantSpec::new("acme_es", "ES"),
            MerchantSpec::new("acme_fr", "FR"),
        ],
    });
    let resp = h
        .http
        .get(h.live("merchants/credentials"))
        .basic_auth("acme", Some("s3cret"))
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body.as_array().unwrap().len(), 2);
    let resp = h
        .http
        .get(h.sandbox("merchants/credentials"))
        .basic_auth("acme", Some("s3cret"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_merchant_ref_the_account_does_not_own_is_refused_with_403_bad_merchant_id() {
    let h = harness().await;
    // In the path.
    let resp = h
        .call(
            Method::GET,
            &h.sandbox("merchants/someone_else/payment_methods"),
            Some(DEMO_MERCHANT_ES),
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        errors(resp).await,
        ["Bad merchant id 'someone_else' for sequra-demo"]
    );
    // In the header.
    let url = h.sandbox(&format!("merchants/{DEMO_MERCHANT_ES}/payment_methods"));
    let resp = h.call(Method::GET, &url, Some(LIVE_MERCHANT), None).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        errors(resp).await,
        ["Bad merchant id 'demo_live_es' for sequra-demo"]
    );
    // Missing header on a merchant-scoped call.
    let resp = h.call(Method::GET, &url, None, None).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(errors(resp).await, ["Bad merchant id '' for sequra-demo"]);
    // On a solicitation.
    let mut o = order("test", &h.shop);
    o["merchant"]["id"] = json!("test");
    let resp = h.post_order(&o).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        errors(resp).await,
        ["Bad merchant id 'test' for sequra-demo"]
    );
    // A header naming a merchant on credentials is checked too.
    let resp = h
        .call(
            Method::GET,
            &h.sandbox("merchants/credentials"),
            Some("nope"),
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn get_requests_carrying_a_json_empty_array_body_are_tolerated() {
    let h = harness().await;
    let resp = h
        .http
        .get(h.sandbox(&format!("merchants/{DEMO_MERCHANT_ES}/payment_methods")))
        .basic_auth(DEMO_USERNAME, Some(DEMO_PASSWORD))
        .header("Sequra-Merchant-Id", DEMO_MERCHANT_ES)
        .header("Content-Type", "application/json")
        .body("[]")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

// ---------------------------------------------------------------------------------------
// Payment methods.

fn products(body: &Value) -> Vec<String> {
    body["payment_options"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["methods"].as_array().unwrap().iter())
        .map(|m| m["product"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn merchant_payment_methods_have_the_documented_shape_per_country() {
    let h = harness().await;
    let url = h.sandbox(&format!("merchants/{DEMO_MERCHANT_ES}/payment_methods"));
    let resp = h
        .call(Method::GET, &url, Some(DEMO_MERCHANT_ES), None)
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    let cats: Vec<&str> = body["payment_options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["category"].as_str().unwrap())
        .collect();
    assert_eq!(cats, ["pay_now", "pay_later", "part_payment"]);
    assert_eq!(products(&body), ["fp1", "i1", "pp5", "sp1", "pp3"]);
    for cat in body["payment_options"].as_array().unwrap() {
        for key in ["title", "description", "icon", "category", "methods"] {
            assert!(cat.get(key).is_some(), "category without {key}");
        }
        for m in cat["methods"].as_array().unwrap() {
            for key in [
                "product",
                "campaign",
                "title",
                "long_title",
                "claim",
                "description",
                "icon",
                "cost",
                "cost_description",
                "starts_at",
                "ends_at",
                "widget",
                "info_widget",
                "min_amount",
                "max_amount",
            ] {
                assert!(m.get(key).is_some(), "method without {key}: {m}");
            }
            for key in [
                "setup_fee",
                "instalment_fee",
                "down_payment_fees",
                "instalment_total",
            ] {
                assert!(m["cost"][key].is_i64(), "cost without {key}");
            }
            assert!(
                m["icon"]
                    .as_str()
                    .unwrap()
                    .starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\"")
            );
        }
    }
    let method = |p: &str| {
        body["payment_options"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|c| c["methods"].as_array().unwrap().iter())
            .find(|m| m["product"] == p)
            .unwrap()
            .clone()
    };
    assert_eq!(method("i1")["title"], "Paga Después");
    assert_eq!(method("i1")["max_amount"], Value::Null);
    assert_eq!(method("pp3")["title"], "Paga Fraccionado");
    assert_eq!(method("pp3")["min_amount"], 5000);
    assert_eq!(method("pp3")["max_amount"], 300_000);
    assert_eq!(method("pp3")["cost"]["instalment_fee"], 300);
    assert_eq!(method("sp1")["campaign"], "permanente");
    assert_eq!(method("sp1")["title"], "Divide tu pago en 3");
    assert_eq!(method("pp5")["campaign"], "temporary");
    assert_eq!(method("pp5")["cost"]["setup_fee"], 295);
    assert_eq!(method("fp1")["title"], "Paga con tarjeta");

    for (merchant, title) in [
        (DEMO_MERCHANT_FR, "Payez en plusieurs fois"),
        ("dummy_automated_tests_it", "Pagamento a rate"),
        ("dummy_automated_tests_pt", "Pagamento Fracionado"),
    ] {
        let url = h.sandbox(&format!("merchants/{merchant}/payment_methods"));
        let body: Value = h
            .call(Method::GET, &url, Some(merchant), None)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(products(&body), ["pp3"]);
        assert_eq!(body["payment_options"][0]["methods"][0]["title"], title);
    }
    assert_eq!(
        SequraStandIn::default_methods("FR")[0]["category"],
        "part_payment"
    );
}

#[tokio::test]
async fn order_payment_methods_are_filtered_by_the_order_amount() {
    let h = harness().await;
    let big = h.solicit(&order(DEMO_MERCHANT_ES, &h.shop)).await;
    let url = h.sandbox(&format!("orders/{big}/payment_methods"));
    let body: Value = h
        .call(Method::GET, &url, Some(DEMO_MERCHANT_ES), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(products(&body), ["fp1", "i1", "pp5", "sp1", "pp3"]);
    let pp3 = &body["payment_options"][2]["methods"][1];
    assert_eq!(pp3["cost"]["instalment_total"], 7302 / 12 + 300);
    assert!(pp3.get("min_amount").is_none());

    let mut small = order(DEMO_MERCHANT_ES, &h.shop);
    small["cart"]["items"] = json!([{"type": "product", "reference": "x", "name": "Pin", "price_with_tax": 1500,
        "quantity": 1, "total_with_tax": 1500, "downloadable": false}]);
    small["cart"]["order_total_with_tax"] = json!(1500);
    let small = h.solicit(&small).await;
    let url = h.sandbox(&format!("orders/{small}/payment_methods"));
    let body: Value = h
        .call(Method::GET, &url, Some(DEMO_MERCHANT_ES), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(products(&body), ["fp1", "i1"]);
    assert_eq!(
        body["payment_options"].as_array().unwrap().len(),
        3,
        "empty categories stay"
    );

    let resp = h
        .call(
            Method::GET,
            &h.sandbox("orders/test/payment_methods"),
            Some(DEMO_MERCHANT_ES),
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(errors(resp).await, ["Bad order id 'test' for sequra-demo"]);
}

#[tokio::test]
async fn methods_outside_their_validity_window_are_not_offered_for_an_order() {
    let h = harness().await;
    let mut methods = SequraStandIn::default_methods("ES");
    methods[1]["methods"][1]["ends_at"] = json!("2020-01-01T00:00:00Z");
    h.sq.add_account(AccountSpec {
        environment: "sandbox".into(),
        username: DEMO_USERNAME.into(),
        password: DEMO_PASSWORD.into(),
        merchants: vec![MerchantSpec {
            methods,
            ..MerchantSpec::new(DEMO_MERCHANT_ES, "ES")
        }],
    });
    let uuid = h.solicit(&order(DEMO_MERCHANT_ES, &h.shop)).await;
    let url = h.sandbox(&format!("orders/{uuid}/payment_methods"));
    let body: Value = h
        .call(Method::GET, &url, Some(DEMO_MERCHANT_ES), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(products(&body), ["fp1", "i1", "sp1", "pp3"]);
    // The merchant endpoint lists it still: the app filters by dates itself.
    let url = h.sandbox(&format!("merchants/{DEMO_MERCHANT_ES}/payment_methods"));
    let body: Value = h
        .call(Method::GET, &url, Some(DEMO_MERCHANT_ES), None)
        .await
        .json()
        .await
        .unwrap();
    assert!(products(&body).contains(&"pp5".to_owned()));
}

// ---------------------------------------------------------------------------------------
// Solicitation.

#[tokio::test]
async fn a_valid_order_is_accepted_with_204_and_a_location_and_stored_verbatim() {
    let h = harness().await;
    let o = order(DEMO_MERCHANT_ES, &h.shop);
    let resp = h.post_order(&o).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let prefix = format!("{}orders/", h.sq.sandbox_url());
    assert!(location.starts_with(&prefix), "{location}");
    let uuid = &location[prefix.len()..];
    assert_eq!(uuid.len(), 36);
    assert!(resp.text().await.unwrap().is_empty());
    let rec = h.sq.order(uuid).unwrap();
    assert_eq!(rec.state, "solicited");
    assert_eq!(rec.environment, "sandbox");
    assert_eq!(rec.merchant_ref, DEMO_MERCHANT_ES);
    assert_eq!(rec.solicited, o);
    assert_eq!(
        rec.solicited["merchant"]["notification_parameters"]["signature"],
        "abc123"
    );
    // Re-solicitation of the same cart gets a new order.
    let again = h.solicit(&o).await;
    assert_ne!(again, uuid);
    assert_eq!(h.sq.orders().len(), 2);
}

#[tokio::test]
async fn items_that_do_not_add_up_are_refused_with_the_documented_message() {
    let h = harness().await;
    let mut o = order(DEMO_MERCHANT_ES, &h.shop);
    o["cart"]["order_total_with_tax"] = json!(7344);
    let resp = h.post_order(&o).await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert_eq!(
        errors(resp).await,
        [
            "Invalid data: items' total_with_tax add up to 7302 (7060+242) but order_total_with_tax is 7344. The diff is 42."
        ]
    );
    assert!(h.sq.orders().is_empty());
}

#[tokio::test]
async fn every_missing_required_field_is_listed_in_one_409() {
    let h = harness().await;
    let mut o = order(DEMO_MERCHANT_ES, &h.shop);
    let obj = o.as_object_mut().unwrap();
    obj.remove("state");
    obj.remove("delivery_method");
    obj.remove("platform");
    o["cart"].as_object_mut().unwrap().remove("gift");
    o["customer"].as_object_mut().unwrap().remove("email");
    o["customer"].as_object_mut().unwrap().remove("ip_number");
    o["customer"].as_object_mut().unwrap().remove("logged_in");
    o["invoice_address"]
        .as_object_mut()
        .unwrap()
        .remove("postal_code");
    let resp = h.post_order(&o).await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let errs = errors(resp).await;
    for expected in [
        "Invalid data: state is missing",
        "Invalid data: cart.gift is missing",
        "Invalid data: delivery_method is missing",
        "Invalid data: invoice_address.postal_code is missing",
        "Invalid data: customer.email is missing",
        "Invalid data: customer.ip_number is missing",
        "Invalid data: customer.logged_in is missing",
        "Invalid data: platform is missing",
    ] {
        assert!(
            errs.contains(&expected.to_owned()),
            "{expected} not in {errs:?}"
        );
    }
    assert_eq!(errs.len(), 8, "{errs:?}");
}

#[tokio::test]
async fn invalid_items_are_refused_with_one_message_each() {
    let h = harness().await;
    let mut o = order(DEMO_MERCHANT_ES, &h.shop);
    o["cart"]["items"] = json!([
        {"type": "product", "reference": "a", "name": "A", "price_with_tax": 3530, "quantity": 2,
         "total_with_tax": 7000, "downloadable": false},
        {"type": "product", "reference": "b", "name": "B", "price_with_tax": 100, "quantity": 0,
         "total_with_tax": 0, "downloadable": false},
        {"type": "discount", "reference": "d", "name": "D", "total_with_tax": 100},
        {"type": "handling", "reference": "h", "name": "H", "total_with_tax": -5},
        {"type": "gift_wrap", "reference": "g", "name": "G", "total_with_tax": 5},
        {"type": "service", "reference": "s", "name": "S", "price_with_tax": 100, "quantity": 1,
         "total_with_tax": 100, "downloadable": false},
        {"type": "other_payment", "reference": "o", "name": "O", "total_with_tax": 12.5},
        {"type": "invoice_fee", "total_with_tax": 295}
    ]);
    let resp = h.post_order(&o).await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let errs = errors(resp).await;
    for expected in [
        "Invalid data: cart.items[0].total_with_tax is 7000 but price_with_tax × quantity is 3530 × 2 = 7060",
        "Invalid data: cart.items[1].quantity must be at least 1",
        "Invalid data: cart.items[2].total_with_tax must not be positive for a discount item",
        "Invalid data: cart.items[3].total_with_tax must not be negative for a handling item",
        "Invalid data: cart.items[4].type 'gift_wrap' is not a valid item type",
        "Invalid data: cart.items[5] (a service) needs exactly one of ends_on and ends_in",
        "Invalid data: cart.items[6].total_with_tax must be an integer number of cents",
    ] {
        assert!(
            errs.contains(&expected.to_owned()),
            "{expected} not in {errs:?}"
        );
    }
}

#[tokio::test]
async fn a_currency_other_than_eur_an_empty_cart_and_a_bad_email_are_refused() {
    let h = harness().await;
    let mut o = order(DEMO_MERCHANT_ES, &h.shop);
    o["cart"]["currency"] = json!("USD");
    o["customer"]["email"] = json!("not-an-email");
    let errs = errors(h.post_order(&o).await).await;
    assert!(
        errs.contains(&"Invalid data: cart.currency 'USD' is not supported (only EUR)".to_owned()),
        "{errs:?}"
    );
    assert!(errs.contains(
        &"Invalid data: customer.email 'not-an-email' is not a valid email address".to_owned()
    ));

    let mut o = order(DEMO_MERCHANT_ES, &h.shop);
    o["cart"]["items"] = json!([]);
    o["cart"]["order_total_with_tax"] = json!(0);
    let errs = errors(h.post_order(&o).await).await;
    assert!(
        errs.contains(&"Invalid data: cart.items must not be empty".to_owned()),
        "{errs:?}"
    );
    assert!(
        errs.contains(&"Invalid data: cart.order_total_with_tax must be greater than 0".to_owned())
    );
}

#[tokio::test]
async fn an_events_webhook_without_url_and_a_mismatched_merchant_id_are_refused() {
    let h = harness().await;
    let mut o = order(DEMO_MERCHANT_ES, &h.shop);
    o["merchant"]["events_webhook"] = json!({"parameters": {"a": "b"}});
    let errs = errors(h.post_order(&o).await).await;
    assert_eq!(
        errs,
        ["Invalid data: merchant.events_webhook.url is missing"]
    );

    let mut o = order(DEMO_MERCHANT_FR, &h.shop);
    o["merchant"]["id"] = json!(DEMO_MERCHANT_FR);
    let resp = h
        .call(
            Method::POST,
            &h.sandbox("orders"),
            Some(DEMO_MERCHANT_ES),
            Some(&json!({"order": o})),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert_eq!(
        errors(resp).await,
        [
            "Invalid data: merchant.id 'dummy_automated_tests_fr' does not match the Sequra-Merchant-Id header 'dummy_automated_tests'"
        ]
    );
}

#[tokio::test]
async fn bodies_that_are_not_a_json_order_are_refused() {
    let h = harness().await;
    let url = h.sandbox("orders");
    let resp = h
        .http
        .post(&url)
        .basic_auth(DEMO_USERNAME, Some(DEMO_PASSWORD))
        .header("Sequra-Merchant-Id", DEMO_MERCHANT_ES)
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = h
        .http
        .post(&url)
        .basic_auth(DEMO_USERNAME, Some(DEMO_PASSWORD))
        .header("Sequra-Merchant-Id", DEMO_MERCHANT_ES)
        .form(&[("order", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let resp = h
        .call(
            Method::POST,
            &url,
            Some(DEMO_MERCHANT_ES),
            Some(&json!({"cart": {}})),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert_eq!(errors(resp).await, ["Invalid data: order is missing"]);
}

// ---------------------------------------------------------------------------------------
// Identification form.

#[tokio::test]
async fn the_form_is_an_html_snippet_whose_pay_button_posts_to_the_control_route() {
    let h = harness().await;
    let uuid = h.solicit(&order(DEMO_MERCHANT_ES, &h.shop)).await;
    let url = h.sandbox(&format!("orders/{uuid}/form_v2?product=pp3&ajax=1"));
    let resp = h
        .call(Method::GET, &url, Some(DEMO_MERCHANT_ES), None)
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = resp.text().await.unwrap();
    assert!(html.contains("id=\"sq-identification-pp3\""), "{html}");
    assert!(html.contains("window.SequraFormElement=id"));
    assert!(html.contains(&format!(
        "action=\"{}_control/orders/{uuid}/complete\"",
        h.sq.base_url()
    )));
    assert!(html.contains("name=\"product\" value=\"pp3\""));
    assert!(html.contains("value=\"review_cancel\""));
    assert!(html.contains(">Pagar</button>"));
    assert!(html.contains("73,02 €"));

    // Unknown order: Rails' 404 page.
    let url = h.sandbox("orders/2f0f4b27-0000-4000-8000-000000000000/form_v2");
    let resp = h
        .call(Method::GET, &url, Some(DEMO_MERCHANT_ES), None)
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("The page you were looking for doesn't exist")
    );
    // A product the merchant does not have: 404; one it has but not for this amount: 409.
    let url = h.sandbox(&format!("orders/{uuid}/form_v2?product=pp9"));
    assert_eq!(
        h.call(Method::GET, &url, Some(DEMO_MERCHANT_ES), None)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let mut small = order(DEMO_MERCHANT_ES, &h.shop);
    small["cart"]["items"] = json!([{"reference": "x", "name": "Pin", "price_with_tax": 1500,
        "quantity": 1, "total_with_tax": 1500, "downloadable": false}]);
    small["cart"]["order_total_with_tax"] = json!(1500);
    let small = h.solicit(&small).await;
    let url = h.sandbox(&format!("orders/{small}/form_v2?product=pp3"));
    assert_eq!(
        h.call(Method::GET, &url, Some(DEMO_MERCHANT_ES), None)
            .await
            .status(),
        StatusCode::CONFLICT
    );
}

#[tokio::test]
async fn the_form_preselects_the_review_profile_for_the_review_test_names() {
    let h = harness().await;
    let mut o = order(DEMO_MERCHANT_ES, &h.shop);
    o["customer"]["given_names"] = json!("Review Test Cancel");
    o["customer"]["surnames"] = json!("Review Test Cancel");
    let uuid = h.solicit(&o).await;
    let url = h.sandbox(&format!("orders/{uuid}/form_v2?product=tbs"));
    let html = h
        .call(Method::GET, &url, Some(DEMO_MERCHANT_ES), None)
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("value=\"review_cancel\" checked"), "{html}");
    assert!(html.contains("data-testid=\"payment-option-pp5\""));
    assert!(html.contains("value=\"pp5:temporary\""));
}

#[tokio::test]
async fn the_control_route_completes_the_form_and_redirects_to_the_return_url() {
    let h = harness().await;
    let uuid = h.solicit(&order(DEMO_MERCHANT_ES, &h.shop)).await;
    let resp = h
        .http
        .post(format!(
            "{}_control/orders/{uuid}/complete",
            h.sq.base_url()
        ))
        .form(&[
            ("product", "sp1"),
            ("campaign", "permanente"),
            ("profile", "approve"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        resp.headers()["location"].to_str().unwrap(),
        format!("{}return?order=123&sq_product=sp1", h.shop.url)
    );
    let calls = h.shop.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].field("product_code"), Some("sp1"));
    let rec = h.sq.order(&uuid).unwrap();
    assert_eq!(rec.product.as_deref(), Some("sp1"));
    assert_eq!(rec.campaign.as_deref(), Some("permanente"));
    // A completed form cannot be completed again.
    let resp = h
        .http
        .post(format!(
            "{}_control/orders/{uuid}/complete",
            h.sq.base_url()
        ))
        .form(&[("product", "sp1")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CONFLICT);
}

/// Delegated selection (sequra-remote-configuration.md §5.1): `form_v2?product=tbs` without
/// a campaign shows the plans offered for the order; the one the shopper picks there is the
/// IPN's `product_code`. `tbs` has no campaigns: with one it is unknown, as any other product's
/// unknown campaign.
#[tokio::test]
async fn the_tbs_form_lets_the_shopper_choose_and_the_ipn_names_the_chosen_plan() {
    let h = harness().await;
    let uuid = h.solicit(&order(DEMO_MERCHANT_ES, &h.shop)).await;
    let with_campaign = h.sandbox(&format!(
        "orders/{uuid}/form_v2?product=tbs&campaign=permanente&ajax=true"
    ));
    assert_eq!(
        h.call(Method::GET, &with_campaign, Some(DEMO_MERCHANT_ES), None)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let url = h.sandbox(&format!("orders/{uuid}/form_v2?product=tbs&ajax=true"));
    let resp = h
        .call(Method::GET, &url, Some(DEMO_MERCHANT_ES), None)
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.unwrap();
    assert!(html.contains("id=\"sq-identification-tbs\""), "{html}");
    for plan in ["i1", "pp3"] {
        assert!(
            html.contains(&format!("data-testid=\"payment-option-{plan}\"")),
            "{plan} offered in the chooser: {html}"
        );
    }
    // The chooser posts the form's `product=tbs` and the plan picked as `method`.
    let resp = h
        .http
        .post(format!(
            "{}_control/orders/{uuid}/complete",
            h.sq.base_url()
        ))
        .form(&[
            ("product", "tbs"),
            ("campaign", ""),
            ("method", "pp3"),
            ("profile", "approve"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let calls = h.shop.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].field("product_code"), Some("pp3"));
    assert_eq!(h.sq.order(&uuid).unwrap().product.as_deref(), Some("pp3"));
}

#[tokio::test]
async fn a_shop_answering_410_makes_the_control_route_show_a_conflict() {
    let h = harness().await;
    h.shop.set(|c| c.ipn_status = 410);
    let uuid = h.solicit(&order(DEMO_MERCHANT_ES, &h.shop)).await;
    let resp = h
        .http
        .post(format!(
            "{}_control/orders/{uuid}/complete",
            h.sq.base_url()
        ))
        .form(&[("method", "i1"), ("profile", "approve")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert_eq!(h.sq.order(&uuid).unwrap().state, "cancelled");
}

// ---------------------------------------------------------------------------------------
// IPN and events.

#[tokio::test]
async fn approval_sends_one_approved_ipn_with_the_notification_parameters() {
    let h = harness().await;
    let uuid = h.solicit(&order(DEMO_MERCHANT_ES, &h.shop)).await;
    let outcome =
        h.sq.complete_form(&uuid, "i1", None, ShopperProfile::Approve)
            .await
            .unwrap();
    assert_eq!(
        outcome.deliveries,
        [("ipn".to_owned(), "approved".to_owned(), 200)]
    );
    let calls = h.shop.calls();
    assert_eq!(calls.len(), 1);
    let ipn = &calls[0];
    assert_eq!(ipn.path, "/ipn");
    assert_eq!(ipn.query, "order=123&store_id=1");
    assert!(
        ipn.content_type
            .starts_with("application/x-www-form-urlencoded")
    );
    assert_eq!(ipn.field("order_ref"), Some(uuid.as_str()));
    assert_eq!(ipn.field("product_code"), Some("i1"));
    assert_eq!(ipn.field("sq_state"), Some("approved"));
    assert!(ipn.field("approved_since").unwrap().parse::<u64>().is_ok());
    assert_eq!(ipn.field("order_ref_1"), None, "unknown yet");
    assert_eq!(ipn.field("signature"), Some("abc123"));
    assert_eq!(ipn.field("storeId"), Some("1"));
    assert_eq!(ipn.field("order"), Some("123"));
    let rec = h.sq.order(&uuid).unwrap();
    assert_eq!(rec.sq_state.as_deref(), Some("approved"));
    assert_eq!(
        rec.state, "solicited",
        "the shop did not PUT the confirmation"
    );
    assert_eq!(rec.notifications.len(), 1);
    // The form is used up.
    assert!(
        h.sq.complete_form(&uuid, "i1", None, ShopperProfile::Approve)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn the_prefix_switch_sends_the_notification_parameters_with_m_() {
    let h = harness().await;
    h.sq.set_prefixed_notification_parameters(true);
    let uuid = h.solicit(&order(DEMO_MERCHANT_ES, &h.shop)).await;
    h.sq.complete_form(&uuid, "pp3", None, ShopperProfile::Approve)
        .await
        .unwrap();
    let ipn = &h.shop.calls()[0];
    assert_eq!(ipn.field("m_signature"), Some("abc123"));
    assert_eq!(ipn.field("m_storeId"), Some("1"));
    assert_eq!(ipn.field("signature"), None);
    assert_eq!(
        ipn.field("order_ref"),
        Some(uuid.as_str()),
        "standard fields stay plain"
    );
}

#[tokio::test]
async fn review_then_approve_sends_needs_review_then_approved_and_the_shop_confirms() {
    let h = harness().await;
    h.shop.set(|c| c.confirm_as = Some("BC-100".into()));
    let uuid = h.solicit(&order(DEMO_MERCHANT_ES, &h.shop)).await;
    let outcome =
        h.sq.complete_form(&uuid, "i1", None, ShopperProfile::ReviewApprove)
            .await
            .unwrap();
    assert_eq!(
        outcome.deliveries,
        [
            ("ipn".to_owned(), "needs_review".to_owned(), 200),
            ("ipn".to_owned(), "approved".to_owned(), 200)
        ]
    );
    let calls = h.shop.calls();
    assert_eq!(calls[0].field("sq_state"), Some("needs_review"));
    assert!(calls[0].field("needs_review_since").is_some());
    assert_eq!(calls[1].field("sq_state"), Some("approved"));
    assert_eq!(
        calls[1].field("order_ref_1"),
        Some("BC-100"),
        "known from the on_hold PUT"
    );
    assert_eq!(*h.shop.puts.lock().unwrap(), [200, 200, 200, 200]);
    let rec = h.sq.order(&uuid).unwrap();
    assert_eq!(rec.state, "confirmed");
    assert_eq!(rec.order_ref_1.as_deref(), Some("BC-100"));
    assert_eq!(rec.last_put.unwrap()["state"], "confirmed");
}

#[tokio::test]
async fn review_then_cancel_sends_needs_review_then_the_cancelled_event() {
    let h = harness().await;
    h.shop.set(|c| c.confirm_as = Some("BC-7".into()));
    let uuid = h.solicit(&order(DEMO_MERCHANT_ES, &h.shop)).await;
    let outcome =
        h.sq.complete_form(&uuid, "i1", None, ShopperProfile::ReviewCancel)
            .await
            .unwrap();
    assert_eq!(
        outcome.deliveries,
        [
            ("ipn".to_owned(), "needs_review".to_owned(), 200),
            ("event".to_owned(), "cancelled".to_owned(), 200)
        ]
    );
    let calls = h.shop.calls();
    let event = &calls[1];
    assert_eq!(event.path, "/events");
    assert_eq!(event.query, "order=123");
    assert_eq!(event.user_agent, "seQura-Event/1.0 (www.sequra.es)");
    assert_eq!(event.accept, "application/json");
    assert!(
        event
            .content_type
            .starts_with("application/x-www-form-urlencoded")
    );
    let mut names: Vec<&str> = event.fields.iter().map(|(k, _)| k.as_str()).collect();
    let params = names.split_off(6);
    assert_eq!(
        names,
        [
            "charset",
            "utf8",
            "event",
            "order_ref_1",
            "order_ref_2",
            "order_ref"
        ]
    );
    let mut params = params;
    params.sort_unstable();
    assert_eq!(params, ["m_order", "m_signature", "m_storeId"]);
    assert_eq!(event.field("charset"), Some("UTF-8"));
    assert_eq!(event.field("utf8"), Some("√"));
    assert_eq!(event.field("event"), Some("cancelled"));
    assert_eq!(event.field("order_ref_1"), Some("BC-7"));
    assert_eq!(event.field("order_ref"), Some(uuid.as_str()));
    assert_eq!(event.field("m_signature"), Some("abc123"));
    let rec = h.sq.order(&uuid).unwrap();
    assert_eq!(rec.state, "cancelled");
    assert_eq!(rec.sq_state.as_deref(), Some("cancelled"));
}

#[tokio::test]
async fn a_shop_answering_409_cancels_the_order_and_ends_the_sequence() {
    let h = harness().await;
    h.shop.set(|c| c.ipn_status = 409);
    let uuid = h.solicit(&order(DEMO_MERCHANT_ES, &h.shop)).await;
    let outcome =
        h.sq.complete_form(&uuid, "i1", None, ShopperProfile::ReviewApprove)
            .await
            .unwrap();
    assert_eq!(
        outcome.deliveries,
        [("ipn".to_owned(), "needs_review".to_owned(), 409)]
    );
    assert_eq!(h.sq.order(&uuid).unwrap().state, "cancelled");
}

#[tokio::test]
async fn a_shop_that_confirms_during_the_ipn_leaves_the_order_confirmed() {
    let h = harness().await;
    h.shop.set(|c| c.confirm_as = Some("BC-1".into()));
    let uuid = h.solicit(&order(DEMO_MERCHANT_ES, &h.shop)).await;
    h.sq.complete_form(&uuid, "i1", None, ShopperProfile::Approve)
        .await
        .unwrap();
    let rec = h.sq.order(&uuid).unwrap();
    assert_eq!(rec.state, "confirmed");
    assert_eq!(rec.order_ref_1.as_deref(), Some("BC-1"));
}

#[tokio::test]
async fn a_product_not_offered_for_the_order_cannot_complete_the_form() {
    let h = harness().await;
    let uuid = h.solicit(&order(DEMO_MERCHANT_ES, &h.shop)).await;
    assert!(
        h.sq.complete_form(&uuid, "pp9", None, ShopperProfile::Approve)
            .await
            .is_err()
    );
    assert!(
        h.sq.complete_form(&uuid, "pp5", Some("nope"), ShopperProfile::Approve)
            .await
            .is_err()
    );
    assert!(
        h.sq.complete_form("missing", "i1", None, ShopperProfile::Approve)
            .await
            .is_err()
    );
    assert!(h.shop.calls().is_empty());
}

// ---------------------------------------------------------------------------------------
// Confirmation.

#[tokio::test]
async fn confirming_an_order_sequra_has_not_approved_is_refused() {
    let h = harness().await;
    let uuid = h.solicit(&order(DEMO_MERCHANT_ES, &h.shop)).await;
    let resp = h
        .put_order(&uuid, &confirmation(&h.sq, &uuid, "confirmed", Some("1")))
        .await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let resp = h
        .put_order(&uuid, &confirmation(&h.sq, &uuid, "on_hold", Some("1")))
        .await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let resp = h
        .put_order(&uuid, &confirmation(&h.sq, &uuid, "shipped", None))
        .await;
    assert_eq!(
        errors(resp).await,
        ["Invalid data: state must be confirmed or on_hold"]
    );
    let resp = h
        .put_order("test", &confirmation(&h.sq, &uuid, "confirmed", None))
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(errors(resp).await, ["Bad order id 'test' for sequra-demo"]);
}

#[tokio::test]
async fn a_confirmation_with_a_changed_cart_or_address_is_refused_with_409() {
    let h = harness().await;
    let uuid = h.solicit(&order(DEMO_MERCHANT_ES, &h.shop)).await;
    h.sq.complete_form(&uuid, "i1", None, ShopperProfile::Approve)
        .await
        .unwrap();
    let mut changed = confirmation(&h.sq, &uuid, "confirmed", Some("9"));
    changed["cart"]["items"][1]["total_with_tax"] = json!(300);
    changed["cart"]["order_total_with_tax"] = json!(7360);
    let resp = h.put_order(&uuid, &changed).await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let errs = errors(resp).await;
    assert!(errs[0].contains("the cart has changed"), "{errs:?}");

    let mut moved = confirmation(&h.sq, &uuid, "confirmed", Some("9"));
    moved["delivery_address"]["city"] = json!("Madrid");
    let errs = errors(h.put_order(&uuid, &moved).await).await;
    assert_eq!(
        errs,
        ["Invalid data: delivery_address has changed since the order was solicited"]
    );
    assert_eq!(h.sq.order(&uuid).unwrap().state, "solicited");

    // Items in another order are the same cart.
    let mut reordered = confirmation(&h.sq, &uuid, "confirmed", Some("9"));
    let items = reordered["cart"]["items"].as_array_mut().unwrap();
    items.reverse();
    let resp = h.put_order(&uuid, &reordered).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({}));
}

#[tokio::test]
async fn an_order_ref_1_already_confirmed_for_the_merchant_is_refused_with_409() {
    let h = harness().await;
    h.confirmed_order("A-1").await;
    let uuid = h.solicit(&order(DEMO_MERCHANT_ES, &h.shop)).await;
    h.sq.complete_form(&uuid, "i1", None, ShopperProfile::Approve)
        .await
        .unwrap();
    let resp = h
        .put_order(&uuid, &confirmation(&h.sq, &uuid, "confirmed", Some("A-1")))
        .await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert_eq!(
        errors(resp).await,
        [
            "Invalid data: order_ref_1 'A-1' is already used by another confirmed order of merchant dummy_automated_tests"
        ]
    );
    let resp = h
        .put_order(&uuid, &confirmation(&h.sq, &uuid, "confirmed", Some("A-2")))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_order_on_hold_can_be_confirmed_but_not_the_other_way_round() {
    let h = harness().await;
    h.sq.set_review_delay(Duration::from_millis(10));
    let uuid = h.solicit(&order(DEMO_MERCHANT_ES, &h.shop)).await;
    // The shop does not confirm during the IPN: do it by hand after.
    h.sq.complete_form(&uuid, "i1", None, ShopperProfile::ReviewApprove)
        .await
        .unwrap();
    // seQura approved it in the end, so `confirmed` is what it expects now.
    let resp = h
        .put_order(&uuid, &confirmation(&h.sq, &uuid, "on_hold", Some("H-1")))
        .await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let resp = h
        .put_order(&uuid, &confirmation(&h.sq, &uuid, "confirmed", Some("H-1")))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = h
        .put_order(&uuid, &confirmation(&h.sq, &uuid, "on_hold", Some("H-1")))
        .await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert_eq!(h.sq.order(&uuid).unwrap().state, "confirmed");
}

// ---------------------------------------------------------------------------------------
// Order Update API.

fn cart(items: Value, total: i64) -> Value {
    json!({"currency": "EUR", "gift": false, "order_total_with_tax": total, "items": items})
}

fn shipped_items() -> Value {
    json!([{"type": "product", "reference": "12-123", "name": "Leather Case", "price_with_tax": 3530,
            "quantity": 2, "total_with_tax": 7060, "downloadable": false},
           {"type": "handling", "reference": "seur24", "name": "SEUR 24h", "total_with_tax": 242}])
}

fn update(merchant: &str, order_ref_1: &str, shipped: Value, unshipped: Value) -> Value {
    json!({"order": {
        "merchant": {"id": merchant},
        "merchant_reference": {"order_ref_1": order_ref_1},
        "shipped_cart": shipped,
        "unshipped_cart": unshipped,
        "trackings": []
    }})
}

impl H {
    async fn put_update(&self, merchant: &str, path_ref: &str, body: &Value) -> reqwest::Response {
        let url = self.sandbox(&format!("merchants/{merchant}/orders/{path_ref}"));
        self.call(Method::PUT, &url, Some(merchant), Some(body))
            .await
    }
}

#[tokio::test]
async fn a_valid_order_update_is_stored_and_answered_200() {
    let h = harness().await;
    let uuid = h.confirmed_order("A14/12345").await;
    let body = update(
        DEMO_MERCHANT_ES,
        "A14/12345",
        cart(shipped_items(), 7302),
        cart(json!([]), 0),
    );
    let resp = h.put_update(DEMO_MERCHANT_ES, "A14%2F12345", &body).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({}));
    let rec = h.sq.order(&uuid).unwrap();
    assert_eq!(rec.shipped_cart.unwrap()["order_total_with_tax"], 7302);
    assert_eq!(rec.updates.len(), 1);
    assert_eq!(rec.state, "confirmed");
}

#[tokio::test]
async fn order_updates_for_other_merchants_or_unknown_orders_are_refused() {
    let h = harness().await;
    h.confirmed_order("R-1").await;
    let body = update(
        DEMO_MERCHANT_ES,
        "R-1",
        cart(shipped_items(), 7302),
        cart(json!([]), 0),
    );
    // A merchant the account does not own.
    let url = h.sandbox("merchants/someone_else/orders/R-1");
    let resp = h
        .call(Method::PUT, &url, Some(DEMO_MERCHANT_ES), Some(&body))
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(errors(resp).await, ["You do not have access to this URL"]);
    // The account's other merchant, but the order is not its.
    let resp = h.put_update(DEMO_MERCHANT_FR, "R-1", &body).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(errors(resp).await, ["You do not have access to this URL"]);
    // Unknown reference.
    let resp = h.put_update(DEMO_MERCHANT_ES, "R-2", &body).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn orders_on_hold_or_cancelled_after_review_are_not_found_by_the_order_update_api() {
    let h = harness().await;
    // On hold: the review outcome is a minute away, as in the real sandbox.
    h.sq.set_review_delay(Duration::from_secs(60));
    h.shop.set(|c| c.confirm_as = Some("OH-1".into()));
    let uuid = h.solicit(&order(DEMO_MERCHANT_ES, &h.shop)).await;
    let resp = h
        .http
        .post(format!(
            "{}_control/orders/{uuid}/complete",
            h.sq.base_url()
        ))
        .form(&[("product", "i1"), ("profile", "review_cancel")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let rec = h.sq.order(&uuid).unwrap();
    assert_eq!(
        (rec.state.as_str(), rec.order_ref_1.as_deref()),
        ("on_hold", Some("OH-1"))
    );
    let body = update(
        DEMO_MERCHANT_ES,
        "OH-1",
        cart(json!([]), 0),
        cart(json!([]), 0),
    );
    let resp = h.put_update(DEMO_MERCHANT_ES, "OH-1", &body).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);

    // Cancelled after the review.
    h.sq.set_review_delay(Duration::ZERO);
    h.shop.set(|c| c.confirm_as = Some("OH-2".into()));
    let uuid = h.solicit(&order(DEMO_MERCHANT_ES, &h.shop)).await;
    h.sq.complete_form(&uuid, "i1", None, ShopperProfile::ReviewCancel)
        .await
        .unwrap();
    assert_eq!(h.sq.order(&uuid).unwrap().state, "cancelled");
    let body = update(
        DEMO_MERCHANT_ES,
        "OH-2",
        cart(json!([]), 0),
        cart(json!([]), 0),
    );
    let resp = h.put_update(DEMO_MERCHANT_ES, "OH-2", &body).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn order_update_carts_must_add_up_and_not_go_negative() {
    let h = harness().await;
    h.confirmed_order("C-1").await;
    let body = update(
        DEMO_MERCHANT_ES,
        "C-1",
        cart(shipped_items(), 7344),
        cart(json!([]), 0),
    );
    let resp = h.put_update(DEMO_MERCHANT_ES, "C-1", &body).await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert_eq!(
        errors(resp).await,
        [
            "Invalid data: In shipped_cart, items' total_with_tax add up to 7302 (7060+242) but order_total_with_tax is 7344. The diff is 42."
        ]
    );
    let refund = json!([{"type": "other_payment", "reference": "r_1", "name": "Refund", "total_with_tax": -8000}]);
    let mut items = shipped_items().as_array().unwrap().clone();
    items.extend(refund.as_array().unwrap().iter().cloned());
    let body = update(
        DEMO_MERCHANT_ES,
        "C-1",
        cart(Value::Array(items), -698),
        cart(json!([]), 0),
    );
    let errs = errors(h.put_update(DEMO_MERCHANT_ES, "C-1", &body).await).await;
    assert_eq!(
        errs,
        ["Invalid data: shipped_cart.order_total_with_tax must not be negative"]
    );
    let body = update(
        DEMO_MERCHANT_ES,
        "C-2",
        cart(shipped_items(), 7302),
        cart(json!([]), 0),
    );
    let errs = errors(h.put_update(DEMO_MERCHANT_ES, "C-1", &body).await).await;
    assert_eq!(
        errs,
        [
            "Invalid data: merchant_reference.order_ref_1 'C-2' does not match the order in the URL 'C-1'"
        ]
    );
    let mut body = update(
        DEMO_MERCHANT_ES,
        "C-1",
        cart(shipped_items(), 7302),
        cart(json!([]), 0),
    );
    body["order"]
        .as_object_mut()
        .unwrap()
        .remove("unshipped_cart");
    let errs = errors(h.put_update(DEMO_MERCHANT_ES, "C-1", &body).await).await;
    assert_eq!(errs, ["Invalid data: unshipped_cart is missing"]);
}

#[tokio::test]
async fn two_empty_carts_cancel_the_order_which_cannot_get_items_back() {
    let h = harness().await;
    let uuid = h.confirmed_order("X-1").await;
    let empty = update(
        DEMO_MERCHANT_ES,
        "X-1",
        cart(json!([]), 0),
        cart(json!([]), 0),
    );
    assert_eq!(
        h.put_update(DEMO_MERCHANT_ES, "X-1", &empty).await.status(),
        StatusCode::OK
    );
    assert_eq!(h.sq.order(&uuid).unwrap().state, "cancelled");
    // Repeating the cancellation is fine; adding items back is not.
    assert_eq!(
        h.put_update(DEMO_MERCHANT_ES, "X-1", &empty).await.status(),
        StatusCode::OK
    );
    let back = update(
        DEMO_MERCHANT_ES,
        "X-1",
        cart(json!([]), 0),
        cart(shipped_items(), 7302),
    );
    assert_eq!(
        h.put_update(DEMO_MERCHANT_ES, "X-1", &back).await.status(),
        StatusCode::CONFLICT
    );
}

// ---------------------------------------------------------------------------------------
// Delivery reports, store integrations.

fn report(merchant: &str, total: i64) -> Value {
    json!({"delivery_report": {
        "merchant": {"id": merchant},
        "orders": [{"state": "shipped", "sent_at": "2025-02-02T22:22:22+01:00",
                    "merchant_reference": {"order_ref_1": "123"},
                    "cart": cart(shipped_items(), total),
                    "remaining_cart": {"currency": "EUR", "order_total_with_tax": 0, "items": []}}],
        "statistics": {"orders": []},
        "platform": {"name": "BigCommerce", "version": "3", "uname": "Linux", "db_name": "sqlite", "db_version": "3"}
    }})
}

#[tokio::test]
async fn delivery_reports_are_validated_and_stored_on_both_paths() {
    let h = harness().await;
    for path in ["orders/delivery_reports", "delivery_reports"] {
        let resp = h
            .call(
                Method::POST,
                &h.sandbox(path),
                Some(DEMO_MERCHANT_ES),
                Some(&report(DEMO_MERCHANT_ES, 7302)),
            )
            .await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT, "{path}");
    }
    assert_eq!(h.sq.delivery_reports().len(), 2);
    assert_eq!(
        h.sq.delivery_reports()[0]["merchant"]["id"],
        DEMO_MERCHANT_ES
    );

    let resp = h
        .call(
            Method::POST,
            &h.sandbox("orders/delivery_reports"),
            Some(DEMO_MERCHANT_ES),
            Some(&report(DEMO_MERCHANT_ES, 7000)),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert_eq!(
        errors(resp).await,
        [
            "Invalid data: In orders[0].cart, items' total_with_tax add up to 7302 (7060+242) but order_total_with_tax is 7000. The diff is -302."
        ]
    );
    let resp = h
        .call(
            Method::POST,
            &h.sandbox("orders/delivery_reports"),
            Some(DEMO_MERCHANT_ES),
            Some(&report("test", 7302)),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(h.sq.delivery_reports().len(), 2);
}

#[tokio::test]
async fn store_integrations_are_created_with_a_location_and_deleted() {
    let h = harness().await;
    let hook = "https://app.example/sequra/config?storeId=1&signature=ab";
    let body =
        json!({"store_integration": {"webhook_url": hook, "capabilities": ["general", "widget"]}});
    let resp = h
        .call(
            Method::POST,
            &h.sandbox("store_integrations"),
            Some(""),
            Some(&body),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        resp.headers()["location"].to_str().unwrap(),
        format!("{}store_integrations/1", h.sq.sandbox_url())
    );
    let bad = json!({"store_integration": {"webhook_url": hook, "capabilities": ["teleport"]}});
    let resp = h
        .call(
            Method::POST,
            &h.sandbox("store_integrations"),
            None,
            Some(&bad),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let encoded: String = url::form_urlencoded::byte_serialize(hook.as_bytes()).collect();
    let resp = h
        .call(
            Method::DELETE,
            &h.sandbox(&format!("store_integrations/{encoded}")),
            None,
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let integrations = h.sq.store_integrations();
    assert_eq!(integrations.len(), 1);
    assert!(integrations[0].deleted);
}

#[tokio::test]
async fn store_integrations_are_refused_as_the_contract_says_and_unknown_deletions_are_404() {
    let h = harness().await;
    let url = h.sandbox("store_integrations");
    let hook = "https://app.example/sequra/configuration?storeId=s1&signature=ab";
    let body = |v: Value| json!({ "store_integration": v });
    // Another deployment's credentials, or none: 401.
    let resp = h
        .http
        .post(&url)
        .json(&body(
            json!({"webhook_url": hook, "capabilities": ["general"]}),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    for bad in [
        json!({"capabilities": ["general"]}),
        json!({"webhook_url": "/sequra/configuration", "capabilities": ["general"]}),
        json!({"webhook_url": "ftp://app.example/x", "capabilities": ["general"]}),
        json!({"webhook_url": 7, "capabilities": ["general"]}),
        json!({"webhook_url": hook, "capabilities": []}),
        json!({"webhook_url": hook}),
        json!({"webhook_url": hook, "capabilities": ["general", "Widget"]}),
        json!({"webhook_url": hook, "capabilities": "general"}),
    ] {
        let resp = h
            .call(Method::POST, &url, None, Some(&body(bad.clone())))
            .await;
        assert_eq!(resp.status(), StatusCode::CONFLICT, "{bad}");
    }
    // A merchant id the account does not own: 403.
    let good = body(json!({"webhook_url": hook, "capabilities": ["store-info"]}));
    let resp = h
        .call(Method::POST, &url, Some("someone_else"), Some(&good))
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(h.sq.store_integrations().is_empty());
    let resp = h
        .call(Method::POST, &url, Some(DEMO_MERCHANT_ES), Some(&good))
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let i = &h.sq.active_integrations("s1")[0];
    assert_eq!(i.merchant_id.as_deref(), Some(DEMO_MERCHANT_ES));
    assert_eq!(i.capabilities(), vec!["store-info".to_string()]);
    // The whole URL, raw-url-encoded, is one path segment.
    let encoded = hook
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect::<String>();
    let delete = h.sandbox(&format!("store_integrations/{encoded}"));
    let resp = h.call(Method::DELETE, &delete, None, None).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert!(h.sq.active_integrations("s1").is_empty());
    let resp = h.call(Method::DELETE, &delete, None, None).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND, "deleted already");
}

#[tokio::test]
async fn injected_answers_fail_registrations_and_deletions_as_asked() {
    let h = harness().await;
    let url = h.sandbox("store_integrations");
    let good = json!({"store_integration": {
        "webhook_url": "https://app.example/c?storeId=s2&signature=cd",
        "capabilities": ["general"],
    }});
    h.sq.fail_next("POST", "/store_integrations", 204, 1);
    h.sq.fail_next("POST", "/store_integrations", 401, 1);
    h.sq.fail_next("POST", "/store_integrations", 503, 1);
    assert_eq!(h.sq.pending_failures(), 3);
    let resp = h.call(Method::POST, &url, None, Some(&good)).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert!(resp.headers().get("location").is_none(), "no Location");
    let resp = h.call(Method::POST, &url, None, Some(&good)).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = h.call(Method::POST, &url, None, Some(&good)).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(h.sq.store_integrations().is_empty(), "none was registered");
    let resp = h.call(Method::POST, &url, None, Some(&good)).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert!(resp.headers().get("location").is_some());
    assert_eq!(h.sq.pending_failures(), 0);
}

#[tokio::test]
async fn configuration_webhooks_go_to_the_registered_url_only_and_the_demo_page_sends_them() {
    let h = harness().await;
    let hook = format!("{}sequra/configuration?storeId=s3&signature=ef", h.shop.url);
    let good = json!({"store_integration": {"webhook_url": hook, "capabilities": ["store-info"]}});
    assert!(
        h.sq.send_configuration("s3", json!({"topic": "get-store-info"}))
            .await
            .is_err(),
        "nothing registered"
    );
    let resp = h
        .call(
            Method::POST,
            &h.sandbox("store_integrations"),
            None,
            Some(&good),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let answer =
        h.sq.send_configuration("s3", json!({"topic": "get-store-info"}))
            .await
            .unwrap();
    assert_eq!(answer.status, 200);
    let call = h.shop.calls().pop().unwrap();
    assert_eq!(call.path, "/sequra/configuration");
    assert_eq!(call.query, "storeId=s3&signature=ef");
    assert_eq!(call.content_type, "application/json");
    // The demo's page lists it with a form, whose post sends the body typed.
    let page = h
        .http
        .get(format!("{}_control/store_integrations", h.sq.base_url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("/_control/store_integrations/1/send"),
        "{page}"
    );
    let resp = h
        .http
        .post(format!(
            "{}_control/store_integrations/1/send",
            h.sq.base_url()
        ))
        .form(&[("body", r#"{"topic":"get-general-settings"}"#)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.text().await.unwrap().contains("id=\"status\">200<"));
    assert_eq!(h.shop.calls().len(), 2);
    // Deleted: seQura calls it no more.
    let encoded: String = url::form_urlencoded::byte_serialize(hook.as_bytes()).collect();
    h.call(
        Method::DELETE,
        &h.sandbox(&format!("store_integrations/{encoded}")),
        None,
        None,
    )
    .await;
    assert!(
        h.sq.send_configuration("s3", json!({"topic": "get-store-info"}))
            .await
            .is_err()
    );
}

// ---------------------------------------------------------------------------------------
// Switches, request log, routing.

#[tokio::test]
async fn an_outage_answers_503_to_every_api_call_until_it_ends() {
    let h = harness().await;
    h.sq.set_outage(true);
    let resp = h
        .call(Method::GET, &h.sandbox("merchants/credentials"), None, None)
        .await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let resp = h.post_order(&order(DEMO_MERCHANT_ES, &h.shop)).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let resp = h
        .http
        .get(format!("{}deployments", h.sq.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    h.sq.set_outage(false);
    let resp = h
        .call(Method::GET, &h.sandbox("merchants/credentials"), None, None)
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn latency_delays_every_api_call() {
    let h = harness().await;
    h.sq.set_latency(Duration::from_millis(300));
    let started = std::time::Instant::now();
    h.call(Method::GET, &h.sandbox("merchants/credentials"), None, None)
        .await;
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn the_request_log_records_method_path_query_headers_and_body() {
    let h = harness().await;
    let uuid = h.solicit(&order(DEMO_MERCHANT_ES, &h.shop)).await;
    let url = h.sandbox(&format!("orders/{uuid}/form_v2?product=i1&ajax=true"));
    h.call(Method::GET, &url, Some(DEMO_MERCHANT_ES), None)
        .await;
    let log = h.sq.requests();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].method, "POST");
    assert_eq!(log[0].path, "/sandbox/orders");
    assert_eq!(log[0].header("sequra-merchant-id"), Some(DEMO_MERCHANT_ES));
    assert!(
        log[0]
            .header("authorization")
            .unwrap()
            .starts_with("Basic ")
    );
    let body: Value = serde_json::from_str(&log[0].body).unwrap();
    assert_eq!(body["order"]["merchant"]["id"], DEMO_MERCHANT_ES);
    assert_eq!(log[1].method, "GET");
    assert_eq!(log[1].path, format!("/sandbox/orders/{uuid}/form_v2"));
    assert_eq!(log[1].query, "product=i1&ajax=true");
    h.sq.clear_requests();
    assert!(h.sq.requests().is_empty());
}

#[tokio::test]
async fn unknown_paths_and_methods_are_404() {
    let h = harness().await;
    for (method, path) in [
        (Method::GET, h.sandbox("nothing/here")),
        (Method::GET, h.sandbox("orders")),
        (Method::DELETE, h.sandbox("orders/abc")),
        (
            Method::GET,
            format!("{}staging/merchants/credentials", h.sq.base_url()),
        ),
    ] {
        let resp = h.call(method.clone(), &path, None, None).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{method} {path}");
    }
}

#[tokio::test]
async fn an_order_lists_the_puts_it_accepted_in_the_order_received() {
    let h = harness().await;
    let uuid = h.confirmed_order("P-1").await;
    let rec = h.sq.order(&uuid).unwrap();
    assert_eq!(rec.puts, vec!["confirmed"]);
    assert!(!rec.confirmed_after_update());
    let body = update(
        DEMO_MERCHANT_ES,
        "P-1",
        cart(shipped_items(), 7302),
        cart(json!([]), 0),
    );
    let resp = h.put_update(DEMO_MERCHANT_ES, "P-1", &body).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(!h.sq.order(&uuid).unwrap().confirmed_after_update());
    // A confirmation after the update (the cart it carries is the solicited one).
    let resp = h
        .put_order(&uuid, &confirmation(&h.sq, &uuid, "confirmed", Some("P-1")))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let rec = h.sq.order(&uuid).unwrap();
    assert_eq!(rec.puts, vec!["confirmed", "update", "confirmed"]);
    assert!(rec.confirmed_after_update());
    // A refused PUT is not listed.
    let resp = h
        .put_order(&uuid, &confirmation(&h.sq, &uuid, "on_hold", Some("P-1")))
        .await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert_eq!(h.sq.order(&uuid).unwrap().puts.len(), 3);
}

// ---------------------------------------------------------------------------------------
// seQura's widget script (spec §10).

#[tokio::test]
async fn the_widget_script_is_served_per_environment_cacheable_and_counted() {
    let sq = SequraStandIn::start(([127, 0, 0, 1], 0).into())
        .await
        .unwrap();
    assert_eq!(
        sq.assets_base_url().as_str(),
        format!("{}sandbox/assets/", sq.base_url())
    );
    let deployments: Value = reqwest::get(sq.base_url().join("deployments").unwrap())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        deployments[0]["sandbox"]["assets_base_url"],
        sq.assets_base_url().as_str(),
        "the script is where /deployments says the assets are"
    );
    assert_eq!(sq.asset_requests(), 0);
    let url = sq.assets_base_url().join("sequra-checkout.min.js").unwrap();
    let http = reqwest::Client::new();
    let resp = http.get(url.clone()).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let header = |r: &reqwest::Response, h: &str| {
        r.headers()
            .get(h)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    assert!(header(&resp, "content-type").starts_with("application/javascript"));
    assert!(header(&resp, "cache-control").contains("max-age="));
    assert_eq!(header(&resp, "access-control-allow-origin"), "*");
    let etag = header(&resp, "etag");
    assert!(etag.starts_with('"') && etag.len() > 10, "{etag}");
    let script = resp.text().await.unwrap();
    let key = sq.assets_key(DEMO_MERCHANT_ES).unwrap();
    assert!(script.contains(DEMO_MERCHANT_ES) && script.contains(&key));
    assert!(script.contains("computeCreditAgreements") && script.contains("refreshComponents"));
    assert!(
        !script.contains(LIVE_MERCHANT),
        "live merchants are on the live CDN"
    );

    let again = http
        .get(url.clone())
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(header(&again, "etag"), etag);
    let live = http
        .get(
            sq.live_assets_base_url()
                .join("sequra-checkout.min.js")
                .unwrap(),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(live.contains(LIVE_MERCHANT) && !live.contains(DEMO_MERCHANT_ES));
    assert_eq!(sq.asset_requests(), 3);

    // The CDN is not the API: it serves during an API outage.
    sq.set_outage(true);
    assert_eq!(http.get(url.clone()).send().await.unwrap().status(), 200);
    sq.set_outage(false);
    // A new merchant changes the file, and so its ETag.
    sq.add_account(AccountSpec {
        environment: "sandbox".to_owned(),
        username: "widgets".to_owned(),
        password: "pw".to_owned(),
        merchants: vec![MerchantSpec::new("widget_merchant", "ES")],
    });
    let changed = http
        .get(url.clone())
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    assert!(changed.text().await.unwrap().contains("widget_merchant"));
    assert_eq!(
        http.get(sq.base_url().join("sandbox/assets/other.js").unwrap())
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    sq.clear_requests();
    assert_eq!(sq.asset_requests(), 0);
}

/// Loads seQura's script on a blank page of the stand-in's own origin, as a shop's page
/// does (the bootstrap of spec §10), with `widgets` in the body; waits until it ran.
async fn load_widget_script(
    c: &fantoccini::Client,
    sq: &SequraStandIn,
    merchant: &str,
    asset_key: &str,
    widgets: &str,
) -> String {
    c.goto(sq.base_url().as_str()).await.unwrap();
    let script = sq.assets_base_url().join("sequra-checkout.min.js").unwrap();
    browser::js(
        c,
        "document.body.innerHTML = arguments[3];
         window.loadedCalls = 0;
         window.SequraConfiguration = {merchant: arguments[0], assetKey: arguments[1],
           products: ['i1', 'pp3', 'sp1'], scriptUri: arguments[2], decimalSeparator: ',',
           thousandSeparator: '.', locale: 'es-ES', currency: 'EUR'};
         window.SequraOnLoad = [];
         window.Sequra = {onLoad: function (cb) { window.SequraOnLoad.push(cb); }};
         Sequra.onLoad(function () { window.loadedCalls += 1; });
         var s = document.createElement('script');
         s.async = true;
         s.src = arguments[2];
         document.head.appendChild(s);",
        vec![
            json!(merchant),
            json!(asset_key),
            json!(script.as_str()),
            json!(widgets),
        ],
    )
    .await;
    browser::until(c, "return window.__sequraStandIn || null;", vec![])
        .await
        .as_str()
        .unwrap()
        .to_owned()
}

/// Each widget's `[text, data-rendered, data-sequra-state, data-instalments]`, by id.
async fn widgets_drawn(c: &fantoccini::Client) -> Value {
    browser::js(
        c,
        "var out = {};
         document.querySelectorAll('.sequra-promotion-widget').forEach(function (w) {
           out[w.id] = [w.textContent, w.getAttribute('data-rendered'),
                        w.getAttribute('data-sequra-state'), w.getAttribute('data-instalments')];
         });
         return out;",
        vec![],
    )
    .await
}

#[tokio::test]
async fn the_widget_script_draws_instalments_from_the_stand_ins_rules() {
    let sq = SequraStandIn::start(([127, 0, 0, 1], 0).into())
        .await
        .unwrap();
    let (c, _driver) = browser::browser().await;
    let key = sq.assets_key(DEMO_MERCHANT_ES).unwrap();
    let w = |id: &str, amount: &str, product: &str| {
        format!(
            "<div class=\"sequra-promotion-widget\" id=\"{id}\" data-amount=\"{amount}\" \
             data-product=\"{product}\" data-type=\"text\"></div>"
        )
    };
    let body = [
        w("pp3", "6000", "pp3"),
        w("pp3-odd", "5000", "pp3"),
        w("pp3-low", "4995", "pp3"),
        w("pp3-high", "300001", "pp3"),
        w("sp1", "15000", "sp1"),
        w("i1", "4995", "i1"),
        w("fp1", "6000", "fp1"),
        w("bad", "49.95", "pp3"),
    ]
    .concat();
    let state = load_widget_script(&c, &sq, DEMO_MERCHANT_ES, &key, &body).await;
    assert_eq!(state, "ready");
    assert_eq!(sq.asset_requests(), 1);
    assert_eq!(
        browser::js(&c, "return window.loadedCalls;", vec![]).await,
        1,
        "the callback queued before the script loaded ran once"
    );
    browser::js(&c, "Sequra.refreshComponents();", vec![]).await;
    let drawn = widgets_drawn(&c).await;
    assert_eq!(
        drawn["pp3"],
        json!(["Paga en 3 plazos de 20,00 €/mes", "6000", "ok", "3"])
    );
    assert_eq!(
        drawn["pp3-odd"],
        json!(["Paga en 3 plazos de 16,67 €/mes", "5000", "ok", "3"]),
        "the instalment is rounded up to the cent"
    );
    assert_eq!(drawn["pp3-low"], json!(["", "4995", "below-minimum", null]));
    assert_eq!(
        drawn["pp3-high"],
        json!(["", "300001", "above-maximum", null])
    );
    assert_eq!(
        drawn["sp1"],
        json!(["Paga en 3 plazos de 50,00 €/mes", "15000", "ok", "3"])
    );
    assert_eq!(
        drawn["i1"],
        json!(["Paga después: 49,95 €", "4995", "ok", "1"])
    );
    assert_eq!(drawn["fp1"], json!(["", "6000", "unknown-product", null]));
    assert_eq!(drawn["bad"], json!(["", "", "invalid-amount", null]));

    // A new amount is drawn on the next refresh; onLoad after the load runs at once.
    browser::js(
        &c,
        "document.getElementById('pp3-low').setAttribute('data-amount', '123456');
         Sequra.onLoad(function () { Sequra.refreshComponents(); });",
        vec![],
    )
    .await;
    assert_eq!(
        widgets_drawn(&c).await["pp3-low"],
        json!(["Paga en 3 plazos de 411,52 €/mes", "123456", "ok", "3"])
    );

    let agreements = browser::js(
        &c,
        "return Sequra.computeCreditAgreements({amount: 6000, product: 'pp3'});",
        vec![],
    )
    .await;
    let pp3 = agreements["pp3"].as_array().unwrap();
    let counts: Vec<i64> = pp3
        .iter()
        .map(|a| a["instalment_count"].as_i64().unwrap())
        .collect();
    assert_eq!(counts, [3, 6, 12]);
    assert_eq!(
        pp3[0]["instalment_total"],
        json!({"value": 2000, "string": "20,00 €"})
    );
    assert_eq!(pp3[0]["default"], true);
    assert_eq!(
        pp3[2]["instalment_total"],
        json!({"value": 800, "string": "8,00 €"}),
        "a twelfth plus the 3,00 € fee"
    );
    assert_eq!(pp3[2]["grand_total"]["value"], 6000 + 12 * 300);
    assert_eq!(
        pp3[2]["min_amount"],
        json!({"value": 5000, "string": "50,00 €"})
    );
    // Below the minimum the plans still come, with the minimum to compare with.
    let low = browser::js(
        &c,
        "return Sequra.computeCreditAgreements({amount: 1000, product: 'sp1'});",
        vec![],
    )
    .await;
    assert_eq!(low["sp1"][0]["min_amount"]["value"], 5000);
    assert_eq!(low["sp1"][0]["instalment_total"]["string"], "3,34 €");
    for args in [
        "{amount: 6000, product: 'fp1'}",
        "{amount: 60.5, product: 'pp3'}",
        "{product: 'pp3'}",
        "{amount: 6000, product: 'pp3', campaign: 'none'}",
    ] {
        let v = browser::js(
            &c,
            &format!("return Sequra.computeCreditAgreements({args});"),
            vec![],
        )
        .await;
        assert_eq!(v, json!({}), "{args}");
    }
    c.close().await.unwrap();
}

#[tokio::test]
async fn the_widget_script_does_nothing_for_a_merchant_or_assets_key_not_its_own() {
    let sq = SequraStandIn::start(([127, 0, 0, 1], 0).into())
        .await
        .unwrap();
    let (c, _driver) = browser::browser().await;
    let widget = "<div class=\"sequra-promotion-widget\" id=\"w\" data-amount=\"6000\" \
                  data-product=\"pp3\"></div>";
    let es_key = sq.assets_key(DEMO_MERCHANT_ES).unwrap();
    let fr_key = sq.assets_key(DEMO_MERCHANT_FR).unwrap();
    assert_ne!(es_key, fr_key);
    for (merchant, key) in [
        (DEMO_MERCHANT_ES, fr_key.as_str()),
        (DEMO_MERCHANT_ES, ""),
        ("someone_else", es_key.as_str()),
        (
            LIVE_MERCHANT,
            sq.assets_key(LIVE_MERCHANT).unwrap().as_str(),
        ),
    ] {
        let state = load_widget_script(&c, &sq, merchant, key, widget).await;
        assert_eq!(state, "refused", "{merchant} {key}");
        assert_eq!(
            browser::js(&c, "return window.loadedCalls;", vec![]).await,
            0,
            "no callback runs"
        );
        assert_eq!(
            browser::js(
                &c,
                "return typeof Sequra.refreshComponents + typeof Sequra.computeCreditAgreements;",
                vec![]
            )
            .await,
            "undefinedundefined"
        );
        assert_eq!(widgets_drawn(&c).await["w"], json!(["", null, null, null]));
    }
    let state = load_widget_script(&c, &sq, DEMO_MERCHANT_FR, &fr_key, widget).await;
    assert_eq!(state, "ready", "the same page with the right pair works");
    assert_eq!(
        widgets_drawn(&c).await["w"],
        json!(["Paga en 3 plazos de 20,00 €/mes", "6000", "ok", "3"]),
        "the text is in SequraConfiguration's locale (es-ES)"
    );
    c.close().await.unwrap();
}

// ---------------------------------------------------------------------------------------
// SVEA, the second deployment: its own hosts, accounts, merchant refs, orders, widget
// script and back office (spec §1.1).

impl H {
    /// A request with the given credentials, with `Sequra-Merchant-Id` when given.
    async fn call_as(
        &self,
        (user, pass): (&str, &str),
        method: Method,
        url: &str,
        merchant: Option<&str>,
        body: Option<&Value>,
    ) -> reqwest::Response {
        let mut req = self
            .http
            .request(method, url)
            .basic_auth(user, Some(pass))
            .header("Accept", "application/json");
        if let Some(m) = merchant {
            req = req.header("Sequra-Merchant-Id", m);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send().await.unwrap()
    }

    fn svea(&self, path: &str) -> String {
        format!("{}{path}", self.sq.svea_sandbox_url())
    }
}

const SVEA: (&str, &str) = (DEMO_SVEA_USERNAME, DEMO_PASSWORD);
const SEQURA: (&str, &str) = (DEMO_USERNAME, DEMO_PASSWORD);

#[tokio::test]
async fn deployments_are_read_on_sequras_live_host_and_list_each_deployments_own_hosts() {
    let h = harness().await;
    let base = h.sq.base_url();
    assert_eq!(
        h.sq.deployments_url().as_str(),
        format!("{}deployments", h.sq.live_url())
    );
    let resp = h.http.get(h.sq.deployments_url()).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = resp.json().await.unwrap();
    let hosts = |d: &str, env: &str| {
        json!({
            "api_base_url": h.sq.api_url(d, env).as_str(),
            "assets_base_url": h.sq.assets_url_of(d, env).as_str(),
        })
    };
    assert_eq!(
        body,
        json!([
            {"id": "sequra", "name": "seQura",
             "live": hosts("sequra", "live"), "sandbox": hosts("sequra", "sandbox")},
            {"id": "svea", "name": "SVEA",
             "live": hosts("svea", "live"), "sandbox": hosts("svea", "sandbox")},
        ])
    );
    // seQura's hosts are where they always were; SVEA's are its own.
    assert_eq!(
        body[0]["sandbox"]["api_base_url"],
        h.sq.sandbox_url().as_str()
    );
    assert_eq!(body[0]["live"]["api_base_url"], h.sq.live_url().as_str());
    assert_eq!(
        body[0]["sandbox"]["assets_base_url"],
        h.sq.assets_base_url().as_str()
    );
    assert_eq!(
        body[0]["live"]["assets_base_url"],
        h.sq.live_assets_base_url().as_str()
    );
    assert_eq!(
        body[0]["sandbox"]["api_base_url"],
        format!("{base}sandbox/")
    );
    assert_eq!(
        body[1]["sandbox"]["api_base_url"],
        format!("{base}svea/sandbox/")
    );
    assert_eq!(body[1]["live"]["api_base_url"], format!("{base}svea/live/"));
    assert_eq!(
        body[1]["sandbox"]["api_base_url"],
        h.sq.svea_sandbox_url().as_str()
    );
    assert_eq!(
        body[1]["live"]["api_base_url"],
        h.sq.svea_live_url().as_str()
    );
    assert_eq!(
        body[1]["sandbox"]["assets_base_url"],
        format!("{base}svea/sandbox/assets/")
    );
    assert_eq!(
        body[1]["sandbox"]["assets_base_url"],
        h.sq.svea_assets_base_url().as_str()
    );
    assert_eq!(
        body[1]["live"]["assets_base_url"],
        h.sq.svea_live_assets_base_url().as_str()
    );
    // The old path answers the same; no other host serves it.
    let old: Value = h
        .http
        .get(format!("{base}deployments"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(old, body);
    for other in [h.sandbox("deployments"), h.svea("deployments")] {
        let resp = h.http.get(&other).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{other}");
    }
}

#[tokio::test]
async fn the_deployments_outage_switch_fails_only_deployments_until_it_ends() {
    let h = harness().await;
    h.sq.set_deployments_outage(true);
    for url in [
        h.sq.deployments_url().to_string(),
        format!("{}deployments", h.sq.base_url()),
    ] {
        let resp = h.http.get(&url).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR, "{url}");
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
    }
    let resp = h
        .call_as(
            SVEA,
            Method::GET,
            &h.svea("merchants/credentials"),
            None,
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK, "the API still works");
    h.sq.set_deployments_outage(false);
    let resp = h.http.get(h.sq.deployments_url()).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_svea_account_validates_on_sveas_hosts_only_and_a_sequra_account_on_sequras_only() {
    let h = harness().await;
    let resp = h
        .call_as(
            SVEA,
            Method::GET,
            &h.svea("merchants/credentials"),
            None,
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    let refs: Vec<(&str, &str, &str)> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["ref"].as_str().unwrap(),
                m["country"].as_str().unwrap(),
                m["realm"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        refs,
        [
            (DEMO_SVEA_MERCHANT_IT, "IT", "svea"),
            (DEMO_SVEA_MERCHANT_PT, "PT", "svea")
        ]
    );
    assert_eq!(body[0]["currency"], "EUR");
    assert_eq!(
        body[0]["assets_key"],
        h.sq.assets_key(DEMO_SVEA_MERCHANT_IT).unwrap()
    );

    // Every merchant seQura's host answers is seQura's.
    let resp = h
        .call_as(
            SEQURA,
            Method::GET,
            &h.sandbox("merchants/credentials"),
            None,
            None,
        )
        .await;
    let body: Value = resp.json().await.unwrap();
    for m in body.as_array().unwrap() {
        assert_eq!(m["realm"], "sequra", "{m}");
    }

    let live_svea = (LIVE_SVEA_USERNAME, LIVE_PASSWORD);
    let resp = h
        .call_as(
            live_svea,
            Method::GET,
            &format!("{}merchants/credentials", h.sq.svea_live_url()),
            None,
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body[0]["ref"], LIVE_SVEA_MERCHANT);
    assert_eq!(body[0]["realm"], "svea");

    // Credentials of one host are refused on every other one.
    let cases = [
        (SVEA, h.sandbox("merchants/credentials")),
        (SVEA, h.live("merchants/credentials")),
        (
            SVEA,
            format!("{}merchants/credentials", h.sq.svea_live_url()),
        ),
        (SEQURA, h.svea("merchants/credentials")),
        (
            (LIVE_USERNAME, LIVE_PASSWORD),
            format!("{}merchants/credentials", h.sq.svea_live_url()),
        ),
        (live_svea, h.live("merchants/credentials")),
        (live_svea, h.svea("merchants/credentials")),
        (
            (DEMO_SVEA_USERNAME, "wrong"),
            h.svea("merchants/credentials"),
        ),
    ];
    for (creds, url) in cases {
        let resp = h.call_as(creds, Method::GET, &url, None, None).await;
        assert_eq!(
            resp.status(),
            StatusCode::UNAUTHORIZED,
            "{creds:?} on {url}"
        );
        assert_eq!(resp.text().await.unwrap(), "HTTP Basic: Access denied.");
    }
}

#[tokio::test]
async fn merchant_refs_of_one_deployment_are_bad_merchant_ids_on_the_other() {
    let h = harness().await;
    // The same credentials on both deployments (as seQura's dummy account): each host
    // knows only its own merchant refs.
    h.sq.add_account_on(
        "svea",
        AccountSpec {
            environment: "sandbox".into(),
            username: DEMO_USERNAME.into(),
            password: DEMO_PASSWORD.into(),
            merchants: vec![MerchantSpec::new("dummy_svea_fr", "FR")],
        },
    );
    let resp = h
        .call_as(
            SEQURA,
            Method::GET,
            &h.svea("merchants/credentials"),
            None,
            None,
        )
        .await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body, json!([body[0].clone()]));
    assert_eq!(body[0]["ref"], "dummy_svea_fr");
    assert_eq!(body[0]["realm"], "svea");

    let methods = |m: &str| format!("merchants/{m}/payment_methods");
    let resp = h
        .call_as(
            SEQURA,
            Method::GET,
            &h.svea(&methods(DEMO_MERCHANT_ES)),
            Some(DEMO_MERCHANT_ES),
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        errors(resp).await,
        ["Bad merchant id 'dummy_automated_tests' for sequra-demo"]
    );
    let resp = h
        .call_as(
            SVEA,
            Method::GET,
            &h.svea(&methods(DEMO_SVEA_MERCHANT_IT)),
            Some(DEMO_MERCHANT_ES),
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        errors(resp).await,
        ["Bad merchant id 'dummy_automated_tests' for svea-demo"]
    );
    let resp = h
        .call_as(
            SEQURA,
            Method::GET,
            &h.sandbox(&methods("dummy_svea_fr")),
            Some("dummy_svea_fr"),
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        errors(resp).await,
        ["Bad merchant id 'dummy_svea_fr' for sequra-demo"]
    );
    // A solicitation for the other deployment's merchant changes nothing.
    let resp = h
        .call_as(
            SEQURA,
            Method::POST,
            &h.sandbox("orders"),
            Some(DEMO_SVEA_MERCHANT_IT),
            Some(&json!({"order": order(DEMO_SVEA_MERCHANT_IT, &h.shop)})),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(h.sq.orders().is_empty());

    // On its own host, each merchant has its catalogue.
    let resp = h
        .call_as(
            SVEA,
            Method::GET,
            &h.svea(&methods(DEMO_SVEA_MERCHANT_PT)),
            Some(DEMO_SVEA_MERCHANT_PT),
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(products(&body), ["pp3"]);
}

#[tokio::test]
async fn an_svea_order_is_paid_confirmed_and_updated_on_sveas_host_and_unknown_on_sequras() {
    let h = harness().await;
    let m = DEMO_SVEA_MERCHANT_IT;
    let solicited = order(m, &h.shop);
    let resp = h
        .call_as(
            SVEA,
            Method::POST,
            &h.svea("orders"),
            Some(m),
            Some(&json!({"order": solicited})),
        )
        .await;
    assert_eq!(
        resp.status(),
        StatusCode::NO_CONTENT,
        "{:?}",
        resp.text().await
    );
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let uuid = location.rsplit('/').next().unwrap().to_owned();
    assert_eq!(location, h.svea(&format!("orders/{uuid}")));
    let rec = h.sq.order(&uuid).unwrap();
    assert_eq!(
        (
            rec.deployment.as_str(),
            rec.environment.as_str(),
            rec.username.as_str()
        ),
        ("svea", "sandbox", DEMO_SVEA_USERNAME)
    );
    assert_eq!(h.sq.orders().len(), 1);

    // The form and the methods, on SVEA's host only.
    let form = h
        .call_as(
            SVEA,
            Method::GET,
            &h.svea(&format!("orders/{uuid}/form_v2?product=pp3")),
            Some(m),
            None,
        )
        .await;
    assert_eq!(form.status(), StatusCode::OK);
    let html = form.text().await.unwrap();
    assert!(html.contains("data-deployment=\"svea\""), "{html}");
    let resp = h
        .call_as(
            SVEA,
            Method::GET,
            &h.svea(&format!("orders/{uuid}/payment_methods")),
            Some(m),
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = h
        .call_as(
            SEQURA,
            Method::GET,
            &h.sandbox(&format!("orders/{uuid}/form_v2")),
            Some(DEMO_MERCHANT_ES),
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = h
        .call_as(
            SEQURA,
            Method::GET,
            &h.sandbox(&format!("orders/{uuid}/payment_methods")),
            Some(DEMO_MERCHANT_ES),
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        errors(resp).await,
        [format!("Bad order id '{uuid}' for sequra-demo")]
    );

    // The shopper pays; the IPN goes to the order's notify_url.
    let outcome =
        h.sq.complete_form(&uuid, "pp3", None, ShopperProfile::Approve)
            .await
            .unwrap();
    assert_eq!(
        outcome.deliveries,
        [("ipn".to_owned(), "approved".to_owned(), 200)]
    );
    let calls = h.shop.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        (calls[0].path.as_str(), calls[0].query.as_str()),
        ("/ipn", "order=123&store_id=1")
    );
    assert_eq!(calls[0].field("order_ref"), Some(uuid.as_str()));
    assert_eq!(calls[0].field("product_code"), Some("pp3"));

    // Confirmed on SVEA's host; seQura's does not know the order.
    let confirm = json!({"order": confirmation(&h.sq, &uuid, "confirmed", Some("IT-100"))});
    let resp = h
        .call_as(
            SEQURA,
            Method::PUT,
            &h.sandbox(&format!("orders/{uuid}")),
            Some(DEMO_MERCHANT_ES),
            Some(&confirm),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        errors(resp).await,
        [format!("Bad order id '{uuid}' for sequra-demo")]
    );
    assert_eq!(h.sq.order(&uuid).unwrap().state, "solicited");
    let resp = h
        .call_as(
            SVEA,
            Method::PUT,
            &h.svea(&format!("orders/{uuid}")),
            Some(m),
            Some(&confirm),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK, "{:?}", resp.text().await);
    assert_eq!(h.sq.order(&uuid).unwrap().state, "confirmed");

    // Updated (shipped) on SVEA's host; seQura's Order Update API does not find it.
    let body = update(m, "IT-100", cart(shipped_items(), 7302), cart(json!([]), 0));
    let resp = h
        .call_as(
            SEQURA,
            Method::PUT,
            &h.sandbox(&format!("merchants/{DEMO_MERCHANT_ES}/orders/IT-100")),
            Some(DEMO_MERCHANT_ES),
            Some(&update(
                DEMO_MERCHANT_ES,
                "IT-100",
                cart(shipped_items(), 7302),
                cart(json!([]), 0),
            )),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = h
        .call_as(
            SEQURA,
            Method::PUT,
            &h.sandbox(&format!("merchants/{m}/orders/IT-100")),
            Some(m),
            Some(&body),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(h.sq.order(&uuid).unwrap().updates.is_empty());
    let resp = h
        .call_as(
            SVEA,
            Method::PUT,
            &h.svea(&format!("merchants/{m}/orders/IT-100")),
            Some(m),
            Some(&body),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let rec = h.sq.order(&uuid).unwrap();
    assert_eq!(rec.updates.len(), 1);
    assert_eq!(rec.puts, ["confirmed", "update"]);

    // Its delivery report and store integration are SVEA's.
    let resp = h
        .call_as(
            SVEA,
            Method::POST,
            &h.svea("orders/delivery_reports"),
            Some(m),
            Some(&report(m, 7302)),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(h.sq.delivery_reports_on("svea").len(), 1);
    assert!(h.sq.delivery_reports_on("sequra").is_empty());
    let hook = "https://app.example/sequra/config?storeId=1&signature=ab";
    let resp = h
        .call_as(
            SVEA,
            Method::POST,
            &h.svea("store_integrations"),
            Some(""),
            Some(&json!({"store_integration": {"webhook_url": hook, "capabilities": ["general"]}})),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        resp.headers()["location"].to_str().unwrap(),
        h.svea("store_integrations/1")
    );
    let integrations = h.sq.store_integrations();
    assert_eq!(
        (
            integrations[0].deployment.as_str(),
            integrations[0].environment.as_str()
        ),
        ("svea", "sandbox")
    );
}

#[tokio::test]
async fn the_widget_script_and_the_back_office_are_per_deployment() {
    let h = harness().await;
    let script = |assets: Url| {
        let http = h.http.clone();
        async move {
            let resp = http
                .get(assets.join("sequra-checkout.min.js").unwrap())
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            resp.text().await.unwrap()
        }
    };
    let svea = script(h.sq.svea_assets_base_url()).await;
    assert!(svea.contains(DEMO_SVEA_MERCHANT_IT) && svea.contains(DEMO_SVEA_MERCHANT_PT));
    assert!(svea.contains(&h.sq.assets_key(DEMO_SVEA_MERCHANT_IT).unwrap()));
    assert!(!svea.contains(DEMO_MERCHANT_ES) && !svea.contains(LIVE_SVEA_MERCHANT));
    let sequra = script(h.sq.assets_base_url()).await;
    assert!(sequra.contains(DEMO_MERCHANT_ES) && !sequra.contains(DEMO_SVEA_MERCHANT_IT));
    let svea_live = script(h.sq.svea_live_assets_base_url()).await;
    assert!(svea_live.contains(LIVE_SVEA_MERCHANT) && !svea_live.contains(DEMO_SVEA_MERCHANT_IT));
    assert_eq!(h.sq.asset_requests(), 3);

    assert_eq!(
        h.sq.portal_url_of("sequra", "sandbox"),
        h.sq.portal_url("sandbox")
    );
    assert_eq!(
        h.sq.portal_url_of("svea", "live"),
        format!("{}svea/live/portal", h.sq.base_url())
    );
    let m = DEMO_SVEA_MERCHANT_PT;
    let resp = h
        .call_as(
            SVEA,
            Method::POST,
            &h.svea("orders"),
            Some(m),
            Some(&json!({"order": order(m, &h.shop)})),
        )
        .await;
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let svea_uuid = location.rsplit('/').next().unwrap().to_owned();
    let sequra_uuid = h.solicit(&order(DEMO_MERCHANT_ES, &h.shop)).await;
    let page = |portal: String, uuid: &str| {
        let (http, url) = (h.http.clone(), format!("{portal}/orders/{uuid}"));
        async move {
            let resp = http.get(&url).send().await.unwrap();
            (resp.status(), resp.text().await.unwrap())
        }
    };
    let (status, html) = page(h.sq.portal_url_of("svea", "sandbox"), &svea_uuid).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(&svea_uuid) && html.contains(m) && html.contains("data-deployment=\"svea\""),
        "{html}"
    );
    let (status, html) = page(h.sq.portal_url("sandbox"), &sequra_uuid).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("data-deployment=\"sequra\""), "{html}");
    for (portal, uuid) in [
        (h.sq.portal_url("sandbox"), &svea_uuid),
        (h.sq.portal_url_of("svea", "sandbox"), &sequra_uuid),
        (h.sq.portal_url_of("svea", "live"), &svea_uuid),
    ] {
        let (status, _) = page(portal.clone(), uuid).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{portal} {uuid}");
    }
}

/// Solicits `order` as the services account.
async fn post_as_services(h: &H, order: &Value) -> reqwest::Response {
    h.http
        .post(h.sandbox("orders"))
        .basic_auth(SERVICES_USERNAME, Some(DEMO_PASSWORD))
        .header("Accept", "application/json")
        .header("Sequra-Merchant-Id", SERVICES_MERCHANT)
        .json(&json!({ "order": order }))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn service_and_registration_items_are_accepted_as_documented_and_bad_ones_refused() {
    let h = harness().await;
    let mut o = order(SERVICES_MERCHANT, &h.shop);
    o["cart"]["order_total_with_tax"] = json!(7060 + 1000 + 9000 + 5000);
    o["cart"]["items"] = json!([
        {"type": "product", "reference": "12-123", "name": "Leather Case", "price_with_tax": 3530,
         "quantity": 2, "total_with_tax": 7060, "downloadable": false},
        {"type": "registration", "reference": "c-reg", "name": "Reg. Course", "total_with_tax": 1000},
        {"type": "service", "reference": "c", "name": "Course", "ends_in": "P6M",
         "price_with_tax": 9000, "quantity": 1, "total_with_tax": 9000, "downloadable": true},
        {"type": "service", "reference": "w", "name": "Workshop", "ends_on": "2027-06-30",
         "price_with_tax": 5000, "quantity": 1, "total_with_tax": 5000, "downloadable": false}
    ]);
    o["merchant"]["options"]["desired_first_charge_on"] = json!("2027-01-15T00:00:00+00:00");
    let resp = post_as_services(&h, &o).await;
    assert_eq!(
        resp.status(),
        StatusCode::NO_CONTENT,
        "{:?}",
        errors(resp).await
    );

    let service = |extra: Value| {
        let mut s = json!({"type": "service", "reference": "s", "name": "S", "price_with_tax": 100,
                           "quantity": 1, "total_with_tax": 100, "downloadable": false});
        for (k, v) in extra.as_object().unwrap() {
            s[k] = v.clone();
        }
        s
    };
    o["cart"]["order_total_with_tax"] = json!(400);
    o["cart"]["items"] = json!([
        service(json!({"ends_on": "2027-06-30", "ends_in": "P1Y"})),
        service(json!({"ends_in": "P1.5Y"})),
        service(json!({"ends_in": "P"})),
        service(json!({"ends_on": "2027-02-30"})),
    ]);
    let resp = post_as_services(&h, &o).await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let errs = errors(resp).await;
    for expected in [
        "Invalid data: cart.items[0] (a service) needs exactly one of ends_on and ends_in",
        "Invalid data: cart.items[1].ends_in must be an ISO-8601 duration such as P1Y",
        "Invalid data: cart.items[2].ends_in must be an ISO-8601 duration such as P1Y",
        "Invalid data: cart.items[3].ends_on must be a date (YYYY-MM-DD)",
    ] {
        assert!(
            errs.contains(&expected.to_owned()),
            "{expected} not in {errs:?}"
        );
    }

    // A registration fee is paid for a service: alone, it is refused.
    o["cart"]["order_total_with_tax"] = json!(7060 + 1000);
    o["cart"]["items"] = json!([
        {"type": "product", "reference": "12-123", "name": "Leather Case", "price_with_tax": 3530,
         "quantity": 2, "total_with_tax": 7060, "downloadable": false},
        {"type": "registration", "reference": "c-reg", "name": "Reg. Course", "total_with_tax": 1000}
    ]);
    let resp = post_as_services(&h, &o).await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert_eq!(
        errors(resp).await,
        ["Invalid data: cart.items[1] (a registration) needs a service item in the same cart"]
    );
    // Items that do not add up are refused with services too.
    o["cart"]["items"][1] = service(json!({"ends_in": "P1Y", "price_with_tax": 1000,
                                           "total_with_tax": 1000}));
    o["cart"]["order_total_with_tax"] = json!(7060 + 1000 + 1);
    let resp = post_as_services(&h, &o).await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert!(errors(resp).await[0].contains("The diff is 1."));
    assert_eq!(h.sq.orders().len(), 1, "only the valid order was taken");
}
