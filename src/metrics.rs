//! Prometheus metrics (issue 17): recorded through the `metrics` facade where things happen,
//! rendered by `metrics-exporter-prometheus` (the facade's own exporter: text format,
//! histograms with buckets) on the metrics listener only, never the public one. Without
//! `[metrics] enabled` no recorder is installed and every record is a no-op.
//!
//! Labels are bounded: routes are templates (no store hash, order id or token), statuses and
//! outcomes come from fixed sets. Gauges of the database (jobs waiting, stores) are read when
//! Prometheus scrapes.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Latency buckets (seconds): a page in a few milliseconds, a call to BigCommerce or seQura
/// in tens to hundreds, a slow one in seconds.
const LATENCY_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Whether a recorder is installed: with none, recording would still format its labels (a
/// status as text, a route split up) on every request for nothing.
fn on() -> bool {
    HANDLE.get().is_some_and(Option::is_some)
}

/// The process's recorder, installed once (one app per process in production; tests share
/// it). `None` when another recorder was installed first.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &LATENCY_BUCKETS)
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            Some(handle)
        })
        .clone()
}

/// An HTTP request answered.
pub fn http_request(path: &str, status: u16, elapsed: Duration) {
    if !on() {
        return;
    }
    let route = route_of(path);
    metrics::counter!(
        "sequra_bc_http_requests_total",
        "route" => route,
        "status" => status.to_string()
    )
    .increment(1);
    metrics::histogram!("sequra_bc_http_request_duration_seconds", "route" => route)
        .record(elapsed.as_secs_f64());
}

/// A BigCommerce webhook delivery: `stored`, `duplicate`, `ignored`, `refused` (4xx) or
/// `failed` (not stored: 5xx, BigCommerce sends it again).
pub fn webhook(outcome: &'static str) {
    if !on() {
        return;
    }
    metrics::counter!("sequra_bc_webhook_deliveries_total", "outcome" => outcome).increment(1);
}

/// A job's run: `done`, `retry`, `failed` or `gave_up`, by kind (the queue's fixed set).
pub fn job(kind: &str, outcome: &'static str) {
    if !on() {
        return;
    }
    metrics::counter!(
        "sequra_bc_jobs_total",
        "kind" => kind.to_string(),
        "outcome" => outcome
    )
    .increment(1);
}

/// A seQura notification (IPN or event) answered, by its HTTP status.
pub fn notification(kind: &'static str, status: u16) {
    if !on() {
        return;
    }
    metrics::counter!(
        "sequra_bc_sequra_notifications_total",
        "kind" => kind,
        "status" => status.to_string()
    )
    .increment(1);
}

/// A call to BigCommerce or seQura (`service`), by its status (`0`: no answer) and latency.
pub fn outbound(service: &'static str, status: u16, elapsed: Duration) {
    if !on() {
        return;
    }
    metrics::counter!(
        "sequra_bc_outbound_requests_total",
        "service" => service,
        "status" => status.to_string()
    )
    .increment(1);
    metrics::histogram!("sequra_bc_outbound_request_duration_seconds", "service" => service)
        .record(elapsed.as_secs_f64());
}

/// A request refused by a rate limit (`limit`: which one).
pub fn rate_limited(limit: &'static str) {
    if !on() {
        return;
    }
    metrics::counter!("sequra_bc_rate_limited_total", "limit" => limit).increment(1);
}

/// What Prometheus reads at a scrape: the gauges of the database read now (jobs not done
/// and the age of the oldest, stores installed and connected), then everything recorded.
pub async fn scrape(db: &crate::db::Db, handle: &PrometheusHandle) -> String {
    let read = db
        .call(|c| Ok((crate::db::jobs::backlog(c)?, crate::db::stores::counts(c)?)))
        .await;
    match read {
        Ok(((waiting, oldest), (installed, connected))) => {
            let age_ms = oldest.map_or(0, |at| (crate::clock::now_ms() - at).max(0));
            metrics::gauge!("sequra_bc_jobs_waiting").set(waiting as f64);
            metrics::gauge!("sequra_bc_job_oldest_age_seconds").set(age_ms as f64 / 1000.0);
            metrics::gauge!("sequra_bc_stores_installed").set(installed as f64);
            metrics::gauge!("sequra_bc_stores_connected").set(connected as f64);
        }
        // The rest is still worth reading; the gauges keep their last values.
        Err(e) => tracing::warn!(error = %e, "metrics: the database could not be read"),
    }
    // The batch writer's figures: its average batch is writes / batches, its average
    // commit time seconds / batches.
    use std::sync::atomic::Ordering::Relaxed;
    let stats = &crate::db::BATCH_STATS;
    metrics::counter!("sequra_bc_batch_commits_total").absolute(stats.batches.load(Relaxed));
    metrics::counter!("sequra_bc_batch_writes_total").absolute(stats.writes.load(Relaxed));
    metrics::gauge!("sequra_bc_batch_commit_seconds_total")
        .set(stats.commit_nanos.load(Relaxed) as f64 / 1e9);
    handle.render()
}

/// The app pages, by path, as their own routes.
const APP_PAGES: [&str; 13] = [
    "/app/connect",
    "/app/countries",
    "/app/diagnostics",
    "/app/diagnostics/log.txt",
    "/app/disconnect",
    "/app/general",
    "/app/log",
    "/app/log/retry",
    "/app/methods",
    "/app/methods/refresh",
    "/app/provisioning/retry",
    "/app/storefronts",
    "/app/widgets",
];

/// The route a path belongs to, as a bounded label: ids, hashes and tokens left out, and any
/// path the app does not serve one label.
pub fn route_of(path: &str) -> &'static str {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        [""] => "/",
        ["healthz"] => "/healthz",
        ["readyz"] => "/readyz",
        ["bc", "auth"] => "/bc/auth",
        ["bc", "load"] => "/bc/load",
        ["bc", "uninstall"] => "/bc/uninstall",
        ["bc", "remove-user"] => "/bc/remove-user",
        ["bc", "webhooks"] => "/bc/webhooks",
        ["sequra", "ipn"] => "/sequra/ipn",
        ["sequra", "events"] => "/sequra/events",
        ["sequra", "configuration"] => "/sequra/configuration",
        ["checkout", _, "methods"] => "/checkout/{store}/methods",
        ["checkout", _, "start"] => "/checkout/{store}/start",
        ["checkout", _, "return"] => "/checkout/{store}/return",
        ["checkout", ..] => "/checkout/other",
        ["widgets", _, "config"] => "/widgets/{store}/config",
        ["assets", ..] => "/assets",
        ["app", "orders", _, "sequra"] => "/app/orders/{order}/sequra",
        ["app", ..] => APP_PAGES
            .iter()
            .find(|p| **p == path.trim_end_matches('/'))
            .copied()
            .unwrap_or("/app/other"),
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_templates_without_ids_and_unknown_paths_share_one_label() {
        assert_eq!(
            route_of("/checkout/abc123/start"),
            "/checkout/{store}/start"
        );
        assert_eq!(route_of("/widgets/zz9/config"), "/widgets/{store}/config");
        assert_eq!(
            route_of("/app/orders/101/sequra"),
            "/app/orders/{order}/sequra"
        );
        assert_eq!(route_of("/app/log/retry"), "/app/log/retry");
        assert_eq!(route_of("/app/nope"), "/app/other");
        assert_eq!(route_of("/assets/checkout-1a2b.js"), "/assets");
        assert_eq!(route_of("/wp-login.php"), "other");
        assert_eq!(route_of("/a/b/c/d"), "other");
        assert_eq!(route_of("/"), "/");
    }
}
