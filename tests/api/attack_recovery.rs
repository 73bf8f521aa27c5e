//! Attacks on issue 17's disaster recovery: the payment's mark on the BigCommerce order, and
//! the first reconciliation after a restore.

use sequra_bc_sandbox::sequra::ShopperProfile;
use serde_json::json;

use crate::checkout::{STORE, completed, ready, settled, started, status_of};
use crate::helpers::TestApp;

/// Another client of the store's API (an app, or an API account of the merchant's) writes a
/// metafield `sequra`/`payment` of its own on `order`, with `permission_set`, holding `value`.
async fn foreign_metafield(app: &TestApp, order: u64, permission_set: &str, value: &str) {
    let token = app.bc.issue_token(STORE, "another-app", "store_v2_orders");
    let resp = app
        .http
        .post(format!(
            "{}stores/{STORE}/v3/orders/{order}/metafields",
            app.bc.base_url()
        ))
        .header("x-auth-token", token)
        .json(&json!({
            "permission_set": permission_set,
            "namespace": "sequra",
            "key": "payment",
            "value": value,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
}

/// The metafields of `order` the app's client owns.
fn own_metafields(app: &TestApp, order: u64) -> Vec<serde_json::Value> {
    let client = app.bc.client_id();
    app.bc
        .order_metafields(STORE, order)
        .into_iter()
        .filter(|m| m["owner_client_id"] == client)
        .collect()
}

/// BigCommerce keeps one metafield per client, namespace and key: another app may hold a
/// `sequra`/`payment` of its own on the same order, visible to every client. The app's mark
/// is its own metafield: the other one is neither read as the app's record of the payment
/// nor written over (it is not the app's to write: BigCommerce refuses).
#[tokio::test]
async fn another_apps_metafield_of_the_same_name_is_not_the_apps_mark() {
    let (app, _) = ready().await;
    let checkout = app.bc.create_checkout(STORE, &[(104, 1)], "ES");
    let (order, uuid) = started(&app, &checkout, "i1").await;
    foreign_metafield(&app, order, "read", "not the app's").await;

    let outcome = completed(&app, &uuid, ShopperProfile::Approve).await;
    assert_eq!(outcome.deliveries[0].2, 200, "{outcome:?}");
    settled(&app).await;
    assert_eq!(status_of(&app, order), 11);
    assert_eq!(app.sequra.order(&uuid).unwrap().state, "confirmed");
    let own = own_metafields(&app, order);
    assert_eq!(own.len(), 1, "{own:?}");
    let mark: serde_json::Value = serde_json::from_str(own[0]["value"].as_str().unwrap()).unwrap();
    assert_eq!(mark["reference"], uuid.as_str());
    assert_eq!(mark["placed"], "approved", "{mark}");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM jobs WHERE state = 'failed'"),
        0,
        "no job failed"
    );
}

/// The database restored to a point before `orders` were started: their solicitations (and
/// their seQura orders) are gone.
fn restore_before(app: &TestApp, orders: &[u64]) {
    let list = orders
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let conn = rusqlite::Connection::open(app.state.db.path()).unwrap();
    conn.execute_batch(&format!(
        "DELETE FROM solicitations WHERE bc_order_id IN ({list});"
    ))
    .unwrap();
}

/// A restore to a point before a shopper started paying loses their solicitation, while they
/// keep its return link: store, order, solicitation and the link's signature, which is also
/// the signature of notifications from before V8 and authorises nothing. Posted as seQura's
/// approval of a seQura order of their choosing, it is refused and records nothing: no seQura
/// order is recorded for the order, and the merchant's log says no payment was recovered.
#[tokio::test]
async fn a_return_link_posted_as_a_notification_after_a_restore_records_nothing() {
    let (app, _) = ready().await;
    let checkout = app.bc.create_checkout(STORE, &[(104, 1)], "ES");
    let (order, uuid) = started(&app, &checkout, "i1").await;
    let return_url = url::Url::parse(
        app.sequra.order(&uuid).unwrap().solicited["merchant"]["return_url"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    settled(&app).await;
    restore_before(&app, &[order]);

    for forged in ["forged-1", "forged-2", "forged-3"] {
        let form: Vec<(String, String)> = return_url
            .query_pairs()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .chain([
                ("store".into(), STORE.into()),
                ("order_ref".into(), forged.into()),
                ("sq_state".into(), "approved".into()),
            ])
            .collect();
        let resp = app
            .http
            .post(format!("{}/sequra/ipn", app.address))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert!(
            [403, 404].contains(&resp.status().as_u16()),
            "{}",
            resp.status()
        );
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sequra_attempts WHERE sequra_uuid LIKE 'forged-%'"),
        0,
        "a seQura order of the shopper's choosing was recorded"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM solicitations WHERE sequra_uuid LIKE 'forged-%'"),
        0
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM transaction_log WHERE event = 'recovery'"),
        0,
        "the log says a payment was recovered"
    );
}

/// Recovery point: now (the orders above were made since, within the margin).
async fn recover_from_now(app: &TestApp) {
    let point = sequra_bc::db::timestamp(sequra_bc::clock::now());
    app.state
        .db
        .call(move |c| sequra_bc::db::stores::set_recover_from_all(c, &point))
        .await
        .unwrap();
}

/// Two approvals answered, their orders not placed yet (BigCommerce refused the status), then
/// the database went back to before both. The recovery finds them on their Incomplete orders;
/// one order BigCommerce cannot show now does not keep the other from being recovered.
#[tokio::test]
async fn one_order_that_cannot_be_read_does_not_hold_back_the_recovery_of_the_others() {
    let (app, _) = ready().await;
    let mut paid = Vec::new();
    for _ in 0..2 {
        let checkout = app.bc.create_checkout(STORE, &[(104, 1)], "ES");
        let (order, uuid) = started(&app, &checkout, "i1").await;
        app.bc
            .fail_next("PUT", &format!("/v2/orders/{order}"), 503, 1_000_000);
        let outcome = completed(&app, &uuid, ShopperProfile::Approve).await;
        assert_eq!(outcome.deliveries[0].2, 200, "{outcome:?}");
        paid.push((order, uuid));
    }
    let [(first, _), (second, _)] = paid[..] else {
        unreachable!()
    };
    restore_before(&app, &[first, second]);
    // The placements end, finding no payment, while BigCommerce still refuses: one running as
    // the rows went would otherwise place its order once BigCommerce takes it (seen under
    // CI's load).
    settled(&app).await;
    app.bc.clear_failures();
    settled(&app).await;
    assert_eq!(status_of(&app, second), 0, "not placed before the recovery");
    recover_from_now(&app).await;
    app.bc.fail_next(
        "GET",
        &format!("/v3/orders/{first}/metafields"),
        500,
        1_000_000,
    );

    sequra_bc::orders::reconcile::sweep(&app.state).await;
    settled(&app).await;

    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM solicitations WHERE bc_order_id = {second} AND state = 'approved'"
        )),
        1,
        "the second approval was not recovered"
    );
    assert_eq!(status_of(&app, second), 11);
}

/// Another client of the store's API writes a seQura payment on an order: the method
/// "seQura – …" and the reference of a seQura order the app placed for another order (an
/// order-splitting app copies them onto the orders it makes; anything with the orders scope
/// can write them). The reconciliation looks for payments the database lost among orders
/// that show one: this one is not a payment of its own, and what becomes of its order (here:
/// cancelled) never reaches the seQura order that pays the other one.
#[tokio::test]
async fn an_order_showing_another_orders_sequra_reference_is_not_taken_for_its_payment() {
    let (app, _) = ready().await;
    let checkout = app.bc.create_checkout(STORE, &[(104, 2)], "ES");
    let (paid, uuid) = started(&app, &checkout, "i1").await;
    let outcome = completed(&app, &uuid, ShopperProfile::Approve).await;
    assert_eq!(outcome.deliveries[0].2, 200, "{outcome:?}");
    settled(&app).await;
    assert_eq!(status_of(&app, paid), 11);
    let held = app.sequra.order(&uuid).unwrap().unshipped_cart.clone();

    let checkout = app.bc.create_checkout(STORE, &[(104, 1)], "ES");
    let copy = app.bc.pay_checkout_otherwise(STORE, &checkout).unwrap();
    let token = app
        .bc
        .issue_token(STORE, "order-splitter", "store_v2_orders");
    let resp = app
        .http
        .put(format!(
            "{}stores/{STORE}/v2/orders/{copy}",
            app.bc.base_url()
        ))
        .header("x-auth-token", token)
        .json(&json!({
            "payment_method": "seQura – Paga después",
            "payment_provider_id": uuid,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    sequra_bc::orders::reconcile::sweep(&app.state).await;
    settled(&app).await;
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM solicitations WHERE bc_order_id = {copy}"
        )),
        0,
        "the copy was recorded as a seQura payment"
    );

    // The merchant cancels the copy.
    assert!(app.bc.set_order_status(STORE, copy, 5));
    assert!(
        app.bc
            .webhooks_settled(std::time::Duration::from_secs(10))
            .await
    );
    sequra_bc::orders::reconcile::sweep(&app.state).await;
    settled(&app).await;
    let o = app.sequra.order(&uuid).unwrap();
    assert_eq!(o.state, "confirmed");
    assert_eq!(
        o.unshipped_cart, held,
        "seQura's order of {paid} changed: {:?}",
        o.updates
    );
}

/// A review whose cart the shopper paid by bank transfer in another tab is refused (410), and
/// seQura cancels it; its mark, written while the app asked BigCommerce about the cart, says
/// "in review". A restore to a point before it loses the refusal: the recovery must not place
/// the seQura order's Incomplete order in review, a second sale of a cart sold once.
#[tokio::test]
async fn a_review_refused_for_a_cart_paid_otherwise_is_not_placed_by_the_recovery() {
    let (app, _) = ready().await;
    let checkout = app.bc.create_checkout(STORE, &[(104, 1)], "ES");
    let (order, uuid) = started(&app, &checkout, "i1").await;
    let other = app.bc.pay_checkout_otherwise(STORE, &checkout).unwrap();
    let outcome = completed(&app, &uuid, ShopperProfile::ReviewApprove).await;
    assert_eq!(outcome.deliveries[0].2, 410, "{outcome:?}");
    assert_eq!(app.sequra.order(&uuid).unwrap().state, "cancelled");
    settled(&app).await;
    restore_before(&app, &[order]);
    recover_from_now(&app).await;

    sequra_bc::orders::reconcile::sweep(&app.state).await;
    settled(&app).await;

    assert_eq!(status_of(&app, other), 7);
    assert_eq!(
        status_of(&app, order),
        0,
        "the order of a review seQura cancelled was placed"
    );
    // The log says why, again.
    let message: String = app.query(
        &format!(
            "SELECT message FROM transaction_log WHERE event = 'recovery' AND bc_order_id = {order}"
        ),
        |r| r.get(0),
    );
    assert!(message.contains(&format!("#{other}")), "{message}");
}
