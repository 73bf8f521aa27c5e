//! Exact money: integer minor units, parsed from BigCommerce's decimal strings and numbers
//! without ever going through floating-point arithmetic.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};

/// The most fractional digits BigCommerce sends (`"225.0000"`).
const MAX_DECIMALS: usize = 4;

/// Why a decimal amount was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("{0:?} is not a decimal amount")]
    Invalid(String),
    #[error("{0:?} has more than four decimals")]
    TooManyDecimals(String),
    #[error("{0:?} is too large")]
    Overflow(String),
    #[error("{0:?} is not an ISO 4217 currency code")]
    Currency(String),
}

/// An ISO 4217 currency code: three upper-case ASCII letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

impl Currency {
    /// The only currency seQura's checkout takes.
    pub const EUR: Currency = Currency(*b"EUR");

    /// Three ASCII letters, any case (`eur` → `EUR`).
    pub fn parse(code: &str) -> Result<Self, MoneyError> {
        match code.trim().as_bytes() {
            &[a, b, c] if [a, b, c].iter().all(u8::is_ascii_alphabetic) => Ok(Self([
                a.to_ascii_uppercase(),
                b.to_ascii_uppercase(),
                c.to_ascii_uppercase(),
            ])),
            _ => Err(MoneyError::Currency(code.to_string())),
        }
    }

    pub fn as_str(&self) -> &str {
        // Only ever built from ASCII letters.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An amount in minor units (cents) of a currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    pub minor: i64,
    pub currency: Currency,
}

impl Money {
    pub fn new(minor: i64, currency: Currency) -> Self {
        Self { minor, currency }
    }

    /// Parses a BigCommerce decimal (`"19.9950"`) into cents, see [`parse_decimal`].
    pub fn parse(decimal: &str, currency: Currency) -> Result<Self, MoneyError> {
        Ok(Self::new(parse_decimal(decimal)?, currency))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        write!(f, "{sign}{}.{:02} {}", abs / 100, abs % 100, self.currency)
    }
}

/// Parses a decimal such as `"225.0000"`, `"0.5"`, `"-3.10"` or `"12"` into cents, rounding
/// the third and fourth decimals half away from zero (`"19.9950"` → 2000, `"-0.005"` → -1).
///
/// Accepted: an optional `-`, at least one digit, then optionally `.` and one to four digits.
/// Refused: exponents, a `+` sign, blanks, more than four decimals, values beyond `i64`.
pub fn parse_decimal(s: &str) -> Result<i64, MoneyError> {
    ten_thousandths_to_cents(parse_ten_thousandths(s)?)
}

/// Parses a decimal (same grammar as [`parse_decimal`]) into ten-thousandths, exactly.
pub fn parse_ten_thousandths(s: &str) -> Result<i64, MoneyError> {
    let invalid = || MoneyError::Invalid(s.to_string());
    let overflow = || MoneyError::Overflow(s.to_string());
    let (negative, unsigned) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (int, frac) = match unsigned.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (unsigned, None),
    };
    let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int) || frac.is_some_and(|f| !all_digits(f)) {
        return Err(invalid());
    }
    let frac = frac.unwrap_or("");
    if frac.len() > MAX_DECIMALS {
        return Err(MoneyError::TooManyDecimals(s.to_string()));
    }
    let mut value: i64 = 0;
    let padded = frac
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(MAX_DECIMALS);
    for digit in int.bytes().chain(padded) {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(i64::from(digit - b'0')))
            .ok_or_else(overflow)?;
    }
    Ok(if negative { -value } else { value })
}

/// Rounds ten-thousandths to cents, half away from zero, in integer arithmetic.
pub fn ten_thousandths_to_cents(value: i64) -> Result<i64, MoneyError> {
    let cents = (value.unsigned_abs() + 50) / 100;
    let cents = i64::try_from(cents).map_err(|_| MoneyError::Overflow(value.to_string()))?;
    Ok(if value < 0 { -cents } else { cents })
}

/// Deserializes an amount sent as a decimal string (v2: `"225.0000"`) or a JSON number
/// (v3: `225`, `19.995`) into cents, exactly.
///
/// serde_json is built without `arbitrary_precision`, so a JSON number with a fraction reaches
/// us as an `f64`. Multiplying that by 100 would be wrong (`19.995 * 100.0` is `1999.4999…`),
/// so the float is turned back into its shortest decimal text (`{}` never uses an exponent and
/// prints the shortest digits that read back as the same `f64`, i.e. what the sender wrote)
/// and that text goes through [`parse_decimal`]. Integers are taken exactly.
pub fn deserialize_cents<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    d.deserialize_any(CentsVisitor)
}

/// Like [`deserialize_cents`], with `null` (and, with `#[serde(default)]`, a missing field)
/// read as `None`.
pub fn deserialize_opt_cents<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    d.deserialize_option(OptCentsVisitor)
}

struct CentsVisitor;

impl<'de> Visitor<'de> for CentsVisitor {
    type Value = i64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an amount as a decimal string or a number")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
        parse_decimal(v).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        v.checked_mul(100)
            .ok_or_else(|| E::custom(MoneyError::Overflow(v.to_string())))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        i64::try_from(v)
            .ok()
            .and_then(|v| v.checked_mul(100))
            .ok_or_else(|| E::custom(MoneyError::Overflow(v.to_string())))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
        cents_from_f64(v).map_err(E::custom)
    }
}

struct OptCentsVisitor;

impl<'de> Visitor<'de> for OptCentsVisitor {
    type Value = Option<i64>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an amount as a decimal string, a number or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        deserialize_cents(d).map(Some)
    }
}

/// Cents from a float that stands for a decimal with at most four places.
///
/// The shortest text of the float is parsed when it has at most four decimals. Otherwise the
/// text is rounded to four decimals and accepted only if that is the same number up to float
/// noise (a parser may land one unit in the last place off), so `0.12345` is still refused.
fn cents_from_f64(v: f64) -> Result<i64, MoneyError> {
    if !v.is_finite() {
        return Err(MoneyError::Invalid(v.to_string()));
    }
    let shortest = v.to_string();
    match parse_decimal(&shortest) {
        Err(MoneyError::TooManyDecimals(_)) => {
            let rounded = format!("{v:.4}");
            let back: f64 = rounded
                .parse()
                .map_err(|_| MoneyError::Invalid(shortest.clone()))?;
            if (back - v).abs() <= v.abs() * 8.0 * f64::EPSILON {
                parse_decimal(&rounded)
            } else {
                Err(MoneyError::TooManyDecimals(shortest))
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[test]
    fn bigcommerce_decimal_strings_parse_to_cents() {
        for (text, cents) in [
            ("225.0000", 22500),
            ("0.5", 50),
            ("-3.10", -310),
            ("12", 1200),
            ("0", 0),
            ("-0.0000", 0),
            ("007.50", 750),
            ("0.0049", 0),
            ("0.0050", 1),
        ] {
            assert_eq!(parse_decimal(text), Ok(cents), "{text}");
        }
    }

    #[test]
    fn the_third_and_fourth_decimals_round_half_away_from_zero() {
        assert_eq!(parse_decimal("19.9950"), Ok(2000));
        assert_eq!(parse_decimal("19.9949"), Ok(1999));
        assert_eq!(parse_decimal("-19.9950"), Ok(-2000));
        assert_eq!(parse_decimal("-19.9949"), Ok(-1999));
        assert_eq!(parse_decimal("-0.005"), Ok(-1));
        assert_eq!(parse_decimal("-0.0049"), Ok(0));
    }

    #[test]
    fn anything_but_a_plain_decimal_is_refused() {
        for bad in [
            "", "-", ".5", "5.", "1e3", "1E3", "+1", " 1", "1 ", "1,50", "--1", "0x10", "1.2.3",
            "NaN", "inf", "١٢",
        ] {
            assert!(
                matches!(parse_decimal(bad), Err(MoneyError::Invalid(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn more_than_four_decimals_is_refused() {
        assert_eq!(
            parse_decimal("1.00001"),
            Err(MoneyError::TooManyDecimals("1.00001".into()))
        );
    }

    #[test]
    fn values_beyond_i64_are_refused_not_wrapped() {
        assert!(matches!(
            parse_decimal("922337203685477.5808"),
            Err(MoneyError::Overflow(_))
        ));
        assert_eq!(
            parse_decimal("922337203685477.5807"),
            Ok(92_233_720_368_547_758)
        );
        assert!(matches!(
            parse_decimal("99999999999999999999"),
            Err(MoneyError::Overflow(_))
        ));
    }

    #[derive(Debug, Deserialize)]
    struct Line {
        #[serde(deserialize_with = "deserialize_cents")]
        amount: i64,
        #[serde(default, deserialize_with = "deserialize_opt_cents")]
        maybe: Option<i64>,
    }

    fn cents(value: serde_json::Value) -> Result<i64, serde_json::Error> {
        serde_json::from_value::<Line>(json!({ "amount": value })).map(|l| l.amount)
    }

    #[test]
    fn the_serde_helper_takes_strings_and_numbers_exactly() {
        assert_eq!(cents(json!("225.0000")).unwrap(), 22500);
        assert_eq!(cents(json!(225)).unwrap(), 22500);
        assert_eq!(cents(json!(-3)).unwrap(), -300);
        assert_eq!(cents(json!(19.995)).unwrap(), 2000, "not 1999.4999…");
        assert_eq!(cents(json!(19.9949)).unwrap(), 1999);
        assert_eq!(cents(json!(0.1)).unwrap(), 10);
        assert_eq!(cents(json!(1.005)).unwrap(), 101);
        assert_eq!(cents(json!(-0.005)).unwrap(), -1);
    }

    #[test]
    fn the_serde_helper_reads_json_text_numbers_exactly() {
        let line: Line = serde_json::from_str(r#"{"amount": 12345.6785}"#).unwrap();
        assert_eq!(line.amount, 1_234_568);
        let line: Line = serde_json::from_str(r#"{"amount": 1e3}"#).unwrap();
        assert_eq!(
            line.amount, 100_000,
            "a JSON number in exponent form is still exact"
        );
    }

    #[test]
    fn the_serde_helper_refuses_what_is_not_an_amount() {
        assert!(cents(json!(0.12345)).is_err());
        assert!(cents(json!("1e3")).is_err());
        assert!(cents(json!(null)).is_err());
        assert!(cents(json!(true)).is_err());
        assert!(cents(json!(u64::MAX)).is_err());
    }

    #[test]
    fn the_optional_helper_reads_null_and_missing_as_none() {
        let line: Line = serde_json::from_value(json!({"amount": "1"})).unwrap();
        assert_eq!(line.maybe, None);
        let line: Line = serde_json::from_value(json!({"amount": "1", "maybe": null})).unwrap();
        assert_eq!(line.maybe, None);
        let line: Line = serde_json::from_value(json!({"amount": "1", "maybe": "2.5000"})).unwrap();
        assert_eq!(line.maybe, Some(250));
    }

    #[test]
    fn money_prints_with_two_decimals_and_its_currency() {
        let eur = Currency::parse("eur").unwrap();
        assert_eq!(eur, Currency::EUR);
        assert_eq!(Money::parse("-3.1", eur).unwrap().to_string(), "-3.10 EUR");
        assert_eq!(Money::new(5, eur).to_string(), "0.05 EUR");
        assert!(Currency::parse("EURO").is_err());
        assert!(Currency::parse("E1R").is_err());
    }
}
