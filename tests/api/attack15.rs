//! Attack review of the promotional widgets (issue 15): the anonymous configuration request
//! (another store's data, its cache, the allowed IPs, what an anonymous caller can make us
//! spend) and what the merchant's saves must drop.

use sequra_bc_sandbox::sequra::DEMO_MERCHANT_ES;

use crate::checkout::{STORE, ready, ready_with};
use crate::widgets::{config, config_json, good_form, post};

/// Widgets on for every storefront, the cache then cold.
async fn widgets_on() -> (crate::helpers::TestApp, String) {
    let (app, session) = ready().await;
    assert_eq!(
        post(&app, &session, "/app/widgets", &good_form("pp3"))
            .await
            .0,
        303
    );
    (app, session)
}

#[tokio::test]
async fn an_uninstalled_store_is_no_longer_described_to_its_storefronts_visitors() {
    let (app, _session) = widgets_on().await;
    assert_eq!(config_json(&app, 1).await["merchant"], DEMO_MERCHANT_ES);
    assert_eq!(app.bc.uninstall(STORE).await.unwrap(), 200);
    // The app is gone from the store: its merchant ref, assets key and settings are not
    // served from memory for another minute.
    let resp = config(&app, 1, None).await;
    assert_eq!(resp.status(), 404, "{:?}", resp.text().await);
}

#[tokio::test]
async fn a_cold_cache_is_built_once_for_a_crowd_of_visitors() {
    let (app, _session) = widgets_on().await;
    let before = app.state.widget_configs.builds();
    let calls = (0..40).map(|_| config(&app, 1, None));
    for resp in futures_util::future::join_all(calls).await {
        assert_eq!(resp.status(), 200);
    }
    assert_eq!(
        app.state.widget_configs.builds() - before,
        1,
        "forty visitors arriving together read the database once"
    );
}

#[tokio::test]
async fn made_up_channels_are_not_built_again_and_again() {
    let (app, _session) = widgets_on().await;
    assert_eq!(config_json(&app, 1).await["merchant"], DEMO_MERCHANT_ES);
    let before = app.state.widget_configs.builds();
    for channel in 1000..1040 {
        assert_eq!(config_json(&app, channel).await, serde_json::json!({}));
    }
    assert_eq!(
        app.state.widget_configs.builds() - before,
        0,
        "a channel the store does not have is nothing, known from the store's answers"
    );
    assert_eq!(config_json(&app, 1).await["merchant"], DEMO_MERCHANT_ES);
}

#[tokio::test]
async fn the_allowed_ips_hold_through_forwarded_for_the_cache_and_revalidation() {
    let (app, session) = ready_with(|s| s.server.trusted_proxies = "127.0.0.1".into()).await;
    assert_eq!(
        post(&app, &session, "/app/widgets", &good_form("pp3"))
            .await
            .0,
        303
    );
    app.post_form(
        "/app/general",
        &session,
        &[("allowed_ips", "203.0.113.0/24")],
    )
    .await;
    let ask = |ip: &'static str, etag: Option<String>| {
        let mut req = app
            .http
            .get(format!("{}/widgets/{STORE}/config?channel=1", app.address))
            .header("x-forwarded-for", ip);
        if let Some(e) = etag {
            req = req.header("if-none-match", e);
        }
        req.send()
    };
    // The allowed visitor (through the trusted proxy) fills the cache.
    let allowed = ask("203.0.113.7", None).await.unwrap();
    assert_eq!(allowed.status(), 200);
    let etag = allowed.headers()["etag"].to_str().unwrap().to_string();
    assert_eq!(
        allowed.json::<serde_json::Value>().await.unwrap()["merchant"],
        DEMO_MERCHANT_ES
    );
    // Another visitor, even naming the allowed one's tag, is told nothing (not "unchanged").
    let other = ask("198.51.100.9", Some(etag.clone())).await.unwrap();
    assert_eq!(other.status(), 200);
    assert_ne!(other.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(
        other.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({})
    );
    // A forged left-most hop from the visitor is not believed: the proxy's right-most is.
    let forged = ask("203.0.113.7, 198.51.100.9", None).await.unwrap();
    assert_eq!(
        forged.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({})
    );
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_is_not_believed() {
    let (app, session) = widgets_on().await;
    app.post_form(
        "/app/general",
        &session,
        &[("allowed_ips", "203.0.113.0/24")],
    )
    .await;
    let resp = app
        .http
        .get(format!("{}/widgets/{STORE}/config?channel=1", app.address))
        .header("x-forwarded-for", "203.0.113.7")
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({})
    );
}

/// The Spanish demo methods without `product`.
fn spanish_methods_without(product: &str) -> Vec<serde_json::Value> {
    let mut cats = sequra_bc_sandbox::sequra::SequraStandIn::default_methods("ES");
    for c in &mut cats {
        c["methods"]
            .as_array_mut()
            .unwrap()
            .retain(|m| m["product"] != product);
    }
    cats
}

fn widget_account(methods: Vec<serde_json::Value>) -> sequra_bc_sandbox::sequra::AccountSpec {
    let mut es = sequra_bc_sandbox::sequra::MerchantSpec::new("widgets_es", "ES");
    es.methods = methods;
    sequra_bc_sandbox::sequra::AccountSpec {
        environment: "sandbox".into(),
        username: "widgets-user".into(),
        password: sequra_bc_sandbox::sequra::DEMO_PASSWORD.into(),
        merchants: vec![es],
    }
}

#[tokio::test]
async fn a_methods_refresh_at_the_checkout_drops_the_widgets_answer() {
    let app = crate::helpers::spawn_app().await;
    let session = app.merchant_session(STORE).await;
    app.sequra
        .add_account(widget_account(spanish_methods_without("none")));
    app.connect_sandbox(&session, "widgets-user").await;
    let resp = app
        .post_form(
            "/app/countries",
            &session,
            &[("country", "ES"), ("ref_ES", "widgets_es")],
        )
        .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(
        post(&app, &session, "/app/widgets", &good_form("pp3"))
            .await
            .0,
        303
    );
    assert_eq!(config_json(&app, 1).await["widgets"][0]["product"], "pp3");

    // seQura stops offering pp3; the cached list is a day old, so the next checkout asks
    // seQura again and saves what it says.
    app.sequra
        .add_account(widget_account(spanish_methods_without("pp3")));
    let conn = rusqlite::Connection::open(app.state.db.path()).unwrap();
    conn.execute(
        "UPDATE payment_methods SET fetched_at = '2000-01-01T00:00:00Z'",
        [],
    )
    .unwrap();
    let checkout = app.bc.create_checkout(STORE, &[(103, 2)], "ES");
    let resp = app
        .http
        .post(format!("{}/checkout/{STORE}/methods", app.address))
        .json(&serde_json::json!({ "checkoutId": checkout }))
        .send()
        .await
        .unwrap();
    let offered = resp.json::<serde_json::Value>().await.unwrap();
    assert!(
        !offered["methods"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["product"] == "pp3"),
        "{offered}"
    );
    // The checkout no longer offers pp3: neither does the widget.
    assert_eq!(config_json(&app, 1).await, serde_json::json!({}));
}

/// Sets the product page's price text as a theme's script would.
async fn set_price(c: &fantoccini::Client, text: &str) {
    c.execute(
        "document.querySelector('.productView-price [data-product-price-with-tax]')\
         .textContent = arguments[0]; return true;",
        vec![serde_json::Value::String(text.into())],
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_price_of_nothing_or_in_another_currency_gets_no_widget() {
    use crate::browser_widgets::{
        form, no_console_errors, product_url, store_with, wait_widgets, with,
    };
    let name = "attack15-price";
    // i1 (pay later) has no minimum: only the amount decides.
    let (app, _) = store_with(
        &[("allowed_ips", "")],
        &with(
            form(),
            &[("product_enabled", "on"), ("product_method", "i1")],
        ),
    )
    .await;
    let (c, _driver) = crate::browser::browser().await;
    c.goto(&product_url(&app, 1, 104)).await.unwrap();
    wait_widgets(&c, name, "i1 for 79,90 €", |w| {
        w.len() == 1 && w[0].0 == "i1" && w[0].1 == "7990"
    })
    .await;
    // A free product: the checkout offers nothing for 0 €, so no widget promises it.
    set_price(&c, "0,00 €").await;
    wait_widgets(&c, name, "no widget for 0 €", |w| w.is_empty()).await;
    set_price(&c, "79,90 €").await;
    wait_widgets(&c, name, "i1 for 79,90 € again", |w| {
        w.len() == 1 && w[0].1 == "7990"
    })
    .await;
    // The shopper switched the storefront to dollars: $79.90 is not 79,90 €, and the
    // checkout takes euros only.
    set_price(&c, "$79.90").await;
    wait_widgets(&c, name, "no widget for a price in dollars", |w| {
        w.is_empty()
    })
    .await;
    set_price(&c, "79,90 USD").await;
    wait_widgets(&c, name, "no widget for a price in USD", |w| w.is_empty()).await;
    set_price(&c, "79,90 € IVA incluido").await;
    wait_widgets(&c, name, "euros again, with the tax note", |w| {
        w.len() == 1 && w[0].1 == "7990"
    })
    .await;
    no_console_errors(&c, name).await;
    c.close().await.unwrap();
}

#[tokio::test]
async fn a_store_cannot_save_widgets_for_another_stores_storefront() {
    let (app, session) = ready().await;
    // store2's own storefront, a channel id store1 does not have.
    let (_, _) = app.installed_store("store2").await;
    let theirs = app.bc.add_channel(
        "store2",
        sequra_bc_sandbox::bigcommerce::ChannelSpec::stencil(0, "Tienda 2", "es", "EUR"),
    );
    let (status, _) = post(
        &app,
        &session,
        &format!("/app/widgets?storefront={theirs}"),
        &good_form("pp3"),
    )
    .await;
    assert_ne!(status, 303, "refused");
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM widget_settings WHERE channel_id = {theirs}"
        )),
        0,
        "nothing saved, for either store"
    );
    // Nor going back to the default there: nothing of store2's is touched.
    let (status, _) = post(
        &app,
        &session,
        &format!("/app/widgets?storefront={theirs}"),
        &[("same_as_default", "on".to_string())],
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM widget_settings WHERE store_hash = 'store2'"),
        0
    );
}
