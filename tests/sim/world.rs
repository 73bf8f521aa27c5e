//! The world a scenario acts on: the real app on port 0 with both stand-ins, and several
//! stores, each with its own seQura account and merchant ref. Each action is done the way its
//! actor does it: shoppers and merchants through the stand-ins' and the app's pages, seQura
//! and BigCommerce through their stand-ins' controls.

use std::time::Duration;

use serde_json::Value;

use sequra_bc_sandbox::bigcommerce::{RefundSpec, User};
use sequra_bc_sandbox::sequra::{AccountSpec, MerchantSpec};

use sequra_bc::db::jobs::Waiting;

use super::helpers::{self, TestApp, session_of, spawn_app_in};
use super::{Action, Coverage, MANUAL_STATUSES, MAPPABLE, METHODS, PRODUCTS, REMOTE_IPS};

/// BigCommerce's Incomplete and Cancelled statuses.
pub const INCOMPLETE: u64 = 0;
pub const CANCELLED: u32 = 5;
const SIM_PASSWORD: &str = "sim-password";

/// One payment attempt a shopper started.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub order_id: u64,
    /// The BigCommerce checkout (cart) it pays.
    pub checkout: String,
    pub uuid: String,
    pub method: &'static str,
}

/// What the merchant has mapped each seQura status to, at one time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping {
    pub approved: Option<u32>,
    pub review: Option<u32>,
    pub cancelled: Option<u32>,
}

/// The app's defaults (the mapping page's first view).
const DEFAULT_MAPPING: Mapping = Mapping {
    approved: Some(11),
    review: Some(12),
    cancelled: Some(5),
};

/// Everything one store's actors have made so far.
pub struct StoreSim {
    pub hash: String,
    pub owner: User,
    /// The owner's session on the app's pages (renewed by each install).
    pub session: String,
    /// The store's own seQura account and merchant ref.
    pub username: String,
    pub merchant_ref: String,
    pub carts: Vec<String>,
    pub attempts: Vec<Attempt>,
    /// Every mapping the merchant saved, the defaults first.
    pub mappings: Vec<Mapping>,
    pub connected: bool,
    pub installed: bool,
    /// Orders the store's shoppers paid with another method (not seQura's business).
    pub paid_otherwise: Vec<u64>,
    /// Of those, the ones the merchant cancelled before seQura had an approval of their cart
    /// acknowledged: no payment any more (the app then lets seQura's approval of the cart
    /// through, as the orders list does; see `checkout::other_payment`).
    pub withdrawn_otherwise: Vec<u64>,
    /// The checkout shows the single seQura button (issue 32): shoppers start `tbs`.
    pub single: bool,
    /// What seQura last set through the configuration webhook (settings outlive a
    /// disconnect and an uninstall).
    pub remote: Remote,
}

/// The general settings seQura set through a store's configuration webhook (issue 32).
#[derive(Debug, Clone, Default)]
pub struct Remote {
    /// The addresses (or IPv4 networks) that may see seQura; empty: every address.
    pub ips: Vec<String>,
    /// A product excluded from seQura.
    pub excluded: Option<u64>,
}

impl Remote {
    /// Whether seQura may be offered to a shopper at `ip` (IPv4) paying for `products`.
    fn allows(&self, ip: &str, products: &[u64]) -> bool {
        let v4 = |a: &str| a.parse::<std::net::Ipv4Addr>().map(u32::from).ok();
        let within = |range: &String| {
            let (net, bits) = range.split_once('/').unwrap_or((range, "32"));
            let bits: u32 = bits.parse().unwrap_or(32);
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            matches!((v4(net), v4(ip)), (Some(n), Some(a)) if n & mask == a & mask)
        };
        (self.ips.is_empty() || self.ips.iter().any(within))
            && !self.excluded.is_some_and(|p| products.contains(&p))
    }
}

/// The address of a store's cart's shopper, behind the proxy the app trusts (each cart's
/// shopper has one of their own).
fn shopper_ip(store: usize, cart: usize) -> String {
    format!("10.{store}.{}.{}", cart / 250, cart % 250 + 1)
}

/// Counts of what the services had received from the app when it was killed: from (at the
/// kill) and to (just before the next process started; requests the killed process had sent
/// may still have been taken in meanwhile).
pub struct CrashMark {
    /// Updates each seQura order (by uuid) had received.
    pub updates: std::collections::HashMap<String, (usize, usize)>,
    /// Requests BigCommerce had received (its request log's length).
    pub requests: usize,
}

impl CrashMark {
    fn now(app: &TestApp) -> Self {
        CrashMark {
            updates: app
                .sequra
                .orders()
                .into_iter()
                .map(|o| (o.uuid.clone(), (o.updates.len(), o.updates.len())))
                .collect(),
            requests: app.bc.requests().len(),
        }
    }

    fn until(mut self, later: CrashMark) -> Self {
        for (uuid, (_, to)) in later.updates {
            self.updates.entry(uuid).or_insert((to, to)).1 = to;
        }
        self.requests = later.requests;
        self
    }

    /// Whether the killed process may have sent the `n`-th update of `uuid` (1-based) last.
    pub fn after_update(&self, uuid: &str, n: usize) -> bool {
        self.updates
            .get(uuid)
            .is_some_and(|(from, to)| (*from..=*to).contains(&n))
    }
}

pub struct World {
    pub app: TestApp,
    pub stores: Vec<StoreSim>,
    pub coverage: Coverage,
    /// Every 5xx the app answered the simulator or seQura's notifications outside an outage.
    pub server_errors: Vec<String>,
    /// BigCommerce order writes failed on purpose (each is written again).
    pub injected_put_failures: usize,
    /// What the services had received when each crash killed the app: an effect the killed
    /// app had made but not yet recorded is made again after the restart (seQura has no way
    /// to read an order back first), and only such a repeat is allowed.
    pub crash_marks: Vec<CrashMark>,
    /// The last start's answer (its status, and its body when it was refused).
    last_start: Option<String>,
    /// The notifications the simulator delivered again itself (seQura's stand-in knows only
    /// its own), with the app's answers: they acknowledge outcomes as seQura's do.
    pub redelivered: Vec<(String, sequra_bc_sandbox::sequra::Notification)>,
    /// Per uninstall, the store and how many requests BigCommerce had received then: a write
    /// of the app's in flight then is refused (its token revoked) and made again after the
    /// reinstall.
    pub uninstall_marks: Vec<(usize, usize)>,
    /// A wait for the queue to settle ran out of (real) time.
    pub gave_up_settling: std::sync::atomic::AtomicBool,
    outage: bool,
    held: bool,
    customers: u64,
    /// The app's own process, after the scenario's first crash.
    served: Option<Served>,
    /// BigCommerce failures set on purpose were pending when the current action began, or a
    /// 429 was answered within BigCommerce's rate-limit window (30 s: the app holds back
    /// shoppers' calls that long after a 429 without headers).
    bc_failing: bool,
    /// When the last 429 was set, then when it was found answered: the app's window starts at
    /// the answer, which may come long after (the next sweep's read).
    throttled_at: Option<std::time::Instant>, // on the app's clock (`sequra_bc::clock::instant`)
    /// Failures set on purpose were still pending when the last action began.
    failures_pending: bool,
    /// Per store, until when its real checkout ids' limits may be spent by a flood.
    real_ids_flooded: Vec<Option<std::time::Instant>>,
    floods: u64,
    /// What broke a rule outside the money: a flood logged too much, a second store took a
    /// merchant ref, an honest shopper was refused during a flood.
    pub other_failures: Vec<String>,
}

/// The most lines the app may log for one flood, whatever its size (summaries and the
/// requests' own access lines at debug; the served process logs at info).
const FLOOD_LOG_LINES: usize = 12;
/// The address of the proxy the app trusts (every simulated shopper comes through it).
const PROXY: &str = "127.0.0.1, ::1";

/// Job retries as fast as the in-process app's (base, max ms).
const RETRY_MS: (u64, u64) = (20, 200);
/// The most time a settle makes pass: BigCommerce's rate window with room to spare, a
/// webhook's first retries; never the hours after which the queue gives a job up.
const SETTLE_REACH: Duration = Duration::from_secs(15 * 60);

/// `sequra-bc serve` on the in-process app's address and data; killed when dropped.
struct Served {
    child: std::process::Child,
    log: std::path::PathBuf,
    /// The file its clock follows (`sequra_bc::clock::FILE_ENV`).
    clock: std::path::PathBuf,
}

impl Served {
    /// Its clock moves to this process's (and its queue looks again); returns once it has.
    fn follow_clock(&self) {
        let ms = sequra_bc::clock::ahead_ms().to_string();
        let mut seen = self.clock.clone().into_os_string();
        seen.push(".seen");
        let _ = std::fs::remove_file(&seen);
        std::fs::write(&self.clock, &ms).unwrap();
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) with a live child's pid and a signal number; no memory is shared.
        unsafe {
            libc::kill(pid, libc::SIGUSR1);
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::fs::read_to_string(&seen).ok().as_deref() != Some(ms.as_str()) {
            assert!(
                std::time::Instant::now() < deadline,
                "the app's process did not follow the clock"
            );
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The app's executable: in `cargo test`, the binary; in the soak command (an example, which
/// cargo gives no binary path), the command itself, which runs the app's command line when
/// `SEQURA_BC_SIM_AS_APP` is set.
fn app_command() -> std::process::Command {
    match option_env!("CARGO_BIN_EXE_sequra-bc") {
        Some(bin) => helpers::app_binary(bin),
        None => {
            let me = std::env::current_exe().unwrap();
            let mut cmd = helpers::app_binary(me.to_str().unwrap());
            cmd.env("SEQURA_BC_SIM_AS_APP", "1");
            cmd
        }
    }
}

/// A file system in memory for the scenario's data, where the machine has one (Linux's
/// `/dev/shm`): a scenario's commits then cost no disk flush. SIGKILL loses nothing either way.
fn in_memory() -> Option<&'static std::path::Path> {
    // Looked at once a process, not once a scenario.
    static WRITABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let shm = std::path::Path::new("/dev/shm");
    let writable = *WRITABLE.get_or_init(|| shm.is_dir() && tempfile::tempdir_in(shm).is_ok());
    writable.then_some(shm)
}

/// Whether this machine can listen on IPv6 (and IPv4 through the same socket).
fn dual_stack() -> bool {
    static DUAL: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *DUAL.get_or_init(|| std::net::TcpListener::bind("[::]:0").is_ok())
}

fn pick<T>(items: &[T], i: usize) -> Option<&T> {
    (!items.is_empty()).then(|| &items[i % items.len()])
}

fn debug() -> bool {
    std::env::var_os("SIM_DEBUG").is_some()
}

impl World {
    pub async fn new(stores: usize) -> World {
        let app = spawn_app_in(in_memory(), |s| {
            (s.jobs.retry_base_ms, s.jobs.retry_max_ms) = RETRY_MS;
            s.server.trusted_proxies = PROXY.into();
        })
        .await;
        let mut sims = Vec::new();
        for i in 0..stores {
            let hash = format!("sim{i}");
            let username = format!("sim{i}_user");
            let merchant_ref = format!("sim{i}_es");
            app.sequra.add_account(AccountSpec {
                environment: "sandbox".into(),
                username: username.clone(),
                password: SIM_PASSWORD.into(),
                merchants: vec![MerchantSpec::new(&merchant_ref, "ES")],
            });
            let (owner, html) = app.installed_store(&hash).await;
            let mut s = StoreSim {
                hash,
                owner,
                session: session_of(&html),
                username,
                merchant_ref,
                carts: Vec::new(),
                attempts: Vec::new(),
                mappings: vec![DEFAULT_MAPPING],
                connected: false,
                installed: true,
                paid_otherwise: Vec::new(),
                withdrawn_otherwise: Vec::new(),
                single: false,
                remote: Remote::default(),
            };
            assert!(connect(&app, &mut s).await, "store {i} connects");
            let resp = app
                .post_form(
                    "/app/countries",
                    &s.session,
                    &[("country", "ES"), ("ref_ES", s.merchant_ref.as_str())],
                )
                .await;
            assert_eq!(resp.status(), 303, "countries of {}", s.hash);
            sims.push(s);
        }
        World {
            app,
            stores: sims,
            coverage: Coverage::default(),
            server_errors: Vec::new(),
            injected_put_failures: 0,
            crash_marks: Vec::new(),
            last_start: None,
            gave_up_settling: Default::default(),
            redelivered: Vec::new(),
            uninstall_marks: Vec::new(),
            outage: false,
            held: false,
            customers: 0,
            served: None,
            bc_failing: false,
            throttled_at: None,
            failures_pending: false,
            real_ids_flooded: vec![None; stores],
            floods: 0,
            other_failures: Vec::new(),
        }
    }

    /// `after_ms` from now, SIGKILL, whatever the app is doing; then the app starts again on
    /// the same data and address. The first crash moves the app into a process of its own.
    async fn crash(&mut self, after_ms: u64) {
        if self.served.is_none() {
            self.app.halt().await;
            self.served = Some(self.serve().await);
        }
        tokio::time::sleep(Duration::from_millis(after_ms)).await;
        if let Some(mut served) = self.served.take() {
            served.child.kill().unwrap(); // SIGKILL
            served.child.wait().unwrap();
        }
        // What the killed process had sent may still be being taken in by the services:
        // anything they take in before the next process starts was the killed one's.
        let at_kill = CrashMark::now(&self.app);
        tokio::time::sleep(Duration::from_millis(10)).await;
        self.crash_marks
            .push(at_kill.until(CrashMark::now(&self.app)));
        self.served = Some(self.serve().await);
        if dual_stack() {
            self.coverage.act("listen_on_ipv6_behind_proxy");
        }
    }

    /// Time passes at once for the app and both services. The app's own process (after a
    /// crash) is started again with its clock as far ahead. Merchants whose session expired
    /// open the app again from the control panel.
    async fn clock_forward(&mut self, by: Duration) {
        let before = sequra_bc::clock::ahead_ms();
        sequra_bc::clock::advance(by);
        // The app's clock stops at ten years ahead, the services' would not: past it, every
        // date would disagree and every check after it would fail for nothing.
        assert_eq!(
            sequra_bc::clock::ahead_ms() - before,
            by.as_millis() as i64,
            "the app's clock reached its ten-year bound: run the soak as several processes \
             (fewer --scenarios each)"
        );
        sequra_bc_sandbox::clock::advance(by);
        if let Some(served) = &self.served {
            served.follow_clock();
        }
        for i in 0..self.stores.len() {
            if self.stores[i].installed {
                self.reopen(i).await;
            }
        }
    }

    /// The merchant opens the app from the control panel (a new session).
    async fn reopen(&mut self, store: usize) {
        let s = &self.stores[store];
        let url = self.app.bc.load_url(&s.hash, &s.owner, "/");
        let resp = self.app.http.get(url).send().await.unwrap();
        let status = resp.status().as_u16();
        self.answered(format!("app opened in {}", s.hash), status);
        let html = resp.text().await.unwrap_or_default();
        if status == 200 {
            self.stores[store].session = session_of(&html);
        } else if debug() {
            eprintln!("app opened in {}: {status} {html}", self.stores[store].hash);
        }
    }

    /// Starts `sequra-bc serve` and waits until it listens.
    async fn serve(&self) -> Served {
        let data = self.app.data_path();
        let log = data.join("serve.log");
        let clock = data.join("clock-ahead-ms");
        let mut program = app_command();
        // The clock as far ahead as the scenario moved it, and following it from then on.
        program.env(
            sequra_bc::clock::AHEAD_ENV,
            sequra_bc::clock::ahead_ms().to_string(),
        );
        program.env(sequra_bc::clock::FILE_ENV, &clock);
        program.env("SEQURA_BC_SERVER__TRUSTED_PROXIES", PROXY);
        // The app's own process listens on every IPv6 and IPv4 address where the machine
        // has IPv6: the proxy's 127.0.0.1 then arrives as ::ffff:127.0.0.1, and must still be
        // the trusted proxy whose X-Forwarded-For names the shopper (issue 31 §1.4; start
        // checks seQura got the shopper's address).
        let port = self.app.address.rsplit(':').next().unwrap_or_default();
        if dual_stack() {
            program.env("SEQURA_BC_SERVER__LISTEN", format!("[::]:{port}"));
        }
        let mut child = helpers::serve(
            program,
            data,
            &self.app.address,
            &self.app.bc,
            &self.app.sequra,
            RETRY_MS,
            &log,
        );
        let listen = self.app.address.trim_start_matches("http://").to_string();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "serve exited {status}: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            if tokio::net::TcpStream::connect(&listen).await.is_ok() {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "serve did not listen");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Served { child, log, clock }
    }

    /// The app's own process's log, when it has one.
    pub fn served_log(&self) -> Option<String> {
        let served = self.served.as_ref()?;
        std::fs::read_to_string(&served.log).ok()
    }

    /// Stops the app, whichever process it is in.
    pub async fn stop(self) {
        let World { app, served, .. } = self;
        drop(served);
        app.stop().await;
    }

    /// The store's orders placed so far (not Incomplete), by id.
    pub fn placed(&self, store: usize) -> Vec<u64> {
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

    fn order(&self, store: usize, i: usize) -> Option<(String, u64)> {
        let id = pick(&self.placed(store), i).copied()?;
        Some((self.stores[store].hash.clone(), id))
    }

    /// Whether seQura holds an approval the app acknowledged of an order of `id`'s cart.
    fn sequra_holds_a_sale_of_the_cart_of(&self, store: usize, id: u64) -> bool {
        let hash = &self.stores[store].hash;
        let cart_of = |o: u64| {
            self.app
                .bc
                .order(hash, o)
                .and_then(|v| v["cart_id"].as_str().map(str::to_owned))
        };
        let Some(cart) = cart_of(id) else {
            return false;
        };
        let attempts = &self.stores[store].attempts;
        self.app.sequra.orders().iter().any(|o| {
            attempts.iter().any(|a| a.uuid == o.uuid)
                && super::check::acknowledged(o, "approved")
                && o.state != "cancelled"
                && super::check::order_of(o).and_then(cart_of).as_deref() == Some(cart.as_str())
        })
    }

    /// The `i`-th product line of an order.
    fn line(&self, hash: &str, order: u64, i: usize) -> Option<u64> {
        pick(&self.app.bc.order_products(hash, order), i).and_then(|l| l["id"].as_u64())
    }

    /// A 5xx the scenario did not call for is a failure.
    fn answered(&mut self, what: String, status: u16) {
        // While BigCommerce fails on purpose, a request that needed it may say so (502, 503
        // with Retry-After); never a 500.
        let upstream = self.bc_failing && matches!(status, 502 | 503);
        if status >= 500 && !self.outage && !upstream {
            self.server_errors.push(format!("{what}: {status}"));
        }
    }

    /// As [`Self::answered`], with a 503 allowed when `waiting`: an approval of a cart gone
    /// while BigCommerce's webhooks are held may wait for the one that says why it went
    /// (`store/cart/converted`, or none for a cart the shopper emptied).
    fn answered_waiting(&mut self, what: String, status: u16, waiting: bool) {
        if !(waiting && status == 503) {
            self.answered(what, status);
        }
    }

    /// Whether a notification about `checkout` may find its cart gone with BigCommerce's
    /// webhooks held or still on their way (the one that says why it went may not have come).
    fn waiting_for_webhooks(&self, store: usize, checkout: &str) -> bool {
        (self.held || self.app.bc.pending_webhooks() > 0)
            && self
                .app
                .bc
                .checkout(&self.stores[store].hash, checkout)
                .is_none()
    }

    pub async fn act(&mut self, action: &Action) {
        let window = Duration::from_secs(31);
        let pending = self.app.bc.pending_failures() > 0;
        if self.failures_pending && !pending && self.throttled_at.is_some() {
            // Answered during the last action, at the latest now.
            self.throttled_at = Some(sequra_bc::clock::instant());
        }
        self.failures_pending = pending;
        self.bc_failing = pending
            || self
                .throttled_at
                .is_some_and(|t| sequra_bc::clock::instant().saturating_duration_since(t) < window);
        let did = self.apply(action).await;
        if did {
            self.coverage.act(action.name());
        }
    }

    /// Does the action; `false` when it found nothing to act on or was refused.
    async fn apply(&mut self, action: &Action) -> bool {
        let bc = self.app.bc.clone();
        match action {
            Action::Cart {
                store,
                items,
                credit,
            } => {
                let items: Vec<(u64, u64)> =
                    items.iter().map(|(p, q)| (PRODUCTS[*p], *q)).collect();
                let hash = self.stores[*store].hash.clone();
                let id = bc.create_checkout(&hash, &items, "ES");
                if *credit {
                    self.customers += 1;
                    let email = format!("shopper{}@example.com", self.customers);
                    let customer = bc.add_customer(&hash, "Sim Shopper", &email, 1500);
                    bc.attach_customer(&hash, &id, customer);
                    bc.apply_store_credit(&hash, &id);
                }
                self.stores[*store].carts.push(id);
                true
            }
            Action::ChangeCart {
                store,
                cart,
                product,
            } => {
                let s = &self.stores[*store];
                let Some(checkout) = pick(&s.carts, *cart) else {
                    return false;
                };
                bc.add_to_checkout(&s.hash, checkout, PRODUCTS[*product], 1)
            }
            Action::Start {
                store,
                cart,
                method,
            } => self.start(*store, *cart, *method).await,
            Action::Purchase {
                store,
                items,
                method,
                profile,
            } => self.purchase(*store, items, *method, *profile).await,
            Action::Complete {
                store,
                attempt,
                profile,
            } => {
                let Some(a) = pick(&self.stores[*store].attempts, *attempt).cloned() else {
                    return false;
                };
                let waiting = self.waiting_for_webhooks(*store, &a.checkout);
                match self
                    .app
                    .sequra
                    // A single-button attempt: the shopper picks pay later (offered for any
                    // amount) in seQura's `tbs` form.
                    .complete_form(
                        &a.uuid,
                        if a.method == "tbs" { "i1" } else { a.method },
                        None,
                        profile.shopper(),
                    )
                    .await
                {
                    Ok(outcome) => {
                        for (kind, state, status) in &outcome.deliveries {
                            // During a seQura outage the app cannot check a notification
                            // with seQura, and says so with a 503.
                            let what = format!("{kind} {state} of {}", a.uuid);
                            self.answered_waiting(what, *status, waiting);
                        }
                        true
                    }
                    // Already completed, or not awaiting the form: the stand-in refuses.
                    Err(_) => false,
                }
            }
            Action::ComeBack {
                store,
                attempt,
                method,
            } => self.come_back(*store, *attempt, *method).await,
            Action::Return { store, attempt } => {
                let Some(a) = pick(&self.stores[*store].attempts, *attempt).cloned() else {
                    return false;
                };
                let Some(url) = self.app.sequra.order(&a.uuid).and_then(|o| {
                    o.solicited["merchant"]["return_url"]
                        .as_str()
                        .map(str::to_owned)
                }) else {
                    return false;
                };
                let status = self.app.get(&url).await.status().as_u16();
                self.answered(format!("return of {}", a.uuid), status);
                true
            }
            Action::Redeliver {
                store,
                attempt,
                concurrent,
            } => {
                let Some(a) = pick(&self.stores[*store].attempts, *attempt).cloned() else {
                    return false;
                };
                let Some(last) = self
                    .app
                    .sequra
                    .order(&a.uuid)
                    .and_then(|o| o.notifications.into_iter().rfind(|n| n.kind == "ipn"))
                else {
                    return false;
                };
                let post = || async {
                    self.app
                        .http
                        .post(&last.url)
                        .form(&last.fields)
                        .send()
                        .await
                        .map(|r| r.status().as_u16())
                        .unwrap_or(0)
                };
                let waiting = self.waiting_for_webhooks(*store, &a.checkout);
                let statuses = if *concurrent {
                    let (a, b) = tokio::join!(post(), post());
                    vec![a, b]
                } else {
                    vec![post().await]
                };
                for status in statuses {
                    self.answered_waiting(
                        format!("redelivered ipn {} of {}", last.state, a.uuid),
                        status,
                        waiting,
                    );
                    let mut n = last.clone();
                    n.status = status;
                    self.redelivered.push((a.uuid.clone(), n));
                }
                true
            }
            Action::PayOtherwise { store, cart, reuse } => {
                let s = &self.stores[*store];
                // Half the time the tab is one whose cart has a seQura form open or in review
                // (the race that matters); otherwise any cart.
                let open: Vec<String> = s
                    .attempts
                    .iter()
                    .filter(|a| {
                        bc.checkout(&s.hash, &a.checkout).is_some()
                            && self.app.sequra.order(&a.uuid).is_some_and(|o| {
                                matches!(o.state.as_str(), "solicited" | "on_hold")
                            })
                    })
                    .map(|a| a.checkout.clone())
                    .collect();
                let Some(checkout) = pick(&open, *cart / 2)
                    .filter(|_| *cart % 2 == 0)
                    .or_else(|| pick(&s.carts, *cart))
                else {
                    return false;
                };
                bc.set_checkout_reuses_incomplete_order(*reuse);
                let paid = bc.pay_checkout_otherwise(&s.hash, checkout);
                if debug() {
                    eprintln!("pay otherwise {checkout}: {paid:?}");
                }
                bc.set_checkout_reuses_incomplete_order(false);
                let Some(order) = paid else {
                    return false;
                };
                self.stores[*store].paid_otherwise.push(order);
                true
            }
            Action::Flood {
                store,
                calls,
                real_ids,
                many,
            } => self.flood(*store, *calls, *real_ids, *many).await,
            Action::ShareRef { store } => self.share_ref(*store).await,
            Action::RemoteSettings {
                store,
                ips,
                excluded,
                hosted,
            } => self.remote_settings(*store, *ips, *excluded, *hosted).await,
            Action::SingleButton { store, on } => {
                let s = &self.stores[*store];
                if !s.installed {
                    return false;
                }
                let mut fields = vec![("layout", "1")];
                if *on {
                    fields.push(("single_button", "on"));
                }
                let resp = self
                    .app
                    .post_form("/app/methods/settings", &s.session, &fields)
                    .await;
                let status = resp.status().as_u16();
                self.answered("single button setting".into(), status);
                if status == 303 {
                    self.stores[*store].single = *on;
                }
                true
            }
            Action::ReplayPlacement { store, order } => {
                let Some((hash, id)) = self.order(*store, *order) else {
                    return false;
                };
                self.replay_placement(&hash, id)
            }
            Action::DelayJobs { secs } => {
                let ms = (*secs * 1000) as i64;
                let delayed = self.app.state.db.call_blocking(move |c| {
                    Ok(c.execute(
                        "UPDATE jobs SET run_at = run_at + ?1 WHERE state = 'pending'",
                        [ms],
                    )?)
                });
                delayed.is_ok_and(|n| n > 0)
            }
            Action::ShipAll { store, order } => {
                let Some((hash, id)) = self.order(*store, *order) else {
                    return false;
                };
                bc.ship_all(&hash, id).is_some()
            }
            Action::ShipOne { store, order } => {
                let Some((hash, id)) = self.order(*store, *order) else {
                    return false;
                };
                let line = bc.order_products(&hash, id).into_iter().find(|l| {
                    l["type"].as_str() != Some("digital")
                        && l["quantity"].as_u64().unwrap_or(0)
                            > l["quantity_shipped"].as_u64().unwrap_or(0)
                });
                match line.and_then(|l| l["id"].as_u64()) {
                    Some(line) => bc.ship_items(&hash, id, &[(line, 1)]).is_some(),
                    None => false,
                }
            }
            Action::DeleteShipment { store, order } => {
                let Some((hash, id)) = self.order(*store, *order) else {
                    return false;
                };
                let last = bc
                    .order_shipments(&hash, id)
                    .iter()
                    .filter_map(|s| s["id"].as_u64())
                    .max();
                last.is_some_and(|shipment| bc.delete_shipment(&hash, id, shipment))
            }
            Action::EditQuantity {
                store,
                order,
                line,
                quantity,
            } => {
                let Some((hash, id)) = self.order(*store, *order) else {
                    return false;
                };
                let lines = bc.order_products(&hash, id).len();
                lines > 0 && bc.set_order_product_quantity(&hash, id, line % lines, *quantity)
            }
            Action::AddItem {
                store,
                order,
                product,
            } => {
                let Some((hash, id)) = self.order(*store, *order) else {
                    return false;
                };
                bc.add_order_product(&hash, id, PRODUCTS[*product], 1)
                    .is_some()
            }
            Action::RemoveItem { store, order, line } => {
                let Some((hash, id)) = self.order(*store, *order) else {
                    return false;
                };
                let Some(line) = self.line(&hash, id, *line) else {
                    return false;
                };
                bc.remove_order_product(&hash, id, line)
            }
            Action::ChangeAddress {
                store,
                order,
                street,
            } => {
                let Some((hash, id)) = self.order(*store, *order) else {
                    return false;
                };
                bc.set_order_shipping_street(&hash, id, &format!("Calle Simulada {street}"))
            }
            Action::RefundOne { store, order } => {
                let Some((hash, id)) = self.order(*store, *order) else {
                    return false;
                };
                let line = bc.order_products(&hash, id).into_iter().find(|l| {
                    l["quantity"].as_u64().unwrap_or(0)
                        > l["quantity_refunded"].as_u64().unwrap_or(0)
                });
                match line.and_then(|l| l["id"].as_u64()) {
                    Some(line) => self.refund(
                        &hash,
                        id,
                        RefundSpec {
                            items: vec![(line, 1)],
                            ..RefundSpec::default()
                        },
                    ),
                    None => false,
                }
            }
            Action::RefundShipping { store, order } => {
                let Some((hash, id)) = self.order(*store, *order) else {
                    return false;
                };
                let Some(cost) = bc
                    .order(&hash, id)
                    .map(|o| super::check::cents(&o["shipping_cost_inc_tax"]))
                    .filter(|c| *c > 0)
                else {
                    return false;
                };
                self.refund(
                    &hash,
                    id,
                    RefundSpec {
                        shipping_cents: cost,
                        ..RefundSpec::default()
                    },
                )
            }
            Action::RefundAmount {
                store,
                order,
                cents,
            } => {
                let Some((hash, id)) = self.order(*store, *order) else {
                    return false;
                };
                self.refund(
                    &hash,
                    id,
                    RefundSpec {
                        order_cents: *cents,
                        ..RefundSpec::default()
                    },
                )
            }
            Action::Cancel { store, order } => {
                let Some((hash, id)) = self.order(*store, *order) else {
                    return false;
                };
                let withdrawn = self.stores[*store].paid_otherwise.contains(&id)
                    && !self.sequra_holds_a_sale_of_the_cart_of(*store, id);
                let done = bc.set_order_status(&hash, id, CANCELLED);
                if done && withdrawn {
                    self.stores[*store].withdrawn_otherwise.push(id);
                }
                done
            }
            Action::Archive { store, order } => {
                let Some((hash, id)) = self.order(*store, *order) else {
                    return false;
                };
                bc.archive_order(&hash, id)
            }
            Action::SetStatus {
                store,
                order,
                status,
            } => {
                let Some((hash, id)) = self.order(*store, *order) else {
                    return false;
                };
                bc.set_order_status(&hash, id, MANUAL_STATUSES[*status])
            }
            Action::Mapping {
                store,
                approved,
                review,
                cancelled,
            } => {
                let mapping = Mapping {
                    approved: MAPPABLE[*approved],
                    review: MAPPABLE[*review],
                    cancelled: MAPPABLE[*cancelled].map(|_| CANCELLED),
                };
                let value = |v: Option<u32>| v.map_or("none".to_string(), |id| id.to_string());
                let s = &self.stores[*store];
                if !s.installed {
                    return false;
                }
                let resp = self
                    .app
                    .post_form(
                        "/app/order-status",
                        &s.session,
                        &[
                            ("approved", &value(mapping.approved)),
                            ("needs_review", &value(mapping.review)),
                            ("cancelled", &value(mapping.cancelled)),
                        ],
                    )
                    .await;
                let status = resp.status().as_u16();
                self.answered("order-status mapping".into(), status);
                if status == 303 {
                    self.stores[*store].mappings.push(mapping);
                }
                status == 303
            }
            Action::RetryFromLog { store } => self.retry_from_log(*store).await,
            Action::Disconnect { store } => {
                let s = &self.stores[*store];
                if !s.installed || !s.connected {
                    return false;
                }
                let resp = self
                    .app
                    .post_form("/app/disconnect", &s.session, &[("confirm", "yes")])
                    .await;
                let status = resp.status().as_u16();
                self.answered("disconnect".into(), status);
                if status == 303 {
                    self.stores[*store].connected = false;
                }
                status == 303
            }
            Action::Connect { store } => {
                let s = &mut self.stores[*store];
                if !s.installed || s.connected || self.outage {
                    return false;
                }
                connect(&self.app, s).await
            }
            Action::Uninstall { store } => {
                let s = &mut self.stores[*store];
                if !s.installed {
                    return false;
                }
                let status = bc.uninstall(&s.hash).await.unwrap_or(0);
                s.installed = false;
                s.connected = false;
                self.answered("uninstall".into(), status);
                self.uninstall_marks.push((*store, bc.requests().len()));
                true
            }
            Action::Reinstall { store } => {
                if self.outage {
                    return false;
                }
                self.reinstall(*store).await
            }
            Action::RefuseUpdates { store, order, on } => {
                let Some((_, id)) = self.order(*store, *order) else {
                    return false;
                };
                if *on {
                    self.app.sequra.refuse_updates(
                        &id.to_string(),
                        "The order cannot be changed now (simulated refusal)",
                    );
                } else {
                    self.app.sequra.accept_updates(&id.to_string());
                }
                true
            }
            Action::Outage { on } => {
                self.outage = *on;
                self.app.sequra.set_outage(*on);
                true
            }
            Action::SequraLatency { ms } => {
                self.app.sequra.set_latency(Duration::from_millis(*ms));
                true
            }
            Action::WebhookDuplicates { times } => {
                bc.set_webhook_duplicates(*times);
                true
            }
            Action::HoldWebhooks { on, reversed } => {
                if *on {
                    bc.hold_webhooks(true);
                } else if *reversed {
                    bc.release_webhooks_reversed();
                } else {
                    bc.hold_webhooks(false);
                }
                self.held = *on;
                true
            }
            Action::DeactivateHooks { store } => {
                let hash = &self.stores[*store].hash;
                let ids: Vec<u64> = bc
                    .webhooks(hash)
                    .iter()
                    .filter_map(|h| h["id"].as_u64())
                    .collect();
                for id in &ids {
                    bc.deactivate_webhook(hash, *id);
                }
                !ids.is_empty()
            }
            Action::BcFailures {
                method,
                status,
                times,
            } => {
                let method = ["GET", "PUT"][*method];
                if method == "PUT" {
                    self.injected_put_failures += times;
                }
                if *status == 429 {
                    self.throttled_at = Some(sequra_bc::clock::instant());
                    bc.overload_next(method, "/v2/orders", *times);
                } else {
                    bc.fail_next(method, "/v2/orders", *status, *times);
                }
                true
            }
            Action::Reconcile => {
                self.sweep().await;
                true
            }
            Action::Crash { after_ms } => {
                self.crash(*after_ms).await;
                true
            }
            Action::ClockForward { secs } => {
                self.clock_forward(Duration::from_secs(*secs)).await;
                true
            }
            Action::Settle => {
                if self.outage {
                    // Jobs for seQura cannot drain while it is down: only the webhooks arrive.
                    self.webhooks_settled().await;
                } else {
                    self.settle().await;
                }
                true
            }
        }
    }

    async fn start(&mut self, store: usize, cart: usize, method: usize) -> bool {
        let s = &self.stores[store];
        let Some(checkout) = pick(&s.carts, cart).cloned() else {
            return false;
        };
        let hash = s.hash.clone();
        // The button the checkout shows: the single one, or the method's own.
        let product = if s.single { "tbs" } else { METHODS[method] };
        let shopper = shopper_ip(store, cart % s.carts.len());
        // seQura's settings, as last answered, may keep it from this shopper or this cart.
        let products = self.cart_products(store, &checkout);
        let allowed = s.remote.allows(&shopper, &products);
        let resp = self
            .app
            .http
            .post(format!("{}/checkout/{hash}/start", self.app.address))
            .header("x-forwarded-for", &shopper)
            .json(&serde_json::json!({ "checkoutId": checkout, "product": product }))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        self.answered(format!("start {checkout}"), status);
        self.last_start = Some(format!("{status}"));
        // A flood with this store's real checkout ids spends their own limits (by design: a
        // checkout's calls are bounded whoever makes them); any other 429 is a failure.
        let flooded = self.real_ids_flooded[store].is_some_and(|t| sequra_bc::clock::instant() < t);
        if status == 429 && !flooded {
            self.other_failures.push(format!(
                "an honest shopper's start of {checkout} was refused 429"
            ));
        }
        if status != 200 {
            let body = resp.text().await.unwrap_or_default();
            if debug() {
                eprintln!("start {checkout}: {status} {body}");
            }
            if !allowed {
                self.coverage
                    .act("start_kept_from_shopper_by_sequras_settings");
            }
            self.last_start = Some(format!("{status} {body}"));
            return false;
        }
        let body: Value = resp.json().await.unwrap();
        let Some(order_id) = body["order_id"].as_u64() else {
            if debug() {
                eprintln!("start {checkout}: 200 without an order id: {body}");
            }
            return false;
        };
        // The attempt's seQura order: the newest one of the store's merchant solicited for
        // this order id and not yet an attempt (starts run one at a time).
        let merchant = self.stores[store].merchant_ref.clone();
        let known = |uuid: &str| {
            self.stores
                .iter()
                .any(|s| s.attempts.iter().any(|a| a.uuid == uuid))
        };
        let uuid = self
            .app
            .sequra
            .orders()
            .into_iter()
            .rfind(|o| {
                o.merchant_ref == merchant
                    && o.solicited["merchant_reference"]["order_ref_1"].as_str()
                        == Some(order_id.to_string().as_str())
                    && !known(&o.uuid)
            })
            .map(|o| o.uuid);
        let Some(uuid) = uuid else { return false };
        if !allowed {
            self.other_failures.push(format!(
                "{hash}: a start of {checkout} (products {products:?}) by {shopper} was served \
                 although seQura's settings keep seQura from it: {:?}",
                self.stores[store].remote
            ));
        }
        if let Some(o) = self.app.sequra.order(&uuid) {
            let seen = o.solicited["customer"]["ip_number"]
                .as_str()
                .unwrap_or_default();
            if seen != shopper {
                self.other_failures.push(format!(
                    "seQura was told the shopper of {checkout} is at {seen:?}, not {shopper} \
                     (the address the trusted proxy gave)"
                ));
            }
        }
        self.stores[store].attempts.push(Attempt {
            order_id,
            checkout: checkout.clone(),
            uuid,
            method: product,
        });
        true
    }

    /// The products in a cart, as BigCommerce holds it.
    fn cart_products(&self, store: usize, checkout: &str) -> Vec<u64> {
        let Some(c) = self.app.bc.checkout(&self.stores[store].hash, checkout) else {
            return Vec::new();
        };
        ["physical_items", "digital_items"]
            .iter()
            .flat_map(|kind| {
                c["cart"]["line_items"][kind]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .filter_map(|l| l["product_id"].as_u64())
            .collect()
    }

    /// seQura changes the store's general settings through its configuration webhook, as its
    /// support team does; what it answers 200 to holds from then on. Nothing to do when no
    /// registration of the store is active at seQura (disconnected, uninstalled, or its
    /// registration still queued).
    async fn remote_settings(
        &mut self,
        store: usize,
        ips: usize,
        excluded: Option<usize>,
        hosted: bool,
    ) -> bool {
        let hash = self.stores[store].hash.clone();
        let remote = Remote {
            ips: REMOTE_IPS[ips]
                .iter()
                .map(|ip| ip.replace("{store}", &store.to_string()))
                .collect(),
            excluded: excluded.map(|i| PRODUCTS[i]),
        };
        let body = serde_json::json!({
            "topic": "save-general-settings",
            "allowedIPAddresses": remote.ips,
            "excludedProducts": remote.excluded.iter().map(u64::to_string).collect::<Vec<_>>(),
            "showSeQuraCheckoutAsHostedPage": hosted,
        });
        let Ok(answer) = self.app.sequra.send_configuration(&hash, body).await else {
            return false;
        };
        self.answered(format!("seQura's settings of {hash}"), answer.status);
        if debug() {
            eprintln!(
                "seQura's settings of {hash}: {} {}",
                answer.status, answer.body
            );
        }
        if answer.status == 200 {
            self.coverage.act("sequras_settings_saved");
            self.stores[store].remote = remote;
        }
        true
    }

    /// The shopper of a failed or abandoned attempt pays its cart with seQura after all. When
    /// nothing else stands in the way (the store sells with seQura, the services answer, no
    /// flood spends the shoppers' limits, the cart was paid by no one and is not being paid),
    /// the start must be served and the approval placed (invariant 1 checks the placement).
    async fn come_back(&mut self, store: usize, attempt: usize, method: usize) -> bool {
        let s = &self.stores[store];
        let sequra = self.app.sequra.clone();
        let state = move |uuid: &str| sequra.order(uuid).map(|o| o.state);
        let unpaid: Vec<&Attempt> = s
            .attempts
            .iter()
            .filter(|a| matches!(state(&a.uuid).as_deref(), Some("cancelled" | "solicited")))
            .collect();
        let Some(a) = pick(&unpaid, attempt).map(|a| (*a).clone()) else {
            return false;
        };
        let hash = s.hash.clone();
        let being_paid = s.attempts.iter().any(|o| {
            o.checkout == a.checkout
                && matches!(state(&o.uuid).as_deref(), Some("on_hold" | "confirmed"))
        });
        let flooded = self.real_ids_flooded[store].is_some_and(|t| sequra_bc::clock::instant() < t);
        let must_pay = s.installed
            && s.connected
            && !being_paid
            && !self.outage
            && !self.bc_failing
            && !flooded
            && self.app.bc.pending_failures() == 0
            && self.app.bc.checkout(&hash, &a.checkout).is_some();
        let Some(cart) = s.carts.iter().position(|c| *c == a.checkout) else {
            return false;
        };
        let products = self.cart_products(store, &a.checkout);
        let must_pay = must_pay
            && self.stores[store]
                .remote
                .allows(&shopper_ip(store, cart), &products);
        let before = self.stores[store].attempts.len();
        let started = self.start(store, cart, method).await;
        // A method seQura does not offer for this cart's amount is no way back for it.
        let ineligible = self
            .last_start
            .as_deref()
            .is_some_and(|s| s.contains("err_method_not_eligible"));
        if !started {
            if must_pay && !ineligible {
                self.other_failures.push(format!(
                    "{hash}: the shopper came back to cart {} (attempt {} {}) and could not \
                     start paying it with seQura ({})",
                    a.checkout,
                    a.uuid,
                    state(&a.uuid).unwrap_or_default(),
                    self.last_start.clone().unwrap_or_default()
                ));
            }
            return true;
        }
        let complete = Action::Complete {
            store,
            attempt: before,
            profile: super::Profile::Approve,
        };
        if !Box::pin(self.apply(&complete)).await && must_pay {
            self.other_failures.push(format!(
                "{hash}: the shopper came back to cart {} and seQura's form could not be completed",
                a.checkout
            ));
        }
        self.quiet(false).await;
        true
    }

    /// A cart, a start on it and the form completed; then the placement waited for (a
    /// little: an outage or a failing BigCommerce may hold it back).
    async fn purchase(
        &mut self,
        store: usize,
        items: &[(usize, u64)],
        method: usize,
        profile: super::Profile,
    ) -> bool {
        let cart = Action::Cart {
            store,
            items: items.to_vec(),
            credit: false,
        };
        Box::pin(self.apply(&cart)).await;
        let last_cart = self.stores[store].carts.len() - 1;
        if !self.start(store, last_cart, method).await {
            return false;
        }
        let attempt = self.stores[store].attempts.len() - 1;
        let complete = Action::Complete {
            store,
            attempt,
            profile,
        };
        if !Box::pin(self.apply(&complete)).await {
            return false;
        }
        // Whatever is due now runs (the placement, unless an outage or BigCommerce's
        // failures hold it back for later).
        self.quiet(false).await;
        true
    }

    /// Anonymous requests to the store's checkout endpoints, sixteen at a time; the app's
    /// log may grow by a few lines at most.
    async fn flood(&mut self, store: usize, calls: usize, real_ids: bool, many: bool) -> bool {
        use futures_util::StreamExt;
        let s = &self.stores[store];
        if real_ids && s.carts.is_empty() {
            return false;
        }
        self.floods += 1;
        let (hash, carts, round) = (s.hash.clone(), s.carts.clone(), self.floods);
        let lines_before = self.log_lines();
        let statuses: Vec<u16> = futures_util::stream::iter(0..calls)
            .map(|i| {
                // Many addresses: one IPv4 /24's and one IPv6 /48's (a /64 each), the most a
                // single subscriber holds; their limits are the block's.
                let address = if many && i % 2 == 0 {
                    format!("198.51.100.{}", (i / 2) % 250 + 1)
                } else if many {
                    format!("2001:db8:{round:x}:{:x}::1", i / 2)
                } else {
                    "203.0.113.9".to_string()
                };
                let id = if real_ids {
                    carts[i % carts.len()].clone()
                } else {
                    format!("{round:08x}-0000-4000-8000-{i:012x}")
                };
                let path = if i % 2 == 0 { "methods" } else { "start" };
                let url = format!("{}/checkout/{hash}/{path}", self.app.address);
                let http = self.app.http.clone();
                async move {
                    http.post(url)
                        .header("x-forwarded-for", address)
                        .json(&serde_json::json!({ "checkoutId": id, "product": METHODS[0] }))
                        .send()
                        .await
                        .map(|r| r.status().as_u16())
                        .unwrap_or(0)
                }
            })
            .buffer_unordered(16)
            .collect()
            .await;
        for status in statuses {
            // Refusals and the 503 of a spent share are the point; a 500 never is.
            if status >= 500 && status != 503 {
                self.answered(format!("flood of {hash}"), status);
            }
        }
        let lines = self.log_lines().saturating_sub(lines_before);
        // The app's own process logs at info: a request's access line at most, on top.
        let bound = FLOOD_LOG_LINES + if self.served.is_some() { calls } else { 0 };
        if lines > bound {
            // Name what was logged besides the access lines: the process log printed with a
            // failure is the last restart's, maybe not the flood's.
            let extra: Vec<String> = self
                .served_log()
                .unwrap_or_default()
                .lines()
                .filter(|l| l.contains("path=\"/checkout/") && !l.contains(" request method="))
                .take(5)
                .map(str::to_string)
                .collect();
            self.other_failures.push(format!(
                "a flood of {calls} anonymous requests to {hash} wrote {lines} log lines; \
                 besides access lines: {extra:#?}"
            ));
        }
        if real_ids {
            self.real_ids_flooded[store] =
                Some(sequra_bc::clock::instant() + Duration::from_secs(61));
        }
        true
    }

    /// Lines the app logged so far about the checkout endpoints: its warnings in this process,
    /// and its own process's lines from the checkout's requests (that process logs at info,
    /// also the webhooks, notifications and jobs that go on during a flood: soak seeds 802109
    /// and 21027).
    fn log_lines(&self) -> usize {
        let served = self.served_log().map_or(0, |log| {
            log.lines()
                .filter(|l| l.contains("path=\"/checkout/"))
                .count()
        });
        super::scenario_log_lines() + served
    }

    /// The merchant asks to sell in Spain with the other store's ref: refused, or a failure.
    async fn share_ref(&mut self, store: usize) -> bool {
        let other = (store + 1) % self.stores.len();
        let s = &self.stores[store];
        if other == store || !s.installed || !s.connected {
            return false;
        }
        let taken = self.stores[other].merchant_ref.clone();
        let resp = self
            .app
            .post_form(
                "/app/countries",
                &s.session,
                &[("country", "ES"), ("ref_ES", taken.as_str())],
            )
            .await;
        let status = resp.status().as_u16();
        self.answered("countries with another store's ref".into(), status);
        if status == 303 {
            let hash = self.stores[store].hash.clone();
            self.other_failures.push(format!(
                "{hash} was let sell with another store's ref {taken}"
            ));
        }
        true
    }

    /// Queues the order's placement again, as a crash between its effect and its record
    /// leaves it; the app's own process is woken to run it.
    fn replay_placement(&self, hash: &str, order: u64) -> bool {
        let store = sequra_bc::domain::StoreHash::parse(hash).unwrap();
        let queued = self.app.state.db.call_blocking(move |c| {
            let id: Option<i64> = c
                .query_row(
                    "SELECT id FROM solicitations WHERE store_hash = ?1 AND bc_order_id = ?2
                     ORDER BY id DESC LIMIT 1",
                    rusqlite::params![store.as_str(), order as i64],
                    |r| r.get(0),
                )
                .ok();
            let Some(solicitation_id) = id else {
                return Ok(false);
            };
            let job = sequra_bc::queue::Job::PlaceOrder {
                solicitation_id,
                order_id: order,
            };
            sequra_bc::queue::enqueue(c, &store, &job)?;
            Ok(true)
        });
        let queued = queued.unwrap_or(false);
        if queued {
            self.app.state.jobs.wake();
            if let Some(served) = &self.served {
                served.follow_clock();
            }
        }
        queued
    }

    fn refund(&self, hash: &str, order: u64, spec: RefundSpec) -> bool {
        self.app.bc.refund(hash, order, &spec).is_some()
    }

    /// Presses every Retry button the log's first page shows.
    async fn retry_from_log(&mut self, store: usize) -> bool {
        let s = &self.stores[store];
        if !s.installed {
            return false;
        }
        let session = s.session.clone();
        let (status, html) = self.app.page("/app/log", &session).await;
        self.answered("transaction log".into(), status);
        let entries = retry_entries(&html);
        for entry in &entries {
            let resp = self
                .app
                .post_form("/app/log/retry", &session, &[("entry", entry.as_str())])
                .await;
            self.answered(
                format!("retry of log entry {entry}"),
                resp.status().as_u16(),
            );
        }
        !entries.is_empty()
    }

    async fn reinstall(&mut self, store: usize) -> bool {
        let s = &mut self.stores[store];
        if s.installed {
            return false;
        }
        let resp = self.app.install(&s.hash, &s.owner).await;
        let status = resp.status().as_u16();
        if status != 200 {
            let what = format!("reinstall of {}", s.hash);
            self.answered(what, status);
            return false;
        }
        s.session = session_of(&resp.text().await.unwrap());
        s.installed = true;
        connect(&self.app, s).await;
        true
    }

    async fn webhooks_settled(&self) {
        if !self.held {
            self.app.bc.webhooks_settled(Duration::from_secs(20)).await;
        }
    }

    /// Webhooks delivered and the queue drained, retries included: whenever everything left
    /// waits for a later time (a debounce, a backoff, BigCommerce's rate window, a webhook's
    /// retry), every clock jumps there instead of the simulator sleeping through it. Stops
    /// once the work left is further ahead than [`SETTLE_REACH`] in all.
    pub async fn settle(&self) {
        self.quiet(true).await;
    }

    /// Waits until nothing is due now: webhooks delivered (unless held) and no job running or
    /// due. With `jump`, moves the clocks over every wait for later work too (see `settle`).
    async fn quiet(&self, jump: bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let mut jumped = Duration::ZERO;
        loop {
            if std::time::Instant::now() >= deadline {
                // Reported with the jobs still queued, if any (see `check`).
                self.gave_up_settling
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                return;
            }
            let webhooks = if self.held {
                None
            } else {
                match self.app.bc.pending_webhooks() {
                    0 => None,
                    _ => Some(self.app.bc.webhook_retries_ahead()),
                }
            };
            let queue = self
                .app
                .state
                .db
                .call_blocking(|c| sequra_bc::db::jobs::waiting(c))
                .unwrap_or(Waiting::Busy);
            let queue_ahead = match queue {
                Waiting::Empty => None,
                Waiting::Busy => Some(None),
                Waiting::Until(at) => Some(Some(Duration::from_millis(
                    (at - sequra_bc::db::jobs::now_ms()).max(0) as u64,
                ))),
            };
            let ahead = match (webhooks, queue_ahead) {
                (None, None) => return,
                // Something is being delivered or run, or is due: it will move.
                (Some(None), _) | (_, Some(None)) => {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    continue;
                }
                (Some(Some(a)), Some(Some(b))) => a.min(b),
                (Some(Some(a)), None) | (None, Some(Some(a))) => a,
            };
            if !jump || jumped + ahead > SETTLE_REACH {
                return;
            }
            let by = ahead + Duration::from_millis(1);
            self.jump(by);
            jumped += by;
            // Let whoever waits for the time see it before looking again.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// The app in a process of its own sweeps as it starts: what that first sweep queues must
    /// be in the queue before the last settle looks at it (a restart just before the end
    /// otherwise left its jobs running at the check).
    async fn first_sweep_done(&self) {
        if self.served.is_none() {
            return;
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            if self
                .served_log()
                .is_some_and(|log| log.contains(sequra_bc::orders::reconcile::SWEEP_DONE))
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// The app's reconciliation sweep, run from here on the app's data. The app in a process
    /// of its own is told that the clock moved (by nothing), which wakes its queue to find
    /// the jobs the sweep queued.
    async fn sweep(&self) {
        sequra_bc::orders::reconcile::sweep(&self.app.state).await;
        if let Some(served) = &self.served {
            served.follow_clock();
        }
    }

    /// Every clock (the app's, in whichever process, and the services') moves ahead by `by`.
    fn jump(&self, by: Duration) {
        sequra_bc::clock::advance(by);
        sequra_bc_sandbox::clock::advance(by);
        if let Some(served) = &self.served {
            served.follow_clock();
        }
    }

    /// The end of every scenario: the services recover, what was held arrives, merchants who
    /// left come back, and the reconciliation finds whatever the webhooks missed.
    pub async fn finish(&mut self) {
        self.app.sequra.set_outage(false);
        self.outage = false;
        self.app.sequra.set_latency(Duration::ZERO);
        self.app.bc.set_webhook_duplicates(1);
        self.app.bc.hold_webhooks(false);
        self.held = false;
        // BigCommerce recovers too, and its rate window (and the app's after a 429) ends.
        self.app.bc.clear_failures();
        if self.throttled_at.is_some() {
            self.jump(Duration::from_secs(31));
        }
        for i in 0..self.stores.len() {
            if !self.stores[i].installed {
                self.reinstall(i).await;
            }
            let s = &mut self.stores[i];
            if !s.connected {
                connect(&self.app, s).await;
            }
        }
        let t = std::time::Instant::now();
        self.first_sweep_done().await;
        self.settle().await;
        let settled = t.elapsed();
        self.sweep().await;
        let swept = t.elapsed();
        self.settle().await;
        if debug() {
            eprintln!(
                "finish: settled {settled:?}, swept {swept:?}, settled {:?}",
                t.elapsed()
            );
        }
    }
}

/// Connects the store's own seQura account; whether the app accepted it.
async fn connect(app: &TestApp, s: &mut StoreSim) -> bool {
    let resp = app
        .post_form(
            "/app/connect",
            &s.session,
            &[
                ("username", s.username.as_str()),
                ("password", SIM_PASSWORD),
                ("environment", "sandbox"),
            ],
        )
        .await;
    s.connected = resp.status() == 303;
    s.connected
}

/// The log entries a page offers to retry (`<input type="hidden" name="entry" value="…">`).
fn retry_entries(html: &str) -> Vec<String> {
    html.match_indices(r#"name="entry" value=""#)
        .filter_map(|(i, m)| {
            let rest = &html[i + m.len()..];
            rest.find('"').map(|end| rest[..end].to_string())
        })
        .collect()
}
