//! Install, re-install, provisioning and its repair, uninstall, remove user.

use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha384};

use crate::helpers::{session_of, spawn_app, staff_user};

const SCOPES: [&str; 12] = [
    "store/order/created",
    "store/order/updated",
    "store/order/statusUpdated",
    "store/order/archived",
    "store/order/refund/created",
    "store/shipment/created",
    "store/shipment/updated",
    "store/shipment/deleted",
    "store/app/uninstalled",
    "store/cart/converted",
    "store/channel/created",
    "store/channel/updated",
];

fn scopes_of(hooks: &[Value]) -> Vec<String> {
    let mut s: Vec<String> = hooks
        .iter()
        .map(|h| h["scope"].as_str().unwrap().to_string())
        .collect();
    s.sort();
    s
}

fn sorted(v: &[&str]) -> Vec<String> {
    let mut s: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    s.sort();
    s
}

#[tokio::test]
async fn install_provisions_one_set_of_webhooks_one_script_and_one_extension() {
    let app = spawn_app().await;
    let (_, html) = app.installed_store("store1").await;
    assert!(html.contains("All set"), "{html}");
    assert!(html.contains("Not connected"));

    let hooks = app.bc.webhooks("store1");
    assert_eq!(scopes_of(&hooks), sorted(&SCOPES));
    let secret = app.query(
        "SELECT webhook_secret IS NOT NULL FROM stores WHERE store_hash = 'store1'",
        |r| r.get::<_, bool>(0),
    );
    assert!(secret);
    let first_secret = hooks[0]["headers"]["X-Sequra-Webhook-Secret"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(first_secret.len(), 64);
    for h in &hooks {
        assert_eq!(h["destination"], format!("{}/bc/webhooks", app.address));
        assert_eq!(h["is_active"], true);
        assert_eq!(
            h["headers"]["X-Sequra-Webhook-Secret"],
            first_secret.as_str()
        );
    }

    let scripts = app.bc.scripts("store1");
    assert_eq!(scripts.len(), 1);
    let s = &scripts[0];
    for (k, v) in [
        ("kind", "src"),
        ("visibility", "checkout"),
        ("location", "footer"),
        ("load_method", "defer"),
        ("consent_category", "essential"),
    ] {
        assert_eq!(s[k], v, "{k}");
    }
    assert_eq!(s["auto_uninstall"], true);
    // The SRI hash is the real hash of the bytes served at src.
    let src = s["src"].as_str().unwrap();
    assert!(src.starts_with(&app.address), "{src}");
    let resp = app.get(src).await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    let body = resp.bytes().await.unwrap();
    let want = format!(
        "sha384-{}",
        base64::engine::general_purpose::STANDARD.encode(Sha384::digest(&body))
    );
    assert_eq!(s["integrity_hashes"], serde_json::json!([want]));

    let exts = app.bc.app_extensions("store1");
    assert_eq!(exts.len(), 1);
    assert_eq!(exts[0]["url"], "/orders/${id}/sequra");
    assert_eq!(exts[0]["model"], "ORDERS");
    assert_eq!(exts[0]["context"], "PANEL");
}

#[tokio::test]
async fn reinstall_and_reauth_never_duplicate_anything() {
    let app = spawn_app().await;
    let (owner, _) = app.installed_store("store1").await;
    for _ in 0..2 {
        let resp = app.install("store1", &owner).await;
        assert_eq!(resp.status(), 200);
    }
    // Loads re-check provisioning too.
    let resp = app.get(app.bc.load_url("store1", &owner, "/")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(app.bc.webhooks("store1").len(), SCOPES.len());
    assert_eq!(app.bc.scripts("store1").len(), 1);
    assert_eq!(app.bc.app_extensions("store1").len(), 1);
    assert_eq!(app.count("SELECT count(*) FROM stores"), 1);
}

#[tokio::test]
async fn concurrent_installs_of_one_store_still_create_one_of_each() {
    let app = spawn_app().await;
    let owner = app.add_store("store1");
    let (a, b) = tokio::join!(app.install("store1", &owner), app.install("store1", &owner));
    assert_eq!(a.status(), 200);
    assert_eq!(b.status(), 200);
    assert_eq!(app.bc.webhooks("store1").len(), SCOPES.len());
    assert_eq!(app.bc.scripts("store1").len(), 1);
    assert_eq!(app.bc.app_extensions("store1").len(), 1);
}

#[tokio::test]
async fn a_failed_code_exchange_shows_a_clear_page_and_stores_nothing() {
    let app = spawn_app().await;
    let owner = app.add_store("store1");
    let url = app.bc.begin_install("store1", &owner);
    app.bc.expire_pending_codes();
    let resp = app.get(url).await;
    assert_eq!(resp.status(), 502);
    let html = resp.text().await.unwrap();
    assert!(html.contains("Nothing was saved"), "{html}");
    assert_eq!(app.count("SELECT count(*) FROM stores"), 0);
    assert!(app.bc.webhooks("store1").is_empty());
}

#[tokio::test]
async fn a_used_code_cannot_install_twice() {
    let app = spawn_app().await;
    let owner = app.add_store("store1");
    let url = app.bc.begin_install("store1", &owner);
    assert_eq!(app.get(url.clone()).await.status(), 200);
    assert_eq!(app.get(url).await.status(), 502);
}

#[tokio::test]
async fn an_incomplete_auth_callback_is_a_400() {
    let app = spawn_app().await;
    for q in [
        "",
        "?code=abc",
        "?context=stores%2Fstore1",
        "?code=x&context=shops/x",
        "?code=x&context=stores%2FBAD!",
    ] {
        let resp = app.get_path(&format!("/bc/auth{q}")).await;
        assert_eq!(resp.status(), 400, "{q}");
    }
    assert_eq!(app.count("SELECT count(*) FROM stores"), 0);
}

#[tokio::test]
async fn a_provisioning_failure_is_recorded_shown_and_repaired_on_the_next_load() {
    let app = spawn_app().await;
    let owner = app.add_store("store1");
    app.bc.fail_next("POST", "/v3/content/scripts", 500, 1);
    let resp = app.install("store1", &owner).await;
    assert_eq!(resp.status(), 200, "the install itself survives");
    let html = resp.text().await.unwrap();
    assert!(html.contains("Needs attention"), "{html}");
    assert!(
        html.contains("checkout script could not be installed"),
        "{html}"
    );
    assert!(app.bc.scripts("store1").is_empty());
    assert_eq!(
        app.count("SELECT count(*) FROM provisioning WHERE store_hash='store1' AND item='script' AND state='failing'"),
        1
    );
    // Other items went ahead.
    assert_eq!(app.bc.webhooks("store1").len(), SCOPES.len());

    let resp = app.get(app.bc.load_url("store1", &owner, "/")).await;
    let session = session_of(&resp.text().await.unwrap());
    let html = app
        .get_path(&format!("/app?session={session}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains(r#"id="install-health" data-state="ok""#),
        "{html}"
    );
    assert_eq!(app.bc.scripts("store1").len(), 1);
    assert_eq!(
        app.count("SELECT count(*) FROM provisioning WHERE state='failing'"),
        0
    );
}

#[tokio::test]
async fn the_retry_button_repairs_a_failing_item() {
    let app = spawn_app().await;
    let owner = app.add_store("store1");
    app.bc.fail_next("POST", "/graphql", 500, 1);
    let html = app.install("store1", &owner).await.text().await.unwrap();
    assert!(
        html.contains("order information\" panel could not be added")
            || html.contains("panel could not be added"),
        "{html}"
    );
    let session = session_of(&html);
    let resp = app
        .http
        .post(format!(
            "{}/app/provisioning/retry?session={session}",
            app.address
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    let html = app
        .get(format!("{}{location}", app.address))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("All set"), "{html}");
    assert_eq!(app.bc.app_extensions("store1").len(), 1);
}

#[tokio::test]
async fn a_missing_scope_is_reported_with_its_reason() {
    let app = spawn_app().await;
    let owner = app.add_store("store1");
    let scopes = sequra_bc_sandbox::bigcommerce::SEQURA_APP_SCOPES
        .replace("store_app_extensions_manage", "");
    app.bc.set_app_scopes(&scopes);
    let html = app.install("store1", &owner).await.text().await.unwrap();
    assert!(html.contains("lacks a permission"), "{html}");
    assert_eq!(app.bc.webhooks("store1").len(), SCOPES.len());
}

#[tokio::test]
async fn deactivated_and_deleted_webhooks_are_repaired_on_load() {
    let app = spawn_app().await;
    let (owner, _) = app.installed_store("store1").await;
    // The start-up sweep's provisioning done first: one still running would record "ok" over
    // the mark below and the load would then see nothing to repair.
    crate::checkout::settled(&app).await;
    let hooks = app.bc.webhooks("store1");
    let id = hooks[0]["id"].as_u64().unwrap();
    assert!(app.bc.deactivate_webhook("store1", id));
    // Make the next load re-check now: mark the last check as old.
    let conn = rusqlite::Connection::open(app.state.db.path()).unwrap();
    conn.execute(
        "UPDATE provisioning SET state = 'failing', reason = 'x'",
        [],
    )
    .unwrap();
    drop(conn);
    app.get(app.bc.load_url("store1", &owner, "/")).await;
    let hooks = app.bc.webhooks("store1");
    assert_eq!(hooks.len(), SCOPES.len());
    assert!(hooks.iter().all(|h| h["is_active"] == true));
}

#[tokio::test]
async fn external_install_reports_success_to_the_login_service() {
    let app = spawn_app().await;
    let owner = app.add_store("store1");
    let url = app.bc.begin_external_install("store1", &owner);
    let resp = app.get(url).await;
    assert_eq!(resp.status(), 302);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.ends_with(&format!("/app/{}/install/succeeded", app.bc.client_id())),
        "{location}"
    );
    // The browser follows the redirect.
    assert_eq!(app.get(location).await.status(), 200);
    let reports = app.bc.external_install_reports();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].outcome, "succeeded");
}

#[tokio::test]
async fn a_failed_external_install_reports_failure() {
    let app = spawn_app().await;
    let owner = app.add_store("store1");
    let url = app.bc.begin_external_install("store1", &owner);
    app.bc.expire_pending_codes();
    let resp = app.get(url).await;
    assert_eq!(resp.status(), 302);
    let location = resp.headers()["location"].to_str().unwrap();
    assert!(location.ends_with("/install/failed"), "{location}");
    assert_eq!(app.count("SELECT count(*) FROM stores"), 0);
}

#[tokio::test]
async fn uninstall_deletes_the_token_and_secrets_and_reinstall_restores_the_store() {
    let app = spawn_app().await;
    let (owner, _) = app.installed_store("store1").await;
    let staff = staff_user(501);
    assert_eq!(
        app.get(app.bc.load_url("store1", &staff, "/"))
            .await
            .status(),
        200
    );
    let installed_at: String = app.query("SELECT installed_at FROM stores", |r| r.get(0));

    assert_eq!(app.bc.uninstall("store1").await.unwrap(), 200);
    let (status, token_null, secret_null): (String, bool, bool) = app.query(
        "SELECT status, access_token IS NULL, webhook_secret IS NULL FROM stores WHERE store_hash='store1'",
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    );
    assert_eq!(status, "uninstalled");
    assert!(token_null && secret_null);
    // An uninstalled store cannot be opened.
    assert_eq!(
        app.get(app.bc.load_url("store1", &owner, "/"))
            .await
            .status(),
        403
    );

    let resp = app.install("store1", &owner).await;
    assert_eq!(resp.status(), 200);
    let (status, again): (String, String) = app
        .query("SELECT status, installed_at FROM stores", |r| {
            Ok((r.get(0)?, r.get(1)?))
        });
    assert_eq!(status, "installed");
    assert_eq!(again, installed_at, "history is kept");
    assert_eq!(
        app.count("SELECT count(*) FROM store_users WHERE user_id = 501"),
        1
    );
    assert_eq!(app.bc.webhooks("store1").len(), SCOPES.len());
    assert_eq!(app.bc.scripts("store1").len(), 1);
}

#[tokio::test]
async fn a_second_uninstall_callback_is_harmless() {
    let app = spawn_app().await;
    app.installed_store("store1").await;
    assert_eq!(app.bc.uninstall("store1").await.unwrap(), 200);
    assert_eq!(app.bc.uninstall("store1").await.unwrap(), 200);
    assert_eq!(
        app.count("SELECT count(*) FROM stores WHERE status='uninstalled'"),
        1
    );
}

#[tokio::test]
async fn remove_user_forgets_the_user_and_ends_their_session() {
    let app = spawn_app().await;
    app.installed_store("store1").await;
    let staff = staff_user(777);
    let html = app
        .get(app.bc.load_url("store1", &staff, "/"))
        .await
        .text()
        .await
        .unwrap();
    let session = session_of(&html);
    assert_eq!(
        app.count("SELECT count(*) FROM store_users WHERE user_id=777"),
        1
    );
    assert_eq!(app.bc.remove_user("store1", 777).await.unwrap(), 200);
    assert_eq!(
        app.count("SELECT count(*) FROM store_users WHERE user_id=777"),
        0
    );
    let resp = app.get_path(&format!("/app?session={session}")).await;
    assert_eq!(resp.status(), 401);
}
