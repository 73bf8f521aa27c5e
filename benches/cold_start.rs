//! Benchmark of a cold start with a fleet's data: the real release binary's `serve`, from
//! spawn to the first 200 of `/readyz`, against a database holding 10 000 installed stores and
//! a month of their traffic; then the process's memory (VmRSS, VmHWM) idle after the start and
//! under the 64-connection webhook intake load of `webhook_intake`.
//!
//! The data is made once and kept under the target dir, keyed by the schema version and the
//! fleet's parameters (made again when older than a day, so the month still ends now). How:
//!
//! - One store is installed and connected by the app itself, in process, through the
//!   stand-ins (`support::start`), and sells one seQura order, which is approved and shipped.
//!   Its rows are the template.
//! - Each of the N stores is written with the app's own `db` functions where they take the
//!   store's secrets (`stores::save_install`: access token and webhook secret sealed with the
//!   data dir's key, bound to the store; `sequra::save_connection`: the seQura password
//!   sealed likewise), and its other rows (users, provisioning, storefronts, countries,
//!   payment methods, settings, mappings, widgets, merchant-ref claims) copied from the
//!   template's with its own store hash and merchant ref.
//! - A month of traffic, in the order it would have arrived: stores of different sizes
//!   (orders a day drawn around `--orders-per-day`), each order leaving seven webhook
//!   deliveries (created, cart converted, status, updated; a day later shipment created,
//!   status, updated); one order in `--sequra-one-in` paid with seQura, leaving a copy of the
//!   template's solicitation, attempt, order-sync row and transaction-log lines and its
//!   place/sync jobs (done); a delivery report a day per store; and the week of finished jobs
//!   the queue keeps, the largest part being the reconciliation's provision job for every
//!   store at each sweep (`--sweeps-per-day`).
//!
//! Each measured start runs on a fresh copy of the data dir, with BigCommerce and seQura at a
//! loopback port nobody listens on (nothing leaves the machine; the calls the start's
//! reconciliation and provisioning make fail at once). `cargo bench --bench cold_start`
//! (optionally `-- --stores 10000 --days 30 --orders-per-day 3 --sequra-one-in 10
//! --sweeps-per-day 48 --runs 20 --idle 10 --seconds 5 --connections 64 --rebuild`).

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use rusqlite::{Connection, params};
use sequra_bc::config::SecretString;
use sequra_bc::crypto::SecretsKey;
use sequra_bc::db::{self, sequra::StoredMerchant, stores::Install};
use sequra_bc::domain::{MerchantRef, StoreHash, UserId};
use sequra_bc::queue::Job;
use sequra_bc_sandbox::sequra::DEMO_MERCHANT_ES;
use serde_json::{Value, json};
use support::intake::{self, drive, event_hash, mix};
use support::{approve_all, arg, pct, settle};

const BIN: &str = env!("CARGO_BIN_EXE_sequra-bc");
/// The template store's hash: ten characters, like the generated ones (so a replaced text
/// keeps its length).
const TEMPLATE: &str = "t3mplat3aa";
/// Bumped whenever the generator changes what it makes: the cache is then made again.
const DATA_FORMAT: u32 = 2;
/// The readiness target.
const TARGET_MS: f64 = 200.0;
const DAY_MS: i64 = 24 * 3600 * 1000;
/// When the delivery reports are made (the default `jobs.delivery_report_time`, 02:00 UTC).
const REPORT_AT: i64 = 2 * 3600 * 1000;

/// What the fleet's data is made of (see the module's doc).
#[derive(Debug, Clone)]
struct Fleet {
    stores: usize,
    days: i64,
    /// Orders a day of the average store (stores differ: see [`Fleet::store_rate`]).
    orders_per_day: f64,
    sequra_one_in: u64,
    sweeps_per_day: i64,
}

impl Fleet {
    fn key(&self) -> String {
        format!(
            "f{DATA_FORMAT}-v{}-{}st-{}d-{}opd-1in{}-{}sw",
            db::binary_schema_version(),
            self.stores,
            self.days,
            self.orders_per_day,
            self.sequra_one_in,
            self.sweeps_per_day
        )
    }

    /// Orders a day of store `i`: exponentially distributed around the average (a few busy
    /// stores, many quiet ones), the same on every build.
    fn store_rate(&self, i: usize) -> f64 {
        let u = (mix(i as u64 ^ 0x0a11_ce5e) >> 11) as f64 / (1u64 << 53) as f64;
        -(1.0 - u).max(1e-12).ln() * self.orders_per_day
    }
}

/// Store `i`'s hash: ten hex digits that look random, like BigCommerce's.
fn store_hash(i: usize) -> String {
    format!("{:010x}", mix(i as u64 ^ 0x0057_07e5) & 0xff_ffff_ffff)
}

fn store_id(i: usize) -> String {
    (1_001_000 + i).to_string()
}

/// Store `i`'s webhook secret (what `random_token(32)` makes: 64 hex digits).
fn webhook_secret(i: usize) -> String {
    (0..4)
        .map(|k| format!("{:016x}", mix((i as u64) << 2 | k)))
        .collect()
}

fn merchant_ref(i: usize) -> String {
    format!("shop{i:06}_es")
}

/// A uuid-shaped id (checkouts, seQura orders) made from `n`.
fn uuid(n: u64, salt: u64) -> String {
    let (a, b) = (mix(n ^ salt), mix(n.wrapping_add(salt)));
    format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        b >> 52,
        b & 0xffff_ffff_ffff
    )
}

fn rfc3339(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    db::timestamp(t)
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

// ---------------------------------------------------------------------------------------
// The template: one store installed, connected and selling once, by the app itself
// ---------------------------------------------------------------------------------------

/// What the template's rows hold that each copy replaces.
struct Template {
    db: PathBuf,
    order: u64,
    uuid: String,
    checkout: String,
    solicitation: i64,
    /// Keeps the app and its stand-ins running while the template is read.
    _bench: support::Bench,
}

async fn template() -> anyhow::Result<Template> {
    let bench = support::start(TEMPLATE, 4, |_| {}).await?;
    let (bc, sequra, http) = (bench.bc.clone(), bench.sequra.clone(), bench.http.clone());
    let checkout = bc.create_checkout(TEMPLATE, &[(101, 1), (103, 1)], "ES");
    let body: Value = http
        .post(format!("{}/checkout/{TEMPLATE}/start", bench.address))
        .header("x-forwarded-for", "198.51.100.7")
        .json(&json!({ "checkoutId": checkout, "product": "i1" }))
        .send()
        .await?
        .json()
        .await?;
    let order = body["orderId"]
        .as_u64()
        .or_else(|| body["order_id"].as_u64())
        .ok_or_else(|| anyhow::anyhow!("start failed: {body}"))?;
    let uuid = sequra
        .orders()
        .into_iter()
        .map(|o| o.uuid)
        .next()
        .ok_or_else(|| anyhow::anyhow!("no seQura order"))?;
    approve_all(&sequra, std::slice::from_ref(&uuid)).await?;
    settle(&bc, &bench.state).await?;
    bc.ship_all(TEMPLATE, order)
        .ok_or_else(|| anyhow::anyhow!("shipping the template's order refused"))?;
    settle(&bc, &bench.state).await?;
    let solicitation = bench
        .state
        .db
        .call(move |c| {
            Ok(c.query_row(
                "SELECT id FROM solicitations WHERE bc_order_id = ?1",
                [order as i64],
                |r| r.get(0),
            )?)
        })
        .await?;
    Ok(Template {
        db: bench.state.db.path().to_path_buf(),
        order,
        uuid,
        checkout,
        solicitation,
        _bench: bench,
    })
}

// ---------------------------------------------------------------------------------------
// Copying the template's rows
// ---------------------------------------------------------------------------------------

/// A statement copying one row of the template's `table` into the fleet's database: every
/// TEXT column with the template's store hash, merchant ref, seQura order and checkout
/// replaced by the copy's, every timestamp set to the copy's time, `overrides` for the rest.
struct Copier {
    sql: String,
}

impl Copier {
    /// Copies the rows of `source` (a condition, with named values); `sample` names one of
    /// them (a condition with literals) to tell the timestamp columns.
    fn new(
        conn: &Connection,
        table: &str,
        source: &str,
        sample: &str,
        overrides: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let columns: Vec<(String, String, bool)> = conn
            .prepare(&format!(
                "SELECT name, type, pk FROM pragma_table_info('{table}')"
            ))?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? == 1)))?
            .collect::<Result<_, _>>()?;
        // Which TEXT columns hold a timestamp in the template's row.
        let sample: Vec<Option<String>> = {
            let list = columns
                .iter()
                .map(|(c, _, _)| format!("CAST({c} AS TEXT)"))
                .collect::<Vec<_>>()
                .join(", ");
            conn.query_row(
                &format!("SELECT {list} FROM t.{table} WHERE {sample} LIMIT 1"),
                [],
                |r| (0..columns.len()).map(|k| r.get(k)).collect(),
            )
            .unwrap_or_default()
        };
        let mut names = Vec::new();
        let mut exprs = Vec::new();
        for (k, (name, ty, pk)) in columns.iter().enumerate() {
            names.push(name.clone());
            let timestamp = sample.get(k).and_then(|v| v.as_deref()).is_some_and(|v| {
                let b = v.as_bytes();
                b.len() >= 20 && b[4] == b'-' && b[10] == b'T'
            });
            exprs.push(
                if let Some((_, e)) = overrides.iter().find(|(c, _)| c == name) {
                    e.to_string()
                } else if *pk && ty == "INTEGER" {
                    "NULL".into()
                } else if name == "store_hash" {
                    ":h".into()
                } else if ty == "TEXT" && timestamp {
                    ":ts".into()
                } else if ty == "TEXT" {
                    format!(
                        "replace(replace(replace(replace({name}, :th, :h), :tr, :r), :tu, :u), \
                         :tc, :c)"
                    )
                } else {
                    name.clone()
                },
            );
        }
        Ok(Self {
            sql: format!(
                "INSERT INTO main.{table} ({}) SELECT {} FROM t.{table} WHERE {source}",
                names.join(", "),
                exprs.join(", ")
            ),
        })
    }

    /// Runs it with the named values it uses (`:h` store hash, `:r` merchant ref, `:u`
    /// seQura order, `:c` checkout, `:ts` time, and the overrides' own).
    fn run(
        &self,
        conn: &Connection,
        values: &[(&str, &dyn rusqlite::ToSql)],
    ) -> anyhow::Result<()> {
        let mut stmt = conn.prepare_cached(&self.sql)?;
        for (name, value) in values {
            if let Some(i) = stmt.parameter_index(name)? {
                stmt.raw_bind_parameter(i, value)?;
            }
        }
        stmt.raw_execute()?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Making the fleet's data
// ---------------------------------------------------------------------------------------

/// Tables made by the app's own functions for each store, or generated as history.
const NOT_COPIED: [&str; 11] = [
    "stores",
    "sequra_connections",
    "sequra_merchants",
    "sequra_listed_merchants",
    "solicitations",
    "sequra_attempts",
    "order_sync",
    "transaction_log",
    "jobs",
    "webhook_events",
    "delivery_reports",
];

/// What was made, for the report.
#[derive(Debug, Default)]
struct Made {
    orders: u64,
    sequra_orders: u64,
    deliveries: u64,
    deliveries_last_6_days: u64,
    jobs: u64,
    transaction_log: u64,
    delivery_reports: u64,
    bytes: u64,
}

/// One order of the month.
struct Order {
    at: i64,
    store: u32,
    id: u64,
    sequra: bool,
    /// When it shipped, if it has by now.
    shipped: Option<i64>,
}

const SCOPES: [(&str, i64, bool); 7] = [
    // (scope, offset from the order (ms) or from its shipment, about the shipment)
    ("store/order/created", 0, false),
    ("store/cart/converted", 1_000, false),
    ("store/order/statusUpdated", 2_000, false),
    ("store/order/updated", 3_000, false),
    ("store/shipment/created", 0, true),
    ("store/order/statusUpdated", 1_000, true),
    ("store/order/updated", 2_000, true),
];

fn build(dir: &Path, fleet: &Fleet, tmpl: &Template) -> anyhow::Result<Made> {
    let now = now_ms();
    let start = now - fleet.days * DAY_MS;
    std::fs::create_dir_all(dir)?;
    let key = SecretsKey::load_or_create(&dir.join("secrets.key"))?;
    let path = dir.join("sequra-bc.db");
    {
        let db = db::Db::open(&path)?;
        db.migrate()?;
    }
    let mut conn = Connection::open(&path)?;
    // Made once, then copied for each start: the journal is not needed while making it.
    conn.pragma_update(None, "journal_mode", "OFF")?;
    conn.pragma_update(None, "synchronous", "OFF")?;
    conn.pragma_update(None, "cache_size", -256_000)?;
    conn.execute("ATTACH DATABASE ?1 AS t", [tmpl.db.to_string_lossy()])?;
    let th = StoreHash::parse(TEMPLATE)?;
    let mut made = Made::default();
    let hashes: Vec<String> = (0..fleet.stores).map(store_hash).collect();
    anyhow::ensure!(
        hashes
            .iter()
            .collect::<std::collections::HashSet<_>>()
            .len()
            == hashes.len(),
        "two stores drew one hash"
    );

    // The stores, as installed and connected.
    let copied: Vec<String> = conn
        .prepare(
            "SELECT m.name FROM sqlite_master m WHERE m.type = 'table' AND EXISTS
               (SELECT 1 FROM pragma_table_info(m.name) WHERE name = 'store_hash')",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<Result<Vec<String>, _>>()?
        .into_iter()
        .filter(|t| !NOT_COPIED.contains(&t.as_str()))
        .collect();
    let copiers = copied
        .iter()
        .map(|t| {
            let this = format!("store_hash = '{TEMPLATE}'");
            Copier::new(&conn, t, &this, &this, &[])
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (template_store, template_merchants) = {
        let t = Connection::open(&tmpl.db)?;
        (
            db::stores::get(&t, &th)?.context("the template store")?,
            db::sequra::merchants(&t, &th)?,
        )
    };
    let (environment, username): (String, String) = conn.query_row(
        "SELECT environment, username FROM t.sequra_connections WHERE store_hash = ?1",
        [TEMPLATE],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let tx = conn.transaction()?;
    for (i, hash) in hashes.iter().enumerate() {
        let store = StoreHash::parse(hash)?;
        let installed = start - DAY_MS - (mix(i as u64) % (365 * DAY_MS as u64)) as i64;
        let mref = merchant_ref(i);
        // The app's own writes, with the store's secrets sealed to it.
        db::stores::save_install(
            &tx,
            &key,
            &Install {
                hash: store.clone(),
                access_token: SecretString::new(format!("{:016x}{:015x}", mix(i as u64), i)),
                scopes: template_store.scopes.clone(),
                owner_id: UserId(2_000_000 + i as u64),
                owner_email: format!("owner{i}@shop{i}.example"),
                account_uuid: template_store.account_uuid.clone(),
                new_webhook_secret: SecretString::new(webhook_secret(i)),
            },
        )?;
        let merchants: Vec<StoredMerchant> = template_merchants
            .iter()
            .map(|m| {
                Ok(StoredMerchant {
                    merchant_ref: MerchantRef::parse(
                        &m.merchant_ref.as_str().replace(DEMO_MERCHANT_ES, &mref),
                    )?,
                    deployment: m.deployment.clone(),
                    country: m.country.clone(),
                    currency: m.currency.clone(),
                    payload: m.payload.replace(DEMO_MERCHANT_ES, &mref),
                })
            })
            .collect::<anyhow::Result<_>>()?;
        db::sequra::save_connection(
            &tx,
            &key,
            &store,
            "sequra",
            &environment,
            &format!("{username}-{i}"),
            &SecretString::new(format!("pw-{:016x}", mix(!(i as u64)))),
            &merchants,
        )?;
        // The rest of the store's row (name, storefront, language, reconciliation cursor)
        // as provisioning and the sweeps left the template's.
        let ts = rfc3339(installed);
        let sid = store_id(i);
        let name = format!("Shop {i}");
        // A store's own rows name no seQura order or checkout: replacing "" changes nothing.
        let values: [(&str, &dyn rusqlite::ToSql); 9] = [
            (":h", hash),
            (":th", &TEMPLATE),
            (":r", &mref),
            (":tr", &DEMO_MERCHANT_ES),
            (":ts", &ts),
            (":u", &""),
            (":c", &""),
            (":tu", &""),
            (":tc", &""),
        ];
        for copier in &copiers {
            copier.run(&tx, &values)?;
        }
        tx.execute(
            "UPDATE main.stores SET (store_id, store_name, storefront_url, language,
                                     reconciled_through, storefronts_default_on,
                                     installed_at, reinstalled_at) =
                 (SELECT ?2, ?3, replace(storefront_url, ?4, ?1), language, ?5,
                         storefronts_default_on, ?6, ?6
                  FROM t.stores WHERE store_hash = ?4)
             WHERE store_hash = ?1",
            params![hash, sid, name, TEMPLATE, now / 1000 - 300, ts],
        )?;
        tx.execute(
            "UPDATE main.sequra_connections SET connected_at = ?2, updated_at = ?2
             WHERE store_hash = ?1",
            params![hash, ts],
        )?;
    }
    tx.commit()?;

    // The month's orders, in the order they were placed.
    let mut orders: Vec<Order> = Vec::new();
    for i in 0..fleet.stores {
        let rate = fleet.store_rate(i);
        for d in 0..fleet.days {
            let r = mix((i as u64) << 20 ^ d as u64);
            let frac = (r >> 11) as f64 / (1u64 << 53) as f64;
            let n = rate.floor() as u64 + u64::from(frac < rate.fract());
            for k in 0..n {
                let h = mix(r ^ (k + 1));
                let at = start + d * DAY_MS + (h % DAY_MS as u64) as i64;
                let ship = at + 16 * 3600 * 1000 + (mix(h) % (16 * 3600 * 1000)) as i64;
                orders.push(Order {
                    at,
                    store: i as u32,
                    id: 0,
                    sequra: mix(h ^ 0x5e9).is_multiple_of(fleet.sequra_one_in),
                    shipped: (ship < now).then_some(ship),
                });
            }
        }
    }
    orders.sort_by_key(|o| o.at);
    let mut next_id = vec![100u64; fleet.stores];
    for o in &mut orders {
        o.id = next_id[o.store as usize];
        next_id[o.store as usize] += 1;
    }
    made.orders = orders.len() as u64;

    // seQura's share: the template's rows, copied for each.
    let tx = conn.transaction()?;
    let solicitation = Copier::new(
        &tx,
        "solicitations",
        "id = :src",
        &format!("id = {}", tmpl.solicitation),
        &[
            ("bc_order_id", ":order"),
            (
                "converted_into",
                "CASE WHEN converted_into IS NULL THEN NULL ELSE :order END",
            ),
        ],
    )?;
    let attempt = Copier::new(
        &tx,
        "sequra_attempts",
        "solicitation_id = :src",
        &format!("solicitation_id = {}", tmpl.solicitation),
        &[("solicitation_id", ":sid")],
    )?;
    let order_sync = Copier::new(
        &tx,
        "order_sync",
        "solicitation_id = :src",
        &format!("solicitation_id = {}", tmpl.solicitation),
        &[
            ("solicitation_id", ":sid"),
            ("bc_order_id", ":order"),
            ("shipped_at", ":shipped"),
        ],
    )?;
    let log_lines: Vec<i64> = tx
        .prepare("SELECT id FROM t.transaction_log WHERE bc_order_id = ?1 ORDER BY id")?
        .query_map([tmpl.order as i64], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let log_line = Copier::new(
        &tx,
        "transaction_log",
        "id = :line",
        &format!("bc_order_id = {}", tmpl.order),
        &[("bc_order_id", ":order")],
    )?;
    // Jobs of the last week (the queue forgets finished ones after a week).
    let mut jobs: Vec<(i64, u32, Job)> = Vec::new();
    let week_ago = now - 7 * DAY_MS;
    let mut reports: std::collections::BTreeMap<(i64, u32), i64> = Default::default();
    for (n, o) in orders.iter().enumerate().filter(|(_, o)| o.sequra) {
        let i = o.store as usize;
        let (u, c) = (uuid(n as u64, 0x5e), uuid(n as u64, 0xc4));
        let (ts, shipped) = (rfc3339(o.at), o.shipped.map(rfc3339));
        let mref = merchant_ref(i);
        let order = o.id as i64;
        let values: Vec<(&str, &dyn rusqlite::ToSql)> = vec![
            (":h", &hashes[i]),
            (":th", &TEMPLATE),
            (":r", &mref),
            (":tr", &DEMO_MERCHANT_ES),
            (":u", &u),
            (":tu", &tmpl.uuid),
            (":c", &c),
            (":tc", &tmpl.checkout),
            (":ts", &ts),
            (":src", &tmpl.solicitation),
            (":order", &order),
            (":shipped", &shipped),
        ];
        solicitation.run(&tx, &values)?;
        let sid = tx.last_insert_rowid();
        let mut values = values;
        values.push((":sid", &sid));
        attempt.run(&tx, &values)?;
        order_sync.run(&tx, &values)?;
        made.sequra_orders += 1;
        if o.at >= week_ago {
            jobs.push((
                o.at + 1_000,
                o.store,
                Job::PlaceOrder {
                    solicitation_id: sid,
                    order_id: o.id,
                },
            ));
        }
        if let Some(at) = o.shipped {
            let ts = rfc3339(at);
            for line in &log_lines {
                let mut values = values.clone();
                values.push((":line", line));
                values.push((":ts", &ts));
                // The later `:ts` wins: rusqlite binds each name in turn.
                log_line.run(&tx, &values)?;
                made.transaction_log += 1;
            }
            if at >= week_ago {
                jobs.push((at + 2_000, o.store, Job::SyncOrder { order_id: o.id }));
            }
            // In the report made at the next 02:00.
            let day = (at - REPORT_AT).div_euclid(DAY_MS) + 1;
            *reports.entry((day, o.store)).or_default() += 1;
        }
    }
    drop((solicitation, attempt, order_sync, log_line));
    tx.commit()?;

    // A delivery report a day for each store, as the schedule makes them: dated the day it
    // is made, at 02:00, for what shipped since the last one; and its job.
    let tx = conn.transaction()?;
    {
        let mut insert = tx.prepare(
            "INSERT INTO delivery_reports (store_hash, environment, merchant_ref, report_date,
                                           period_start, period_end, orders, sent_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        for day in start.div_euclid(DAY_MS) + 1..=now.div_euclid(DAY_MS) {
            let made_at = day * DAY_MS + REPORT_AT;
            if made_at > now {
                continue;
            }
            let date = &rfc3339(made_at)[..10];
            for (i, hash) in hashes.iter().enumerate() {
                insert.execute(params![
                    hash,
                    environment,
                    merchant_ref(i),
                    date,
                    rfc3339(made_at - DAY_MS),
                    rfc3339(made_at),
                    reports.get(&(day, i as u32)).copied().unwrap_or(0),
                    rfc3339(made_at + 1_000),
                ])?;
                if made_at >= week_ago {
                    jobs.push((
                        made_at,
                        i as u32,
                        Job::DeliveryReport {
                            report_id: tx.last_insert_rowid(),
                        },
                    ));
                }
                made.delivery_reports += 1;
            }
        }
    }
    tx.commit()?;

    // The reconciliation's provision job for every store at each sweep of the last week.
    let every = DAY_MS / fleet.sweeps_per_day.max(1);
    let mut sweep = now - 7 * DAY_MS;
    while sweep < now {
        for i in 0..fleet.stores {
            let at = sweep + every * i as i64 / fleet.stores as i64;
            jobs.push((at, i as u32, Job::Provision));
        }
        sweep += every;
    }
    jobs.sort_by_key(|(at, ..)| *at);
    let tx = conn.transaction()?;
    {
        let mut insert = tx.prepare(
            "INSERT INTO jobs (store_hash, kind, serial_key, dedupe_key, payload, state,
                               attempts, run_at, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, 'done', 1, ?6, ?6, ?7)",
        )?;
        for (at, store, job) in &jobs {
            let serial = match job.order_id() {
                Some(order) => format!("order:{order}"),
                None if matches!(job, Job::DeliveryReport { .. }) => {
                    job.dedupe_key() // report:{id}, its serial key too
                }
                None => "store".into(),
            };
            insert.execute(params![
                hashes[*store as usize],
                job.kind(),
                serial,
                job.dedupe_key(),
                serde_json::to_string(job)?,
                at,
                at + 150,
            ])?;
        }
    }
    made.jobs = jobs.len() as u64;
    drop(jobs);
    tx.commit()?;

    // Every delivery of the month, in the order received.
    let mut events: Vec<(i64, u32, u8)> = Vec::with_capacity(orders.len() * SCOPES.len());
    for (n, o) in orders.iter().enumerate() {
        for (k, (_, offset, shipment)) in SCOPES.iter().enumerate() {
            let at = match (shipment, o.shipped) {
                (false, _) => o.at + offset,
                (true, Some(s)) => s + offset,
                (true, None) => continue,
            };
            if at < now {
                events.push((at, n as u32, k as u8));
            }
        }
    }
    events.sort_by_key(|e| e.0);
    let recent = now - 6 * DAY_MS;
    let tx = conn.transaction()?;
    {
        let mut insert = tx.prepare(
            "INSERT INTO webhook_events (store_hash, scope, event_hash, resource_id, order_id,
                                         payload, created_at, received_at, processed_at,
                                         sequra_order)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?;
        for (n, (at, o_n, k)) in events.iter().enumerate() {
            let o = &orders[*o_n as usize];
            let i = o.store as usize;
            let (scope, _, shipment) = SCOPES[*k as usize];
            let hash = event_hash(n as u64, 0xb16c);
            let shipment_id = shipment.then_some(o.id * 10 + 1);
            let cart = scope == "store/cart/converted";
            let data = match shipment_id {
                Some(s) => intake::shipment_data(s, o.id),
                None if cart => intake::cart_data(&uuid(u64::from(*o_n), 0xc4), o.id),
                None => intake::order_data(o.id),
            };
            let secs = at / 1000;
            let payload = intake::delivery(&hashes[i], &store_id(i), scope, &data, &hash, secs);
            let processed = o.sequra.then(|| rfc3339(at + 1_500));
            insert.execute(params![
                hashes[i],
                scope,
                hash,
                (!cart).then_some(shipment_id.unwrap_or(o.id) as i64),
                o.id as i64,
                payload,
                secs,
                rfc3339(*at),
                processed,
                o.sequra,
            ])?;
            made.deliveries += 1;
            made.deliveries_last_6_days += u64::from(*at >= recent);
        }
    }
    tx.commit()?;
    drop(events);
    conn.execute_batch("DETACH DATABASE t")?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    drop(conn);
    made.bytes = std::fs::metadata(&path)?.len();
    std::fs::write(dir.join("made"), format!("{now}\n{made:?}\n"))?;
    Ok(made)
}

/// The cached data dir for `fleet`, made first when missing, older than a day or asked for.
fn data_dir(rt: &tokio::runtime::Runtime, fleet: &Fleet, rebuild: bool) -> anyhow::Result<PathBuf> {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cold_start");
    let dir = root.join(fleet.key());
    let made_at: Option<i64> = std::fs::read_to_string(dir.join("made"))
        .ok()
        .and_then(|s| s.lines().next()?.parse().ok());
    if let Some(at) = made_at
        && !rebuild
        && now_ms() - at < DAY_MS
    {
        println!(
            "  data: {} (made {:.1} h ago)",
            dir.display(),
            (now_ms() - at) as f64 / 3.6e6
        );
        return Ok(dir);
    }
    // Other fleets' data (another schema version, other parameters) is not kept.
    let _ = std::fs::remove_dir_all(&root);
    let building = root.join("building");
    std::fs::create_dir_all(&building)?;
    let t0 = Instant::now();
    println!("  making the data: {fleet:?} …");
    let tmpl = rt.block_on(template())?;
    let made = build(&building, fleet, &tmpl)?;
    drop(tmpl);
    std::fs::rename(&building, &dir)?;
    println!(
        "  made in {:.0} s: {made:?} ({:.2} GB)",
        t0.elapsed().as_secs_f64(),
        made.bytes as f64 / 1e9
    );
    Ok(dir)
}

// ---------------------------------------------------------------------------------------
// The real binary
// ---------------------------------------------------------------------------------------

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The data dir copied to `to` (a fresh one for each start: a start writes to it), and on
/// disk: gigabytes still being written back would stall the start's first fsync (ext4 commits
/// them first), which a server restarted on its own database never meets.
fn fresh_copy(from: &Path, to: &Path) -> anyhow::Result<()> {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to)?;
    for name in ["sequra-bc.db", "secrets.key"] {
        std::fs::copy(from.join(name), to.join(name))?;
        std::fs::File::open(to.join(name))?.sync_all()?;
    }
    std::fs::File::open(to)?.sync_all()?;
    Ok(())
}

/// `serve` running on a data dir; killed when dropped.
struct Server {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Spawns `serve` on `data`, BigCommerce and seQura at `dead` (a closed loopback port).
    fn spawn(data: &Path, dead: u16) -> anyhow::Result<(Self, Instant)> {
        let port = free_port()?;
        let log = data.with_extension("log");
        let nowhere = format!("http://127.0.0.1:{dead}");
        let mut cmd = Command::new(BIN);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", data)
            .env("SEQURA_BC_STORAGE__DATA_DIR", data)
            .env("SEQURA_BC_SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .env(
                "SEQURA_BC_SERVER__PUBLIC_URL",
                format!("http://127.0.0.1:{port}"),
            )
            .env("SEQURA_BC_BIGCOMMERCE__CLIENT_ID", "bench-client")
            .env(
                "SEQURA_BC_BIGCOMMERCE__CLIENT_SECRET",
                "bench-client-secret",
            )
            .env("SEQURA_BC_BIGCOMMERCE__LOGIN_URL", &nowhere)
            .env("SEQURA_BC_BIGCOMMERCE__API_URL", &nowhere)
            .env("SEQURA_BC_SEQURA__SANDBOX_URL", &nowhere)
            .env("SEQURA_BC_SEQURA__LIVE_URL", &nowhere)
            .env("SEQURA_BC_SEQURA__SVEA_SANDBOX_URL", &nowhere)
            .env("SEQURA_BC_SEQURA__SVEA_LIVE_URL", &nowhere)
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?);
        let t0 = Instant::now();
        let child = cmd.spawn()?;
        Ok((Self { child, port, log }, t0))
    }

    /// Polls `/readyz` until it answers 200; the moment it did.
    fn wait_ready(&mut self, within: Duration) -> anyhow::Result<Instant> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!("serve exited ({status}):\n{}", self.log_tail());
            }
            if self.get("/readyz") == Some(200) {
                return Ok(Instant::now());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "not ready within {within:?}:\n{}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_micros(250));
        }
    }

    /// A GET's status, or None while nothing answers.
    fn get(&self, path: &str) -> Option<u16> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .ok()?;
        let mut head = [0u8; 12];
        s.read_exact(&mut head).ok()?;
        std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
    }

    /// The app's first log line containing `needle`.
    fn first_line(&self, needle: &str) -> Option<String> {
        let log = std::fs::read_to_string(&self.log).ok()?;
        log.lines().find(|l| l.contains(needle)).map(str::to_string)
    }

    /// When the app logged its first line containing `needle` (its log's clock).
    fn logged(&self, needle: &str) -> Option<time::OffsetDateTime> {
        let line = self.first_line(needle)?;
        time::OffsetDateTime::parse(
            line.split_whitespace().next()?,
            &time::format_description::well_known::Rfc3339,
        )
        .ok()
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// CPU time the process has used (user + system), from `/proc/PID/stat` (10 ms ticks).
    fn cpu(&self) -> Duration {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
        let tick = |k: usize| {
            fields
                .get(k)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        Duration::from_millis((tick(11) + tick(12)) * 10)
    }

    /// (VmRSS, VmHWM) in MB.
    fn memory(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let kb = |key: &str| {
            status
                .lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(f64::NAN)
                / 1024.0
        };
        (kb("VmRSS:"), kb("VmHWM:"))
    }
}

fn main() -> anyhow::Result<()> {
    let fleet = Fleet {
        stores: arg("--stores", 10_000usize).max(1),
        days: arg("--days", 30i64).max(1),
        orders_per_day: arg("--orders-per-day", 3.0f64).max(0.0),
        sequra_one_in: arg("--sequra-one-in", 10u64).max(1),
        sweeps_per_day: arg("--sweeps-per-day", 48i64).max(1),
    };
    let runs = arg("--runs", 20usize).max(1);
    let idle = Duration::from_secs(arg("--idle", 10u64));
    let window = Duration::from_secs(arg("--seconds", 5u64).max(1));
    let connections = arg("--connections", 64usize).max(1);
    let rebuild = std::env::args().any(|a| a == "--rebuild");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    println!(
        "cold start benchmark: {} stores, {} days of traffic ({} cores)",
        fleet.stores,
        fleet.days,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let data = data_dir(&rt, &fleet, rebuild)?;
    let made = std::fs::read_to_string(data.join("made")).unwrap_or_default();
    println!("  {}", made.lines().nth(1).unwrap_or_default());
    let run_dir = data.with_file_name("run");
    let dead = free_port()?;

    // Cold starts.
    let mut times = Vec::with_capacity(runs);
    let mut copying = Duration::ZERO;
    for r in 0..runs {
        let t = Instant::now();
        fresh_copy(&data, &run_dir)?;
        copying += t.elapsed();
        let wall = time::OffsetDateTime::now_utc();
        let (mut server, spawned) = Server::spawn(&run_dir, dead)?;
        let ready = server.wait_ready(Duration::from_secs(120))?;
        let took = ready - spawned;
        let (rss, hwm, cpu) = {
            let (rss, hwm) = server.memory();
            (rss, hwm, server.cpu())
        };
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        // Where the time went, by the app's log: up to its migration check (process start,
        // settings, data dir lock, key, database open), then up to serving (the rest of the
        // build: listener, templates, scripts, state).
        let since = |needle: &str| {
            server
                .logged(needle)
                .map_or(f64::NAN, |t| (t - wall).as_seconds_f64() * 1e3)
        };
        let (checked, serving) = (since("current version"), since("serving"));
        // The first 200's own time in the server, as it logged it.
        let answered = server
            .first_line("path=\"/readyz\" status=200")
            .and_then(|l| {
                l.split("latency_ms=")
                    .nth(1)?
                    .split_whitespace()
                    .next()?
                    .parse::<f64>()
                    .ok()
            })
            .unwrap_or(f64::NAN);
        println!(
            "  start {:>2}: ready in {:>7.1} ms   (schema checked at {checked:>6.1} ms, \
             serving at {serving:>6.1} ms, /readyz took {answered:.1} ms in the server; CPU \
             {:>4} ms; VmRSS {rss:.0} MB, VmHWM {hwm:.0} MB; load average {})",
            r + 1,
            took.as_secs_f64() * 1e3,
            cpu.as_millis(),
            load.split_whitespace().next().unwrap_or("?")
        );
        times.push(took);
    }
    times.sort();
    let median = pct(&times, 0.5);
    println!(
        "  spawn → first 200 of /readyz over {runs} starts: min {:.1} ms, median {median:.1} ms, \
         p95 {:.1} ms, max {:.1} ms (target < {TARGET_MS} ms: {}); copying the data dir \
         took {:.1} s a start, untimed",
        pct(&times, 0.0),
        pct(&times, 0.95),
        pct(&times, 1.0),
        if median < TARGET_MS { "met" } else { "NOT met" },
        copying.as_secs_f64() / runs as f64
    );

    // Memory: idle after the start, then under the webhook intake load.
    fresh_copy(&data, &run_dir)?;
    let (mut server, _) = Server::spawn(&run_dir, dead)?;
    server.wait_ready(Duration::from_secs(120))?;
    let at_ready = server.memory();
    std::thread::sleep(idle);
    let idle_after = server.memory();
    let remembered = server
        .logged("recent webhook deliveries remembered")
        .zip(server.logged("serving"))
        .map_or(f64::NAN, |(done, serving)| {
            (done - serving).as_seconds_f64() * 1e3
        });
    println!(
        "  the recent deliveries (de-duplication) were read {remembered:.0} ms after serving began"
    );
    let secrets: Arc<Vec<Arc<str>>> = Arc::new(
        (0..fleet.stores)
            .map(|i| webhook_secret(i).into())
            .collect(),
    );
    let hashes: Arc<Vec<String>> = Arc::new((0..fleet.stores).map(store_hash).collect());
    let stores = fleet.stores as u64;
    let created = now_ms() / 1000;
    let url = format!("http://127.0.0.1:{}/bc/webhooks", server.port);
    let pid = server.child.id();
    let (load, peak) = rt.block_on(async {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(connections)
            .build()?;
        // Sampled while the load runs: the largest VmRSS seen.
        let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let sampler = {
            let sampling = sampling.clone();
            tokio::spawn(async move {
                let mut peak = 0.0f64;
                while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                    if let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status"))
                        && let Some(kb) = s
                            .lines()
                            .find(|l| l.starts_with("VmRSS:"))
                            .and_then(|l| l.split_whitespace().nth(1))
                            .and_then(|v| v.parse::<f64>().ok())
                    {
                        peak = peak.max(kb / 1024.0);
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                peak
            })
        };
        // New deliveries for orders that are no seQura order (stored, no job), each from one
        // of the stores, with its secret.
        let load = drive(
            true,
            &http,
            &url,
            connections,
            window,
            Arc::new(move |n| {
                let i = (mix(n ^ 0x10ad) % stores) as usize;
                let body = intake::delivery(
                    &hashes[i],
                    &store_id(i),
                    "store/order/updated",
                    &intake::order_data(90_000_000 + n % 100_000),
                    &event_hash(n, 0x10ad),
                    created,
                );
                (body, Some(secrets[i].clone()))
            }),
        )
        .await;
        sampling.store(false, std::sync::atomic::Ordering::Relaxed);
        anyhow::Ok((load, sampler.await.unwrap_or(f64::NAN)))
    })?;
    let after_load = server.memory();
    std::thread::sleep(Duration::from_secs(5));
    let settled = server.memory();
    let mut load = load;
    println!(
        "  memory of the serving process (MB)      VmRSS   VmHWM\n\
         \x20   at ready                             {:>6.0}  {:>6.0}\n\
         \x20   idle, {:>2} s after ready              {:>6.0}  {:>6.0}\n\
         \x20   under the intake load (peak sampled) {:>6.0}\n\
         \x20   right after the load                 {:>6.0}  {:>6.0}\n\
         \x20   5 s after the load                   {:>6.0}  {:>6.0}",
        at_ready.0,
        at_ready.1,
        idle.as_secs(),
        idle_after.0,
        idle_after.1,
        peak,
        after_load.0,
        after_load.1,
        settled.0,
        settled.1
    );
    load.report(&format!(
        "intake load, {connections} connections, {} stores",
        fleet.stores
    ));
    drop(server);

    // What each sweep's purge of finished jobs costs with the fleet's week of them: it holds
    // the write lock meanwhile, so every delivery waits that long.
    let conn = db::connect(&run_dir.join("sequra-bc.db"))?;
    let t = Instant::now();
    let purged = db::jobs::purge_finished(&conn, db::jobs::now_ms() - 7 * DAY_MS)?;
    println!(
        "  the sweep's purge of finished jobs: {:.1} ms ({purged} older than a week)",
        t.elapsed().as_secs_f64() * 1e3
    );
    drop(conn);
    let _ = std::fs::remove_dir_all(&run_dir);
    Ok(())
}
