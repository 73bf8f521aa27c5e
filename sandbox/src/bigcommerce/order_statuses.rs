//! `GET /v2/order_statuses` and `GET /v2/order_statuses/{id}` (orders.v2.oas2.yml
//! `orderStatus_Base`, spec §3.4). Scope: `store_v2_orders_read_only` (or `store_v2_orders`).

use serde_json::{Value, json};
use warp::http::Method;

use super::Incoming;
use super::StoreSpec;
use super::api::{Area, Auth, forbidden, method_not_allowed, not_found};
use super::respond::{self, Resp};
use super::state::State;

/// `(id, system label, system description, order)`. The descriptions are the spec's table;
/// `order` (the control panel's sort position) is the one of the spec's example response.
const STATUSES: [(u32, &str, &str, u32); 15] = [
    (
        0,
        "Incomplete",
        "An incomplete order happens when a shopper reached the payment page, but did not complete the transaction.",
        0,
    ),
    (
        1,
        "Pending",
        "Customer started the checkout process, but did not complete it.",
        1,
    ),
    (
        2,
        "Shipped",
        "Order has been shipped, but receipt has not been confirmed; seller has used the Ship Items action.",
        8,
    ),
    (
        3,
        "Partially Shipped",
        "Only some items in the order have been shipped, due to some products being pre-order only or other reasons.",
        6,
    ),
    (4, "Refunded", "Seller has used the Refund action.", 11),
    (
        5,
        "Cancelled",
        "Seller has cancelled an order, due to a stock inconsistency or other reasons.",
        9,
    ),
    (
        6,
        "Declined",
        "Seller has marked the order as declined for lack of manual payment, or other reasons.",
        10,
    ),
    (
        7,
        "Awaiting Payment",
        "Customer has completed checkout process, but payment has yet to be confirmed.",
        2,
    ),
    (
        8,
        "Awaiting Pickup",
        "Order has been pulled, and is awaiting customer pickup from a seller-specified location.",
        5,
    ),
    (
        9,
        "Awaiting Shipment",
        "Order has been pulled and packaged, and is awaiting collection from a shipping provider.",
        4,
    ),
    (
        10,
        "Completed",
        "Client has paid for their digital product and their file(s) are available for download.",
        7,
    ),
    (
        11,
        "Awaiting Fulfillment",
        "Customer has completed the checkout process and payment has been confirmed.",
        3,
    ),
    (
        12,
        "Manual Verification Required",
        "Order is on hold while some aspect needs to be manually confirmed.",
        13,
    ),
    (
        13,
        "Disputed",
        "Customer has initiated a dispute resolution process for the PayPal transaction that paid for the order.",
        12,
    ),
    (
        14,
        "Partially Refunded",
        "Seller has partially refunded the order.",
        14,
    ),
];

const READ_SCOPES: [&str; 2] = ["store_v2_orders_read_only", "store_v2_orders"];

/// The system name of a status id (`None` for an id BigCommerce does not have).
pub(crate) fn system_name(id: u32) -> Option<&'static str> {
    STATUSES.iter().find(|s| s.0 == id).map(|s| s.1)
}

/// The name a shopper sees: the merchant's label, else the system name.
pub(crate) fn label(spec: &StoreSpec, id: u32) -> Option<String> {
    let name = system_name(id)?;
    Some(
        spec.order_status_labels
            .iter()
            .rev()
            .find(|(i, l)| *i == id && !l.trim().is_empty())
            .map(|(_, l)| l.clone())
            .unwrap_or_else(|| name.to_owned()),
    )
}

/// `orderStatus_Base` plus `order`. A blank custom label shows the system label [U].
fn to_json(spec: &StoreSpec, (id, name, description, order): (u32, &str, &str, u32)) -> Value {
    let custom = spec
        .order_status_labels
        .iter()
        .rev()
        .find(|(i, label)| *i == id && !label.trim().is_empty())
        .map(|(_, label)| label.as_str())
        .unwrap_or(name);
    json!({
        "id": id,
        "name": name,
        "system_label": name,
        "custom_label": custom,
        "system_description": description,
        "order": order,
    })
}

/// Method and scope checks shared by both endpoints; the store's spec when they pass.
fn guard<'a>(st: &'a State, auth: &Auth, req: &Incoming) -> Result<&'a StoreSpec, Box<Resp>> {
    if req.method != Method::GET {
        return Err(Box::new(method_not_allowed(Area::V2)));
    }
    if !auth.has_any(&READ_SCOPES) {
        return Err(Box::new(forbidden(Area::V2)));
    }
    st.stores
        .get(&auth.store_hash)
        .map(|s| &s.spec)
        .ok_or_else(|| Box::new(not_found(Area::V2)))
}

/// `GET /v2/order_statuses`: all 15, by id.
pub(crate) fn collection(st: &State, auth: &Auth, req: &Incoming) -> Resp {
    let spec = match guard(st, auth, req) {
        Ok(s) => s,
        Err(resp) => return *resp,
    };
    let all: Vec<Value> = STATUSES.iter().map(|s| to_json(spec, *s)).collect();
    respond::json(200, &Value::Array(all))
}

/// `GET /v2/order_statuses/{id}`; an unknown or non-numeric id is 404.
pub(crate) fn item(st: &State, auth: &Auth, req: &Incoming, id: &str) -> Resp {
    let spec = match guard(st, auth, req) {
        Ok(s) => s,
        Err(resp) => return *resp,
    };
    match id
        .parse::<u32>()
        .ok()
        .and_then(|id| STATUSES.iter().find(|(i, ..)| *i == id))
    {
        Some(status) => respond::json(200, &to_json(spec, *status)),
        None => not_found(Area::V2),
    }
}
