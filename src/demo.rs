//! `sequra-bc demo`: the app and a simulated BigCommerce on loopback, with its own temporary
//! data dir (unless `--data-dir` is given), so a person can install the app into a store and
//! open it in the browser. Never touches the operator's configured database.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use url::Url;

use crate::startup::{Application, shutdown_signal};
use sequra_bc_sandbox::bigcommerce::{BigCommerceStandIn, StandInConfig, StoreSpec};
use sequra_bc_sandbox::sequra::{
    DEMO_PASSWORD, DEMO_SVEA_USERNAME, DEMO_USERNAME, DEMO2_USERNAME, SequraStandIn,
};

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
            "  seQura's side (configuration webhooks): {}_control/store_integrations",
            sequra.base_url()
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
        println!(
            "    SVEA (seQura's second deployment, its own block on the connection page): username {DEMO_SVEA_USERNAME}, password {DEMO_PASSWORD}"
        );
        println!();
        println!(
            "Open the control panel, click \"Install seQura\", open the app and connect; then shop in the storefront and pay with seQura. Ctrl-C stops."
        );
        tokio::spawn(demo_widgets(app.state().clone()));
        app.run_until_stopped(shutdown_signal()).await;
        drop(bc);
        drop(sequra);
        Ok::<_, anyhow::Error>(())
    })?;
    drop(temp);
    Ok(())
}

/// The demo shows seQura's promotional widgets as soon as a demo store can: once its seQura
/// account is connected and no widget settings are saved, it saves what a merchant would on the
/// Promotional widgets page (the product page, the cart and the listings promoting a part
/// payment method, pp3 where the account has it, seQura's text style). The merchant changes or switches them off there.
async fn demo_widgets(state: crate::state::AppState) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(2));
    loop {
        tick.tick().await;
        for hash in DEMO_STORES {
            if let Err(e) = demo_widgets_of(&state, hash).await {
                tracing::warn!(error = %e, "demo widgets not switched on");
            }
        }
    }
}

/// One demo store's widgets, switched on when connected and nothing is saved yet.
pub async fn demo_widgets_of(state: &crate::state::AppState, hash: &str) -> anyhow::Result<()> {
    use crate::onboarding::widgets;
    let store = crate::domain::StoreHash::parse(hash)?;
    let s = store.clone();
    let (connected, saved) = state
        .db
        .call(move |c| {
            Ok((
                crate::db::sequra::connection(c, &s)?.is_some(),
                !crate::db::widgets::all(c, &s)?.is_empty(),
            ))
        })
        .await?;
    if !connected || saved {
        return Ok(());
    }
    let view = widgets::view(state, &store, None).await?;
    // seQura's classic "pay in instalments" (pp3) when the account has it.
    let part_payments = || {
        view.methods
            .iter()
            .filter(|(_, c)| c == widgets::LISTING_CATEGORY)
    };
    let Some((method, _)) = part_payments()
        .find(|(p, _)| p == "pp3")
        .or_else(|| part_payments().next())
    else {
        return Ok(());
    };
    let mut settings = view.settings;
    for (enabled, m) in [
        (&mut settings.product.enabled, &mut settings.product.method),
        (&mut settings.cart.enabled, &mut settings.cart.method),
        (&mut settings.listing.enabled, &mut settings.listing.method),
    ] {
        *enabled = true;
        *m = method.clone();
    }
    settings.style = widgets::STYLE_PRESETS[0].1.to_string();
    widgets::save(state, &store, None, Some(&settings))
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    tracing::info!(store_hash = hash, "demo: promotional widgets switched on");
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
    settings.sequra.svea_sandbox_url = sequra.svea_sandbox_url().to_string();
    settings.sequra.svea_live_url = sequra.svea_live_url().to_string();
    settings.sequra.svea_sandbox_assets_url = sequra.svea_assets_base_url().to_string();
    settings.sequra.svea_live_assets_url = sequra.svea_live_assets_base_url().to_string();
    settings.sequra.svea_sandbox_portal_url = sequra.portal_url_of("svea", "sandbox");
    settings.sequra.svea_live_portal_url = sequra.portal_url_of("svea", "live");
    settings
}
