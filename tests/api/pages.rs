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

/// Issue 16: a merchant whose BigCommerce user speaks French (`fr-FR`) gets the app in French:
/// the dashboard, a settings page, and an error page once the session is known, whatever
/// language the browser asks for.
#[tokio::test]
async fn a_french_merchant_sees_the_app_in_french() {
    let app = spawn_app().await;
    let (owner, _) = app.installed_store("store1").await;
    let french = sequra_bc_sandbox::bigcommerce::User {
        locale: "fr-FR".into(),
        ..owner
    };
    let resp = app.get(app.bc.load_url("store1", &french, "/")).await;
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert!(html.contains(r#"<html lang="fr">"#), "{html}");
    assert!(html.contains("Connectez votre compte seQura"), "{html}");
    let session = crate::helpers::session_of(&html);
    app.connect_demo(&session).await;

    let (status, html) = app.page("/app", &session).await;
    assert_eq!(status, 200);
    for text in [
        "Tableau de bord",
        "Compte seQura",
        "Pays de vente",
        "Connecté",
    ] {
        assert!(html.contains(text), "dashboard lacks {text}: {html}");
    }
    assert!(!html.contains("Dashboard"), "{html}");
    let (status, html) = app.page("/app/general", &session).await;
    assert_eq!(status, 200);
    for text in [
        "Paramètres généraux",
        "Adresses IP autorisées",
        "Produits et catégories exclus",
    ] {
        assert!(html.contains(text), "general settings lack {text}: {html}");
    }
    // A form error, in French.
    let resp = app
        .post_form("/app/general", &session, &[("allowed_ips", "not-an-ip")])
        .await;
    assert_eq!(resp.status(), 422);
    let html = resp.text().await.unwrap();
    assert!(html.contains("Ce n&#x27;est ni une adresse"), "{html}");

    // An error page once the merchant is known speaks the merchant's language.
    let resp = app
        .http
        .get(format!(
            "{}/app/orders/abc/sequra?session={session}",
            app.address
        ))
        .header("accept-language", "en-US,en;q=0.9")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let html = resp.text().await.unwrap();
    assert!(html.contains("Introuvable"), "{html}");
}
