//! Attack review of issue 14 (every storefront): a checkout answered to another storefront's
//! origin, a storefront switched off with a payment in flight, a failed channel read, a flood
//! of channel webhooks or of anonymous calls spending the store's quota, and V16 on an
//! existing database. Confirmed defects are `#[ignore = "open: …"]`; the rest are probes that
//! held.

use sequra_bc::stores::provisioning::SCRIPT_NAME;
use sequra_bc_sandbox::bigcommerce::ChannelSpec;
use sequra_bc_sandbox::sequra::ShopperProfile;

use crate::checkout::{STORE, completed, ready, settled};
use crate::helpers::TestApp;
use crate::order_sync::eventually;
use crate::storefronts::{call, origin_of, scripted, with_france};

/// A payment started on `channel`'s storefront: (checkout, order, seQura uuid).
async fn started_on(app: &TestApp, channel: u64) -> (String, u64, String) {
    let home = app.bc.channel_storefront_url(STORE, channel);
    let checkout = app.bc.create_checkout_on(STORE, channel, &[(104, 1)], "ES");
    let (status, body, _) = call(app, "start", &origin_of(&home), &checkout).await;
    assert_eq!(status, 200, "{body}");
    let (order, uuid) = crate::checkout::started_order(app, &body);
    (checkout, order, uuid)
}

/// How many times the app listed the store's channels.
fn channel_reads(app: &TestApp) -> usize {
    app.bc
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/v3/channels"))
        .count()
}

// Open: `methods` answers a paid checkout ("placed", with the link to the app's page about
// the order) before the storefront check, so France's paid checkout posted from Spain's
// origin gets a 200 and the order's link, where every other answer about that checkout to
// another storefront's origin is a 403 (issue 14: "A checkout of channel 2 posted with
// channel 1's origin is refused (403)"). The link needs the checkout id, so the harm is
// small (both storefronts are the merchant's), but the rule the issue states does not hold
// for this answer.
#[tokio::test]
async fn a_paid_checkout_is_not_answered_to_another_storefronts_origin() {
    let (app, _) = ready().await;
    let france = with_france(&app).await;
    let spain_origin = origin_of(&app.bc.channel_storefront_url(STORE, 1));
    let (checkout, _, uuid) = started_on(&app, france).await;
    let outcome = completed(&app, &uuid, ShopperProfile::Approve).await;
    assert_eq!(outcome.deliveries[0].2, 200, "{outcome:?}");
    settled(&app).await;

    let (status, body, _) = call(&app, "methods", &spain_origin, &checkout).await;
    assert_eq!(
        status, 403,
        "France's paid checkout asked from Spain's storefront: {body}"
    );
}

// Probe (holds): a payment started on a storefront the merchant then switches off is not
// lost: seQura's approval places the order, on its channel, and the shopper's way back
// leads to that storefront's confirmation page.
#[tokio::test]
async fn a_payment_in_flight_on_a_storefront_switched_off_is_placed_and_returns_there() {
    let (app, session) = ready().await;
    let france = with_france(&app).await;
    let home = app.bc.channel_storefront_url(STORE, france);
    let (_, order, uuid) = started_on(&app, france).await;
    let resp = app
        .post_form(
            "/app/storefronts",
            &session,
            &[
                ("channel", "1"),
                ("channel", &france.to_string()),
                ("on", "1"),
                ("default_on", "on"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 303);
    settled(&app).await;
    assert_eq!(scripted(&app), [1], "France's script gone");

    let outcome = completed(&app, &uuid, ShopperProfile::Approve).await;
    assert_eq!(outcome.deliveries[0].2, 200, "{outcome:?}");
    settled(&app).await;
    let placed = app.bc.order(STORE, order).unwrap();
    assert_eq!(placed["status_id"], 11, "{placed}");
    assert_eq!(placed["channel_id"], france);
    let sq = app.sequra.order(&uuid).unwrap();
    let return_url = sq.solicited["merchant"]["return_url"].as_str().unwrap();
    let resp = app.get(return_url).await;
    assert_eq!(resp.status(), 303);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with(&format!("{home}/order-confirmation/{order}?t=")),
        "{location} is not on {home}"
    );
}

// Probe (holds): a read of the channels that fails (BigCommerce 503 on the channels and
// sites) after a channel webhook neither forgets the storefronts nor removes a script.
#[tokio::test]
async fn a_failed_channel_read_keeps_the_storefronts_and_their_scripts() {
    let (app, session) = ready().await;
    let france = with_france(&app).await;
    app.bc.fail_next("GET", "/v3/channels", 503, 50);
    assert!(
        app.bc
            .update_channel(STORE, france, |c| c.name = "France (FR)".into())
    );
    eventually("the failed read recorded", || {
        (app.count(
            "SELECT COUNT(*) FROM provisioning WHERE item = 'storefronts' AND state = 'failing'",
        ) == 1)
            .then_some(())
    })
    .await;
    settled(&app).await;
    assert_eq!(scripted(&app), [1, france], "no script removed");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM storefronts WHERE gone_at IS NULL"),
        2,
        "both storefronts kept"
    );
    let (status, html) = app.page("/app/storefronts", &session).await;
    assert_eq!(status, 200);
    assert!(
        html.contains(&format!(
            r#"data-channel="{france}" data-standing="scripted""#
        )),
        "{html}"
    );
    // France's shoppers still pay.
    let checkout = app.bc.create_checkout_on(STORE, france, &[(104, 1)], "ES");
    let origin = origin_of(&app.bc.channel_storefront_url(STORE, france));
    let (status, body, _) = call(&app, "methods", &origin, &checkout).await;
    assert_eq!(status, 200, "{body}");
    assert!(!body["methods"].as_array().unwrap().is_empty(), "{body}");
}

// Probe (holds): a burst of channel webhooks (the merchant renaming a storefront twenty
// times) coalesces into a few provisionings, not one read of every channel per delivery.
#[tokio::test]
async fn a_burst_of_channel_webhooks_reads_the_channels_a_few_times_only() {
    let (app, _) = ready().await;
    let france = with_france(&app).await;
    let before = channel_reads(&app);
    for i in 0..20 {
        assert!(
            app.bc
                .update_channel(STORE, france, |c| c.name = format!("France {i}"))
        );
    }
    eventually("the last name read", || {
        (app.count("SELECT COUNT(*) FROM storefronts WHERE name = 'France 19'") == 1).then_some(())
    })
    .await;
    settled(&app).await;
    let reads = channel_reads(&app) - before;
    assert!(
        reads <= 4,
        "{reads} reads of the channels for 20 deliveries"
    );
}

// Probe (holds): anonymous calls (made-up origins, made-up or real checkouts from the wrong
// storefront) never make the app read the store's channels: the storefront checks read the
// app's own records only.
#[tokio::test]
async fn anonymous_calls_never_read_the_stores_channels() {
    let (app, _) = ready().await;
    let france = with_france(&app).await;
    let checkout = app.bc.create_checkout_on(STORE, france, &[(104, 1)], "ES");
    let spain_origin = origin_of(&app.bc.channel_storefront_url(STORE, 1));
    let before = channel_reads(&app);
    for i in 0..10 {
        let (status, _, _) = call(
            &app,
            "methods",
            &format!("https://evil{i}.example"),
            &checkout,
        )
        .await;
        assert_eq!(status, 403);
        let (status, _, _) = call(&app, "start", &spain_origin, &checkout).await;
        assert!(status == 403 || status == 429, "{status}");
    }
    assert_eq!(channel_reads(&app), before);
}

// Probe (holds): V16 on a database of V15 keeps every provisioning row, and the rebuilt
// table still belongs to its store (a store deleted takes its rows with it; a row of no store
// is refused).
#[test]
fn v16_keeps_the_provisioning_rows_and_their_foreign_key() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut files: Vec<(u32, std::path::PathBuf)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?.to_string();
            let v: u32 = name.strip_prefix('V')?.split("__").next()?.parse().ok()?;
            Some((v, p))
        })
        .collect();
    files.sort();
    let conn = rusqlite::Connection::open_in_memory().unwrap();
    conn.pragma_update(None, "foreign_keys", "ON").unwrap();
    for (v, path) in files.iter().filter(|(v, _)| *v <= 15) {
        conn.execute_batch(&std::fs::read_to_string(path).unwrap())
            .unwrap_or_else(|e| panic!("V{v}: {e}"));
    }
    for hash in ["s1", "s2"] {
        conn.execute(
            "INSERT INTO stores (store_hash, status, installed_at) VALUES (?1, 'uninstalled', '2026-01-01T00:00:00Z')",
            [hash],
        )
        .unwrap();
        for item in ["webhooks", "script", "extension"] {
            conn.execute(
                "INSERT INTO provisioning (store_hash, item, state, reason, attempts, checked_at)
                 VALUES (?1, ?2, 'failing', 'why', 3, '2026-01-02T00:00:00Z')",
                [hash, item],
            )
            .unwrap();
        }
    }
    let v16 = files.iter().find(|(v, _)| *v == 16).unwrap();
    conn.execute_batch(&std::fs::read_to_string(&v16.1).unwrap())
        .unwrap();
    let rows: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM provisioning WHERE state = 'failing' AND reason = 'why' AND attempts = 3",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(rows, 6, "every row kept");
    conn.execute(
        "INSERT INTO provisioning (store_hash, item, state, checked_at)
         VALUES ('s1', 'storefronts', 'ok', '2026-01-03T00:00:00Z')",
        [],
    )
    .expect("the new item fits");
    assert!(
        conn.execute(
            "INSERT INTO provisioning (store_hash, item, state, checked_at)
             VALUES ('nobody', 'script', 'ok', '2026-01-03T00:00:00Z')",
            [],
        )
        .is_err(),
        "a row of no store is refused"
    );
    conn.execute("DELETE FROM stores WHERE store_hash = 's2'", [])
        .unwrap();
    let left: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM provisioning WHERE store_hash = 's2'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(left, 0, "the store's rows go with it");
    let fk: Vec<(String, String)> = conn
        .prepare("SELECT \"table\", \"on_delete\" FROM pragma_foreign_key_list('provisioning')")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(fk, [("stores".to_string(), "CASCADE".to_string())]);
}

// Probe (holds): one store's Storefronts form, naming channel ids another store also has,
// switches only its own storefronts; another store's storefront origin is refused on this
// store's checkouts, and this store's log filter shows none of the other store's orders.
#[tokio::test]
async fn a_store_neither_switches_nor_answers_another_stores_storefronts() {
    let (app, session) = ready().await;
    let other = "store2";
    app.add_store(other);
    let other_session = app.merchant_session(other).await;
    eventually("the other store's storefronts read", || {
        (app.count("SELECT COUNT(*) FROM storefronts WHERE store_hash = 'store2'") >= 1)
            .then_some(())
    })
    .await;
    settled(&app).await;
    // Store 1 switches its channel 1 off (channel 1 unticked) and turns the default off.
    let resp = app
        .post_form("/app/storefronts", &session, &[("channel", "1")])
        .await;
    assert_eq!(resp.status(), 303);
    settled(&app).await;
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM storefronts WHERE store_hash = 'store1' AND channel_id = 1 AND enabled = 0"
        ),
        1
    );
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM storefronts WHERE store_hash = 'store2' AND enabled IS NOT NULL"
        ),
        0,
        "the other store's switches untouched"
    );
    assert_eq!(
        app.count("SELECT storefronts_default_on FROM stores WHERE store_hash = 'store2'"),
        1
    );
    assert!(
        app.bc
            .scripts_of(other)
            .iter()
            .any(|(c, name, _)| *c == 1 && name == SCRIPT_NAME),
        "the other store keeps its script"
    );
    let (status, html) = app.page("/app/storefronts", &other_session).await;
    assert_eq!(status, 200);
    assert!(
        html.contains(r#"data-channel="1" data-standing="scripted""#),
        "{html}"
    );

    // The other store's storefront calling this store's checkouts (its second storefront:
    // the stand-in serves every store's channel 1 on one address).
    let other_france = app
        .bc
        .add_channel(other, ChannelSpec::stencil(0, "France", "fr", "EUR"));
    eventually("the other store's second storefront read", || {
        (app.count(&format!(
            "SELECT COUNT(*) FROM storefronts WHERE store_hash = 'store2' AND channel_id = {other_france}"
        )) == 1)
            .then_some(())
    })
    .await;
    settled(&app).await;
    let other_origin = origin_of(&app.bc.channel_storefront_url(other, other_france));
    let own_origin = origin_of(&app.bc.channel_storefront_url(STORE, 1));
    assert_ne!(other_origin, own_origin);
    let checkout = app.bc.create_checkout(STORE, &[(104, 1)], "ES");
    for action in ["methods", "start"] {
        let (status, body, _) = call(&app, action, &other_origin, &checkout).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (403, Some("err_origin")),
            "{body}"
        );
    }
    assert_eq!(app.sequra.orders().len(), 0);
}

// Open: a storefront deleted while its shopper is on seQura's form. The order is placed on
// its channel (money safe), but the way back falls to the store's default storefront with
// the order's confirmation token, and that storefront does not confirm another storefront's
// order: the shopper who just paid lands on an error page of the wrong storefront (and the
// token of one storefront's order is handed to another's address). The app's own page about
// the order (what a return without a confirmation page gets) would tell the shopper it is
// paid.
#[tokio::test]
async fn a_shopper_whose_storefront_was_deleted_mid_payment_is_not_sent_to_another_storefront() {
    let (app, _) = ready().await;
    let france = with_france(&app).await;
    let spain = app.bc.channel_storefront_url(STORE, 1);
    let (_, order, uuid) = started_on(&app, france).await;
    assert!(
        app.bc
            .update_channel(STORE, france, |c| c.status = "deleted".into())
    );
    eventually("France gone", || (scripted(&app) == [1]).then_some(())).await;
    settled(&app).await;
    let outcome = completed(&app, &uuid, ShopperProfile::Approve).await;
    assert_eq!(outcome.deliveries[0].2, 200, "{outcome:?}");
    settled(&app).await;
    let placed = app.bc.order(STORE, order).unwrap();
    assert_eq!(placed["status_id"], 11, "{placed}");
    assert_eq!(placed["channel_id"], france);

    let sq = app.sequra.order(&uuid).unwrap();
    let return_url = sq.solicited["merchant"]["return_url"].as_str().unwrap();
    let resp = app.get(return_url).await;
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string());
    if let Some(location) = &location
        && location.starts_with(&spain)
    {
        let page = app.get(location).await.status().as_u16();
        panic!("France's paid order sent to Spain's storefront ({location}), which answers {page}");
    }
    assert!(status == 200 || status == 303, "{status}");
}
