//! Order metafields v3 (`orders.v3.yml`): `GET|POST /v3/orders/{id}/metafields`,
//! `GET|PUT|DELETE /v3/orders/{id}/metafields/{metafield_id}`. Scopes: `store_v2_orders`
//! (reads: its `_read_only`).
//!
//! A metafield belongs to the client that created it. `app_only` ones are invisible to other
//! clients (404); `read` and `read_and_sf_access` ones are visible but not writable by them
//! (403 [U]); `write` and `write_and_sf_access` ones are open to all. A client cannot have
//! two metafields with the same namespace and key on one order (409, as the reference says),
//! nor more than 250 on one order (422).
//!
//! List filters modelled: `key`, `namespace`, `page`, `limit`; others are ignored.

use serde_json::{Map, Value, json};
use warp::http::Method;

use super::Incoming;
use super::api::{Area, Auth, forbidden, json_object, method_not_allowed, paginate, paging};
use super::commerce::{Commerce, MAX_METAFIELDS, MetafieldRec};
use super::respond::{self, Resp};
use super::state::{State, now_rfc3339};

const READ_SCOPE: &str = "store_v2_orders_read_only";
const WRITE_SCOPE: &str = "store_v2_orders";
const PERMISSION_SETS: [&str; 5] = [
    "app_only",
    "read",
    "write",
    "read_and_sf_access",
    "write_and_sf_access",
];
const INVALID_TITLE: &str = "JSON data is missing or invalid";

fn not_found() -> Resp {
    respond::v3_error(404, super::api::V3_404)
}

/// The store's commerce and the order id, when the order exists.
fn order<'a>(st: &'a mut State, auth: &Auth, order_id: &str) -> Option<(&'a mut Commerce, u64)> {
    let id = order_id.parse::<u64>().ok()?;
    let commerce = &mut st.stores.get_mut(&auth.store_hash)?.commerce;
    commerce.orders.contains_key(&id).then_some((commerce, id))
}

/// The validated fields of a metafield write.
struct Fields {
    permission_set: String,
    namespace: String,
    key: String,
    value: String,
    description: String,
}

fn validate(obj: &Map<String, Value>) -> Result<Fields, Map<String, Value>> {
    let mut errors = Map::new();
    let mut text = |field: &str, min: usize, max: usize, required: bool| -> String {
        match obj.get(field) {
            None | Some(Value::Null) if !required => String::new(),
            None | Some(Value::Null) => {
                errors.insert(field.to_owned(), json!(format!("{field} is required")));
                String::new()
            }
            Some(Value::String(s)) if (min..=max).contains(&s.chars().count()) => s.clone(),
            Some(_) => {
                errors.insert(
                    field.to_owned(),
                    json!(format!(
                        "{field} must be a string of {min} to {max} characters"
                    )),
                );
                String::new()
            }
        }
    };
    let namespace = text("namespace", 1, 64, true);
    let key = text("key", 1, 64, true);
    let value = text("value", 1, 65_535, true);
    let description = text("description", 0, 255, false);
    let permission_set = match obj.get("permission_set") {
        Some(Value::String(p)) if PERMISSION_SETS.contains(&p.as_str()) => p.clone(),
        None | Some(Value::Null) => {
            errors.insert("permission_set".into(), json!("permission_set is required"));
            String::new()
        }
        Some(_) => {
            errors.insert(
                "permission_set".into(),
                json!(format!("must be one of: {}", PERMISSION_SETS.join(", "))),
            );
            String::new()
        }
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Fields {
        permission_set,
        namespace,
        key,
        value,
        description,
    })
}

fn conflict() -> Resp {
    respond::v3_error_detailed(
        409,
        "The metafield conflicts with another metafield: a client can have one metafield per namespace and key on a resource.",
        Map::new(),
    )
}

fn one(m: &MetafieldRec) -> Resp {
    respond::json(200, &json!({"data": m.to_json(), "meta": {}}))
}

/// `GET|POST /v3/orders/{order_id}/metafields`.
pub(crate) fn collection(st: &mut State, auth: &Auth, req: &Incoming, order_id: &str) -> Resp {
    let scope = match req.method {
        Method::GET => READ_SCOPE,
        Method::POST => WRITE_SCOPE,
        _ => return method_not_allowed(Area::V3),
    };
    if !auth.has(scope) {
        return forbidden(Area::V3);
    }
    let Some((commerce, order_id)) = order(st, auth, order_id) else {
        return not_found();
    };
    if req.method == Method::GET {
        let paging = match paging(req) {
            Ok(p) => p,
            Err(resp) => return *resp,
        };
        let key = req.query_param("key");
        let namespace = req.query_param("namespace");
        let items = commerce
            .metafields
            .iter()
            .filter(|m| m.order_id == order_id && m.visible_to(&auth.client_id))
            .filter(|m| key.as_ref().is_none_or(|k| &m.key == k))
            .filter(|m| namespace.as_ref().is_none_or(|n| &m.namespace == n))
            .map(MetafieldRec::to_json)
            .collect();
        return respond::json(200, &paginate(items, &paging));
    }
    let obj = match json_object(req) {
        Ok(o) => o,
        Err(resp) => return *resp,
    };
    let f = match validate(&obj) {
        Ok(f) => f,
        Err(errors) => return respond::v3_error_detailed(422, INVALID_TITLE, errors),
    };
    let own = || {
        commerce
            .metafields
            .iter()
            .filter(|m| m.order_id == order_id && m.client_id == auth.client_id)
    };
    if own().any(|m| m.namespace == f.namespace && m.key == f.key) {
        return conflict();
    }
    if own().count() >= MAX_METAFIELDS {
        return respond::v3_error_detailed(
            422,
            "The maximum number of metafields for this resource has been reached.",
            Map::from_iter([(
                "metafields".to_owned(),
                json!(format!("at most {MAX_METAFIELDS} per client on one order")),
            )]),
        );
    }
    let now = now_rfc3339();
    let m = MetafieldRec {
        id: commerce.next_metafield_id,
        order_id,
        client_id: auth.client_id.clone(),
        permission_set: f.permission_set,
        namespace: f.namespace,
        key: f.key,
        value: f.value,
        description: f.description,
        date_created: now.clone(),
        date_modified: now,
    };
    commerce.next_metafield_id += 1;
    let resp = one(&m);
    commerce.metafields.push(m);
    resp
}

/// `GET|PUT|DELETE /v3/orders/{order_id}/metafields/{metafield_id}`.
pub(crate) fn item(
    st: &mut State,
    auth: &Auth,
    req: &Incoming,
    order_id: &str,
    metafield_id: &str,
) -> Resp {
    let scope = match req.method {
        Method::GET => READ_SCOPE,
        Method::PUT | Method::DELETE => WRITE_SCOPE,
        _ => return method_not_allowed(Area::V3),
    };
    if !auth.has(scope) {
        return forbidden(Area::V3);
    }
    let Some((commerce, order_id)) = order(st, auth, order_id) else {
        return not_found();
    };
    let Some(idx) = metafield_id.parse::<u64>().ok().and_then(|id| {
        commerce
            .metafields
            .iter()
            .position(|m| m.id == id && m.order_id == order_id && m.visible_to(&auth.client_id))
    }) else {
        return not_found();
    };
    let writable = {
        let m = &commerce.metafields[idx];
        m.client_id == auth.client_id || m.permission_set.starts_with("write")
    };
    match req.method {
        Method::GET => one(&commerce.metafields[idx]),
        _ if !writable => forbidden(Area::V3),
        Method::DELETE => {
            commerce.metafields.remove(idx);
            respond::no_content()
        }
        _ => {
            let put = match json_object(req) {
                Ok(o) => o,
                Err(resp) => return *resp,
            };
            let current = commerce.metafields[idx].to_json();
            let mut merged: Map<String, Value> =
                ["permission_set", "namespace", "key", "value", "description"]
                    .iter()
                    .filter_map(|k| current.get(*k).map(|v| ((*k).to_owned(), v.clone())))
                    .collect();
            for (k, v) in put {
                if merged.contains_key(&k) {
                    merged.insert(k, v);
                }
            }
            let f = match validate(&merged) {
                Ok(f) => f,
                Err(errors) => return respond::v3_error_detailed(422, INVALID_TITLE, errors),
            };
            let (owner, id) = {
                let m = &commerce.metafields[idx];
                (m.client_id.clone(), m.id)
            };
            if commerce.metafields.iter().any(|m| {
                m.id != id
                    && m.order_id == order_id
                    && m.client_id == owner
                    && m.namespace == f.namespace
                    && m.key == f.key
            }) {
                return conflict();
            }
            let m = &mut commerce.metafields[idx];
            m.permission_set = f.permission_set;
            m.namespace = f.namespace;
            m.key = f.key;
            m.value = f.value;
            m.description = f.description;
            m.date_modified = now_rfc3339();
            one(m)
        }
    }
}
