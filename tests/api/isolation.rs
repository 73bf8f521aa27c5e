//! No store can see or touch another store's data.

use crate::helpers::{session_of, spawn_app};

#[tokio::test]
async fn store_a_session_reaches_nothing_of_store_b_on_any_merchant_route() {
    let app = spawn_app().await;
    let (_, html_a) = app.installed_store("storea").await;
    let (_, _) = app.installed_store("storeb").await;
    app.bc.fail_next("POST", "/v3/content/scripts", 500, 0);
    let session_a = session_of(&html_a);
    let b_name = app.bc.store("storeb").unwrap().name;

    let requests = [
        ("GET", "/app".to_string()),
        ("GET", "/app/orders/1/sequra".to_string()),
        ("POST", "/app/provisioning/retry".to_string()),
        ("GET", "/app/diagnostics".to_string()),
        ("GET", "/app/diagnostics/log.txt".to_string()),
    ];
    for (method, path) in requests {
        let url = format!("{}{path}?session={session_a}", app.address);
        let req = match method {
            "GET" => app.http.get(&url),
            _ => app.http.post(&url),
        };
        let resp = req.send().await.unwrap();
        assert!(
            resp.status().is_success() || resp.status().is_redirection(),
            "{path}"
        );
        let body = resp.text().await.unwrap();
        assert!(!body.contains("storeb"), "{path} leaks store B's hash");
        assert!(!body.contains(&b_name), "{path} leaks store B's name");
    }
    // The retry touched only store A at BigCommerce.
    let b_calls_after_retry = app
        .bc
        .requests()
        .iter()
        .filter(|r| r.path.contains("/stores/storeb/"))
        .count();
    app.bc.clear_requests();
    app.http
        .post(format!(
            "{}/app/provisioning/retry?session={session_a}",
            app.address
        ))
        .send()
        .await
        .unwrap();
    assert!(
        b_calls_after_retry > 0,
        "store B was provisioned at install"
    );
    assert!(
        app.bc
            .requests()
            .iter()
            .all(|r| !r.path.contains("/stores/storeb/")),
        "store A's retry called store B's API"
    );
}

#[tokio::test]
async fn a_session_cannot_be_rewritten_to_another_store() {
    let app = spawn_app().await;
    let (_, html_a) = app.installed_store("storea").await;
    app.installed_store("storeb").await;
    let session_a = session_of(&html_a);
    let forged = session_a.replacen("storea", "storeb", 1);
    assert_ne!(forged, session_a);
    let resp = app.get_path(&format!("/app?session={forged}")).await;
    assert_eq!(resp.status(), 401);
    let body = resp.text().await.unwrap();
    assert!(!body.contains("storeb"));
}

#[tokio::test]
async fn uninstalling_store_b_leaves_store_a_untouched() {
    let app = spawn_app().await;
    let (_, html_a) = app.installed_store("storea").await;
    app.installed_store("storeb").await;
    app.bc.uninstall("storeb").await.unwrap();
    assert_eq!(
        app.count("SELECT count(*) FROM stores WHERE status='installed'"),
        1
    );
    assert!(app.bc.access_token_valid("storea"));
    assert_eq!(
        app.bc.webhooks("storea").len(),
        sequra_bc::stores::provisioning::WEBHOOK_SCOPES.len()
    );
    let resp = app
        .get_path(&format!("/app?session={}", session_of(&html_a)))
        .await;
    assert_eq!(resp.status(), 200);
}
