//! The `widget_settings` aggregate (V17): one JSON document per store and storefront; and the
//! products of the excluded categories the widgets are told about (V18).

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

/// Every storefront's settings of a store: (channel id, JSON), the default's as channel 0.
pub fn all(conn: &Connection, store: &StoreHash) -> Result<Vec<(u64, String)>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT channel_id, settings FROM widget_settings WHERE store_hash = ?1
         ORDER BY channel_id",
    )?;
    let rows = stmt
        .query_map(params![store.as_str()], |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get(1)?))
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// The products of the excluded categories as last read: (the category ids read, the
/// product ids, when).
pub struct CategoryProducts {
    pub categories: Vec<u64>,
    pub product_ids: Vec<u64>,
    pub read_at: String,
}

pub fn category_products(
    conn: &Connection,
    store: &StoreHash,
) -> Result<Option<CategoryProducts>, DbError> {
    Ok(conn
        .query_row(
            "SELECT categories, product_ids, read_at FROM excluded_category_products
             WHERE store_hash = ?1",
            params![store.as_str()],
            |r| {
                let cats: String = r.get(0)?;
                let ids: String = r.get(1)?;
                Ok(CategoryProducts {
                    categories: serde_json::from_str(&cats).unwrap_or_default(),
                    product_ids: serde_json::from_str(&ids).unwrap_or_default(),
                    read_at: r.get(2)?,
                })
            },
        )
        .optional()?)
}

pub fn save_category_products(
    conn: &Connection,
    store: &StoreHash,
    categories: &[u64],
    product_ids: &[u64],
) -> Result<(), DbError> {
    let json = |v: &[u64]| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
    conn.execute(
        "INSERT INTO excluded_category_products (store_hash, categories, product_ids, read_at)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (store_hash) DO UPDATE SET categories = excluded.categories,
             product_ids = excluded.product_ids, read_at = excluded.read_at",
        params![store.as_str(), json(categories), json(product_ids), now()],
    )?;
    Ok(())
}
