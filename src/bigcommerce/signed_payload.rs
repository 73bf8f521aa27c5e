//! Verification of BigCommerce's `signed_payload_jwt` (load, uninstall, remove_user).
//! <https://developer.bigcommerce.com/docs/integrations/apps/guide/callbacks>

use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use serde::Deserialize;

use crate::config::SecretString;
use crate::domain::{StoreHash, UserId};

/// Clock skew tolerated on `exp`, `nbf` and `iat` (BigCommerce documents none).
pub const LEEWAY_SECS: u64 = 60;

/// Why a signed payload was refused. The text is safe to show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("the link has expired")]
    Expired,
    #[error("the link is not valid yet")]
    NotYetValid,
    #[error("the link was not issued for this app")]
    WrongAudience,
    #[error("the link was not issued by BigCommerce")]
    WrongIssuer,
    #[error("the link's signature is not valid")]
    BadSignature,
    #[error("the link is malformed")]
    Malformed,
}

impl PayloadError {
    /// The i18n catalog key of the message shown to the person.
    pub fn message_key(&self) -> &'static str {
        match self {
            PayloadError::Expired => "err_payload_expired",
            PayloadError::NotYetValid => "err_payload_not_yet_valid",
            PayloadError::WrongAudience | PayloadError::WrongIssuer => "err_payload_not_for_app",
            PayloadError::BadSignature | PayloadError::Malformed => "err_payload_invalid",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct PayloadUser {
    pub id: u64,
    pub email: String,
    #[serde(default)]
    pub locale: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PayloadOwner {
    pub id: u64,
    #[serde(default)]
    pub email: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawClaims {
    sub: String,
    iat: u64,
    exp: u64,
    nbf: u64,
    user: PayloadUser,
    owner: PayloadOwner,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    channel_id: Option<i64>,
}

/// The verified claims of a signed payload.
#[derive(Debug, Clone)]
pub struct SignedPayload {
    pub store: StoreHash,
    pub user: PayloadUser,
    pub owner: PayloadOwner,
    /// The deep link, e.g. `/` or `/orders/106/sequra`.
    pub url: String,
    pub channel_id: Option<i64>,
}

impl SignedPayload {
    pub fn user_id(&self) -> UserId {
        UserId(self.user.id)
    }

    pub fn is_owner(&self) -> bool {
        self.user.id == self.owner.id
    }
}

/// Verifies an HS256 JWT signed with the client secret: `aud` = client id, `iss` = `bc`,
/// `exp`/`nbf`/`iat` within [`LEEWAY_SECS`]. Every other algorithm, `none` included, fails.
pub fn verify(
    jwt: &str,
    client_id: &str,
    client_secret: &SecretString,
    now_unix: u64,
) -> Result<SignedPayload, PayloadError> {
    use jsonwebtoken::errors::ErrorKind;
    if jwt.len() > 8192 {
        return Err(PayloadError::Malformed);
    }
    let mut validation = Validation::new(Algorithm::HS256);
    validation.algorithms = vec![Algorithm::HS256];
    // The times are checked below against `now_unix` (the app's clock), not by the library
    // against the system's: one clock decides, the one a test or the machine moves.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.set_audience(&[client_id]);
    validation.set_issuer(&["bc"]);
    validation.set_required_spec_claims(&["exp", "nbf", "iat", "aud", "iss", "sub"]);
    let key = DecodingKey::from_secret(client_secret.expose().as_bytes());
    let data = decode::<RawClaims>(jwt, &key, &validation).map_err(|e| match e.kind() {
        ErrorKind::ExpiredSignature => PayloadError::Expired,
        ErrorKind::ImmatureSignature => PayloadError::NotYetValid,
        ErrorKind::InvalidAudience => PayloadError::WrongAudience,
        ErrorKind::InvalidIssuer => PayloadError::WrongIssuer,
        ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm => PayloadError::BadSignature,
        _ => PayloadError::Malformed,
    })?;
    let claims = data.claims;
    if claims.exp.saturating_add(LEEWAY_SECS) < now_unix {
        return Err(PayloadError::Expired);
    }
    if claims.iat.max(claims.nbf) > now_unix.saturating_add(LEEWAY_SECS) {
        return Err(PayloadError::NotYetValid);
    }
    let store = StoreHash::from_context(&claims.sub).map_err(|_| PayloadError::Malformed)?;
    Ok(SignedPayload {
        store,
        user: claims.user,
        owner: claims.owner,
        url: claims.url.unwrap_or_else(|| "/".into()),
        channel_id: claims.channel_id,
    })
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    crate::clock::unix_now()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::json;

    const SECRET: &str = "client-secret";

    fn token(alg: Algorithm, secret: &str, patch: serde_json::Value) -> String {
        let now = unix_now();
        let mut claims = json!({
            "aud": "client-id", "iss": "bc", "iat": now, "nbf": now - 5, "exp": now - 5 + 86400,
            "jti": "x", "sub": "stores/abc123",
            "user": {"id": 7, "email": "u@example.com", "locale": "es-ES"},
            "owner": {"id": 7, "email": "u@example.com"},
            "url": "/orders/106/sequra", "channel_id": null
        });
        for (k, v) in patch.as_object().unwrap() {
            claims[k] = v.clone();
        }
        encode(
            &Header::new(alg),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    fn check(t: &str) -> Result<SignedPayload, PayloadError> {
        verify(t, "client-id", &SecretString::new(SECRET), unix_now())
    }

    #[test]
    fn a_valid_payload_yields_store_user_and_url() {
        let p = check(&token(Algorithm::HS256, SECRET, json!({}))).unwrap();
        assert_eq!(p.store.as_str(), "abc123");
        assert_eq!(p.user.id, 7);
        assert!(p.is_owner());
        assert_eq!(p.url, "/orders/106/sequra");
    }

    #[test]
    fn every_bad_payload_is_refused_with_its_reason() {
        let now = unix_now();
        let cases = [
            (json!({"exp": now - 61}), PayloadError::Expired),
            (json!({"nbf": now + 120}), PayloadError::NotYetValid),
            (json!({"iat": now + 120}), PayloadError::NotYetValid),
            (json!({"aud": "other"}), PayloadError::WrongAudience),
            (json!({"iss": "not-bc"}), PayloadError::WrongIssuer),
            (json!({"sub": "shops/abc"}), PayloadError::Malformed),
        ];
        for (patch, want) in cases {
            let t = token(Algorithm::HS256, SECRET, patch.clone());
            assert_eq!(check(&t).unwrap_err(), want, "{patch}");
        }
        let t = token(Algorithm::HS256, "wrong", json!({}));
        assert_eq!(check(&t).unwrap_err(), PayloadError::BadSignature);
        let t = token(Algorithm::HS512, SECRET, json!({}));
        assert_eq!(check(&t).unwrap_err(), PayloadError::BadSignature);
        assert_eq!(check("a.b.c").unwrap_err(), PayloadError::Malformed);
    }

    #[test]
    fn leeway_of_sixty_seconds_is_tolerated() {
        let now = unix_now();
        let t = token(Algorithm::HS256, SECRET, json!({"exp": now - 30}));
        assert!(check(&t).is_ok());
    }

    /// The times are judged by the clock given (the app's), not the system's: a payload made
    /// two days ahead is valid two days ahead, and one valid by the system's clock but expired
    /// by the app's is refused.
    #[test]
    fn the_times_are_judged_by_the_apps_clock() {
        let now = unix_now();
        let later = now + 2 * 86_400;
        let ahead = token(
            Algorithm::HS256,
            SECRET,
            json!({"iat": later, "nbf": later - 5, "exp": later + 600}),
        );
        assert!(verify(&ahead, "client-id", &SecretString::new(SECRET), later).is_ok());
        let today = token(Algorithm::HS256, SECRET, json!({}));
        assert_eq!(
            verify(&today, "client-id", &SecretString::new(SECRET), later).unwrap_err(),
            PayloadError::Expired
        );
    }

    #[test]
    fn alg_none_is_refused() {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let signed = token(Algorithm::HS256, SECRET, json!({}));
        let payload = signed.split('.').nth(1).unwrap();
        let header = b64.encode(br#"{"alg":"none","typ":"JWT"}"#);
        assert!(check(&format!("{header}.{payload}.")).is_err());
    }
}
