//! seQura's remote configuration of a store: whether the merchant lets seQura's teams read and
//! change the store's settings through the configuration webhook.

use rusqlite::{Connection, OptionalExtension, params};

use super::{DbError, now};
use crate::domain::StoreHash;

/// Whether remote configuration is on for the store: on unless the merchant turned it off.
pub fn enabled(conn: &Connection, store: &StoreHash) -> Result<bool, DbError> {
    let on: Option<bool> = conn
        .query_row(
            "SELECT enabled FROM remote_configuration WHERE store_hash = ?1",
            [store.as_str()],
            |r| r.get(0),
        )
        .optional()?;
    Ok(on.unwrap_or(true))
}

/// Turns remote configuration on or off for the store.
pub fn set_enabled(conn: &Connection, store: &StoreHash, on: bool) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO remote_configuration (store_hash, enabled, changed_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (store_hash) DO UPDATE SET enabled = excluded.enabled,
                                                changed_at = excluded.changed_at",
        params![store.as_str(), on, now()],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_until_turned_off() {
        let (_dir, conn) = crate::db::test_db(&["abc123"]);
        let store = StoreHash::parse("abc123").unwrap();
        assert!(enabled(&conn, &store).unwrap());
        set_enabled(&conn, &store, false).unwrap();
        assert!(!enabled(&conn, &store).unwrap());
        set_enabled(&conn, &store, true).unwrap();
        assert!(enabled(&conn, &store).unwrap());
    }
}
