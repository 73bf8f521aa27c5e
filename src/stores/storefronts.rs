//! The store's storefronts (BigCommerce Multi-Storefront channels): read from BigCommerce on
//! install, on load and on `store/channel/*` webhooks (through provisioning), kept with the
//! merchant's switch for each, and the plan of which storefronts get the app's checkout script
//! within BigCommerce's limit of ten scripts per app and store.

use crate::bigcommerce::client::{BcError, StoreApi};
use crate::db::storefronts::{ChannelRead, Storefront};
use crate::db::{self};
use crate::domain::StoreHash;
use crate::error::AppError;
use crate::state::AppState;

/// "Each app can have 10 scripts installed" (scripts.v3.yml), per store.
pub const SCRIPTS_PER_APP: usize = 10;

/// A channel in one of these states no longer sells (bigcommerce-api.md, channels).
const GONE_STATUSES: [&str; 3] = ["archived", "deleted", "terminated"];

/// The platform of BigCommerce's own (Stencil) storefronts, the only ones that render the
/// Scripts API's scripts.
const STENCIL: &str = "bigcommerce";

/// Whether BigCommerce renders scripts on the storefront (a Stencil theme); headless
/// storefronts (Next.js, WordPress, …) render their own pages.
pub fn is_stencil(s: &Storefront) -> bool {
    s.platform == STENCIL
}

/// Reads the store's storefront channels and saves them. Returns whether anything a shopper or
/// the scripts depend on changed.
pub async fn refresh(
    state: &AppState,
    store: &StoreHash,
    api: &StoreApi,
) -> Result<bool, AppError> {
    let channels = api.channels().await?;
    let mut read = Vec::new();
    for c in channels
        .into_iter()
        .filter(|c| c.kind == "storefront" && !GONE_STATUSES.contains(&c.status.as_str()))
    {
        // Each channel's four reads go together; channels one after another (a store has a
        // handful), so a big store cannot spend its quota in a burst.
        let (site, terms, locale, currency) = tokio::join!(
            api.channel_site(c.id),
            api.terms_enabled(c.id),
            api.channel_locale(c.id),
            api.channel_currency(c.id),
        );
        let site = site?;
        read.push(ChannelRead {
            channel_id: c.id,
            name: c.name,
            platform: c.platform,
            status: c.status,
            url: site.as_ref().map(|s| s.url.clone()),
            checkout_url: site.and_then(|s| s.checkout_url),
            locale: locale?,
            currency: currency?,
            terms: match terms {
                Ok(t) => t,
                // A headless channel may have no checkout settings of its own.
                Err(BcError::NotFound(_) | BcError::Rejected { .. }) => false,
                Err(e) => return Err(e.into()),
            },
        });
    }
    let hash = store.clone();
    let changed = state
        .db
        .call(move |c| db::storefronts::save_read(c, &hash, &read))
        .await?;
    if changed {
        state.widget_configs.forget(store);
        tracing::info!(
            store_hash = store.as_str(),
            "the store's storefronts changed"
        );
    }
    Ok(changed)
}

/// Where one storefront stands with the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// seQura's buttons are on its checkout.
    Scripted,
    /// The merchant switched it off.
    Off,
    /// Headless: BigCommerce renders no scripts there.
    Headless,
    /// On, but past the ten scripts BigCommerce allows the app.
    NoRoom,
}

/// Each storefront's standing, by channel id: the merchant's switched-on Stencil storefronts
/// get a script each, the default storefront (the lowest id) first, while they fit.
pub fn plan(storefronts: &[Storefront], default_on: bool) -> Vec<(u64, Standing)> {
    let mut budget = SCRIPTS_PER_APP;
    let mut sorted: Vec<&Storefront> = storefronts.iter().filter(|s| !s.gone).collect();
    sorted.sort_by_key(|s| s.channel_id);
    sorted
        .into_iter()
        .map(|s| {
            let standing = if !s.enabled.unwrap_or(default_on) {
                Standing::Off
            } else if !is_stencil(s) {
                Standing::Headless
            } else if budget == 0 {
                Standing::NoRoom
            } else {
                budget -= 1;
                Standing::Scripted
            };
            (s.channel_id, standing)
        })
        .collect()
}

/// The channels that get the checkout script. A store whose channels were never read (an
/// install before storefronts, or BigCommerce refusing the read) keeps the default
/// storefront's, as before.
pub fn script_channels(storefronts: &[Storefront], default_on: bool) -> Vec<u64> {
    if storefronts.is_empty() {
        return vec![1];
    }
    plan(storefronts, default_on)
        .into_iter()
        .filter(|(_, s)| *s == Standing::Scripted)
        .map(|(id, _)| id)
        .collect()
}

/// The channels that get the widget script: the storefronts with seQura's checkout script
/// whose widget settings (their own, else the default's) have a widget on, or all of them
/// when seQura set `banners` (the same script draws them), in channel order, in the room the
/// checkout scripts leave (a storefront's checkout comes before another's promotion).
pub fn widget_channels(
    storefronts: &[Storefront],
    default_on: bool,
    widgets: &[(u64, String)],
    banners: bool,
) -> Vec<u64> {
    let checkout = script_channels(storefronts, default_on);
    let room = SCRIPTS_PER_APP.saturating_sub(checkout.len());
    checkout
        .into_iter()
        .filter(|c| banners || crate::onboarding::widgets::effective(widgets, *c).any_on())
        .take(room)
        .collect()
}

/// The store's storefronts and whether new ones are on.
pub async fn stored(
    state: &AppState,
    store: &StoreHash,
) -> Result<(Vec<Storefront>, bool), AppError> {
    let hash = store.clone();
    Ok(state
        .db
        .call(move |c| {
            Ok((
                db::storefronts::list(c, &hash)?,
                db::storefronts::default_on(c, &hash)?,
            ))
        })
        .await?)
}

/// One storefront as the merchant's Storefronts section shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StorefrontView {
    pub channel_id: u64,
    pub name: String,
    pub url: Option<String>,
    pub platform: String,
    pub status: String,
    /// The merchant's switch, or the default it follows.
    pub on: bool,
    pub standing: Standing,
    /// Where its promotional widgets stand.
    pub widgets: WidgetStanding,
    /// First seen since the merchant last looked at the section.
    pub new: bool,
}

/// Where one storefront's promotional widgets stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WidgetStanding {
    /// On, and its widget script is (or is being) installed.
    Shown,
    /// No widget on there, or no seQura there.
    Off,
    /// On, but the checkout scripts leave no room for the widget script.
    NoRoom,
}

/// The merchant's Storefronts section.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StorefrontsView {
    pub storefronts: Vec<StorefrontView>,
    /// Whether storefronts the merchant has not switched (new ones) are on.
    pub default_on: bool,
    /// The storefronts switched on that get no script: more than BigCommerce allows the app.
    pub no_room: Vec<String>,
    /// The storefronts whose widgets are on but have no room for their script.
    pub widgets_no_room: Vec<String>,
    pub new: usize,
    pub scripts_per_app: usize,
}

/// The store's storefronts, their standing and what is new to the merchant.
pub async fn view(state: &AppState, store: &StoreHash) -> Result<StorefrontsView, AppError> {
    let hash = store.clone();
    let (storefronts, default_on, widgets) = state
        .db
        .call(move |c| {
            Ok((
                db::storefronts::list(c, &hash)?,
                db::storefronts::default_on(c, &hash)?,
                db::widgets::all(c, &hash)?,
            ))
        })
        .await?;
    let standings = plan(&storefronts, default_on);
    // The promotional widgets' own standing, banners aside.
    let with_widgets = widget_channels(&storefronts, default_on, &widgets, false);
    let rows: Vec<StorefrontView> = storefronts
        .into_iter()
        .map(|s| {
            let standing = standings
                .iter()
                .find(|(id, _)| *id == s.channel_id)
                .map_or(Standing::Off, |(_, st)| *st);
            let widgets = if with_widgets.contains(&s.channel_id) {
                WidgetStanding::Shown
            } else if standing == Standing::Scripted
                && crate::onboarding::widgets::effective(&widgets, s.channel_id).any_on()
            {
                WidgetStanding::NoRoom
            } else {
                WidgetStanding::Off
            };
            StorefrontView {
                channel_id: s.channel_id,
                widgets,
                on: s.enabled.unwrap_or(default_on),
                new: s.new,
                name: s.name,
                url: s.url,
                platform: s.platform,
                status: s.status,
                standing,
            }
        })
        .collect();
    Ok(StorefrontsView {
        no_room: rows
            .iter()
            .filter(|r| r.standing == Standing::NoRoom)
            .map(|r| r.name.clone())
            .collect(),
        widgets_no_room: rows
            .iter()
            .filter(|r| r.widgets == WidgetStanding::NoRoom)
            .map(|r| r.name.clone())
            .collect(),
        new: rows.iter().filter(|r| r.new).count(),
        storefronts: rows,
        default_on,
        scripts_per_app: SCRIPTS_PER_APP,
    })
}

/// The merchant has looked at the section: what was new is not any more.
pub async fn mark_seen(state: &AppState, store: &StoreHash) -> Result<(), AppError> {
    let hash = store.clone();
    Ok(state
        .db
        .call(move |c| db::storefronts::mark_seen(c, &hash))
        .await?)
}

/// Saves the merchant's switches (for storefronts the store has; others are ignored) and the
/// default new storefronts follow, and queues provisioning, which puts the scripts where they
/// now belong, in the same transaction.
pub async fn save(
    state: &AppState,
    store: &StoreHash,
    switches: Vec<(u64, bool)>,
    default_on: bool,
) -> Result<(), AppError> {
    let hash = store.clone();
    state
        .db
        .call(move |c| {
            let tx = c.transaction()?;
            for (channel, on) in &switches {
                db::storefronts::set_enabled(&tx, &hash, *channel, *on)?;
            }
            db::storefronts::set_default_on(&tx, &hash, default_on)?;
            crate::queue::enqueue(&tx, &hash, &crate::queue::Job::Provision)?;
            tx.commit()?;
            Ok(())
        })
        .await?;
    state.jobs.wake();
    state.widget_configs.forget(store);
    tracing::info!(store_hash = store.as_str(), "storefronts saved");
    Ok(())
}

/// The origin (`scheme://host[:port]`) of a storefront address.
fn origin_of(url: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()
        .map(|u| u.origin().ascii_serialization())
}

/// The origins of one storefront: its site's, and its checkout's when that has its own.
fn origins(s: &Storefront) -> impl Iterator<Item = String> + '_ {
    [s.url.as_deref(), s.checkout_url.as_deref()]
        .into_iter()
        .flatten()
        .filter_map(origin_of)
}

/// The origins the store's storefronts' browsers call from: its storefront channels' (gone
/// ones aside), or, for a store whose storefronts were never read, its own storefront's.
pub fn storefront_origins(store_url: Option<&str>, storefronts: &[Storefront]) -> Vec<String> {
    if storefronts.is_empty() {
        store_url.and_then(origin_of).into_iter().collect()
    } else {
        storefronts.iter().flat_map(origins).collect()
    }
}

/// The origin a browser may call the checkout endpoints from: `origin` when it is one of the
/// installed store's storefront channels' (gone ones aside), or, for a store whose storefronts
/// were never read, the store's own storefront's. No origin (not a browser) is `None`; any
/// other origin is refused; a store not installed is not found. The checkout's own storefront
/// is checked once the checkout is read ([`admits`]).
pub async fn allowed_origin(
    state: &AppState,
    store: &StoreHash,
    origin: Option<&str>,
) -> Result<Option<String>, AppError> {
    let hash = store.clone();
    let (installed, storefronts) = state
        .db
        .call(move |c| {
            Ok((
                db::stores::get_installed(c, &hash)?,
                db::storefronts::list(c, &hash)?,
            ))
        })
        .await?;
    let installed = installed.ok_or(AppError::NotFound)?;
    let Some(origin) = origin else {
        return Ok(None);
    };
    if storefront_origins(installed.storefront_url.as_deref(), &storefronts)
        .iter()
        .any(|o| o == origin)
    {
        Ok(Some(origin.to_string()))
    } else {
        Err(AppError::Forbidden(crate::error::Public::new("err_origin")))
    }
}

/// Whether seQura is offered on the checkout's storefront: the merchant has it on there (new
/// storefronts follow the default). A browser calling from another storefront's origin than
/// the checkout's is refused: each storefront's shoppers deal with their own storefront only.
/// A store whose storefronts were never read offers it as before.
pub async fn admits(
    state: &AppState,
    store: &StoreHash,
    channel_id: Option<u64>,
    origin: Option<&str>,
) -> Result<bool, AppError> {
    let (storefronts, default_on) = stored(state, store).await?;
    if storefronts.is_empty() {
        return Ok(true);
    }
    let channel = channel_id.unwrap_or(1);
    let Some(s) = storefronts.iter().find(|s| s.channel_id == channel) else {
        return Ok(false);
    };
    if let Some(o) = origin
        && !origins(s).any(|mine| mine == o)
    {
        return Err(AppError::Forbidden(crate::error::Public::new("err_origin")));
    }
    Ok(s.enabled.unwrap_or(default_on))
}

/// Whether any storefront's checkout offers seQura, as [`admits`] decides for each: the
/// merchant's Diagnostics page asks (with every one switched off, no shopper is offered it).
pub async fn admits_any(state: &AppState, store: &StoreHash) -> Result<bool, AppError> {
    let (storefronts, default_on) = stored(state, store).await?;
    Ok(storefronts.is_empty() || storefronts.iter().any(|s| s.enabled.unwrap_or(default_on)))
}

/// The storefront a shopper of this channel returns to (its checkout's address when it has
/// its own) and its language. `None` for a storefront gone since (archived, deleted) or
/// without an address: another storefront would not know the order. A store whose
/// storefronts were never read returns to its own storefront.
pub async fn shopper_home(
    state: &AppState,
    store: &StoreHash,
    channel_id: Option<u64>,
) -> Result<(Option<String>, Option<String>), AppError> {
    let hash = store.clone();
    let (storefront, read, info) = state
        .db
        .call(move |c| {
            Ok((
                db::storefronts::get(c, &hash, channel_id.unwrap_or(1))?,
                !db::storefronts::list_all(c, &hash)?.is_empty(),
                db::stores::get(c, &hash)?,
            ))
        })
        .await?;
    let (store_url, store_language) = info
        .map(|i| (i.storefront_url, i.language))
        .unwrap_or_default();
    Ok(match storefront {
        Some(s) if !s.gone => (s.checkout_url.or(s.url), s.locale.or(store_language)),
        Some(_) => (None, store_language),
        // A channel the app never read: before the storefronts were read, the store's own.
        None if !read => (store_url, store_language),
        None => (None, store_language),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn storefront(id: u64, platform: &str, enabled: Option<bool>) -> Storefront {
        Storefront {
            channel_id: id,
            name: format!("s{id}"),
            platform: platform.into(),
            status: "active".into(),
            url: Some(format!("https://s{id}.example")),
            checkout_url: None,
            locale: None,
            currency: None,
            terms: false,
            enabled,
            first_seen: String::new(),
            gone: false,
            new: false,
        }
    }

    #[test]
    fn the_switched_on_stencil_storefronts_get_a_script_each_while_ten_fit() {
        let mut all: Vec<Storefront> = (1..=12).map(|id| storefront(id, STENCIL, None)).collect();
        all.push(storefront(13, "next", None));
        all[2].enabled = Some(false);
        let plan = plan(&all, true);
        let of = |id: u64| plan.iter().find(|(c, _)| *c == id).unwrap().1;
        assert_eq!(of(1), Standing::Scripted);
        assert_eq!(of(3), Standing::Off);
        assert_eq!(of(11), Standing::Scripted, "the tenth script");
        assert_eq!(of(12), Standing::NoRoom);
        assert_eq!(of(13), Standing::Headless);
        assert_eq!(script_channels(&all, true).len(), SCRIPTS_PER_APP);
    }

    #[test]
    fn new_storefronts_follow_the_default_and_an_unread_store_keeps_the_default_storefront() {
        let all = vec![
            storefront(1, STENCIL, Some(true)),
            storefront(2, STENCIL, None),
        ];
        assert_eq!(script_channels(&all, false), vec![1]);
        assert_eq!(script_channels(&all, true), vec![1, 2]);
        assert_eq!(script_channels(&[], true), vec![1]);
    }

    #[test]
    fn widget_scripts_take_the_room_the_checkout_scripts_leave() {
        let mut on = crate::onboarding::widgets::WidgetSettings::default();
        on.product.enabled = true;
        let widgets = vec![(0, serde_json::to_string(&on).unwrap())];
        let stores = |n: u64| -> Vec<Storefront> {
            (1..=n).map(|id| storefront(id, STENCIL, None)).collect()
        };
        assert_eq!(
            widget_channels(&stores(5), true, &widgets, false),
            vec![1, 2, 3, 4, 5]
        );
        assert_eq!(
            widget_channels(&stores(7), true, &widgets, false),
            vec![1, 2, 3]
        );
        assert!(widget_channels(&stores(10), true, &widgets, false).is_empty());
        assert!(
            widget_channels(&stores(3), true, &[], false).is_empty(),
            "none on"
        );
        // A storefront with seQura off gets no widgets either.
        let mut some = stores(3);
        some[1].enabled = Some(false);
        assert_eq!(widget_channels(&some, true, &widgets, false), vec![1, 3]);
        assert_eq!(
            widget_channels(&[], true, &widgets, false),
            vec![1],
            "never read"
        );
        // Banners from seQura: the script goes to every storefront seQura is on, widgets or not.
        assert_eq!(widget_channels(&some, true, &[], true), vec![1, 3]);
        assert!(
            widget_channels(&stores(10), true, &[], true).is_empty(),
            "no room"
        );
    }
}
