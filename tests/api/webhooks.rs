//! `POST /bc/webhooks`: authenticated, stored before the 200, de-duplicated on `hash`.

use base64::Engine;
use serde_json::json;

use crate::helpers::{TestApp, spawn_app};

const HEADER: &str = "X-Sequra-Webhook-Secret";

fn secret(app: &TestApp, hash: &str) -> String {
    app.bc.webhooks(hash)[0]["headers"][HEADER]
        .as_str()
        .unwrap()
        .to_string()
}

fn delivery(hash: &str, scope: &str, event: &str, data: serde_json::Value) -> String {
    json!({
        "scope": scope, "store_id": "1025646", "data": data, "hash": event,
        "created_at": 1561479335, "producer": format!("stores/{hash}")
    })
    .to_string()
}

async fn post(app: &TestApp, body: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = app
        .http
        .post(format!("{}/bc/webhooks", app.address))
        .body(body.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn a_delivery_is_stored_once_however_often_it_arrives() {
    let app = spawn_app().await;
    app.installed_store("store1").await;
    let s = secret(&app, "store1");
    let body = delivery(
        "store1",
        "store/order/updated",
        "dd70c0976e06",
        json!({"type": "order", "id": 250}),
    );
    for _ in 0..3 {
        let resp = post(&app, &body, &[(HEADER, &s)]).await;
        assert_eq!(resp.status(), 200);
        assert!(resp.bytes().await.unwrap().is_empty(), "no response body");
    }
    assert_eq!(app.count("SELECT count(*) FROM webhook_events"), 1);
    assert_eq!(app.count("SELECT order_id FROM webhook_events"), 250);
    // The same delivery arriving 20 times at once (BigCommerce's duplicates, a retry crossing
    // a slow answer) is stored once too.
    let body = delivery(
        "store1",
        "store/order/statusUpdated",
        "5c1e0f9a2b77",
        json!({"type": "order", "id": 250}),
    );
    let headers = [(HEADER, s.as_str())];
    let at_once = (0..20).map(|_| post(&app, &body, &headers));
    for resp in futures_util::future::join_all(at_once).await {
        assert_eq!(resp.status(), 200);
    }
    assert_eq!(
        app.count("SELECT count(*) FROM webhook_events WHERE event_hash = '5c1e0f9a2b77'"),
        1
    );
    // A shipment carries its order as camelCase orderId.
    let body = delivery(
        "store1",
        "store/shipment/created",
        "8b98021c",
        json!({"type": "shipment", "id": 12, "orderId": 251}),
    );
    assert_eq!(post(&app, &body, &[(HEADER, &s)]).await.status(), 200);
    assert_eq!(
        app.count("SELECT order_id FROM webhook_events WHERE scope='store/shipment/created'"),
        251
    );
}

#[tokio::test]
async fn unknown_stores_wrong_secrets_and_malformed_bodies_store_nothing() {
    let app = spawn_app().await;
    app.installed_store("store1").await;
    app.installed_store("store2").await;
    let s1 = secret(&app, "store1");
    let s2 = secret(&app, "store2");
    let body = delivery(
        "store1",
        "store/order/updated",
        "abc",
        json!({"type": "order", "id": 1}),
    );
    assert_eq!(post(&app, &body, &[]).await.status(), 401, "no secret");
    assert_eq!(post(&app, &body, &[(HEADER, "wrong")]).await.status(), 401);
    assert_eq!(
        post(&app, &body, &[(HEADER, &s2)]).await.status(),
        401,
        "another store's secret"
    );
    let unknown = delivery(
        "nosuch",
        "store/order/updated",
        "abc",
        json!({"type": "order", "id": 1}),
    );
    assert_eq!(post(&app, &unknown, &[(HEADER, &s1)]).await.status(), 401);
    for bad in [
        "",
        "{",
        "[]",
        r#"{"scope":"store/order/updated"}"#,
        &body.replace("stores/store1", "shops/store1"),
    ] {
        assert_eq!(
            post(&app, bad, &[(HEADER, &s1)]).await.status(),
            400,
            "{bad:?}"
        );
    }
    assert_eq!(app.count("SELECT count(*) FROM webhook_events"), 0);
    // After uninstall the secret is gone: deliveries are refused.
    app.bc.uninstall("store1").await.unwrap();
    assert_eq!(post(&app, &body, &[(HEADER, &s1)]).await.status(), 401);
}

#[tokio::test]
async fn a_standard_webhooks_signature_is_enforced_when_the_operator_requires_it() {
    let app =
        crate::helpers::spawn_app_with(|s| s.bigcommerce.require_webhook_signature = true).await;
    app.installed_store("store1").await;
    let s = secret(&app, "store1");
    let body = delivery(
        "store1",
        "store/order/statusUpdated",
        "h1",
        json!({"type": "order", "id": 7}),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let msg = format!("msg_1.{now}.{body}");
    let sig = {
        use hmac::{Hmac, KeyInit, Mac};
        let mut mac =
            Hmac::<sha2::Sha256>::new_from_slice(app.bc.client_secret().as_bytes()).unwrap();
        mac.update(msg.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    };
    let bad = post(
        &app,
        &body,
        &[
            (HEADER, &s),
            ("webhook-id", "msg_1"),
            ("webhook-timestamp", &now),
            ("webhook-signature", "v1,AAAA"),
        ],
    )
    .await;
    assert_eq!(bad.status(), 401);
    assert_eq!(app.count("SELECT count(*) FROM webhook_events"), 0);
    // Required means required: a delivery without any signature is refused too.
    let unsigned = post(&app, &body, &[(HEADER, &s)]).await;
    assert_eq!(unsigned.status(), 401);
    assert_eq!(app.count("SELECT count(*) FROM webhook_events"), 0);
    let good = post(
        &app,
        &body,
        &[
            (HEADER, &s),
            ("webhook-id", "msg_1"),
            ("webhook-timestamp", &now),
            ("webhook-signature", &format!("v1,{sig}")),
        ],
    )
    .await;
    assert_eq!(good.status(), 200);
    assert_eq!(app.count("SELECT count(*) FROM webhook_events"), 1);
}

#[tokio::test]
async fn the_sweep_forgets_deliveries_older_than_a_month_and_keeps_the_rest() {
    let app = crate::helpers::spawn_app_with(|s| s.jobs.reconcile_every_secs = 1).await;
    app.installed_store("store1").await;
    let s = secret(&app, "store1");
    for (n, event) in ["old-1", "old-2", "recent-1", "recent-2"]
        .iter()
        .enumerate()
    {
        let body = delivery(
            "store1",
            "store/order/updated",
            event,
            json!({"type": "order", "id": 300 + n}),
        );
        assert_eq!(post(&app, &body, &[(HEADER, &s)]).await.status(), 200);
    }
    app.state
        .db
        .call_blocking(|c| {
            c.execute(
                "UPDATE webhook_events SET received_at = '2020-01-01T00:00:00Z'
                 WHERE event_hash LIKE 'old-%'",
                [],
            )?;
            c.execute(
                "UPDATE webhook_events SET received_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-29 days')
                 WHERE event_hash = 'recent-1'",
                [],
            )?;
            Ok(())
        })
        .unwrap();
    crate::order_sync::eventually("the sweep purges the old deliveries", || {
        (app.count("SELECT count(*) FROM webhook_events WHERE event_hash LIKE 'old-%'") == 0)
            .then_some(())
    })
    .await;
    assert_eq!(
        app.count("SELECT count(*) FROM webhook_events WHERE event_hash LIKE 'recent-%'"),
        2,
        "a month's deliveries are kept"
    );
    // A re-delivery of a kept event is still recognised as one.
    let body = delivery(
        "store1",
        "store/order/updated",
        "recent-1",
        json!({"type": "order", "id": 302}),
    );
    assert_eq!(post(&app, &body, &[(HEADER, &s)]).await.status(), 200);
    assert_eq!(app.count("SELECT count(*) FROM webhook_events"), 2);
}

#[tokio::test]
async fn a_signature_that_does_not_verify_is_counted_and_the_delivery_accepted_on_its_secret() {
    let app = spawn_app().await;
    app.installed_store("store1").await;
    let s = secret(&app, "store1");
    let body = delivery(
        "store1",
        "store/order/statusUpdated",
        "h1",
        json!({"type": "order", "id": 7}),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let resp = post(
        &app,
        &body,
        &[
            (HEADER, &s),
            ("webhook-id", "msg_1"),
            ("webhook-timestamp", &now),
            ("webhook-signature", "v1,AAAA"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(app.count("SELECT count(*) FROM webhook_events"), 1);
    assert_eq!(
        app.state
            .unverified_webhook_signatures
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    // Without the store's secret it is refused all the same.
    let resp = post(&app, &body, &[(HEADER, "wrong")]).await;
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn one_hash_at_another_time_is_a_new_event_and_a_retry_is_not() {
    let app = spawn_app().await;
    app.installed_store("store1").await;
    let s = secret(&app, "store1");
    let first = delivery(
        "store1",
        "store/app/uninstalled",
        "same-hash",
        json!({"type": "store", "id": "1025646"}),
    );
    // BigCommerce's retry repeats the body exactly: stored once.
    for _ in 0..2 {
        assert_eq!(post(&app, &first, &[(HEADER, &s)]).await.status(), 200);
    }
    assert_eq!(app.count("SELECT count(*) FROM webhook_events"), 1);
    // The same hash days later (the app uninstalled again after a reinstall) is a new event.
    let later = first.replace("1561479335", "1561652135");
    assert_ne!(later, first);
    assert_eq!(post(&app, &later, &[(HEADER, &s)]).await.status(), 200);
    assert_eq!(app.count("SELECT count(*) FROM webhook_events"), 2);
}
