//! Order management end to end: an action in the BigCommerce stand-in's control panel →
//! its webhooks → the app's job → exactly the expected carts at the seQura stand-in.

use std::time::Duration;

use serde_json::Value;

use sequra_bc_sandbox::bigcommerce::RefundSpec;
use sequra_bc_sandbox::sequra::{DEMO_MERCHANT_ES, ShopperProfile};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

const STORE: &str = "store1";

/// Waits (up to 15 s) for `f` to give something.
pub async fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// seQura connected, Spain configured.
pub async fn sequra_store(app: &TestApp) -> String {
    app.spanish_store(STORE).await
}

/// A paid seQura order (i1) for `items` (catalog product id, quantity): (order id, uuid).
pub async fn paid_order_as(
    app: &TestApp,
    items: &[(u64, u64)],
    profile: ShopperProfile,
) -> (u64, String) {
    let checkout = app.bc.create_checkout(STORE, items, "ES");
    let resp = app
        .http
        .post(format!("{}/checkout/{STORE}/start", app.address))
        .json(&serde_json::json!({ "checkoutId": checkout, "product": "i1" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "start");
    let body: Value = resp.json().await.unwrap();
    let (order_id, uuid) = crate::checkout::started_order(app, &body);
    let outcome = app
        .sequra
        .complete_form(&uuid, "i1", None, profile)
        .await
        .unwrap();
    assert_eq!(outcome.deliveries[0].2, 200, "{outcome:?}");
    (order_id, uuid)
}

pub async fn paid_order(app: &TestApp, items: &[(u64, u64)]) -> (u64, String) {
    let paid = paid_order_as(app, items, ShopperProfile::Approve).await;
    settle(app).await;
    paid
}

/// Waits until the stand-in delivered every webhook and the app ran every job.
pub async fn settle(app: &TestApp) {
    for _ in 0..3 {
        assert!(app.bc.webhooks_settled(Duration::from_secs(15)).await);
        let state = app.state.clone();
        eventually("the job queue drains", || {
            let n = state
                .db
                .call_blocking(|c| sequra_bc::db::jobs::outstanding(c))
                .unwrap();
            (n == 0).then_some(())
        })
        .await;
    }
}

fn updates(app: &TestApp, uuid: &str) -> Vec<Value> {
    app.sequra.order(uuid).unwrap().updates
}

/// The n-th update seQura accepted (1-based), once it arrives.
async fn update(app: &TestApp, uuid: &str, n: usize) -> Value {
    eventually(&format!("update {n}"), || {
        updates(app, uuid).get(n - 1).cloned()
    })
    .await
}

/// A refund of no items: `shipping` of the shipping and `amount` of the order (cents).
fn refund_amounts(app: &TestApp, order: u64, shipping: i64, amount: i64) -> u64 {
    app.bc
        .refund(
            STORE,
            order,
            &RefundSpec {
                items: vec![],
                shipping_cents: shipping,
                order_cents: amount,
            },
        )
        .unwrap()
}

/// A cart's lines as (type, reference, quantity, total), checking that it adds up.
fn lines(cart: &Value) -> Vec<(String, String, i64, i64)> {
    let items = cart["items"].as_array().unwrap();
    let sum: i64 = items
        .iter()
        .map(|i| i["total_with_tax"].as_i64().unwrap())
        .sum();
    assert_eq!(
        sum,
        cart["order_total_with_tax"].as_i64().unwrap(),
        "{cart}"
    );
    assert!(sum >= 0, "a cart never goes negative: {cart}");
    items
        .iter()
        .map(|i| {
            (
                i["type"].as_str().unwrap().to_string(),
                i["reference"].as_str().unwrap().to_string(),
                i["quantity"].as_i64().unwrap_or(1),
                i["total_with_tax"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn products(cart: &Value) -> Vec<(String, i64)> {
    lines(cart)
        .into_iter()
        .filter(|l| l.0 == "product")
        .map(|l| (l.1, l.2))
        .collect()
}

fn has_shipping(cart: &Value) -> bool {
    lines(cart).iter().any(|l| l.1 == "shipping")
}

fn line_id(app: &TestApp, order: u64, sku: &str) -> u64 {
    app.bc
        .order_products(STORE, order)
        .iter()
        .find(|p| p["sku"] == sku)
        .unwrap()["id"]
        .as_u64()
        .unwrap()
}

fn order_total(app: &TestApp, order: u64) -> i64 {
    let o = app.bc.order(STORE, order).unwrap();
    sequra_bc::domain::parse_decimal(o["total_inc_tax"].as_str().unwrap()).unwrap()
}

fn s(v: &str) -> String {
    v.to_string()
}

#[tokio::test]
async fn the_apps_own_status_writes_send_nothing_to_sequra() {
    let app = spawn_app().await;
    sequra_store(&app).await;
    let (_, uuid) = paid_order(&app, &[(101, 2)]).await;
    assert!(
        !app.bc.webhook_deliveries().is_empty(),
        "the status write was echoed by webhooks"
    );
    assert!(
        updates(&app, &uuid).is_empty(),
        "{:?}",
        updates(&app, &uuid)
    );
}

#[tokio::test]
async fn a_full_shipment_moves_everything_to_the_shipped_cart() {
    let app = spawn_app().await;
    sequra_store(&app).await;
    let (order, uuid) = paid_order(&app, &[(101, 2), (103, 1)]).await;
    app.bc.ship_all(STORE, order).unwrap();
    let u = update(&app, &uuid, 1).await;
    assert_eq!(u["merchant"]["id"], DEMO_MERCHANT_ES);
    assert_eq!(u["merchant_reference"]["order_ref_1"], order.to_string());
    assert_eq!(
        products(&u["shipped_cart"]),
        vec![(s("CAM-001"), 2), (s("PAN-001"), 1)]
    );
    assert!(has_shipping(&u["shipped_cart"]));
    assert!(lines(&u["unshipped_cart"]).is_empty());
    assert_eq!(
        u["shipped_cart"]["order_total_with_tax"].as_i64().unwrap(),
        order_total(&app, order)
    );
    settle(&app).await;
    assert_eq!(updates(&app, &uuid).len(), 1, "sent once");
    assert_eq!(app.sequra.order(&uuid).unwrap().state, "confirmed");
}

#[tokio::test]
async fn a_partial_then_a_full_shipment() {
    let app = spawn_app().await;
    sequra_store(&app).await;
    let (order, uuid) = paid_order(&app, &[(101, 2), (103, 1)]).await;
    let cam = line_id(&app, order, "CAM-001");
    app.bc.ship_items(STORE, order, &[(cam, 1)]).unwrap();
    let first = update(&app, &uuid, 1).await;
    assert_eq!(products(&first["shipped_cart"]), vec![(s("CAM-001"), 1)]);
    assert!(has_shipping(&first["shipped_cart"]), "shipping goes first");
    assert_eq!(
        products(&first["unshipped_cart"]),
        vec![(s("CAM-001"), 1), (s("PAN-001"), 1)]
    );
    let both = first["shipped_cart"]["order_total_with_tax"]
        .as_i64()
        .unwrap()
        + first["unshipped_cart"]["order_total_with_tax"]
            .as_i64()
            .unwrap();
    assert_eq!(both, order_total(&app, order));

    app.bc.ship_all(STORE, order).unwrap();
    let second = update(&app, &uuid, 2).await;
    assert_eq!(
        products(&second["shipped_cart"]),
        vec![(s("CAM-001"), 2), (s("PAN-001"), 1)]
    );
    assert!(lines(&second["unshipped_cart"]).is_empty());
    settle(&app).await;
    assert_eq!(updates(&app, &uuid).len(), 2);
}

#[tokio::test]
async fn two_partial_shipments_of_different_lines() {
    let app = spawn_app().await;
    sequra_store(&app).await;
    let (order, uuid) = paid_order(&app, &[(101, 1), (103, 1), (106, 1)]).await;
    let (cam, pan) = (
        line_id(&app, order, "CAM-001"),
        line_id(&app, order, "PAN-001"),
    );
    app.bc.ship_items(STORE, order, &[(cam, 1)]).unwrap();
    update(&app, &uuid, 1).await;
    app.bc.ship_items(STORE, order, &[(pan, 1)]).unwrap();
    let u = update(&app, &uuid, 2).await;
    assert_eq!(
        products(&u["shipped_cart"]),
        vec![(s("CAM-001"), 1), (s("PAN-001"), 1)]
    );
    assert_eq!(products(&u["unshipped_cart"]), vec![(s("BOL-001"), 1)]);
    assert!(!has_shipping(&u["unshipped_cart"]));
}

#[tokio::test]
async fn a_refund_after_shipment_takes_the_returned_item_out_of_the_shipped_cart() {
    let app = spawn_app().await;
    sequra_store(&app).await;
    let (order, uuid) = paid_order(&app, &[(101, 2), (103, 1)]).await;
    app.bc.ship_all(STORE, order).unwrap();
    update(&app, &uuid, 1).await;
    let pan = line_id(&app, order, "PAN-001");
    app.bc
        .refund(
            STORE,
            order,
            &RefundSpec {
                items: vec![(pan, 1)],
                shipping_cents: 0,
                order_cents: 0,
            },
        )
        .unwrap();
    let u = update(&app, &uuid, 2).await;
    assert_eq!(products(&u["shipped_cart"]), vec![(s("CAM-001"), 2)]);
    assert!(
        !lines(&u["shipped_cart"])
            .iter()
            .any(|l| l.0 == "other_payment"),
        "an item refunded at its price needs no adjustment: {u}"
    );
    assert_eq!(
        u["shipped_cart"]["order_total_with_tax"].as_i64().unwrap(),
        order_total(&app, order) - 4995
    );
}

#[tokio::test]
async fn a_partial_amount_refund_is_a_negative_other_payment() {
    let app = spawn_app().await;
    sequra_store(&app).await;
    let (order, uuid) = paid_order(&app, &[(104, 1)]).await;
    let refund = refund_amounts(&app, order, 0, 1000);
    let u = update(&app, &uuid, 1).await;
    let unshipped = lines(&u["unshipped_cart"]);
    assert!(
        unshipped.contains(&(s("other_payment"), format!("refund-{refund}"), 1, -1000)),
        "{unshipped:?}"
    );
    assert_eq!(
        u["unshipped_cart"]["order_total_with_tax"]
            .as_i64()
            .unwrap(),
        order_total(&app, order) - 1000
    );
    assert!(lines(&u["shipped_cart"]).is_empty());
}

#[tokio::test]
async fn a_shipping_refund_after_shipment_reduces_the_shipped_cart() {
    let app = spawn_app().await;
    sequra_store(&app).await;
    let (order, uuid) = paid_order(&app, &[(104, 1)]).await;
    app.bc.ship_all(STORE, order).unwrap();
    let shipped = update(&app, &uuid, 1).await;
    let shipping = lines(&shipped["shipped_cart"])
        .into_iter()
        .find(|l| l.1 == "shipping")
        .unwrap()
        .3;
    let refund = refund_amounts(&app, order, shipping, 0);
    let u = update(&app, &uuid, 2).await;
    assert!(lines(&u["shipped_cart"]).contains(&(
        s("other_payment"),
        format!("refund-{refund}"),
        1,
        -shipping
    )));
    assert_eq!(
        u["shipped_cart"]["order_total_with_tax"].as_i64().unwrap(),
        order_total(&app, order) - shipping
    );
}

#[tokio::test]
async fn a_full_refund_empties_both_carts() {
    let app = spawn_app().await;
    sequra_store(&app).await;
    let (order, uuid) = paid_order(&app, &[(104, 1)]).await;
    app.bc.ship_all(STORE, order).unwrap();
    update(&app, &uuid, 1).await;
    let line = line_id(&app, order, "ZAP-001");
    let shipping = order_total(&app, order) - 7990;
    app.bc
        .refund(
            STORE,
            order,
            &RefundSpec {
                items: vec![(line, 1)],
                shipping_cents: shipping,
                order_cents: 0,
            },
        )
        .unwrap();
    let u = update(&app, &uuid, 2).await;
    assert!(lines(&u["shipped_cart"]).is_empty());
    assert!(lines(&u["unshipped_cart"]).is_empty());
}

/// Found by the simulator (seed 71407): an order cancelled before shipping, then refunded its
/// shipping and cancelled again. seQura already held nothing; the refund changed no cart, yet
/// the same empty carts were sent a second time. The refund still shows in the app.
#[tokio::test]
async fn a_refund_of_an_order_sequra_holds_nothing_of_sends_nothing_again() {
    let app = spawn_app().await;
    sequra_store(&app).await;
    let (order, uuid) = paid_order(&app, &[(104, 1)]).await;
    assert!(app.bc.set_order_status(STORE, order, 5));
    let cancelled = update(&app, &uuid, 1).await;
    assert!(lines(&cancelled["unshipped_cart"]).is_empty());
    let shipping = order_total(&app, order) - 7990;
    refund_amounts(&app, order, shipping, 0);
    assert!(app.bc.set_order_status(STORE, order, 5));
    settle(&app).await;
    assert_eq!(updates(&app, &uuid).len(), 1, "nothing sent twice");
    assert_eq!(
        app.count(&format!(
            "SELECT refunded_total FROM order_sync WHERE bc_order_id = {order}"
        )),
        shipping,
        "the refund recorded"
    );
}

#[tokio::test]
async fn edit_order_items_added_removed_and_changed_reach_the_unshipped_cart() {
    let app = spawn_app().await;
    sequra_store(&app).await;
    let (order, uuid) = paid_order(&app, &[(101, 1), (103, 1)]).await;
    app.bc.add_order_product(STORE, order, 107, 2).unwrap();
    let u = update(&app, &uuid, 1).await;
    assert_eq!(
        products(&u["unshipped_cart"]),
        vec![(s("CAM-001"), 1), (s("PAN-001"), 1), (s("CAL-003"), 2)]
    );
    assert_eq!(
        u["unshipped_cart"]["order_total_with_tax"]
            .as_i64()
            .unwrap(),
        order_total(&app, order)
    );
    let pan = line_id(&app, order, "PAN-001");
    assert!(app.bc.remove_order_product(STORE, order, pan));
    let u = update(&app, &uuid, 2).await;
    assert_eq!(
        products(&u["unshipped_cart"]),
        vec![(s("CAM-001"), 1), (s("CAL-003"), 2)]
    );
    assert!(app.bc.set_order_product_quantity(STORE, order, 0, 3));
    let u = update(&app, &uuid, 3).await;
    assert_eq!(
        products(&u["unshipped_cart"]),
        vec![(s("CAM-001"), 3), (s("CAL-003"), 2)]
    );
}

#[tokio::test]
async fn an_address_change_sends_the_new_address_with_the_same_carts() {
    let app = spawn_app().await;
    sequra_store(&app).await;
    let (order, uuid) = paid_order(&app, &[(104, 1)]).await;
    assert!(
        app.bc
            .set_order_shipping_street(STORE, order, "Calle Nueva 99")
    );
    let u = update(&app, &uuid, 1).await;
    assert_eq!(u["delivery_address"]["address_line_1"], "Calle Nueva 99");
    let solicited = app.sequra.order(&uuid).unwrap().solicited;
    assert_eq!(u["unshipped_cart"]["items"], solicited["cart"]["items"]);
}

#[tokio::test]
async fn cancelling_the_order_empties_both_carts_and_cancels_it_at_sequra() {
    let app = spawn_app().await;
    sequra_store(&app).await;
    let (order, uuid) = paid_order(&app, &[(104, 1)]).await;
    assert!(app.bc.set_order_status(STORE, order, 5));
    let u = update(&app, &uuid, 1).await;
    assert!(lines(&u["shipped_cart"]).is_empty());
    assert!(lines(&u["unshipped_cart"]).is_empty());
    eventually("seQura cancels", || {
        (app.sequra.order(&uuid).unwrap().state == "cancelled").then_some(())
    })
    .await;
}

#[tokio::test]
async fn archiving_an_unshipped_order_cancels_it() {
    let app = spawn_app().await;
    sequra_store(&app).await;
    let (order, uuid) = paid_order(&app, &[(104, 1)]).await;
    assert!(app.bc.archive_order(STORE, order));
    let u = update(&app, &uuid, 1).await;
    assert!(lines(&u["unshipped_cart"]).is_empty());
    assert!(lines(&u["shipped_cart"]).is_empty());
}

#[tokio::test]
async fn orders_not_paid_with_sequra_are_ignored() {
    let app = spawn_app().await;
    sequra_store(&app).await;
    let (_, uuid) = paid_order(&app, &[(104, 1)]).await;
    // An order the app never saw: placed natively, then shipped.
    let checkout = app.bc.create_checkout(STORE, &[(101, 1)], "ES");
    let created: Value = app
        .http
        .post(format!(
            "{}stores/{STORE}/v3/checkouts/{checkout}/orders",
            app.bc.base_url()
        ))
        .header("X-Auth-Token", app.bc.access_token(STORE).unwrap())
        .header("Accept", "application/json")
        .header("Content-Type", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let other = created["data"]["id"].as_u64().unwrap();
    assert!(app.bc.set_order_status(STORE, other, 11));
    app.bc.ship_all(STORE, other).unwrap();
    settle(&app).await;
    assert!(updates(&app, &uuid).is_empty());
    assert!(app.sequra.orders().iter().all(|o| o.updates.is_empty()));
}

#[tokio::test]
async fn the_same_webhook_five_times_sends_one_update() {
    let app = spawn_app().await;
    sequra_store(&app).await;
    let (order, uuid) = paid_order(&app, &[(101, 2)]).await;
    app.bc.set_webhook_duplicates(5);
    app.bc.ship_all(STORE, order).unwrap();
    update(&app, &uuid, 1).await;
    settle(&app).await;
    let shipment_events = app
        .bc
        .webhook_deliveries()
        .into_iter()
        .filter(|d| d.scope == "store/shipment/created")
        .count();
    assert!(shipment_events >= 5, "{shipment_events}");
    assert_eq!(updates(&app, &uuid).len(), 1);
}

#[tokio::test]
async fn events_out_of_order_end_in_the_right_state() {
    let app = spawn_app().await;
    sequra_store(&app).await;
    let (order, uuid) = paid_order(&app, &[(101, 2), (103, 1)]).await;
    app.bc.hold_webhooks(true);
    let cam = line_id(&app, order, "CAM-001");
    app.bc.ship_items(STORE, order, &[(cam, 2)]).unwrap();
    app.bc
        .refund(
            STORE,
            order,
            &RefundSpec {
                items: vec![(cam, 1)],
                shipping_cents: 0,
                order_cents: 0,
            },
        )
        .unwrap();
    app.bc.release_webhooks_reversed();
    app.bc.hold_webhooks(false);
    settle(&app).await;
    let last = updates(&app, &uuid).last().cloned().expect("an update");
    assert_eq!(products(&last["shipped_cart"]), vec![(s("CAM-001"), 1)]);
    assert_eq!(products(&last["unshipped_cart"]), vec![(s("PAN-001"), 1)]);
}

#[tokio::test]
async fn sequra_down_for_a_while_gets_every_update_in_order_once_it_recovers() {
    let app = spawn_app().await;
    sequra_store(&app).await;
    let (order, uuid) = paid_order(&app, &[(101, 2), (103, 1)]).await;
    app.sequra.set_outage(true);
    let cam = line_id(&app, order, "CAM-001");
    app.bc.ship_items(STORE, order, &[(cam, 1)]).unwrap();
    // Wait until the job has failed at least twice.
    let state = app.state.clone();
    eventually("the job retries", || {
        let n: i64 = state
            .db
            .call_blocking(|c| {
                Ok(c.query_row(
                    "SELECT IFNULL(MAX(attempts), 0) FROM jobs WHERE kind = 'sync_order'",
                    [],
                    |r| r.get(0),
                )?)
            })
            .unwrap();
        (n >= 2).then_some(())
    })
    .await;
    app.bc.ship_all(STORE, order).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(updates(&app, &uuid).is_empty());
    app.sequra.set_outage(false);
    settle(&app).await;
    let all = updates(&app, &uuid);
    let last = all.last().expect("delivered after recovery");
    assert_eq!(
        products(&last["shipped_cart"]),
        vec![(s("CAM-001"), 2), (s("PAN-001"), 1)]
    );
    assert!(all.len() <= 2, "no duplicates: {}", all.len());
}

#[tokio::test]
async fn changes_made_in_review_wait_and_go_once_approved() {
    let app = spawn_app().await;
    sequra_store(&app).await;
    app.sequra.set_review_delay(Duration::from_millis(1500));
    let (order, uuid) = paid_order_as(&app, &[(104, 1)], ShopperProfile::ReviewApprove).await;
    app.bc.ship_all(STORE, order).unwrap();
    let state = app.state.clone();
    eventually("a waiting entry", || {
        let n: i64 = state
            .db
            .call_blocking(|c| {
                Ok(c.query_row(
                    "SELECT COUNT(*) FROM transaction_log WHERE outcome = 'waiting'",
                    [],
                    |r| r.get(0),
                )?)
            })
            .unwrap();
        (n > 0).then_some(())
    })
    .await;
    assert!(updates(&app, &uuid).is_empty(), "nothing while in review");
    let u = update(&app, &uuid, 1).await;
    assert_eq!(products(&u["shipped_cart"]), vec![(s("ZAP-001"), 1)]);
    assert!(lines(&u["unshipped_cart"]).is_empty());
}

#[tokio::test]
async fn reconciliation_finishes_an_order_left_between_confirmation_and_status_write() {
    let app = spawn_app_with(|s| s.jobs.reconcile_every_secs = 1).await;
    sequra_store(&app).await;
    // BigCommerce refuses the status write, and the follow-up job is lost (as if an older
    // version crashed between seQura's confirmation and the write).
    app.bc.fail_next("PUT", "/v2/orders/", 400, 1);
    let (order, uuid) = paid_order_as(&app, &[(104, 1)], ShopperProfile::Approve).await;
    assert_eq!(app.sequra.order(&uuid).unwrap().state, "confirmed");
    // The follow-up runs from the queue: let it fail first, then lose it.
    eventually("the follow-up failed", || {
        (app.count(
            "SELECT COUNT(*) FROM jobs WHERE kind = 'place_order' AND state IN ('pending', 'running')",
        ) == 0)
            .then_some(())
    })
    .await;
    let state = app.state.clone();
    state
        .db
        .call_blocking(|c| {
            c.execute("DELETE FROM jobs WHERE kind = 'place_order'", [])?;
            Ok(())
        })
        .unwrap();
    assert_eq!(app.bc.order(STORE, order).unwrap()["status_id"], 0);
    eventually("the sweep places the order", || {
        (app.bc.order(STORE, order).unwrap()["status_id"] == 11).then_some(())
    })
    .await;
    let placed = app.bc.order(STORE, order).unwrap();
    assert_eq!(placed["payment_provider_id"], uuid.as_str());
}

#[tokio::test]
async fn reconciliation_syncs_an_order_changed_while_its_webhooks_were_off() {
    let app = spawn_app_with(|s| s.jobs.reconcile_every_secs = 1).await;
    sequra_store(&app).await;
    let (order, uuid) = paid_order(&app, &[(104, 1)]).await;
    for hook in app.bc.webhooks(STORE) {
        app.bc
            .deactivate_webhook(STORE, hook["id"].as_u64().unwrap());
    }
    app.bc.ship_all(STORE, order).unwrap();
    let u = update(&app, &uuid, 1).await;
    assert_eq!(products(&u["shipped_cart"]), vec![(s("ZAP-001"), 1)]);
    eventually("the hooks are re-activated", || {
        app.bc
            .webhooks(STORE)
            .iter()
            .all(|h| h["is_active"] == true)
            .then_some(())
    })
    .await;
}

/// Found by the simulator (seed 71414): BigCommerce leaves archived orders out of its orders
/// list, so the reconciliation never found an archive whose webhook was lost (seQura kept
/// the whole order), nor a shipment of an archived order. It rechecks its seQura orders by id.
#[tokio::test]
async fn reconciliation_finds_an_archived_order_whose_webhooks_were_lost() {
    let app = spawn_app().await;
    sequra_store(&app).await;
    let (order, uuid) = paid_order(&app, &[(101, 1), (104, 1)]).await;
    settle(&app).await;
    for hook in app.bc.webhooks(STORE) {
        app.bc
            .deactivate_webhook(STORE, hook["id"].as_u64().unwrap());
    }
    assert!(app.bc.archive_order(STORE, order));
    sequra_bc::orders::reconcile::sweep(&app.state).await;
    let u = update(&app, &uuid, 1).await;
    assert!(
        lines(&u["unshipped_cart"]).is_empty(),
        "cancelled at seQura: {u}"
    );
    settle(&app).await;

    // Shipped although archived: seQura cannot take back what it cancelled, and the merchant
    // is told.
    for hook in app.bc.webhooks(STORE) {
        app.bc
            .deactivate_webhook(STORE, hook["id"].as_u64().unwrap());
    }
    let cam = line_id(&app, order, "CAM-001");
    app.bc.ship_items(STORE, order, &[(cam, 1)]).unwrap();
    sequra_bc::orders::reconcile::sweep(&app.state).await;
    settle(&app).await;
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM transaction_log WHERE bc_order_id = {order}
             AND outcome = 'rejected' AND resolved_at IS NULL"
        )),
        1,
        "an open entry explains the difference"
    );
}

/// Found by review: an order the recheck cannot read (BigCommerce failing on it) went first
/// again at every sweep, and no other order of the store was rechecked again.
#[tokio::test]
async fn an_order_that_cannot_be_rechecked_holds_up_no_other() {
    let app = spawn_app().await;
    sequra_store(&app).await;
    let (first, _) = paid_order(&app, &[(104, 1)]).await;
    let (second, uuid) = paid_order(&app, &[(104, 1)]).await;
    settle(&app).await;
    for hook in app.bc.webhooks(STORE) {
        app.bc
            .deactivate_webhook(STORE, hook["id"].as_u64().unwrap());
    }
    assert!(app.bc.archive_order(STORE, first));
    assert!(app.bc.archive_order(STORE, second));
    app.bc
        .fail_next("GET", &format!("/v2/orders/{first}"), 500, 1000);
    for _ in 0..3 {
        sequra_bc::orders::reconcile::sweep(&app.state).await;
    }
    let u = update(&app, &uuid, 1).await;
    assert!(lines(&u["unshipped_cart"]).is_empty(), "{u}");
}

#[tokio::test]
async fn the_delivery_report_goes_once_a_day_with_the_shipped_orders() {
    // Reports are on by default; the schedule's first automatic look is a minute away.
    let app = spawn_app_with(|s| {
        s.jobs.delivery_report_time = "00:00".into();
    })
    .await;
    sequra_store(&app).await;
    let (order, uuid) = paid_order(&app, &[(101, 2)]).await;
    let (_, unshipped) = paid_order(&app, &[(103, 1)]).await;
    app.bc.ship_all(STORE, order).unwrap();
    update(&app, &uuid, 1).await;
    settle(&app).await;
    sequra_bc::orders::report::schedule(&app.state).await;
    let reports = eventually("a delivery report", || {
        let r = app.sequra.delivery_reports();
        (!r.is_empty()).then_some(r)
    })
    .await;
    settle(&app).await;
    sequra_bc::orders::report::schedule(&app.state).await;
    settle(&app).await;
    assert_eq!(app.sequra.delivery_reports().len(), 1, "once per day");
    let report = &reports[0];
    assert_eq!(report["merchant"]["id"], DEMO_MERCHANT_ES);
    let orders = report["orders"].as_array().unwrap();
    assert_eq!(orders.len(), 1, "only the shipped order: {report}");
    assert_eq!(orders[0]["state"], "shipped");
    assert_eq!(
        orders[0]["merchant_reference"]["order_ref_1"],
        order.to_string()
    );
    assert_eq!(products(&orders[0]["cart"]), vec![(s("CAM-001"), 2)]);
    assert!(lines(&orders[0]["remaining_cart"]).is_empty());
    let stats = report["statistics"]["orders"].as_array().unwrap();
    assert_eq!(stats.len(), 2, "both orders of the week: {stats:?}");
    assert!(stats.iter().all(|o| o["payment_method"] == "SQ"));
    assert!(app.sequra.order(&unshipped).unwrap().updates.is_empty());
}

const SHIPPED_KEPT: &str = "shipped items were not cancelled: refund them to return them in seQura";

/// The order's log entries that say its shipped goods were kept.
fn shipped_kept_notes(app: &TestApp, order: u64) -> usize {
    let hash = sequra_bc::domain::StoreHash::parse(STORE).unwrap();
    app.state
        .db
        .call_blocking(move |c| {
            sequra_bc::db::transaction_log::for_order(
                c,
                &hash,
                sequra_bc::domain::BcOrderId(order),
                100,
            )
        })
        .unwrap()
        .iter()
        .filter(|e| e.message.contains(SHIPPED_KEPT))
        .count()
}

/// Queues a sync of the order as the reconciliation would, and waits for it.
async fn sync_again(app: &TestApp, order: u64) {
    let hash = sequra_bc::domain::StoreHash::parse(STORE).unwrap();
    app.state
        .db
        .call_blocking(move |c| {
            sequra_bc::queue::enqueue(
                c,
                &hash,
                &sequra_bc::queue::Job::SyncOrder { order_id: order },
            )
        })
        .unwrap();
    app.state.jobs.wake();
    settle(app).await;
}

#[tokio::test]
async fn cancelling_after_a_partial_shipment_cancels_only_the_unshipped_goods() {
    let app = spawn_app().await;
    sequra_store(&app).await;
    let (order, uuid) = paid_order(&app, &[(101, 2), (103, 1)]).await;
    let cam = line_id(&app, order, "CAM-001");
    app.bc.ship_items(STORE, order, &[(cam, 1)]).unwrap();
    let shipped = update(&app, &uuid, 1).await;
    settle(&app).await;
    assert!(app.bc.set_order_status(STORE, order, 5));
    let u = update(&app, &uuid, 2).await;
    settle(&app).await;
    assert_eq!(
        u["shipped_cart"], shipped["shipped_cart"],
        "shipped cart unchanged"
    );
    assert!(lines(&u["unshipped_cart"]).is_empty());
    let held = app.sequra.order(&uuid).unwrap();
    assert_eq!(held.shipped_cart.as_ref(), Some(&shipped["shipped_cart"]));
    assert!(lines(held.unshipped_cart.as_ref().unwrap()).is_empty());
    assert_eq!(
        held.state, "confirmed",
        "the shipped goods are still charged"
    );
    assert_eq!(shipped_kept_notes(&app, order), 1);
    // Later syncs of the same cancelled order say it no more.
    sync_again(&app, order).await;
    assert_eq!(updates(&app, &uuid).len(), 2);
    assert_eq!(shipped_kept_notes(&app, order), 1, "written once");
}

#[tokio::test]
async fn cancelling_a_shipped_order_sends_nothing_and_says_how_to_return_the_goods() {
    let app = spawn_app().await;
    sequra_store(&app).await;
    let (order, uuid) = paid_order(&app, &[(104, 1)]).await;
    app.bc.ship_all(STORE, order).unwrap();
    let shipped = update(&app, &uuid, 1).await;
    settle(&app).await;
    assert!(app.bc.set_order_status(STORE, order, 5));
    settle(&app).await;
    assert_eq!(updates(&app, &uuid).len(), 1, "{:?}", updates(&app, &uuid));
    let held = app.sequra.order(&uuid).unwrap();
    assert_eq!(held.shipped_cart.as_ref(), Some(&shipped["shipped_cart"]));
    assert_eq!(held.state, "confirmed");
    assert_eq!(shipped_kept_notes(&app, order), 1);
    sync_again(&app, order).await;
    assert_eq!(shipped_kept_notes(&app, order), 1, "written once");
    // A refund is how the goods come back: it reaches seQura as usual.
    let line = line_id(&app, order, "ZAP-001");
    app.bc
        .refund(
            STORE,
            order,
            &RefundSpec {
                items: vec![(line, 1)],
                shipping_cents: 0,
                order_cents: 0,
            },
        )
        .unwrap();
    let u = update(&app, &uuid, 2).await;
    assert!(products(&u["shipped_cart"]).is_empty(), "{u}");
}

#[tokio::test]
async fn archiving_after_a_partial_shipment_keeps_the_shipped_goods() {
    let app = spawn_app().await;
    sequra_store(&app).await;
    let (order, uuid) = paid_order(&app, &[(101, 2), (103, 1)]).await;
    let cam = line_id(&app, order, "CAM-001");
    app.bc.ship_items(STORE, order, &[(cam, 1)]).unwrap();
    let shipped = update(&app, &uuid, 1).await;
    settle(&app).await;
    assert!(app.bc.archive_order(STORE, order));
    let u = update(&app, &uuid, 2).await;
    settle(&app).await;
    assert_eq!(
        u["shipped_cart"], shipped["shipped_cart"],
        "shipped cart unchanged"
    );
    assert!(lines(&u["unshipped_cart"]).is_empty());
    assert_eq!(app.sequra.order(&uuid).unwrap().state, "confirmed");
    assert_eq!(shipped_kept_notes(&app, order), 1);
}

/// `n` paid orders in a store whose webhooks are then deactivated (what changes next is
/// seen only by the reconciliation), with no automatic sweep and two orders per sweep.
async fn paid_orders_without_webhooks(n: usize) -> (TestApp, Vec<(u64, String)>) {
    let app = spawn_app_with(|s| {
        s.jobs.reconcile_every_secs = 3600;
        s.jobs.reconcile_batch = 2;
    })
    .await;
    sequra_store(&app).await;
    let mut paid = Vec::new();
    for _ in 0..n {
        paid.push(paid_order(&app, &[(104, 1)]).await);
    }
    for hook in app.bc.webhooks(STORE) {
        app.bc
            .deactivate_webhook(STORE, hook["id"].as_u64().unwrap());
    }
    (app, paid)
}

#[tokio::test]
async fn the_reconciliation_reads_a_busy_store_in_batches_and_misses_no_order() {
    let (app, paid) = paid_orders_without_webhooks(5).await;
    // Shipped a second apart, their webhooks lost.
    for (order, _) in &paid {
        app.bc.ship_all(STORE, *order).unwrap();
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    for _ in 0..4 {
        sequra_bc::orders::reconcile::sweep(&app.state).await;
        settle(&app).await;
    }
    for (order, uuid) in &paid {
        assert_eq!(updates(&app, uuid).len(), 1, "order {order} was reconciled");
    }
}

/// C13: more orders modified in one second than a batch holds, and more than a page: the
/// sweep reads that second whole (a larger batch each time) instead of coming back to it for
/// ever.
#[tokio::test]
async fn the_reconciliation_reads_a_second_with_more_orders_than_a_batch_whole() {
    let (app, paid) = paid_orders_without_webhooks(1).await;
    let others = orders_paid_otherwise(&app, 260).await;
    // All changed within one second (BigCommerce's dates have whole seconds), the seQura
    // order among them.
    next_second().await;
    let started = std::time::Instant::now();
    for id in &others {
        assert!(app.bc.set_order_status(STORE, *id, 9));
    }
    let (order, uuid) = &paid[0];
    app.bc.ship_all(STORE, *order).unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "within one second"
    );
    // The first sweep stops in that second (where it stopped is all it records); the next
    // starts at it.
    for _ in 0..3 {
        sequra_bc::orders::reconcile::sweep(&app.state).await;
        settle(&app).await;
    }
    assert_eq!(updates(&app, uuid).len(), 1, "order {order} was reconciled");
}

/// Waits for the start of the next second (BigCommerce's dates have whole seconds).
async fn next_second() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    tokio::time::sleep(
        Duration::from_millis(1020) - Duration::from_nanos(now.subsec_nanos().into()),
    )
    .await;
}

/// `n` orders the app never saw (created through the API, then Awaiting Fulfillment).
async fn orders_paid_otherwise(app: &TestApp, n: usize) -> Vec<u64> {
    // Many calls at once: the store's 30 s quota is not what these tests look at.
    app.bc.set_rate_limit_quota(1_000_000);
    let token = app.bc.access_token(STORE).unwrap();
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        let checkout = app.bc.create_checkout(STORE, &[(101, 1)], "ES");
        let created: Value = app
            .http
            .post(format!(
                "{}stores/{STORE}/v3/checkouts/{checkout}/orders",
                app.bc.base_url()
            ))
            .header("X-Auth-Token", &token)
            .header("Accept", "application/json")
            .header("Content-Type", "application/json")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = created["data"]["id"].as_u64().unwrap();
        assert!(app.bc.set_order_status(STORE, id, 11));
        ids.push(id);
    }
    ids
}

/// An order changed while the sweep pages through the orders modified since its last look
/// moves to the end of that list, and every later order one place up: the one that slides
/// onto the page already read (here a seQura order whose shipment webhook was lost) is still
/// found.
#[tokio::test]
async fn the_reconciliation_misses_no_order_when_one_changes_while_the_list_is_read() {
    let app = spawn_app_with(|s| s.jobs.reconcile_every_secs = 3600).await;
    sequra_store(&app).await;
    let (order, uuid) = paid_order(&app, &[(104, 1)]).await;
    for hook in app.bc.webhooks(STORE) {
        app.bc
            .deactivate_webhook(STORE, hook["id"].as_u64().unwrap());
    }
    // A full page (250) of other orders, all modified before the seQura order ships.
    let others = orders_paid_otherwise(&app, 250).await;
    next_second().await;
    app.bc.ship_all(STORE, order).unwrap();
    next_second().await;
    // A merchant edits an order of the first page right after the sweep read that page.
    app.bc.edit_order_after_next_list(
        STORE,
        others[0],
        serde_json::json!({"staff_notes": "called the shopper"}),
    );
    sequra_bc::orders::reconcile::sweep(&app.state).await;
    settle(&app).await;
    assert_eq!(
        updates(&app, &uuid).len(),
        1,
        "order {order}, first of the second page, was reconciled"
    );
}

#[tokio::test]
async fn a_job_whose_outcome_could_not_be_recorded_runs_again_after_its_lease() {
    let app = spawn_app_with(|s| s.jobs.lease_secs = 2).await;
    sequra_store(&app).await;
    let (order, uuid) = paid_order(&app, &[(101, 2), (103, 1)]).await;
    // The database refuses to record a sync's success (a full disk, say) while `fault` is on.
    let conn = rusqlite::Connection::open(app.state.db.path()).unwrap();
    conn.execute_batch(
        "CREATE TABLE fault (on_ INTEGER NOT NULL); INSERT INTO fault VALUES (1);
         CREATE TRIGGER outcome_fails BEFORE UPDATE OF state ON jobs
         WHEN NEW.state = 'done' AND OLD.kind = 'sync_order' AND (SELECT on_ FROM fault) = 1
         BEGIN SELECT RAISE(ABORT, 'injected: the outcome cannot be written'); END;",
    )
    .unwrap();
    let cam = line_id(&app, order, "CAM-001");
    app.bc.ship_items(STORE, order, &[(cam, 1)]).unwrap();
    update(&app, &uuid, 1).await;
    eventually("the sync is left running", || {
        (app.count("SELECT COUNT(*) FROM jobs WHERE kind = 'sync_order' AND state = 'running'")
            == 1)
            .then_some(())
    })
    .await;
    // Long enough for the sync's success to have been refused (it is written right after
    // seQura's answer), well short of the lease.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        app.count("SELECT COUNT(*) FROM jobs WHERE kind = 'sync_order' AND state = 'running'"),
        1
    );
    conn.execute("UPDATE fault SET on_ = 0", []).unwrap();
    // A later change of the same order is not blocked for ever behind it.
    app.bc.ship_all(STORE, order).unwrap();
    let second = update(&app, &uuid, 2).await;
    assert!(lines(&second["unshipped_cart"]).is_empty(), "{second}");
    settle(&app).await;
    assert_eq!(
        app.count("SELECT COUNT(*) FROM jobs WHERE state IN ('pending', 'running')"),
        0
    );
    assert_eq!(updates(&app, &uuid).len(), 2, "nothing sent twice");
}

/// "None" in the status mapping ignores a status *transition*; the first placement is not
/// one. Found by the simulator (a mapping changed to None before the shopper finished): an
/// approved order left Incomplete is invisible to the merchant, who never ships it. It gets
/// BigCommerce's status for a paid order (or for one in review), moved on by the next outcome
/// while it is still the app's own, and keeps the merchant's after that.
#[tokio::test]
async fn an_approval_mapped_to_none_still_places_the_order() {
    let app = spawn_app().await;
    let session = sequra_store(&app).await;
    app.map_outcomes_to_none(&session).await;
    let (paid, _) = paid_order(&app, &[(104, 1)]).await;
    assert_eq!(app.bc.order(STORE, paid).unwrap()["status_id"], 11);

    // The review's outcome comes once the order is placed in review.
    app.sequra.set_review_delay(Duration::from_millis(1500));
    let (reviewed, _) = paid_order_as(&app, &[(104, 1)], ShopperProfile::ReviewApprove).await;
    eventually("placed in review", || {
        (app.bc.order(STORE, reviewed).unwrap()["status_id"] == 12).then_some(())
    })
    .await;
    let approved_and_placed = format!(
        "SELECT count(*) FROM solicitations WHERE bc_order_id = {reviewed} \
         AND state = 'approved' AND placed_at IS NOT NULL"
    );
    eventually("the approval handled", || {
        (app.count(&approved_and_placed) == 1).then_some(())
    })
    .await;
    settle(&app).await;
    assert_eq!(
        app.bc.order(STORE, reviewed).unwrap()["status_id"],
        11,
        "placed in review with the app's own status; the approval moves it on"
    );
}

/// Found by the simulator (seed 16): the placement wrote the order's status, failed at a
/// later step and ran again, writing the status again — over whatever the merchant had set
/// meanwhile. A placement run again leaves the status it already wrote alone.
#[tokio::test]
async fn a_placement_run_again_after_a_later_step_failed_writes_the_status_once() {
    let app = spawn_app().await;
    sequra_store(&app).await;
    // The step after the status write (the seQura reference metafield) fails once.
    app.bc.fail_next("GET", "/metafields", 503, 1);
    let (order, _) = paid_order(&app, &[(104, 1)]).await;
    let placed = format!(
        "SELECT count(*) FROM solicitations WHERE bc_order_id = {order} AND placed_at IS NOT NULL"
    );
    assert_eq!(app.count(&placed), 1);
    assert_eq!(
        app.bc.pending_failures(),
        0,
        "the metafield step failed once"
    );
    let status_writes = app
        .bc
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT" && r.path.ends_with(&format!("/v2/orders/{order}")))
        .filter(|r| r.body.contains("status_id"))
        .count();
    assert_eq!(status_writes, 1);
    assert_eq!(app.bc.order(STORE, order).unwrap()["status_id"], 11);
}
