//! What an anonymous caller can make us spend (issue 11, B9–B11): each store's BigCommerce
//! quota, the rate limits' reach, and the server's connections.

use serde_json::json;

use crate::checkout::{STORE, ready};
use crate::helpers::TestApp;
use crate::order_sync::{eventually, paid_order, settle};

async fn methods(app: &TestApp, store: &str, checkout: &str) -> reqwest::Response {
    app.http
        .post(format!("{}/checkout/{store}/methods", app.address))
        .json(&json!({ "checkoutId": checkout }))
        .send()
        .await
        .unwrap()
}

fn checkout_calls(app: &TestApp, checkout: &str) -> usize {
    app.bc
        .requests()
        .iter()
        .filter(|r| r.path.contains(&format!("/v3/checkouts/{checkout}")))
        .count()
}

/// B9: anonymous `methods` calls stop at 30 % of the store's window quota and are answered
/// 503 with `Retry-After` (not 502); what is left serves the job queue, so a shipment made
/// during the flood reaches seQura at once, without a single 429.
#[tokio::test]
async fn a_methods_flood_stops_at_the_quota_reserve_and_order_sync_still_gets_through() {
    let (app, _) = ready().await;
    let (order, uuid) = paid_order(&app, &[(101, 1)]).await;
    let checkouts: Vec<String> = (0..3)
        .map(|_| app.bc.create_checkout(STORE, &[(104, 1)], "ES"))
        .collect();
    // 100 calls left in this window, of which 30 are the reserve.
    let quota = app.bc.rate_limit_used(STORE) + 100;
    app.bc.set_rate_limit_quota(quota);
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for i in 0..150 {
        let resp = methods(&app, STORE, &checkouts[i % 3]).await;
        if resp.status() == 503 {
            retry_after = resp.headers().get("retry-after").cloned();
        }
        statuses.push(resp.status().as_u16());
    }
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 503),
        "only answers or waits: {statuses:?}"
    );
    assert!(
        statuses.contains(&503),
        "the reserve was reached: {statuses:?}"
    );
    let secs: u64 = retry_after
        .expect("503 carries Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&secs), "{secs}");
    let left = quota - app.bc.rate_limit_used(STORE);
    assert!(left >= 29, "the flood kept out of the reserve: {left} left");

    app.bc.ship_all(STORE, order).unwrap();
    eventually("the shipment at seQura", || {
        (!app.sequra.order(&uuid).unwrap().updates.is_empty()).then_some(())
    })
    .await;
    settle(&app).await;
    assert_eq!(
        app.bc.rate_limited_answers(STORE),
        0,
        "nobody was refused by BigCommerce"
    );
}

/// B9: a checkout id BigCommerce does not know is asked for once; its repeats, and ids of
/// the wrong shape, are refused without a BigCommerce call.
#[tokio::test]
async fn an_unknown_checkout_costs_one_bigcommerce_call_and_junk_costs_none() {
    let (app, _) = ready().await;
    let unknown = "0f8d6a52-3c4b-4e59-9a1d-7f2b8c1e5d30";
    for _ in 0..5 {
        assert_eq!(methods(&app, STORE, unknown).await.status(), 404);
    }
    assert_eq!(checkout_calls(&app, unknown), 1, "remembered as unknown");
    let junk = "../../v2/orders";
    for id in [junk, &"a".repeat(65), ""] {
        assert_eq!(methods(&app, STORE, id).await.status(), 404, "{id}");
    }
    assert!(
        app.bc
            .requests()
            .iter()
            .all(|r| !r.path.contains("/v2/orders") && !r.path.contains(&"a".repeat(65))),
        "junk never reached BigCommerce"
    );
    // A real checkout is still served.
    let checkout = app.bc.create_checkout(STORE, &[(104, 1)], "ES");
    assert_eq!(methods(&app, STORE, &checkout).await.status(), 200);
}

/// B9: the per-IP limit is counted per store: a shopper (or an office behind one address)
/// locked out of one store still reaches another.
#[tokio::test]
async fn the_ip_limit_of_one_store_leaves_another_store_reachable() {
    let (app, _) = ready().await;
    app.merchant_session("store2").await;
    let mut last = 0;
    for _ in 0..601 {
        last = methods(&app, STORE, "not-a-checkout")
            .await
            .status()
            .as_u16();
    }
    assert_eq!(last, 429, "the 601st request of the minute");
    assert_eq!(
        methods(&app, "store2", "not-a-checkout").await.status(),
        200,
        "store2 (not connected) answers: no methods"
    );
}
