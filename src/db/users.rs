//! The `store_users` aggregate: control-panel users who opened the app.

use rusqlite::{Connection, OptionalExtension, params};

use super::{DbError, now};
use crate::domain::{StoreHash, UserId};

/// A control-panel user of a store.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreUser {
    pub id: UserId,
    pub email: String,
    pub locale: Option<String>,
    pub is_owner: bool,
}

/// Records that `user` opened the app; returns true the first time the user is seen.
/// A known user with unchanged details is only rewritten once `last_seen_at` is an hour old,
/// so opening the app is a read, not a write (and an fsync), all but once per clock hour.
pub fn touch(conn: &Connection, store: &StoreHash, user: &StoreUser) -> Result<bool, DbError> {
    let known: Option<(String, Option<String>, bool, String)> = conn
        .query_row(
            "SELECT email, locale, is_owner, last_seen_at FROM store_users
             WHERE store_hash = ?1 AND user_id = ?2",
            params![store.as_str(), user.id.0 as i64],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    let now = now();
    match known {
        None => {
            conn.execute(
                "INSERT INTO store_users (store_hash, user_id, email, locale, is_owner, first_seen_at, last_seen_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
                 ON CONFLICT (store_hash, user_id) DO NOTHING",
                params![store.as_str(), user.id.0 as i64, user.email, user.locale, user.is_owner, now],
            )?;
            Ok(true)
        }
        Some((email, locale, is_owner, last_seen)) => {
            let unchanged = email == user.email
                && (user.locale.is_none() || locale == user.locale)
                && (is_owner || !user.is_owner)
                && now.get(..13) == last_seen.get(..13);
            if !unchanged {
                conn.execute(
                    "UPDATE store_users SET email = ?3, locale = COALESCE(?4, locale),
                            is_owner = MAX(is_owner, ?5), last_seen_at = ?6
                     WHERE store_hash = ?1 AND user_id = ?2",
                    params![
                        store.as_str(),
                        user.id.0 as i64,
                        user.email,
                        user.locale,
                        user.is_owner,
                        now
                    ],
                )?;
            }
            Ok(false)
        }
    }
}

/// One user of the store, if known.
pub fn get(
    conn: &Connection,
    store: &StoreHash,
    user: UserId,
) -> Result<Option<StoreUser>, DbError> {
    Ok(conn
        .query_row(
            "SELECT user_id, email, locale, is_owner FROM store_users
             WHERE store_hash = ?1 AND user_id = ?2",
            params![store.as_str(), user.0 as i64],
            |r| {
                Ok(StoreUser {
                    id: UserId(r.get::<_, i64>(0)? as u64),
                    email: r.get(1)?,
                    locale: r.get(2)?,
                    is_owner: r.get(3)?,
                })
            },
        )
        .optional()?)
}

/// Removes a user (BigCommerce's remove_user callback). Returns false if unknown.
pub fn remove(conn: &Connection, store: &StoreHash, user: UserId) -> Result<bool, DbError> {
    let n = conn.execute(
        "DELETE FROM store_users WHERE store_hash = ?1 AND user_id = ?2",
        params![store.as_str(), user.0 as i64],
    )?;
    Ok(n > 0)
}

/// The store's users, by id.
pub fn list(conn: &Connection, store: &StoreHash) -> Result<Vec<StoreUser>, DbError> {
    let mut stmt = conn.prepare(
        "SELECT user_id, email, locale, is_owner FROM store_users WHERE store_hash = ?1 ORDER BY user_id",
    )?;
    let rows = stmt.query_map([store.as_str()], |r| {
        Ok(StoreUser {
            id: UserId(r.get::<_, i64>(0)? as u64),
            email: r.get(1)?,
            locale: r.get(2)?,
            is_owner: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
