//! The jobs that talk to seQura about the configuration webhook's registrations
//! (`../shared/spec/sequra-remote-configuration.md` §1): `POST store_integrations` with the
//! connection's credentials as they are when the job runs, and `DELETE store_integrations/…`
//! with the credentials sealed when the deletion was queued. `remote::registration` decides
//! what is due; the workers run these.
//!
//! - Registered: recorded (the signed URL sealed). A URL recorded before under another
//!   endpoint (the public URL changed) is then deleted.
//! - 401: the registration is marked refused, and nothing retries it until the credentials
//!   change (no registration loop: WooCommerce 4.3.1 / 4.3.2).
//! - A 2xx without a usable `Location`, or any other refusal: failed, with the reason (the
//!   sweep tries again a day later).
//! - 5xx, timeouts: retried by the queue with backoff, the reason shown meanwhile.
//! - A deletion is best effort: done on 2xx, 404 (nothing to delete) or 401 (the account no
//!   longer exists), given up after [`MAX_DELETE_ATTEMPTS`]; its sealed secrets go either way.

use rusqlite::Connection;

use super::{signature, topics};
use crate::db::remote::{Deregistration, RegistrationState};
use crate::db::{self, DbError};
use crate::domain::StoreHash;
use crate::queue::JobError;
use crate::sequra::{Deployment, Environment, SequraAccount, SequraError};
use crate::state::AppState;

/// Runs of one deletion before it is given up (with the queue's backoff: about half an hour
/// with the default settings).
pub const MAX_DELETE_ATTEMPTS: i64 = 10;

/// What a registration job reads before calling seQura.
struct Planned {
    account: SequraAccount,
    merchant_id: Option<String>,
    url: String,
}

fn account(
    deployment: &str,
    environment: &str,
    username: &str,
    password: crate::config::SecretString,
) -> Result<SequraAccount, JobError> {
    let (Some(d), Some(e)) = (
        Deployment::parse(deployment),
        Environment::parse(environment),
    ) else {
        return Err(JobError::Permanent(format!(
            "unknown deployment {deployment:?} or environment {environment:?}"
        )));
    };
    Ok(SequraAccount::new(d, e, username, password))
}

/// Whether the store still wants `url` registered on `environment` for `deployment`: remote
/// configuration on, and the connection's current credentials sign that URL there (neither
/// disconnected, switched nor given a new password while the job called seQura).
fn still_wanted(
    conn: &Connection,
    state: &AppState,
    store: &StoreHash,
    deployment: &str,
    environment: &str,
    url: &str,
) -> Result<bool, DbError> {
    if !db::remote::enabled(conn, store)? {
        return Ok(false);
    }
    let Some(c) = db::sequra::connections(conn, store)?
        .into_iter()
        .find(|c| c.deployment == deployment)
    else {
        return Ok(false);
    };
    let Some(password) = db::sequra::password(conn, &state.key, store, deployment)? else {
        return Ok(false);
    };
    Ok(c.environment == environment
        && signature::webhook_url(&state.public_url, store, &password).as_str() == url)
}

/// The `RegisterRemote` job: registers the store's configuration webhook with `deployment`.
pub async fn register(
    state: &AppState,
    store: &StoreHash,
    deployment: &str,
) -> Result<(), JobError> {
    let (key, hash, d) = (state.key.clone(), store.clone(), deployment.to_string());
    let public_url = state.public_url.clone();
    let found = state
        .db
        .call(move |conn| {
            if !db::remote::enabled(conn, &hash)? {
                return Ok(None);
            }
            let Some(c) = db::sequra::connections(conn, &hash)?
                .into_iter()
                .find(|c| c.deployment == d)
            else {
                return Ok(None);
            };
            let Some(password) = db::sequra::password(conn, &key, &hash, &d)? else {
                return Ok(None);
            };
            let merchant_id = db::remote::merchant_id(conn, &hash, &d)?;
            let url = signature::webhook_url(&public_url, &hash, &password).to_string();
            Ok(Some((
                c.environment,
                c.username,
                password,
                merchant_id,
                url,
            )))
        })
        .await?;
    // Disconnected or switched off since it was queued: nothing to register.
    let Some((environment, username, password, merchant_id, url)) = found else {
        return Ok(());
    };
    let planned = Planned {
        account: account(deployment, &environment, &username, password)?,
        merchant_id,
        url,
    };
    let outcome = state
        .sequra
        .register_store_integration(
            &planned.account,
            planned.merchant_id.as_deref(),
            &planned.url,
            topics::capabilities(),
        )
        .await;
    record(state, store, deployment, planned, outcome).await
}

/// Records a registration's outcome, unless the connection changed meanwhile: then a URL
/// seQura accepted is deleted again, and any other outcome dropped (the change queued its
/// own registration).
async fn record(
    state: &AppState,
    store: &StoreHash,
    deployment: &str,
    planned: Planned,
    outcome: Result<u64, SequraError>,
) -> Result<(), JobError> {
    let (failure, retry) = match &outcome {
        Ok(id) => {
            tracing::info!(
                deployment,
                integration = id,
                "configuration webhook registered with seQura"
            );
            (None, None)
        }
        Err(SequraError::Unauthorized) => (
            Some((
                RegistrationState::Refused,
                "remote_reason_unauthorized",
                None,
            )),
            None,
        ),
        Err(e) if e.is_transient() => (None, Some(scrub(&e.to_string(), &planned.url))),
        Err(SequraError::Invalid(m)) => (
            Some((
                RegistrationState::Failed,
                "remote_reason_invalid_answer",
                Some(scrub(m, &planned.url)),
            )),
            None,
        ),
        Err(e) => (
            Some((
                RegistrationState::Failed,
                "remote_reason_rejected",
                Some(scrub(&e.to_string(), &planned.url)),
            )),
            None,
        ),
    };
    if let Some((_, reason, detail)) = &failure {
        tracing::warn!(
            deployment,
            reason,
            detail = detail.as_deref().unwrap_or(""),
            "seQura did not register the configuration webhook"
        );
    }
    let (s, hash, d) = (state.clone(), store.clone(), deployment.to_string());
    let retry_reason = retry.clone();
    state
        .db
        .call(move |conn| {
            let tx = conn.transaction()?;
            let environment = planned.account.environment.as_str();
            if !still_wanted(&tx, &s, &hash, &d, environment, &planned.url)? {
                if outcome.is_ok() {
                    super::registration::queue_deletion(
                        &tx,
                        &s.key,
                        &hash,
                        &Deregistration {
                            deployment: d.clone(),
                            environment: environment.to_string(),
                            username: planned.account.username.clone(),
                            password: planned.account.password.clone(),
                            merchant_id: planned.merchant_id.clone(),
                            webhook_url: planned.url.clone(),
                            attempts: 0,
                        },
                    )?;
                }
                tx.commit()?;
                return Ok(());
            }
            match (&failure, &retry_reason) {
                (Some((st, reason, detail)), _) => {
                    db::remote::set_not_registered(&tx, &hash, &d, *st, reason, detail.as_deref())?
                }
                (None, Some(why)) => db::remote::set_pending(
                    &tx,
                    &hash,
                    &d,
                    Some("remote_reason_unreachable"),
                    Some(why),
                    false,
                )?,
                (None, None) => {
                    // A URL registered before that is not this one (the public URL changed):
                    // seQura would go on calling it.
                    if let Some((env, old)) = db::remote::registered_url(&tx, &s.key, &hash, &d)?
                        && (env != environment || old != planned.url)
                    {
                        super::registration::queue_deletion(
                            &tx,
                            &s.key,
                            &hash,
                            &Deregistration {
                                deployment: d.clone(),
                                environment: env,
                                username: planned.account.username.clone(),
                                password: planned.account.password.clone(),
                                merchant_id: planned.merchant_id.clone(),
                                webhook_url: old,
                                attempts: 0,
                            },
                        )?;
                    }
                    db::remote::set_registered(&tx, &s.key, &hash, &d, environment, &planned.url)?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await?;
    state.jobs.wake();
    match retry {
        Some(why) => Err(JobError::retry(why)),
        None => Ok(()),
    }
}

/// seQura's words about a refusal, without the signed URL or its signature should seQura
/// echo them (they are kept, shown and logged; the URL is a bearer credential).
fn scrub(text: &str, url: &str) -> String {
    let mut out = text.replace(url, "[webhook URL]");
    if let Some(sig) = url::Url::parse(url).ok().and_then(|u| {
        u.query_pairs()
            .find(|(k, _)| k == "signature")
            .map(|(_, v)| v.into_owned())
    }) && !sig.is_empty()
    {
        out = out.replace(&sig, "***");
    }
    out
}

/// The `DeregisterRemote` job: deletes registration `id` from seQura, best effort.
pub async fn deregister(state: &AppState, store: &StoreHash, id: i64) -> Result<(), JobError> {
    let (key, hash) = (state.key.clone(), store.clone());
    let found = state
        .db
        .call(move |conn| db::remote::count_deregistration_attempt(conn, &key, &hash, id))
        .await?;
    let Some(d) = found else {
        return Ok(());
    };
    let acct = match account(
        &d.deployment,
        &d.environment,
        &d.username,
        d.password.clone(),
    ) {
        Ok(a) => a,
        Err(e) => {
            forget(state, id).await?;
            return Err(e);
        }
    };
    let outcome = state
        .sequra
        .delete_store_integration(&acct, d.merchant_id.as_deref(), &d.webhook_url)
        .await;
    match outcome {
        Ok(()) | Err(SequraError::NotFound(_)) => {
            tracing::info!(
                deployment = d.deployment.as_str(),
                "configuration webhook deleted from seQura"
            );
        }
        Err(e) if e.is_transient() && d.attempts < MAX_DELETE_ATTEMPTS => {
            return Err(JobError::retry(scrub(&e.to_string(), &d.webhook_url)));
        }
        Err(e) => {
            // seQura keeps a URL it may call; the call fails its signature once the
            // connection is gone, and changes nothing. The URL being deleted may carry the
            // live signature (a public URL changed, same password): never in the log.
            tracing::warn!(
                deployment = d.deployment.as_str(),
                attempts = d.attempts,
                error = scrub(&e.to_string(), &d.webhook_url),
                "the configuration webhook could not be deleted from seQura; given up"
            );
        }
    }
    forget(state, id).await
}

async fn forget(state: &AppState, id: i64) -> Result<(), JobError> {
    state
        .db
        .call(move |conn| db::remote::forget_deregistration(conn, id))
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequras_words_never_keep_the_signed_url() {
        let url = "https://pay.example.com/sequra/configuration?storeId=abc123&signature=5ec2e7";
        assert_eq!(
            scrub(&format!("webhook_url '{url}' is not a valid URL"), url),
            "webhook_url '[webhook URL]' is not a valid URL"
        );
        assert_eq!(
            scrub("bad signature=5ec2e7 here", url),
            "bad signature=*** here"
        );
        assert_eq!(scrub("no details given", url), "no details given");
    }
}
