//! Stateful stand-ins for BigCommerce and seQura, used by the tests and by `sequra-bc demo`,
//! never by `serve`.

pub mod bigcommerce;
/// The services' clock (one a test can move forward).
pub mod clock;
mod common;
pub mod sequra;
