//! Every storefront (issue 14): the store's channels read and kept current, a checkout script
//! per storefront the merchant chose, and everything a shopper touches from their channel.

use serde_json::{Value, json};
use url::Url;

use sequra_bc::stores::provisioning::SCRIPT_NAME;
use sequra_bc_sandbox::bigcommerce::ChannelSpec;
use sequra_bc_sandbox::sequra::ShopperProfile;

use crate::checkout::{STORE, completed, ready, settled};
use crate::helpers::TestApp;
use crate::order_sync::eventually;

/// The channels that have the app's checkout script, sorted.
pub(crate) fn scripted(app: &TestApp) -> Vec<u64> {
    let mut c: Vec<u64> = app
        .bc
        .scripts_of(STORE)
        .into_iter()
        .filter(|(_, name, _)| name == SCRIPT_NAME)
        .map(|(c, _, _)| c)
        .collect();
    c.sort();
    c
}

pub(crate) fn origin_of(url: &str) -> String {
    Url::parse(url).unwrap().origin().ascii_serialization()
}

/// A checkout call from a browser on `origin`: status, body and the CORS origin allowed.
pub(crate) async fn call(
    app: &TestApp,
    action: &str,
    origin: &str,
    checkout: &str,
) -> (u16, Value, Option<String>) {
    let resp = app
        .http
        .post(format!("{}/checkout/{STORE}/{action}", app.address))
        .header("Origin", origin)
        .json(&json!({ "checkoutId": checkout, "product": "i1" }))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let cors = resp
        .headers()
        .get("access-control-allow-origin")
        .map(|v| v.to_str().unwrap().to_string());
    (status, resp.json().await.unwrap_or(Value::Null), cors)
}

/// A French storefront added to the ready store, its script in place and the queue idle.
pub(crate) async fn with_france(app: &TestApp) -> u64 {
    let france = app
        .bc
        .add_channel(STORE, ChannelSpec::stencil(0, "France", "fr", "EUR"));
    eventually("the new storefront's script", || {
        (scripted(app) == [1, france]).then_some(())
    })
    .await;
    settled(app).await;
    france
}

#[tokio::test]
async fn each_stencil_storefront_gets_one_script_and_a_headless_one_is_explained() {
    let (app, session) = ready().await;
    assert_eq!(scripted(&app), [1], "the default storefront's, as before");
    let france = with_france(&app).await;
    let headless = app.bc.add_channel(
        STORE,
        ChannelSpec::headless(
            0,
            "App",
            "next",
            Url::parse("https://app.example.com").unwrap(),
            "es",
            "EUR",
        ),
    );
    eventually("the headless storefront read", || {
        app.count(&format!(
            "SELECT COUNT(*) FROM storefronts WHERE channel_id = {headless}"
        ))
        .eq(&1)
        .then_some(())
    })
    .await;
    settled(&app).await;
    assert_eq!(scripted(&app), [1, france], "none for the headless one");
    let (status, html) = app.page("/app/storefronts", &session).await;
    assert_eq!(status, 200);
    assert!(
        html.contains(&format!(
            r#"data-channel="{headless}" data-standing="headless""#
        )),
        "{html}"
    );
    assert!(html.contains(&format!(
        r#"data-channel="{france}" data-standing="scripted""#
    )));
    assert!(html.contains("app.example.com"), "its address");
    // Loading the app again and re-installing duplicate nothing.
    let owner = app.bc.store_owner(STORE).unwrap();
    let load = app.bc.load_url(STORE, &owner, "/");
    assert_eq!(app.get(load).await.status(), 200);
    assert_eq!(app.install(STORE, &owner).await.status(), 200);
    settled(&app).await;
    assert_eq!(scripted(&app), [1, france]);

    // Switched off: its script goes, and its checkout offers nothing.
    let resp = app
        .post_form(
            "/app/storefronts",
            &session,
            &[
                ("channel", "1"),
                ("channel", &france.to_string()),
                ("channel", &headless.to_string()),
                ("on", "1"),
                ("default_on", "on"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 303);
    settled(&app).await;
    assert_eq!(scripted(&app), [1]);
    let checkout = app.bc.create_checkout_on(STORE, france, &[(104, 1)], "ES");
    let origin = origin_of(&app.bc.channel_storefront_url(STORE, france));
    let (status, body, _) = call(&app, "methods", &origin, &checkout).await;
    assert_eq!((status, body["methods"].clone()), (200, json!([])));
    let (status, _, _) = call(&app, "start", &origin, &checkout).await;
    assert_eq!(status, 403, "no payment on a storefront switched off");
}

#[tokio::test]
async fn a_storefront_created_after_install_gets_its_script_and_loses_it_when_deleted() {
    let (app, session) = ready().await;
    let france = with_france(&app).await;
    let (_, html) = app.page("/app", &session).await;
    assert!(html.contains(r#"id="dash-new-storefronts""#), "{html}");
    let (_, html) = app.page("/app/storefronts", &session).await;
    assert!(html.contains(r#"id="storefronts-new""#));
    let (_, html) = app.page("/app/storefronts", &session).await;
    assert!(
        !html.contains(r#"id="storefronts-new""#),
        "new only until seen"
    );

    assert!(
        app.bc
            .update_channel(STORE, france, |c| c.status = "deleted".into())
    );
    eventually("the deleted storefront's script gone", || {
        (scripted(&app) == [1]).then_some(())
    })
    .await;
    let (_, html) = app.page("/app/storefronts", &session).await;
    assert!(
        !html.contains(&format!(r#"data-channel="{france}""#)),
        "{html}"
    );
}

#[tokio::test]
async fn a_checkout_answers_only_its_own_storefronts_origin() {
    let (app, _) = ready().await;
    let france = with_france(&app).await;
    let spain_origin = origin_of(&app.bc.channel_storefront_url(STORE, 1));
    let france_origin = origin_of(&app.bc.channel_storefront_url(STORE, france));
    assert_ne!(spain_origin, france_origin);
    let checkout = app.bc.create_checkout_on(STORE, france, &[(104, 1)], "ES");

    let (status, _, cors) = call(&app, "methods", &spain_origin, &checkout).await;
    assert_eq!(status, 403, "channel 2's checkout from channel 1's origin");
    assert_eq!(
        cors.as_deref(),
        Some(spain_origin.as_str()),
        "a refusal the script can read"
    );
    let (status, _, _) = call(&app, "start", &spain_origin, &checkout).await;
    assert_eq!(status, 403);
    assert_eq!(app.sequra.orders().len(), 0, "nothing reached seQura");

    let (status, body, cors) = call(&app, "methods", &france_origin, &checkout).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(cors.as_deref(), Some(france_origin.as_str()));
    assert!(!body["methods"].as_array().unwrap().is_empty(), "{body}");
    let (status, _, _) = call(&app, "methods", "https://evil.example", &checkout).await;
    assert_eq!(status, 403);
}

/// A payment started on `channel`'s storefront: (order, seQura uuid).
async fn bought_on(app: &TestApp, channel: u64) -> (u64, String) {
    let home = app.bc.channel_storefront_url(STORE, channel);
    let checkout = app.bc.create_checkout_on(STORE, channel, &[(104, 1)], "ES");
    let (status, body, _) = call(app, "start", &origin_of(&home), &checkout).await;
    assert_eq!(status, 200, "{body}");
    let (order, uuid) = crate::checkout::started_order(app, &body);
    (order, uuid)
}

#[tokio::test]
async fn a_purchase_on_the_second_storefront_returns_the_shopper_there() {
    let (app, _) = ready().await;
    let france = with_france(&app).await;
    let home = app.bc.channel_storefront_url(STORE, france);
    let (order, uuid) = bought_on(&app, france).await;
    assert_eq!(app.bc.order(STORE, order).unwrap()["channel_id"], france);
    let outcome = completed(&app, &uuid, ShopperProfile::Approve).await;
    assert_eq!(outcome.deliveries[0].2, 200, "{outcome:?}");
    settled(&app).await;
    let placed = app.bc.order(STORE, order).unwrap();
    assert_eq!(placed["status_id"], 11);
    assert_eq!(
        placed["channel_id"], france,
        "the order keeps its storefront"
    );

    let sq = app.sequra.order(&uuid).unwrap();
    let return_url = sq.solicited["merchant"]["return_url"].as_str().unwrap();
    let resp = app.get(return_url).await;
    assert_eq!(resp.status(), 303);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with(&format!("{home}/order-confirmation/{order}?t=")),
        "{location} is not on {home}"
    );
    assert_eq!(
        app.get(&location).await.status(),
        200,
        "its confirmation page"
    );
}

#[tokio::test]
async fn storefronts_past_the_script_limit_are_named_on_the_dashboard() {
    let (app, session) = ready().await;
    let mut added = Vec::new();
    for i in 0..10 {
        added.push(app.bc.add_channel(
            STORE,
            ChannelSpec::stencil(0, &format!("Tienda {i}"), "es", "EUR"),
        ));
    }
    eventually("ten scripts", || (scripted(&app).len() == 10).then_some(())).await;
    settled(&app).await;
    let last = *added.last().unwrap();
    assert_eq!(scripted(&app).len(), 10);
    assert!(
        !scripted(&app).contains(&last),
        "the default storefront first, then by id"
    );
    let (_, html) = app.page("/app", &session).await;
    assert!(html.contains(r#"id="dash-no-room""#), "{html}");
    assert!(html.contains("Tienda 9"));
    let (_, html) = app.page("/app/storefronts", &session).await;
    assert!(html.contains(&format!(r#"data-channel="{last}" data-standing="no_room""#)));

    // One switched off makes room for it.
    let mut form: Vec<(&str, String)> = vec![("default_on", "on".into())];
    for c in std::iter::once(1).chain(added.iter().copied()) {
        form.push(("channel", c.to_string()));
        if c != added[0] {
            form.push(("on", c.to_string()));
        }
    }
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(
        app.post_form("/app/storefronts", &session, &form)
            .await
            .status(),
        303
    );
    settled(&app).await;
    let now = scripted(&app);
    assert_eq!(now.len(), 10);
    assert!(now.contains(&last) && !now.contains(&added[0]), "{now:?}");
}

#[tokio::test]
async fn the_log_and_the_order_panel_say_which_storefront_an_order_came_from() {
    let (app, session) = ready().await;
    let france = with_france(&app).await;
    let (spain_order, spain_uuid) = bought_on(&app, 1).await;
    let (france_order, france_uuid) = bought_on(&app, france).await;
    for uuid in [&spain_uuid, &france_uuid] {
        let outcome = completed(&app, uuid, ShopperProfile::Approve).await;
        assert_eq!(outcome.deliveries[0].2, 200, "{outcome:?}");
    }
    settled(&app).await;
    // Shipped: each an update sent to seQura, in the log.
    for order in [spain_order, france_order] {
        app.bc.ship_all(STORE, order).unwrap();
    }
    eventually("both shipments in the log", || {
        (app.count("SELECT COUNT(DISTINCT bc_order_id) FROM transaction_log") == 2).then_some(())
    })
    .await;
    let (status, all) = app.page("/app/log", &session).await;
    assert_eq!(status, 200);
    assert!(
        all.contains(&format!(r#"data-order="{spain_order}""#)),
        "{all}"
    );
    assert!(all.contains(&format!(r#"data-order="{france_order}""#)));
    assert!(all.contains(r#"id="filter-storefront""#));
    let (_, only) = app
        .page(&format!("/app/log?storefront={france}"), &session)
        .await;
    assert!(
        only.contains(&format!(r#"data-order="{france_order}""#)),
        "{only}"
    );
    assert!(!only.contains(&format!(r#"data-order="{spain_order}""#)));
    let (status, _) = app.page("/app/log?storefront=abc", &session).await;
    assert_eq!(
        status, 400,
        "a storefront that is not one is the merchant's typo"
    );

    let owner = app.bc.store_owner(STORE).unwrap();
    let panel = app
        .get(app.bc.order_panel_url(STORE, &owner, france_order))
        .await;
    assert_eq!(panel.status(), 200);
    let html = panel.text().await.unwrap();
    assert!(html.contains(r#"id="panel-storefront">France<"#), "{html}");
}

/// Issue 16: a shopper of the French storefront is told in French that seQura reviews the
/// order (the storefront's language, whatever the browser says), and the checkout script gets
/// every refusal in French too.
#[tokio::test]
async fn a_french_storefronts_shopper_reads_the_review_notice_in_french() {
    let (app, _) = ready().await;
    let france = with_france(&app).await;
    let home = app.bc.channel_storefront_url(STORE, france);

    // A refusal to the script carries French (and the other languages).
    let checkout = app.bc.create_checkout_on(STORE, france, &[(104, 1)], "ES");
    let resp = app
        .http
        .post(format!("{}/checkout/{STORE}/start", app.address))
        .header("Origin", origin_of(&home))
        .json(&json!({ "checkoutId": checkout, "product": "nope" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let body: Value = resp.json().await.unwrap();
    for lang in ["en", "es", "fr", "it", "pt"] {
        assert!(body["message"][lang].is_string(), "{lang}: {body}");
    }
    assert_eq!(
        body["message"]["fr"], "Ce moyen de paiement seQura n'est pas disponible pour cet achat.",
        "{body}"
    );

    let (_, uuid) = bought_on(&app, france).await;
    app.sequra
        .set_review_delay(std::time::Duration::from_secs(60));
    let sequra = app.sequra.clone();
    let form_uuid = uuid.clone();
    tokio::spawn(async move {
        let _ = sequra
            .complete_form(&form_uuid, "i1", None, ShopperProfile::ReviewApprove)
            .await;
    });
    eventually("in review", || {
        (app.count("SELECT COUNT(*) FROM solicitations WHERE state = 'on_hold'") == 1).then_some(())
    })
    .await;
    settled(&app).await;
    let sq = app.sequra.order(&uuid).unwrap();
    let return_url = sq.solicited["merchant"]["return_url"].as_str().unwrap();
    let resp = app
        .http
        .get(return_url)
        .header("accept-language", "en-GB,en;q=0.9")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert!(html.contains(r#"<html lang="fr">"#), "{html}");
    assert!(
        html.contains("Votre commande est en cours d&#x27;examen"),
        "{html}"
    );
    assert!(!html.contains("Your order is being reviewed"), "{html}");
}
