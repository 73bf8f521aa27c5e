//! Banners seQura pushes (`save-banner-settings`, `get-banner-settings`,
//! `../shared/spec/sequra-remote-configuration.md` §4): one per selling country, each an image
//! the app keeps and serves itself, a link, and the kind of page it is shown on.
//!
//! Images are files in the data directory, `<data_dir>/banners/<store>/<CC>-<sha256>.<ext>`:
//! named by their content, so a replaced image has a new URL and every URL can be cached for
//! ever. A save is atomic: everything is checked before anything is written; new files are
//! written first, then the rows in one transaction, and only then are the files no banner
//! uses any more deleted. A failure before the commit deletes the new files again; a crash
//! between the commit and the deletions leaves unused files, which the sweep deletes: at
//! start-up for every store (and the folders of stores no longer in the database), and before
//! each save for that store. Saves and sweeps of a store hold the store's banner lock.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use bytes::Bytes;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::error::{TopicError, fault};
use crate::db::banners::Banner;
use crate::db::transaction_log::Outcome;
use crate::db::{self};
use crate::domain::{Country, DisplayLocation, ImageError, StoreHash};
use crate::error::AppError;
use crate::i18n::Message;
use crate::state::AppState;

/// The longest `imageBase64` accepted, in characters, checked before decoding (seQura's core).
pub const MAX_BASE64: usize = 3 * 1024 * 1024;
/// The largest image accepted, decoded.
pub const MAX_IMAGE: usize = 2 * 1024 * 1024;
/// The longest link (seQura's core).
pub const MAX_URL: usize = 2048;
/// The transaction log's event for a save.
pub const EVENT: &str = "remote_banners";

const FOLDER: &str = "banners";
/// The prefix of files being written (a crash may leave one; the sweep deletes it).
const PARTIAL: &str = ".partial-";

fn invalid(code: &str, message: impl Into<String>) -> TopicError {
    TopicError::invalid(format!("general.errors.bannerSettings.{code}"), message)
}

/// The folder of `store`'s banner images.
pub fn folder(data_dir: &Path, store: &StoreHash) -> PathBuf {
    data_dir.join(FOLDER).join(store.as_str())
}

/// The store's banners and its selling countries.
async fn stored(
    state: &AppState,
    store: &StoreHash,
) -> Result<(Vec<db::banners::Banner>, Vec<Country>), TopicError> {
    let hash = store.clone();
    let (banners, selling) = state
        .db
        .call(move |c| {
            Ok((
                db::banners::list(c, &hash)?,
                db::settings::countries(c, &hash)?,
            ))
        })
        .await
        .map_err(|e| fault(e.into()))?;
    Ok((banners, selling.into_iter().map(|(c, _)| c).collect()))
}

/// `get-banner-settings`.
pub async fn get(state: &AppState, store: &StoreHash) -> Result<Value, TopicError> {
    let (banners, selling) = stored(state, store).await?;
    Ok(answer(state, store, &banners, &selling))
}

/// seQura's answer to both topics.
fn answer(state: &AppState, store: &StoreHash, banners: &[Banner], selling: &[Country]) -> Value {
    let mut selling: Vec<&str> = selling.iter().map(|c| c.code()).collect();
    selling.sort_unstable();
    json!({
        "displayLocations": DisplayLocation::ALL.map(DisplayLocation::wire),
        "sellingCountries": selling,
        "bannerConfigs": banners.iter().map(|b| json!({
            "country": b.country.code(),
            "linkUrl": b.link_url,
            "imageUrl": state.public(&crate::domain::banner_path(store, &b.file)),
            "displayLocation": b.location.wire(),
        })).collect::<Vec<_>>(),
    })
}

/// A banner as the merchant's Widgets page shows it (read-only: seQura sets them).
#[derive(Debug, Clone, serde::Serialize)]
pub struct BannerView {
    pub country: &'static str,
    pub location: &'static str,
    pub link: String,
    pub image: String,
    pub width: u32,
    pub height: u32,
}

/// The store's banners for the merchant's page.
pub async fn view(state: &AppState, store: &StoreHash) -> Result<Vec<BannerView>, AppError> {
    let hash = store.clone();
    let banners = state.db.call(move |c| db::banners::list(c, &hash)).await?;
    Ok(banners
        .into_iter()
        .map(|b| BannerView {
            country: b.country.code(),
            location: b.location.wire(),
            image: state.public(&crate::domain::banner_path(store, &b.file)),
            link: b.link_url,
            width: b.width,
            height: b.height,
        })
        .collect())
}

/// One entry of `bannerConfigs` as sent, once its fields are there.
struct Input<'a> {
    country: &'a str,
    link: &'a str,
    location: &'a str,
    image: Option<&'a str>,
}

/// A new image, checked and named.
struct NewImage {
    bytes: Vec<u8>,
    file: String,
}

/// Steps 1 and 2 of seQura's order for each entry: the three fields there, the image not
/// too long to decode. Then one per country, the later one winning.
fn inputs(request: &Map<String, Value>) -> Result<Vec<Input<'_>>, TopicError> {
    // A missing list is refused rather than read as "delete every banner": an explicit `[]`
    // does that.
    let Some(list) = request.get("bannerConfigs").and_then(Value::as_array) else {
        return Err(invalid(
            "emptyParameter",
            "Banner 'bannerConfigs' must not be empty",
        ));
    };
    let mut by_country: BTreeMap<String, Input<'_>> = BTreeMap::new();
    for entry in list {
        let field = |name: &str| {
            entry
                .get(name)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    invalid(
                        "emptyParameter",
                        format!("Banner '{name}' must not be empty"),
                    )
                })
        };
        let country = field("country")?;
        let link = field("linkUrl")?;
        let location = field("displayLocation")?;
        let image = match entry.get("imageBase64") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) if s.len() > MAX_BASE64 => {
                return Err(invalid(
                    "imageTooLarge",
                    format!("Banner image must not be longer than {MAX_BASE64} characters"),
                ));
            }
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => {
                return Err(invalid(
                    "invalidImage",
                    "Banner image must be a PNG, JPEG or WEBP image",
                ));
            }
        };
        by_country.insert(
            country.to_ascii_uppercase(),
            Input {
                country,
                link,
                location,
                image,
            },
        );
    }
    Ok(by_country.into_values().collect())
}

/// seQura's URL checks: length, syntax, scheme.
fn check_url(link: &str) -> Result<(), TopicError> {
    if link.chars().count() > MAX_URL {
        return Err(invalid(
            "urlTooLong",
            format!("URL must not be longer than {MAX_URL} characters"),
        ));
    }
    let url =
        url::Url::parse(link).map_err(|_| invalid("invalidUrlFormat", "URL format is invalid"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(
            "invalidUrlScheme",
            "URL scheme must be http or https",
        ));
    }
    Ok(())
}

/// The image of `base64` (an optional `data:image/…;base64,` prefix), when it is a PNG, JPEG
/// or WEBP of at most [`MAX_IMAGE`] bytes: its bytes and its file name for `country`.
fn decode(
    country: Country,
    base64: &str,
) -> Result<(NewImage, crate::domain::ImageInfo), TopicError> {
    let not_an_image = || {
        invalid(
            "invalidImage",
            "Banner image must be a PNG, JPEG or WEBP image",
        )
    };
    let data = match base64.strip_prefix("data:") {
        Some(uri) => {
            let (meta, data) = uri.split_once(',').ok_or_else(not_an_image)?;
            if !meta.ends_with(";base64") {
                return Err(not_an_image());
            }
            data
        }
        None => base64,
    };
    // Line breaks (MIME-style base64) are not part of the data.
    let data: std::borrow::Cow<'_, str> = if data.bytes().any(|b| b.is_ascii_whitespace()) {
        data.chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect::<String>()
            .into()
    } else {
        data.into()
    };
    const ENGINE: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let bytes = ENGINE.decode(data.as_bytes()).map_err(|_| not_an_image())?;
    if bytes.len() > MAX_IMAGE {
        return Err(invalid(
            "imageTooLarge",
            format!("Banner image must not be larger than {MAX_IMAGE} bytes"),
        ));
    }
    let info = crate::domain::sniff_image(&bytes).map_err(|e| match e {
        ImageError::NotAnImage => not_an_image(),
        ImageError::Dimensions => invalid(
            "invalidImage",
            format!(
                "Banner image must be at most {} pixels a side and {} pixels in all",
                crate::domain::MAX_SIDE,
                crate::domain::MAX_PIXELS
            ),
        ),
    })?;
    let digest = hex::encode(&Sha256::digest(&bytes)[..16]);
    let file = format!("{}-{digest}.{}", country.code(), info.format.extension());
    Ok((NewImage { bytes, file }, info))
}

/// `save-banner-settings`: the list replaces the store's banners, or nothing changes.
pub async fn save(
    state: &AppState,
    store: &StoreHash,
    request: &Map<String, Value>,
) -> Result<Value, TopicError> {
    let inputs = inputs(request)?;
    let lock = state.payment_locks.lock_for(format!("banners:{store}"));
    let _held = lock.lock().await;
    let (old, selling) = stored(state, store).await?;
    let dir = folder(&state.settings.storage.data_dir, store);
    // What an earlier save that crashed left behind goes first.
    let used: HashSet<String> = old.iter().map(|b| b.file.clone()).collect();
    {
        let dir = dir.clone();
        let _ = tokio::task::spawn_blocking(move || sweep_folder(&dir, &used)).await;
    }

    // Step 3 and the platform's own checks, for every entry before anything is written.
    let mut banners = Vec::new();
    let mut images = Vec::new();
    for input in &inputs {
        check_url(input.link)?;
        let country = Country::parse(input.country)
            .filter(|c| selling.contains(c))
            .ok_or_else(|| {
                invalid(
                    "invalidCountry",
                    format!(
                        "Banner country '{}' is not one of the store's selling countries",
                        input.country.chars().take(10).collect::<String>()
                    ),
                )
            })?;
        let location = DisplayLocation::parse(input.location).ok_or_else(|| {
            invalid(
                "invalidDisplayLocation",
                format!(
                    "Banner display location must be one of {}",
                    DisplayLocation::ALL.map(DisplayLocation::wire).join(", ")
                ),
            )
        })?;
        let kept = old.iter().find(|b| b.country == country);
        let banner = match (input.image, kept) {
            (Some(base64), _) => {
                let (image, info) = decode(country, base64)?;
                let banner = Banner {
                    country,
                    link_url: input.link.to_string(),
                    location,
                    file: image.file.clone(),
                    content_type: info.format.content_type().to_string(),
                    width: info.width,
                    height: info.height,
                };
                images.push(image);
                banner
            }
            // The image stays where it is: its file is the country's, whatever the page.
            (None, Some(kept)) => Banner {
                link_url: input.link.to_string(),
                location,
                ..kept.clone()
            },
            (None, None) => {
                return Err(invalid(
                    "imageRequired",
                    format!("Banner for '{}' needs an image", country.code()),
                ));
            }
        };
        banners.push(banner);
    }

    // The files, then the rows; the old files once the rows say they are unused.
    let kept: HashSet<String> = old.iter().map(|b| b.file.clone()).collect();
    let written = {
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || write_images(&dir, &kept, images))
            .await
            .map_err(|e| fault(AppError::Internal(e.into())))?
            .map_err(|e| fault(AppError::Internal(e.into())))?
    };
    let message = log_message(&old, &banners);
    let record = crate::orders::Record::new(
        &state.i18n,
        store,
        &crate::orders::About::default(),
        EVENT,
        Outcome::Sent,
        &message,
    );
    let (hash, rows) = (store.clone(), banners.clone());
    let committed = state
        .db
        .call(move |c| {
            let tx = c.transaction()?;
            // The connection whose signature allowed this save may have gone while it was
            // being checked and written (a disconnect deletes the banners, an uninstall the
            // connections): nothing of it is kept then.
            if !db::sequra::is_connected(&tx, &hash)? {
                return Ok(false);
            }
            db::banners::replace(&tx, &hash, &rows)?;
            record.write(&tx)?;
            // The widget script goes where banners now are (and leaves where nothing is).
            crate::queue::enqueue(&tx, &hash, &crate::queue::Job::Provision)?;
            tx.commit()?;
            Ok(true)
        })
        .await;
    match committed {
        Ok(true) => {}
        Ok(false) => {
            remove_files(&dir, written).await;
            return Err(TopicError::signature());
        }
        Err(e) => {
            remove_files(&dir, written).await;
            return Err(fault(e.into()));
        }
    }
    state.jobs.wake();
    state.widget_configs.forget(store);
    let used: HashSet<&str> = banners.iter().map(|b| b.file.as_str()).collect();
    let unused: Vec<String> = old
        .iter()
        .map(|b| b.file.clone())
        .filter(|f| !used.contains(f.as_str()))
        .collect();
    remove_files(&dir, unused).await;
    Ok(answer(state, store, &banners, &selling))
}

/// What the transaction log says of a save, in the merchant's language when read.
fn log_message(old: &[Banner], new: &[Banner]) -> Message {
    let shown: Vec<String> = new
        .iter()
        .map(|b| format!("{} ({})", b.country.code(), b.location.wire()))
        .collect();
    let removed: Vec<&str> = old
        .iter()
        .filter(|o| !new.iter().any(|n| n.country == o.country))
        .map(|o| o.country.code())
        .collect();
    let or_none = |v: Vec<String>| {
        if v.is_empty() {
            "—".to_string()
        } else {
            v.join(", ")
        }
    };
    Message::new("log_remote_banners")
        .text("shown", or_none(shown))
        .text(
            "removed",
            or_none(removed.iter().map(|s| s.to_string()).collect()),
        )
}

/// Writes the images that are not there yet (a file's name is its content); returns the
/// files it created.
fn write_images(
    dir: &Path,
    existing: &HashSet<String>,
    images: Vec<NewImage>,
) -> std::io::Result<Vec<String>> {
    let mut created = Vec::new();
    let outcome = (|| {
        if images.is_empty() {
            return Ok(());
        }
        std::fs::create_dir_all(dir)?;
        for image in images {
            let path = dir.join(&image.file);
            if existing.contains(&image.file) || created.contains(&image.file) {
                continue;
            }
            let mut tmp = tempfile::Builder::new().prefix(PARTIAL).tempfile_in(dir)?;
            tmp.write_all(&image.bytes)?;
            tmp.as_file().sync_all()?;
            tmp.persist(&path).map_err(|e| e.error)?;
            created.push(image.file);
        }
        // The new names survive a crash once the folder is synced.
        std::fs::File::open(dir)?.sync_all()
    })();
    match outcome {
        Ok(()) => Ok(created),
        Err(e) => {
            for f in &created {
                let _ = std::fs::remove_file(dir.join(f));
            }
            Err(e)
        }
    }
}

/// Deletes `files` of the folder; a failure is logged (the sweep tries again), never fatal.
async fn remove_files(dir: &Path, files: Vec<String>) {
    if files.is_empty() {
        return;
    }
    let dir = dir.to_path_buf();
    let _ = tokio::task::spawn_blocking(move || {
        for f in files {
            match std::fs::remove_file(dir.join(&f)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!(file = f.as_str(), error = %e, "banner image not deleted"),
            }
        }
    })
    .await;
}

/// Deletes what the folder holds beyond `used`: files of a save that crashed before or after
/// its commit. Returns how many it deleted.
fn sweep_folder(dir: &Path, used: &HashSet<String>) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut deleted = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if used.contains(&name) {
            continue;
        }
        match std::fs::remove_file(entry.path()) {
            Ok(()) => deleted += 1,
            Err(e) => tracing::warn!(file = name.as_str(), error = %e, "banner image not deleted"),
        }
    }
    deleted
}

/// The start-up sweep: every store's unused banner files, and the folders of stores the
/// database no longer has (purged while the files could not be deleted).
pub async fn sweep(state: &AppState) {
    let root = state.settings.storage.data_dir.join(FOLDER);
    let Ok(entries) = std::fs::read_dir(&root) else {
        return;
    };
    let stores = match state.db.call(|c| db::banners::all_stores(c)).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "banner sweep skipped");
            return;
        }
    };
    let mut deleted = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let known = StoreHash::parse(&name)
            .ok()
            .filter(|s| stores.iter().any(|k| k == s.as_str()));
        let Some(store) = known else {
            match std::fs::remove_dir_all(entry.path()) {
                Ok(()) => deleted += 1,
                Err(e) => {
                    tracing::warn!(folder = name.as_str(), error = %e, "banner folder not deleted")
                }
            }
            continue;
        };
        deleted += sweep_store(state, &store).await;
    }
    if deleted > 0 {
        tracing::info!(deleted, "unused banner images deleted");
    }
}

/// Deletes the store's unused banner files, under its banner lock (at start-up, and once a
/// full disconnect has deleted its banners).
pub async fn sweep_store(state: &AppState, store: &StoreHash) -> usize {
    let lock = state.payment_locks.lock_for(format!("banners:{store}"));
    let _held = lock.lock().await;
    let hash = store.clone();
    let used = match state.db.call(move |c| db::banners::list(c, &hash)).await {
        Ok(b) => b.into_iter().map(|b| b.file).collect::<HashSet<_>>(),
        Err(e) => {
            tracing::warn!(error = %e, "banner sweep of a store skipped");
            return 0;
        }
    };
    let dir = folder(&state.settings.storage.data_dir, store);
    tokio::task::spawn_blocking(move || sweep_folder(&dir, &used))
        .await
        .unwrap_or(0)
}

/// Deletes the store's banner folder (the store is purged).
pub fn remove_store_files(data_dir: &Path, store: &StoreHash) -> std::io::Result<()> {
    match std::fs::remove_dir_all(folder(data_dir, store)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The bytes and content type of the store's banner image `file`, when one of its banners
/// has it (a replaced image, another store's, or any other name: `None`).
pub async fn image(
    state: &AppState,
    store: &StoreHash,
    file: &str,
) -> Result<Option<(Bytes, String)>, AppError> {
    if !crate::domain::is_banner_file(file) {
        return Ok(None);
    }
    let (hash, name) = (store.clone(), file.to_string());
    let Some(content_type) = state
        .db
        .call(move |c| db::banners::content_type_of(c, &hash, &name))
        .await?
    else {
        return Ok(None);
    };
    // Every answer shares one copy (see `banner_images`).
    let key = format!("{store}/{file}");
    if let Some(kept) = state.banner_images.get(&key) {
        return Ok(Some(kept));
    }
    let path = folder(&state.settings.storage.data_dir, store).join(file);
    match tokio::fs::read(&path).await {
        Ok(bytes) => {
            let bytes = state.banner_images.put(key, bytes, content_type.clone());
            Ok(Some((bytes, content_type)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::warn!(file, "a banner's image file is missing");
            Ok(None)
        }
        Err(e) => Err(AppError::Internal(e.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_later_entry_of_a_country_wins_and_fields_come_first() {
        let req: Map<String, Value> = serde_json::from_value(json!({"bannerConfigs": [
            {"country": "ES", "linkUrl": "https://a.example/", "displayLocation": "displayOnHomePage", "imageBase64": "x"},
            {"country": "es", "linkUrl": "https://b.example/", "displayLocation": "displayOnCartPage"},
        ]})).unwrap();
        let got = inputs(&req).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].link, got[0].image), ("https://b.example/", None));
        let req: Map<String, Value> = serde_json::from_value(json!({"bannerConfigs": [
            {"country": "ES", "linkUrl": " ", "displayLocation": "displayOnHomePage"},
        ]}))
        .unwrap();
        let e = inputs(&req).err().unwrap();
        assert_eq!(e.code, "general.errors.bannerSettings.emptyParameter");
        assert_eq!(e.message, "Banner 'linkUrl' must not be empty");
        let none: Map<String, Value> = serde_json::from_value(json!({})).unwrap();
        assert!(inputs(&none).is_err(), "no list is not an empty list");
    }

    #[test]
    fn urls_are_checked_as_seguras_core_does() {
        assert!(check_url("https://www.sequra.com/es/promo?x=1").is_ok());
        let code = |u: &str| check_url(u).err().unwrap().code.into_owned();
        assert_eq!(
            code(&format!("https://a.example/{}", "x".repeat(2048))),
            "general.errors.bannerSettings.urlTooLong"
        );
        assert_eq!(
            code("not a url"),
            "general.errors.bannerSettings.invalidUrlFormat"
        );
        assert_eq!(
            code("javascript:alert(1)"),
            "general.errors.bannerSettings.invalidUrlScheme"
        );
        assert_eq!(
            code("ftp://a.example/"),
            "general.errors.bannerSettings.invalidUrlScheme"
        );
    }

    #[test]
    fn a_sweep_keeps_the_files_in_use_only() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["ES-a.png", "FR-b.png", ".partial-x"] {
            std::fs::write(dir.path().join(f), b"x").unwrap();
        }
        let used: HashSet<String> = ["ES-a.png".to_string()].into();
        assert_eq!(sweep_folder(dir.path(), &used), 2);
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(left, vec!["ES-a.png"]);
    }
}
