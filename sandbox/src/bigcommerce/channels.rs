//! Channels and sites v3 (`channels.v3.yml`, `sites.v3.yml`): `GET /v3/channels`,
//! `GET /v3/channels/{id}` and `GET /v3/channels/{id}/site`. Every store has one channel,
//! id 1, the storefront, whose site URL is the storefront URL of `/v2/store`.
//!
//! Scopes: channels need `store_channel_settings_read_only`; the site
//! `store_sites_read_only` [U: or the channel scope] (each modify scope covers its read).

use serde_json::{Value, json};
use warp::http::Method;

use super::api::{Area, Auth, forbidden, method_not_allowed, not_found, paginate, paging};
use super::respond::{self, Resp};
use super::state::State;
use super::{Incoming, StoreSpec};

const CHANNEL_SCOPE: &str = "store_channel_settings_read_only";
const SITE_SCOPES: [&str; 2] = ["store_sites_read_only", "store_channel_settings_read_only"];
/// The store's creation, fixed.
const CREATED: &str = "2024-01-15T10:00:00Z";
/// The storefront channel's site id (`default_site_id` in `/v2/store`).
const SITE_ID: u64 = 1000;

fn channel_json(spec: &StoreSpec) -> Value {
    json!({
        "id": 1,
        "icon_url": "https://storage.googleapis.com/bigcommerce-production-dev-center/images/bigcommerce_icon.svg",
        "is_listable_from_ui": true,
        "is_visible": true,
        "date_created": CREATED,
        "external_id": "",
        "type": "storefront",
        "platform": "bigcommerce",
        "date_modified": CREATED,
        "name": spec.name,
        "status": "active",
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

/// `GET /v3/channels`.
pub(crate) fn collection(st: &State, auth: &Auth, req: &Incoming) -> Resp {
    let run = || -> Result<Resp, Box<Resp>> {
        let spec = guard(st, auth, req, &[CHANNEL_SCOPE])?;
        let paging = paging(req)?;
        Ok(respond::json(
            200,
            &paginate(vec![channel_json(spec)], &paging),
        ))
    };
    run().unwrap_or_else(|resp| *resp)
}

/// `GET /v3/channels/{id}`.
pub(crate) fn item(st: &State, auth: &Auth, req: &Incoming, id: &str) -> Resp {
    let spec = match guard(st, auth, req, &[CHANNEL_SCOPE]) {
        Ok(s) => s,
        Err(resp) => return *resp,
    };
    if id != "1" {
        return not_found(Area::V3);
    }
    respond::json(200, &json!({"data": channel_json(spec), "meta": {}}))
}

/// `GET /v3/channels/{id}/site` (`Site`).
pub(crate) fn site(st: &State, auth: &Auth, req: &Incoming, id: &str) -> Resp {
    let spec = match guard(st, auth, req, &SITE_SCOPES) {
        Ok(s) => s,
        Err(resp) => return *resp,
    };
    if id != "1" {
        return not_found(Area::V3);
    }
    let url = format!("{}/", st.storefront_url(spec));
    let data = json!({
        "id": SITE_ID,
        "url": url,
        "channel_id": 1,
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
