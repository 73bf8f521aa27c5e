//! Domain values parsed at the edge: once the rest of the code holds one, it is valid.
//!
//! Layer: the bottom. Pure values; imports no other module of the app.

mod banner;
mod ids;
mod money;
mod net;
mod sequra;
mod service;

pub use banner::{
    DisplayLocation, ImageError, ImageFormat, ImageInfo, MAX_PIXELS, MAX_SIDE, banner_path,
    is_banner_file, sniff as sniff_image,
};
pub use ids::{BcOrderId, CheckoutId, InvalidId, StoreHash, UserId};
pub use money::{
    Currency, Money, MoneyError, deserialize_cents, deserialize_opt_cents, parse_decimal,
    parse_ten_thousandths, ten_thousandths_to_cents,
};
pub use net::{
    InvalidIpRange, IpRange, caller_block, caller_network, canonical_ip, ip_allowed, parse_ranges,
};
pub use sequra::{Country, MerchantRef, SequraStatus};
pub use service::{DEFAULT_SERVICES_END, IsoDuration, ServiceDate, ServiceTerms};
