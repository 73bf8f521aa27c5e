//! Stateful stand-ins for BigCommerce and seQura, used by the tests and by `sequra-bc demo`,
//! never by `serve`.

pub mod bigcommerce;
mod common;
pub mod sequra;
