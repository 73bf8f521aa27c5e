//! Benchmark of the load callback: `GET /bc/load?signed_payload_jwt=…` through JWT
//! verification, the session token and the dashboard render, against the real app on
//! loopback with a real SQLite file. Prints requests/s and latency percentiles.
//!
//! `cargo bench --bench load_callback` (optionally `-- --requests 5000 --concurrency 4`).

mod support;

use std::time::{Duration, Instant};

use sequra_bc::startup::Application;
use sequra_bc_sandbox::bigcommerce::{BigCommerceStandIn, StandInConfig, StoreSpec};
use support::arg;
use url::Url;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn main() -> anyhow::Result<()> {
    let requests = arg("--requests", 3000);
    let concurrency = arg("--concurrency", 4).max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let data_dir = tempfile::tempdir()?;
        let bc = BigCommerceStandIn::start(
            "127.0.0.1:0".parse()?,
            StandInConfig::for_app(Url::parse("http://127.0.0.1:9")?),
        )
        .await?;
        let sequra =
            sequra_bc_sandbox::sequra::SequraStandIn::start("127.0.0.1:0".parse()?).await?;
        let mut settings =
            sequra_bc::demo::app_settings(&bc, &sequra, data_dir.path(), "127.0.0.1:0");
        settings.log.level = "warn".into();
        let app = Application::build(settings).await?;
        let address = format!("http://127.0.0.1:{}", app.port());
        bc.set_app_url(Url::parse(&address)?);
        tokio::spawn(app.run_until_stopped(std::future::pending()));

        let spec = StoreSpec::demo("benchstore");
        let owner = spec.owner.clone();
        bc.add_store(spec);
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(concurrency)
            .build()?;
        let resp = http.get(bc.begin_install("benchstore", &owner)).send().await?;
        anyhow::ensure!(resp.status() == 200, "install failed: {}", resp.status());
        let load = bc.load_url("benchstore", &owner, "/");

        // Warm-up: connections, caches, the first provisioning check.
        for _ in 0..200 {
            let r = http.get(load.clone()).send().await?;
            anyhow::ensure!(r.status() == 200, "load failed: {}", r.status());
            r.bytes().await?;
        }

        // Sequential: latency of one request at a time.
        let mut latencies = Vec::with_capacity(requests);
        let start = Instant::now();
        for _ in 0..requests {
            let t = Instant::now();
            let r = http.get(load.clone()).send().await?;
            let ok = r.status() == 200;
            r.bytes().await?;
            latencies.push(t.elapsed());
            anyhow::ensure!(ok, "load failed");
        }
        let seq_elapsed = start.elapsed();
        latencies.sort();

        // Concurrent: throughput with `concurrency` clients.
        let start = Instant::now();
        let per = requests / concurrency;
        let mut tasks = Vec::new();
        for _ in 0..concurrency {
            let http = http.clone();
            let load = load.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..per {
                    let r = http.get(load.clone()).send().await?;
                    r.bytes().await?;
                }
                Ok::<_, reqwest::Error>(())
            }));
        }
        for t in tasks {
            t.await??;
        }
        let conc_elapsed = start.elapsed();

        println!("load callback benchmark (JWT verify + user check + session + dashboard render)");
        println!("  sequential: {requests} requests in {:.2?}: {:.0} req/s", seq_elapsed, requests as f64 / seq_elapsed.as_secs_f64());
        println!(
            "  latency (client-measured, loopback): p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
            percentile(&latencies, 0.50).as_secs_f64() * 1e3,
            percentile(&latencies, 0.90).as_secs_f64() * 1e3,
            percentile(&latencies, 0.99).as_secs_f64() * 1e3,
            latencies.last().unwrap().as_secs_f64() * 1e3,
        );
        println!(
            "  concurrent ({concurrency} clients): {} requests in {:.2?}: {:.0} req/s",
            per * concurrency,
            conc_elapsed,
            (per * concurrency) as f64 / conc_elapsed.as_secs_f64()
        );
        Ok(())
    })
}
