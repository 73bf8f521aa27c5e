//! Benchmark of the shopper's endpoints against local stand-ins: `methods` (warm cache) and
//! `start`, client-measured p50/p99, with the stand-ins' own time measured apart (the
//! BigCommerce and seQura calls each request makes, timed directly) so the app's own time can
//! be read off. `cargo bench --bench checkout_endpoints`.

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::pct;

fn report(name: &str, mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let (p50, p99) = (pct(&v, 0.5), pct(&v, 0.99));
    println!(
        "  {name:<44} n={:<5} p50 {p50:.3} ms   p99 {p99:.3} ms",
        v.len()
    );
    (p50, p99)
}

fn main() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let bench = support::start("bench", 8, |_| {}).await?;
        let (address, bc, http) = (bench.address.clone(), bench.bc.clone(), bench.http.clone());
        // Enough checkouts that none reaches the per-checkout limit, and a varying forwarded
        // shopper IP (the proxy is trusted) so the per-IP limit is exercised, not tripped.
        let checkouts: Vec<String> = (0..25)
            .map(|_| bc.create_checkout("bench", &[(104, 1)], "ES"))
            .collect();
        let checkout = checkouts[0].clone();
        let methods_url = format!("{address}/checkout/bench/methods");
        let ip = |i: usize| format!("198.51.{}.{}", i / 250, i % 250 + 1);
        for (i, c) in checkouts.iter().enumerate() {
            http.post(&methods_url)
                .header("x-forwarded-for", ip(i))
                .json(&json!({ "checkoutId": c }))
                .send()
                .await?
                .bytes()
                .await?;
        }
        let n = 1000;
        let mut methods = Vec::with_capacity(n);
        for i in 0..n {
            let body = json!({ "checkoutId": checkouts[i % checkouts.len()] });
            let t = Instant::now();
            let r = http
                .post(&methods_url)
                .header("x-forwarded-for", ip(i))
                .json(&body)
                .send()
                .await?;
            anyhow::ensure!(r.status() == 200, "methods failed: {}", r.status());
            r.bytes().await?;
            methods.push(t.elapsed());
        }
        // The stand-in's share: the one BigCommerce call `methods` makes (GET checkout).
        let token = bc.access_token("bench").unwrap_or_default();
        let checkout_api = format!("{}stores/bench/v3/checkouts/{checkout}", bc.base_url());
        let mut stand_in = Vec::with_capacity(n);
        for _ in 0..n {
            let t = Instant::now();
            http.get(&checkout_api)
                .header("X-Auth-Token", &token)
                .send()
                .await?
                .bytes()
                .await?;
            stand_in.push(t.elapsed());
        }
        let starts = 200;
        let mut start = Vec::with_capacity(starts);
        for i in 0..starts {
            let c = bc.create_checkout("bench", &[(104, 1 + (i % 3) as u64)], "ES");
            let t = Instant::now();
            let r = http
                .post(format!("{address}/checkout/bench/start"))
                .header("x-forwarded-for", ip(10_000 + i))
                .json(&json!({ "checkoutId": c, "product": "i1" }))
                .send()
                .await?;
            anyhow::ensure!(r.status() == 200, "start failed: {}", r.status());
            r.bytes().await?;
            start.push(t.elapsed());
        }
        println!("checkout endpoints benchmark (client-measured on loopback)");
        let (_, m99) = report("POST methods (warm cache)", methods);
        let (_, s99) = report("  of which the stand-in's GET checkout", stand_in);
        report("POST start (order, token, seQura order, form)", start);
        println!(
            "  app's own time for methods at p99 ≈ {:.3} ms (methods p99 − stand-in p99)",
            (m99 - s99).max(0.0)
        );
        Ok(())
    })
}
