//! seQura-side values: merchant refs, selling countries, order-status mapping keys.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::ids::InvalidId;

/// A seQura merchant ref (`dummy_automated_tests`): the merchant account for one country.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MerchantRef(String);

impl MerchantRef {
    /// 1 to 100 characters of letters, digits, `_`, `-` and `.`.
    pub fn parse(s: &str) -> Result<Self, InvalidId> {
        let s = s.trim();
        let ok = !s.is_empty()
            && s.len() <= 100
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err(InvalidId("not a merchant ref"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MerchantRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A country seQura sells in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Country {
    ES,
    FR,
    IT,
    PT,
    CO,
    PE,
}

impl Country {
    /// Every country seQura supports, in the order the pages list them.
    pub const ALL: [Country; 6] = [
        Country::ES,
        Country::FR,
        Country::IT,
        Country::PT,
        Country::CO,
        Country::PE,
    ];

    /// Parses an ISO 3166-1 alpha-2 code (any case); None for unsupported countries.
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|c| c.code().eq_ignore_ascii_case(code.trim()))
    }

    /// The country's English name (what seQura's `get-selling-countries` searches).
    pub fn name(self) -> &'static str {
        match self {
            Country::ES => "Spain",
            Country::FR => "France",
            Country::IT => "Italy",
            Country::PT => "Portugal",
            Country::CO => "Colombia",
            Country::PE => "Peru",
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Country::ES => "ES",
            Country::FR => "FR",
            Country::IT => "IT",
            Country::PT => "PT",
            Country::CO => "CO",
            Country::PE => "PE",
        }
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The seQura order states the merchant maps to BigCommerce statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SequraStatus {
    Approved,
    NeedsReview,
    Cancelled,
}

impl SequraStatus {
    pub const ALL: [SequraStatus; 3] = [
        SequraStatus::Approved,
        SequraStatus::NeedsReview,
        SequraStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SequraStatus::Approved => "approved",
            SequraStatus::NeedsReview => "needs_review",
            SequraStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The mapping written at install: Awaiting Fulfillment, Manual Verification Required,
    /// Cancelled.
    pub fn default_bc_status(self) -> u32 {
        match self {
            SequraStatus::Approved => 11,
            SequraStatus::NeedsReview => 12,
            SequraStatus::Cancelled => 5,
        }
    }

    /// Whether an order may be given `bc_status` for this outcome: a payment going ahead
    /// (approved, in review) never gives Cancelled (5), the status the order sync cancels the
    /// order at seQura for, and an order the merchant cancelled keeps it. (Refunded and
    /// Declined cancel nothing at seQura: an approval may move them on, so that what the
    /// order shows stays what seQura holds.)
    pub fn may_give(self, bc_status: u32) -> bool {
        self == SequraStatus::Cancelled || bc_status != CANCELLED_BC_STATUS
    }

    /// Whether an order at `current` keeps its status for this outcome: a payment going ahead
    /// (approved, in review) leaves alone an order the merchant cancelled, and one whose
    /// fulfilment is under way (shipped, partly shipped, awaiting pickup, completed: the
    /// merchant acted while seQura reviewed it; moved back to be fulfilled, it would be sent
    /// twice). seQura's cancellation still says so on any order.
    pub fn keeps(self, current: u32) -> bool {
        !self.may_give(current)
            || (self != SequraStatus::Cancelled && FULFILMENT_UNDER_WAY.contains(&current))
    }
}

/// BigCommerce's Cancelled.
const CANCELLED_BC_STATUS: u32 = 5;
/// BigCommerce's Shipped, Partially Shipped, Awaiting Pickup and Completed.
const FULFILMENT_UNDER_WAY: [u32; 4] = [2, 3, 8, 10];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merchant_refs_are_plain_identifiers() {
        assert!(MerchantRef::parse("dummy_automated_tests_fr").is_ok());
        for bad in ["", "a b", "x/y", "<script>", &"a".repeat(101)] {
            assert!(MerchantRef::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_payment_going_ahead_keeps_a_cancelled_or_shipped_order_as_the_merchant_left_it() {
        for outcome in [SequraStatus::Approved, SequraStatus::NeedsReview] {
            for kept in [5, 2, 3, 8, 10] {
                assert!(outcome.keeps(kept), "{outcome:?} {kept}");
            }
            for moved in [0, 1, 4, 7, 9, 11, 12, 14] {
                assert!(!outcome.keeps(moved), "{outcome:?} {moved}");
            }
        }
        assert!(
            !SequraStatus::Cancelled.keeps(2),
            "seQura's cancellation says so"
        );
    }

    #[test]
    fn only_supported_countries_parse() {
        assert_eq!(Country::parse("es"), Some(Country::ES));
        assert_eq!(Country::parse("DE"), None);
        assert_eq!(Country::ALL.len(), 6);
    }
}
