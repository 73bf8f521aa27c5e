//! Services and virtual goods (issue 16): the contract's terms per country, the default end
//! date, service products in the seQura cart, refunds of a service, digital-only carts.

use sequra_bc_sandbox::sequra::{DEMO_MERCHANT_ES, SERVICES_MERCHANT, SERVICES_USERNAME};

use crate::helpers::*;

/// A store selling in Spain with the services account.
pub async fn services_store(app: &TestApp, hash: &str) -> String {
    let session = app.merchant_session(hash).await;
    app.connect_sandbox(&session, SERVICES_USERNAME).await;
    let resp = app
        .post_form(
            "/app/countries",
            &session,
            &[("country", "ES"), ("ref_ES", SERVICES_MERCHANT)],
        )
        .await;
    assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
    session
}

fn row<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no {id} in {html}"));
    let end = start + html[start..].find("</tr>").unwrap();
    &html[start..end]
}

#[tokio::test]
async fn the_general_page_shows_each_countrys_contract_terms_and_keeps_a_valid_end_date() {
    let app = spawn_app().await;
    let session = services_store(&app, "svc1").await;
    let (status, html) = app.page("/app/general", &session).await;
    assert_eq!(status, 200);
    let es = row(&html, "services-ES");
    assert!(es.contains(SERVICES_MERCHANT), "{es}");
    assert_eq!(es.matches("Allowed").count(), 3, "{es}");
    assert!(
        html.contains("sequra_registration_amount"),
        "the fields are documented"
    );
    assert!(
        html.contains("value=\"P1Y\""),
        "the default end date is P1Y"
    );

    // A demo store's contract has no services.
    let demo = app.spanish_store("svc2").await;
    let (_, html) = app.page("/app/general", &demo).await;
    let es = row(&html, "services-ES");
    assert!(es.contains(DEMO_MERCHANT_ES), "{es}");
    assert_eq!(es.matches("Not allowed").count(), 3, "{es}");

    for bad in ["P", "1Y", "2027-02-30", "P1Y junk", "PT1D"] {
        let resp = app
            .post_form(
                "/app/general",
                &session,
                &[("allowed_ips", ""), ("services_end_date", bad)],
            )
            .await;
        assert_eq!(resp.status(), 422, "{bad}");
        let html = resp.text().await.unwrap();
        assert!(
            html.contains("id=\"services_end_date-error\""),
            "{bad}: {html}"
        );
        assert!(html.contains("Enter an ISO 8601 date"), "{html}");
    }
    assert_eq!(app.count("SELECT count(*) FROM general_settings"), 0);
    for (good, stored) in [("2027-06-30", "2027-06-30"), (" P6M ", "P6M"), ("", "P1Y")] {
        let resp = app
            .post_form(
                "/app/general",
                &session,
                &[("allowed_ips", ""), ("services_end_date", good)],
            )
            .await;
        assert_eq!(resp.status(), 303, "{good}");
        let saved: String = app.query("SELECT services_end_date FROM general_settings", |r| {
            r.get(0)
        });
        assert_eq!(saved, stored);
    }
}

/// The demo catalog plus an online course (digital: a service where the contract sells
/// them) of 120 € lasting six months with a 10 € registration fee and a first charge on 15
/// January 2027, and an in-person workshop (physical) marked as a service ending on 30 June
/// 2027.
pub fn service_catalog(app: &TestApp, hash: &str) {
    use sequra_bc_sandbox::bigcommerce::{CatalogProduct, demo_categories, demo_products};
    let mut products = demo_products();
    products.push(
        CatalogProduct::new(110, "Curso de patronaje online", "CUR-001", 12000, &[24])
            .as_digital()
            .with_custom_field("sequra_service_end_date", "P6M")
            .with_custom_field("sequra_registration_amount", "10.00")
            .with_custom_field("sequra_first_charge_date", "2027-01-15")
            .with_custom_field("color", "n/a"),
    );
    products.push(
        CatalogProduct::new(111, "Taller de costura", "TAL-001", 6000, &[24])
            .with_custom_field("sequra_service_end_date", "2027-06-30"),
    );
    assert!(app.bc.set_catalog(hash, products, demo_categories()));
}

pub async fn start(app: &TestApp, hash: &str, items: &[(u64, u64)]) -> reqwest::Response {
    let checkout = app.bc.create_checkout(hash, items, "ES");
    app.http
        .post(format!("{}/checkout/{hash}/start", app.address))
        .json(&serde_json::json!({ "checkoutId": checkout, "product": "i1" }))
        .send()
        .await
        .unwrap()
}

/// The order seQura was asked to take for `order_id`.
pub fn solicited(app: &TestApp, order_id: u64) -> serde_json::Value {
    app.sequra
        .orders()
        .into_iter()
        .find(|o| {
            o.solicited["merchant_reference"]["order_ref_1"].as_str()
                == Some(order_id.to_string().as_str())
        })
        .expect("seQura holds the order")
        .solicited
}

pub fn item<'a>(cart: &'a serde_json::Value, reference: &str) -> &'a serde_json::Value {
    cart["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["reference"] == reference)
        .unwrap_or_else(|| panic!("no {reference} in {cart}"))
}

pub fn adds_up(cart: &serde_json::Value) {
    let sum: i64 = cart["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["total_with_tax"].as_i64().unwrap())
        .sum();
    assert_eq!(
        sum,
        cart["order_total_with_tax"].as_i64().unwrap(),
        "{cart}"
    );
}

#[tokio::test]
async fn a_service_with_a_duration_and_a_registration_fee_makes_the_documented_items() {
    let app = spawn_app().await;
    services_store(&app, "store1").await;
    service_catalog(&app, "store1");
    let resp = start(&app, "store1", &[(110, 2), (111, 1), (101, 1)]).await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let body: serde_json::Value = resp.json().await.unwrap();
    let order = solicited(&app, crate::checkout::started_order(&app, &body).0);
    let cart = &order["cart"];
    adds_up(cart);
    // The fee is taken out of the course's price: 2 × (120 − 10) + 2 × 10.
    let reg = item(cart, "CUR-001-reg");
    assert_eq!(reg["type"], "registration");
    assert_eq!(reg["total_with_tax"], 2000);
    let course = item(cart, "CUR-001");
    assert_eq!(course["type"], "service");
    assert_eq!(course["ends_in"], "P6M");
    assert!(course.get("ends_on").is_none(), "{course}");
    assert_eq!(course["price_with_tax"], 11000);
    assert_eq!(course["quantity"], 2);
    assert_eq!(course["total_with_tax"], 22000);
    let workshop = item(cart, "TAL-001");
    assert_eq!(workshop["type"], "service");
    assert_eq!(workshop["ends_on"], "2027-06-30");
    assert!(workshop.get("ends_in").is_none(), "{workshop}");
    assert_eq!(workshop["total_with_tax"], 6000);
    assert_eq!(item(cart, "CAM-001")["type"], "product");
    assert_eq!(
        order["merchant"]["options"]["desired_first_charge_on"],
        "2027-01-15T00:00:00+00:00"
    );
}

#[tokio::test]
async fn a_digital_only_cart_or_a_service_is_not_offered_where_the_contract_has_no_services() {
    let app = spawn_app().await;
    app.spanish_store("store1").await;
    service_catalog(&app, "store1");
    // No button for either, none for the service however often the page asks, and the
    // buttons for physical goods with a download.
    for (items, offered) in [
        (&[(109, 1)][..], false),
        (&[(111, 1), (104, 1)][..], false),
        (&[(111, 1), (104, 1)][..], false),
        (&[(109, 1), (104, 1)][..], true),
    ] {
        let checkout = app.bc.create_checkout("store1", items, "ES");
        let methods = crate::checkout::methods(&app, &checkout).await;
        assert_eq!(!methods.is_empty(), offered, "{items:?}: {methods:?}");
    }
    // Each product's mark read once: the guide, then the workshop and the trainers together.
    let reads = app
        .bc
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/catalog/products"))
        .count();
    assert_eq!(reads, 2);
    // The style guide download alone: nothing to ship.
    let resp = start(&app, "store1", &[(109, 1)]).await;
    assert_eq!(resp.status(), 403, "{}", resp.text().await.unwrap());
    // A service among physical goods.
    let resp = start(&app, "store1", &[(111, 1), (104, 1)]).await;
    assert_eq!(resp.status(), 403, "{}", resp.text().await.unwrap());
    assert!(app.sequra.orders().is_empty());
    // Physical goods and a download: offered, the download a product line.
    let resp = start(&app, "store1", &[(109, 1), (104, 1)]).await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());

    // Where the contract sells services, the download alone is offered, as a service.
    let app = spawn_app().await;
    services_store(&app, "store1").await;
    let resp = start(&app, "store1", &[(109, 1)]).await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let body: serde_json::Value = resp.json().await.unwrap();
    let order = solicited(&app, crate::checkout::started_order(&app, &body).0);
    let guide = item(&order["cart"], "DIG-001");
    assert_eq!(guide["type"], "service");
    assert_eq!(guide["ends_in"], "P1Y", "the default end date");
}

/// A paid seQura order (i1) of `items` in the services store `store1`: (order id, uuid).
pub async fn paid_service_order(app: &TestApp, items: &[(u64, u64)]) -> (u64, String) {
    let resp = start(app, "store1", items).await;
    assert_eq!(resp.status(), 200, "start");
    let body: serde_json::Value = resp.json().await.unwrap();
    let (order_id, uuid) = crate::checkout::started_order(app, &body);
    let outcome = app
        .sequra
        .complete_form(
            &uuid,
            "i1",
            None,
            sequra_bc_sandbox::sequra::ShopperProfile::Approve,
        )
        .await
        .unwrap();
    assert_eq!(outcome.deliveries[0].2, 200, "{outcome:?}");
    crate::order_sync::settle(app).await;
    (order_id, uuid)
}

/// The merchant refunds one course (CUR-001) of `order` in BigCommerce.
fn refund_one_course(app: &TestApp, order: u64) {
    let course = app
        .bc
        .order_products("store1", order)
        .iter()
        .find(|p| p["sku"] == "CUR-001")
        .unwrap()["id"]
        .as_u64()
        .unwrap();
    app.bc
        .refund(
            "store1",
            order,
            &sequra_bc_sandbox::bigcommerce::RefundSpec {
                items: vec![(course, 1)],
                shipping_cents: 0,
                order_cents: 0,
            },
        )
        .unwrap();
}

/// The n-th update seQura accepted (1-based), once it arrives.
pub async fn update(app: &TestApp, uuid: &str, n: usize) -> serde_json::Value {
    crate::order_sync::eventually(&format!("update {n}"), || {
        app.sequra.order(uuid).unwrap().updates.get(n - 1).cloned()
    })
    .await
}

#[tokio::test]
async fn a_refunded_service_leaves_sequra_with_its_registration_and_the_cancellation_empties_both()
{
    let app = spawn_app().await;
    services_store(&app, "store1").await;
    service_catalog(&app, "store1");
    let (order, uuid) = paid_service_order(&app, &[(110, 2), (101, 1)]).await;
    refund_one_course(&app, order);
    let u = update(&app, &uuid, 1).await;
    let cart = &u["unshipped_cart"];
    adds_up(cart);
    // One course left: its fee and its price less the fee, nothing else adjusted.
    assert_eq!(item(cart, "CUR-001-reg")["total_with_tax"], 1000);
    let left = item(cart, "CUR-001");
    assert_eq!(left["type"], "service");
    assert_eq!(left["quantity"], 1);
    assert_eq!(left["total_with_tax"], 11000);
    assert_eq!(left["ends_in"], "P6M");
    assert!(
        !cart["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["type"] == "other_payment"),
        "a service refunded at its price needs no adjustment: {cart}"
    );
    assert_eq!(cart["order_total_with_tax"], 1000 + 11000 + 1995 + 495);

    assert!(app.bc.set_order_status("store1", order, 5));
    let u = update(&app, &uuid, 2).await;
    for which in ["shipped_cart", "unshipped_cart"] {
        let cart = &u[which];
        assert!(cart["items"].as_array().unwrap().is_empty(), "{u}");
    }
}

/// The merchant changes the course's custom fields after the sale (no longer a service, a
/// higher registration fee): the refund's update still describes the service seQura took.
#[tokio::test]
async fn a_service_sold_stays_the_service_sequra_took_when_the_catalog_changes_after_the_sale() {
    let app = spawn_app().await;
    services_store(&app, "store1").await;
    service_catalog(&app, "store1");
    let (order, uuid) = paid_service_order(&app, &[(110, 2), (101, 1)]).await;
    {
        use sequra_bc_sandbox::bigcommerce::{CatalogProduct, demo_categories, demo_products};
        let mut products = demo_products();
        products.push(
            CatalogProduct::new(110, "Curso de patronaje online", "CUR-001", 12000, &[24])
                .as_digital()
                .with_custom_field("sequra_registration_amount", "30.00"),
        );
        assert!(app.bc.set_catalog("store1", products, demo_categories()));
    }
    refund_one_course(&app, order);
    let u = update(&app, &uuid, 1).await;
    let cart = &u["unshipped_cart"];
    adds_up(cart);
    assert_eq!(item(cart, "CUR-001-reg")["total_with_tax"], 1000);
    let left = item(cart, "CUR-001");
    assert_eq!(left["type"], "service");
    assert_eq!(left["ends_in"], "P6M");
    assert_eq!(left["total_with_tax"], 11000);
}
