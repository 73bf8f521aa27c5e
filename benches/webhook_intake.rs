//! Benchmark of the webhook intake: `POST /bc/webhooks` deliveries stored and acknowledged per
//! second, and their latency, at 64 concurrent connections, next to a bare warp handler that
//! answers 200, driven by the same client loop in the same run. Every delivery carries a new
//! `hash`, so each acknowledged one is a new row in `webhook_events` (checked at the end).
//!
//! Target: at least half the bare handler's rate, p99 under 5 ms.
//!
//! Runs: the bare handler; the app with order ids that are no seQura order (stored, no job);
//! the app with one delivery in ten naming one of a few paid seQura orders (each queues or
//! joins a `sync_order` job, which runs meanwhile); and one connection to each for the
//! uncontended latency. `cargo bench --bench webhook_intake`
//! (optionally `-- --connections 64 --seconds 5`).

mod support;

use std::sync::Arc;
use std::time::Duration;

use sequra_bc::state::AppState;
use serde_json::{Value, json};
use support::intake::{self, SECRET_HEADER, WARM_UP, drive};
use support::{approve_all, arg, settle};
use warp::Filter;

const STORE: &str = "bench";
/// Paid seQura orders named by the mixed run.
const PAID_ORDERS: usize = 20;

/// The runs whose deliveries are counted afterwards, each with its own `created_at`.
const COUNTED: [&str; 3] = ["plain", "mixed", "one"];

fn created_at(run: &str) -> i64 {
    1_767_225_600
        + COUNTED
            .iter()
            .position(|r| *r == run)
            .map_or(0, |i| i as i64 + 1)
}

/// A `store/order/updated` delivery with its own `hash`, and the store's secret.
fn delivery(
    store_id: &str,
    secret: &Option<Arc<str>>,
    run: &str,
    n: u64,
    order_id: u64,
) -> (String, Option<Arc<str>>) {
    let salt = run
        .bytes()
        .fold(0u64, |h, b| h.rotate_left(8) ^ u64::from(b));
    let body = intake::delivery(
        STORE,
        store_id,
        "store/order/updated",
        &intake::order_data(order_id),
        &intake::event_hash(n, salt),
        created_at(run),
    );
    (body, secret.clone())
}

async fn count(state: &AppState, sql: impl Into<String>) -> anyhow::Result<i64> {
    let sql = sql.into();
    Ok(state
        .db
        .call(move |c| Ok(c.query_row(&sql, [], |r| r.get::<_, i64>(0))?))
        .await?)
}

fn main() -> anyhow::Result<()> {
    let connections = arg("--connections", 64).max(1) as usize;
    let window = Duration::from_secs(arg("--seconds", 5).max(1));
    // `--runs plain` (comma-separated: bare, plain, mixed, one) runs only those, for profiling.
    let runs: String = arg("--runs", "bare,plain,mixed,one".to_string());
    let runs: Vec<&str> = runs.split(',').collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        // The bare handler: accepts the body and answers 200, nothing else.
        let bare = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let bare_url = format!("http://{}/bc/webhooks", bare.local_addr()?);
        let handler = warp::post()
            .and(warp::body::bytes())
            .map(|_: bytes::Bytes| warp::reply());
        tokio::spawn(warp::serve(handler).incoming(bare).run());

        // The app, with an installed store whose seQura account is connected.
        let bench = support::start(STORE, connections.max(64), |_| {}).await?;
        let (address, bc, sequra, http, state, store_id) = (
            bench.address.clone(),
            bench.bc.clone(),
            bench.sequra.clone(),
            bench.http.clone(),
            bench.state.clone(),
            bench.store_id.clone(),
        );
        let secret = bc
            .webhooks(STORE)
            .iter()
            .find_map(|h| h["headers"][SECRET_HEADER].as_str().map(str::to_string))
            .ok_or_else(|| anyhow::anyhow!("no webhook registered with the secret header"))?;
        let secret: Option<Arc<str>> = Some(secret.into());
        // A few paid seQura orders for the mixed run.
        let mut paid = Vec::with_capacity(PAID_ORDERS);
        for i in 0..PAID_ORDERS {
            let checkout = bc.create_checkout(STORE, &[(101, 1), (103, 1)], "ES");
            let body: Value = http
                .post(format!("{address}/checkout/{STORE}/start"))
                .header("x-forwarded-for", format!("198.51.100.{}", i + 1))
                .json(&json!({ "checkoutId": checkout, "product": "i1" }))
                .send()
                .await?
                .json()
                .await?;
            let order_id = body["orderId"]
                .as_u64()
                .or_else(|| body["order_id"].as_u64())
                .ok_or_else(|| anyhow::anyhow!("start failed: {body}"))?;
            paid.push(order_id);
        }
        let uuids: Vec<String> = sequra.orders().into_iter().map(|o| o.uuid).collect();
        approve_all(&sequra, &uuids).await?;
        settle(&bc, &state).await?;
        let jobs_before = count(&state, "SELECT count(*) FROM jobs").await?;

        println!(
            "webhook intake benchmark: {connections} connections, {:?} after a {:?} warm-up \
             (client, app and stand-ins share this machine's {} cores)",
            window,
            WARM_UP,
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
        let app_url = format!("{address}/bc/webhooks");
        let sid = store_id.clone();
        let mut bare_load = drive(
            runs.contains(&"bare"),
            &http,
            &bare_url,
            connections,
            window,
            Arc::new(move |n| delivery(&sid, &None, "bare", n, 2_000_000 + n % 1000)),
        )
        .await;
        let (bare_rate, bare_p99) = bare_load.report("bare warp handler (200)");

        let (sid, key) = (store_id.clone(), secret.clone());
        let mut plain = drive(
            runs.contains(&"plain"),
            &http,
            &app_url,
            connections,
            window,
            Arc::new(move |n| delivery(&sid, &key, "plain", n, 2_000_000 + n % 1000)),
        )
        .await;
        let (app_rate, app_p99) = plain.report("app, no seQura order (stored, no job)");

        let (sid, key, named) = (store_id.clone(), secret.clone(), paid.clone());
        let mut mixed = drive(
            runs.contains(&"mixed"),
            &http,
            &app_url,
            connections,
            window,
            Arc::new(move |n| {
                let order = if n % 10 == 0 {
                    named[(n / 10) as usize % named.len()]
                } else {
                    2_000_000 + n % 1000
                };
                delivery(&sid, &key, "mixed", n, order)
            }),
        )
        .await;
        let (mixed_rate, mixed_p99) = mixed.report("app, 1 in 10 a seQura order (+ jobs)");
        settle(&bc, &state).await?;
        let jobs_run = count(&state, "SELECT count(*) FROM jobs").await? - jobs_before;
        let failed_jobs = count(&state, "SELECT count(*) FROM jobs WHERE state <> 'done'").await?;

        let sid = store_id.clone();
        let mut bare_one = drive(
            runs.contains(&"one"),
            &http,
            &bare_url,
            1,
            Duration::from_secs(2),
            Arc::new(move |n| delivery(&sid, &None, "bare1", n, 2_000_000 + n % 1000)),
        )
        .await;
        bare_one.report("bare warp handler, 1 connection");
        let (sid, key) = (store_id.clone(), secret.clone());
        let mut app_one = drive(
            runs.contains(&"one"),
            &http,
            &app_url,
            1,
            Duration::from_secs(2),
            Arc::new(move |n| delivery(&sid, &key, "one", n, 2_000_000 + n % 1000)),
        )
        .await;
        app_one.report("app, 1 connection (no seQura order)");

        println!("  sync_order jobs queued by the mixed run: {jobs_run} (not done: {failed_jobs})");
        let stored = [("plain", &plain), ("mixed", &mixed), ("one", &app_one)];
        let mut all_stored = true;
        for (name, load) in stored {
            let rows = count(
                &state,
                format!(
                    "SELECT count(*) FROM webhook_events WHERE created_at = {}",
                    created_at(name)
                ),
            )
            .await?;
            let ok = rows == load.acknowledged as i64 && load.failed == 0;
            all_stored &= ok;
            println!(
                "  {name:<6} acknowledged {:>7}, rows stored {rows:>7}: {}",
                load.acknowledged,
                if ok {
                    "every acknowledged delivery stored"
                } else {
                    "MISMATCH"
                }
            );
        }
        let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
        for (name, rate, p99) in [
            ("no seQura order", app_rate, app_p99),
            ("1 in 10 seQura", mixed_rate, mixed_p99),
        ] {
            let ratio = rate / bare_rate;
            println!(
                "  {name}: app/bare = {ratio:.3} (target ≥ 0.5: {}); p99 {p99:.3} ms \
                 (target < 5 ms: {}; bare p99 {bare_p99:.3} ms)",
                verdict(ratio >= 0.5),
                verdict(p99 < 5.0)
            );
        }
        anyhow::ensure!(all_stored, "an acknowledged delivery was not stored");
        Ok(())
    })
}
