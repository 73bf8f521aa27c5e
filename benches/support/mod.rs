//! What the benchmarks share: the real app against the in-process stand-ins, with one store
//! installed and its seQura account connected (Spain), and percentiles.

#![allow(dead_code)] // each bench uses its own part

pub mod intake;

use std::time::{Duration, Instant};

use futures_util::StreamExt;

use sequra_bc::config::Settings;
use sequra_bc::startup::Application;
use sequra_bc::state::AppState;
use sequra_bc_sandbox::bigcommerce::{BigCommerceStandIn, StandInConfig, StoreSpec};
use sequra_bc_sandbox::sequra::{
    DEMO_MERCHANT_ES, DEMO_PASSWORD, DEMO_USERNAME, SequraStandIn, ShopperProfile,
};
use url::Url;

/// A running app with its stand-ins and a store selling with seQura in Spain.
pub struct Bench {
    pub address: String,
    pub bc: BigCommerceStandIn,
    pub sequra: SequraStandIn,
    pub state: AppState,
    pub http: reqwest::Client,
    /// The merchant's session in the store.
    pub session: String,
    /// The store's numeric id (webhook `store_id`).
    pub store_id: String,
    _dir: tempfile::TempDir,
}

/// Starts the app (log level `warn`, `127.0.0.1` a trusted proxy so requests can carry varying
/// shopper IPs, `adjust` last), lifts the stand-in's API quota, installs `store` and connects
/// its seQura sandbox account with Spain's merchant ref.
pub async fn start(
    store: &str,
    idle_connections: usize,
    adjust: impl FnOnce(&mut Settings),
) -> anyhow::Result<Bench> {
    let dir = tempfile::tempdir()?;
    let bc = BigCommerceStandIn::start(
        "127.0.0.1:0".parse()?,
        StandInConfig::for_app(Url::parse("http://127.0.0.1:9")?),
    )
    .await?;
    let sequra = SequraStandIn::start("127.0.0.1:0".parse()?).await?;
    let mut settings = sequra_bc::demo::app_settings(&bc, &sequra, dir.path(), "127.0.0.1:0");
    settings.log.level = "warn".into();
    settings.server.trusted_proxies = "127.0.0.1".into();
    adjust(&mut settings);
    let app = Application::build(settings).await?;
    let address = format!("http://127.0.0.1:{}", app.port());
    bc.set_app_url(Url::parse(&address)?);
    let state = app.state().clone();
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    // The benchmarks far exceed a real store's API quota: the stand-in's limiter is lifted.
    bc.set_rate_limit_quota(1_000_000);
    let spec = StoreSpec::demo(store);
    let (owner, store_id) = (spec.owner.clone(), spec.store_id.to_string());
    bc.add_store(spec);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(idle_connections.max(1))
        .build()?;
    let html = http
        .get(bc.begin_install(store, &owner))
        .send()
        .await?
        .text()
        .await?;
    let session = html
        .split("session=")
        .nth(1)
        .and_then(|s| s.split(['"', '&']).next())
        .unwrap_or_default()
        .to_string();
    for (path, fields) in [
        (
            "connect",
            vec![
                ("username", DEMO_USERNAME),
                ("password", DEMO_PASSWORD),
                ("environment", "sandbox"),
            ],
        ),
        (
            "countries",
            vec![("country", "ES"), ("ref_ES", DEMO_MERCHANT_ES)],
        ),
    ] {
        let resp = http
            .post(format!("{address}/app/{path}?session={session}"))
            .form(&fields)
            .send()
            .await?;
        anyhow::ensure!(resp.status() == 303, "{path}: {}", resp.status());
    }
    Ok(Bench {
        address,
        bc,
        sequra,
        state,
        http,
        session,
        store_id,
        _dir: dir,
    })
}

/// The `p` quantile (0–1) of sorted latencies, in milliseconds.
pub fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1e3
}

/// The number after `name` on the command line (`cargo bench --bench x -- --name 5`).
pub fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU time this process has used so far (user + system, all threads), from
/// `/proc/self/stat`; None where that is not readable. Client, app and stand-ins share the
/// process, so CPU per request compares runs even when the machine's other load skews rates.
pub fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) end with ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // The kernel reports in USER_HZ, 100 on every Linux the benchmarks run on.
    Some(Duration::from_millis(ticks * 10))
}

/// Jobs not yet done or failed.
pub async fn outstanding(state: &AppState) -> anyhow::Result<i64> {
    Ok(state
        .db
        .call(|c| sequra_bc::db::jobs::outstanding(c))
        .await?)
}

/// Every webhook delivered and every job run, three times over (jobs cause webhooks).
pub async fn settle(bc: &BigCommerceStandIn, state: &AppState) -> anyhow::Result<()> {
    const WITHIN: Duration = Duration::from_secs(120);
    for _ in 0..3 {
        anyhow::ensure!(bc.webhooks_settled(WITHIN).await);
        let deadline = Instant::now() + WITHIN;
        while outstanding(state).await? > 0 {
            anyhow::ensure!(Instant::now() < deadline, "the job queue did not drain");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    Ok(())
}

/// Completes seQura's form for each order as an approved shopper, and checks that every
/// notification (IPN) was accepted by the app.
pub async fn approve_all(sequra: &SequraStandIn, uuids: &[String]) -> anyhow::Result<()> {
    let completed = futures_util::stream::iter(uuids.iter())
        .map(|u| sequra.complete_form(u, "i1", None, ShopperProfile::Approve))
        .buffer_unordered(4)
        .collect::<Vec<_>>()
        .await;
    for c in completed {
        let outcome = c?;
        anyhow::ensure!(
            outcome.deliveries.first().map(|d| d.2) == Some(200),
            "IPN not accepted: {outcome:?}"
        );
    }
    Ok(())
}
