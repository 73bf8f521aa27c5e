//! The one SQLite database: connections with the app's PRAGMAs, embedded migrations, and one
//! file of queries per aggregate. SQL lives here and nowhere else.
//!
//! Layer: bottom, beside `domain`. No HTTP, no clients, no services: a query never calls out.

pub mod app_log;
pub mod backup;
pub mod banners;
pub mod delivery_reports;
pub mod diagnostics;
pub mod jobs;
pub mod lock;
pub mod order_sync;
pub mod provisioning;
pub mod remote;
pub mod sequra;
pub mod settings;
pub mod solicitations;
pub mod storefronts;
pub mod stores;
pub mod transaction_log;
pub mod users;
pub mod webhook_events;
pub mod widgets;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;
use rusqlite::hooks::Wal;
use rusqlite::wal::CheckpointMode;

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// How long a connection waits for another writer before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Idle connections kept for reuse (blocking tasks run up to this many queries at once
/// without opening a connection).
const POOL_SIZE: usize = 32;
/// Compiled statements kept per connection.
const STATEMENT_CACHE: usize = 128;
/// Writes grouped into one transaction (one fsync) by the batch writer, at most.
const MAX_BATCH: usize = 512;
/// WAL frames after which the checkpointer copies them into the database file (SQLite's own
/// automatic checkpoint threshold).
const CHECKPOINT_FRAMES: i32 = 1000;
/// WAL frames after which the batch writer checkpoints itself, whatever the checkpointer
/// does: bounds the log's size should the checkpointer fall behind.
const WRITER_CHECKPOINT_FRAMES: i32 = 20_000;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database migration: {0}")]
    Migration(#[from] refinery::Error),
    #[error("stored secret: {0}")]
    Crypto(#[from] crate::crypto::CryptoError),
    #[error("database task failed: {0}")]
    Task(String),
    /// The database was migrated by a newer sequra-bc: this one does not know its schema,
    /// and writing to it could corrupt what the newer one stores.
    #[error(
        "the database's schema is V{database}, newer than this sequra-bc's V{binary} (version \
         {version}): run the sequra-bc that migrated it, or restore a backup taken before the \
         upgrade",
        version = env!("CARGO_PKG_VERSION")
    )]
    SchemaNewer { database: i64, binary: i64 },
    /// A command that only reads found a database an older sequra-bc migrated: it reads this
    /// binary's schema only, and migrating it under the older server still using it would
    /// leave that server on a schema it does not know.
    #[error(
        "the database's schema is V{database}, older than this sequra-bc's V{binary} (version \
         {version}): run the sequra-bc that serves it, or stop the server and run `sequra-bc \
         migrate` first",
        version = env!("CARGO_PKG_VERSION")
    )]
    SchemaOlder { database: i64, binary: i64 },
    #[error("{0}")]
    Invalid(String),
}

/// A handle to the database file: cheap to clone, hands out pooled connections and keeps
/// blocking SQLite work off the async workers.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// The batch writer's inbox (see [`Db::batched`]).
    batcher: std::sync::mpsc::Sender<Work>,
}

/// A write for the batch writer. It may run twice: once with the rest of its batch, and again
/// in its own savepoint when another write of the batch failed and the batch was undone.
trait Write: Send {
    /// Runs inside the batch's transaction; false when the write failed.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Tells the caller, once the batch is committed (or not).
    fn finish(self: Box<Self>, committed: Result<(), DbError>);
}

type Work = Box<dyn Write>;

/// A caller of [`Db::batched`] waiting for its write's result.
struct Waiting<F, R> {
    write: F,
    result: Option<Result<R, DbError>>,
    reply: tokio::sync::oneshot::Sender<Result<R, DbError>>,
}

impl<F, R> Write for Waiting<F, R>
where
    F: FnMut(&Connection) -> Result<R, DbError> + Send,
    R: Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let result = (self.write)(conn);
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, committed: Result<(), DbError>) {
        let result = self
            .result
            .unwrap_or_else(|| Err(DbError::Task("the write did not run".into())));
        let _ = self.reply.send(committed.and(result));
    }
}

/// SQLite's own busy timeout sleeps up to 100 ms between tries, so a writer that just missed
/// the lock waits far longer than the holder keeps it; short sleeps keep the tail short.
fn busy_wait(attempt: i32) -> bool {
    let waited_ms = i64::from(attempt.min(100)) / 10 + i64::from((attempt - 100).max(0));
    if waited_ms >= BUSY_TIMEOUT.as_millis() as i64 {
        return false;
    }
    std::thread::sleep(if attempt < 100 {
        Duration::from_micros(100)
    } else {
        Duration::from_millis(1)
    });
    true
}

/// What the batch writer has done since the process started (for the metrics, which read it
/// at a scrape): batches committed, the writes they held, the time their commits took.
#[derive(Debug, Default)]
pub struct BatchStats {
    pub batches: std::sync::atomic::AtomicU64,
    pub writes: std::sync::atomic::AtomicU64,
    pub commit_nanos: std::sync::atomic::AtomicU64,
}

/// The process's batch writers' figures (one database per process in production).
pub static BATCH_STATS: BatchStats = BatchStats {
    batches: std::sync::atomic::AtomicU64::new(0),
    writes: std::sync::atomic::AtomicU64::new(0),
    commit_nanos: std::sync::atomic::AtomicU64::new(0),
};

/// The batch writer: takes every write waiting in its inbox, runs them in one transaction,
/// commits once, then tells each caller. Many small writes then cost one lock and one fsync.
/// Should one write fail, the batch is undone and run again with each write in its own
/// savepoint, so the failing one alone is left out: a savepoint per write every time cost a
/// tenth of the writer's time, and writes rarely fail.
fn batch_writer(path: PathBuf, inbox: std::sync::mpsc::Receiver<Work>, checkpoints: Checkpoints) {
    let mut conn = None;
    while let Ok(first) = inbox.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match inbox.try_recv() {
                Ok(w) => batch.push(w),
                Err(_) => break,
            }
        }
        if conn.is_none() {
            conn = connect(&path)
                .and_then(|mut c| {
                    checkpoints.hand_over(&mut c)?;
                    Ok(c)
                })
                .ok();
        }
        let Some(c) = conn.as_mut() else {
            // Without a connection nothing ran: dropping the writes tells each caller so.
            drop(batch);
            continue;
        };
        let started = std::time::Instant::now();
        let outcome = (|| -> Result<(), DbError> {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            if batch.iter_mut().all(|w| w.run(&tx)) {
                return Ok(tx.commit()?);
            }
            tx.rollback()?;
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            for w in batch.iter_mut() {
                in_savepoint(&tx, w.as_mut())?;
            }
            Ok(tx.commit()?)
        })();
        if outcome.is_ok() {
            use std::sync::atomic::Ordering::Relaxed;
            BATCH_STATS.batches.fetch_add(1, Relaxed);
            BATCH_STATS.writes.fetch_add(batch.len() as u64, Relaxed);
            let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
            BATCH_STATS.commit_nanos.fetch_add(nanos, Relaxed);
        }
        let failure = outcome.err().map(|e| e.to_string());
        for w in batch {
            w.finish(match &failure {
                None => Ok(()),
                Some(e) => Err(DbError::Task(format!("batch not committed: {e}"))),
            });
        }
        if failure.is_some() {
            // A connection left mid-transaction is not reused.
            conn = None;
        }
    }
}

/// Runs one write of a batch in its own savepoint, undone alone when it fails. The savepoint
/// statements are cached (compiling them for every write showed in the writer's profile).
fn in_savepoint(conn: &Connection, work: &mut dyn Write) -> Result<(), DbError> {
    conn.prepare_cached("SAVEPOINT batch_item")?.execute([])?;
    if !work.run(conn) {
        conn.prepare_cached("ROLLBACK TO batch_item")?.execute([])?;
    }
    conn.prepare_cached("RELEASE batch_item")?.execute([])?;
    Ok(())
}

/// Checkpoints off the batch writer's path. SQLite checkpoints in the commit that crosses the
/// threshold, so every thousandth batch waited 2–6 ms for a thousand pages to be copied and
/// the database file synced, with every delivery in the next batch waiting behind it. Here a
/// thread with its own connection does that copy while the writer goes on committing. The
/// log only starts over when a transaction begins with every frame copied, which a writer
/// that never pauses never sees; so once the thread has caught up, the writer copies the few
/// frames committed meanwhile itself, and its next transaction restarts the log.
#[derive(Clone)]
struct Checkpoints {
    nudge: std::sync::mpsc::SyncSender<()>,
    caught_up: Arc<AtomicBool>,
}

impl Checkpoints {
    fn start(path: &Path) -> Result<Self, DbError> {
        let (nudge, nudges) = std::sync::mpsc::sync_channel(1);
        let caught_up = Arc::new(AtomicBool::new(false));
        let (path, done) = (path.to_path_buf(), caught_up.clone());
        std::thread::Builder::new()
            .name("db-checkpointer".into())
            .spawn(move || {
                let mut conn = None;
                while nudges.recv().is_ok() {
                    if conn.is_none() {
                        conn = connect(&path).ok();
                    }
                    let Some(c) = conn.as_ref() else { continue };
                    // PASSIVE: never waits for the writer or for readers; what a reader still
                    // needs stays in the log for the next round.
                    if let Ok((log, copied)) =
                        c.wal_checkpoint_v2(None::<&str>, CheckpointMode::PASSIVE)
                    {
                        done.store(log > 0 && copied == log, Ordering::Release);
                    }
                }
            })
            .map_err(|e| DbError::Task(e.to_string()))?;
        Ok(Self { nudge, caught_up })
    }

    /// Replaces `conn`'s automatic checkpoints with this arrangement.
    fn hand_over(&self, conn: &mut Connection) -> Result<(), DbError> {
        let this = self.clone();
        conn.wal_hook(Some(move |wal: &mut Wal, frames| {
            if frames >= CHECKPOINT_FRAMES {
                if this.caught_up.swap(false, Ordering::AcqRel)
                    || frames >= WRITER_CHECKPOINT_FRAMES
                {
                    // Busy (the thread is checkpointing) only means not this time.
                    let _ = wal.checkpoint_v2(CheckpointMode::PASSIVE);
                } else {
                    let _ = this.nudge.try_send(());
                }
            }
            Ok(())
        }))?;
        Ok(())
    }
}

/// Opens a connection with the PRAGMAs every connection must have.
pub fn connect(path: &Path) -> Result<Connection, DbError> {
    let mut conn = Connection::open(path)?;
    conn.busy_handler(Some(busy_wait))?;
    // Every transaction takes the write lock at BEGIN, waiting for it in the busy handler: a
    // deferred one that reads and then writes fails at once ("database is locked", no
    // waiting) when another connection wrote in between — the reconciliation's sweep did,
    // under the simulator's load, and left a lost shipment unsynced until the next sweep.
    conn.set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
    // The batch writer and the job workers use far more than rusqlite's default 16 statements.
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Stable query plans: without this, a cached statement whose plan could depend on its
    // bound values (any ORDER BY over a filtered index scan) is recompiled every time its
    // bindings are cleared, which is every time it goes back to the statement cache.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    // WAL: readers never block the writer; FULL: a committed transaction survives power loss.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

impl Db {
    /// Opens (creating if needed) the database file; its folder must exist.
    pub fn open(path: &Path) -> Result<Self, DbError> {
        let first = connect(path)?;
        let (sender, inbox) = std::sync::mpsc::channel::<Work>();
        let writer_path = path.to_path_buf();
        let checkpoints = Checkpoints::start(path)?;
        std::thread::Builder::new()
            .name("db-batch-writer".into())
            .spawn(move || batch_writer(writer_path, inbox, checkpoints))
            .map_err(|e| DbError::Task(e.to_string()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                idle: Mutex::new(vec![first]),
                batcher: sender,
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` on a pooled connection, on the current thread (CLI and start-up).
    pub fn call_blocking<R>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<R, DbError>,
    ) -> Result<R, DbError> {
        let pooled = self.inner.idle.lock().map_err(poisoned)?.pop();
        let mut conn = match pooled {
            Some(c) => c,
            None => connect(&self.inner.path)?,
        };
        let result = f(&mut conn);
        // A connection left inside a transaction (a panic in f) is dropped, not reused.
        if conn.is_autocommit() {
            let mut idle = self.inner.idle.lock().map_err(poisoned)?;
            if idle.len() < POOL_SIZE {
                idle.push(conn);
            }
        }
        result
    }

    /// Runs `f` on a pooled connection on tokio's blocking thread pool.
    pub async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<R, DbError> + Send + 'static,
    ) -> Result<R, DbError> {
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.call_blocking(f))
            .await
            .map_err(|e| DbError::Task(e.to_string()))?
    }

    /// Runs a small write in the batch writer's next transaction and returns once that
    /// transaction is committed: for hot paths that must be durable before they answer
    /// (webhook intake), where one fsync per request would be the bottleneck. The write may
    /// run twice (see [`batch_writer`]): it must do nothing but its SQL.
    pub async fn batched<R: Send + 'static>(
        &self,
        write: impl FnMut(&Connection) -> Result<R, DbError> + Send + 'static,
    ) -> Result<R, DbError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let work: Work = Box::new(Waiting {
            write,
            result: None,
            reply,
        });
        self.inner
            .batcher
            .send(work)
            .map_err(|_| DbError::Task("the batch writer stopped".into()))?;
        answer
            .await
            .map_err(|_| DbError::Task("the batch writer dropped a write".into()))?
    }

    /// Applies pending migrations; returns the versions applied now. Refuses a database a
    /// newer sequra-bc migrated ([`DbError::SchemaNewer`]), touching nothing.
    pub fn migrate(&self) -> Result<Vec<MigrationInfo>, DbError> {
        self.call_blocking(|conn| {
            refuse_newer(conn)?;
            let report = embedded::migrations::runner().run(conn)?;
            Ok(report
                .applied_migrations()
                .iter()
                .map(MigrationInfo::from)
                .collect())
        })
    }

    /// Every known migration and whether it is applied.
    pub fn migration_status(&self) -> Result<Vec<MigrationStatus>, DbError> {
        self.call_blocking(|conn| {
            let runner = embedded::migrations::runner();
            let applied = if has_history(conn)? {
                runner.get_applied_migrations(conn)?
            } else {
                Vec::new()
            };
            Ok(runner
                .get_migrations()
                .iter()
                .map(|m| MigrationStatus {
                    info: MigrationInfo::from(m),
                    applied_on: applied
                        .iter()
                        .find(|a| a.version() == m.version())
                        .and_then(|a| a.applied_on().map(|t| t.to_string())),
                })
                .collect())
        })
    }

    /// True when every embedded migration is applied (for `/readyz`). A plain read: refinery
    /// reads its history in a transaction, which every connection here begins by taking the
    /// write lock, so each readiness probe waited for the writer (0.4–0.6 s behind the start's
    /// reconciliation, with 10 000 stores) and the webhook intake then waited for the probe.
    pub fn schema_is_current(&self) -> Result<bool, DbError> {
        self.call_blocking(|conn| {
            if !has_history(conn)? {
                return Ok(false);
            }
            let applied: std::collections::HashSet<i64> = conn
                .prepare_cached("SELECT version FROM refinery_schema_history")?
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            Ok(embedded::migrations::runner()
                .get_migrations()
                .iter()
                .all(|m| applied.contains(&i64::from(m.version()))))
        })
    }
}

/// The newest schema version this binary knows.
pub fn binary_schema_version() -> i64 {
    embedded::migrations::runner()
        .get_migrations()
        .iter()
        .map(|m| i64::from(m.version()))
        .max()
        .unwrap_or(0)
}

/// The newest schema version applied to the database (0 when none is).
pub fn schema_version(conn: &Connection) -> Result<i64, DbError> {
    if !has_history(conn)? {
        return Ok(0);
    }
    Ok(conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM refinery_schema_history",
        [],
        |r| r.get(0),
    )?)
}

/// Whether migrations were ever applied (a fresh database has no history table yet).
fn has_history(conn: &Connection) -> Result<bool, DbError> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master
                        WHERE type = 'table' AND name = 'refinery_schema_history')",
        [],
        |r| r.get(0),
    )?)
}

/// [`DbError::SchemaNewer`] when a newer sequra-bc migrated the database.
pub fn refuse_newer(conn: &Connection) -> Result<(), DbError> {
    let (database, binary) = (schema_version(conn)?, binary_schema_version());
    if database > binary {
        return Err(DbError::SchemaNewer { database, binary });
    }
    Ok(())
}

/// [`refuse_newer`], and [`DbError::SchemaOlder`] when the database still needs migrating:
/// for commands that read the database as it is.
pub fn refuse_other(conn: &Connection) -> Result<(), DbError> {
    refuse_newer(conn)?;
    let (database, binary) = (schema_version(conn)?, binary_schema_version());
    if database < binary {
        return Err(DbError::SchemaOlder { database, binary });
    }
    Ok(())
}

fn poisoned<T>(_: T) -> DbError {
    DbError::Task("connection pool lock poisoned".into())
}

#[derive(Debug, Clone)]
pub struct MigrationInfo {
    pub version: i64,
    pub name: String,
}

impl From<&refinery::Migration> for MigrationInfo {
    fn from(m: &refinery::Migration) -> Self {
        Self {
            version: m.version() as i64,
            name: m.name().to_string(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct MigrationStatus {
    pub info: MigrationInfo,
    /// When it was applied, or None while pending.
    pub applied_on: Option<String>,
}

/// The current time as RFC 3339 UTC, the format every timestamp column uses.
pub fn now() -> String {
    timestamp(crate::clock::now())
}

/// `t` in the timestamp columns' format (RFC 3339 UTC, whole seconds), so it compares with them.
pub fn timestamp(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// A migrated database in a temporary directory with `stores` installed, for unit tests.
#[cfg(test)]
pub(crate) fn test_db(stores: &[&str]) -> (tempfile::TempDir, Connection) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    Db::open(&path).unwrap().migrate().unwrap();
    let c = connect(&path).unwrap();
    for s in stores {
        c.execute(
            "INSERT INTO stores (store_hash, status, installed_at)
             VALUES (?1, 'installed', '2026-01-01T00:00:00Z')",
            [s],
        )
        .unwrap();
    }
    (dir, c)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes sharing a batch with failing ones: each failing write is undone whole (its
    /// first statement too) and reports its error; every other write is kept exactly once,
    /// though it ran twice when its batch had to be run again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_write_is_undone_alone_and_the_others_kept_once() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db")).unwrap();
        db.call(|c| {
            Ok(c.execute_batch(
                "CREATE TABLE t (v INTEGER UNIQUE); CREATE TABLE audit (v INTEGER);
                 INSERT INTO t (v) VALUES (-1);",
            )?)
        })
        .await
        .unwrap();
        let writes: Vec<_> = (0..400i64)
            .map(|i| {
                let db = db.clone();
                tokio::spawn(async move {
                    // Every seventh write collides with the row already there, after its
                    // first statement succeeded.
                    let v = if i % 7 == 0 { -1 } else { i };
                    db.batched(move |c| {
                        c.execute("INSERT INTO audit (v) VALUES (?1)", [i])?;
                        c.execute("INSERT INTO t (v) VALUES (?1)", [v])?;
                        Ok(i)
                    })
                    .await
                })
            })
            .collect();
        for (i, w) in writes.into_iter().enumerate() {
            let result = w.await.unwrap();
            assert_eq!(result.is_err(), i % 7 == 0, "write {i}: {result:?}");
        }
        let (audit, distinct, failed): (i64, i64, i64) = db
            .call(|c| {
                Ok(c.query_row(
                    "SELECT count(*), count(DISTINCT v), sum(v % 7 = 0) FROM audit",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )?)
            })
            .await
            .unwrap();
        let kept = 400 - (0..400).filter(|i| i % 7 == 0).count() as i64;
        assert_eq!((audit, distinct, failed), (kept, kept, 0));
    }

    /// Readiness reads the schema's history without waiting for a writer: a write
    /// transaction held elsewhere (the sweep's, the intake's batch) does not hold it up.
    #[test]
    fn the_schema_check_waits_for_no_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let db = Db::open(&path).unwrap();
        assert!(!db.schema_is_current().unwrap(), "nothing applied yet");
        db.migrate().unwrap();
        let writer = connect(&path).unwrap();
        writer.execute_batch("BEGIN IMMEDIATE").unwrap();
        assert!(db.schema_is_current().unwrap());
        writer.execute_batch("ROLLBACK").unwrap();
    }

    /// A writer that never pauses used to keep the log growing: it only starts over when a
    /// transaction begins with every frame copied. 8 000 pages written by 64 writers at once
    /// must leave a log of about one checkpoint's worth, not all of them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_log_starts_over_under_a_writer_that_never_pauses() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let db = Db::open(&path).unwrap();
        db.call(|c| Ok(c.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB)")?))
            .await
            .unwrap();
        const WRITES: usize = 8_000;
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let writers: Vec<_> = (0..64)
            .map(|_| {
                let (db, next) = (db.clone(), next.clone());
                tokio::spawn(async move {
                    while next.fetch_add(1, Ordering::Relaxed) < WRITES {
                        // Most of a page each: every write adds a page to the log.
                        db.batched(|c| {
                            c.execute("INSERT INTO t (b) VALUES (zeroblob(3500))", [])?;
                            Ok(())
                        })
                        .await
                        .unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.await.unwrap();
        }
        let rows: i64 = db
            .call(|c| Ok(c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(rows, WRITES as i64);
        let wal = std::fs::metadata(dir.path().join("t.db-wal"))
            .unwrap()
            .len();
        let frames = wal / 4_120;
        assert!(
            frames < 3 * CHECKPOINT_FRAMES as u64,
            "the log grew to {frames} frames"
        );
    }
}
