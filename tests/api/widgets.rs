//! Promotional widgets, the merchant's side (issue 15): the settings page, its validation, and
//! settings per storefront.

use crate::browser_widgets::{form, with};
use crate::checkout::{STORE, ready};
use crate::helpers::TestApp;
use crate::storefronts::{origin_of, with_france};

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

/// Cornerstone's form with the product page's widget on for `method`, sp1 hidden by its
/// override, and the banner style.
pub(crate) fn good_form(method: &str) -> Vec<(&'static str, String)> {
    with(
        form(),
        &[
            ("product_enabled", "on"),
            ("product_method", method),
            ("override_0_method", "sp1"),
            ("override_0_hidden", "on"),
            ("style_preset", "banner"),
        ],
    )
}

pub(crate) async fn post(
    app: &TestApp,
    session: &str,
    path: &str,
    form: &[(&str, String)],
) -> (u16, String) {
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
    let france = with_france(&app).await;
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

/// The widget configuration of `channel`, asked from `origin` (a browser) or none.
pub(crate) async fn config(app: &TestApp, channel: u64, origin: Option<&str>) -> reqwest::Response {
    let mut req = app.http.get(format!(
        "{}/widgets/{STORE}/config?channel={channel}",
        app.address
    ));
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    req.send().await.unwrap()
}

pub(crate) async fn config_json(app: &TestApp, channel: u64) -> serde_json::Value {
    let resp = config(app, channel, None).await;
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

fn widget_scripts(app: &TestApp) -> Vec<(u64, String)> {
    app.bc
        .scripts_of(STORE)
        .into_iter()
        .filter(|(_, name, _)| name == "seQura widgets")
        .map(|(channel, _, src)| (channel, src))
        .collect()
}

#[tokio::test]
async fn a_storefront_with_widgets_on_gets_the_widget_script_and_what_to_draw() {
    let (app, session) = ready().await;
    crate::checkout::settled(&app).await;
    assert!(widget_scripts(&app).is_empty(), "no widget on, no script");
    assert_eq!(config_json(&app, 1).await, serde_json::json!({}));

    assert_eq!(
        post(&app, &session, "/app/widgets", &good_form("pp3"))
            .await
            .0,
        303
    );
    crate::checkout::settled(&app).await;
    let scripts = widget_scripts(&app);
    assert_eq!(scripts.len(), 1, "{scripts:?}");
    let (channel, src) = &scripts[0];
    assert_eq!(*channel, 1);
    let path = &app.state.widget_script.path;
    assert_eq!(
        src,
        &format!("{}{path}?store={STORE}&channel=1", app.address),
        "versioned, with its storefront"
    );
    let served = app.get(src.as_str()).await;
    assert_eq!(served.status(), 200);
    assert!(
        served.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );

    let resp = config(&app, 1, None).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "private, max-age=60");
    let etag = resp.headers()["etag"].to_str().unwrap().to_string();
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["merchant"], sequra_bc_sandbox::sequra::DEMO_MERCHANT_ES);
    assert!(!v["assetKey"].as_str().unwrap().is_empty());
    assert_eq!(
        v["scriptUri"],
        format!("{}sequra-checkout.min.js", app.sequra.assets_base_url())
    );
    assert_eq!(v["locale"], "es-ES");
    assert_eq!(v["currency"], "EUR");
    let widgets = v["widgets"].as_array().unwrap();
    assert_eq!(widgets.len(), 1, "sp1 is hidden by its override: {v}");
    assert_eq!(widgets[0]["kind"], "product");
    assert_eq!(widgets[0]["product"], "pp3");
    assert_eq!(widgets[0]["style"]["type"], "banner");
    assert!(widgets[0]["min"].is_i64());
    assert!(v["miniWidgets"].as_array().unwrap().is_empty(), "off");

    // Unchanged: the browser's copy stands.
    let again = app
        .http
        .get(format!("{}/widgets/{STORE}/config?channel=1", app.address))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);

    // Widgets off: the script goes, and there is nothing to draw.
    let mut off = good_form("pp3");
    off.retain(|(k, _)| *k != "product_enabled");
    assert_eq!(post(&app, &session, "/app/widgets", &off).await.0, 303);
    crate::checkout::settled(&app).await;
    assert!(widget_scripts(&app).is_empty());
    assert_eq!(config_json(&app, 1).await, serde_json::json!({}));
}

#[tokio::test]
async fn a_visitor_outside_the_allowed_ips_is_told_nothing_and_exclusions_are_listed() {
    let (app, session) = ready().await;
    let mut form = good_form("pp3");
    form.push(("listing_enabled", "on".into()));
    form.push(("listing_method", "pp3".into()));
    assert_eq!(post(&app, &session, "/app/widgets", &form).await.0, 303);
    assert_eq!(
        config_json(&app, 1).await["miniWidgets"][0]["message"],
        "Desde %s/mes"
    );

    app.post_form(
        "/app/general",
        &session,
        &[
            ("excluded_category", r#"{"id":21,"name":"Calzado"}"#),
            (
                "excluded_product",
                r#"{"id":107,"name":"Calcetines","sku":"CAL-003"}"#,
            ),
        ],
    )
    .await;
    crate::checkout::settled(&app).await;
    assert_eq!(
        config_json(&app, 1).await["excluded"],
        serde_json::json!([104, 105, 107]),
        "the product excluded and the shoes of the excluded category"
    );

    app.post_form(
        "/app/general",
        &session,
        &[("allowed_ips", "203.0.113.0/24")],
    )
    .await;
    let resp = config(&app, 1, None).await;
    let etag = resp.headers()["etag"].clone();
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({})
    );
    app.post_form("/app/general", &session, &[("allowed_ips", "127.0.0.1")])
        .await;
    let resp = config(&app, 1, None).await;
    assert_ne!(resp.headers()["etag"], etag, "another answer, another tag");
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap()["merchant"],
        sequra_bc_sandbox::sequra::DEMO_MERCHANT_ES
    );
}

#[tokio::test]
async fn only_the_stores_storefronts_may_ask_and_bad_requests_change_nothing() {
    let (app, session) = ready().await;
    assert_eq!(
        post(&app, &session, "/app/widgets", &good_form("pp3"))
            .await
            .0,
        303
    );
    let mine = origin_of(&app.bc.storefront_url(STORE));
    let resp = config(&app, 1, Some(&mine)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["access-control-allow-origin"], mine.as_str());
    let resp = config(&app, 1, Some("https://evil.example")).await;
    assert_eq!(resp.status(), 403);
    assert!(resp.headers().get("access-control-allow-origin").is_none());

    let unknown = app
        .get(format!("{}/widgets/nostore/config?channel=1", app.address))
        .await;
    assert_eq!(unknown.status(), 404);
    let bad = app
        .get(format!("{}/widgets/{STORE}/config?channel=x", app.address))
        .await;
    assert_eq!(bad.status(), 400);
    // A channel the store does not have: nothing to draw.
    assert_eq!(config_json(&app, 77).await, serde_json::json!({}));
}

#[tokio::test]
async fn settings_of_a_storefront_of_its_own_apply_there_only() {
    let (app, session) = ready().await;
    let france = with_france(&app).await;
    let mut own = good_form("pp3");
    own.push(("same_as_default", "".into()));
    let (status, body) = post(
        &app,
        &session,
        &format!("/app/widgets?storefront={france}"),
        &own,
    )
    .await;
    assert_eq!(status, 303, "{body}");
    crate::checkout::settled(&app).await;
    assert_eq!(
        config_json(&app, 1).await,
        serde_json::json!({}),
        "default: off"
    );
    let fr = config_json(&app, france).await;
    assert_eq!(fr["merchant"], sequra_bc_sandbox::sequra::DEMO_MERCHANT_FR);
    assert_eq!(fr["locale"], "fr-FR");
    let scripts = widget_scripts(&app);
    assert_eq!(scripts.len(), 1, "{scripts:?}");
    assert_eq!(scripts[0].0, france);
}

#[tokio::test]
async fn the_demo_switches_the_widgets_on_once_a_store_is_connected_and_never_again() {
    let (app, session) = ready().await;
    sequra_bc::demo::demo_widgets_of(&app.state, STORE)
        .await
        .unwrap();
    crate::checkout::settled(&app).await;
    let v = config_json(&app, 1).await;
    assert_eq!(v["widgets"][0]["product"], "pp3", "{v}");
    assert_eq!(v["widgets"][1]["kind"], "cart");
    assert_eq!(v["miniWidgets"][0]["product"], "pp3");
    assert_eq!(widget_scripts(&app).len(), 1);

    // The merchant switches them off: the demo leaves that alone.
    let mut off = good_form("pp3");
    off.retain(|(k, _)| *k != "product_enabled");
    assert_eq!(post(&app, &session, "/app/widgets", &off).await.0, 303);
    sequra_bc::demo::demo_widgets_of(&app.state, STORE)
        .await
        .unwrap();
    assert_eq!(config_json(&app, 1).await, serde_json::json!({}));
}

#[tokio::test]
async fn disconnecting_sequra_takes_the_widget_scripts_off_the_storefronts() {
    let (app, session) = ready().await;
    assert_eq!(
        post(&app, &session, "/app/widgets", &good_form("pp3"))
            .await
            .0,
        303
    );
    crate::checkout::settled(&app).await;
    assert_eq!(widget_scripts(&app).len(), 1);
    let (status, _) = post(
        &app,
        &session,
        "/app/disconnect",
        &[("confirm", "yes".into())],
    )
    .await;
    assert_eq!(status, 303);
    crate::checkout::settled(&app).await;
    assert!(
        widget_scripts(&app).is_empty(),
        "nothing to promote: no script costing every page view a request"
    );
    assert_eq!(config_json(&app, 1).await, serde_json::json!({}));
    // Connected again: the saved widgets get their script back.
    app.connect_demo(&session).await;
    crate::checkout::settled(&app).await;
    assert_eq!(widget_scripts(&app).len(), 1);
}
