//! The `order_sync` aggregate: what seQura last accepted for each confirmed order.

use rusqlite::{Connection, OptionalExtension, params};

use super::{DbError, now};
use crate::domain::{BcOrderId, StoreHash};

/// What seQura holds for an order, as last accepted.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub solicitation_id: i64,
    pub bc_order_id: BcOrderId,
    /// The Order Update API body's carts and addresses (JSON).
    pub accepted: String,
    pub shipped_total: i64,
    pub unshipped_total: i64,
    pub refunded_total: i64,
    pub accepted_at: String,
    pub shipped_at: Option<String>,
}

const COLUMNS: &str = "solicitation_id, bc_order_id, accepted, shipped_total, unshipped_total, \
    refunded_total, accepted_at, shipped_at";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Accepted> {
    Ok(Accepted {
        solicitation_id: r.get(0)?,
        bc_order_id: BcOrderId(r.get::<_, i64>(1)? as u64),
        accepted: r.get(2)?,
        shipped_total: r.get(3)?,
        unshipped_total: r.get(4)?,
        refunded_total: r.get(5)?,
        accepted_at: r.get(6)?,
        shipped_at: r.get(7)?,
    })
}

/// What seQura last accepted for the order, if it was confirmed.
pub fn get(
    conn: &Connection,
    store: &StoreHash,
    order: BcOrderId,
) -> Result<Option<Accepted>, DbError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM order_sync WHERE store_hash = ?1 AND bc_order_id = ?2"),
            params![store.as_str(), order.0 as i64],
            from_row,
        )
        .optional()?)
}

/// Records what seQura accepted; `shipped_grew` stamps `shipped_at` (delivery reports).
pub fn save(
    conn: &Connection,
    store: &StoreHash,
    a: &Accepted,
    shipped_grew: bool,
) -> Result<(), DbError> {
    let now = now();
    conn.execute(
        "INSERT INTO order_sync (solicitation_id, store_hash, bc_order_id, accepted,
                                 shipped_total, unshipped_total, refunded_total, accepted_at,
                                 shipped_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, CASE WHEN ?9 THEN ?8 END)
         ON CONFLICT (solicitation_id) DO UPDATE SET
             accepted = excluded.accepted, shipped_total = excluded.shipped_total, resend = 0,
             unshipped_total = excluded.unshipped_total, refunded_total = excluded.refunded_total,
             accepted_at = excluded.accepted_at,
             shipped_at = CASE WHEN ?9 THEN ?8 ELSE order_sync.shipped_at END",
        params![
            a.solicitation_id,
            store.as_str(),
            a.bc_order_id.0 as i64,
            a.accepted,
            a.shipped_total,
            a.unshipped_total,
            a.refunded_total,
            now,
            shipped_grew
        ],
    )?;
    Ok(())
}

/// What seQura holds of the order is not known any more (V27): its next sync sends the
/// order's state even when it matches what was last accepted. False when no update of it was
/// ever accepted (its next sync sends anyway).
pub fn mark_resend(
    conn: &Connection,
    store: &StoreHash,
    order: BcOrderId,
) -> Result<bool, DbError> {
    let n = conn.execute(
        "UPDATE order_sync SET resend = 1 WHERE store_hash = ?1 AND bc_order_id = ?2",
        params![store.as_str(), order.0 as i64],
    )?;
    Ok(n > 0)
}

/// Whether the order's next sync must send its state whatever was last accepted.
pub fn must_resend(
    conn: &Connection,
    store: &StoreHash,
    order: BcOrderId,
) -> Result<bool, DbError> {
    Ok(conn
        .query_row(
            "SELECT resend FROM order_sync WHERE store_hash = ?1 AND bc_order_id = ?2",
            params![store.as_str(), order.0 as i64],
            |r| r.get::<_, bool>(0),
        )
        .optional()?
        .unwrap_or(false))
}

/// Orders of the store whose shipped cart grew in `(after, until]` (RFC 3339), for one
/// environment and merchant ref.
pub fn shipped_between(
    conn: &Connection,
    store: &StoreHash,
    environment: &str,
    merchant_ref: &str,
    after: &str,
    until: &str,
) -> Result<Vec<Accepted>, DbError> {
    let mut q = conn.prepare_cached(
        "SELECT o.solicitation_id, o.bc_order_id, o.accepted, o.shipped_total,
                o.unshipped_total, o.refunded_total, o.accepted_at, o.shipped_at
         FROM order_sync o JOIN solicitations s ON s.id = o.solicitation_id
         WHERE o.store_hash = ?1 AND s.environment = ?2 AND s.merchant_ref = ?3
           AND o.shipped_at > ?4 AND o.shipped_at <= ?5
         ORDER BY o.bc_order_id",
    )?;
    let rows = q
        .query_map(
            params![store.as_str(), environment, merchant_ref, after, until],
            from_row,
        )?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}
