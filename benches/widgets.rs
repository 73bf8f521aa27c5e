//! Benchmark of the storefront's promotional widgets (issue 15): the widget configuration
//! request warm (client-measured over loopback, and the app's own time measured in-process
//! without HTTP), the same request revalidated (304), and the size of the app's own widget
//! script as served and gzipped. `cargo bench --bench widgets`. The time from
//! `DOMContentLoaded` to the widgets drawn is measured in a browser:
//! `cargo bench --bench widgets -- --browser` (needs `chromedriver`).

mod support;

use std::io::Write;
use std::time::{Duration, Instant};

use support::pct;

fn report(name: &str, mut v: Vec<Duration>) {
    v.sort();
    println!(
        "  {name:<52} n={:<5} p50 {:.3} ms   p99 {:.3} ms",
        v.len(),
        pct(&v, 0.5),
        pct(&v, 0.99)
    );
}

/// Widgets on the product page, the cart and the listings, with a style.
const FORM: [(&str, &str); 14] = [
    ("product_enabled", "on"),
    ("product_method", "pp3"),
    (
        "product_price_selector",
        ".productView-price [data-product-price-with-tax]",
    ),
    (
        "product_location_selector",
        "[data-content-region=\"product_below_price\"]",
    ),
    ("cart_enabled", "on"),
    ("cart_method", "pp3"),
    ("cart_price_selector", ".cart-total-grandTotal"),
    ("cart_location_selector", "[data-cart-totals]"),
    ("listing_enabled", "on"),
    ("listing_method", "pp3"),
    (
        "listing_price_selector",
        "article.card .card-text[data-test-info-type=\"price\"]",
    ),
    (
        "listing_location_selector",
        "article.card .card-text[data-test-info-type=\"price\"]",
    ),
    ("message_ES", "Desde %s/mes"),
    ("style_preset", "text"),
];

fn gzipped_len(bytes: &[u8]) -> anyhow::Result<usize> {
    let mut child = std::process::Command::new("gzip")
        .args(["-9", "-c"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .ok_or_else(|| anyhow::anyhow!("gzip stdin"))?
        .write_all(bytes)?;
    Ok(child.wait_with_output()?.stdout.len())
}

fn main() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let bench = support::start("bench", 8, |_| {}).await?;
        let (address, http) = (bench.address.clone(), bench.http.clone());
        let mut form: Vec<(&str, &str)> = FORM.to_vec();
        for c in ["FR", "IT", "PT"] {
            form.push(match c {
                "FR" => ("message_FR", "À partir de %s/mois"),
                "IT" => ("message_IT", "Da %s/mese"),
                _ => ("message_PT", "Desde %s/mês"),
            });
        }
        let resp = http
            .post(format!("{address}/app/widgets?session={}", bench.session))
            .form(&form)
            .send()
            .await?;
        anyhow::ensure!(resp.status() == 303, "widgets: {}", resp.status());
        let url = format!("{address}/widgets/bench/config?channel=1");
        let ip = |i: usize| format!("198.51.{}.{}", i / 250 % 250, i % 250 + 1);
        let first = http.get(&url).send().await?;
        let etag = first
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = first.bytes().await?;
        anyhow::ensure!(body.len() > 2, "nothing to draw: widgets not configured");
        let n = 3000;
        let mut full = Vec::with_capacity(n);
        let mut revalidated = Vec::with_capacity(n);
        for i in 0..n {
            let t = Instant::now();
            let r = http
                .get(&url)
                .header("x-forwarded-for", ip(i))
                .send()
                .await?;
            anyhow::ensure!(r.status() == 200, "config: {}", r.status());
            r.bytes().await?;
            full.push(t.elapsed());
            let t = Instant::now();
            let r = http
                .get(&url)
                .header("x-forwarded-for", ip(i))
                .header("if-none-match", &etag)
                .send()
                .await?;
            anyhow::ensure!(r.status() == 304, "revalidation: {}", r.status());
            r.bytes().await?;
            revalidated.push(t.elapsed());
        }
        // The app's own time: the service call the handler makes, without HTTP and client.
        let store = sequra_bc::domain::StoreHash::parse("bench")?;
        let mut own = Vec::with_capacity(n);
        for i in 0..n {
            let visitor = std::net::IpAddr::from([198, 51, (i / 250 % 250) as u8, 1]);
            let t = Instant::now();
            let a =
                sequra_bc::checkout::widgets::config(&bench.state, &store, 1, Some(visitor), None)
                    .await?;
            own.push(t.elapsed());
            anyhow::ensure!(a.body.len() > 2);
        }
        let script = &bench.state.widget_script;
        println!("widget configuration benchmark (warm, {n} requests each)");
        report("GET /widgets/{store}/config, client-measured", full);
        report("  the same, revalidated (If-None-Match → 304)", revalidated);
        own.sort();
        println!(
            "  {:<52} n={:<5} p50 {:.1} µs   p99 {:.1} µs",
            "the app's own time (the service call, in-process)",
            own.len(),
            pct(&own, 0.5) * 1e3,
            pct(&own, 0.99) * 1e3
        );
        println!("  answer size: {} bytes", body.len());
        println!(
            "widget script {}: {} bytes, {} bytes gzipped (target under 8 KB)",
            script.path,
            script.body.len(),
            gzipped_len(&script.body)?
        );
        if std::env::args().any(|a| a == "--browser") {
            browser(&bench).await?;
        }
        Ok(())
    })
}

/// ChromeDriver, killed on drop.
struct Driver(std::process::Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The time from `DOMContentLoaded` to the widgets drawn on the stand-in's product page, in
/// headless Chromium, with seQura's script and the configuration already in the browser's
/// cache (a shopper's second page): the script's own `sequra-widgets-drawn` mark.
async fn browser(bench: &support::Bench) -> anyhow::Result<()> {
    // Provisioning has put the widget script on the storefront.
    for _ in 0..100 {
        let scripts = bench.bc.scripts_of("bench");
        if scripts.iter().any(|(_, name, _)| name == "seQura widgets") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let _driver = Driver(
        std::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()?,
    );
    let profile = tempfile::tempdir()?;
    let caps: serde_json::Map<String, serde_json::Value> = serde_json::from_value(
        serde_json::json!({
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--no-first-run", format!("--user-data-dir={}", profile.path().display())]
            }
        }),
    )?;
    let mut client = None;
    for _ in 0..75 {
        match fantoccini::ClientBuilder::rustls()?
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => {
                client = Some(c);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    let c = client.ok_or_else(|| anyhow::anyhow!("chromedriver did not start"))?;
    let page = bench.bc.product_url_on("bench", 1, 104);
    let measure = r#"
        var done = arguments[arguments.length - 1];
        var t0 = Date.now();
        (function poll() {
            var mark = performance.getEntriesByName("sequra-widgets-drawn")[0];
            var nav = performance.getEntriesByType("navigation")[0];
            if (mark && nav && document.querySelector(".sequra-promotion-widget[data-sequra-state]")) {
                done(mark.startTime - nav.domContentLoadedEventStart);
            } else if (Date.now() - t0 > 5000) {
                done(null);
            } else {
                setTimeout(poll, 5);
            }
        })();"#;
    // The first visit fills the browser's cache (seQura's script, the configuration).
    c.goto(&page).await?;
    c.execute_async(measure, vec![]).await?;
    let mut times = Vec::new();
    for _ in 0..30 {
        c.goto(&page).await?;
        let v = c.execute_async(measure, vec![]).await?;
        let ms = v
            .as_f64()
            .ok_or_else(|| anyhow::anyhow!("no widget drawn on {page}"))?;
        times.push(Duration::from_secs_f64(ms.max(0.0) / 1e3));
    }
    c.close().await?;
    println!("widgets in the browser (headless Chromium, product page, warm cache)");
    report(
        "DOMContentLoaded → widgets drawn (target under 50 ms)",
        times,
    );
    Ok(())
}
