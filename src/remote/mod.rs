//! seQura's remote configuration (issue 32): seQura's support and merchant teams read and
//! change a store's settings through a configuration webhook the app registers with seQura.
//!
//! - `signature`: the signed webhook URL (what seQura is given, and what authorises a call).
//! - `webhook`: authorising a call, reading its topic, seQura's error body.
//! - `topics`: each topic, through the same services the merchant's pages use.
//! - `registration`: which registrations with seQura are due as connections change (called in
//!   their transactions); `registrar`: the jobs that register and delete them.
//!
//! Layer: a service above `onboarding` (a remote write is the merchant page's write) and below
//! `web`.

pub mod registrar;
pub mod registration;
pub mod signature;
mod topics;
pub mod webhook;

pub use topics::capabilities;
pub use webhook::{MAX_BODY, TopicError, answer, authorise};
