//! The `storefronts` aggregate: the store's storefront channels as last read from BigCommerce,
//! and the merchant's switch for each (V16).

use rusqlite::{Connection, OptionalExtension, params};

use super::{DbError, now};
use crate::domain::StoreHash;

/// A storefront channel as BigCommerce described it at the last read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelRead {
    pub channel_id: u64,
    pub name: String,
    pub platform: String,
    pub status: String,
    pub url: Option<String>,
    pub checkout_url: Option<String>,
    pub locale: Option<String>,
    pub currency: Option<String>,
    pub terms: bool,
}

/// A stored storefront.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Storefront {
    pub channel_id: u64,
    pub name: String,
    pub platform: String,
    pub status: String,
    pub url: Option<String>,
    pub checkout_url: Option<String>,
    pub locale: Option<String>,
    pub currency: Option<String>,
    pub terms: bool,
    /// The merchant's switch; `None` follows the store's default.
    pub enabled: Option<bool>,
    pub first_seen: String,
    /// No longer listed by BigCommerce, or archived or deleted.
    pub gone: bool,
    /// Appeared after the store's first read, and the merchant has not seen it yet.
    pub new: bool,
}

const COLUMNS: &str = "channel_id, name, platform, status, url, checkout_url, locale, currency, \
     terms, enabled, first_seen, gone_at IS NOT NULL, new";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Storefront> {
    Ok(Storefront {
        channel_id: r.get::<_, i64>(0)? as u64,
        name: r.get(1)?,
        platform: r.get(2)?,
        status: r.get(3)?,
        url: r.get(4)?,
        checkout_url: r.get(5)?,
        locale: r.get(6)?,
        currency: r.get(7)?,
        terms: r.get(8)?,
        enabled: r.get(9)?,
        first_seen: r.get(10)?,
        gone: r.get(11)?,
        new: r.get(12)?,
    })
}

/// Saves a complete read of the store's storefront channels: each one listed is updated (the
/// merchant's switch kept), and every stored one not listed is gone. Returns whether anything
/// a shopper or the scripts depend on changed.
pub fn save_read(
    conn: &Connection,
    store: &StoreHash,
    read: &[ChannelRead],
) -> Result<bool, DbError> {
    let before = list_all(conn, store)?;
    // The first read's storefronts are the store's own, not new to the merchant.
    let first_read = before.is_empty();
    let at = now();
    for c in read {
        conn.execute(
            "INSERT INTO storefronts (store_hash, channel_id, name, platform, status, url,
                                      checkout_url, locale, currency, terms, first_seen, seen_at,
                                      new)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11, ?12)
             ON CONFLICT (store_hash, channel_id) DO UPDATE SET
                 name = excluded.name, platform = excluded.platform, status = excluded.status,
                 url = excluded.url, checkout_url = excluded.checkout_url,
                 locale = excluded.locale, currency = excluded.currency, terms = excluded.terms,
                 seen_at = excluded.seen_at, gone_at = NULL",
            params![
                store.as_str(),
                c.channel_id as i64,
                c.name,
                c.platform,
                c.status,
                c.url,
                c.checkout_url,
                c.locale,
                c.currency,
                c.terms,
                at,
                !first_read,
            ],
        )?;
    }
    let mut gone = conn.prepare_cached(
        "UPDATE storefronts SET gone_at = ?3
         WHERE store_hash = ?1 AND channel_id = ?2 AND gone_at IS NULL",
    )?;
    for s in &before {
        if !read.iter().any(|c| c.channel_id == s.channel_id) {
            gone.execute(params![store.as_str(), s.channel_id as i64, at])?;
        }
    }
    let after = list_all(conn, store)?;
    let key = |s: &Storefront| {
        (
            s.channel_id,
            s.platform.clone(),
            s.status.clone(),
            s.url.clone(),
            s.checkout_url.clone(),
            s.locale.clone(),
            s.terms,
            s.gone,
        )
    };
    Ok(before.iter().map(key).ne(after.iter().map(key)))
}

/// Every storefront ever seen, gone ones too, by channel id.
pub fn list_all(conn: &Connection, store: &StoreHash) -> Result<Vec<Storefront>, DbError> {
    let mut q = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM storefronts WHERE store_hash = ?1 ORDER BY channel_id"
    ))?;
    let rows = q
        .query_map([store.as_str()], from_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// The store's storefronts as BigCommerce lists them now, by channel id.
pub fn list(conn: &Connection, store: &StoreHash) -> Result<Vec<Storefront>, DbError> {
    Ok(list_all(conn, store)?
        .into_iter()
        .filter(|s| !s.gone)
        .collect())
}

/// One storefront, gone or not.
pub fn get(
    conn: &Connection,
    store: &StoreHash,
    channel_id: u64,
) -> Result<Option<Storefront>, DbError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM storefronts WHERE store_hash = ?1 AND channel_id = ?2"),
            params![store.as_str(), channel_id as i64],
            from_row,
        )
        .optional()?)
}

/// The merchant switches one storefront on or off. Returns whether it exists.
pub fn set_enabled(
    conn: &Connection,
    store: &StoreHash,
    channel_id: u64,
    enabled: bool,
) -> Result<bool, DbError> {
    Ok(conn.execute(
        "UPDATE storefronts SET enabled = ?3 WHERE store_hash = ?1 AND channel_id = ?2",
        params![store.as_str(), channel_id as i64, enabled],
    )? > 0)
}

/// Whether storefronts the merchant has not switched are on.
pub fn default_on(conn: &Connection, store: &StoreHash) -> Result<bool, DbError> {
    Ok(conn
        .query_row(
            "SELECT storefronts_default_on FROM stores WHERE store_hash = ?1",
            [store.as_str()],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(true))
}

/// Sets the default for storefronts the merchant has not switched (new ones follow it).
pub fn set_default_on(conn: &Connection, store: &StoreHash, on: bool) -> Result<(), DbError> {
    conn.execute(
        "UPDATE stores SET storefronts_default_on = ?2 WHERE store_hash = ?1",
        params![store.as_str(), on],
    )?;
    Ok(())
}

/// The merchant has seen the Storefronts section: no storefront is new to them any more.
pub fn mark_seen(conn: &Connection, store: &StoreHash) -> Result<(), DbError> {
    conn.execute(
        "UPDATE storefronts SET new = 0 WHERE store_hash = ?1 AND new = 1",
        [store.as_str()],
    )?;
    Ok(())
}
