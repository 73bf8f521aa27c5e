//! The command line: clap subcommands dispatching to one `*_command` function each. Every
//! flag can also be set from the environment.

use std::io::{BufRead, IsTerminal, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::config::{ConfigError, Override, Settings, Sources};
use crate::db::{self, Db, backup, lock::DataDirLock};
use crate::domain::StoreHash;

#[derive(Debug, Parser)]
#[command(
    name = "sequra-bc",
    version,
    about = "seQura payments for BigCommerce stores: a self-hosted app serving many stores",
    long_about = "seQura payments for BigCommerce stores: one binary, one SQLite file, many stores.\n\
                  Settings come from defaults < config file < SEQURA_BC_<SECTION>__<KEY> environment < flags."
)]
pub struct Cli {
    #[command(flatten)]
    pub common: CommonOptions,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts.
#[derive(Debug, Args)]
pub struct CommonOptions {
    /// Configuration file (default: config.toml in the platform config dir, if present).
    #[arg(long, global = true, env = "SEQURA_BC_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Folder holding the database and the secrets key ([storage] data_dir).
    #[arg(
        long,
        global = true,
        env = "SEQURA_BC_STORAGE__DATA_DIR",
        value_name = "DIR"
    )]
    pub data_dir: Option<PathBuf>,
    /// Log filter: error, warn, info, debug, trace ([log] level).
    #[arg(
        long,
        global = true,
        env = "SEQURA_BC_LOG__LEVEL",
        value_name = "LEVEL"
    )]
    pub log_level: Option<String>,
    /// Log format: text or json ([log] format).
    #[arg(
        long,
        global = true,
        env = "SEQURA_BC_LOG__FORMAT",
        value_name = "FORMAT"
    )]
    pub log_format: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run migrations, then serve the app until SIGTERM or SIGINT.
    Serve(ServeArgs),
    /// Apply pending database migrations, or list them with --status.
    Migrate {
        /// Only show applied and pending migrations.
        #[arg(long)]
        status: bool,
    },
    /// Write a consistent snapshot of the database, safe while `serve` runs.
    Backup {
        /// Where to write it (default: <data_dir>/backups/sequra-bc-<time>.db).
        #[arg(long, env = "SEQURA_BC_BACKUP_OUT", value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Replace the database with a backup (stop the server first).
    Restore {
        /// The backup file to restore.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Write one file for support about a store: version, configuration (secrets removed),
    /// the store's state, connection, recent jobs, webhooks and transaction log.
    Diagnostics {
        /// The store hash.
        hash: String,
        /// Where to write it (default: <data_dir>/diagnostics-<hash>-<time>.json).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Inspect configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Inspect or remove stores.
    #[command(subcommand)]
    Stores(StoresCommand),
    /// Ask the server on [server] listen for `GET /readyz`: exit 0 when it answers 200, 1
    /// otherwise, within a few seconds (a container's HEALTHCHECK: the image has no curl).
    Health,
    /// Start the app with stand-ins of BigCommerce on loopback: a simulated store in your browser.
    #[cfg(feature = "demo")]
    Demo(crate::demo::DemoArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on ([server] listen).
    #[arg(long, env = "SEQURA_BC_SERVER__LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,
    /// Public HTTPS base URL ([server] public_url).
    #[arg(long, env = "SEQURA_BC_SERVER__PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Load and validate the configuration; print the effective settings, secrets as ***.
    Check,
}

#[derive(Debug, Subcommand)]
pub enum StoresCommand {
    /// List stores: hash, install state, install date, users, seQura connection.
    List {
        /// One JSON array of every store (for scripts), instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Remove every row of one store (asks for confirmation unless --yes).
    Purge {
        /// The store hash.
        hash: String,
        /// Do not ask for confirmation.
        #[arg(long, env = "SEQURA_BC_PURGE_YES")]
        yes: bool,
    },
}

/// A failed command: its message and exit code.
#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub code: i32,
}

impl<E: std::fmt::Display> From<E> for CliError {
    fn from(e: E) -> Self {
        Self {
            message: e.to_string(),
            code: 1,
        }
    }
}

type CliResult = Result<(), CliError>;

impl Cli {
    /// Settings for this invocation: common flags plus the command's own.
    pub fn settings(&self) -> Result<Settings, ConfigError> {
        let mut cli: Vec<Override> = Vec::new();
        let mut push = |s: &str, k: &str, v: &Option<String>| {
            if let Some(v) = v {
                cli.push((s.into(), k.into(), v.clone()));
            }
        };
        let c = &self.common;
        push(
            "storage",
            "data_dir",
            &c.data_dir.as_ref().map(|p| p.display().to_string()),
        );
        push("log", "level", &c.log_level);
        push("log", "format", &c.log_format);
        if let Command::Serve(a) = &self.command {
            push("server", "listen", &a.listen);
            push("server", "public_url", &a.public_url);
        }
        Settings::load(&Sources::from_process(c.config.clone(), cli))
    }
}

/// Parses the process's arguments, noting whether `--data-dir` was typed on the command line
/// (the demo must not pick up an operator's `SEQURA_BC_STORAGE__DATA_DIR`).
pub fn parse() -> (Cli, bool) {
    use clap::{CommandFactory, FromArgMatches};
    let matches = Cli::command().get_matches();
    let typed = |m: &clap::ArgMatches| {
        m.value_source("data_dir") == Some(clap::parser::ValueSource::CommandLine)
    };
    let data_dir_typed =
        typed(&matches) || matches.subcommand().map(|(_, m)| typed(m)).unwrap_or(false);
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    (cli, data_dir_typed)
}

/// Runs the parsed command.
pub fn run(cli: Cli, data_dir_typed: bool) -> CliResult {
    // Only the demo reads it.
    #[cfg(not(feature = "demo"))]
    let _ = data_dir_typed;
    #[cfg(feature = "demo")]
    if let Command::Demo(args) = &cli.command {
        crate::telemetry::init(
            cli.common.log_level.as_deref().unwrap_or("info"),
            crate::config::LogFormat::Text,
        );
        let data_dir = cli.common.data_dir.clone().filter(|_| data_dir_typed);
        return crate::demo::demo_command(args, data_dir).map_err(CliError::from);
    }
    let settings = cli.settings().map_err(|e| CliError {
        message: e.to_string(),
        // Docker reserves a health check's exit code 2: any failure there is "unhealthy".
        code: if matches!(cli.command, Command::Health) {
            1
        } else {
            2
        },
    })?;
    crate::telemetry::init(&settings.log.level, settings.log.format);
    match cli.command {
        Command::Serve(_) => serve_command(settings),
        Command::Migrate { status } => migrate_command(&settings, status),
        Command::Backup { out } => backup_command(&settings, out),
        Command::Diagnostics { hash, out } => diagnostics_command(&settings, &hash, out),
        Command::Restore { file } => restore_command(&settings, &file),
        Command::Config(ConfigCommand::Check) => config_check_command(&settings),
        Command::Health => health_command(&settings),
        Command::Stores(StoresCommand::List { json }) => stores_list_command(&settings, json),
        Command::Stores(StoresCommand::Purge { hash, yes }) => {
            stores_purge_command(&settings, &hash, yes)
        }
        #[cfg(feature = "demo")]
        Command::Demo(_) => unreachable!("handled above"),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn serve_command(settings: Settings) -> CliResult {
    settings.validate_for_serve().map_err(|e| CliError {
        message: e.to_string(),
        code: 2,
    })?;
    runtime()?.block_on(async {
        let app = crate::startup::Application::build(settings).await?;
        app.run_until_stopped(crate::startup::shutdown_signal())
            .await;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(())
}

fn open_db(settings: &Settings) -> Result<Db, CliError> {
    std::fs::create_dir_all(&settings.storage.data_dir)?;
    Ok(Db::open(&settings.database_path())?)
}

/// The database as it is, for a command that only reads it: never created (a mistyped data
/// dir is said so), never migrated (a newer binary run for support against a live older
/// server's database would leave that server on a schema it does not know).
fn open_db_as_is(settings: &Settings) -> Result<Db, CliError> {
    let path = settings.database_path();
    if !path.is_file() {
        return Err(format!("no database at {}", path.display()).into());
    }
    let db = Db::open(&path)?;
    db.call_blocking(|c| db::refuse_other(c))?;
    Ok(db)
}

fn migrate_command(settings: &Settings, status: bool) -> CliResult {
    let db = open_db(settings)?;
    if !status {
        // What it is about to do, before doing it (an operator upgrading reads this first).
        let pending: Vec<_> = db
            .migration_status()?
            .into_iter()
            .filter(|m| m.applied_on.is_none())
            .collect();
        // Never under a running server (the older sequra-bc of an upgrade would go on
        // writing a schema it does not know); `--status` reads the plan while it runs.
        let _lock = if pending.is_empty() {
            None
        } else {
            db.call_blocking(|c| db::refuse_newer(c))?;
            let lock = DataDirLock::acquire(&settings.storage.data_dir)
                .map_err(|e| format!("refusing to migrate: {e}"))?;
            println!("{}: applying", settings.database_path().display());
            Some(lock)
        };
        for m in &pending {
            println!("  V{} {}", m.info.version, m.info.name);
        }
        let applied = db.migrate()?;
        if applied.is_empty() {
            println!("Database is up to date.");
        }
        for m in applied {
            println!("applied V{} {}", m.version, m.name);
        }
        return Ok(());
    }
    println!("database: {}", settings.database_path().display());
    for m in db.migration_status()? {
        match m.applied_on {
            Some(at) => println!("V{:<4} {:<40} applied {at}", m.info.version, m.info.name),
            None => println!("V{:<4} {:<40} pending", m.info.version, m.info.name),
        }
    }
    Ok(())
}

fn stamp() -> String {
    crate::clock::now()
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .unwrap_or_else(|_| "now".into())
}

fn backup_command(settings: &Settings, out: Option<PathBuf>) -> CliResult {
    let db_path = settings.database_path();
    let out = out.unwrap_or_else(|| {
        settings
            .storage
            .data_dir
            .join("backups")
            .join(format!("sequra-bc-{}.db", stamp()))
    });
    let mut progress = Progress::new("backing up", "pages");
    // Progress only matters for large databases (16 MiB of 4 KiB pages).
    let report = backup::backup(&db_path, &out, |done, total| {
        if total >= 4096 {
            progress.show(done as u64, total as u64);
        }
    })?;
    progress.end();
    println!(
        "Backup written: {} ({} bytes), integrity check ok.",
        report.path.display(),
        report.bytes
    );
    println!(
        "Keep the secrets key file ({}) safe as well: a backup cannot be restored without it.",
        settings.secrets_key_path().display()
    );
    Ok(())
}

/// A long command's progress on stderr, every tenth of the way: on one rewritten line at a
/// terminal, a line each otherwise (a log).
struct Progress {
    what: &'static str,
    unit: &'static str,
    interactive: bool,
    last_shown: Option<u64>,
}

impl Progress {
    fn new(what: &'static str, unit: &'static str) -> Self {
        Self {
            what,
            unit,
            interactive: std::io::stderr().is_terminal(),
            last_shown: None,
        }
    }

    fn show(&mut self, done: u64, total: u64) {
        let pct = (done * 100).checked_div(total).unwrap_or(100);
        if self.last_shown.is_some_and(|l| l / 10 == pct / 10) {
            return;
        }
        self.last_shown = Some(pct);
        let (what, unit) = (self.what, self.unit);
        if self.interactive {
            eprint!("\r{what}: {pct:>3}% of {total} {unit}");
        } else {
            eprintln!("{what}: {pct}% of {total} {unit}");
        }
    }

    fn end(&self) {
        if self.interactive && self.last_shown.is_some() {
            eprintln!();
        }
    }
}

fn restore_command(settings: &Settings, file: &std::path::Path) -> CliResult {
    let large = std::fs::metadata(file).is_ok_and(|m| m.len() >= 16 * 1024 * 1024);
    if large {
        eprintln!("checking {} (integrity_check)…", file.display());
    }
    // Before the lock: a file refused leaves the data directory as it was.
    backup::verify_backup_file(file).map_err(|e| format!("refusing to restore: {e}"))?;
    let _lock = DataDirLock::acquire(&settings.storage.data_dir)
        .map_err(|e| format!("refusing to restore: {e}"))?;
    let mut progress = Progress::new("restoring", "bytes");
    let kept = backup::restore(&settings.database_path(), file, &stamp(), |done, total| {
        if large {
            progress.show(done, total);
        }
    })?;
    progress.end();
    // The restored file may be from an older version: bring its schema up to date.
    let db = Db::open(&settings.database_path())?;
    db.migrate()?;
    // BigCommerce and seQura went on after this database's last moment: the first
    // reconciliation after the next start finds what it lost there.
    let point = db.call_blocking(|c| backup::mark_restored(c))?;
    println!(
        "Restored {} into {}.",
        file.display(),
        settings.database_path().display()
    );
    if let Some(point) = point {
        println!(
            "Recovery point: {point}. The first reconciliation after `serve` starts recovers \
             from BigCommerce and seQura what happened since, and the transaction log says what."
        );
    }
    if let Some(kept) = kept {
        println!("The replaced database was kept as {}.", kept.display());
    }
    if !settings.secrets_key_path().exists() {
        println!(
            "Warning: no secrets key file at {}: restore the key file that belongs to this backup.",
            settings.secrets_key_path().display()
        );
    }
    Ok(())
}

fn config_check_command(settings: &Settings) -> CliResult {
    println!("{}", settings.redacted_toml());
    match settings.validate_for_serve() {
        Ok(()) => {
            println!("# configuration is valid");
            Ok(())
        }
        Err(e) => Err(CliError {
            message: format!("configuration is not ready for `serve`: {e}"),
            code: 2,
        }),
    }
}

/// How long `health` waits for the connection, then for the answer's status line.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(3);

fn health_command(settings: &Settings) -> CliResult {
    let addr = health_target(settings.listen_addr()?);
    let unhealthy = |why: String| CliError {
        message: format!("not ready: http://{addr}/readyz {why}"),
        code: 1,
    };
    match readyz_status(addr) {
        Ok(200) => {
            println!("ready: http://{addr}/readyz answered 200");
            Ok(())
        }
        Ok(status) => Err(unhealthy(format!("answered {status}"))),
        Err(e) => Err(unhealthy(e.to_string())),
    }
}

/// Where a server listening on `listen` is reached from this machine: a wildcard address
/// (`0.0.0.0`, `[::]`, as in a container) through loopback.
fn health_target(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// The status of `GET /readyz` on `addr` over HTTP/1.0, the connection and then the answer
/// each bounded by [`HEALTH_TIMEOUT`] (a server that accepts and never answers, or answers a
/// byte at a time, must not hang the check).
fn readyz_status(addr: SocketAddr) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, HEALTH_TIMEOUT)?;
    let deadline = std::time::Instant::now() + HEALTH_TIMEOUT;
    stream.set_write_timeout(Some(HEALTH_TIMEOUT))?;
    write!(stream, "GET /readyz HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    // The status line is all it needs: "HTTP/1.1 200 OK".
    let mut head = Vec::new();
    let mut buf = [0u8; 64];
    while !head.contains(&b'\n') && head.len() < 256 {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        stream.set_read_timeout(Some(left))?;
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    line.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .filter(|_| line.starts_with("HTTP/"))
        .ok_or_else(|| std::io::Error::other("answered something that is not HTTP"))
}

/// Brings the schema up to date for a command that works beside a running server: nothing to
/// do when nothing is pending; otherwise only where no server holds the data directory (the
/// older server of an upgrade would go on writing a schema it does not know), as `migrate`.
fn migrated_beside_a_server(settings: &Settings, db: &Db, what: &str) -> CliResult {
    let pending = db
        .migration_status()?
        .iter()
        .filter(|m| m.applied_on.is_none())
        .count();
    if pending == 0 {
        return Ok(());
    }
    db.call_blocking(|c| db::refuse_newer(c))?;
    let _lock = DataDirLock::acquire(&settings.storage.data_dir).map_err(|e| {
        format!(
            "refusing to {what}: the database needs {pending} migration(s) first, and {e}. \
             Start the new server (it migrates when it starts), or stop the running one and \
             run `migrate`"
        )
    })?;
    db.migrate()?;
    Ok(())
}

fn stores_list_command(settings: &Settings, json: bool) -> CliResult {
    let db = open_db(settings)?;
    migrated_beside_a_server(settings, &db, "list the stores")?;
    let stores = db.call_blocking(|c| db::stores::list(c))?;
    if json {
        // What an operator's scripts need of each store; no token, secret or owner's email.
        let list: Vec<serde_json::Value> = stores
            .iter()
            .map(|s| {
                let mut store = store_json(&s.store);
                store.insert("users".into(), s.users.into());
                store.insert(
                    "sequra".into(),
                    s.sequra
                        .as_ref()
                        .map(|env| {
                            serde_json::json!({"environment": env, "deployments": s.deployments})
                        })
                        .into(),
                );
                serde_json::Value::Object(store)
            })
            .collect();
        println!("{}", serde_json::Value::Array(list));
        return Ok(());
    }
    if stores.is_empty() {
        println!("No stores.");
        return Ok(());
    }
    println!(
        "{:<16} {:<12} {:<22} {:>5}  SEQURA",
        "HASH", "STATE", "INSTALLED AT", "USERS"
    );
    for s in stores {
        let sequra = s
            .sequra
            .map(|env| format!("connected ({env}: {})", s.deployments.join(", ")))
            .unwrap_or_else(|| "not connected".into());
        println!(
            "{:<16} {:<12} {:<22} {:>5}  {sequra}",
            s.store.hash,
            if s.store.installed {
                "installed"
            } else {
                "uninstalled"
            },
            s.store.installed_at,
            s.users,
        );
    }
    Ok(())
}

/// What the operator's outputs (`stores list --json`, `diagnostics`) say of a store: no token,
/// secret or owner's email.
fn store_json(s: &db::stores::Store) -> serde_json::Map<String, serde_json::Value> {
    let v = serde_json::json!({
        "hash": s.hash.as_str(),
        "name": s.store_name,
        "state": if s.installed { "installed" } else { "uninstalled" },
        "installed_at": s.installed_at,
        "uninstalled_at": s.uninstalled_at,
        "storefront_url": s.storefront_url,
        "language": s.language,
    });
    match v {
        serde_json::Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}

/// How much of a store's history the support file holds.
const DIAGNOSTICS_JOBS: usize = 200;
const DIAGNOSTICS_LOG: u32 = 200;
const DIAGNOSTICS_WEBHOOK_DAYS: i64 = 7;

fn diagnostics_command(settings: &Settings, hash: &str, out: Option<PathBuf>) -> CliResult {
    let hash = StoreHash::parse(hash).map_err(|_| format!("{hash:?} is not a store hash"))?;
    let db = open_db_as_is(settings)?;
    let since = db::timestamp(crate::clock::now() - time::Duration::days(DIAGNOSTICS_WEBHOOK_DAYS));
    let h = hash.clone();
    let report = db.call_blocking(move |c| {
        let Some(store) = db::stores::get(c, &h)? else {
            return Ok(None);
        };
        let connections: Vec<serde_json::Value> = db::sequra::connections(c, &h)?
            .into_iter()
            .map(|k| {
                serde_json::json!({
                    "deployment": k.deployment,
                    "environment": k.environment,
                    "username": k.username,
                    "connected_at": k.connected_at,
                })
            })
            .collect();
        let merchants: Vec<serde_json::Value> = db::sequra::merchants(c, &h)?
            .into_iter()
            .map(|m| {
                serde_json::json!({
                    "merchant_ref": m.merchant_ref.as_str(),
                    "deployment": m.deployment,
                    "country": m.country,
                    "currency": m.currency,
                })
            })
            .collect();
        let countries: Vec<serde_json::Value> = db::settings::countries(c, &h)?
            .into_iter()
            .map(|(country, m)| serde_json::json!({"country": country.code(), "merchant_ref": m.as_str()}))
            .collect();
        let (log, _) = db::transaction_log::list(
            c,
            &h,
            &db::transaction_log::Filter::default(),
            1,
            DIAGNOSTICS_LOG,
        )?;
        let mut store_fields = store_json(&store);
        store_fields.insert("scopes".into(), store.scopes.clone().into());
        Ok(Some(serde_json::json!({
            "store": store_fields,
            "sequra": {
                "connections": connections,
                "merchants": merchants,
                "selling_countries": countries,
            },
            "jobs": db::diagnostics::recent_jobs(c, &h, DIAGNOSTICS_JOBS)?,
            "webhooks_since": since,
            "webhooks": db::diagnostics::webhook_counts(c, &h, &since)?,
            "transaction_log": log,
            "app_log": db::app_log::recent(c, &h, &[], db::app_log::KEEP_PER_STORE)?,
        })))
    })?;
    let Some(mut report) = report else {
        return Err(format!("no store {hash}").into());
    };
    let schema = db.call_blocking(|c| db::schema_version(c))?;
    if let Some(obj) = report.as_object_mut() {
        obj.insert("generated_at".into(), db::now().into());
        obj.insert("version".into(), env!("CARGO_PKG_VERSION").into());
        obj.insert(
            "schema".into(),
            serde_json::json!({"database": schema, "binary": db::binary_schema_version()}),
        );
        obj.insert("config".into(), settings.redacted_toml().into());
    }
    let out = out.unwrap_or_else(|| {
        settings
            .storage
            .data_dir
            .join(format!("diagnostics-{hash}-{}.json", stamp()))
    });
    let text = serde_json::to_string_pretty(&report)?;
    std::fs::write(&out, text)?;
    println!("Diagnostics of {hash} written: {}", out.display());
    Ok(())
}

fn stores_purge_command(settings: &Settings, hash: &str, yes: bool) -> CliResult {
    let hash = StoreHash::parse(hash).map_err(|_| format!("{hash:?} is not a store hash"))?;
    let db = open_db(settings)?;
    migrated_beside_a_server(settings, &db, "purge")?;
    let h = hash.clone();
    if db.call_blocking(move |c| db::stores::get(c, &h))?.is_none() {
        return Err(format!("no store {hash}").into());
    }
    if !yes {
        if !std::io::stdin().is_terminal() {
            return Err("refusing to purge without confirmation: pass --yes".into());
        }
        print!("This deletes every row of store {hash}. Type the store hash to confirm: ");
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if answer.trim() != hash.as_str() {
            return Err("not confirmed; nothing was deleted".into());
        }
    }
    let h = hash.clone();
    db.call_blocking(move |c| db::stores::purge(c, &h))?;
    // The banner images are the store's too; left behind, the next start's sweep deletes them.
    if let Err(e) = crate::remote::banners::remove_store_files(&settings.storage.data_dir, &hash) {
        eprintln!(
            "The store's banner images could not all be deleted ({e}): the server deletes them at its next start."
        );
    }
    println!("Store purged.");
    Ok(())
}
