//! The simulator (issue 13): random, reproducible lives of stores, shoppers and merchants,
//! driven against the real app and its stand-ins, then checked against invariants computed
//! from the stand-ins' own records (never from the app's code or database).
//!
//! A scenario is a list of [`Action`]s. Actions name what they act on by index into what
//! exists when they run (the store's carts, its payment attempts, its placed orders), taken
//! modulo the count, and do nothing when nothing exists: so every sub-list of a scenario is a
//! scenario too, and proptest shrinks a failure to the few actions that still fail.
//!
//! Used by `tests/simulation.rs` (fixed seeds and a few fresh ones, on every `cargo test`) and
//! by `examples/simulate.rs` (the soak command).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use serde_json::Value;

use sequra_bc_sandbox::bigcommerce::RefundSpec;
use sequra_bc_sandbox::sequra::{OrderRecord, ShopperProfile};

#[allow(dead_code)]
#[path = "../api/helpers.rs"]
pub mod helpers;

use helpers::{TestApp, spawn_app_with};

/// The demo catalog's product ids (`sandbox::bigcommerce::demo_products`); 109 is digital.
const PRODUCTS: [u64; 9] = [101, 102, 103, 104, 105, 106, 107, 108, 109];
/// The Spanish methods the stand-in offers without an amount limit.
const METHODS: [&str; 2] = ["i1", "pp3"];
/// BigCommerce's Incomplete and Cancelled statuses.
const INCOMPLETE: u64 = 0;
const CANCELLED: u64 = 5;

/// One thing an actor does.
#[derive(Debug, Clone)]
pub enum Action {
    /// Shopper: a new cart of (product index, quantity) in Spain.
    Cart {
        store: usize,
        items: Vec<(usize, u64)>,
    },
    /// Shopper: starts paying a cart with a method (again: another tab).
    Start {
        store: usize,
        cart: usize,
        method: usize,
    },
    /// Shopper: completes seQura's form of an attempt with a profile.
    Complete {
        store: usize,
        attempt: usize,
        profile: Profile,
    },
    /// seQura: delivers an attempt's last IPN again (a retry, or a late duplicate).
    Redeliver { store: usize, attempt: usize },
    /// Merchant: ships every physical item left of a placed order.
    ShipAll { store: usize, order: usize },
    /// Merchant: ships one unit of the order's first line that has one left.
    ShipOne { store: usize, order: usize },
    /// Merchant: refunds one unit of the order's first line.
    RefundOne { store: usize, order: usize },
    /// Merchant: cancels a placed order.
    Cancel { store: usize, order: usize },
    /// BigCommerce: every webhook from now on is delivered this many times.
    WebhookDuplicates { times: usize },
    /// seQura: an outage (every API call 503) starts or ends.
    Outage { on: bool },
    /// Time passes: the stand-ins deliver what is pending and the queue drains.
    Settle,
}

/// The seQura profile a shopper completes the form with.
#[derive(Debug, Clone, Copy)]
pub enum Profile {
    Approve,
    ReviewApprove,
    ReviewCancel,
}

impl Profile {
    fn shopper(self) -> ShopperProfile {
        match self {
            Profile::Approve => ShopperProfile::Approve,
            Profile::ReviewApprove => ShopperProfile::ReviewApprove,
            Profile::ReviewCancel => ShopperProfile::ReviewCancel,
        }
    }
}

impl Action {
    /// The action's name in coverage counts.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Cart { .. } => "cart",
            Action::Start { .. } => "start",
            Action::Complete { .. } => "complete",
            Action::Redeliver { .. } => "redeliver_ipn",
            Action::ShipAll { .. } => "ship_all",
            Action::ShipOne { .. } => "ship_one",
            Action::RefundOne { .. } => "refund_one",
            Action::Cancel { .. } => "cancel",
            Action::WebhookDuplicates { .. } => "webhook_duplicates",
            Action::Outage { .. } => "sequra_outage",
            Action::Settle => "settle",
        }
    }
}

/// Random actions for `stores` stores, with weights: shoppers act most, then merchants.
pub fn action(stores: usize) -> impl Strategy<Value = Action> {
    let s = 0..stores;
    let n = 0usize..8;
    prop_oneof![
        4 => (s.clone(), proptest::collection::vec((0..PRODUCTS.len(), 1u64..4), 1..4))
            .prop_map(|(store, items)| Action::Cart { store, items }),
        6 => (s.clone(), n.clone(), 0..METHODS.len())
            .prop_map(|(store, cart, method)| Action::Start { store, cart, method }),
        6 => (s.clone(), n.clone(), prop_oneof![
                3 => Just(Profile::Approve),
                1 => Just(Profile::ReviewApprove),
                1 => Just(Profile::ReviewCancel),
            ])
            .prop_map(|(store, attempt, profile)| Action::Complete { store, attempt, profile }),
        1 => (s.clone(), n.clone()).prop_map(|(store, attempt)| Action::Redeliver { store, attempt }),
        2 => (s.clone(), n.clone()).prop_map(|(store, order)| Action::ShipAll { store, order }),
        2 => (s.clone(), n.clone()).prop_map(|(store, order)| Action::ShipOne { store, order }),
        2 => (s.clone(), n.clone()).prop_map(|(store, order)| Action::RefundOne { store, order }),
        1 => (s.clone(), n.clone()).prop_map(|(store, order)| Action::Cancel { store, order }),
        1 => (1usize..3).prop_map(|times| Action::WebhookDuplicates { times }),
        1 => any::<bool>().prop_map(|on| Action::Outage { on }),
        2 => Just(Action::Settle),
    ]
}

/// A scenario: `max / 2` to `max` actions (shrinking goes below).
pub fn scenario(stores: usize, max: usize) -> impl Strategy<Value = Vec<Action>> {
    proptest::collection::vec(action(stores), (max / 2).max(1)..=max.max(1))
}

/// How often each action ran (and did something) and each invariant was checked.
#[derive(Debug, Default, Clone)]
pub struct Coverage {
    pub actions: BTreeMap<String, u64>,
    pub invariants: BTreeMap<String, u64>,
}

impl Coverage {
    fn act(&mut self, name: &str) {
        *self.actions.entry(name.to_string()).or_default() += 1;
    }

    fn checked(&mut self, name: &str) {
        *self.invariants.entry(name.to_string()).or_default() += 1;
    }

    pub fn add(&mut self, other: &Coverage) {
        for (k, v) in &other.actions {
            *self.actions.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &other.invariants {
            *self.invariants.entry(k.clone()).or_default() += v;
        }
    }
}

/// Everything one store's actors have made so far.
struct StoreSim {
    hash: String,
    carts: Vec<String>,
    /// (BigCommerce order id, seQura uuid, method) of every started attempt.
    attempts: Vec<(u64, String, &'static str)>,
}

struct World {
    app: TestApp,
    stores: Vec<StoreSim>,
    coverage: Coverage,
    /// Every 5xx the app answered the simulator or seQura's notifications outside an outage.
    server_errors: Vec<String>,
    outage: bool,
}

fn pick<T>(items: &[T], i: usize) -> Option<&T> {
    (!items.is_empty()).then(|| &items[i % items.len()])
}

impl World {
    async fn new(stores: usize) -> World {
        let app = spawn_app_with(|s| {
            s.jobs.retry_base_ms = 20;
            s.jobs.retry_max_ms = 200;
        })
        .await;
        let mut sims = Vec::new();
        for i in 0..stores {
            let hash = format!("sim{i}");
            app.spanish_store(&hash).await;
            sims.push(StoreSim {
                hash,
                carts: Vec::new(),
                attempts: Vec::new(),
            });
        }
        World {
            app,
            stores: sims,
            coverage: Coverage::default(),
            server_errors: Vec::new(),
            outage: false,
        }
    }

    /// The store's orders placed so far (not Incomplete), by id.
    fn placed(&self, store: usize) -> Vec<u64> {
        let mut ids: Vec<u64> = self
            .app
            .bc
            .orders(&self.stores[store].hash)
            .iter()
            .filter(|o| o["status_id"].as_u64() != Some(INCOMPLETE))
            .filter_map(|o| o["id"].as_u64())
            .collect();
        ids.sort_unstable();
        ids
    }

    async fn act(&mut self, action: &Action) {
        let did = match action {
            Action::Cart { store, items } => {
                let items: Vec<(u64, u64)> =
                    items.iter().map(|(p, q)| (PRODUCTS[*p], *q)).collect();
                let s = &mut self.stores[*store];
                let id = self.app.bc.create_checkout(&s.hash, &items, "ES");
                s.carts.push(id);
                true
            }
            Action::Start {
                store,
                cart,
                method,
            } => {
                let s = &self.stores[*store];
                let Some(checkout) = pick(&s.carts, *cart).cloned() else {
                    return;
                };
                let hash = s.hash.clone();
                let resp = self
                    .app
                    .http
                    .post(format!("{}/checkout/{hash}/start", self.app.address))
                    .json(
                        &serde_json::json!({ "checkoutId": checkout, "product": METHODS[*method] }),
                    )
                    .send()
                    .await
                    .unwrap();
                let status = resp.status().as_u16();
                if status >= 500 && !self.outage {
                    self.server_errors
                        .push(format!("start {checkout}: {status}"));
                }
                if status != 200 {
                    if std::env::var_os("SIM_DEBUG").is_some() {
                        eprintln!(
                            "start {checkout}: {status} {}",
                            resp.text().await.unwrap_or_default()
                        );
                    }
                    return;
                }
                let body: Value = resp.json().await.unwrap();
                let Some(order_id) = body["order_id"].as_u64() else {
                    if std::env::var_os("SIM_DEBUG").is_some() {
                        eprintln!("start {checkout}: 200 without an order id: {body}");
                    }
                    return;
                };
                // The attempt's seQura order: the newest one solicited for this order id and
                // not yet any store's attempt (stores number their orders alike; starts run one
                // at a time).
                let known = |uuid: &str| {
                    self.stores
                        .iter()
                        .any(|s| s.attempts.iter().any(|(_, u, _)| u == uuid))
                };
                let uuid = self
                    .app
                    .sequra
                    .orders()
                    .into_iter()
                    .rfind(|o| {
                        o.solicited["merchant_reference"]["order_ref_1"].as_str()
                            == Some(order_id.to_string().as_str())
                            && !known(&o.uuid)
                    })
                    .map(|o| o.uuid);
                let Some(uuid) = uuid else { return };
                self.stores[*store]
                    .attempts
                    .push((order_id, uuid, METHODS[*method]));
                true
            }
            Action::Complete {
                store,
                attempt,
                profile,
            } => {
                let Some((_, uuid, product)) =
                    pick(&self.stores[*store].attempts, *attempt).cloned()
                else {
                    return;
                };
                match self
                    .app
                    .sequra
                    .complete_form(&uuid, product, None, profile.shopper())
                    .await
                {
                    Ok(outcome) => {
                        for (kind, state, status) in &outcome.deliveries {
                            // During a seQura outage the app cannot check a notification
                            // with seQura, and says so with a 503.
                            if *status >= 500 && !self.outage {
                                self.server_errors
                                    .push(format!("{kind} {state} of {uuid}: {status}"));
                            }
                        }
                        true
                    }
                    // Already completed, or not awaiting the form: the stand-in refuses.
                    Err(_) => false,
                }
            }
            Action::Redeliver { store, attempt } => {
                let Some((_, uuid, _)) = pick(&self.stores[*store].attempts, *attempt).cloned()
                else {
                    return;
                };
                let Some(last) = self
                    .app
                    .sequra
                    .order(&uuid)
                    .and_then(|o| o.notifications.into_iter().rfind(|n| n.kind == "ipn"))
                else {
                    return;
                };
                let resp = self
                    .app
                    .http
                    .post(&last.url)
                    .form(&last.fields)
                    .send()
                    .await
                    .unwrap();
                let status = resp.status().as_u16();
                if status >= 500 && !self.outage {
                    self.server_errors.push(format!(
                        "redelivered ipn {} of {uuid}: {status}",
                        last.state
                    ));
                }
                true
            }
            Action::ShipAll { store, order } => {
                let hash = self.stores[*store].hash.clone();
                let Some(id) = pick(&self.placed(*store), *order).copied() else {
                    return;
                };
                self.app.bc.ship_all(&hash, id).is_some()
            }
            Action::ShipOne { store, order } => {
                let hash = self.stores[*store].hash.clone();
                let Some(id) = pick(&self.placed(*store), *order).copied() else {
                    return;
                };
                let line = self.app.bc.order_products(&hash, id).into_iter().find(|l| {
                    l["type"].as_str() != Some("digital")
                        && l["quantity"].as_u64().unwrap_or(0)
                            > l["quantity_shipped"].as_u64().unwrap_or(0)
                });
                match line.and_then(|l| l["id"].as_u64()) {
                    Some(line) => self.app.bc.ship_items(&hash, id, &[(line, 1)]).is_some(),
                    None => false,
                }
            }
            Action::RefundOne { store, order } => {
                let hash = self.stores[*store].hash.clone();
                let Some(id) = pick(&self.placed(*store), *order).copied() else {
                    return;
                };
                let line = self.app.bc.order_products(&hash, id).into_iter().next();
                match line.and_then(|l| l["id"].as_u64()) {
                    Some(line) => self
                        .app
                        .bc
                        .refund(
                            &hash,
                            id,
                            &RefundSpec {
                                items: vec![(line, 1)],
                                shipping_cents: 0,
                                order_cents: 0,
                            },
                        )
                        .is_some(),
                    None => false,
                }
            }
            Action::Cancel { store, order } => {
                let hash = self.stores[*store].hash.clone();
                let Some(id) = pick(&self.placed(*store), *order).copied() else {
                    return;
                };
                self.app.bc.set_order_status(&hash, id, CANCELLED as u32)
            }
            Action::WebhookDuplicates { times } => {
                self.app.bc.set_webhook_duplicates(*times);
                true
            }
            Action::Outage { on } => {
                self.outage = *on;
                self.app.sequra.set_outage(*on);
                true
            }
            Action::Settle => {
                if self.outage {
                    // Jobs for seQura cannot drain while it is down: only the webhooks arrive.
                    self.app.bc.webhooks_settled(Duration::from_secs(20)).await;
                } else {
                    self.settle().await;
                }
                true
            }
        };
        if did {
            self.coverage.act(action.name());
        }
    }

    /// Webhooks delivered and the queue drained (retries included), three times over so that
    /// what one job causes is settled too.
    async fn settle(&self) {
        for _ in 0..3 {
            self.app.bc.webhooks_settled(Duration::from_secs(20)).await;
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            while std::time::Instant::now() < deadline {
                let n = self
                    .app
                    .state
                    .db
                    .call_blocking(|c| sequra_bc::db::jobs::outstanding(c))
                    .unwrap_or(1);
                if n == 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }

    /// The invariants, from the stand-ins' records.
    fn check(&mut self) -> Result<(), String> {
        let mut failures = Vec::new();
        let sequra: Vec<OrderRecord> = self.app.sequra.orders();
        for s in &self.stores {
            let orders = self.app.bc.orders(&s.hash);
            let by_id: BTreeMap<u64, &Value> = orders
                .iter()
                .filter_map(|o| Some((o["id"].as_u64()?, o)))
                .collect();
            let mine: Vec<&OrderRecord> = sequra
                .iter()
                .filter(|o| s.attempts.iter().any(|(_, u, _)| *u == o.uuid))
                .collect();
            // 1. Every approval seQura made (and the shop acknowledged) belongs to exactly one
            //    placed BigCommerce order, with the payment recorded on it.
            let mut paid_by: BTreeMap<u64, Vec<&str>> = BTreeMap::new();
            for o in &mine {
                if !acknowledged(o, "approved") {
                    continue;
                }
                self.coverage.checked("1_approval_placed");
                let Some(id) = order_of(o) else {
                    failures.push(format!("{}: approved {} names no order", s.hash, o.uuid));
                    continue;
                };
                paid_by.entry(id).or_default().push(&o.uuid);
                match by_id.get(&id) {
                    None => failures.push(format!(
                        "{}: approved {} but order {id} is gone",
                        s.hash, o.uuid
                    )),
                    Some(bc) => {
                        if bc["status_id"].as_u64() == Some(INCOMPLETE) {
                            failures.push(format!(
                                "{}: approved {} but order {id} is Incomplete",
                                s.hash, o.uuid
                            ));
                        }
                        if bc["payment_provider_id"].as_str() != Some(o.uuid.as_str()) {
                            failures.push(format!(
                                "{}: order {id} paid by {} carries payment_provider_id {}",
                                s.hash, o.uuid, bc["payment_provider_id"]
                            ));
                        }
                    }
                }
            }
            for (id, uuids) in &paid_by {
                if uuids.len() > 1 {
                    failures.push(format!("{}: order {id} paid twice: {uuids:?}", s.hash));
                }
            }
            // 2. No order is placed without seQura's approval or review.
            for (id, bc) in &by_id {
                let status = bc["status_id"].as_u64().unwrap_or(INCOMPLETE);
                if status == INCOMPLETE {
                    continue;
                }
                self.coverage.checked("2_placed_is_paid");
                let backed = mine.iter().any(|o| {
                    order_of(o) == Some(*id)
                        && (acknowledged(o, "approved") || acknowledged(o, "needs_review"))
                });
                if !backed {
                    failures.push(format!(
                        "{}: order {id} placed (status {status}) without a seQura approval",
                        s.hash
                    ));
                }
            }
            // 4. Money adds up: what seQura holds for a confirmed order is what BigCommerce
            //    says is still sold (cancelled: nothing).
            for o in &mine {
                if o.state != "confirmed" {
                    continue;
                }
                let Some(id) = order_of(o) else { continue };
                let Some(bc) = by_id.get(&id) else { continue };
                if open_log_entry(&self.app, &s.hash, id) {
                    continue;
                }
                self.coverage.checked("4_money_adds_up");
                let status = bc["status_id"].as_u64().unwrap_or(0);
                // v2's `refunded_amount` always reads 0 (spec §3.2): the refunds are v3's.
                let refunded: i64 = self
                    .app
                    .bc
                    .order_refunds(&s.hash, id)
                    .iter()
                    .map(|r| cents(&r["total_amount"]))
                    .sum();
                let sold = cents(&bc["total_inc_tax"]) - refunded;
                let shipped = cart_total(o.shipped_cart.as_ref());
                // Never updated: seQura still holds the solicited cart, all unshipped.
                let unshipped = if o.shipped_cart.is_none() && o.unshipped_cart.is_none() {
                    amount_solicited(o)
                } else {
                    cart_total(o.unshipped_cart.as_ref())
                };
                let held = shipped + unshipped;
                if status == CANCELLED {
                    // Cancelled: nothing is left to ship, and what already shipped stays
                    // charged (the app's design; the merchant is told to refund it).
                    if unshipped != 0 || shipped > sold {
                        failures.push(format!(
                            "{}: order {id} cancelled: seQura holds {shipped} shipped and \
                             {unshipped} unshipped of {sold} sold",
                            s.hash
                        ));
                    }
                } else if held != sold {
                    failures.push(format!(
                        "{}: order {id} (status {status}): seQura holds {held}, BigCommerce sold {sold}",
                        s.hash
                    ));
                }
            }
        }
        // 6. No 5xx the scenario did not call for, no job left.
        self.coverage.checked("6_no_5xx_no_job_left");
        failures.extend(self.server_errors.iter().map(|e| format!("5xx: {e}")));
        let stuck = self
            .app
            .count("SELECT COUNT(*) FROM jobs WHERE state IN ('pending', 'running')");
        if stuck > 0 {
            failures.push(format!("{stuck} job(s) still queued after settling"));
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(failures.join("\n"))
        }
    }
}

/// True when seQura notified `state` for the order and the shop answered 200.
fn acknowledged(o: &OrderRecord, state: &str) -> bool {
    o.notifications
        .iter()
        .any(|n| n.kind == "ipn" && n.state == state && n.status == 200)
}

/// The BigCommerce order a seQura order was solicited for.
fn order_of(o: &OrderRecord) -> Option<u64> {
    o.solicited["merchant_reference"]["order_ref_1"]
        .as_str()?
        .parse()
        .ok()
}

/// An open (unresolved) refusal or failure in the app's transaction log for the order: a
/// difference the merchant has been told about.
fn open_log_entry(app: &TestApp, store: &str, order: u64) -> bool {
    app.count(&format!(
        "SELECT COUNT(*) FROM transaction_log WHERE store_hash = '{store}' AND bc_order_id = {order}
         AND outcome IN ('rejected', 'failed') AND resolved_at IS NULL"
    )) > 0
}

/// A decimal of BigCommerce (`"12.5000"` in v2, `12.5` in v3) in cents.
fn cents(v: &Value) -> i64 {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => "0".into(),
    };
    let s = text.as_str();
    let (whole, frac) = s.split_once('.').unwrap_or((s, "0"));
    let frac = format!("{frac:0<2}");
    let sign = if whole.starts_with('-') { -1 } else { 1 };
    let whole: i64 = whole.trim_start_matches('-').parse().unwrap_or(0);
    let frac: i64 = frac[..2].parse().unwrap_or(0);
    sign * (whole * 100 + frac)
}

fn cart_total(cart: Option<&Value>) -> i64 {
    cart.and_then(|c| c["order_total_with_tax"].as_i64())
        .unwrap_or(0)
}

/// The total of the cart the order was solicited with.
fn amount_solicited(o: &OrderRecord) -> i64 {
    o.solicited["cart"]["order_total_with_tax"]
        .as_i64()
        .unwrap_or(0)
}

/// What the app logged at WARN and above during the current scenario (scenarios run one at a
/// time): shown with a failure, and cleared at each start so a long soak does not grow it.
static SCENARIO_LOG: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct ScenarioLog;

impl std::io::Write for ScenarioLog {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        SCENARIO_LOG.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installed before the test helpers' own (debug, kept for ever) capture can be.
fn init_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("warn")
            .with_ansi(false)
            .with_writer(|| ScenarioLog)
            .try_init();
    });
    SCENARIO_LOG.lock().unwrap().clear();
}

/// The end of the scenario's log, for a failure's report.
fn log_tail() -> String {
    let log = SCENARIO_LOG.lock().unwrap();
    let from = log.len().saturating_sub(3000);
    String::from_utf8_lossy(&log[from..]).into_owned()
}

/// Runs one scenario on a fresh app and checks the invariants.
pub async fn run(actions: &[Action], stores: usize) -> Result<Coverage, String> {
    init_logs();
    let debug = std::env::var_os("SIM_DEBUG").is_some();
    let t = std::time::Instant::now();
    let mut world = World::new(stores).await;
    let set_up = t.elapsed();
    for a in actions {
        let t = std::time::Instant::now();
        world.act(a).await;
        if debug {
            eprintln!("{:>6} ms {}", t.elapsed().as_millis(), a.name());
        }
    }
    if debug {
        eprintln!("{:>6} ms set-up", set_up.as_millis());
    }
    // The end of every scenario: outages end, everything pending arrives.
    world.app.sequra.set_outage(false);
    world.outage = false;
    world.app.bc.set_webhook_duplicates(1);
    let t = std::time::Instant::now();
    world.settle().await;
    if debug {
        eprintln!("{:>6} ms final settle", t.elapsed().as_millis());
    }
    let checked = world
        .check()
        .map_err(|e| format!("{e}\n--- the app's warnings ---\n{}", log_tail()));
    let coverage = world.coverage.clone();
    let t = std::time::Instant::now();
    world.app.stop().await;
    if debug {
        eprintln!("{:>6} ms stop", t.elapsed().as_millis());
    }
    checked.map(|()| coverage)
}

/// Runs one scenario on its own runtime (proptest's cases are synchronous).
pub fn run_blocking(actions: &[Action], stores: usize) -> Result<Coverage, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let outcome = runtime.block_on(run(actions, stores));
    let t = std::time::Instant::now();
    drop(runtime);
    if std::env::var_os("SIM_DEBUG").is_some() {
        eprintln!("{:>6} ms runtime drop", t.elapsed().as_millis());
    }
    outcome
}

/// A failing scenario: its seed, its shrunk actions and why.
#[derive(Debug)]
pub struct Failure {
    pub seed: u64,
    pub actions: Vec<Action>,
    pub reason: String,
}

/// The coverage of every run of the process (shrinking runs included).
pub static COVERAGE: Mutex<Option<Coverage>> = Mutex::new(None);

/// Scenario `seed`: generated from the seed alone, run, and on failure shrunk.
pub fn scenario_from_seed(seed: u64, stores: usize, max_actions: usize) -> Result<(), Failure> {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
    let config = Config {
        cases: 1,
        failure_persistence: None,
        max_shrink_iters: 200,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(config, rng);
    let result = runner.run(
        &scenario(stores, max_actions),
        |actions| match run_blocking(&actions, stores) {
            Ok(c) => {
                COVERAGE
                    .lock()
                    .unwrap()
                    .get_or_insert_with(Coverage::default)
                    .add(&c);
                Ok(())
            }
            Err(reason) => Err(TestCaseError::fail(reason)),
        },
    );
    match result {
        Ok(()) => Ok(()),
        Err(TestError::Fail(reason, actions)) => Err(Failure {
            seed,
            actions,
            reason: reason.to_string(),
        }),
        Err(TestError::Abort(reason)) => Err(Failure {
            seed,
            actions: Vec::new(),
            reason: reason.to_string(),
        }),
    }
}
