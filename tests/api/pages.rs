//! Health, the operator page, security headers, static assets.

use crate::helpers::spawn_app;

#[tokio::test]
async fn healthz_and_readyz_answer() {
    let app = spawn_app().await;
    assert_eq!(app.get_path("/healthz").await.status(), 200);
    let resp = app.get_path("/readyz").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "ready");
}

#[tokio::test]
async fn the_operator_page_lists_the_exact_callback_urls() {
    let app = spawn_app().await;
    let html = app
        .get_path("/")
        .await
        .text()
        .await
        .unwrap()
        .replace("&#x2f;", "/");
    for path in [
        "/bc/auth",
        "/bc/load",
        "/bc/uninstall",
        "/bc/remove-user",
        "/bc/webhooks",
    ] {
        assert!(
            html.contains(&format!("{}{path}", app.address)),
            "{path}: {html}"
        );
    }
    assert!(html.contains("Complete"));
    // The tag a headless storefront's checkout needs, with the current file and hash.
    let script = &app.state.checkout_script;
    assert!(
        html.contains(&format!("{}{}?store=STORE_HASH", app.address, script.path)),
        "{html}"
    );
    assert!(html.contains(&script.integrity));
}

#[tokio::test]
async fn merchant_pages_carry_the_security_headers() {
    let app = spawn_app().await;
    let owner = app.add_store("store1");
    let resp = app.install("store1", &owner).await;
    let h = resp.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("frame-ancestors https://*.mybigcommerce.com https://login.bigcommerce.com"),
        "{csp}"
    );
    assert!(csp.contains("script-src 'self'"));
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["cache-control"], "no-store");
    // Error pages too.
    let resp = app.get_path("/bc/load?signed_payload_jwt=x").await;
    assert_eq!(resp.status(), 401);
    assert!(resp.headers().contains_key("content-security-policy"));
    assert_eq!(resp.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn unknown_routes_and_methods_get_a_plain_4xx() {
    let app = spawn_app().await;
    assert_eq!(app.get_path("/nope").await.status(), 404);
    assert_eq!(app.get_path("/assets/nope.css").await.status(), 404);
    assert_eq!(
        app.get_path("/assets/checkout/sequra-checkout.js")
            .await
            .status(),
        404
    );
    let resp = app
        .http
        .delete(format!("{}/bc/load", app.address))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_client_error());
    let resp = app.get_path("/assets/app.css").await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
}

#[tokio::test]
async fn error_pages_speak_the_browsers_language() {
    let app = spawn_app().await;
    let resp = app
        .http
        .get(format!("{}/bc/load?signed_payload_jwt=x.y.z", app.address))
        .header("accept-language", "es-ES,es;q=0.9")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let html = resp.text().await.unwrap();
    assert!(html.contains("Vuelve a abrir la app"), "{html}");
    let html = app.get_path("/app").await.text().await.unwrap();
    assert!(html.contains("No session"), "{html}");
}
