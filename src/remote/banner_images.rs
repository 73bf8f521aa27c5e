//! The banner images being served, kept in memory and shared: every answer for one image holds
//! the same bytes (a reference count), so a slow reader costs no copy of its own. Read from
//! disk per request, an anonymous caller holding the server's 10 000 connections open on a
//! 2 MiB image would make the app hold 20 GB. The files are content-addressed and never
//! change, so an entry is never stale (whether a banner still names the file is asked of the
//! database on every request). Bounded by total size, oldest out first.
//!
//! Layer: beside `state`, which holds it; it imports nothing of the app.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use bytes::Bytes;

/// The most image bytes kept: a few dozen banners of seQura's largest size.
const MAX_BYTES: usize = 64 * 1024 * 1024;

/// Images by `{store}/{file}`, with their content type.
#[derive(Default)]
pub struct BannerImages {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    images: HashMap<String, (Bytes, String)>,
    /// Keys, oldest first.
    order: VecDeque<String>,
    bytes: usize,
}

impl BannerImages {
    pub fn get(&self, key: &str) -> Option<(Bytes, String)> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.images.get(key).cloned()
    }

    /// Keeps `bytes` for `key`, letting the oldest go to stay within the bound.
    pub fn put(&self, key: String, bytes: Bytes, content_type: String) {
        if bytes.len() > MAX_BYTES {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.images.contains_key(&key) {
            return;
        }
        while inner.bytes + bytes.len() > MAX_BYTES {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            if let Some((gone, _)) = inner.images.remove(&oldest) {
                inner.bytes -= gone.len();
            }
        }
        inner.bytes += bytes.len();
        inner.order.push_back(key.clone());
        inner.images.insert(key, (bytes, content_type));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_copy_per_image_and_the_oldest_go_past_the_bound() {
        let images = BannerImages::default();
        let big = Bytes::from(vec![7u8; MAX_BYTES / 2]);
        images.put("a/1.png".into(), big.clone(), "image/png".into());
        let (got, ct) = images.get("a/1.png").unwrap();
        assert_eq!(ct, "image/png");
        assert_eq!(got.as_ptr(), big.as_ptr(), "the same bytes, not a copy");
        images.put("a/2.png".into(), big.clone(), "image/png".into());
        images.put("a/3.png".into(), big.clone(), "image/png".into());
        assert!(images.get("a/1.png").is_none(), "the oldest went");
        assert!(images.get("a/2.png").is_some() && images.get("a/3.png").is_some());
        images.put(
            "huge".into(),
            Bytes::from(vec![0u8; MAX_BYTES + 1]),
            "x".into(),
        );
        assert!(images.get("huge").is_none());
    }
}
