//! Connecting the seQura account: credentials are checked with seQura before anything is
//! saved; the password is sealed at rest and never rendered back.

use super::{FormError, FormErrors, methods};
use crate::config::SecretString;
use crate::db;
use crate::db::sequra::StoredMerchant;
use crate::domain::{MerchantRef, StoreHash};
use crate::error::AppError;
use crate::sequra::{Environment, MerchantCredentials, SequraAccount, SequraError};
use crate::state::AppState;

/// What the connect (and change-connection) form submits.
#[derive(Debug, Clone, Default)]
pub struct ConnectForm {
    pub username: String,
    pub password: SecretString,
    pub environment: String,
    /// The merchant confirmed that switching environment resets countries and methods.
    pub confirm_switch: bool,
}

fn parse(form: &ConnectForm) -> Result<SequraAccount, FormErrors> {
    let mut errors = FormErrors::default();
    let username = form.username.trim();
    if username.is_empty() {
        errors = errors.field("username", "err_required");
    } else if username.len() > 200 {
        errors = errors.field("username", "err_too_long");
    }
    if form.password.is_empty() {
        errors = errors.field("password", "err_required");
    } else if form.password.expose().len() > 200 {
        errors = errors.field("password", "err_too_long");
    }
    let environment = Environment::parse(&form.environment);
    if environment.is_none() {
        errors = errors.field("environment", "err_environment");
    }
    match environment {
        Some(environment) if errors.is_empty() => Ok(SequraAccount {
            environment,
            username: username.to_string(),
            password: form.password.clone(),
        }),
        _ => Err(errors),
    }
}

/// Asks seQura which merchant refs the credentials own; each failure becomes its message.
async fn check_credentials(
    state: &AppState,
    account: &SequraAccount,
) -> Result<Vec<MerchantCredentials>, FormError> {
    match state.sequra.credentials(account).await {
        Ok(merchants) if merchants.is_empty() => {
            Err(FormError::Invalid(FormErrors::general("err_no_merchants")))
        }
        Ok(merchants) => Ok(merchants),
        Err(SequraError::Unauthorized) => Err(FormError::Invalid(
            FormErrors::default().field("password", "err_wrong_credentials"),
        )),
        Err(e) if e.is_transient() => {
            tracing::warn!(error = %e, "seQura unreachable while checking credentials");
            Err(FormError::Invalid(FormErrors::general(
                "err_sequra_unreachable",
            )))
        }
        Err(e) => {
            tracing::warn!(error = %e, "seQura refused the credentials check");
            Err(FormError::Invalid(FormErrors::general(
                "err_sequra_rejected",
            )))
        }
    }
}

fn stored(merchants: &[MerchantCredentials]) -> Vec<StoredMerchant> {
    merchants
        .iter()
        .filter_map(|m| {
            Some(StoredMerchant {
                merchant_ref: MerchantRef::parse(&m.merchant_ref).ok()?,
                country: m.country.to_ascii_uppercase(),
                currency: m.currency.clone(),
                payload: serde_json::to_string(m).ok()?,
            })
        })
        .collect()
}

async fn save(
    state: &AppState,
    store: &StoreHash,
    account: &SequraAccount,
    merchants: Vec<StoredMerchant>,
    reset: bool,
) -> Result<(), AppError> {
    let key = state.key.clone();
    let hash = store.clone();
    let account = account.clone();
    state
        .db
        .call(move |conn| {
            if reset {
                db::sequra::disconnect(conn, &hash)?;
            }
            db::sequra::save_connection(
                conn,
                &key,
                &hash,
                account.environment.as_str(),
                &account.username,
                &account.password,
                &merchants,
            )?;
            // Countries whose merchant ref the account no longer owns go, and so do those
            // another installed store sells with on this environment (one store per ref:
            // see `merchant_ref_holders`).
            let owned: Vec<MerchantRef> =
                merchants.iter().map(|m| m.merchant_ref.clone()).collect();
            let mut kept = Vec::new();
            for (country, m) in db::settings::countries(conn, &hash)? {
                let holders =
                    db::settings::merchant_ref_holders(conn, account.environment.as_str(), &m)?;
                if owned.contains(&m) && holders.iter().all(|h| *h == hash) {
                    kept.push((country, m));
                }
            }
            db::settings::save_countries(conn, &hash, &kept)?;
            Ok(())
        })
        .await?;
    state.widget_configs.forget(store);
    Ok(())
}

/// Onboarding step 1: check the credentials with seQura, then save them and import the
/// payment methods of every merchant ref they own.
pub async fn connect(
    state: &AppState,
    store: &StoreHash,
    form: &ConnectForm,
) -> Result<(), FormError> {
    let account = parse(form).map_err(FormError::Invalid)?;
    let merchants = check_credentials(state, &account).await?;
    save(state, store, &account, stored(&merchants), false).await?;
    tracing::info!(
        environment = account.environment.as_str(),
        "seQura account connected"
    );
    if let Err(e) = methods::refresh_methods(state, store).await {
        tracing::warn!(error = %e, "payment methods could not be imported on connect");
    }
    Ok(())
}

/// Connection settings: new credentials are checked again; switching environment needs the
/// merchant's confirmation and resets selling countries and payment methods.
pub async fn change_connection(
    state: &AppState,
    store: &StoreHash,
    form: &ConnectForm,
) -> Result<(), FormError> {
    let hash = store.clone();
    let current = state
        .db
        .call(move |conn| db::sequra::connection(conn, &hash))
        .await?;
    let Some(current) = current else {
        return connect(state, store, form).await;
    };
    let account = parse(form).map_err(FormError::Invalid)?;
    let switching = current.environment != account.environment.as_str();
    if switching && !form.confirm_switch {
        return Err(FormError::Invalid(
            FormErrors::default().field("confirm_switch", "err_confirm_switch"),
        ));
    }
    let merchants = check_credentials(state, &account).await?;
    save(state, store, &account, stored(&merchants), switching).await?;
    tracing::info!(switching, "seQura connection changed");
    if let Err(e) = methods::refresh_methods(state, store).await {
        tracing::warn!(error = %e, "payment methods could not be imported");
    }
    Ok(())
}

/// Deletes the credentials, selling countries and cached methods: seQura leaves checkout.
pub async fn disconnect(state: &AppState, store: &StoreHash) -> Result<(), AppError> {
    let hash = store.clone();
    state
        .db
        .call(move |conn| {
            db::sequra::disconnect(conn, &hash)?;
            // The widget scripts go with the account.
            crate::queue::enqueue(conn, &hash, &crate::queue::Job::Provision)?;
            Ok(())
        })
        .await?;
    state.jobs.wake();
    state.widget_configs.forget(store);
    tracing::info!("seQura account disconnected");
    Ok(())
}
