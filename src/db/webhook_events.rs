//! The `webhook_events` aggregate: BigCommerce deliveries stored before acknowledgement.

use rusqlite::{Connection, params};

use super::{DbError, now};
use crate::domain::StoreHash;

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
}

/// Stores the event once; returns false when the same event (store, scope, hash) was
/// already stored (a re-delivery).
pub fn insert(conn: &Connection, e: &NewEvent<'_>) -> Result<bool, DbError> {
    let n = conn.execute(
        "INSERT INTO webhook_events (store_hash, scope, event_hash, resource_id, order_id,
                                     payload, created_at, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (store_hash, scope, event_hash) DO NOTHING",
        params![
            e.store.as_str(),
            e.scope,
            e.event_hash,
            e.resource_id,
            e.order_id,
            e.payload,
            e.created_at,
            now()
        ],
    )?;
    Ok(n > 0)
}
