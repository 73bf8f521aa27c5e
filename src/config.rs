//! Settings: defaults < TOML file < `SEQURA_BC_<SECTION>__<KEY>` environment < CLI flags,
//! validated with messages that tell the operator what to set.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use url::Url;

/// Prefix of every environment variable the app reads.
pub const ENV_PREFIX: &str = "SEQURA_BC_";

/// A secret configuration value: `Debug` and `Display` never show it.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The secret itself, for the few places that must send or key with it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.trim().is_empty()
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Everything the app can be configured with. Field names are the TOML keys.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub storage: StorageSettings,
    pub bigcommerce: BigCommerceSettings,
    pub sequra: SequraSettings,
    pub security: SecuritySettings,
    pub log: LogSettings,
    #[serde(default)]
    pub jobs: JobsSettings,
    #[serde(default)]
    pub metrics: MetricsSettings,
}

/// Prometheus metrics: off unless asked for, and then on a listener of their own, never on
/// the public one (a reverse proxy forwarding every path would publish them).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSettings {
    pub enabled: bool,
    /// Where `GET /metrics` is served (loopback by default).
    pub listen: String,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            listen: "127.0.0.1:9464".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Address the HTTP server binds to (plain HTTP; TLS is the reverse proxy's job).
    pub listen: String,
    /// The public HTTPS base URL BigCommerce and shoppers reach us at.
    pub public_url: String,
    /// Reverse proxies (IP addresses or CIDR ranges, comma separated) whose `X-Forwarded-For`
    /// is believed.
    #[serde(default)]
    pub trusted_proxies: String,
    /// A request header not complete this long after its first byte closes the connection.
    #[serde(default = "default_header_read_timeout_secs")]
    pub header_read_timeout_secs: u64,
    /// A request body not received this long after its header is answered 408.
    #[serde(default = "default_body_timeout_secs")]
    pub body_timeout_secs: u64,
    /// A connection with no request under way is closed after this long.
    #[serde(default = "default_idle_timeout_secs")]
    pub idle_timeout_secs: u64,
    /// Connections open at once; more wait to be accepted.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
}

fn default_header_read_timeout_secs() -> u64 {
    10
}

fn default_body_timeout_secs() -> u64 {
    30
}

fn default_idle_timeout_secs() -> u64 {
    60
}

fn default_max_connections() -> usize {
    10_000
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StorageSettings {
    /// Folder holding `sequra-bc.db` (and, by default, the secrets key file).
    pub data_dir: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BigCommerceSettings {
    pub client_id: String,
    pub client_secret: SecretString,
    pub login_url: String,
    pub api_url: String,
    /// The control panel's base; `{store_hash}` is replaced. Links in the transaction log
    /// go to `{this}/orders/{id}`.
    #[serde(default = "default_control_panel_url")]
    pub control_panel_url: String,
    /// Refuse a webhook whose Standard Webhooks signature does not verify. Off by default:
    /// which deliveries BigCommerce signs, and with which key, is unconfirmed, and refusing
    /// a good delivery means two days of retries and then a deactivated hook. The per-store
    /// secret header authenticates every delivery either way.
    #[serde(default)]
    pub require_webhook_signature: bool,
}

fn default_control_panel_url() -> String {
    "https://store-{store_hash}.mybigcommerce.com/manage".into()
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SequraSettings {
    /// The seQura deployment's sandbox API ("" = as seQura's list of deployments says).
    pub sandbox_url: String,
    /// The seQura deployment's live API; seQura's list of deployments is read there.
    pub live_url: String,
    /// seQura's back office per environment; links go to `{this}/orders/{uuid}`.
    #[serde(default = "default_sandbox_portal_url")]
    pub sandbox_portal_url: String,
    #[serde(default = "default_live_portal_url")]
    pub live_portal_url: String,
    /// Where seQura's widget script lives per environment (`assets_base_url` of seQura's
    /// deployments): shoppers' browsers load `{this}sequra-checkout.min.js`.
    #[serde(default = "default_sandbox_assets_url")]
    pub sandbox_assets_url: String,
    #[serde(default = "default_live_assets_url")]
    pub live_assets_url: String,
    /// The SVEA deployment's hosts ("" = as seQura's list of deployments says).
    #[serde(default)]
    pub svea_sandbox_url: String,
    #[serde(default)]
    pub svea_live_url: String,
    #[serde(default)]
    pub svea_sandbox_assets_url: String,
    #[serde(default)]
    pub svea_live_assets_url: String,
    /// SVEA's back office per environment ([U]: not in seQura's list; set it when known).
    #[serde(default = "default_svea_sandbox_portal_url")]
    pub svea_sandbox_portal_url: String,
    #[serde(default = "default_svea_live_portal_url")]
    pub svea_live_portal_url: String,
}

fn default_svea_sandbox_portal_url() -> String {
    "https://simbox.sequra.svea.com".into()
}

fn default_svea_live_portal_url() -> String {
    "https://simba.sequra.svea.com".into()
}

fn default_sandbox_assets_url() -> String {
    "https://sandbox.sequracdn.com/assets/".into()
}

fn default_live_assets_url() -> String {
    "https://live.sequracdn.com/assets/".into()
}

fn default_sandbox_portal_url() -> String {
    "https://simbox.sequrapi.com".into()
}

fn default_live_portal_url() -> String {
    "https://simba.sequra.com".into()
}

/// The job queue and the background duties.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct JobsSettings {
    /// Jobs run at once (jobs of one order always run one at a time).
    pub workers: usize,
    /// First retry delay; it doubles on each failure (with jitter) up to `retry_max_ms`.
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    /// A job still failing this long after it was queued fails into the transaction log (a
    /// placement goes on trying, every `retry_max_ms`, and the log says so once).
    pub max_age_secs: u64,
    /// A running job whose outcome was not recorded within this long runs again (a job is
    /// cut off at four fifths of it, so two runs of one job never overlap).
    pub lease_secs: u64,
    /// How often the reconciliation runs.
    pub reconcile_every_secs: u64,
    /// Modified orders one sweep reads per store; a busier store's next sweep continues
    /// where this one stopped. At most 10 000 (what one read pages through).
    pub reconcile_batch: usize,
    /// When the daily delivery reports go, `HH:MM` UTC.
    pub delivery_report_time: String,
}

impl Default for JobsSettings {
    fn default() -> Self {
        Self {
            workers: 16,
            retry_base_ms: 2_000,
            retry_max_ms: 15 * 60 * 1000,
            max_age_secs: 48 * 3600,
            lease_secs: 900,
            reconcile_every_secs: 300,
            reconcile_batch: 2000,
            delivery_report_time: "02:00".into(),
        }
    }
}

impl JobsSettings {
    /// The delivery report time as (hour, minute).
    pub fn report_time(&self) -> Result<(u8, u8), ConfigError> {
        let bad = || {
            ConfigError(format!(
                "jobs.delivery_report_time = {:?} is not HH:MM (UTC)",
                self.delivery_report_time
            ))
        };
        let (h, m) = self
            .delivery_report_time
            .trim()
            .split_once(':')
            .ok_or_else(bad)?;
        let h: u8 = h.parse().map_err(|_| bad())?;
        let m: u8 = m.parse().map_err(|_| bad())?;
        if h > 23 || m > 59 {
            return Err(bad());
        }
        Ok((h, m))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SecuritySettings {
    /// Empty means `<data_dir>/secrets.key`.
    #[serde(default)]
    pub secrets_key_file: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub level: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// A configuration problem, phrased for the operator.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl Default for Settings {
    fn default() -> Self {
        Self {
            server: ServerSettings {
                listen: "127.0.0.1:8080".into(),
                public_url: "https://sequra.example.com".into(),
                trusted_proxies: String::new(),
                header_read_timeout_secs: default_header_read_timeout_secs(),
                body_timeout_secs: default_body_timeout_secs(),
                idle_timeout_secs: default_idle_timeout_secs(),
                max_connections: default_max_connections(),
            },
            storage: StorageSettings {
                data_dir: default_data_dir(),
            },
            bigcommerce: BigCommerceSettings {
                client_id: String::new(),
                client_secret: SecretString::default(),
                login_url: "https://login.bigcommerce.com".into(),
                api_url: "https://api.bigcommerce.com".into(),
                control_panel_url: default_control_panel_url(),
                require_webhook_signature: false,
            },
            sequra: SequraSettings {
                sandbox_url: "https://sandbox.sequrapi.com".into(),
                live_url: "https://live.sequrapi.com".into(),
                sandbox_portal_url: default_sandbox_portal_url(),
                live_portal_url: default_live_portal_url(),
                sandbox_assets_url: default_sandbox_assets_url(),
                live_assets_url: default_live_assets_url(),
                svea_sandbox_url: String::new(),
                svea_live_url: String::new(),
                svea_sandbox_assets_url: String::new(),
                svea_live_assets_url: String::new(),
                svea_sandbox_portal_url: default_svea_sandbox_portal_url(),
                svea_live_portal_url: default_svea_live_portal_url(),
            },
            security: SecuritySettings {
                secrets_key_file: String::new(),
            },
            log: LogSettings {
                level: "info".into(),
                format: LogFormat::Text,
            },
            jobs: JobsSettings::default(),
            metrics: MetricsSettings::default(),
        }
    }
}

fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("com", "seQura", "sequra-bc")
}

/// The platform data directory (e.g. `~/.local/share/sequra-bc`).
pub fn default_data_dir() -> PathBuf {
    project_dirs()
        .map(|d| d.data_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from("./data"))
}

/// The platform config file (e.g. `~/.config/sequra-bc/config.toml`), used when `--config` is not given.
pub fn default_config_file() -> Option<PathBuf> {
    project_dirs().map(|d| d.config_dir().join("config.toml"))
}

/// One `section.key = value` override from the environment or a CLI flag.
pub type Override = (String, String, String);

/// Where settings come from, in increasing precedence after the defaults.
#[derive(Debug, Default, Clone)]
pub struct Sources {
    /// An explicit `--config` file: it must exist.
    pub file: Option<PathBuf>,
    /// Whether to fall back to the platform config file when `file` is None.
    pub use_default_file: bool,
    /// The process environment (name, value) pairs; only `SEQURA_BC_*` are read.
    pub env: Vec<(String, String)>,
    /// CLI flags, already split into section and key.
    pub cli: Vec<Override>,
}

impl Sources {
    /// The real process environment, an optional explicit file, and CLI overrides.
    pub fn from_process(file: Option<PathBuf>, cli: Vec<Override>) -> Self {
        Self {
            file,
            use_default_file: true,
            env: std::env::vars().collect(),
            cli,
        }
    }
}

impl Settings {
    /// Builds the settings from every source; a wrong key or value is an error naming it.
    pub fn load(sources: &Sources) -> Result<Self, ConfigError> {
        let mut table = toml::Table::try_from(Settings::default())
            .map_err(|e| ConfigError(format!("internal default settings: {e}")))?;
        let file = match &sources.file {
            Some(f) => Some(f.clone()),
            None if sources.use_default_file => default_config_file().filter(|p| p.is_file()),
            None => None,
        };
        if let Some(path) = file {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                ConfigError(format!("cannot read config file {}: {e}", path.display()))
            })?;
            let from_file: toml::Table = text
                .parse()
                .map_err(|e| ConfigError(format!("config file {}: {e}", path.display())))?;
            merge_file(&mut table, from_file, &path)?;
        }
        for (section, key, value) in env_overrides(&sources.env)? {
            set_key(&mut table, &section, &key, value, "environment")?;
        }
        for (section, key, value) in &sources.cli {
            set_key(&mut table, section, key, value.clone(), "command line")?;
        }
        let settings: Settings = toml::Value::Table(table.clone()).try_into().map_err(
            |e: toml::de::Error| match bad_key(&table) {
                Some(key) => ConfigError(format!("configuration: {key}: {}", e.message())),
                None => ConfigError(format!("configuration: {}", e.message())),
            },
        )?;
        settings.validate_common()?;
        Ok(settings)
    }

    /// Checks every value that any command relies on.
    fn validate_common(&self) -> Result<(), ConfigError> {
        self.listen_addr()?;
        for (key, value, max) in [
            (
                "server.header_read_timeout_secs",
                self.server.header_read_timeout_secs,
                3600,
            ),
            (
                "server.body_timeout_secs",
                self.server.body_timeout_secs,
                3600,
            ),
            (
                "server.idle_timeout_secs",
                self.server.idle_timeout_secs,
                86_400,
            ),
            (
                "server.max_connections",
                self.server.max_connections as u64,
                1_000_000,
            ),
        ] {
            if !(1..=max).contains(&value) {
                return Err(ConfigError(format!("{key} must be from 1 to {max}")));
            }
        }
        self.trusted_proxies()?;
        for (key, value) in [
            ("bigcommerce.login_url", &self.bigcommerce.login_url),
            ("bigcommerce.api_url", &self.bigcommerce.api_url),
            ("sequra.live_url", &self.sequra.live_url),
            ("sequra.sandbox_portal_url", &self.sequra.sandbox_portal_url),
            ("sequra.live_portal_url", &self.sequra.live_portal_url),
            (
                "sequra.svea_sandbox_portal_url",
                &self.sequra.svea_sandbox_portal_url,
            ),
            (
                "sequra.svea_live_portal_url",
                &self.sequra.svea_live_portal_url,
            ),
        ] {
            parse_http_url(key, value)?;
        }
        // The others may be empty (then seQura's list of deployments decides).
        for (key, value) in [
            ("sequra.sandbox_url", &self.sequra.sandbox_url),
            ("sequra.sandbox_assets_url", &self.sequra.sandbox_assets_url),
            ("sequra.live_assets_url", &self.sequra.live_assets_url),
            ("sequra.svea_sandbox_url", &self.sequra.svea_sandbox_url),
            ("sequra.svea_live_url", &self.sequra.svea_live_url),
            (
                "sequra.svea_sandbox_assets_url",
                &self.sequra.svea_sandbox_assets_url,
            ),
            (
                "sequra.svea_live_assets_url",
                &self.sequra.svea_live_assets_url,
            ),
        ] {
            if !value.trim().is_empty() {
                parse_http_url(key, value)?;
            }
        }
        self.jobs.report_time()?;
        self.metrics_addr()?;
        if self.jobs.workers == 0 {
            return Err(ConfigError("jobs.workers must be at least 1".into()));
        }
        tracing_subscriber::EnvFilter::try_new(&self.log.level).map_err(|e| {
            ConfigError(format!(
                "log.level = {:?} is not a valid filter ({e}); use error, warn, info, debug or trace",
                self.log.level
            ))
        })?;
        if self.storage.data_dir.as_os_str().is_empty() {
            return Err(ConfigError(
                "storage.data_dir is empty: set it (or SEQURA_BC_STORAGE__DATA_DIR) to a folder"
                    .into(),
            ));
        }
        Ok(())
    }

    /// What `serve` needs on top: the app's credentials and a usable public URL.
    pub fn validate_for_serve(&self) -> Result<(), ConfigError> {
        let mut missing = Vec::new();
        if self.bigcommerce.client_id.trim().is_empty() {
            missing.push("bigcommerce.client_id (SEQURA_BC_BIGCOMMERCE__CLIENT_ID)");
        }
        if self.bigcommerce.client_secret.is_empty() {
            missing.push("bigcommerce.client_secret (SEQURA_BC_BIGCOMMERCE__CLIENT_SECRET)");
        }
        if !missing.is_empty() {
            return Err(ConfigError(format!(
                "missing {}: copy them from your app in the BigCommerce Developer Portal",
                missing.join(" and ")
            )));
        }
        self.public_url()?;
        Ok(())
    }

    /// The metrics listener's address, when metrics are on; refused on the public port.
    pub fn metrics_addr(&self) -> Result<Option<SocketAddr>, ConfigError> {
        if !self.metrics.enabled {
            return Ok(None);
        }
        let addr: SocketAddr = self.metrics.listen.parse().map_err(|_| {
            ConfigError(format!(
                "metrics.listen = {:?} is not an address like 127.0.0.1:9464",
                self.metrics.listen
            ))
        })?;
        if addr.port() != 0 && self.listen_addr().is_ok_and(|l| l.port() == addr.port()) {
            return Err(ConfigError(
                "metrics.listen must not be the server's port: metrics are never served publicly"
                    .into(),
            ));
        }
        Ok(Some(addr))
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.server.listen.parse().map_err(|_| {
            ConfigError(format!(
                "server.listen = {:?} is not an address like 127.0.0.1:8080",
                self.server.listen
            ))
        })
    }

    /// The public base URL: `https://…`, or plain HTTP on loopback for local testing.
    pub fn public_url(&self) -> Result<Url, ConfigError> {
        let key = "server.public_url (SEQURA_BC_SERVER__PUBLIC_URL)";
        let url = parse_http_url(key, &self.server.public_url)?;
        if url.scheme() != "https" && !is_loopback(&url) {
            return Err(ConfigError(format!(
                "{key} = {:?} must use https:// (BigCommerce only calls HTTPS apps); plain http is accepted only on 127.0.0.1 or localhost",
                self.server.public_url
            )));
        }
        if url.host_str() == Some("sequra.example.com") {
            return Err(ConfigError(format!(
                "{key} is still the example value: set it to the HTTPS address of this server"
            )));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(ConfigError(format!(
                "{key} must not have a query or fragment"
            )));
        }
        Ok(url)
    }

    /// The server's timeouts and connection cap.
    pub fn server_limits(&self) -> crate::server::Limits {
        let secs = std::time::Duration::from_secs;
        crate::server::Limits {
            header_read_timeout: secs(self.server.header_read_timeout_secs),
            body_timeout: secs(self.server.body_timeout_secs),
            idle_timeout: secs(self.server.idle_timeout_secs),
            max_connections: self.server.max_connections,
        }
    }

    /// The trusted proxies: addresses and CIDR ranges (`10.0.0.0/8`, `fd00::/8`). Every entry
    /// that is neither is named in one error.
    pub fn trusted_proxies(&self) -> Result<Vec<crate::domain::IpRange>, ConfigError> {
        crate::domain::parse_ranges(&self.server.trusted_proxies).map_err(|bad| {
            let named: Vec<String> = bad.iter().map(|e| format!("{:?}", e.0)).collect();
            ConfigError(format!(
                "server.trusted_proxies: {} {} not an IP address or a range like 10.0.0.0/8 or fd00::/8 (SEQURA_BC_SERVER__TRUSTED_PROXIES)",
                named.join(", "),
                if named.len() == 1 { "is" } else { "are" }
            ))
        })
    }

    pub fn login_url(&self) -> Url {
        // Validated at load.
        Url::parse(&self.bigcommerce.login_url).expect("validated login_url")
    }

    pub fn api_url(&self) -> Url {
        Url::parse(&self.bigcommerce.api_url).expect("validated api_url")
    }

    pub fn database_path(&self) -> PathBuf {
        self.storage.data_dir.join("sequra-bc.db")
    }

    pub fn secrets_key_path(&self) -> PathBuf {
        if self.security.secrets_key_file.trim().is_empty() {
            self.storage.data_dir.join("secrets.key")
        } else {
            PathBuf::from(&self.security.secrets_key_file)
        }
    }

    /// The effective settings as TOML with every secret shown as `***`.
    pub fn redacted_toml(&self) -> String {
        let mut copy = self.clone();
        if !copy.bigcommerce.client_secret.is_empty() {
            copy.bigcommerce.client_secret = SecretString::new("***");
        }
        if copy.security.secrets_key_file.is_empty() {
            copy.security.secrets_key_file = self.secrets_key_path().display().to_string();
        }
        toml::to_string_pretty(&copy).unwrap_or_default()
    }
}

/// True for `127.0.0.0/8`, `::1` and `localhost`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn parse_http_url(key: &str, value: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value.trim()).map_err(|e| {
        ConfigError(format!(
            "{key} = {value:?} is not a URL ({e}); expected e.g. https://host"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(ConfigError(format!(
            "{key} = {value:?} must be an http(s) URL with a host"
        )));
    }
    Ok(url)
}

fn merge_file(base: &mut toml::Table, file: toml::Table, path: &Path) -> Result<(), ConfigError> {
    for (section, value) in file {
        let Some(base_section) = base.get_mut(&section).and_then(|v| v.as_table_mut()) else {
            return Err(ConfigError(format!(
                "config file {}: unknown section [{section}]",
                path.display()
            )));
        };
        let toml::Value::Table(entries) = value else {
            return Err(ConfigError(format!(
                "config file {}: [{section}] must be a table",
                path.display()
            )));
        };
        for (key, v) in entries {
            if !base_section.contains_key(&key) {
                return Err(ConfigError(format!(
                    "config file {}: unknown setting {section}.{key}",
                    path.display()
                )));
            }
            base_section.insert(key, v);
        }
    }
    Ok(())
}

/// The `section.key` whose value alone keeps the settings from deserializing, so the error
/// can name it (serde's message says what is wrong, not where).
fn bad_key(table: &toml::Table) -> Option<String> {
    let defaults = toml::Table::try_from(Settings::default()).ok()?;
    for (section, entries) in table {
        for (key, value) in entries.as_table()? {
            let mut probe = defaults.clone();
            probe
                .get_mut(section)?
                .as_table_mut()?
                .insert(key.clone(), value.clone());
            if toml::Value::Table(probe).try_into::<Settings>().is_err() {
                return Some(format!("{section}.{key}"));
            }
        }
    }
    None
}

/// Reads `SEQURA_BC_<SECTION>__<KEY>` variables; other names are ignored.
fn env_overrides(env: &[(String, String)]) -> Result<Vec<Override>, ConfigError> {
    let mut out = BTreeMap::new();
    for (name, value) in env {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        // SEQURA_BC_CONFIG names the file, it is not a setting.
        let Some((section, key)) = rest.split_once("__") else {
            continue;
        };
        out.insert(
            (section.to_ascii_lowercase(), key.to_ascii_lowercase()),
            value.clone(),
        );
    }
    Ok(out.into_iter().map(|((s, k), v)| (s, k, v)).collect())
}

fn set_key(
    table: &mut toml::Table,
    section: &str,
    key: &str,
    value: String,
    source: &str,
) -> Result<(), ConfigError> {
    let Some(sec) = table.get_mut(section).and_then(|v| v.as_table_mut()) else {
        return Err(ConfigError(format!(
            "{source}: unknown setting {section}.{key}"
        )));
    };
    if !sec.contains_key(key) {
        return Err(ConfigError(format!(
            "{source}: unknown setting {section}.{key}"
        )));
    }
    // Environment and flags are text: numbers and switches are read as the default's type.
    let typed = match sec.get(key) {
        Some(toml::Value::Integer(_)) => value
            .trim()
            .parse::<i64>()
            .map(toml::Value::Integer)
            .map_err(|_| {
                ConfigError(format!(
                    "{source}: {section}.{key} = {value:?} is not a whole number"
                ))
            })?,
        Some(toml::Value::Boolean(_)) => value
            .trim()
            .parse::<bool>()
            .map(toml::Value::Boolean)
            .map_err(|_| {
                ConfigError(format!(
                    "{source}: {section}.{key} = {value:?} is not true or false"
                ))
            })?,
        _ => toml::Value::String(value),
    };
    sec.insert(key.to_string(), typed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(env: &[(&str, &str)], cli: &[(&str, &str, &str)]) -> Sources {
        Sources {
            file: None,
            use_default_file: false,
            env: env
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            cli: cli
                .iter()
                .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
                .collect(),
        }
    }

    #[test]
    fn numbers_from_the_environment_are_read_as_numbers_and_bad_ones_named() {
        let s = Settings::load(&sources(&[("SEQURA_BC_JOBS__WORKERS", "3")], &[])).unwrap();
        assert_eq!(s.jobs.workers, 3);
        let e = Settings::load(&sources(&[("SEQURA_BC_JOBS__WORKERS", "many")], &[])).unwrap_err();
        assert!(e.0.contains("jobs.workers"), "{e}");
    }

    #[test]
    fn environment_overrides_defaults_and_cli_overrides_environment() {
        let s = Settings::load(&sources(
            &[
                ("SEQURA_BC_SERVER__LISTEN", "127.0.0.1:9000"),
                ("SEQURA_BC_LOG__LEVEL", "debug"),
            ],
            &[("server", "listen", "127.0.0.1:9100")],
        ))
        .unwrap();
        assert_eq!(s.server.listen, "127.0.0.1:9100");
        assert_eq!(s.log.level, "debug");
    }

    #[test]
    fn an_unknown_environment_key_is_an_error_naming_it() {
        let err = Settings::load(&sources(&[("SEQURA_BC_SERVER__LISTN", "x")], &[])).unwrap_err();
        assert!(err.0.contains("server.listn"), "{err}");
    }

    #[test]
    fn serve_refuses_plain_http_public_url_off_loopback() {
        let mut s = Settings::default();
        s.bigcommerce.client_id = "id".into();
        s.bigcommerce.client_secret = SecretString::new("secret");
        s.server.public_url = "http://example.org".into();
        assert!(s.validate_for_serve().unwrap_err().0.contains("https"));
        s.server.public_url = "http://127.0.0.1:8080".into();
        s.validate_for_serve().unwrap();
        s.server.public_url = "https://sequra.agency.example".into();
        s.validate_for_serve().unwrap();
    }

    #[test]
    fn trusted_proxies_take_ranges_and_every_bad_entry_is_named() {
        let mut s = Settings::default();
        s.server.trusted_proxies = "10.0.0.0/8, fd00::/8 127.0.0.1".into();
        let proxies = s.trusted_proxies().unwrap();
        assert_eq!(proxies.len(), 3);
        assert!(
            proxies
                .iter()
                .any(|r| r.contains("::ffff:127.0.0.1".parse().unwrap()))
        );
        assert!(
            proxies
                .iter()
                .any(|r| r.contains("fd00::5".parse().unwrap()))
        );
        s.server.trusted_proxies = "10.0.0.0/33, proxy.local 127.0.0.1".into();
        let err = s.trusted_proxies().unwrap_err();
        assert!(
            err.0.contains("\"10.0.0.0/33\", \"proxy.local\" are not")
                && err.0.contains("SEQURA_BC_SERVER__TRUSTED_PROXIES"),
            "{err}"
        );
        let err = Settings::load(&sources(
            &[("SEQURA_BC_SERVER__TRUSTED_PROXIES", "10.0.0.0/")],
            &[],
        ))
        .unwrap_err();
        assert!(err.0.contains("\"10.0.0.0/\" is not"), "{err}");
    }

    #[test]
    fn serve_names_the_missing_client_secret() {
        let mut s = Settings::default();
        s.bigcommerce.client_id = "id".into();
        let err = s.validate_for_serve().unwrap_err();
        assert!(
            err.0.contains("SEQURA_BC_BIGCOMMERCE__CLIENT_SECRET"),
            "{err}"
        );
    }

    #[test]
    fn metrics_are_off_by_default_and_refused_on_the_servers_port() {
        let on = |listen: &str| {
            Settings::load(&sources(
                &[
                    ("SEQURA_BC_SERVER__LISTEN", "127.0.0.1:9000"),
                    ("SEQURA_BC_METRICS__ENABLED", "true"),
                    ("SEQURA_BC_METRICS__LISTEN", listen),
                ],
                &[],
            ))
        };
        let off = Settings::load(&sources(&[], &[])).unwrap();
        assert_eq!(off.metrics_addr().unwrap(), None);
        let s = on("127.0.0.1:9464").unwrap();
        assert_eq!(
            s.metrics_addr().unwrap(),
            Some("127.0.0.1:9464".parse().unwrap())
        );
        let e = on("0.0.0.0:9000").unwrap_err();
        assert!(e.0.contains("metrics.listen"), "{e}");
        assert!(on("nowhere").unwrap_err().0.contains("metrics.listen"));
    }

    #[test]
    fn redacted_toml_hides_the_client_secret() {
        let mut s = Settings::default();
        s.bigcommerce.client_secret = SecretString::new("hunter2-very-secret");
        let out = s.redacted_toml();
        assert!(!out.contains("hunter2"));
        assert!(out.contains("***"));
        assert_eq!(format!("{:?}", s.bigcommerce.client_secret), "***");
    }

    #[test]
    fn config_example_parses_and_names_every_key() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let table: toml::Table = text.parse().unwrap();
        let defaults = toml::Table::try_from(Settings::default()).unwrap();
        for (section, keys) in &defaults {
            let keys = keys.as_table().unwrap();
            let example = table[section].as_table().unwrap();
            for key in keys.keys() {
                assert!(example.contains_key(key), "example lacks {section}.{key}");
                let env = format!(
                    "SEQURA_BC_{}__{}",
                    section.to_uppercase(),
                    key.to_uppercase()
                );
                assert!(text.contains(&env), "example does not name {env}");
            }
        }
        let loaded = Settings::load(&Sources {
            file: Some(path),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(loaded.server.listen, "127.0.0.1:8080");
    }
}
