//! Benchmark of order sync against local stand-ins: orders per second from a shipment at
//! BigCommerce to the update accepted by seQura. Target: at least 500/s.
//!
//! N paid seQura orders of three physical lines each are made through the real checkout
//! (start → the stand-in's form → IPN) and the queue is left to drain. Then three passes,
//! each shipping one line of every order, so that every pass gives every order one real
//! update for seQura:
//!
//! 1. end to end: the shipments are made with webhooks flowing (`ship_items`), timed from
//!    the first shipment until every order has its update, every webhook is delivered and
//!    the job queue is empty;
//! 2. webhooks held while shipping, timed from their release: delivery and sync without the
//!    stand-in's shipping cost;
//! 3. the sync alone: webhooks held, shipped (`ship_all`), then one `sync_order` job per
//!    order enqueued in one transaction, timed until every order has its update and the
//!    queue is empty. The held webhooks are released afterwards (untimed) and must not cause
//!    a second update of any order.
//!
//! With 8 job workers (the default) and 16. `cargo bench --bench order_sync`
//! (optionally `-- --orders 300`).

mod support;

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use sequra_bc::domain::StoreHash;
use sequra_bc::queue::Job;
use sequra_bc::state::AppState;
use sequra_bc_sandbox::bigcommerce::BigCommerceStandIn;
use sequra_bc_sandbox::sequra::SequraStandIn;
use serde_json::{Value, json};
use support::{approve_all, arg, outstanding, settle};

const STORE: &str = "bench";
const TARGET: f64 = 500.0;
/// Catalog products of each order: three physical lines, shipped one per pass.
const LINES: [(u64, &str); 3] = [(101, "CAM-001"), (103, "PAN-001"), (106, "BOL-001")];

/// One paid order: its BigCommerce id, seQura uuid and line ids (in [`LINES`] order).
struct Paid {
    order: u64,
    uuid: String,
    lines: Vec<u64>,
}

/// Waits from `t0` until every order has `k` updates at seQura, then until the job queue
/// is empty (and, with `webhooks`, no webhook is pending). Returns both times.
async fn wait_synced(
    bc: &BigCommerceStandIn,
    sequra: &SequraStandIn,
    state: &AppState,
    orders: &[Paid],
    k: usize,
    webhooks: bool,
    t0: Instant,
) -> anyhow::Result<(Duration, Duration)> {
    let deadline = t0 + Duration::from_secs(300);
    // Orders are checked front first: one stand-in lookup per poll while they progress.
    let mut next = 0;
    let mut updated = None;
    loop {
        while next < orders.len()
            && sequra
                .order(&orders[next].uuid)
                .is_some_and(|o| o.updates.len() >= k)
        {
            next += 1;
        }
        if next == orders.len() {
            let at = *updated.get_or_insert_with(|| t0.elapsed());
            if (!webhooks || bc.pending_webhooks() == 0) && outstanding(state).await? == 0 {
                return Ok((at, t0.elapsed()));
            }
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "not synced: {next} of {} orders have update {k}",
            orders.len()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn report(name: &str, n: usize, updated: Duration, drained: Duration, extra: &str) -> f64 {
    let rate = n as f64 / drained.as_secs_f64();
    println!(
        "    {name:<44} all updated {:>7.1} ms, drained {:>7.1} ms: {rate:>6.0} orders/s \
         (target ≥ {TARGET}: {}){extra}",
        updated.as_secs_f64() * 1e3,
        drained.as_secs_f64() * 1e3,
        if rate >= TARGET { "met" } else { "NOT met" }
    );
    rate
}

async fn scenario(workers: usize, n: usize) -> anyhow::Result<()> {
    let bench = support::start(STORE, 64, |s| s.jobs.workers = workers).await?;
    let (address, bc, sequra, http, state) = (
        bench.address.clone(),
        bench.bc.clone(),
        bench.sequra.clone(),
        bench.http.clone(),
        bench.state.clone(),
    );

    // N paid orders.
    let made = Instant::now();
    let items: Vec<(u64, u64)> = LINES.iter().map(|(p, _)| (*p, 1)).collect();
    let started = futures_util::stream::iter(0..n)
        .map(|i| {
            let (http, address, checkout) = (
                http.clone(),
                address.clone(),
                bc.create_checkout(STORE, &items, "ES"),
            );
            async move {
                let body: Value = http
                    .post(format!("{address}/checkout/{STORE}/start"))
                    .header(
                        "x-forwarded-for",
                        format!("198.51.{}.{}", i / 250, i % 250 + 1),
                    )
                    .json(&json!({ "checkoutId": checkout, "product": "i1" }))
                    .send()
                    .await?
                    .json()
                    .await?;
                body["orderId"]
                    .as_u64()
                    .or_else(|| body["order_id"].as_u64())
                    .ok_or_else(|| anyhow::anyhow!("start failed: {body}"))
            }
        })
        .buffer_unordered(4)
        .collect::<Vec<_>>()
        .await;
    let snapshot = sequra.orders();
    let mut orders = Vec::with_capacity(n);
    for order in started {
        let order = order?;
        let uuid = snapshot
            .iter()
            .find(|o| {
                o.solicited["merchant_reference"]["order_ref_1"].as_str()
                    == Some(order.to_string().as_str())
            })
            .map(|o| o.uuid.clone())
            .ok_or_else(|| anyhow::anyhow!("no seQura order for {order}"))?;
        let products = bc.order_products(STORE, order);
        let lines = LINES
            .iter()
            .map(|(_, sku)| {
                products
                    .iter()
                    .find(|p| p["sku"] == *sku)
                    .and_then(|p| p["id"].as_u64())
                    .ok_or_else(|| anyhow::anyhow!("order {order} has no {sku}"))
            })
            .collect::<anyhow::Result<Vec<u64>>>()?;
        orders.push(Paid { order, uuid, lines });
    }
    orders.sort_by_key(|o| o.order);
    let uuids: Vec<String> = orders.iter().map(|o| o.uuid.clone()).collect();
    approve_all(&sequra, &uuids).await?;
    settle(&bc, &state).await?;
    let early: usize = orders
        .iter()
        .filter_map(|o| sequra.order(&o.uuid))
        .map(|o| o.updates.len())
        .sum();
    anyhow::ensure!(early == 0, "{early} updates before any shipment");
    println!(
        "  {workers} job workers, {n} paid orders of 3 lines made in {:.1} s",
        made.elapsed().as_secs_f64()
    );

    // 1. End to end, webhooks flowing.
    let (hooks0, puts0) = (bc.webhook_deliveries().len(), sequra.requests().len());
    let t0 = Instant::now();
    for o in &orders {
        bc.ship_items(STORE, o.order, &[(o.lines[0], 1)])
            .ok_or_else(|| anyhow::anyhow!("shipping order {} refused", o.order))?;
    }
    let shipped = t0.elapsed();
    let (updated, drained) = wait_synced(&bc, &sequra, &state, &orders, 1, true, t0).await?;
    let hooks = bc.webhook_deliveries().len() - hooks0;
    let puts = sequra.requests().len() - puts0;
    report(
        "1. ship, webhooks flowing → synced",
        n,
        updated,
        drained,
        &format!(
            "\n       (ship loop {:.1} ms; {hooks} webhook deliveries = {:.0}/s; \
             {puts} requests to seQura)",
            shipped.as_secs_f64() * 1e3,
            hooks as f64 / drained.as_secs_f64()
        ),
    );
    settle(&bc, &state).await?;

    // 2. Webhooks held while shipping, timed from their release.
    bc.hold_webhooks(true);
    for o in &orders {
        bc.ship_items(STORE, o.order, &[(o.lines[1], 1)])
            .ok_or_else(|| anyhow::anyhow!("shipping order {} refused", o.order))?;
    }
    let held = bc.pending_webhooks();
    let t0 = Instant::now();
    bc.hold_webhooks(false);
    let (updated, drained) = wait_synced(&bc, &sequra, &state, &orders, 2, true, t0).await?;
    report(
        "2. held webhooks released → synced",
        n,
        updated,
        drained,
        &format!(
            "\n       ({held} deliveries released = {:.0}/s)",
            held as f64 / drained.as_secs_f64()
        ),
    );
    settle(&bc, &state).await?;

    // 3. The sync alone: jobs enqueued directly while the webhooks are held.
    bc.hold_webhooks(true);
    for o in &orders {
        bc.ship_all(STORE, o.order)
            .ok_or_else(|| anyhow::anyhow!("shipping order {} refused", o.order))?;
    }
    let ids: Vec<u64> = orders.iter().map(|o| o.order).collect();
    let store = StoreHash::parse(STORE)?;
    let t0 = Instant::now();
    state
        .db
        .call(move |c| {
            let tx = c.transaction()?;
            for order_id in ids {
                sequra_bc::queue::enqueue(&tx, &store, &Job::SyncOrder { order_id })?;
            }
            tx.commit()?;
            Ok(())
        })
        .await?;
    state.jobs.wake();
    let (updated, drained) = wait_synced(&bc, &sequra, &state, &orders, 3, false, t0).await?;
    report(
        "3. sync_order jobs enqueued directly → synced",
        n,
        updated,
        drained,
        "",
    );
    bc.hold_webhooks(false);
    settle(&bc, &state).await?;
    let counts: Vec<usize> = orders
        .iter()
        .filter_map(|o| sequra.order(&o.uuid))
        .map(|o| o.updates.len())
        .collect();
    let exact = counts.len() == n && counts.iter().all(|c| *c == 3);
    println!(
        "    every order updated exactly 3 times after the held webhooks: {}",
        if exact { "yes" } else { "NO" }
    );
    anyhow::ensure!(exact, "update counts: {counts:?}");
    let failed: i64 = state
        .db
        .call(|c| {
            Ok(
                c.query_row("SELECT count(*) FROM jobs WHERE state <> 'done'", [], |r| {
                    r.get(0)
                })?,
            )
        })
        .await?;
    anyhow::ensure!(failed == 0, "{failed} jobs not done");
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let n = arg("--orders", 300).max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        println!(
            "order sync benchmark against local stand-ins ({} cores shared by app, stand-ins \
             and driver)",
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
        for workers in [8, 16] {
            scenario(workers, n).await?;
        }
        Ok(())
    })
}
