//! Connecting seQura and configuring the integration: every validation rule, each seQura error
//! class as its message, secrets at rest, resets and isolation.

use sequra_bc_sandbox::sequra::{
    DEMO_MERCHANT_ES, DEMO_MERCHANT_FR, DEMO_MERCHANT_PT, DEMO_PASSWORD, DEMO_USERNAME,
    LIVE_PASSWORD, LIVE_USERNAME,
};

use crate::helpers::{TestApp, spawn_app};

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

async fn connected(app: &TestApp, hash: &str) -> String {
    let session = app.merchant_session(hash).await;
    app.connect_demo(&session).await;
    session
}

#[tokio::test]
async fn wrong_credentials_are_refused_on_the_form_and_nothing_is_stored() {
    let app = spawn_app().await;
    let session = app.merchant_session("store1").await;
    let resp = app
        .post_form(
            "/app/connect",
            &session,
            &[
                ("username", DEMO_USERNAME),
                ("password", "not-the-password"),
                ("environment", "sandbox"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 422);
    let html = resp.text().await.unwrap();
    assert!(
        html.contains("The username or password is wrong."),
        "{html}"
    );
    assert!(
        html.contains(&format!("value=\"{DEMO_USERNAME}\"")),
        "the username is kept"
    );
    assert!(
        !html.contains("not-the-password"),
        "a password is never rendered back"
    );
    assert_eq!(app.count("SELECT count(*) FROM sequra_connections"), 0);
    assert_eq!(app.count("SELECT count(*) FROM sequra_merchants"), 0);
}

#[tokio::test]
async fn sandbox_credentials_on_live_are_wrong_credentials() {
    let app = spawn_app().await;
    let session = app.merchant_session("store1").await;
    let resp = app
        .post_form(
            "/app/connect",
            &session,
            &[
                ("username", DEMO_USERNAME),
                ("password", DEMO_PASSWORD),
                ("environment", "live"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 422);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("username or password is wrong")
    );
}

#[tokio::test]
async fn an_unreachable_sequra_asks_to_try_again_and_stores_nothing() {
    let app = spawn_app().await;
    let session = app.merchant_session("store1").await;
    app.sequra.set_outage(true);
    let resp = app
        .post_form(
            "/app/connect",
            &session,
            &[
                ("username", DEMO_USERNAME),
                ("password", DEMO_PASSWORD),
                ("environment", "sandbox"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 422);
    let html = resp.text().await.unwrap();
    assert!(html.contains("seQura could not be reached"), "{html}");
    assert_eq!(app.count("SELECT count(*) FROM sequra_connections"), 0);
}

#[tokio::test]
async fn missing_fields_and_a_bad_environment_are_shown_inline() {
    let app = spawn_app().await;
    let session = app.merchant_session("store1").await;
    let resp = app
        .post_form(
            "/app/connect",
            &session,
            &[("username", ""), ("password", ""), ("environment", "prod")],
        )
        .await;
    assert_eq!(resp.status(), 422);
    let html = resp.text().await.unwrap();
    assert!(html.contains("id=\"username-error\""), "{html}");
    assert!(html.contains("id=\"password-error\""));
    assert!(html.contains("Choose sandbox or live."));
    // Nothing was asked of seQura for an invalid form.
    assert!(app.sequra_calls().is_empty());
}

#[tokio::test]
async fn connecting_stores_the_password_sealed_and_imports_the_methods() {
    let app = spawn_app().await;
    let session = app.merchant_session("store1").await;
    let resp = app
        .post_form(
            "/app/connect",
            &session,
            &[
                ("username", DEMO_USERNAME),
                ("password", DEMO_PASSWORD),
                ("environment", "sandbox"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 303);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with("/app/countries?session="),
        "{location}"
    );
    let (env, user): (String, String) = app.query(
        "SELECT environment, username FROM sequra_connections",
        |r| Ok((r.get(0)?, r.get(1)?)),
    );
    assert_eq!((env.as_str(), user.as_str()), ("sandbox", DEMO_USERNAME));
    assert_eq!(app.count("SELECT count(*) FROM sequra_merchants"), 4);
    assert_eq!(app.count("SELECT count(*) FROM payment_methods"), 4);

    let db = app.state.db.path().to_path_buf();
    let mut wal = db.clone().into_os_string();
    wal.push("-wal");
    for bytes in [
        std::fs::read(&db).unwrap(),
        std::fs::read(&wal).unwrap_or_default(),
    ] {
        assert!(
            !contains(&bytes, DEMO_PASSWORD),
            "the seQura password is in the database file"
        );
    }
    let (_, html) = app.page("/app/connect", &session).await;
    assert!(html.contains("id=\"current-connection\""), "{html}");
    assert!(!html.contains(DEMO_PASSWORD));
    // Every call to seQura authenticated with Basic auth over the demo account.
    let req = &app.sequra_calls()[0];
    assert!(req.path.ends_with("/merchants/credentials"), "{}", req.path);
}

#[tokio::test]
async fn the_default_status_mapping_is_written_at_install() {
    let app = spawn_app().await;
    app.merchant_session("store1").await;
    let rows: Vec<(String, Option<i64>)> = {
        let conn = rusqlite::Connection::open(app.state.db.path()).unwrap();
        let mut stmt = conn
            .prepare("SELECT sequra_status, bc_status_id FROM order_status_mappings ORDER BY sequra_status")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(
        rows,
        vec![
            ("approved".to_string(), Some(11)),
            ("cancelled".to_string(), Some(5)),
            ("needs_review".to_string(), Some(12)),
        ]
    );
}

#[tokio::test]
async fn countries_offer_what_the_store_sells_to_that_sequra_supports_prefilled_from_the_credentials()
 {
    let app = spawn_app().await;
    let session = connected(&app, "store1").await;
    let (status, html) = app.page("/app/countries", &session).await;
    assert_eq!(status, 200);
    for code in ["ES", "FR", "PT"] {
        assert!(
            html.contains(&format!("data-country=\"{code}\"")),
            "{code} offered: {html}"
        );
    }
    assert!(
        !html.contains("data-country=\"IT\""),
        "the store does not ship to Italy"
    );
    assert!(
        html.contains("id=\"countries-unsupported\""),
        "DE is named as unsupported"
    );
    assert!(html.contains(&format!("value=\"{DEMO_MERCHANT_ES}\"")));
    assert!(html.contains(&format!("value=\"{DEMO_MERCHANT_FR}\"")));
}

#[tokio::test]
async fn every_country_rule_is_enforced_and_nothing_is_saved_on_error() {
    let app = spawn_app().await;
    let session = connected(&app, "store1").await;
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![("ref_ES", DEMO_MERCHANT_ES)],
            "Choose at least one country.",
        ),
        (
            vec![("country", "ES"), ("ref_ES", DEMO_MERCHANT_FR)],
            "not for this country",
        ),
        (
            vec![("country", "ES"), ("ref_ES", "someone_else")],
            "does not belong to your seQura account",
        ),
        (
            vec![("country", "ES"), ("ref_ES", "")],
            "Enter the merchant ref",
        ),
        (
            vec![("country", "IT"), ("ref_IT", "dummy_automated_tests_it")],
            "does not sell to IT",
        ),
        (
            vec![("country", "DE"), ("ref_DE", DEMO_MERCHANT_ES)],
            "does not sell to DE",
        ),
    ];
    for (fields, message) in cases {
        let resp = app.post_form("/app/countries", &session, &fields).await;
        assert_eq!(resp.status(), 422, "{fields:?}");
        let html = resp.text().await.unwrap();
        assert!(html.contains(message), "{fields:?} → {message}: {html}");
        assert_eq!(
            app.count("SELECT count(*) FROM selling_countries"),
            0,
            "{fields:?}"
        );
    }
    let resp = app
        .post_form(
            "/app/countries",
            &session,
            &[
                ("country", "ES"),
                ("ref_ES", DEMO_MERCHANT_ES),
                ("country", "PT"),
                ("ref_PT", DEMO_MERCHANT_PT),
                ("ref_FR", DEMO_MERCHANT_FR),
            ],
        )
        .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(app.count("SELECT count(*) FROM selling_countries"), 2);
    assert_eq!(
        app.count(&format!("SELECT count(*) FROM selling_countries WHERE country='PT' AND merchant_ref='{DEMO_MERCHANT_PT}'")),
        1
    );
}

#[tokio::test]
async fn payment_methods_are_listed_per_country_with_money_and_icons_as_images() {
    let app = spawn_app().await;
    let session = connected(&app, "store1").await;
    app.post_form(
        "/app/countries",
        &session,
        &[
            ("country", "ES"),
            ("ref_ES", DEMO_MERCHANT_ES),
            ("country", "FR"),
            ("ref_FR", DEMO_MERCHANT_FR),
        ],
    )
    .await;
    let (status, html) = app.page("/app/methods?country=ES", &session).await;
    assert_eq!(status, 200);
    let html = html.replace("&#x2f;", "/");
    for product in ["i1", "pp3", "sp1", "pp5", "fp1"] {
        assert!(
            html.contains(&format!("data-product=\"{product}\"")),
            "{product}: {html}"
        );
    }
    assert!(
        !html.contains("data-country=\"FR\""),
        "the filter keeps only Spain"
    );
    assert!(
        html.contains("€50.00"),
        "min amount of pp3 as money: {html}"
    );
    assert!(
        html.contains("data:image/svg+xml;base64,"),
        "icons as data URIs"
    );
    assert!(!html.contains("<svg"), "seQura's SVG is never raw HTML");
    let (_, html) = app.page("/app/methods?country=FR", &session).await;
    assert!(html.contains("Payez en plusieurs fois"), "{html}");
    assert!(!html.contains("data-product=\"i1\""));
}

#[tokio::test]
async fn refresh_reimports_and_an_outage_keeps_the_previous_methods() {
    let app = spawn_app().await;
    let session = connected(&app, "store1").await;
    let before: String = app.query("SELECT min(fetched_at) FROM payment_methods", |r| r.get(0));
    app.sequra.clear_requests();
    let resp = app.post_form("/app/methods/refresh", &session, &[]).await;
    assert_eq!(resp.status(), 303);
    let calls = app
        .sequra
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/payment_methods"))
        .count();
    assert_eq!(calls, 4, "one import per merchant ref");
    app.sequra.set_outage(true);
    let resp = app.post_form("/app/methods/refresh", &session, &[]).await;
    assert_eq!(resp.status(), 502);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("The previous list is kept")
    );
    assert_eq!(app.count("SELECT count(*) FROM payment_methods"), 4);
    let after: String = app.query("SELECT min(fetched_at) FROM payment_methods", |r| r.get(0));
    assert!(after >= before);
}

#[tokio::test]
async fn general_settings_validate_every_ip_and_save_exclusions_from_the_catalog() {
    let app = spawn_app().await;
    let session = connected(&app, "store1").await;
    let resp = app
        .post_form(
            "/app/general",
            &session,
            &[
                ("allowed_ips", "1.2.3.4\n300.1.1.1"),
                ("send_order_reports", "on"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 422);
    let html = resp.text().await.unwrap();
    assert!(
        html.contains("Not an IPv4 or IPv6 address or range")
            && html.contains("&quot;300.1.1.1&quot;"),
        "{html}"
    );
    assert_eq!(app.count("SELECT count(*) FROM general_settings"), 0);

    // Search the catalog by SKU and by name.
    let (_, html) = app.page("/app/general?q=CAM-001", &session).await;
    let value = pick_value(&html, "excluded_product").expect("a product found by SKU");
    let (_, html) = app.page("/app/general?q=Calzado", &session).await;
    let category = pick_value(&html, "excluded_category").expect("a category found by name");

    let resp = app
        .post_form(
            "/app/general",
            &session,
            &[
                ("allowed_ips", "1.2.3.4, 2001:db8::1"),
                ("excluded_product", &value),
                ("excluded_category", &category),
            ],
        )
        .await;
    assert_eq!(resp.status(), 303);
    let (ips, products, categories, reports): (String, String, String, bool) = app.query(
        "SELECT allowed_ips, excluded_products, excluded_categories, send_order_reports FROM general_settings",
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    );
    assert_eq!(ips, r#"["1.2.3.4","2001:db8::1"]"#);
    assert!(products.contains("CAM-001"), "{products}");
    assert!(categories.contains("Calzado"), "{categories}");
    assert!(!reports, "an unticked box turns reports off");
    let (_, html) = app.page("/app/general", &session).await;
    assert!(html.contains("2001:db8::1"));
    assert!(html.contains("CAM-001"));
}

/// The `value` of the first checkbox named `name` on the page, unescaped.
fn pick_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = start + html[start..].find('"')?;
    Some(
        html[start..end]
            .replace("&quot;", "\"")
            .replace("&#x2f;", "/")
            .replace("&#x27;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

#[tokio::test]
async fn a_forged_exclusion_is_refused() {
    let app = spawn_app().await;
    let session = connected(&app, "store1").await;
    let resp = app
        .post_form(
            "/app/general",
            &session,
            &[("allowed_ips", ""), ("excluded_product", "{\"id\":0}")],
        )
        .await;
    assert_eq!(resp.status(), 422);
    assert_eq!(app.count("SELECT count(*) FROM general_settings"), 0);
}

#[tokio::test]
async fn the_status_mapping_shows_custom_labels_and_saves_none() {
    let app = spawn_app().await;
    let session = connected(&app, "store1").await;
    let (status, html) = app.page("/app/order-status", &session).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("Listo para preparar"),
        "the merchant's custom label: {html}"
    );
    assert!(
        !html.contains("value=\"0\""),
        "Incomplete is never a target"
    );
    let resp = app
        .post_form(
            "/app/order-status",
            &session,
            &[
                ("approved", "10"),
                ("needs_review", "none"),
                ("cancelled", "5"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(
        app.count("SELECT bc_status_id FROM order_status_mappings WHERE sequra_status='approved'"),
        10
    );
    assert_eq!(
        app.count("SELECT count(*) FROM order_status_mappings WHERE sequra_status='needs_review' AND bc_status_id IS NULL"),
        1
    );
    let resp = app
        .post_form(
            "/app/order-status",
            &session,
            &[
                ("approved", "99"),
                ("needs_review", "12"),
                ("cancelled", "5"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 422);
    assert_eq!(
        app.count("SELECT bc_status_id FROM order_status_mappings WHERE sequra_status='approved'"),
        10
    );
    // A payment going ahead never cancels the order (seQura would cancel what was paid).
    for closing in ["5"] {
        let resp = app
            .post_form(
                "/app/order-status",
                &session,
                &[
                    ("approved", "11"),
                    ("needs_review", closing),
                    ("cancelled", "5"),
                ],
            )
            .await;
        assert_eq!(resp.status(), 422);
        let html = resp.text().await.unwrap();
        assert!(html.contains("cannot cancel the order"), "{html}");
        assert_eq!(
            app.count(
                "SELECT bc_status_id FROM order_status_mappings WHERE sequra_status='approved'"
            ),
            10,
            "nothing half-saved"
        );
    }
}

#[tokio::test]
async fn switching_environment_needs_confirmation_and_resets_countries_and_methods() {
    let app = spawn_app().await;
    let session = connected(&app, "store1").await;
    app.post_form(
        "/app/countries",
        &session,
        &[("country", "ES"), ("ref_ES", DEMO_MERCHANT_ES)],
    )
    .await;
    let live = [
        ("username", LIVE_USERNAME),
        ("password", LIVE_PASSWORD),
        ("environment", "live"),
    ];
    let resp = app.post_form("/app/connect", &session, &live).await;
    assert_eq!(resp.status(), 422);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("id=\"confirm-switch-error\"")
    );
    assert_eq!(
        app.count("SELECT count(*) FROM selling_countries"),
        1,
        "nothing changed"
    );

    let mut confirmed = live.to_vec();
    confirmed.push(("confirm_switch", "yes"));
    let resp = app.post_form("/app/connect", &session, &confirmed).await;
    assert_eq!(resp.status(), 303);
    let env: String = app.query("SELECT environment FROM sequra_connections", |r| r.get(0));
    assert_eq!(env, "live");
    assert_eq!(app.count("SELECT count(*) FROM selling_countries"), 0);
    assert_eq!(
        app.count("SELECT count(*) FROM sequra_merchants WHERE merchant_ref LIKE 'dummy%'"),
        0
    );
    assert_eq!(
        app.count("SELECT count(*) FROM payment_methods WHERE merchant_ref LIKE 'dummy%'"),
        0
    );
}

#[tokio::test]
async fn disconnect_needs_confirmation_and_removes_credentials_and_methods() {
    let app = spawn_app().await;
    let session = connected(&app, "store1").await;
    let resp = app.post_form("/app/disconnect", &session, &[]).await;
    assert!(resp.status().is_client_error());
    assert_eq!(app.count("SELECT count(*) FROM sequra_connections"), 1);
    let resp = app
        .post_form("/app/disconnect", &session, &[("confirm", "yes")])
        .await;
    assert_eq!(resp.status(), 303);
    for table in [
        "sequra_connections",
        "sequra_merchants",
        "payment_methods",
        "selling_countries",
    ] {
        assert_eq!(
            app.count(&format!("SELECT count(*) FROM {table}")),
            0,
            "{table}"
        );
    }
}

#[tokio::test]
async fn forms_without_a_valid_session_change_nothing() {
    let app = spawn_app().await;
    let session = app.merchant_session("store1").await;
    let fields = [
        ("username", DEMO_USERNAME),
        ("password", DEMO_PASSWORD),
        ("environment", "sandbox"),
    ];
    for bad in ["", "x.y.z", &session.replacen('.', "0.", 1)] {
        let resp = app.post_form("/app/connect", bad, &fields).await;
        assert_eq!(resp.status(), 401, "{bad:?}");
    }
    let resp = app
        .http
        .post(format!("{}/app/connect", app.address))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(app.count("SELECT count(*) FROM sequra_connections"), 0);
    assert!(app.sequra_calls().is_empty());
}

#[tokio::test]
async fn one_store_configuring_never_touches_another() {
    let app = spawn_app().await;
    let a = connected(&app, "storea").await;
    let b = app.merchant_session("storeb").await;
    app.post_form(
        "/app/countries",
        &a,
        &[("country", "ES"), ("ref_ES", DEMO_MERCHANT_ES)],
    )
    .await;
    app.post_form("/app/general", &a, &[("allowed_ips", "1.2.3.4")])
        .await;
    assert_eq!(
        app.count("SELECT count(*) FROM sequra_connections WHERE store_hash='storeb'"),
        0
    );
    assert_eq!(
        app.count("SELECT count(*) FROM selling_countries WHERE store_hash='storeb'"),
        0
    );
    let (_, html) = app.page("/app/connect", &b).await;
    assert!(!html.contains(DEMO_USERNAME), "store B sees no connection");
    let (_, html) = app.page("/app/general", &b).await;
    assert!(!html.contains("1.2.3.4"));
}

#[tokio::test]
async fn the_dashboard_says_what_is_still_missing_in_the_users_language() {
    let app = spawn_app().await;
    let (owner, _) = app.installed_store("store1").await;
    // The owner opens the app: es-ES.
    let resp = app.get(app.bc.load_url("store1", &owner, "/")).await;
    let session = crate::helpers::session_of(&resp.text().await.unwrap());
    let (_, html) = app.page("/app", &session).await;
    assert!(html.contains("data-missing=\"connect\""));
    assert!(html.contains("Conecta tu cuenta de seQura"), "{html}");
    app.connect_demo(&session).await;
    let (_, html) = app.page("/app", &session).await;
    assert!(!html.contains("data-missing=\"connect\""));
    assert!(html.contains("data-missing=\"countries\""), "{html}");
    app.post_form(
        "/app/countries",
        &session,
        &[("country", "ES"), ("ref_ES", DEMO_MERCHANT_ES)],
    )
    .await;
    let (_, html) = app.page("/app", &session).await;
    assert!(html.contains("id=\"complete\""), "{html}");
}

#[tokio::test]
async fn uninstall_deletes_the_sequra_password_and_keeps_the_settings() {
    let app = spawn_app().await;
    let session = connected(&app, "store1").await;
    app.post_form(
        "/app/countries",
        &session,
        &[("country", "ES"), ("ref_ES", DEMO_MERCHANT_ES)],
    )
    .await;
    app.bc.uninstall("store1").await.unwrap();
    assert_eq!(app.count("SELECT count(*) FROM sequra_connections"), 0);
    assert_eq!(app.count("SELECT count(*) FROM selling_countries"), 1);
    assert_eq!(app.count("SELECT count(*) FROM order_status_mappings"), 3);
}

/// The seQura methods the store's checkout offers (product codes).
async fn offered(app: &TestApp, hash: &str) -> Vec<String> {
    let checkout = app.bc.create_checkout(hash, &[(104, 1)], "ES");
    let resp = app
        .http
        .post(format!("{}/checkout/{hash}/methods", app.address))
        .json(&serde_json::json!({ "checkoutId": checkout }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    body["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["product"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_merchant_ref_another_store_sells_with_is_refused_and_never_offered_twice() {
    let app = spawn_app().await;
    app.spanish_store("store1").await;
    assert!(!offered(&app, "store1").await.is_empty());

    // A second store of this installation on the same account and merchant ref: its order
    // #101 would be refused at seQura beside the first store's #101, and cancelled.
    let session = connected(&app, "store2").await;
    let resp = app
        .post_form(
            "/app/countries",
            &session,
            &[("country", "ES"), ("ref_ES", DEMO_MERCHANT_ES)],
        )
        .await;
    assert_eq!(resp.status(), 422);
    let body = resp.text().await.unwrap();
    assert!(
        body.contains("Another store of this installation already sells with this merchant ref"),
        "{body}"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM selling_countries WHERE store_hash = 'store2'"),
        0
    );
    assert!(offered(&app, "store2").await.is_empty());

    // With a merchant ref of its own, it sells.
    app.sell_with_second_account(&session).await;
    assert!(!offered(&app, "store2").await.is_empty());

    // A database saved before the rule, with a ref held twice: only the store installed
    // first offers seQura for it.
    let session = connected(&app, "store3").await;
    drop(session);
    let conn = rusqlite::Connection::open(app.state.db.path()).unwrap();
    conn.execute(
        "INSERT INTO selling_countries (store_hash, country, merchant_ref) VALUES ('store3', 'ES', ?1)",
        [DEMO_MERCHANT_ES],
    )
    .unwrap();
    assert!(offered(&app, "store3").await.is_empty());
    assert!(!offered(&app, "store1").await.is_empty());
}
