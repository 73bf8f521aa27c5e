//! Onboarding and configuration of a store's seQura integration: the connection (checked
//! with seQura before anything is saved), selling countries, payment methods, general
//! settings and the order-status mapping. Handlers call these; these call `db` and clients.
//!
//! Layer: a service, the lowest but `stores`: checkout and orders read the settings here.

mod connection;
mod countries;
pub mod deployments;
mod general;
mod methods;
mod status_mapping;
pub mod widgets;

pub use connection::{ConnectForm, change_connection, connect, disconnect};
pub use countries::{
    CountryRow, CountryView, SubmittedCountry, check_country_codes, countries_refused,
    countries_view, save_countries, sellable_countries, write_countries,
};
pub use general::{
    CatalogHits, CountryServices, ExcludedCategory, ExcludedProduct, GeneralForm, GeneralSettings,
    catalog_search, check_general, decoded, general_saved, general_settings,
    read_category_products, save_general, service_terms, terms_of, write_general,
};
pub use methods::{
    MethodRow, MethodsView, icon_data_uri, method_title, methods_view, refresh_methods,
    save_single_button, single_button,
};
pub use status_mapping::{
    MappingRow, check_mapping, mapping_view, save_mapping, selectable_statuses,
};

use std::collections::BTreeMap;

use crate::db;
use crate::db::sequra::SequraConnection;
use crate::domain::{Country, MerchantRef, StoreHash};
use crate::error::AppError;
use crate::sequra::{Deployment, Environment, SequraAccount};
use crate::state::AppState;

/// A message of the i18n catalog with its optional `{value}`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Msg {
    pub key: String,
    pub value: Option<String>,
}

/// What a form submission got wrong: catalog messages per field and overall.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct FormErrors {
    pub fields: BTreeMap<String, Msg>,
    pub general: Option<Msg>,
}

impl FormErrors {
    pub fn field(self, name: &str, key: &str) -> Self {
        self.field_with(name, key, None)
    }

    /// A field error whose message shows the offending `value`.
    pub fn field_with(mut self, name: &str, key: &str, value: Option<String>) -> Self {
        self.fields.insert(
            name.to_string(),
            Msg {
                key: key.to_string(),
                value,
            },
        );
        self
    }

    pub fn general(key: &str) -> Self {
        Self {
            general: Some(Msg {
                key: key.to_string(),
                value: None,
            }),
            ..Self::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.general.is_none()
    }
}

/// A checkbox as a form posts it: absent is off, `on` is on; anything else is not a choice
/// the page offers (refused, never read as off).
pub fn parse_switch(value: Option<&str>, field: &str) -> Result<bool, FormErrors> {
    match value {
        None => Ok(false),
        Some("on") => Ok(true),
        Some(_) => Err(FormErrors::default().field(field, "err_switch_invalid")),
    }
}

/// A form outcome: saved, invalid input (shown inline), or a failure of the app itself.
#[derive(Debug)]
pub enum FormError {
    Invalid(FormErrors),
    App(AppError),
}

impl std::fmt::Display for FormError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FormError::Invalid(e) => {
                let keys: Vec<&str> = e
                    .general
                    .iter()
                    .chain(e.fields.values())
                    .map(|m| m.key.as_str())
                    .collect();
                write!(f, "invalid: {}", keys.join(", "))
            }
            FormError::App(e) => write!(f, "{e}"),
        }
    }
}

impl<E: Into<AppError>> From<E> for FormError {
    fn from(e: E) -> Self {
        FormError::App(e.into())
    }
}

/// Where the store is in onboarding, for the dashboard and the wizard.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Progress {
    /// The first connection (the seQura deployment's, else SVEA's).
    pub connection: Option<SequraConnection>,
    /// Every deployment's connection.
    pub connections: Vec<SequraConnection>,
    pub countries: Vec<(Country, MerchantRef)>,
    pub methods_imported: bool,
}

impl Progress {
    pub fn connected(&self) -> bool {
        self.connection.is_some()
    }

    /// Onboarding is done once connected, with countries and imported methods.
    pub fn complete(&self) -> bool {
        self.connected() && !self.countries.is_empty() && self.methods_imported
    }

    /// The wizard's next page, or None when onboarding is complete.
    pub fn next_step(&self) -> Option<&'static str> {
        if !self.connected() {
            Some("connect")
        } else if self.countries.is_empty() {
            Some("countries")
        } else if !self.methods_imported {
            Some("methods")
        } else {
            None
        }
    }
}

/// The store's onboarding progress.
pub async fn progress(state: &AppState, store: &StoreHash) -> Result<Progress, AppError> {
    let hash = store.clone();
    Ok(state
        .db
        .call(move |conn| {
            let connections = db::sequra::connections(conn, &hash)?;
            Ok(Progress {
                connection: connections.first().cloned(),
                connections,
                countries: db::settings::countries(conn, &hash)?,
                methods_imported: !db::sequra::methods(conn, &hash)?.is_empty(),
            })
        })
        .await?)
}

/// The store's seQura account for `merchant_ref` (with its decrypted password): the account of
/// the deployment whose credentials listed the ref (a ref no credentials list any more: the
/// seQura deployment's), if connected.
pub async fn sequra_account(
    state: &AppState,
    store: &StoreHash,
    merchant_ref: &str,
) -> Result<Option<SequraAccount>, AppError> {
    let hash = store.clone();
    let merchant_ref = merchant_ref.to_string();
    let deployment = state
        .db
        .call(move |conn| {
            Ok(db::sequra::merchants(conn, &hash)?
                .into_iter()
                .find(|m| m.merchant_ref.as_str() == merchant_ref)
                .map(|m| m.deployment))
        })
        .await?
        .and_then(|d| Deployment::parse(&d))
        .unwrap_or(Deployment::Sequra);
    account_on(state, store, deployment).await
}

/// The store's account for an order solicited on `deployment` (`None`, never solicited:
/// seQura's), if connected: the order lives on that deployment whichever deployment's
/// credentials list its merchant ref now.
pub async fn order_account(
    state: &AppState,
    store: &StoreHash,
    deployment: Option<&str>,
) -> Result<Option<SequraAccount>, AppError> {
    let deployment = deployment
        .and_then(Deployment::parse)
        .unwrap_or(Deployment::Sequra);
    account_on(state, store, deployment).await
}

/// The store's account on `deployment`, if connected.
pub async fn account_on(
    state: &AppState,
    store: &StoreHash,
    deployment: Deployment,
) -> Result<Option<SequraAccount>, AppError> {
    let key = state.key.clone();
    let hash = store.clone();
    let found = state
        .db
        .call(move |conn| {
            let connection = db::sequra::connections(conn, &hash)?
                .into_iter()
                .find(|c| c.deployment == deployment.as_str());
            let password = match connection {
                Some(_) => db::sequra::password(conn, &key, &hash, deployment.as_str())?,
                None => None,
            };
            Ok((connection, password))
        })
        .await?;
    Ok(match found {
        (Some(c), Some(password)) => Environment::parse(&c.environment)
            .map(|environment| SequraAccount::new(deployment, environment, c.username, password)),
        _ => None,
    })
}
