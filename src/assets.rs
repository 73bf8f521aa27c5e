//! Embedded static files: the merchant UI's CSS and JS, and the storefront checkout script
//! with its versioned URL and SRI hash.

use base64::Engine;
use rust_embed::RustEmbed;
use sha2::{Digest, Sha384};

#[derive(RustEmbed)]
#[folder = "assets/"]
pub struct AssetFiles;

/// The checkout script (payment buttons on the checkout's payment step).
const CHECKOUT_SCRIPT: (&str, &str) = ("checkout", "sequra-checkout");
/// The widget script (seQura's promotional messages on the storefront's other pages).
const WIDGET_SCRIPT: (&str, &str) = ("widgets", "sequra-widgets");

/// A storefront script as the Scripts API must reference it: immutable bytes at a URL that
/// changes with them, and their SRI hash.
#[derive(Debug, Clone)]
pub struct StorefrontScript {
    /// URL path with the content version in it, e.g. `/assets/checkout/sequra-checkout.1a2b3c4d5e6f.js`.
    pub path: String,
    /// `sha384-…` of the exact bytes served at `path`.
    pub integrity: String,
    pub body: Vec<u8>,
}

impl StorefrontScript {
    pub fn checkout() -> anyhow::Result<Self> {
        Self::load(CHECKOUT_SCRIPT)
    }

    pub fn widgets() -> anyhow::Result<Self> {
        Self::load(WIDGET_SCRIPT)
    }

    fn load((dir, name): (&str, &str)) -> anyhow::Result<Self> {
        let file_path = format!("{dir}/{name}.js");
        let file = AssetFiles::get(&file_path)
            .ok_or_else(|| anyhow::anyhow!("embedded {file_path} missing"))?;
        let body = file.data.into_owned();
        let digest = Sha384::digest(&body);
        let integrity = format!(
            "sha384-{}",
            base64::engine::general_purpose::STANDARD.encode(digest)
        );
        let version = hex::encode(&digest[..6]);
        Ok(Self {
            path: format!("/assets/{dir}/{name}.{version}.js"),
            integrity,
            body,
        })
    }

    /// Whether an asset path (below `/assets/`) is one of the storefront scripts' folders,
    /// whose files are only served at their versioned path.
    pub fn is_versioned_folder(tail: &str) -> bool {
        [CHECKOUT_SCRIPT.0, WIDGET_SCRIPT.0]
            .iter()
            .any(|dir| tail.starts_with(&format!("{dir}/")))
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
    fn each_storefront_script_hash_matches_its_bytes() {
        for s in [
            StorefrontScript::checkout().unwrap(),
            StorefrontScript::widgets().unwrap(),
        ] {
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
}
