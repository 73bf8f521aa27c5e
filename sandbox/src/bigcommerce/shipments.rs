//! Order shipments v2 (`orders.v2.oas2.yml` "Order Shipments", spec §3.3):
//! `GET|POST|DELETE /v2/orders/{id}/shipments`, `GET /v2/orders/{id}/shipments/count`,
//! `GET|PUT|DELETE /v2/orders/{id}/shipments/{shipment_id}`.
//!
//! Scope `store_v2_orders` (reads: its `_read_only`). An empty list is 204 (spec §3.1).
//! `POST` requires `order_address_id` (the order's shipping address) and `items`
//! (`order_product_id`, `quantity` ≥ 1, physical lines only, at most what is left to ship);
//! text fields keep the documented maximum lengths; anything else is refused with a v2 400
//! array naming every problem. Status moves and webhooks are `fulfilment.rs`'s.

use serde_json::{Map, Value, json};
use warp::http::Method;

use super::Incoming;
use super::api::{Area, Auth, forbidden, method_not_allowed, not_found};
use super::fulfilment::{self, OpError, parse_shipment};
use super::respond::{self, Resp};
use super::state::State;

const READ_SCOPE: &str = "store_v2_orders_read_only";
const WRITE_SCOPE: &str = "store_v2_orders";

fn v2_bad(messages: Vec<String>) -> Resp {
    let body: Vec<Value> = messages
        .into_iter()
        .map(|m| json!({"status": 400, "message": m}))
        .collect();
    respond::json(400, &Value::Array(body))
}

fn op_error(e: OpError) -> Resp {
    match e {
        OpError::NotFound => not_found(Area::V2),
        OpError::Invalid(messages) => v2_bad(messages),
    }
}

fn body_object(req: &Incoming) -> Result<Map<String, Value>, Box<Resp>> {
    match serde_json::from_slice::<Value>(&req.body) {
        Ok(Value::Object(obj)) => Ok(obj),
        _ => Err(Box::new(v2_bad(vec![
            "The request body is not a valid JSON object.".into(),
        ]))),
    }
}

/// The shipments of an order as JSON, `None` when there is no such order.
fn shipments_json(st: &State, auth: &Auth, order_id: &str) -> Option<Vec<Value>> {
    let id = order_id.parse::<u64>().ok()?;
    let order = st.stores.get(&auth.store_hash)?.commerce.orders.get(&id)?;
    Some(order.shipments.iter().map(|s| s.to_json(order)).collect())
}

/// `GET|POST|DELETE /v2/orders/{id}/shipments`.
pub(crate) fn collection(st: &mut State, auth: &Auth, req: &Incoming, order_id: &str) -> Resp {
    let scope = if req.method == Method::GET {
        READ_SCOPE
    } else {
        WRITE_SCOPE
    };
    if matches!(req.method, Method::GET | Method::POST | Method::DELETE) && !auth.has(scope) {
        return forbidden(Area::V2);
    }
    let Ok(id) = order_id.parse::<u64>() else {
        return not_found(Area::V2);
    };
    match req.method {
        Method::GET => {
            let (page, limit) = match paging(req) {
                Ok(p) => p,
                Err(resp) => return *resp,
            };
            match shipments_json(st, auth, order_id) {
                Some(list) => {
                    let rows: Vec<Value> = list
                        .into_iter()
                        .skip((page - 1).saturating_mul(limit))
                        .take(limit)
                        .collect();
                    if rows.is_empty() {
                        respond::no_content()
                    } else {
                        respond::json(200, &Value::Array(rows))
                    }
                }
                None => not_found(Area::V2),
            }
        }
        Method::POST => {
            if shipments_json(st, auth, order_id).is_none() {
                return not_found(Area::V2);
            }
            let body = match body_object(req) {
                Ok(b) => b,
                Err(resp) => return *resp,
            };
            let fields = match parse_shipment(&body, true) {
                Ok(f) => f,
                Err(errors) => return v2_bad(errors),
            };
            match fulfilment::create_shipment(st, &auth.store_hash, id, fields) {
                Ok(shipment_id) => one(st, auth, id, shipment_id, 201),
                Err(e) => op_error(e),
            }
        }
        Method::DELETE => match fulfilment::delete_shipments(st, &auth.store_hash, id, None) {
            Ok(()) => respond::no_content(),
            Err(e) => op_error(e),
        },
        _ => method_not_allowed(Area::V2),
    }
}

/// `page`/`limit` (default 1 and 50, `limit` at most 250).
fn paging(req: &Incoming) -> Result<(usize, usize), Box<Resp>> {
    let parse = |name: &str, default: usize| match req.query_param(name) {
        None => Ok(default),
        Some(v) => match v.trim().parse::<usize>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(Box::new(v2_bad(vec![format!(
                "The field '{name}' is invalid."
            )]))),
        },
    };
    Ok((parse("page", 1)?, parse("limit", 50)?.min(250)))
}

fn one(st: &State, auth: &Auth, order_id: u64, shipment_id: u64, status: u16) -> Resp {
    let found = st
        .stores
        .get(&auth.store_hash)
        .and_then(|s| s.commerce.orders.get(&order_id))
        .and_then(|o| {
            o.shipments
                .iter()
                .find(|s| s.id == shipment_id)
                .map(|s| s.to_json(o))
        });
    match found {
        Some(v) => respond::json(status, &v),
        None => not_found(Area::V2),
    }
}

/// `GET /v2/orders/{id}/shipments/count`.
pub(crate) fn count(st: &State, auth: &Auth, req: &Incoming, order_id: &str) -> Resp {
    if req.method != Method::GET {
        return method_not_allowed(Area::V2);
    }
    if !auth.has(READ_SCOPE) {
        return forbidden(Area::V2);
    }
    match shipments_json(st, auth, order_id) {
        Some(list) => respond::json(200, &json!({"count": list.len()})),
        None => not_found(Area::V2),
    }
}

/// `GET|PUT|DELETE /v2/orders/{id}/shipments/{shipment_id}`.
pub(crate) fn item(
    st: &mut State,
    auth: &Auth,
    req: &Incoming,
    order_id: &str,
    shipment_id: &str,
) -> Resp {
    let scope = if req.method == Method::GET {
        READ_SCOPE
    } else {
        WRITE_SCOPE
    };
    if !matches!(req.method, Method::GET | Method::PUT | Method::DELETE) {
        return method_not_allowed(Area::V2);
    }
    if !auth.has(scope) {
        return forbidden(Area::V2);
    }
    let (Ok(oid), Ok(sid)) = (order_id.parse::<u64>(), shipment_id.parse::<u64>()) else {
        return not_found(Area::V2);
    };
    match req.method {
        Method::GET => one(st, auth, oid, sid, 200),
        Method::PUT => {
            let exists = shipments_json(st, auth, order_id)
                .is_some_and(|list| list.iter().any(|s| s["id"] == sid));
            if !exists {
                return not_found(Area::V2);
            }
            let body = match body_object(req) {
                Ok(b) => b,
                Err(resp) => return *resp,
            };
            let fields = match parse_shipment(&body, false) {
                Ok(f) => f,
                Err(errors) => return v2_bad(errors),
            };
            match fulfilment::update_shipment(st, &auth.store_hash, oid, sid, fields) {
                Ok(()) => one(st, auth, oid, sid, 200),
                Err(e) => op_error(e),
            }
        }
        _ => match fulfilment::delete_shipments(st, &auth.store_hash, oid, Some(sid)) {
            Ok(()) => respond::no_content(),
            Err(e) => op_error(e),
        },
    }
}
