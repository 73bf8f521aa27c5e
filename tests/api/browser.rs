//! The merchant's path in a real browser (headless Chromium through ChromeDriver): install
//! from the simulated control panel, the app rendered inside the panel's iframe (which only
//! works when our CSP allows the framing), the order panel from the App Extension.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};

use crate::helpers::spawn_app;

/// ChromeDriver as a child process, killed on drop.
pub(crate) struct Driver {
    child: Child,
    url: String,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) async fn browser() -> (Client, Driver) {
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver is installed (scripts/test.sh installs chromium-driver)");
    let profile = tempfile::tempdir().unwrap();
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _profile: profile,
    };
    let caps: serde_json::Map<String, serde_json::Value> = serde_json::from_value(serde_json::json!({
        // The page's console, for the tests that check a page logs no error.
        "goog:loggingPrefs": {"browser": "ALL"},
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--no-first-run", "--disable-quic",
                     format!("--user-data-dir={}", driver._profile.path().display())]
        }
    }))
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        match ClientBuilder::rustls()
            .unwrap()
            .capabilities(caps.clone())
            .connect(&driver.url)
            .await
        {
            Ok(c) => return (c, driver),
            Err(e) if std::time::Instant::now() > deadline => panic!("chromedriver: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

pub(crate) async fn text_of(c: &Client, css: &str) -> String {
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap()
}

/// Clicks "Install seQura" in the simulated control panel and enters the app's iframe.
async fn install_from_control_panel(c: &Client, base: &str) {
    c.goto(&format!("{base}/manage/store1")).await.unwrap();
    c.find(Locator::XPath("//button[contains(., 'Install seQura')]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    enter_iframe(c).await;
}

pub(crate) async fn enter_iframe(c: &Client) {
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("iframe"))
        .await
        .unwrap()
        .enter_frame()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_merchant_installs_from_the_control_panel_and_sees_the_app_in_its_iframe() {
    let app = spawn_app().await;
    app.add_store("store1");
    let (c, _driver) = browser().await;
    let base = app.bc.base_url().as_str().trim_end_matches('/').to_string();

    install_from_control_panel(&c, &base).await;
    let health = text_of(&c, "#install-health").await;
    assert!(health.contains("All set"), "{health}");
    let connection = text_of(&c, "#connection").await;
    assert!(connection.contains("Not connected"), "{connection}");
    // Navigation inside the iframe keeps the session without cookies.
    c.find(Locator::Css("#nav-dashboard"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let health = text_of(&c, "#install-health").await;
    assert!(health.contains("All set"), "{health}");
    assert_eq!(app.bc.scripts("store1").len(), 1);

    // The order panel through the App Extension.
    c.enter_parent_frame().await.unwrap();
    c.goto(&format!("{base}/manage/store1/orders?panel=106"))
        .await
        .unwrap();
    enter_iframe(&c).await;
    let panel = text_of(&c, "#order-panel").await;
    assert!(panel.contains("#106"), "{panel}");
    c.close().await.unwrap();
}

#[tokio::test]
async fn a_failing_item_shows_its_reason_and_the_retry_button_repairs_it_in_the_browser() {
    let app = spawn_app().await;
    app.add_store("store1");
    app.bc.fail_next("POST", "/v3/hooks", 503, 1);
    let (c, _driver) = browser().await;
    let base = app.bc.base_url().as_str().trim_end_matches('/').to_string();
    install_from_control_panel(&c, &base).await;
    let health = text_of(&c, "#install-health").await;
    assert!(health.contains("Needs attention"), "{health}");
    assert!(health.contains("webhooks"), "{health}");
    c.find(Locator::Css("#retry-provisioning"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::XPath(
            "//*[@id='install-health'][contains(., 'All set')]",
        ))
        .await
        .unwrap();
    assert_eq!(
        app.bc.webhooks("store1").len(),
        sequra_bc::stores::provisioning::WEBHOOK_SCOPES.len()
    );
    c.close().await.unwrap();
}

/// Saves a screenshot under `target/test-screenshots/` and fails the test with `msg`.
pub(crate) async fn fail(c: &Client, name: &str, msg: &str) -> ! {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-screenshots");
    let _ = std::fs::create_dir_all(&dir);
    if let Ok(png) = c.screenshot().await {
        let _ = std::fs::write(dir.join(format!("{name}.png")), png);
    }
    // Ends the browser too: killing ChromeDriver alone would leave Chromium running.
    let _ = c.clone().close().await;
    panic!("{msg} (screenshot: target/test-screenshots/{name}.png)");
}

/// Waits for `css`; on timeout saves a screenshot and fails.
pub(crate) async fn expect(c: &Client, name: &str, css: &str) -> fantoccini::elements::Element {
    match c
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
    {
        Ok(e) => e,
        Err(e) => fail(c, name, &format!("{css} did not appear: {e}")).await,
    }
}

pub(crate) async fn click(c: &Client, name: &str, css: &str) {
    expect(c, name, css).await.click().await.unwrap();
}

/// Clicks what submits a form or follows a link, and waits until the next page replaced the
/// current one (so the next lookup never finds an element of the old page).
pub(crate) async fn click_and_load(c: &Client, name: &str, css: &str) {
    let old = c.find(Locator::Css("html")).await.unwrap();
    click(c, name, css).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while old.attr("lang").await.is_ok() {
        if std::time::Instant::now() > deadline {
            fail(c, name, &format!("clicking {css} loaded no new page")).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn type_into(c: &Client, name: &str, css: &str, text: &str) {
    let e = expect(c, name, css).await;
    e.clear().await.unwrap();
    e.send_keys(text).await.unwrap();
}

async fn checked(c: &Client, css: &str) -> bool {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .prop("checked")
        .await
        .unwrap()
        .as_deref()
        == Some("true")
}

#[tokio::test]
async fn a_merchant_onboards_and_configures_everything_and_finds_it_saved_after_a_reload() {
    use sequra_bc_sandbox::sequra::{DEMO_PASSWORD, DEMO_USERNAME};
    let name = "onboarding";
    let app = spawn_app().await;
    app.add_store("store1");
    let (c, _driver) = browser().await;
    c.set_window_size(1280, 1000).await.unwrap();
    let base = app.bc.base_url().as_str().trim_end_matches('/').to_string();
    install_from_control_panel(&c, &base).await;

    // Open the app from the Apps menu: not connected yet, so the connection page.
    c.enter_parent_frame().await.unwrap();
    c.goto(&format!("{base}/manage/store1/app")).await.unwrap();
    enter_iframe(&c).await;
    type_into(&c, name, "#username", DEMO_USERNAME).await;
    type_into(&c, name, "#password", "wrong-password").await;
    click_and_load(&c, name, "#connect-submit").await;
    expect(&c, name, "#password-error").await;
    if app.count("SELECT count(*) FROM sequra_connections") != 0 {
        fail(&c, name, "wrong credentials were stored").await;
    }
    type_into(&c, name, "#password", DEMO_PASSWORD).await;
    click_and_load(&c, name, "#connect-submit").await;

    // Countries, prefilled from the credentials: keep Spain and France, drop Portugal.
    expect(&c, name, "#countries-form").await;
    if checked(&c, "#country-PT").await {
        click(&c, name, "#country-PT").await;
    }
    click_and_load(&c, name, "#countries-submit").await;

    // Payment methods, filtered to France.
    expect(&c, name, "#methods-table").await;
    expect(&c, name, "#country-filter")
        .await
        .select_by_value("FR")
        .await
        .unwrap();
    click_and_load(&c, name, "#methods-filter-submit").await;
    expect(&c, name, "#methods-table").await;
    let rows = c
        .find_all(Locator::Css("#methods-table tbody tr"))
        .await
        .unwrap();
    for row in &rows {
        if row.attr("data-country").await.unwrap().as_deref() != Some("FR") {
            fail(&c, name, "the country filter let another country through").await;
        }
    }
    if rows.is_empty() {
        fail(&c, name, "no French methods").await;
    }

    // General settings: an allowed IP and an excluded product found by SKU.
    click_and_load(&c, name, "#nav-general").await;
    type_into(&c, name, "#q", "CAM-001").await;
    click_and_load(&c, name, "#search-submit").await;
    click(&c, name, "#excluded-products input[type=checkbox]").await;
    type_into(&c, name, "#allowed_ips", "203.0.113.7").await;
    click_and_load(&c, name, "#general-submit").await;
    expect(&c, name, "#notice").await;

    // Status mapping: approved → Completed (10).
    click_and_load(&c, name, "#nav-order-status").await;
    expect(&c, name, "#map-approved")
        .await
        .select_by_value("10")
        .await
        .unwrap();
    click_and_load(&c, name, "#status-submit").await;
    expect(&c, name, "#notice").await;

    // Reload the app from the control panel and find everything as saved.
    c.enter_parent_frame().await.unwrap();
    c.goto(&format!("{base}/manage/store1/app")).await.unwrap();
    enter_iframe(&c).await;
    expect(&c, name, "#install-health").await;
    click_and_load(&c, name, "#nav-connect").await;
    let user = expect(&c, name, "#current-username")
        .await
        .text()
        .await
        .unwrap();
    if user != DEMO_USERNAME {
        fail(&c, name, &format!("connected as {user}")).await;
    }
    click_and_load(&c, name, "#nav-countries").await;
    expect(&c, name, "#countries-form").await;
    if !checked(&c, "#country-ES").await
        || !checked(&c, "#country-FR").await
        || checked(&c, "#country-PT").await
    {
        fail(&c, name, "countries not as saved").await;
    }
    click_and_load(&c, name, "#nav-general").await;
    let ips = expect(&c, name, "#allowed_ips")
        .await
        .prop("value")
        .await
        .unwrap();
    if ips.as_deref() != Some("203.0.113.7") {
        fail(&c, name, &format!("allowed IPs are {ips:?}")).await;
    }
    if !checked(&c, "#excluded-products input[type=checkbox]").await {
        fail(&c, name, "the excluded product is not ticked").await;
    }
    click_and_load(&c, name, "#nav-order-status").await;
    let approved = expect(&c, name, "#map-approved")
        .await
        .prop("value")
        .await
        .unwrap();
    if approved.as_deref() != Some("10") {
        fail(&c, name, &format!("approved maps to {approved:?}")).await;
    }
    c.close().await.unwrap();
}

/// A store ready to sell with seQura (connected; Spain and France configured).
async fn selling_store() -> crate::helpers::TestApp {
    use sequra_bc_sandbox::sequra::{DEMO_MERCHANT_ES, DEMO_MERCHANT_FR};
    let app = spawn_app().await;
    let session = app.merchant_session("store1").await;
    app.connect_demo(&session).await;
    app.post_form(
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
    app
}

fn order_status(app: &crate::helpers::TestApp, id: u64) -> u64 {
    app.bc
        .order("store1", id)
        .map(|o| o["status_id"].as_u64().unwrap_or(99))
        .unwrap_or(99)
}

fn only_order(app: &crate::helpers::TestApp) -> u64 {
    let orders = app.bc.orders("store1");
    assert_eq!(orders.len(), 1, "exactly one order: {orders:?}");
    orders[0]["id"].as_u64().unwrap()
}

#[tokio::test]
async fn a_spanish_shopper_pays_with_i1_and_lands_on_the_order_confirmation_page() {
    let name = "checkout-i1";
    let app = selling_store().await;
    let checkout = app.bc.create_checkout("store1", &[(104, 1)], "ES");
    let (c, _driver) = browser().await;
    c.set_window_size(1280, 1000).await.unwrap();
    c.goto(&app.bc.checkout_url("store1", &checkout))
        .await
        .unwrap();
    click(&c, name, "#sequra-methods button[data-product=\"i1\"]").await;
    expect(&c, name, "#sequra-overlay [data-testid=\"sq-pay\"]").await;
    click(&c, name, "#sequra-overlay [data-testid=\"sq-pay\"]").await;
    expect(&c, name, ".order-confirmation").await;
    let order = only_order(&app);
    if order_status(&app, order) != 11 {
        fail(&c, name, "the order is not Awaiting Fulfillment").await;
    }
    c.close().await.unwrap();
}

#[tokio::test]
async fn review_test_approve_shows_the_review_notice_before_the_confirmation() {
    let name = "checkout-review";
    let app = selling_store().await;
    let checkout = app.bc.create_checkout("store1", &[(104, 1)], "ES");
    let (c, _driver) = browser().await;
    c.set_window_size(1280, 1000).await.unwrap();
    c.goto(&app.bc.checkout_url("store1", &checkout))
        .await
        .unwrap();
    click(&c, name, "#sequra-methods button[data-product=\"i1\"]").await;
    click(
        &c,
        name,
        "#sequra-overlay input[name=profile][value=\"review_approve\"]",
    )
    .await;
    app.sequra.set_review_delay(Duration::from_secs(4));
    click(&c, name, "#sequra-overlay [data-testid=\"sq-pay\"]").await;
    let notice = expect(&c, name, "#shopper[data-kind=\"review\"]")
        .await
        .text()
        .await
        .unwrap();
    if !notice.contains("revisión") {
        fail(&c, name, &format!("review notice: {notice}")).await;
    }
    let order = only_order(&app);
    if order_status(&app, order) != 12 {
        fail(&c, name, "the order is not Manual Verification Required").await;
    }
    click(&c, name, "#shopper-continue").await;
    expect(&c, name, ".order-confirmation").await;
    for _ in 0..100 {
        if order_status(&app, order) == 11 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if order_status(&app, order) != 11 {
        fail(
            &c,
            name,
            "approved after review, the order is not Awaiting Fulfillment",
        )
        .await;
    }
    c.close().await.unwrap();
}

#[tokio::test]
async fn unticked_terms_keep_the_shopper_on_the_payment_step_and_nothing_reaches_sequra() {
    let name = "checkout-terms";
    let app = selling_store().await;
    app.bc.set_terms("store1", true);
    let checkout = app.bc.create_checkout("store1", &[(104, 1)], "ES");
    let (c, _driver) = browser().await;
    c.set_window_size(1280, 1000).await.unwrap();
    c.goto(&app.bc.checkout_url("store1", &checkout))
        .await
        .unwrap();
    click(&c, name, "#sequra-methods button[data-product=\"i1\"]").await;
    let msg = expect(&c, name, "#sequra-methods .sequra-message")
        .await
        .text()
        .await
        .unwrap();
    if msg.is_empty() {
        fail(&c, name, "no terms message").await;
    }
    if !app.sequra.orders().is_empty() || !app.bc.orders("store1").is_empty() {
        fail(&c, name, "a solicitation was made with the terms unticked").await;
    }
    // Ticking the box lets the payment start.
    click(&c, name, "input#terms").await;
    click(&c, name, "#sequra-methods button[data-product=\"i1\"]").await;
    expect(&c, name, "#sequra-overlay [data-testid=\"sq-pay\"]").await;
    // Closing the form returns to the payment step with the cart intact.
    click(&c, name, "#sequra-overlay [data-sq-close]").await;
    let msg = expect(&c, name, "#sequra-methods .sequra-message")
        .await
        .text()
        .await
        .unwrap();
    if msg.is_empty() || c.find(Locator::Css("#sequra-overlay")).await.is_ok() {
        fail(&c, name, "closing the form did not bring the shopper back").await;
    }
    c.close().await.unwrap();
}

#[tokio::test]
async fn double_clicks_start_one_solicitation() {
    let name = "checkout-double";
    let app = selling_store().await;
    let checkout = app.bc.create_checkout("store1", &[(104, 1)], "ES");
    let (c, _driver) = browser().await;
    c.goto(&app.bc.checkout_url("store1", &checkout))
        .await
        .unwrap();
    let b = expect(&c, name, "#sequra-methods button[data-product=\"i1\"]").await;
    for _ in 0..3 {
        let _ = b.click().await;
    }
    expect(&c, name, "#sequra-overlay [data-testid=\"sq-pay\"]").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    if app.sequra.orders().len() != 1 {
        fail(
            &c,
            name,
            &format!("{} solicitations", app.sequra.orders().len()),
        )
        .await;
    }
    c.close().await.unwrap();
}

/// The window a `target="_blank"` link opened (one that was not in `before`), once it exists.
async fn opened_window(
    c: &Client,
    name: &str,
    before: &[fantoccini::wd::WindowHandle],
) -> fantoccini::wd::WindowHandle {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now = c.windows().await.unwrap();
        if let Some(w) = now.into_iter().find(|w| !before.contains(w)) {
            return w;
        }
        if std::time::Instant::now() > deadline {
            fail(c, name, "the link opened no new window").await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Clicks a link that opens a new window, checks the page there shows `css`, closes it and
/// comes back into the app's iframe. Returns the URL it opened.
async fn follow_new_window(c: &Client, name: &str, link_css: &str, expected_css: &str) -> String {
    let app_window = c.window().await.unwrap();
    let before = c.windows().await.unwrap();
    click(c, name, link_css).await;
    let w = opened_window(c, name, &before).await;
    c.switch_to_window(w).await.unwrap();
    expect(c, name, expected_css).await;
    let url = c.current_url().await.unwrap().to_string();
    c.close_window().await.unwrap();
    c.switch_to_window(app_window).await.unwrap();
    enter_iframe(c).await;
    url
}

#[tokio::test]
async fn a_refused_update_shows_in_the_log_its_links_open_the_order_and_retry_resolves_it() {
    use crate::transaction_log::{REFUSAL, eventually, paid_order, refused_shipment};
    let name = "transaction-log";
    let app = selling_store().await;
    let (order, uuid) = paid_order(&app, &[(104, 1)]).await;
    let entry = refused_shipment(&app, order).await;

    let (c, _driver) = browser().await;
    c.set_window_size(1280, 1000).await.unwrap();
    let base = app.bc.base_url().as_str().trim_end_matches('/').to_string();
    c.goto(&format!("{base}/manage/store1/app")).await.unwrap();
    enter_iframe(&c).await;
    click_and_load(&c, name, "#nav-log").await;
    let row = format!("#entry-{entry}");
    let text = expect(
        &c,
        name,
        &format!("{row}[data-outcome=\"rejected\"][data-resolved=\"no\"]"),
    )
    .await
    .text()
    .await
    .unwrap();
    if !text.contains(REFUSAL) {
        fail(&c, name, &format!("seQura's message is missing: {text}")).await;
    }

    // The order opens in the control panel, and in seQura's back office, in new windows.
    let url = follow_new_window(&c, name, &format!("{row} a.order-link"), "#status").await;
    if url != format!("{base}/manage/store1/orders/{order}") {
        fail(&c, name, &format!("the order link opened {url}")).await;
    }
    let url = follow_new_window(
        &c,
        name,
        &format!("{row} a.portal-link"),
        &format!("h1[data-uuid=\"{uuid}\"]"),
    )
    .await;
    if !url.ends_with(&format!("/sandbox/portal/orders/{uuid}")) {
        fail(&c, name, &format!("the portal link opened {url}")).await;
    }

    // Fixed at seQura: Retry, and the entry resolves once the update went through.
    app.sequra.accept_updates(&order.to_string());
    click_and_load(&c, name, &format!("#retry-{entry}")).await;
    expect(&c, name, "#notice").await;
    let db = app.state.db.clone();
    eventually("the retried update resolves the entry", || {
        db.call_blocking(move |conn| {
            Ok(conn.query_row(
                "SELECT resolved_at IS NOT NULL FROM transaction_log WHERE id = ?1",
                [entry],
                |r| r.get::<_, bool>(0),
            )?)
        })
        .unwrap()
        .then_some(())
    })
    .await;
    click_and_load(&c, name, "#nav-log").await;
    expect(&c, name, &format!("{row}[data-resolved=\"yes\"]")).await;
    if c.find(Locator::Css(&format!("#retry-{entry}")))
        .await
        .is_ok()
    {
        fail(&c, name, "a resolved entry still offers Retry").await;
    }
    let shipped_items = app
        .sequra
        .order(&uuid)
        .unwrap()
        .shipped_cart
        .and_then(|c| c["items"].as_array().map(Vec::len))
        .unwrap_or(0);
    if shipped_items == 0 {
        fail(&c, name, "seQura did not receive the shipment").await;
    }
    c.close().await.unwrap();
}

/// Waits until `css` shows a text that `ok` accepts; fails with the last text otherwise.
pub(crate) async fn wait_text(
    c: &Client,
    name: &str,
    css: &str,
    ok: impl Fn(&str) -> bool,
) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut last = String::new();
    while std::time::Instant::now() < deadline {
        if let Ok(e) = c.find(Locator::Css(css)).await {
            last = e.text().await.unwrap_or_default();
            if ok(&last) {
                return last;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    fail(c, name, &format!("{css} says {last:?}")).await
}

/// Waits until the app's job queue has nothing left to do.
async fn queue_drained(app: &crate::helpers::TestApp) {
    crate::checkout::settled(app).await;
}

/// Issue 31 §2.1 and §1.7: seQura reviews the purchase, then cancels it. The shopper comes
/// back to the checkout, reads that the payment was declined, and pays with seQura again.
#[tokio::test]
async fn after_sequra_cancels_a_reviewed_purchase_the_shopper_pays_again_with_sequra() {
    let name = "way-back-cancelled";
    let app = selling_store().await;
    let checkout = app.bc.create_checkout("store1", &[(104, 1)], "ES");
    let (c, _driver) = browser().await;
    c.set_window_size(1280, 1000).await.unwrap();
    let url = app.bc.checkout_url("store1", &checkout);
    c.goto(&url).await.unwrap();
    click(&c, name, "#sequra-methods button[data-product=\"i1\"]").await;
    click(
        &c,
        name,
        "#sequra-overlay input[name=profile][value=\"review_cancel\"]",
    )
    .await;
    app.sequra.set_review_delay(Duration::from_millis(500));
    click(&c, name, "#sequra-overlay [data-testid=\"sq-pay\"]").await;
    expect(&c, name, "#shopper[data-kind=\"review\"]").await;
    let first = only_order(&app);
    for _ in 0..100 {
        if order_status(&app, first) == 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    queue_drained(&app).await;
    if order_status(&app, first) != 5 {
        fail(&c, name, "seQura's cancellation did not cancel the order").await;
    }

    // Back to the checkout: told why, and seQura works again.
    c.goto(&url).await.unwrap();
    wait_text(&c, name, "#sequra-methods .sequra-message", |t| {
        t.contains("rechazado o cancelado")
    })
    .await;
    click(&c, name, "#sequra-methods button[data-product=\"i1\"]").await;
    let pay = "#sequra-overlay [data-testid=\"sq-pay\"]";
    if c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(pay))
        .await
        .is_err()
    {
        let msg = text_of(&c, "#sequra-methods .sequra-message").await;
        fail(&c, name, &format!("no seQura form; the page says {msg:?}")).await;
    }
    click(
        &c,
        name,
        "#sequra-overlay input[name=profile][value=\"approve\"]",
    )
    .await;
    click(&c, name, pay).await;
    let landed = wait_text(&c, name, "body", |t| t.to_lowercase().contains("pedido")).await;
    let orders = app.bc.orders("store1");
    let second = orders
        .iter()
        .filter_map(|o| o["id"].as_u64())
        .find(|id| *id != first)
        .unwrap_or(0);
    if !landed.contains(&second.to_string()) {
        fail(
            &c,
            name,
            &format!("not the new order's confirmation: {landed}"),
        )
        .await;
    }
    queue_drained(&app).await;
    if order_status(&app, second) != 11 || order_status(&app, first) != 5 {
        fail(&c, name, "the new order is not paid, or the old one moved").await;
    }
    c.close().await.unwrap();
}

/// Issue 31 §2.2: the app's own refusal reaches the shopper, in the shopper's language,
/// instead of a generic "try again".
#[tokio::test]
async fn the_shopper_reads_the_apps_own_reason_when_a_payment_cannot_start() {
    let name = "way-back-message";
    let app = selling_store().await;
    let checkout = app.bc.create_checkout("store1", &[(104, 1)], "ES");
    let (c, _driver) = browser().await;
    c.goto(&app.bc.checkout_url("store1", &checkout))
        .await
        .unwrap();
    expect(&c, name, "#sequra-methods button[data-product=\"i1\"]").await;
    // BigCommerce refuses the order the app makes for the payment.
    app.bc.fail_next("POST", "/orders", 422, 5);
    click(&c, name, "#sequra-methods button[data-product=\"i1\"]").await;
    let msg = wait_text(&c, name, "#sequra-methods .sequra-message", |t| {
        !t.is_empty()
    })
    .await;
    let want = app
        .state
        .i18n
        .t(sequra_bc::i18n::Lang::Es, "err_store_unavailable")
        .to_string();
    if !msg.starts_with(&want) {
        fail(&c, name, &format!("the script said {msg:?}, not {want:?}")).await;
    }
    c.close().await.unwrap();
}

/// Issue 31 §2.3: a reload while seQura's form is open used to lock every seQura button for
/// a minute ("a payment is already in progress").
#[tokio::test]
async fn a_reload_with_the_form_open_lets_the_shopper_start_again_at_once() {
    let name = "way-back-reload";
    let app = selling_store().await;
    let checkout = app.bc.create_checkout("store1", &[(104, 1)], "ES");
    let (c, _driver) = browser().await;
    c.goto(&app.bc.checkout_url("store1", &checkout))
        .await
        .unwrap();
    click(&c, name, "#sequra-methods button[data-product=\"i1\"]").await;
    expect(&c, name, "#sequra-overlay [data-testid=\"sq-pay\"]").await;
    c.refresh().await.unwrap();
    click(&c, name, "#sequra-methods button[data-product=\"i1\"]").await;
    if c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#sequra-overlay [data-testid=\"sq-pay\"]"))
        .await
        .is_err()
    {
        let msg = text_of(&c, "#sequra-methods .sequra-message").await;
        fail(&c, name, &format!("no form after the reload: {msg:?}")).await;
    }
    click(&c, name, "#sequra-overlay [data-testid=\"sq-pay\"]").await;
    expect(&c, name, ".order-confirmation").await;
    queue_drained(&app).await;
    if order_status(&app, only_order(&app)) != 11 {
        fail(&c, name, "the order is not paid").await;
    }
    c.close().await.unwrap();
}

/// Issue 31 §2.4: the back button after paying restored the checkout with seQura's form open;
/// paying again led nowhere. The restored page closes the stale form and sends the shopper
/// to the order's confirmation.
#[tokio::test]
async fn the_back_button_after_paying_leads_to_the_order_not_to_a_stale_form() {
    let name = "way-back-bfcache";
    let app = selling_store().await;
    let checkout = app.bc.create_checkout("store1", &[(104, 1)], "ES");
    let (c, _driver) = browser().await;
    c.goto(&app.bc.checkout_url("store1", &checkout))
        .await
        .unwrap();
    click(&c, name, "#sequra-methods button[data-product=\"i1\"]").await;
    click(&c, name, "#sequra-overlay [data-testid=\"sq-pay\"]").await;
    expect(&c, name, ".order-confirmation").await;
    let order = only_order(&app);
    queue_drained(&app).await;
    c.back().await.unwrap();
    let page = wait_text(&c, name, "body", |t| {
        t.contains(&format!("{order}")) && !t.contains("Pagar")
    })
    .await;
    if c.find(Locator::Css("#sequra-overlay")).await.is_ok() {
        fail(&c, name, &format!("the stale form is open: {page}")).await;
    }
    if app.sequra.orders().len() != 1 || app.bc.orders("store1").len() != 1 {
        fail(&c, name, "a second payment was started").await;
    }
    c.close().await.unwrap();
}

/// Issue 14: a shopper on the second storefront (its own address, terms and conditions
/// required there and not on the first) sees the buttons, must accept that storefront's
/// terms, pays, and lands on the confirmation page of the storefront they bought on; the
/// order carries its channel. On the first storefront no terms are asked.
#[tokio::test]
async fn a_shopper_on_the_second_storefront_pays_under_its_terms_and_returns_there() {
    use sequra_bc_sandbox::bigcommerce::ChannelSpec;
    let name = "checkout-second-storefront";
    let app = selling_store().await;
    let france = app
        .bc
        .add_channel("store1", ChannelSpec::stencil(0, "France", "fr", "EUR"));
    app.bc.set_channel_terms("store1", france, true);
    for _ in 0..150 {
        let scripted = app
            .bc
            .scripts_of("store1")
            .iter()
            .any(|(c, n, _)| *c == france && n == sequra_bc::stores::provisioning::SCRIPT_NAME);
        if scripted {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (c, _driver) = browser().await;
    c.set_window_size(1280, 1000).await.unwrap();

    // The first storefront asks for no terms: the form opens at once.
    let spain = app.bc.create_checkout("store1", &[(104, 1)], "ES");
    c.goto(&app.bc.checkout_url("store1", &spain))
        .await
        .unwrap();
    click(&c, name, "#sequra-methods button[data-product=\"i1\"]").await;
    expect(&c, name, "#sequra-overlay [data-testid=\"sq-pay\"]").await;
    click(&c, name, "#sequra-overlay [data-sq-close]").await;

    let checkout = app
        .bc
        .create_checkout_on("store1", france, &[(104, 1)], "ES");
    let home = app.bc.channel_storefront_url("store1", france);
    c.goto(&app.bc.checkout_url_on("store1", france, &checkout))
        .await
        .unwrap();
    click(&c, name, "#sequra-methods button[data-product=\"i1\"]").await;
    expect(&c, name, "#sequra-methods .sequra-message").await;
    // Issue 16: the French storefront's page is in French, and so is the script.
    let said = text_of(&c, "#sequra-methods .sequra-message").await;
    if said != "Veuillez accepter les conditions générales pour continuer." {
        fail(&c, name, &format!("the terms notice reads {said:?}")).await;
    }
    let started_unticked = app.sequra.orders().len();
    if started_unticked != 1 {
        fail(&c, name, "a payment started with the terms unticked").await;
    }
    click(&c, name, "input#terms").await;
    click(&c, name, "#sequra-methods button[data-product=\"i1\"]").await;
    expect(&c, name, "#sequra-overlay [data-testid=\"sq-pay\"]").await;
    click(&c, name, "#sequra-overlay [data-testid=\"sq-pay\"]").await;
    expect(&c, name, ".order-confirmation").await;
    let url = c.current_url().await.unwrap().to_string();
    if !url.starts_with(&home) {
        fail(&c, name, &format!("confirmed on {url}, not on {home}")).await;
    }
    let order = app
        .bc
        .orders("store1")
        .into_iter()
        .find(|o| o["channel_id"] == france)
        .and_then(|o| o["id"].as_u64());
    match order {
        Some(id) if order_status(&app, id) == 11 => {}
        _ => fail(&c, name, "the second storefront's order is not paid").await,
    }
    c.close().await.unwrap();
}

/// Issue 16: the merchant connects a seQura and an SVEA sandbox account in one form, sells in
/// Spain with seQura's merchant ref and in Portugal with SVEA's, and a shopper of each
/// country pays through its own deployment and lands on the confirmation page.
#[tokio::test]
async fn a_merchant_connects_both_deployments_in_the_browser_and_shoppers_pay_through_each() {
    use sequra_bc_sandbox::sequra::{
        DEMO_PASSWORD, DEMO_SVEA_MERCHANT_PT, DEMO_SVEA_USERNAME, DEMO2_MERCHANT_ES, DEMO2_USERNAME,
    };
    let name = "deployments";
    let app = spawn_app().await;
    app.add_store("store1");
    let (c, _driver) = browser().await;
    c.set_window_size(1280, 1000).await.unwrap();
    let base = app.bc.base_url().as_str().trim_end_matches('/').to_string();
    install_from_control_panel(&c, &base).await;
    c.enter_parent_frame().await.unwrap();
    c.goto(&format!("{base}/manage/store1/app")).await.unwrap();
    enter_iframe(&c).await;
    type_into(&c, name, "#username", DEMO2_USERNAME).await;
    type_into(&c, name, "#password", DEMO_PASSWORD).await;
    type_into(&c, name, "#svea_username", DEMO_SVEA_USERNAME).await;
    type_into(&c, name, "#svea_password", DEMO_PASSWORD).await;
    click_and_load(&c, name, "#connect-submit").await;

    // Countries: each country's ref comes from its own deployment's credentials.
    expect(&c, name, "#countries-form").await;
    for (country, merchant) in [("ES", DEMO2_MERCHANT_ES), ("PT", DEMO_SVEA_MERCHANT_PT)] {
        if !checked(&c, &format!("#country-{country}")).await {
            click(&c, name, &format!("#country-{country}")).await;
        }
        type_into(&c, name, &format!("#ref_{country}"), merchant).await;
    }
    if checked(&c, "#country-FR").await {
        click(&c, name, "#country-FR").await;
    }
    click_and_load(&c, name, "#countries-submit").await;
    expect(&c, name, "#methods-table").await;

    for (country, product, deployment) in [("ES", "i1", "sequra"), ("PT", "pp3", "svea")] {
        let checkout = app.bc.create_checkout("store1", &[(104, 1)], country);
        c.goto(&app.bc.checkout_url("store1", &checkout))
            .await
            .unwrap();
        click(
            &c,
            name,
            &format!("#sequra-methods button[data-product=\"{product}\"]"),
        )
        .await;
        expect(&c, name, "#sequra-overlay [data-testid=\"sq-pay\"]").await;
        click(&c, name, "#sequra-overlay [data-testid=\"sq-pay\"]").await;
        expect(&c, name, ".order-confirmation").await;
        let paid = app
            .sequra
            .orders()
            .into_iter()
            .filter(|o| o.state == "confirmed")
            .map(|o| o.deployment)
            .collect::<Vec<_>>();
        if !paid.contains(&deployment.to_string()) {
            fail(
                &c,
                name,
                &format!("{country}: no order confirmed on {deployment}: {paid:?}"),
            )
            .await;
        }
    }
    c.close().await.unwrap();
}
