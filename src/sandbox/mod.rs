//! Stateful stand-ins for BigCommerce and seQura, used by the tests and by `sequra-bc demo`,
//! never by `serve`.

pub mod bigcommerce;
mod common;
pub mod sequra;

use std::path::Path;

use crate::config::{SecretString, Settings};
use bigcommerce::BigCommerceStandIn;
use sequra::SequraStandIn;

/// Settings for an app wired to the stand-ins: `bc`'s client id and secret, login and API on
/// it, seQura's sandbox and live APIs on `sequra`, the database in `data_dir`, `listen` on
/// loopback and the public URL taken from the bound address.
pub fn app_settings(
    bc: &BigCommerceStandIn,
    sequra: &SequraStandIn,
    data_dir: &Path,
    listen: &str,
) -> Settings {
    let base = bc.base_url().as_str().trim_end_matches('/').to_string();
    let mut settings = Settings::default();
    settings.storage.data_dir = data_dir.to_path_buf();
    settings.server.listen = listen.to_string();
    settings.server.public_url = String::new();
    settings.bigcommerce.client_id = bc.client_id();
    settings.bigcommerce.client_secret = SecretString::new(bc.client_secret());
    settings.bigcommerce.login_url = base.clone();
    settings.bigcommerce.control_panel_url = format!("{base}/manage/{{store_hash}}");
    settings.bigcommerce.api_url = base;
    settings.sequra.sandbox_url = sequra.sandbox_url().to_string();
    settings.sequra.live_url = sequra.live_url().to_string();
    settings.sequra.sandbox_portal_url = sequra.portal_url("sandbox");
    settings.sequra.live_portal_url = sequra.portal_url("live");
    settings
}
