//! `sequra-bc demo`: the app and a simulated BigCommerce on loopback, with its own temporary
//! data dir (unless `--data-dir` is given), so a person can install the app into a store and
//! open it in the browser. Never touches the operator's configured database.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use url::Url;

use crate::startup::{Application, shutdown_signal};
use sequra_bc_sandbox::bigcommerce::{BigCommerceStandIn, StandInConfig, StoreSpec};
use sequra_bc_sandbox::sequra::{DEMO_PASSWORD, DEMO_USERNAME, DEMO2_USERNAME, SequraStandIn};

/// The simulated stores a person can install the app into.
pub const DEMO_STORES: [&str; 2] = ["demo1", "demo2"];

/// `sequra-bc demo`'s flags.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Address of the app.
    #[arg(long, env = "SEQURA_BC_DEMO_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Address of the simulated BigCommerce (control panel and APIs).
    #[arg(
        long,
        env = "SEQURA_BC_DEMO_STORE_LISTEN",
        default_value = "127.0.0.1:8081"
    )]
    pub store_listen: String,
    /// Address of the simulated seQura API.
    #[arg(
        long,
        env = "SEQURA_BC_DEMO_SEQURA_LISTEN",
        default_value = "127.0.0.1:8082"
    )]
    pub sequra_listen: String,
}

/// Runs the demo until Ctrl-C.
pub fn demo_command(args: &DemoArgs, data_dir: Option<PathBuf>) -> anyhow::Result<()> {
    let listen: std::net::SocketAddr = args
        .listen
        .parse()
        .map_err(|_| anyhow::anyhow!("--listen {:?} is not an address", args.listen))?;
    let store_listen: std::net::SocketAddr = args
        .store_listen
        .parse()
        .map_err(|_| anyhow::anyhow!("--store-listen {:?} is not an address", args.store_listen))?;
    let sequra_listen: SocketAddr = args.sequra_listen.parse().map_err(|_| {
        anyhow::anyhow!("--sequra-listen {:?} is not an address", args.sequra_listen)
    })?;
    if !listen.ip().is_loopback()
        || !store_listen.ip().is_loopback()
        || !sequra_listen.ip().is_loopback()
    {
        anyhow::bail!("the demo only listens on loopback addresses");
    }
    // Kept alive for the whole demo; removed on exit.
    let temp = match &data_dir {
        Some(_) => None,
        None => Some(
            tempfile::Builder::new()
                .prefix("sequra-bc-demo-")
                .tempdir()?,
        ),
    };
    let data_dir =
        data_dir.unwrap_or_else(|| temp.as_ref().expect("temp dir").path().to_path_buf());

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let placeholder = Url::parse("http://127.0.0.1:9")?;
        let bc =
            BigCommerceStandIn::start(store_listen, StandInConfig::for_app(placeholder)).await?;
        let sequra = SequraStandIn::start(sequra_listen).await?;
        let base = bc.base_url().as_str().trim_end_matches('/').to_string();
        let settings = app_settings(&bc, &sequra, &data_dir, &listen.to_string());
        let app = Application::build(settings).await?;
        let app_url = Url::parse(&format!("http://{}", app.local_addr()))?;
        bc.set_app_url(app_url.clone());
        // The first store sells on two storefronts (Spain in Spanish, France in French).
        bc.add_store(StoreSpec::demo_two_storefronts(DEMO_STORES[0]));
        bc.add_store(StoreSpec::demo(DEMO_STORES[1]));
        println!("seQura for BigCommerce demo");
        println!();
        println!(
            "  Simulated BigCommerce control panel: {base}/manage/{}",
            DEMO_STORES[0]
        );
        println!(
            "  Another store:                       {base}/manage/{}",
            DEMO_STORES[1]
        );
        println!("  The app (operator page):             {app_url}");
        println!(
            "  The store's storefronts (shop here): {} (Spain)",
            bc.channel_storefront_url(DEMO_STORES[0], 1)
        );
        println!(
            "                                       {} (France)",
            bc.channel_storefront_url(DEMO_STORES[0], 2)
        );
        println!(
            "  Data dir:                            {}",
            data_dir.display()
        );
        println!();
        // One seQura account (merchant ref) per store: two stores on one ref would send
        // seQura the same order numbers (README, "One store per merchant ref").
        println!("  seQura sandbox accounts to connect with (environment Sandbox):");
        println!(
            "    {}: username {DEMO_USERNAME}, password {DEMO_PASSWORD}",
            DEMO_STORES[0]
        );
        println!(
            "    {}: username {DEMO2_USERNAME}, password {DEMO_PASSWORD}",
            DEMO_STORES[1]
        );
        println!();
        println!(
            "Open the control panel, click \"Install seQura\", open the app and connect; then shop in the storefront and pay with seQura. Ctrl-C stops."
        );
        app.run_until_stopped(shutdown_signal()).await;
        drop(bc);
        drop(sequra);
        Ok::<_, anyhow::Error>(())
    })?;
    drop(temp);
    Ok(())
}

/// Settings for an app wired to the stand-ins: `bc`'s client id and secret, login and API on
/// it, seQura's sandbox and live APIs on `sequra`, the database in `data_dir`, `listen` on
/// loopback and the public URL taken from the bound address.
pub fn app_settings(
    bc: &sequra_bc_sandbox::bigcommerce::BigCommerceStandIn,
    sequra: &sequra_bc_sandbox::sequra::SequraStandIn,
    data_dir: &std::path::Path,
    listen: &str,
) -> crate::config::Settings {
    let base = bc.base_url().as_str().trim_end_matches('/').to_string();
    let mut settings = crate::config::Settings::default();
    settings.storage.data_dir = data_dir.to_path_buf();
    settings.server.listen = listen.to_string();
    settings.server.public_url = String::new();
    settings.bigcommerce.client_id = bc.client_id();
    settings.bigcommerce.client_secret = crate::config::SecretString::new(bc.client_secret());
    settings.bigcommerce.login_url = base.clone();
    settings.bigcommerce.control_panel_url = format!("{base}/manage/{{store_hash}}");
    settings.bigcommerce.api_url = base;
    settings.sequra.sandbox_url = sequra.sandbox_url().to_string();
    settings.sequra.live_url = sequra.live_url().to_string();
    settings.sequra.sandbox_portal_url = sequra.portal_url("sandbox");
    settings.sequra.live_portal_url = sequra.portal_url("live");
    settings.sequra.sandbox_assets_url = sequra.assets_base_url().to_string();
    settings.sequra.live_assets_url = sequra.live_assets_base_url().to_string();
    settings
}
