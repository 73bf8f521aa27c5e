//! seQura's deployments (issue 16): a store connects an account on seQura's deployment, on
//! SVEA's, or both (one environment for all); each merchant ref is paid, confirmed and linked
//! on its own deployment's hosts; the list of deployments is read from seQura and kept.

use sequra_bc::sequra::{Deployment, Environment};
use sequra_bc_sandbox::sequra::{
    DEMO_PASSWORD, DEMO_SVEA_MERCHANT_PT, DEMO_SVEA_USERNAME, DEMO_USERNAME, DEMO2_MERCHANT_ES,
    DEMO2_USERNAME, ShopperProfile,
};

use crate::checkout::{STORE, settled, started};
use crate::helpers::{TestApp, spawn_app, spawn_app_with};

/// Connects seQura's deployment with `sequra_user` and SVEA's with the SVEA demo account in
/// one form, and sells in Spain (seQura) and Portugal (SVEA).
async fn both_deployments(app: &TestApp, sequra_user: &str) -> String {
    let session = app.merchant_session(STORE).await;
    connect_both(app, &session, sequra_user).await;
    let resp = app
        .post_form(
            "/app/countries",
            &session,
            &[
                ("country", "ES"),
                ("ref_ES", DEMO2_MERCHANT_ES),
                ("country", "PT"),
                ("ref_PT", DEMO_SVEA_MERCHANT_PT),
            ],
        )
        .await;
    assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
    session
}

/// Connects seQura's deployment with `sequra_user` and SVEA's with the SVEA demo account in
/// one form, in the sandbox.
pub async fn connect_both(app: &TestApp, session: &str, sequra_user: &str) {
    let resp = app
        .post_form(
            "/app/connect",
            session,
            &[
                ("username", sequra_user),
                ("password", DEMO_PASSWORD),
                ("svea_username", DEMO_SVEA_USERNAME),
                ("svea_password", DEMO_PASSWORD),
                ("environment", "sandbox"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
}

#[tokio::test]
async fn each_deployments_merchant_ref_is_paid_and_confirmed_on_its_own_hosts() {
    let app = spawn_app().await;
    let session = both_deployments(&app, DEMO2_USERNAME).await;
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sequra_connections"),
        2,
        "an account on each deployment"
    );

    for (country, merchant, deployment, product) in [
        ("PT", DEMO_SVEA_MERCHANT_PT, "svea", "pp3"),
        ("ES", DEMO2_MERCHANT_ES, "sequra", "i1"),
    ] {
        let checkout = app.bc.create_checkout(STORE, &[(104, 1)], country);
        let (order, uuid) = started(&app, &checkout, product).await;
        let at_sequra = app.sequra.order(&uuid).unwrap();
        assert_eq!(
            (
                at_sequra.merchant_ref.as_str(),
                at_sequra.deployment.as_str()
            ),
            (merchant, deployment)
        );
        let outcome = app
            .sequra
            .complete_form(&uuid, product, None, ShopperProfile::Approve)
            .await
            .unwrap();
        assert_eq!(outcome.deliveries[0].2, 200, "{outcome:?}");
        settled(&app).await;
        let at_sequra = app.sequra.order(&uuid).unwrap();
        assert_eq!(at_sequra.state, "confirmed", "{deployment}");
        assert_eq!(
            at_sequra.order_ref_1.as_deref(),
            Some(order.to_string().as_str()),
            "the order number told to {deployment}"
        );
        // The merchant's link goes to the order's own back office.
        let (_, panel) = app
            .page(&format!("/app/orders/{order}/sequra"), &session)
            .await;
        let portal = app.sequra.portal_url_of(deployment, "sandbox");
        assert!(
            panel
                .replace("&#x2f;", "/")
                .contains(&format!("{portal}/orders/{uuid}")),
            "{deployment}: {panel}"
        );
    }
}

#[tokio::test]
async fn each_deployments_credentials_are_checked_there_and_refused_against_its_own_fields() {
    let app = spawn_app().await;
    let session = app.merchant_session(STORE).await;
    // seQura's demo account typed into SVEA's fields: SVEA does not know it.
    let resp = app
        .post_form(
            "/app/connect",
            &session,
            &[
                ("username", DEMO_USERNAME),
                ("password", DEMO_PASSWORD),
                ("svea_username", DEMO_USERNAME),
                ("svea_password", DEMO_PASSWORD),
                ("environment", "sandbox"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 422);
    let html = resp.text().await.unwrap();
    assert!(html.contains("id=\"svea_password-error\""), "{html}");
    assert!(
        !html.contains("id=\"password-error\""),
        "seQura's were good"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sequra_connections"),
        0,
        "nothing half-saved"
    );

    // SVEA alone is a connection too.
    let resp = app
        .post_form(
            "/app/connect",
            &session,
            &[
                ("svea_username", DEMO_SVEA_USERNAME),
                ("svea_password", DEMO_PASSWORD),
                ("environment", "sandbox"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
    let calls = app.sequra_calls();
    assert!(
        calls
            .iter()
            .any(|r| r.path.starts_with("/svea/sandbox/merchants/credentials")),
        "{calls:?}"
    );
}

/// Each merchant ref's delivery report goes to its own deployment, with its own orders: the
/// shipped ones and the week's statistics of its countries (an SVEA merchant in Portugal is
/// not told of the store's Spanish sales through seQura).
#[tokio::test]
async fn each_deployments_delivery_report_goes_there_with_its_own_orders() {
    let app = spawn_app_with(|s| s.jobs.delivery_report_time = "00:00".into()).await;
    both_deployments(&app, DEMO2_USERNAME).await;
    let mut orders = Vec::new();
    for (country, product) in [("PT", "pp3"), ("ES", "i1")] {
        let checkout = app.bc.create_checkout(STORE, &[(104, 1)], country);
        let (order, uuid) = started(&app, &checkout, product).await;
        let outcome = app
            .sequra
            .complete_form(&uuid, product, None, ShopperProfile::Approve)
            .await
            .unwrap();
        assert_eq!(outcome.deliveries[0].2, 200, "{outcome:?}");
        settled(&app).await;
        app.bc.ship_all(STORE, order).unwrap();
        orders.push(order);
    }
    crate::order_sync::eventually("both shipments told", || {
        app.sequra
            .orders()
            .iter()
            .all(|o| !o.updates.is_empty())
            .then_some(())
    })
    .await;
    settled(&app).await;
    sequra_bc::orders::report::schedule(&app.state).await;
    settled(&app).await;
    for (deployment, merchant, order) in [
        ("svea", DEMO_SVEA_MERCHANT_PT, orders[0]),
        ("sequra", DEMO2_MERCHANT_ES, orders[1]),
    ] {
        let reports = app.sequra.delivery_reports_on(deployment);
        assert_eq!(reports.len(), 1, "{deployment}: {reports:?}");
        let r = &reports[0];
        assert_eq!(r["merchant"]["id"], merchant);
        let refs = |key: &str| -> Vec<String> {
            r[key]["orders"]
                .as_array()
                .or_else(|| r[key].as_array())
                .unwrap()
                .iter()
                .map(|o| {
                    o["merchant_reference"]["order_ref_1"]
                        .as_str()
                        .unwrap()
                        .to_owned()
                })
                .collect()
        };
        assert_eq!(refs("orders"), vec![order.to_string()], "{deployment}: {r}");
        assert_eq!(
            refs("statistics"),
            vec![order.to_string()],
            "{deployment}: {r}"
        );
    }
}

/// A deployment's block sent back as the page shows it (its username, no password) keeps its
/// account; but switching environment asks for each account again, since the switch resets
/// them all and a password for the other environment is another one.
#[tokio::test]
async fn an_account_left_as_shown_is_kept_but_must_be_given_again_to_switch_environment() {
    let app = spawn_app().await;
    let session = both_deployments(&app, DEMO2_USERNAME).await;
    let as_shown = |environment: &'static str| {
        vec![
            ("username", DEMO2_USERNAME),
            ("password", ""),
            ("svea_username", DEMO_SVEA_USERNAME),
            ("svea_password", ""),
            ("environment", environment),
            ("confirm_switch", "yes"),
        ]
    };
    let resp = app
        .post_form("/app/connect", &session, &as_shown("sandbox"))
        .await;
    assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
    assert_eq!(app.count("SELECT COUNT(*) FROM sequra_connections"), 2);
    assert_eq!(app.count("SELECT COUNT(*) FROM selling_countries"), 2);

    let resp = app
        .post_form("/app/connect", &session, &as_shown("live"))
        .await;
    assert_eq!(resp.status(), 422);
    let html = resp.text().await.unwrap();
    assert!(html.contains("id=\"password-error\""), "{html}");
    assert!(html.contains("id=\"svea_password-error\""), "{html}");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sequra_connections WHERE environment = 'sandbox'"),
        2,
        "nothing changed"
    );
}

#[tokio::test]
async fn disconnecting_one_deployment_keeps_the_other_and_its_country() {
    let app = spawn_app().await;
    let session = both_deployments(&app, DEMO2_USERNAME).await;
    let resp = app
        .post_form(
            "/app/disconnect",
            &session,
            &[("confirm", "yes"), ("deployment", "svea")],
        )
        .await;
    assert_eq!(resp.status(), 303);
    let left = app.query(
        "SELECT group_concat(s.country || ':' || c.deployment) FROM selling_countries s
         JOIN sequra_connections c ON s.store_hash = c.store_hash",
        |r| r.get::<_, String>(0),
    );
    assert_eq!(left, "ES:sequra");
    // Portugal left checkout with SVEA.
    let portugal = app.bc.create_checkout(STORE, &[(104, 1)], "PT");
    let resp = crate::checkout::start(&app, &portugal, "pp3", None).await;
    assert_ne!(resp.status(), 200);
    let spain = app.bc.create_checkout(STORE, &[(104, 1)], "ES");
    started(&app, &spain, "i1").await;
}

#[tokio::test]
async fn the_list_of_deployments_is_read_from_sequra_and_kept() {
    // SVEA's hosts left to the list.
    let app = spawn_app_with(|s| {
        s.sequra.svea_sandbox_url = String::new();
        s.sequra.svea_sandbox_assets_url = String::new();
    })
    .await;
    crate::order_sync::eventually("the list read", || {
        (app.count("SELECT COUNT(*) FROM sequra_deployments") == 1).then_some(())
    })
    .await;
    let hosts = app.state.sequra.deployments();
    assert_eq!(
        hosts.api(Deployment::Svea, Environment::Sandbox),
        app.sequra.svea_sandbox_url()
    );
    assert_eq!(
        hosts.assets(Deployment::Svea, Environment::Sandbox),
        app.sequra.svea_assets_base_url()
    );
    assert!(
        app.sequra
            .requests()
            .iter()
            .any(|r| r.path == "/live/deployments" && r.header("authorization").is_none()),
        "read on seQura's live host, without an account"
    );
}

#[tokio::test]
async fn a_list_sequra_cannot_give_keeps_the_one_in_use() {
    let app = spawn_app_with(|s| s.sequra.svea_sandbox_url = String::new()).await;
    crate::order_sync::eventually("the list read at start-up", || {
        (app.count("SELECT COUNT(*) FROM sequra_deployments") == 1).then_some(())
    })
    .await;
    app.sequra.set_deployments_outage(true);
    sequra_bc::onboarding::deployments::refresh(&app.state).await;
    assert_eq!(
        app.state
            .sequra
            .deployments()
            .api(Deployment::Svea, Environment::Sandbox),
        app.sequra.svea_sandbox_url()
    );
    // Never read: the built-in list (seQura's own library's).
    let fresh = sequra_bc::sequra::Deployments::new(Default::default());
    assert_eq!(
        fresh.api(Deployment::Svea, Environment::Sandbox).as_str(),
        "https://next-sandbox.sequra.svea.com/"
    );
}

/// Colombia and Peru: seQura's checkout takes euros only, so a merchant ref selling in COP or
/// PEN is refused at the countries step, saying why (and the checkout offers a cart only in
/// its merchant ref's currency, EUR).
#[tokio::test]
async fn a_merchant_ref_selling_in_pesos_is_refused_and_says_why() {
    use sequra_bc_sandbox::bigcommerce::StoreSpec;
    use sequra_bc_sandbox::sequra::{AccountSpec, MerchantSpec, SequraStandIn};
    let app = spawn_app().await;
    app.sequra.add_account(AccountSpec {
        environment: "sandbox".into(),
        username: "andes".into(),
        password: DEMO_PASSWORD.into(),
        merchants: vec![MerchantSpec {
            merchant_ref: "andes_co".into(),
            country: "CO".into(),
            currency: "COP".into(),
            contract_options: Vec::new(),
            realm: String::new(),
            methods: SequraStandIn::default_methods("CO"),
        }],
    });
    let mut spec = StoreSpec::demo("andes");
    spec.shipping_countries.push("CO".into());
    let owner = spec.owner.clone();
    app.bc.add_store(spec);
    let resp = app.install("andes", &owner).await;
    let session = crate::helpers::session_of(&resp.text().await.unwrap());
    let resp = app
        .post_form(
            "/app/connect",
            &session,
            &[
                ("username", "andes"),
                ("password", DEMO_PASSWORD),
                ("environment", "sandbox"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 303);
    let resp = app
        .post_form(
            "/app/countries",
            &session,
            &[("country", "CO"), ("ref_CO", "andes_co")],
        )
        .await;
    assert_eq!(resp.status(), 422);
    let html = resp.text().await.unwrap();
    assert!(html.contains("id=\"ref_CO-error\""), "{html}");
    assert!(html.contains("COP"), "the currency is named");
    assert_eq!(app.count("SELECT COUNT(*) FROM selling_countries"), 0);
}
