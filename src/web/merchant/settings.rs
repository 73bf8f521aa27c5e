//! Onboarding and settings pages: connection, selling countries, payment methods, general
//! settings, order-status mapping. Validation lives in `onboarding`; errors render inline.

use std::collections::BTreeMap;

use serde::Serialize;
use warp::http::StatusCode;

use super::{Merchant, Request, see_other};
use crate::config::SecretString;
use crate::db::remote::RegistrationState;
use crate::domain::Country;
use crate::error::AppError;
use crate::onboarding::{
    self, ConnectForm, FormError, FormErrors, GeneralForm, Progress, SubmittedCountry,
};
use crate::remote::registration;
use crate::sequra::Deployment;
use crate::state::AppState;
use crate::web::respond::Page;

/// Form errors in the merchant's language.
#[derive(Debug, Default, Serialize)]
pub(super) struct Errors {
    fields: BTreeMap<String, String>,
    general: Option<String>,
}

pub(super) fn translate(state: &AppState, merchant: &Merchant, e: &FormErrors) -> Errors {
    let tr = |m: &onboarding::Msg| {
        state.i18n.tf(
            merchant.lang,
            &m.key,
            &[("value", m.value.as_deref().unwrap_or(""))],
        )
    };
    Errors {
        fields: e.fields.iter().map(|(k, m)| (k.clone(), tr(m))).collect(),
        general: e.general.as_ref().map(tr),
    }
}

/// The wizard's steps while onboarding is incomplete.
fn wizard(progress: &Progress, current: &str) -> Option<minijinja::Value> {
    (!progress.complete()).then(|| {
        minijinja::context! {
            current => current,
            connected => progress.connected(),
            countries_done => !progress.countries.is_empty(),
            methods_done => progress.methods_imported,
        }
    })
}

/// Validation errors answer 422 with the form re-rendered; anything else is an app error.
pub(super) fn invalid_or<T>(r: Result<T, FormError>) -> Result<Result<T, FormErrors>, AppError> {
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(FormError::Invalid(e)) => Ok(Err(e)),
        Err(FormError::App(e)) => Err(e),
    }
}

pub(super) fn status_for(errors: &Option<FormErrors>) -> StatusCode {
    if errors.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    }
}

// ---- connection --------------------------------------------------------------------------

#[derive(Debug, Default, Serialize)]
pub(super) struct ConnectValues {
    username: String,
    svea_username: String,
    environment: String,
}

impl ConnectValues {
    /// The form prefilled from the stored connection (sandbox when there is none).
    fn stored(progress: &Progress) -> Self {
        let of = |d: &str| {
            progress
                .connections
                .iter()
                .find(|c| c.deployment == d)
                .map(|c| c.username.clone())
                .unwrap_or_default()
        };
        Self {
            username: of("sequra"),
            svea_username: of("svea"),
            environment: progress
                .connection
                .as_ref()
                .map(|c| c.environment.clone())
                .unwrap_or_else(|| "sandbox".into()),
        }
    }
}

pub(super) async fn render_connect(
    state: &AppState,
    merchant: &Merchant,
    progress: &Progress,
    errors: Option<FormErrors>,
    values: ConnectValues,
) -> Page {
    let status = status_for(&errors);
    let errors = errors
        .map(|e| translate(state, merchant, &e))
        .unwrap_or_default();
    let remote = remote_view(state, merchant, progress).await?;
    merchant.render(
        state,
        status,
        "connect.html",
        "connect",
        minijinja::context! {
            remote => minijinja::value::Serde(&remote),
            wizard => wizard(progress, "connect"),
            connection => minijinja::value::Serde(&progress.connection),
            connections => minijinja::value::Serde(&progress.connections),
            values => minijinja::value::Serde(&values),
            errors => minijinja::value::Serde(&errors),
        },
    )
}

/// Remote configuration on the Connection page: the merchant's switch, and whether seQura
/// can reach the store's settings through each connected deployment (and why not).
#[derive(Debug, Serialize)]
struct RemoteView {
    enabled: bool,
    deployments: Vec<RemoteRow>,
}

#[derive(Debug, Serialize)]
struct RemoteRow {
    deployment: String,
    reachable: bool,
    /// Why not, in the merchant's language.
    reason: Option<String>,
}

async fn remote_view(
    state: &AppState,
    merchant: &Merchant,
    progress: &Progress,
) -> Result<RemoteView, AppError> {
    let (enabled, registrations) = registration::status(state, &merchant.store).await?;
    let deployments = progress
        .connections
        .iter()
        .map(|c| {
            let r = registrations.iter().find(|r| r.deployment == c.deployment);
            let reachable = r.is_some_and(|r| r.state == RegistrationState::Registered);
            let key = r
                .and_then(|r| r.reason.as_deref())
                .unwrap_or("remote_reason_pending");
            let detail = r.and_then(|r| r.detail.as_deref()).unwrap_or("");
            RemoteRow {
                deployment: c.deployment.clone(),
                reachable,
                reason: (!reachable)
                    .then(|| state.i18n.tf(merchant.lang, key, &[("detail", detail)])),
            }
        })
        .collect();
    Ok(RemoteView {
        enabled,
        deployments,
    })
}

/// The merchant's switch of remote configuration: off deletes the store's registrations with
/// seQura (the webhook then refuses the store), on registers them again.
pub(super) async fn remote_submit(state: AppState, merchant: Merchant, req: Request) -> Page {
    req.require_form()?;
    let on = req.field("enabled") == Some("yes");
    registration::set_enabled(&state, &merchant.store, on).await?;
    see_other(&merchant, "/app/connect", Some("saved"))
}

pub(super) async fn connect_page(state: AppState, merchant: Merchant, _req: Request) -> Page {
    let progress = onboarding::progress(&state, &merchant.store).await?;
    let values = ConnectValues::stored(&progress);
    render_connect(&state, &merchant, &progress, None, values).await
}

pub(super) async fn connect_submit(state: AppState, merchant: Merchant, req: Request) -> Page {
    req.require_form()?;
    let form = ConnectForm {
        username: req.field("username").unwrap_or("").to_string(),
        password: SecretString::new(req.field("password").unwrap_or("")),
        svea_username: req.field("svea_username").unwrap_or("").to_string(),
        svea_password: SecretString::new(req.field("svea_password").unwrap_or("")),
        environment: req.field("environment").unwrap_or("").to_string(),
        confirm_switch: req.field("confirm_switch") == Some("yes"),
    };
    let before = onboarding::progress(&state, &merchant.store).await?;
    let outcome = if before.connected() {
        onboarding::change_connection(&state, &merchant.store, &form).await
    } else {
        onboarding::connect(&state, &merchant.store, &form).await
    };
    match invalid_or(outcome)? {
        Ok(()) => {
            let after = onboarding::progress(&state, &merchant.store).await?;
            match after.next_step() {
                Some("countries") => see_other(&merchant, "/app/countries", Some("connected")),
                _ => see_other(&merchant, "/app/connect", Some("saved")),
            }
        }
        Err(errors) => {
            let values = ConnectValues {
                username: form.username.trim().to_string(),
                svea_username: form.svea_username.trim().to_string(),
                environment: form.environment,
            };
            render_connect(&state, &merchant, &before, Some(errors), values).await
        }
    }
}

pub(super) async fn disconnect_submit(state: AppState, merchant: Merchant, req: Request) -> Page {
    req.require_form()?;
    if req.field("confirm") != Some("yes") {
        let progress = onboarding::progress(&state, &merchant.store).await?;
        let errors = FormErrors::default().field("confirm", "err_confirm_disconnect");
        let values = ConnectValues::stored(&progress);
        return render_connect(&state, &merchant, &progress, Some(errors), values).await;
    }
    // One deployment's account, or (no deployment named) every one.
    let deployment =
        match req.field("deployment") {
            None | Some("") => None,
            Some(d) => Some(Deployment::parse(d).ok_or_else(|| {
                AppError::BadRequest(crate::error::Public::new("err_request_body"))
            })?),
        };
    if onboarding::disconnect(&state, &merchant.store, deployment).await? {
        // The banners' rows went with the last account; their images go now.
        crate::remote::banners::sweep_store(&state, &merchant.store).await;
    }
    see_other(&merchant, "/app/connect", Some("disconnected"))
}

// ---- countries -----------------------------------------------------------------------------

pub(super) async fn render_countries(
    state: &AppState,
    merchant: &Merchant,
    progress: &Progress,
    errors: Option<FormErrors>,
    submitted: Vec<SubmittedCountry>,
) -> Page {
    let mut view = onboarding::countries_view(state, &merchant.store).await?;
    // A rejected submission shows what was typed, not what is stored.
    for row in &mut view.rows {
        if let Some(s) = submitted.iter().find(|s| s.code == row.code) {
            row.enabled = s.enabled;
            row.merchant_ref = s.merchant_ref.clone();
        } else if !submitted.is_empty() {
            row.enabled = false;
        }
    }
    let status = status_for(&errors);
    let errors = errors
        .map(|e| translate(state, merchant, &e))
        .unwrap_or_default();
    merchant.render(
        state,
        status,
        "countries.html",
        "countries",
        minijinja::context! {
            wizard => wizard(progress, "countries"),
            connected => progress.connected(),
            view => minijinja::value::Serde(&view),
            errors => minijinja::value::Serde(&errors),
        },
    )
}

pub(super) async fn countries_page(state: AppState, merchant: Merchant, _req: Request) -> Page {
    let progress = onboarding::progress(&state, &merchant.store).await?;
    render_countries(&state, &merchant, &progress, None, Vec::new()).await
}

pub(super) async fn countries_submit(state: AppState, merchant: Merchant, req: Request) -> Page {
    req.require_form()?;
    let enabled = req.fields("country");
    let submitted: Vec<SubmittedCountry> = Country::ALL
        .iter()
        .filter_map(|c| {
            let code = c.code().to_string();
            let merchant_ref = req.field(&format!("ref_{code}"))?.trim().to_string();
            Some(SubmittedCountry {
                enabled: enabled.contains(&code),
                code,
                merchant_ref,
            })
        })
        .chain(
            // A ticked country without its row (forged) is still checked.
            enabled
                .iter()
                .filter(|c| Country::parse(c).is_none())
                .map(|c| SubmittedCountry {
                    code: c.chars().take(8).collect(),
                    enabled: true,
                    merchant_ref: String::new(),
                }),
        )
        .collect();
    let before = onboarding::progress(&state, &merchant.store).await?;
    match invalid_or(onboarding::save_countries(&state, &merchant.store, &submitted).await)? {
        Ok(()) if !before.complete() => see_other(&merchant, "/app/methods", Some("saved")),
        Ok(()) => see_other(&merchant, "/app/countries", Some("saved")),
        Err(errors) => render_countries(&state, &merchant, &before, Some(errors), submitted).await,
    }
}

// ---- payment methods ------------------------------------------------------------------------

async fn render_methods(
    state: &AppState,
    merchant: &Merchant,
    filter: Option<Country>,
    errors: Option<FormErrors>,
) -> Page {
    let progress = onboarding::progress(state, &merchant.store).await?;
    let view = onboarding::methods_view(state, &merchant.store, filter, merchant.lang).await?;
    let fetched_at = view
        .rows
        .iter()
        .map(|r| r.fetched_at.as_str())
        .min()
        .map(crate::templates::readable_time);
    let status = if errors.is_some() {
        StatusCode::BAD_GATEWAY
    } else {
        StatusCode::OK
    };
    render_methods_as(
        state, merchant, &progress, &view, fetched_at, status, errors,
    )
    .await
}

/// The methods page with `errors` (already given their status) shown.
async fn render_methods_as(
    state: &AppState,
    merchant: &Merchant,
    progress: &Progress,
    view: &onboarding::MethodsView,
    fetched_at: Option<String>,
    status: StatusCode,
    errors: Option<FormErrors>,
) -> Page {
    let single_button = onboarding::single_button(state, &merchant.store).await?;
    let errors = errors
        .map(|e| translate(state, merchant, &e))
        .unwrap_or_default();
    merchant.render(
        state,
        status,
        "methods.html",
        "methods",
        minijinja::context! {
            wizard => wizard(progress, "methods"),
            connected => progress.connected(),
            view => minijinja::value::Serde(view),
            fetched_at => fetched_at,
            single_button => single_button,
            errors => minijinja::value::Serde(&errors),
        },
    )
}

pub(super) async fn methods_page(state: AppState, merchant: Merchant, req: Request) -> Page {
    let filter = req.query("country").and_then(Country::parse);
    render_methods(&state, &merchant, filter, None).await
}

pub(super) async fn methods_refresh(state: AppState, merchant: Merchant, _req: Request) -> Page {
    match invalid_or(onboarding::refresh_methods(&state, &merchant.store).await)? {
        Ok(()) => see_other(&merchant, "/app/methods", Some("refreshed")),
        Err(errors) => render_methods(&state, &merchant, None, Some(errors)).await,
    }
}

/// The Payment methods page's "One seQura button" switch.
pub(super) async fn methods_settings(state: AppState, merchant: Merchant, req: Request) -> Page {
    req.require_form()?;
    match onboarding::parse_switch(req.field("single_button"), "single_button") {
        Ok(on) => {
            match invalid_or(onboarding::save_single_button(&state, &merchant.store, on).await)? {
                Ok(()) => see_other(&merchant, "/app/methods", Some("saved")),
                Err(errors) => methods_refused(&state, &merchant, errors).await,
            }
        }
        Err(errors) => methods_refused(&state, &merchant, errors).await,
    }
}

async fn methods_refused(state: &AppState, merchant: &Merchant, errors: FormErrors) -> Page {
    let progress = onboarding::progress(state, &merchant.store).await?;
    let view = onboarding::methods_view(state, &merchant.store, None, merchant.lang).await?;
    let fetched_at = view
        .rows
        .iter()
        .map(|r| r.fetched_at.as_str())
        .min()
        .map(crate::templates::readable_time);
    render_methods_as(
        state,
        merchant,
        &progress,
        &view,
        fetched_at,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some(errors),
    )
    .await
}

// ---- general settings -------------------------------------------------------------------------

#[derive(Debug, Serialize)]
struct GeneralValues {
    allowed_ips: String,
    excluded_categories: Vec<onboarding::ExcludedCategory>,
    excluded_products: Vec<onboarding::ExcludedProduct>,
    send_order_reports: bool,
    services_end_date: String,
    hosted_page: bool,
}

/// Items shown with a checkbox: the value is the item's JSON, posted back as is.
#[derive(Debug, Serialize)]
struct Pick {
    value: String,
    label: String,
    checked: bool,
}

fn picks<T: Serialize>(items: &[T], label: impl Fn(&T) -> String, checked: bool) -> Vec<Pick> {
    items
        .iter()
        .filter_map(|i| {
            Some(Pick {
                value: serde_json::to_string(i).ok()?,
                label: label(i),
                checked,
            })
        })
        .collect()
}

async fn render_general(
    state: &AppState,
    merchant: &Merchant,
    values: GeneralValues,
    query: &str,
    errors: Option<FormErrors>,
) -> Page {
    let hits = match onboarding::catalog_search(state, &merchant.store, query).await {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(error = %e, "catalog search failed");
            Default::default()
        }
    };
    let product_label = |p: &onboarding::ExcludedProduct| {
        if p.sku.is_empty() {
            p.name.clone()
        } else {
            format!("{} ({})", p.name, p.sku)
        }
    };
    let category_label = |c: &onboarding::ExcludedCategory| c.name.clone();
    // Search results not already excluded, offered unticked.
    let new_products: Vec<_> = hits
        .products
        .into_iter()
        .filter(|p| !values.excluded_products.iter().any(|x| x.id == p.id))
        .collect();
    let new_categories: Vec<_> = hits
        .categories
        .into_iter()
        .filter(|c| !values.excluded_categories.iter().any(|x| x.id == c.id))
        .collect();
    let services = onboarding::service_terms(state, &merchant.store).await?;
    let status = status_for(&errors);
    let errors = errors
        .map(|e| translate(state, merchant, &e))
        .unwrap_or_default();
    merchant.render(
        state,
        status,
        "general.html",
        "general",
        minijinja::context! {
            values => minijinja::value::Serde(&values),
            products => minijinja::value::Serde(
                picks(&values.excluded_products, product_label, true)
                    .into_iter()
                    .chain(picks(&new_products, product_label, false))
                    .collect::<Vec<_>>()),
            categories => minijinja::value::Serde(
                picks(&values.excluded_categories, category_label, true)
                    .into_iter()
                    .chain(picks(&new_categories, category_label, false))
                    .collect::<Vec<_>>()),
            query => query,
            searched => !query.trim().is_empty(),
            services => minijinja::value::Serde(&services),
            errors => minijinja::value::Serde(&errors),
        },
    )
}

pub(super) async fn general_page(state: AppState, merchant: Merchant, req: Request) -> Page {
    let g = onboarding::general_settings(&state, &merchant.store).await?;
    let values = GeneralValues {
        allowed_ips: g
            .allowed_ips
            .iter()
            .map(|ip| ip.to_string())
            .collect::<Vec<_>>()
            .join("\n"),
        excluded_categories: g.excluded_categories,
        excluded_products: g.excluded_products,
        send_order_reports: g.send_order_reports,
        services_end_date: g.services_end_date.to_string(),
        hosted_page: g.hosted_page,
    };
    let query = req.query("q").unwrap_or("").to_string();
    render_general(&state, &merchant, values, &query, None).await
}

pub(super) async fn general_submit(state: AppState, merchant: Merchant, req: Request) -> Page {
    req.require_form()?;
    let hosted_page = onboarding::parse_switch(req.field("hosted_page"), "hosted_page");
    let form = GeneralForm {
        allowed_ips: req.field("allowed_ips").unwrap_or("").to_string(),
        excluded_categories: req.fields("excluded_category"),
        excluded_products: req.fields("excluded_product"),
        send_order_reports: req.field("send_order_reports") == Some("on"),
        services_end_date: req.field("services_end_date").unwrap_or("").to_string(),
        hosted_page: *hosted_page.as_ref().unwrap_or(&false),
    };
    let outcome = match hosted_page {
        Ok(_) => onboarding::save_general(&state, &merchant.store, &form).await,
        Err(errors) => Err(FormError::Invalid(errors)),
    };
    match invalid_or(outcome)? {
        Ok(()) => see_other(&merchant, "/app/general", Some("saved")),
        Err(errors) => {
            let values = GeneralValues {
                allowed_ips: form.allowed_ips.clone(),
                excluded_categories: parse_all(&form.excluded_categories),
                excluded_products: parse_all(&form.excluded_products),
                send_order_reports: form.send_order_reports,
                services_end_date: form.services_end_date.clone(),
                hosted_page: form.hosted_page,
            };
            render_general(&state, &merchant, values, "", Some(errors)).await
        }
    }
}

// ---- order status mapping -----------------------------------------------------------------------

async fn render_status(
    state: &AppState,
    merchant: &Merchant,
    submitted: Option<&[(String, String)]>,
    errors: Option<FormErrors>,
) -> Page {
    let (mut rows, statuses) = onboarding::mapping_view(state, &merchant.store).await?;
    if let Some(sub) = submitted {
        for row in &mut rows {
            row.bc_status_id = sub
                .iter()
                .find(|(k, _)| k == row.sequra_status)
                .and_then(|(_, v)| v.parse().ok());
        }
    }
    let status = status_for(&errors);
    let errors = errors
        .map(|e| translate(state, merchant, &e))
        .unwrap_or_default();
    merchant.render(
        state,
        status,
        "order_status.html",
        "order-status",
        minijinja::context! {
            rows => minijinja::value::Serde(&rows),
            statuses => minijinja::value::Serde(&statuses),
            errors => minijinja::value::Serde(&errors),
        },
    )
}

pub(super) async fn status_page(state: AppState, merchant: Merchant, _req: Request) -> Page {
    render_status(&state, &merchant, None, None).await
}

pub(super) async fn status_submit(state: AppState, merchant: Merchant, req: Request) -> Page {
    req.require_form()?;
    match invalid_or(onboarding::save_mapping(&state, &merchant.store, &req.form).await)? {
        Ok(()) => see_other(&merchant, "/app/order-status", Some("saved")),
        Err(errors) => render_status(&state, &merchant, Some(&req.form), Some(errors)).await,
    }
}

/// The items of a rejected form that still parse, to show them again.
fn parse_all<T: serde::de::DeserializeOwned>(values: &[String]) -> Vec<T> {
    values
        .iter()
        .filter_map(|v| serde_json::from_str(v).ok())
        .collect()
}
