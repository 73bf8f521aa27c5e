//! Black-box tests of the seQura client against a wiremock seQura: the request each method
//! sends, what it makes of a success, and how every failure is classified.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::time::Duration;

use serde_json::{Value, json};
use url::Url;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use sequra_bc::config::SecretString;
use sequra_bc::sequra::{
    Address, Cart, CartItem, Customer, DeliveryMethod, DeliveryReport, Environment, EventsWebhook,
    Gui, Merchant, MerchantId, MerchantReference, OrderRequest, OrderUpdate, Platform,
    ReportedOrder, SequraAccount, SequraClient, SequraError, Statistics, StatisticsOrder, Tracking,
};

const USER: &str = "shop-user";
const PASSWORD: &str = "pa55-word-never-shown";
/// `base64("shop-user:pa55-word-never-shown")`, computed outside the code under test.
const BASIC: &str = "Basic c2hvcC11c2VyOnBhNTUtd29yZC1uZXZlci1zaG93bg==";
const MERCHANT: &str = "dummy_automated_tests";
const UUID: &str = "1dc26b35-06f6-41d6-b6f5-d0eb6c66aad1";
const ORDER_REF: &str = "A14/12345";

fn account(environment: Environment) -> SequraAccount {
    SequraAccount {
        deployment: sequra_bc::sequra::Deployment::Sequra,
        environment,
        username: USER.into(),
        password: SecretString::new(PASSWORD),
    }
}

fn sandbox() -> SequraAccount {
    account(Environment::Sandbox)
}

/// Sandbox at `<server>/sandbox/`, live at `<server>/live` (no trailing slash on purpose).
fn client_for(server: &MockServer) -> SequraClient {
    SequraClient::new(
        Url::parse(&format!("{}/sandbox/", server.uri())).unwrap(),
        Url::parse(&format!("{}/live", server.uri())).unwrap(),
    )
    .unwrap()
}

async fn answer_everything_with(server: &MockServer, response: ResponseTemplate) {
    server.reset().await;
    Mock::given(any())
        .respond_with(response)
        .mount(server)
        .await;
}

async fn the_only_request(server: &MockServer) -> Request {
    let mut requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1, "exactly one request, no retry");
    requests.remove(0)
}

fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers.get(name).map(|v| v.to_str().unwrap())
}

fn body_json(req: &Request) -> Value {
    serde_json::from_slice(&req.body).expect("a JSON body")
}

/// An error's text may be shown to a merchant: no password, credential or address in it.
fn assert_safe(err: &SequraError, server_uri: &str) {
    for shown in [err.to_string(), format!("{err:?}")] {
        assert!(!shown.contains(PASSWORD), "password leaked: {shown}");
        assert!(!shown.contains(&BASIC[6..]), "credential leaked: {shown}");
        assert!(!shown.contains(server_uri), "URL leaked: {shown}");
        assert!(!shown.contains("127.0.0.1"), "address leaked: {shown}");
        assert!(!shown.contains("http://"), "URL leaked: {shown}");
    }
}

// ----- fixtures --------------------------------------------------------------------------------

fn address() -> Address {
    Address {
        given_names: "Maria José".into(),
        surnames: "Barroso Rajoy".into(),
        company: String::new(),
        address_line_1: "C/ Aragó 383".into(),
        address_line_2: String::new(),
        postal_code: "08013".into(),
        city: "Barcelona".into(),
        country_code: "ES".into(),
        phone: None,
        mobile_phone: Some("615615615".into()),
        state: None,
        extra: None,
        vat_number: None,
    }
}

fn address_json() -> Value {
    json!({"given_names": "Maria José", "surnames": "Barroso Rajoy", "company": "",
           "address_line_1": "C/ Aragó 383", "address_line_2": "", "postal_code": "08013",
           "city": "Barcelona", "country_code": "ES", "mobile_phone": "615615615"})
}

fn customer() -> Customer {
    Customer {
        given_names: "Maria José".into(),
        surnames: "Barroso Rajoy".into(),
        title: None,
        email: "nisse@example.com".into(),
        logged_in: false,
        language_code: "es-ES".into(),
        ip_number: "12.23.34.45".into(),
        user_agent: "Mozilla/5.0".into(),
        ref_: Some("77".into()),
        date_of_birth: None,
        nin: None,
        company: None,
        vat_number: None,
        created_at: None,
        updated_at: None,
        previous_orders: None,
    }
}

fn customer_json() -> Value {
    json!({"given_names": "Maria José", "surnames": "Barroso Rajoy", "email": "nisse@example.com",
           "logged_in": false, "language_code": "es-ES", "ip_number": "12.23.34.45",
           "user_agent": "Mozilla/5.0", "ref": "77"})
}

fn platform() -> Platform {
    Platform {
        name: "BigCommerce".into(),
        version: "v3".into(),
        plugin_version: "0.1.0".into(),
        uname: "Linux".into(),
        db_name: "sqlite".into(),
        db_version: "3.50".into(),
    }
}

fn platform_json() -> Value {
    json!({"name": "BigCommerce", "version": "v3", "plugin_version": "0.1.0", "uname": "Linux",
           "db_name": "sqlite", "db_version": "3.50"})
}

fn order(state: &str, order_ref_1: Option<&str>) -> OrderRequest {
    OrderRequest {
        state: state.into(),
        merchant: Merchant {
            id: MERCHANT.into(),
            notify_url: Some("https://shop.example/ipn?order=123".into()),
            notification_parameters: Some(BTreeMap::from([
                ("order".to_string(), "123".to_string()),
                ("signature".to_string(), "f00d".to_string()),
            ])),
            return_url: Some("https://shop.example/return".into()),
            events_webhook: Some(EventsWebhook {
                url: "https://shop.example/events".into(),
                parameters: None,
            }),
            ..Default::default()
        },
        merchant_reference: order_ref_1.map(|r| MerchantReference {
            order_ref_1: Some(r.into()),
            order_ref_2: None,
        }),
        cart: Cart {
            cart_ref: Some("cart-9".into()),
            ..Cart::new(
                "EUR",
                vec![
                    CartItem::product("12-123", "Leather Case", 3530, 2),
                    CartItem::handling("seur24", "SEUR 24h", 242),
                    CartItem::discount("HALFOFF", "50 % off", 750),
                ],
            )
        },
        delivery_method: DeliveryMethod {
            name: "SEUR24".into(),
            days: None,
            provider: None,
            home_delivery: Some(true),
        },
        delivery_address: address(),
        invoice_address: address(),
        customer: customer(),
        gui: Some(Gui {
            layout: "desktop".into(),
        }),
        platform: platform(),
        trackings: None,
    }
}

fn order_json(state: &str, merchant_reference: Option<Value>) -> Value {
    let mut order = json!({
        "state": state,
        "merchant": {
            "id": MERCHANT,
            "notify_url": "https://shop.example/ipn?order=123",
            "notification_parameters": {"order": "123", "signature": "f00d"},
            "return_url": "https://shop.example/return",
            "events_webhook": {"url": "https://shop.example/events"}
        },
        "cart": {
            "currency": "EUR", "gift": false, "order_total_with_tax": 6552, "cart_ref": "cart-9",
            "items": [
                {"type": "product", "reference": "12-123", "name": "Leather Case",
                 "price_with_tax": 3530, "quantity": 2, "total_with_tax": 7060, "downloadable": false},
                {"type": "handling", "reference": "seur24", "name": "SEUR 24h", "total_with_tax": 242},
                {"type": "discount", "reference": "HALFOFF", "name": "50 % off", "total_with_tax": -750}
            ]
        },
        "delivery_method": {"name": "SEUR24", "home_delivery": true},
        "delivery_address": address_json(),
        "invoice_address": address_json(),
        "customer": customer_json(),
        "gui": {"layout": "desktop"},
        "platform": platform_json()
    });
    if let Some(reference) = merchant_reference {
        order["merchant_reference"] = reference;
    }
    json!({ "order": order })
}

fn order_update() -> OrderUpdate {
    OrderUpdate {
        merchant: MerchantId {
            id: MERCHANT.into(),
        },
        merchant_reference: MerchantReference {
            order_ref_1: Some(ORDER_REF.into()),
            order_ref_2: None,
        },
        unshipped_cart: Cart::empty("EUR"),
        shipped_cart: Cart::new(
            "EUR",
            vec![CartItem::product("shirt1234", "shirt", 1250, 1)],
        ),
        trackings: vec![Tracking {
            kind: "postal".into(),
            reference: "t1".into(),
            carrier: Some("SEUR".into()),
            tracking_number: Some("TX123".into()),
            ..Default::default()
        }],
        delivery_method: None,
        delivery_address: None,
        invoice_address: None,
        customer: None,
        platform: Some(platform()),
    }
}

fn delivery_report() -> DeliveryReport {
    DeliveryReport {
        merchant: MerchantId {
            id: MERCHANT.into(),
        },
        orders: vec![ReportedOrder {
            state: "shipped".into(),
            sent_at: "2025-02-02T22:22:22+01:00".into(),
            merchant_reference: MerchantReference {
                order_ref_1: Some("123".into()),
                order_ref_2: None,
            },
            cart: Cart::new("EUR", vec![CartItem::product("s", "S", 30, 1)]),
            remaining_cart: Cart::empty("EUR"),
            trackings: None,
            delivery_method: None,
            delivery_address: None,
            invoice_address: None,
            customer: None,
        }],
        broken_orders: Vec::new(),
        statistics: Statistics {
            orders: vec![StatisticsOrder {
                completed_at: "2025-02-01T13:14:15+01:00".into(),
                amount: 9957,
                currency: "EUR".into(),
                merchant_reference: MerchantReference {
                    order_ref_1: Some("122".into()),
                    order_ref_2: None,
                },
                payment_method: "SQ".into(),
                country: "ES".into(),
                device: None,
                status: "shipped".into(),
                raw_status: "Completed".into(),
                sequra_offered: true,
            }],
        },
        platform: platform(),
    }
}

const PAYMENT_OPTIONS: &str = r#"{"payment_options": [
  {"title": "Paga ahora", "description": "Con tarjeta", "icon": null, "category": "pay_now", "methods": []},
  {"title": "Paga Después", "description": "Confirma la compra", "icon": null, "category": "pay_later",
   "methods": [
     {"product": "i1", "campaign": null, "title": "Paga Después", "long_title": "Paga después. 7 días desde el envío",
      "claim": "Sin coste adicional", "description": "Compra ahora", "icon": "<svg></svg>",
      "cost": {"setup_fee": 0, "instalment_fee": 0, "down_payment_fees": 0, "instalment_total": 0},
      "cost_description": "sin coste adicional", "starts_at": "2000-02-22T21:22:00Z", "ends_at": "2222-02-22T21:22:00Z",
      "widget": null, "info_widget": null, "min_amount": 0, "max_amount": null},
     {"product": "pp5", "campaign": "temporary", "title": "Paga el mes que viene", "long_title": "Paga el mes que viene",
      "claim": null, "description": null, "icon": "<svg></svg>",
      "cost": {"setup_fee": 295, "instalment_fee": 0, "down_payment_fees": 295, "instalment_total": 5097},
      "cost_description": "+ 2,95 €", "starts_at": "0022-02-22T22:36:44Z", "ends_at": "2222-02-22T21:02:00Z",
      "widget": null, "info_widget": null}]},
  {"title": "Paga Fraccionado", "description": "Hoy solo pagas la primera cuota", "icon": null, "category": "part_payment",
   "methods": [
     {"product": "pp3", "campaign": null, "title": "Desde 7,24 €/mes", "long_title": "Desde 7,24 €/mes o en 3 plazos",
      "claim": "o en 3 plazos sin coste", "description": "Elige", "icon": "<svg></svg>",
      "cost": {"setup_fee": 0, "instalment_fee": 300, "down_payment_fees": 300, "instalment_total": 724},
      "cost_description": null, "starts_at": "2000-02-22T21:22:00Z", "ends_at": "2222-02-22T21:22:00Z",
      "widget": null, "info_widget": null}]}
]}"#;

// ----- every method, table-driven --------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Call {
    Credentials,
    MerchantPaymentMethods,
    StartSolicitation,
    IdentificationForm,
    OrderPaymentMethods,
    UpdateOrderState,
    UpdateOrder,
    DeliveryReport,
}

const ALL_CALLS: [Call; 8] = [
    Call::Credentials,
    Call::MerchantPaymentMethods,
    Call::StartSolicitation,
    Call::IdentificationForm,
    Call::OrderPaymentMethods,
    Call::UpdateOrderState,
    Call::UpdateOrder,
    Call::DeliveryReport,
];

impl Call {
    /// Method, path below the base URL, whether `Sequra-Merchant-Id` is sent, and `Accept`.
    fn expected(self) -> (&'static str, String, bool, &'static str) {
        match self {
            Call::Credentials => (
                "GET",
                "merchants/credentials".into(),
                false,
                "application/json",
            ),
            Call::MerchantPaymentMethods => (
                "GET",
                format!("merchants/{MERCHANT}/payment_methods"),
                true,
                "application/json",
            ),
            Call::StartSolicitation => ("POST", "orders".into(), true, "application/json"),
            Call::IdentificationForm => {
                ("GET", format!("orders/{UUID}/form_v2"), true, "text/html")
            }
            Call::OrderPaymentMethods => (
                "GET",
                format!("orders/{UUID}/payment_methods"),
                true,
                "application/json",
            ),
            Call::UpdateOrderState => ("PUT", format!("orders/{UUID}"), true, "application/json"),
            Call::UpdateOrder => (
                "PUT",
                format!("merchants/{MERCHANT}/orders/A14%2F12345"),
                true,
                "application/json",
            ),
            Call::DeliveryReport => (
                "POST",
                "orders/delivery_reports".into(),
                true,
                "application/json",
            ),
        }
    }

    fn has_body(self) -> bool {
        matches!(
            self,
            Call::StartSolicitation
                | Call::UpdateOrderState
                | Call::UpdateOrder
                | Call::DeliveryReport
        )
    }

    async fn run(self, client: &SequraClient, account: &SequraAccount) -> Result<(), SequraError> {
        match self {
            Call::Credentials => client.credentials(account).await.map(drop),
            Call::MerchantPaymentMethods => client
                .merchant_payment_methods(account, MERCHANT)
                .await
                .map(drop),
            Call::StartSolicitation => client
                .start_solicitation(account, MERCHANT, &order("", None))
                .await
                .map(drop),
            Call::IdentificationForm => client
                .identification_form(account, MERCHANT, UUID, "i1", None)
                .await
                .map(drop),
            Call::OrderPaymentMethods => client
                .order_payment_methods(account, MERCHANT, UUID)
                .await
                .map(drop),
            Call::UpdateOrderState => {
                client
                    .update_order_state(account, MERCHANT, UUID, &order("confirmed", Some("123")))
                    .await
            }
            Call::UpdateOrder => {
                client
                    .update_order(account, MERCHANT, ORDER_REF, &order_update())
                    .await
            }
            Call::DeliveryReport => {
                client
                    .delivery_report(account, MERCHANT, &delivery_report())
                    .await
            }
        }
    }
}

#[tokio::test]
async fn every_method_sends_its_method_path_basic_auth_and_headers_below_a_prefixed_base() {
    let server = MockServer::start().await;
    let client = client_for(&server);
    for call in ALL_CALLS {
        answer_everything_with(&server, ResponseTemplate::new(204)).await;
        let _ = call.run(&client, &sandbox()).await;
        let req = the_only_request(&server).await;
        let (method, path, merchant_header, accept) = call.expected();
        assert_eq!(req.method.as_str(), method, "{call:?}");
        assert_eq!(req.url.path(), format!("/sandbox/{path}"), "{call:?}");
        assert_eq!(header(&req, "authorization"), Some(BASIC), "{call:?}");
        assert_eq!(
            header(&req, "sequra-merchant-id"),
            merchant_header.then_some(MERCHANT),
            "{call:?}"
        );
        assert_eq!(header(&req, "accept"), Some(accept), "{call:?}");
        if call.has_body() {
            assert_eq!(
                header(&req, "content-type"),
                Some("application/json"),
                "{call:?}"
            );
            assert!(!req.body.is_empty(), "{call:?}");
        } else {
            assert_eq!(header(&req, "content-type"), None, "{call:?}");
            assert!(req.body.is_empty(), "{call:?}");
        }
    }
}

#[tokio::test]
async fn a_live_account_is_sent_to_the_live_base_url_and_a_sandbox_one_to_sandbox() {
    let server = MockServer::start().await;
    let client = client_for(&server);
    assert_eq!(
        client.base_url(Environment::Live).as_str(),
        format!("{}/live/", server.uri())
    );
    assert_eq!(
        client.base_url(Environment::Sandbox).as_str(),
        format!("{}/sandbox/", server.uri())
    );
    for call in ALL_CALLS {
        for (env, prefix) in [
            (Environment::Live, "/live/"),
            (Environment::Sandbox, "/sandbox/"),
        ] {
            answer_everything_with(&server, ResponseTemplate::new(204)).await;
            let _ = call.run(&client, &account(env)).await;
            let req = the_only_request(&server).await;
            assert!(
                req.url.path().starts_with(prefix),
                "{call:?} {env:?} went to {}",
                req.url.path()
            );
        }
    }
}

#[tokio::test]
async fn every_method_maps_401_with_a_plain_text_body_to_unauthorized() {
    let server = MockServer::start().await;
    let client = client_for(&server);
    answer_everything_with(
        &server,
        ResponseTemplate::new(401).set_body_raw("HTTP Basic: Access denied.", "text/plain"),
    )
    .await;
    for call in ALL_CALLS {
        let err = call.run(&client, &sandbox()).await.unwrap_err();
        assert_eq!(err, SequraError::Unauthorized, "{call:?}");
        assert!(!err.is_transient());
        assert_safe(&err, &server.uri());
    }
}

#[tokio::test]
async fn every_method_maps_403_to_forbidden_with_sequras_message() {
    let server = MockServer::start().await;
    let client = client_for(&server);
    answer_everything_with(
        &server,
        ResponseTemplate::new(403).set_body_json(json!({"errors": ["Bad merchant id 'x' for y"]})),
    )
    .await;
    for call in ALL_CALLS {
        let err = call.run(&client, &sandbox()).await.unwrap_err();
        assert_eq!(
            err,
            SequraError::Forbidden("Bad merchant id 'x' for y".into()),
            "{call:?}"
        );
        assert!(err.to_string().contains("Bad merchant id 'x' for y"));
        assert_safe(&err, &server.uri());
    }
}

#[tokio::test]
async fn a_403_without_errors_is_forbidden_with_a_default_text() {
    let server = MockServer::start().await;
    let client = client_for(&server);
    answer_everything_with(&server, ResponseTemplate::new(403).set_body_string("nope")).await;
    let err = client.credentials(&sandbox()).await.unwrap_err();
    let SequraError::Forbidden(message) = &err else {
        panic!("expected Forbidden, got {err:?}");
    };
    assert!(!message.is_empty());
    assert!(!message.contains("nope"), "non-JSON bodies are not shown");
}

#[tokio::test]
async fn every_method_maps_404_to_not_found_without_echoing_an_html_page() {
    let server = MockServer::start().await;
    let client = client_for(&server);
    answer_everything_with(
        &server,
        ResponseTemplate::new(404).set_body_raw(
            "<html><body>The page you were looking for doesn't exist (404)</body></html>",
            "text/html",
        ),
    )
    .await;
    for call in ALL_CALLS {
        let err = call.run(&client, &sandbox()).await.unwrap_err();
        let SequraError::NotFound(message) = &err else {
            panic!("{call:?}: expected NotFound, got {err:?}");
        };
        assert!(!message.contains("<html>"), "{call:?}");
        assert!(!err.is_transient());
        assert_safe(&err, &server.uri());
    }
}

#[tokio::test]
async fn every_method_maps_409_to_conflict_keeping_each_of_sequras_messages() {
    let server = MockServer::start().await;
    let client = client_for(&server);
    answer_everything_with(
        &server,
        ResponseTemplate::new(409).set_body_json(json!({"errors": ["a", "b"]})),
    )
    .await;
    for call in ALL_CALLS {
        let err = call.run(&client, &sandbox()).await.unwrap_err();
        assert_eq!(
            err,
            SequraError::Conflict(vec!["a".into(), "b".into()]),
            "{call:?}"
        );
        assert!(!err.is_transient());
        assert_safe(&err, &server.uri());
    }
}

#[tokio::test]
async fn a_solicitation_whose_totals_do_not_add_up_is_a_conflict_with_the_diff_explained() {
    let server = MockServer::start().await;
    let client = client_for(&server);
    let message = "Invalid data: items' total_with_tax add up to 5055 (200+295+-1500+6060) but order_total_with_tax is 5097. The diff is 42.";
    answer_everything_with(
        &server,
        ResponseTemplate::new(409).set_body_json(json!({ "errors": [message] })),
    )
    .await;
    let err = client
        .start_solicitation(&sandbox(), MERCHANT, &order("", None))
        .await
        .unwrap_err();
    assert_eq!(err, SequraError::Conflict(vec![message.into()]));
    assert!(err.to_string().contains("The diff is 42."));
}

#[tokio::test]
async fn other_client_errors_are_rejected_with_their_status() {
    let server = MockServer::start().await;
    let client = client_for(&server);
    answer_everything_with(
        &server,
        ResponseTemplate::new(422).set_body_json(json!({"errors": [{"title": "bad field"}]})),
    )
    .await;
    for call in ALL_CALLS {
        let err = call.run(&client, &sandbox()).await.unwrap_err();
        assert_eq!(
            err,
            SequraError::Rejected {
                status: 422,
                message: "bad field".into()
            },
            "{call:?}"
        );
        assert!(!err.is_transient());
    }
}

#[tokio::test]
async fn every_method_maps_500_and_503_to_transient() {
    let server = MockServer::start().await;
    let client = client_for(&server);
    for status in [500, 503] {
        answer_everything_with(
            &server,
            ResponseTemplate::new(status).set_body_string("Internal Server Error"),
        )
        .await;
        for call in ALL_CALLS {
            let err = call.run(&client, &sandbox()).await.unwrap_err();
            assert!(
                matches!(err, SequraError::Transient(_)),
                "{call:?} {status}: {err:?}"
            );
            assert!(err.is_transient());
            assert_safe(&err, &server.uri());
        }
    }
}

#[tokio::test]
async fn every_method_maps_an_answer_slower_than_the_total_timeout_to_transient() {
    let server = MockServer::start().await;
    let client = SequraClient::with_timeouts(
        Url::parse(&format!("{}/sandbox/", server.uri())).unwrap(),
        Url::parse(&format!("{}/live/", server.uri())).unwrap(),
        Duration::from_secs(1),
        Duration::from_millis(200),
    )
    .unwrap();
    answer_everything_with(
        &server,
        ResponseTemplate::new(200)
            .set_body_json(json!([]))
            .set_delay(Duration::from_secs(3)),
    )
    .await;
    for call in ALL_CALLS {
        let started = std::time::Instant::now();
        let err = call.run(&client, &sandbox()).await.unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{call:?} waited for the slow answer"
        );
        assert!(
            matches!(err, SequraError::Transient(_)),
            "{call:?}: {err:?}"
        );
        assert_safe(&err, &server.uri());
    }
}

#[tokio::test]
async fn every_method_maps_a_refused_connection_to_transient() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let base = format!("http://127.0.0.1:{port}/sandbox/");
    let client = SequraClient::new(Url::parse(&base).unwrap(), Url::parse(&base).unwrap()).unwrap();
    for call in ALL_CALLS {
        let err = call.run(&client, &sandbox()).await.unwrap_err();
        assert!(
            matches!(err, SequraError::Transient(_)),
            "{call:?}: {err:?}"
        );
        assert_safe(&err, &base);
    }
}

// ----- credentials -----------------------------------------------------------------------------

#[tokio::test]
async fn credentials_decode_every_merchant_ref_and_ignore_unknown_fields() {
    let server = MockServer::start().await;
    let client = client_for(&server);
    answer_everything_with(
        &server,
        ResponseTemplate::new(200).set_body_json(json!([
            {"ref": "logeecom4", "name": null, "country": "ES", "allowed_countries": ["ES"],
             "currency": "EUR", "assets_key": "assetsKey4", "contract_options": ["services"],
             "extra_information": {"type": "regular", "phone_number": ""},
             "verify_signature": false, "signature_secret": "0123456789abcdef0123456789abcdef",
             "confirmation_path": "default", "realm": "sequra"},
            {"ref": "logeecom_fr", "country": "FR", "currency": "EUR", "realm": "svea"}
        ])),
    )
    .await;
    let list = client.credentials(&sandbox()).await.unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].merchant_ref, "logeecom4");
    assert_eq!(list[0].name, None);
    assert_eq!(list[0].country, "ES");
    assert_eq!(list[0].allowed_countries, vec!["ES".to_string()]);
    assert_eq!(list[0].currency, "EUR");
    assert_eq!(list[0].assets_key.as_deref(), Some("assetsKey4"));
    assert_eq!(list[0].contract_options, vec!["services".to_string()]);
    assert_eq!(list[0].realm.as_deref(), Some("sequra"));
    assert_eq!(list[1].merchant_ref, "logeecom_fr");
    assert!(list[1].allowed_countries.is_empty());
    assert_eq!(list[1].assets_key, None);
}

#[tokio::test]
async fn an_unreadable_success_answer_is_invalid() {
    let server = MockServer::start().await;
    let client = client_for(&server);
    answer_everything_with(
        &server,
        ResponseTemplate::new(200).set_body_raw("<html>maintenance</html>", "text/html"),
    )
    .await;
    for err in [
        client.credentials(&sandbox()).await.unwrap_err(),
        client
            .merchant_payment_methods(&sandbox(), MERCHANT)
            .await
            .unwrap_err(),
        client
            .order_payment_methods(&sandbox(), MERCHANT, UUID)
            .await
            .unwrap_err(),
    ] {
        assert!(matches!(err, SequraError::Invalid(_)), "{err:?}");
        assert!(!err.is_transient());
        assert_safe(&err, &server.uri());
    }
}

// ----- payment methods -------------------------------------------------------------------------

fn assert_fixture_methods(categories: &[sequra_bc::sequra::PaymentCategory]) {
    let names: Vec<&str> = categories.iter().map(|c| c.category.as_str()).collect();
    assert_eq!(names, ["pay_now", "pay_later", "part_payment"]);
    assert!(categories[0].methods.is_empty());
    let i1 = &categories[1].methods[0];
    assert_eq!(i1.product, "i1");
    assert_eq!(i1.campaign, None);
    assert_eq!(i1.min_amount, Some(0));
    assert_eq!(i1.max_amount, None);
    assert_eq!(i1.icon.as_deref(), Some("<svg></svg>"));
    let pp5 = &categories[1].methods[1];
    assert_eq!(pp5.campaign.as_deref(), Some("temporary"));
    assert_eq!(pp5.claim, None);
    let cost = pp5.cost.unwrap();
    assert_eq!(
        (
            cost.setup_fee,
            cost.instalment_fee,
            cost.down_payment_fees,
            cost.instalment_total
        ),
        (295, 0, 295, 5097)
    );
    assert_eq!(categories[2].methods[0].product, "pp3");
    assert_eq!(categories[2].title, "Paga Fraccionado");
}

#[tokio::test]
async fn merchant_payment_methods_decode_categories_methods_and_costs() {
    let server = MockServer::start().await;
    let client = client_for(&server);
    answer_everything_with(
        &server,
        ResponseTemplate::new(200).set_body_raw(PAYMENT_OPTIONS, "application/json"),
    )
    .await;
    let categories = client
        .merchant_payment_methods(&sandbox(), MERCHANT)
        .await
        .unwrap();
    assert_fixture_methods(&categories);
}

#[tokio::test]
async fn order_payment_methods_decode_categories_methods_and_costs() {
    let server = MockServer::start().await;
    let client = client_for(&server);
    answer_everything_with(
        &server,
        ResponseTemplate::new(200).set_body_raw(PAYMENT_OPTIONS, "application/json"),
    )
    .await;
    let categories = client
        .order_payment_methods(&sandbox(), MERCHANT, UUID)
        .await
        .unwrap();
    assert_fixture_methods(&categories);
}

#[tokio::test]
async fn an_unknown_order_asked_for_its_methods_is_forbidden_as_sequra_answers_403() {
    let server = MockServer::start().await;
    let client = client_for(&server);
    answer_everything_with(
        &server,
        ResponseTemplate::new(403)
            .set_body_json(json!({"errors": ["Bad order id 'test' for logeecom"]})),
    )
    .await;
    let err = client
        .order_payment_methods(&sandbox(), MERCHANT, "test")
        .await
        .unwrap_err();
    assert_eq!(
        err,
        SequraError::Forbidden("Bad order id 'test' for logeecom".into())
    );
}

// ----- solicitation ----------------------------------------------------------------------------

#[tokio::test]
async fn start_solicitation_posts_the_order_wrapped_with_nulls_omitted_and_cents() {
    let server = MockServer::start().await;
    let client = client_for(&server);
    answer_everything_with(
        &server,
        ResponseTemplate::new(204).insert_header(
            "Location",
            format!("https://sandbox.sequrapi.com/orders/{UUID}").as_str(),
        ),
    )
    .await;
    client
        .start_solicitation(&sandbox(), MERCHANT, &order("", None))
        .await
        .unwrap();
    let req = the_only_request(&server).await;
    assert_eq!(body_json(&req), order_json("", None));
}

#[tokio::test]
async fn start_solicitation_reads_the_uuid_from_an_absolute_location() {
    let server = MockServer::start().await;
    let client = client_for(&server);
    let location = format!("https://sandbox.sequrapi.com/orders/{UUID}");
    answer_everything_with(
        &server,
        ResponseTemplate::new(204).insert_header("Location", location.as_str()),
    )
    .await;
    let solicited = client
        .start_solicitation(&sandbox(), MERCHANT, &order("", None))
        .await
        .unwrap();
    assert_eq!(solicited.uuid, UUID);
    assert_eq!(solicited.url.as_str(), location);
}

#[tokio::test]
async fn start_solicitation_keeps_a_location_below_a_path_prefix() {
    let server = MockServer::start().await;
    let client = client_for(&server);
    let location = format!("{}/sandbox/orders/{UUID}", server.uri());
    answer_everything_with(
        &server,
        ResponseTemplate::new(204).insert_header("location", location.as_str()),
    )
    .await;
    let solicited = client
        .start_solicitation(&sandbox(), MERCHANT, &order("", None))
        .await
        .unwrap();
    assert_eq!(solicited.uuid, UUID);
    assert_eq!(solicited.url.as_str(), location);
}

#[tokio::test]
async fn a_solicitation_answered_without_location_is_invalid() {
    let server = MockServer::start().await;
    let client = client_for(&server);
    for status in [204, 200, 201] {
        answer_everything_with(&server, ResponseTemplate::new(status)).await;
        let err = client
            .start_solicitation(&sandbox(), MERCHANT, &order("", None))
            .await
            .unwrap_err();
        assert!(matches!(err, SequraError::Invalid(_)), "{status}: {err:?}");
        assert!(!err.is_transient());
        assert_safe(&err, &server.uri());
    }
}

#[tokio::test]
async fn a_redirect_is_not_followed_and_is_not_a_success() {
    let server = MockServer::start().await;
    let client = client_for(&server);
    answer_everything_with(
        &server,
        ResponseTemplate::new(302).insert_header("Location", "https://elsewhere.example/steal"),
    )
    .await;
    let err = client.credentials(&sandbox()).await.unwrap_err();
    assert!(matches!(err, SequraError::Invalid(_)), "{err:?}");
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

// ----- identification form ---------------------------------------------------------------------

#[tokio::test]
async fn identification_form_asks_for_html_with_product_and_ajax_and_returns_it_verbatim() {
    let server = MockServer::start().await;
    let client = client_for(&server);
    let html = "<iframe id='sq-identification-i1' src=\"https://sandbox.sequrapi.com/orders/x/pumbaa_form?product=i1\"></iframe>\n<script>window.SequraFormElement = 'sq-identification-i1';</script>";
    answer_everything_with(
        &server,
        ResponseTemplate::new(200).set_body_raw(html, "text/html; charset=utf-8"),
    )
    .await;
    let form = client
        .identification_form(&sandbox(), MERCHANT, UUID, "i1", None)
        .await
        .unwrap();
    assert_eq!(form, html);
    let req = the_only_request(&server).await;
    assert_eq!(req.url.query(), Some("product=i1&ajax=true"));
    assert_eq!(header(&req, "accept"), Some("text/html"));
}

/// A form larger than any answer of seQura's can be is refused, not held in memory whole.
#[tokio::test]
async fn an_endless_identification_form_is_refused() {
    let server = MockServer::start().await;
    let client = client_for(&server);
    let huge = "<p>".repeat(1024 * 1024);
    answer_everything_with(
        &server,
        ResponseTemplate::new(200).set_body_raw(huge, "text/html; charset=utf-8"),
    )
    .await;
    let err = client
        .identification_form(&sandbox(), MERCHANT, UUID, "i1", None)
        .await
        .unwrap_err();
    assert!(matches!(err, SequraError::Invalid(_)), "{err:?}");
}

#[tokio::test]
async fn identification_form_sends_the_campaign_when_given() {
    let server = MockServer::start().await;
    let client = client_for(&server);
    answer_everything_with(
        &server,
        ResponseTemplate::new(200).set_body_string("<div></div>"),
    )
    .await;
    client
        .identification_form(&sandbox(), MERCHANT, UUID, "sp1", Some("permanente"))
        .await
        .unwrap();
    let req = the_only_request(&server).await;
    assert_eq!(req.url.path(), format!("/sandbox/orders/{UUID}/form_v2"));
    assert_eq!(
        req.url.query(),
        Some("product=sp1&campaign=permanente&ajax=true")
    );
}

// ----- confirmation ----------------------------------------------------------------------------

#[tokio::test]
async fn update_order_state_puts_the_full_order_with_state_and_reference() {
    let server = MockServer::start().await;
    let client = client_for(&server);
    answer_everything_with(&server, ResponseTemplate::new(200).set_body_json(json!({}))).await;
    client
        .update_order_state(&sandbox(), MERCHANT, UUID, &order("confirmed", Some("123")))
        .await
        .unwrap();
    let req = the_only_request(&server).await;
    assert_eq!(req.url.path(), format!("/sandbox/orders/{UUID}"));
    assert_eq!(
        body_json(&req),
        order_json("confirmed", Some(json!({"order_ref_1": "123"})))
    );
}

#[tokio::test]
async fn update_order_state_succeeds_on_any_2xx_whatever_the_body() {
    let server = MockServer::start().await;
    let client = client_for(&server);
    for response in [
        ResponseTemplate::new(200),
        ResponseTemplate::new(200).set_body_string("OK"),
        ResponseTemplate::new(204),
    ] {
        answer_everything_with(&server, response).await;
        client
            .update_order_state(&sandbox(), MERCHANT, UUID, &order("on_hold", None))
            .await
            .unwrap();
    }
}

// ----- order update ----------------------------------------------------------------------------

#[tokio::test]
async fn update_order_puts_both_carts_to_the_escaped_order_ref_path() {
    let server = MockServer::start().await;
    let client = client_for(&server);
    answer_everything_with(&server, ResponseTemplate::new(204)).await;
    client
        .update_order(&sandbox(), MERCHANT, ORDER_REF, &order_update())
        .await
        .unwrap();
    let req = the_only_request(&server).await;
    assert_eq!(req.method.as_str(), "PUT");
    assert_eq!(
        req.url.path(),
        format!("/sandbox/merchants/{MERCHANT}/orders/A14%2F12345")
    );
    assert_eq!(
        body_json(&req),
        json!({"order": {
            "merchant": {"id": MERCHANT},
            "merchant_reference": {"order_ref_1": "A14/12345"},
            "unshipped_cart": {"currency": "EUR", "gift": false, "order_total_with_tax": 0, "items": []},
            "shipped_cart": {"currency": "EUR", "gift": false, "order_total_with_tax": 1250, "items": [
                {"type": "product", "reference": "shirt1234", "name": "shirt", "price_with_tax": 1250,
                 "quantity": 1, "total_with_tax": 1250, "downloadable": false}]},
            "trackings": [{"type": "postal", "reference": "t1", "carrier": "SEUR", "tracking_number": "TX123"}],
            "platform": platform_json()
        }})
    );
}

#[tokio::test]
async fn update_order_succeeds_on_200_202_and_204() {
    let server = MockServer::start().await;
    let client = client_for(&server);
    for response in [
        ResponseTemplate::new(200).set_body_json(json!({"status": "ok"})),
        ResponseTemplate::new(202).set_body_json(json!({})),
        ResponseTemplate::new(204),
    ] {
        answer_everything_with(&server, response).await;
        client
            .update_order(&sandbox(), MERCHANT, "123", &order_update())
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn update_order_escapes_spaces_and_question_marks_in_the_order_ref() {
    let server = MockServer::start().await;
    let client = client_for(&server);
    answer_everything_with(&server, ResponseTemplate::new(204)).await;
    client
        .update_order(&sandbox(), MERCHANT, "#12 ?x", &order_update())
        .await
        .unwrap();
    let req = the_only_request(&server).await;
    assert_eq!(
        req.url.path(),
        format!("/sandbox/merchants/{MERCHANT}/orders/%2312%20%3Fx")
    );
    assert_eq!(req.url.query(), None);
}

// ----- delivery report -------------------------------------------------------------------------

#[tokio::test]
async fn delivery_report_posts_the_report_wrapped_without_empty_broken_orders() {
    let server = MockServer::start().await;
    let client = client_for(&server);
    answer_everything_with(&server, ResponseTemplate::new(204)).await;
    client
        .delivery_report(&sandbox(), MERCHANT, &delivery_report())
        .await
        .unwrap();
    let req = the_only_request(&server).await;
    assert_eq!(req.url.path(), "/sandbox/orders/delivery_reports");
    assert_eq!(
        body_json(&req),
        json!({"delivery_report": {
            "merchant": {"id": MERCHANT},
            "orders": [{
                "state": "shipped", "sent_at": "2025-02-02T22:22:22+01:00",
                "merchant_reference": {"order_ref_1": "123"},
                "cart": {"currency": "EUR", "gift": false, "order_total_with_tax": 30, "items": [
                    {"type": "product", "reference": "s", "name": "S", "price_with_tax": 30,
                     "quantity": 1, "total_with_tax": 30, "downloadable": false}]},
                "remaining_cart": {"currency": "EUR", "gift": false, "order_total_with_tax": 0, "items": []}
            }],
            "statistics": {"orders": [{
                "completed_at": "2025-02-01T13:14:15+01:00", "amount": 9957, "currency": "EUR",
                "merchant_reference": {"order_ref_1": "122"}, "payment_method": "SQ", "country": "ES",
                "status": "shipped", "raw_status": "Completed", "sequra_offered": true}]},
            "platform": platform_json()
        }})
    );
}

#[tokio::test]
async fn delivery_report_succeeds_on_200_and_204() {
    let server = MockServer::start().await;
    let client = client_for(&server);
    for status in [200, 204] {
        answer_everything_with(&server, ResponseTemplate::new(status)).await;
        client
            .delivery_report(&sandbox(), MERCHANT, &delivery_report())
            .await
            .unwrap();
    }
}

// ----- secrets ---------------------------------------------------------------------------------

#[test]
fn an_account_never_shows_its_password_in_debug() {
    let shown = format!("{:?}", sandbox());
    assert!(!shown.contains(PASSWORD), "{shown}");
    assert!(shown.contains(USER));
}
