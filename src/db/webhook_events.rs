//! The `webhook_events` aggregate: BigCommerce deliveries stored before acknowledgement.

use rusqlite::{Connection, OptionalExtension, params};

use super::{DbError, now};
use crate::domain::{BcOrderId, StoreHash};

/// A verified delivery to store.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub store: &'a StoreHash,
    pub scope: &'a str,
    pub event_hash: &'a str,
    pub resource_id: Option<i64>,
    pub order_id: Option<i64>,
    pub payload: &'a str,
    pub created_at: Option<i64>,
    /// The order is paid with seQura: only such events are looked up by order.
    pub sequra_order: bool,
}

/// Stores the event. De-duplication happens before, against the recent deliveries the app
/// keeps in memory (see `stores::webhooks::RecentDeliveries`).
pub fn insert(conn: &Connection, e: &NewEvent<'_>) -> Result<(), DbError> {
    conn.prepare_cached(
        "INSERT INTO webhook_events (store_hash, scope, event_hash, resource_id, order_id,
                                     payload, created_at, received_at, sequra_order)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        e.store.as_str(),
        e.scope,
        e.event_hash,
        e.resource_id,
        e.order_id,
        e.payload,
        e.created_at,
        now(),
        e.sequra_order
    ])?;
    Ok(())
}

/// Calls `each(store, scope, hash)` for every event received at or after `since` (RFC 3339),
/// to rebuild the in-memory de-duplication at start. Newest first, stopping at the first older
/// one: events are appended in the order received, so only the window is read, not the month
/// the table keeps.
pub fn each_received_since(
    conn: &Connection,
    since: &str,
    mut each: impl FnMut(&str, &str, &str, Option<i64>),
) -> Result<usize, DbError> {
    let mut q = conn.prepare(
        "SELECT store_hash, scope, event_hash, received_at, created_at FROM webhook_events
         ORDER BY id DESC",
    )?;
    let mut rows = q.query([])?;
    let mut n = 0;
    while let Some(r) = rows.next()? {
        let text = |i: usize| -> Result<&str, DbError> {
            Ok(r.get_ref(i)?.as_str().map_err(rusqlite::Error::from)?)
        };
        if text(3)? < since {
            break;
        }
        each(text(0)?, text(1)?, text(2)?, r.get(4)?);
        n += 1;
    }
    Ok(n)
}

/// The newest stored event about the order, by id.
pub fn last_for_order(
    conn: &Connection,
    store: &StoreHash,
    order: BcOrderId,
) -> Result<Option<i64>, DbError> {
    Ok(conn.query_row(
        "SELECT MAX(id) FROM webhook_events
         WHERE store_hash = ?1 AND order_id = ?2 AND sequra_order = 1",
        params![store.as_str(), order.0 as i64],
        |r| r.get(0),
    )?)
}

/// The order's events up to `up_to` (by id) have been handled.
pub fn mark_processed(
    conn: &Connection,
    store: &StoreHash,
    order: BcOrderId,
    up_to: i64,
) -> Result<(), DbError> {
    conn.execute(
        "UPDATE webhook_events SET processed_at = ?4
         WHERE store_hash = ?1 AND order_id = ?2 AND sequra_order = 1 AND id <= ?3
           AND processed_at IS NULL",
        params![store.as_str(), order.0 as i64, up_to, now()],
    )?;
    Ok(())
}

/// Whether an event about the order received after `since` (RFC 3339, whole seconds: one in
/// the same second may predate the change) was handled.
pub fn processed_since(
    conn: &Connection,
    store: &StoreHash,
    order: BcOrderId,
    since: &str,
) -> Result<bool, DbError> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM webhook_events WHERE store_hash = ?1 AND order_id = ?2
                          AND sequra_order = 1 AND processed_at IS NOT NULL
                          AND received_at > ?3)",
        params![store.as_str(), order.0 as i64, since],
        |r| r.get(0),
    )?)
}

/// Deletes events received before `cutoff` (RFC 3339), a few hundred rows per statement so the
/// intake never waits long for the lock; returns how many went. Ids grow with arrival, so the
/// first recent event bounds the old ones without scanning the recent.
pub fn purge_before(conn: &Connection, cutoff: &str) -> Result<usize, DbError> {
    let first_kept: Option<i64> = conn
        .query_row(
            "SELECT id FROM webhook_events WHERE received_at >= ?1 ORDER BY id LIMIT 1",
            [cutoff],
            |r| r.get(0),
        )
        .optional()?;
    let bound = first_kept.unwrap_or(i64::MAX);
    let mut purged = 0;
    loop {
        let n = conn.execute(
            "DELETE FROM webhook_events WHERE id IN
                 (SELECT id FROM webhook_events WHERE id < ?1 AND received_at < ?2
                  ORDER BY id LIMIT 500)",
            params![bound, cutoff],
        )?;
        purged += n;
        if n < 500 {
            return Ok(purged);
        }
    }
}
