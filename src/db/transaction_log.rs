//! The `transaction_log` aggregate: what happened to each update meant for seQura.

use rusqlite::{Connection, OptionalExtension, params};

use super::{DbError, now};
use crate::domain::{BcOrderId, StoreHash};

/// How an update ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// seQura accepted it.
    Sent,
    /// seQura refused it (400, 403, 404, 409): the merchant must fix the cause, then retry.
    Rejected,
    /// It kept failing (seQura or BigCommerce unreachable) past the maximum age.
    Failed,
    /// It waits for something (the order is in review).
    Waiting,
    /// A setting seQura changed through its configuration webhook (nothing was sent).
    Changed,
}

impl Outcome {
    pub const ALL: [Outcome; 5] = [
        Self::Sent,
        Self::Rejected,
        Self::Failed,
        Self::Waiting,
        Self::Changed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Rejected => "rejected",
            Self::Failed => "failed",
            Self::Waiting => "waiting",
            Self::Changed => "changed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// An entry to record.
#[derive(Debug, Clone)]
pub struct NewEntry<'a> {
    pub store: &'a StoreHash,
    pub order: Option<BcOrderId>,
    pub sequra_uuid: Option<&'a str>,
    pub environment: Option<&'a str>,
    pub merchant_ref: Option<&'a str>,
    pub event: &'a str,
    pub outcome: Outcome,
    /// English: what readers without the catalog see.
    pub message: &'a str,
    /// The catalog key and its arguments (JSON) when the app wrote the message itself.
    pub message_key: Option<&'a str>,
    pub message_args: Option<&'a str>,
}

/// A recorded entry.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Entry {
    pub id: i64,
    pub order: Option<u64>,
    pub sequra_uuid: Option<String>,
    pub environment: Option<String>,
    pub merchant_ref: Option<String>,
    pub event: String,
    pub outcome: Outcome,
    pub message: String,
    pub created_at: String,
    pub resolved_at: Option<String>,
    /// The storefront channel its order was paid on (1 for a payment from before V16).
    pub channel_id: Option<u64>,
    /// The message's catalog key and arguments (JSON), for entries the app wrote since V19.
    #[serde(skip)]
    pub message_key: Option<String>,
    #[serde(skip)]
    pub message_args: Option<String>,
}

/// The order's storefront comes from its newest solicitation (every one of an order is made
/// from one checkout, of one channel).
const COLUMNS: &str = "id, bc_order_id, sequra_uuid, environment, merchant_ref, event, outcome, \
    message, created_at, resolved_at, \
    (SELECT IFNULL(s.channel_id, 1) FROM solicitations s \
      WHERE s.store_hash = transaction_log.store_hash AND s.bc_order_id = transaction_log.bc_order_id \
      ORDER BY s.id DESC LIMIT 1), message_key, message_args";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Entry> {
    let outcome: String = r.get(6)?;
    Ok(Entry {
        id: r.get(0)?,
        order: r.get::<_, Option<i64>>(1)?.map(|o| o as u64),
        sequra_uuid: r.get(2)?,
        environment: r.get(3)?,
        merchant_ref: r.get(4)?,
        event: r.get(5)?,
        outcome: Outcome::parse(&outcome).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                6,
                rusqlite::types::Type::Text,
                "unknown outcome".into(),
            )
        })?,
        message: r.get(7)?,
        created_at: r.get(8)?,
        resolved_at: r.get(9)?,
        channel_id: r.get::<_, Option<i64>>(10)?.map(|c| c as u64),
        message_key: r.get(11)?,
        message_args: r.get(12)?,
    })
}

pub fn insert(conn: &Connection, e: &NewEntry<'_>) -> Result<i64, DbError> {
    conn.execute(
        "INSERT INTO transaction_log (store_hash, bc_order_id, sequra_uuid, environment,
                                      merchant_ref, event, outcome, message, created_at,
                                      message_key, message_args)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            e.store.as_str(),
            e.order.map(|o| o.0 as i64),
            e.sequra_uuid,
            e.environment,
            e.merchant_ref,
            e.event,
            e.outcome.as_str(),
            e.message,
            now(),
            e.message_key,
            e.message_args
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// The order's open rejections and failures are resolved (a later update went through),
/// but for those about `kept` (the placement's: only the placement resolves them).
pub fn resolve_order(
    conn: &Connection,
    store: &StoreHash,
    order: BcOrderId,
    kept: &str,
) -> Result<(), DbError> {
    conn.execute(
        "UPDATE transaction_log SET resolved_at = ?4
         WHERE store_hash = ?1 AND bc_order_id = ?2 AND event <> ?3
           AND resolved_at IS NULL AND outcome IN ('rejected', 'failed', 'waiting')",
        params![store.as_str(), order.0 as i64, kept, now()],
    )?;
    Ok(())
}

/// The order's open entries about one event only are resolved.
pub fn resolve_event(
    conn: &Connection,
    store: &StoreHash,
    order: BcOrderId,
    event: &str,
) -> Result<(), DbError> {
    conn.execute(
        "UPDATE transaction_log SET resolved_at = ?4
         WHERE store_hash = ?1 AND bc_order_id = ?2 AND event = ?3
           AND resolved_at IS NULL AND outcome IN ('rejected', 'failed', 'waiting')",
        params![store.as_str(), order.0 as i64, event, now()],
    )?;
    Ok(())
}

/// What the merchant filters the log by.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub order: Option<BcOrderId>,
    pub outcome: Option<Outcome>,
    /// Entries on or after this day (YYYY-MM-DD).
    pub from: Option<String>,
    /// Entries on or before this day (YYYY-MM-DD).
    pub to: Option<String>,
    /// Entries about orders paid on this storefront channel.
    pub storefront: Option<u64>,
}

/// One page of the store's log, newest first, and whether there is a next page.
pub fn list(
    conn: &Connection,
    store: &StoreHash,
    filter: &Filter,
    page: u32,
    per_page: u32,
) -> Result<(Vec<Entry>, bool), DbError> {
    let offset = i64::from(page.saturating_sub(1)) * i64::from(per_page);
    let mut q = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM transaction_log
         WHERE store_hash = ?1
           AND (?2 IS NULL OR bc_order_id = ?2)
           AND (?3 IS NULL OR outcome = ?3)
           AND (?4 IS NULL OR created_at >= ?4)
           AND (?5 IS NULL OR created_at < ?5 || 'T99')
           AND (?8 IS NULL OR bc_order_id IN (
                 SELECT bc_order_id FROM solicitations
                 WHERE store_hash = ?1 AND IFNULL(channel_id, 1) = ?8))
         ORDER BY id DESC LIMIT ?6 OFFSET ?7"
    ))?;
    let mut rows: Vec<Entry> = q
        .query_map(
            params![
                store.as_str(),
                filter.order.map(|o| o.0 as i64),
                filter.outcome.map(Outcome::as_str),
                filter.from,
                filter.to,
                i64::from(per_page) + 1,
                offset,
                filter.storefront.map(|c| c as i64)
            ],
            from_row,
        )?
        .collect::<Result<_, _>>()?;
    let more = rows.len() > per_page as usize;
    rows.truncate(per_page as usize);
    Ok((rows, more))
}

/// One entry, only within its store.
pub fn get(conn: &Connection, store: &StoreHash, id: i64) -> Result<Option<Entry>, DbError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM transaction_log WHERE store_hash = ?1 AND id = ?2"),
            params![store.as_str(), id],
            from_row,
        )
        .optional()?)
}

/// Unresolved rejections and failures of the store (dashboard).
pub fn open_problems(conn: &Connection, store: &StoreHash) -> Result<i64, DbError> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM transaction_log
         WHERE store_hash = ?1 AND outcome IN ('rejected', 'failed') AND resolved_at IS NULL",
        [store.as_str()],
        |r| r.get(0),
    )?)
}

/// The order's entries, newest first.
pub fn for_order(
    conn: &Connection,
    store: &StoreHash,
    order: BcOrderId,
    limit: usize,
) -> Result<Vec<Entry>, DbError> {
    let mut q = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM transaction_log WHERE store_hash = ?1 AND bc_order_id = ?2
         ORDER BY id DESC LIMIT ?3"
    ))?;
    let rows = q
        .query_map(
            params![store.as_str(), order.0 as i64, limit as i64],
            from_row,
        )?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Whether the order has an unresolved rejection or failure about this event.
pub fn is_event_open(
    conn: &Connection,
    store: &StoreHash,
    order: BcOrderId,
    event: &str,
) -> Result<bool, DbError> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM transaction_log
                        WHERE store_hash = ?1 AND bc_order_id = ?2 AND event = ?3
                          AND outcome IN ('rejected', 'failed') AND resolved_at IS NULL)",
        params![store.as_str(), order.0 as i64, event],
        |r| r.get(0),
    )?)
}

/// Whether the order has an unresolved entry with this outcome and message.
pub fn is_open(
    conn: &Connection,
    store: &StoreHash,
    order: BcOrderId,
    outcome: Outcome,
    message: &str,
) -> Result<bool, DbError> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM transaction_log
                        WHERE store_hash = ?1 AND bc_order_id = ?2 AND outcome = ?3
                          AND message = ?4 AND resolved_at IS NULL)",
        params![store.as_str(), order.0 as i64, outcome.as_str(), message],
        |r| r.get(0),
    )?)
}
