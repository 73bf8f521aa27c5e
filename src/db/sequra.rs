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
    /// `sequra` or `svea`.
    pub deployment: String,
    pub environment: String,
    pub username: String,
    pub connected_at: String,
}

/// A merchant ref the account owns, as the credentials call listed it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMerchant {
    pub merchant_ref: MerchantRef,
    /// The deployment whose credentials listed it.
    pub deployment: String,
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

/// What a password is sealed to: its store and deployment (the seQura deployment's as sealed
/// before there were two).
fn password_context(store: &StoreHash, deployment: &str) -> String {
    match deployment {
        "sequra" => format!("sequra-password:{store}"),
        other => format!("sequra-password:{store}:{other}"),
    }
}

/// Saves (or replaces) the store's connection on `deployment` and the merchants its
/// credentials own (another deployment's stay). A merchant ref another deployment listed
/// before moves to this one.
#[allow(clippy::too_many_arguments)]
pub fn save_connection(
    conn: &Connection,
    key: &SecretsKey,
    store: &StoreHash,
    deployment: &str,
    environment: &str,
    username: &str,
    password: &SecretString,
    merchants: &[StoredMerchant],
) -> Result<(), DbError> {
    let sealed = key.seal(
        &password_context(store, deployment),
        password.expose().as_bytes(),
    );
    let now = now();
    conn.execute(
        "INSERT INTO sequra_connections (store_hash, deployment, environment, username, password, connected_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
         ON CONFLICT (store_hash, deployment) DO UPDATE SET environment = excluded.environment,
             username = excluded.username, password = excluded.password, updated_at = excluded.updated_at",
        params![store.as_str(), deployment, environment, username, sealed, now],
    )?;
    for table in ["sequra_merchants", "sequra_listed_merchants"] {
        conn.execute(
            &format!("DELETE FROM {table} WHERE store_hash = ?1 AND deployment = ?2"),
            params![store.as_str(), deployment],
        )?;
    }
    for m in merchants {
        conn.execute(
            "INSERT INTO sequra_listed_merchants (store_hash, deployment, merchant_ref, country,
                                                  currency, payload)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                store.as_str(),
                deployment,
                m.merchant_ref.as_str(),
                m.country,
                m.currency,
                m.payload
            ],
        )?;
        conn.execute(
            "INSERT INTO sequra_merchants (store_hash, merchant_ref, country, currency, payload, deployment)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (store_hash, merchant_ref) DO UPDATE SET country = excluded.country,
                 currency = excluded.currency, payload = excluded.payload,
                 deployment = excluded.deployment",
            params![
                store.as_str(),
                m.merchant_ref.as_str(),
                m.country,
                m.currency,
                m.payload,
                deployment
            ],
        )?;
    }
    Ok(())
}

/// Whether the store is installed with at least one seQura deployment connected (what a
/// configuration webhook's signature stands on).
pub fn is_connected(conn: &Connection, store: &StoreHash) -> Result<bool, DbError> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sequra_connections c JOIN stores s USING (store_hash)
                        WHERE c.store_hash = ?1 AND s.status = 'installed')",
        [store.as_str()],
        |r| r.get(0),
    )?)
}

/// The store's connections, the seQura deployment's first.
pub fn connections(conn: &Connection, store: &StoreHash) -> Result<Vec<SequraConnection>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT deployment, environment, username, connected_at FROM sequra_connections
         WHERE store_hash = ?1 ORDER BY deployment != 'sequra', deployment",
    )?;
    let rows = stmt
        .query_map([store.as_str()], |r| {
            Ok(SequraConnection {
                deployment: r.get(0)?,
                environment: r.get(1)?,
                username: r.get(2)?,
                connected_at: r.get(3)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// The store's first connection (the seQura deployment's, else another's), if any: whether
/// the store is connected, and in which environment (one for all its deployments).
pub fn connection(
    conn: &Connection,
    store: &StoreHash,
) -> Result<Option<SequraConnection>, DbError> {
    Ok(connections(conn, store)?.into_iter().next())
}

/// The decrypted password of the store's connection on `deployment`.
pub fn password(
    conn: &Connection,
    key: &SecretsKey,
    store: &StoreHash,
    deployment: &str,
) -> Result<Option<SecretString>, DbError> {
    let sealed: Option<Vec<u8>> = conn
        .query_row(
            "SELECT password FROM sequra_connections WHERE store_hash = ?1 AND deployment = ?2",
            params![store.as_str(), deployment],
            |r| r.get(0),
        )
        .optional()?;
    sealed
        .map(|s| {
            let plain = key.open(&password_context(store, deployment), &s)?;
            String::from_utf8(plain)
                .map(SecretString::new)
                .map_err(|_| DbError::Invalid("stored password is not text".into()))
        })
        .transpose()
}

/// Merchant refs the connected account owns.
pub fn merchants(conn: &Connection, store: &StoreHash) -> Result<Vec<StoredMerchant>, DbError> {
    let mut stmt = conn.prepare(
        "SELECT merchant_ref, country, currency, payload, deployment FROM sequra_merchants
         WHERE store_hash = ?1 ORDER BY merchant_ref",
    )?;
    let rows = stmt.query_map([store.as_str()], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (merchant_ref, country, currency, payload, deployment) = row?;
        let merchant_ref = MerchantRef::parse(&merchant_ref)
            .map_err(|_| DbError::Invalid("stored merchant ref is invalid".into()))?;
        out.push(StoredMerchant {
            merchant_ref,
            deployment,
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

/// Forgets one deployment's connection and the merchant refs it listed; another deployment's
/// stay. A ref another connected deployment lists too goes on through that one (its methods
/// are imported again from there); the others leave with their selling countries and cached
/// methods. Run it inside a transaction.
pub fn disconnect_deployment(
    tx: &Connection,
    store: &StoreHash,
    deployment: &str,
) -> Result<(), DbError> {
    // The methods cached for the deployment's refs were its own: all go.
    tx.execute(
        "DELETE FROM payment_methods WHERE store_hash = ?1 AND merchant_ref IN
         (SELECT merchant_ref FROM sequra_merchants WHERE store_hash = ?1 AND deployment = ?2)",
        params![store.as_str(), deployment],
    )?;
    tx.execute(
        "UPDATE sequra_merchants AS m SET (deployment, country, currency, payload) =
             (SELECT l.deployment, l.country, l.currency, l.payload
              FROM sequra_listed_merchants l
              JOIN sequra_connections c ON c.store_hash = l.store_hash
                                       AND c.deployment = l.deployment
              WHERE l.store_hash = m.store_hash AND l.merchant_ref = m.merchant_ref
                AND l.deployment != ?2
              ORDER BY l.deployment != 'sequra', l.deployment LIMIT 1)
         WHERE m.store_hash = ?1 AND m.deployment = ?2
           AND EXISTS (SELECT 1 FROM sequra_listed_merchants l
                       JOIN sequra_connections c ON c.store_hash = l.store_hash
                                                AND c.deployment = l.deployment
                       WHERE l.store_hash = m.store_hash AND l.merchant_ref = m.merchant_ref
                         AND l.deployment != ?2)",
        params![store.as_str(), deployment],
    )?;
    // What is still the deployment's leaves with its countries.
    tx.execute(
        "DELETE FROM selling_countries WHERE store_hash = ?1 AND merchant_ref IN
         (SELECT merchant_ref FROM sequra_merchants WHERE store_hash = ?1 AND deployment = ?2)",
        params![store.as_str(), deployment],
    )?;
    for table in [
        "sequra_merchants",
        "sequra_listed_merchants",
        "sequra_connections",
    ] {
        tx.execute(
            &format!("DELETE FROM {table} WHERE store_hash = ?1 AND deployment = ?2"),
            params![store.as_str(), deployment],
        )?;
    }
    Ok(())
}

/// Forgets the connection, its merchants, the selling countries and the cached methods
/// (disconnect; also the first half of an environment switch). Run it inside a transaction.
pub fn disconnect(tx: &Connection, store: &StoreHash) -> Result<(), DbError> {
    for table in [
        "sequra_connections",
        "sequra_merchants",
        "sequra_listed_merchants",
        "selling_countries",
        "payment_methods",
    ] {
        tx.execute(
            &format!("DELETE FROM {table} WHERE store_hash = ?1"),
            [store.as_str()],
        )?;
    }
    Ok(())
}

/// seQura's list of deployments as last read (JSON), if ever.
pub fn deployments_list(conn: &Connection) -> Result<Option<String>, DbError> {
    Ok(conn
        .query_row(
            "SELECT payload FROM sequra_deployments WHERE id = 1",
            [],
            |r| r.get(0),
        )
        .optional()?)
}

pub fn save_deployments_list(conn: &Connection, payload: &str) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO sequra_deployments (id, payload, read_at) VALUES (1, ?1, ?2)
         ON CONFLICT (id) DO UPDATE SET payload = excluded.payload, read_at = excluded.read_at",
        params![payload, now()],
    )?;
    Ok(())
}
