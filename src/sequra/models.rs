//! The JSON bodies seQura reads and writes, field for field (sequra-api.md §2–§9).
//!
//! Money is always integer cents (`i64`). Optional fields are omitted when `None`, never sent
//! as `null`, because that is what seQura's own integrations send. Response models tolerate
//! fields they do not know.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

/// Reads `null` as the type's default, for lists seQura may send as `null`.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Reads a reference that seQura documents as "string or int" into a string.
fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    use serde::de::Error;
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        other => Err(D::Error::custom(format!(
            "expected a string or a number, found {other}"
        ))),
    }
}

/// Like [`string_or_number`], for optional references.
fn opt_string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    use serde::de::Error;
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::String(s) => Ok(Some(s)),
        serde_json::Value::Number(n) => Ok(Some(n.to_string())),
        other => Err(D::Error::custom(format!(
            "expected a string or a number, found {other}"
        ))),
    }
}

// ---------------------------------------------------------------------------------------------
// §2.1 Credentials
// ---------------------------------------------------------------------------------------------

/// One merchant ref the account may use, from `GET merchants/credentials` (§2.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MerchantCredentials {
    #[serde(rename = "ref")]
    pub merchant_ref: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// ISO 3166-1 alpha-2 country this merchant ref sells to.
    pub country: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub allowed_countries: Vec<String>,
    /// ISO 4217 currency, e.g. `EUR`.
    pub currency: String,
    /// Key for the promotional widgets script.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assets_key: Option<String>,
    /// Feature flags such as `services`, `allow_first_instalment_delay`, `with_registration`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub contract_options: Vec<String>,
    /// `sequra` or `svea`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realm: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// §5 Payment methods
// ---------------------------------------------------------------------------------------------

/// A group of payment methods (`pay_now`, `pay_later`, `part_payment`) (§5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentCategory {
    #[serde(default)]
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    pub category: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub methods: Vec<PaymentMethod>,
}

/// One payment method, identified by `(product, campaign)` (§5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentMethod {
    /// Product code such as `i1`, `pp3`, `sp1`.
    pub product: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    #[serde(default)]
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub long_title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// An inline SVG document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    /// Only meaningful on the order endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<Cost>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_description: Option<String>,
    /// ISO-8601 UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<String>,
    /// ISO-8601 UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<String>,
    /// Cents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_amount: Option<i64>,
    /// Cents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_amount: Option<i64>,
}

/// What a method costs the shopper for one order, in cents (§5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Cost {
    pub setup_fee: i64,
    pub instalment_fee: i64,
    pub down_payment_fees: i64,
    pub instalment_total: i64,
}

// ---------------------------------------------------------------------------------------------
// §3 Orders
// ---------------------------------------------------------------------------------------------

/// The order sent at solicitation (`state` = `""`) and at confirmation
/// (`state` = `"confirmed"` or `"on_hold"`) (§3.1, §3.2, §6.4).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct OrderRequest {
    #[serde(default)]
    pub state: String,
    pub merchant: Merchant,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_reference: Option<MerchantReference>,
    pub cart: Cart,
    pub delivery_method: DeliveryMethod,
    pub delivery_address: Address,
    pub invoice_address: Address,
    pub customer: Customer,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gui: Option<Gui>,
    pub platform: Platform,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trackings: Option<Vec<Tracking>>,
}

/// The `merchant` block of an order: who sells, and where seQura calls back (§3.2).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Merchant {
    /// The merchant ref.
    #[serde(deserialize_with = "string_or_number")]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_url: Option<String>,
    /// Echoed verbatim in the IPN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_parameters: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_url: Option<String>,
    /// Name of a JavaScript function.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_callback: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edit_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_url: Option<String>,
    /// Name of a JavaScript function.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected_callback: Option<String>,
    /// Name of a JavaScript function.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partpayment_details_getter: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<MerchantOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events_webhook: Option<EventsWebhook>,
}

/// `merchant.options` (§3.2).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MerchantOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_jquery: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uses_shipped_cart: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addresses_may_be_missing: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable_customer_data: Option<bool>,
    /// ISO-8601 datetime; services with `allow_first_instalment_delay` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_first_charge_on: Option<String>,
}

/// `merchant.events_webhook`: seQura posts events there with `m_`-prefixed parameters (§6.6).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EventsWebhook {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<BTreeMap<String, String>>,
}

/// The shop's own order references.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MerchantReference {
    #[serde(
        default,
        deserialize_with = "opt_string_or_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub order_ref_1: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_string_or_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub order_ref_2: Option<String>,
}

/// `{"id": <merchant ref>}`, the merchant block of updates and reports (§7, §9).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MerchantId {
    #[serde(deserialize_with = "string_or_number")]
    pub id: String,
}

/// A cart whose `order_total_with_tax` must equal the sum of its items (§3.2).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Cart {
    /// ISO 4217, e.g. `EUR`.
    pub currency: String,
    #[serde(default)]
    pub gift: bool,
    /// Cents.
    pub order_total_with_tax: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cart_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub items: Vec<CartItem>,
}

impl Cart {
    /// A cart whose total is exactly the sum of `items`, not a gift, with no optional fields.
    pub fn new(currency: impl Into<String>, items: Vec<CartItem>) -> Cart {
        let order_total_with_tax = sum(&items);
        Cart {
            currency: currency.into(),
            gift: false,
            order_total_with_tax,
            cart_ref: None,
            created_at: None,
            updated_at: None,
            items,
        }
    }

    /// An empty cart (total 0), as sent for a fully shipped, cancelled or refunded order.
    pub fn empty(currency: impl Into<String>) -> Cart {
        Cart::new(currency, Vec::new())
    }

    /// Whether the total equals the sum of the items, as seQura requires (else 409).
    pub fn adds_up(&self) -> bool {
        self.items
            .iter()
            .try_fold(0i64, |acc, item| acc.checked_add(item.total_with_tax()))
            == Some(self.order_total_with_tax)
    }
}

fn sum(items: &[CartItem]) -> i64 {
    items
        .iter()
        .fold(0i64, |acc, item| acc.saturating_add(item.total_with_tax()))
}

/// A cart line, tagged by `type` (§3.2). Amounts are cents; discounts and other payments are
/// negative, every other type is zero or positive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CartItem {
    Product {
        reference: String,
        name: String,
        price_with_tax: i64,
        quantity: i64,
        total_with_tax: i64,
        downloadable: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        perishable: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        personalized: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        restockable: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        category: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        manufacturer: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        supplier: Option<String>,
        #[serde(
            default,
            deserialize_with = "opt_string_or_number",
            skip_serializing_if = "Option::is_none"
        )]
        product_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
        /// Links the item to a [`Tracking`] with the same `reference`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tracking_reference: Option<String>,
    },
    /// Exactly one of `ends_on` / `ends_in`.
    Service {
        reference: String,
        name: String,
        /// ISO-8601 date, e.g. `2027-06-30`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ends_on: Option<String>,
        /// ISO-8601 duration, e.g. `P1Y`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ends_in: Option<String>,
        price_with_tax: i64,
        quantity: i64,
        total_with_tax: i64,
        downloadable: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        supplier: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rendered: Option<bool>,
    },
    Registration {
        reference: String,
        name: String,
        total_with_tax: i64,
    },
    /// Shipping and other fees.
    Handling {
        reference: String,
        name: String,
        total_with_tax: i64,
    },
    InvoiceFee {
        total_with_tax: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    /// Negative.
    Discount {
        reference: String,
        name: String,
        total_with_tax: i64,
    },
    /// Gift cards, partial payments, refunds; negative.
    OtherPayment {
        reference: String,
        name: String,
        total_with_tax: i64,
    },
}

impl CartItem {
    /// The line's total in cents, signed.
    pub fn total_with_tax(&self) -> i64 {
        match self {
            CartItem::Product { total_with_tax, .. }
            | CartItem::Service { total_with_tax, .. }
            | CartItem::Registration { total_with_tax, .. }
            | CartItem::Handling { total_with_tax, .. }
            | CartItem::InvoiceFee { total_with_tax, .. }
            | CartItem::Discount { total_with_tax, .. }
            | CartItem::OtherPayment { total_with_tax, .. } => *total_with_tax,
        }
    }

    /// The line's reference (an invoice fee may have none).
    pub fn reference(&self) -> Option<&str> {
        match self {
            CartItem::Product { reference, .. }
            | CartItem::Service { reference, .. }
            | CartItem::Registration { reference, .. }
            | CartItem::Handling { reference, .. }
            | CartItem::Discount { reference, .. }
            | CartItem::OtherPayment { reference, .. } => Some(reference),
            CartItem::InvoiceFee { reference, .. } => reference.as_deref(),
        }
    }

    /// Whether this is a `product` line.
    pub fn is_product(&self) -> bool {
        matches!(self, CartItem::Product { .. })
    }

    /// Whether this line is goods sold (a product, a service or a service's registration),
    /// as opposed to the order's charges, discounts and payments.
    pub fn is_goods(&self) -> bool {
        matches!(
            self,
            CartItem::Product { .. } | CartItem::Service { .. } | CartItem::Registration { .. }
        )
    }

    /// The same line with another total (for splitting an order-level line between carts;
    /// a product line keeps its own total, which is `price × quantity`).
    pub fn with_total(&self, total: i64) -> CartItem {
        let mut item = self.clone();
        match &mut item {
            CartItem::Product { .. } => {}
            CartItem::Service { total_with_tax, .. }
            | CartItem::Registration { total_with_tax, .. }
            | CartItem::Handling { total_with_tax, .. }
            | CartItem::InvoiceFee { total_with_tax, .. }
            | CartItem::Discount { total_with_tax, .. }
            | CartItem::OtherPayment { total_with_tax, .. } => *total_with_tax = total,
        }
        item
    }

    /// A physical product line with no optional fields; the total is `price × quantity`.
    pub fn product(
        reference: impl Into<String>,
        name: impl Into<String>,
        price_with_tax: i64,
        quantity: i64,
    ) -> CartItem {
        CartItem::Product {
            reference: reference.into(),
            name: name.into(),
            price_with_tax,
            quantity,
            total_with_tax: price_with_tax.saturating_mul(quantity),
            downloadable: false,
            perishable: None,
            personalized: None,
            restockable: None,
            category: None,
            description: None,
            manufacturer: None,
            supplier: None,
            product_id: None,
            url: None,
            tracking_reference: None,
        }
    }

    /// A shipping or fee line.
    pub fn handling(reference: impl Into<String>, name: impl Into<String>, total: i64) -> CartItem {
        CartItem::Handling {
            reference: reference.into(),
            name: name.into(),
            total_with_tax: total,
        }
    }

    /// A discount line; `amount` is made negative whatever its sign.
    pub fn discount(
        reference: impl Into<String>,
        name: impl Into<String>,
        amount: i64,
    ) -> CartItem {
        CartItem::Discount {
            reference: reference.into(),
            name: name.into(),
            total_with_tax: -amount.saturating_abs(),
        }
    }

    /// A gift card, partial payment or refund line; `amount` is made negative whatever its sign.
    pub fn other_payment(
        reference: impl Into<String>,
        name: impl Into<String>,
        amount: i64,
    ) -> CartItem {
        CartItem::OtherPayment {
            reference: reference.into(),
            name: name.into(),
            total_with_tax: -amount.saturating_abs(),
        }
    }
}

/// How the goods travel (§3.2).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DeliveryMethod {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home_delivery: Option<bool>,
}

/// A delivery or invoice address. `company` and `address_line_2` are always sent, empty if
/// unknown (§3.2).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Address {
    pub given_names: String,
    pub surnames: String,
    pub company: String,
    pub address_line_1: String,
    pub address_line_2: String,
    pub postal_code: String,
    pub city: String,
    /// ISO 3166-1 alpha-2.
    pub country_code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mobile_phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vat_number: Option<String>,
}

/// The shopper (§3.1, §3.2).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Customer {
    pub given_names: String,
    pub surnames: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub email: String,
    pub logged_in: bool,
    /// e.g. `es-ES`.
    pub language_code: String,
    pub ip_number: String,
    pub user_agent: String,
    /// The shop's customer id.
    #[serde(
        rename = "ref",
        deserialize_with = "opt_string_or_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub ref_: Option<String>,
    /// `YYYY-MM-DD`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<String>,
    /// National id (DNI/NIE).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nin: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vat_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_orders: Option<Vec<PreviousOrder>>,
}

/// One of the shopper's earlier orders in the shop (§3.1).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PreviousOrder {
    pub created_at: String,
    /// Cents.
    pub amount: i64,
    pub currency: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_method_raw: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_code: Option<String>,
}

/// `gui.layout`: `desktop` or `smartphone`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Gui {
    pub layout: String,
}

/// The software sending the order (§3.2).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Platform {
    pub name: String,
    pub version: String,
    pub plugin_version: String,
    pub uname: String,
    pub db_name: String,
    pub db_version: String,
}

/// A shipment: `type` is `postal`, `pickup_store` or `pickup_point`; items point at it by
/// `reference` (§3.1).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Tracking {
    #[serde(rename = "type")]
    pub kind: String,
    pub reference: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carrier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_line_1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_line_2: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_code: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// §7 Order Update API
// ---------------------------------------------------------------------------------------------

/// The full resulting state of an order after a shipment, refund, cancellation or address
/// change (§7). Both carts empty means cancelled or fully refunded.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct OrderUpdate {
    pub merchant: MerchantId,
    pub merchant_reference: MerchantReference,
    pub unshipped_cart: Cart,
    pub shipped_cart: Cart,
    #[serde(default, deserialize_with = "null_as_default")]
    pub trackings: Vec<Tracking>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_method: Option<DeliveryMethod>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_address: Option<Address>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_address: Option<Address>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<Customer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

// ---------------------------------------------------------------------------------------------
// §9 Delivery report
// ---------------------------------------------------------------------------------------------

/// The daily delivery report with the last week's statistics (§9).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DeliveryReport {
    pub merchant: MerchantId,
    #[serde(default, deserialize_with = "null_as_default")]
    pub orders: Vec<ReportedOrder>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub broken_orders: Vec<serde_json::Value>,
    #[serde(default)]
    pub statistics: Statistics,
    pub platform: Platform,
}

/// One shipped or delivered order in a [`DeliveryReport`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ReportedOrder {
    /// `shipped` or `delivered`.
    pub state: String,
    /// ISO-8601.
    pub sent_at: String,
    pub merchant_reference: MerchantReference,
    /// The delivered items.
    pub cart: Cart,
    /// The items not delivered yet.
    pub remaining_cart: Cart,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trackings: Option<Vec<Tracking>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_method: Option<DeliveryMethod>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_address: Option<Address>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_address: Option<Address>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<Customer>,
}

/// `statistics`: every shop order of the last 7 days, whatever the payment method.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Statistics {
    #[serde(default, deserialize_with = "null_as_default")]
    pub orders: Vec<StatisticsOrder>,
}

/// One shop order in [`Statistics`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StatisticsOrder {
    /// ISO-8601.
    pub completed_at: String,
    /// Cents.
    pub amount: i64,
    pub currency: String,
    pub merchant_reference: MerchantReference,
    /// `CC`, `PP`, `TR`, `COD`, `SQ` or `O/<raw>`.
    pub payment_method: String,
    pub country: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// `shipped`, `cancelled` or `processing`.
    pub status: String,
    pub raw_status: String,
    pub sequra_offered: bool,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn cart_new_totals_the_items_exactly_including_negative_lines() {
        let cart = Cart::new(
            "EUR",
            vec![
                CartItem::product("sku-1", "Shirt", 1250, 3),
                CartItem::handling("ship", "Shipping", 495),
                CartItem::discount("HALF", "Half off", 750),
            ],
        );
        assert_eq!(cart.order_total_with_tax, 3750 + 495 - 750);
        assert!(cart.adds_up());
        assert!(!cart.gift);
    }

    #[test]
    fn an_empty_cart_totals_zero_and_adds_up() {
        let cart = Cart::empty("EUR");
        assert_eq!(cart.order_total_with_tax, 0);
        assert!(cart.items.is_empty());
        assert!(cart.adds_up());
    }

    #[test]
    fn a_cart_whose_total_differs_by_one_cent_does_not_add_up() {
        let mut cart = Cart::new("EUR", vec![CartItem::product("a", "A", 100, 1)]);
        cart.order_total_with_tax += 1;
        assert!(!cart.adds_up());
    }

    #[test]
    fn a_cart_whose_items_overflow_does_not_add_up() {
        let mut cart = Cart::new(
            "EUR",
            vec![
                CartItem::handling("a", "A", i64::MAX),
                CartItem::handling("b", "B", 1),
            ],
        );
        cart.order_total_with_tax = i64::MIN;
        assert!(!cart.adds_up());
    }

    #[test]
    fn a_product_line_serializes_with_its_type_tag_and_no_nulls() {
        let item = CartItem::product("12-123", "Leather Case", 3530, 2);
        assert_eq!(
            serde_json::to_value(&item).unwrap(),
            json!({"type": "product", "reference": "12-123", "name": "Leather Case",
                   "price_with_tax": 3530, "quantity": 2, "total_with_tax": 7060,
                   "downloadable": false})
        );
    }

    #[test]
    fn every_line_type_uses_sequras_snake_case_tag() {
        let items = vec![
            CartItem::Service {
                reference: "svc".into(),
                name: "Course".into(),
                ends_on: None,
                ends_in: Some("P1Y".into()),
                price_with_tax: 5000,
                quantity: 1,
                total_with_tax: 5000,
                downloadable: false,
                supplier: None,
                rendered: Some(true),
            },
            CartItem::Registration {
                reference: "reg".into(),
                name: "Registration".into(),
                total_with_tax: 1000,
            },
            CartItem::handling("seur24", "SEUR", 242),
            CartItem::InvoiceFee {
                total_with_tax: 295,
                reference: None,
                name: None,
            },
            CartItem::discount("HALFOFF", "50 % off", -750),
            CartItem::other_payment("CASH", "Paid in cash", 750),
        ];
        assert_eq!(
            serde_json::to_value(&items).unwrap(),
            json!([
                {"type": "service", "reference": "svc", "name": "Course", "ends_in": "P1Y",
                 "price_with_tax": 5000, "quantity": 1, "total_with_tax": 5000,
                 "downloadable": false, "rendered": true},
                {"type": "registration", "reference": "reg", "name": "Registration", "total_with_tax": 1000},
                {"type": "handling", "reference": "seur24", "name": "SEUR", "total_with_tax": 242},
                {"type": "invoice_fee", "total_with_tax": 295},
                {"type": "discount", "reference": "HALFOFF", "name": "50 % off", "total_with_tax": -750},
                {"type": "other_payment", "reference": "CASH", "name": "Paid in cash", "total_with_tax": -750}
            ])
        );
        let back: Vec<CartItem> =
            serde_json::from_value(serde_json::to_value(&items).unwrap()).unwrap();
        assert_eq!(back, items);
    }

    #[test]
    fn an_unknown_line_type_is_refused() {
        let err = serde_json::from_value::<CartItem>(
            json!({"type": "coupon", "reference": "x", "name": "x", "total_with_tax": 1}),
        );
        assert!(err.is_err());
    }

    #[test]
    fn credentials_tolerate_nulls_missing_and_unknown_fields() {
        let list: Vec<MerchantCredentials> = serde_json::from_value(json!([
            {"ref": "logeecom4", "name": null, "country": "ES", "allowed_countries": ["ES"],
             "currency": "EUR", "assets_key": "assetsKey4", "contract_options": [],
             "extra_information": {"type": "regular", "phone_number": ""},
             "verify_signature": false, "signature_secret": "00", "confirmation_path": "default",
             "realm": "sequra"},
            {"ref": "m2", "country": "FR", "currency": "EUR", "contract_options": null}
        ]))
        .unwrap();
        assert_eq!(list[0].merchant_ref, "logeecom4");
        assert_eq!(list[0].name, None);
        assert_eq!(list[0].assets_key.as_deref(), Some("assetsKey4"));
        assert_eq!(list[0].realm.as_deref(), Some("sequra"));
        assert_eq!(list[1].allowed_countries, Vec::<String>::new());
        assert_eq!(list[1].contract_options, Vec::<String>::new());
    }

    #[test]
    fn customer_ref_and_order_refs_accept_numbers() {
        let customer: Customer =
            serde_json::from_value(json!({"email": "a@b.c", "ref": 123})).unwrap();
        assert_eq!(customer.ref_.as_deref(), Some("123"));
        let r: MerchantReference = serde_json::from_value(json!({"order_ref_1": 42})).unwrap();
        assert_eq!(r.order_ref_1.as_deref(), Some("42"));
        assert_eq!(
            serde_json::to_value(&customer).unwrap()["ref"],
            json!("123"),
            "sent back as a string under the key `ref`"
        );
    }

    #[test]
    fn an_order_update_omits_absent_optional_blocks() {
        let update = OrderUpdate {
            merchant: MerchantId { id: "m".into() },
            merchant_reference: MerchantReference {
                order_ref_1: Some("123".into()),
                order_ref_2: None,
            },
            unshipped_cart: Cart::empty("EUR"),
            shipped_cart: Cart::new("EUR", vec![CartItem::product("s", "S", 1250, 1)]),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&update).unwrap(),
            json!({
                "merchant": {"id": "m"},
                "merchant_reference": {"order_ref_1": "123"},
                "unshipped_cart": {"currency": "EUR", "gift": false, "order_total_with_tax": 0, "items": []},
                "shipped_cart": {"currency": "EUR", "gift": false, "order_total_with_tax": 1250, "items": [
                    {"type": "product", "reference": "s", "name": "S", "price_with_tax": 1250,
                     "quantity": 1, "total_with_tax": 1250, "downloadable": false}]},
                "trackings": []
            })
        );
    }
}
