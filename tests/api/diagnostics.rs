//! The merchant's Diagnostics page (issue 17): the store's own log lines, filtered by level
//! and downloadable; the installation checks; what the storefront decides for an address.

use crate::checkout::ready;
use crate::helpers::{TestApp, session_of, spawn_app};
use crate::widgets::{config_json, good_form, post};

/// The Diagnostics page of `session` with `query` (may be empty).
async fn diagnostics(app: &TestApp, session: &str, query: &str) -> (u16, String) {
    let path = if query.is_empty() {
        "/app/diagnostics".to_string()
    } else {
        format!("/app/diagnostics?{query}")
    };
    app.page(&path, session).await
}

/// Waits until the store's page shows `text` (the lines are written every second).
async fn page_showing(app: &TestApp, session: &str, text: &str) -> String {
    for _ in 0..100 {
        let (status, html) = diagnostics(app, session, "").await;
        assert_eq!(status, 200, "{html}");
        if html.contains(text) {
            return html;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the Diagnostics page never showed {text:?}");
}

/// The `data-shown` of the row with `id`/`data-channel` marker `row` in the address answer.
fn shown(html: &str, row: &str) -> String {
    let at = html
        .find(row)
        .unwrap_or_else(|| panic!("no {row} in {html}"));
    let rest = &html[at..];
    let v = rest.split("data-shown=\"").nth(1).unwrap();
    v[..v.find('"').unwrap()].to_string()
}

#[tokio::test]
async fn the_address_check_answers_as_the_storefront_would_and_says_why_not() {
    let (app, session) = ready().await;
    // No widget on yet: the checkout offers seQura, the storefront promotes nothing.
    let (status, html) = diagnostics(&app, &session, "ip=127.0.0.1").await;
    assert_eq!(status, 200, "{html}");
    assert_eq!(shown(&html, "id=\"ip-checkout\""), "yes");
    assert_eq!(shown(&html, "data-channel=\"1\""), "no");
    assert!(
        html.contains("No promotional widget is switched on"),
        "{html}"
    );
    assert_eq!(config_json(&app, 1).await, serde_json::json!({}));

    assert_eq!(
        post(&app, &session, "/app/widgets", &good_form("pp3"))
            .await
            .0,
        303
    );
    let (_, html) = diagnostics(&app, &session, "ip=127.0.0.1").await;
    assert_eq!(shown(&html, "data-channel=\"1\""), "yes", "{html}");
    // What the page says is what a visitor from there is served (the tests call from
    // 127.0.0.1).
    assert_ne!(config_json(&app, 1).await, serde_json::json!({}));

    app.post_form(
        "/app/general",
        &session,
        &[("allowed_ips", "203.0.113.0/24")],
    )
    .await;
    let (_, html) = diagnostics(&app, &session, "ip=127.0.0.1").await;
    assert_eq!(shown(&html, "id=\"ip-checkout\""), "no", "{html}");
    assert_eq!(shown(&html, "data-channel=\"1\""), "no");
    assert!(html.contains("not among the allowed IPs"), "{html}");
    assert_eq!(config_json(&app, 1).await, serde_json::json!({}));
    let (_, html) = diagnostics(&app, &session, "ip=203.0.113.77").await;
    assert_eq!(shown(&html, "id=\"ip-checkout\""), "yes", "{html}");
    assert_eq!(shown(&html, "data-channel=\"1\""), "yes");

    // Not an address: said so, nothing answered.
    let (status, html) = diagnostics(&app, &session, "ip=999.1.1.1").await;
    assert_eq!(status, 400);
    assert!(html.contains("Not an IPv4 or IPv6 address"), "{html}");
    assert!(!html.contains("id=\"ip-answer\""));
}

#[tokio::test]
async fn the_log_shows_this_stores_lines_only_by_level_and_downloads_them() {
    let app = spawn_app().await;
    // Each store's installation fails on a step of its own (a WARN line each).
    // (Store A's for good: the load's repair fails too, and the checks show it.)
    app.bc
        .fail_next("POST", "/stores/storea/v3/content/scripts", 422, 100);
    let (_, html_a) = app.installed_store("storea").await;
    app.bc.fail_next("POST", "/stores/storeb/v3/hooks", 422, 1);
    let (_, html_b) = app.installed_store("storeb").await;
    let (a, b) = (session_of(&html_a), session_of(&html_b));

    let html = page_showing(&app, &a, "item=script").await;
    assert!(html.contains("store installed"), "{html}");
    assert!(
        !html.contains("item=webhooks"),
        "store B's line on A's page"
    );
    // The request lines (one per page view) are the operator's only.
    assert!(!html.contains("latency_ms"), "{html}");
    // The installation checks are here too, with the step that failed.
    assert!(
        html.contains("data-item=\"script\" data-state=\"failing\""),
        "{html}"
    );
    let html = page_showing(&app, &b, "item=webhooks").await;
    assert!(!html.contains("item=script"), "store A's line on B's page");

    // By level: warnings and errors leave the information out; errors only, nothing here.
    let (status, html) = diagnostics(&app, &a, "level=warn").await;
    assert_eq!(status, 200);
    assert!(html.contains("item=script") && !html.contains("store installed"));
    let (_, html) = diagnostics(&app, &a, "level=error").await;
    assert!(html.contains("id=\"log-empty\""), "{html}");
    let (status, _) = diagnostics(&app, &a, "level=debug").await;
    assert_eq!(status, 400);

    let resp = app
        .get_path(&format!("/app/diagnostics/log.txt?session={a}&level=warn"))
        .await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(
        resp.headers()["content-disposition"],
        "attachment; filename=\"sequra-storea-log.txt\""
    );
    let text = resp.text().await.unwrap();
    assert!(
        text.contains("WARN") && text.contains("item=script"),
        "{text}"
    );
    assert!(!text.contains("store installed") && !text.contains("item=webhooks"));
    // No secret of the store in its lines.
    let token = app.bc.access_token("storea").unwrap();
    let all = app
        .get_path(&format!("/app/diagnostics/log.txt?session={a}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(all.contains("store installed"), "{all}");
    assert!(!all.contains(&token));
}
