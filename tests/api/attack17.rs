//! Attacks on issue 17's Diagnostics page: who can write to a store's log, and whether the
//! address check says what a shopper is really shown.

use serde_json::json;

use crate::checkout::{STORE, ready, settled};
use crate::helpers::{TestApp, spawn_app};
use crate::storefronts::{call, origin_of};

const HEADER: &str = "X-Sequra-Webhook-Secret";

/// The store's whole kept log, as its merchant downloads it.
async fn download(app: &TestApp, session: &str) -> String {
    let resp = app
        .get_path(&format!("/app/diagnostics/log.txt?session={session}"))
        .await;
    assert_eq!(resp.status(), 200);
    resp.text().await.unwrap()
}

/// Waits until the store's kept log holds `text` (lines are written every second, in the
/// order they were logged: once it is there, every earlier line is too).
async fn log_showing(app: &TestApp, session: &str, text: &str) -> String {
    for _ in 0..100 {
        let log = download(app, session).await;
        if log.contains(text) {
            return log;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the store's log never showed {text:?}");
}

/// Installs `storea`; returns the app and its owner's session once its first line is kept.
async fn a_store_with_its_log() -> (TestApp, String) {
    let app = spawn_app().await;
    let (_, html) = app.installed_store("storea").await;
    let session = crate::helpers::session_of(&html);
    log_showing(&app, &session, "store installed").await;
    (app, session)
}

/// After a line of the merchant's own (once it is kept, every earlier line is: the
/// storefronts saved as they are), the store's log holds none of `strangers`.
async fn assert_kept_none_of(app: &TestApp, session: &str, strangers: &[&str]) {
    const MARK: &str = "storefronts saved";
    let before = download(app, session).await.matches(MARK).count();
    let resp = app
        .post_form(
            "/app/storefronts",
            session,
            &[("channel", "1"), ("on", "1"), ("default_on", "on")],
        )
        .await;
    assert_eq!(resp.status(), 303);
    for _ in 0..100 {
        let log = download(app, session).await;
        if log.matches(MARK).count() > before {
            for stranger in strangers {
                assert!(
                    !log.contains(stranger),
                    "a stranger's request wrote {stranger:?} into the store's log:\n{log}"
                );
            }
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the store's log never showed the merchant's own line");
}

/// Anyone can name a store in an install callback (`context=stores/HASH`) with a made-up
/// code: what such a request logs is the operator's, never the store's, or a stranger fills
/// the merchant's log (2000 lines kept) and pushes out the lines that matter.
#[tokio::test]
async fn install_callbacks_with_made_up_codes_write_nothing_to_the_named_stores_log() {
    let (app, session) = a_store_with_its_log().await;
    for n in 0..30 {
        for external in ["", "&external_install=1"] {
            let resp = app
                .get_path(&format!(
                    "/bc/auth?code=forged-{n}&context=stores%2Fstorea&scope=store_v2_orders{external}"
                ))
                .await;
            assert!(
                [502, 302].contains(&resp.status().as_u16()),
                "the made-up code is refused: {}",
                resp.status()
            );
        }
    }
    assert_kept_none_of(
        &app,
        &session,
        &["token exchange failed", "external install failed", "5xx"],
    )
    .await;
}

/// A webhook naming a store (`producer`) without its secret: the app's summaries of refused
/// requests count every store's together, and are the operator's; on the named store's page
/// they would be a stranger's lines (two a minute per kind, for as long as they like), and
/// the counts of other stores' refusals.
#[tokio::test]
async fn forged_webhooks_naming_a_store_write_nothing_to_its_log() {
    let (app, session) = a_store_with_its_log().await;
    for n in 0..30 {
        let body = json!({
            "scope": "store/order/updated", "store_id": "1", "data": {"type": "order", "id": n},
            "hash": format!("forged-{n}"), "created_at": 1561479335, "producer": "stores/storea"
        });
        let resp = app
            .http
            .post(format!("{}/bc/webhooks", app.address))
            .header(HEADER, "a-guess")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);
    }
    assert_kept_none_of(&app, &session, &["refused", "401"]).await;
}

/// A shopper who started a seQura payment holds its return link (store, order, solicitation
/// and the link's signature) and sees seQura's order reference in the form the start gave
/// them. Posted as a notification, each is refused, and wrote a WARN line into the store's
/// log: one per request, as often as the shopper liked.
#[tokio::test]
async fn a_return_link_posted_as_notifications_writes_nothing_to_the_stores_log() {
    let (app, session) = ready().await;
    let checkout = app.bc.create_checkout(STORE, &[(104, 1)], "ES");
    let resp = crate::checkout::start(&app, &checkout, "i1", None).await;
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    let (_, uuid) = crate::checkout::started_order(&app, &body);
    assert!(
        body["form"].as_str().unwrap().contains(&uuid),
        "the shopper's form names seQura's order"
    );
    let return_url = url::Url::parse(
        app.sequra.order(&uuid).unwrap().solicited["merchant"]["return_url"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let form: Vec<(String, String)> = return_url
        .query_pairs()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .chain([
            ("store".into(), STORE.into()),
            ("order_ref".into(), uuid.clone()),
            ("sq_state".into(), "approved".into()),
        ])
        .collect();
    for _ in 0..30 {
        let resp = app
            .http
            .post(format!("{}/sequra/ipn", app.address))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 403);
    }
    assert_kept_none_of(&app, &session, &["return link", "refused"]).await;
}

/// A storefront switched off offers seQura nowhere, its payment step included: the address
/// check says so for the checkout too, not only for the widgets.
#[tokio::test]
async fn the_address_check_says_not_shown_at_the_checkout_of_a_store_whose_storefront_is_off() {
    let (app, session) = ready().await;
    settled(&app).await;
    let resp = app
        .post_form("/app/storefronts", &session, &[("channel", "1")])
        .await;
    assert_eq!(resp.status(), 303);
    settled(&app).await;
    // A shopper at the payment step is offered nothing.
    let checkout = app.bc.create_checkout_on(STORE, 1, &[(104, 1)], "ES");
    let origin = origin_of(&app.bc.channel_storefront_url(STORE, 1));
    let (status, body, _) = call(&app, "methods", &origin, &checkout).await;
    assert_eq!((status, body["methods"].clone()), (200, json!([])));

    let (status, html) = app.page("/app/diagnostics?ip=127.0.0.1", &session).await;
    assert_eq!(status, 200, "{html}");
    let row = &html[html.find("id=\"ip-checkout\"").expect("the checkout row")..];
    assert!(
        row.starts_with("id=\"ip-checkout\" data-shown=\"no\""),
        "the page says seQura is shown at a payment step that offers nothing: {}",
        &row[..row.find("</tr>").unwrap()]
    );
    assert!(row.contains("switched off"), "{row}");
}
