//! Issue 32, "One seQura button, and the hosted page": the two merchant settings (saved,
//! validated, refused when forged, one store's never another's), the single button at the
//! checkout (offered under the per-method rules, paid through the same start and placement,
//! the plan seQura reports on the order), and the hosted page (a signed link, seQura's form
//! with the shopper pages' headers, the way back when the form cannot be shown).

use serde_json::{Value, json};

use sequra_bc_sandbox::sequra::ShopperProfile;

use crate::checkout::{STORE, ready, settled, start, started_order, status_of};
use crate::helpers::TestApp;

async fn single_button(app: &TestApp, session: &str, on: bool) {
    // The page's form posts its name with the box (so an unticked box still posts a form).
    let fields: &[(&str, &str)] = if on {
        &[("layout", "1"), ("single_button", "on")]
    } else {
        &[("layout", "1")]
    };
    let resp = app
        .post_form("/app/methods/settings", session, fields)
        .await;
    assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
}

async fn hosted_page(app: &TestApp, session: &str, on: bool) {
    let mut fields = vec![("allowed_ips", "")];
    if on {
        fields.push(("hosted_page", "on"));
    }
    let resp = app.post_form("/app/general", session, &fields).await;
    assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
}

fn stored_single(app: &TestApp, store: &str) -> i64 {
    app.count(&format!(
        "SELECT COALESCE(MAX(single_button), -1) FROM payment_method_settings WHERE store_hash = '{store}'"
    ))
}

fn stored_hosted(app: &TestApp, store: &str) -> i64 {
    app.count(&format!(
        "SELECT COALESCE(MAX(hosted_page), -1) FROM general_settings WHERE store_hash = '{store}'"
    ))
}

async fn methods_body(app: &TestApp, checkout: &str) -> Value {
    let resp = app
        .http
        .post(format!("{}/checkout/{STORE}/methods", app.address))
        .json(&json!({ "checkoutId": checkout }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

fn products(body: &Value) -> Vec<String> {
    body["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["product"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_single_button_setting_is_saved_shown_and_refused_when_forged() {
    let (app, session) = ready().await;
    let (_, html) = app.page("/app/methods", &session).await;
    assert!(
        html.contains("id=\"single_button\">"),
        "off until the merchant turns it on: {html}"
    );
    single_button(&app, &session, true).await;
    assert_eq!(stored_single(&app, STORE), 1);
    let (_, html) = app.page("/app/methods", &session).await;
    assert!(html.contains("id=\"single_button\" checked"), "{html}");

    // A value the page never posts is refused, and changes nothing.
    let resp = app
        .post_form(
            "/app/methods/settings",
            &session,
            &[("single_button", "yes")],
        )
        .await;
    assert_eq!(resp.status(), 422);
    let html = resp.text().await.unwrap();
    assert!(html.contains("id=\"single_button-error\""), "{html}");
    assert_eq!(stored_single(&app, STORE), 1);

    // No session, a forged one, or a body that is not a form: 4xx and nothing changes.
    let resp = app
        .http
        .post(format!("{}/app/methods/settings", app.address))
        .form(&[("single_button", "on")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let forged = session.replacen('.', "0.", 1);
    let resp = app.post_form("/app/methods/settings", &forged, &[]).await;
    assert_eq!(resp.status(), 401);
    let resp = app
        .http
        .post(format!(
            "{}/app/methods/settings?session={session}",
            app.address
        ))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_client_error(), "{}", resp.status());
    assert_eq!(stored_single(&app, STORE), 1);

    single_button(&app, &session, false).await;
    assert_eq!(stored_single(&app, STORE), 0);
}

#[tokio::test]
async fn the_hosted_page_setting_is_saved_with_the_general_settings_and_refused_when_forged() {
    let (app, session) = ready().await;
    let (_, html) = app.page("/app/general", &session).await;
    assert!(html.contains("id=\"hosted_page\">"), "{html}");
    hosted_page(&app, &session, true).await;
    assert_eq!(stored_hosted(&app, STORE), 1);
    let (_, html) = app.page("/app/general", &session).await;
    assert!(html.contains("id=\"hosted_page\" checked"), "{html}");
    // Read by the same path every reader of the general settings takes.
    let g = sequra_bc::onboarding::general_settings(
        &app.state,
        &sequra_bc::domain::StoreHash::parse(STORE).unwrap(),
    )
    .await
    .unwrap();
    assert!(g.hosted_page);

    let resp = app
        .post_form(
            "/app/general",
            &session,
            &[("allowed_ips", "10.0.0.1"), ("hosted_page", "1")],
        )
        .await;
    assert_eq!(resp.status(), 422);
    let html = resp.text().await.unwrap();
    assert!(html.contains("id=\"hosted_page-error\""), "{html}");
    let ips: String = app.query("SELECT allowed_ips FROM general_settings", |r| r.get(0));
    assert_eq!(ips, "[]", "nothing of a refused form is saved");
    assert_eq!(stored_hosted(&app, STORE), 1);

    // An unticked box turns it off, as every checkbox of the page.
    hosted_page(&app, &session, false).await;
    assert_eq!(stored_hosted(&app, STORE), 0);
}

#[tokio::test]
async fn one_stores_checkout_layout_never_touches_anothers() {
    let (app, a) = ready().await;
    let b = app.merchant_session("storeb").await;
    single_button(&app, &a, true).await;
    hosted_page(&app, &a, true).await;
    assert_eq!(stored_single(&app, "storeb"), -1);
    assert_eq!(stored_hosted(&app, "storeb"), -1);
    let (_, html) = app.page("/app/methods", &b).await;
    assert!(!html.contains("id=\"single_button\" checked"));
    let (_, html) = app.page("/app/general", &b).await;
    assert!(!html.contains("id=\"hosted_page\" checked"));
    // Store B's settings saved: A's stay as they were.
    single_button(&app, &b, false).await;
    hosted_page(&app, &b, false).await;
    assert_eq!(stored_single(&app, STORE), 1);
    assert_eq!(stored_hosted(&app, STORE), 1);
}

/// The single button stands for the methods the checkout would offer: one `tbs` button where
/// at least one would be offered, none where none would (IPs, exclusions, country); its start
/// is the per-method start (`form_v2?product=tbs&ajax=true`, no campaign), and the plan the
/// shopper chose in seQura's form (the IPN's `product_code`) is the order's payment method.
#[tokio::test]
async fn the_single_button_pays_with_the_plan_chosen_in_sequras_form() {
    let (app, session) = ready().await;
    single_button(&app, &session, true).await;
    let checkout = app.bc.create_checkout(STORE, &[(103, 2)], "ES");
    let body = methods_body(&app, &checkout).await;
    assert_eq!(products(&body), ["tbs"], "{body}");
    assert_eq!(body["methods"][0]["campaign"], Value::Null);
    assert_eq!(body["single"]["title"]["es"], "Paga con seQura", "{body}");
    // Germany is not a selling country: no button, single or not.
    let de = app.bc.create_checkout(STORE, &[(103, 2)], "DE");
    assert!(products(&methods_body(&app, &de).await).is_empty());
    // Nor for a shopper outside the allowed addresses.
    app.post_form("/app/general", &session, &[("allowed_ips", "203.0.113.9")])
        .await;
    assert!(products(&methods_body(&app, &checkout).await).is_empty());
    let resp = start(&app, &checkout, "tbs", None).await;
    assert_eq!(resp.status(), 403);
    app.post_form("/app/general", &session, &[("allowed_ips", "")])
        .await;
    // Nor for a cart holding an excluded product.
    app.post_form(
        "/app/general",
        &session,
        &[("excluded_product", r#"{"id":103,"name":"Pantalón chino"}"#)],
    )
    .await;
    assert!(products(&methods_body(&app, &checkout).await).is_empty());
    app.post_form("/app/general", &session, &[("allowed_ips", "")])
        .await;

    // Only the button shown starts: a per-method start, or tbs with a campaign, is refused.
    let resp = start(&app, &checkout, "i1", None).await;
    assert_eq!(resp.status(), 403);
    let resp = start(&app, &checkout, "tbs", Some("permanente")).await;
    assert_eq!(resp.status(), 403);
    assert!(app.sequra.orders().is_empty(), "nothing solicited");

    let resp = start(&app, &checkout, "tbs", None).await;
    assert_eq!(resp.status(), 200);
    let started: Value = resp.json().await.unwrap();
    assert!(
        started["form"]
            .as_str()
            .unwrap()
            .contains("sq-identification-tbs"),
        "{started}"
    );
    let form_call = app
        .sequra_calls()
        .into_iter()
        .find(|r| r.path.ends_with("/form_v2"))
        .expect("the form was fetched");
    assert_eq!(form_call.query, "product=tbs&ajax=true");
    let (order, uuid) = started_order(&app, &started);

    let outcome = app
        .sequra
        .complete_form(&uuid, "pp3", None, ShopperProfile::Approve)
        .await
        .unwrap();
    assert_eq!(outcome.deliveries[0].2, 200, "{outcome:?}");
    settled(&app).await;
    assert_eq!(status_of(&app, order), 11);
    let bc_order = app.bc.order(STORE, order).unwrap();
    assert_eq!(
        bc_order["payment_method"], "seQura – Paga Fraccionado",
        "{bc_order}"
    );
    let (product, title): (String, String) = app
        .query("SELECT product, method_title FROM solicitations", |r| {
            Ok((r.get(0)?, r.get(1)?))
        });
    assert_eq!(
        (product.as_str(), title.as_str()),
        ("pp3", "Paga Fraccionado")
    );
    let (_, panel) = app
        .page(&format!("/app/orders/{order}/sequra"), &session)
        .await;
    assert!(
        panel.contains("Paga Fraccionado") && panel.contains("<code>pp3</code>"),
        "{panel}"
    );
}

/// A checkout started with the single button in one tab and with a method's own button in
/// another (the merchant switched the setting between the two) is one order with two seQura
/// orders: the first approval pays it, the second is refused (409), nothing is paid twice.
#[tokio::test]
async fn the_single_button_and_a_methods_button_never_pay_one_cart_twice() {
    let (app, session) = ready().await;
    let checkout = app.bc.create_checkout(STORE, &[(104, 1)], "ES");
    single_button(&app, &session, true).await;
    let resp = start(&app, &checkout, "tbs", None).await;
    assert_eq!(resp.status(), 200);
    let (order, single) = started_order(&app, &resp.json().await.unwrap());
    single_button(&app, &session, false).await;
    let resp = start(&app, &checkout, "i1", None).await;
    assert_eq!(resp.status(), 200);
    let (again, _) = started_order(&app, &resp.json().await.unwrap());
    assert_eq!(order, again, "one Incomplete order for the checkout");
    let per_method = app.sequra.orders().last().unwrap().uuid.clone();
    assert_ne!(single, per_method);

    let first = app
        .sequra
        .complete_form(&per_method, "i1", None, ShopperProfile::Approve)
        .await
        .unwrap();
    assert_eq!(first.deliveries[0].2, 200, "{first:?}");
    let second = app
        .sequra
        .complete_form(&single, "sp1", Some("permanente"), ShopperProfile::Approve)
        .await
        .unwrap();
    assert_eq!(second.deliveries[0].2, 409, "{second:?}");
    settled(&app).await;
    assert_eq!(app.bc.orders(STORE).len(), 1);
    assert_eq!(status_of(&app, order), 11);
    let confirmed = app
        .sequra
        .orders()
        .into_iter()
        .filter(|o| o.state == "confirmed")
        .count();
    assert_eq!(confirmed, 1, "seQura charges once");
    assert_eq!(
        app.bc.order(STORE, order).unwrap()["payment_method"],
        "seQura – Paga Después"
    );
}

fn header<'a>(resp: &'a reqwest::Response, name: &str) -> &'a str {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The hosted page: `start` answers a signed link to the app's own page instead of the form;
/// the page shows seQura's form (fetched then, as `start` fetches it over the checkout) with
/// the shopper pages' headers and a policy that admits seQura's host and nothing inline but
/// the form's own scripts; a tampered link, or another store's, is refused; once paid it leads
/// to the order, and where seQura cannot serve the form, back to the checkout.
#[tokio::test]
async fn the_hosted_page_is_a_signed_link_to_the_form_and_back_to_the_checkout() {
    let (app, session) = ready().await;
    hosted_page(&app, &session, true).await;
    let checkout = app.bc.create_checkout(STORE, &[(104, 1)], "ES");
    let resp = start(&app, &checkout, "i1", None).await;
    assert_eq!(resp.status(), 200);
    let started: Value = resp.json().await.unwrap();
    assert!(started.get("form").is_none(), "{started}");
    let page = started["page"].as_str().unwrap().to_string();
    assert!(
        page.starts_with(&format!("{}/checkout/{STORE}/pay?", app.address)),
        "{page}"
    );
    assert!(
        !app.sequra_calls()
            .iter()
            .any(|r| r.path.ends_with("/form_v2")),
        "the page fetches the form"
    );
    let (order, uuid) = started_order(&app, &started);

    let resp = app.get(&page).await;
    assert_eq!(resp.status(), 200);
    let csp = header(&resp, "content-security-policy").to_string();
    assert_eq!(header(&resp, "x-content-type-options"), "nosniff");
    assert_eq!(header(&resp, "cache-control"), "no-store");
    assert_eq!(header(&resp, "referrer-policy"), "no-referrer");
    let sequra_origin = app.sequra.sandbox_url().origin().ascii_serialization();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(
        csp.contains("script-src 'self' 'nonce-") && csp.contains(&sequra_origin),
        "{csp}"
    );
    assert!(!csp.contains("script-src 'self' 'unsafe-inline'"), "{csp}");
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|s| s.split('\'').next())
        .unwrap()
        .to_string();
    let html = resp.text().await.unwrap();
    assert!(html.contains("sq-identification-i1"), "{html}");
    assert!(
        html.contains(&format!("<script nonce=\"{nonce}\"")),
        "seQura's scripts carry the nonce: {html}"
    );
    assert!(html.contains("id=\"hosted-back\""), "{html}");
    assert!(html.contains("&#x2f;checkout\""), "the way back: {html}");

    // A tampered link, another store's, or one without its signature: refused.
    let tampered = page.replace("signature=", "signature=0");
    assert_eq!(app.get(&tampered).await.status(), 403);
    let elsewhere = page.replace(&format!("/checkout/{STORE}/"), "/checkout/storeb/");
    assert_eq!(app.get(&elsewhere).await.status(), 403);
    let bare = page.split("&signature=").next().unwrap().to_string();
    assert_eq!(app.get(&bare).await.status(), 400);

    // seQura cannot serve the form: back to the checkout.
    app.sequra.set_outage(true);
    let resp = app.get(&page).await;
    assert_eq!(resp.status(), 303);
    assert!(header(&resp, "location").ends_with("/checkout"), "{resp:?}");
    app.sequra.set_outage(false);

    // Paid: the link leads to the order, never to the form again.
    let outcome = app
        .sequra
        .complete_form(&uuid, "i1", None, ShopperProfile::Approve)
        .await
        .unwrap();
    assert_eq!(outcome.deliveries[0].2, 200);
    settled(&app).await;
    assert_eq!(status_of(&app, order), 11);
    let resp = app.get(&page).await;
    assert_eq!(resp.status(), 303);
    assert!(
        header(&resp, "location").contains(&format!("/checkout/{STORE}/return?")),
        "{resp:?}"
    );
}

/// seQura serves its scripts, styles and fonts from its assets host as well as its API host
/// (sequra-api.md §1.1, §10): the hosted page's policy admits both for what the form loads, or
/// a form whose script pulls its styles from the assets host would show broken to the shopper.
#[tokio::test]
async fn the_hosted_page_admits_sequras_assets_host_for_what_the_form_loads() {
    let (app, session) = crate::checkout::ready_with(|s| {
        s.sequra.sandbox_assets_url = "https://assets.sequra.test/assets/".into();
    })
    .await;
    hosted_page(&app, &session, true).await;
    let checkout = app.bc.create_checkout(STORE, &[(104, 1)], "ES");
    let resp = start(&app, &checkout, "i1", None).await;
    assert_eq!(resp.status(), 200);
    let started: Value = resp.json().await.unwrap();
    let resp = app.get(started["page"].as_str().unwrap()).await;
    assert_eq!(resp.status(), 200);
    let csp = header(&resp, "content-security-policy").to_string();
    let api = app.sequra.sandbox_url().origin().ascii_serialization();
    for directive in ["script-src", "style-src", "font-src", "img-src"] {
        let listed = csp
            .split(';')
            .map(str::trim)
            .find(|d| d.starts_with(directive))
            .unwrap_or_else(|| panic!("no {directive}: {csp}"));
        assert!(
            listed.contains("https://assets.sequra.test") && listed.contains(&api),
            "{directive} admits seQura's assets and API hosts: {csp}"
        );
    }
    assert!(
        !csp.contains("font-src *") && !csp.contains("script-src *"),
        "{csp}"
    );
}
