//! Attack review of issue 32 (seQura's remote configuration, banners, the single seQura
//! button, the hosted page): each test is a defect found by the review, seen failing first.

use serde_json::Value;

use crate::checkout::{STORE, ready, start};
use crate::helpers::TestApp;

/// seQura pushes a home-page banner for Spain in `rgb`; returns its image's URL.
async fn pushed_banner(app: &TestApp, rgb: [u8; 3]) -> String {
    crate::banners::pushed_banner(app, &crate::banners::png(600, 100, rgb)).await
}

/// The store's banner rows.
fn banner_rows(app: &TestApp) -> i64 {
    app.count(&format!(
        "SELECT COUNT(*) FROM banners WHERE store_hash = '{STORE}'"
    ))
}

/// The hosted page's link is the shopper's only way to seQura's form. A stranger who guesses
/// a payment's ids (they are sequential: their own link shows the ones near it) and sends
/// forged links must not use up the views the real link has: the signature comes before the
/// per-payment limit.
#[tokio::test]
async fn forged_hosted_page_links_never_lock_the_shopper_out_of_their_form() {
    let (app, session) = ready().await;
    let resp = app
        .post_form(
            "/app/general",
            &session,
            &[("allowed_ips", ""), ("hosted_page", "on")],
        )
        .await;
    assert_eq!(resp.status(), 303);
    let checkout = app.bc.create_checkout(STORE, &[(104, 1)], "ES");
    let resp = start(&app, &checkout, "i1", None).await;
    assert_eq!(resp.status(), 200);
    let started: Value = resp.json().await.unwrap();
    let page = started["page"].as_str().unwrap().to_string();
    let (link, _) = page.split_once("&signature=").unwrap();

    for i in 0..25 {
        let forged = format!("{link}&signature={i:064x}");
        assert_eq!(app.get(&forged).await.status(), 403, "forged link {i}");
    }
    let resp = app.get(&page).await;
    assert_eq!(
        resp.status(),
        200,
        "the shopper's own link still shows the form"
    );
    assert!(resp.text().await.unwrap().contains("sq-identification-i1"));
}

/// seQura's `save-general-settings` keeps what it does not name, and asks BigCommerce for the
/// names of the excluded products it names. The merchant saving the General settings page
/// meanwhile (here: an allowed IP, which hides seQura from every other shopper while they
/// test) keeps their change: what seQura did not name is what is stored when it writes, never
/// what was stored when it asked BigCommerce.
#[tokio::test]
async fn a_merchants_save_during_sequras_partial_write_is_kept() {
    let (app, session) = ready().await;
    app.bc
        .set_api_latency(std::time::Duration::from_millis(1500));
    let remote = crate::remote_config::call(
        &app,
        STORE,
        serde_json::json!({"topic": "save-general-settings", "excludedProducts": ["104"]}),
    );
    let merchant = async {
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        let resp = app
            .post_form("/app/general", &session, &[("allowed_ips", "10.1.2.3")])
            .await;
        assert_eq!(resp.status(), 303);
    };
    let ((status, v), ()) = tokio::join!(remote, merchant);
    assert_eq!(status, 200, "{v}");
    app.bc.set_api_latency(std::time::Duration::ZERO);

    let (_, v) = crate::remote_config::call(
        &app,
        STORE,
        serde_json::json!({"topic": "get-general-settings"}),
    )
    .await;
    assert_eq!(
        v["excludedProducts"],
        serde_json::json!([{"id": "104", "name": "Zapatillas urbanas"}]),
        "seQura's change: {v}"
    );
    assert_eq!(
        v["allowedIPAddresses"],
        serde_json::json!(["10.1.2.3"]),
        "the merchant's change, made while seQura's was on its way: {v}"
    );
}

/// seQura's core deletes the banners, images included, with a full disconnect
/// (sequra-remote-configuration.md §1.5): they are the account's promotions. Kept, a merchant
/// who connects again (another account, or months later) shows shoppers offers seQura no
/// longer makes, and their images stay public.
#[tokio::test]
async fn a_full_disconnect_deletes_sequras_banners_and_their_images() {
    use crate::banners::files;
    let (app, session) = ready().await;
    let url = pushed_banner(&app, [200, 30, 30]).await;
    assert_eq!(app.get(&url).await.status(), 200);

    let resp = app
        .post_form("/app/disconnect", &session, &[("confirm", "yes")])
        .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(banner_rows(&app), 0, "the banners went with the account");
    assert_eq!(app.get(&url).await.status(), 404);
    assert!(files(&app, STORE).is_empty(), "{:?}", files(&app, STORE));

    // Connected again: seQura's answer has no banner until it sends one.
    app.connect_demo(&session).await;
    let (status, v) = crate::remote_config::call(
        &app,
        STORE,
        serde_json::json!({"topic": "get-banner-settings"}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["bannerConfigs"], serde_json::json!([]));
}

/// A banner save seQura sent before the store's connection went (a disconnect, an uninstall),
/// still writing when that commits, must not bring banners back: the signature that allowed it
/// is the connection's, and the connection is gone. Uninstalled, the store keeps its selling
/// countries (a disconnect takes them, and the save's own checks then refuse it first), so the
/// write reaches its transaction. (The save is called past the webhook's signature check, as it
/// runs once that check is done.)
#[tokio::test]
async fn a_banner_save_authorised_before_the_connection_went_writes_nothing() {
    use crate::banners::{entry, files, png};
    let (app, _session) = ready().await;
    assert_eq!(app.bc.uninstall(STORE).await.unwrap(), 200);
    let body = serde_json::json!({
        "topic": "save-banner-settings",
        "bannerConfigs": [entry(
            "ES",
            "displayOnHomePage",
            "https://www.sequra.com/es",
            Some(&png(600, 100, [10, 90, 200])),
        )],
    });
    let store = sequra_bc::domain::StoreHash::parse(STORE).unwrap();
    let saved =
        sequra_bc::remote::banners::save(&app.state, &store, body.as_object().unwrap()).await;
    assert_eq!(saved.map_err(|e| e.status), Err(401));
    assert_eq!(banner_rows(&app), 0);
    assert!(files(&app, STORE).is_empty(), "{:?}", files(&app, STORE));
}

/// Disconnecting the accounts one deployment at a time (SVEA's, then seQura's: two tabs of the
/// Connection page, or one after the other) leaves no account, as a full disconnect does: the
/// banners go with the last one.
#[tokio::test]
async fn the_banners_go_with_the_last_deployment_disconnected_one_at_a_time() {
    use crate::banners::files;
    let app = crate::helpers::spawn_app().await;
    let session = app.merchant_session(STORE).await;
    crate::deployments::connect_both(&app, &session, sequra_bc_sandbox::sequra::DEMO_USERNAME)
        .await;
    app.sell_in_spain(&session).await;
    pushed_banner(&app, [20, 120, 40]).await;
    for deployment in ["svea", "sequra"] {
        let resp = app
            .post_form(
                "/app/disconnect",
                &session,
                &[("confirm", "yes"), ("deployment", deployment)],
            )
            .await;
        assert_eq!(resp.status(), 303, "{deployment}");
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sequra_connections"),
        0,
        "no account left"
    );
    assert_eq!(
        banner_rows(&app),
        0,
        "the banners went with the last account"
    );
    assert!(files(&app, STORE).is_empty(), "{:?}", files(&app, STORE));
}

/// A switch from the sandbox to live (or back) resets the connection as a disconnect does:
/// the sandbox's banners (test promotions) must not reach live shoppers.
#[tokio::test]
async fn an_environment_switch_leaves_the_other_environments_banners_behind() {
    use sequra_bc_sandbox::sequra::{LIVE_PASSWORD, LIVE_USERNAME};
    let (app, session) = ready().await;
    let url = pushed_banner(&app, [90, 20, 140]).await;
    let resp = app
        .post_form(
            "/app/connect",
            &session,
            &[
                ("username", LIVE_USERNAME),
                ("password", LIVE_PASSWORD),
                ("environment", "live"),
                ("confirm_switch", "yes"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(
        banner_rows(&app),
        0,
        "the sandbox's banners stayed on the live store"
    );
    assert_eq!(app.get(&url).await.status(), 404);
}
