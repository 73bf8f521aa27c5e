//! The banner images being served, kept in memory and shared: every answer for one image holds
//! the same bytes (a reference count), so a slow reader costs no copy of its own. Read from
//! disk per request, an anonymous caller holding the server's 10 000 connections open on a
//! 2 MiB image would make the app hold 20 GB. The files are content-addressed and never
//! change, so an entry is never stale (whether a banner still names the file is asked of the
//! database on every request). Kept by total size, oldest out first; an image let go while
//! answers still send it is found again through them (a weak reference), never read anew:
//! with more images in demand than the bound keeps, each request would otherwise hold a copy
//! of its own again.
//!
//! Layer: beside `state`, which holds it; it imports nothing of the app.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};

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
    /// Kept whether or not an answer sends them, within [`MAX_BYTES`].
    images: HashMap<String, (Bytes, String)>,
    /// Keys, oldest first.
    order: VecDeque<String>,
    bytes: usize,
    /// Every image handed out, while anything (kept or being sent) holds it.
    live: HashMap<String, (Weak<[u8]>, String)>,
}

impl Inner {
    fn get(&self, key: &str) -> Option<(Bytes, String)> {
        if let Some(kept) = self.images.get(key) {
            return Some(kept.clone());
        }
        let (weak, content_type) = self.live.get(key)?;
        let shared = weak.upgrade()?;
        Some((Bytes::from_owner(shared), content_type.clone()))
    }
}

impl BannerImages {
    pub fn get(&self, key: &str) -> Option<(Bytes, String)> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.get(key)
    }

    /// Keeps `bytes` for `key`, letting the oldest go to stay within the bound, and returns
    /// the copy every answer shares (one read meanwhile by another request, if any).
    pub fn put(&self, key: String, bytes: Vec<u8>, content_type: String) -> Bytes {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((shared, _)) = inner.get(&key) {
            return shared;
        }
        let shared: Arc<[u8]> = bytes.into();
        inner.live.retain(|_, (w, _)| w.strong_count() > 0);
        inner
            .live
            .insert(key.clone(), (Arc::downgrade(&shared), content_type.clone()));
        let len = shared.len();
        let bytes = Bytes::from_owner(shared);
        if len > MAX_BYTES {
            return bytes;
        }
        while inner.bytes + len > MAX_BYTES {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            if let Some((gone, _)) = inner.images.remove(&oldest) {
                inner.bytes -= gone.len();
            }
        }
        inner.bytes += len;
        inner.order.push_back(key.clone());
        inner.images.insert(key, (bytes.clone(), content_type));
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_still_being_sent_is_shared_after_it_left_the_bound() {
        let images = BannerImages::default();
        let held = images.put(
            "a/1.png".into(),
            vec![7u8; MAX_BYTES / 2],
            "image/png".into(),
        );
        images.put(
            "a/2.png".into(),
            vec![1u8; MAX_BYTES / 2],
            "image/png".into(),
        );
        images.put(
            "a/3.png".into(),
            vec![2u8; MAX_BYTES / 2],
            "image/png".into(),
        );
        let (again, ct) = images.get("a/1.png").expect("a reader still holds it");
        assert_eq!(again.as_ptr(), held.as_ptr(), "the same bytes, not a copy");
        assert_eq!(ct, "image/png");
        // A second read of it from disk meanwhile is dropped for the shared one.
        let read_again = images.put(
            "a/1.png".into(),
            vec![7u8; MAX_BYTES / 2],
            "image/png".into(),
        );
        assert_eq!(read_again.as_ptr(), held.as_ptr());
        // Once nothing holds it, it is gone.
        drop((held, again, read_again));
        assert!(images.get("a/1.png").is_none());
    }

    #[test]
    fn one_copy_per_image_and_the_oldest_kept_go_past_the_bound() {
        let images = BannerImages::default();
        let one = images.put(
            "a/1.png".into(),
            vec![7u8; MAX_BYTES / 2],
            "image/png".into(),
        );
        let (got, ct) = images.get("a/1.png").unwrap();
        assert_eq!(ct, "image/png");
        assert_eq!(got.as_ptr(), one.as_ptr(), "the same bytes, not a copy");
        drop((one, got));
        images.put(
            "a/2.png".into(),
            vec![7u8; MAX_BYTES / 2],
            "image/png".into(),
        );
        images.put(
            "a/3.png".into(),
            vec![7u8; MAX_BYTES / 2],
            "image/png".into(),
        );
        assert!(images.get("a/1.png").is_none(), "the oldest went");
        assert!(images.get("a/2.png").is_some() && images.get("a/3.png").is_some());
        let huge = images.put("huge".into(), vec![0u8; MAX_BYTES + 1], "x".into());
        assert_eq!(huge.len(), MAX_BYTES + 1, "answered, not kept");
        drop(huge);
        assert!(images.get("huge").is_none());
    }
}
