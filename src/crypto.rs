//! Secrets at rest (AES-256-GCM under a key kept in its own file) and the keyed MACs and
//! constant-time comparisons the rest of the app signs and verifies with.

use std::fmt;
use std::io::Write;
use std::path::Path;

use aes_gcm::aead::{Aead, Generate, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;
/// First byte of every sealed value, so the format can change later.
const FORMAT_V1: u8 = 1;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("secrets key file {path}: {reason}")]
    KeyFile { path: String, reason: String },
    #[error("a stored secret could not be decrypted (wrong secrets key file?)")]
    Open,
}

/// The key that seals secrets in the database. `Debug` never shows it.
#[derive(Clone)]
pub struct SecretsKey {
    key: [u8; KEY_LEN],
}

impl fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretsKey(***)")
    }
}

impl SecretsKey {
    /// Loads the key file, creating it (mode 0600) with a fresh random key when missing.
    pub fn load_or_create(path: &Path) -> Result<Self, CryptoError> {
        let err = |reason: String| CryptoError::KeyFile {
            path: path.display().to_string(),
            reason,
        };
        if !path.exists() {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| err(e.to_string()))?;
            }
            let key: [u8; KEY_LEN] = rand::random();
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            match options.open(path) {
                Ok(mut file) => {
                    file.write_all(format!("{}\n", hex::encode(key)).as_bytes())
                        .and_then(|_| file.sync_all())
                        .map_err(|e| err(e.to_string()))?;
                    return Ok(Self { key });
                }
                // Another process created it first: read theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(err(e.to_string())),
            }
        }
        Self::load(path)
    }

    /// Loads an existing key file.
    pub fn load(path: &Path) -> Result<Self, CryptoError> {
        let err = |reason: String| CryptoError::KeyFile {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let bytes =
            hex::decode(text.trim()).map_err(|_| err("is not a hex-encoded 32-byte key".into()))?;
        let key: [u8; KEY_LEN] = bytes
            .try_into()
            .map_err(|_| err("is not a hex-encoded 32-byte key".into()))?;
        Ok(Self { key })
    }

    /// A key for tests and the demo only.
    pub fn from_bytes(key: [u8; KEY_LEN]) -> Self {
        Self { key }
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new_from_slice(&self.key).expect("32-byte key")
    }

    /// Encrypts `plaintext`, bound to `context` (e.g. `"store-token:abc123"`) so a sealed value
    /// copied to another row does not open.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Vec<u8> {
        let nonce = Nonce::generate();
        let sealed = self
            .cipher()
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Decrypts what [`seal`](Self::seal) produced for the same `context`.
    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < 1 + NONCE_LEN || sealed[0] != FORMAT_V1 {
            return Err(CryptoError::Open);
        }
        let nonce = Nonce::try_from(&sealed[1..1 + NONCE_LEN]).map_err(|_| CryptoError::Open)?;
        self.cipher()
            .decrypt(
                &nonce,
                Payload {
                    msg: &sealed[1 + NONCE_LEN..],
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Open)
    }

    /// A sub-key for one purpose, so the sealing key itself never signs anything.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        hmac_sha256(&self.key, purpose.as_bytes())
    }
}

/// HMAC-SHA256 of `msg` under `key`.
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

/// Compares two byte strings in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// A random token of `bytes` bytes, hex encoded (webhook secrets and the like).
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::fill(&mut buf[..]);
    hex::encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_the_same_context() {
        let key = SecretsKey::from_bytes([7; 32]);
        let sealed = key.seal("store-token:abc", b"tok_123");
        assert!(!sealed.windows(7).any(|w| w == b"tok_123"));
        assert_eq!(key.open("store-token:abc", &sealed).unwrap(), b"tok_123");
        assert!(key.open("store-token:xyz", &sealed).is_err());
        let other = SecretsKey::from_bytes([8; 32]);
        assert!(other.open("store-token:abc", &sealed).is_err());
        assert!(key.open("store-token:abc", &sealed[..5]).is_err());
    }

    #[test]
    fn key_file_is_created_with_mode_0600_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/secrets.key");
        let a = SecretsKey::load_or_create(&path).unwrap();
        let b = SecretsKey::load_or_create(&path).unwrap();
        assert_eq!(a.key, b.key);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "not a key").unwrap();
        assert!(SecretsKey::load(&path).is_err());
    }

    #[test]
    fn constant_time_eq_compares_exactly() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
