//! The simulator (issue 13): random, reproducible lives of stores, shoppers and merchants,
//! driven against the real app and its stand-ins, then checked against invariants computed
//! from the stand-ins' own records (never from the app's code or database).
//!
//! A scenario is a list of [`Action`]s. Actions name what they act on by index into what
//! exists when they run (the store's carts, its payment attempts, its placed orders, an
//! order's lines), taken modulo the count, and do nothing when nothing exists: so every
//! sub-list of a scenario is a scenario too, and proptest shrinks a failure to the few actions
//! that still fail.
//!
//! - `world.rs`: the app, both stand-ins and every store; what each action does.
//! - `check.rs`: the invariants, from the stand-ins' records and the merchant's pages.
//!
//! Used by `tests/simulation.rs` (fixed seeds and a few fresh ones, on every `cargo test`) and
//! by `examples/simulate.rs` (the soak command).

mod check;
pub mod truth;
mod world;

use std::collections::BTreeMap;
use std::sync::Mutex;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};

use sequra_bc_sandbox::sequra::ShopperProfile;

#[allow(dead_code)]
#[path = "../api/helpers.rs"]
pub mod helpers;

use world::World;

/// The demo catalog's product ids (`sandbox::bigcommerce::demo_products`); 109 is digital.
const PRODUCTS: [u64; 9] = [101, 102, 103, 104, 105, 106, 107, 108, 109];
/// The Spanish methods the stand-in offers without an amount limit.
const METHODS: [&str; 2] = ["i1", "pp3"];
/// The allowed IP addresses seQura may set for a store whose shoppers are at `10.{store}.…`
/// (`World::start`): everybody, their network, the first cart's shopper only, nobody of theirs.
const REMOTE_IPS: [&[&str]; 4] = [&[], &["10.0.0.0/8"], &["10.{store}.0.1"], &["192.0.2.1"]];
/// Statuses a merchant sets by hand: Pending, Shipped, Awaiting Payment, Awaiting Shipment,
/// Completed, Awaiting Fulfillment, Manual Verification Required.
const MANUAL_STATUSES: [u32; 7] = [1, 2, 7, 9, 10, 11, 12];
/// What the merchant maps a seQura status to (None: leave the order's status alone).
const MAPPABLE: [Option<u32>; 5] = [None, Some(11), Some(9), Some(1), Some(12)];

/// One thing an actor does.
#[derive(Debug, Clone)]
pub enum Action {
    /// Shopper: a new cart of (product index, quantity) in Spain; with `credit`, a registered
    /// customer who pays part of it with store credit.
    Cart {
        store: usize,
        items: Vec<(usize, u64)>,
        credit: bool,
    },
    /// Shopper: the whole purchase at once (a new cart, a start, the form completed), and the
    /// placement waited for, so that merchants have orders to act on.
    Purchase {
        store: usize,
        items: Vec<(usize, u64)>,
        method: usize,
        profile: Profile,
    },
    /// Shopper: adds one unit of a product to a cart (after opening the form, perhaps).
    ChangeCart {
        store: usize,
        cart: usize,
        product: usize,
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
    /// Shopper: comes back to an attempt's return URL (early, late, twice).
    Return { store: usize, attempt: usize },
    /// Shopper: pays a cart with another payment method in another tab (a bank transfer):
    /// BigCommerce turns the cart into an order of its own, whatever seQura's form is doing;
    /// with `reuse`, BigCommerce completes the Incomplete order the app made from the cart
    /// instead (undocumented which it does).
    PayOtherwise {
        store: usize,
        cart: usize,
        reuse: bool,
    },
    /// Anonymous callers flood a store's checkout endpoints (`methods` and `start`) with
    /// `calls` requests: made-up checkout ids or the store's real ones, from one address or
    /// from many. The honest shoppers' next calls must be served all the same.
    Flood {
        store: usize,
        calls: usize,
        real_ids: bool,
        many: bool,
    },
    /// seQura: delivers an attempt's last IPN again (a retry, or a late duplicate); with
    /// `concurrent`, twice at once.
    Redeliver {
        store: usize,
        attempt: usize,
        concurrent: bool,
    },
    /// Merchant: ships every physical item left of a placed order.
    ShipAll { store: usize, order: usize },
    /// Merchant: ships one unit of the order's first line that has one left.
    ShipOne { store: usize, order: usize },
    /// Merchant: deletes the order's last shipment.
    DeleteShipment { store: usize, order: usize },
    /// Merchant: edits the quantity of a line.
    EditQuantity {
        store: usize,
        order: usize,
        line: usize,
        quantity: u64,
    },
    /// Merchant: adds a unit of a product to the order.
    AddItem {
        store: usize,
        order: usize,
        product: usize,
    },
    /// Merchant: removes a line from the order.
    RemoveItem {
        store: usize,
        order: usize,
        line: usize,
    },
    /// Merchant: changes the shipping address's street.
    ChangeAddress {
        store: usize,
        order: usize,
        street: u8,
    },
    /// Merchant: refunds one unit of the order's first line.
    RefundOne { store: usize, order: usize },
    /// Merchant: refunds the order's shipping.
    RefundShipping { store: usize, order: usize },
    /// Merchant: refunds an amount of the order (not an item).
    RefundAmount {
        store: usize,
        order: usize,
        cents: i64,
    },
    /// Merchant: cancels a placed order.
    Cancel { store: usize, order: usize },
    /// Merchant: archives a placed order.
    Archive { store: usize, order: usize },
    /// Merchant: sets an order's status by hand.
    SetStatus {
        store: usize,
        order: usize,
        status: usize,
    },
    /// Shopper: comes back to the cart of an attempt that did not go through (seQura cancelled
    /// it after review, or its form was left open: a reload) and pays it with seQura, approved.
    /// A cart nobody paid must still be payable.
    ComeBack {
        store: usize,
        attempt: usize,
        method: usize,
    },
    /// Merchant: changes the order-status mapping (indexes into `MAPPABLE`).
    Mapping {
        store: usize,
        approved: usize,
        review: usize,
        cancelled: usize,
    },
    /// Merchant: tries to sell in Spain with the other store's merchant ref (two stores of
    /// this installation on one ref would number their orders alike at seQura).
    ShareRef { store: usize },
    /// Merchant: turns the Payment methods page's "One seQura button" on or off; the store's
    /// shoppers then pay through the single button (`tbs`), picking the plan in seQura's form,
    /// or through a method's own (issue 32).
    SingleButton { store: usize, on: bool },
    /// seQura: changes the store's general settings through its configuration webhook (issue
    /// 32) while shoppers pay: who may see seQura (`ips` into `REMOTE_IPS`), a product
    /// excluded from it (or none), its form on a page of its own or over the checkout. Starts
    /// after the answer follow the new settings; attempts begun before are paid all the same.
    RemoteSettings {
        store: usize,
        ips: usize,
        excluded: Option<usize>,
        hosted: bool,
    },
    /// Merchant: presses every Retry the transaction log offers.
    RetryFromLog { store: usize },
    /// Merchant: disconnects the seQura account.
    Disconnect { store: usize },
    /// Merchant: connects the seQura account (again).
    Connect { store: usize },
    /// Merchant: uninstalls the app.
    Uninstall { store: usize },
    /// Merchant: installs the app again (and connects seQura, whose password went).
    Reinstall { store: usize },
    /// seQura: refuses (409) or accepts again the updates of an order number.
    RefuseUpdates {
        store: usize,
        order: usize,
        on: bool,
    },
    /// seQura: an outage (every API call 503) starts or ends.
    Outage { on: bool },
    /// seQura: answers every API call after this many milliseconds.
    SequraLatency { ms: u64 },
    /// BigCommerce: every webhook from now on is delivered this many times.
    WebhookDuplicates { times: usize },
    /// BigCommerce: holds webhooks from now on, or sends what it held (in order or newest first).
    HoldWebhooks { on: bool, reversed: bool },
    /// BigCommerce: deactivates every webhook of a store (as after failed retries): events
    /// are lost until the app's reconciliation repairs the hooks and finds the changes.
    DeactivateHooks { store: usize },
    /// BigCommerce: the next calls to its orders API fail (429 without headers, or a 5xx).
    BcFailures {
        method: usize,
        status: u16,
        times: usize,
    },
    /// The app's reconciliation sweep runs (every few minutes in production).
    Reconcile,
    /// The machine: a placed order's placement runs again, after whatever ran since (its
    /// outcome was never recorded: the process died between its effect and its record).
    ReplayPlacement { store: usize, order: usize },
    /// The machine: every job waiting in the queue is held back `secs` (a slow or busy
    /// process), so later events overtake it.
    DelayJobs { secs: u64 },
    /// The machine: `after_ms` from now the app's process is killed (SIGKILL), whatever it is
    /// doing, and started again on the same data. The first crash of a scenario moves the app
    /// from the test's process to a `sequra-bc serve` of its own.
    Crash { after_ms: u64 },
    /// The machine and the services: `secs` pass at once (the clocks of the app and both
    /// stand-ins jump ahead together): retries fall due, sessions expire, days end.
    ClockForward { secs: u64 },
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
            Action::Cart { credit: false, .. } => "cart",
            Action::Cart { credit: true, .. } => "cart_with_store_credit",
            Action::ChangeCart { .. } => "change_cart",
            Action::Start { .. } => "start",
            Action::Complete { .. } => "complete",
            Action::Return { .. } => "return_url",
            Action::PayOtherwise { reuse: false, .. } => "pay_otherwise",
            Action::PayOtherwise { reuse: true, .. } => "pay_otherwise_completing_apps_order",
            Action::ComeBack { .. } => "come_back",
            Action::Flood {
                real_ids: false,
                many: false,
                ..
            } => "flood_junk_one_address",
            Action::Flood {
                real_ids: false,
                many: true,
                ..
            } => "flood_junk_many_addresses",
            Action::Flood {
                real_ids: true,
                many: false,
                ..
            } => "flood_real_ids_one_address",
            Action::Flood {
                real_ids: true,
                many: true,
                ..
            } => "flood_real_ids_many_addresses",
            Action::ShareRef { .. } => "share_merchant_ref",
            Action::SingleButton { .. } => "single_button",
            Action::RemoteSettings { .. } => "sequra_changes_settings",
            Action::ReplayPlacement { .. } => "replay_placement",
            Action::DelayJobs { .. } => "delay_jobs",
            Action::Redeliver {
                concurrent: false, ..
            } => "redeliver_ipn",
            Action::Redeliver {
                concurrent: true, ..
            } => "redeliver_ipn_concurrently",
            Action::ShipAll { .. } => "ship_all",
            Action::ShipOne { .. } => "ship_one",
            Action::DeleteShipment { .. } => "delete_shipment",
            Action::EditQuantity { .. } => "edit_quantity",
            Action::AddItem { .. } => "add_item",
            Action::RemoveItem { .. } => "remove_item",
            Action::ChangeAddress { .. } => "change_address",
            Action::RefundOne { .. } => "refund_one",
            Action::RefundShipping { .. } => "refund_shipping",
            Action::RefundAmount { .. } => "refund_amount",
            Action::Cancel { .. } => "cancel",
            Action::Archive { .. } => "archive",
            Action::SetStatus { .. } => "set_status",
            Action::Mapping { .. } => "change_mapping",
            Action::RetryFromLog { .. } => "retry_from_log",
            Action::Disconnect { .. } => "disconnect",
            Action::Connect { .. } => "connect",
            Action::Uninstall { .. } => "uninstall",
            Action::Reinstall { .. } => "reinstall",
            Action::RefuseUpdates { .. } => "sequra_refuses_updates",
            Action::Outage { .. } => "sequra_outage",
            Action::SequraLatency { .. } => "sequra_latency",
            Action::WebhookDuplicates { .. } => "webhook_duplicates",
            Action::HoldWebhooks { .. } => "webhooks_held_or_released",
            Action::DeactivateHooks { .. } => "webhooks_deactivated",
            Action::BcFailures { .. } => "bigcommerce_failures",
            Action::Reconcile => "reconcile",
            Action::Crash { .. } => "crash",
            Action::Purchase { .. } => "purchase",
            Action::ClockForward { .. } => "clock_forward",
            Action::Settle => "settle",
        }
    }
}

/// Random actions for `stores` stores, with weights: shoppers act most, then merchants, then
/// the services' mishaps; with `crash`, the machine's too.
pub fn action(stores: usize, crash: bool) -> BoxedStrategy<Action> {
    let s = 0..stores;
    let n = 0usize..8;
    let shopper = prop_oneof![
        8 => (s.clone(), proptest::collection::vec((0..PRODUCTS.len(), 1u64..4), 1..4), proptest::bool::weighted(0.2))
            .prop_map(|(store, items, credit)| Action::Cart { store, items, credit }),
        2 => (s.clone(), n.clone(), 0..PRODUCTS.len())
            .prop_map(|(store, cart, product)| Action::ChangeCart { store, cart, product }),
        10 => (s.clone(), proptest::collection::vec((0..PRODUCTS.len(), 1u64..4), 1..4), 0..METHODS.len(), prop_oneof![
                4 => Just(Profile::Approve),
                1 => Just(Profile::ReviewApprove),
            ])
            .prop_map(|(store, items, method, profile)| Action::Purchase { store, items, method, profile }),
        12 => (s.clone(), n.clone(), 0..METHODS.len())
            .prop_map(|(store, cart, method)| Action::Start { store, cart, method }),
        12 => (s.clone(), n.clone(), prop_oneof![
                3 => Just(Profile::Approve),
                1 => Just(Profile::ReviewApprove),
                1 => Just(Profile::ReviewCancel),
            ])
            .prop_map(|(store, attempt, profile)| Action::Complete { store, attempt, profile }),
        2 => (s.clone(), n.clone()).prop_map(|(store, attempt)| Action::Return { store, attempt }),
        2 => (s.clone(), n.clone(), any::<bool>())
            .prop_map(|(store, cart, reuse)| Action::PayOtherwise { store, cart, reuse }),
        2 => (s.clone(), n.clone(), 0..METHODS.len())
            .prop_map(|(store, attempt, method)| Action::ComeBack { store, attempt, method }),
        1 => (s.clone(), prop_oneof![Just(40usize), Just(160)], any::<bool>(), any::<bool>())
            .prop_map(|(store, calls, real_ids, many)| Action::Flood { store, calls, real_ids, many }),
    ];
    let merchant = prop_oneof![
        4 => (s.clone(), n.clone()).prop_map(|(store, order)| Action::ShipAll { store, order }),
        4 => (s.clone(), n.clone()).prop_map(|(store, order)| Action::ShipOne { store, order }),
        1 => (s.clone(), n.clone()).prop_map(|(store, order)| Action::DeleteShipment { store, order }),
        2 => (s.clone(), n.clone(), 0usize..4, 1u64..5)
            .prop_map(|(store, order, line, quantity)| Action::EditQuantity { store, order, line, quantity }),
        2 => (s.clone(), n.clone(), 0..PRODUCTS.len())
            .prop_map(|(store, order, product)| Action::AddItem { store, order, product }),
        1 => (s.clone(), n.clone(), 0usize..4)
            .prop_map(|(store, order, line)| Action::RemoveItem { store, order, line }),
        1 => (s.clone(), n.clone(), any::<u8>())
            .prop_map(|(store, order, street)| Action::ChangeAddress { store, order, street }),
        3 => (s.clone(), n.clone()).prop_map(|(store, order)| Action::RefundOne { store, order }),
        1 => (s.clone(), n.clone()).prop_map(|(store, order)| Action::RefundShipping { store, order }),
        1 => (s.clone(), n.clone(), 1i64..3000)
            .prop_map(|(store, order, cents)| Action::RefundAmount { store, order, cents }),
        2 => (s.clone(), n.clone()).prop_map(|(store, order)| Action::Cancel { store, order }),
        1 => (s.clone(), n.clone()).prop_map(|(store, order)| Action::Archive { store, order }),
        1 => (s.clone(), n.clone(), 0..MANUAL_STATUSES.len())
            .prop_map(|(store, order, status)| Action::SetStatus { store, order, status }),
        1 => (s.clone(), 0..MAPPABLE.len(), 0..MAPPABLE.len(), 0..MAPPABLE.len())
            .prop_map(|(store, approved, review, cancelled)| Action::Mapping { store, approved, review, cancelled }),
        1 => s.clone().prop_map(|store| Action::RetryFromLog { store }),
        1 => s.clone().prop_map(|store| Action::Disconnect { store }),
        1 => s.clone().prop_map(|store| Action::Connect { store }),
        1 => s.clone().prop_map(|store| Action::Uninstall { store }),
        1 => s.clone().prop_map(|store| Action::Reinstall { store }),
        1 => s.clone().prop_map(|store| Action::ShareRef { store }),
        1 => (s.clone(), any::<bool>()).prop_map(|(store, on)| Action::SingleButton { store, on }),
    ];
    let services = prop_oneof![
        2 => (s.clone(), n.clone(), any::<bool>())
            .prop_map(|(store, attempt, concurrent)| Action::Redeliver { store, attempt, concurrent }),
        1 => (s.clone(), n.clone(), proptest::bool::weighted(0.6))
            .prop_map(|(store, order, on)| Action::RefuseUpdates { store, order, on }),
        2 => (s.clone(), 0..REMOTE_IPS.len(), proptest::option::of(0..PRODUCTS.len()), proptest::bool::weighted(0.3))
            .prop_map(|(store, ips, excluded, hosted)| Action::RemoteSettings { store, ips, excluded, hosted }),
        1 => any::<bool>().prop_map(|on| Action::Outage { on }),
        // Long enough for a crash or a second request to land during a call.
        1 => prop_oneof![Just(0u64), Just(5), Just(40)].prop_map(|ms| Action::SequraLatency { ms }),
        1 => (1usize..3).prop_map(|times| Action::WebhookDuplicates { times }),
        1 => (any::<bool>(), any::<bool>()).prop_map(|(on, reversed)| Action::HoldWebhooks { on, reversed }),
        1 => s.clone().prop_map(|store| Action::DeactivateHooks { store }),
        1 => (0usize..2, prop_oneof![Just(429u16), Just(500), Just(502), Just(503)], 1usize..4)
            .prop_map(|(method, status, times)| Action::BcFailures { method, status, times }),
        1 => Just(Action::Reconcile),
        1 => (s.clone(), n.clone()).prop_map(|(store, order)| Action::ReplayPlacement { store, order }),
        1 => prop_oneof![Just(1u64), Just(30)].prop_map(|secs| Action::DelayJobs { secs }),
        3 => Just(Action::Settle),
        // A retry's wait, a session's hour, a day.
        1 => prop_oneof![Just(90u64), Just(2 * 3600), Just(26 * 3600)]
            .prop_map(|secs| Action::ClockForward { secs }),
    ];
    let machine = prop_oneof![
        // At once, while a job runs, or once most of the work is done.
        Just(0u64),
        1u64..20,
        20u64..200
    ]
    .prop_map(|after_ms| Action::Crash { after_ms });
    if crash {
        prop_oneof![5 => shopper, 4 => merchant, 2 => services, 1 => machine].boxed()
    } else {
        prop_oneof![5 => shopper, 4 => merchant, 2 => services].boxed()
    }
}

/// A scenario: `max / 2` to `max` actions (shrinking goes below).
pub fn scenario(stores: usize, max: usize, crash: bool) -> impl Strategy<Value = Vec<Action>> {
    proptest::collection::vec(action(stores, crash), (max / 2).max(1)..=max.max(1))
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
            // What the app itself logs at warn (see `telemetry::directives`); `SIM_LOG=debug`
            // shows more when a failing case is replayed.
            .with_env_filter(sequra_bc::telemetry::directives(
                &std::env::var("SIM_LOG").unwrap_or_else(|_| "warn".into()),
            ))
            .with_ansi(false)
            .with_writer(|| ScenarioLog)
            .try_init();
    });
    SCENARIO_LOG.lock().unwrap().clear();
}

/// Lines of the scenario's log so far (the app's warnings in this process).
pub fn scenario_log_lines() -> usize {
    let log = SCENARIO_LOG.lock().unwrap();
    log.iter().filter(|b| **b == b'\n').count()
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
    let t = std::time::Instant::now();
    world.finish().await;
    if debug {
        eprintln!("{:>6} ms final settle", t.elapsed().as_millis());
    }
    let checked = check::check(&mut world).await.map_err(|e| {
        let served = world.served_log().map(|log| {
            let from = log.len().saturating_sub(3000);
            format!(
                "\n--- its own process's log ---\n{}",
                &log[log.floor_char_boundary(from)..]
            )
        });
        format!(
            "{e}\n--- the app's warnings ---\n{}{}",
            log_tail(),
            served.unwrap_or_default()
        )
    });
    let coverage = world.coverage.clone();
    let t = std::time::Instant::now();
    world.stop().await;
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

/// Whether scenario `seed` of a soak with this share of crash scenarios (0–1) is one:
/// decided by the seed alone, so a failure reproduces with `--scenarios 1`.
pub fn crashes(seed: u64, share: f64) -> bool {
    // SplitMix64's finaliser: neighbouring seeds spread over the range.
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64 <= share && share > 0.0
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

/// How many smaller scenarios a failure's shrinking tries: `SIM_SHRINK` (0 reports the
/// failing scenario as generated, at once), else 200.
fn shrink_iterations() -> u32 {
    std::env::var("SIM_SHRINK")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(200)
}

/// Scenario `seed`: generated from the seed alone (with crashes of the app's process among
/// its actions when `crash`), run, and on failure shrunk.
pub fn scenario_from_seed(
    seed: u64,
    stores: usize,
    max_actions: usize,
    crash: bool,
) -> Result<(), Failure> {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
    let config = Config {
        cases: 1,
        failure_persistence: None,
        max_shrink_iters: shrink_iterations(),
        // A shrink is many scenarios run again: bounded, so a failure in CI reports in time.
        max_shrink_time: 10 * 60 * 1000,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(config, rng);
    let result = runner.run(
        &scenario(stores, max_actions, crash),
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
