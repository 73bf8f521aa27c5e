//! The shopper's payment end to end over HTTP: eligible methods, start, the IPN placing the
//! order exactly once, review, cancellation, cart changes and forged notifications.

use serde_json::{Value, json};

use sequra_bc_sandbox::sequra::{DEMO_MERCHANT_ES, DEMO_MERCHANT_FR, IpnOutcome, ShopperProfile};

use crate::helpers::TestApp;

pub const STORE: &str = "store1";

/// A store with seQura connected and Spain and France configured.
pub async fn ready() -> (TestApp, String) {
    ready_with(|_| {}).await
}

/// Like [`ready`], with the settings adjusted first.
pub async fn ready_with(
    adjust: impl FnOnce(&mut sequra_bc::config::Settings),
) -> (TestApp, String) {
    let app = crate::helpers::spawn_app_with(adjust).await;
    let session = app.merchant_session(STORE).await;
    app.connect_demo(&session).await;
    let resp = app
        .post_form(
            "/app/countries",
            &session,
            &[
                ("country", "ES"),
                ("ref_ES", DEMO_MERCHANT_ES),
                ("country", "FR"),
                ("ref_FR", DEMO_MERCHANT_FR),
            ],
        )
        .await;
    assert_eq!(resp.status(), 303);
    (app, session)
}

/// The methods the checkout script would show for `checkout` of [`STORE`].
pub async fn methods(app: &TestApp, checkout: &str) -> Vec<String> {
    let resp = app
        .http
        .post(format!("{}/checkout/{STORE}/methods", app.address))
        .json(&json!({ "checkoutId": checkout }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    body["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["product"].as_str().unwrap().to_string())
        .collect()
}

pub async fn start(
    app: &TestApp,
    checkout: &str,
    product: &str,
    campaign: Option<&str>,
) -> reqwest::Response {
    app.http
        .post(format!("{}/checkout/{STORE}/start", app.address))
        .json(&json!({ "checkoutId": checkout, "product": product, "campaign": campaign }))
        .send()
        .await
        .unwrap()
}

/// Starts an i1 payment and returns (BigCommerce order id, seQura uuid).
/// How many orders the app made from the checkout (`POST /v3/checkouts/{id}/orders`).
fn orders_created(app: &TestApp, checkout: &str) -> usize {
    app.bc
        .requests()
        .into_iter()
        .filter(|r| {
            r.method == "POST"
                && r.path
                    .ends_with(&format!("/v3/checkouts/{checkout}/orders"))
        })
        .count()
}

pub async fn started(app: &TestApp, checkout: &str, product: &str) -> (u64, String) {
    let resp = start(app, checkout, product, None).await;
    if resp.status() != 200 {
        let logs = crate::helpers::captured_logs();
        let why: Vec<&str> = logs
            .lines()
            .filter(|l| l.contains("seQura refused"))
            .collect();
        panic!(
            "start failed {}: {} {why:#?}",
            resp.status(),
            resp.text().await.unwrap()
        );
    }
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["form"].as_str().unwrap().contains("<"),
        "a form: {body}"
    );
    started_order(app, &body)
}

/// The BigCommerce order a start answered with, and the seQura order made for it.
pub fn started_order(app: &TestApp, body: &Value) -> (u64, String) {
    let order_id = body["orderId"]
        .as_u64()
        .or_else(|| body["order_id"].as_u64())
        .unwrap();
    let uuid = app
        .sequra
        .orders()
        .into_iter()
        .find(|o| {
            o.order_ref_1.as_deref() == Some(&order_id.to_string())
                || o.solicited["merchant_reference"]["order_ref_1"].as_str()
                    == Some(order_id.to_string().as_str())
        })
        .expect("seQura holds the order")
        .uuid;
    (order_id, uuid)
}

/// seQura approves `uuid` (its IPN answered 200) while BigCommerce fails the order's first
/// `times` writes, so its placement is still to run afterwards.
pub async fn approved_with_placement_held(app: &TestApp, order: u64, uuid: &str, times: usize) {
    app.bc
        .fail_next("PUT", &format!("/v2/orders/{order}"), 503, times);
    let outcome = completed(app, uuid, ShopperProfile::Approve).await;
    assert_eq!(outcome.deliveries[0].2, 200, "{outcome:?}");
}

/// The shopper completes seQura's form of `uuid` (method `i1`) as `profile`; what seQura
/// then notified and how the app answered.
pub async fn completed(app: &TestApp, uuid: &str, profile: ShopperProfile) -> IpnOutcome {
    app.sequra
        .complete_form(uuid, "i1", None, profile)
        .await
        .unwrap()
}

/// [`completed`], in a task of its own (a review holds the form's answer until seQura
/// decides).
pub fn complete_later(
    app: &TestApp,
    uuid: &str,
    profile: ShopperProfile,
) -> tokio::task::JoinHandle<IpnOutcome> {
    let (sequra, uuid) = (app.sequra.clone(), uuid.to_owned());
    tokio::spawn(async move {
        sequra
            .complete_form(&uuid, "i1", None, profile)
            .await
            .unwrap()
    })
}

/// Waits until the job queue has nothing left to do (the IPN's BigCommerce follow-up runs
/// from it, after the acknowledgement).
pub async fn settled(app: &TestApp) {
    crate::order_sync::eventually("the job queue drained", || {
        (app.count("SELECT COUNT(*) FROM jobs WHERE state IN ('pending', 'running')") == 0)
            .then_some(())
    })
    .await;
}

pub fn status_of(app: &TestApp, order: u64) -> u64 {
    app.bc.order(STORE, order).expect("order exists")["status_id"]
        .as_u64()
        .unwrap()
}

#[tokio::test]
async fn a_spanish_checkout_offers_the_spanish_methods_within_their_limits() {
    let (app, _) = ready().await;
    // 2 × 49.95 € trousers + shipping: above pp3's 50 € minimum.
    let checkout = app.bc.create_checkout(STORE, &[(103, 2)], "ES");
    let offered = methods(&app, &checkout).await;
    for p in ["i1", "pp3", "sp1"] {
        assert!(offered.contains(&p.to_string()), "{p} in {offered:?}");
    }
    // A French shopper sees the French merchant's methods only.
    let fr = app.bc.create_checkout(STORE, &[(103, 2)], "FR");
    assert_eq!(methods(&app, &fr).await, vec!["pp3"]);
    // Germany is not a selling country.
    let de = app.bc.create_checkout(STORE, &[(103, 2)], "DE");
    assert!(methods(&app, &de).await.is_empty());
}

#[tokio::test]
async fn the_amount_decides_per_method_and_exclusions_and_ips_hide_sequra() {
    let (app, session) = ready().await;
    let small = app.bc.create_checkout(STORE, &[(107, 1)], "ES");
    let offered = methods(&app, &small).await;
    assert!(offered.contains(&"i1".to_string()));
    assert!(
        !offered.contains(&"pp3".to_string()),
        "12 € is below pp3's minimum: {offered:?}"
    );

    // An allowed-IP list without the shopper's address hides seQura.
    app.post_form("/app/general", &session, &[("allowed_ips", "203.0.113.9")])
        .await;
    assert!(methods(&app, &small).await.is_empty());
    app.post_form("/app/general", &session, &[("allowed_ips", "127.0.0.1")])
        .await;
    assert!(!methods(&app, &small).await.is_empty());

    // An excluded category in the cart hides seQura.
    app.post_form(
        "/app/general",
        &session,
        &[
            ("allowed_ips", ""),
            ("excluded_category", r#"{"id":22,"name":"Accesorios"}"#),
        ],
    )
    .await;
    assert!(
        methods(&app, &small).await.is_empty(),
        "socks are accessories"
    );
    let shoes = app.bc.create_checkout(STORE, &[(104, 1)], "ES");
    assert!(!methods(&app, &shoes).await.is_empty());
}

#[tokio::test]
async fn an_i1_purchase_is_placed_once_approved_and_lands_on_the_confirmation_page() {
    let (app, _) = ready().await;
    let checkout = app.bc.create_checkout(STORE, &[(104, 1)], "ES");
    let (order, uuid) = started(&app, &checkout, "i1").await;
    assert_eq!(
        status_of(&app, order),
        0,
        "Incomplete until seQura approves"
    );

    let outcome = app
        .sequra
        .complete_form(&uuid, "i1", None, ShopperProfile::Approve)
        .await
        .unwrap();
    assert_eq!(outcome.deliveries[0].2, 200, "{outcome:?}");
    settled(&app).await;
    let bc_order = app.bc.order(STORE, order).unwrap();
    assert_eq!(bc_order["status_id"], 11, "Awaiting Fulfillment");
    assert!(
        bc_order["payment_method"]
            .as_str()
            .unwrap()
            .starts_with("seQura – "),
        "{bc_order}"
    );
    assert_eq!(
        bc_order["payment_provider_id"].as_str(),
        Some(uuid.as_str())
    );
    let sq = app.sequra.order(&uuid).unwrap();
    assert_eq!(sq.state, "confirmed");
    assert_eq!(sq.order_ref_1.as_deref(), Some(order.to_string().as_str()));
    // The seQura cart adds up.
    let cart = &sq.solicited["cart"];
    let sum: i64 = cart["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["total_with_tax"].as_i64().unwrap())
        .sum();
    assert_eq!(sum, cart["order_total_with_tax"].as_i64().unwrap());

    // The return URL sends the shopper to the store's confirmation page with the token.
    let return_url = sq.solicited["merchant"]["return_url"]
        .as_str()
        .unwrap()
        .to_string();
    let resp = app.get(&return_url).await;
    assert_eq!(resp.status(), 303);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.contains(&format!("/order-confirmation/{order}?t=")),
        "{location}"
    );
    assert_eq!(
        app.get(&location).await.status(),
        200,
        "the token opens the confirmation page"
    );
}

#[tokio::test]
async fn a_french_shopper_pays_through_the_french_merchant() {
    let (app, _) = ready().await;
    let checkout = app.bc.create_checkout(STORE, &[(105, 1)], "FR");
    let (_, uuid) = started(&app, &checkout, "pp3").await;
    assert_eq!(
        app.sequra.order(&uuid).unwrap().merchant_ref,
        DEMO_MERCHANT_FR
    );
}

#[tokio::test]
async fn review_then_approve_moves_the_order_through_the_mapped_statuses() {
    let (app, _) = ready().await;
    let checkout = app.bc.create_checkout(STORE, &[(104, 1)], "ES");
    let (order, uuid) = started(&app, &checkout, "i1").await;
    let outcome = app
        .sequra
        .complete_form(&uuid, "i1", None, ShopperProfile::ReviewApprove)
        .await
        .unwrap();
    let states: Vec<(String, u16)> = outcome
        .deliveries
        .iter()
        .map(|d| (d.1.clone(), d.2))
        .collect();
    assert_eq!(
        states,
        vec![("needs_review".into(), 200), ("approved".into(), 200)]
    );
    settled(&app).await;
    assert_eq!(status_of(&app, order), 11);
    assert_eq!(app.sequra.order(&uuid).unwrap().state, "confirmed");
    // Only the status changes reached BigCommerce: the review's and the approval's, or just
    // the approval's when it came before the queue had placed the order in review (the
    // follow-up runs from the queue, after the acknowledgement, and reads the latest state).
    let puts = app
        .bc
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT" && r.path.ends_with(&format!("/v2/orders/{order}")))
        .count();
    assert!((1..=2).contains(&puts), "{puts} status writes");
}

#[tokio::test]
async fn review_then_cancel_cancels_the_order_after_the_events_webhook() {
    let (app, _) = ready().await;
    let checkout = app.bc.create_checkout(STORE, &[(104, 1)], "ES");
    let (order, uuid) = started(&app, &checkout, "i1").await;
    let sq = app.sequra.order(&uuid).unwrap();
    let return_url = sq.solicited["merchant"]["return_url"]
        .as_str()
        .unwrap()
        .to_string();
    let outcome = app
        .sequra
        .complete_form(&uuid, "i1", None, ShopperProfile::ReviewCancel)
        .await
        .unwrap();
    assert!(outcome.deliveries.iter().all(|d| d.2 == 200), "{outcome:?}");
    // The BigCommerce status follows from the job queue, right after the acknowledgement.
    crate::order_sync::eventually("Cancelled", || (status_of(&app, order) == 5).then_some(()))
        .await;
    let html = app.get(&return_url).await.text().await.unwrap();
    assert!(html.contains("data-kind=\"failed\""), "{html}");
}

#[tokio::test]
async fn the_review_notice_shows_while_the_order_is_in_review() {
    let (app, _) = ready().await;
    app.sequra
        .set_review_delay(std::time::Duration::from_secs(30));
    let checkout = app.bc.create_checkout(STORE, &[(104, 1)], "ES");
    let (order, uuid) = started(&app, &checkout, "i1").await;
    let return_url = app.sequra.order(&uuid).unwrap().solicited["merchant"]["return_url"]
        .as_str()
        .unwrap()
        .to_string();
    let html = app.get(&return_url).await.text().await.unwrap();
    assert!(
        html.contains("data-kind=\"pending\""),
        "before the IPN: {html}"
    );
    let app2 = app.sequra.clone();
    let u = uuid.clone();
    tokio::spawn(async move {
        let _ = app2
            .complete_form(&u, "i1", None, ShopperProfile::ReviewApprove)
            .await;
    });
    for _ in 0..50 {
        if status_of(&app, order) == 12 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(status_of(&app, order), 12, "Manual Verification Required");
    let html = app.get(&return_url).await.text().await.unwrap();
    assert!(html.contains("data-kind=\"review\""), "{html}");
    assert!(
        html.contains("está en revisión"),
        "the store's language: {html}"
    );
}

#[tokio::test]
async fn starting_twice_reuses_the_incomplete_order_and_a_cart_change_makes_a_new_one() {
    let (app, _) = ready().await;
    let checkout = app.bc.create_checkout(STORE, &[(104, 1)], "ES");
    let (first, _) = started(&app, &checkout, "i1").await;
    let (again, _) = started(&app, &checkout, "i1").await;
    assert_eq!(first, again);
    app.bc.add_to_checkout(STORE, &checkout, 107, 1);
    let (changed, _) = started(&app, &checkout, "i1").await;
    assert_ne!(first, changed);
    assert_eq!(orders_created(&app, &checkout), 2);
}

/// Found by the simulator: a second tab changes the cart of a checkout whose payment seQura
/// has just approved (before the app placed the order) and starts again. The approval closed
/// the cart (issue 31), so it cannot change; the start is refused, with no second order (not
/// a 502 from BigCommerce's refusal of a token for a finalised checkout).
#[tokio::test]
async fn a_paid_checkout_changed_in_another_tab_cannot_be_paid_again() {
    let (app, _) = ready().await;
    let checkout = app.bc.create_checkout(STORE, &[(104, 1)], "ES");
    let (order, uuid) = started(&app, &checkout, "i1").await;
    // The placement waits: BigCommerce's order writes fail for a while.
    app.bc.fail_next("PUT", "/v2/orders", 503, 3);
    let outcome = app
        .sequra
        .complete_form(&uuid, "i1", None, ShopperProfile::Approve)
        .await
        .unwrap();
    assert_eq!(outcome.deliveries[0].2, 200, "{outcome:?}");
    assert!(
        !app.bc.add_to_checkout(STORE, &checkout, 107, 1),
        "the approval closed the cart"
    );
    let resp = start(&app, &checkout, "pp3", None).await;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert!(matches!(status.as_u16(), 403 | 404), "{status} {body}");
    assert_eq!(orders_created(&app, &checkout), 1, "no second order");
    crate::order_sync::settle(&app).await;
    assert_eq!(app.bc.order(STORE, order).unwrap()["status_id"], 11);
}

/// Two tabs, two carts of one checkout, each with its seQura form open: the shopper completes
/// both. The first approval pays the checkout; the second is refused (409) so that seQura
/// does not charge the shopper twice, and its order is never placed.
#[tokio::test]
async fn two_carts_of_one_checkout_completed_in_two_tabs_are_charged_once() {
    let (app, _) = ready().await;
    let checkout = app.bc.create_checkout(STORE, &[(104, 1)], "ES");
    let (first, first_uuid) = started(&app, &checkout, "i1").await;
    assert!(app.bc.add_to_checkout(STORE, &checkout, 107, 1));
    let (second, second_uuid) = started(&app, &checkout, "pp3").await;
    assert_ne!(first, second, "the changed cart has an order of its own");
    let paid = app
        .sequra
        .complete_form(&first_uuid, "i1", None, ShopperProfile::Approve)
        .await
        .unwrap();
    assert_eq!(paid.deliveries[0].2, 200, "{paid:?}");
    let again = app
        .sequra
        .complete_form(&second_uuid, "pp3", None, ShopperProfile::Approve)
        .await
        .unwrap();
    assert_eq!(again.deliveries[0].2, 409, "{again:?}");
    crate::order_sync::settle(&app).await;
    assert_eq!(app.bc.order(STORE, first).unwrap()["status_id"], 11);
    assert_eq!(app.bc.order(STORE, second).unwrap()["status_id"], 0);
    assert_ne!(app.sequra.order(&second_uuid).unwrap().state, "confirmed");
}

#[tokio::test]
async fn a_product_the_checkout_cannot_have_is_refused() {
    let (app, _) = ready().await;
    let small = app.bc.create_checkout(STORE, &[(107, 1)], "ES");
    let resp = start(&app, &small, "pp3", None).await;
    assert_eq!(resp.status(), 403);
    let resp = start(&app, &small, "nonsense", None).await;
    assert_eq!(resp.status(), 403);
    assert!(app.sequra.orders().is_empty(), "nothing reached seQura");
}

#[tokio::test]
async fn an_order_edited_before_approval_is_confirmed_as_approved_and_the_edit_follows_as_an_update()
 {
    let (app, _) = ready().await;
    let checkout = app.bc.create_checkout(STORE, &[(104, 1)], "ES");
    let (order, uuid) = started(&app, &checkout, "i1").await;
    let solicited = app.sequra.order(&uuid).unwrap().solicited["cart"]["order_total_with_tax"]
        .as_i64()
        .unwrap();
    // The merchant (or a race) changes the order's items before the IPN.
    app.bc.set_order_product_quantity(STORE, order, 0, 2);
    let outcome = app
        .sequra
        .complete_form(&uuid, "i1", None, ShopperProfile::Approve)
        .await
        .unwrap();
    assert_eq!(outcome.deliveries[0].2, 200, "{outcome:?}");
    settled(&app).await;
    assert_eq!(status_of(&app, order), 11);
    let sq = app.sequra.order(&uuid).unwrap();
    assert_eq!(sq.state, "confirmed");
    // What seQura approved was confirmed; the edit then reached it as an order update.
    assert!(!sq.updates.is_empty(), "the edit was sent as an update");
    let unshipped = sq.unshipped_cart.expect("seQura holds a cart")["order_total_with_tax"]
        .as_i64()
        .unwrap();
    assert!(unshipped > solicited, "{unshipped} after {solicited}");
}

#[tokio::test]
async fn an_approval_sequra_does_not_confirm_is_answered_410_and_places_nothing() {
    let (app, _) = ready().await;
    let checkout = app.bc.create_checkout(STORE, &[(104, 1)], "ES");
    let (order, uuid) = started(&app, &checkout, "i1").await;
    // A correctly signed `approved` before seQura approved anything (the shopper never
    // finished the form): seQura refuses the confirmation.
    let form: Vec<(String, String)> = notification_parameters(&app, &uuid)
        .into_iter()
        .chain([
            ("order_ref".into(), uuid.clone()),
            ("sq_state".into(), "approved".into()),
            ("product_code".into(), "i1".into()),
        ])
        .collect();
    let resp = app
        .http
        .post(format!("{}/sequra/ipn", app.address))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 410);
    settled(&app).await;
    assert_eq!(status_of(&app, order), 0);
    assert_eq!(app.sequra.order(&uuid).unwrap().state, "solicited");
}

/// The notification parameters the app gave seQura for an order.
pub fn notification_parameters(app: &TestApp, uuid: &str) -> Vec<(String, String)> {
    app.sequra.order(uuid).unwrap().solicited["merchant"]["notification_parameters"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect()
}

/// The IPN form seQura would post for an order, as delivered the first time.
fn replay_of(app: &TestApp, uuid: &str) -> Vec<(String, String)> {
    let sq = app.sequra.order(uuid).unwrap();
    sq.notifications[0].fields.clone()
}

#[tokio::test]
async fn the_same_ipn_five_times_three_at_once_places_the_order_once() {
    let (app, _) = ready().await;
    let checkout = app.bc.create_checkout(STORE, &[(104, 1)], "ES");
    let (order, uuid) = started(&app, &checkout, "i1").await;
    app.sequra
        .complete_form(&uuid, "i1", None, ShopperProfile::Approve)
        .await
        .unwrap();
    let fields = replay_of(&app, &uuid);
    let ipn = format!("{}/sequra/ipn", app.address);
    let post = || app.http.post(&ipn).form(&fields).send();
    let (a, b, c) = tokio::join!(post(), post(), post());
    for r in [a, b, c] {
        assert_eq!(r.unwrap().status(), 200);
    }
    assert_eq!(post().await.unwrap().status(), 200);
    settled(&app).await;
    let bc_puts = app
        .bc
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT" && r.path.ends_with(&format!("/v2/orders/{order}")))
        .count();
    assert_eq!(bc_puts, 1, "one status change");
    let confirmations = app
        .sequra
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT" && r.path.ends_with(&format!("/orders/{uuid}")))
        .count();
    assert_eq!(
        confirmations, 2,
        "one confirmation and its repeat with order_ref_1"
    );
}

#[tokio::test]
async fn forged_notifications_are_refused_and_change_nothing() {
    let (app, _) = ready().await;
    app.merchant_session("other").await;
    let checkout = app.bc.create_checkout(STORE, &[(104, 1)], "ES");
    let (order, uuid) = started(&app, &checkout, "i1").await;
    let good: Vec<(String, String)> =
        app.sequra.order(&uuid).unwrap().solicited["merchant"]["notification_parameters"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .chain([
                ("order_ref".into(), uuid.clone()),
                ("sq_state".into(), "approved".into()),
                ("product_code".into(), "i1".into()),
            ])
            .collect();
    let with = |key: &str, value: &str| -> Vec<(String, String)> {
        good.iter()
            .map(|(k, v)| {
                if k == key {
                    (k.clone(), value.to_string())
                } else {
                    (k.clone(), v.clone())
                }
            })
            .collect()
    };
    type Form = Vec<(String, String)>;
    let cases: Vec<(&str, Form, u16)> = vec![
        ("bad signature", with("signature", &"0".repeat(64)), 403),
        ("another store", with("store", "other"), 403),
        (
            "unknown order uuid",
            with("order_ref", "00000000-0000-0000-0000-000000000000"),
            404,
        ),
        ("malformed state", with("sq_state", "paid"), 400),
        (
            "no signature",
            good.iter()
                .filter(|(k, _)| k != "signature")
                .cloned()
                .collect(),
            400,
        ),
    ];
    for (name, form, status) in cases {
        let resp = app
            .http
            .post(format!("{}/sequra/ipn", app.address))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), status, "{name}");
    }
    let resp = app
        .http
        .post(format!("{}/sequra/ipn", app.address))
        .body("%%%")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(status_of(&app, order), 0, "nothing changed");
    assert_eq!(app.sequra.order(&uuid).unwrap().state, "solicited");
}

#[tokio::test]
async fn store_credit_partly_applied_makes_sequra_ask_for_the_outstanding_balance() {
    let (app, _) = ready().await;
    let checkout = app.bc.create_checkout(STORE, &[(105, 1)], "ES");
    let customer = app
        .bc
        .add_customer(STORE, "Fulano De Tal", "test@sequra.es", 3000);
    app.bc.attach_customer(STORE, &checkout, customer);
    app.bc.apply_store_credit(STORE, &checkout);
    let (order, uuid) = started(&app, &checkout, "i1").await;
    let bc_order = app.bc.order(STORE, order).unwrap();
    let total =
        sequra_bc::domain::parse_decimal(bc_order["total_inc_tax"].as_str().unwrap()).unwrap();
    let credit =
        sequra_bc::domain::parse_decimal(bc_order["store_credit_amount"].as_str().unwrap())
            .unwrap();
    assert_eq!(credit, 3000);
    let cart = &app.sequra.order(&uuid).unwrap().solicited["cart"];
    assert_eq!(
        cart["order_total_with_tax"].as_i64().unwrap(),
        total - credit
    );
    let items = cart["items"].as_array().unwrap();
    let sum: i64 = items
        .iter()
        .map(|i| i["total_with_tax"].as_i64().unwrap())
        .sum();
    assert_eq!(sum, total - credit);
    assert!(
        items
            .iter()
            .any(|i| i["type"] == "other_payment" && i["total_with_tax"] == -3000)
    );
}

#[tokio::test]
async fn the_checkout_endpoints_refuse_other_origins_and_malformed_bodies() {
    let (app, _) = ready().await;
    let checkout = app.bc.create_checkout(STORE, &[(104, 1)], "ES");
    let resp = app
        .http
        .post(format!("{}/checkout/{STORE}/methods", app.address))
        .header("origin", "https://evil.example")
        .json(&json!({ "checkoutId": checkout }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(resp.headers().get("access-control-allow-origin").is_none());
    let storefront = app.bc.storefront_url(STORE);
    let origin = url::Url::parse(&storefront)
        .unwrap()
        .origin()
        .ascii_serialization();
    let resp = app
        .http
        .post(format!("{}/checkout/{STORE}/methods", app.address))
        .header("origin", &origin)
        .json(&json!({ "checkoutId": checkout }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["access-control-allow-origin"],
        origin.as_str()
    );
    for body in ["", "{", "{\"checkoutId\": 5}", "[]"] {
        let resp = app
            .http
            .post(format!("{}/checkout/{STORE}/start", app.address))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{body:?}");
    }
    let resp = app
        .http
        .post(format!("{}/checkout/nosuchstore/methods", app.address))
        .json(&json!({ "checkoutId": checkout }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn a_late_needs_review_after_approval_changes_nothing() {
    let (app, _) = ready().await;
    let checkout = app.bc.create_checkout(STORE, &[(104, 1)], "ES");
    let (order, uuid) = started(&app, &checkout, "i1").await;
    app.sequra
        .complete_form(&uuid, "i1", None, ShopperProfile::Approve)
        .await
        .unwrap();
    settled(&app).await;
    assert_eq!(status_of(&app, order), 11);
    let late: Vec<(String, String)> = replay_of(&app, &uuid)
        .into_iter()
        .map(|(k, v)| {
            if k.ends_with("sq_state") {
                (k, "needs_review".to_string())
            } else {
                (k, v)
            }
        })
        .collect();
    let resp = app
        .http
        .post(format!("{}/sequra/ipn", app.address))
        .form(&late)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    settled(&app).await;
    assert_eq!(status_of(&app, order), 11, "never moved backwards");
}

#[tokio::test]
async fn page_views_use_the_cached_methods_without_asking_sequra() {
    let (app, _) = ready().await;
    let checkout = app.bc.create_checkout(STORE, &[(104, 1)], "ES");
    app.sequra.clear_requests();
    for _ in 0..3 {
        assert!(!methods(&app, &checkout).await.is_empty());
    }
    assert!(app.sequra_calls().is_empty(), "{:?}", app.sequra_calls());
}

#[tokio::test]
async fn an_amount_above_a_methods_maximum_leaves_that_button_out() {
    let (app, _) = ready().await;
    // 25 × 129 € boots ≈ 3.225 €: above pp3's 3.000 € and sp1's 1.500 € maximums.
    let big = app.bc.create_checkout(STORE, &[(105, 25)], "ES");
    let offered = methods(&app, &big).await;
    assert!(offered.contains(&"i1".to_string()), "{offered:?}");
    assert!(!offered.contains(&"pp3".to_string()), "{offered:?}");
    assert!(!offered.contains(&"sp1".to_string()), "{offered:?}");
}

#[tokio::test]
async fn an_excluded_product_hides_sequra() {
    let (app, session) = ready().await;
    app.post_form(
        "/app/general",
        &session,
        &[
            ("allowed_ips", ""),
            (
                "excluded_product",
                r#"{"id":104,"name":"Zapatillas urbanas","sku":"ZAP-001"}"#,
            ),
        ],
    )
    .await;
    let checkout = app.bc.create_checkout(STORE, &[(104, 1), (103, 1)], "ES");
    assert!(methods(&app, &checkout).await.is_empty());
    let resp = start(&app, &checkout, "i1", None).await;
    assert_eq!(resp.status(), 403, "start re-checks eligibility");
}

#[tokio::test]
async fn starts_for_one_checkout_are_rate_limited() {
    let (app, _) = ready().await;
    let checkout = app.bc.create_checkout(STORE, &[(104, 1)], "ES");
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(start(&app, &checkout, "i1", None).await.status().as_u16());
    }
    assert!(statuses[..10].iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(statuses[10], 429, "{statuses:?}");
}
