//! seQura's remote configuration of a store: whether the merchant lets seQura's teams read and
//! change the store's settings through the configuration webhook, the webhook's registration
//! with each connected deployment, and the registrations waiting to be deleted from seQura.
//! Signed URLs and passwords are sealed here: a signed URL is a bearer credential.

use rusqlite::{Connection, OptionalExtension, params};

use super::{DbError, now};
use crate::config::SecretString;
use crate::crypto::SecretsKey;
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

/// Where a deployment's registration stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationState {
    /// A registration job is queued or retrying.
    Pending,
    Registered,
    /// seQura refused it (the reason says why); retried daily by the sweep.
    Failed,
    /// seQura did not accept the credentials (401): not retried until they change.
    Refused,
}

impl RegistrationState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Registered => "registered",
            Self::Failed => "failed",
            Self::Refused => "refused",
        }
    }

    fn parse(s: &str) -> Result<Self, DbError> {
        Ok(match s {
            "pending" => Self::Pending,
            "registered" => Self::Registered,
            "failed" => Self::Failed,
            "refused" => Self::Refused,
            other => return Err(DbError::Invalid(format!("registration state {other:?}"))),
        })
    }
}

/// A deployment's registration, without its signed URL.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Registration {
    pub deployment: String,
    pub state: RegistrationState,
    /// Why it is not registered: a message key of the merchant's pages.
    pub reason: Option<String>,
    /// seQura's own words about it, if any.
    pub detail: Option<String>,
    /// Where the URL was registered (none: nothing recorded as registered).
    pub environment: Option<String>,
    /// The registered URL without its query.
    pub endpoint: Option<String>,
    pub updated_at: String,
}

/// What the signed URL of `store`'s registration on `deployment` is sealed to.
fn url_context(store: &StoreHash, deployment: &str) -> String {
    format!("remote-webhook-url:{store}:{deployment}")
}

/// What a deregistration's password is sealed to.
fn password_context(store: &StoreHash, deployment: &str) -> String {
    format!("remote-deregistration-password:{store}:{deployment}")
}

fn open_text(key: &SecretsKey, context: &str, sealed: &[u8]) -> Result<String, DbError> {
    String::from_utf8(key.open(context, sealed)?)
        .map_err(|_| DbError::Invalid("a sealed value is not text".into()))
}

fn registration_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<(Registration, String)> {
    Ok((
        Registration {
            deployment: r.get(0)?,
            state: RegistrationState::Pending,
            reason: r.get(2)?,
            detail: r.get(3)?,
            environment: r.get(4)?,
            endpoint: r.get(5)?,
            updated_at: r.get(6)?,
        },
        r.get(1)?,
    ))
}

const REGISTRATION_COLUMNS: &str =
    "deployment, state, reason, detail, environment, endpoint, updated_at";

/// The store's registrations, the seQura deployment's first.
pub fn registrations(conn: &Connection, store: &StoreHash) -> Result<Vec<Registration>, DbError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {REGISTRATION_COLUMNS} FROM remote_registrations WHERE store_hash = ?1
         ORDER BY deployment != 'sequra', deployment"
    ))?;
    let rows = stmt
        .query_map([store.as_str()], registration_of)?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(mut r, state)| {
            r.state = RegistrationState::parse(&state)?;
            Ok(r)
        })
        .collect()
}

/// The store's registration on `deployment`, if one was ever asked for.
pub fn registration(
    conn: &Connection,
    store: &StoreHash,
    deployment: &str,
) -> Result<Option<Registration>, DbError> {
    Ok(registrations(conn, store)?
        .into_iter()
        .find(|r| r.deployment == deployment))
}

/// The environment and signed URL recorded as registered on `deployment`, opened.
pub fn registered_url(
    conn: &Connection,
    key: &SecretsKey,
    store: &StoreHash,
    deployment: &str,
) -> Result<Option<(String, String)>, DbError> {
    let found: Option<(Option<String>, Option<Vec<u8>>)> = conn
        .query_row(
            "SELECT environment, webhook_url FROM remote_registrations
             WHERE store_hash = ?1 AND deployment = ?2",
            params![store.as_str(), deployment],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    match found {
        Some((Some(env), Some(sealed))) => Ok(Some((
            env,
            open_text(key, &url_context(store, deployment), &sealed)?,
        ))),
        _ => Ok(None),
    }
}

/// The registration is (again) to be made: pending, with `reason` and `detail` (why it is not
/// done yet) when given. What is recorded as registered stays until it is replaced, or
/// forgotten here when `forget_url` (its deletion is queued apart).
pub fn set_pending(
    conn: &Connection,
    store: &StoreHash,
    deployment: &str,
    reason: Option<&str>,
    detail: Option<&str>,
    forget_url: bool,
) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO remote_registrations (store_hash, deployment, state, reason, detail,
                                           updated_at)
         VALUES (?1, ?2, 'pending', ?3, ?4, ?5)
         ON CONFLICT (store_hash, deployment) DO UPDATE SET state = 'pending',
             reason = excluded.reason, detail = excluded.detail,
             updated_at = excluded.updated_at,
             environment = CASE WHEN ?6 THEN NULL ELSE environment END,
             endpoint = CASE WHEN ?6 THEN NULL ELSE endpoint END,
             webhook_url = CASE WHEN ?6 THEN NULL ELSE webhook_url END",
        params![
            store.as_str(),
            deployment,
            reason,
            detail,
            now(),
            forget_url
        ],
    )?;
    Ok(())
}

/// seQura accepted `url` on `environment`: it is recorded (sealed) as the registration.
pub fn set_registered(
    conn: &Connection,
    key: &SecretsKey,
    store: &StoreHash,
    deployment: &str,
    environment: &str,
    url: &str,
) -> Result<(), DbError> {
    let sealed = key.seal(&url_context(store, deployment), url.as_bytes());
    let endpoint = url.split('?').next().unwrap_or("");
    conn.execute(
        "INSERT INTO remote_registrations (store_hash, deployment, state, reason, environment,
                                           endpoint, webhook_url, updated_at)
         VALUES (?1, ?2, 'registered', NULL, ?3, ?4, ?5, ?6)
         ON CONFLICT (store_hash, deployment) DO UPDATE SET state = 'registered', reason = NULL,
             detail = NULL,
             environment = excluded.environment, endpoint = excluded.endpoint,
             webhook_url = excluded.webhook_url, updated_at = excluded.updated_at",
        params![
            store.as_str(),
            deployment,
            environment,
            endpoint,
            sealed,
            now()
        ],
    )?;
    Ok(())
}

/// seQura refused the registration (`Failed` or `Refused`) for `reason` (a message key),
/// in seQura's words `detail`.
pub fn set_not_registered(
    conn: &Connection,
    store: &StoreHash,
    deployment: &str,
    state: RegistrationState,
    reason: &str,
    detail: Option<&str>,
) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO remote_registrations (store_hash, deployment, state, reason, detail,
                                           updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (store_hash, deployment) DO UPDATE SET state = excluded.state,
             reason = excluded.reason, detail = excluded.detail,
             updated_at = excluded.updated_at",
        params![
            store.as_str(),
            deployment,
            state.as_str(),
            reason,
            detail,
            now()
        ],
    )?;
    Ok(())
}

/// Forgets the registration on `deployment` (its deletion from seQura is queued apart).
pub fn forget_registration(
    conn: &Connection,
    store: &StoreHash,
    deployment: &str,
) -> Result<(), DbError> {
    conn.execute(
        "DELETE FROM remote_registrations WHERE store_hash = ?1 AND deployment = ?2",
        params![store.as_str(), deployment],
    )?;
    Ok(())
}

/// Up to `limit` connected deployments of stores with remote configuration on whose
/// registration is due: never asked for (a store connected before registrations existed),
/// registered under another endpoint than `endpoint` (the public URL changed), or pending or
/// failed since before `stale_before` (a job given up, a refusal worth another try). Refused
/// ones wait for new credentials.
pub fn due_registrations(
    conn: &Connection,
    endpoint: &str,
    stale_before: &str,
    limit: usize,
) -> Result<Vec<(StoreHash, String)>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT c.store_hash, c.deployment FROM sequra_connections c
         LEFT JOIN remote_registrations r
                ON r.store_hash = c.store_hash AND r.deployment = c.deployment
         LEFT JOIN remote_configuration rc ON rc.store_hash = c.store_hash
         WHERE COALESCE(rc.enabled, 1) = 1
           AND (r.store_hash IS NULL
                OR (r.state = 'registered' AND r.endpoint IS NOT ?1)
                OR (r.state IN ('pending', 'failed') AND r.updated_at < ?2))
         ORDER BY c.store_hash, c.deployment LIMIT ?3",
    )?;
    let rows = stmt
        .query_map(params![endpoint, stale_before, limit as i64], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(s, d)| {
            StoreHash::parse(&s)
                .map(|s| (s, d))
                .map_err(|e| DbError::Invalid(e.to_string()))
        })
        .collect()
}

/// The `Sequra-Merchant-Id` of the store's account on `deployment`: the first (by name) of
/// the merchant refs its credentials listed, so that a registration and its deletion name
/// the same one.
pub fn merchant_id(
    conn: &Connection,
    store: &StoreHash,
    deployment: &str,
) -> Result<Option<String>, DbError> {
    Ok(conn
        .query_row(
            "SELECT merchant_ref FROM sequra_listed_merchants
             WHERE store_hash = ?1 AND deployment = ?2 ORDER BY merchant_ref LIMIT 1",
            params![store.as_str(), deployment],
            |r| r.get(0),
        )
        .optional()?)
}

/// A registration to delete from seQura, with what the DELETE needs.
#[derive(Clone)]
pub struct Deregistration {
    pub deployment: String,
    pub environment: String,
    pub username: String,
    pub password: SecretString,
    pub merchant_id: Option<String>,
    pub webhook_url: String,
    /// Runs so far, this one included (see [`count_deregistration_attempt`]).
    pub attempts: i64,
}

impl std::fmt::Debug for Deregistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deregistration")
            .field("deployment", &self.deployment)
            .field("environment", &self.environment)
            .field("username", &self.username)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// Keeps a registration to delete (password and URL sealed); returns its id.
pub fn add_deregistration(
    conn: &Connection,
    key: &SecretsKey,
    store: &StoreHash,
    d: &Deregistration,
) -> Result<i64, DbError> {
    let password = key.seal(
        &password_context(store, &d.deployment),
        d.password.expose().as_bytes(),
    );
    let url = key.seal(&url_context(store, &d.deployment), d.webhook_url.as_bytes());
    conn.execute(
        "INSERT INTO remote_deregistrations (store_hash, deployment, environment, username,
                                             password, merchant_id, webhook_url, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            store.as_str(),
            d.deployment,
            d.environment,
            d.username,
            password,
            d.merchant_id,
            url,
            now()
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Counts one more run of deregistration `id` and returns it, opened (`None`: done already).
pub fn count_deregistration_attempt(
    conn: &Connection,
    key: &SecretsKey,
    store: &StoreHash,
    id: i64,
) -> Result<Option<Deregistration>, DbError> {
    let found = conn
        .query_row(
            "UPDATE remote_deregistrations SET attempts = attempts + 1
             WHERE id = ?1 AND store_hash = ?2
             RETURNING deployment, environment, username, password, merchant_id, webhook_url,
                       attempts",
            params![id, store.as_str()],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Vec<u8>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, Vec<u8>>(5)?,
                    r.get::<_, i64>(6)?,
                ))
            },
        )
        .optional()?;
    let Some((deployment, environment, username, password, merchant_id, url, attempts)) = found
    else {
        return Ok(None);
    };
    let password = open_text(key, &password_context(store, &deployment), &password)?;
    let webhook_url = open_text(key, &url_context(store, &deployment), &url)?;
    Ok(Some(Deregistration {
        deployment,
        environment,
        username,
        password: SecretString::new(password),
        merchant_id,
        webhook_url,
        attempts,
    }))
}

/// The deletion is done, or given up: its secrets go.
pub fn forget_deregistration(conn: &Connection, id: i64) -> Result<(), DbError> {
    conn.execute("DELETE FROM remote_deregistrations WHERE id = ?1", [id])?;
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

    #[test]
    fn urls_and_passwords_are_sealed_and_open_again() {
        let (_dir, conn) = crate::db::test_db(&["abc123"]);
        let store = StoreHash::parse("abc123").unwrap();
        let key = SecretsKey::from_bytes([7; 32]);
        let url = "https://pay.example.com/sequra/configuration?storeId=abc123&signature=f00";
        set_registered(&conn, &key, &store, "sequra", "sandbox", url).unwrap();
        let sealed: Vec<u8> = conn
            .query_row("SELECT webhook_url FROM remote_registrations", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert!(!String::from_utf8_lossy(&sealed).contains("signature"));
        assert_eq!(
            registered_url(&conn, &key, &store, "sequra").unwrap(),
            Some(("sandbox".into(), url.into()))
        );
        let r = registration(&conn, &store, "sequra").unwrap().unwrap();
        assert_eq!(r.state, RegistrationState::Registered);
        assert_eq!(
            r.endpoint.as_deref(),
            Some("https://pay.example.com/sequra/configuration")
        );
        let id = add_deregistration(
            &conn,
            &key,
            &store,
            &Deregistration {
                deployment: "sequra".into(),
                environment: "sandbox".into(),
                username: "u".into(),
                password: SecretString::new("pw-secret"),
                merchant_id: Some("m".into()),
                webhook_url: url.into(),
                attempts: 0,
            },
        )
        .unwrap();
        let row: (Vec<u8>, Vec<u8>) = conn
            .query_row(
                "SELECT password, webhook_url FROM remote_deregistrations",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert!(!String::from_utf8_lossy(&row.0).contains("pw-secret"));
        assert!(!String::from_utf8_lossy(&row.1).contains("signature"));
        let d = count_deregistration_attempt(&conn, &key, &store, id)
            .unwrap()
            .unwrap();
        assert_eq!((d.attempts, d.webhook_url.as_str()), (1, url));
        assert_eq!(d.password.expose(), "pw-secret");
        let other = StoreHash::parse("zzz999").unwrap();
        assert!(
            count_deregistration_attempt(&conn, &key, &other, id)
                .unwrap()
                .is_none(),
            "another store's id"
        );
        forget_deregistration(&conn, id).unwrap();
        assert!(
            count_deregistration_attempt(&conn, &key, &store, id)
                .unwrap()
                .is_none()
        );
    }
}
