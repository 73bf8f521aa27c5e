//! The shopper's way back after a payment that did not go through (issue 31 §2): a cart whose
//! seQura payment was declined or cancelled can be paid again, once; the checkout endpoints'
//! refusals reach the storefront's script.

use serde_json::Value;

use sequra_bc_sandbox::sequra::ShopperProfile;

use crate::checkout::{
    STORE, completed, notification_parameters, ready, settled, start, started, status_of,
};
use crate::helpers::TestApp;

/// The form seQura posts to the IPN for `uuid` in `sq_state`.
fn ipn_form(app: &TestApp, uuid: &str, sq_state: &str) -> Vec<(String, String)> {
    notification_parameters(app, uuid)
        .into_iter()
        .chain([
            ("order_ref".into(), uuid.into()),
            ("sq_state".into(), sq_state.into()),
        ])
        .collect()
}

async fn ipn(app: &TestApp, uuid: &str, sq_state: &str) -> u16 {
    app.http
        .post(format!("{}/sequra/ipn", app.address))
        .form(&ipn_form(app, uuid, sq_state))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The storefront's origin, as its browser sends it.
fn storefront_origin(app: &TestApp) -> String {
    url::Url::parse(&app.bc.storefront_url(STORE))
        .unwrap()
        .origin()
        .ascii_serialization()
}

/// Issue 31 §2.1 and §1.7: after seQura reviewed and then cancelled the payment, the next
/// start was refused for good with "already being paid with seQura". Now the cart is paid
/// anew (an order of its own), and the cancelled payment's late approval pays nothing.
#[tokio::test]
async fn a_cart_whose_reviewed_payment_sequra_cancelled_is_paid_again_and_only_once() {
    let (app, _) = ready().await;
    let checkout = app.bc.create_checkout(STORE, &[(104, 1)], "ES");
    let (first, first_uuid) = started(&app, &checkout, "i1").await;
    let outcome = completed(&app, &first_uuid, ShopperProfile::ReviewCancel).await;
    assert!(outcome.deliveries.iter().all(|d| d.2 == 200), "{outcome:?}");
    settled(&app).await;
    assert_eq!(status_of(&app, first), 5, "the reviewed order is cancelled");

    // The shopper comes back and pays with seQura again.
    let resp = start(&app, &checkout, "i1", None).await;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "the cancelled cart is payable again: {body}");
    let second = body["order_id"].as_u64().unwrap();
    assert_ne!(
        second, first,
        "a new order: the cancelled one stays cancelled"
    );
    let second_uuid = app
        .sequra
        .orders()
        .into_iter()
        .find(|o| {
            o.solicited["merchant_reference"]["order_ref_1"].as_str()
                == Some(second.to_string().as_str())
        })
        .unwrap()
        .uuid;

    // A late approval of the cancelled payment, while the new one is open: refused.
    assert_eq!(ipn(&app, &first_uuid, "approved").await, 410);
    let paid = completed(&app, &second_uuid, ShopperProfile::Approve).await;
    assert_eq!(paid.deliveries[0].2, 200, "{paid:?}");
    settled(&app).await;
    // And once more after the new one is paid.
    assert_eq!(ipn(&app, &first_uuid, "approved").await, 410);
    settled(&app).await;
    assert_eq!(status_of(&app, second), 11);
    assert_eq!(status_of(&app, first), 5);
    assert_ne!(app.sequra.order(&first_uuid).unwrap().state, "confirmed");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM solicitations WHERE state IN ('approved', 'on_hold')"),
        1,
        "one payment for the cart"
    );
    // The shopper who returns from the new payment lands on a confirmation, not a dead end.
    let return_url = app.sequra.order(&second_uuid).unwrap().solicited["merchant"]["return_url"]
        .as_str()
        .unwrap()
        .to_string();
    let resp = app.get(&return_url).await;
    let html = resp.text().await.unwrap();
    assert!(
        html.contains("order-confirmation") || html.contains("data-kind=\"placed\""),
        "{html}"
    );
    assert!(html.contains(&second.to_string()), "{html}");
}

/// Found by the simulator's shopper who comes back (soak seed 502995): the cart changed in
/// another tab while seQura reviewed, seQura cancelled, and the shopper's next start was a 502:
/// BigCommerce refuses a checkout token once an order of the checkout left Incomplete, and
/// the app let that pass only for the cancelled cart's own version.
#[tokio::test]
async fn a_cart_changed_during_a_cancelled_review_is_paid_again() {
    let (app, _) = ready().await;
    let checkout = app.bc.create_checkout(STORE, &[(104, 1)], "ES");
    let (first, first_uuid) = started(&app, &checkout, "i1").await;
    assert!(app.bc.add_to_checkout(STORE, &checkout, 104, 1));
    let outcome = completed(&app, &first_uuid, ShopperProfile::ReviewCancel).await;
    assert!(outcome.deliveries.iter().all(|d| d.2 == 200), "{outcome:?}");
    settled(&app).await;
    assert_eq!(status_of(&app, first), 5);

    let resp = start(&app, &checkout, "i1", None).await;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        status, 200,
        "the changed, cancelled cart is payable again: {body}"
    );
    assert_ne!(body["order_id"].as_u64().unwrap(), first);
}

/// BigCommerce's own error text reached the anonymous shopper ("BigCommerce rejected the
/// request (422): …"): it is the merchant's and the operator's, not a storefront's.
#[tokio::test]
async fn a_shopper_is_not_shown_bigcommerces_error_text() {
    let (app, _) = ready().await;
    let checkout = app.bc.create_checkout(STORE, &[(104, 1)], "ES");
    app.bc.fail_next("POST", "/orders", 422, 1);
    let resp = start(&app, &checkout, "i1", None).await;
    assert_eq!(resp.status(), 502);
    let body = resp.text().await.unwrap();
    assert!(body.contains("err_store_unavailable"), "{body}");
    assert!(
        !body.contains("422") && !body.contains("rejected"),
        "{body}"
    );
}

/// A payment seQura declined before any review (the order never left Incomplete) leaves the
/// cart payable with seQura, and `methods` tells the script what happened.
#[tokio::test]
async fn a_declined_cart_is_offered_again_with_the_reason_and_can_be_paid() {
    let (app, _) = ready().await;
    let checkout = app.bc.create_checkout(STORE, &[(104, 1)], "ES");
    let (first, first_uuid) = started(&app, &checkout, "i1").await;
    assert_eq!(ipn(&app, &first_uuid, "cancelled").await, 200);
    settled(&app).await;
    let resp = app
        .http
        .post(format!("{}/checkout/{STORE}/methods", app.address))
        .json(&serde_json::json!({ "checkoutId": checkout }))
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["last_payment"], "declined", "{body}");
    assert!(!body["methods"].as_array().unwrap().is_empty(), "{body}");
    let (second, second_uuid) = started(&app, &checkout, "i1").await;
    assert_ne!(first, second);
    app.sequra
        .complete_form(&second_uuid, "i1", None, ShopperProfile::Approve)
        .await
        .unwrap();
    settled(&app).await;
    assert_eq!(status_of(&app, second), 11);
    assert_ne!(status_of(&app, first), 11, "the declined order is not paid");
}

/// The guarantee kept: a cart in review is being paid, and is refused a second payment.
#[tokio::test]
async fn a_cart_in_review_is_still_refused_a_second_payment() {
    let (app, _) = ready().await;
    let checkout = app.bc.create_checkout(STORE, &[(104, 1)], "ES");
    let (order, uuid) = started(&app, &checkout, "i1").await;
    app.sequra
        .set_review_delay(std::time::Duration::from_secs(60));
    let sequra = app.sequra.clone();
    tokio::spawn(async move {
        let _ = sequra
            .complete_form(&uuid, "i1", None, ShopperProfile::ReviewApprove)
            .await;
    });
    crate::order_sync::eventually("in review", || {
        (app.count("SELECT COUNT(*) FROM solicitations WHERE state = 'on_hold'") == 1).then_some(())
    })
    .await;
    settled(&app).await;
    let resp = start(&app, &checkout, "i1", None).await;
    assert_eq!(resp.status(), 403);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "err_checkout_already_paid", "{body}");
    assert_eq!(status_of(&app, order), 12);
    assert_eq!(app.count("SELECT COUNT(*) FROM solicitations"), 1);
}

/// Issue 31 §2.2: refusals carried no CORS headers, so the browser hid them from the script;
/// and the log did not say why.
#[tokio::test]
async fn refusals_to_the_storefront_carry_cors_headers_and_the_log_names_the_reason() {
    let (app, _) = ready().await;
    let origin = storefront_origin(&app);
    let checkout = app.bc.create_checkout(STORE, &[(104, 1)], "ES");
    let post = |path: &'static str, body: String| {
        app.http
            .post(format!("{}/checkout/{STORE}/{path}", app.address))
            .header("origin", &origin)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let cases = [
        (
            "start",
            format!("{{\"checkoutId\":\"{checkout}\",\"product\":\"nope\"}}"),
            403,
        ),
        ("start", "{".to_string(), 400),
        ("methods", "[]".to_string(), 400),
        (
            "methods",
            "{\"checkoutId\":\"0c6b3c0e-5a4e-4cf2-a8a4-000000000000\"}".to_string(),
            404,
        ),
    ];
    for (path, body, want) in cases {
        let resp = post(path, body.clone()).await.unwrap();
        assert_eq!(resp.status().as_u16(), want, "{path} {body}");
        assert_eq!(
            resp.headers()
                .get("access-control-allow-origin")
                .map(|v| v.to_str().unwrap().to_string()),
            Some(origin.clone()),
            "{path} {body} answered {want} without CORS"
        );
        if want != 404 {
            let body: Value = resp.json().await.unwrap();
            assert!(body["message"]["es"].as_str().is_some(), "{body}");
            assert!(body["message"]["en"].as_str().is_some(), "{body}");
        }
    }
    // Over the limit of starts for one checkout: 429, readable too.
    let mut last = 0;
    for _ in 0..12 {
        let body = format!("{{\"checkoutId\":\"{checkout}\",\"product\":\"nope\"}}");
        let resp = post("start", body).await.unwrap();
        last = resp.status().as_u16();
        assert!(resp.headers().get("access-control-allow-origin").is_some());
    }
    assert_eq!(last, 429);
    let logs = crate::helpers::captured_logs();
    assert!(
        logs.lines()
            .any(|l| l.contains("refused") && l.contains("err_method_not_eligible")),
        "the log names the reason"
    );
    // An origin that is not the store's still gets none.
    let resp = app
        .http
        .post(format!("{}/checkout/{STORE}/start", app.address))
        .header("origin", "https://evil.example")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(resp.headers().get("access-control-allow-origin").is_none());
}
