//! Channels and sites v3 (`channels.v3.yml`, `sites.v3.yml`): `GET /v3/channels`,
//! `GET /v3/channels/{id}`, `GET /v3/channels/{id}/site`, `GET /v3/channels/{id}/active-theme`
//! and `GET /v3/channels/{id}/currency-assignments`; and the Settings API's store locale,
//! `GET /v3/settings/store/locale`.
//!
//! Each store has the channels of its [`StoreSpec`] (channel 1, the default storefront,
//! always), every one of type `storefront`. A Stencil channel (`platform` `bigcommerce`) has
//! the storefront the stand-in serves as its site, unless its `site_url` says otherwise; a
//! headless one reports its `site_url`.
//!
//! Scopes: channels need `store_channel_settings_read_only`; the site
//! `store_sites_read_only` [U: or the channel scope] (each modify scope covers its read).
//!
//! Chosen where the reference is silent, all [U]:
//! - The list holds every channel whatever its status (`deleted` and `archived` included)
//!   unless `status:in` or `available` says otherwise; a `status:in` or `type:in` value
//!   outside the contract's enum is 422, as an invalid filter.
//! - A headless channel without a `site_url` has no site: 404. A deleted channel still
//!   answers its site and settings.
//! - Dates: channel 1 and the channels of the spec were created at a fixed moment; channels
//!   added later carry the moment they were added and last updated.
//! - Active theme: a Stencil channel answers fixed UUIDs; any other, or an unknown channel,
//!   the contract's 404 "No active theme found with channel_id: {id}". Scope: the channel
//!   scope.
//! - Currency assignments: the channel's currency is its default and only enabled one.
//! - [U] The store locale (`GET /v3/settings/store/locale`) is not in our contracts: it is
//!   modelled on BigCommerce's Settings API, `{"data": {"default_shopper_language",
//!   "shopper_language_selection_method": "default_shopper_language", "store_country"},
//!   "meta": {}}`; `channel_id` selects the channel (without it, channel 1, the global
//!   setting); an unknown or malformed `channel_id` is 422. Scope
//!   `store_v2_information_read_only`.

use serde_json::{Map, Value, json};
use warp::http::Method;

use super::api::{Area, Auth, forbidden, method_not_allowed, not_found, paginate, paging};
use super::respond::{self, Resp};
use super::state::State;
use super::{ChannelSpec, Incoming, StoreSpec};

const CHANNEL_SCOPE: &str = "store_channel_settings_read_only";
const SITE_SCOPES: [&str; 2] = ["store_sites_read_only", "store_channel_settings_read_only"];
const LOCALE_SCOPE: &str = "store_v2_information_read_only";
/// The store's creation, fixed.
pub(crate) const CREATED: &str = "2024-01-15T10:00:00Z";
/// Channel 1's site id (`default_site_id` in `/v2/store`); channel N has `SITE_ID + N - 1`.
const SITE_ID: u64 = 1000;
const STATUSES: [&str; 8] = [
    "prelaunch",
    "active",
    "inactive",
    "connected",
    "disconnected",
    "archived",
    "deleted",
    "terminated",
];
const TYPES: [&str; 4] = ["marketplace", "marketing", "pos", "storefront"];
/// Statuses `available=true` lists (`channels.v3.yml` `available`).
const AVAILABLE: [&str; 4] = ["prelaunch", "active", "inactive", "connected"];

fn channel_json(st: &State, spec: &StoreSpec, c: &ChannelSpec, currencies: bool) -> Value {
    let (created, modified) = st
        .stores
        .get(&spec.hash)
        .and_then(|s| s.channel_dates.get(&c.id))
        .cloned()
        .unwrap_or_else(|| (CREATED.to_owned(), CREATED.to_owned()));
    let mut v = json!({
        "id": c.id,
        "icon_url": "https://storage.googleapis.com/bigcommerce-production-dev-center/images/bigcommerce_icon.svg",
        "is_listable_from_ui": true,
        "is_visible": true,
        "is_enabled": matches!(c.status.as_str(), "prelaunch" | "active" | "connected"),
        "date_created": created,
        "external_id": "",
        "type": "storefront",
        "platform": c.platform,
        "date_modified": modified,
        "name": c.name,
        "status": c.status,
    });
    if currencies && let Some(obj) = v.as_object_mut() {
        obj.insert("currencies".into(), currency_json(c));
    }
    v
}

fn currency_json(c: &ChannelSpec) -> Value {
    json!({
        "channel_id": c.id,
        "enabled_currencies": [c.currency],
        "default_currency": c.currency,
    })
}

fn guard<'a>(
    st: &'a State,
    auth: &Auth,
    req: &Incoming,
    scopes: &[&str],
) -> Result<&'a StoreSpec, Box<Resp>> {
    if req.method != Method::GET {
        return Err(Box::new(method_not_allowed(Area::V3)));
    }
    if !auth.has_any(scopes) {
        return Err(Box::new(forbidden(Area::V3)));
    }
    st.stores
        .get(&auth.store_hash)
        .map(|s| &s.spec)
        .ok_or_else(|| Box::new(not_found(Area::V3)))
}

/// The channel a path's `{id}` names.
fn channel_of<'a>(spec: &'a StoreSpec, id: &str) -> Option<&'a ChannelSpec> {
    id.parse::<u64>().ok().and_then(|id| spec.channel(id))
}

/// A `name:in` filter's values; values outside `allowed` (when given) are 422.
fn list_filter(
    req: &Incoming,
    name: &str,
    allowed: Option<&[&str]>,
) -> Result<Option<Vec<String>>, Box<Resp>> {
    let Some(raw) = req.query_param(name) else {
        return Ok(None);
    };
    let values: Vec<String> = raw
        .split(',')
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect();
    if let Some(allowed) = allowed
        && let Some(bad) = values.iter().find(|v| !allowed.contains(&v.as_str()))
    {
        return Err(Box::new(respond::v3_error_detailed(
            422,
            &format!("Query parameter \"{name}\" value \"{bad}\" is not valid."),
            Map::from_iter([(
                name.to_owned(),
                json!(format!("must be among: {}", allowed.join(", "))),
            )]),
        )));
    }
    Ok(Some(values))
}

/// `GET /v3/channels`.
pub(crate) fn collection(st: &State, auth: &Auth, req: &Incoming) -> Resp {
    let run = || -> Result<Resp, Box<Resp>> {
        let spec = guard(st, auth, req, &[CHANNEL_SCOPE])?;
        let paging = paging(req)?;
        let statuses = list_filter(req, "status:in", Some(&STATUSES))?;
        let types = list_filter(req, "type:in", Some(&TYPES))?;
        let platforms = list_filter(req, "platform:in", None)?;
        let available = match req.query_param("available").as_deref() {
            None => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(_) => {
                return Err(Box::new(respond::v3_error(
                    422,
                    "Query parameter \"available\" value must be true or false.",
                )));
            }
        };
        let currencies = req.query_param("include").as_deref() == Some("currencies");
        let items = spec
            .channels
            .iter()
            .filter(|c| statuses.as_ref().is_none_or(|s| s.contains(&c.status)))
            .filter(|_| {
                types
                    .as_ref()
                    .is_none_or(|t| t.iter().any(|t| t == "storefront"))
            })
            .filter(|c| platforms.as_ref().is_none_or(|p| p.contains(&c.platform)))
            .filter(|c| available.is_none_or(|a| a == AVAILABLE.contains(&c.status.as_str())))
            .map(|c| channel_json(st, spec, c, currencies))
            .collect();
        Ok(respond::json(200, &paginate(items, &paging)))
    };
    run().unwrap_or_else(|resp| *resp)
}

/// `GET /v3/channels/{id}`.
pub(crate) fn item(st: &State, auth: &Auth, req: &Incoming, id: &str) -> Resp {
    let spec = match guard(st, auth, req, &[CHANNEL_SCOPE]) {
        Ok(s) => s,
        Err(resp) => return *resp,
    };
    let Some(c) = channel_of(spec, id) else {
        return not_found(Area::V3);
    };
    let currencies = req.query_param("include").as_deref() == Some("currencies");
    respond::json(
        200,
        &json!({"data": channel_json(st, spec, c, currencies), "meta": {}}),
    )
}

/// `GET /v3/channels/{id}/site` (`Site`).
pub(crate) fn site(st: &State, auth: &Auth, req: &Incoming, id: &str) -> Resp {
    let spec = match guard(st, auth, req, &SITE_SCOPES) {
        Ok(s) => s,
        Err(resp) => return *resp,
    };
    let Some(c) = channel_of(spec, id) else {
        return not_found(Area::V3);
    };
    let Some(base) = st.channel_site_url(spec, c) else {
        return not_found(Area::V3);
    };
    let url = format!("{base}/");
    let data = json!({
        "id": SITE_ID + c.id - 1,
        "url": url,
        "channel_id": c.id,
        "created_at": CREATED,
        "updated_at": CREATED,
        "ssl_status": "shared",
        "urls": [
            {"url": url, "type": "primary", "created_at": CREATED, "updated_at": CREATED},
            {"url": url, "type": "canonical", "created_at": CREATED, "updated_at": CREATED},
            {"url": url, "type": "checkout", "created_at": CREATED, "updated_at": CREATED},
        ],
        "is_checkout_url_customized": false,
    });
    respond::json(200, &json!({"data": data, "meta": {}}))
}

/// `GET /v3/channels/{id}/active-theme` (`ActiveTheme`).
pub(crate) fn active_theme(st: &State, auth: &Auth, req: &Incoming, id: &str) -> Resp {
    let spec = match guard(st, auth, req, &[CHANNEL_SCOPE]) {
        Ok(s) => s,
        Err(resp) => return *resp,
    };
    match channel_of(spec, id).filter(|c| c.is_stencil()) {
        Some(c) => {
            let uuid = |prefix: &str| format!("{prefix}-{:012x}", c.id);
            let configuration = uuid("1c0962a0-9172-0139-70bc");
            respond::json(
                200,
                &json!({"data": {
                    "active_theme_uuid": uuid("e3d82ce0-9bae-0133-0de7"),
                    "active_theme_configuration_uuid": configuration,
                    "active_theme_version_uuid": uuid("b9911770-8a43-0139-f84a"),
                    "saved_theme_configuration_uuid": configuration,
                }, "meta": {}}),
            )
        }
        None => respond::v3_error(404, &format!("No active theme found with channel_id: {id}")),
    }
}

/// `GET /v3/channels/{id}/currency-assignments`.
pub(crate) fn currency_assignments(st: &State, auth: &Auth, req: &Incoming, id: &str) -> Resp {
    let spec = match guard(st, auth, req, &[CHANNEL_SCOPE]) {
        Ok(s) => s,
        Err(resp) => return *resp,
    };
    match channel_of(spec, id) {
        Some(c) => respond::json(200, &json!({"data": currency_json(c), "meta": {}})),
        None => not_found(Area::V3),
    }
}

/// `GET /v3/settings/store/locale[?channel_id=N]` [U].
pub(crate) fn store_locale(st: &State, auth: &Auth, req: &Incoming) -> Resp {
    let spec = match guard(st, auth, req, &[LOCALE_SCOPE]) {
        Ok(s) => s,
        Err(resp) => return *resp,
    };
    let id = req
        .query_param("channel_id")
        .unwrap_or_else(|| "1".to_owned());
    let Some(c) = channel_of(spec, id.trim()) else {
        return respond::v3_error_detailed(
            422,
            "Invalid channel_id",
            Map::from_iter([(
                "channel_id".to_owned(),
                json!("must be the id of a channel of the store"),
            )]),
        );
    };
    respond::json(
        200,
        &json!({"data": {
            "default_shopper_language": c.locale,
            "shopper_language_selection_method": "default_shopper_language",
            "store_country": spec.country,
        }, "meta": {}}),
    )
}
