//! sequra-bc: a self-hosted BigCommerce app for seQura payments.

/// mimalloc for every program built on this crate (the binary, its tests and benchmarks, so
/// they measure what ships): glibc's allocator was an eighth of the webhook intake's CPU
/// (`malloc`, `free`, `malloc_consolidate`), for the many short-lived buffers of each request.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Embedded static files and the checkout script's SRI hash.
pub mod assets;
/// BigCommerce API client, models, quota and signed payloads.
pub mod bigcommerce;
pub mod checkout;
/// Command-line interface: `serve`, `migrate`, `backup`, `restore`, `config`, `stores`, `demo`.
pub mod cli;
/// The machine's clock as the app reads it (one that can be moved forward).
pub mod clock;
/// Settings from defaults, file, environment and flags.
pub mod config;
/// Secrets at rest and constant-time checks.
pub mod crypto;
/// SQLite: connections, migrations, backup, one module per aggregate.
pub mod db;
/// The demo: the app with its stand-ins on loopback (the `demo` feature).
#[cfg(feature = "demo")]
pub mod demo;
/// Validated domain values.
pub mod domain;
/// The app's error type and its status codes.
pub mod error;
/// The catalogs of the five languages.
pub mod i18n;
/// Per-key async locks.
pub mod locks;
/// Prometheus metrics: what is recorded, and the routes as bounded labels.
pub mod metrics;
/// seQura connection, selling countries, payment methods and settings.
pub mod onboarding;
/// After the sale: order sync, placement, reconciliation, delivery reports.
pub mod orders;
/// The durable job queue's vocabulary: jobs, enqueueing, the wake-up signal.
pub mod queue;
/// Fixed-window rate limits for the public endpoints.
pub mod rate_limit;
/// seQura's remote configuration: the signed configuration webhook and its topics.
pub mod remote;
/// seQura API client and models.
pub mod sequra;
/// The HTTP/1.1 server: timeouts and the connection cap.
pub mod server;
/// Cookie-less merchant sessions.
pub mod session;
/// Building and running the server.
pub mod startup;
/// Shared application state.
pub mod state;
/// The app in each store: install, load, uninstall, provisioning, webhook intake.
pub mod stores;
/// Logging set-up.
pub mod telemetry;
/// Embedded templates.
pub mod templates;
/// HTTP routes.
pub mod web;
/// The job queue's workers: run due jobs through their services.
pub mod workers;
