//! Embedded static files: the merchant UI's CSS and JS, and the storefront checkout script
//! with its versioned URL and SRI hash.

use base64::Engine;
use rust_embed::RustEmbed;
use sha2::{Digest, Sha384};

#[derive(RustEmbed)]
#[folder = "assets/"]
pub struct AssetFiles;

/// Path of the checkout script inside `assets/`.
const CHECKOUT_SCRIPT: &str = "checkout/sequra-checkout.js";

/// The checkout script as the Scripts API must reference it.
#[derive(Debug, Clone)]
pub struct CheckoutScript {
    /// URL path with the content version in it, e.g. `/assets/checkout/sequra-checkout.1a2b3c4d5e6f.js`.
    pub path: String,
    /// `sha384-…` of the exact bytes served at `path`.
    pub integrity: String,
    pub body: Vec<u8>,
}

impl CheckoutScript {
    pub fn load() -> anyhow::Result<Self> {
        let file = AssetFiles::get(CHECKOUT_SCRIPT)
            .ok_or_else(|| anyhow::anyhow!("embedded {CHECKOUT_SCRIPT} missing"))?;
        let body = file.data.into_owned();
        let digest = Sha384::digest(&body);
        let integrity = format!(
            "sha384-{}",
            base64::engine::general_purpose::STANDARD.encode(digest)
        );
        let version = hex::encode(&digest[..6]);
        Ok(Self {
            path: format!("/assets/checkout/sequra-checkout.{version}.js"),
            integrity,
            body,
        })
    }
}

/// Content type by file extension.
pub fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkout_script_hash_matches_its_bytes() {
        let s = CheckoutScript::load().unwrap();
        let digest = Sha384::digest(&s.body);
        assert_eq!(
            s.integrity,
            format!(
                "sha384-{}",
                base64::engine::general_purpose::STANDARD.encode(digest)
            )
        );
        assert!(s.path.contains(&hex::encode(&digest[..6])));
    }
}
