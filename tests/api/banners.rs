//! Banners seQura pushes through the configuration webhook (issue 32, spec §4): saved and read
//! back, refused in seQura's order with nothing changed, their images kept in the data
//! directory and served by the app under their content's name, deleted when replaced or
//! removed, and nothing else reachable through their path.

use std::collections::BTreeSet;

use base64::Engine;
use serde_json::{Value, json};

use crate::checkout::{STORE, ready};
use crate::helpers::TestApp;
use crate::remote_config::call;

/// CRC-32 of PNG chunks (ISO 3309), written here from the PNG specification.
fn crc32(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// A real `width` × `height` PNG of one colour (uncompressed deflate blocks), which browsers
/// draw.
pub(crate) fn png(width: u32, height: u32, rgb: [u8; 3]) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let crc = crc32(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
    }
    // Each row: filter type 0 (none), then its pixels.
    let row: Vec<u8> = std::iter::once(0)
        .chain(rgb.repeat(width as usize))
        .collect();
    let raw = row.repeat(height as usize);
    let mut z = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        z.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        z.extend_from_slice(&len.to_le_bytes());
        z.extend_from_slice(&(!len).to_le_bytes());
        z.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &x in &raw {
        a = (a + u32::from(x)) % 65_521;
        b = (b + a) % 65_521;
    }
    z.extend_from_slice(&((b << 16) | a).to_be_bytes());
    let mut out = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &z);
    chunk(&mut out, b"IEND", &[]);
    out
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// One `bannerConfigs` entry.
pub(crate) fn entry(country: &str, location: &str, link: &str, image: Option<&[u8]>) -> Value {
    let mut e = json!({"country": country, "linkUrl": link, "displayLocation": location});
    if let Some(i) = image {
        e["imageBase64"] = json!(b64(i));
    }
    e
}

/// `save-banner-settings` with `configs`, signed as seQura signs it.
pub(crate) async fn save(app: &TestApp, configs: Vec<Value>) -> (u16, Value) {
    call(
        app,
        STORE,
        json!({"topic": "save-banner-settings", "bannerConfigs": configs}),
    )
    .await
}

/// seQura pushes one home-page banner for Spain with `image`; returns the image's URL.
pub(crate) async fn pushed_banner(app: &TestApp, image: &[u8]) -> String {
    let (status, v) = save(
        app,
        vec![entry(
            "ES",
            "displayOnHomePage",
            "https://www.sequra.com/",
            Some(image),
        )],
    )
    .await;
    assert_eq!(status, 200, "{v}");
    image_urls(&v)[0].clone()
}

pub(crate) async fn get(app: &TestApp) -> Value {
    let (status, v) = call(app, STORE, json!({"topic": "get-banner-settings"})).await;
    assert_eq!(status, 200, "{v}");
    v
}

/// The files in the store's banner folder.
pub(crate) fn files(app: &TestApp, store: &str) -> BTreeSet<String> {
    std::fs::read_dir(app.data_path().join("banners").join(store))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect()
        })
        .unwrap_or_default()
}

fn image_urls(v: &Value) -> Vec<String> {
    v["bannerConfigs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["imageUrl"].as_str().unwrap().to_string())
        .collect()
}

fn log_entries(app: &TestApp) -> i64 {
    app.count("SELECT COUNT(*) FROM transaction_log WHERE event = 'remote_banners'")
}

#[tokio::test]
async fn banners_saved_through_the_webhook_read_back_and_their_images_are_served() {
    // Declared to seQura now that the topics and the storefront work.
    assert!(sequra_bc::remote::capabilities().contains(&"banner"));
    let (app, session) = ready().await;
    let (status, html) = app.page("/app/widgets", &session).await;
    assert_eq!(status, 200);
    assert!(html.contains("seQura has set no banner."), "{html}");
    // Nothing yet: seQura's empty answer with this app's locations and selling countries.
    let v = get(&app).await;
    assert_eq!(
        v,
        json!({
            "displayLocations": ["displayOnHomePage", "displayOnProductPage", "displayOnCartPage",
                                 "displayOnProductListingPage"],
            "sellingCountries": ["ES", "FR"],
            "bannerConfigs": [],
        })
    );
    let es = png(600, 100, [200, 30, 30]);
    let fr = png(300, 250, [30, 30, 200]);
    let data_uri = format!("data:image/png;base64,{}", b64(&fr));
    let (status, saved) = save(
        &app,
        vec![
            // A first Spanish entry the later one replaces.
            entry("ES", "displayOnCartPage", "https://old.example/", Some(&fr)),
            entry(
                "FR",
                "displayOnProductPage",
                "https://www.sequra.com/fr",
                None,
            ),
            entry(
                "ES",
                "displayOnHomePage",
                "https://www.sequra.com/es?a=1&b=2",
                Some(&es),
            ),
        ]
        .into_iter()
        .map(|mut e| {
            if e["country"] == "FR" {
                e["imageBase64"] = json!(data_uri);
            }
            e
        })
        .collect(),
    )
    .await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved, get(&app).await, "the save answers what get reads");
    let configs = saved["bannerConfigs"].as_array().unwrap();
    assert_eq!(configs.len(), 2, "{saved}");
    let find = |c: &str| configs.iter().find(|b| b["country"] == c).unwrap().clone();
    assert_eq!(find("ES")["linkUrl"], "https://www.sequra.com/es?a=1&b=2");
    assert_eq!(find("ES")["displayLocation"], "displayOnHomePage");
    assert_eq!(find("FR")["displayLocation"], "displayOnProductPage");
    for (country, bytes) in [("ES", &es), ("FR", &fr)] {
        let url = find(country)["imageUrl"].as_str().unwrap().to_string();
        assert!(
            url.starts_with(&format!("{}/banners/{STORE}/{country}-", app.address)),
            "{url}"
        );
        let resp = app.get(&url).await;
        assert_eq!(resp.status(), 200, "{url}");
        let h = resp.headers().clone();
        assert_eq!(h["content-type"], "image/png");
        assert_eq!(h["cache-control"], "public, max-age=31536000, immutable");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(&resp.bytes().await.unwrap()[..], &bytes[..]);
    }
    assert_eq!(files(&app, STORE).len(), 2);
    // The merchant can see who changed what.
    assert_eq!(log_entries(&app), 1);
    let message: String = app.query(
        "SELECT message FROM transaction_log WHERE event = 'remote_banners'",
        |r| r.get(0),
    );
    assert!(
        message.contains("seQura") && message.contains("ES"),
        "{message}"
    );
    let (status, html) = app.page("/app/log", &session).await;
    assert_eq!(status, 200);
    assert!(html.contains("Banners changed by seQura"), "{html}");

    // The merchant sees them on the Widgets page, read-only, as set by seQura.
    let (_, html) = app.page("/app/widgets", &session).await;
    let html = crate::transaction_log::unescape(&html);
    let section = &html[html.find("id=\"banners\"").expect("the banners section")..];
    for text in [
        "Banners set by seQura",
        "Set by seQura",
        "Spain",
        "Home page",
        "France",
        "Product pages",
        "href=\"https://www.sequra.com/es?a=1&b=2\"",
        find("ES")["imageUrl"].as_str().unwrap(),
        "width=\"600\" height=\"100\"",
    ] {
        assert!(section.contains(text), "{text} in {section}");
    }
    assert!(
        !section.contains("<input") && !section.contains("<form"),
        "read-only"
    );
}

#[tokio::test]
async fn every_refusal_is_seguras_error_and_changes_nothing() {
    let (app, _) = ready().await;
    let es = png(600, 100, [1, 2, 3]);
    let (status, v) = save(
        &app,
        vec![entry(
            "ES",
            "displayOnHomePage",
            "https://www.sequra.com/",
            Some(&es),
        )],
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let before = get(&app).await;
    let files_before = files(&app, STORE);
    let logged = log_entries(&app);

    // The PNG signature in front of a script.
    let mut disguised = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    disguised.extend_from_slice(b"<script>alert(document.cookie)</script>");
    // Over 3 MiB of characters that are not even base64: refused on length, before decoding.
    let oversized = "!".repeat(3 * 1024 * 1024 + 1);
    // Valid base64 of 2 MiB + 1 bytes (a PNG signature first): too large once decoded.
    let mut big = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    big.resize(2 * 1024 * 1024 + 1, 0);
    let good = |country: &str| {
        entry(
            country,
            "displayOnHomePage",
            "https://www.sequra.com/",
            Some(&es),
        )
    };
    let with = |mut e: Value, k: &str, v: Value| {
        e[k] = v;
        e
    };
    let cases: Vec<(&str, Vec<Value>)> = vec![
        (
            "emptyParameter",
            vec![with(good("FR"), "country", json!(""))],
        ),
        (
            "emptyParameter",
            vec![with(good("FR"), "linkUrl", json!(null))],
        ),
        (
            "emptyParameter",
            vec![with(good("FR"), "displayLocation", json!("  "))],
        ),
        // The first entry is fine: the second's refusal keeps it from being saved too.
        (
            "imageTooLarge",
            vec![
                good("FR"),
                with(good("ES"), "imageBase64", json!(oversized)),
            ],
        ),
        (
            "imageTooLarge",
            vec![with(good("FR"), "imageBase64", json!(b64(&big)))],
        ),
        (
            "invalidImage",
            vec![with(good("FR"), "imageBase64", json!(b64(&disguised)))],
        ),
        (
            "invalidImage",
            vec![with(good("FR"), "imageBase64", json!("not base64 at all!"))],
        ),
        (
            "invalidImage",
            vec![with(
                good("FR"),
                "imageBase64",
                json!(b64(b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>")),
            )],
        ),
        (
            "urlTooLong",
            vec![with(
                good("FR"),
                "linkUrl",
                json!(format!("https://a.example/{}", "x".repeat(2048))),
            )],
        ),
        (
            "invalidUrlFormat",
            vec![with(
                good("FR"),
                "linkUrl",
                json!("www.sequra.com/no scheme"),
            )],
        ),
        (
            "invalidUrlScheme",
            vec![with(good("FR"), "linkUrl", json!("javascript:alert(1)"))],
        ),
        (
            "invalidDisplayLocation",
            vec![with(
                good("FR"),
                "displayLocation",
                json!("displayOnCheckoutPage"),
            )],
        ),
        // Italy is not one of the store's selling countries; "XX" is no country.
        ("invalidCountry", vec![good("IT")]),
        ("invalidCountry", vec![good("XX")]),
        // France has no banner yet: it needs an image.
        (
            "imageRequired",
            vec![good("ES"), with(good("FR"), "imageBase64", json!(null))],
        ),
    ];
    for (code, configs) in cases {
        let (status, v) = save(&app, configs).await;
        assert_eq!(status, 400, "{code}: {v}");
        assert_eq!(v["statusCode"], 0, "{v}");
        assert_eq!(
            v["errorCode"],
            format!("general.errors.bannerSettings.{code}"),
            "{v}"
        );
        assert!(
            v["errorMessage"].is_string() && v["errorParameters"] == json!([]),
            "{v}"
        );
        assert_eq!(get(&app).await, before, "{code} changed the banners");
        assert_eq!(files(&app, STORE), files_before, "{code} changed the files");
        assert_eq!(log_entries(&app), logged, "{code} was logged");
    }
    // seQura's message for a bad URL, word for word.
    let (_, v) = save(&app, vec![with(good("ES"), "linkUrl", json!("not a url"))]).await;
    assert_eq!(v["errorMessage"], "URL format is invalid");
    // No list at all is not "delete everything".
    let (status, v) = call(&app, STORE, json!({"topic": "save-banner-settings"})).await;
    assert_eq!(
        (status, v["errorCode"].as_str()),
        (400, Some("general.errors.bannerSettings.emptyParameter"))
    );
    assert_eq!(get(&app).await, before);
}

#[tokio::test]
async fn a_replaced_or_removed_image_is_deleted_and_its_url_is_gone() {
    let (app, _) = ready().await;
    let first = png(600, 100, [10, 10, 10]);
    let second = png(600, 100, [20, 20, 20]);
    let (_, v) = save(
        &app,
        vec![entry(
            "ES",
            "displayOnHomePage",
            "https://www.sequra.com/",
            Some(&first),
        )],
    )
    .await;
    let old_url = image_urls(&v)[0].clone();

    // Moved to the cart page with no new image: the same image, the same URL.
    let (status, v) = save(
        &app,
        vec![entry(
            "ES",
            "displayOnCartPage",
            "https://www.sequra.com/",
            None,
        )],
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(image_urls(&v), vec![old_url.clone()]);
    assert_eq!(
        v["bannerConfigs"][0]["displayLocation"],
        "displayOnCartPage"
    );

    // A new image: a new URL; the old one is gone, file and all.
    let (_, v) = save(
        &app,
        vec![entry(
            "ES",
            "displayOnCartPage",
            "https://www.sequra.com/",
            Some(&second),
        )],
    )
    .await;
    let new_url = image_urls(&v)[0].clone();
    assert_ne!(new_url, old_url);
    assert_eq!(app.get(&old_url).await.status(), 404);
    let resp = app.get(&old_url).await;
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert_eq!(
        &app.get(&new_url).await.bytes().await.unwrap()[..],
        &second[..]
    );
    assert_eq!(files(&app, STORE).len(), 1, "{:?}", files(&app, STORE));

    // An empty list removes every banner and its image.
    let (status, v) = save(&app, vec![]).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["bannerConfigs"], json!([]));
    assert_eq!(app.get(&new_url).await.status(), 404);
    assert!(files(&app, STORE).is_empty(), "{:?}", files(&app, STORE));
    assert_eq!(log_entries(&app), 4);
}

#[tokio::test]
async fn a_banner_path_reaches_that_stores_banners_and_nothing_else() {
    let (app, _) = ready().await;
    let other = app.merchant_session("store2").await;
    app.connect_sandbox(&other, sequra_bc_sandbox::sequra::DEMO2_USERNAME)
        .await;
    let url = pushed_banner(&app, &png(60, 10, [5, 5, 5])).await;
    let file = url.rsplit('/').next().unwrap().to_string();
    // A file left in the folder that no banner names (as a crash would leave it) is not served.
    let orphan = format!("FR-{}.png", "0".repeat(32));
    std::fs::write(
        app.data_path().join("banners").join(STORE).join(&orphan),
        png(1, 1, [0, 0, 0]),
    )
    .unwrap();
    for path in [
        format!("/banners/store2/{file}"),
        format!("/banners/{STORE}/{orphan}"),
        format!("/banners/{STORE}/{}", file.replace(".png", ".webp")),
        format!("/banners/{STORE}/..%2F..%2Fsequra-bc.db"),
        format!("/banners/{STORE}/%2e%2e%2fsecrets.key"),
        format!("/banners/{STORE}/..%5Csecrets.key"),
        format!("/banners/..%2F{STORE}/{file}"),
        "/banners/..%2F..%2Fsecrets.key/x".to_string(),
        format!("/banners/{STORE}/{file}%00.png"),
        format!("/banners/{STORE}/{file}/x"),
    ] {
        // Sent as written: reqwest would resolve a literal `..` itself.
        let resp = app
            .http
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404, "{path}");
        let body = resp.bytes().await.unwrap();
        assert!(body.len() < 100, "{path} answered {} bytes", body.len());
    }
    // The orphan goes at the next save of the store (its sweep).
    let (_, _) = save(
        &app,
        vec![entry(
            "ES",
            "displayOnHomePage",
            "https://www.sequra.com/",
            None,
        )],
    )
    .await;
    assert_eq!(files(&app, STORE), BTreeSet::from([file]));
}

#[tokio::test]
async fn unused_images_left_by_a_crash_are_swept_at_the_next_start() {
    let (app, _) = ready().await;
    let file = pushed_banner(&app, &png(60, 10, [5, 5, 5]))
        .await
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let (dir, bc, sequra) = app.stop().await;
    let folder = dir.path().join("banners").join(STORE);
    let orphan = folder.join(format!("FR-{}.png", "1".repeat(32)));
    std::fs::write(&orphan, b"left by a crash").unwrap();
    std::fs::write(folder.join(".partial-x"), b"half written").unwrap();
    let gone_store = dir.path().join("banners").join("purged1");
    std::fs::create_dir_all(&gone_store).unwrap();
    std::fs::write(gone_store.join(format!("ES-{}.png", "2".repeat(32))), b"x").unwrap();

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let address = format!("http://127.0.0.1:{port}");
    let log = dir.path().join("serve.log");
    /// The server is killed however the test ends.
    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _child = Killed(crate::helpers::serve(
        crate::helpers::app_binary(env!("CARGO_BIN_EXE_sequra-bc")),
        dir.path(),
        &address,
        &bc,
        &sequra,
        (50, 400),
        &log,
    ));
    crate::order_sync::eventually("the start-up sweep", || {
        let left: BTreeSet<String> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        (left == BTreeSet::from([file.clone()]) && !gone_store.exists()).then_some(())
    })
    .await;
}

/// The channels with the app's widget script.
fn widget_channels(app: &TestApp) -> Vec<u64> {
    let mut c: Vec<u64> = app
        .bc
        .scripts_of(STORE)
        .into_iter()
        .filter(|(_, _, src)| src.contains("/assets/widgets/sequra-widgets."))
        .map(|(c, _, _)| c)
        .collect();
    c.sort();
    c
}

#[tokio::test]
async fn each_storefront_is_told_its_countrys_banner_and_nothing_when_the_ip_is_not_allowed() {
    let (app, session) = ready().await;
    let france = crate::storefronts::with_france(&app).await;
    assert!(
        widget_channels(&app).is_empty(),
        "no widget, no banner: no script"
    );
    let (status, v) = save(
        &app,
        vec![
            entry(
                "ES",
                "displayOnHomePage",
                "https://www.sequra.com/es",
                Some(&png(600, 100, [1, 1, 1])),
            ),
            entry(
                "FR",
                "displayOnCartPage",
                "https://www.sequra.com/fr",
                Some(&png(300, 250, [2, 2, 2])),
            ),
        ],
    )
    .await;
    assert_eq!(status, 200, "{v}");
    // The widget script goes where the banners are to be drawn, though no widget is on.
    crate::order_sync::eventually("the widget script on both storefronts", || {
        (widget_channels(&app) == [1, france]).then_some(())
    })
    .await;
    crate::checkout::settled(&app).await;
    let url = |c: &str| {
        v["bannerConfigs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["country"] == c)
            .unwrap()["imageUrl"]
            .clone()
    };
    let spain = crate::widgets::config_json(&app, 1).await;
    assert_eq!(
        spain,
        json!({"banner": {
            "location": "displayOnHomePage",
            "region": "[data-content-region=\"home_below_menu\"]",
            "image": url("ES"),
            "width": 600,
            "height": 100,
            "link": "https://www.sequra.com/es",
            "alt": "Paga a plazos con seQura",
        }}),
        "the Spanish storefront: Spain's banner only, no widget"
    );
    let fr = crate::widgets::config_json(&app, france).await;
    assert_eq!(fr["banner"]["image"], url("FR"), "{fr}");
    assert_eq!(
        fr["banner"]["region"],
        "[data-content-region=\"cart_below_totals\"]"
    );
    assert_eq!(fr["banner"]["alt"], "Payez en plusieurs fois avec seQura");

    // A visitor whose address is not allowed is told nothing (the save forgot the old answer).
    let resp = app
        .post_form("/app/general", &session, &[("allowed_ips", "10.1.2.3")])
        .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(crate::widgets::config_json(&app, 1).await, json!({}));
    let resp = app
        .post_form("/app/general", &session, &[("allowed_ips", "")])
        .await;
    assert_eq!(resp.status(), 303);
    assert!(crate::widgets::config_json(&app, 1).await["banner"].is_object());

    // The French storefront switched off: nothing there.
    let resp = app
        .post_form(
            "/app/storefronts",
            &session,
            &[
                ("channel", "1"),
                ("channel", &france.to_string()),
                ("on", "1"),
                ("default_on", "on"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(crate::widgets::config_json(&app, france).await, json!({}));

    // Removed by seQura: the storefront is told at once, not a minute later.
    let (status, _) = save(&app, vec![]).await;
    assert_eq!(status, 200);
    assert_eq!(crate::widgets::config_json(&app, 1).await, json!({}));
}
