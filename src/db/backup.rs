//! Online backup and offline restore of the database file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use super::{DbError, connect};

/// Pages copied per step: small enough to report progress, large enough to be quick.
const PAGES_PER_STEP: std::ffi::c_int = 1024;

/// What a finished backup wrote.
#[derive(Debug, Clone)]
pub struct BackupReport {
    pub path: PathBuf,
    pub bytes: u64,
}

/// Copies the live database at `db_path` to `out` as one consistent snapshot, even while a
/// server writes to it: the copy goes to a temp file beside `out`, is checked with
/// `PRAGMA integrity_check`, synced, and renamed into place. `progress(done, total)` is
/// called with page counts.
pub fn backup(
    db_path: &Path,
    out: &Path,
    mut progress: impl FnMut(i32, i32),
) -> Result<BackupReport, DbError> {
    if !db_path.is_file() {
        return Err(DbError::Invalid(format!(
            "no database at {}",
            db_path.display()
        )));
    }
    if same_file(db_path, out) {
        return Err(DbError::Invalid(
            "the backup must not overwrite the database itself".into(),
        ));
    }
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| DbError::Invalid(format!("cannot create {}: {e}", dir.display())))?;
    }
    let tmp = temp_sibling(out);
    let result = (|| {
        let src = connect(db_path)?;
        // One read transaction for the whole copy: every step sees the same snapshot, so
        // concurrent writers neither restart nor tear the backup.
        src.execute_batch("BEGIN; SELECT count(*) FROM sqlite_master;")?;
        let mut dst = Connection::open(&tmp)?;
        {
            let backup = Backup::new(&src, &mut dst)?;
            loop {
                let step = backup.step(PAGES_PER_STEP)?;
                let p = backup.progress();
                progress(p.pagecount - p.remaining, p.pagecount);
                match step {
                    StepResult::Done => break,
                    StepResult::More => {}
                    StepResult::Busy | StepResult::Locked => {
                        std::thread::sleep(Duration::from_millis(50))
                    }
                    _ => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        }
        src.execute_batch("COMMIT;")?;
        // A backup file is a single self-contained file: no WAL beside it.
        dst.pragma_update(None, "journal_mode", "DELETE")?;
        check_integrity(&dst)?;
        drop(dst);
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(|e| DbError::Invalid(format!("cannot sync {}: {e}", tmp.display())))?;
        std::fs::rename(&tmp, out)
            .map_err(|e| DbError::Invalid(format!("cannot write {}: {e}", out.display())))?;
        let bytes = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
        Ok(BackupReport {
            path: out.to_path_buf(),
            bytes,
        })
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Checks that `file` is a sound sequra-bc database: readable, passing `integrity_check`,
/// and carrying our schema.
pub fn verify_backup_file(file: &Path) -> Result<(), DbError> {
    if !file.is_file() {
        return Err(DbError::Invalid(format!(
            "{} is not a file",
            file.display()
        )));
    }
    let conn = Connection::open_with_flags(file, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| DbError::Invalid(format!("{} cannot be opened: {e}", file.display())))?;
    check_integrity(&conn).map_err(|e| {
        DbError::Invalid(format!("{} is not a sound database: {e}", file.display()))
    })?;
    let ours: bool = conn
        .query_row(
            "SELECT count(*) = 2 FROM sqlite_master WHERE type = 'table'
             AND name IN ('refinery_schema_history', 'stores')",
            [],
            |r| r.get(0),
        )
        .map_err(|e| DbError::Invalid(format!("{} is not a database: {e}", file.display())))?;
    if !ours {
        return Err(DbError::Invalid(format!(
            "{} is not a sequra-bc database",
            file.display()
        )));
    }
    // Not put in place at all: the server would refuse to start on it.
    super::refuse_newer(&conn)
}

fn check_integrity(conn: &Connection) -> Result<(), DbError> {
    let result: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| DbError::Invalid(format!("integrity check could not run: {e}")))?;
    if result == "ok" {
        Ok(())
    } else {
        Err(DbError::Invalid(format!(
            "integrity check failed: {result}"
        )))
    }
}

/// Replaces the database at `db_path` with the `backup` file the caller verified
/// ([`verify_backup_file`]: its integrity check reads the whole file, once is enough), telling
/// `progress` the bytes copied. The caller must hold the data directory lock (no server
/// running). Returns where the replaced database was kept.
pub fn restore(
    db_path: &Path,
    backup: &Path,
    stamp: &str,
    mut progress: impl FnMut(u64, u64),
) -> Result<Option<PathBuf>, DbError> {
    let kept = if db_path.exists() {
        // Fold the WAL into the main file so the kept copy is complete on its own. A
        // database too damaged for that (the usual reason to restore) is kept as it is,
        // its WAL beside it.
        let folded = fold_wal(db_path).is_ok();
        let kept = unused_name(db_path, stamp);
        std::fs::rename(db_path, &kept)
            .map_err(|e| DbError::Invalid(format!("cannot keep the old database: {e}")))?;
        if !folded && with_suffix(db_path, "-wal").exists() {
            std::fs::rename(with_suffix(db_path, "-wal"), with_suffix(&kept, "-wal"))
                .map_err(|e| DbError::Invalid(format!("cannot keep the old WAL: {e}")))?;
        }
        Some(kept)
    } else {
        None
    };
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(with_suffix(db_path, suffix));
    }
    let tmp = temp_sibling(db_path);
    copy_with_progress(backup, &tmp, &mut progress)
        .and_then(|_| std::fs::File::open(&tmp)?.sync_all())
        .and_then(|_| std::fs::rename(&tmp, db_path))
        .map_err(|e| DbError::Invalid(format!("cannot put the backup in place: {e}")))?;
    Ok(kept)
}

/// Marks a database just restored (V27): every store's next reconciliation recovers what
/// happened after the database's newest activity — its recovery point, returned (RFC 3339
/// UTC; none for a database without activity). BigCommerce and seQura kept going meanwhile.
pub fn mark_restored(conn: &Connection) -> Result<Option<String>, DbError> {
    let point = last_activity(conn)?;
    if let Some(point) = &point {
        super::stores::set_recover_from_all(conn, point)?;
    }
    Ok(point)
}

/// The newest moment the database recorded anything the stores did: a payment's step, a
/// webhook delivery, an update seQura accepted, a log entry (RFC 3339 UTC, whole seconds).
pub fn last_activity(conn: &Connection) -> Result<Option<String>, DbError> {
    Ok(conn.query_row(
        "SELECT MAX(t) FROM (
             SELECT MAX(updated_at) AS t FROM solicitations
             UNION ALL SELECT MAX(updated_at) FROM sequra_attempts
             UNION ALL SELECT received_at FROM webhook_events
                       WHERE id = (SELECT MAX(id) FROM webhook_events)
             UNION ALL SELECT MAX(accepted_at) FROM order_sync
             UNION ALL SELECT MAX(created_at) FROM transaction_log)",
        [],
        |r| r.get(0),
    )?)
}

/// Copies `from` to `to` a MiB at a time, telling `progress` the bytes copied of the whole.
fn copy_with_progress(
    from: &Path,
    to: &Path,
    progress: &mut impl FnMut(u64, u64),
) -> std::io::Result<()> {
    use std::io::{Read, Write};
    let mut input = std::fs::File::open(from)?;
    let total = input.metadata()?.len();
    let mut output = std::fs::File::create(to)?;
    let mut buf = vec![0u8; 1024 * 1024];
    let mut done = 0u64;
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            break;
        }
        output.write_all(&buf[..n])?;
        done += n as u64;
        progress(done, total);
    }
    output.flush()
}

fn fold_wal(db_path: &Path) -> Result<(), DbError> {
    let conn = connect(db_path)?;
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    conn.pragma_update(None, "journal_mode", "DELETE")?;
    Ok(())
}

/// `<db>.replaced-<stamp>`, or `…-2`, `…-3` when an earlier restore in the same second
/// already kept a database there: a kept database is never overwritten.
fn unused_name(db_path: &Path, stamp: &str) -> PathBuf {
    let base = format!(
        "{}.replaced-{stamp}",
        db_path.file_name().unwrap_or_default().to_string_lossy()
    );
    let mut candidate = db_path.with_file_name(&base);
    let mut n = 2;
    while candidate.exists() || with_suffix(&candidate, "-wal").exists() {
        candidate = db_path.with_file_name(format!("{base}-{n}"));
        n += 1;
    }
    candidate
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

fn temp_sibling(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}
