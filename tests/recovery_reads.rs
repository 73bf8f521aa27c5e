//! What the first reconciliation after a restore (issue 17) asks BigCommerce, in a process of
//! its own: the tests here move the clocks (the app's and the stand-ins', process-wide), which
//! the other tests' services must not see.

#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;

use std::time::Duration;

use sequra_bc::db;
use sequra_bc_sandbox::sequra::ShopperProfile;

const STORE: &str = "store1";

/// A store sells mostly by other methods: a seQura payment now and then among many orders paid
/// otherwise. The recovery after a restore looks for orders made since the recovery point and
/// archived (no list shows them) among the ids the lists leave out: the orders before the point
/// are no such gap, and are not read one by one (one request each, against the store's quota).
#[tokio::test]
async fn the_recovery_reads_by_id_only_the_orders_made_since_the_point() {
    let app = helpers::spawn_app().await;
    app.spanish_store(STORE).await;
    // A seQura payment, the newest the database knows.
    let checkout = app.bc.create_checkout(STORE, &[(104, 1)], "ES");
    let resp = app
        .http
        .post(format!("{}/checkout/{STORE}/start", app.address))
        .json(&serde_json::json!({ "checkoutId": checkout, "product": "i1" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    let paid = body["order_id"].as_u64().unwrap();
    let uuid = app.sequra.orders().last().unwrap().uuid.clone();
    let outcome = app
        .sequra
        .complete_form(&uuid, "i1", None, ShopperProfile::Approve)
        .await
        .unwrap();
    assert_eq!(outcome.deliveries[0].2, 200, "{outcome:?}");
    // Then many orders paid by bank transfer, long before the recovery point.
    let mut others = Vec::new();
    for _ in 0..60 {
        let checkout = app.bc.create_checkout(STORE, &[(104, 1)], "ES");
        others.push(app.bc.pay_checkout_otherwise(STORE, &checkout).unwrap());
    }
    assert!(others.iter().all(|&o| o > paid));
    let ahead = Duration::from_secs(3600);
    sequra_bc::clock::advance(ahead);
    sequra_bc_sandbox::clock::advance(ahead);
    // The database goes back to now; one order is made after that.
    let point = db::timestamp(sequra_bc::clock::now());
    app.state
        .db
        .call(move |c| db::stores::set_recover_from_all(c, &point))
        .await
        .unwrap();
    let checkout = app.bc.create_checkout(STORE, &[(104, 1)], "ES");
    let since = app.bc.pay_checkout_otherwise(STORE, &checkout).unwrap();
    app.bc.clear_requests();

    sequra_bc::orders::reconcile::sweep(&app.state).await;

    let hash = sequra_bc::domain::StoreHash::parse(STORE).unwrap();
    let left = app
        .state
        .db
        .call(move |c| db::stores::recover_from(c, &hash))
        .await
        .unwrap();
    assert_eq!(left, None, "the recovery went through");
    let read: Vec<u64> = app
        .bc
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET")
        .filter_map(|r| {
            r.path
                .rsplit_once("/v2/orders/")
                .and_then(|(_, id)| id.parse().ok())
        })
        .collect();
    let before_point: Vec<u64> = read
        .iter()
        .copied()
        .filter(|o| others.contains(o))
        .collect();
    assert!(
        before_point.is_empty(),
        "{} orders made before the point read one by one: {before_point:?} (all reads: {read:?}; \
         the order made since: {since})",
        before_point.len()
    );
}
