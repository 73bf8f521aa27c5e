//! `/bc/load`: signed payload verification, user provisioning, routing by `url`.

use serde_json::{Value, json};

use crate::helpers::{TestApp, session_of, spawn_app, staff_user};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn claims(app: &TestApp, owner_id: u64) -> Value {
    let iat = now();
    json!({
        "aud": app.bc.client_id(), "iss": "bc", "iat": iat, "nbf": iat - 5, "exp": iat - 5 + 86400,
        "jti": "3b1a2d64-0000-4000-8000-000000000001", "sub": "stores/store1",
        "user": {"id": owner_id, "email": "owner@example.com", "locale": "es-ES"},
        "owner": {"id": owner_id, "email": "owner@example.com"},
        "url": "/", "channel_id": null
    })
}

async fn load_with(app: &TestApp, jwt: &str) -> reqwest::Response {
    app.get_path(&format!("/bc/load?signed_payload_jwt={jwt}"))
        .await
}

#[tokio::test]
async fn load_opens_the_connection_page_until_connected_then_the_dashboard_with_a_session() {
    let app = spawn_app().await;
    let (owner, _) = app.installed_store("store1").await;
    let resp = app.get(app.bc.load_url("store1", &owner, "/")).await;
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert!(html.contains("id=\"connect-form\""), "{html}");
    // The owner's locale is es-ES: the page speaks Spanish.
    assert!(html.contains("Conecta tu cuenta de seQura"), "{html}");
    let session = session_of(&html);
    let resp = app.get_path(&format!("/app?session={session}")).await;
    assert_eq!(resp.status(), 200);
    // The same token works as a bearer header.
    let resp = app
        .http
        .get(format!("{}/app", app.address))
        .bearer_auth(&session)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn the_order_extension_link_opens_the_order_panel() {
    let app = spawn_app().await;
    let (owner, _) = app.installed_store("store1").await;
    let resp = app.get(app.bc.order_panel_url("store1", &owner, 106)).await;
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert!(html.contains("data-order-id=\"106\""), "{html}");
    let session = session_of(&html);
    let resp = app
        .get_path(&format!("/app/orders/106/sequra?session={session}"))
        .await;
    assert_eq!(resp.status(), 200);
    let resp = app
        .get_path(&format!("/app/orders/abc/sequra?session={session}"))
        .await;
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn a_user_seen_for_the_first_time_is_provisioned() {
    let app = spawn_app().await;
    app.installed_store("store1").await;
    let staff = staff_user(4242);
    assert_eq!(
        app.count("SELECT count(*) FROM store_users WHERE user_id=4242"),
        0
    );
    assert_eq!(
        app.get(app.bc.load_url("store1", &staff, "/"))
            .await
            .status(),
        200
    );
    let (email, locale, owner): (String, String, bool) = app.query(
        "SELECT email, locale, is_owner FROM store_users WHERE user_id=4242",
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    );
    assert_eq!(email, "staff4242@example.com");
    assert_eq!(locale, "en-US");
    assert!(!owner);
}

#[tokio::test]
async fn every_bad_signed_payload_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let (owner, _) = app.installed_store("store1").await;
    let users_before = app.count("SELECT count(*) FROM store_users");
    let t = now();
    let mut cases: Vec<(&str, String, u16)> = Vec::new();
    let mut variant = |name: &'static str, patch: Value, status: u16| {
        let mut c = claims(&app, 999_001);
        for (k, v) in patch.as_object().unwrap() {
            c[k] = v.clone();
        }
        cases.push((name, app.bc.mint_signed_payload_jwt(&c), status));
    };
    variant(
        "expired",
        json!({"exp": t - 120, "nbf": t - 90000, "iat": t - 90000}),
        401,
    );
    variant(
        "not yet valid",
        json!({"nbf": t + 600, "iat": t + 600}),
        401,
    );
    variant("wrong audience", json!({"aud": "someone-else"}), 401);
    variant("wrong issuer", json!({"iss": "evil"}), 401);
    variant("unknown store", json!({"sub": "stores/nosuchstore"}), 403);
    variant("malformed sub", json!({"sub": "nonsense"}), 401);
    variant("no exp", json!({"exp": null}), 401);

    // Signed with another secret.
    let other = {
        use jsonwebtoken::{EncodingKey, Header, encode};
        encode(
            &Header::default(),
            &claims(&app, 999_001),
            &EncodingKey::from_secret(b"not-the-secret"),
        )
        .unwrap()
    };
    cases.push(("bad signature", other, 401));
    // alg: none, with the real claims.
    let none = {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let body = b64.encode(serde_json::to_vec(&claims(&app, 999_001)).unwrap());
        format!("{}.{body}.", b64.encode(br#"{"alg":"none","typ":"JWT"}"#))
    };
    cases.push(("alg none", none, 401));
    // HS512 with the right secret is still the wrong algorithm.
    let hs512 = {
        use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
        encode(
            &Header::new(Algorithm::HS512),
            &claims(&app, 999_001),
            &EncodingKey::from_secret(app.bc.client_secret().as_bytes()),
        )
        .unwrap()
    };
    cases.push(("HS512", hs512, 401));
    cases.push(("malformed", "not.a.jwt".into(), 401));
    cases.push(("garbage", "%%%".into(), 401));

    for (name, jwt, status) in cases {
        let resp = load_with(&app, &jwt).await;
        assert_eq!(resp.status().as_u16(), status, "{name}");
        let html = resp.text().await.unwrap();
        assert!(
            html.contains("id=\"error\""),
            "{name}: a clear page, got {html}"
        );
        assert!(!html.contains("session="), "{name}: no session handed out");
    }
    let resp = app.get_path("/bc/load").await;
    assert_eq!(resp.status(), 400);
    assert_eq!(app.count("SELECT count(*) FROM store_users"), users_before);
    assert_eq!(
        app.count("SELECT count(*) FROM store_users WHERE user_id = 999001"),
        0
    );
    // The real payload still works.
    assert_eq!(
        app.get(app.bc.load_url("store1", &owner, "/"))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn a_payload_within_sixty_seconds_of_expiry_leeway_is_accepted() {
    let app = spawn_app().await;
    let (owner, _) = app.installed_store("store1").await;
    let t = now();
    let mut c = claims(&app, owner.id);
    c["exp"] = json!(t - 30);
    c["nbf"] = json!(t - 86430);
    c["iat"] = json!(t - 86425);
    let resp = load_with(&app, &app.bc.mint_signed_payload_jwt(&c)).await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn uninstall_and_remove_user_callbacks_require_a_valid_payload() {
    let app = spawn_app().await;
    app.installed_store("store1").await;
    for path in ["/bc/uninstall", "/bc/remove-user"] {
        assert_eq!(app.get_path(path).await.status(), 400, "{path}");
        let resp = app
            .get_path(&format!("{path}?signed_payload_jwt=a.b.c"))
            .await;
        assert_eq!(resp.status(), 401, "{path}");
    }
    assert_eq!(
        app.count("SELECT count(*) FROM stores WHERE status='installed'"),
        1
    );
}

#[tokio::test]
async fn tampered_or_missing_sessions_are_refused() {
    let app = spawn_app().await;
    let (_, html) = app.installed_store("store1").await;
    let session = session_of(&html);
    let mut tampered = session.clone().into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    for q in [
        "".to_string(),
        format!("?session={tampered}"),
        "?session=".into(),
        "?session=x.y.z".into(),
    ] {
        let resp = app.get_path(&format!("/app{q}")).await;
        assert_eq!(resp.status(), 401, "{q}");
    }
    let resp = app
        .http
        .post(format!(
            "{}/app/provisioning/retry?session={tampered}",
            app.address
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}
