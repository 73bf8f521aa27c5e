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
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sequra_bc::state::AppState;
use serde_json::{Value, json};
use support::{approve_all, arg, pct, process_cpu, settle};
use warp::Filter;

const STORE: &str = "bench";
const SECRET_HEADER: &str = "X-Sequra-Webhook-Secret";
const WARM_UP: Duration = Duration::from_secs(1);
/// Paid seQura orders named by the mixed run.
const PAID_ORDERS: usize = 20;

/// One run of the client loop.
struct Load {
    /// 200s over the whole run, warm-up included.
    acknowledged: u64,
    /// Anything else (status or transport error).
    failed: u64,
    /// Latencies of the requests that started after the warm-up and ended in the window.
    measured: Vec<Duration>,
    window: Duration,
    /// Process CPU time (client and server) per acknowledged request, over the whole run.
    cpu_per_request: Option<Duration>,
}

impl Load {
    /// A run left out by `--runs`.
    fn skipped() -> Self {
        Self {
            acknowledged: 0,
            failed: 0,
            measured: Vec::new(),
            window: Duration::from_secs(1),
            cpu_per_request: None,
        }
    }

    fn rate(&self) -> f64 {
        self.measured.len() as f64 / self.window.as_secs_f64()
    }

    /// Prints one line; returns (deliveries/s, p99 ms).
    fn report(&mut self, name: &str) -> (f64, f64) {
        self.measured.sort();
        let (p50, p90, p99) = (
            pct(&self.measured, 0.5),
            pct(&self.measured, 0.9),
            pct(&self.measured, 0.99),
        );
        println!(
            "  {name:<40} requests {:>7}  {:>7.0}/s   p50 {p50:>7.3} ms   p90 {p90:>7.3} ms   \
             p99 {p99:>8.3} ms   max {:>8.3} ms   cpu/req {:>5} µs{}",
            self.measured.len(),
            self.rate(),
            pct(&self.measured, 1.0),
            self.cpu_per_request
                .map_or("?".to_string(), |c| c.as_micros().to_string()),
            if self.failed > 0 {
                format!("   FAILED {}", self.failed)
            } else {
                String::new()
            }
        );
        (self.rate(), p99)
    }
}

/// `connections` tasks post `body(n)` (n unique across the run) to `url` back to back for
/// the warm-up plus `window`; nothing when the run was left out by `--runs`.
async fn drive(
    selected: bool,
    http: &reqwest::Client,
    url: &str,
    secret: Option<&str>,
    connections: usize,
    window: Duration,
    body: Arc<dyn Fn(u64) -> String + Send + Sync>,
) -> Load {
    if !selected {
        return Load::skipped();
    }
    let counter = Arc::new(AtomicU64::new(0));
    let cpu_before = process_cpu();
    let start = Instant::now();
    let (from, until) = (start + WARM_UP, start + WARM_UP + window);
    let mut tasks = Vec::with_capacity(connections);
    for _ in 0..connections {
        let (http, url, body, counter) =
            (http.clone(), url.to_string(), body.clone(), counter.clone());
        let secret = secret.map(str::to_string);
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut failed, mut measured) = (0u64, 0u64, Vec::new());
            loop {
                let t = Instant::now();
                if t >= until {
                    break;
                }
                let mut req = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body(counter.fetch_add(1, Ordering::Relaxed)));
                if let Some(s) = &secret {
                    req = req.header(SECRET_HEADER, s.as_str());
                }
                let good = match req.send().await {
                    Ok(r) => r.status() == 200 && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                let end = Instant::now();
                if !good {
                    failed += 1;
                    continue;
                }
                ok += 1;
                if t >= from && end <= until {
                    measured.push(end - t);
                }
            }
            (ok, failed, measured)
        }));
    }
    let mut load = Load {
        acknowledged: 0,
        failed: 0,
        measured: Vec::new(),
        window,
        cpu_per_request: None,
    };
    for t in tasks {
        if let Ok((ok, failed, measured)) = t.await {
            load.acknowledged += ok;
            load.failed += failed;
            load.measured.extend(measured);
        }
    }
    if let (Some(before), Some(after)) = (cpu_before, process_cpu()) {
        load.cpu_per_request = Some((after - before) / load.acknowledged.max(1) as u32);
    }
    load
}

/// The runs whose deliveries are counted afterwards, each with its own `created_at`.
const COUNTED: [&str; 3] = ["plain", "mixed", "one"];

fn created_at(run: &str) -> usize {
    1_767_225_600 + COUNTED.iter().position(|r| *r == run).map_or(0, |i| i + 1)
}

/// A `store/order/updated` delivery with its own `hash`: 40 hex digits that look random, like
/// BigCommerce's SHA-1 of the payload (sequential ones would all land on the de-duplication
/// index's last page, which real deliveries do not).
fn delivery(store_id: &str, run: &str, n: u64, order_id: u64) -> String {
    let salt = run
        .bytes()
        .fold(0u64, |h, b| h.rotate_left(8) ^ u64::from(b));
    let (a, b, c) = (mix(n ^ salt), mix(n.wrapping_add(1) ^ salt), mix(n ^ !salt));
    format!(
        r#"{{"scope":"store/order/updated","store_id":"{store_id}","data":{{"type":"order","id":{order_id}}},"hash":"{a:016x}{b:016x}{:08x}","created_at":{},"producer":"stores/{STORE}"}}"#,
        c >> 32,
        created_at(run)
    )
}

/// SplitMix64's finaliser: a cheap bijection that scatters consecutive numbers.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
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
            None,
            connections,
            window,
            Arc::new(move |n| delivery(&sid, "bare", n, 2_000_000 + n % 1000)),
        )
        .await;
        let (bare_rate, bare_p99) = bare_load.report("bare warp handler (200)");

        let sid = store_id.clone();
        let mut plain = drive(
            runs.contains(&"plain"),
            &http,
            &app_url,
            Some(&secret),
            connections,
            window,
            Arc::new(move |n| delivery(&sid, "plain", n, 2_000_000 + n % 1000)),
        )
        .await;
        let (app_rate, app_p99) = plain.report("app, no seQura order (stored, no job)");

        let (sid, named) = (store_id.clone(), paid.clone());
        let mut mixed = drive(
            runs.contains(&"mixed"),
            &http,
            &app_url,
            Some(&secret),
            connections,
            window,
            Arc::new(move |n| {
                let order = if n % 10 == 0 {
                    named[(n / 10) as usize % named.len()]
                } else {
                    2_000_000 + n % 1000
                };
                delivery(&sid, "mixed", n, order)
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
            None,
            1,
            Duration::from_secs(2),
            Arc::new(move |n| delivery(&sid, "bare1", n, 2_000_000 + n % 1000)),
        )
        .await;
        bare_one.report("bare warp handler, 1 connection");
        let sid = store_id.clone();
        let mut app_one = drive(
            runs.contains(&"one"),
            &http,
            &app_url,
            Some(&secret),
            1,
            Duration::from_secs(2),
            Arc::new(move |n| delivery(&sid, "one", n, 2_000_000 + n % 1000)),
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
