//! The app's lifecycle in a store: install (token exchange), load, uninstall, remove user, and
//! provisioning with its recorded outcomes. Handlers call these; these call `db` and the client.

use std::time::Duration;

use tracing::Instrument;

use super::provisioning::{self, Desired};
use crate::bigcommerce::client::StoreApi;
use crate::bigcommerce::signed_payload::{self, SignedPayload, unix_now};
use crate::config::SecretString;
use crate::crypto::random_token;
use crate::db::provisioning::{Item, ItemState};
use crate::db::stores::{self, Install, Store};
use crate::db::{self, users};
use crate::domain::{StoreHash, UserId};
use crate::error::{AppError, Public};
use crate::state::AppState;

/// Provisioning that succeeded is re-checked on load once it is older than this.
const RECHECK_AFTER: Duration = Duration::from_secs(15 * 60);

/// The query of BigCommerce's auth callback.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct AuthQuery {
    pub code: Option<String>,
    pub scope: Option<String>,
    pub context: Option<String>,
    pub account_uuid: Option<String>,
    pub external_install: Option<String>,
}

/// The outcome of a successful install.
#[derive(Debug, Clone)]
pub struct Installed {
    pub store: StoreHash,
    pub user: UserId,
}

/// `/bc/auth`: exchanges the code, stores the store, provisions it. Nothing is stored when
/// the exchange fails.
pub async fn install(state: &AppState, q: &AuthQuery) -> Result<Installed, AppError> {
    let (Some(code), Some(context)) = (q.code.as_deref(), q.context.as_deref()) else {
        return Err(AppError::BadRequest(Public::new("err_install_link")));
    };
    if code.is_empty() || code.len() > 512 {
        return Err(AppError::BadRequest(Public::new("err_install_link")));
    }
    let store = StoreHash::from_context(context)
        .map_err(|_| AppError::BadRequest(Public::new("err_install_link")))?;
    let scope = q.scope.clone().unwrap_or_default();
    let token = state
        .bigcommerce
        .exchange_code(code, &scope, context, &state.public("/bc/auth"))
        .await
        .map_err(|e| {
            tracing::warn!(context, error = %e, "token exchange failed");
            AppError::Upstream(Public::with("err_install_failed", e))
        })?;
    if token.context != context {
        return Err(AppError::Upstream(Public::new("err_install_failed")));
    }
    if token.access_token.is_empty() {
        return Err(AppError::Upstream(Public::new("err_install_failed")));
    }
    // The store's own lines from here only: anyone can name a store in `context`, and until
    // BigCommerce accepted the code what the request logs is the operator's (a stranger's
    // made-up codes would otherwise fill the merchant's Diagnostics log).
    tracing::Span::current().record("store_hash", store.as_str());
    let install = Install {
        hash: store.clone(),
        access_token: token.access_token.clone(),
        scopes: token.scope.clone(),
        owner_id: UserId(token.owner.id),
        owner_email: token.owner.email.clone(),
        account_uuid: q.account_uuid.clone().or(token.account_uuid.clone()),
        new_webhook_secret: SecretString::new(random_token(32)),
    };
    let user = users::StoreUser {
        id: UserId(token.user.id),
        email: token.user.email.clone(),
        locale: None,
        is_owner: token.user.id == token.owner.id,
    };
    let key = state.key.clone();
    let hash = store.clone();
    state
        .db
        .call(move |conn| {
            let tx = conn.transaction()?;
            stores::save_install(&tx, &key, &install)?;
            users::touch(&tx, &hash, &user)?;
            db::settings::write_default_mappings(&tx, &hash)?;
            tx.commit()?;
            Ok(())
        })
        .await?;
    // Its storefront's address may be another now.
    state.widget_configs.forget(&store);
    tracing::info!("store installed");
    provision_store(state, &store).await?;
    Ok(Installed {
        store,
        user: UserId(token.user.id),
    })
}

/// The API of an installed store, with its decrypted token.
pub async fn store_api(state: &AppState, store: &StoreHash) -> Result<StoreApi, AppError> {
    let key = state.key.clone();
    let hash = store.clone();
    let token = state
        .db
        .call(move |conn| stores::access_token(conn, &key, &hash))
        .await?
        .ok_or_else(AppError::not_installed)?;
    Ok(state.bigcommerce.store(store, token))
}

/// Runs provisioning for an installed store and records each item's outcome.
pub async fn provision_store(state: &AppState, store: &StoreHash) -> Result<(), AppError> {
    let lock = state.provision_lock(store);
    let _guard = lock.lock().await;
    let key = state.key.clone();
    let hash = store.clone();
    let secrets = state
        .db
        .call(move |conn| {
            Ok((
                stores::access_token(conn, &key, &hash)?,
                stores::webhook_secret(conn, &key, &hash)?,
            ))
        })
        .await?;
    let (Some(token), Some(webhook_secret)) = secrets else {
        return Err(AppError::not_installed());
    };
    let api = state.bigcommerce.store(store, token);

    // The numeric store id ties webhooks' `store_id` to the store; a failure here is not
    // fatal and is retried with the next provisioning run.
    match api.store_info().await {
        Ok(info) => {
            let hash = store.clone();
            let details = stores::StoreDetails {
                store_id: info.store_id.clone().unwrap_or_else(|| info.id.clone()),
                name: info.name.clone(),
                storefront_url: info
                    .secure_url
                    .as_deref()
                    .map(|u| u.trim_end_matches('/').to_string())
                    .filter(|u| u.starts_with("http")),
                language: info.language.clone(),
            };
            state
                .db
                .call(move |conn| stores::save_store_info(conn, &hash, &details))
                .await?;
        }
        Err(e) => tracing::warn!(error = %e, "could not read store information"),
    }

    // The storefronts first: the scripts follow them. A failed read keeps the last one.
    let read = super::storefronts::refresh(state, store, &api)
        .await
        .map(|_| ())
        .map_err(|e| {
            tracing::warn!(error = %e, "could not read the store's storefronts");
            e.to_string()
        });
    // The widgets' excluded products; a failed read keeps the last one.
    if let Err(e) = crate::onboarding::read_category_products(state, store, &api).await {
        tracing::warn!(error = %e, "could not read the excluded categories' products");
    }
    let (storefronts, default_on) = super::storefronts::stored(state, store).await?;
    let script_channels = super::storefronts::script_channels(&storefronts, default_on);
    let hash = store.clone();
    let (widgets, connected, banners) = state
        .db
        .call(move |c| {
            Ok((
                db::widgets::all(c, &hash)?,
                db::sequra::connection(c, &hash)?.is_some(),
                !db::banners::list(c, &hash)?.is_empty(),
            ))
        })
        .await?;
    // Not connected, nothing to promote: no script costing every page view a request.
    let widget_channels = if connected {
        super::storefronts::widget_channels(&storefronts, default_on, &widgets, banners)
    } else {
        Vec::new()
    };
    let destination = state.public("/bc/webhooks");
    // The script learns its store from its own URL; the bytes (and the SRI hash) are shared.
    let script_src = format!(
        "{}?store={store}",
        state.public(&state.checkout_script.path)
    );
    let widget_src = format!("{}?store={store}", state.public(&state.widget_script.path));
    let desired = Desired {
        webhook_destination: &destination,
        webhook_secret: webhook_secret.expose(),
        script_src: &script_src,
        script_integrity: &state.checkout_script.integrity,
        script_channels: &script_channels,
        widget_src: &widget_src,
        widget_integrity: &state.widget_script.integrity,
        widget_channels: &widget_channels,
    };
    let outcomes = provisioning::provision(&api, &desired).await;
    let records: Vec<(Item, Result<(), String>)> = outcomes
        .into_iter()
        .map(|(item, r)| {
            if let Err(e) = &r {
                tracing::warn!(item = item.as_str(), error = %e, "provisioning step failed");
            }
            (item, r.map_err(|e| e.to_string()))
        })
        .chain(std::iter::once((Item::Storefronts, read)))
        .collect();
    let hash = store.clone();
    state
        .db
        .call(move |conn| {
            let tx = conn.transaction()?;
            for (item, outcome) in &records {
                db::provisioning::record(
                    &tx,
                    &hash,
                    *item,
                    outcome.as_ref().map(|_| ()).map_err(String::as_str),
                )?;
            }
            tx.commit()?;
            Ok(())
        })
        .await?;
    Ok(())
}

/// `/bc/load`: verifies the payload, requires an installed store, provisions a new user, and
/// repairs provisioning (inline when something is failing, in the background when merely due;
/// otherwise the storefronts alone are read again, in the background).
pub async fn load(state: &AppState, jwt: &str) -> Result<SignedPayload, AppError> {
    let payload = verify_payload(state, jwt)?;
    let store = payload.store.clone();
    tracing::Span::current().record("store_hash", store.as_str());
    let user = users::StoreUser {
        id: payload.user_id(),
        email: payload.user.email.clone(),
        locale: payload.user.locale.clone(),
        is_owner: payload.is_owner(),
    };
    let hash = store.clone();
    let (installed, items) = state
        .db
        .call(move |conn| {
            let Some(_) = stores::get_installed(conn, &hash)? else {
                return Ok((false, Vec::new()));
            };
            if users::touch(conn, &hash, &user)? {
                tracing::info!(user_id = user.id.0, "new user opened the app");
            }
            Ok((true, db::provisioning::list(conn, &hash)?))
        })
        .await?;
    if !installed {
        return Err(AppError::not_installed());
    }
    match provisioning_due(&items) {
        Due::Now => {
            if let Err(e) = provision_store(state, &store).await {
                tracing::warn!(error = %e, "provisioning repair on load failed");
            }
        }
        Due::Background => {
            let state = state.clone();
            // In the request's span: its lines are the store's (the Diagnostics page).
            tokio::spawn(
                async move {
                    if let Err(e) = provision_store(&state, &store).await {
                        tracing::warn!(error = %e, "background provisioning check failed");
                    }
                }
                .in_current_span(),
            );
        }
        // Storefronts come and go between provisionings: they are read on every load, and
        // the scripts follow when they changed.
        Due::No if storefronts_read_lately(&items) => {}
        Due::No => {
            let state = state.clone();
            tokio::spawn(
                async move {
                    if let Err(e) = check_storefronts(&state, &store).await {
                        tracing::warn!(error = %e, "storefront check on load failed");
                    }
                }
                .in_current_span(),
            );
        }
    }
    Ok(payload)
}

/// Storefronts read this recently are not read again on load: a merchant going in and out
/// of the app does not spend the store's quota reading them at every click.
const STOREFRONTS_FRESH: Duration = Duration::from_secs(60);

fn storefronts_read_lately(items: &[ItemState]) -> bool {
    items.iter().any(|i| {
        i.item == Item::Storefronts
            && i.ok
            && time::OffsetDateTime::parse(
                &i.checked_at,
                &time::format_description::well_known::Rfc3339,
            )
            .is_ok_and(|t| (crate::clock::now() - t) < STOREFRONTS_FRESH)
    })
}

/// Reads the store's storefronts; provisions the store when they changed.
async fn check_storefronts(state: &AppState, store: &StoreHash) -> Result<(), AppError> {
    let changed = {
        let lock = state.provision_lock(store);
        let _guard = lock.lock().await;
        let api = store_api(state, store).await?;
        let read = super::storefronts::refresh(state, store, &api).await;
        let outcome = read.as_ref().map(|_| ()).map_err(ToString::to_string);
        let hash = store.clone();
        state
            .db
            .call(move |c| {
                db::provisioning::record(
                    c,
                    &hash,
                    Item::Storefronts,
                    outcome.as_ref().map(|_| ()).map_err(String::as_str),
                )
            })
            .await?;
        read?
    };
    if changed {
        provision_store(state, store).await?;
    }
    Ok(())
}

enum Due {
    Now,
    Background,
    No,
}

fn provisioning_due(items: &[ItemState]) -> Due {
    if items.len() < Item::ALL.len() || items.iter().any(|i| !i.ok) {
        return Due::Now;
    }
    let stale = items.iter().any(|i| {
        time::OffsetDateTime::parse(
            &i.checked_at,
            &time::format_description::well_known::Rfc3339,
        )
        .map(|t| (crate::clock::now() - t) > RECHECK_AFTER)
        .unwrap_or(true)
    });
    if stale { Due::Background } else { Due::No }
}

fn verify_payload(state: &AppState, jwt: &str) -> Result<SignedPayload, AppError> {
    signed_payload::verify(
        jwt,
        &state.settings.bigcommerce.client_id,
        &state.settings.bigcommerce.client_secret,
        unix_now(),
    )
    .map_err(|e| {
        tracing::info!(reason = %e, "signed payload refused");
        AppError::Unauthorized(Public::new(e.message_key()))
    })
}

/// `/bc/uninstall`: deletes the token and secrets at once; settings and history stay.
pub async fn uninstall(state: &AppState, jwt: &str) -> Result<(), AppError> {
    let payload = verify_payload(state, jwt)?;
    tracing::Span::current().record("store_hash", payload.store.as_str());
    if forget_store(state, &payload.store).await? {
        tracing::info!("store uninstalled; secrets deleted");
    }
    Ok(())
}

/// The app is gone from the store (uninstalled, or the store cancelled at BigCommerce):
/// its token, webhook secret and seQura password go; settings and history stay. Returns
/// whether the store was installed.
pub async fn forget_store(state: &AppState, store: &StoreHash) -> Result<bool, AppError> {
    let (hash, key, public_url) = (store.clone(), state.key.clone(), state.public_url.clone());
    let changed = state
        .db
        .call(move |conn| {
            let tx = conn.transaction()?;
            let changed = stores::mark_uninstalled(&tx, &hash)?;
            db::provisioning::clear(&tx, &hash)?;
            // seQura is told to forget the configuration webhook (with the credentials sealed
            // for that job alone)…
            crate::remote::registration::connections_leaving(&tx, &key, &public_url, &hash)?;
            // …and the seQura password goes with the other secrets; settings stay.
            db::sequra::forget_credentials(&tx, &hash)?;
            tx.commit()?;
            Ok(changed)
        })
        .await?;
    state.jobs.wake();
    state.webhook_secrets.forget(store);
    // Its storefronts' visitors are told nothing more about it (not even from memory).
    state.widget_configs.forget(store);
    Ok(changed)
}

/// `/bc/remove-user`: forgets that user of the store.
pub async fn remove_user(state: &AppState, jwt: &str) -> Result<(), AppError> {
    let payload = verify_payload(state, jwt)?;
    let store = payload.store.clone();
    tracing::Span::current().record("store_hash", store.as_str());
    let user = payload.user_id();
    state
        .db
        .call(move |conn| users::remove(conn, &store, user))
        .await?;
    Ok(())
}

/// What the dashboard shows about a store.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InstallHealth {
    pub store: Store,
    pub items: Vec<ItemState>,
    pub all_ok: bool,
}

/// The store's install health, for the dashboard.
pub async fn health(state: &AppState, store: &StoreHash) -> Result<InstallHealth, AppError> {
    let hash = store.clone();
    let (store, items) = state
        .db
        .call(move |conn| {
            Ok((
                stores::get_installed(conn, &hash)?,
                db::provisioning::list(conn, &hash)?,
            ))
        })
        .await?;
    let store = store.ok_or_else(AppError::not_installed)?;
    let all_ok = items.len() == Item::ALL.len() && items.iter().all(|i| i.ok);
    Ok(InstallHealth {
        store,
        items,
        all_ok,
    })
}
