//! Issue 32 in a real browser: a purchase through the single seQura button (the plan picked
//! inside seQura's form), a purchase through the hosted page, and the hosted page closed
//! (back at the checkout, nothing placed).

use std::time::Duration;

use crate::browser::{browser, click, expect, fail};
use crate::checkout::{STORE, ready, settled};
use crate::helpers::TestApp;

async fn layout(app: &TestApp, session: &str, single: bool, hosted: bool) {
    let mut fields = vec![("layout", "1")];
    if single {
        fields.push(("single_button", "on"));
    }
    let resp = app
        .post_form("/app/methods/settings", session, &fields)
        .await;
    assert_eq!(resp.status(), 303);
    let mut fields = vec![("allowed_ips", "")];
    if hosted {
        fields.push(("hosted_page", "on"));
    }
    let resp = app.post_form("/app/general", session, &fields).await;
    assert_eq!(resp.status(), 303);
}

/// The one order of the store, once placed: its status and payment method.
async fn placed(app: &TestApp) -> Option<(u64, String)> {
    for _ in 0..100 {
        settled(app).await;
        let orders = app.bc.orders(STORE);
        if let [o] = orders.as_slice()
            && o["status_id"].as_u64() != Some(0)
        {
            return Some((
                o["status_id"].as_u64().unwrap_or(0),
                o["payment_method"].as_str().unwrap_or("").to_string(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

#[tokio::test]
async fn a_shopper_pays_through_the_single_button_with_the_plan_chosen_in_sequras_form() {
    let name = "layout-single";
    let (app, session) = ready().await;
    layout(&app, &session, true, false).await;
    // 2 × 49.95 € + shipping: part payment (pp3, from 50 €) is among the plans.
    let checkout = app.bc.create_checkout(STORE, &[(103, 2)], "ES");
    let (c, _driver) = browser().await;
    c.set_window_size(1280, 1000).await.unwrap();
    c.goto(&app.bc.checkout_url(STORE, &checkout))
        .await
        .unwrap();
    let button = expect(&c, name, "#sequra-methods button[data-product=\"tbs\"]").await;
    let label = button.text().await.unwrap();
    if !label.contains("Paga con seQura") {
        fail(&c, name, &format!("the single button says {label:?}")).await;
    }
    if c.find_all(fantoccini::Locator::Css("#sequra-methods button"))
        .await
        .unwrap()
        .len()
        != 1
    {
        fail(&c, name, "more than one seQura button").await;
    }
    button.click().await.unwrap();
    click(
        &c,
        name,
        "#sequra-overlay [data-testid=\"payment-option-pp3\"] input",
    )
    .await;
    click(&c, name, "#sequra-overlay [data-testid=\"sq-pay\"]").await;
    expect(&c, name, ".order-confirmation").await;
    match placed(&app).await {
        Some((11, method)) if method == "seQura – Paga Fraccionado" => {}
        other => fail(&c, name, &format!("the order is {other:?}")).await,
    }
    c.close().await.unwrap();
}

#[tokio::test]
async fn a_shopper_pays_on_the_hosted_page_and_lands_on_the_order_confirmation() {
    let name = "layout-hosted";
    let (app, session) = ready().await;
    layout(&app, &session, false, true).await;
    let checkout = app.bc.create_checkout(STORE, &[(104, 1)], "ES");
    let (c, _driver) = browser().await;
    c.set_window_size(1280, 1000).await.unwrap();
    c.goto(&app.bc.checkout_url(STORE, &checkout))
        .await
        .unwrap();
    click(&c, name, "#sequra-methods button[data-product=\"i1\"]").await;
    // seQura's form, on the app's own page (its scripts run under the page's policy).
    expect(&c, name, "#hosted [data-testid=\"sq-pay\"]").await;
    let url = c.current_url().await.unwrap().to_string();
    if !url.starts_with(&format!("{}/checkout/{STORE}/pay?", app.address)) {
        fail(&c, name, &format!("the form is at {url}")).await;
    }
    click(&c, name, "#hosted [data-testid=\"sq-pay\"]").await;
    expect(&c, name, ".order-confirmation").await;
    match placed(&app).await {
        Some((11, method)) if method == "seQura – Paga Después" => {}
        other => fail(&c, name, &format!("the order is {other:?}")).await,
    }
    c.close().await.unwrap();
}

#[tokio::test]
async fn closing_the_hosted_page_returns_to_the_checkout_with_nothing_placed() {
    let name = "layout-hosted-closed";
    let (app, session) = ready().await;
    layout(&app, &session, true, true).await;
    let checkout = app.bc.create_checkout(STORE, &[(104, 1)], "ES");
    let (c, _driver) = browser().await;
    c.set_window_size(1280, 1000).await.unwrap();
    let checkout_url = app.bc.checkout_url(STORE, &checkout);
    c.goto(&checkout_url).await.unwrap();
    click(&c, name, "#sequra-methods button[data-product=\"tbs\"]").await;
    // seQura's own close button (the form's close callback the page set).
    click(&c, name, "#hosted [data-sq-close]").await;
    expect(&c, name, "#sequra-methods button[data-product=\"tbs\"]").await;
    let url = c.current_url().await.unwrap().to_string();
    if url.starts_with(&app.address) {
        fail(&c, name, &format!("still on the app's page: {url}")).await;
    }
    // Again, and the page's own way back.
    click(&c, name, "#sequra-methods button[data-product=\"tbs\"]").await;
    click(&c, name, "#hosted-back").await;
    expect(&c, name, "#sequra-methods button[data-product=\"tbs\"]").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    settled(&app).await;
    let orders = app.bc.orders(STORE);
    if orders.iter().any(|o| o["status_id"].as_u64() != Some(0)) {
        fail(&c, name, &format!("an order was placed: {orders:?}")).await;
    }
    if app.sequra.orders().iter().any(|o| o.state != "solicited") {
        fail(&c, name, "a seQura order went past its form").await;
    }
    c.close().await.unwrap();
}
