//! seQura's notifications to the shop (IPN and events webhook): the parameters the app puts
//! into each order so seQura echoes them back, their per-order HMAC signature, and parsing of
//! the form-encoded body (plain or `m_`-prefixed keys; `event` standing for `sq_state`).

use std::collections::BTreeMap;

use crate::crypto::{SecretsKey, constant_time_eq, hmac_sha256};
use crate::domain::{BcOrderId, StoreHash};

/// The seQura state a notification reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifiedState {
    Approved,
    NeedsReview,
    Cancelled,
}

/// A parsed, not yet verified notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// seQura's order reference (UUID).
    pub order_ref: String,
    pub product_code: Option<String>,
    pub state: NotifiedState,
    pub store: StoreHash,
    pub order: BcOrderId,
    pub sid: i64,
    /// The attempt (seQura order) the notification is about; absent before V8.
    pub attempt: Option<i64>,
    pub signature: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotificationError {
    #[error("notification is missing {0}")]
    Missing(&'static str),
    #[error("notification has an invalid {0}")]
    Invalid(&'static str),
    #[error("notification state {0:?} is not handled")]
    UnknownState(String),
    #[error("notification signature does not match")]
    BadSignature,
}

fn message(store: &StoreHash, order: BcOrderId, sid: i64) -> String {
    format!("{store}:{order}:{sid}")
}

/// The return link's signature: HMAC-SHA256 under the return-link key, over store, order and
/// solicitation. It only lets its holder see where the payment is; it authorises nothing.
///
/// Before V8 the same value signed the notifications, so a return link (browser history, a
/// proxy log) could post one: attempts of that time ([`Verified::Legacy`]) still accept it.
pub fn sign_return(key: &SecretsKey, store: &StoreHash, order: BcOrderId, sid: i64) -> String {
    let k = key.derive("sequra-notification-v1");
    hex::encode(hmac_sha256(&k, message(store, order, sid).as_bytes()))
}

/// The notification signature of one seQura order (attempt): HMAC-SHA256 under a key of its
/// own, never shown to a browser, over store, order, solicitation and attempt. The attempt is
/// stored with seQura's order reference, so a notification verifies only for the seQura order
/// it was made for.
pub fn sign(
    key: &SecretsKey,
    store: &StoreHash,
    order: BcOrderId,
    sid: i64,
    attempt: i64,
) -> String {
    let k = key.derive("sequra-ipn-v2");
    let msg = format!("{}:{attempt}", message(store, order, sid));
    hex::encode(hmac_sha256(&k, msg.as_bytes()))
}

/// The parameters seQura echoes in every notification of this attempt.
pub fn parameters(
    key: &SecretsKey,
    store: &StoreHash,
    order: BcOrderId,
    sid: i64,
    attempt: i64,
) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("store".to_string(), store.to_string()),
        ("order".to_string(), order.to_string()),
        ("sid".to_string(), sid.to_string()),
        ("attempt".to_string(), attempt.to_string()),
        (
            "signature".to_string(),
            sign(key, store, order, sid, attempt),
        ),
    ])
}

/// A product code as seQura writes them (`i1`, `pp3`, `sp1`, `tbs`): short, letters and
/// digits.
pub fn is_product_code(s: &str) -> bool {
    (1..=16).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Which signature a notification carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// The attempt's own signature.
    Attempt(i64),
    /// No attempt: the pre-V8 signature, valid only for an attempt of that time.
    Legacy,
}

impl Notification {
    /// Parses a form-encoded notification. Keys may carry seQura's `m_` prefix; `event`
    /// (events webhook) stands for `sq_state`.
    pub fn parse(pairs: &[(String, String)]) -> Result<Self, NotificationError> {
        let mut map: BTreeMap<&str, &str> = BTreeMap::new();
        for (k, v) in pairs {
            let key = k.strip_prefix("m_").unwrap_or(k);
            map.entry(key).or_insert(v.as_str());
        }
        let get = |k: &'static str| {
            map.get(k)
                .copied()
                .filter(|v| !v.is_empty())
                .ok_or(NotificationError::Missing(k))
        };
        let state = match map.get("sq_state").or_else(|| map.get("event")).copied() {
            Some("approved") => NotifiedState::Approved,
            Some("needs_review") => NotifiedState::NeedsReview,
            Some("cancelled") | Some("cancel") => NotifiedState::Cancelled,
            Some(other) => {
                return Err(NotificationError::UnknownState(
                    other.chars().take(40).collect(),
                ));
            }
            None => return Err(NotificationError::Missing("sq_state")),
        };
        let order_ref = get("order_ref")?;
        if order_ref.len() > 64
            || !order_ref
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(NotificationError::Invalid("order_ref"));
        }
        let store =
            StoreHash::parse(get("store")?).map_err(|_| NotificationError::Invalid("store"))?;
        let order =
            BcOrderId::parse(get("order")?).map_err(|_| NotificationError::Invalid("order"))?;
        let sid: i64 = get("sid")?
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or(NotificationError::Invalid("sid"))?;
        let attempt = match map.get("attempt").copied() {
            None => None,
            Some(a) => Some(
                a.parse::<i64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or(NotificationError::Invalid("attempt"))?,
            ),
        };
        let signature = get("signature")?;
        if signature.len() != 64 {
            return Err(NotificationError::BadSignature);
        }
        Ok(Self {
            order_ref: order_ref.to_string(),
            product_code: map.get("product_code").map(|s| s.to_string()),
            state,
            store,
            order,
            sid,
            attempt,
            signature: signature.to_string(),
        })
    }

    /// Checks the signature in constant time: the attempt's, or without an attempt the pre-V8
    /// one (which the caller must then accept only for an attempt of that time).
    pub fn verify(&self, key: &SecretsKey) -> Result<Verified, NotificationError> {
        let (want, verified) = match self.attempt {
            Some(a) => (
                sign(key, &self.store, self.order, self.sid, a),
                Verified::Attempt(a),
            ),
            None => (
                sign_return(key, &self.store, self.order, self.sid),
                Verified::Legacy,
            ),
        };
        if constant_time_eq(want.as_bytes(), self.signature.as_bytes()) {
            Ok(verified)
        } else {
            Err(NotificationError::BadSignature)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    fn signed(prefix: &str, state_key: &str, state: &str) -> Vec<(String, String)> {
        let key = SecretsKey::from_bytes([1; 32]);
        let store = StoreHash::parse("abc").unwrap();
        let params = parameters(&key, &store, BcOrderId(7), 3, 9);
        let mut out = pairs(&[
            ("order_ref", "d168f9bc-de62"),
            ("product_code", "i1"),
            (state_key, state),
        ]);
        for (k, v) in params {
            out.push((format!("{prefix}{k}"), v));
        }
        out
    }

    #[test]
    fn plain_and_prefixed_notifications_parse_and_verify() {
        let key = SecretsKey::from_bytes([1; 32]);
        for (prefix, state_key, state, want) in [
            ("", "sq_state", "approved", NotifiedState::Approved),
            ("m_", "sq_state", "needs_review", NotifiedState::NeedsReview),
            ("m_", "event", "cancelled", NotifiedState::Cancelled),
        ] {
            let n = Notification::parse(&signed(prefix, state_key, state)).unwrap();
            assert_eq!(n.state, want);
            assert_eq!((n.order, n.sid, n.attempt), (BcOrderId(7), 3, Some(9)));
            assert_eq!(n.verify(&key), Ok(Verified::Attempt(9)));
        }
    }

    #[test]
    fn a_tampered_or_foreign_signature_fails() {
        let mut p = signed("", "sq_state", "approved");
        for (k, v) in p.iter_mut() {
            if k == "order" {
                *v = "8".into();
            }
        }
        let n = Notification::parse(&p).unwrap();
        assert_eq!(
            n.verify(&SecretsKey::from_bytes([1; 32])),
            Err(NotificationError::BadSignature)
        );
        let n = Notification::parse(&signed("", "sq_state", "approved")).unwrap();
        assert!(n.verify(&SecretsKey::from_bytes([2; 32])).is_err());
    }

    #[test]
    fn the_return_links_signature_does_not_sign_a_notification() {
        let key = SecretsKey::from_bytes([1; 32]);
        let store = StoreHash::parse("abc").unwrap();
        let from_link = sign_return(&key, &store, BcOrderId(7), 3);
        let mut p = signed("", "sq_state", "cancelled");
        for (k, v) in p.iter_mut() {
            if k == "signature" {
                *v = from_link.clone();
            }
        }
        let n = Notification::parse(&p).unwrap();
        assert_eq!(n.verify(&key), Err(NotificationError::BadSignature));
        // Another attempt's signature does not carry over either.
        for (k, v) in p.iter_mut() {
            if k == "signature" {
                *v = sign(&key, &store, BcOrderId(7), 3, 8);
            }
        }
        let n = Notification::parse(&p).unwrap();
        assert_eq!(n.verify(&key), Err(NotificationError::BadSignature));
    }

    #[test]
    fn malformed_notifications_are_refused() {
        assert!(Notification::parse(&[]).is_err());
        let mut p = signed("", "sq_state", "shipped");
        assert!(matches!(
            Notification::parse(&p),
            Err(NotificationError::UnknownState(_))
        ));
        p = signed("", "sq_state", "approved");
        p.retain(|(k, _)| k != "sid");
        assert_eq!(
            Notification::parse(&p),
            Err(NotificationError::Missing("sid"))
        );
    }
}
