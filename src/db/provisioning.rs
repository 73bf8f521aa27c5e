//! The `provisioning` aggregate: the latest outcome of each item the app sets up in a store.

use rusqlite::{Connection, params};

use super::{DbError, now};
use crate::domain::StoreHash;

/// Something the app provisions in every store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Item {
    Webhooks,
    /// The store's storefront channels, read.
    Storefronts,
    Script,
    Extension,
}

impl Item {
    pub const ALL: [Item; 4] = [
        Item::Webhooks,
        Item::Storefronts,
        Item::Script,
        Item::Extension,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Item::Webhooks => "webhooks",
            Item::Storefronts => "storefronts",
            Item::Script => "script",
            Item::Extension => "extension",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|i| i.as_str() == s)
    }
}

/// The stored outcome of one item.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ItemState {
    pub item: Item,
    pub ok: bool,
    pub reason: Option<String>,
    pub attempts: i64,
    pub checked_at: String,
}

/// Records the outcome of provisioning `item`: `Ok` or the merchant-readable reason.
pub fn record(
    conn: &Connection,
    store: &StoreHash,
    item: Item,
    outcome: Result<(), &str>,
) -> Result<(), DbError> {
    let (state, reason) = match outcome {
        Ok(()) => ("ok", None),
        Err(r) => ("failing", Some(r)),
    };
    conn.execute(
        "INSERT INTO provisioning (store_hash, item, state, reason, attempts, checked_at)
         VALUES (?1, ?2, ?3, ?4, CASE WHEN ?3 = 'ok' THEN 0 ELSE 1 END, ?5)
         ON CONFLICT (store_hash, item) DO UPDATE SET
             state = excluded.state,
             reason = excluded.reason,
             attempts = CASE WHEN excluded.state = 'ok' THEN 0 ELSE provisioning.attempts + 1 END,
             checked_at = excluded.checked_at",
        params![store.as_str(), item.as_str(), state, reason, now()],
    )?;
    Ok(())
}

/// Every recorded item of the store.
pub fn list(conn: &Connection, store: &StoreHash) -> Result<Vec<ItemState>, DbError> {
    let mut stmt = conn.prepare(
        "SELECT item, state, reason, attempts, checked_at FROM provisioning
         WHERE store_hash = ?1
         ORDER BY CASE item WHEN 'webhooks' THEN 0 WHEN 'storefronts' THEN 1
                           WHEN 'script' THEN 2 ELSE 3 END",
    )?;
    let rows = stmt.query_map([store.as_str()], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (item, state, reason, attempts, checked_at) = row?;
        if let Some(item) = Item::parse(&item) {
            out.push(ItemState {
                item,
                ok: state == "ok",
                reason,
                attempts,
                checked_at,
            });
        }
    }
    Ok(out)
}

/// Forgets the outcomes (uninstall: the store's hooks and script are gone).
pub fn clear(conn: &Connection, store: &StoreHash) -> Result<(), DbError> {
    conn.execute(
        "DELETE FROM provisioning WHERE store_hash = ?1",
        [store.as_str()],
    )?;
    Ok(())
}
