//! The control panel's order page, `/manage/{hash}/orders/{id}`: lines (quantity, shipped,
//! refunded), status, payment, shipments and refunds, and plain HTML forms (no script) for
//! what a merchant does after the sale — Edit order, Ship items, Refund, change the status,
//! Cancel, Archive, delete a shipment. Each form POSTs to
//! `/manage/{hash}/orders/{id}/{edit|ship|refund|status|cancel|archive}` (or
//! `…/shipments/{sid}/delete`), runs the same code as the API (so it fires the same
//! webhooks) and redirects back with 303, showing what happened or why it was refused.

use serde_json::{Map, Value, json};

use super::commerce::{OrderRec, fmt4};
use super::control_panel::layout;
use super::fulfilment::{
    self, OpError, PaymentIn, RefundError, RefundItemIn, RefundRequest, STATUS_CANCELLED,
    ShipmentFields, fmt2, providers,
};
use super::respond::{self, Resp, esc};
use super::state::State;
use super::{Incoming, Shared, StoreSpec, order_statuses, orders};
use crate::common::ten_thousandths;

/// The key of an order page's notice in `State::notices`.
fn notice_key(hash: &str, order_id: u64) -> String {
    format!("{hash}/orders/{order_id}")
}

fn form(req: &Incoming) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes(&req.body).unwrap_or_default()
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim())
}

/// A quantity field: empty is 0.
fn quantity(form: &[(String, String)], name: &str) -> Result<u64, String> {
    match field(form, name).filter(|v| !v.is_empty()) {
        None => Ok(0),
        Some(v) => v
            .parse::<u64>()
            .map_err(|_| format!("“{v}” is not a whole number.")),
    }
}

/// An amount field such as `4,95` or `4.95` in ten-thousandths (whole cents); empty is 0.
fn amount(form: &[(String, String)], name: &str) -> Result<i64, String> {
    match field(form, name).filter(|v| !v.is_empty()) {
        None => Ok(0),
        Some(v) => ten_thousandths(&v.replace(',', "."))
            .filter(|tt| *tt >= 0 && tt % 100 == 0)
            .ok_or_else(|| format!("“{v}” is not an amount in euros and cents.")),
    }
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn op_message(e: OpError) -> String {
    match e {
        OpError::NotFound => "There is no such order.".to_owned(),
        OpError::Invalid(messages) => messages.join(" "),
    }
}

/// `POST /manage/{hash}/orders/{id}/…`: runs the action and redirects to the order page.
pub(crate) fn action(
    shared: &Shared,
    req: &Incoming,
    store: &StoreSpec,
    order_id: &str,
    path: &[&str],
) -> Resp {
    let Ok(order_id) = order_id.parse::<u64>() else {
        return respond::see_other(&format!("/manage/{}/orders", store.hash));
    };
    let form = form(req);
    let mut st = shared.lock();
    let outcome = match path {
        ["edit"] => edit(&mut st, store, order_id, &form),
        ["ship"] => ship(&mut st, &store.hash, order_id, &form),
        ["refund"] => refund(&mut st, &store.hash, order_id, &form),
        ["status"] => match field(&form, "status_id").and_then(|s| s.parse::<u32>().ok()) {
            Some(s) => set_status(&mut st, &store.hash, order_id, s),
            None => Err("Choose a status.".to_owned()),
        },
        ["cancel"] => set_status(&mut st, &store.hash, order_id, STATUS_CANCELLED)
            .map(|_| "The order was cancelled.".to_owned()),
        ["archive"] => fulfilment::archive(&mut st, &store.hash, order_id)
            .map(|()| "The order was archived.".to_owned())
            .map_err(op_message),
        ["shipments", sid, "delete"] => match sid.parse::<u64>() {
            Ok(sid) => fulfilment::delete_shipments(&mut st, &store.hash, order_id, Some(sid))
                .map(|()| format!("Shipment {sid} was deleted."))
                .map_err(op_message),
            Err(_) => Err("There is no such shipment.".to_owned()),
        },
        _ => Err("There is no such action.".to_owned()),
    };
    let notice = match outcome {
        Ok(done) => done,
        Err(why) => format!("Error: {why}"),
    };
    st.notices.insert(notice_key(&store.hash, order_id), notice);
    respond::see_other(&format!("/manage/{}/orders/{order_id}", store.hash))
}

fn set_status(st: &mut State, hash: &str, order_id: u64, status: u32) -> Result<String, String> {
    let body = object(json!({"status_id": status}));
    orders::apply_update(st, hash, order_id, &body)
        .map(|()| {
            format!(
                "The status is now {}.",
                order_statuses::system_name(status).unwrap_or("")
            )
        })
        .map_err(op_message)
}

fn order<'a>(st: &'a State, hash: &str, order_id: u64) -> Result<&'a OrderRec, String> {
    st.stores
        .get(hash)
        .and_then(|s| s.commerce.orders.get(&order_id))
        .ok_or_else(|| "There is no such order.".to_owned())
}

/// Edit order: the changed quantities, an added catalog product and the changed shipping
/// address fields, as one `PUT /v2/orders/{id}` body.
fn edit(
    st: &mut State,
    store: &StoreSpec,
    order_id: u64,
    form: &[(String, String)],
) -> Result<String, String> {
    let o = order(st, &store.hash, order_id)?;
    let mut products = Vec::new();
    for l in &o.lines {
        if let Some(v) = field(form, &format!("qty_{}", l.id)) {
            let q = v
                .parse::<u64>()
                .map_err(|_| format!("“{v}” is not a whole number."))?;
            if q != l.quantity {
                products.push(json!({"id": l.id, "quantity": q}));
            }
        }
    }
    if let Some(pid) = field(form, "add_product_id").filter(|v| !v.is_empty()) {
        let pid = pid
            .parse::<u64>()
            .map_err(|_| format!("“{pid}” is not a product id."))?;
        let q = quantity(form, "add_quantity")?.max(1);
        products.push(json!({"product_id": pid, "quantity": q}));
    }
    let mut body = Map::new();
    if !products.is_empty() {
        body.insert("products".into(), Value::Array(products));
    }
    if let Some(s) = &o.shipping {
        let current = s.address.v2_fields();
        let mut changed = Map::new();
        for name in ADDRESS_INPUTS.iter().map(|(n, _)| *n) {
            if let Some(v) = field(form, &format!("ship_{name}"))
                && current.get(name).and_then(Value::as_str) != Some(v)
            {
                changed.insert(name.to_owned(), json!(v));
            }
        }
        if !changed.is_empty() {
            changed.insert("id".into(), json!(s.id));
            body.insert(
                "shipping_addresses".into(),
                Value::Array(vec![Value::Object(changed)]),
            );
        }
    }
    if body.is_empty() {
        return Err("Nothing was changed.".to_owned());
    }
    orders::apply_update(st, &store.hash, order_id, &body)
        .map(|()| "The order was saved.".to_owned())
        .map_err(op_message)
}

/// Ship items: the quantities entered, or every unit left with "Ship all remaining".
fn ship(
    st: &mut State,
    hash: &str,
    order_id: u64,
    form: &[(String, String)],
) -> Result<String, String> {
    let o = order(st, hash, order_id)?;
    let address_id = o
        .shipping
        .as_ref()
        .map(|s| s.id)
        .ok_or("This order has nothing to ship.")?;
    let all = field(form, "all").is_some();
    let mut items = Vec::new();
    for l in o.lines.iter().filter(|l| !l.digital) {
        let q = if all {
            l.left_to_ship()
        } else {
            quantity(form, &format!("qty_{}", l.id))?
        };
        if q > 0 {
            items.push((l.id, q));
        }
    }
    if items.is_empty() {
        return Err("Enter a quantity to ship.".to_owned());
    }
    let tracking = field(form, "tracking_number")
        .filter(|t| !t.is_empty())
        .map(str::to_owned);
    let fields = ShipmentFields {
        order_address_id: Some(address_id),
        items: Some(items),
        tracking_number: tracking,
        ..Default::default()
    };
    fulfilment::create_shipment(st, hash, order_id, fields)
        .map(|id| format!("Shipment {id} was created."))
        .map_err(op_message)
}

/// Refund: line quantities, a shipping amount and an order-level amount, paid back with
/// the chosen provider for the whole total.
fn refund(
    st: &mut State,
    hash: &str,
    order_id: u64,
    form: &[(String, String)],
) -> Result<String, String> {
    let o = order(st, hash, order_id)?;
    let mut items = Vec::new();
    for l in &o.lines {
        let q = quantity(form, &format!("qty_{}", l.id))?;
        if q > 0 {
            items.push(RefundItemIn::Product {
                id: l.id,
                quantity: q,
                adjustments: Vec::new(),
                reason: String::new(),
            });
        }
    }
    let shipping = amount(form, "shipping_amount")?;
    if shipping > 0 {
        items.push(RefundItemIn::Amount {
            kind: "SHIPPING".into(),
            id: o.shipping.as_ref().map(|s| s.id).unwrap_or(0),
            amount: shipping,
            reason: String::new(),
        });
    }
    let order_level = amount(form, "order_amount")?;
    if order_level > 0 {
        items.push(RefundItemIn::Amount {
            kind: "ORDER".into(),
            id: order_id,
            amount: order_level,
            reason: field(form, "reason").unwrap_or("").to_owned(),
        });
    }
    if items.is_empty() {
        return Err("Enter what to refund.".to_owned());
    }
    let total = fulfilment::compute(o, &items)
        .map_err(|e| e.message())?
        .total;
    let provider = field(form, "provider").unwrap_or("custom").to_owned();
    let offline = providers(o)
        .iter()
        .find(|(id, ..)| *id == provider)
        .is_none_or(|(.., offline)| *offline);
    let req = RefundRequest {
        items,
        payments: vec![PaymentIn {
            provider_id: provider,
            amount: total,
            offline,
        }],
        merchant_override: None,
    };
    match fulfilment::create_refund(st, hash, order_id, req) {
        Ok(id) => Ok(format!("Refund {id} of {} € was made.", fmt2(total))),
        Err(RefundError::NotFound) => Err("There is no such order.".to_owned()),
        Err(RefundError::Unprocessable(e)) => Err(e.message()),
    }
}

/// Shipping address inputs: `(v2 field, label)`.
const ADDRESS_INPUTS: [(&str, &str); 9] = [
    ("first_name", "First name"),
    ("last_name", "Last name"),
    ("street_1", "Street"),
    ("street_2", "Street (2)"),
    ("city", "City"),
    ("zip", "Postcode"),
    ("state", "State"),
    ("country_iso2", "Country (ISO)"),
    ("phone", "Phone"),
];

/// `GET /manage/{hash}/orders/{id}`.
pub(crate) fn page(shared: &Shared, store: &StoreSpec, order_id: &str) -> Resp {
    let mut st = shared.lock();
    let Some(order_id) = order_id.parse::<u64>().ok() else {
        return not_found(store);
    };
    let notice = st.notices.remove(&notice_key(&store.hash, order_id));
    let Some(rec) = st.stores.get(&store.hash) else {
        return not_found(store);
    };
    let Some(o) = rec.commerce.orders.get(&order_id) else {
        return not_found(store);
    };
    let h = esc(&store.hash);
    let base = format!("/manage/{h}/orders/{order_id}");
    let notice = notice
        .map(|n| {
            let class = if n.starts_with("Error: ") {
                "notice error"
            } else {
                "notice"
            };
            format!("<div class=\"{class}\" role=\"status\">{}</div>", esc(&n))
        })
        .unwrap_or_default();
    let status = order_statuses::label(store, o.status_id).unwrap_or_default();
    let (total, _) = o.total();
    let provider_id = match &o.payment_provider_id {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let summary = format!(
        "<div class=\"card\"><p>Status: <strong id=\"status\" data-status-id=\"{sid}\">{status}</strong>{archived}</p>\
         <p>Customer: {name} · {email}</p>\
         <p>Payment method: <span id=\"payment-method\">{method}</span> · Provider id: \
         <span id=\"payment-provider-id\">{provider}</span></p>\
         <p>Total: {total} {currency} · Refunded: {refunded} · Shipped items: {shipped}</p></div>",
        sid = o.status_id,
        status = esc(&status),
        archived = if o.is_deleted { " (archived)" } else { "" },
        name = esc(&format!("{} {}", o.billing.first_name, o.billing.last_name)),
        email = esc(&o.billing.email),
        method = esc(&o.payment_method),
        provider = esc(&provider_id),
        total = fmt4(total),
        currency = esc(&o.currency),
        refunded = fmt4(o.refunded),
        shipped = o.items_shipped(),
    );
    let mut lines = String::new();
    for l in &o.lines {
        lines.push_str(&format!(
            "<tr id=\"line-{id}\"><td>{id}</td><td>{name}</td><td>{sku}</td><td>{kind}</td>\
             <td class=\"qty\">{q}</td><td class=\"shipped\">{shipped}</td>\
             <td class=\"refunded\">{refunded}</td><td>{unit}</td><td>{total}</td></tr>",
            id = l.id,
            name = esc(&l.name),
            sku = esc(&l.sku),
            kind = if l.digital { "digital" } else { "physical" },
            q = l.quantity,
            shipped = l.quantity_shipped,
            refunded = l.quantity_refunded,
            unit = fmt4(l.unit),
            total = fmt4(l.total),
        ));
    }
    let lines = format!(
        "<div class=\"card\"><h2>Items</h2><table><thead><tr><th>Id</th><th>Product</th>\
         <th>SKU</th><th>Type</th><th>Qty</th><th>Shipped</th><th>Refunded</th><th>Price</th>\
         <th>Total</th></tr></thead><tbody>{lines}</tbody></table></div>"
    );
    let mut shipments = String::new();
    for s in &o.shipments {
        let items: Vec<String> = s
            .items
            .iter()
            .map(|i| format!("{} × {}", i.quantity, i.order_product_id))
            .collect();
        shipments.push_str(&format!(
            "<tr><td>{id}</td><td>{date}</td><td>{items}</td><td>{tracking}</td><td>\
             <form class=\"inline\" method=\"post\" action=\"{base}/shipments/{id}/delete\">\
             <button class=\"danger\" type=\"submit\">Delete</button></form></td></tr>",
            id = s.id,
            date = esc(&super::commerce::rfc2822(s.date_created)),
            items = esc(&items.join(", ")),
            tracking = esc(&s.tracking_number),
        ));
    }
    let shipments = if shipments.is_empty() {
        "<div class=\"card\"><h2>Shipments</h2><p class=\"muted\">None.</p></div>".to_owned()
    } else {
        format!(
            "<div class=\"card\"><h2>Shipments</h2><table><thead><tr><th>Id</th><th>Date</th>\
             <th>Items</th><th>Tracking</th><th></th></tr></thead><tbody>{shipments}</tbody>\
             </table></div>"
        )
    };
    let mut refunds = String::new();
    for r in rec.commerce.refunds.values().filter(|r| r.order_id == o.id) {
        let items: Vec<String> = r
            .items
            .iter()
            .map(|i| match i.quantity {
                Some(q) => format!("{q} × {}", i.item_id),
                None => format!("{} {}", i.item_type, fmt2(i.amount)),
            })
            .collect();
        let payments: Vec<String> = r
            .payments
            .iter()
            .map(|p| format!("{} {}", p.provider_id, fmt2(p.amount)))
            .collect();
        refunds.push_str(&format!(
            "<tr><td>{id}</td><td>{date}</td><td>{items}</td><td>{total}</td><td>{payments}</td></tr>",
            id = r.id,
            date = esc(&super::commerce::rfc2822(r.created)),
            items = esc(&items.join(", ")),
            total = fmt2(r.total),
            payments = esc(&payments.join(", ")),
        ));
    }
    let refunds = if refunds.is_empty() {
        "<div class=\"card\"><h2>Refunds</h2><p class=\"muted\">None.</p></div>".to_owned()
    } else {
        format!(
            "<div class=\"card\"><h2>Refunds</h2><table><thead><tr><th>Id</th><th>Date</th>\
             <th>Items</th><th>Total</th><th>Paid back</th></tr></thead><tbody>{refunds}</tbody>\
             </table></div>"
        )
    };
    let forms = forms(store, o, &base);
    let body = format!(
        "<h1>Order #{order_id}</h1>{notice}{summary}{lines}{shipments}{refunds}{forms}\
         <p><a href=\"/manage/{h}/orders\">Back to orders</a></p>"
    );
    respond::html(
        200,
        layout(&format!("Order #{order_id}"), Some(store), "orders", &body),
    )
}

fn not_found(store: &StoreSpec) -> Resp {
    respond::html(
        404,
        layout(
            "Not found",
            Some(store),
            "orders",
            "<div class=\"card\"><p>There is no such order.</p></div>",
        ),
    )
}

fn number_input(name: &str, value: u64, max: Option<u64>, label: &str) -> String {
    let max = max.map(|m| format!(" max=\"{m}\"")).unwrap_or_default();
    format!(
        "<label>{} <input type=\"number\" name=\"{}\" value=\"{value}\" min=\"0\"{max}></label> ",
        esc(label),
        esc(name)
    )
}

/// The action forms of the order page.
fn forms(store: &StoreSpec, o: &OrderRec, base: &str) -> String {
    let mut edit_lines = String::new();
    let mut ship_lines = String::new();
    let mut refund_lines = String::new();
    for l in &o.lines {
        let label = format!("{} ({})", l.name, l.sku);
        edit_lines.push_str(&format!(
            "<p>{}</p>",
            number_input(&format!("qty_{}", l.id), l.quantity, None, &label)
        ));
        if !l.digital && l.left_to_ship() > 0 {
            ship_lines.push_str(&format!(
                "<p>{}</p>",
                number_input(
                    &format!("qty_{}", l.id),
                    0,
                    Some(l.left_to_ship()),
                    &format!("{label}, {} left", l.left_to_ship())
                )
            ));
        }
        let left = l.quantity.saturating_sub(l.quantity_refunded);
        if left > 0 {
            refund_lines.push_str(&format!(
                "<p>{}</p>",
                number_input(
                    &format!("qty_{}", l.id),
                    0,
                    Some(left),
                    &format!("{label}, {left} refundable")
                )
            ));
        }
    }
    let catalog: String = store
        .products
        .iter()
        .map(|p| {
            format!(
                "<option value=\"{}\">{} — {}</option>",
                p.id,
                esc(&p.name),
                esc(&p.sku)
            )
        })
        .collect();
    let address = match &o.shipping {
        Some(s) => {
            let current = s.address.v2_fields();
            let inputs: String = ADDRESS_INPUTS
                .iter()
                .map(|(name, label)| {
                    format!(
                        "<label>{} <input name=\"ship_{name}\" value=\"{}\"></label> ",
                        esc(label),
                        esc(current.get(*name).and_then(Value::as_str).unwrap_or(""))
                    )
                })
                .collect();
            format!("<fieldset><legend>Shipping address</legend>{inputs}</fieldset>")
        }
        None => String::new(),
    };
    let edit = format!(
        "<div class=\"card\"><h2>Edit order</h2><form method=\"post\" action=\"{base}/edit\">\
         {edit_lines}<p><label>Add product <select name=\"add_product_id\"><option value=\"\">—</option>\
         {catalog}</select></label> <label>Quantity <input type=\"number\" name=\"add_quantity\" \
         value=\"1\" min=\"1\"></label></p>{address}<p><button type=\"submit\">Save</button></p>\
         </form></div>"
    );
    let ship = if ship_lines.is_empty() {
        "<div class=\"card\"><h2>Ship items</h2><p class=\"muted\">Nothing left to ship.</p></div>"
            .to_owned()
    } else {
        format!(
            "<div class=\"card\"><h2>Ship items</h2><form method=\"post\" action=\"{base}/ship\">\
             {ship_lines}<p><label>Tracking number <input name=\"tracking_number\" maxlength=\"50\">\
             </label></p><p><button type=\"submit\">Ship</button> \
             <button type=\"submit\" name=\"all\" value=\"1\">Ship all remaining</button></p>\
             </form></div>"
        )
    };
    let provider_options: String = providers(o)
        .iter()
        .map(|(id, description, _)| format!("<option value=\"{id}\">{}</option>", esc(description)))
        .collect();
    let shipping_left = o.shipping_cost().0 - o.shipping_refunded;
    let refund = format!(
        "<div class=\"card\"><h2>Refund</h2><form method=\"post\" action=\"{base}/refund\">\
         {refund_lines}<p><label>Shipping (up to {ship_left} €) <input name=\"shipping_amount\" \
         inputmode=\"decimal\"></label></p><p><label>Order-level amount (€) \
         <input name=\"order_amount\" inputmode=\"decimal\"></label> <label>Reason \
         <input name=\"reason\"></label></p><p><label>Refund with <select name=\"provider\">\
         {provider_options}</select></label></p><p class=\"muted\">Left to refund: {left} €</p>\
         <p><button type=\"submit\">Refund</button></p></form></div>",
        ship_left = fmt2(shipping_left.max(0)),
        left = fmt2(o.refundable()),
    );
    let statuses: String = (0..=14u32)
        .filter_map(|id| {
            let label = order_statuses::label(store, id)?;
            Some(format!(
                "<option value=\"{id}\"{}>{}</option>",
                if id == o.status_id { " selected" } else { "" },
                esc(&label)
            ))
        })
        .collect();
    let status = format!(
        "<div class=\"card\"><h2>Status</h2><form method=\"post\" action=\"{base}/status\">\
         <select name=\"status_id\">{statuses}</select> <button type=\"submit\">Update status</button>\
         </form><p><form class=\"inline\" method=\"post\" action=\"{base}/cancel\">\
         <button class=\"danger\" type=\"submit\">Cancel order</button></form> \
         <form class=\"inline\" method=\"post\" action=\"{base}/archive\">\
         <button class=\"danger\" type=\"submit\">Archive</button></form></p></div>"
    );
    format!("{edit}{ship}{refund}{status}")
}
