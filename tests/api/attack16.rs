//! Attacks on issue 16's deployments, languages and currencies: orders across deployments,
//! the list of deployments as an attack surface, secrets per deployment, translations.

use sequra_bc_sandbox::sequra::{
    AccountSpec, DEMO_MERCHANT_ES, DEMO_PASSWORD, MerchantSpec, ShopperProfile,
};

use crate::checkout::{STORE, settled, started};
use crate::helpers::{TestApp, spawn_app};
use crate::order_sync::{eventually, paid_order};

/// An SVEA account whose credentials list the seQura demo's Spanish merchant ref too (a ref
/// listed by both deployments, or one moved from seQura's to SVEA's), connected beside the
/// seQura account with a change of the connection form (seQura's block left blank).
async fn svea_lists_the_same_ref(app: &TestApp, session: &str) {
    app.sequra.add_account_on(
        "svea",
        AccountSpec {
            environment: "sandbox".into(),
            username: "svea-twin".into(),
            password: DEMO_PASSWORD.into(),
            merchants: vec![MerchantSpec::new(DEMO_MERCHANT_ES, "ES")],
        },
    );
    let resp = app
        .post_form(
            "/app/connect",
            session,
            &[
                ("svea_username", "svea-twin"),
                ("svea_password", DEMO_PASSWORD),
                ("environment", "sandbox"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM sequra_merchants WHERE merchant_ref = '{DEMO_MERCHANT_ES}'
             AND deployment = 'svea'"
        )),
        1,
        "the ref is now SVEA's"
    );
}

/// An order paid on seQura's deployment stays seQura's: once SVEA's credentials list its
/// merchant ref too, its cancellation still reaches seQura (SVEA does not know the order).
#[tokio::test]
async fn an_order_paid_on_sequra_is_cancelled_on_sequra_after_svea_lists_its_ref() {
    let app = spawn_app().await;
    let session = app.spanish_store(STORE).await;
    let (order, uuid) = paid_order(&app, &[(104, 1)]).await;
    assert_eq!(app.sequra.order(&uuid).unwrap().deployment, "sequra");
    svea_lists_the_same_ref(&app, &session).await;
    assert!(app.bc.set_order_status(STORE, order, 5));
    eventually("seQura cancels the order it holds", || {
        (app.sequra.order(&uuid).unwrap().state == "cancelled").then_some(())
    })
    .await;
    // The log's links to the order go to seQura's back office, where the order is.
    settled(&app).await;
    let (_, log) = app.page("/app/log", &session).await;
    let log = log.replace("&#x2f;", "/");
    let sequra = format!(
        "{}/orders/{uuid}",
        app.sequra.portal_url_of("sequra", "sandbox")
    );
    let svea = format!(
        "{}/orders/{uuid}",
        app.sequra.portal_url_of("svea", "sandbox")
    );
    assert!(log.contains(&sequra), "{log}");
    assert!(!log.contains(&svea));
}

/// A solicitation started on seQura's deployment is confirmed there when the shopper's
/// approval arrives after SVEA's credentials listed its merchant ref.
#[tokio::test]
async fn an_approval_arriving_after_the_ref_moved_is_confirmed_on_the_deployment_that_solicited() {
    let app = spawn_app().await;
    let session = app.spanish_store(STORE).await;
    let checkout = app.bc.create_checkout(STORE, &[(104, 1)], "ES");
    let (_order, uuid) = started(&app, &checkout, "i1").await;
    svea_lists_the_same_ref(&app, &session).await;
    let outcome = app
        .sequra
        .complete_form(&uuid, "i1", None, ShopperProfile::Approve)
        .await
        .unwrap();
    assert_eq!(outcome.deliveries[0].2, 200, "{outcome:?}");
    settled(&app).await;
    let at_sequra = app.sequra.order(&uuid).unwrap();
    assert_eq!(
        (at_sequra.deployment.as_str(), at_sequra.state.as_str()),
        ("sequra", "confirmed")
    );
}

/// Issue 16: "a cart … with services where the contract allows none, is not offered seQura
/// (as the shop plugins do)". The checkout's methods are asked before the shopper picks one:
/// a cart holding a product the merchant marked as a service (`sequra_service_end_date`), in
/// a country whose contract sells no services, must get no seQura method, not a button that
/// then fails when the shopper presses it (the start refuses it, 403).
#[tokio::test]
async fn a_marked_service_gets_no_sequra_method_where_the_contract_sells_none() {
    let app = spawn_app().await;
    app.spanish_store(STORE).await;
    crate::services::service_catalog(&app, STORE);
    // The in-person workshop (marked as a service) and a physical product.
    let checkout = app.bc.create_checkout(STORE, &[(111, 1), (104, 1)], "ES");
    let resp = app
        .http
        .post(format!("{}/checkout/{STORE}/methods", app.address))
        .json(&serde_json::json!({ "checkoutId": checkout }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    let resp = crate::checkout::start(&app, &checkout, "i1", None).await;
    assert_eq!(resp.status(), 403, "the start refuses the service");
    let offered: Vec<&str> = body["methods"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["product"].as_str())
        .collect();
    assert!(
        offered.is_empty(),
        "seQura is offered for a cart its start refuses: {offered:?}"
    );
}

/// A services contract sells a cart of downloads alone (issue 16), but BigCommerce cannot ship
/// a digital item ("is a digital item and cannot be shipped"), and the app moves goods to
/// seQura's shipped cart only on shipments. The merchant completes the order (status 10, what
/// BigCommerce and the shop plugins use for delivered virtual goods: "virtual+downloadable
/// service → Completed", sequra-plugin-features.md §5): seQura must then hold the service as
/// delivered, or it never is, and the merchant is never paid for it.
#[tokio::test]
async fn a_completed_order_of_a_digital_service_reaches_sequras_shipped_cart() {
    let app = spawn_app().await;
    crate::services::services_store(&app, STORE).await;
    crate::services::service_catalog(&app, STORE);
    // The style guide download: a service where the contract sells them.
    let (order, uuid) = crate::services::paid_service_order(&app, &[(109, 1)]).await;
    assert_eq!(
        app.sequra.order(&uuid).unwrap().state,
        "confirmed",
        "paid with seQura"
    );
    assert_eq!(
        app.bc.ship_all(STORE, order),
        None,
        "a download cannot be shipped in BigCommerce"
    );
    assert!(app.bc.set_order_status(STORE, order, 10), "Completed");
    crate::order_sync::settle(&app).await;
    let updates = app.sequra.order(&uuid).unwrap().updates;
    let delivered = updates.iter().any(|u| {
        u["shipped_cart"]["items"]
            .as_array()
            .is_some_and(|items| items.iter().any(|i| i["reference"] == "DIG-001"))
    });
    assert!(
        delivered,
        "the completed download never reaches seQura's shipped cart: {updates:?}"
    );
}

/// The connection page says "A deployment left blank stays as it is", but it fills in each
/// connected deployment's username: a merchant with seQura and SVEA connected who types only
/// SVEA's new password and sends the form as shown is refused for seQura's password.
#[tokio::test]
async fn changing_sveas_password_alone_on_the_form_as_shown_keeps_sequras_account() {
    use sequra_bc_sandbox::sequra::DEMO_USERNAME;
    let app = spawn_app().await;
    let session = app.merchant_session(STORE).await;
    crate::deployments::connect_both(&app, &session, DEMO_USERNAME).await;
    let (status, html) = app.page("/app/connect", &session).await;
    assert_eq!(status, 200);
    // What the browser sends back: the fields as shown, SVEA's password typed.
    let shown = |name: &str| {
        let at = html
            .find(&format!("name=\"{name}\""))
            .unwrap_or_else(|| panic!("no {name} in {html}"));
        let rest = &html[at..];
        let v = rest.find("value=\"").unwrap() + 7;
        let end = rest[v..].find('"').unwrap();
        rest[v..v + end].to_string()
    };
    let (username, svea_username) = (shown("username"), shown("svea_username"));
    assert_eq!(username, DEMO_USERNAME, "seQura's username is filled in");
    let resp = app
        .post_form(
            "/app/connect",
            &session,
            &[
                ("username", username.as_str()),
                ("password", ""),
                ("svea_username", svea_username.as_str()),
                ("svea_password", DEMO_PASSWORD),
                ("environment", "sandbox"),
            ],
        )
        .await;
    let status = resp.status();
    let html = resp.text().await.unwrap();
    assert_eq!(
        status,
        303,
        "seQura's block, left as shown, is not left alone: {}",
        html.contains("id=\"password-error\"")
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM sequra_connections"), 2);
}

/// A merchant ref both deployments' credentials list (the seQura demo's Spanish ref, also on
/// an SVEA account) is SVEA's once SVEA is connected. Disconnecting SVEA then forgets the ref
/// and Spain leaves checkout, although the seQura account still connected lists that very
/// ref: the merchant who drops SVEA loses a country seQura sells.
#[tokio::test]
async fn disconnecting_svea_keeps_a_country_whose_ref_sequras_account_also_lists() {
    let app = spawn_app().await;
    let session = app.spanish_store(STORE).await;
    svea_lists_the_same_ref(&app, &session).await;
    let resp = app
        .post_form(
            "/app/disconnect",
            &session,
            &[("confirm", "yes"), ("deployment", "svea")],
        )
        .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sequra_connections WHERE deployment = 'sequra'"),
        1,
        "seQura's account stays"
    );
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM sequra_merchants WHERE merchant_ref = '{DEMO_MERCHANT_ES}'"
        )),
        1,
        "seQura's credentials list the ref"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM selling_countries WHERE country = 'ES'"),
        1,
        "Spain still sells with seQura's account"
    );
}

/// Probe (holds): SVEA's password is never shown or logged, not on the page that refuses the
/// form for seQura's block, nor on the connection page, nor in the logs or the database in
/// the clear; and it is sealed for its deployment (seQura's context cannot open it).
#[tokio::test]
async fn sveas_password_is_never_shown_logged_or_stored_readable() {
    const SECRET: &str = "Svea-Only-S3cret-7f3a9c";
    let app = spawn_app().await;
    app.sequra.add_account_on(
        "svea",
        AccountSpec {
            environment: "sandbox".into(),
            username: "svea-secret".into(),
            password: SECRET.into(),
            merchants: vec![MerchantSpec::new("svea_secret_pt", "PT")],
        },
    );
    let session = app.merchant_session(STORE).await;
    // seQura's block wrong: the form comes back, SVEA's password not in it.
    let resp = app
        .post_form(
            "/app/connect",
            &session,
            &[
                ("username", "nobody"),
                ("password", "wrong"),
                ("svea_username", "svea-secret"),
                ("svea_password", SECRET),
                ("environment", "sandbox"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 422);
    assert!(!resp.text().await.unwrap().contains(SECRET));
    let resp = app
        .post_form(
            "/app/connect",
            &session,
            &[
                ("svea_username", "svea-secret"),
                ("svea_password", SECRET),
                ("environment", "sandbox"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
    for path in ["/app/connect", "/app", "/app/general", "/app/countries"] {
        let (_, html) = app.page(path, &session).await;
        assert!(!html.contains(SECRET), "{path}");
    }
    assert!(!crate::helpers::captured_logs().contains(SECRET));
    let stored: Vec<u8> = app.query(
        "SELECT password FROM sequra_connections WHERE deployment = 'svea'",
        |r| r.get(0),
    );
    assert!(!String::from_utf8_lossy(&stored).contains(SECRET));
    let hash = sequra_bc::domain::StoreHash::parse(STORE).unwrap();
    let (key, state) = (app.state.key.clone(), app.state.clone());
    let (svea, sequra) = state
        .db
        .call_blocking(move |c| {
            Ok((
                sequra_bc::db::sequra::password(c, &key, &hash, "svea"),
                sequra_bc::db::sequra::password(c, &key, &hash, "sequra"),
            ))
        })
        .unwrap();
    assert_eq!(svea.unwrap().unwrap().expose(), SECRET);
    assert!(sequra.unwrap().is_none(), "no seQura account");
    // SVEA's sealed password copied into a seQura row does not open there.
    let hash = sequra_bc::domain::StoreHash::parse(STORE).unwrap();
    let key = app.state.key.clone();
    let moved = state
        .db
        .call_blocking(move |c| {
            c.execute(
                "INSERT INTO sequra_connections (store_hash, deployment, environment, username,
                     password, connected_at, updated_at)
                 SELECT store_hash, 'sequra', environment, username, password, connected_at,
                     updated_at FROM sequra_connections WHERE deployment = 'svea'",
                [],
            )?;
            Ok(sequra_bc::db::sequra::password(c, &key, &hash, "sequra").is_err())
        })
        .unwrap();
    assert!(moved, "sealed for its deployment");
}
