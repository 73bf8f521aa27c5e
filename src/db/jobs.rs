//! The `jobs` aggregate: the durable queue of outbound side effects.
//!
//! Jobs sharing a `serial_key` (one order) run one at a time and oldest first: a job is only
//! claimable while no older job of its key is pending or running. While a job is pending, the
//! same work (`dedupe_key`) is not queued twice.

use rusqlite::{Connection, OptionalExtension, params};

use super::DbError;
use crate::domain::StoreHash;

/// Milliseconds since the Unix epoch: the queue's clock.
pub fn now_ms() -> i64 {
    crate::clock::now_ms()
}

/// A job to queue.
#[derive(Debug, Clone)]
pub struct NewJob<'a> {
    pub store: &'a StoreHash,
    pub kind: &'a str,
    pub serial_key: &'a str,
    pub dedupe_key: &'a str,
    pub payload: &'a str,
    /// Not before (unix ms).
    pub run_at: i64,
}

/// A claimed job.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: i64,
    pub store: StoreHash,
    pub kind: String,
    pub payload: String,
    /// Attempts so far, this one included.
    pub attempts: i64,
    /// When it was queued (unix ms).
    pub created_at: i64,
}

/// A job the dashboard shows as stuck: failed, or pending after failed attempts.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StuckJob {
    pub id: i64,
    pub kind: String,
    pub state: String,
    pub attempts: i64,
    pub last_error: String,
    pub payload: String,
    pub created_at: i64,
}

/// Queues a job, or finds the pending one doing the same work. Returns its id and whether it
/// is new. Outside a transaction a worker may claim the pending one between the two looks
/// (soak seed 10102152: a disconnect answered 500): it is then queued anew, since the
/// running one may have read what it works on before the caller's change.
pub fn enqueue(conn: &Connection, job: &NewJob<'_>) -> Result<(i64, bool), DbError> {
    for _ in 0..3 {
        if let Some(queued) = enqueue_once(conn, job)? {
            return Ok(queued);
        }
    }
    Err(DbError::Task(format!(
        "job {} could not be queued: claimed as often as it was found",
        job.kind
    )))
}

fn enqueue_once(conn: &Connection, job: &NewJob<'_>) -> Result<Option<(i64, bool)>, DbError> {
    let now = now_ms();
    let n = conn
        .prepare_cached(
            "INSERT INTO jobs (store_hash, kind, serial_key, dedupe_key, payload, run_at,
                               created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
             ON CONFLICT DO NOTHING",
        )?
        .execute(params![
            job.store.as_str(),
            job.kind,
            job.serial_key,
            job.dedupe_key,
            job.payload,
            job.run_at,
            now
        ])?;
    if n > 0 {
        return Ok(Some((conn.last_insert_rowid(), true)));
    }
    let id: Option<i64> = conn
        .query_row(
            "SELECT id FROM jobs WHERE store_hash = ?1 AND dedupe_key = ?2 AND state = 'pending'",
            params![job.store.as_str(), job.dedupe_key],
            |r| r.get(0),
        )
        .optional()?;
    Ok(id.map(|id| (id, false)))
}

const CLAIMABLE: &str = "j.state = 'pending'
    AND NOT EXISTS (SELECT 1 FROM jobs p
                    WHERE p.store_hash = j.store_hash AND p.serial_key = j.serial_key
                      AND p.id < j.id AND p.state IN ('pending', 'running'))
    AND NOT EXISTS (SELECT 1 FROM jobs r
                    WHERE r.store_hash = j.store_hash AND r.serial_key = j.serial_key
                      AND r.state = 'running')";

fn mark_running(conn: &Connection, ids: &[i64], now: i64) -> Result<Vec<Job>, DbError> {
    let mut jobs = Vec::with_capacity(ids.len());
    let mut update = conn.prepare_cached(
        "UPDATE jobs SET state = 'running', attempts = attempts + 1, updated_at = ?2
         WHERE id = ?1
         RETURNING id, store_hash, kind, payload, attempts, created_at",
    )?;
    for id in ids {
        let job = update.query_row(params![id, now], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, i64>(5)?,
            ))
        })?;
        let (id, store, kind, payload, attempts, created_at) = job;
        jobs.push(Job {
            id,
            store: StoreHash::parse(&store).map_err(|e| DbError::Invalid(e.to_string()))?,
            kind,
            payload,
            attempts,
            created_at,
        });
    }
    Ok(jobs)
}

/// Claims up to `limit` due jobs (marks them running), oldest due first. A job running for
/// longer than `lease_ms` is claimable again first: its outcome was never recorded (the
/// write failed), and left `running` it would block its order's later jobs — unless it is
/// one of `in_flight`, which this process is still running or recording: a wall clock that
/// jumped ahead must not make a job run twice at once. Run it inside a transaction.
pub fn claim(
    conn: &Connection,
    limit: usize,
    lease_ms: i64,
    in_flight: &[i64],
) -> Result<Vec<Job>, DbError> {
    let now = now_ms();
    release_expired(conn, now.saturating_sub(lease_ms), in_flight)?;
    let ids: Vec<i64> = {
        let mut q = conn.prepare_cached(&format!(
            "SELECT j.id FROM jobs j WHERE j.run_at <= ?1 AND {CLAIMABLE}
             ORDER BY j.run_at, j.id LIMIT ?2"
        ))?;
        q.query_map(params![now, limit as i64], |r| r.get(0))?
            .collect::<Result<_, _>>()?
    };
    mark_running(conn, &ids, now)
}

/// The job succeeded.
pub fn complete(conn: &Connection, id: i64) -> Result<(), DbError> {
    conn.execute(
        "UPDATE jobs SET state = 'done', last_error = NULL, updated_at = ?2 WHERE id = ?1",
        params![id, now_ms()],
    )?;
    Ok(())
}

/// The job failed for good.
pub fn fail(conn: &Connection, id: i64, error: &str) -> Result<(), DbError> {
    conn.execute(
        "UPDATE jobs SET state = 'failed', last_error = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, error, now_ms()],
    )?;
    Ok(())
}

/// The job runs again at `run_at`. If the same work was queued meanwhile, that newer job
/// carries it and this one is closed. Run it inside a transaction.
pub fn retry_at(conn: &Connection, id: i64, run_at: i64, error: &str) -> Result<(), DbError> {
    let superseded: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM jobs j JOIN jobs o
                          ON o.store_hash = j.store_hash AND o.dedupe_key = j.dedupe_key
                        WHERE j.id = ?1 AND o.id <> j.id AND o.state = 'pending')",
        [id],
        |r| r.get(0),
    )?;
    if superseded {
        conn.execute(
            "UPDATE jobs SET state = 'done', last_error = ?2, updated_at = ?3 WHERE id = ?1",
            params![
                id,
                format!("superseded by a newer job; last error: {error}"),
                now_ms()
            ],
        )?;
    } else {
        conn.execute(
            "UPDATE jobs SET state = 'pending', run_at = ?2, last_error = ?3, updated_at = ?4
             WHERE id = ?1",
            params![id, run_at, error, now_ms()],
        )?;
    }
    Ok(())
}

/// At start-up: jobs left running by a crash run again.
pub fn reset_interrupted(conn: &Connection) -> Result<usize, DbError> {
    release_running(conn, i64::MAX)
}

/// Jobs marked running before `before` (unix ms), but those of `in_flight`, are pending
/// again, due now; one whose work was queued again meanwhile is closed instead (the newer job
/// carries it).
fn release_expired(conn: &Connection, before: i64, in_flight: &[i64]) -> Result<usize, DbError> {
    let now = now_ms();
    let held = serde_json::to_string(in_flight).map_err(|e| DbError::Invalid(e.to_string()))?;
    Ok(conn
        .prepare_cached(
            "UPDATE jobs SET state = 'pending', run_at = ?1, updated_at = ?1
             WHERE state = 'running' AND updated_at < ?2
               AND id NOT IN (SELECT value FROM json_each(?3))
               AND NOT EXISTS (SELECT 1 FROM jobs o WHERE o.store_hash = jobs.store_hash
                                 AND o.dedupe_key = jobs.dedupe_key AND o.state = 'pending')",
        )?
        .execute(params![now, before, held])?
        + conn
            .prepare_cached(
                "UPDATE jobs SET state = 'done', last_error = 'interrupted; superseded',
                        updated_at = ?1
                 WHERE state = 'running' AND updated_at < ?2
                   AND id NOT IN (SELECT value FROM json_each(?3))",
            )?
            .execute(params![now, before, held])?)
}

/// Jobs marked running before `before` (unix ms) are pending again (see [`release_expired`]).
fn release_running(conn: &Connection, before: i64) -> Result<usize, DbError> {
    release_expired(conn, before, &[])
}

/// When the next pending job not yet due falls due (unix ms): what may end a wait for jobs
/// held behind it. Jobs due already are the claim's business.
pub fn next_due(conn: &Connection) -> Result<Option<i64>, DbError> {
    Ok(conn.query_row(
        "SELECT MIN(run_at) FROM jobs WHERE state = 'pending' AND run_at > ?1",
        [now_ms()],
        |r| r.get(0),
    )?)
}

/// What the queue is doing, for a caller deciding whether to wait (see [`waiting`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waiting {
    /// No job pending or running.
    Empty,
    /// A job runs, or one is due now.
    Busy,
    /// Every pending job is due later, the first at this time (milliseconds, [`now_ms`]).
    Until(i64),
}

/// Whether the queue has work now, later, or none (the simulator moves the clock to `Until`).
/// Jobs not done yet (pending or running), and when the oldest of them was queued (unix ms):
/// the queue's backlog, for the metrics.
pub fn backlog(conn: &Connection) -> Result<(i64, Option<i64>), DbError> {
    Ok(conn.query_row(
        "SELECT COUNT(*), MIN(created_at) FROM jobs WHERE state IN ('pending', 'running')",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?)
}

pub fn waiting(conn: &Connection) -> Result<Waiting, DbError> {
    let now = now_ms();
    let (busy, pending, next): (bool, bool, Option<i64>) = conn.query_row(
        &format!(
            "SELECT EXISTS (SELECT 1 FROM jobs WHERE state = 'running')
                    OR EXISTS (SELECT 1 FROM jobs j WHERE j.run_at <= ?1 AND {CLAIMABLE}),
                    EXISTS (SELECT 1 FROM jobs WHERE state = 'pending'),
                    (SELECT MIN(run_at) FROM jobs WHERE state = 'pending' AND run_at > ?1)"
        ),
        [now],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    Ok(match next {
        _ if busy => Waiting::Busy,
        _ if !pending => Waiting::Empty,
        Some(at) => Waiting::Until(at),
        // Due, held behind nothing that runs or falls due: claimable at the next look.
        None => Waiting::Busy,
    })
}

/// A pending job with this dedupe key runs now, not at the end of its backoff (the merchant
/// retried what it keeps failing at, once its cause is fixed).
pub fn run_now(conn: &Connection, store: &StoreHash, dedupe_key: &str) -> Result<(), DbError> {
    conn.execute(
        "UPDATE jobs SET run_at = MIN(run_at, ?3)
         WHERE store_hash = ?1 AND dedupe_key = ?2 AND state = 'pending'",
        params![store.as_str(), dedupe_key, now_ms()],
    )?;
    Ok(())
}

/// Pending and running jobs, all stores (benchmarks, tests, the operator).
pub fn outstanding(conn: &Connection) -> Result<i64, DbError> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM jobs WHERE state IN ('pending', 'running')",
        [],
        |r| r.get(0),
    )?)
}

/// Whether a job with this dedupe key is pending or running, or has failed for good (it then
/// waits for the merchant's retry rather than being queued again).
pub fn is_queued_or_failed(
    conn: &Connection,
    store: &StoreHash,
    dedupe_key: &str,
) -> Result<bool, DbError> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM jobs WHERE store_hash = ?1 AND dedupe_key = ?2
                          AND state IN ('pending', 'running', 'failed'))",
        params![store.as_str(), dedupe_key],
        |r| r.get(0),
    )?)
}

/// The store's stuck jobs: failed ones of the last week, and pending ones that have failed
/// at least `min_attempts` times.
pub fn stuck(
    conn: &Connection,
    store: &StoreHash,
    min_attempts: i64,
) -> Result<Vec<StuckJob>, DbError> {
    let week_ago = now_ms() - 7 * 24 * 3600 * 1000;
    let mut q = conn.prepare_cached(
        "SELECT id, kind, state, attempts, IFNULL(last_error, ''), payload, created_at FROM jobs
         WHERE store_hash = ?1
           AND ((state = 'failed' AND updated_at >= ?2)
                OR (state = 'pending' AND attempts >= ?3))
         ORDER BY id DESC LIMIT 50",
    )?;
    let rows = q
        .query_map(params![store.as_str(), week_ago, min_attempts], |r| {
            Ok(StuckJob {
                id: r.get(0)?,
                kind: r.get(1)?,
                state: r.get(2)?,
                attempts: r.get(3)?,
                last_error: r.get(4)?,
                payload: r.get(5)?,
                created_at: r.get(6)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Forgets finished jobs older than `before` (unix ms).
pub fn purge_finished(conn: &Connection, before: i64) -> Result<usize, DbError> {
    Ok(conn.execute(PURGE_FINISHED, [before])?)
}

/// A job finishes after it fell due (a claim takes only due jobs; every write of `updated_at`
/// is a later time on a clock that never goes back), so one finished before `?1` fell due
/// before it: `run_at` bounds the range `jobs_due (state, run_at)` reads to the old jobs,
/// and `updated_at` still decides. (Should the system clock step back, a job finished then
/// is only kept that much longer.)
const PURGE_FINISHED: &str = "DELETE FROM jobs WHERE state IN ('done', 'failed')
                                AND run_at < ?1 AND updated_at < ?1";

/// A job's state (`pending`, `running`, `done`, `failed`), if it exists.
pub fn state_of(conn: &Connection, id: i64) -> Result<Option<String>, DbError> {
    Ok(conn
        .query_row("SELECT state FROM jobs WHERE id = ?1", [id], |r| r.get(0))
        .optional()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sweep purges every few minutes, holding the write lock while it looks: with a
    /// fleet's week of finished jobs (3.5 million for 10 000 stores) reading every finished
    /// one took 0.5 s of CPU, 2–3.5 s on a busy machine, with every webhook waiting. Only the
    /// old ones may be read, and only they go.
    #[test]
    fn purging_finished_jobs_reads_and_deletes_only_the_old_ones() {
        let dir = tempfile::tempdir().unwrap();
        let db = super::super::Db::open(&dir.path().join("t.db")).unwrap();
        db.migrate().unwrap();
        db.call_blocking(|c| {
            let plan: String = c
                .prepare(&format!("EXPLAIN QUERY PLAN {PURGE_FINISHED}"))?
                .query_map([0], |r| r.get::<_, String>(3))?
                .collect::<Result<Vec<_>, _>>()?
                .join("; ");
            assert!(
                plan.contains("run_at<?"),
                "reads every finished job: {plan}"
            );
            c.execute(
                "INSERT INTO stores (store_hash, status, installed_at)
                 VALUES ('abc123', 'installed', 'now')",
                [],
            )?;
            // (state, run_at, updated_at): due and finished long ago, due long ago but
            // finished lately (retried for days), finished lately, and pending for long.
            for (n, (state, run_at, updated_at)) in [
                ("done", 100, 150),
                ("failed", 100, 180),
                ("done", 100, 5_000),
                ("done", 4_000, 4_100),
                ("pending", 100, 100),
            ]
            .into_iter()
            .enumerate()
            {
                c.execute(
                    "INSERT INTO jobs (store_hash, kind, serial_key, dedupe_key, payload, state,
                                       run_at, created_at, updated_at)
                     VALUES ('abc123', 'sync_order', 'order:1', ?1, '{}', ?2, ?3, ?3, ?4)",
                    params![format!("sync:{n}"), state, run_at, updated_at],
                )?;
            }
            assert_eq!(purge_finished(c, 1_000)?, 2);
            let left: Vec<(String, i64)> = c
                .prepare("SELECT state, updated_at FROM jobs ORDER BY id")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            assert_eq!(
                left,
                [
                    ("done".to_string(), 5_000),
                    ("done".to_string(), 4_100),
                    ("pending".to_string(), 100)
                ]
            );
            Ok(())
        })
        .unwrap();
    }

    /// A job whose lease is over by the wall clock is claimed again — unless this process
    /// still runs it: the clock may have jumped ahead while it ran, and two runs of one job
    /// must never overlap.
    #[tokio::test]
    async fn an_expired_lease_is_taken_again_only_when_the_job_is_not_in_flight() {
        let dir = tempfile::tempdir().unwrap();
        let db = super::super::Db::open(&dir.path().join("t.db")).unwrap();
        db.migrate().unwrap();
        let store = StoreHash::parse("abc123").unwrap();
        db.call(move |c| {
            c.execute(
                "INSERT INTO stores (store_hash, status, access_token, scopes, owner_id,
                                     owner_email, account_uuid, webhook_secret, installed_at,
                                     reinstalled_at)
                 VALUES ('abc123', 'installed', '', '', 1, 'o@example.com', '', '', '', '')",
                [],
            )?;
            enqueue(
                c,
                &NewJob {
                    store: &store,
                    kind: "sync_order",
                    serial_key: "order:1",
                    dedupe_key: "sync:1",
                    payload: "{}",
                    run_at: 0,
                },
            )?;
            let first = claim(c, 10, 60_000, &[])?;
            assert_eq!(first.len(), 1);
            let id = first[0].id;
            // A lease of 0 ms is over at once, as after a jump of the clock.
            assert!(claim(c, 10, 0, &[id])?.is_empty(), "in flight: kept");
            let again = claim(c, 10, 0, &[])?;
            assert_eq!(again.iter().map(|j| j.id).collect::<Vec<_>>(), [id]);
            Ok(())
        })
        .await
        .unwrap();
    }
}
