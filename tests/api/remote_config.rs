//! seQura's configuration webhook (issue 32): the signature before anything else, seQura's
//! error body for every refusal, a 4xx for anything malformed, and the topics' answers.

use hmac::{KeyInit, Mac};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

const STORE: &str = "rcfg01";

/// seQura's signature of the store's webhook URL, computed here from the contract (HMAC-SHA256
/// keyed with the connection's password over `storeId + "_" + storeUrl`), not by the app.
pub fn contract_signature(store: &str, password: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(password.as_bytes()).unwrap();
    mac.update(format!("{store}_https://store-{store}.mybigcommerce.com").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// POSTs `body` to the configuration webhook with `store` and `signature` in the query.
pub async fn call_raw(
    app: &TestApp,
    store: &str,
    signature: &str,
    body: impl Into<reqwest::Body>,
) -> (u16, Value) {
    let resp = app
        .http
        .post(format!(
            "{}/sequra/configuration?storeId={store}&signature={signature}",
            app.address
        ))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let v = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (status, v)
}

/// A call signed as seQura signs it for `store` connected with the demo password.
pub async fn call(app: &TestApp, store: &str, body: Value) -> (u16, Value) {
    let sig = contract_signature(store, sequra_bc_sandbox::sequra::DEMO_PASSWORD);
    call_raw(app, store, &sig, body.to_string()).await
}

fn error_code(v: &Value) -> &str {
    assert_eq!(v["statusCode"], 0, "{v}");
    assert!(v["errorMessage"].is_string(), "{v}");
    assert!(v["errorParameters"].is_array(), "{v}");
    v["errorCode"].as_str().unwrap()
}

#[tokio::test]
async fn store_info_answers_a_signed_call_and_says_nothing_secret() {
    let app = spawn_app().await;
    let session = app.merchant_session(STORE).await;
    app.connect_demo(&session).await;
    let (status, v) = call(&app, STORE, json!({"topic": "get-store-info"})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["platform"], "BigCommerce");
    assert_eq!(v["plugin_version"], env!("CARGO_PKG_VERSION"));
    assert!(
        v["store_url"].as_str().unwrap().ends_with(STORE),
        "the storefront: {v}"
    );
    let text = v.to_string();
    assert!(
        !text.contains(sequra_bc_sandbox::sequra::DEMO_PASSWORD),
        "{text}"
    );
}

#[tokio::test]
async fn the_signature_comes_first_and_only_a_connection_of_the_store_signs() {
    let app = spawn_app().await;
    let session = app.merchant_session(STORE).await;
    app.connect_demo(&session).await;
    let other = app.merchant_session("rcfg02").await;
    app.connect_sandbox(&other, sequra_bc_sandbox::sequra::DEMO2_USERNAME)
        .await;
    let good = contract_signature(STORE, sequra_bc_sandbox::sequra::DEMO_PASSWORD);
    let cases = [
        // Wrong signature: even a missing topic is the signature's error.
        (STORE.to_string(), "0".repeat(64), "{}".to_string()),
        (STORE.to_string(), good.to_uppercase(), "{}".to_string()),
        (STORE.to_string(), String::new(), "{}".to_string()),
        // Another store's URL with this store's signature.
        (
            "rcfg02".to_string(),
            good.clone(),
            json!({"topic": "get-store-info"}).to_string(),
        ),
        // A store not installed, an id of the wrong shape.
        ("nostore".to_string(), good.clone(), "{}".to_string()),
        ("../etc".to_string(), good.clone(), "{}".to_string()),
    ];
    for (store, sig, body) in cases {
        let (status, v) = call_raw(&app, &store, &sig, body).await;
        assert_eq!(status, 401, "{store} {sig}: {v}");
        assert_eq!(error_code(&v), "webhook.signature.validation.failed");
    }
    // No query at all.
    let resp = app
        .http
        .post(format!("{}/sequra/configuration", app.address))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    // A store installed but not connected has nothing to sign with.
    app.merchant_session("rcfg03").await;
    let sig = contract_signature("rcfg03", sequra_bc_sandbox::sequra::DEMO_PASSWORD);
    let (status, _) = call_raw(&app, "rcfg03", &sig, "{}").await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn malformed_bodies_and_topics_get_seguras_errors_and_a_4xx() {
    let app = spawn_app().await;
    let session = app.merchant_session(STORE).await;
    app.connect_demo(&session).await;
    let sig = contract_signature(STORE, sequra_bc_sandbox::sequra::DEMO_PASSWORD);
    for body in [
        "",
        "not json",
        "[1,2]",
        "null",
        "{\"page\":1}",
        "{\"topic\":\"\"}",
        "{\"topic\":7}",
    ] {
        let (status, v) = call_raw(&app, STORE, &sig, body).await;
        assert_eq!(status, 400, "{body}: {v}");
        assert_eq!(error_code(&v), "TOPIC_MISSING", "{body}");
    }
    let (status, v) = call(&app, STORE, json!({"topic": "get-payment-data<script>"})).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(error_code(&v), "UNKNOWN_TOPIC");
    assert!(
        v["errorMessage"]
            .as_str()
            .unwrap()
            .contains("&lt;script&gt;"),
        "{v}"
    );
    for topic in ["get-express-checkout-settings", "save-affiliate-settings"] {
        let (status, v) = call(&app, STORE, json!({ "topic": topic })).await;
        assert_eq!((status, error_code(&v)), (400, "UNKNOWN_TOPIC"), "{topic}");
    }
    // Over the limit: refused without being read whole.
    let big = format!(
        "{{\"topic\":\"get-store-info\",\"x\":\"{}\"}}",
        "a".repeat(sequra_bc::remote::MAX_BODY)
    );
    let (status, v) = call_raw(&app, STORE, &sig, big).await;
    assert_eq!(status, 413, "{v}");
    assert_eq!(error_code(&v), "general.errors.requestTooLarge");
}

#[tokio::test]
async fn a_store_that_turned_remote_configuration_off_refuses_sequra() {
    let app = spawn_app().await;
    let session = app.merchant_session(STORE).await;
    app.connect_demo(&session).await;
    let store = sequra_bc::domain::StoreHash::parse(STORE).unwrap();
    app.state
        .db
        .call(move |c| sequra_bc::db::remote::set_enabled(c, &store, false))
        .await
        .unwrap();
    let (status, v) = call(&app, STORE, json!({"topic": "get-store-info"})).await;
    assert_eq!(status, 403, "{v}");
    assert_eq!(error_code(&v), "webhook.remote.configuration.disabled");
}

/// POSTs a call signed with `signature` as if from `ip` (through the trusted proxy).
async fn call_from(app: &TestApp, ip: &str, signature: &str) -> u16 {
    app.http
        .post(format!(
            "{}/sequra/configuration?storeId={STORE}&signature={signature}",
            app.address
        ))
        .header("x-forwarded-for", ip)
        .header("content-type", "application/json")
        .body(json!({"topic": "get-store-info"}).to_string())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Every call before the signature is known costs a database read and an HMAC per connection:
/// one caller network gets 300 calls a minute, and a network block (an IPv6 /48: 65 536 /64s,
/// free from a tunnel broker) that keeps failing the signature is stopped as a whole, while
/// seQura's signed calls from elsewhere are answered, and from within that block too once its
/// signature was answered (seQura may share a cloud's block with an attacker).
#[tokio::test]
async fn forged_calls_are_bounded_per_network_and_per_block() {
    let app =
        crate::helpers::spawn_app_with(|s| s.server.trusted_proxies = "127.0.0.1".into()).await;
    let session = app.merchant_session(STORE).await;
    app.connect_demo(&session).await;
    let good = contract_signature(STORE, sequra_bc_sandbox::sequra::DEMO_PASSWORD);
    let bad = "0".repeat(64);
    // seQura calls once from the block before the attack starts.
    assert_eq!(call_from(&app, "2001:db8:77:aaaa::1", &good).await, 200);

    // One /64 after another of one /48, each under its own network's limit.
    let mut statuses = Vec::new();
    for i in 0..200u32 {
        statuses.push(call_from(&app, &format!("2001:db8:77:{i:x}::1"), &bad).await);
    }
    assert_eq!(statuses[0], 401);
    assert_eq!(
        statuses.last(),
        Some(&429),
        "a /48 failing the signature 200 times in a minute is stopped: {statuses:?}"
    );
    // seQura, elsewhere and within the block, is answered.
    assert_eq!(call_from(&app, "2001:db8:99::1", &good).await, 200);
    assert_eq!(call_from(&app, "2001:db8:77:bbbb::1", &good).await, 200);
    // A forged signature from the block is still refused before it is checked.
    assert_eq!(call_from(&app, "2001:db8:77:cccc::1", &bad).await, 429);
    assert_eq!(call_from(&app, "198.51.100.7", &good).await, 200);

    // One caller network: 300 a minute, signed or not.
    let mut last = 0;
    for _ in 0..301 {
        last = call_from(&app, "203.0.113.50", &good).await;
    }
    assert_eq!(last, 429);
    assert_eq!(call_from(&app, "203.0.114.50", &good).await, 200);
}

/// Forged calls sent all at once from one block are bounded as calls one after the other are:
/// counted before their signature is read, the ones in flight count too.
#[tokio::test]
async fn forged_calls_sent_at_once_from_one_block_are_bounded_too() {
    use futures_util::StreamExt;
    let app =
        crate::helpers::spawn_app_with(|s| s.server.trusted_proxies = "127.0.0.1".into()).await;
    let session = app.merchant_session(STORE).await;
    app.connect_demo(&session).await;
    let bad = "0".repeat(64);
    let statuses: Vec<u16> = futures_util::stream::iter(0..400u32)
        .map(|i| {
            let (app, bad) = (&app, bad.clone());
            async move { call_from(app, &format!("2001:db8:55:{i:x}::1"), &bad).await }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let checked = statuses.iter().filter(|s| **s == 401).count();
    assert!(
        checked <= 120,
        "{checked} forged calls of one /48 had their signature checked in a minute"
    );
    assert!(
        statuses.iter().all(|s| matches!(s, 401 | 429)),
        "{statuses:?}"
    );
}
