//! Typed v3 checkout data (`GET /v3/checkouts/{id}`, `checkouts.v3.yml` `Checkout`;
//! bigcommerce-api.md §4.1 (d)).
//!
//! Money fields are integer cents, read exactly from BigCommerce's JSON numbers by
//! [`deserialize_cents`]. Fields BigCommerce may omit or send as `null` default to zero or
//! empty; fields the app does not use are ignored.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::domain::{deserialize_cents, deserialize_opt_cents};

/// Reads `null` as an empty string.
fn nullable_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

fn null_as_empty<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// An id the spec types as a number (`format: double`) or a string: a non-negative integer,
/// `null`, `""` or `0` being `None`.
fn opt_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    use serde::de::Error;
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => s
            .trim()
            .parse::<u64>()
            .map(|n| (n != 0).then_some(n))
            .map_err(|_| D::Error::custom(format!("expected an id, found {s:?}"))),
        Value::Number(n) => match (n.as_u64(), n.as_f64()) {
            (Some(v), _) => Ok((v != 0).then_some(v)),
            (None, Some(f)) if f >= 0.0 && f.fract() == 0.0 && f < 9.0e15 => {
                Ok((f != 0.0).then_some(f as u64))
            }
            _ => Err(D::Error::custom(format!("expected an id, found {n}"))),
        },
        other => Err(D::Error::custom(format!("expected an id, found {other}"))),
    }
}

fn id_or_zero<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    Ok(opt_id(d)?.unwrap_or(0))
}

/// A quantity the spec types as a number (`format: double`): a non-negative integer.
fn quantity<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    use serde::de::Error;
    match Value::deserialize(d)? {
        Value::Number(n) => match (n.as_u64(), n.as_f64()) {
            (Some(v), _) => Ok(v),
            (None, Some(f)) if f >= 0.0 && f.fract() == 0.0 && f < 9.0e15 => Ok(f as u64),
            _ => Err(D::Error::custom(format!(
                "expected a whole quantity, found {n}"
            ))),
        },
        Value::String(s) => s
            .trim()
            .parse::<u64>()
            .map_err(|_| D::Error::custom(format!("expected a whole quantity, found {s:?}"))),
        other => Err(D::Error::custom(format!(
            "expected a quantity, found {other}"
        ))),
    }
}

/// `{"code": "EUR"}` → `"EUR"`.
fn currency_code<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    struct Currency {
        #[serde(default, deserialize_with = "nullable_string")]
        code: String,
    }
    Ok(Option::<Currency>::deserialize(d)?
        .map(|c| c.code)
        .unwrap_or_default())
}

/// A checkout (the cart plus addresses, shipping and totals). All amounts are cents.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(from = "RawCheckout")]
pub struct Checkout {
    /// The checkout id, the same as the cart id.
    pub id: String,
    /// Incremented by BigCommerce on every change to the checkout.
    pub version: i64,
    pub cart: CheckoutCart,
    pub billing_address: Option<CheckoutAddress>,
    pub consignments: Vec<Consignment>,
    /// Tax included, before store credit and gift certificates are redeemed.
    pub grand_total: i64,
    /// The order last created from this checkout, if any.
    pub order_id: Option<u64>,
    /// The top-level `channel_id`, else the cart's.
    pub channel_id: Option<u64>,
}

/// The wire shape; [`Checkout`] is built from it.
#[derive(Deserialize)]
struct RawCheckout {
    id: String,
    #[serde(default)]
    version: Option<i64>,
    cart: CheckoutCart,
    #[serde(default)]
    billing_address: Option<CheckoutAddress>,
    #[serde(default, deserialize_with = "null_as_empty")]
    consignments: Vec<Consignment>,
    #[serde(deserialize_with = "deserialize_cents")]
    grand_total: i64,
    #[serde(default, deserialize_with = "opt_id")]
    order_id: Option<u64>,
    #[serde(default, deserialize_with = "opt_id")]
    channel_id: Option<u64>,
}

impl From<RawCheckout> for Checkout {
    fn from(raw: RawCheckout) -> Self {
        let channel_id = raw.channel_id.or(raw.cart.channel_id);
        Checkout {
            id: raw.id,
            version: raw.version.unwrap_or_default(),
            cart: raw.cart,
            billing_address: raw.billing_address,
            consignments: raw.consignments,
            grand_total: raw.grand_total,
            order_id: raw.order_id,
            channel_id,
        }
    }
}

impl Checkout {
    /// The shopper's country (ISO 3166-1 alpha-2, upper case): the first consignment's
    /// shipping address, else the billing address. Blank codes count as absent.
    pub fn shopper_country(&self) -> Option<String> {
        let code = |a: &CheckoutAddress| {
            let c = a.country_code.trim().to_ascii_uppercase();
            (!c.is_empty()).then_some(c)
        };
        self.consignments
            .iter()
            .find_map(|c| code(&c.address))
            .or_else(|| self.billing_address.as_ref().and_then(code))
    }

    /// The catalog product ids of the physical and digital items, once each, in cart order.
    /// Custom items and gift certificates have none.
    pub fn product_ids(&self) -> Vec<u64> {
        let items = &self.cart.line_items;
        let mut ids: Vec<u64> = Vec::new();
        for id in items
            .physical_items
            .iter()
            .chain(&items.digital_items)
            .filter_map(|i| i.product_id)
        {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        ids
    }
}

/// The checkout's cart.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CheckoutCart {
    pub id: String,
    /// 0 for a guest.
    #[serde(default, deserialize_with = "id_or_zero")]
    pub customer_id: u64,
    #[serde(default)]
    pub email: Option<String>,
    /// ISO 4217, from `currency.code`.
    #[serde(default, deserialize_with = "currency_code")]
    pub currency: String,
    #[serde(default)]
    pub line_items: LineItems,
    #[serde(default, deserialize_with = "opt_id")]
    pub channel_id: Option<u64>,
}

/// The cart's items by kind.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct LineItems {
    #[serde(deserialize_with = "null_as_empty")]
    pub physical_items: Vec<LineItem>,
    #[serde(deserialize_with = "null_as_empty")]
    pub digital_items: Vec<LineItem>,
    #[serde(deserialize_with = "null_as_empty")]
    pub gift_certificates: Vec<LineItem>,
    #[serde(deserialize_with = "null_as_empty")]
    pub custom_items: Vec<LineItem>,
}

/// One cart line. `extended_sale_price` is the whole line in cents: physical and digital
/// items send it; custom items only have `extended_list_price`; a gift certificate has its
/// `amount` (quantity 1).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawLineItem")]
pub struct LineItem {
    pub id: String,
    pub product_id: Option<u64>,
    pub variant_id: Option<u64>,
    pub sku: Option<String>,
    pub name: String,
    pub quantity: u64,
    pub extended_sale_price: i64,
}

#[derive(Deserialize)]
struct RawLineItem {
    #[serde(default, deserialize_with = "string_or_number")]
    id: String,
    #[serde(default, deserialize_with = "opt_id")]
    product_id: Option<u64>,
    #[serde(default, deserialize_with = "opt_id")]
    variant_id: Option<u64>,
    #[serde(default)]
    sku: Option<String>,
    #[serde(default, deserialize_with = "nullable_string")]
    name: String,
    #[serde(default, deserialize_with = "opt_quantity")]
    quantity: Option<u64>,
    #[serde(default, deserialize_with = "deserialize_opt_cents")]
    extended_sale_price: Option<i64>,
    #[serde(default, deserialize_with = "deserialize_opt_cents")]
    extended_list_price: Option<i64>,
    #[serde(default, deserialize_with = "deserialize_opt_cents")]
    amount: Option<i64>,
}

fn opt_quantity<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    struct Q(#[serde(deserialize_with = "quantity")] u64);
    Ok(Option::<Q>::deserialize(d)?.map(|q| q.0))
}

fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => s,
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    })
}

impl TryFrom<RawLineItem> for LineItem {
    type Error = String;

    fn try_from(raw: RawLineItem) -> Result<Self, String> {
        let extended_sale_price = raw
            .extended_sale_price
            .or(raw.extended_list_price)
            .or(raw.amount)
            .ok_or_else(|| format!("line item {:?} has no price", raw.id))?;
        Ok(LineItem {
            id: raw.id,
            product_id: raw.product_id,
            variant_id: raw.variant_id,
            sku: raw.sku.filter(|s| !s.is_empty()),
            name: raw.name,
            quantity: raw.quantity.unwrap_or(1),
            extended_sale_price,
        })
    }
}

/// A checkout address (billing, or a consignment's shipping address). BigCommerce sends
/// empty strings for what the shopper has not filled in yet.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct CheckoutAddress {
    #[serde(deserialize_with = "nullable_string")]
    pub first_name: String,
    #[serde(deserialize_with = "nullable_string")]
    pub last_name: String,
    #[serde(deserialize_with = "nullable_string")]
    pub email: String,
    #[serde(deserialize_with = "nullable_string")]
    pub company: String,
    #[serde(deserialize_with = "nullable_string")]
    pub address1: String,
    #[serde(deserialize_with = "nullable_string")]
    pub address2: String,
    #[serde(deserialize_with = "nullable_string")]
    pub city: String,
    #[serde(deserialize_with = "nullable_string")]
    pub state_or_province: String,
    #[serde(deserialize_with = "nullable_string")]
    pub state_or_province_code: String,
    /// Country name, e.g. `Spain`.
    #[serde(deserialize_with = "nullable_string")]
    pub country: String,
    /// ISO 3166-1 alpha-2; empty until the shopper picks a country.
    #[serde(deserialize_with = "nullable_string")]
    pub country_code: String,
    #[serde(deserialize_with = "nullable_string")]
    pub postal_code: String,
    #[serde(deserialize_with = "nullable_string")]
    pub phone: String,
}

/// A consignment: where (some of) the physical items ship, and how.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Consignment {
    pub id: String,
    #[serde(default)]
    pub address: CheckoutAddress,
    #[serde(default)]
    pub selected_shipping_option: Option<ShippingOption>,
    /// Shipping for this consignment, tax included.
    #[serde(default, deserialize_with = "deserialize_cents")]
    pub shipping_cost_inc_tax: i64,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub line_item_ids: Vec<String>,
}

/// The shipping option the shopper picked.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ShippingOption {
    #[serde(deserialize_with = "string_or_number")]
    pub id: String,
    #[serde(default, deserialize_with = "nullable_string")]
    pub description: String,
    #[serde(default, deserialize_with = "deserialize_cents")]
    pub cost: i64,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The "Selected Shipping Options" example of `checkouts.v3.yml`, trimmed.
    fn yml_checkout() -> Value {
        json!({
            "id": "306d57d7-124e-4112-82cd-35e060c0d4d9",
            "cart": {
                "id": "306d57d7-124e-4112-82cd-35e060c0d4d9",
                "customer_id": 11, "channel_id": 1, "email": "janedoe@example.com",
                "currency": {"code": "USD"},
                "base_amount": 31.95, "discount_amount": 0,
                "cart_amount_inc_tax": 33.23, "cart_amount_ex_tax": 31.95,
                "line_items": {
                    "physical_items": [{
                        "id": "8edef915-8e8e-4ebd-bece-31fbb1191a7e", "parent_id": 123,
                        "variant_id": 359, "product_id": 188, "sku": "DUST1", "name": "Hello",
                        "quantity": 1, "is_taxable": true, "discounts": [],
                        "list_price": 31.95, "sale_price": 33.23,
                        "extended_list_price": 31.95, "extended_sale_price": 33.23
                    }],
                    "digital_items": [], "gift_certificates": [], "custom_items": []
                }
            },
            "billing_address": {
                "id": "5d484d668e5aa", "first_name": "Jane", "last_name": "Doe",
                "email": "janedoe@example.com", "company": "BigCommerce",
                "address1": "123 Main Street", "address2": "Apt 1", "city": "Austin",
                "state_or_province": "", "state_or_province_code": "", "country": "",
                "country_code": "", "postal_code": "", "phone": "12125559659",
                "custom_fields": []
            },
            "consignments": [{
                "id": "5d484e28d20a8",
                "shipping_cost_inc_tax": 8.32, "shipping_cost_ex_tax": 8,
                "line_item_ids": ["8edef915-8e8e-4ebd-bece-31fbb1191a7e"],
                "selected_shipping_option": {
                    "id": "006a58a98c9a844225552ee2a9c60ca8", "type": "shipping_byweight",
                    "description": "Ship by Weight", "cost": 8
                },
                "address": {
                    "first_name": "BigCommerce", "last_name": "Cart/Checkout",
                    "email": "jane2@example.com", "address1": "123 Main Street",
                    "city": "Austin", "state_or_province": "Texas",
                    "state_or_province_code": "TX", "country": "United States",
                    "country_code": "US", "postal_code": "78751", "phone": "688546"
                }
            }],
            "taxes": [{"name": "Tax", "amount": 1.6}],
            "coupons": [],
            "tax_total": 1.6, "subtotal_inc_tax": 33.23, "grand_total": 41.55,
            "order_id": null, "version": 3
        })
    }

    #[test]
    fn the_yml_checkout_example_parses_with_money_in_cents() {
        let c: Checkout = serde_json::from_value(yml_checkout()).unwrap();
        assert_eq!(c.id, "306d57d7-124e-4112-82cd-35e060c0d4d9");
        assert_eq!(c.version, 3);
        assert_eq!(c.grand_total, 4155);
        assert_eq!(c.cart.customer_id, 11);
        assert_eq!(c.cart.currency, "USD");
        assert_eq!(c.channel_id, Some(1), "taken from the cart");
        let item = &c.cart.line_items.physical_items[0];
        assert_eq!(item.product_id, Some(188));
        assert_eq!(item.extended_sale_price, 3323);
        assert_eq!(item.sku.as_deref(), Some("DUST1"));
        let option = c.consignments[0].selected_shipping_option.as_ref().unwrap();
        assert_eq!(
            (option.description.as_str(), option.cost),
            ("Ship by Weight", 800)
        );
        assert_eq!(c.consignments[0].shipping_cost_inc_tax, 832);
        assert_eq!(c.shopper_country().as_deref(), Some("US"));
        assert_eq!(c.product_ids(), [188]);
        assert_eq!(c.order_id, None);
    }

    #[test]
    fn the_shopper_country_falls_back_to_billing_and_ignores_blanks() {
        let mut v = yml_checkout();
        v["consignments"] = json!([]);
        v["billing_address"]["country_code"] = json!("es");
        let c: Checkout = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(c.shopper_country().as_deref(), Some("ES"));
        v["billing_address"]["country_code"] = json!(" ");
        let c: Checkout = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(c.shopper_country(), None);
        v["billing_address"] = Value::Null;
        let c: Checkout = serde_json::from_value(v).unwrap();
        assert_eq!(c.shopper_country(), None);
    }

    #[test]
    fn gift_certificates_custom_items_and_string_order_ids_parse() {
        let mut v = yml_checkout();
        v["order_id"] = json!("75");
        v["channel_id"] = json!(2);
        v["cart"]["customer_id"] = json!(0);
        v["cart"]["line_items"]["gift_certificates"] = json!([{
            "id": "gc1", "name": "$25 Gift Certificate", "theme": "General", "amount": 25,
            "sender": {"name": "A", "email": "a@x.es"}, "recipient": {"name": "B", "email": "b@x.es"}
        }]);
        v["cart"]["line_items"]["custom_items"] = json!([{
            "id": "ci1", "sku": "", "name": "Montaje", "quantity": 2, "list_price": 5,
            "extended_list_price": 10
        }]);
        v["cart"]["line_items"]["digital_items"] = json!([{
            "id": "d1", "product_id": 188.0, "name": "PDF", "quantity": 1.0,
            "extended_sale_price": "9.9000"
        }]);
        let c: Checkout = serde_json::from_value(v).unwrap();
        assert_eq!(c.order_id, Some(75));
        assert_eq!(c.channel_id, Some(2), "top level wins");
        assert_eq!(c.cart.customer_id, 0);
        let gc = &c.cart.line_items.gift_certificates[0];
        assert_eq!(
            (gc.quantity, gc.extended_sale_price, gc.product_id),
            (1, 2500, None)
        );
        let ci = &c.cart.line_items.custom_items[0];
        assert_eq!((ci.quantity, ci.extended_sale_price), (2, 1000));
        assert_eq!(ci.sku, None);
        assert_eq!(c.cart.line_items.digital_items[0].extended_sale_price, 990);
        assert_eq!(c.product_ids(), [188], "once each");
    }

    #[test]
    fn a_line_without_any_price_or_a_fractional_quantity_is_refused() {
        let mut v = yml_checkout();
        v["cart"]["line_items"]["physical_items"][0]
            .as_object_mut()
            .unwrap()
            .retain(|k, _| !k.starts_with("extended"));
        assert!(serde_json::from_value::<Checkout>(v).is_err());
        let mut v = yml_checkout();
        v["cart"]["line_items"]["physical_items"][0]["quantity"] = json!(1.5);
        assert!(serde_json::from_value::<Checkout>(v).is_err());
    }
}
