//! Connecting the seQura account: credentials are checked with seQura before anything is
//! saved; the password is sealed at rest and never rendered back.

use super::{FormError, FormErrors, methods};
use crate::config::SecretString;
use crate::db;
use crate::db::sequra::{SequraConnection, StoredMerchant};
use crate::domain::{MerchantRef, StoreHash};
use crate::error::AppError;
use crate::remote::registration;
use crate::sequra::{Deployment, Environment, MerchantCredentials, SequraAccount, SequraError};
use crate::state::AppState;

/// What the connect (and change-connection) form submits: credentials for each deployment
/// (a deployment left blank is not connected, or stays as it is), one environment for all.
#[derive(Debug, Clone, Default)]
pub struct ConnectForm {
    /// The seQura deployment's.
    pub username: String,
    pub password: SecretString,
    /// The SVEA deployment's.
    pub svea_username: String,
    pub svea_password: SecretString,
    pub environment: String,
    /// The merchant confirmed that switching environment resets countries and methods.
    pub confirm_switch: bool,
}

/// The prefix of a deployment's fields in the form.
fn prefix(d: Deployment) -> &'static str {
    match d {
        Deployment::Sequra => "",
        Deployment::Svea => "svea_",
    }
}

/// The accounts the form fills in (a block with anything typed must be complete), every bad
/// field at once. A block as the page shows a connected deployment (its username, no
/// password) is left as it is: `kept` lists them.
fn parse(form: &ConnectForm, connected: &[SequraConnection]) -> Result<Parsed, FormErrors> {
    let mut errors = FormErrors::default();
    let environment = Environment::parse(&form.environment);
    if environment.is_none() {
        errors = errors.field("environment", "err_environment");
    }
    let mut accounts = Vec::new();
    let mut kept = Vec::new();
    for (d, username, password) in [
        (Deployment::Sequra, &form.username, &form.password),
        (Deployment::Svea, &form.svea_username, &form.svea_password),
    ] {
        let username = username.trim();
        if username.is_empty() && password.is_empty() {
            continue;
        }
        let shown = connected
            .iter()
            .any(|c| c.deployment == d.as_str() && c.username == username);
        if shown && password.is_empty() {
            kept.push(d);
            continue;
        }
        let p = prefix(d);
        if username.is_empty() {
            errors = errors.field(&format!("{p}username"), "err_required");
        } else if username.len() > 200 {
            errors = errors.field(&format!("{p}username"), "err_too_long");
        }
        if password.is_empty() {
            errors = errors.field(&format!("{p}password"), "err_required");
        } else if password.expose().len() > 200 {
            errors = errors.field(&format!("{p}password"), "err_too_long");
        }
        if let Some(environment) = environment {
            accounts.push(SequraAccount::new(
                d,
                environment,
                username,
                password.clone(),
            ));
        }
    }
    let filled = [
        (&form.username, &form.password),
        (&form.svea_username, &form.svea_password),
    ]
    .iter()
    .any(|(u, p)| !u.trim().is_empty() || !p.is_empty());
    if !filled {
        // Nothing typed: the seQura deployment's credentials are asked for.
        errors = errors
            .field("username", "err_required")
            .field("password", "err_required");
    }
    if errors.is_empty() {
        Ok(Parsed {
            accounts,
            kept,
            environment,
        })
    } else {
        Err(errors)
    }
}

/// What the connection form asks for.
struct Parsed {
    /// The accounts typed, to be checked and saved.
    accounts: Vec<SequraAccount>,
    /// The connected deployments left as shown.
    kept: Vec<Deployment>,
    environment: Option<Environment>,
}

/// Asks the account's deployment which merchant refs the credentials own; each failure
/// becomes its message, against the deployment's own fields.
async fn check_credentials(
    state: &AppState,
    account: &SequraAccount,
) -> Result<Vec<MerchantCredentials>, FormErrors> {
    let p = prefix(account.deployment);
    let username = format!("{p}username");
    match state.sequra.credentials(account).await {
        Ok(merchants) if merchants.is_empty() => {
            Err(FormErrors::default().field(&username, "err_no_merchants"))
        }
        Ok(merchants) => Ok(merchants),
        Err(SequraError::Unauthorized) => {
            Err(FormErrors::default().field(&format!("{p}password"), "err_wrong_credentials"))
        }
        Err(e) if e.is_transient() => {
            tracing::warn!(deployment = account.deployment.as_str(), error = %e, "seQura unreachable while checking credentials");
            Err(FormErrors::default().field(&username, "err_sequra_unreachable"))
        }
        Err(e) => {
            tracing::warn!(deployment = account.deployment.as_str(), error = %e, "seQura refused the credentials check");
            Err(FormErrors::default().field(&username, "err_sequra_rejected"))
        }
    }
}

/// Checks every account with its own deployment; all of them, or the errors of each.
async fn check_all(
    state: &AppState,
    accounts: Vec<SequraAccount>,
) -> Result<Vec<(SequraAccount, Vec<StoredMerchant>)>, FormError> {
    let mut errors = FormErrors::default();
    let mut checked = Vec::new();
    for account in accounts {
        match check_credentials(state, &account).await {
            Ok(merchants) => {
                let merchants = stored(&merchants);
                checked.push((account, merchants));
            }
            Err(e) => errors.fields.extend(e.fields),
        }
    }
    if errors.is_empty() {
        Ok(checked)
    } else {
        Err(FormError::Invalid(errors))
    }
}

fn stored(merchants: &[MerchantCredentials]) -> Vec<StoredMerchant> {
    merchants
        .iter()
        .filter_map(|m| {
            Some(StoredMerchant {
                merchant_ref: MerchantRef::parse(&m.merchant_ref).ok()?,
                deployment: String::new(),
                country: m.country.to_ascii_uppercase(),
                currency: m.currency.clone(),
                payload: serde_json::to_string(m).ok()?,
            })
        })
        .collect()
}

/// Saves every checked account with the refs it owns, in one transaction (after forgetting
/// every connection when `reset`).
async fn save(
    state: &AppState,
    store: &StoreHash,
    checked: Vec<(SequraAccount, Vec<StoredMerchant>)>,
    reset: bool,
) -> Result<(), AppError> {
    let (key, public_url) = (state.key.clone(), state.public_url.clone());
    let hash = store.clone();
    state
        .db
        .call(move |conn| {
            let tx = conn.transaction()?;
            // seQura's registrations of the configuration webhook follow the credentials: the
            // new ones are registered, what the old ones registered is deleted (decided here,
            // while the old credentials are still stored).
            for (account, _) in &checked {
                registration::connection_saving(
                    &tx,
                    &key,
                    &public_url,
                    &hash,
                    account.deployment.as_str(),
                    account.environment.as_str(),
                    &account.username,
                    &account.password,
                )?;
            }
            if reset {
                // An environment switch drops the deployments not given again.
                for c in db::sequra::connections(&tx, &hash)? {
                    if !checked
                        .iter()
                        .any(|(a, _)| a.deployment.as_str() == c.deployment)
                    {
                        registration::connection_leaving(
                            &tx,
                            &key,
                            &public_url,
                            &hash,
                            &c.deployment,
                        )?;
                    }
                }
                db::sequra::disconnect(&tx, &hash)?;
                // The other environment's banners (the sandbox's are test promotions) go with
                // its connection; their files are not served without their rows, and go with
                // the next save's or start's sweep.
                db::banners::replace(&tx, &hash, &[])?;
            }
            let mut environment = None;
            for (account, merchants) in &checked {
                db::sequra::save_connection(
                    &tx,
                    &key,
                    &hash,
                    account.deployment.as_str(),
                    account.environment.as_str(),
                    &account.username,
                    &account.password,
                    merchants,
                )?;
                environment = Some(account.environment);
            }
            // Countries whose merchant ref no connected account owns any more go, and so do
            // those another installed store sells with on this environment (one store per
            // ref: see `merchant_ref_holders`).
            if let Some(environment) = environment {
                let owned: Vec<MerchantRef> = db::sequra::merchants(&tx, &hash)?
                    .into_iter()
                    .map(|m| m.merchant_ref)
                    .collect();
                let mut kept = Vec::new();
                for (country, m) in db::settings::countries(&tx, &hash)? {
                    let holders =
                        db::settings::merchant_ref_holders(&tx, environment.as_str(), &m)?;
                    if owned.contains(&m) && holders.iter().all(|h| *h == hash) {
                        kept.push((country, m));
                    }
                }
                db::settings::save_countries(&tx, &hash, &kept)?;
            }
            // Widgets saved before (a reconnection) get their scripts back.
            if !db::widgets::all(&tx, &hash)?.is_empty() {
                crate::queue::enqueue(&tx, &hash, &crate::queue::Job::Provision)?;
            }
            tx.commit()?;
            Ok(())
        })
        .await?;
    state.jobs.wake();
    state.widget_configs.forget(store);
    Ok(())
}

/// Onboarding step 1: check each deployment's credentials with that deployment, then save
/// them and import the payment methods of every merchant ref they own. Nothing is saved
/// unless every account given is good.
pub async fn connect(
    state: &AppState,
    store: &StoreHash,
    form: &ConnectForm,
) -> Result<(), FormError> {
    let accounts = parse(form, &[]).map_err(FormError::Invalid)?.accounts;
    let checked = check_all(state, accounts).await?;
    let connected: Vec<&str> = checked.iter().map(|(a, _)| a.deployment.as_str()).collect();
    let environment = checked.first().map(|(a, _)| a.environment.as_str());
    tracing::info!(
        environment,
        deployments = connected.join(",").as_str(),
        "seQura account connected"
    );
    save(state, store, checked, false).await?;
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
    let connected = state
        .db
        .call(move |conn| db::sequra::connections(conn, &hash))
        .await?;
    let Some(current) = connected.first() else {
        return connect(state, store, form).await;
    };
    let parsed = parse(form, &connected).map_err(FormError::Invalid)?;
    // One environment for every deployment: a switch resets them all, so each account kept
    // must be given again for the new environment.
    let switching = parsed
        .environment
        .is_some_and(|e| current.environment != e.as_str());
    if switching && !parsed.kept.is_empty() {
        let mut errors = FormErrors::default();
        for d in &parsed.kept {
            errors = errors.field(&format!("{}password", prefix(*d)), "err_required");
        }
        return Err(FormError::Invalid(errors));
    }
    if switching && !form.confirm_switch {
        return Err(FormError::Invalid(
            FormErrors::default().field("confirm_switch", "err_confirm_switch"),
        ));
    }
    let checked = check_all(state, parsed.accounts).await?;
    save(state, store, checked, switching).await?;
    tracing::info!(switching, "seQura connection changed");
    if let Err(e) = methods::refresh_methods(state, store).await {
        tracing::warn!(error = %e, "payment methods could not be imported");
    }
    Ok(())
}

/// Deletes one deployment's credentials (`None`: every deployment's), with the selling
/// countries and cached methods of its merchant refs: they leave checkout. Returns whether no
/// account is left: then seQura's banners went too, and their files are the caller's to sweep
/// (`remote::banners::sweep_store`).
pub async fn disconnect(
    state: &AppState,
    store: &StoreHash,
    deployment: Option<Deployment>,
) -> Result<bool, AppError> {
    let (key, public_url) = (state.key.clone(), state.public_url.clone());
    let hash = store.clone();
    let none_left = state
        .db
        .call(move |conn| {
            let tx = conn.transaction()?;
            // seQura is told to forget the configuration webhook; its failing never keeps
            // the account connected (a job, best effort: seQura's core v5.1.2).
            match deployment {
                Some(d) => {
                    registration::connection_leaving(&tx, &key, &public_url, &hash, d.as_str())?;
                    db::sequra::disconnect_deployment(&tx, &hash, d.as_str())?;
                }
                None => {
                    registration::connections_leaving(&tx, &key, &public_url, &hash)?;
                    db::sequra::disconnect(&tx, &hash)?;
                }
            }
            // The banners are the accounts' promotions: they go with the last one (one
            // deployment after the other is a full disconnect too), as seQura's core deletes
            // them.
            let none_left = db::sequra::connections(&tx, &hash)?.is_empty();
            if none_left {
                db::banners::replace(&tx, &hash, &[])?;
            }
            // The widget scripts go with the last account.
            crate::queue::enqueue(&tx, &hash, &crate::queue::Job::Provision)?;
            tx.commit()?;
            Ok(none_left)
        })
        .await?;
    state.jobs.wake();
    state.widget_configs.forget(store);
    tracing::info!(
        deployment = deployment.map_or("all", Deployment::as_str),
        "seQura account disconnected"
    );
    Ok(none_left)
}
