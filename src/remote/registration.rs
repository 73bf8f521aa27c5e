//! The configuration webhook's registrations with seQura, kept in line with the store's
//! connections (`../shared/spec/sequra-remote-configuration.md` §1.4–§1.5). Called inside the
//! transaction that changes a connection, these record what is due and queue the jobs that
//! `remote::registrar` runs: a registration per connected deployment, and a deletion for each
//! signed URL seQura may hold that is no longer the store's.
//!
//! - A connection saved (connect, new credentials, environment switch): registered anew; the
//!   URL registered before is deleted unless it is the same URL on the same environment.
//! - A connection leaving (disconnect, uninstall, the merchant turning remote configuration
//!   off): its URL is deleted, with its credentials sealed for the job (they are gone by the
//!   time it runs).
//! - The sweep: stores connected before registrations existed, a changed public URL, and
//!   registrations stuck for a day are queued, a few at a time (`sweep`).
//!
//! Layer: a service below `onboarding` and `stores` (which call it in their transactions); it
//! never calls seQura itself.

use std::time::Duration;

use rusqlite::Connection;
use url::Url;

use super::signature;
use crate::config::SecretString;
use crate::crypto::SecretsKey;
use crate::db::remote::{Deregistration, Registration, RegistrationState};
use crate::db::{self, DbError};
use crate::domain::StoreHash;
use crate::error::AppError;
use crate::queue::{self, Job};
use crate::state::AppState;

/// Registrations the sweep queues at most per run (every `reconcile_every_secs`)…
const SWEEP_BATCH: usize = 300;
/// …each this long after the one before: an upgrade of 10 000 connected stores registers
/// them at one call a second, never in a burst.
const SWEEP_SPACING: Duration = Duration::from_secs(1);
/// A registration pending or failed this long is tried again by the sweep (a job given up, a
/// refusal seQura may since have lifted).
const STALE_AFTER: time::Duration = time::Duration::days(1);

/// A deployment's connection as stored: what registering or deleting needs.
struct Stored {
    environment: String,
    username: String,
    password: SecretString,
}

fn stored(
    conn: &Connection,
    key: &SecretsKey,
    store: &StoreHash,
    deployment: &str,
) -> Result<Option<Stored>, DbError> {
    let Some(c) = db::sequra::connections(conn, store)?
        .into_iter()
        .find(|c| c.deployment == deployment)
    else {
        return Ok(None);
    };
    Ok(
        db::sequra::password(conn, key, store, deployment)?.map(|password| Stored {
            environment: c.environment,
            username: c.username,
            password,
        }),
    )
}

/// Queues the registration of `store` on `deployment` (pending; `forget_url`: what was
/// registered before is being deleted apart).
fn queue_registration(
    conn: &Connection,
    store: &StoreHash,
    deployment: &str,
    forget_url: bool,
    delay: Duration,
) -> Result<(), DbError> {
    db::remote::set_pending(conn, store, deployment, None, None, forget_url)?;
    queue::enqueue_after(
        conn,
        store,
        &Job::RegisterRemote {
            deployment: deployment.to_string(),
        },
        delay,
    )?;
    Ok(())
}

/// Keeps `d` (sealed) and queues its deletion from seQura.
pub fn queue_deletion(
    conn: &Connection,
    key: &SecretsKey,
    store: &StoreHash,
    d: &Deregistration,
) -> Result<(), DbError> {
    let id = db::remote::add_deregistration(conn, key, store, d)?;
    queue::enqueue(
        conn,
        store,
        &Job::DeregisterRemote {
            id,
            deployment: d.deployment.clone(),
        },
    )?;
    Ok(())
}

/// The signed URLs seQura may hold for the store's `deployment`: the one recorded as
/// registered, and the one its current password signs under `public_url` (a registration
/// pending or cut short may have reached seQura), each with its environment.
fn held_urls(
    conn: &Connection,
    key: &SecretsKey,
    public_url: &Url,
    store: &StoreHash,
    deployment: &str,
    current: Option<&Stored>,
) -> Result<Vec<(String, String)>, DbError> {
    let mut urls = Vec::new();
    if let Some(recorded) = db::remote::registered_url(conn, key, store, deployment)? {
        urls.push(recorded);
    }
    if let Some(c) = current {
        let signed = (
            c.environment.clone(),
            signature::webhook_url(public_url, store, &c.password).to_string(),
        );
        if !urls.contains(&signed) {
            urls.push(signed);
        }
    }
    Ok(urls)
}

/// Whether seQura may hold a registration of this one: asked for, and not refused (seQura
/// never accepted those credentials).
fn may_be_held(registration: Option<&Registration>) -> bool {
    registration.is_some_and(|r| r.state != RegistrationState::Refused)
}

/// In the transaction that saves `environment`/`username`/`password` for `deployment`, before
/// they replace what is stored: the deployment is registered anew (after new credentials, an
/// environment switch, or a plain reconnection), and what seQura holds under the old
/// credentials is deleted — with the new credentials when they are the same account on the
/// same environment (the old password may already be void at seQura), else with the old ones.
#[allow(clippy::too_many_arguments)]
pub fn connection_saving(
    conn: &Connection,
    key: &SecretsKey,
    public_url: &Url,
    store: &StoreHash,
    deployment: &str,
    environment: &str,
    username: &str,
    password: &SecretString,
) -> Result<(), DbError> {
    if !db::remote::enabled(conn, store)? {
        return Ok(());
    }
    let old = stored(conn, key, store, deployment)?;
    let registration = db::remote::registration(conn, store, deployment)?;
    if may_be_held(registration.as_ref()) {
        let new_url = signature::webhook_url(public_url, store, password).to_string();
        let merchant_id = db::remote::merchant_id(conn, store, deployment)?;
        for (env, url) in held_urls(conn, key, public_url, store, deployment, old.as_ref())? {
            if env == environment && url == new_url {
                continue;
            }
            let (username, password) = match &old {
                Some(o) if !(env == environment && o.username == username) => {
                    (o.username.clone(), o.password.clone())
                }
                _ => (username.to_string(), password.clone()),
            };
            queue_deletion(
                conn,
                key,
                store,
                &Deregistration {
                    deployment: deployment.to_string(),
                    environment: env,
                    username,
                    password,
                    merchant_id: merchant_id.clone(),
                    webhook_url: url,
                    attempts: 0,
                },
            )?;
        }
    }
    queue_registration(conn, store, deployment, true, Duration::ZERO)
}

/// In the transaction that forgets `deployment`'s connection (disconnect, uninstall, an
/// environment switch that drops it), before it goes: what seQura holds is queued for
/// deletion with the connection's credentials, and the registration is forgotten.
pub fn connection_leaving(
    conn: &Connection,
    key: &SecretsKey,
    public_url: &Url,
    store: &StoreHash,
    deployment: &str,
) -> Result<(), DbError> {
    let registration = db::remote::registration(conn, store, deployment)?;
    let current = stored(conn, key, store, deployment)?;
    if may_be_held(registration.as_ref())
        && let Some(c) = &current
    {
        let merchant_id = db::remote::merchant_id(conn, store, deployment)?;
        for (env, url) in held_urls(conn, key, public_url, store, deployment, Some(c))? {
            queue_deletion(
                conn,
                key,
                store,
                &Deregistration {
                    deployment: deployment.to_string(),
                    environment: env,
                    username: c.username.clone(),
                    password: c.password.clone(),
                    merchant_id: merchant_id.clone(),
                    webhook_url: url,
                    attempts: 0,
                },
            )?;
        }
    }
    db::remote::forget_registration(conn, store, deployment)
}

/// [`connection_leaving`] for every connection of the store.
pub fn connections_leaving(
    conn: &Connection,
    key: &SecretsKey,
    public_url: &Url,
    store: &StoreHash,
) -> Result<(), DbError> {
    for c in db::sequra::connections(conn, store)? {
        connection_leaving(conn, key, public_url, store, &c.deployment)?;
    }
    Ok(())
}

/// The merchant's switch: remote configuration on (every connection registered again) or off
/// (every registration deleted; the webhook then refuses the store). Returns whether it
/// changed.
pub async fn set_enabled(state: &AppState, store: &StoreHash, on: bool) -> Result<bool, AppError> {
    let (key, public_url, hash) = (state.key.clone(), state.public_url.clone(), store.clone());
    let changed = state
        .db
        .call(move |conn| {
            let tx = conn.transaction()?;
            if db::remote::enabled(&tx, &hash)? == on {
                return Ok(false);
            }
            if on {
                db::remote::set_enabled(&tx, &hash, true)?;
                for c in db::sequra::connections(&tx, &hash)? {
                    queue_registration(&tx, &hash, &c.deployment, false, Duration::ZERO)?;
                }
            } else {
                connections_leaving(&tx, &key, &public_url, &hash)?;
                db::remote::set_enabled(&tx, &hash, false)?;
            }
            tx.commit()?;
            Ok(true)
        })
        .await?;
    if changed {
        state.jobs.wake();
        tracing::info!(on, "remote configuration by seQura switched");
    }
    Ok(changed)
}

/// What the Connection page shows: whether the merchant lets seQura configure the store, and
/// each deployment's registration.
pub async fn status(
    state: &AppState,
    store: &StoreHash,
) -> Result<(bool, Vec<Registration>), AppError> {
    let hash = store.clone();
    Ok(state
        .db
        .call(move |conn| {
            Ok((
                db::remote::enabled(conn, &hash)?,
                db::remote::registrations(conn, &hash)?,
            ))
        })
        .await?)
}

/// Queues the registrations due (see [`db::remote::due_registrations`]), at most a batch per
/// run, one [`SWEEP_SPACING`] apart. A store whose job is already waiting is not queued twice
/// (the job's dedupe key), and one refused is left alone.
pub async fn sweep(state: &AppState) {
    let endpoint = signature::endpoint(&state.public_url).to_string();
    let stale_before = db::timestamp(crate::clock::now() - STALE_AFTER);
    let queued = state
        .db
        .call(move |conn| {
            let tx = conn.transaction()?;
            let due = db::remote::due_registrations(&tx, &endpoint, &stale_before, SWEEP_BATCH)?;
            for (i, (store, deployment)) in due.iter().enumerate() {
                // The URL recorded stays: once the new one is registered, the job deletes it.
                queue_registration(&tx, store, deployment, false, SWEEP_SPACING * i as u32)?;
            }
            tx.commit()?;
            Ok(due.len())
        })
        .await;
    match queued {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            registrations = n,
            "seQura registrations of the configuration webhook queued"
        ),
        Err(e) => tracing::warn!(error = %e, "could not queue the due seQura registrations"),
    }
}
