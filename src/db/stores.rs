//! The `stores` aggregate: install state and the store's sealed secrets.

use rusqlite::{Connection, OptionalExtension, params};

use super::{DbError, now};
use crate::config::SecretString;
use crate::crypto::SecretsKey;
use crate::domain::{StoreHash, UserId};

/// A store as the app knows it, without its secrets.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Store {
    pub hash: StoreHash,
    pub installed: bool,
    pub scopes: String,
    pub owner_id: Option<UserId>,
    pub owner_email: Option<String>,
    pub account_uuid: Option<String>,
    pub store_id: Option<String>,
    pub store_name: Option<String>,
    /// The storefront's address, e.g. `https://shop.example.com` (no trailing slash).
    pub storefront_url: Option<String>,
    /// The store's language, e.g. `es`.
    pub language: Option<String>,
    pub installed_at: String,
    pub uninstalled_at: Option<String>,
}

/// What a successful token exchange tells us about a store.
#[derive(Debug, Clone)]
pub struct Install {
    pub hash: StoreHash,
    pub access_token: SecretString,
    pub scopes: String,
    pub owner_id: UserId,
    pub owner_email: String,
    pub account_uuid: Option<String>,
    /// Used only when the store has no webhook secret yet (first install or after uninstall).
    pub new_webhook_secret: SecretString,
}

/// One line of `stores list`.
#[derive(Debug, Clone)]
pub struct StoreSummary {
    pub store: Store,
    pub users: i64,
    /// The seQura environment the store is connected to, if any.
    pub sequra: Option<String>,
    /// The seQura deployments it is connected to (`sequra`, `svea`), in that order.
    pub deployments: Vec<String>,
}

fn token_context(hash: &StoreHash) -> String {
    format!("store-access-token:{hash}")
}

fn webhook_secret_context(hash: &StoreHash) -> String {
    format!("store-webhook-secret:{hash}")
}

const STORE_COLUMNS: &str = "store_hash, status, scopes, owner_id, owner_email, account_uuid, \
     store_id, store_name, installed_at, uninstalled_at, storefront_url, language";

fn store_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Store> {
    let hash: String = row.get(0)?;
    Ok(Store {
        hash: StoreHash::parse(&hash).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
        })?,
        installed: row.get::<_, String>(1)? == "installed",
        scopes: row.get(2)?,
        owner_id: row.get::<_, Option<i64>>(3)?.map(|id| UserId(id as u64)),
        owner_email: row.get(4)?,
        account_uuid: row.get(5)?,
        store_id: row.get(6)?,
        store_name: row.get(7)?,
        installed_at: row.get(8)?,
        uninstalled_at: row.get(9)?,
        storefront_url: row.get(10)?,
        language: row.get(11)?,
    })
}

/// Records an install or re-auth: replaces the token, keeps settings and the webhook secret.
pub fn save_install(conn: &Connection, key: &SecretsKey, install: &Install) -> Result<(), DbError> {
    let token = key.seal(
        &token_context(&install.hash),
        install.access_token.expose().as_bytes(),
    );
    let secret = key.seal(
        &webhook_secret_context(&install.hash),
        install.new_webhook_secret.expose().as_bytes(),
    );
    let now = now();
    conn.execute(
        "INSERT INTO stores (store_hash, status, access_token, scopes, owner_id, owner_email,
                             account_uuid, webhook_secret, installed_at, reinstalled_at)
         VALUES (?1, 'installed', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)
         ON CONFLICT (store_hash) DO UPDATE SET
             status = 'installed',
             access_token = excluded.access_token,
             scopes = excluded.scopes,
             owner_id = excluded.owner_id,
             owner_email = excluded.owner_email,
             account_uuid = COALESCE(excluded.account_uuid, stores.account_uuid),
             webhook_secret = COALESCE(stores.webhook_secret, excluded.webhook_secret),
             reinstalled_at = excluded.reinstalled_at",
        params![
            install.hash.as_str(),
            token,
            install.scopes,
            install.owner_id.0 as i64,
            install.owner_email,
            install.account_uuid,
            secret,
            now,
        ],
    )?;
    Ok(())
}

/// The store, installed or not.
pub fn get(conn: &Connection, hash: &StoreHash) -> Result<Option<Store>, DbError> {
    Ok(conn
        .query_row(
            &format!("SELECT {STORE_COLUMNS} FROM stores WHERE store_hash = ?1"),
            [hash.as_str()],
            store_from_row,
        )
        .optional()?)
}

/// The store only while it is installed.
pub fn get_installed(conn: &Connection, hash: &StoreHash) -> Result<Option<Store>, DbError> {
    Ok(get(conn, hash)?.filter(|s| s.installed))
}

/// The decrypted API token of an installed store.
pub fn access_token(
    conn: &Connection,
    key: &SecretsKey,
    hash: &StoreHash,
) -> Result<Option<SecretString>, DbError> {
    open_secret(conn, key, hash, "access_token", &token_context(hash))
}

/// The decrypted per-store webhook secret of an installed store.
pub fn webhook_secret(
    conn: &Connection,
    key: &SecretsKey,
    hash: &StoreHash,
) -> Result<Option<SecretString>, DbError> {
    open_secret(
        conn,
        key,
        hash,
        "webhook_secret",
        &webhook_secret_context(hash),
    )
}

fn open_secret(
    conn: &Connection,
    key: &SecretsKey,
    hash: &StoreHash,
    column: &'static str,
    context: &str,
) -> Result<Option<SecretString>, DbError> {
    let sealed: Option<Vec<u8>> = conn
        .query_row(
            &format!("SELECT {column} FROM stores WHERE store_hash = ?1 AND status = 'installed'"),
            [hash.as_str()],
            |r| r.get(0),
        )
        .optional()?
        .flatten();
    sealed
        .map(|s| {
            let plain = key.open(context, &s)?;
            String::from_utf8(plain)
                .map(SecretString::new)
                .map_err(|_| DbError::Invalid(format!("stored {column} is not text")))
        })
        .transpose()
}

/// What `GET /v2/store` says about a store that the app keeps.
#[derive(Debug, Clone, Default)]
pub struct StoreDetails {
    pub store_id: String,
    pub name: String,
    pub storefront_url: Option<String>,
    pub language: Option<String>,
}

/// Remembers what `GET /v2/store` said about the store.
pub fn save_store_info(
    conn: &Connection,
    hash: &StoreHash,
    d: &StoreDetails,
) -> Result<(), DbError> {
    conn.execute(
        "UPDATE stores SET store_id = ?2, store_name = ?3,
                storefront_url = COALESCE(?4, storefront_url), language = COALESCE(?5, language)
         WHERE store_hash = ?1",
        params![
            hash.as_str(),
            d.store_id,
            d.name,
            d.storefront_url,
            d.language
        ],
    )?;
    Ok(())
}

/// Uninstall: every secret goes at once; settings and history stay for a reinstall.
/// Returns false when the store was not installed.
pub fn mark_uninstalled(conn: &Connection, hash: &StoreHash) -> Result<bool, DbError> {
    let changed = conn.execute(
        "UPDATE stores SET status = 'uninstalled', access_token = NULL, webhook_secret = NULL,
                           uninstalled_at = ?2
         WHERE store_hash = ?1 AND status = 'installed'",
        params![hash.as_str(), now()],
    )?;
    Ok(changed > 0)
}

/// Stores installed, and of them those connected to seQura.
pub fn counts(conn: &Connection) -> Result<(i64, i64), DbError> {
    Ok(conn.query_row(
        "SELECT COUNT(*),
                COUNT(*) FILTER (WHERE EXISTS (SELECT 1 FROM sequra_connections c
                                               WHERE c.store_hash = s.store_hash))
         FROM stores s WHERE status = 'installed'",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?)
}

/// Every store with its number of users, by hash.
pub fn list(conn: &Connection) -> Result<Vec<StoreSummary>, DbError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {STORE_COLUMNS}, (SELECT COUNT(*) FROM store_users u WHERE u.store_hash = s.store_hash),
                (SELECT environment FROM sequra_connections c WHERE c.store_hash = s.store_hash),
                (SELECT group_concat(deployment, ',') FROM
                    (SELECT deployment FROM sequra_connections c
                     WHERE c.store_hash = s.store_hash
                     ORDER BY deployment != 'sequra', deployment))
         FROM stores s ORDER BY store_hash"
    ))?;
    let rows = stmt.query_map([], |row| {
        let deployments: Option<String> = row.get(14)?;
        Ok(StoreSummary {
            store: store_from_row(row)?,
            users: row.get(12)?,
            sequra: row.get(13)?,
            deployments: deployments
                .map(|d| d.split(',').map(str::to_owned).collect())
                .unwrap_or_default(),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Removes the store and, through foreign keys, every row it owns. Returns false if unknown.
pub fn purge(conn: &mut Connection, hash: &StoreHash) -> Result<bool, DbError> {
    let tx = conn.transaction()?;
    let deleted = tx.execute("DELETE FROM stores WHERE store_hash = ?1", [hash.as_str()])?;
    tx.commit()?;
    Ok(deleted > 0)
}

/// Installed stores' hashes (background duties).
pub fn installed(conn: &Connection) -> Result<Vec<StoreHash>, DbError> {
    let mut q =
        conn.prepare_cached("SELECT store_hash FROM stores WHERE status = 'installed' ORDER BY 1")?;
    let hashes: Vec<String> = q.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
    Ok(hashes
        .iter()
        .filter_map(|h| StoreHash::parse(h).ok())
        .collect())
}

/// Up to when (unix seconds) the reconciliation has checked the store's orders.
pub fn reconciled_through(conn: &Connection, hash: &StoreHash) -> Result<Option<i64>, DbError> {
    Ok(conn
        .query_row(
            "SELECT reconciled_through FROM stores WHERE store_hash = ?1",
            [hash.as_str()],
            |r| r.get(0),
        )
        .optional()?
        .flatten())
}

pub fn set_reconciled_through(conn: &Connection, hash: &StoreHash, t: i64) -> Result<(), DbError> {
    conn.execute(
        "UPDATE stores SET reconciled_through = ?2 WHERE store_hash = ?1",
        params![hash.as_str(), t],
    )?;
    Ok(())
}

/// The recovery point the store's next reconciliation recovers from (V27), if a restore left
/// one: RFC 3339 UTC.
pub fn recover_from(conn: &Connection, hash: &StoreHash) -> Result<Option<String>, DbError> {
    Ok(conn
        .query_row(
            "SELECT recover_from FROM stores WHERE store_hash = ?1",
            [hash.as_str()],
            |r| r.get(0),
        )
        .optional()?
        .flatten())
}

/// A restore put the database back to `point` (RFC 3339 UTC): every store recovers from
/// there at its next reconciliation (an earlier point still to recover from stays).
pub fn set_recover_from_all(conn: &Connection, point: &str) -> Result<usize, DbError> {
    Ok(conn.execute(
        "UPDATE stores SET recover_from = MIN(COALESCE(recover_from, ?1), ?1)",
        [point],
    )?)
}

/// The store recovered from `point`: done (unless a later restore set another point).
pub fn recovered(conn: &Connection, hash: &StoreHash, point: &str) -> Result<(), DbError> {
    conn.execute(
        "UPDATE stores SET recover_from = NULL WHERE store_hash = ?1 AND recover_from = ?2",
        params![hash.as_str(), point],
    )?;
    Ok(())
}
