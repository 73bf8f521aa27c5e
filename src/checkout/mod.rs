//! Checkout: the seQura order built from the shopper's BigCommerce order, and what follows it.

pub mod cart;
pub mod eligibility;
pub mod notification;
pub mod payment;

pub use cart::{
    CartError, CartInput, amount_due, build_cart, customer, delivery_address, delivery_method,
    invoice_address,
};
