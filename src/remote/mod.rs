//! seQura's remote configuration (issue 32): seQura's support and merchant teams read and
//! change a store's settings through a configuration webhook the app registers with seQura.
//!
//! - `signature`: the signed webhook URL (what seQura is given, and what authorises a call).
//! - `webhook`: authorising a call, reading its topic, seQura's error body.
//! - `topics`: each topic, through the same services the merchant's pages use: `general`,
//!   `widgets`, `status`, `advanced` (settings and the store's log), `catalog`; `request`
//!   reads a topic's fields, `changes` records what seQura changed in the transaction log.
//! - `banners`: the banners seQura pushes, their images kept and served by the app.
//! - `registration`: which registrations with seQura are due as connections change (called in
//!   their transactions); `registrar`: the jobs that register and delete them.
//!
//! Layer: a service above `onboarding` (a remote write is the merchant page's write) and below
//! `web`.

mod advanced;
pub mod banner_images;
pub mod banners;
mod catalog;
mod changes;
mod error;
mod general;
pub mod known;
pub mod registrar;
pub mod registration;
mod request;
pub mod signature;
mod status;
mod topics;
pub mod webhook;
mod widgets;

pub use advanced::MAX_LOG_BYTES;
pub use changes::EVENT as CHANGE_EVENT;
pub use error::{MAX_BODY, TopicError};
pub use topics::capabilities;
pub use webhook::{answer, authorise};
