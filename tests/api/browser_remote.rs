//! seQura's remote configuration as a person running `demo` tries it (issue 32): seQura's
//! control page lists the store's registration, sends the configuration webhook typed in its
//! form and shows the app's answer; the change is on the merchant's General settings page and
//! in the transaction log as seQura's.

use fantoccini::{Client, Locator};

use crate::browser::{browser, click, expect, fail};
use crate::helpers::spawn_app;
use crate::order_sync::eventually;

const STORE: &str = "rbrw01";

/// Types `body` in the form of the control page's only registration and sends it; returns the
/// status and the answer the page shows.
async fn send(c: &Client, name: &str, control: &str, body: &str) -> (String, String) {
    c.goto(control).await.unwrap();
    let area = expect(c, name, "textarea[name=body]").await;
    area.clear().await.unwrap();
    area.send_keys(body).await.unwrap();
    click(c, name, "form button[type=submit]").await;
    let status = expect(c, name, "#status").await.text().await.unwrap();
    let answer = c
        .find(Locator::Css("#answer"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    (status, answer)
}

#[tokio::test]
async fn a_configuration_webhook_sent_from_sequras_control_page_changes_the_merchants_settings() {
    let name = "remote_control_page";
    let app = spawn_app().await;
    let session = app.merchant_session(STORE).await;
    app.connect_demo(&session).await;
    eventually("the store's registration at seQura", || {
        (!app.sequra.active_integrations(STORE).is_empty()).then_some(())
    })
    .await;
    let control = format!(
        "{}_control/store_integrations",
        app.sequra.base_url().as_str()
    );
    let (c, _driver) = browser().await;
    c.goto(&control).await.unwrap();
    let table = expect(&c, name, "table").await.text().await.unwrap();
    if !(table.contains(STORE) && table.contains("general") && table.contains("banner")) {
        fail(
            &c,
            name,
            &format!("the registration is not listed: {table}"),
        )
        .await;
    }

    let (status, answer) = send(
        &c,
        name,
        &control,
        r#"{"topic":"save-general-settings","allowedIPAddresses":["203.0.113.7"]}"#,
    )
    .await;
    assert_eq!((status.as_str(), answer.as_str()), ("200", "[]"));
    let (status, answer) = send(&c, name, &control, r#"{"topic":"get-general-settings"}"#).await;
    assert_eq!(status, "200", "{answer}");
    assert!(answer.contains("203.0.113.7"), "{answer}");
    // A refusal is shown as the app answered it: seQura's error body, a 4xx.
    let (status, answer) = send(&c, name, &control, r#"{"topic":"get-payment-data"}"#).await;
    assert_eq!(status, "400", "{answer}");
    assert!(answer.contains("UNKNOWN_TOPIC"), "{answer}");
    c.close().await.unwrap();

    let (_, html) = app.page("/app/general", &session).await;
    assert!(html.contains("203.0.113.7"), "{html}");
    let (_, html) = app.page("/app/log", &session).await;
    assert!(html.contains("Changed by seQura"), "{html}");
    assert!(html.contains("none → 203.0.113.7"), "{html}");
}
