//! Crash safety of the job queue: the real binary, killed with SIGKILL while 200 order
//! updates are queued and some are in flight, delivers every one after a restart, none twice
//! in effect.

use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{self, app_binary, spawn_app_with};
use crate::order_sync::{paid_order_as, sequra_store, settle};
use sequra_bc_sandbox::sequra::ShopperProfile;

const ORDERS: usize = 200;

/// `sequra-bc serve` on the same port and data dir as the in-process app it replaces.
fn serve(
    data_dir: &std::path::Path,
    address: &str,
    bc: &sequra_bc_sandbox::bigcommerce::BigCommerceStandIn,
    sequra: &sequra_bc_sandbox::sequra::SequraStandIn,
    log: &std::path::Path,
) -> Child {
    let program = app_binary(env!("CARGO_BIN_EXE_sequra-bc"));
    helpers::serve(program, data_dir, address, bc, sequra, (50, 400), log)
}

async fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn pending_syncs(db: &std::path::Path) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.query_row(
        "SELECT COUNT(*) FROM jobs WHERE kind = 'sync_order' AND state IN ('pending', 'running')",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crash_with_200_updates_queued_loses_none_and_doubles_none() {
    let app = spawn_app_with(|s| s.jobs.retry_max_ms = 200).await;
    sequra_store(&app).await;
    // A store this busy has a higher API quota than the stand-in's default plan.
    app.bc.set_rate_limit_quota(1_000_000);
    let mut orders = Vec::new();
    for _ in 0..ORDERS {
        orders.push(paid_order_as(&app, &[(101, 1), (104, 1)], ShopperProfile::Approve).await);
    }
    settle(&app).await;
    let address = app.address.clone();
    let (data_dir, bc, sequra) = app.stop().await;
    let db = data_dir.path().join("sequra-bc.db");
    let log = data_dir.path().join("serve.log");
    let mut child = serve(data_dir.path(), &address, &bc, &sequra, &log);
    wait_for("serve is healthy", Duration::from_secs(30), || {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "serve exited {status}: {}",
                std::fs::read_to_string(&log).unwrap()
            );
        }
        std::net::TcpStream::connect(address.trim_start_matches("http://")).is_ok()
    })
    .await;

    // seQura is down while every order ships: 200 updates pile up in the queue.
    sequra.set_outage(true);
    for (order, _) in &orders {
        bc.ship_all("store1", *order).unwrap();
    }
    wait_for("200 queued updates", Duration::from_secs(60), || {
        pending_syncs(&db) == ORDERS as i64
    })
    .await;
    // seQura recovers, slowly; the process dies with updates done, in flight and queued.
    sequra.set_latency(Duration::from_millis(30));
    sequra.set_outage(false);
    wait_for("some updates delivered", Duration::from_secs(60), || {
        sequra
            .orders()
            .iter()
            .filter(|o| !o.updates.is_empty())
            .count()
            >= 10
    })
    .await;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let queued_at_crash = pending_syncs(&db);
    assert!(queued_at_crash > 0, "the crash left work in the queue");

    sequra.set_latency(Duration::ZERO);
    let mut child = serve(data_dir.path(), &address, &bc, &sequra, &log);
    wait_for("every order updated", Duration::from_secs(120), || {
        orders
            .iter()
            .all(|(_, uuid)| !sequra.order(uuid).unwrap().updates.is_empty())
    })
    .await;
    wait_for("the queue drains", Duration::from_secs(60), || {
        pending_syncs(&db) == 0
    })
    .await;
    child.kill().unwrap();
    child.wait().unwrap();

    let mut repeated = 0;
    for (order, uuid) in &orders {
        let updates = sequra.order(uuid).unwrap().updates;
        let first: &Value = &updates[0];
        let shipped: Vec<&str> = first["shipped_cart"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["type"] == "product")
            .map(|i| i["reference"].as_str().unwrap())
            .collect();
        assert_eq!(shipped, ["CAM-001", "ZAP-001"], "order {order}");
        assert!(
            first["unshipped_cart"]["items"]
                .as_array()
                .unwrap()
                .is_empty()
        );
        // A repeat (sent, then the crash before it was recorded) carries the same carts.
        for u in &updates[1..] {
            assert_eq!(u["shipped_cart"], first["shipped_cart"], "order {order}");
            assert_eq!(
                u["unshipped_cart"], first["unshipped_cart"],
                "order {order}"
            );
        }
        if updates.len() > 1 {
            repeated += 1;
        }
    }
    // Only updates in flight at the instant of the crash can be sent twice.
    assert!(repeated <= 8, "{repeated} orders updated more than once");
}

/// Jobs of `kind` waiting to run.
fn pending(db: &std::path::Path, kind: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.query_row(
        "SELECT COUNT(*) FROM jobs WHERE kind = ?1 AND state = 'pending'",
        [kind],
        |r| r.get(0),
    )
    .unwrap()
}

/// The process dies while seQura takes in an Order Update (the merchant shipped), before the
/// app has recorded it; the order's placement (the merchant's Retry of a failed one) and a
/// newer sync (a refund) wait behind it. After the restart the newer sync carries the
/// interrupted one, so the placement runs first: it must not confirm the order number then,
/// with the older cart seQura approved, after the update seQura holds (soak seed 2200013).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_update_sequra_took_in_as_the_app_died_is_not_followed_by_the_number_confirmation() {
    let app = spawn_app_with(|s| s.jobs.retry_max_ms = 200).await;
    let session = sequra_store(&app).await;
    // BigCommerce refuses to give the order seQura's outcome, once: the placement fails
    // before it confirms the order number, and the log offers a Retry.
    app.bc.fail_next("PUT", "/v2/orders/", 400, 1);
    let (order, uuid) = paid_order_as(&app, &[(104, 2)], ShopperProfile::Approve).await;
    let entry = crate::transaction_log::entry_of(&app, order, "failed").await;
    settle(&app).await;
    assert_eq!(app.sequra.order(&uuid).unwrap().puts, ["confirmed"]);
    let address = app.address.clone();
    let (data_dir, bc, sequra) = app.stop().await;
    let db = data_dir.path().join("sequra-bc.db");
    let log = data_dir.path().join("serve.log");
    let mut child = serve(data_dir.path(), &address, &bc, &sequra, &log);
    wait_for("serve is healthy", Duration::from_secs(30), || {
        std::net::TcpStream::connect(address.trim_start_matches("http://")).is_ok()
    })
    .await;

    // The merchant ships; seQura takes the update in, and is slow to answer.
    sequra.set_answer_delay(Duration::from_millis(4_000));
    bc.ship_all("store1", order).expect("shipped");
    wait_for("the update taken in", Duration::from_secs(30), || {
        sequra.order(&uuid).unwrap().puts == ["confirmed", "update"]
    })
    .await;
    // Meanwhile the merchant retries the placement, and refunds a little.
    let resp = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{address}/app/log/retry?session={session}"))
        .form(&[("entry", entry.to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    bc.refund(
        "store1",
        order,
        &sequra_bc_sandbox::bigcommerce::RefundSpec {
            items: vec![],
            shipping_cents: 0,
            order_cents: 100,
        },
    )
    .unwrap();
    wait_for(
        "the placement and the refund's sync queued",
        Duration::from_secs(10),
        || pending(&db, "place_order") == 1 && pending(&db, "sync_order") == 1,
    )
    .await;
    // The app dies before seQura's answer: seQura holds the update, the app has not
    // recorded it.
    assert_eq!(sequra.order(&uuid).unwrap().puts, ["confirmed", "update"]);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    sequra.set_answer_delay(Duration::ZERO);
    let mut child = serve(data_dir.path(), &address, &bc, &sequra, &log);
    wait_for("the order placed", Duration::from_secs(60), || {
        bc.order("store1", order).unwrap()["payment_provider_id"] == uuid.as_str()
    })
    .await;
    wait_for("the refund sent", Duration::from_secs(60), || {
        sequra.order(&uuid).unwrap().updates.len() >= 2
    })
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    let sq = sequra.order(&uuid).unwrap();
    assert!(!sq.confirmed_after_update(), "{:?}", sq.puts);
}
