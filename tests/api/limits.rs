//! What an anonymous caller can make us spend (issue 11, B9–B11): each store's BigCommerce
//! quota, the rate limits' reach, and the server's connections.

use serde_json::json;

use crate::checkout::{STORE, ready, ready_with};
use crate::helpers::TestApp;
use crate::order_sync::{eventually, paid_order, settle};

async fn methods(app: &TestApp, store: &str, checkout: &str) -> reqwest::Response {
    app.http
        .post(format!("{}/checkout/{store}/methods", app.address))
        .json(&json!({ "checkoutId": checkout }))
        .send()
        .await
        .unwrap()
}

/// `methods` as the shopper `from` behind the trusted proxy (the apps of [`behind_proxy`]).
async fn methods_from(app: &TestApp, from: &str, checkout: &str) -> reqwest::Response {
    app.http
        .post(format!("{}/checkout/{STORE}/methods", app.address))
        .header("X-Forwarded-For", from)
        .json(&json!({ "checkoutId": checkout }))
        .send()
        .await
        .unwrap()
}

/// A ready store, behind a trusted proxy on loopback, so tests choose each caller's address.
async fn behind_proxy() -> TestApp {
    ready_with(|s| s.server.trusted_proxies = "127.0.0.1".into())
        .await
        .0
}

/// The `i`th of many shoppers' addresses, each of a network of its own (the addresses of one
/// /24 share a limit).
fn shopper(i: usize) -> String {
    format!("10.{}.{}.1", i / 256, i % 256)
}

fn checkout_calls(app: &TestApp, checkout: &str) -> usize {
    app.bc
        .requests()
        .iter()
        .filter(|r| r.path.contains(&format!("/v3/checkouts/{checkout}")))
        .count()
}

/// B9: anonymous `methods` calls (from many shoppers: one caller spends only its part) stop
/// at 30 % of the store's window quota and are answered 503 with `Retry-After` (not 502); what is left serves the job queue, so a shipment made
/// during the flood reaches seQura at once, without a single 429.
#[tokio::test]
async fn a_methods_flood_stops_at_the_quota_reserve_and_order_sync_still_gets_through() {
    let app = behind_proxy().await;
    let (order, uuid) = paid_order(&app, &[(101, 1)]).await;
    // Checkouts seen to exist, whose last reads are too old to answer `methods`: each call
    // of the flood's first round costs a BigCommerce read.
    let checkouts: Vec<String> = (0..60)
        .map(|_| app.bc.create_checkout(STORE, &[(104, 1)], "ES"))
        .collect();
    for (i, checkout) in checkouts.iter().enumerate() {
        let status = methods_from(&app, &shopper(1000 + i), checkout)
            .await
            .status();
        assert_eq!(status, 200);
    }
    tokio::time::sleep(sequra_bc::checkout::recent::FRESH_FOR).await;
    // 100 calls left in this window, of which 30 are the reserve.
    let quota = app.bc.rate_limit_used(STORE) + 100;
    app.bc.set_rate_limit_quota(quota);
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for i in 0..150 {
        let resp = methods_from(&app, &shopper(i), &checkouts[i % checkouts.len()]).await;
        if resp.status() == 503 {
            retry_after = resp.headers().get("retry-after").cloned();
        }
        statuses.push(resp.status().as_u16());
    }
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 503),
        "only answers or waits: {statuses:?}"
    );
    assert!(
        statuses.contains(&503),
        "the reserve was reached: {statuses:?}"
    );
    let secs: u64 = retry_after
        .expect("503 carries Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&secs), "{secs}");
    let left = quota - app.bc.rate_limit_used(STORE);
    assert!(left >= 29, "the flood kept out of the reserve: {left} left");

    app.bc.ship_all(STORE, order).unwrap();
    eventually("the shipment at seQura", || {
        (!app.sequra.order(&uuid).unwrap().updates.is_empty()).then_some(())
    })
    .await;
    settle(&app).await;
    assert_eq!(
        app.bc.rate_limited_answers(STORE),
        0,
        "nobody was refused by BigCommerce"
    );
}

/// B9, concurrently: calls in flight count against the reserve before their answers come
/// back, so 150 simultaneous `methods` calls against a slow BigCommerce leave it alone too.
#[tokio::test]
async fn concurrent_methods_calls_leave_the_reserve_alone() {
    let app = behind_proxy().await;
    let checkouts: Vec<String> = (0..3)
        .map(|_| app.bc.create_checkout(STORE, &[(104, 1)], "ES"))
        .collect();
    let quota = app.bc.rate_limit_used(STORE) + 100;
    app.bc.set_rate_limit_quota(quota);
    // One answer, so the app knows this window's numbers.
    assert_eq!(methods(&app, STORE, &checkouts[0]).await.status(), 200);
    app.bc
        .set_api_latency(std::time::Duration::from_millis(200));
    let calls = (0..150).map(|i| {
        let (http, url) = (
            app.http.clone(),
            format!("{}/checkout/{STORE}/methods", app.address),
        );
        let body = json!({ "checkoutId": checkouts[i % 3] });
        let from = shopper(i);
        tokio::spawn(async move {
            let req = http.post(url).header("X-Forwarded-For", from).json(&body);
            req.send().await.unwrap().status()
        })
    });
    let mut statuses = Vec::new();
    for call in calls.collect::<Vec<_>>() {
        statuses.push(call.await.unwrap().as_u16());
    }
    app.bc.set_api_latency(std::time::Duration::ZERO);
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 503),
        "{statuses:?}"
    );
    let left = quota - app.bc.rate_limit_used(STORE);
    assert!(left >= 29, "{left} left of the 30 reserved");
    assert_eq!(app.bc.rate_limited_answers(STORE), 0);
}

/// Issue 31 (1.3, review 3): `methods` asked again about the same cart within a few seconds
/// answers from the last read, without a BigCommerce call; `start` always reads the checkout
/// afresh, so what changed meanwhile (here the country) is what decides.
#[tokio::test]
async fn repeated_methods_calls_cost_one_read_and_start_reads_the_checkout_afresh() {
    let app = behind_proxy().await;
    let checkout = app.bc.create_checkout(STORE, &[(104, 1)], "ES");
    for _ in 0..20 {
        let resp = methods_from(&app, "198.51.100.9", &checkout).await;
        assert_eq!(resp.status(), 200);
        let body: serde_json::Value = resp.json().await.unwrap();
        assert!(body["methods"].to_string().contains("i1"), "{body}");
    }
    assert_eq!(checkout_calls(&app, &checkout), 1, "one read for 20 calls");
    // The shopper ships abroad: seQura is not offered there.
    assert!(app.bc.set_shipping_country(STORE, &checkout, "US"));
    let resp = app
        .http
        .post(format!("{}/checkout/{STORE}/start", app.address))
        .header("X-Forwarded-For", "198.51.100.9")
        .json(&json!({ "checkoutId": checkout, "product": "i1" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403, "start read the checkout as it is now");
    assert_eq!(checkout_calls(&app, &checkout), 2);
    assert!(app.sequra.orders().is_empty(), "nothing solicited");
}

/// B9: a checkout id BigCommerce does not know is asked for once; its repeats, and ids of
/// the wrong shape, are refused without a BigCommerce call.
#[tokio::test]
async fn an_unknown_checkout_costs_one_bigcommerce_call_and_junk_costs_none() {
    let (app, _) = ready().await;
    let unknown = "0f8d6a52-3c4b-4e59-9a1d-7f2b8c1e5d30";
    for _ in 0..5 {
        assert_eq!(methods(&app, STORE, unknown).await.status(), 404);
    }
    assert_eq!(checkout_calls(&app, unknown), 1, "remembered as unknown");
    let junk = "../../v2/orders";
    for id in [junk, &"a".repeat(65), ""] {
        assert_eq!(methods(&app, STORE, id).await.status(), 404, "{id}");
    }
    assert!(
        app.bc
            .requests()
            .iter()
            .all(|r| !r.path.contains("/v2/orders") && !r.path.contains(&"a".repeat(65))),
        "junk never reached BigCommerce"
    );
    // A real checkout is still served.
    let checkout = app.bc.create_checkout(STORE, &[(104, 1)], "ES");
    assert_eq!(methods(&app, STORE, &checkout).await.status(), 200);
}

/// B9: the per-IP limit is counted per store: a shopper (or an office behind one address)
/// locked out of one store still reaches another.
#[tokio::test]
async fn the_ip_limit_of_one_store_leaves_another_store_reachable() {
    let (app, _) = ready().await;
    app.merchant_session("store2").await;
    // Ids of the wrong shape: refused (404) after the IP limit and before any per-checkout one.
    let mut statuses = Vec::new();
    for _ in 0..601 {
        statuses.push(
            methods(&app, STORE, "not a checkout")
                .await
                .status()
                .as_u16(),
        );
    }
    assert!(statuses[..600].iter().all(|s| *s == 404), "{statuses:?}");
    assert_eq!(statuses[600], 429, "the 601st request of the minute");
    assert_eq!(
        methods(&app, "store2", "not a checkout").await.status(),
        404,
        "store2 still answers the same caller (404, not 429)"
    );
}

mod connections {
    //! B11: slow or idle clients are cut off, and the connection cap queues rather than
    //! refuses. Raw TCP, because an HTTP client would not misbehave on purpose.

    use std::time::{Duration, Instant};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use crate::helpers::{TestApp, spawn_app_with};

    async fn server(adjust: impl FnOnce(&mut sequra_bc::config::ServerSettings)) -> TestApp {
        spawn_app_with(|s| adjust(&mut s.server)).await
    }

    async fn connect(app: &TestApp) -> TcpStream {
        TcpStream::connect(app.address.trim_start_matches("http://"))
            .await
            .unwrap()
    }

    const HEALTH: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

    /// Reads until the peer closes (Ok: what arrived) or `within` passes (Err).
    async fn closed_within(s: &mut TcpStream, within: Duration) -> Result<String, String> {
        let mut got = Vec::new();
        let read = tokio::time::timeout(within, async {
            let mut buf = [0u8; 4096];
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await;
        let text = String::from_utf8_lossy(&got).into_owned();
        read.map(|_| text.clone()).map_err(|_| text)
    }

    /// One response on a kept-alive connection (a `/healthz` answer ends in "ok").
    async fn answered(s: &mut TcpStream, within: Duration) -> Option<String> {
        let mut got = Vec::new();
        tokio::time::timeout(within, async {
            let mut buf = [0u8; 4096];
            while !String::from_utf8_lossy(&got).ends_with("ok") {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await
        .ok()?;
        let text = String::from_utf8_lossy(&got).into_owned();
        text.starts_with("HTTP/1.1 200").then_some(text)
    }

    #[tokio::test]
    async fn a_partial_header_is_cut_off_at_the_header_timeout() {
        let app = server(|s| s.header_read_timeout_secs = 1).await;
        let mut s = connect(&app).await;
        let t = Instant::now();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        let got = closed_within(&mut s, Duration::from_secs(5)).await;
        assert!(got.is_ok(), "still open after 5 s: {got:?}");
        assert!(
            t.elapsed() >= Duration::from_millis(900),
            "{:?}",
            t.elapsed()
        );
    }

    #[tokio::test]
    async fn a_body_sent_a_byte_a_second_is_answered_408_at_the_body_timeout() {
        let app = server(|s| s.body_timeout_secs = 2).await;
        let mut s = connect(&app).await;
        s.write_all(
            b"POST /sequra/ipn HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n",
        )
        .await
        .unwrap();
        let (mut rd, mut wr) = s.split();
        let trickle = async {
            for _ in 0..100 {
                if wr.write_all(b"a").await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        };
        let read = async {
            let mut got = Vec::new();
            let mut buf = [0u8; 1024];
            loop {
                match rd.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            String::from_utf8_lossy(&got).into_owned()
        };
        let got = tokio::time::timeout(Duration::from_secs(6), async {
            tokio::select! {
                got = read => got,
                () = trickle => String::from("trickled to the end"),
            }
        })
        .await
        .expect("answered or closed within 6 s");
        assert!(got.starts_with("HTTP/1.1 408"), "{got}");
    }

    /// A merchant form whose body stops half way is answered 408, and nothing of it is
    /// saved (its handler never runs on a part of a form).
    #[tokio::test]
    async fn a_late_merchant_form_is_answered_408_and_saves_nothing() {
        let app = server(|s| s.body_timeout_secs = 1).await;
        let session = app.merchant_session(crate::checkout::STORE).await;
        let saved = app
            .post_form(
                "/app/general",
                &session,
                &[("allowed_ips", "203.0.113.7"), ("send_order_reports", "on")],
            )
            .await;
        assert_eq!(saved.status(), 303);
        let settings = || -> (String, i64) {
            app.query(
                "SELECT allowed_ips, send_order_reports FROM general_settings",
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
        };
        let before = settings();
        assert!(before.0.contains("203.0.113.7"), "{before:?}");
        let mut s = connect(&app).await;
        let head = format!(
            "POST /app/general?session={session} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nallowed_ips=203.0.113.7&send_order"
        );
        s.write_all(head.as_bytes()).await.unwrap();
        let got = closed_within(&mut s, Duration::from_secs(5))
            .await
            .expect("answered and closed");
        assert!(got.starts_with("HTTP/1.1 408"), "{got}");
        assert_eq!(settings(), before, "the half form changed nothing");
    }

    #[tokio::test]
    async fn a_connection_that_sends_nothing_is_closed_at_the_header_timeout() {
        let app = server(|s| {
            s.header_read_timeout_secs = 1;
            s.idle_timeout_secs = 60;
        })
        .await;
        let mut s = connect(&app).await;
        let got = closed_within(&mut s, Duration::from_secs(4)).await;
        assert!(
            got.is_ok(),
            "a silent connection held past the header timeout"
        );
    }

    #[tokio::test]
    async fn an_idle_connection_is_closed_at_the_idle_timeout_not_the_header_timeout() {
        let app = server(|s| {
            s.header_read_timeout_secs = 1;
            s.idle_timeout_secs = 3;
        })
        .await;
        let mut s = connect(&app).await;
        s.write_all(HEALTH).await.unwrap();
        assert!(answered(&mut s, Duration::from_secs(2)).await.is_some());
        tokio::time::sleep(Duration::from_millis(2000)).await;
        s.write_all(HEALTH).await.unwrap();
        assert!(
            answered(&mut s, Duration::from_secs(2)).await.is_some(),
            "idle for 2 s (past the header timeout) and still kept alive"
        );
        let t = Instant::now();
        let got = closed_within(&mut s, Duration::from_secs(6)).await;
        assert!(got.is_ok(), "still open 6 s after its last request");
        assert!(
            t.elapsed() >= Duration::from_millis(2500),
            "{:?}",
            t.elapsed()
        );
    }

    #[tokio::test]
    async fn beyond_the_cap_a_connection_waits_while_the_open_ones_are_served() {
        let app = server(|s| s.max_connections = 2).await;
        let mut first = connect(&app).await;
        let mut second = connect(&app).await;
        first.write_all(HEALTH).await.unwrap();
        assert!(answered(&mut first, Duration::from_secs(2)).await.is_some());
        second.write_all(HEALTH).await.unwrap();
        assert!(
            answered(&mut second, Duration::from_secs(2))
                .await
                .is_some()
        );
        let mut third = connect(&app).await;
        third.write_all(HEALTH).await.unwrap();
        assert!(
            answered(&mut third, Duration::from_millis(700))
                .await
                .is_none(),
            "a third connection is not served while two are open"
        );
        first.write_all(HEALTH).await.unwrap();
        assert!(
            answered(&mut first, Duration::from_secs(2)).await.is_some(),
            "the open ones still are"
        );
        drop(second);
        assert!(
            answered(&mut third, Duration::from_secs(3)).await.is_some(),
            "served once a slot is free"
        );
    }
}

/// Issue 31 (1.3): anonymous floods of `methods` and `start` with made-up checkout ids, seen
/// through a trusted proxy so that each call can come from the address the test chooses.
mod floods {
    use serde_json::{Value, json};

    use crate::checkout::{STORE, ready_with};
    use crate::helpers::TestApp;

    async fn ready() -> TestApp {
        let (app, _) = ready_with(|s| s.server.trusted_proxies = "127.0.0.1".into()).await;
        app
    }

    async fn call(app: &TestApp, action: &str, from: &str, checkout: &str) -> u16 {
        app.http
            .post(format!("{}/checkout/{STORE}/{action}", app.address))
            .header("X-Forwarded-For", from)
            .json(&json!({ "checkoutId": checkout, "product": "i1" }))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// A shopper of `from` buys: methods (which must offer i1), then start, both 200.
    async fn honest(app: &TestApp, from: &str) -> Result<(), String> {
        let checkout = app.bc.create_checkout(STORE, &[(104, 1)], "ES");
        let resp = app
            .http
            .post(format!("{}/checkout/{STORE}/methods", app.address))
            .header("X-Forwarded-For", from)
            .json(&json!({ "checkoutId": checkout }))
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or_default();
        if status != 200 || !body["methods"].to_string().contains("i1") {
            return Err(format!("{from} methods: {status} {body}"));
        }
        match call(app, "start", from, &checkout).await {
            200 => Ok(()),
            s => Err(format!("{from} start: {s}")),
        }
    }

    fn junk_id() -> String {
        uuid::Uuid::new_v4().to_string()
    }

    /// Made-up ids cost BigCommerce calls, and 400 of them from one address spent the store's
    /// whole shopper share (then every shopper got 503). Now one address gets a few lookups
    /// of ids nobody has seen, then 429; ten shoppers buying meanwhile are all served.
    #[tokio::test]
    async fn one_address_flooding_made_up_checkout_ids_leaves_every_other_shopper_served() {
        let app = ready().await;
        let quota = app.bc.rate_limit_used(STORE) + 200;
        app.bc.set_rate_limit_quota(quota);
        let mut flood = std::collections::BTreeMap::<u16, usize>::new();
        let mut failures = Vec::new();
        for i in 0..400 {
            let action = if i % 2 == 0 { "methods" } else { "start" };
            *flood
                .entry(call(&app, action, "203.0.113.66", &junk_id()).await)
                .or_default() += 1;
            if i % 40 == 20
                // Shoppers of ten networks (a network's callers share a part of the quota).
                && let Err(e) = honest(&app, &format!("198.51.{}.7", 100 + i / 40)).await
            {
                failures.push(e);
            }
        }
        assert!(
            failures.is_empty(),
            "honest shoppers refused: {failures:?}; flood {flood:?}"
        );
        assert!(
            flood.keys().all(|s| *s == 404 || *s == 429),
            "the flood is refused, never a fault: {flood:?}"
        );
        assert!(flood.get(&429).copied().unwrap_or(0) > 350, "{flood:?}");
        assert_eq!(app.bc.rate_limited_answers(STORE), 0);
    }

    /// Many addresses (IPv4 and IPv6 /64s alike): a flood of made-up ids from any number of
    /// them spends at most the share of lookups of unseen ids (half the shopper share); a
    /// shopper whose checkout was already seen keeps being served throughout, and the job
    /// queue's reserve is left alone.
    #[tokio::test]
    async fn a_flood_from_many_addresses_spends_at_most_half_the_shopper_share() {
        let app = ready().await;
        // Seen before the flood: each shopper's checkout is known to exist.
        let shoppers: Vec<(String, String)> = (0..8)
            .map(|i| {
                let checkout = app.bc.create_checkout(STORE, &[(104, 1)], "ES");
                // Shoppers of eight networks (a network's callers share a part of the quota).
                (format!("198.51.{}.7", 100 + i), checkout)
            })
            .collect();
        for (from, checkout) in &shoppers {
            assert_eq!(call(&app, "methods", from, checkout).await, 200);
        }
        // Room for the eight shoppers' purchases (each start also reads its products' custom
        // fields) beside the flood's half of the share.
        let quota = app.bc.rate_limit_used(STORE) + 240;
        app.bc.set_rate_limit_quota(quota);
        let before = app.bc.rate_limit_used(STORE);
        let mut failures = Vec::new();
        for i in 0..400u32 {
            let from = if i % 2 == 0 {
                format!("203.0.{}.{}", i / 256, i % 256)
            } else {
                format!("2001:db8:{i:x}::1")
            };
            let status = call(&app, "methods", &from, &junk_id()).await;
            assert!([404, 429, 503].contains(&status), "{from}: {status}");
            if i % 50 == 25 {
                let (from, checkout) = &shoppers[(i / 50) as usize];
                for action in ["methods", "start"] {
                    let status = call(&app, action, from, checkout).await;
                    if status != 200 {
                        failures.push(format!("{from} {action}: {status}"));
                    }
                }
            }
        }
        assert!(failures.is_empty(), "{failures:?}");
        let spent = app.bc.rate_limit_used(STORE) - before;
        // The shoppers' share is what the reserve leaves of the quota (its size depends on
        // what the store spent before the flood: 240 are left), half of it for unseen ids.
        let half_share =
            quota * (100 - sequra_bc::bigcommerce::quota::RESERVE_PERCENT as u32) / 100 / 2;
        let junk_lookups = app
            .bc
            .requests()
            .iter()
            .filter(|r| {
                // The storefronts' checkout settings (read when the app is opened) are not
                // checkouts.
                r.path.contains("/v3/checkouts/")
                    && !r.path.contains("/v3/checkouts/settings/")
                    && !shoppers.iter().any(|(_, c)| r.path.contains(c.as_str()))
            })
            .count();
        assert!(
            junk_lookups as u32 <= half_share,
            "{junk_lookups} made-up ids looked up, half the share is {half_share}"
        );
        assert!(
            quota - app.bc.rate_limit_used(STORE) >= 55,
            "the reserve: {spent} spent"
        );
        assert_eq!(app.bc.rate_limited_answers(STORE), 0);
    }
}

/// Issue 31 (1.6): what anonymous callers can make the app log is bounded.
mod logs {
    use std::sync::{Arc, Mutex};

    use serde_json::json;

    use crate::checkout::{STORE, ready, started};

    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// 200 forged IPNs, 200 webhooks with a wrong secret, 200 `methods` calls with junk ids,
    /// 200 calls past the rate limit: at the operator's default level (info) they wrote one
    /// line per line each before (2 to 3); now a line per kind, however many there are.
    #[tokio::test]
    async fn a_flood_of_junk_and_forged_requests_writes_a_few_summarised_lines() {
        let (app, _) = ready().await;
        let checkout = app.bc.create_checkout(STORE, &[(104, 1)], "ES");
        let (_, uuid) = started(&app, &checkout, "i1").await;
        let forged: Vec<(String, String)> = app.sequra.order(&uuid).unwrap().solicited["merchant"]
            ["notification_parameters"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| {
                let v = if k == "signature" {
                    "0".repeat(64)
                } else {
                    v.as_str().unwrap().into()
                };
                (k.clone(), v)
            })
            .chain([
                ("order_ref".into(), uuid.clone()),
                ("sq_state".into(), "approved".into()),
                ("product_code".into(), "i1".into()),
            ])
            .collect();
        // The app's tasks run on this test's one thread: its log is what this thread logs.
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            // What `telemetry::init` installs at the default level.
            .with_env_filter(sequra_bc::telemetry::directives("info").as_str())
            .with_writer(move || Sink(writer.clone()))
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let webhook = json!({
            "scope": "store/order/updated", "store_id": "1", "data": {"type": "order", "id": 1},
            "hash": "x", "created_at": 1561479335, "producer": format!("stores/{STORE}")
        })
        .to_string();
        for _ in 0..200 {
            let resp = app
                .http
                .post(format!("{}/sequra/ipn", app.address))
                .form(&forged)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 403);
            let resp = app
                .http
                .post(format!("{}/bc/webhooks", app.address))
                .header("X-Sequra-Webhook-Secret", "guessed")
                .body(webhook.clone())
                .send()
                .await
                .unwrap();
            assert!(resp.status().is_client_error(), "{}", resp.status());
        }
        for i in 0..800 {
            let resp = app
                .http
                .post(format!("{}/checkout/{STORE}/methods", app.address))
                .json(&json!({ "checkoutId": "not a checkout" }))
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            assert!(
                status == 404 || (i >= 500 && status == 429),
                "{i}: {status}"
            );
        }
        drop(_guard);
        let log = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = log.lines().collect();
        assert!(
            lines.len() <= 8,
            "{} lines for 1 600 requests: {lines:#?}",
            lines.len()
        );
        assert!(
            lines.iter().any(|l| l.contains("bad signature refused")),
            "the forged IPNs are named: {lines:#?}"
        );
    }
}
