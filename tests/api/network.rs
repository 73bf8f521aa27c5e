//! The shopper's address behind a reverse proxy (issue 31, 1.4 and 2.5): an app listening on
//! `[::]` sees IPv4 peers mapped into IPv6, proxies are given as ranges, and the forwarded
//! address is the one the allowed-IP list, the limits and seQura see.

use serde_json::{Value, json};

use sequra_bc_sandbox::sequra::DEMO_MERCHANT_ES;

use crate::checkout::STORE;
use crate::helpers::{TestApp, spawn_app_with};

/// The app on every address (`[::]`, dual-stack: IPv4 peers arrive as `::ffff:a.b.c.d`),
/// trusting the loopback network as its proxy, with a Spanish store.
async fn behind_a_proxy_on_ipv6() -> (TestApp, String) {
    // The port is chosen first: off loopback the public URL must be given, and the stand-in
    // calls the app back there.
    let port = std::net::TcpListener::bind("[::]:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = spawn_app_with(|s| {
        s.server.listen = format!("[::]:{port}");
        s.server.public_url = format!("http://127.0.0.1:{port}");
        s.server.trusted_proxies = "127.0.0.0/8, fd00::/8".into();
    })
    .await;
    let session = app.merchant_session(STORE).await;
    app.connect_demo(&session).await;
    let resp = app
        .post_form(
            "/app/countries",
            &session,
            &[("country", "ES"), ("ref_ES", DEMO_MERCHANT_ES)],
        )
        .await;
    assert_eq!(resp.status(), 303);
    (app, session)
}

async fn call(app: &TestApp, action: &str, from: &str, body: Value) -> reqwest::Response {
    app.http
        .post(format!("{}/checkout/{STORE}/{action}", app.address))
        .header("X-Forwarded-For", from)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn offered(app: &TestApp, from: &str, checkout: &str) -> usize {
    let resp = call(app, "methods", from, json!({ "checkoutId": checkout })).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    body["methods"].as_array().unwrap().len()
}

/// Issue 31 (1.4): the proxy (`::ffff:127.0.0.1`, in the trusted `127.0.0.0/8`) is recognised,
/// so the allowed-IP list matches the shopper's forwarded address, the per-IP limit counts the
/// shopper and not the proxy, and seQura receives the shopper's address.
#[tokio::test]
async fn behind_a_trusted_proxy_range_on_an_ipv6_listener_the_forwarded_shopper_counts() {
    let (app, session) = behind_a_proxy_on_ipv6().await;
    let resp = app
        .post_form("/app/general", &session, &[("allowed_ips", "203.0.113.7")])
        .await;
    assert_eq!(resp.status(), 303);
    let checkout = app.bc.create_checkout(STORE, &[(104, 1)], "ES");
    assert!(
        offered(&app, "203.0.113.7", &checkout).await > 0,
        "the allowed shopper, forwarded by the proxy, sees seQura"
    );
    assert_eq!(
        offered(&app, "198.51.100.1", &checkout).await,
        0,
        "another shopper behind the same proxy does not"
    );
    // The per-IP limit counts each forwarded shopper: one at its limit leaves another free.
    for i in 0..600 {
        let resp = call(
            &app,
            "methods",
            "198.51.100.2",
            json!({ "checkoutId": "not a checkout" }),
        )
        .await;
        assert_eq!(resp.status(), 404, "call {i}");
    }
    let resp = call(
        &app,
        "methods",
        "198.51.100.2",
        json!({ "checkoutId": "not a checkout" }),
    )
    .await;
    assert_eq!(resp.status(), 429, "the 601st call of one shopper");
    assert!(
        offered(&app, "203.0.113.7", &checkout).await > 0,
        "not the proxy's limit"
    );

    let resp = call(
        &app,
        "start",
        "203.0.113.7",
        json!({ "checkoutId": checkout, "product": "i1" }),
    )
    .await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let sent: Vec<String> = app
        .sequra
        .orders()
        .iter()
        .map(|o| {
            o.solicited["customer"]["ip_number"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert_eq!(sent, ["203.0.113.7"], "seQura gets the shopper's address");
}

/// Issue 31 (2.5): allowed IPs take ranges of both families as the trusted proxies do; every
/// bad line is named in one error and nothing is saved; a stored bare address (as older rows
/// hold) still reads; a shopper inside a range sees seQura, one outside does not.
#[tokio::test]
async fn allowed_ips_take_ranges_and_every_bad_line_is_reported_at_once() {
    let (app, session) = behind_a_proxy_on_ipv6().await;
    let resp = app
        .post_form(
            "/app/general",
            &session,
            &[(
                "allowed_ips",
                "10.0.0.0/8\n300.1.1.1\n2001:db8::/129\nshop.example\n203.0.113.0/24",
            )],
        )
        .await;
    assert_eq!(resp.status(), 422);
    let html = resp.text().await.unwrap();
    let error = html
        .split("id=\"allowed_ips-error\">")
        .nth(1)
        .and_then(|rest| rest.split("</p>").next())
        .unwrap_or_else(|| panic!("one error under the field: {html}"))
        .replace("&#x2f;", "/")
        .replace("&quot;", "\"");
    for bad in ["300.1.1.1", "2001:db8::/129", "shop.example"] {
        assert!(
            error.contains(&format!("\"{bad}\"")),
            "{bad} named in {error:?}"
        );
    }
    for good in ["\"10.0.0.0/8\"", "203.0.113.0/24"] {
        assert!(!error.contains(good), "{good} is not named: {error}");
    }
    assert_eq!(html.matches("id=\"allowed_ips-error\"").count(), 1);
    assert_eq!(app.count("SELECT count(*) FROM general_settings"), 0);

    let resp = app
        .post_form(
            "/app/general",
            &session,
            &[(
                "allowed_ips",
                "203.0.113.0/24, 2001:db8:5::/48\n198.51.100.9",
            )],
        )
        .await;
    assert_eq!(resp.status(), 303);
    let stored: String = app.query("SELECT allowed_ips FROM general_settings", |r| r.get(0));
    assert_eq!(
        stored,
        r#"["203.0.113.0/24","2001:db8:5::/48","198.51.100.9"]"#
    );
    let checkout = app.bc.create_checkout(STORE, &[(104, 1)], "ES");
    for inside in [
        "203.0.113.77",
        "2001:db8:5:1::9",
        "198.51.100.9",
        "::ffff:203.0.113.5",
    ] {
        assert!(
            offered(&app, inside, &checkout).await > 0,
            "{inside} is allowed"
        );
    }
    for outside in ["203.0.114.1", "2001:db8:6::1", "198.51.100.10"] {
        assert_eq!(
            offered(&app, outside, &checkout).await,
            0,
            "{outside} is not"
        );
    }
}
