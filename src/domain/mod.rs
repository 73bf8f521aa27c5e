//! Domain values parsed at the edge: once the rest of the code holds one, it is valid.

mod ids;

pub use ids::{BcOrderId, StoreHash, UserId};
