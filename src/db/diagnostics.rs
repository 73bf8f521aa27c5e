//! What `sequra-bc diagnostics` reads of one store for support, beyond what other modules
//! list: its recent jobs and a summary of the webhooks it received. Payloads stay out (a job's
//! arguments and a delivery's body are not support's to read, and a delivery is signed).

use rusqlite::{Connection, params};
use serde::Serialize;

use super::DbError;
use crate::domain::StoreHash;

/// One job of the queue, as support reads it.
#[derive(Debug, Clone, Serialize)]
pub struct JobRow {
    pub id: i64,
    pub kind: String,
    pub state: String,
    pub attempts: i64,
    /// Unix milliseconds.
    pub run_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_error: Option<String>,
}

/// The store's newest jobs, newest first.
pub fn recent_jobs(
    conn: &Connection,
    store: &StoreHash,
    limit: usize,
) -> Result<Vec<JobRow>, DbError> {
    let mut q = conn.prepare(
        "SELECT id, kind, state, attempts, run_at, created_at, updated_at, last_error
         FROM jobs WHERE store_hash = ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let rows = q
        .query_map(params![store.as_str(), limit as i64], |r| {
            Ok(JobRow {
                id: r.get(0)?,
                kind: r.get(1)?,
                state: r.get(2)?,
                attempts: r.get(3)?,
                run_at: r.get(4)?,
                created_at: r.get(5)?,
                updated_at: r.get(6)?,
                last_error: r.get(7)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// The webhooks of one scope the store received since a time.
#[derive(Debug, Clone, Serialize)]
pub struct WebhookCount {
    pub scope: String,
    pub received: i64,
    /// Received and not yet handled by an order sync.
    pub unprocessed: i64,
    pub last_received_at: String,
}

/// The store's webhooks received since `since` (RFC 3339), by scope.
pub fn webhook_counts(
    conn: &Connection,
    store: &StoreHash,
    since: &str,
) -> Result<Vec<WebhookCount>, DbError> {
    let mut q = conn.prepare(
        "SELECT scope, COUNT(*), SUM(processed_at IS NULL), MAX(received_at)
         FROM webhook_events WHERE store_hash = ?1 AND received_at >= ?2
         GROUP BY scope ORDER BY scope",
    )?;
    let rows = q
        .query_map(params![store.as_str(), since], |r| {
            Ok(WebhookCount {
                scope: r.get(0)?,
                received: r.get(1)?,
                unprocessed: r.get(2)?,
                last_received_at: r.get(3)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}
