//! The `widget_settings` aggregate (V17): one JSON document per store and storefront.

use rusqlite::{Connection, OptionalExtension, params};

use super::{DbError, now};
use crate::domain::StoreHash;

/// The channel id standing for "every storefront without settings of its own".
pub const DEFAULT: u64 = 0;

pub fn get(conn: &Connection, store: &StoreHash, channel: u64) -> Result<Option<String>, DbError> {
    Ok(conn
        .query_row(
            "SELECT settings FROM widget_settings WHERE store_hash = ?1 AND channel_id = ?2",
            params![store.as_str(), channel as i64],
            |r| r.get(0),
        )
        .optional()?)
}

pub fn put(conn: &Connection, store: &StoreHash, channel: u64, json: &str) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO widget_settings (store_hash, channel_id, settings, updated_at)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (store_hash, channel_id) DO UPDATE SET
             settings = excluded.settings, updated_at = excluded.updated_at",
        params![store.as_str(), channel as i64, json, now()],
    )?;
    Ok(())
}

/// A storefront follows the default again.
pub fn delete(conn: &Connection, store: &StoreHash, channel: u64) -> Result<(), DbError> {
    conn.execute(
        "DELETE FROM widget_settings WHERE store_hash = ?1 AND channel_id = ?2",
        params![store.as_str(), channel as i64],
    )?;
    Ok(())
}
