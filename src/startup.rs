//! `Application::build` → `port()` → `run_until_stopped()`: the server with its database,
//! state and background duties, startable from tests on port 0.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use url::Url;

use crate::config::Settings;
use crate::crypto::SecretsKey;
use crate::db::Db;
use crate::db::lock::DataDirLock;
use crate::state::AppState;

/// How often the stores' log lines are written to their table.
const STORE_LINES_EVERY: Duration = Duration::from_secs(1);

/// How often due delivery reports are looked for.
const REPORT_CHECK_EVERY: Duration = Duration::from_secs(60);

/// A built, bound, not yet running server.
pub struct Application {
    listener: TcpListener,
    /// The metrics listener and the recorder it renders, when metrics are on.
    metrics: Option<(TcpListener, metrics_exporter_prometheus::PrometheusHandle)>,
    state: AppState,
    /// The clock following its file, when told to (the simulator: see `clock::follow_file`).
    clock: std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
    _lock: DataDirLock,
}

impl Application {
    /// Opens the data dir (lock, key file, database, migrations) and binds the listener.
    /// An empty `server.public_url` means "the bound address" (loopback only: tests, demo).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        // A process that logs nowhere (the in-process tests) still keeps each store's lines.
        crate::telemetry::init_store_lines_only();
        let data_dir = settings.storage.data_dir.clone();
        let lock = DataDirLock::acquire(&data_dir).map_err(anyhow::Error::msg)?;
        let key = SecretsKey::load_or_create(&settings.secrets_key_path())?;
        let db = Db::open(&settings.database_path())
            .with_context(|| format!("opening {}", settings.database_path().display()))?;
        let applied = db.migrate()?;
        for m in &applied {
            tracing::info!(version = m.version, name = %m.name, "migration applied");
        }
        // Before listening: whoever may signal the clock finds the process listening.
        let clock = crate::clock::follow_file();
        let addr = settings.listen_addr()?;
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let local = listener.local_addr()?;
        let metrics = match settings.metrics_addr()? {
            Some(addr) => {
                let handle = crate::metrics::install()
                    .context("the metrics recorder could not be installed")?;
                let listener = TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr} for metrics"))?;
                Some((listener, handle))
            }
            None => None,
        };
        let public_url = if settings.server.public_url.trim().is_empty() {
            anyhow::ensure!(
                local.ip().is_loopback(),
                "server.public_url is required when listening beyond loopback"
            );
            Url::parse(&format!("http://{local}"))?
        } else {
            settings.public_url()?
        };
        let mut settings = settings;
        settings.server.public_url = public_url.as_str().trim_end_matches('/').to_string();
        let state = AppState::new(settings, public_url, db, key)?;
        // The deliveries stored before this start are read while the server already answers
        // (a fleet's take about a second): a delivery waits for them, readiness does not.
        tokio::spawn(remember_recent_deliveries(state.clone()));
        Ok(Self {
            listener,
            metrics,
            state,
            clock,
            _lock: lock,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    /// Where the metrics are served, when they are on.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|(l, _)| l.local_addr().ok())
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests and stops the
    /// background tasks before returning.
    pub async fn run_until_stopped(mut self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let background = tokio::spawn(background_duties(self.state.clone(), stop_rx.clone()));
        let clock = tokio::spawn(std::mem::replace(
            &mut self.clock,
            Box::pin(std::future::pending()),
        ));
        let service = warp::service(crate::web::routes(self.state.clone()));
        let limits = self.state.settings.server_limits().fitted_to_open_files();
        let metrics = self.metrics.take().map(|(listener, handle)| {
            tracing::info!(addr = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(), "serving metrics");
            let service = warp::service(crate::web::metrics_routes(self.state.clone(), handle));
            let mut stopped = stop_rx.clone();
            tokio::spawn(crate::server::serve(listener, service, limits, async move {
                let _ = stopped.wait_for(|s| *s).await;
            }))
        });
        tracing::info!(addr = %self.local_addr(), public_url = %self.state.public_url, "serving");
        crate::server::serve(self.listener, service, limits, shutdown).await;
        let _ = stop_tx.send(true);
        if let Some(metrics) = metrics {
            let _ = metrics.await;
        }
        clock.abort();
        let _ = background.await;
        tracing::info!("stopped");
    }
}

/// Reads the deliveries stored before this start into the de-duplication memory; until then
/// deliveries wait (`RecentDeliveries::claim`). A failed read is tried again, every delivery
/// meanwhile answered 503 after its wait (BigCommerce delivers it again).
async fn remember_recent_deliveries(state: AppState) {
    let started = std::time::Instant::now();
    let mut retry = Duration::from_millis(500);
    loop {
        let s = state.clone();
        match state.db.call(move |c| s.recent_deliveries.load(c)).await {
            Ok(n) => {
                tracing::info!(
                    deliveries = n,
                    ms = started.elapsed().as_millis() as u64,
                    "recent webhook deliveries remembered"
                );
                return;
            }
            Err(e) => {
                tracing::error!(
                    error = %e,
                    "cannot read the recent webhook deliveries: until they are read, deliveries wait and are answered 503"
                );
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// Periodic duties inside the server process: the job workers, the reconciliation sweep
/// (which also re-provisions every store: failed items and deactivated hooks are repaired)
/// and the delivery-report schedule.
async fn background_duties(state: AppState, stop: tokio::sync::watch::Receiver<bool>) {
    let workers = tokio::spawn(crate::workers::work(state.clone(), stop.clone()));
    let reconcile_every = Duration::from_secs(state.settings.jobs.reconcile_every_secs.max(1));
    let mut reconcile = tokio::time::interval(reconcile_every);
    reconcile.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut reports = tokio::time::interval(REPORT_CHECK_EVERY.min(reconcile_every));
    reports.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The summarised log lines of a flood that stopped are written within a minute.
    let mut tally = tokio::time::interval(Duration::from_secs(60));
    // seQura's deployments: the kept list at once, then read from seQura now and daily.
    crate::onboarding::deployments::load_saved(&state).await;
    // Banner images a crash left unused (see `remote::banners`).
    crate::remote::banners::sweep(&state).await;
    let mut deployments = tokio::time::interval(crate::onboarding::deployments::REFRESH_EVERY);
    deployments.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut store_lines = tokio::time::interval(STORE_LINES_EVERY);
    store_lines.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stop = stop;
    loop {
        tokio::select! {
            _ = store_lines.tick() => write_store_lines(&state).await,
            _ = reconcile.tick() => crate::orders::reconcile::sweep(&state).await,
            _ = reports.tick() => crate::orders::report::schedule(&state).await,
            _ = tally.tick() => state.log_tally.flush(),
            _ = deployments.tick() => crate::onboarding::deployments::refresh(&state).await,
            _ = stop.changed() => break,
        }
    }
    let _ = workers.await;
    // The lines of the last second (the stop's own among them) are kept too.
    write_store_lines(&state).await;
}

/// Writes the stores' log lines of the last second to their table, in the batch writer's
/// next commit. A failure loses those lines only (they are in the operator's log too).
async fn write_store_lines(state: &AppState) {
    let lines = crate::telemetry::STORE_LINES.take(&state.log_tag);
    if lines.is_empty() {
        return;
    }
    if let Err(e) = state
        .db
        .batched(move |c| crate::db::app_log::append(c, &lines))
        .await
    {
        tracing::warn!(error = %e, "could not keep the stores' log lines");
    }
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown requested");
}
