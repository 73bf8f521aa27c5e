//! BigCommerce as an edge: the API client, its models, the quota book, and the checks of what
//! BigCommerce signs (load/uninstall payloads, webhook signatures). No service logic here.

pub mod checkouts;
pub mod client;
pub mod models;
pub mod quota;
pub mod signed_payload;
pub mod webhook_signature;
