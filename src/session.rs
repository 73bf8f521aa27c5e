//! Merchant sessions without cookies: a short-lived token, HMAC-signed and bound to one store
//! and one user, carried in links, form actions and an `Authorization` header (Safari drops
//! third-party cookies inside the control panel's iframe).

use base64::Engine;

use crate::crypto::{constant_time_eq, hmac_sha256};
use crate::domain::{StoreHash, UserId};

/// How long a session token is valid; every rendered page carries a fresh one.
pub const SESSION_TTL_SECS: u64 = 3600;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Who a valid session token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub store: StoreHash,
    pub user: UserId,
    pub expires_at: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("your session has expired: open the app again from the control panel")]
    Expired,
    #[error("this link is not valid: open the app again from the control panel")]
    Invalid,
}

impl SessionError {
    /// The i18n catalog key of the message shown to the person.
    pub fn message_key(&self) -> &'static str {
        match self {
            SessionError::Expired => "err_session_expired",
            SessionError::Invalid => "err_session_invalid",
        }
    }
}

/// Signs and checks session tokens with a key derived from the secrets key.
#[derive(Clone)]
pub struct SessionSigner {
    key: [u8; 32],
}

impl std::fmt::Debug for SessionSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionSigner(***)")
    }
}

impl SessionSigner {
    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    /// A token for `user` of `store`, valid until `now + SESSION_TTL_SECS`.
    pub fn issue(&self, store: &StoreHash, user: UserId, now: u64) -> String {
        let payload = format!("{}.{}.{}", store, user.0, now + SESSION_TTL_SECS);
        let mac = hmac_sha256(&self.key, payload.as_bytes());
        format!("{payload}.{}", B64.encode(mac))
    }

    /// Checks signature, then expiry; the store and user come only from a signed token.
    pub fn verify(&self, token: &str, now: u64) -> Result<Session, SessionError> {
        if token.len() > 200 {
            return Err(SessionError::Invalid);
        }
        let (payload, mac) = token.rsplit_once('.').ok_or(SessionError::Invalid)?;
        let mac = B64.decode(mac).map_err(|_| SessionError::Invalid)?;
        let expected = hmac_sha256(&self.key, payload.as_bytes());
        if !constant_time_eq(&mac, &expected) {
            return Err(SessionError::Invalid);
        }
        let mut parts = payload.split('.');
        let (Some(store), Some(user), Some(exp), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(SessionError::Invalid);
        };
        let store = StoreHash::parse(store).map_err(|_| SessionError::Invalid)?;
        let user = user.parse().map_err(|_| SessionError::Invalid)?;
        let expires_at: u64 = exp.parse().map_err(|_| SessionError::Invalid)?;
        if now >= expires_at {
            return Err(SessionError::Expired);
        }
        Ok(Session {
            store,
            user: UserId(user),
            expires_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> SessionSigner {
        SessionSigner::new([3; 32])
    }

    #[test]
    fn a_token_verifies_until_it_expires() {
        let store = StoreHash::parse("abc").unwrap();
        let t = signer().issue(&store, UserId(9), 1000);
        let s = signer().verify(&t, 1000 + SESSION_TTL_SECS - 1).unwrap();
        assert_eq!((s.store, s.user), (store, UserId(9)));
        assert_eq!(
            signer().verify(&t, 1000 + SESSION_TTL_SECS),
            Err(SessionError::Expired)
        );
    }

    #[test]
    fn a_tampered_token_is_invalid() {
        let store = StoreHash::parse("abc").unwrap();
        let t = signer().issue(&store, UserId(9), 1000);
        let forged = t.replacen("abc.", "xyz.", 1);
        assert_eq!(signer().verify(&forged, 1000), Err(SessionError::Invalid));
        let other = SessionSigner::new([4; 32]);
        assert_eq!(other.verify(&t, 1000), Err(SessionError::Invalid));
        for junk in ["", ".", "a.b.c.d", "abc.9.99999999999.!!"] {
            assert_eq!(signer().verify(junk, 1000), Err(SessionError::Invalid));
        }
    }
}
