//! The merchant's path in a real browser (headless Chromium through ChromeDriver): install
//! from the simulated control panel, the app rendered inside the panel's iframe (which only
//! works when our CSP allows the framing), the order panel from the App Extension.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};

use crate::helpers::spawn_app;

/// ChromeDriver as a child process, killed on drop.
struct Driver {
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

async fn browser() -> (Client, Driver) {
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

async fn text_of(c: &Client, css: &str) -> String {
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

async fn enter_iframe(c: &Client) {
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
    assert_eq!(app.bc.webhooks("store1").len(), 9);
    c.close().await.unwrap();
}
