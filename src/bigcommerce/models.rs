//! Typed v2 order data: the order, its products and its shipping addresses
//! (bigcommerce-api.md §3.2–§3.3, `orders.v2.oas2.yml`).
//!
//! Money fields are integer cents, read exactly from BigCommerce's four-decimal strings (or
//! numbers) by [`deserialize_cents`]. Fields BigCommerce may omit or send as `null` default to
//! zero or empty; fields the app does not use are ignored.

use serde::{Deserialize, Deserializer};

use crate::domain::{BcOrderId, deserialize_cents, deserialize_opt_cents};

/// Reads `null` as an empty string, for text fields BigCommerce sometimes sends as `null`.
fn nullable_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// Reads a value documented as "string or number" (e.g. `payment_provider_id`) into a string;
/// `null` and `""` are `None`.
fn opt_string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    use serde::de::Error;
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::String(s) if s.is_empty() => Ok(None),
        serde_json::Value::String(s) => Ok(Some(s)),
        serde_json::Value::Number(n) => Ok(Some(n.to_string())),
        other => Err(D::Error::custom(format!(
            "expected a string or a number, found {other}"
        ))),
    }
}

/// A v2 order (`GET /v2/orders/{id}`). All amounts are cents.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Order {
    pub id: BcOrderId,
    #[serde(default)]
    pub status_id: u32,
    /// 0 for a guest.
    #[serde(default)]
    pub customer_id: u64,
    /// The display currency.
    #[serde(default, deserialize_with = "nullable_string")]
    pub currency_code: String,
    /// The transactional currency, the one the amounts are in and the shopper pays in.
    #[serde(default)]
    pub default_currency_code: Option<String>,
    #[serde(default)]
    pub is_tax_inclusive_pricing: bool,
    /// Products before discounts, tax included.
    #[serde(deserialize_with = "deserialize_cents")]
    pub subtotal_inc_tax: i64,
    /// The order total, tax included, before store credit and gift certificates are redeemed.
    #[serde(deserialize_with = "deserialize_cents")]
    pub total_inc_tax: i64,
    #[serde(default, deserialize_with = "deserialize_cents")]
    pub shipping_cost_inc_tax: i64,
    #[serde(default, deserialize_with = "deserialize_cents")]
    pub handling_cost_inc_tax: i64,
    #[serde(default, deserialize_with = "deserialize_cents")]
    pub wrapping_cost_inc_tax: i64,
    /// Automatic and manual discounts (not coupons).
    #[serde(default, deserialize_with = "deserialize_cents")]
    pub discount_amount: i64,
    /// Coupons.
    #[serde(default, deserialize_with = "deserialize_cents")]
    pub coupon_discount: i64,
    /// Store credit redeemed on this order.
    #[serde(default, deserialize_with = "deserialize_cents")]
    pub store_credit_amount: i64,
    /// Gift certificates redeemed on this order.
    #[serde(default, deserialize_with = "deserialize_cents")]
    pub gift_certificate_amount: i64,
    pub billing_address: BillingAddress,
    #[serde(default, deserialize_with = "nullable_string")]
    pub ip_address: String,
    /// e.g. `en`, `es-ES`.
    #[serde(default)]
    pub customer_locale: Option<String>,
    /// Links the order to its checkout (the cart id).
    #[serde(default)]
    pub cart_id: Option<String>,
    #[serde(default)]
    pub channel_id: Option<u64>,
    /// RFC 2822, e.g. `Tue, 05 Mar 2019 21:40:11 +0000`.
    #[serde(default)]
    pub date_created: Option<String>,
    #[serde(default)]
    pub payment_method: Option<String>,
    #[serde(default, deserialize_with = "opt_string_or_number")]
    pub payment_provider_id: Option<String>,
    /// Number of items.
    #[serde(default)]
    pub items_total: Option<u64>,
    #[serde(default)]
    pub order_source: Option<String>,
    /// Archived (`DELETE /v2/orders/{id}`).
    #[serde(default)]
    pub is_deleted: bool,
    /// RFC 2822.
    #[serde(default)]
    pub date_modified: Option<String>,
}

impl Order {
    /// The currency the amounts are in: the transactional currency when BigCommerce sends it,
    /// else the display currency.
    pub fn transactional_currency(&self) -> &str {
        self.default_currency_code
            .as_deref()
            .filter(|c| !c.trim().is_empty())
            .unwrap_or(&self.currency_code)
    }
}

/// The order's billing address (`billing_address`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct BillingAddress {
    #[serde(deserialize_with = "nullable_string")]
    pub first_name: String,
    #[serde(deserialize_with = "nullable_string")]
    pub last_name: String,
    #[serde(deserialize_with = "nullable_string")]
    pub company: String,
    #[serde(deserialize_with = "nullable_string")]
    pub street_1: String,
    #[serde(deserialize_with = "nullable_string")]
    pub street_2: String,
    #[serde(deserialize_with = "nullable_string")]
    pub city: String,
    #[serde(deserialize_with = "nullable_string")]
    pub state: String,
    #[serde(deserialize_with = "nullable_string")]
    pub zip: String,
    /// Country name, e.g. `Spain`.
    #[serde(deserialize_with = "nullable_string")]
    pub country: String,
    /// ISO 3166-1 alpha-2.
    #[serde(deserialize_with = "nullable_string")]
    pub country_iso2: String,
    #[serde(deserialize_with = "nullable_string")]
    pub phone: String,
    #[serde(deserialize_with = "nullable_string")]
    pub email: String,
}

/// What kind of thing an order product is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProductType {
    #[default]
    Physical,
    Digital,
    /// A gift certificate bought in the order.
    #[serde(rename = "giftcertificate")]
    GiftCertificate,
    /// A type this app does not know; treated as physical.
    #[serde(other)]
    Other,
}

impl ProductType {
    /// Whether BigCommerce ships it (a shipment can hold it): physical goods, and a type the
    /// app does not know.
    pub fn ships(self) -> bool {
        matches!(self, ProductType::Physical | ProductType::Other)
    }
}

/// One line of `GET /v2/orders/{id}/products`. Amounts are cents.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct OrderProduct {
    /// The order product id (used by shipments).
    pub id: u64,
    /// 0 for a custom product.
    #[serde(default)]
    pub product_id: u64,
    #[serde(default)]
    pub variant_id: Option<u64>,
    #[serde(default)]
    pub order_address_id: Option<u64>,
    #[serde(default, deserialize_with = "nullable_string")]
    pub name: String,
    #[serde(default, deserialize_with = "nullable_string")]
    pub sku: String,
    #[serde(rename = "type", default)]
    pub kind: ProductType,
    pub quantity: u32,
    #[serde(default)]
    pub quantity_shipped: u32,
    /// Unit price before discounts, tax included.
    #[serde(deserialize_with = "deserialize_cents")]
    pub price_inc_tax: i64,
    #[serde(default, deserialize_with = "deserialize_cents")]
    pub price_ex_tax: i64,
    #[serde(default, deserialize_with = "deserialize_cents")]
    pub total_inc_tax: i64,
    #[serde(default, deserialize_with = "deserialize_cents")]
    pub total_ex_tax: i64,
    /// The line after every discount, tax included, when BigCommerce sends it.
    #[serde(default, deserialize_with = "deserialize_opt_cents")]
    pub discounted_total_inc_tax: Option<i64>,
    /// Gift wrapping for the whole line, tax included.
    #[serde(default, deserialize_with = "deserialize_cents")]
    pub wrapping_cost_inc_tax: i64,
    #[serde(default)]
    pub wrapping_name: Option<String>,
    /// The order-level and product-level discounts spread onto this line.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub applied_discounts: Vec<AppliedDiscount>,
    #[serde(default)]
    pub is_bundled_product: bool,
    #[serde(default)]
    pub parent_order_product_id: Option<u64>,
    #[serde(default)]
    pub gift_certificate_id: Option<u64>,
}

fn null_as_empty<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// A discount spread onto an order product (`applied_discounts[]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AppliedDiscount {
    /// e.g. `manual-discount`, `total-coupon`, or a number.
    #[serde(default, deserialize_with = "opt_string_or_number")]
    pub id: Option<String>,
    /// This line's share, in cents.
    #[serde(deserialize_with = "deserialize_cents")]
    pub amount: i64,
    #[serde(default)]
    pub name: Option<String>,
    /// The coupon code; `None` for automatic and manual discounts.
    #[serde(default)]
    pub code: Option<String>,
    /// `order` or `product`.
    #[serde(default)]
    pub target: Option<String>,
}

/// One of `GET /v2/orders/{id}/shipping_addresses`. Amounts are cents.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ShippingAddress {
    /// The order address id.
    pub id: u64,
    #[serde(default, deserialize_with = "nullable_string")]
    pub first_name: String,
    #[serde(default, deserialize_with = "nullable_string")]
    pub last_name: String,
    #[serde(default, deserialize_with = "nullable_string")]
    pub company: String,
    #[serde(default, deserialize_with = "nullable_string")]
    pub street_1: String,
    #[serde(default, deserialize_with = "nullable_string")]
    pub street_2: String,
    #[serde(default, deserialize_with = "nullable_string")]
    pub city: String,
    #[serde(default, deserialize_with = "nullable_string")]
    pub state: String,
    #[serde(default, deserialize_with = "nullable_string")]
    pub zip: String,
    #[serde(default, deserialize_with = "nullable_string")]
    pub country: String,
    /// ISO 3166-1 alpha-2.
    #[serde(default, deserialize_with = "nullable_string")]
    pub country_iso2: String,
    #[serde(default, deserialize_with = "nullable_string")]
    pub phone: String,
    #[serde(default, deserialize_with = "nullable_string")]
    pub email: String,
    /// The shipping method's display name, e.g. `Flat Rate`.
    #[serde(default, deserialize_with = "nullable_string")]
    pub shipping_method: String,
    /// Shipping to this address, tax included.
    #[serde(default, deserialize_with = "deserialize_cents")]
    pub cost_inc_tax: i64,
    #[serde(default)]
    pub items_total: u64,
    #[serde(default)]
    pub items_shipped: u64,
    #[serde(default)]
    pub shipping_zone_name: Option<String>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The `order_Resp` example of `orders.v2.oas2.yml`, trimmed of sub-resource links.
    fn yml_order() -> serde_json::Value {
        serde_json::from_str(
            r#"{
            "id": 218, "customer_id": 11,
            "date_created": "Tue, 05 Mar 2019 21:40:11 +0000",
            "date_modified": "Mon, 11 Mar 2019 15:17:25 +0000", "date_shipped": "",
            "status_id": 7, "status": "Awaiting Payment",
            "subtotal_ex_tax": "62.6793", "subtotal_inc_tax": "67.8400", "subtotal_tax": "4.4000",
            "base_shipping_cost": "12.0000", "shipping_cost_ex_tax": "11.0900",
            "shipping_cost_inc_tax": "12.0000", "shipping_cost_tax": "0.9100",
            "shipping_cost_tax_class_id": 0,
            "base_handling_cost": "0.0000", "handling_cost_ex_tax": "0.0000",
            "handling_cost_inc_tax": "0.0000", "handling_cost_tax": "0.0000",
            "base_wrapping_cost": "0.0000", "wrapping_cost_ex_tax": "0.0000",
            "wrapping_cost_inc_tax": "0.0000", "wrapping_cost_tax": "0.0000",
            "total_ex_tax": "64.5300", "total_inc_tax": "69.8400", "total_tax": "5.3100",
            "is_tax_inclusive_pricing": false, "items_total": 4, "items_shipped": 0,
            "payment_method": "Cash", "payment_provider_id": "", "payment_status": "authorized",
            "refunded_amount": "0.0000", "order_is_digital": false,
            "store_credit_amount": "0.0000", "gift_certificate_amount": "0.0000",
            "ip_address": "", "ip_address_v6": "", "geoip_country": "", "geoip_country_iso2": "",
            "currency_id": 1, "currency_code": "USD", "currency_exchange_rate": "1.0000000000",
            "default_currency_id": 1, "default_currency_code": "USD",
            "staff_notes": "", "customer_message": "",
            "discount_amount": "5.0000", "coupon_discount": "5.0000",
            "shipping_address_count": 1, "ebay_order_id": "0",
            "cart_id": "7e48f7ef-2e88-4817-aea4-b0ed01490114",
            "billing_address": {
                "first_name": "Jane", "last_name": "Doe", "company": "",
                "street_1": "555 East Street", "street_2": "", "city": "Austin",
                "state": "Texas", "zip": "78108", "country": "United States",
                "country_iso2": "US", "phone": "1234567890", "email": "janedoe@example.com",
                "form_fields": [{"name": "Delivery Instructions", "value": "Leave in backyard"}]
            },
            "is_email_opt_in": false, "credit_card_type": null, "order_source": "external",
            "channel_id": 1, "external_source": null,
            "products": {"url": "https://api.bigcommerce.com/stores/x/v2/orders/218/products",
                         "resource": "/orders/218/products"},
            "external_id": null, "external_merchant_id": null,
            "customer_locale": "en"
        }"#,
        )
        .unwrap()
    }

    #[test]
    fn the_yml_order_example_parses_with_money_in_cents() {
        let order: Order = serde_json::from_value(yml_order()).unwrap();
        assert_eq!(order.id, BcOrderId(218));
        assert_eq!(order.customer_id, 11);
        assert_eq!(order.status_id, 7);
        assert_eq!(order.subtotal_inc_tax, 6784);
        assert_eq!(order.total_inc_tax, 6984);
        assert_eq!(order.shipping_cost_inc_tax, 1200);
        assert_eq!((order.discount_amount, order.coupon_discount), (500, 500));
        assert_eq!(order.store_credit_amount, 0);
        assert!(!order.is_tax_inclusive_pricing);
        assert_eq!(order.billing_address.email, "janedoe@example.com");
        assert_eq!(order.billing_address.country_iso2, "US");
        assert_eq!(order.payment_provider_id, None, "\"\" is no provider id");
        assert_eq!(order.transactional_currency(), "USD");
        assert_eq!(order.customer_locale.as_deref(), Some("en"));
        assert_eq!(order.items_total, Some(4));
        assert_eq!(order.channel_id, Some(1));
    }

    #[test]
    fn an_order_tolerates_missing_optional_fields_and_numbers_for_amounts() {
        let order: Order = serde_json::from_value(json!({
            "id": 1, "currency_code": "EUR",
            "subtotal_inc_tax": 10, "total_inc_tax": 12.5,
            "payment_provider_id": 12345,
            "billing_address": {"first_name": "Ana", "company": null, "email": "a@b.es"}
        }))
        .unwrap();
        assert_eq!(order.subtotal_inc_tax, 1000);
        assert_eq!(order.total_inc_tax, 1250);
        assert_eq!(order.wrapping_cost_inc_tax, 0);
        assert_eq!(order.payment_provider_id.as_deref(), Some("12345"));
        assert_eq!(order.billing_address.company, "");
        assert_eq!(order.transactional_currency(), "EUR");
        assert_eq!(order.customer_id, 0);
    }

    #[test]
    fn the_transactional_currency_wins_over_the_display_currency() {
        let mut value = yml_order();
        value["currency_code"] = json!("USD");
        value["default_currency_code"] = json!("EUR");
        let order: Order = serde_json::from_value(value).unwrap();
        assert_eq!(order.transactional_currency(), "EUR");
    }

    #[test]
    fn a_malformed_amount_is_refused() {
        let mut value = yml_order();
        value["total_inc_tax"] = json!("69.84.00");
        assert!(serde_json::from_value::<Order>(value).is_err());
    }

    #[test]
    fn the_yml_order_products_parse_with_their_applied_discounts() {
        let products: Vec<OrderProduct> = serde_json::from_value(json!([
            {"id": 65, "order_id": 149, "product_id": 77, "order_address_id": 51,
             "name": "Fog Linen Chambray Towel - Beige Stripe", "sku": "S-ORAN",
             "upc": "1234567891112", "type": "physical",
             "base_price": "55.9900", "price_ex_tax": "55.9900", "price_inc_tax": "65.2300",
             "price_tax": "9.2400", "base_total": "55.9900", "total_ex_tax": "55.9900",
             "total_inc_tax": "65.2300", "total_tax": "9.2400", "quantity": 1,
             "is_refunded": false, "quantity_refunded": 0, "refund_amount": "0.0000",
             "wrapping_id": 0, "wrapping_name": "", "wrapping_cost_inc_tax": "0.0000",
             "quantity_shipped": 0, "fixed_shipping_cost": "5.0000",
             "parent_order_product_id": null, "is_bundled_product": false,
             "applied_discounts": [{"id": "manual-discount", "amount": "1.5900",
                                    "name": "Manual Discount", "code": null, "target": "order"}],
             "product_options": [{"id": 45, "display_name": "Size", "value": "69"}],
             "configurable_fields": [], "gift_certificate_id": null,
             "discounted_total_inc_tax": "63.6400"},
            {"id": 66, "product_id": 86, "name": "Able Brewing System", "sku": "ABS",
             "type": "physical", "price_inc_tax": "0.0000", "total_inc_tax": "0.0000",
             "quantity": 1, "parent_order_product_id": 65, "is_bundled_product": true,
             "applied_discounts": [], "discounted_total_inc_tax": "0.0000"},
            {"id": 67, "product_id": 0, "name": "Gift Certificate", "sku": null,
             "type": "giftcertificate", "price_inc_tax": "25.0000", "quantity": 1,
             "gift_certificate_id": 52},
            {"id": 68, "product_id": 90, "name": "E-book", "sku": "EB", "type": "digital",
             "price_inc_tax": 9.99, "quantity": 2, "applied_discounts": null},
            {"id": 69, "product_id": 91, "name": "Hologram", "sku": "H", "type": "hologram",
             "price_inc_tax": "1", "quantity": 1}
        ]))
        .unwrap();
        assert_eq!(products[0].price_inc_tax, 6523);
        assert_eq!(products[0].discounted_total_inc_tax, Some(6364));
        assert_eq!(products[0].applied_discounts[0].amount, 159);
        assert_eq!(products[0].applied_discounts[0].code, None);
        assert_eq!(products[0].kind, ProductType::Physical);
        assert_eq!(products[1].parent_order_product_id, Some(65));
        assert!(products[1].is_bundled_product);
        assert_eq!(products[2].kind, ProductType::GiftCertificate);
        assert_eq!(products[2].sku, "");
        assert_eq!(products[2].gift_certificate_id, Some(52));
        assert_eq!(products[3].kind, ProductType::Digital);
        assert_eq!(products[3].price_inc_tax, 999);
        assert!(products[3].applied_discounts.is_empty());
        assert_eq!(products[4].kind, ProductType::Other);
    }

    #[test]
    fn a_negative_quantity_is_refused_at_the_edge() {
        let bad = serde_json::from_value::<OrderProduct>(
            json!({"id": 1, "name": "x", "price_inc_tax": "1", "quantity": -1}),
        );
        assert!(bad.is_err());
    }

    #[test]
    fn a_shipping_address_parses_from_the_yml_shape() {
        let address: ShippingAddress = serde_json::from_value(json!({
            "id": 51, "order_id": 149, "first_name": "Jane", "last_name": "Doe",
            "company": "", "street_1": "455 Main Street", "street_2": "", "city": "Austin",
            "zip": "78751", "country": "United States", "country_iso2": "US",
            "state": "Texas", "email": "janedoe@example.com", "phone": "555-123-4567",
            "items_total": 2, "items_shipped": 0, "shipping_method": "Flat Rate",
            "base_cost": "12.0000", "cost_ex_tax": "11.0900", "cost_inc_tax": "12.0000",
            "cost_tax": "0.9100", "cost_tax_class_id": 2, "base_handling_cost": "0.0000",
            "handling_cost_inc_tax": "0.0000", "shipping_zone_id": 1,
            "shipping_zone_name": "United States", "shipping_quotes": {"url": "x", "resource": "y"},
            "form_fields": []
        }))
        .unwrap();
        assert_eq!(address.id, 51);
        assert_eq!(address.cost_inc_tax, 1200);
        assert_eq!(address.shipping_method, "Flat Rate");
        assert_eq!(address.items_total, 2);
        assert_eq!(address.shipping_zone_name.as_deref(), Some("United States"));
    }
}

/// A shipment of an order (`GET /v2/orders/{id}/shipments`, `orderShipment`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Shipment {
    pub id: u64,
    #[serde(default)]
    pub order_address_id: Option<u64>,
    #[serde(default)]
    pub items: Vec<ShipmentItem>,
    #[serde(default, deserialize_with = "nullable_string")]
    pub tracking_number: String,
    #[serde(default, deserialize_with = "nullable_string")]
    pub tracking_link: String,
    #[serde(default, deserialize_with = "nullable_string")]
    pub shipping_provider: String,
    #[serde(default, deserialize_with = "nullable_string")]
    pub tracking_carrier: String,
    #[serde(default, deserialize_with = "nullable_string")]
    pub shipping_method: String,
    /// RFC 2822.
    #[serde(default, deserialize_with = "nullable_string")]
    pub date_created: String,
}

/// One shipped line: how many of an order product.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ShipmentItem {
    pub order_product_id: u64,
    pub quantity: u32,
}

/// A refund (`GET /v3/orders/{id}/payment_actions/refunds`, v3 amounts are numbers).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Refund {
    pub id: u64,
    #[serde(deserialize_with = "deserialize_cents")]
    pub total_amount: i64,
    #[serde(default)]
    pub items: Vec<RefundItem>,
    #[serde(default, deserialize_with = "nullable_string")]
    pub created: String,
}

/// A refunded item: a product quantity, or an amount against shipping, handling, the order…
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RefundItem {
    pub item_type: String,
    #[serde(default)]
    pub item_id: u64,
    #[serde(default)]
    pub quantity: Option<u32>,
    #[serde(default, deserialize_with = "deserialize_opt_cents")]
    pub requested_amount: Option<i64>,
}

/// An order in a list (`GET /v2/orders`): just what the reconciliation needs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct OrderSummary {
    pub id: u64,
    #[serde(default)]
    pub status_id: u32,
    /// The payment method's name ("seQura – …" once the app placed it).
    #[serde(default)]
    pub payment_method: Option<String>,
    /// Whose payment it carries (the app writes its seQura order's uuid when it places one).
    #[serde(default, deserialize_with = "opt_string_or_number")]
    pub payment_provider_id: Option<String>,
    /// RFC 2822.
    #[serde(default)]
    pub date_modified: Option<String>,
}

/// BigCommerce's system name of an order status (bigcommerce-api.md §3.4).
pub fn status_name(id: u32) -> &'static str {
    match id {
        0 => "Incomplete",
        1 => "Pending",
        2 => "Shipped",
        3 => "Partially Shipped",
        4 => "Refunded",
        5 => "Cancelled",
        6 => "Declined",
        7 => "Awaiting Payment",
        8 => "Awaiting Pickup",
        9 => "Awaiting Shipment",
        10 => "Completed",
        11 => "Awaiting Fulfillment",
        12 => "Manual Verification Required",
        13 => "Disputed",
        14 => "Partially Refunded",
        _ => "Unknown",
    }
}
