//! seQura as an edge: the API client and its request and response models.
//!
//! Layer: a client, below the services. It speaks seQura's protocol and decides nothing: no
//! database, no state, no service.

/// The typed HTTP client: accounts, environments, classified errors.
pub mod client;
/// seQura's deployments (seQura, SVEA) and their hosts.
pub mod deployments;
/// Request and response bodies, field for field as seQura reads and writes them.
pub mod models;

pub use client::*;
pub use deployments::{Deployment, Deployments, Environment};
pub use models::*;
