//! Promotional widgets, the merchant's side (issue 15): the settings page, its validation, and
//! settings per storefront.

use sequra_bc_sandbox::bigcommerce::ChannelSpec;

use crate::checkout::{STORE, ready};
use crate::helpers::TestApp;

fn rows(app: &TestApp) -> Vec<(i64, String)> {
    let conn = rusqlite::Connection::open(app.state.db.path()).unwrap();
    let mut q = conn
        .prepare("SELECT channel_id, settings FROM widget_settings ORDER BY channel_id")
        .unwrap();
    q.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn good_form(method: &str) -> Vec<(&'static str, String)> {
    vec![
        ("product_enabled", "on".into()),
        ("product_method", method.into()),
        (
            "product_price_selector",
            ".productView-price [data-product-price-with-tax]".into(),
        ),
        (
            "product_location_selector",
            "[data-content-region=\"product_below_price\"]".into(),
        ),
        ("override_0_method", "sp1".into()),
        ("override_0_hidden", "on".into()),
        ("cart_price_selector", ".cart-total-grandTotal".into()),
        ("cart_location_selector", "[data-cart-totals]".into()),
        ("listing_price_selector", ".card-text".into()),
        ("listing_location_selector", ".card-text".into()),
        ("message_ES", "Desde %s/mes".into()),
        ("below_ES", "Fracciona a partir de %s".into()),
        ("message_FR", "À partir de %s/mois".into()),
        ("message_IT", "Da %s/mese".into()),
        ("message_PT", "Desde %s/mês".into()),
        ("style_preset", "banner".into()),
    ]
}

async fn post(app: &TestApp, session: &str, path: &str, form: &[(&str, String)]) -> (u16, String) {
    let sep = if path.contains('?') { '&' } else { '?' };
    let resp = app
        .http
        .post(format!("{}{path}{sep}session={session}", app.address))
        .form(form)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

#[tokio::test]
async fn the_page_offers_cornerstones_selectors_and_the_promotable_methods() {
    let (app, session) = ready().await;
    let (status, html) = app.page("/app/widgets", &session).await;
    assert_eq!(status, 200);
    let html = html.replace("&#x2f;", "/").replace("&quot;", "\"");
    assert!(html.contains("[data-product-price-with-tax]"), "{html}");
    assert!(html.contains("product_below_price"));
    assert!(
        html.contains(r#"<option value="pp3""#),
        "part payment offered"
    );
    assert!(html.contains(r#"<option value="i1""#), "pay later offered");
    assert!(
        !html.contains(r#"<option value="fp1""#),
        "pay now is not promoted"
    );
    assert!(rows(&app).is_empty(), "nothing saved by looking");
}

#[tokio::test]
async fn good_settings_are_saved_and_bad_ones_refused_inline_with_nothing_saved() {
    let (app, session) = ready().await;
    let (status, _) = post(&app, &session, "/app/widgets", &good_form("pp3")).await;
    assert_eq!(status, 303);
    let saved = rows(&app);
    assert_eq!(saved.len(), 1);
    assert_eq!(saved[0].0, 0, "the default of all storefronts");
    let v: serde_json::Value = serde_json::from_str(&saved[0].1).unwrap();
    assert_eq!(v["product"]["enabled"], true);
    assert_eq!(v["product"]["method"], "pp3");
    assert_eq!(v["product"]["overrides"][0]["hidden"], true);
    assert!(v["style"].as_str().unwrap().contains("\"type\":\"banner\""));

    let mut bad = good_form("fp1");
    bad.retain(|(k, _)| *k != "style_preset");
    bad.push(("style", r#"{"size": "M", "onload": "alert(1)"}"#.into()));
    bad.retain(|(k, _)| *k != "product_price_selector");
    bad.push(("product_price_selector", "".into()));
    bad.push(("listing_enabled", "on".into()));
    bad.push(("listing_method", "i1".into()));
    let (status, html) = post(&app, &session, "/app/widgets", &bad).await;
    assert_eq!(status, 422, "{html}");
    for id in [
        "product_method-error",
        "product_price_selector-error",
        "listing_method-error",
        "style-error",
    ] {
        assert!(html.contains(&format!(r#"id="{id}""#)), "{id}: {html}");
    }
    assert!(html.contains("onload"), "the bad style key is named");
    assert_eq!(rows(&app), saved, "nothing half-saved");
}

#[tokio::test]
async fn a_storefront_may_have_its_own_settings_and_go_back_to_the_default() {
    let (app, session) = ready().await;
    let france = app
        .bc
        .add_channel(STORE, ChannelSpec::stencil(0, "France", "fr", "EUR"));
    crate::order_sync::eventually("the storefront read", || {
        (app.count("SELECT COUNT(*) FROM storefronts") == 2).then_some(())
    })
    .await;
    assert_eq!(
        post(&app, &session, "/app/widgets", &good_form("pp3"))
            .await
            .0,
        303
    );
    let path = format!("/app/widgets?storefront={france}");
    let (status, html) = app.page(&path, &session).await;
    assert_eq!(status, 200);
    assert!(
        html.contains(r#"id="same_as_default" checked"#),
        "follows the default"
    );
    assert_eq!(post(&app, &session, &path, &good_form("sp1")).await.0, 303);
    let saved = rows(&app);
    assert_eq!(
        saved.iter().map(|r| r.0).collect::<Vec<_>>(),
        [0, france as i64]
    );
    assert!(saved[1].1.contains("\"method\":\"sp1\""));
    assert!(
        saved[0].1.contains("\"method\":\"pp3\""),
        "the default is untouched"
    );

    assert_eq!(
        post(&app, &session, &path, &[("same_as_default", "on".into())])
            .await
            .0,
        303
    );
    assert_eq!(rows(&app).len(), 1, "back to the default");
    // A storefront the store does not have is refused, and saves nothing.
    let (status, _) = post(
        &app,
        &session,
        "/app/widgets?storefront=99",
        &good_form("pp3"),
    )
    .await;
    assert_eq!(status, 422);
    let (status, _) = app.page("/app/widgets?storefront=abc", &session).await;
    assert_eq!(status, 400);
    assert_eq!(rows(&app).len(), 1);
}
