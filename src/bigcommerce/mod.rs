//! BigCommerce: the API client, signed-payload verification, and the app's lifecycle in a
//! store (install, load, uninstall, provisioning).

pub mod checkouts;
pub mod client;
pub mod lifecycle;
pub mod models;
pub mod provisioning;
pub mod quota;
pub mod signed_payload;
pub mod webhooks;
