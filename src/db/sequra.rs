//! The store's seQura connection: account (password sealed), the merchant refs its
//! credentials own, and the payment methods imported per merchant ref.

use rusqlite::{Connection, OptionalExtension, params};

use super::{DbError, now};
use crate::config::SecretString;
use crate::crypto::SecretsKey;
use crate::domain::{MerchantRef, StoreHash};

/// A stored connection, without its password.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SequraConnection {
    pub environment: String,
    pub username: String,
    pub connected_at: String,
}

/// A merchant ref the account owns, as the credentials call listed it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMerchant {
    pub merchant_ref: MerchantRef,
    pub country: String,
    pub currency: String,
    /// The credentials object as seQura sent it (JSON).
    pub payload: String,
}

/// Payment methods of one merchant ref as last fetched.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMethods {
    pub merchant_ref: MerchantRef,
    /// JSON array of seQura's payment categories.
    pub methods: String,
    pub fetched_at: String,
}

fn password_context(store: &StoreHash) -> String {
    format!("sequra-password:{store}")
}

/// Saves (or replaces) the store's connection and the merchants its credentials own.
pub fn save_connection(
    conn: &mut Connection,
    key: &SecretsKey,
    store: &StoreHash,
    environment: &str,
    username: &str,
    password: &SecretString,
    merchants: &[StoredMerchant],
) -> Result<(), DbError> {
    let sealed = key.seal(&password_context(store), password.expose().as_bytes());
    let now = now();
    let tx = conn.transaction()?;
    tx.execute(
        "INSERT INTO sequra_connections (store_hash, environment, username, password, connected_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)
         ON CONFLICT (store_hash) DO UPDATE SET environment = excluded.environment,
             username = excluded.username, password = excluded.password, updated_at = excluded.updated_at",
        params![store.as_str(), environment, username, sealed, now],
    )?;
    tx.execute(
        "DELETE FROM sequra_merchants WHERE store_hash = ?1",
        [store.as_str()],
    )?;
    for m in merchants {
        tx.execute(
            "INSERT INTO sequra_merchants (store_hash, merchant_ref, country, currency, payload)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                store.as_str(),
                m.merchant_ref.as_str(),
                m.country,
                m.currency,
                m.payload
            ],
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// The store's connection, if any.
pub fn connection(
    conn: &Connection,
    store: &StoreHash,
) -> Result<Option<SequraConnection>, DbError> {
    Ok(conn
        .query_row(
            "SELECT environment, username, connected_at FROM sequra_connections WHERE store_hash = ?1",
            [store.as_str()],
            |r| {
                Ok(SequraConnection {
                    environment: r.get(0)?,
                    username: r.get(1)?,
                    connected_at: r.get(2)?,
                })
            },
        )
        .optional()?)
}

/// The decrypted password of the store's connection.
pub fn password(
    conn: &Connection,
    key: &SecretsKey,
    store: &StoreHash,
) -> Result<Option<SecretString>, DbError> {
    let sealed: Option<Vec<u8>> = conn
        .query_row(
            "SELECT password FROM sequra_connections WHERE store_hash = ?1",
            [store.as_str()],
            |r| r.get(0),
        )
        .optional()?;
    sealed
        .map(|s| {
            let plain = key.open(&password_context(store), &s)?;
            String::from_utf8(plain)
                .map(SecretString::new)
                .map_err(|_| DbError::Invalid("stored password is not text".into()))
        })
        .transpose()
}

/// Merchant refs the connected account owns.
pub fn merchants(conn: &Connection, store: &StoreHash) -> Result<Vec<StoredMerchant>, DbError> {
    let mut stmt = conn.prepare(
        "SELECT merchant_ref, country, currency, payload FROM sequra_merchants
         WHERE store_hash = ?1 ORDER BY merchant_ref",
    )?;
    let rows = stmt.query_map([store.as_str()], |r| {
        Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (merchant_ref, country, currency, payload) = row?;
        let merchant_ref = MerchantRef::parse(&merchant_ref)
            .map_err(|_| DbError::Invalid("stored merchant ref is invalid".into()))?;
        out.push(StoredMerchant {
            merchant_ref,
            country,
            currency,
            payload,
        });
    }
    Ok(out)
}

/// Stores freshly fetched payment methods of a merchant ref.
pub fn save_methods(
    conn: &Connection,
    store: &StoreHash,
    merchant: &MerchantRef,
    methods_json: &str,
) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO payment_methods (store_hash, merchant_ref, methods, fetched_at)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (store_hash, merchant_ref) DO UPDATE SET methods = excluded.methods,
             fetched_at = excluded.fetched_at",
        params![store.as_str(), merchant.as_str(), methods_json, now()],
    )?;
    Ok(())
}

/// Every cached merchant's payment methods.
pub fn methods(conn: &Connection, store: &StoreHash) -> Result<Vec<StoredMethods>, DbError> {
    let mut stmt = conn.prepare(
        "SELECT merchant_ref, methods, fetched_at FROM payment_methods
         WHERE store_hash = ?1 ORDER BY merchant_ref",
    )?;
    let rows = stmt.query_map([store.as_str()], |r| {
        Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (merchant_ref, methods, fetched_at) = row?;
        let merchant_ref = MerchantRef::parse(&merchant_ref)
            .map_err(|_| DbError::Invalid("stored merchant ref is invalid".into()))?;
        out.push(StoredMethods {
            merchant_ref,
            methods,
            fetched_at,
        });
    }
    Ok(out)
}

/// Deletes the stored credentials (uninstall), keeping countries and settings for a reinstall.
pub fn forget_credentials(conn: &Connection, store: &StoreHash) -> Result<(), DbError> {
    conn.execute(
        "DELETE FROM sequra_connections WHERE store_hash = ?1",
        [store.as_str()],
    )?;
    Ok(())
}

/// Forgets the connection, its merchants, the selling countries and the cached methods
/// (disconnect; also the first half of an environment switch).
pub fn disconnect(conn: &mut Connection, store: &StoreHash) -> Result<(), DbError> {
    let tx = conn.transaction()?;
    for table in [
        "sequra_connections",
        "sequra_merchants",
        "selling_countries",
        "payment_methods",
    ] {
        tx.execute(
            &format!("DELETE FROM {table} WHERE store_hash = ?1"),
            [store.as_str()],
        )?;
    }
    tx.commit()?;
    Ok(())
}
