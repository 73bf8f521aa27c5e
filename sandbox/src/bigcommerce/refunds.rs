//! Refunds v3 (`orders.v3.yml` "Payment Actions", spec §3.5):
//! `POST /v3/orders/{id}/payment_actions/refund_quotes`,
//! `POST|GET /v3/orders/{id}/payment_actions/refunds`,
//! `GET /v3/orders/payment_actions/refunds/{refund_id}` and
//! `GET /v3/orders/payment_actions/refunds` (`order_id:in`, `id:in`, `created:min|max`,
//! `page`, `limit`).
//!
//! Scopes: writes `store_v2_orders` or `store_v2_transactions`, reads their `_read_only`.
//! Amounts are JSON numbers with at most two decimals, read exactly (never through `f64`
//! arithmetic). A refund's `payments` must add up to its total. What is refused is 422:
//! refund creation with the documented `{"data": [error]}` wrapper, quotes with the plain
//! `ErrorResponse` of `422_UnprocessableEntity`, each with an `errors` object naming the
//! fields. [U] A `tax_adjustment_amount` refund is refused: stand-in orders never have
//! overcharged tax. The lists answer `{data, meta}` (the global one with `meta.pagination`).

use serde_json::{Map, Value, json};
use warp::http::Method;

use super::Incoming;
use super::api::{
    Area, Auth, forbidden, json_object, method_not_allowed, not_found, paginate, paging,
};
use super::fulfilment::{self, PaymentIn, RefundError, RefundItemIn, RefundRequest, Unprocessable};
use super::respond::{self, ERROR_TYPE, Resp};
use super::state::State;
use crate::common::ten_thousandths;

const READ_SCOPES: [&str; 2] = [
    "store_v2_orders_read_only",
    "store_v2_transactions_read_only",
];
const WRITE_SCOPES: [&str; 2] = ["store_v2_orders", "store_v2_transactions"];
const INVALID_TITLE: &str = "JSON data is missing or invalid";

/// A v3 amount in ten-thousandths: a JSON number with at most two decimals.
pub(crate) fn v3_amount(v: &Value) -> Option<i64> {
    let Value::Number(n) = v else {
        return None;
    };
    ten_thousandths(&n.to_string()).filter(|tt| tt % 100 == 0)
}

/// Parses `items` (and, for refunds, `payments` and `merchant_calculated_override`).
fn parse_request(
    body: &Map<String, Value>,
    order_id: u64,
    with_payments: bool,
) -> Result<RefundRequest, Unprocessable> {
    let mut errors = Map::new();
    let mut req = RefundRequest::default();
    let mut bad = |k: String, m: &str| {
        errors.insert(k, json!(m));
    };
    let known: &[&str] = if with_payments {
        &[
            "items",
            "payments",
            "merchant_calculated_override",
            "tax_adjustment_amount",
            "order_id",
        ]
    } else {
        &["items", "tax_adjustment_amount", "order_id"]
    };
    for k in body.keys().filter(|k| !known.contains(&k.as_str())) {
        bad(k.clone(), "error.path.unknown");
    }
    if let Some(v) = body.get("order_id")
        && v.as_u64() != Some(order_id)
    {
        bad("order_id".into(), "must be the order id of the path");
    }
    match body.get("tax_adjustment_amount") {
        None => {}
        Some(v) if v3_amount(v) == Some(0) && body.contains_key("items") => {}
        Some(_) => {
            return Err(Unprocessable::new(format!(
                "Order {order_id} has no overcharged tax to refund."
            )));
        }
    }
    match body.get("items") {
        None => bad("items".into(), "error.path.missing"),
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                match parse_item(item) {
                    Ok(it) => req.items.push(it),
                    Err((field, message)) => bad(format!("items.{i}.{field}"), message),
                }
            }
        }
        Some(_) => bad("items".into(), "error.expected.jsarray"),
    }
    if with_payments {
        match body.get("payments") {
            None => bad("payments".into(), "error.path.missing"),
            Some(Value::Array(list)) => {
                for (i, p) in list.iter().enumerate() {
                    match parse_payment(p) {
                        Ok(p) => req.payments.push(p),
                        Err((field, message)) => bad(format!("payments.{i}.{field}"), message),
                    }
                }
            }
            Some(_) => bad("payments".into(), "error.expected.jsarray"),
        }
        match body.get("merchant_calculated_override") {
            None | Some(Value::Null) => {}
            Some(Value::Object(o)) => {
                match (
                    o.get("total_amount").and_then(v3_amount),
                    o.get("total_tax").and_then(v3_amount),
                ) {
                    (Some(t), Some(tax)) => req.merchant_override = Some((t, tax)),
                    _ => bad(
                        "merchant_calculated_override".into(),
                        "total_amount and total_tax must be non-negative amounts with 2 decimals",
                    ),
                }
            }
            Some(_) => bad(
                "merchant_calculated_override".into(),
                "error.expected.jsobject",
            ),
        }
    }
    if errors.is_empty() {
        Ok(req)
    } else {
        Err(Unprocessable {
            title: INVALID_TITLE.into(),
            errors,
        })
    }
}

fn reason(obj: &Map<String, Value>) -> Result<String, (&'static str, &'static str)> {
    match obj.get("reason") {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) if s.chars().count() <= 1000 => Ok(s.clone()),
        Some(_) => Err(("reason", "must be a string of at most 1000 characters")),
    }
}

fn parse_item(item: &Value) -> Result<RefundItemIn, (&'static str, &'static str)> {
    let obj = item
        .as_object()
        .ok_or(("item_type", "error.expected.jsobject"))?;
    let kind = obj
        .get("item_type")
        .and_then(Value::as_str)
        .ok_or(("item_type", "error.path.missing"))?;
    let id = obj
        .get("item_id")
        .and_then(Value::as_u64)
        .ok_or(("item_id", "must be a whole number"))?;
    let reason = reason(obj)?;
    match kind {
        "PRODUCT" => {
            let quantity = obj
                .get("quantity")
                .and_then(Value::as_u64)
                .filter(|q| *q >= 1)
                .ok_or(("quantity", "must be a whole number of at least 1"))?;
            let mut adjustments = Vec::new();
            if let Some(list) = obj.get("adjustments") {
                let list = list
                    .as_array()
                    .ok_or(("adjustments", "error.expected.jsarray"))?;
                for a in list {
                    let amount = a
                        .get("amount")
                        .filter(|v| v.as_f64().is_some_and(|f| f < 0.0))
                        .and_then(|v| match v {
                            Value::Number(n) => ten_thousandths(&n.to_string()),
                            _ => None,
                        })
                        .filter(|tt| tt % 100 == 0)
                        .ok_or((
                            "adjustments",
                            "each amount must be negative, with at most 2 decimals",
                        ))?;
                    let description = a
                        .get("description")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned();
                    adjustments.push((amount, description));
                }
            }
            Ok(RefundItemIn::Product {
                id,
                quantity,
                adjustments,
                reason,
            })
        }
        "GIFT_WRAPPING" => Ok(RefundItemIn::Amount {
            kind: kind.to_owned(),
            id,
            amount: 0,
            reason,
        }),
        "SHIPPING" | "HANDLING" | "ORDER" | "TAX" | "FEE" => {
            let amount = obj
                .get("amount")
                .and_then(v3_amount)
                .filter(|a| *a > 0)
                .ok_or(("amount", "must be a number above 0 with at most 2 decimals"))?;
            Ok(RefundItemIn::Amount {
                kind: kind.to_owned(),
                id,
                amount,
                reason,
            })
        }
        _ => Err(("item_type", "error.invalid.enum")),
    }
}

fn parse_payment(p: &Value) -> Result<PaymentIn, (&'static str, &'static str)> {
    let obj = p
        .as_object()
        .ok_or(("provider_id", "error.expected.jsobject"))?;
    let provider_id = obj
        .get("provider_id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or(("provider_id", "error.path.missing"))?;
    let amount = obj
        .get("amount")
        .and_then(v3_amount)
        .ok_or(("amount", "must be a number with at most 2 decimals"))?;
    let offline = match obj.get("offline") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(("offline", "error.expected.jsboolean")),
    };
    Ok(PaymentIn {
        provider_id: provider_id.to_owned(),
        amount,
        offline,
    })
}

fn plain_422(e: Unprocessable) -> Resp {
    if e.errors.is_empty() {
        respond::v3_error(422, &e.title)
    } else {
        respond::v3_error_detailed(422, &e.title, e.errors)
    }
}

/// The documented refund 422: `{"data": [{status, title, type, errors?}]}`.
fn wrapped_422(e: Unprocessable) -> Resp {
    let mut error = json!({"status": 422, "title": e.title, "type": ERROR_TYPE});
    if !e.errors.is_empty() {
        error["errors"] = Value::Object(e.errors);
    }
    respond::json(422, &json!({"data": [error]}))
}

fn order_exists(st: &State, auth: &Auth, order_id: u64) -> bool {
    st.stores
        .get(&auth.store_hash)
        .is_some_and(|s| s.commerce.orders.contains_key(&order_id))
}

/// `POST /v3/orders/{id}/payment_actions/refund_quotes`.
pub(crate) fn quotes(st: &State, auth: &Auth, req: &Incoming, order_id: &str) -> Resp {
    if req.method != Method::POST {
        return method_not_allowed(Area::V3);
    }
    if !auth.has_any(&WRITE_SCOPES) {
        return forbidden(Area::V3);
    }
    let Some(order_id) = order_id
        .parse::<u64>()
        .ok()
        .filter(|id| order_exists(st, auth, *id))
    else {
        return not_found(Area::V3);
    };
    let body = match json_object(req) {
        Ok(b) => b,
        Err(resp) => return *resp,
    };
    let request = match parse_request(&body, order_id, false) {
        Ok(r) => r,
        Err(e) => return plain_422(e),
    };
    let Some(store) = st.stores.get(&auth.store_hash) else {
        return not_found(Area::V3);
    };
    match fulfilment::quote(&store.commerce, order_id, &request.items) {
        Ok(q) => respond::json(201, &json!({"data": q, "meta": {}})),
        Err(RefundError::NotFound) => not_found(Area::V3),
        Err(RefundError::Unprocessable(e)) => plain_422(e),
    }
}

/// `POST|GET /v3/orders/{id}/payment_actions/refunds`.
pub(crate) fn order_refunds(st: &mut State, auth: &Auth, req: &Incoming, order_id: &str) -> Resp {
    let scopes: &[&str] = match req.method {
        Method::GET => &READ_SCOPES,
        Method::POST => &WRITE_SCOPES,
        _ => return method_not_allowed(Area::V3),
    };
    if !auth.has_any(scopes) {
        return forbidden(Area::V3);
    }
    let Some(order_id) = order_id
        .parse::<u64>()
        .ok()
        .filter(|id| order_exists(st, auth, *id))
    else {
        return not_found(Area::V3);
    };
    if req.method == Method::GET {
        let list: Vec<Value> = st
            .stores
            .get(&auth.store_hash)
            .map(|s| {
                s.commerce
                    .refunds
                    .values()
                    .filter(|r| r.order_id == order_id)
                    .map(fulfilment::RefundRec::to_json)
                    .collect()
            })
            .unwrap_or_default();
        return respond::json(200, &json!({"data": list, "meta": {}}));
    }
    let body = match json_object(req) {
        Ok(b) => b,
        Err(resp) => return *resp,
    };
    let request = match parse_request(&body, order_id, true) {
        Ok(r) => r,
        Err(e) => return wrapped_422(e),
    };
    match fulfilment::create_refund(st, &auth.store_hash, order_id, request) {
        Ok(refund_id) => match st
            .stores
            .get(&auth.store_hash)
            .and_then(|s| s.commerce.refunds.get(&refund_id))
        {
            Some(r) => respond::json(201, &json!({"data": r.to_json(), "meta": {}})),
            None => not_found(Area::V3),
        },
        Err(RefundError::NotFound) => not_found(Area::V3),
        Err(RefundError::Unprocessable(e)) => wrapped_422(e),
    }
}

/// `GET /v3/orders/payment_actions/refunds/{refund_id}`.
pub(crate) fn one(st: &State, auth: &Auth, req: &Incoming, refund_id: &str) -> Resp {
    if req.method != Method::GET {
        return method_not_allowed(Area::V3);
    }
    if !auth.has_any(&READ_SCOPES) {
        return forbidden(Area::V3);
    }
    match refund_id
        .parse::<u64>()
        .ok()
        .and_then(|id| st.stores.get(&auth.store_hash)?.commerce.refunds.get(&id))
    {
        Some(r) => respond::json(200, &json!({"data": r.to_json(), "meta": {}})),
        None => not_found(Area::V3),
    }
}

/// A comma-separated list of ids from the query.
fn id_list(req: &Incoming, name: &str) -> Result<Option<Vec<u64>>, Box<Resp>> {
    match req.query_param(name) {
        None => Ok(None),
        Some(v) => v
            .split(',')
            .map(|s| s.trim().parse::<u64>())
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
            .map_err(|_| Box::new(invalid_query(name, "must be a comma-separated list of ids"))),
    }
}

fn invalid_query(name: &str, message: &str) -> Resp {
    respond::v3_error_detailed(
        422,
        "Invalid query parameter",
        Map::from_iter([(name.to_owned(), json!(message))]),
    )
}

/// `GET /v3/orders/payment_actions/refunds`.
pub(crate) fn all(st: &State, auth: &Auth, req: &Incoming) -> Resp {
    if req.method != Method::GET {
        return method_not_allowed(Area::V3);
    }
    if !auth.has_any(&READ_SCOPES) {
        return forbidden(Area::V3);
    }
    let run = || -> Result<Resp, Box<Resp>> {
        let paging = paging(req)?;
        let orders = id_list(req, "order_id:in")?;
        let ids = id_list(req, "id:in")?;
        let date = |name: &str| -> Result<Option<i64>, Box<Resp>> {
            match req.query_param(name) {
                None => Ok(None),
                Some(v) => {
                    time::OffsetDateTime::parse(&v, &time::format_description::well_known::Rfc3339)
                        .map(|t| Some(t.unix_timestamp()))
                        .map_err(|_| Box::new(invalid_query(name, "must be an RFC 3339 date-time")))
                }
            }
        };
        let (min, max) = (date("created:min")?, date("created:max")?);
        let items: Vec<Value> = st
            .stores
            .get(&auth.store_hash)
            .map(|s| {
                s.commerce
                    .refunds
                    .values()
                    .filter(|r| orders.as_ref().is_none_or(|o| o.contains(&r.order_id)))
                    .filter(|r| ids.as_ref().is_none_or(|i| i.contains(&r.id)))
                    .filter(|r| min.is_none_or(|m| r.created >= m))
                    .filter(|r| max.is_none_or(|m| r.created <= m))
                    .map(fulfilment::RefundRec::to_json)
                    .collect()
            })
            .unwrap_or_default();
        Ok(respond::json(200, &paginate(items, &paging)))
    };
    run().unwrap_or_else(|resp| *resp)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::v3_amount;

    #[test]
    fn v3_amounts_are_read_exactly_to_the_cent() {
        assert_eq!(v3_amount(&json!(19.99)), Some(199_900));
        assert_eq!(v3_amount(&json!(0.1)), Some(1_000));
        assert_eq!(v3_amount(&json!(4.95)), Some(49_500));
        assert_eq!(v3_amount(&json!(20)), Some(200_000));
        assert_eq!(v3_amount(&json!(1.005)), None, "three decimals");
        assert_eq!(v3_amount(&json!("4.95")), None, "a string");
    }
}
