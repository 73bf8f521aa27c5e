//! The configuration webhook's registration with seQura (issue 32): registered on every
//! connection change, deleted on disconnect, uninstall, new credentials or the merchant's
//! switch, never in a loop, and shown on the Connection page. The URLs are checked against
//! the contract's signature (`remote_config::contract_signature`), not the app's.

use std::time::Duration;

use sequra_bc_sandbox::sequra::{
    AccountSpec, DEMO_MERCHANT_ES, DEMO_PASSWORD, DEMO_USERNAME, LIVE_PASSWORD, LIVE_USERNAME,
    MerchantSpec, StoreIntegration,
};
use serde_json::json;

use crate::helpers::{TestApp, spawn_app};
use crate::remote_config::{call, contract_signature};

const STORE: &str = "rreg01";

/// The URL seQura must be given for `store` signed with `password`, from the contract.
fn expected_url(app: &TestApp, store: &str, password: &str) -> String {
    format!(
        "{}/sequra/configuration?storeId={store}&signature={}",
        app.address,
        contract_signature(store, password)
    )
}

/// Waits (up to 10 s) until `done` holds.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..200 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never happened: {what}");
}

fn active(app: &TestApp, store: &str) -> Vec<StoreIntegration> {
    app.sequra.active_integrations(store)
}

/// Waits until the store has exactly one active registration, with `url`, and returns it.
async fn registered(app: &TestApp, store: &str, url: &str) -> StoreIntegration {
    eventually(&format!("{url} registered"), || {
        let a = active(app, store);
        a.len() == 1 && a[0].webhook_url() == url
    })
    .await;
    active(app, store).remove(0)
}

fn registration_posts(app: &TestApp) -> usize {
    app.sequra
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/store_integrations"))
        .count()
}

fn registration_state(app: &TestApp, store: &str) -> Option<String> {
    let conn = rusqlite::Connection::open(app.state.db.path()).unwrap();
    conn.query_row(
        "SELECT state FROM remote_registrations WHERE store_hash = ?1 AND deployment = 'sequra'",
        [store],
        |r| r.get(0),
    )
    .ok()
}

async fn connect_page(app: &TestApp, session: &str) -> String {
    let (status, html) = app.page("/app/connect", session).await;
    assert_eq!(status, 200);
    html
}

async fn connect(app: &TestApp, session: &str, fields: &[(&str, &str)]) {
    let resp = app.post_form("/app/connect", session, fields).await;
    assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
}

#[tokio::test]
async fn connecting_registers_the_signed_url_with_the_capabilities_and_sequra_can_call_it() {
    let app = spawn_app().await;
    let session = app.merchant_session(STORE).await;
    app.connect_demo(&session).await;
    let url = expected_url(&app, STORE, DEMO_PASSWORD);
    let i = registered(&app, STORE, &url).await;
    assert_eq!(
        (
            i.deployment.as_str(),
            i.environment.as_str(),
            i.username.as_str()
        ),
        ("sequra", "sandbox", DEMO_USERNAME)
    );
    // The first of the account's merchant refs by name.
    assert_eq!(i.merchant_id.as_deref(), Some(DEMO_MERCHANT_ES));
    let declared: Vec<String> = sequra_bc::remote::capabilities()
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(i.capabilities(), declared);
    eventually("recorded as registered", || {
        registration_state(&app, STORE).as_deref() == Some("registered")
    })
    .await;
    let html = connect_page(&app, &session).await;
    assert!(
        html.contains("id=\"remote-sequra\" data-reachable=\"yes\""),
        "{html}"
    );
    assert!(
        html.contains("seQura can reach this store&#x27;s settings")
            || html.contains("seQura can reach this store's settings"),
        "{html}"
    );
    // seQura calls the URL it was given, and the app answers.
    let answer = app
        .sequra
        .send_configuration(STORE, json!({"topic": "get-store-info"}))
        .await
        .unwrap();
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.body["platform"], "BigCommerce");
    // The signed URL is a bearer credential: never in the database file in clear.
    let signature = contract_signature(STORE, DEMO_PASSWORD);
    let db = app.state.db.path().to_path_buf();
    let mut wal = db.clone().into_os_string();
    wal.push("-wal");
    for bytes in [
        std::fs::read(&db).unwrap(),
        std::fs::read(&wal).unwrap_or_default(),
    ] {
        assert!(
            !bytes
                .windows(signature.len())
                .any(|w| w == signature.as_bytes()),
            "the signature is in the database file"
        );
    }
}

#[tokio::test]
async fn a_new_password_registers_the_new_url_and_deletes_the_old_one() {
    let app = spawn_app().await;
    let account = |password: &str| AccountSpec {
        environment: "sandbox".into(),
        username: "rotating".into(),
        password: password.into(),
        merchants: vec![MerchantSpec::new("rotating_es", "ES")],
    };
    app.sequra.add_account(account("old-password"));
    let session = app.merchant_session(STORE).await;
    let fields = |pw| {
        [
            ("username", "rotating"),
            ("password", pw),
            ("environment", "sandbox"),
        ]
    };
    connect(&app, &session, &fields("old-password")).await;
    let old = expected_url(&app, STORE, "old-password");
    registered(&app, STORE, &old).await;
    // The merchant changes the password at seQura (the old one stops working), then here.
    app.sequra.add_account(account("new-password"));
    connect(&app, &session, &fields("new-password")).await;
    let new = expected_url(&app, STORE, "new-password");
    registered(&app, STORE, &new).await;
    let all = app.sequra.store_integrations();
    assert!(
        all.iter().any(|i| i.webhook_url() == old && i.deleted),
        "{all:?}"
    );
    eventually("the deletion's secrets are gone", || {
        app.count("SELECT count(*) FROM remote_deregistrations") == 0
    })
    .await;
}

#[tokio::test]
async fn an_environment_switch_registers_on_the_new_environment_and_deletes_the_old() {
    let app = spawn_app().await;
    let session = app.merchant_session(STORE).await;
    app.connect_demo(&session).await;
    let sandbox = expected_url(&app, STORE, DEMO_PASSWORD);
    registered(&app, STORE, &sandbox).await;
    connect(
        &app,
        &session,
        &[
            ("username", LIVE_USERNAME),
            ("password", LIVE_PASSWORD),
            ("environment", "live"),
            ("confirm_switch", "yes"),
        ],
    )
    .await;
    let live = registered(&app, STORE, &expected_url(&app, STORE, LIVE_PASSWORD)).await;
    assert_eq!(
        (live.environment.as_str(), live.username.as_str()),
        ("live", LIVE_USERNAME)
    );
    let all = app.sequra.store_integrations();
    let old = all.iter().find(|i| i.webhook_url() == sandbox).unwrap();
    assert!(old.deleted && old.environment == "sandbox", "{all:?}");
}

#[tokio::test]
async fn a_disconnect_whose_deletion_sequra_fails_disconnects_and_deletes_later() {
    let app = spawn_app().await;
    let session = app.merchant_session(STORE).await;
    app.connect_demo(&session).await;
    let url = expected_url(&app, STORE, DEMO_PASSWORD);
    registered(&app, STORE, &url).await;
    app.sequra
        .fail_next("DELETE", "/store_integrations/", 503, 2);
    let resp = app
        .post_form("/app/disconnect", &session, &[("confirm", "yes")])
        .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(app.count("SELECT count(*) FROM sequra_connections"), 0);
    eventually("the registration deleted after two failures", || {
        active(&app, STORE).is_empty()
    })
    .await;
    assert_eq!(app.sequra.pending_failures(), 0);
    eventually("the deletion's secrets are gone", || {
        app.count("SELECT count(*) FROM remote_deregistrations") == 0
    })
    .await;
    // Nothing of the connection or its registration is left to sign a call.
    let (status, _) = call(&app, STORE, json!({"topic": "get-store-info"})).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn uninstalling_deletes_the_registration() {
    let app = spawn_app().await;
    let session = app.merchant_session(STORE).await;
    app.connect_demo(&session).await;
    registered(&app, STORE, &expected_url(&app, STORE, DEMO_PASSWORD)).await;
    assert_eq!(app.bc.uninstall(STORE).await.unwrap(), 200);
    eventually("the registration deleted", || {
        active(&app, STORE).is_empty()
    })
    .await;
    eventually("the deletion's secrets are gone", || {
        app.count("SELECT count(*) FROM remote_deregistrations") == 0
    })
    .await;
}

#[tokio::test]
async fn refused_credentials_are_marked_shown_and_not_tried_again_until_they_change() {
    let app = spawn_app().await;
    let session = app.merchant_session(STORE).await;
    app.sequra.fail_next("POST", "/store_integrations", 401, 1);
    app.connect_demo(&session).await;
    eventually("marked refused", || {
        registration_state(&app, STORE).as_deref() == Some("refused")
    })
    .await;
    let html = connect_page(&app, &session).await;
    assert!(
        html.contains("id=\"remote-sequra\" data-reachable=\"no\""),
        "{html}"
    );
    assert!(html.contains("did not accept this account"), "{html}");
    // No loop: neither the queue nor the sweep tries again.
    for _ in 0..2 {
        sequra_bc::orders::reconcile::sweep(&app.state).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(registration_posts(&app), 1);
    assert_eq!(registration_state(&app, STORE).as_deref(), Some("refused"));
    // The credentials given again: registered.
    app.connect_demo(&session).await;
    registered(&app, STORE, &expected_url(&app, STORE, DEMO_PASSWORD)).await;
    assert_eq!(registration_posts(&app), 2);
}

#[tokio::test]
async fn a_registration_answered_without_location_fails_with_the_reason() {
    let app = spawn_app().await;
    let session = app.merchant_session(STORE).await;
    app.sequra.fail_next("POST", "/store_integrations", 204, 1);
    app.connect_demo(&session).await;
    eventually("marked failed", || {
        registration_state(&app, STORE).as_deref() == Some("failed")
    })
    .await;
    let html = connect_page(&app, &session).await;
    assert!(
        html.contains("id=\"remote-sequra\" data-reachable=\"no\""),
        "{html}"
    );
    assert!(html.contains("sent no Location"), "{html}");
    sequra_bc::orders::reconcile::sweep(&app.state).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(registration_posts(&app), 1, "retried a day later, not now");
}

#[tokio::test]
async fn turning_remote_configuration_off_deletes_and_refuses_and_on_registers_again() {
    let app = spawn_app().await;
    let session = app.merchant_session(STORE).await;
    app.connect_demo(&session).await;
    let url = expected_url(&app, STORE, DEMO_PASSWORD);
    registered(&app, STORE, &url).await;
    // Without the store's session, nothing changes.
    let resp = app
        .http
        .post(format!("{}/app/remote-configuration", app.address))
        .form(&[("sent", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(active(&app, STORE).len(), 1);

    let resp = app
        .post_form("/app/remote-configuration", &session, &[("sent", "yes")])
        .await;
    assert_eq!(resp.status(), 303);
    eventually("deleted", || active(&app, STORE).is_empty()).await;
    let (status, v) = call(&app, STORE, json!({"topic": "get-store-info"})).await;
    assert_eq!(status, 403, "{v}");
    let html = connect_page(&app, &session).await;
    assert!(html.contains("id=\"remote-off\""), "{html}");
    assert!(!html.contains("id=\"remote-enabled\" checked"), "{html}");

    let resp = app
        .post_form(
            "/app/remote-configuration",
            &session,
            &[("sent", "yes"), ("enabled", "yes")],
        )
        .await;
    assert_eq!(resp.status(), 303);
    registered(&app, STORE, &url).await;
    let (status, v) = call(&app, STORE, json!({"topic": "get-store-info"})).await;
    assert_eq!(status, 200, "{v}");
}

#[tokio::test]
async fn stores_connected_before_this_version_are_registered_once_and_spread_out() {
    let app = spawn_app().await;
    for store in [STORE, "rreg02"] {
        let session = app.merchant_session(store).await;
        let username = if store == STORE {
            DEMO_USERNAME
        } else {
            sequra_bc_sandbox::sequra::DEMO2_USERNAME
        };
        app.connect_sandbox(&session, username).await;
        registered(&app, store, &expected_url(&app, store, DEMO_PASSWORD)).await;
    }
    // As an installation upgraded to this version finds them: connected, never registered.
    {
        let conn = rusqlite::Connection::open(app.state.db.path()).unwrap();
        conn.execute_batch(
            "DELETE FROM remote_registrations; DELETE FROM jobs WHERE kind = 'register_remote';",
        )
        .unwrap();
    }
    let before = registration_posts(&app);
    sequra_bc::orders::reconcile::sweep(&app.state).await;
    sequra_bc::orders::reconcile::sweep(&app.state).await;
    let run_at: Vec<i64> = {
        let conn = rusqlite::Connection::open(app.state.db.path()).unwrap();
        let mut stmt = conn
            .prepare("SELECT run_at FROM jobs WHERE kind = 'register_remote' ORDER BY run_at")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(run_at.len(), 2, "one job per store, however many sweeps");
    assert!(run_at[1] - run_at[0] >= 900, "spread out: {run_at:?}");
    eventually("both registered again", || {
        registration_posts(&app) == before + 2
            && registration_state(&app, STORE).as_deref() == Some("registered")
            && registration_state(&app, "rreg02").as_deref() == Some("registered")
    })
    .await;
    sequra_bc::orders::reconcile::sweep(&app.state).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(registration_posts(&app), before + 2, "and only once");
}

#[tokio::test]
async fn a_changed_public_url_is_registered_anew_and_the_old_url_deleted() {
    let app = spawn_app().await;
    let session = app.merchant_session(STORE).await;
    app.connect_demo(&session).await;
    let current = expected_url(&app, STORE, DEMO_PASSWORD);
    registered(&app, STORE, &current).await;
    eventually("recorded as registered", || {
        registration_state(&app, STORE).as_deref() == Some("registered")
    })
    .await;
    // As before the operator moved the app: seQura holds the URL under the old public URL,
    // and the app recorded it as its registration.
    let old = format!(
        "https://old.example/sequra/configuration?storeId={STORE}&signature={}",
        contract_signature(STORE, DEMO_PASSWORD)
    );
    let resp = app
        .http
        .post(format!("{}store_integrations", app.sequra.sandbox_url()))
        .basic_auth(DEMO_USERNAME, Some(DEMO_PASSWORD))
        .json(&json!({"store_integration": {"webhook_url": old, "capabilities": ["store-info"]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let (key, old_url) = (app.state.key.clone(), old.clone());
    let store = sequra_bc::domain::StoreHash::parse(STORE).unwrap();
    app.state
        .db
        .call(move |c| {
            sequra_bc::db::remote::set_registered(c, &key, &store, "sequra", "sandbox", &old_url)
        })
        .await
        .unwrap();
    sequra_bc::orders::reconcile::sweep(&app.state).await;
    eventually("the old URL deleted, the current one registered", || {
        let all = app.sequra.store_integrations();
        all.iter().any(|i| i.webhook_url() == old && i.deleted)
            && active(&app, STORE)
                .iter()
                .all(|i| i.webhook_url() == current)
            && registration_state(&app, STORE).as_deref() == Some("registered")
    })
    .await;
}
