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
        Ok(())
    })
}
