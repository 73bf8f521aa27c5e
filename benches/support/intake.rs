//! The webhook intake load: `connections` clients posting deliveries back to back to one URL,
//! with the latencies of a measured window. `webhook_intake` drives the app in process with
//! it, `cold_start` the real binary loaded with 10 000 stores.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{pct, process_cpu};

/// The header that carries a store's webhook secret (set by provisioning on every hook).
pub const SECRET_HEADER: &str = "X-Sequra-Webhook-Secret";
/// Requests before the measured window.
pub const WARM_UP: Duration = Duration::from_secs(1);

/// The `n`-th request of a run: its body and the secret header it carries, if any.
pub type Request = Arc<dyn Fn(u64) -> (String, Option<Arc<str>>) + Send + Sync>;

/// One run of the client loop.
pub struct Load {
    /// 200s over the whole run, warm-up included.
    pub acknowledged: u64,
    /// Anything else (status or transport error).
    pub failed: u64,
    /// Latencies of the requests that started after the warm-up and ended in the window.
    pub measured: Vec<Duration>,
    pub window: Duration,
    /// Process CPU time (client and server) per acknowledged request, over the whole run.
    pub cpu_per_request: Option<Duration>,
}

impl Load {
    /// A run left out by `--runs`.
    pub fn skipped() -> Self {
        Self {
            acknowledged: 0,
            failed: 0,
            measured: Vec::new(),
            window: Duration::from_secs(1),
            cpu_per_request: None,
        }
    }

    pub fn rate(&self) -> f64 {
        self.measured.len() as f64 / self.window.as_secs_f64()
    }

    /// Prints one line; returns (deliveries/s, p99 ms).
    pub fn report(&mut self, name: &str) -> (f64, f64) {
        self.measured.sort();
        let (p50, p90, p99) = (
            pct(&self.measured, 0.5),
            pct(&self.measured, 0.9),
            pct(&self.measured, 0.99),
        );
        println!(
            "  {name:<40} requests {:>7}  {:>7.0}/s   p50 {p50:>7.3} ms   p90 {p90:>7.3} ms   \
             p99 {p99:>8.3} ms   max {:>8.3} ms   cpu/req {:>5} µs{}",
            self.measured.len(),
            self.rate(),
            pct(&self.measured, 1.0),
            self.cpu_per_request
                .map_or("?".to_string(), |c| c.as_micros().to_string()),
            if self.failed > 0 {
                format!("   FAILED {}", self.failed)
            } else {
                String::new()
            }
        );
        (self.rate(), p99)
    }
}

/// `connections` tasks post `request(n)` (n unique across the run) to `url` back to back for
/// the warm-up plus `window`; nothing when the run was left out (`selected` false).
pub async fn drive(
    selected: bool,
    http: &reqwest::Client,
    url: &str,
    connections: usize,
    window: Duration,
    request: Request,
) -> Load {
    if !selected {
        return Load::skipped();
    }
    let counter = Arc::new(AtomicU64::new(0));
    let cpu_before = process_cpu();
    let start = Instant::now();
    let (from, until) = (start + WARM_UP, start + WARM_UP + window);
    let mut tasks = Vec::with_capacity(connections);
    for _ in 0..connections {
        let (http, url, request, counter) = (
            http.clone(),
            url.to_string(),
            request.clone(),
            counter.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut failed, mut measured) = (0u64, 0u64, Vec::new());
            loop {
                let t = Instant::now();
                if t >= until {
                    break;
                }
                let (body, secret) = request(counter.fetch_add(1, Ordering::Relaxed));
                let mut req = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body);
                if let Some(s) = &secret {
                    req = req.header(SECRET_HEADER, &**s);
                }
                let good = match req.send().await {
                    Ok(r) => r.status() == 200 && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                let end = Instant::now();
                if !good {
                    failed += 1;
                    continue;
                }
                ok += 1;
                if t >= from && end <= until {
                    measured.push(end - t);
                }
            }
            (ok, failed, measured)
        }));
    }
    let mut load = Load {
        acknowledged: 0,
        failed: 0,
        measured: Vec::new(),
        window,
        cpu_per_request: None,
    };
    for t in tasks {
        if let Ok((ok, failed, measured)) = t.await {
            load.acknowledged += ok;
            load.failed += failed;
            load.measured.extend(measured);
        }
    }
    if let (Some(before), Some(after)) = (cpu_before, process_cpu()) {
        load.cpu_per_request = Some((after - before) / load.acknowledged.max(1) as u32);
    }
    load
}

/// A delivery of `scope` from `store`, as BigCommerce sends it: `data` is one of
/// [`order_data`], [`shipment_data`], [`cart_data`]; `hash` is BigCommerce's SHA-1 of the
/// payload, 40 hex digits ([`event_hash`]).
pub fn delivery(
    store: &str,
    store_id: &str,
    scope: &str,
    data: &str,
    hash: &str,
    created_at: i64,
) -> String {
    format!(
        r#"{{"scope":"{scope}","store_id":"{store_id}","data":{data},"hash":"{hash}","created_at":{created_at},"producer":"stores/{store}"}}"#
    )
}

pub fn order_data(order: u64) -> String {
    format!(r#"{{"type":"order","id":{order}}}"#)
}

pub fn shipment_data(shipment: u64, order: u64) -> String {
    format!(r#"{{"type":"shipment","id":{shipment},"orderId":{order}}}"#)
}

pub fn cart_data(cart: &str, order: u64) -> String {
    format!(r#"{{"type":"cart","id":"{cart}","orderId":{order}}}"#)
}

/// 40 hex digits that look random, like BigCommerce's SHA-1 `hash` (sequential ones would
/// all land on an index's last page, which real deliveries do not), distinct for each `n`
/// under one `salt`.
pub fn event_hash(n: u64, salt: u64) -> String {
    let (a, b, c) = (mix(n ^ salt), mix(n.wrapping_add(1) ^ salt), mix(n ^ !salt));
    format!("{a:016x}{b:016x}{:08x}", c >> 32)
}

/// SplitMix64's finaliser: a cheap bijection that scatters consecutive numbers.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
