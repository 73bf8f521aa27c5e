//! The configuration webhook's address and signature, as seQura's core defines them: the URL
//! carries `storeId` and `signature`, and the signature is the lowercase hex HMAC-SHA256, keyed
//! with the password of one of the store's seQura connections, of `storeId + "_" + storeUrl`.
//! It is a bearer value (it covers no body and no time), so it only ever travels to seQura.
//!
//! Both inputs must never change for a store, or seQura's registered URL stops verifying
//! without anyone noticing. The store id is the store hash (BigCommerce never changes it); the
//! store URL is BigCommerce's permanent address of the store, `store-{hash}.mybigcommerce.com`,
//! which still answers after the merchant moves the storefront to a domain of their own (the
//! storefront's current domain would change the signature with every such move).

use url::Url;

use crate::config::SecretString;
use crate::crypto::{constant_time_eq, hmac_sha256};
use crate::domain::StoreHash;

/// The route seQura calls, under the app's public URL.
pub const PATH: &str = "sequra/configuration";

/// The store URL the signature covers: BigCommerce's permanent address of the store.
pub fn store_url(store: &StoreHash) -> String {
    format!("https://store-{store}.mybigcommerce.com")
}

/// The signature of `store`'s webhook URL under one connection's `password`.
pub fn signature(store: &StoreHash, password: &SecretString) -> String {
    let message = format!("{store}_{}", store_url(store));
    hex::encode(hmac_sha256(
        password.expose().as_bytes(),
        message.as_bytes(),
    ))
}

/// The route under the app's public URL, without query: the same for every store (a changed
/// public URL shows here).
pub fn endpoint(public_url: &Url) -> Url {
    let mut url = public_url.clone();
    let base = url.path().trim_end_matches('/').to_string();
    url.set_path(&format!("{base}/{PATH}"));
    url.set_query(None);
    url.set_fragment(None);
    url
}

/// The signed URL registered with seQura for `store` under one connection's `password`.
pub fn webhook_url(public_url: &Url, store: &StoreHash, password: &SecretString) -> Url {
    let mut url = endpoint(public_url);
    url.query_pairs_mut()
        .append_pair("storeId", store.as_str())
        .append_pair("signature", &signature(store, password));
    url
}

/// Whether `given` is the signature of `store` under any of `passwords`, compared in constant
/// time with each (a match on any connection passes, as seQura's core does).
pub fn verify(store: &StoreHash, given: &str, passwords: &[SecretString]) -> bool {
    let mut ok = false;
    for p in passwords {
        // Every password is tried, matched or not: the time taken says nothing of which.
        ok |= constant_time_eq(signature(store, p).as_bytes(), given.as_bytes());
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> StoreHash {
        StoreHash::parse("abc123").unwrap()
    }

    #[test]
    fn signature_is_the_hmac_of_store_id_and_url() {
        // HMAC-SHA256(key "secret", "abc123_https://store-abc123.mybigcommerce.com"), from
        // `openssl dgst -sha256 -hmac secret`.
        let sig = signature(&store(), &SecretString::new("secret"));
        assert_eq!(
            sig,
            "b7f57a5edebba7c1897edd670c7a8dfe1a9bf3dc7b47cb8311233997bbb52474"
        );
        let again = signature(&store(), &SecretString::new("secret"));
        assert_eq!(sig, again, "deterministic");
        let other = signature(&store(), &SecretString::new("other"));
        assert_ne!(sig, other, "the password changes it");
    }

    #[test]
    fn url_carries_store_id_then_signature() {
        let base = Url::parse("https://pay.example.com/sq/").unwrap();
        let p = SecretString::new("secret");
        let url = webhook_url(&base, &store(), &p);
        assert_eq!(
            url.as_str(),
            format!(
                "https://pay.example.com/sq/sequra/configuration?storeId=abc123&signature={}",
                signature(&store(), &p)
            )
        );
    }

    #[test]
    fn any_connection_verifies_nothing_else_does() {
        let a = SecretString::new("a");
        let b = SecretString::new("b");
        let sig_b = signature(&store(), &b);
        assert!(verify(&store(), &sig_b, &[a.clone(), b.clone()]));
        assert!(!verify(&store(), &sig_b, std::slice::from_ref(&a)));
        assert!(!verify(&store(), &sig_b, &[]));
        assert!(!verify(
            &store(),
            &sig_b.to_ascii_uppercase(),
            std::slice::from_ref(&b)
        ));
        let other = StoreHash::parse("zzz999").unwrap();
        assert!(!verify(&other, &sig_b, &[b]), "another store's signature");
    }
}
