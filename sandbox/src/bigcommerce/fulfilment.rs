//! What a merchant does to an order after the sale — ship items, delete shipments, refund,
//! edit lines and addresses, archive — shared by the API (`orders.rs`, `shipments.rs`,
//! `refunds.rs`) and the control panel, so both fire the same webhooks (spec §3.7).
//!
//! Choices where BigCommerce documents nothing, all [U]:
//! - Creating a shipment moves the order to Shipped (2) when every physical unit is in a
//!   shipment, else to Partially Shipped (3), whatever the status was; deleting one gives
//!   the units back and leaves the status alone (`orders/index.mdx`). Units left to ship
//!   are `quantity − quantity_shipped`: a refund does not change them.
//! - Events: a shipment fires `store/shipment/created`, then `store/order/statusUpdated`
//!   (when the status changed) and `store/order/updated`; a shipment update only
//!   `store/shipment/updated`; a deletion `store/shipment/deleted` and `store/order/updated`;
//!   a refund `store/order/refund/created`, `statusUpdated` (→ 14, or 4 once nothing is
//!   left to refund) and `updated`.
//! - Refunds: a `PRODUCT` item refunds the unit price with tax times the quantity, less its
//!   `adjustments`, rounded to cents; `SHIPPING` up to the shipping cost not yet refunded;
//!   `ORDER` any amount (tax-exempt). The refund total may not exceed what the order has
//!   left to refund, and an Incomplete order cannot be refunded. The payment providers are
//!   `custom` (offline, "refunded externally"), `storecredit` for registered customers (it
//!   credits the customer) and `bankdeposit` for orders paid by bank deposit.
//! - Edits: a line cannot go below what was shipped or refunded, nor be removed then; a
//!   physical product cannot be added to an order without a shipping address. Totals are
//!   recomputed from the lines; the subtotal and total overrides written earlier are
//!   dropped when lines change.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::StoreSpec;
use super::commerce::{
    Commerce, NATIVE_PAYMENT_NAME, OrderLine, OrderRec, ex_tax, fmt4, mul_div_round, num2, rfc2822,
    rfc3339,
};
use super::deliveries::emit;
use super::state::{State, now_unix};
use crate::common::ten_thousandths;

pub(crate) const STATUS_SHIPPED: u32 = 2;
pub(crate) const STATUS_PARTIALLY_SHIPPED: u32 = 3;
pub(crate) const STATUS_REFUNDED: u32 = 4;
pub(crate) const STATUS_CANCELLED: u32 = 5;
pub(crate) const STATUS_PARTIALLY_REFUNDED: u32 = 14;

/// Why an order operation failed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum OpError {
    NotFound,
    /// v2 400: each message one element of the error array.
    Invalid(Vec<String>),
}

pub(crate) fn order_data(id: u64) -> Value {
    json!({"type": "order", "id": id})
}

/// `statusUpdated` when the status changed.
pub(crate) fn emit_status(st: &mut State, store_hash: &str, id: u64, previous: u32, new: u32) {
    if previous != new {
        emit(
            st,
            store_hash,
            "store/order/statusUpdated",
            json!({
                "type": "order",
                "id": id,
                "status": {"previous_status_id": previous, "new_status_id": new},
            }),
        );
    }
}

pub(crate) fn emit_updated(st: &mut State, store_hash: &str, id: u64) {
    emit(st, store_hash, "store/order/updated", order_data(id));
}

fn shipment_data(id: u64, order_id: u64) -> Value {
    json!({"type": "shipment", "id": id, "orderId": order_id})
}

fn order_mut<'a>(st: &'a mut State, store_hash: &str, order_id: u64) -> Option<&'a mut OrderRec> {
    st.stores
        .get_mut(store_hash)?
        .commerce
        .orders
        .get_mut(&order_id)
}

// ---------------------------------------------------------------------------------------
// Shipments.

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ShipmentItem {
    pub order_product_id: u64,
    pub product_id: u64,
    pub quantity: u64,
}

/// A shipment (`orderShipment`).
#[derive(Clone, Debug)]
pub(crate) struct ShipmentRec {
    pub id: u64,
    pub order_address_id: u64,
    pub date_created: i64,
    pub tracking_number: String,
    pub tracking_link: String,
    pub merchant_shipping_cost: i64,
    pub shipping_method: String,
    pub shipping_provider: String,
    pub tracking_carrier: String,
    pub comments: String,
    pub items: Vec<ShipmentItem>,
}

/// The name the control panel shows for a `shipping_provider`.
fn provider_display_name(provider: &str) -> String {
    match provider {
        "auspost" => "Australia Post",
        "canadapost" => "Canada Post",
        "endicia" => "Endicia",
        "usps" => "USPS",
        "fedex" => "FedEx",
        "ups" | "upsready" | "upsonline" => "UPS",
        "shipperhq" => "ShipperHQ",
        "royalmail" => "Royal Mail",
        other => other,
    }
    .to_owned()
}

impl ShipmentRec {
    /// `orderShipment`.
    pub fn to_json(&self, order: &OrderRec) -> Value {
        let carrier = if self.tracking_carrier.is_empty() {
            &self.shipping_provider
        } else {
            &self.tracking_carrier
        };
        // [U] BigCommerce links integrated providers and AfterShip; this is AfterShip's form.
        let generated = if self.tracking_link.is_empty() && !self.tracking_number.is_empty() {
            format!(
                "https://track.aftership.com/{}/{}",
                if carrier.is_empty() { "-" } else { carrier },
                self.tracking_number
            )
        } else {
            String::new()
        };
        let shipping_address = order
            .shipping
            .as_ref()
            .map(|s| Value::Object(s.address.v2_fields()))
            .unwrap_or_else(|| json!({}));
        let items: Vec<Value> = self
            .items
            .iter()
            .map(|i| {
                json!({
                    "order_product_id": i.order_product_id,
                    "product_id": i.product_id,
                    "quantity": i.quantity,
                })
            })
            .collect();
        json!({
            "id": self.id,
            "order_id": order.id,
            "customer_id": order.customer_id,
            "order_address_id": self.order_address_id,
            "date_created": rfc2822(self.date_created),
            "tracking_number": self.tracking_number,
            "merchant_shipping_cost": fmt4(self.merchant_shipping_cost),
            "shipping_method": self.shipping_method,
            "shipping_provider": self.shipping_provider,
            "tracking_carrier": self.tracking_carrier,
            "tracking_link": self.tracking_link,
            "comments": self.comments,
            "billing_address": Value::Object(order.billing.v2_fields()),
            "shipping_address": shipping_address,
            "items": items,
            "shipping_provider_display_name": provider_display_name(&self.shipping_provider),
            "generated_tracking_link": generated,
        })
    }
}

/// A validated `orderShipment_Post` or `orderShipment_Put`.
#[derive(Clone, Debug, Default)]
pub(crate) struct ShipmentFields {
    pub order_address_id: Option<u64>,
    /// `(order_product_id, quantity)`.
    pub items: Option<Vec<(u64, u64)>>,
    pub tracking_number: Option<String>,
    pub tracking_link: Option<String>,
    pub merchant_shipping_cost: Option<i64>,
    pub shipping_method: Option<String>,
    pub shipping_provider: Option<String>,
    pub tracking_carrier: Option<String>,
    pub comments: Option<String>,
}

/// Read-only fields of `orderShipment`.
const SHIPMENT_READ_ONLY: [&str; 8] = [
    "id",
    "order_id",
    "customer_id",
    "date_created",
    "billing_address",
    "shipping_address",
    "shipping_provider_display_name",
    "generated_tracking_link",
];

fn invalid_field(name: &str) -> String {
    format!("The field '{name}' is invalid.")
}

fn read_only(name: &str) -> String {
    format!(
        "The field '{name}' cannot be written to. Please remove it from your request before trying again."
    )
}

/// A whole number ≥ 0 from a JSON number (`2`, not `2.5` or `"2"`).
fn count(v: &Value) -> Option<u64> {
    v.as_u64()
}

/// A v2 amount: a decimal string or a number, at most four decimals, not negative.
pub(crate) fn v2_amount(v: &Value) -> Option<i64> {
    let text = match v {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    ten_thousandths(&text).filter(|tt| *tt >= 0)
}

/// Parses a shipment body: `post` requires `order_address_id` and `items`; a PUT may not
/// carry `items` (`orderShipment_Put` has none).
pub(crate) fn parse_shipment(
    body: &Map<String, Value>,
    post: bool,
) -> Result<ShipmentFields, Vec<String>> {
    let mut f = ShipmentFields::default();
    let mut errors = Vec::new();
    let text = |name: &str, v: &Value, max: usize, errors: &mut Vec<String>| match v {
        Value::String(s) if s.chars().count() <= max => Some(s.clone()),
        _ => {
            errors.push(invalid_field(name));
            None
        }
    };
    for (k, v) in body {
        match k.as_str() {
            "order_address_id" => match count(v) {
                Some(n) => f.order_address_id = Some(n),
                None => errors.push(invalid_field(k)),
            },
            "items" if post => match v.as_array() {
                Some(list) if !list.is_empty() => {
                    let mut items = Vec::new();
                    for item in list {
                        let Some(obj) = item.as_object() else {
                            errors.push(invalid_field("items"));
                            continue;
                        };
                        let unknown = obj.keys().find(|k| {
                            !["order_product_id", "quantity", "product_id"].contains(&k.as_str())
                        });
                        if let Some(u) = unknown {
                            errors.push(format!(
                                "The field 'items.{u}' is not supported by this resource."
                            ));
                            continue;
                        }
                        match (
                            obj.get("order_product_id").and_then(count),
                            obj.get("quantity").and_then(count),
                        ) {
                            (Some(id), Some(q)) if q >= 1 => items.push((id, q)),
                            (None, _) => errors.push(invalid_field("items.order_product_id")),
                            _ => errors.push(invalid_field("items.quantity")),
                        }
                    }
                    f.items = Some(items);
                }
                _ => errors.push(invalid_field("items")),
            },
            "items" => errors.push(read_only(k)),
            "tracking_number" => f.tracking_number = text(k, v, 50, &mut errors),
            "tracking_link" => f.tracking_link = text(k, v, 500, &mut errors),
            "shipping_method" => f.shipping_method = text(k, v, 255, &mut errors),
            "shipping_provider" => f.shipping_provider = text(k, v, 255, &mut errors),
            "tracking_carrier" => f.tracking_carrier = text(k, v, 255, &mut errors),
            "comments" => f.comments = text(k, v, 65_535, &mut errors),
            "merchant_shipping_cost" => match v2_amount(v) {
                Some(tt) => f.merchant_shipping_cost = Some(tt),
                None => errors.push(invalid_field(k)),
            },
            name if SHIPMENT_READ_ONLY.contains(&name) => errors.push(read_only(name)),
            name => errors.push(format!(
                "The field '{name}' is not supported by this resource."
            )),
        }
    }
    if post {
        if f.order_address_id.is_none() && !body.contains_key("order_address_id") {
            errors.push("The field 'order_address_id' is required.".to_owned());
        }
        if !body.contains_key("items") {
            errors.push("The field 'items' is required.".to_owned());
        }
    }
    if errors.is_empty() {
        Ok(f)
    } else {
        Err(errors)
    }
}

fn check_address(order: &OrderRec, address_id: u64) -> Result<(), String> {
    match &order.shipping {
        Some(s) if s.id == address_id => Ok(()),
        _ => Err(format!(
            "The shipping address {address_id} does not exist on order {}.",
            order.id
        )),
    }
}

/// Creates a shipment (`POST /v2/orders/{id}/shipments`); its id.
pub(crate) fn create_shipment(
    st: &mut State,
    store_hash: &str,
    order_id: u64,
    f: ShipmentFields,
) -> Result<u64, OpError> {
    let store = st.stores.get_mut(store_hash).ok_or(OpError::NotFound)?;
    let commerce = &mut store.commerce;
    let order = commerce.orders.get(&order_id).ok_or(OpError::NotFound)?;
    let mut errors = Vec::new();
    let address_id = f.order_address_id.unwrap_or_default();
    if let Err(e) = check_address(order, address_id) {
        errors.push(e);
    }
    let items = f.items.clone().unwrap_or_default();
    if items.is_empty() {
        errors.push(invalid_field("items"));
    }
    let mut wanted: BTreeMap<u64, u64> = BTreeMap::new();
    for (id, q) in &items {
        *wanted.entry(*id).or_default() += q;
    }
    for (id, q) in &wanted {
        match order.lines.iter().find(|l| l.id == *id) {
            None => errors.push(format!(
                "The order product {id} does not exist on order {order_id}."
            )),
            Some(l) if l.digital => errors.push(format!(
                "The order product {id} is a digital item and cannot be shipped."
            )),
            Some(l) if *q > l.left_to_ship() => errors.push(format!(
                "The quantity {q} of order product {id} is more than the {} left to ship.",
                l.left_to_ship()
            )),
            Some(_) => {}
        }
    }
    if !errors.is_empty() {
        return Err(OpError::Invalid(errors));
    }
    let id = commerce.next_shipment_id;
    commerce.next_shipment_id += 1;
    let Some(order) = commerce.orders.get_mut(&order_id) else {
        return Err(OpError::NotFound);
    };
    let mut shipment_items = Vec::new();
    for (line_id, q) in items {
        if let Some(l) = order.lines.iter_mut().find(|l| l.id == line_id) {
            l.quantity_shipped += q;
            shipment_items.push(ShipmentItem {
                order_product_id: line_id,
                product_id: l.product_id,
                quantity: q,
            });
        }
    }
    let now = now_unix();
    order.shipments.push(ShipmentRec {
        id,
        order_address_id: address_id,
        date_created: now,
        tracking_number: f.tracking_number.unwrap_or_default(),
        tracking_link: f.tracking_link.unwrap_or_default(),
        merchant_shipping_cost: f.merchant_shipping_cost.unwrap_or_default(),
        shipping_method: f.shipping_method.unwrap_or_default(),
        shipping_provider: f.shipping_provider.unwrap_or_default(),
        tracking_carrier: f.tracking_carrier.unwrap_or_default(),
        comments: f.comments.unwrap_or_default(),
        items: shipment_items,
    });
    order.date_shipped = Some(now);
    order.date_modified = now;
    let previous = order.status_id;
    order.status_id = if order.fully_shipped() {
        STATUS_SHIPPED
    } else {
        STATUS_PARTIALLY_SHIPPED
    };
    let new = order.status_id;
    emit(
        st,
        store_hash,
        "store/shipment/created",
        shipment_data(id, order_id),
    );
    emit_status(st, store_hash, order_id, previous, new);
    emit_updated(st, store_hash, order_id);
    Ok(id)
}

/// Updates a shipment's tracking and address (`PUT …/shipments/{id}`).
pub(crate) fn update_shipment(
    st: &mut State,
    store_hash: &str,
    order_id: u64,
    shipment_id: u64,
    f: ShipmentFields,
) -> Result<(), OpError> {
    let order = order_mut(st, store_hash, order_id).ok_or(OpError::NotFound)?;
    if let Some(a) = f.order_address_id {
        check_address(order, a).map_err(|e| OpError::Invalid(vec![e]))?;
    }
    let s = order
        .shipments
        .iter_mut()
        .find(|s| s.id == shipment_id)
        .ok_or(OpError::NotFound)?;
    let set = |slot: &mut String, v: Option<String>| {
        if let Some(v) = v {
            *slot = v;
        }
    };
    if let Some(a) = f.order_address_id {
        s.order_address_id = a;
    }
    set(&mut s.tracking_number, f.tracking_number);
    set(&mut s.tracking_link, f.tracking_link);
    set(&mut s.shipping_method, f.shipping_method);
    set(&mut s.shipping_provider, f.shipping_provider);
    set(&mut s.tracking_carrier, f.tracking_carrier);
    set(&mut s.comments, f.comments);
    if let Some(c) = f.merchant_shipping_cost {
        s.merchant_shipping_cost = c;
    }
    emit(
        st,
        store_hash,
        "store/shipment/updated",
        shipment_data(shipment_id, order_id),
    );
    Ok(())
}

/// Deletes one shipment, or all of the order's (`None`): the units go back to "left to
/// ship"; the status stays.
pub(crate) fn delete_shipments(
    st: &mut State,
    store_hash: &str,
    order_id: u64,
    shipment_id: Option<u64>,
) -> Result<(), OpError> {
    let order = order_mut(st, store_hash, order_id).ok_or(OpError::NotFound)?;
    if let Some(id) = shipment_id
        && !order.shipments.iter().any(|s| s.id == id)
    {
        return Err(OpError::NotFound);
    }
    let (gone, kept): (Vec<ShipmentRec>, Vec<ShipmentRec>) = std::mem::take(&mut order.shipments)
        .into_iter()
        .partition(|s| shipment_id.is_none_or(|id| s.id == id));
    order.shipments = kept;
    for s in &gone {
        for item in &s.items {
            if let Some(l) = order
                .lines
                .iter_mut()
                .find(|l| l.id == item.order_product_id)
            {
                l.quantity_shipped = l.quantity_shipped.saturating_sub(item.quantity);
            }
        }
    }
    if gone.is_empty() {
        return Ok(());
    }
    order.date_modified = now_unix();
    for s in &gone {
        emit(
            st,
            store_hash,
            "store/shipment/deleted",
            shipment_data(s.id, order_id),
        );
    }
    emit_updated(st, store_hash, order_id);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Refunds.

/// One refund item as requested.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RefundItemIn {
    /// `PRODUCT`: an order product, a quantity and deductions (each < 0).
    Product {
        id: u64,
        quantity: u64,
        adjustments: Vec<(i64, String)>,
        reason: String,
    },
    /// `SHIPPING`, `ORDER`, `HANDLING`, `GIFT_WRAPPING`, `FEE`, `TAX`: an amount.
    Amount {
        kind: String,
        id: u64,
        amount: i64,
        reason: String,
    },
}

/// One refund payment as requested.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PaymentIn {
    pub provider_id: String,
    pub amount: i64,
    pub offline: bool,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct RefundRequest {
    pub items: Vec<RefundItemIn>,
    pub payments: Vec<PaymentIn>,
    /// `merchant_calculated_override`: `(total_amount, total_tax)`.
    pub merchant_override: Option<(i64, i64)>,
}

/// A v3 422: a title and the `errors` object.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Unprocessable {
    pub title: String,
    pub errors: Map<String, Value>,
}

impl Unprocessable {
    pub fn new(title: impl Into<String>) -> Self {
        Unprocessable {
            title: title.into(),
            errors: Map::new(),
        }
    }

    /// All the messages, for the control panel.
    pub fn message(&self) -> String {
        let details: Vec<&str> = self.errors.values().filter_map(Value::as_str).collect();
        if details.is_empty() || (details.len() == 1 && details[0] == self.title) {
            self.title.clone()
        } else {
            format!("{} {}", self.title, details.join(" "))
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RefundError {
    NotFound,
    Unprocessable(Unprocessable),
}

#[derive(Clone, Debug)]
pub(crate) struct RefundItemRec {
    pub item_type: String,
    pub item_id: u64,
    pub reason: String,
    pub quantity: Option<u64>,
    pub amount: i64,
    pub adjustments: Vec<(i64, String)>,
}

#[derive(Clone, Debug)]
pub(crate) struct RefundPaymentRec {
    pub id: u64,
    pub provider_id: String,
    pub amount: i64,
    pub offline: bool,
}

/// A refund (`Refund`). Amounts in ten-thousandths, all whole cents.
#[derive(Clone, Debug)]
pub(crate) struct RefundRec {
    pub id: u64,
    pub order_id: u64,
    pub created: i64,
    pub total: i64,
    pub tax: i64,
    pub merchant_override: bool,
    pub items: Vec<RefundItemRec>,
    pub payments: Vec<RefundPaymentRec>,
}

impl RefundRec {
    /// `Refund`.
    pub fn to_json(&self) -> Value {
        let items: Vec<Value> = self
            .items
            .iter()
            .map(|i| {
                let mut v = json!({
                    "item_type": i.item_type,
                    "item_id": i.item_id,
                    "reason": i.reason,
                    "requested_amount": num2(i.amount),
                });
                if let Some(q) = i.quantity {
                    v["quantity"] = json!(q);
                    v["adjustments"] = i
                        .adjustments
                        .iter()
                        .map(|(a, d)| json!({"amount": num2(*a), "description": d}))
                        .collect();
                }
                v
            })
            .collect();
        let payments: Vec<Value> = self
            .payments
            .iter()
            .map(|p| {
                json!({
                    "id": p.id,
                    "provider_id": p.provider_id,
                    "amount": num2(p.amount),
                    "offline": p.offline,
                    "is_declined": false,
                    "declined_message": "",
                    "transaction_id": "",
                })
            })
            .collect();
        let reason = self
            .items
            .iter()
            .map(|i| i.reason.as_str())
            .find(|r| !r.is_empty())
            .unwrap_or("");
        json!({
            "id": self.id,
            "order_id": self.order_id,
            "user_id": 0,
            "created": rfc3339(self.created),
            "reason": reason,
            "total_amount": num2(self.total),
            "total_tax": num2(self.tax),
            "uses_merchant_override_values": self.merchant_override,
            "items": items,
            "payments": payments,
        })
    }
}

/// A refund worked out but not yet made.
#[derive(Clone, Debug)]
pub(crate) struct Computed {
    pub items: Vec<RefundItemRec>,
    pub total: i64,
    pub tax: i64,
    pub order_level: i64,
    /// Units and amount per order product.
    pub per_line: BTreeMap<u64, (u64, i64)>,
    pub shipping: i64,
}

/// Rounds ten-thousandths to whole cents (still in ten-thousandths), half away from zero.
fn round_cents(tt: i64) -> i64 {
    let cents = (tt.unsigned_abs() + 50) / 100;
    let cents = cents as i64 * 100;
    if tt < 0 { -cents } else { cents }
}

/// The tax in a tax-inclusive amount, to cents.
fn tax_in(amount: i64) -> i64 {
    round_cents(amount - ex_tax(amount))
}

/// Checks the items of a refund or a quote against the order and totals them.
pub(crate) fn compute(order: &OrderRec, items: &[RefundItemIn]) -> Result<Computed, Unprocessable> {
    if order.status_id == 0 {
        return Err(Unprocessable::new(format!(
            "Order {} is incomplete and cannot be refunded.",
            order.id
        )));
    }
    let mut errors = Map::new();
    let mut c = Computed {
        items: Vec::new(),
        total: 0,
        tax: 0,
        order_level: 0,
        per_line: BTreeMap::new(),
        shipping: 0,
    };
    if items.is_empty() {
        errors.insert("items".into(), json!("At least one item is required."));
    }
    for (i, item) in items.iter().enumerate() {
        match item {
            RefundItemIn::Product {
                id,
                quantity,
                adjustments,
                reason,
            } => {
                let Some(line) = order.lines.iter().find(|l| l.id == *id) else {
                    errors.insert(
                        format!("items.{i}.item_id"),
                        json!(format!("Order product {id} is not on order {}.", order.id)),
                    );
                    continue;
                };
                let entry = c.per_line.entry(*id).or_default();
                let left = line.quantity.saturating_sub(line.quantity_refunded);
                if entry.0 + quantity > left {
                    errors.insert(
                        format!("items.{i}.quantity"),
                        json!(format!(
                            "The quantity {quantity} of order product {id} is more than the {left} left to refund."
                        )),
                    );
                    continue;
                }
                let gross = round_cents(line.unit.saturating_mul(*quantity as i64));
                let deduction: i64 = adjustments.iter().map(|(a, _)| *a).sum();
                let amount = gross + deduction;
                if amount < 0 {
                    errors.insert(
                        format!("items.{i}.adjustments"),
                        json!("The adjustments are more than the item's amount."),
                    );
                    continue;
                }
                entry.0 += quantity;
                entry.1 += amount;
                c.total += amount;
                c.tax += tax_in(amount);
                c.items.push(RefundItemRec {
                    item_type: "PRODUCT".into(),
                    item_id: *id,
                    reason: reason.clone(),
                    quantity: Some(*quantity),
                    amount,
                    adjustments: adjustments.clone(),
                });
            }
            RefundItemIn::Amount {
                kind,
                id,
                amount,
                reason,
            } => {
                let key = format!("items.{i}.item_id");
                match kind.as_str() {
                    "SHIPPING" => {
                        if order.shipping.as_ref().map(|s| s.id) != Some(*id) {
                            errors.insert(
                                key,
                                json!(format!(
                                    "Shipping address {id} is not on order {}.",
                                    order.id
                                )),
                            );
                            continue;
                        }
                        let left = order.shipping_cost().0 - order.shipping_refunded;
                        if c.shipping + amount > left {
                            errors.insert(
                                format!("items.{i}.amount"),
                                json!(format!(
                                    "The shipping amount {} is more than the {} left to refund.",
                                    fmt2(*amount),
                                    fmt2(left)
                                )),
                            );
                            continue;
                        }
                        c.shipping += amount;
                        c.tax += tax_in(*amount);
                    }
                    "ORDER" => {
                        if *id != order.id {
                            errors.insert(
                                key,
                                json!(format!(
                                    "An ORDER item's item_id must be the order id {}.",
                                    order.id
                                )),
                            );
                            continue;
                        }
                        c.order_level += amount;
                    }
                    other => {
                        errors.insert(
                            format!("items.{i}.item_type"),
                            json!(format!("Order {} has no {other} to refund.", order.id)),
                        );
                        continue;
                    }
                }
                c.total += amount;
                c.items.push(RefundItemRec {
                    item_type: kind.clone(),
                    item_id: *id,
                    reason: reason.clone(),
                    quantity: None,
                    amount: *amount,
                    adjustments: Vec::new(),
                });
            }
        }
    }
    if !errors.is_empty() {
        let title = errors
            .values()
            .next()
            .and_then(Value::as_str)
            .unwrap_or("Invalid refund items.")
            .to_owned();
        return Err(Unprocessable { title, errors });
    }
    if c.total <= 0 {
        return Err(Unprocessable::new("The refund total must be more than 0."));
    }
    if c.total > order.refundable() {
        return Err(Unprocessable::new(format!(
            "The refund total {} is more than the {} left to refund on order {}.",
            fmt2(c.total),
            fmt2(order.refundable()),
            order.id
        )));
    }
    Ok(c)
}

/// `12.50` for 125 000 ten-thousandths.
pub(crate) fn fmt2(tt: i64) -> String {
    let cents = round_cents(tt) / 100;
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// The providers a refund of `order` may be paid with: `(provider_id, description,
/// offline)`.
pub(crate) fn providers(order: &OrderRec) -> Vec<(&'static str, &'static str, bool)> {
    let mut p = vec![("custom", "Custom", true)];
    if order.customer_id != 0 {
        p.push(("storecredit", "Store Credit", false));
    }
    if order.payment_method == NATIVE_PAYMENT_NAME {
        p.push(("bankdeposit", "Bank Deposit", true));
    }
    p
}

/// `RefundQuote_Full`.
pub(crate) fn quote_json(order: &OrderRec, c: &Computed) -> Value {
    let methods: Vec<Value> = providers(order)
        .into_iter()
        .map(|(id, description, offline)| {
            json!([{
                "provider_id": id,
                "provider_description": description,
                "amount": num2(c.total),
                "offline": offline,
                "offline_provider": offline,
                "offline_reason": if offline { "This is an offline payment provider." } else { "" },
            }])
        })
        .collect();
    json!({
        "order_id": order.id,
        "total_refund_amount": num2(c.total),
        "total_refund_tax_amount": num2(c.tax),
        "order_level_refund_amount": num2(c.order_level),
        "rounding": 0,
        "adjustment": 0,
        "tax_inclusive": true,
        "refund_methods": methods,
    })
}

/// Works out a refund quote (`POST …/refund_quotes`).
pub(crate) fn quote(
    commerce: &Commerce,
    order_id: u64,
    items: &[RefundItemIn],
) -> Result<Value, RefundError> {
    let order = commerce
        .orders
        .get(&order_id)
        .ok_or(RefundError::NotFound)?;
    let c = compute(order, items).map_err(RefundError::Unprocessable)?;
    Ok(quote_json(order, &c))
}

/// Makes a refund (`POST …/refunds`); its id.
pub(crate) fn create_refund(
    st: &mut State,
    store_hash: &str,
    order_id: u64,
    req: RefundRequest,
) -> Result<u64, RefundError> {
    let commerce = &mut st
        .stores
        .get_mut(store_hash)
        .ok_or(RefundError::NotFound)?
        .commerce;
    let order = commerce
        .orders
        .get(&order_id)
        .ok_or(RefundError::NotFound)?;
    let c = compute(order, &req.items).map_err(RefundError::Unprocessable)?;
    let (total, tax) = match req.merchant_override {
        Some((total, tax)) => {
            if total > order.refundable() {
                return Err(RefundError::Unprocessable(Unprocessable::new(format!(
                    "The refund total {} is more than the {} left to refund on order {}.",
                    fmt2(total),
                    fmt2(order.refundable()),
                    order.id
                ))));
            }
            (total, tax)
        }
        None => (c.total, c.tax),
    };
    let allowed = providers(order);
    let mut errors = Map::new();
    if req.payments.is_empty() {
        errors.insert(
            "payments".into(),
            json!("At least one payment is required."),
        );
    }
    for (i, p) in req.payments.iter().enumerate() {
        if p.provider_id == "storecredit" && order.customer_id == 0 {
            return Err(RefundError::Unprocessable(Unprocessable::new(
                "Unable to provide store credit for a guest customer.",
            )));
        }
        if !allowed.iter().any(|(id, ..)| *id == p.provider_id) {
            errors.insert(
                format!("payments.{i}.provider_id"),
                json!(format!(
                    "Payment provider '{}' cannot refund order {order_id}.",
                    p.provider_id
                )),
            );
        }
        if p.amount <= 0 {
            errors.insert(
                format!("payments.{i}.amount"),
                json!("The amount must be more than 0."),
            );
        }
    }
    if !errors.is_empty() {
        let title = errors
            .values()
            .next()
            .and_then(Value::as_str)
            .unwrap_or("Invalid payments.")
            .to_owned();
        return Err(RefundError::Unprocessable(Unprocessable { title, errors }));
    }
    let paid: i64 = req.payments.iter().map(|p| p.amount).sum();
    if paid != total {
        return Err(RefundError::Unprocessable(Unprocessable::new(format!(
            "The payments add up to {}, not to the refund total {}.",
            fmt2(paid),
            fmt2(total)
        ))));
    }
    let customer_id = order.customer_id;
    let refund_id = commerce.next_refund_id;
    commerce.next_refund_id += 1;
    let mut payments = Vec::new();
    for p in req.payments {
        payments.push(RefundPaymentRec {
            id: commerce.next_refund_payment_id,
            provider_id: p.provider_id,
            amount: p.amount,
            offline: p.offline,
        });
        commerce.next_refund_payment_id += 1;
    }
    let credit: i64 = payments
        .iter()
        .filter(|p| p.provider_id == "storecredit")
        .map(|p| p.amount)
        .sum();
    if credit > 0
        && let Some(customer) = commerce.customers.get_mut(&customer_id)
    {
        customer.store_credit += credit;
        customer.date_modified = now_unix();
    }
    let now = now_unix();
    commerce.refunds.insert(
        refund_id,
        RefundRec {
            id: refund_id,
            order_id,
            created: now,
            total,
            tax,
            merchant_override: req.merchant_override.is_some(),
            items: c.items,
            payments,
        },
    );
    let Some(order) = commerce.orders.get_mut(&order_id) else {
        return Err(RefundError::NotFound);
    };
    for (line_id, (q, amount)) in &c.per_line {
        if let Some(l) = order.lines.iter_mut().find(|l| l.id == *line_id) {
            l.quantity_refunded += q;
            l.refund_amount += amount;
        }
    }
    order.shipping_refunded += c.shipping;
    order.refunded += total;
    order.date_modified = now;
    let previous = order.status_id;
    order.status_id = if order.refundable() == 0 {
        STATUS_REFUNDED
    } else {
        STATUS_PARTIALLY_REFUNDED
    };
    let new = order.status_id;
    emit(
        st,
        store_hash,
        "store/order/refund/created",
        json!({"type": "order", "id": order_id, "refund": {"refund_id": refund_id}}),
    );
    emit_status(st, store_hash, order_id, previous, new);
    emit_updated(st, store_hash, order_id);
    Ok(refund_id)
}

// ---------------------------------------------------------------------------------------
// Archive and edits.

/// Archives an order (`DELETE /v2/orders/{id}`); `store/order/archived` the first time.
pub(crate) fn archive(st: &mut State, store_hash: &str, order_id: u64) -> Result<(), OpError> {
    let order = order_mut(st, store_hash, order_id).ok_or(OpError::NotFound)?;
    if order.is_deleted {
        return Ok(());
    }
    order.is_deleted = true;
    order.date_modified = now_unix();
    emit(st, store_hash, "store/order/archived", order_data(order_id));
    Ok(())
}

/// Fields of an `order_Put` product the stand-in takes.
const PRODUCT_FIELDS: [&str; 10] = [
    "id",
    "product_id",
    "quantity",
    "price_inc_tax",
    "price_ex_tax",
    "name",
    "name_customer",
    "name_merchant",
    "sku",
    "product_options",
];

/// Fields of a `shippingAddress_Put`.
const ADDRESS_FIELDS: [&str; 14] = [
    "id",
    "first_name",
    "last_name",
    "company",
    "street_1",
    "street_2",
    "city",
    "state",
    "zip",
    "country",
    "country_iso2",
    "phone",
    "email",
    "shipping_method",
];

/// Applies `order_Put` `products` (PATCH: `id` updates, no `id` adds, `quantity: 0`
/// removes) to `order`; the messages of what is refused. New lines take ids from
/// `commerce`.
pub(crate) fn apply_products(
    commerce: &mut Commerce,
    spec: &StoreSpec,
    order: &mut OrderRec,
    products: &Value,
) -> Result<(), Vec<String>> {
    let Some(list) = products.as_array() else {
        return Err(vec![invalid_field("products")]);
    };
    let mut errors = Vec::new();
    for p in list {
        let Some(obj) = p.as_object() else {
            errors.push(invalid_field("products"));
            continue;
        };
        if let Some(k) = obj.keys().find(|k| !PRODUCT_FIELDS.contains(&k.as_str())) {
            errors.push(format!(
                "The field 'products.{k}' is not supported by this resource."
            ));
            continue;
        }
        let quantity = match obj.get("quantity") {
            None => None,
            Some(v) => match count(v) {
                Some(q) => Some(q),
                None => {
                    errors.push(invalid_field("products.quantity"));
                    continue;
                }
            },
        };
        let price = |name: &str| match obj.get(name) {
            None => Ok(None),
            Some(v) => v2_amount(v)
                .map(Some)
                .ok_or_else(|| invalid_field(&format!("products.{name}"))),
        };
        let (inc, ex) = match (price("price_inc_tax"), price("price_ex_tax")) {
            (Ok(i), Ok(e)) => (i, e),
            (Err(e), _) | (_, Err(e)) => {
                errors.push(e);
                continue;
            }
        };
        let name = match ["name", "name_customer"]
            .iter()
            .filter_map(|k| obj.get(*k))
            .map(|v| v.as_str().filter(|s| !s.trim().is_empty()))
            .collect::<Option<Vec<_>>>()
        {
            Some(names) if names.windows(2).all(|w| w[0] == w[1]) => {
                names.first().map(|s| (*s).to_owned())
            }
            _ => {
                errors.push(invalid_field("products.name"));
                continue;
            }
        };
        let set_prices = |line: &mut OrderLine| match (inc, ex) {
            (Some(i), Some(e)) => {
                line.unit = i;
                line.unit_ex = e;
            }
            (Some(i), None) => {
                line.unit = i;
                line.unit_ex = ex_tax(i);
            }
            (None, Some(e)) => {
                line.unit_ex = e;
                line.unit = mul_div_round(e, 121, 100);
            }
            (None, None) => {}
        };
        if let Some(id) = obj.get("id") {
            let Some(id) = count(id) else {
                errors.push(invalid_field("products.id"));
                continue;
            };
            let Some(idx) = order.lines.iter().position(|l| l.id == id) else {
                errors.push(format!(
                    "The order product {id} does not exist on order {}.",
                    order.id
                ));
                continue;
            };
            let line = &mut order.lines[idx];
            if obj
                .get("product_id")
                .is_some_and(|v| count(v) != Some(line.product_id))
            {
                errors.push(format!(
                    "The product of order product {id} cannot be changed; add a new line instead."
                ));
                continue;
            }
            let floor = line.quantity_shipped.max(line.quantity_refunded);
            match quantity {
                Some(0) if floor > 0 => {
                    errors.push(format!(
                        "The order product {id} has been shipped or refunded and cannot be removed."
                    ));
                    continue;
                }
                Some(0) => {
                    order.lines.remove(idx);
                    continue;
                }
                Some(q) if q < floor => {
                    errors.push(format!(
                        "The quantity of order product {id} cannot be less than the {floor} already shipped or refunded."
                    ));
                    continue;
                }
                Some(q) => line.quantity = q,
                None => {}
            }
            set_prices(line);
            if let Some(n) = name {
                line.name = n;
            }
            if let Some(sku) = obj.get("sku").and_then(Value::as_str) {
                line.sku = sku.to_owned();
            }
            line.recompute();
            continue;
        }
        let quantity = match quantity {
            Some(q) if q >= 1 => q,
            _ => {
                errors.push("The field 'products.quantity' is required to add a product.".into());
                continue;
            }
        };
        let mut line = match obj.get("product_id") {
            Some(pid) => {
                let Some(product) =
                    count(pid).and_then(|pid| spec.products.iter().find(|p| p.id == pid))
                else {
                    errors.push(format!("The product {pid} does not exist in the catalog."));
                    continue;
                };
                OrderLine::from_catalog(commerce.new_order_product_id(), product, quantity)
            }
            None => {
                // A custom product (`orderCustomProduct_Put`): a name and both prices.
                let (Some(n), Some(i), Some(e)) = (name.clone(), inc, ex) else {
                    errors.push(
                        "A custom product needs 'name', 'quantity', 'price_inc_tax' and 'price_ex_tax'."
                            .into(),
                    );
                    continue;
                };
                OrderLine {
                    id: commerce.new_order_product_id(),
                    product_id: 0,
                    variant_id: 0,
                    name: n,
                    sku: obj
                        .get("sku")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                    digital: false,
                    quantity,
                    unit: i,
                    unit_ex: e,
                    total: 0,
                    total_ex: 0,
                    quantity_shipped: 0,
                    quantity_refunded: 0,
                    refund_amount: 0,
                }
            }
        };
        if !line.digital && order.shipping.is_none() {
            errors.push(format!(
                "Order {} has no shipping address for a physical product.",
                order.id
            ));
            continue;
        }
        set_prices(&mut line);
        if let Some(n) = name {
            line.name = n;
        }
        line.recompute();
        order.lines.push(line);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Applies `order_Put` `shipping_addresses` (each with the `id` of the order's address).
pub(crate) fn apply_shipping_addresses(
    order: &mut OrderRec,
    addresses: &Value,
) -> Result<(), Vec<String>> {
    let Some(list) = addresses.as_array() else {
        return Err(vec![invalid_field("shipping_addresses")]);
    };
    let mut errors = Vec::new();
    for a in list {
        let Some(obj) = a.as_object() else {
            errors.push(invalid_field("shipping_addresses"));
            continue;
        };
        if let Some(k) = obj.keys().find(|k| !ADDRESS_FIELDS.contains(&k.as_str())) {
            errors.push(format!(
                "The field 'shipping_addresses.{k}' is not supported by this resource."
            ));
            continue;
        }
        let Some(id) = obj.get("id").and_then(count) else {
            errors.push("The field 'shipping_addresses.id' is required.".into());
            continue;
        };
        let Some(s) = order.shipping.as_mut().filter(|s| s.id == id) else {
            errors.push(format!(
                "The shipping address {id} does not exist on order {}.",
                order.id
            ));
            continue;
        };
        let mut fields = obj.clone();
        fields.remove("id");
        if let Some(m) = fields.remove("shipping_method") {
            match m.as_str() {
                Some(m) => s.method = m.to_owned(),
                None => errors.push(invalid_field("shipping_addresses.shipping_method")),
            }
        }
        fields.remove("country");
        let bad = s.address.apply_v2(&fields);
        errors.extend(
            bad.iter()
                .map(|f| invalid_field(&format!("shipping_addresses.{f}"))),
        );
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::{fmt2, round_cents};

    #[test]
    fn amounts_round_to_whole_cents() {
        assert_eq!(round_cents(199_950), 200_000);
        assert_eq!(round_cents(199_949), 199_900);
        assert_eq!(round_cents(-50), -100);
        assert_eq!(fmt2(49_500), "4.95");
        assert_eq!(fmt2(1_234_567), "123.46");
        assert_eq!(fmt2(0), "0.00");
    }
}
