//! Checkout: the seQura order built from the shopper's BigCommerce order, and what follows it.
//!
//! Layer: a service. Called by `web/` and by the `orders` jobs; calls `db`, the clients and the
//! queue; never renders or parses HTTP.

pub mod cart;
pub mod eligibility;
pub mod notification;
pub mod other_payment;
pub mod payment;
pub mod recent;
pub mod services;
pub mod widget_cache;
pub mod widgets;

pub use cart::{
    CartError, CartInput, ProductFields, Services, amount_due, build_cart, build_cart_for,
    customer, delivery_address, delivery_method, invoice_address,
};
