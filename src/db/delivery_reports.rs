//! The `delivery_reports` aggregate: one report per store, environment, merchant ref and day.

use rusqlite::{Connection, OptionalExtension, params};

use super::{DbError, now};
use crate::domain::StoreHash;

/// A day's report, claimed or sent.
#[derive(Debug, Clone)]
pub struct Report {
    pub id: i64,
    pub environment: String,
    pub merchant_ref: String,
    pub report_date: String,
    pub period_start: String,
    pub period_end: String,
    pub orders: Option<i64>,
    pub sent_at: Option<String>,
}

const COLUMNS: &str =
    "id, environment, merchant_ref, report_date, period_start, period_end, orders, sent_at";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Report> {
    Ok(Report {
        id: r.get(0)?,
        environment: r.get(1)?,
        merchant_ref: r.get(2)?,
        report_date: r.get(3)?,
        period_start: r.get(4)?,
        period_end: r.get(5)?,
        orders: r.get(6)?,
        sent_at: r.get(7)?,
    })
}

/// Where the next report's period starts: the end of the last one, else `default`.
pub fn next_period_start(
    conn: &Connection,
    store: &StoreHash,
    environment: &str,
    merchant_ref: &str,
    default: &str,
) -> Result<String, DbError> {
    let last: Option<String> = conn.query_row(
        "SELECT MAX(period_end) FROM delivery_reports
         WHERE store_hash = ?1 AND environment = ?2 AND merchant_ref = ?3",
        params![store.as_str(), environment, merchant_ref],
        |r| r.get(0),
    )?;
    Ok(last.unwrap_or_else(|| default.to_string()))
}

/// Claims the day's report; `None` when it was already claimed (once per day).
pub fn claim_day(
    conn: &Connection,
    store: &StoreHash,
    environment: &str,
    merchant_ref: &str,
    report_date: &str,
    period_start: &str,
    period_end: &str,
) -> Result<Option<i64>, DbError> {
    let n = conn.execute(
        "INSERT INTO delivery_reports (store_hash, environment, merchant_ref, report_date,
                                       period_start, period_end)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
        params![
            store.as_str(),
            environment,
            merchant_ref,
            report_date,
            period_start,
            period_end
        ],
    )?;
    Ok((n > 0).then(|| conn.last_insert_rowid()))
}

pub fn get(conn: &Connection, store: &StoreHash, id: i64) -> Result<Option<Report>, DbError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM delivery_reports WHERE store_hash = ?1 AND id = ?2"),
            params![store.as_str(), id],
            from_row,
        )
        .optional()?)
}

pub fn mark_sent(conn: &Connection, id: i64, orders: i64) -> Result<(), DbError> {
    conn.execute(
        "UPDATE delivery_reports SET orders = ?2, sent_at = ?3 WHERE id = ?1",
        params![id, orders, now()],
    )?;
    Ok(())
}
