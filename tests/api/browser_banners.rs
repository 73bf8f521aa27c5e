//! Banners seQura pushes, as a shopper sees them (issue 32): sent through the signed
//! configuration webhook, drawn by the app's storefront script on the stand-in's
//! Cornerstone-shaped pages in the widget region of the page seQura named, as a link opening
//! in a new tab, with its room reserved; nothing for a visitor whose address is not allowed.

use std::time::Duration;

use fantoccini::Client;
use serde_json::{Value, json};

use crate::banners::{entry, png, save};
use crate::browser::{browser, fail};
use crate::browser_widgets::{no_console_errors, page_settled, product_url};
use crate::checkout::{STORE, ready, settled};

/// What the page's banners are: per banner, the region it is in, its link's href, target and
/// rel, its image's src, alt, loaded size and drawn size.
const BANNERS_JS: &str = "return Array.prototype.map.call(document.querySelectorAll('.sequra-banner'), function (b) { \
    var a = b.querySelector('a'), i = b.querySelector('img'), r = i.getBoundingClientRect(); \
    return { region: b.parentNode.getAttribute('data-content-region'), first: b.parentNode.firstChild === b, \
    href: a.getAttribute('href'), target: a.getAttribute('target'), rel: a.getAttribute('rel'), \
    src: i.getAttribute('src'), alt: i.getAttribute('alt'), natural: [i.naturalWidth, i.naturalHeight], \
    loaded: i.complete && i.naturalWidth > 0, drawn: [r.width, r.height] }; });";

async fn banners(c: &Client) -> Vec<Value> {
    c.execute(BANNERS_JS, vec![])
        .await
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
}

/// Waits until the page has one banner with its image loaded.
async fn one_loaded_banner(c: &Client, name: &str) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let b = banners(c).await;
        if b.len() == 1 && b[0]["loaded"] == true {
            return b[0].clone();
        }
        if std::time::Instant::now() > deadline {
            fail(c, name, &format!("no loaded banner: the page has {b:?}")).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_banner_pushed_by_sequra_is_shown_at_its_page_and_not_to_a_visitor_not_allowed() {
    let name = "banners";
    let (app, session) = ready().await;
    let image = png(600, 100, [180, 20, 60]);
    let (status, v) = save(
        &app,
        vec![entry(
            "ES",
            "displayOnHomePage",
            "https://www.sequra.com/es/financiacion",
            Some(&image),
        )],
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let image_url = v["bannerConfigs"][0]["imageUrl"]
        .as_str()
        .unwrap()
        .to_string();
    crate::order_sync::eventually("the widget script on the storefront", || {
        app.bc
            .scripts_of(STORE)
            .iter()
            .any(|(c, _, src)| *c == 1 && src.contains("/assets/widgets/sequra-widgets."))
            .then_some(())
    })
    .await;
    settled(&app).await;

    let (c, _driver) = browser().await;
    let home = format!("{}/", app.bc.storefront_url(STORE));
    c.goto(&home).await.unwrap();
    let b = one_loaded_banner(&c, name).await;
    let want = (
        json!("home_below_menu"),
        json!(true),
        json!("https://www.sequra.com/es/financiacion"),
        json!("_blank"),
        json!("noopener noreferrer"),
        json!(image_url),
        json!("Paga a plazos con seQura"),
        json!([600, 100]),
    );
    let got = (
        b["region"].clone(),
        b["first"].clone(),
        b["href"].clone(),
        b["target"].clone(),
        b["rel"].clone(),
        b["src"].clone(),
        b["alt"].clone(),
        b["natural"].clone(),
    );
    if got != want {
        fail(&c, name, &format!("the banner is {b}")).await;
    }
    // Drawn at its own shape (scaled to the region at most), the room it was given before
    // the image arrived.
    let (w, h) = (
        b["drawn"][0].as_f64().unwrap(),
        b["drawn"][1].as_f64().unwrap(),
    );
    if !(w > 0.0 && w <= 600.0 && (h - w / 6.0).abs() < 1.0) {
        fail(&c, name, &format!("drawn {w} × {h}")).await;
    }
    // The page's layout shifts (Web Vitals' CLS), for the report: the banner's insertion is
    // one shift; its image arriving is none.
    let shifts = c
        .execute_async(
            r#"var done = arguments[arguments.length - 1], all = [];
               new PerformanceObserver(function (list) {
                 list.getEntries().forEach(function (e) { if (!e.hadRecentInput) all.push(e.value); });
               }).observe({ type: "layout-shift", buffered: true });
               setTimeout(function () { done(all); }, 100);"#,
            vec![],
        )
        .await
        .unwrap();
    eprintln!("banner page layout shifts: {shifts}");
    if shifts.as_array().is_none_or(|s| s.len() > 1) {
        fail(
            &c,
            name,
            &format!("the layout shifted more than once: {shifts}"),
        )
        .await;
    }
    no_console_errors(&c, name).await;

    // Another kind of page: no banner there.
    c.goto(&product_url(&app, 1, 104)).await.unwrap();
    page_settled(&c, name).await;
    let b = banners(&c).await;
    if !b.is_empty() {
        fail(
            &c,
            name,
            &format!("a home-page banner on a product page: {b:?}"),
        )
        .await;
    }
    c.close().await.unwrap();

    // seQura moves it to the product pages (same image): there it is, under the product.
    let (status, v) = save(
        &app,
        vec![entry(
            "ES",
            "displayOnProductPage",
            "https://www.sequra.com/es/financiacion",
            None,
        )],
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let (c, _driver) = browser().await;
    c.goto(&product_url(&app, 1, 104)).await.unwrap();
    let b = one_loaded_banner(&c, name).await;
    if b["region"] != "product_below_content" || b["src"] != json!(image_url) {
        fail(&c, name, &format!("the moved banner is {b}")).await;
    }
    c.goto(&home).await.unwrap();
    page_settled(&c, name).await;
    if !banners(&c).await.is_empty() {
        fail(&c, name, "the moved banner is still on the home page").await;
    }
    c.close().await.unwrap();

    // A visitor whose address is not among the allowed IPs: nothing.
    let resp = app
        .post_form("/app/general", &session, &[("allowed_ips", "10.1.2.3")])
        .await;
    assert_eq!(resp.status(), 303);
    let (c, _driver) = browser().await;
    c.goto(&product_url(&app, 1, 104)).await.unwrap();
    page_settled(&c, name).await;
    let b = banners(&c).await;
    if !b.is_empty() {
        fail(&c, name, &format!("a visitor not allowed sees {b:?}")).await;
    }
    no_console_errors(&c, name).await;
    c.close().await.unwrap();
}
