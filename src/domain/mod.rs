//! Domain values parsed at the edge: once the rest of the code holds one, it is valid.

mod ids;
mod sequra;

pub use ids::{BcOrderId, InvalidId, StoreHash, UserId};
pub use sequra::{Country, MerchantRef, SequraStatus};
