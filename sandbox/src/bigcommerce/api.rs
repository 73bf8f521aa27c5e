//! The management API under `/stores/{hash}`: authentication by `X-Auth-Token`, scope
//! checks, rate-limit headers (spec §7), routing of v2, v3 and GraphQL, and the store
//! information endpoints (`store_information.v2.yml`). Order statuses, shipping zones and
//! the catalog live in their own modules.

use serde_json::{Map, Value, json};
use warp::http::{HeaderValue, Method};

use super::respond::{self, Resp};
use super::state::{RateInfo, State, has_scope, now_unix};
use super::{
    Incoming, Shared, catalog, channels, checkouts, graphql, hooks, metafields, order_statuses,
    orders, refunds, scripts, shipments, shipping,
};

/// The caller, as identified by its token.
pub(crate) struct Auth {
    pub store_hash: String,
    pub client_id: String,
    pub scopes: Vec<String>,
}

impl Auth {
    pub fn has(&self, scope: &str) -> bool {
        has_scope(&self.scopes, scope)
    }

    pub fn has_any(&self, scopes: &[&str]) -> bool {
        scopes.iter().any(|s| self.has(s))
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Area {
    V2,
    V3,
    GraphQl,
}

pub(crate) const V3_401: &str = "Unauthorized - the v3 Auth client ID or token in the request are not a valid combination for this store.";
pub(crate) const V3_403: &str =
    "Unauthorized Access. You do not have permission to make this request.";
const V2_403: &str = "You don't have a required scope to access the endpoint";
pub(crate) const V3_404: &str = "The requested resource was not found.";
const V2_404: &str = "The requested resource was not found.";

/// 401 in the area's shape.
fn unauthorized(area: Area, missing: bool) -> Resp {
    match area {
        Area::V2 => respond::v2_error(
            401,
            if missing {
                "No credentials were supplied in the request."
            } else {
                "Invalid credentials. The token is not valid for this store."
            },
        ),
        // [U] GraphQL answers auth failures with 401; the v3 body is used.
        Area::V3 | Area::GraphQl => respond::v3_error(401, V3_401),
    }
}

/// 403 (missing scope) in the area's shape.
pub(crate) fn forbidden(area: Area) -> Resp {
    match area {
        Area::V2 => respond::v2_error(403, V2_403),
        Area::V3 | Area::GraphQl => respond::v3_error(403, V3_403),
    }
}

pub(crate) fn not_found(area: Area) -> Resp {
    match area {
        Area::V2 => respond::v2_error(404, V2_404),
        Area::V3 | Area::GraphQl => respond::v3_error(404, V3_404),
    }
}

pub(crate) fn method_not_allowed(area: Area) -> Resp {
    match area {
        Area::V2 => respond::v2_error(405, "The requested method is not supported."),
        Area::V3 | Area::GraphQl => {
            respond::v3_error(405, "The requested method is not supported.")
        }
    }
}

pub(crate) fn add_rate_headers(resp: &mut Resp, rate: &RateInfo, retry_after: bool) {
    let h = resp.headers_mut();
    let mut put = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    };
    put("x-rate-limit-time-window-ms", "30000".to_owned());
    put("x-rate-limit-time-reset-ms", rate.reset_ms.to_string());
    put("x-rate-limit-requests-quota", rate.quota.to_string());
    put("x-rate-limit-requests-left", rate.left.to_string());
    if retry_after {
        put(
            "x-retry-after",
            rate.reset_ms.div_ceil(1000).max(1).to_string(),
        );
    }
}

fn authenticate(st: &State, store_hash: &str, req: &Incoming) -> Result<Auth, bool> {
    let Some(token) = req.header("x-auth-token").filter(|t| !t.is_empty()) else {
        return Err(true);
    };
    match st.tokens.get(token) {
        Some(t) if !t.revoked && t.store_hash == store_hash => Ok(Auth {
            store_hash: t.store_hash.clone(),
            client_id: t.client_id.clone(),
            scopes: t.scopes.clone(),
        }),
        _ => Err(false),
    }
}

/// Everything under `/stores/{store_hash}/`.
pub(crate) fn handle(shared: &Shared, req: &Incoming, store_hash: &str, rest: &[&str]) -> Resp {
    let mut st = shared.lock();
    let area = match rest {
        ["v2", ..] => Area::V2,
        ["v3", ..] => Area::V3,
        ["graphql"] => Area::GraphQl,
        _ => {
            let rate = st.rate_tick(store_hash, false);
            let mut resp = not_found(Area::V3);
            add_rate_headers(&mut resp, &rate, false);
            return resp;
        }
    };
    let auth = match authenticate(&st, store_hash, req) {
        Ok(a) => a,
        Err(missing) => {
            let rate = st.rate_tick(store_hash, false);
            let mut resp = unauthorized(area, missing);
            add_rate_headers(&mut resp, &rate, false);
            return resp;
        }
    };
    let rate = st.rate_tick(store_hash, true);
    if rate.exceeded {
        *st.rate_refused.entry(store_hash.to_owned()).or_default() += 1;
        let mut resp = match area {
            Area::V2 => respond::v2_error(429, "Too many requests."),
            _ => respond::v3_error(429, "Too many requests."),
        };
        add_rate_headers(&mut resp, &rate, true);
        return resp;
    }
    let mut resp = match area {
        Area::V2 => v2(&mut st, &auth, req, &rest[1..]),
        Area::V3 => v3(&mut st, &auth, req, &rest[1..]),
        Area::GraphQl => graphql::handle(&mut st, &auth, req),
    };
    add_rate_headers(&mut resp, &rate, false);
    resp
}

fn v2(st: &mut State, auth: &Auth, req: &Incoming, path: &[&str]) -> Resp {
    match path {
        ["store"] => {
            if req.method != Method::GET {
                return method_not_allowed(Area::V2);
            }
            if !auth.has_any(&["store_v2_information_read_only", "store_v2_default"]) {
                return forbidden(Area::V2);
            }
            match st.stores.get(&auth.store_hash) {
                Some(store) => respond::json(200, &store_information(st, &store.spec)),
                None => not_found(Area::V2),
            }
        }
        ["time"] => {
            if req.method != Method::GET {
                return method_not_allowed(Area::V2);
            }
            respond::json(200, &json!({"time": now_unix()}))
        }
        ["order_statuses"] => order_statuses::collection(st, auth, req),
        ["order_statuses", id] => order_statuses::item(st, auth, req, id),
        ["shipping", "zones"] => shipping::zones(st, auth, req),
        ["orders"] => orders::list(st, auth, req),
        ["orders", id] => orders::item(st, auth, req, id),
        ["orders", id, "products"] => orders::products(st, auth, req, id),
        ["orders", id, "shipping_addresses"] => orders::shipping_addresses(st, auth, req, id),
        ["orders", id, "shipments"] => shipments::collection(st, auth, req, id),
        ["orders", id, "shipments", "count"] => shipments::count(st, auth, req, id),
        ["orders", id, "shipments", sid] => shipments::item(st, auth, req, id, sid),
        ["customers", id] => orders::customer(st, auth, req, id),
        _ => not_found(Area::V2),
    }
}

fn v3(st: &mut State, auth: &Auth, req: &Incoming, path: &[&str]) -> Resp {
    match path {
        ["hooks"] => hooks::collection(st, auth, req),
        ["hooks", "admin"] => hooks::admin(st, auth, req),
        ["hooks", id] => hooks::item(st, auth, req, id),
        ["content", "scripts"] => scripts::collection(st, auth, req),
        ["content", "scripts", uuid] => scripts::item(st, auth, req, uuid),
        ["catalog", "products"] => catalog::products(st, auth, req),
        ["catalog", "categories"] => catalog::categories(st, auth, req),
        ["checkouts", "settings"] => checkouts::settings(st, auth, req),
        ["checkouts", "settings", "channels", id] => checkouts::channel_settings(st, auth, req, id),
        ["checkouts", id] => checkouts::checkout(st, auth, req, id),
        ["checkouts", id, "orders"] => checkouts::create_order(st, auth, req, id),
        ["checkouts", id, "token"] => checkouts::token(st, auth, req, id),
        ["carts", id] => checkouts::cart(st, auth, req, id),
        ["orders", "payment_actions", "refunds"] => refunds::all(st, auth, req),
        ["orders", "payment_actions", "refunds", id] => refunds::one(st, auth, req, id),
        ["orders", id, "payment_actions", "refund_quotes"] => refunds::quotes(st, auth, req, id),
        ["orders", id, "payment_actions", "refunds"] => refunds::order_refunds(st, auth, req, id),
        ["orders", id, "metafields"] => metafields::collection(st, auth, req, id),
        ["orders", id, "metafields", mid] => metafields::item(st, auth, req, id, mid),
        ["channels"] => channels::collection(st, auth, req),
        ["channels", id] => channels::item(st, auth, req, id),
        ["channels", id, "site"] => channels::site(st, auth, req, id),
        ["channels", id, "active-theme"] => channels::active_theme(st, auth, req, id),
        ["channels", id, "currency-assignments"] => {
            channels::currency_assignments(st, auth, req, id)
        }
        ["settings", "store", "locale"] => channels::store_locale(st, auth, req),
        _ => not_found(Area::V3),
    }
}

/// `GET /v2/store` (`StoreInformation`).
fn store_information(st: &State, s: &super::StoreSpec) -> Value {
    let secure_url = st.storefront_url(s);
    let (raw_offset, dst_offset, dst) = match s.timezone.as_str() {
        "Europe/Madrid" | "Europe/Paris" | "Europe/Rome" | "Europe/Berlin" => (3600, 7200, true),
        "Europe/Lisbon" | "Europe/London" => (0, 3600, true),
        _ => (0, 0, false),
    };
    let timezone = json!({
        "name": s.timezone,
        "raw_offset": raw_offset,
        "dst_offset": dst_offset,
        "dst_correction": dst,
        "date_format": {"display": "jS M Y", "export": "d/m/Y", "extended_display": "jS M Y @ G:i"},
    });
    let features = json!({
        "stencil_enabled": true,
        "sitewidehttps_enabled": true,
        "facebook_catalog_id": "",
        "checkout_type": "optimized",
        "wishlists_enabled": false,
        "graphql_storefront_api_enabled": true,
        "shopper_consent_tracking_enabled": true,
        "multi_storefront_enabled": s.channels.len() > 1,
        "storefront_limits": {
            "active": s.channels.iter().filter(|c| c.status == "active").count(),
            "total_including_inactive": s.channels.iter().filter(|c| !c.is_gone()).count(),
        },
    });
    let identity = json!({
        "id": s.hash,
        "account_uuid": st.account_uuid,
        "domain": s.domain,
        "secure_url": secure_url,
        "control_panel_base_url": format!("https://store-{}.mybigcommerce.com", s.hash),
        "status": "live",
        "name": s.name,
        "first_name": "Ana",
        "last_name": "García",
        "address": format!("{}\nCalle Mayor 1\n28013 Madrid", s.name),
        "country": s.country,
        "country_code": s.country_code,
        "infrastructure_region": "europe-west1",
        "phone": "+34 910 000 000",
        "admin_email": s.owner.email,
        "order_email": format!("pedidos@{}", s.domain),
        "favicon_url": "",
        "store_id": s.store_id,
        "default_channel_id": 1,
        "default_site_id": 1000,
    });
    let settings = json!({
        "timezone": timezone,
        "language": s.language,
        "currency": s.currency,
        "currency_symbol": if s.currency == "EUR" { "€" } else { "$" },
        "decimal_separator": ",",
        "thousands_separator": ".",
        "decimal_places": 2,
        "currency_symbol_location": "right",
        "weight_units": "kg",
        "dimension_units": "Centimeters",
        "dimension_decimal_places": 2,
        "dimension_decimal_token": ",",
        "dimension_thousands_token": ".",
        "plan_name": "Pro",
        "plan_level": "Pro",
        "plan_is_trial": false,
        "industry": "Fashion",
        "logo": [],
        "is_price_entered_with_tax": true,
        "active_comparison_modules": [],
        "features": features,
    });
    let mut out = identity;
    if let (Some(o), Value::Object(more)) = (out.as_object_mut(), settings) {
        o.extend(more);
    }
    out
}

/// The JSON object body of a v3 write; malformed → 400 `Input is invalid.` (webhooks.v3.yml).
pub(crate) fn json_object(req: &Incoming) -> Result<Map<String, Value>, Box<Resp>> {
    match serde_json::from_slice::<Value>(&req.body) {
        Ok(Value::Object(obj)) => Ok(obj),
        _ => Err(Box::new(respond::v3_error(400, "Input is invalid."))),
    }
}

/// `page`/`limit` of a v3 collection (default 1/50, limit at most 250 [U]).
pub(crate) struct Paging {
    pub page: usize,
    pub limit: usize,
}

pub(crate) fn paging(req: &Incoming) -> Result<Paging, Box<Resp>> {
    let parse = |name: &str, default: usize| -> Result<usize, Box<Resp>> {
        match req.query_param(name) {
            None => Ok(default),
            Some(v) => match v.parse::<usize>() {
                Ok(n) if n >= 1 => Ok(n),
                _ => Err(Box::new(respond::v3_error_detailed(
                    422,
                    "Invalid query parameter",
                    Map::from_iter([(name.to_owned(), json!("must be a positive integer"))]),
                ))),
            },
        }
    };
    Ok(Paging {
        page: parse("page", 1)?,
        limit: parse("limit", 50)?.min(250),
    })
}

/// `{data, meta: {pagination}}` with links as query strings (`?page=1&limit=50`).
pub(crate) fn paginate(items: Vec<Value>, paging: &Paging) -> Value {
    let total = items.len();
    let total_pages = total.div_ceil(paging.limit);
    let data: Vec<Value> = items
        .into_iter()
        .skip((paging.page - 1).saturating_mul(paging.limit))
        .take(paging.limit)
        .collect();
    let link = |p: usize| format!("?page={p}&limit={}", paging.limit);
    let mut links = Map::new();
    if paging.page > 1 {
        links.insert("previous".into(), json!(link(paging.page - 1)));
    }
    links.insert("current".into(), json!(link(paging.page)));
    if paging.page < total_pages {
        links.insert("next".into(), json!(link(paging.page + 1)));
    }
    json!({
        "data": data,
        "meta": {"pagination": {
            "total": total,
            "count": data.len(),
            "per_page": paging.limit,
            "current_page": paging.page,
            "total_pages": total_pages,
            "links": links,
        }},
    })
}
