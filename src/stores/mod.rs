//! The app's life in each store: install, load and uninstall (`lifecycle`), the webhooks,
//! script and App Extension it keeps in place (`provisioning`), and the intake of BigCommerce's
//! webhook deliveries (`webhooks`, with what it remembers in `deliveries`).
//!
//! Layer: the lowest service (every other service gets its store's API from `lifecycle`). It
//! must not import another service; work for them goes through the queue.

pub mod deliveries;
pub mod lifecycle;
pub mod provisioning;
pub mod storefronts;
pub mod webhooks;
