//! The app's life in each store: install, load and uninstall (`lifecycle`), the webhooks,
//! script and App Extension it keeps in place (`provisioning`), and the intake of BigCommerce's
//! webhook deliveries (`webhooks`, with what it remembers in `deliveries`).

pub mod deliveries;
pub mod lifecycle;
pub mod provisioning;
pub mod webhooks;
