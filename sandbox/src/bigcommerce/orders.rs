//! Orders v2 (`orders.v2.oas2.yml`, spec §3.1–§3.3): `GET /v2/orders`,
//! `GET|PUT|DELETE /v2/orders/{id}`, `GET /v2/orders/{id}/products`,
//! `GET /v2/orders/{id}/shipping_addresses`; and `GET /v2/customers/{id}`
//! (`customers.v2.yml`, `store_credit`).
//!
//! Scopes: orders `store_v2_orders` (reads: its `_read_only`); customers
//! `store_v2_customers_read_only`.
//!
//! The list (`getOrders`) filters by `cart_id`, `status_id`, `customer_id`, `channel_id`, `min_id`,
//! `max_id`, `min|max_date_created`, `min|max_date_modified`, pages with `page`/`limit`
//! (default 50, at most 250) and sorts with `sort=field[:asc|:desc]` on the contract's fields
//! (`id`, `customer_id`, `date_created`, `date_modified`, `status_id`, `channel_id`,
//! `external_id`); without `sort`, by id ascending (documented). The contract does not say
//! whether the bounds include their value: here every `min_*`/`max_*` does [U] (or none does,
//! `set_exclusive_list_bounds`, so a client is tested both ways), dates compared
//! to the instant (RFC 2822 or RFC 3339 with its fraction; orders' dates are whole seconds).
//! [U] Orders with equal sort values come in descending id order, the opposite of the
//! default sort, so that a client that assumes ties come by id fails here. [U] The contract
//! documents no error for the list: a value it cannot read (a number, a date, a sort field or
//! direction) is refused with a v2 400 rather than ignored, since an ignored filter lists other
//! orders and would hide the client's mistake. [U] Like BigCommerce's control panel, it leaves
//! Incomplete (status 0) orders out unless `status_id=0` is asked for. An empty page is 204
//! (spec §7), and so is an order without shipping addresses.
//!
//! `PUT` takes the writable fields of `order_Put`. `status_id` must be one of the 15
//! statuses; `payment_provider_id` a string or a number; text fields strings; amounts
//! decimal strings; counts whole numbers; `billing_address` an object of strings. Fields of
//! the response that `order_Put` does not list are refused as read-only, others as unknown,
//! with BigCommerce's v2 messages, all in one error array. `products` (PATCH semantics)
//! and `shipping_addresses` edit the order as `fulfilment.rs` describes; [U]
//! `consignments` and `fees` are accepted and ignored, and written amounts are echoed as
//! written without recomputing the totals. An order leaving status 0 is "placed": the store
//! credit it redeems is taken from the customer then, and its checkout is completed.
//!
//! `DELETE` (or `is_deleted: true`) archives: the order keeps answering by id with
//! `is_deleted: true` and leaves the list. [U] `is_deleted: false` restores it.
//!
//! Webhooks: every successful `PUT` fires `store/order/updated`, after
//! `store/order/statusUpdated` when the status changed (the app's own writes included,
//! spec §3.7); archiving fires `store/order/archived`.

use serde_json::{Map, Value, json};
use warp::http::Method;

use super::Incoming;
use super::api::{Area, Auth, forbidden, method_not_allowed, not_found};
use super::commerce::{OrderRec, fmt4};
use super::fulfilment::{
    self, OpError, apply_products, apply_shipping_addresses, emit_status, emit_updated,
};
use super::order_statuses;
use super::respond::{self, Resp};
use super::state::{State, now_unix};
use crate::common::ten_thousandths;

const READ_SCOPE: &str = "store_v2_orders_read_only";
const WRITE_SCOPE: &str = "store_v2_orders";
const CUSTOMER_SCOPE: &str = "store_v2_customers_read_only";

/// `order_Put` text fields: `(name, nullable, max length)`.
const TEXT_FIELDS: [(&str, bool, usize); 13] = [
    ("customer_message", false, 65_535),
    ("order_source", false, 255),
    ("ebay_order_id", false, 255),
    ("external_merchant_id", true, 255),
    ("external_source", true, 255),
    ("geoip_country", false, 255),
    ("geoip_country_iso2", false, 2),
    ("ip_address", false, 30),
    ("ip_address_v6", false, 39),
    ("staff_notes", false, 65_535),
    ("tax_provider_id", false, 255),
    ("customer_locale", false, 255),
    ("external_order_id", true, 255),
];
/// `order_Put` amounts (decimal strings).
const MONEY_FIELDS: [&str; 15] = [
    "base_handling_cost",
    "base_shipping_cost",
    "base_wrapping_cost",
    "discount_amount",
    "handling_cost_ex_tax",
    "handling_cost_inc_tax",
    "refunded_amount",
    "shipping_cost_ex_tax",
    "shipping_cost_inc_tax",
    "subtotal_ex_tax",
    "subtotal_inc_tax",
    "total_ex_tax",
    "total_inc_tax",
    "wrapping_cost_ex_tax",
    "wrapping_cost_inc_tax",
];
/// `order_Put` whole numbers.
const COUNT_FIELDS: [&str; 4] = ["channel_id", "customer_id", "items_shipped", "items_total"];
/// `order_Put` sub-resources the stand-in accepts and ignores.
const IGNORED_FIELDS: [&str; 2] = ["consignments", "fees"];
/// Written overrides dropped when the lines change (the totals are recomputed).
const RECOMPUTED_FIELDS: [&str; 5] = [
    "subtotal_ex_tax",
    "subtotal_inc_tax",
    "total_ex_tax",
    "total_inc_tax",
    "items_total",
];

fn v2_bad(messages: Vec<String>) -> Resp {
    let body: Vec<Value> = messages
        .into_iter()
        .map(|m| json!({"status": 400, "message": m}))
        .collect();
    respond::json(400, &Value::Array(body))
}

fn invalid_field(name: &str) -> String {
    format!("The field '{name}' is invalid.")
}

/// The status's name, for `status`.
fn status_name(id: u32) -> &'static str {
    order_statuses::system_name(id).unwrap_or("")
}

fn order_json(st: &State, store_hash: &str, o: &OrderRec) -> Value {
    o.v2_json(&st.api_base(store_hash), status_name(o.status_id))
}

/// RFC 2822 or ISO 8601 (RFC 3339), as `orders.v2.oas2.yml` documents the date filters, as
/// Unix nanoseconds (its example has milliseconds). A Unix time is not one of them:
/// BigCommerce cannot read it, so it is refused here (400) rather than quietly ignored, and a
/// client sending one fails its tests.
fn parse_date(s: &str) -> Option<i128> {
    use time::format_description::well_known::{Rfc2822, Rfc3339};
    let s = s.trim();
    time::OffsetDateTime::parse(s, &Rfc2822)
        .or_else(|_| time::OffsetDateTime::parse(s, &Rfc3339))
        .ok()
        .map(|t| t.unix_timestamp_nanos())
}

/// Whether a date of whole Unix seconds is within the bounds (nanoseconds).
fn within(unix: i64, min: Option<i128>, max: Option<i128>, exclusive: bool) -> bool {
    let at = i128::from(unix) * 1_000_000_000;
    between(at, min, max, exclusive)
}

/// `min <= v <= max`, or `min < v < max` when `exclusive`; a missing bound does not bound.
fn between<T: PartialOrd>(v: T, min: Option<T>, max: Option<T>, exclusive: bool) -> bool {
    let above = min.is_none_or(|m| if exclusive { v > m } else { v >= m });
    above && max.is_none_or(|m| if exclusive { v < m } else { v <= m })
}

/// Sorts by `sort` (`field[:asc|:desc]`, the fields of the contract's enum), equal values in
/// descending id order [U]; a field or direction outside the contract is refused.
fn sort_orders(orders: &mut [&OrderRec], sort: &str) -> Result<(), Box<Resp>> {
    use std::cmp::Ordering;
    let (field, dir) = sort.split_once(':').unwrap_or((sort, "asc"));
    let key: fn(&OrderRec, &OrderRec) -> Ordering = match field {
        "id" => |a, b| a.id.cmp(&b.id),
        "customer_id" => |a, b| a.customer_id.cmp(&b.customer_id),
        "date_created" => |a, b| a.date_created.cmp(&b.date_created),
        "date_modified" => |a, b| a.date_modified.cmp(&b.date_modified),
        "status_id" => |a, b| a.status_id.cmp(&b.status_id),
        "channel_id" => |a, b| a.channel_id.cmp(&b.channel_id),
        // Always `null` here (orders of other platforms are not modelled): all equal.
        "external_id" => |_, _| Ordering::Equal,
        _ => return Err(Box::new(v2_bad(vec![invalid_field("sort")]))),
    };
    let descending = match dir {
        "asc" => false,
        "desc" => true,
        _ => return Err(Box::new(v2_bad(vec![invalid_field("sort")]))),
    };
    orders.sort_by(|a, b| {
        let by_field = key(a, b);
        let by_field = if descending {
            by_field.reverse()
        } else {
            by_field
        };
        by_field.then(b.id.cmp(&a.id))
    });
    Ok(())
}

/// `page` and `limit` of a v2 collection (default 1 and 50, `limit` at most 250). A larger
/// `limit` is refused with 413 ("limit too high", the status-code list of the contract):
/// whether BigCommerce refuses it or cuts it to 250 is not documented, and a client cut short
/// silently could take a page of 250 for the end of the list.
fn v2_paging(req: &Incoming) -> Result<(usize, usize), Box<Resp>> {
    let parse = |name: &str, default: usize| match req.query_param(name) {
        None => Ok(default),
        Some(v) => match v.trim().parse::<usize>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(Box::new(v2_bad(vec![invalid_field(name)]))),
        },
    };
    let (page, limit) = (parse("page", 1)?, parse("limit", 50)?);
    if limit > 250 {
        return Err(Box::new(respond::v2_error(
            413,
            "The limit is too high: at most 250.",
        )));
    }
    Ok((page, limit))
}

fn page_of(items: Vec<Value>, (page, limit): (usize, usize)) -> Resp {
    let rows: Vec<Value> = items
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

/// `GET /v2/orders`.
pub(crate) fn collection(st: &State, auth: &Auth, req: &Incoming) -> Resp {
    if req.method != Method::GET {
        return method_not_allowed(Area::V2);
    }
    if !auth.has(READ_SCOPE) {
        return forbidden(Area::V2);
    }
    let Some(store) = st.stores.get(&auth.store_hash) else {
        return not_found(Area::V2);
    };
    let run = || -> Result<Resp, Box<Resp>> {
        let paging = v2_paging(req)?;
        let number = |name: &str| -> Result<Option<u64>, Box<Resp>> {
            match req.query_param(name) {
                None => Ok(None),
                Some(v) => v
                    .trim()
                    .parse::<u64>()
                    .map(Some)
                    .map_err(|_| Box::new(v2_bad(vec![invalid_field(name)]))),
            }
        };
        let date = |name: &str| -> Result<Option<i128>, Box<Resp>> {
            match req.query_param(name) {
                None => Ok(None),
                Some(v) => parse_date(&v)
                    .map(Some)
                    .ok_or_else(|| Box::new(v2_bad(vec![invalid_field(name)]))),
            }
        };
        let status = number("status_id")?;
        let customer = number("customer_id")?;
        let channel = number("channel_id")?;
        let (min_id, max_id) = (number("min_id")?, number("max_id")?);
        let (min_created, max_created) = (date("min_date_created")?, date("max_date_created")?);
        let (min_modified, max_modified) = (date("min_date_modified")?, date("max_date_modified")?);
        let cart = req.query_param("cart_id").filter(|c| !c.is_empty());
        let exclusive = st.exclusive_list_bounds;
        let mut orders: Vec<&OrderRec> = store
            .commerce
            .orders
            .values()
            .filter(|o| !o.is_deleted)
            .filter(|o| match status {
                Some(s) => u64::from(o.status_id) == s,
                None => o.status_id != 0,
            })
            .filter(|o| cart.as_ref().is_none_or(|c| o.cart_id.as_ref() == Some(c)))
            .filter(|o| customer.is_none_or(|c| o.customer_id == c))
            .filter(|o| channel.is_none_or(|c| o.channel_id == c))
            .filter(|o| between(o.id, min_id, max_id, exclusive))
            .filter(|o| within(o.date_created, min_created, max_created, exclusive))
            .filter(|o| within(o.date_modified, min_modified, max_modified, exclusive))
            .collect();
        if let Some(sort) = req.query_param("sort") {
            sort_orders(&mut orders, &sort)?;
        }
        let items = orders
            .into_iter()
            .map(|o| order_json(st, &auth.store_hash, o))
            .collect();
        Ok(page_of(items, paging))
    };
    run().unwrap_or_else(|resp| *resp)
}

/// `GET /v2/orders`, then, when it served a page, the edits a test queued for the store with
/// `BigCommerceStandIn::edit_order_after_next_list` (a change made while a client pages).
pub(crate) fn list(st: &mut State, auth: &Auth, req: &Incoming) -> Resp {
    let resp = collection(st, auth, req);
    if resp.status() == warp::http::StatusCode::OK {
        let (edits, others) = std::mem::take(&mut st.list_edits)
            .into_iter()
            .partition::<Vec<_>, _>(|(store, ..)| *store == auth.store_hash);
        st.list_edits = others;
        for (_, order_id, body) in edits {
            // A body `PUT` would refuse changes nothing, as it would there.
            let _ = apply_update(st, &auth.store_hash, order_id, &body);
        }
    }
    resp
}

fn find<'a>(st: &'a State, auth: &Auth, id: &str) -> Option<&'a OrderRec> {
    let id = id.parse::<u64>().ok()?;
    st.stores.get(&auth.store_hash)?.commerce.orders.get(&id)
}

/// `GET|PUT /v2/orders/{id}`.
pub(crate) fn item(st: &mut State, auth: &Auth, req: &Incoming, id: &str) -> Resp {
    match req.method {
        Method::GET => {
            if !auth.has(READ_SCOPE) {
                return forbidden(Area::V2);
            }
            match find(st, auth, id) {
                Some(o) => respond::json(200, &order_json(st, &auth.store_hash, o)),
                None => not_found(Area::V2),
            }
        }
        Method::PUT => {
            if !auth.has(WRITE_SCOPE) {
                return forbidden(Area::V2);
            }
            update(st, auth, req, id)
        }
        Method::DELETE => {
            if !auth.has(WRITE_SCOPE) {
                return forbidden(Area::V2);
            }
            match id.parse::<u64>() {
                Ok(order_id) => match fulfilment::archive(st, &auth.store_hash, order_id) {
                    Ok(()) => respond::no_content(),
                    Err(_) => not_found(Area::V2),
                },
                Err(_) => not_found(Area::V2),
            }
        }
        _ => method_not_allowed(Area::V2),
    }
}

/// A validated `PUT` body.
#[derive(Default)]
struct Update {
    status_id: Option<u32>,
    payment_method: Option<String>,
    payment_provider_id: Option<Value>,
    billing: Option<Map<String, Value>>,
    products: Option<Value>,
    shipping_addresses: Option<Value>,
    is_deleted: Option<bool>,
    /// Unix seconds.
    date_created: Option<i64>,
    written: Map<String, Value>,
}

fn parse_update(
    body: &Map<String, Value>,
    response_fields: &Map<String, Value>,
) -> Result<Update, Vec<String>> {
    let mut u = Update::default();
    let mut errors = Vec::new();
    for (k, v) in body {
        let name = k.as_str();
        if name == "status_id" {
            match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
                Some(n) if order_statuses::system_name(n).is_some() => u.status_id = Some(n),
                Some(n) => errors.push(format!(
                    "The field 'status_id' is invalid: there is no order status {n}."
                )),
                None => errors.push(invalid_field(name)),
            }
        } else if name == "payment_method" {
            match v {
                Value::String(s) => u.payment_method = Some(s.clone()),
                Value::Null => u.payment_method = Some(String::new()),
                _ => errors.push(invalid_field(name)),
            }
        } else if name == "payment_provider_id" {
            match v {
                Value::String(_) | Value::Number(_) => u.payment_provider_id = Some(v.clone()),
                Value::Null => u.payment_provider_id = Some(Value::String(String::new())),
                _ => errors.push(invalid_field(name)),
            }
        } else if let Some((_, nullable, max)) = TEXT_FIELDS.iter().find(|(f, ..)| *f == name) {
            match v {
                Value::String(s) if s.chars().count() <= *max => {
                    u.written.insert(k.clone(), v.clone());
                }
                Value::Null if *nullable => {
                    u.written.insert(k.clone(), Value::Null);
                }
                _ => errors.push(invalid_field(name)),
            }
        } else if name == "date_created" {
            // RFC 2822 (`order_Shared`): the order's creation date from then on, for the
            // list's filters and sort too. [U] Another form is refused, not kept as text.
            let rfc2822 = &time::format_description::well_known::Rfc2822;
            match v
                .as_str()
                .and_then(|s| time::OffsetDateTime::parse(s.trim(), rfc2822).ok())
            {
                Some(t) => u.date_created = Some(t.unix_timestamp()),
                None => errors.push(invalid_field(name)),
            }
        } else if MONEY_FIELDS.contains(&name) {
            match v.as_str().map(|s| ten_thousandths(s.trim())) {
                Some(Some(tt)) => {
                    u.written.insert(k.clone(), json!(fmt4(tt)));
                }
                _ => errors.push(invalid_field(name)),
            }
        } else if COUNT_FIELDS.contains(&name) {
            match v.as_u64() {
                Some(n) => {
                    u.written.insert(k.clone(), json!(n));
                }
                None => errors.push(invalid_field(name)),
            }
        } else if name == "order_is_digital" {
            match v {
                Value::Bool(_) => {
                    u.written.insert(k.clone(), v.clone());
                }
                _ => errors.push(invalid_field(name)),
            }
        } else if name == "billing_address" {
            match v {
                Value::Object(obj) => u.billing = Some(obj.clone()),
                _ => errors.push(invalid_field(name)),
            }
        } else if name == "products" {
            u.products = Some(v.clone());
        } else if name == "shipping_addresses" {
            u.shipping_addresses = Some(v.clone());
        } else if name == "is_deleted" {
            match v {
                Value::Bool(b) => u.is_deleted = Some(*b),
                _ => errors.push(invalid_field(name)),
            }
        } else if IGNORED_FIELDS.contains(&name) {
            if !v.is_array() && !v.is_object() {
                errors.push(invalid_field(name));
            }
        } else if response_fields.contains_key(name) {
            errors.push(format!(
                "The field '{name}' cannot be written to. Please remove it from your request before trying again."
            ));
        } else {
            errors.push(format!(
                "The field '{name}' is not supported by this resource."
            ));
        }
    }
    if errors.is_empty() {
        Ok(u)
    } else {
        Err(errors)
    }
}

fn update(st: &mut State, auth: &Auth, req: &Incoming, id: &str) -> Resp {
    let Ok(order_id) = id.parse::<u64>() else {
        return not_found(Area::V2);
    };
    let body = match serde_json::from_slice::<Value>(&req.body) {
        Ok(Value::Object(obj)) => obj,
        _ if find(st, auth, id).is_none() => return not_found(Area::V2),
        _ => return v2_bad(vec!["The request body is not a valid JSON object.".into()]),
    };
    match apply_update(st, &auth.store_hash, order_id, &body) {
        Ok(()) => match find(st, auth, id) {
            Some(o) => respond::json(200, &order_json(st, &auth.store_hash, o)),
            None => not_found(Area::V2),
        },
        Err(OpError::NotFound) => not_found(Area::V2),
        Err(OpError::Invalid(errors)) => v2_bad(errors),
    }
}

/// Applies an `order_Put` body to an order, all or nothing, and fires its webhooks: the
/// code path of `PUT /v2/orders/{id}` and of the control panel's order actions.
pub(crate) fn apply_update(
    st: &mut State,
    store_hash: &str,
    order_id: u64,
    body: &Map<String, Value>,
) -> Result<(), OpError> {
    let current = {
        let store = st.stores.get(store_hash).ok_or(OpError::NotFound)?;
        let o = store
            .commerce
            .orders
            .get(&order_id)
            .ok_or(OpError::NotFound)?;
        order_json(st, store_hash, o)
    };
    let response_fields = current.as_object().cloned().unwrap_or_default();
    let mut u = parse_update(body, &response_fields).map_err(OpError::Invalid)?;
    let store = st.stores.get_mut(store_hash).ok_or(OpError::NotFound)?;
    let commerce = &mut store.commerce;
    let mut order = commerce
        .orders
        .get(&order_id)
        .cloned()
        .ok_or(OpError::NotFound)?;
    let mut errors = Vec::new();
    if let Some(billing) = u.billing.take() {
        let bad = order.billing.apply_v2(&billing);
        errors.extend(
            bad.iter()
                .map(|f| invalid_field(&format!("billing_address.{f}"))),
        );
    }
    let lines_changed = u.products.is_some();
    if let Some(products) = &u.products
        && let Err(e) = apply_products(commerce, &store.spec, &mut order, products)
    {
        errors.extend(e);
    }
    if let Some(addresses) = &u.shipping_addresses
        && let Err(e) = apply_shipping_addresses(&mut order, addresses)
    {
        errors.extend(e);
    }
    if !errors.is_empty() {
        return Err(OpError::Invalid(errors));
    }
    let was_incomplete = order.status_id == 0;
    let previous_status = order.status_id;
    if let Some(s) = u.status_id {
        order.status_id = s;
    }
    if let Some(m) = u.payment_method {
        order.payment_method = m;
    }
    if let Some(p) = u.payment_provider_id {
        order.payment_provider_id = p;
    }
    if let Some(d) = u.date_created {
        order.date_created = d;
    }
    if lines_changed {
        for f in RECOMPUTED_FIELDS {
            order.written.remove(f);
        }
    }
    order.written.extend(u.written);
    let archived_now = u.is_deleted == Some(true) && !order.is_deleted;
    if let Some(d) = u.is_deleted {
        order.is_deleted = d;
    }
    order.date_modified = now_unix();
    let (new_status, placed) = (order.status_id, was_incomplete && order.status_id != 0);
    commerce.orders.insert(order_id, order);
    if placed {
        commerce.place(order_id);
    }
    // `is_deleted: true` alone "has the same result as" DELETE: only `archived`.
    if !(archived_now && body.len() == 1) {
        emit_status(st, store_hash, order_id, previous_status, new_status);
        emit_updated(st, store_hash, order_id);
    }
    if archived_now {
        super::deliveries::emit(
            st,
            store_hash,
            "store/order/archived",
            fulfilment::order_data(order_id),
        );
    }
    Ok(())
}

/// `GET /v2/orders/{id}/products`.
pub(crate) fn products(st: &State, auth: &Auth, req: &Incoming, id: &str) -> Resp {
    if req.method != Method::GET {
        return method_not_allowed(Area::V2);
    }
    if !auth.has(READ_SCOPE) {
        return forbidden(Area::V2);
    }
    let paging = match v2_paging(req) {
        Ok(p) => p,
        Err(resp) => return *resp,
    };
    match find(st, auth, id) {
        Some(o) => page_of(o.products_json(), paging),
        None => not_found(Area::V2),
    }
}

/// `GET /v2/orders/{id}/shipping_addresses`.
pub(crate) fn shipping_addresses(st: &State, auth: &Auth, req: &Incoming, id: &str) -> Resp {
    if req.method != Method::GET {
        return method_not_allowed(Area::V2);
    }
    if !auth.has(READ_SCOPE) {
        return forbidden(Area::V2);
    }
    let paging = match v2_paging(req) {
        Ok(p) => p,
        Err(resp) => return *resp,
    };
    match find(st, auth, id) {
        Some(o) => page_of(
            o.shipping_addresses_json(&st.api_base(&auth.store_hash)),
            paging,
        ),
        None => not_found(Area::V2),
    }
}

/// `GET /v2/customers/{id}`.
pub(crate) fn customer(st: &State, auth: &Auth, req: &Incoming, id: &str) -> Resp {
    if req.method != Method::GET {
        return method_not_allowed(Area::V2);
    }
    if !auth.has(CUSTOMER_SCOPE) {
        return forbidden(Area::V2);
    }
    match id
        .parse::<u64>()
        .ok()
        .and_then(|id| st.stores.get(&auth.store_hash)?.commerce.customers.get(&id))
    {
        Some(c) => respond::json(200, &c.v2_json(&st.api_base(&auth.store_hash))),
        None => not_found(Area::V2),
    }
}
