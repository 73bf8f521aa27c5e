//! Prometheus metrics (issue 17): off by default; when on, served on a listener of their own
//! and never on the public port, with bounded labels (no store hash, order id or token).

use crate::helpers::{spawn_app, spawn_app_with};

#[tokio::test]
async fn metrics_are_off_by_default_and_never_on_the_public_port() {
    let app = spawn_app().await;
    assert!(app.metrics_address.is_none());
    assert_eq!(app.get_path("/metrics").await.status(), 404);

    let app = spawn_app_with(|s| {
        s.metrics.enabled = true;
        s.metrics.listen = "127.0.0.1:0".into();
    })
    .await;
    assert_eq!(app.get_path("/metrics").await.status(), 404, "public port");
}

#[tokio::test]
async fn metrics_count_requests_webhooks_jobs_and_stores_without_store_hashes() {
    let app = spawn_app_with(|s| {
        s.metrics.enabled = true;
        s.metrics.listen = "127.0.0.1:0".into();
    })
    .await;
    let metrics = app.metrics_address.clone().expect("metrics listener");
    app.installed_store("mstore1").await;
    // A forged webhook: refused, and counted so.
    let resp = app
        .http
        .post(format!("{}/bc/webhooks", app.address))
        .body(r#"{"scope":"store/order/created","producer":"stores/mstore1"}"#)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_client_error(), "{}", resp.status());
    app.get_path("/checkout/mstore1/nothing-here").await;
    // A provisioning the queue runs.
    let store = sequra_bc::domain::StoreHash::parse("mstore1").unwrap();
    app.state
        .db
        .call(move |c| {
            sequra_bc::queue::enqueue(c, &store, &sequra_bc::queue::Job::Provision)?;
            Ok(())
        })
        .await
        .unwrap();
    app.state.jobs.wake();
    crate::order_sync::eventually("provisioning done", || {
        (app.count("SELECT COUNT(*) FROM jobs WHERE kind = 'provision' AND state = 'done'") > 0)
            .then_some(())
    })
    .await;

    let resp = app.get(format!("{metrics}/metrics")).await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = resp.text().await.unwrap();
    for expected in [
        r#"sequra_bc_http_requests_total{route="/bc/auth",status="200"}"#,
        r#"sequra_bc_http_request_duration_seconds_bucket{route="/bc/auth",le="0.005"}"#,
        r#"sequra_bc_http_requests_total{route="/checkout/other",status="405"}"#,
        r#"sequra_bc_webhook_deliveries_total{outcome="refused"}"#,
        r#"sequra_bc_jobs_total{kind="provision",outcome="done"}"#,
        r#"sequra_bc_outbound_requests_total{service="bigcommerce",status="200"}"#,
        r#"sequra_bc_outbound_request_duration_seconds_bucket{service="bigcommerce",le="0.1"}"#,
        "sequra_bc_batch_commits_total ",
        "sequra_bc_batch_writes_total ",
        "sequra_bc_jobs_waiting ",
        "sequra_bc_job_oldest_age_seconds ",
        "sequra_bc_stores_installed ",
        "sequra_bc_stores_connected ",
    ] {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
    assert!(
        !text.contains("mstore1"),
        "a store hash in a label:\n{text}"
    );
    // The metrics listener serves the metrics only.
    assert_eq!(app.get(format!("{metrics}/healthz")).await.status(), 404);
}
