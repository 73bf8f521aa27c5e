//! `spawn_app()`: the stand-in, then the app configured against it, each on port 0.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use sequra_bc::startup::Application;
use sequra_bc::state::AppState;
use sequra_bc_sandbox::bigcommerce::{BigCommerceStandIn, StandInConfig, StoreSpec, User};
use sequra_bc_sandbox::sequra::SequraStandIn;
use tempfile::TempDir;
use tokio::sync::oneshot;
use url::Url;

/// Everything every test in this binary logged, so tests can assert what never appears.
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&log_buffer().lock().unwrap()).into_owned()
}

fn log_buffer() -> &'static Arc<Mutex<Vec<u8>>> {
    static BUF: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUF.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = buf.clone();
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;
        use tracing_subscriber::{EnvFilter, Layer, filter::LevelFilter, fmt};
        // As `serve` logs: every line to the buffer, and each store's kept for its merchant.
        let _ = tracing_subscriber::registry()
            .with(
                fmt::layer()
                    .with_ansi(false)
                    .with_writer(move || LogWriter(writer.clone()))
                    .with_filter(EnvFilter::new("debug")),
            )
            .with(sequra_bc::telemetry::StoreLayer.with_filter(LevelFilter::INFO))
            .try_init();
        buf
    })
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub struct TestApp {
    pub address: String,
    pub bc: BigCommerceStandIn,
    pub sequra: SequraStandIn,
    pub state: AppState,
    /// `http://…` of the metrics listener, when metrics are on.
    pub metrics_address: Option<String>,
    /// Does not follow redirects, so tests see them.
    pub http: reqwest::Client,
    data_dir: Option<TempDir>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Like [`spawn_app`], with the settings adjusted first (job timings, report time, …).
pub async fn spawn_app_with(adjust: impl FnOnce(&mut sequra_bc::config::Settings)) -> TestApp {
    spawn_app_in(None, adjust).await
}

/// Like [`spawn_app_with`], with the data dir made in `parent` (default: the system's temp
/// dir). The simulator puts it in memory: a SIGKILL loses nothing a file system in memory
/// holds, and thousands of scenarios need not wait for the disk.
pub async fn spawn_app_in(
    parent: Option<&std::path::Path>,
    adjust: impl FnOnce(&mut sequra_bc::config::Settings),
) -> TestApp {
    let _ = log_buffer();
    let placeholder = Url::parse("http://127.0.0.1:9").unwrap();
    let bc = BigCommerceStandIn::start(
        "127.0.0.1:0".parse().unwrap(),
        StandInConfig::for_app(placeholder),
    )
    .await
    .expect("stand-in starts");
    let data_dir = match parent {
        Some(parent) => tempfile::tempdir_in(parent).unwrap(),
        None => tempfile::tempdir().unwrap(),
    };
    let sequra = SequraStandIn::start("127.0.0.1:0".parse().unwrap())
        .await
        .expect("seQura stand-in starts");
    let mut settings = sequra_bc::demo::app_settings(&bc, &sequra, data_dir.path(), "127.0.0.1:0");
    // Retries in milliseconds, not seconds, so that tests see them.
    settings.jobs.retry_base_ms = 50;
    settings.jobs.retry_max_ms = 400;
    adjust(&mut settings);
    let app = Application::build(settings).await.expect("app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    bc.set_app_url(Url::parse(&address).unwrap());
    let state = app.state().clone();
    let metrics_address = app.metrics_addr().map(|a| format!("http://{a}"));
    let (tx, rx) = oneshot::channel();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = rx.await;
    }));
    TestApp {
        address,
        bc,
        sequra,
        state,
        metrics_address,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        data_dir: Some(data_dir),
        stop: Some(tx),
        server: Some(server),
    }
}

impl TestApp {
    /// Stops the server (its background duties too) and hands over its data dir, with the
    /// stand-ins still running: for a restart by the real binary.
    pub async fn stop(mut self) -> (TempDir, BigCommerceStandIn, SequraStandIn) {
        self.halt().await;
        (
            self.data_dir.take().expect("data dir"),
            self.bc.clone(),
            self.sequra.clone(),
        )
    }

    /// Stops the server (its background duties too) and keeps the rest: the stand-ins, the
    /// data dir, the address, for [`serve`] to go on in a process of its own.
    pub async fn halt(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }

    /// The data dir (the database is `sequra-bc.db` in it).
    #[allow(dead_code)]
    pub fn data_path(&self) -> &std::path::Path {
        self.data_dir.as_ref().expect("data dir").path()
    }

    /// Adds a realistic store to the stand-in and returns its owner.
    pub fn add_store(&self, hash: &str) -> User {
        let spec = StoreSpec::demo(hash);
        let owner = spec.owner.clone();
        self.bc.add_store(spec);
        owner
    }

    /// Installs the app as the merchant's browser would; returns the auth callback response.
    pub async fn install(&self, hash: &str, user: &User) -> reqwest::Response {
        let url = self.bc.begin_install(hash, user);
        self.http.get(url).send().await.unwrap()
    }

    /// Adds a store and installs the app in it; returns the owner and the dashboard HTML.
    pub async fn installed_store(&self, hash: &str) -> (User, String) {
        let owner = self.add_store(hash);
        let resp = self.install(hash, &owner).await;
        assert_eq!(resp.status(), 200, "install of {hash}");
        (owner, resp.text().await.unwrap())
    }

    /// The requests the app made to seQura's merchant API (the list of deployments, read at
    /// start-up without an account, and the registrations of the configuration webhook, made
    /// by jobs after a connection changes, aside: `remote_registration.rs` tests those).
    pub fn sequra_calls(&self) -> Vec<sequra_bc_sandbox::sequra::RecordedRequest> {
        self.sequra
            .requests()
            .into_iter()
            .filter(|r| {
                !r.path.ends_with("/deployments") && !r.path.contains("/store_integrations")
            })
            .collect()
    }

    pub async fn get(&self, url: impl reqwest::IntoUrl) -> reqwest::Response {
        self.http.get(url).send().await.unwrap()
    }

    pub async fn get_path(&self, path: &str) -> reqwest::Response {
        self.get(format!("{}{}", self.address, path)).await
    }

    /// Runs a query against the app's database.
    pub fn query<T>(
        &self,
        sql: &str,
        f: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> T {
        let conn = rusqlite::Connection::open(self.state.db.path()).unwrap();
        conn.query_row(sql, [], f).unwrap()
    }

    pub fn count(&self, sql: &str) -> i64 {
        self.query(sql, |r| r.get(0))
    }
}

/// The `session` token a rendered page carries in its links and forms.
pub fn session_of(html: &str) -> String {
    let start = html.find("session=").expect("page carries a session") + "session=".len();
    let rest = &html[start..];
    let end = rest.find(['"', '&', '\'']).unwrap();
    urlencoding_decode(&rest[..end])
}

fn urlencoding_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// A user that is not the owner.
pub fn staff_user(id: u64) -> User {
    User {
        id,
        email: format!("staff{id}@example.com"),
        locale: "en-US".into(),
    }
}

impl TestApp {
    /// Installs the app in a new store and returns a session of its owner (English: the
    /// install carries no locale).
    pub async fn merchant_session(&self, hash: &str) -> String {
        let (_, html) = self.installed_store(hash).await;
        session_of(&html)
    }

    /// Posts a form to a merchant page with the session in the URL.
    pub async fn post_form(
        &self,
        path: &str,
        session: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        self.http
            .post(format!("{}{path}?session={session}", self.address))
            .form(fields)
            .send()
            .await
            .unwrap()
    }

    /// GETs a merchant page with the session (and an optional extra query).
    pub async fn page(&self, path: &str, session: &str) -> (u16, String) {
        let sep = if path.contains('?') { '&' } else { '?' };
        let resp = self
            .get_path(&format!("{path}{sep}session={session}"))
            .await;
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap())
    }

    /// Installs the app in `hash`, connects the demo seQura account and sells to Spain with the
    /// demo merchant ref; returns the owner's session.
    pub async fn spanish_store(&self, hash: &str) -> String {
        let session = self.merchant_session(hash).await;
        self.connect_demo(&session).await;
        self.sell_in_spain(&session).await;
        session
    }

    /// The merchant sells to Spain with the demo merchant ref (the demo account connected).
    pub async fn sell_in_spain(&self, session: &str) {
        let resp = self
            .post_form(
                "/app/countries",
                session,
                &[
                    ("country", "ES"),
                    ("ref_ES", sequra_bc_sandbox::sequra::DEMO_MERCHANT_ES),
                ],
            )
            .await;
        assert_eq!(resp.status(), 303, "countries");
    }

    /// Connects the store's seQura account with the demo sandbox credentials.
    pub async fn connect_demo(&self, session: &str) {
        self.connect_sandbox(session, sequra_bc_sandbox::sequra::DEMO_USERNAME)
            .await;
    }

    /// Connects the store's seQura account with sandbox user `username` (the demo password).
    pub async fn connect_sandbox(&self, session: &str, username: &str) {
        let resp = self
            .post_form(
                "/app/connect",
                session,
                &[
                    ("username", username),
                    ("password", sequra_bc_sandbox::sequra::DEMO_PASSWORD),
                    ("environment", "sandbox"),
                ],
            )
            .await;
        assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
    }

    /// The store sells in Spain with the second demo account and its own merchant ref (one
    /// ref per store of an installation).
    pub async fn sell_with_second_account(&self, session: &str) {
        use sequra_bc_sandbox::sequra::{DEMO2_MERCHANT_ES, DEMO2_USERNAME};
        self.connect_sandbox(session, DEMO2_USERNAME).await;
        let resp = self
            .post_form(
                "/app/countries",
                session,
                &[("country", "ES"), ("ref_ES", DEMO2_MERCHANT_ES)],
            )
            .await;
        assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
    }

    /// The merchant maps every seQura outcome to None ("leave the status alone").
    pub async fn map_outcomes_to_none(&self, session: &str) {
        let resp = self
            .post_form(
                "/app/order-status",
                session,
                &[
                    ("approved", "none"),
                    ("needs_review", "none"),
                    ("cancelled", "none"),
                ],
            )
            .await;
        assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
    }
}

/// `sequra-bc serve` (`program`, with its arguments and environment so far) on `address` (or
/// the `SEQURA_BC_SERVER__LISTEN` the program already has) and
/// `data_dir`, configured against the stand-ins as `spawn_app` configures the in-process app,
/// its job retries as fast as `retry_ms` (base, max), stderr to `log`: the real process, for
/// tests that kill it.
#[allow(dead_code)] // Each test binary uses a part of these helpers.
pub fn serve(
    mut program: std::process::Command,
    data_dir: &std::path::Path,
    address: &str,
    bc: &BigCommerceStandIn,
    sequra: &SequraStandIn,
    retry_ms: (u64, u64),
    log: &std::path::Path,
) -> std::process::Child {
    use std::process::Stdio;
    let base = bc.base_url().as_str().trim_end_matches('/').to_string();
    // A listen address the caller set (another interface, the same port) is kept.
    if !program
        .get_envs()
        .any(|(k, _)| k == "SEQURA_BC_SERVER__LISTEN")
    {
        program.env(
            "SEQURA_BC_SERVER__LISTEN",
            address.trim_start_matches("http://"),
        );
    }
    program
        .arg("serve")
        .env("HOME", data_dir)
        .env("SEQURA_BC_STORAGE__DATA_DIR", data_dir)
        .env("SEQURA_BC_SERVER__PUBLIC_URL", address)
        .env("SEQURA_BC_BIGCOMMERCE__CLIENT_ID", bc.client_id())
        .env("SEQURA_BC_BIGCOMMERCE__CLIENT_SECRET", bc.client_secret())
        .env("SEQURA_BC_BIGCOMMERCE__LOGIN_URL", &base)
        .env("SEQURA_BC_BIGCOMMERCE__API_URL", &base)
        .env(
            "SEQURA_BC_BIGCOMMERCE__CONTROL_PANEL_URL",
            format!("{base}/manage/{{store_hash}}"),
        )
        .env(
            "SEQURA_BC_SEQURA__SANDBOX_URL",
            sequra.sandbox_url().as_str(),
        )
        .env("SEQURA_BC_SEQURA__LIVE_URL", sequra.live_url().as_str())
        .env(
            "SEQURA_BC_SEQURA__SANDBOX_PORTAL_URL",
            sequra.portal_url("sandbox"),
        )
        .env(
            "SEQURA_BC_SEQURA__LIVE_PORTAL_URL",
            sequra.portal_url("live"),
        )
        .env(
            "SEQURA_BC_SEQURA__SANDBOX_ASSETS_URL",
            sequra.assets_base_url().as_str(),
        )
        .env(
            "SEQURA_BC_SEQURA__LIVE_ASSETS_URL",
            sequra.live_assets_base_url().as_str(),
        )
        .env(
            "SEQURA_BC_SEQURA__SVEA_SANDBOX_URL",
            sequra.svea_sandbox_url().as_str(),
        )
        .env(
            "SEQURA_BC_SEQURA__SVEA_LIVE_URL",
            sequra.svea_live_url().as_str(),
        )
        .env(
            "SEQURA_BC_SEQURA__SVEA_SANDBOX_ASSETS_URL",
            sequra.svea_assets_base_url().as_str(),
        )
        .env(
            "SEQURA_BC_SEQURA__SVEA_LIVE_ASSETS_URL",
            sequra.svea_live_assets_base_url().as_str(),
        )
        .env(
            "SEQURA_BC_SEQURA__SVEA_SANDBOX_PORTAL_URL",
            sequra.portal_url_of("svea", "sandbox"),
        )
        .env(
            "SEQURA_BC_SEQURA__SVEA_LIVE_PORTAL_URL",
            sequra.portal_url_of("svea", "live"),
        )
        .env("SEQURA_BC_JOBS__RETRY_BASE_MS", retry_ms.0.to_string())
        .env("SEQURA_BC_JOBS__RETRY_MAX_MS", retry_ms.1.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

/// `sequra-bc` with an empty environment but `PATH`.
#[allow(dead_code)]
pub fn app_binary(path: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(path);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    cmd
}
