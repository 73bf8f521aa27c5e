//! Promotional widgets on the storefront (issue 15), as a shopper reads them: the app's
//! storefront script on the stand-in's Cornerstone-shaped pages, seQura's script the
//! stand-in serves drawing the text from its own instalment rules (pp3 in Spain: 50 € to
//! 3.000 €, the widget shows 3 instalments, the listing 12 with a 3 € fee each).

use std::time::Duration;

use fantoccini::Client;
use fantoccini::wd::WebDriverCompatibleCommand;
use serde_json::Value;

use crate::browser::{browser, click_and_load, expect, fail, type_into};
use crate::checkout::{STORE, ready, settled};
use crate::helpers::TestApp;
use crate::order_sync::eventually;

/// A widget settings form with every widget off and Cornerstone's selectors.
pub(crate) fn form() -> Vec<(&'static str, String)> {
    vec![
        (
            "product_price_selector",
            ".productView-price [data-product-price-with-tax]".into(),
        ),
        (
            "product_location_selector",
            "[data-content-region=\"product_below_price\"]".into(),
        ),
        ("cart_price_selector", ".cart-total-grandTotal".into()),
        ("cart_location_selector", "[data-cart-totals]".into()),
        (
            "listing_price_selector",
            "article.card .card-text[data-test-info-type=\"price\"]".into(),
        ),
        (
            "listing_location_selector",
            "article.card .card-text[data-test-info-type=\"price\"]".into(),
        ),
        ("message_ES", "Desde %s/mes".into()),
        ("below_ES", "Fracciona a partir de %s".into()),
        ("message_FR", "À partir de %s/mois".into()),
        ("message_IT", "Da %s/mese".into()),
        ("message_PT", "Desde %s/mês".into()),
        ("style_preset", "text".into()),
    ]
}

/// The form with `fields` set (replacing any of the same name).
pub(crate) fn with(
    mut form: Vec<(&'static str, String)>,
    fields: &[(&'static str, &str)],
) -> Vec<(&'static str, String)> {
    for (k, v) in fields {
        form.retain(|(f, _)| f != k);
        form.push((k, v.to_string()));
    }
    form
}

async fn save(app: &TestApp, session: &str, path: &str, form: &[(&'static str, String)]) {
    let (status, body) = crate::widgets::post(app, session, path, form).await;
    assert_eq!(status, 303, "{body}");
}

/// General settings (allowed IPs, exclusions) saved as the form posts them.
async fn general(app: &TestApp, session: &str, fields: &[(&str, &str)]) {
    let resp = app.post_form("/app/general", session, fields).await;
    assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
}

/// The channels that have the app's widget script.
fn widget_scripts(app: &TestApp) -> Vec<u64> {
    let mut c: Vec<u64> = app
        .bc
        .scripts_of(STORE)
        .into_iter()
        .filter(|(_, _, src)| src.contains("/assets/widgets/sequra-widgets."))
        .map(|(c, _, _)| c)
        .collect();
    c.sort();
    c
}

/// A store selling in Spain and France, with `general` saved and then the widget settings
/// of all storefronts; provisioning has put the widget script on the default storefront.
pub(crate) async fn store_with(
    general_fields: &[(&str, &str)],
    widgets: &[(&'static str, String)],
) -> (TestApp, String) {
    let (app, session) = ready().await;
    if !general_fields.is_empty() {
        general(&app, &session, general_fields).await;
    }
    save(&app, &session, "/app/widgets", widgets).await;
    eventually("the widget script on the storefront", || {
        widget_scripts(&app).contains(&1).then_some(())
    })
    .await;
    settled(&app).await;
    (app, session)
}

/// "26,64 €", as the Spanish shop and seQura's script write amounts.
fn euros(cents: i64) -> String {
    let units = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, ch) in units.chars().enumerate() {
        if i > 0 && (units.len() - i).is_multiple_of(3) {
            grouped.push('.');
        }
        grouped.push(ch);
    }
    format!("{grouped},{:02} €", cents % 100)
}

/// What the stand-in's seQura script writes in a pp3 widget for `cents`.
fn pp3_widget(cents: i64) -> String {
    format!("Paga en 3 plazos de {}/mes", euros((cents + 2) / 3))
}

/// What a listing card says for `cents` (pp3 in 12 instalments with its 3 € fee).
fn pp3_mini(cents: i64) -> String {
    if cents < 5000 {
        "Fracciona a partir de 50,00 €".into()
    } else {
        format!("Desde {}/mes", euros((cents + 11) / 12 + 300))
    }
}

const WIDGETS_JS: &str = "return Array.prototype.map.call(document.querySelectorAll('.sequra-promotion-widget'), \
    function (e) { return { amount: e.getAttribute('data-amount'), product: e.getAttribute('data-product'), \
    text: e.textContent, after: e.previousElementSibling ? (e.previousElementSibling.getAttribute('data-content-region') \
    || e.previousElementSibling.className) : null, type: e.getAttribute('data-type') }; });";

/// The widgets in the page: (product, amount, text, what it follows, its data-type).
pub(crate) async fn widgets(c: &Client) -> Vec<(String, String, String, String, String)> {
    let v = c.execute(WIDGETS_JS, vec![]).await.unwrap_or(Value::Null);
    let s = |w: &Value, k: &str| w[k].as_str().unwrap_or("").to_string();
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|w| {
                    (
                        s(w, "product"),
                        s(w, "amount"),
                        s(w, "text"),
                        s(w, "after"),
                        s(w, "type"),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until the page's widgets are what `ok` accepts; fails with what it last saw.
pub(crate) async fn wait_widgets(
    c: &Client,
    name: &str,
    what: &str,
    ok: impl Fn(&[(String, String, String, String, String)]) -> bool,
) -> Vec<(String, String, String, String, String)> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let w = widgets(c).await;
        if ok(&w) {
            return w;
        }
        if std::time::Instant::now() > deadline {
            fail(c, name, &format!("{what}: the page has {w:?}")).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the widget script had its answer and, when it loaded seQura's script, that
/// script ran; then a little longer for a frame to be drawn. Before asserting an absence.
pub(crate) async fn page_settled(c: &Client, name: &str) {
    let js = "var asked = performance.getEntriesByType('resource').some(function (e) { \
              return /\\/widgets\\/[a-z0-9]+\\/config/.test(e.name) && e.responseEnd > 0; }); \
              return asked && (typeof window.SequraConfiguration === 'undefined' || \
              window.__sequraStandIn === 'ready' || window.__sequraStandIn === 'refused');";
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    tokio::time::sleep(Duration::from_millis(200)).await;
    while c.execute(js, vec![]).await.ok() != Some(Value::Bool(true)) {
        if std::time::Instant::now() > deadline {
            fail(c, name, "the widget script never asked the app").await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
}

/// ChromeDriver's log of the page's console (Selenium's `se/log`, which ChromeDriver keeps).
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (warp::http::Method, Option<String>) {
        (
            warp::http::Method::POST,
            Some(r#"{"type":"browser"}"#.to_string()),
        )
    }
}

/// Fails when the console got an error or a warning since the last look (a missing favicon
/// is the stand-in's, not a script's).
pub(crate) async fn no_console_errors(c: &Client, name: &str) {
    let log = match c.issue_cmd(BrowserLog).await {
        Ok(v) => v,
        Err(e) => fail(c, name, &format!("the browser log is unreadable: {e}")).await,
    };
    let bad: Vec<String> = log
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| matches!(e["level"].as_str(), Some("SEVERE" | "WARNING")))
        .map(|e| e["message"].as_str().unwrap_or("").to_string())
        .filter(|m| !m.contains("favicon.ico"))
        .collect();
    if !bad.is_empty() {
        fail(c, name, &format!("the console says {bad:?}")).await;
    }
}

pub(crate) fn product_url(app: &TestApp, channel: u64, id: u64) -> String {
    app.bc.product_url_on(STORE, channel, id)
}

fn pp3_product_page() -> Vec<(&'static str, String)> {
    with(
        form(),
        &[("product_enabled", "on"), ("product_method", "pp3")],
    )
}

#[tokio::test]
async fn the_product_page_shows_the_instalment_for_its_price_and_follows_the_variant() {
    let name = "widgets-product";
    let (app, _) = store_with(
        &[
            ("allowed_ips", ""),
            (
                "excluded_product",
                r#"{"id":105,"name":"Botas de piel","sku":"BOT-001"}"#,
            ),
            ("excluded_category", r#"{"id":22,"name":"Accesorios"}"#),
        ],
        &pp3_product_page(),
    )
    .await;
    let (c, _driver) = browser().await;

    // 79,90 €: 3 instalments of 26,64 €, right below the price.
    c.goto(&product_url(&app, 1, 104)).await.unwrap();
    let w = wait_widgets(&c, name, "one pp3 widget for 79,90 €", |w| {
        w.len() == 1 && w[0].2 == pp3_widget(7990)
    })
    .await;
    assert_eq!(
        (
            w[0].0.as_str(),
            w[0].1.as_str(),
            w[0].3.as_str(),
            w[0].4.as_str()
        ),
        ("pp3", "7990", "product_below_price", "text"),
        "{w:?}"
    );
    no_console_errors(&c, name).await;

    // The page changing elsewhere (another script's DOM work) redraws nothing: the amount is
    // the same. And drawing the widget shifted the page's layout no more than a little.
    let before = c
        .execute("return window.__sequraRefreshes || 0;", vec![])
        .await
        .unwrap();
    c.execute(
        r#"var d = document.createElement("div"); d.textContent = "promo";
           document.body.appendChild(d);
           document.querySelector("h1").textContent += " ";"#,
        vec![],
    )
    .await
    .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let after = c
        .execute("return window.__sequraRefreshes || 0;", vec![])
        .await
        .unwrap();
    if before != after || widgets(&c).await.len() != 1 {
        fail(
            &c,
            name,
            &format!("redrawn for nothing: {before} → {after} refreshes"),
        )
        .await;
    }
    let shift = c
        .execute_async(
            r#"var done = arguments[arguments.length - 1], total = 0;
               new PerformanceObserver(function (list) {
                 list.getEntries().forEach(function (e) { if (!e.hadRecentInput) total += e.value; });
               }).observe({ type: "layout-shift", buffered: true });
               setTimeout(function () { done(total); }, 100);"#,
            vec![],
        )
        .await
        .unwrap();
    // Web Vitals' "good" is under 0.1 for the whole page's life.
    if shift.as_f64().is_none_or(|s| s >= 0.1) {
        fail(&c, name, &format!("the layout shifted by {shift}")).await;
    }

    // 49,95 €, under pp3's 50 € minimum: nothing. The dearer variant, 89,95 €: its
    // instalment; back to the cheaper one: nothing again.
    c.goto(&product_url(&app, 1, 103)).await.unwrap();
    page_settled(&c, name).await;
    wait_widgets(&c, name, "no widget under the minimum", |w| w.is_empty()).await;
    let select = expect(&c, name, "select[data-product-variant]").await;
    select.select_by_value("2103").await.unwrap();
    let w = wait_widgets(&c, name, "the dearer variant's instalment", |w| {
        w.len() == 1 && w[0].2 == pp3_widget(8995)
    })
    .await;
    assert_eq!(w[0].1, "8995");
    select.select_by_value("1103").await.unwrap();
    wait_widgets(&c, name, "none again under the minimum", |w| w.is_empty()).await;
    no_console_errors(&c, name).await;

    // An excluded product (105, 129 €) and a product of an excluded category (106, 59 €,
    // Accesorios): none, though their prices are in pp3's range.
    for id in [105, 106] {
        c.goto(&product_url(&app, 1, id)).await.unwrap();
        page_settled(&c, name).await;
        let w = widgets(&c).await;
        if !w.is_empty() {
            fail(&c, name, &format!("product {id} is excluded, yet {w:?}")).await;
        }
    }
    no_console_errors(&c, name).await;
    c.close().await.unwrap();
}

#[tokio::test]
async fn each_eligible_listing_card_shows_its_instalment_or_the_minimum() {
    let name = "widgets-listing";
    let (app, _) = store_with(
        &[
            ("allowed_ips", ""),
            (
                "excluded_product",
                r#"{"id":105,"name":"Botas de piel","sku":"BOT-001"}"#,
            ),
        ],
        &with(
            form(),
            &[("listing_enabled", "on"), ("listing_method", "pp3")],
        ),
    )
    .await;
    let (c, _driver) = browser().await;
    // Every product: 101 19,95 €, 102 29,95 €, 103 49,95 €, 104 79,90 €, 105 (excluded),
    // 106 59 €, 107 12 €, 108 50 €, 109 9,90 €.
    let want: Vec<(u64, Option<String>)> = [
        (101, 1995),
        (102, 2995),
        (103, 4995),
        (104, 7990),
        (105, 12900),
        (106, 5900),
        (107, 1200),
        (108, 5000),
        (109, 990),
    ]
    .into_iter()
    .map(|(id, cents)| (id, (id != 105).then(|| pp3_mini(cents))))
    .collect();
    c.goto(&format!("{}/", app.bc.storefront_url(STORE)))
        .await
        .unwrap();
    let js = "return Array.prototype.map.call(document.querySelectorAll('article.card'), function (card) { \
              var m = card.querySelectorAll('small.sequra-promotion-miniwidget'); \
              return [Number(card.getAttribute('data-entity-id')), m.length, m.length ? m[0].textContent : null, \
              m.length ? m[0].previousElementSibling.getAttribute('data-test-info-type') : null]; });";
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut last = Value::Null;
    loop {
        let cards = c.execute(js, vec![]).await.unwrap_or(Value::Null);
        let got: Vec<(u64, Option<String>)> = cards
            .as_array()
            .into_iter()
            .flatten()
            .filter(|card| card[1].as_u64() == Some(card[2].is_string() as u64))
            .filter(|card| card[2].is_null() || card[3] == "price")
            .map(|card| {
                (
                    card[0].as_u64().unwrap_or(0),
                    card[2].as_str().map(str::to_string),
                )
            })
            .collect();
        if got == want {
            break;
        }
        last = cards;
        if std::time::Instant::now() > deadline {
            fail(&c, name, &format!("want {want:?}, the cards say {last}")).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    no_console_errors(&c, name).await;

    // A category's listing: the same cards of it.
    c.goto(&format!("{}/categories/21", app.bc.storefront_url(STORE)))
        .await
        .unwrap();
    let js = "return Array.prototype.map.call(document.querySelectorAll('small.sequra-promotion-miniwidget'), \
              function (m) { return m.textContent; });";
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let texts = c.execute(js, vec![]).await.unwrap_or(Value::Null);
        if texts == serde_json::json!([pp3_mini(7990)]) {
            break;
        }
        if std::time::Instant::now() > deadline {
            fail(&c, name, &format!("Calzado's cards say {texts}")).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = last;
    no_console_errors(&c, name).await;
    c.close().await.unwrap();
}

/// Cents of the cart's grand total as the page shows it.
async fn grand_total(c: &Client) -> Option<i64> {
    let t = c
        .execute(
            "var e = document.querySelector('.cart-total-grandTotal'); return e ? e.textContent : null;",
            vec![],
        )
        .await
        .ok()?;
    let digits: String = t.as_str()?.chars().filter(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[tokio::test]
async fn the_cart_widget_follows_a_quantity_change() {
    let name = "widgets-cart";
    let (app, _) = store_with(
        &[],
        &with(form(), &[("cart_enabled", "on"), ("cart_method", "pp3")]),
    )
    .await;
    let checkout = app.bc.create_checkout(STORE, &[(104, 1)], "ES");
    let (c, _driver) = browser().await;
    c.goto(&app.bc.cart_url_on(STORE, 1, &checkout))
        .await
        .unwrap();
    expect(&c, name, ".cart-total-grandTotal").await;
    let before = grand_total(&c).await.unwrap();
    let w = wait_widgets(&c, name, "the cart's widget", |w| {
        w.len() == 1 && w[0].2 == pp3_widget(before)
    })
    .await;
    assert_eq!(w[0].1, before.to_string());

    // One more pair: the theme re-renders the totals; the widget follows, still one.
    expect(&c, name, "button[data-action=\"inc\"]")
        .await
        .click()
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let after = loop {
        match grand_total(&c).await {
            Some(t) if t != before => break t,
            _ if std::time::Instant::now() > deadline => {
                fail(&c, name, "the quantity did not change").await
            }
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    let w = wait_widgets(&c, name, "the widget after the quantity change", |w| {
        w.len() == 1 && w[0].2 == pp3_widget(after)
    })
    .await;
    assert_eq!(w[0].1, after.to_string());
    no_console_errors(&c, name).await;
    c.close().await.unwrap();
}

#[tokio::test]
async fn a_visitor_outside_the_allowed_ips_sees_no_widget_and_sequras_script_is_not_loaded() {
    let name = "widgets-ip";
    let (app, _) = store_with(
        &[("allowed_ips", "203.0.113.9")],
        &with(
            pp3_product_page(),
            &[("listing_enabled", "on"), ("listing_method", "pp3")],
        ),
    )
    .await;
    let loads = app.sequra.asset_requests();
    let (c, _driver) = browser().await;
    for url in [
        product_url(&app, 1, 104),
        format!("{}/", app.bc.storefront_url(STORE)),
    ] {
        c.goto(&url).await.unwrap();
        page_settled(&c, name).await;
        let drawn = c
            .execute(
                "return document.querySelectorAll('.sequra-promotion-widget, .sequra-promotion-miniwidget').length \
                 + (typeof window.SequraConfiguration === 'undefined' ? 0 : 100) \
                 + document.querySelectorAll('script[src*=\"sequra-checkout.min.js\"]').length * 1000;",
                vec![],
            )
            .await
            .unwrap();
        if drawn != 0 {
            fail(&c, name, &format!("{url}: widgets/config/script = {drawn}")).await;
        }
    }
    if app.sequra.asset_requests() != loads {
        fail(
            &c,
            name,
            "seQura's script was loaded for a visitor outside the allowed IPs",
        )
        .await;
    }
    no_console_errors(&c, name).await;
    c.close().await.unwrap();
}

#[tokio::test]
async fn a_method_override_hides_one_widget_and_moves_another() {
    let name = "widgets-override";
    let (app, _) = store_with(
        &[],
        &with(
            pp3_product_page(),
            &[
                ("override_0_method", "pp3"),
                ("override_0_hidden", "on"),
                ("override_1_method", "sp1"),
                ("override_1_location", ".productView-title"),
                ("override_1_style", r#"{"type":"banner"}"#),
            ],
        ),
    )
    .await;
    let (c, _driver) = browser().await;
    c.goto(&product_url(&app, 1, 104)).await.unwrap();
    let w = wait_widgets(&c, name, "sp1 under the title, pp3 hidden", |w| {
        w.len() == 1 && w[0].0 == "sp1" && w[0].2.contains(&euros(2664))
    })
    .await;
    assert_eq!(
        (w[0].3.as_str(), w[0].4.as_str()),
        ("productView-title", "banner"),
        "{w:?}"
    );
    no_console_errors(&c, name).await;
    c.close().await.unwrap();
}

#[tokio::test]
async fn bad_widget_settings_are_refused_inline_in_the_browser_and_nothing_is_saved() {
    let name = "widgets-bad-settings";
    let (app, _) = ready().await;
    let (c, _driver) = browser().await;
    c.set_window_size(1280, 1000).await.unwrap();
    let base = app.bc.base_url().as_str().trim_end_matches('/').to_string();
    c.goto(&format!("{base}/manage/{STORE}/app")).await.unwrap();
    crate::browser::enter_iframe(&c).await;
    click_and_load(&c, name, "#nav-widgets").await;
    crate::browser::click(&c, name, "#product_enabled").await;
    expect(&c, name, "#product_method")
        .await
        .select_by_value("pp3")
        .await
        .unwrap();
    // The live preview follows the preset and the typed style, and says when it is no JSON.
    let preview = r#"var p = document.getElementById("widget-preview");
        return [getComputedStyle(p).backgroundColor,
                document.getElementById("widget-preview-invalid").hidden];"#;
    expect(&c, name, "#style_preset")
        .await
        .select_by_value("banner")
        .await
        .unwrap();
    let seen = c.execute(preview, vec![]).await.unwrap();
    if seen != serde_json::json!(["rgb(0, 194, 163)", true]) {
        fail(&c, name, &format!("the banner preset's preview: {seen}")).await;
    }
    expect(&c, name, "#style_preset")
        .await
        .select_by_value("")
        .await
        .unwrap();
    type_into(&c, name, "#style", r##"{"background-color": "#FF0000""##).await;
    let seen = c.execute(preview, vec![]).await.unwrap();
    if seen[1] != serde_json::json!(false) {
        fail(
            &c,
            name,
            &format!("no JSON, and the preview says nothing: {seen}"),
        )
        .await;
    }
    type_into(&c, name, "#style", r#"{"size": "M", "onload": "alert(1)"}"#).await;
    click_and_load(&c, name, "#widgets-submit").await;
    let msg = expect(&c, name, "#style-error").await.text().await.unwrap();
    if !msg.contains("onload") {
        fail(&c, name, &format!("the style error says {msg:?}")).await;
    }
    // Refused, and what the merchant typed is still there to correct.
    let kept = expect(&c, name, "#style")
        .await
        .prop("value")
        .await
        .unwrap();
    if !kept.unwrap_or_default().contains("onload") {
        fail(&c, name, "the refused style was not kept in the form").await;
    }
    if app.count("SELECT COUNT(*) FROM widget_settings") != 0 {
        fail(&c, name, "bad settings were saved").await;
    }
    c.close().await.unwrap();
}

#[tokio::test]
async fn settings_saved_for_the_second_storefront_apply_there_only() {
    let name = "widgets-second-storefront";
    let (app, session) = ready().await;
    let france = crate::storefronts::with_france(&app).await;
    save(
        &app,
        &session,
        &format!("/app/widgets?storefront={france}"),
        &pp3_product_page(),
    )
    .await;
    eventually("the widget script on the French storefront", || {
        widget_scripts(&app).contains(&france).then_some(())
    })
    .await;
    settled(&app).await;
    let (c, _driver) = browser().await;
    c.goto(&product_url(&app, france, 104)).await.unwrap();
    let w = wait_widgets(&c, name, "the French storefront's widget", |w| {
        w.len() == 1 && w[0].0 == "pp3" && w[0].2.contains(&euros(2664))
    })
    .await;
    assert_eq!(w[0].1, "7990");
    no_console_errors(&c, name).await;

    c.goto(&product_url(&app, 1, 104)).await.unwrap();
    if widget_scripts(&app).contains(&1) {
        page_settled(&c, name).await;
    } else {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let w = widgets(&c).await;
    if !w.is_empty() {
        fail(&c, name, &format!("the Spanish storefront shows {w:?}")).await;
    }
    no_console_errors(&c, name).await;
    c.close().await.unwrap();
}
