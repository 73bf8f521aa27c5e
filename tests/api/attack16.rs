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
