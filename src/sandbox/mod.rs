//! Stateful stand-ins for BigCommerce and seQura, used by the tests and by `sequra-bc demo`,
//! never by `serve`.

pub mod bigcommerce;

use std::path::Path;

use crate::config::{SecretString, Settings};
use bigcommerce::BigCommerceStandIn;

/// Settings for an app wired to `bc`: its client id and secret, login and API on the
/// stand-in, the database in `data_dir`, `listen` on loopback and the public URL taken from
/// the bound address.
pub fn app_settings(bc: &BigCommerceStandIn, data_dir: &Path, listen: &str) -> Settings {
    let base = bc.base_url().as_str().trim_end_matches('/').to_string();
    let mut settings = Settings::default();
    settings.storage.data_dir = data_dir.to_path_buf();
    settings.server.listen = listen.to_string();
    settings.server.public_url = String::new();
    settings.bigcommerce.client_id = bc.client_id();
    settings.bigcommerce.client_secret = SecretString::new(bc.client_secret());
    settings.bigcommerce.login_url = base.clone();
    settings.bigcommerce.api_url = base;
    settings
}
