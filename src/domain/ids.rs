//! Identifiers of stores, users and orders.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A BigCommerce store hash (`g5cd38`): the key of everything a store owns.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct StoreHash(String);

/// Why a value is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidId(pub &'static str);

impl StoreHash {
    /// Lowercase letters and digits, 1 to 32 of them.
    pub fn parse(s: &str) -> Result<Self, InvalidId> {
        let ok = !s.is_empty()
            && s.len() <= 32
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err(InvalidId("not a store hash"))
        }
    }

    /// Parses a `stores/{hash}` context or JWT `sub`.
    pub fn from_context(context: &str) -> Result<Self, InvalidId> {
        context
            .strip_prefix("stores/")
            .ok_or(InvalidId("not a stores/{hash} context"))
            .and_then(Self::parse)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `stores/{hash}`, as BigCommerce writes it in `context`, `sub` and `producer`.
    pub fn context(&self) -> String {
        format!("stores/{}", self.0)
    }
}

impl fmt::Display for StoreHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for StoreHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A BigCommerce checkout id (the cart's UUID), as a shopper's script sends it: only its
/// shape is checked, so that junk is refused before it costs a BigCommerce call.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CheckoutId(String);

impl CheckoutId {
    /// ASCII letters, digits and `-`, 1 to 64 of them (a UUID is 36).
    pub fn parse(s: &str) -> Result<Self, InvalidId> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err(InvalidId("not a checkout id"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id in lower case, for counting and locking: `ABC` and `abc` are one checkout to
    /// us whether or not BigCommerce tells them apart.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

/// A BigCommerce control-panel user id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub u64);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A BigCommerce order id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BcOrderId(pub u64);

impl BcOrderId {
    pub fn parse(s: &str) -> Result<Self, InvalidId> {
        match s.parse::<u64>() {
            Ok(n) if n > 0 && !s.starts_with('+') => Ok(Self(n)),
            _ => Err(InvalidId("not an order id")),
        }
    }
}

impl fmt::Display for BcOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_hash_accepts_bigcommerce_hashes_only() {
        assert_eq!(StoreHash::parse("g5cd38").unwrap().as_str(), "g5cd38");
        for bad in ["", "G5CD38", "a/b", "abc def", &"a".repeat(33), "../x"] {
            assert!(StoreHash::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            StoreHash::from_context("stores/abc1").unwrap().as_str(),
            "abc1"
        );
        assert!(StoreHash::from_context("store/abc1").is_err());
    }

    #[test]
    fn order_ids_are_positive_integers() {
        assert_eq!(BcOrderId::parse("106").unwrap(), BcOrderId(106));
        for bad in ["0", "-1", "+5", "1.0", "x", ""] {
            assert!(BcOrderId::parse(bad).is_err(), "{bad:?}");
        }
    }
}
