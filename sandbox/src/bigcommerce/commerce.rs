//! A store's shopping state: carts (= checkouts), customers, orders, checkout tokens, order
//! metafields and the checkout's terms setting, with the arithmetic that turns a cart into
//! an order.
//!
//! Money is integer ten-thousandths of the store currency throughout (`"4.9500"` is 49 500),
//! as v2 writes it: never `f64`. The demo store enters prices with 21 % VAT included
//! (`is_tax_inclusive_pricing`), so ex-tax amounts are derived: `ex = round(inc × 100 / 121)`
//! per unit and per line, half up, and tax is `inc − ex`.
//!
//! [U] BigCommerce's own rounding of derived ex-tax amounts is not documented; this one is
//! exact to the ten-thousandth. v3 JSON numbers are the amounts rounded to cents (v3 sends
//! two decimals, spec §3.5); the `f64` is made only when the JSON is written.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value, json};

use super::CatalogProduct;
use super::fulfilment::{RefundRec, ShipmentRec};
use super::state::now_unix;

/// VAT included in the demo store's prices, in percent.
pub(crate) const VAT_PERCENT: i64 = 21;
/// The one shipping method every demo store offers, 4.95 € with VAT.
pub(crate) const SHIPPING_DESCRIPTION: &str = "Envío estándar";
pub(crate) const SHIPPING_COST: i64 = 49_500;
/// The offline method the storefront checkout offers natively.
pub(crate) const NATIVE_PAYMENT_ID: &str = "bankdeposit";
pub(crate) const NATIVE_PAYMENT_NAME: &str = "Transferencia bancaria";
/// Orders are numbered from here in each store.
const FIRST_ORDER_ID: u64 = 100;
/// The metafields one client may keep on one order (orders.v3.yml).
pub(crate) const MAX_METAFIELDS: usize = 250;

/// `"x.xxxx"`, as v2 writes money.
pub(crate) fn fmt4(v: i64) -> String {
    let sign = if v < 0 { "-" } else { "" };
    let abs = v.unsigned_abs();
    format!("{sign}{}.{:04}", abs / 10_000, abs % 10_000)
}

/// A v3 JSON number: the amount rounded half away from zero to cents.
pub(crate) fn num2(v: i64) -> Value {
    let cents = (v.unsigned_abs() + 50) / 100;
    let cents = if v < 0 { -(cents as i64) } else { cents as i64 };
    // An integer number of cents over 100.0 is the double nearest that decimal, whose
    // shortest text is the decimal itself.
    json!(cents as f64 / 100.0)
}

/// `a × b / c`, rounded half up, for non-negative amounts.
pub(crate) fn mul_div_round(a: i64, b: i64, c: i64) -> i64 {
    let n = i128::from(a) * i128::from(b);
    let c = i128::from(c);
    ((2 * n + c) / (2 * c)) as i64
}

/// The ex-tax part of a tax-inclusive amount.
pub(crate) fn ex_tax(inc: i64) -> i64 {
    mul_div_round(inc, 100, 100 + VAT_PERCENT)
}

pub(crate) fn rfc2822(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc2822)
                .ok()
        })
        .unwrap_or_default()
}

pub(crate) fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// The English country name v2 and v3 put beside an ISO code.
pub(crate) fn country_name(code: &str) -> &'static str {
    match code {
        "ES" => "Spain",
        "FR" => "France",
        "IT" => "Italy",
        "PT" => "Portugal",
        "DE" => "Germany",
        "AD" => "Andorra",
        "GB" => "United Kingdom",
        "US" => "United States",
        _ => "",
    }
}

/// `a`'s fields plus `b`'s (`json!` has a recursion limit on large objects).
fn merge(mut a: Value, b: Value) -> Value {
    if let (Some(obj), Value::Object(more)) = (a.as_object_mut(), b) {
        obj.extend(more);
    }
    a
}

fn short_id() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    id[..13].to_owned()
}

/// A checkout or order address (the fields both APIs carry).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Address {
    /// v3 address id (a short hex string).
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub company: String,
    pub address1: String,
    pub address2: String,
    pub city: String,
    pub state: String,
    pub state_code: String,
    pub country_code: String,
    pub postal_code: String,
    pub phone: String,
}

impl Address {
    /// The default shopper of a country, seQura's sandbox conventions
    /// (sequra-api.md §13.2): `Fulano De Tal`, `test@sequra.es`, Carrer d'Alí Bei, 7,
    /// 08010 Barcelona for Spain; `Monsieur Untel` in Paris for France; a plausible address
    /// elsewhere.
    pub fn default_shopper(country: &str) -> Self {
        let country = country.trim().to_ascii_uppercase();
        let (first, last, street, city, state, state_code, zip, phone) = match country.as_str() {
            "FR" => (
                "Monsieur",
                "Untel",
                "10 Rue de Tolbiac",
                "Paris",
                "Paris",
                "75",
                "75013",
                "667042676",
            ),
            "IT" => (
                "Mario",
                "Rossi",
                "Via Roma 1",
                "Roma",
                "Roma",
                "RM",
                "00184",
                "666666666",
            ),
            "PT" => (
                "Fulano",
                "De Tal",
                "Rua Augusta 1",
                "Lisboa",
                "Lisboa",
                "11",
                "1100-048",
                "666666666",
            ),
            "DE" => (
                "Max",
                "Mustermann",
                "Hauptstraße 1",
                "Berlin",
                "Berlin",
                "BE",
                "10115",
                "666666666",
            ),
            _ => (
                "Fulano",
                "De Tal",
                "Carrer d'Alí Bei, 7",
                "Barcelona",
                "Barcelona",
                "B",
                "08010",
                "666666666",
            ),
        };
        Address {
            id: short_id(),
            first_name: first.to_owned(),
            last_name: last.to_owned(),
            email: "test@sequra.es".to_owned(),
            company: String::new(),
            address1: street.to_owned(),
            address2: String::new(),
            city: city.to_owned(),
            state: state.to_owned(),
            state_code: state_code.to_owned(),
            country_code: if country.is_empty() {
                "ES".to_owned()
            } else {
                country
            },
            postal_code: zip.to_owned(),
            phone: phone.to_owned(),
        }
    }

    /// `checkouts.v3.yml` `Address Response`.
    pub fn v3_json(&self) -> Value {
        json!({
            "id": self.id,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "email": self.email,
            "company": self.company,
            "address1": self.address1,
            "address2": self.address2,
            "city": self.city,
            "state_or_province": self.state,
            "state_or_province_code": self.state_code,
            "country": country_name(&self.country_code),
            "country_code": self.country_code,
            "postal_code": self.postal_code,
            "phone": self.phone,
            "custom_fields": [],
        })
    }

    /// `checkouts.sf.yml` `address_Full`.
    pub fn sf_json(&self) -> Value {
        json!({
            "id": self.id,
            "firstName": self.first_name,
            "lastName": self.last_name,
            "email": self.email,
            "company": self.company,
            "address1": self.address1,
            "address2": self.address2,
            "city": self.city,
            "stateOrProvince": self.state,
            "stateOrProvinceCode": self.state_code,
            "country": country_name(&self.country_code),
            "countryCode": self.country_code,
            "postalCode": self.postal_code,
            "phone": self.phone,
            "customFields": [],
        })
    }

    /// The v2 address fields (`billingAddress_Base` / `shippingAddress_Base`).
    pub fn v2_fields(&self) -> Map<String, Value> {
        let v = json!({
            "first_name": self.first_name,
            "last_name": self.last_name,
            "company": self.company,
            "street_1": self.address1,
            "street_2": self.address2,
            "city": self.city,
            "state": self.state,
            "zip": self.postal_code,
            "country": country_name(&self.country_code),
            "country_iso2": self.country_code,
            "phone": self.phone,
            "email": self.email,
        });
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    /// Applies a v2 `billingAddress_Put` (string fields only); the names of fields that are
    /// not strings.
    pub fn apply_v2(&mut self, obj: &Map<String, Value>) -> Vec<String> {
        let mut bad = Vec::new();
        for (k, v) in obj {
            let Some(s) = v.as_str().map(str::to_owned) else {
                if !v.is_null() {
                    bad.push(k.clone());
                }
                continue;
            };
            match k.as_str() {
                "first_name" => self.first_name = s,
                "last_name" => self.last_name = s,
                "company" => self.company = s,
                "street_1" => self.address1 = s,
                "street_2" => self.address2 = s,
                "city" => self.city = s,
                "state" => self.state = s,
                "zip" => self.postal_code = s,
                "country_iso2" => self.country_code = s.to_ascii_uppercase(),
                "phone" => self.phone = s,
                "email" => self.email = s,
                _ => {}
            }
        }
        bad
    }
}

/// One cart line. Prices include tax.
#[derive(Clone, Debug)]
pub(crate) struct CartLine {
    pub id: String,
    pub product_id: u64,
    pub variant_id: u64,
    pub name: String,
    pub sku: String,
    pub digital: bool,
    pub quantity: u64,
    pub unit: i64,
}

impl CartLine {
    pub fn extended(&self) -> i64 {
        self.unit.saturating_mul(self.quantity as i64)
    }

    fn v3_json(&self) -> Value {
        let ext = self.extended();
        json!({
            "id": self.id,
            "parent_id": null,
            "variant_id": self.variant_id,
            "product_id": self.product_id,
            "sku": self.sku,
            "name": self.name,
            "url": format!("/products/{}/", self.product_id),
            "quantity": self.quantity,
            "is_taxable": true,
            "image_url": "",
            "discounts": [],
            "coupons": [],
            "discount_amount": 0,
            "coupon_amount": 0,
            "original_price": num2(self.unit),
            "list_price": num2(self.unit),
            "sale_price": num2(self.unit),
            "extended_list_price": num2(ext),
            "extended_sale_price": num2(ext),
            "is_require_shipping": !self.digital,
            "is_mutable": true,
            "added_by_promotion": false,
        })
    }

    fn sf_json(&self) -> Value {
        let ext = self.extended();
        json!({
            "id": self.id,
            "parentId": null,
            "variantId": self.variant_id,
            "productId": self.product_id,
            "sku": self.sku,
            "name": self.name,
            "url": format!("/products/{}/", self.product_id),
            "quantity": self.quantity,
            "isTaxable": true,
            "imageUrl": "",
            "discounts": [],
            "discountAmount": 0,
            "couponAmount": 0,
            "originalPrice": num2(self.unit),
            "listPrice": num2(self.unit),
            "salePrice": num2(self.unit),
            "extendedListPrice": num2(ext),
            "extendedSalePrice": num2(ext),
            "isShippingRequired": !self.digital,
            "isMutable": true,
            "addedByPromotion": false,
            "options": [],
        })
    }
}

/// A checkout's money, tax included unless named `_ex`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Totals {
    pub subtotal: i64,
    pub subtotal_ex: i64,
    pub shipping: i64,
    pub shipping_ex: i64,
    /// Before store credit and gift certificates.
    pub grand_total: i64,
    pub grand_total_ex: i64,
}

impl Totals {
    pub fn tax(&self) -> i64 {
        self.grand_total - self.grand_total_ex
    }
}

/// A cart and its checkout (same id).
#[derive(Clone, Debug)]
pub(crate) struct CheckoutRec {
    pub id: String,
    pub customer_id: u64,
    pub email: String,
    pub currency: String,
    /// The channel (storefront) the cart was made on.
    pub channel_id: u64,
    /// The channel's shopper language (`locale` of the storefront cart).
    pub locale: String,
    pub lines: Vec<CartLine>,
    pub billing: Address,
    /// The single consignment's address (used while the cart has physical items).
    pub shipping: Address,
    pub consignment_id: String,
    pub shipping_option_id: String,
    pub store_credit_applied: bool,
    pub version: i64,
    pub created: i64,
    pub updated: i64,
    /// The last order created from this checkout.
    pub order_id: Option<u64>,
    /// An order from it has been placed (left Incomplete): no more checkout tokens.
    pub completed: bool,
    pub ip_address: String,
}

impl CheckoutRec {
    /// A new cart on a channel, in its default currency and language.
    pub fn on_channel(channel: &super::ChannelSpec, country: &str) -> Self {
        let mut c = CheckoutRec::new(&channel.currency, country);
        c.channel_id = channel.id;
        c.locale = channel.locale.clone();
        c
    }

    pub fn new(currency: &str, country: &str) -> Self {
        let now = now_unix();
        let billing = Address::default_shopper(country);
        let mut shipping = billing.clone();
        shipping.id = short_id();
        CheckoutRec {
            id: uuid::Uuid::new_v4().to_string(),
            customer_id: 0,
            email: billing.email.clone(),
            currency: currency.to_owned(),
            channel_id: 1,
            locale: "es".to_owned(),
            lines: Vec::new(),
            billing,
            shipping,
            consignment_id: short_id(),
            shipping_option_id: uuid::Uuid::new_v4().simple().to_string(),
            store_credit_applied: false,
            version: 1,
            created: now,
            updated: now,
            order_id: None,
            completed: false,
            ip_address: "127.0.0.1".to_owned(),
        }
    }

    /// Records a change: `version` + 1.
    pub fn touch(&mut self) {
        self.version += 1;
        self.updated = now_unix();
    }

    /// Adds `quantity` of a catalog product (to its line when there is one). The caller
    /// records the change with [`Self::touch`].
    pub fn add(&mut self, product: &CatalogProduct, quantity: u64) {
        if let Some(variant) = product.variant(None) {
            self.add_variant(product, variant, quantity);
        }
    }

    /// Adds `quantity` of one variant `(id, price_cents)` of a product (to its line when
    /// there is one: a line is one variant). The caller records the change.
    pub fn add_variant(&mut self, product: &CatalogProduct, variant: (u64, i64), quantity: u64) {
        let (variant_id, price_cents) = variant;
        if let Some(line) = self
            .lines
            .iter_mut()
            .find(|l| l.product_id == product.id && l.variant_id == variant_id)
        {
            line.quantity = line.quantity.saturating_add(quantity);
        } else {
            self.lines.push(CartLine {
                id: uuid::Uuid::new_v4().to_string(),
                product_id: product.id,
                variant_id,
                name: product.name.clone(),
                sku: product.sku.clone(),
                digital: product.digital,
                quantity,
                unit: price_cents.saturating_mul(100),
            });
        }
    }

    pub fn has_physical(&self) -> bool {
        self.lines.iter().any(|l| !l.digital)
    }

    pub fn totals(&self) -> Totals {
        let subtotal: i64 = self.lines.iter().map(CartLine::extended).sum();
        let subtotal_ex: i64 = self.lines.iter().map(|l| ex_tax(l.extended())).sum();
        let shipping = if self.has_physical() {
            SHIPPING_COST
        } else {
            0
        };
        let shipping_ex = ex_tax(shipping);
        Totals {
            subtotal,
            subtotal_ex,
            shipping,
            shipping_ex,
            grand_total: subtotal + shipping,
            grand_total_ex: subtotal_ex + shipping_ex,
        }
    }

    /// The store credit an order would redeem: all the customer's, up to the total.
    pub fn credit_used(&self, customer: Option<&CustomerRec>) -> i64 {
        match customer {
            Some(c) if self.store_credit_applied => {
                c.store_credit.clamp(0, self.totals().grand_total)
            }
            _ => 0,
        }
    }

    fn shipping_option_v3(&self) -> Value {
        json!({
            "id": self.shipping_option_id,
            "type": "shipping_flatrate",
            "description": SHIPPING_DESCRIPTION,
            "image_url": "",
            "cost": num2(SHIPPING_COST),
            "transit_time": "2-3 días laborables",
            "additional_description": "",
        })
    }

    fn lines_of(&self, digital: bool) -> impl Iterator<Item = &CartLine> {
        self.lines.iter().filter(move |l| l.digital == digital)
    }

    /// `GET /v3/checkouts/{id}` `data` (`checkouts.v3.yml` `Checkout`).
    pub fn v3_json(&self) -> Value {
        let t = self.totals();
        let created = rfc3339(self.created);
        let updated = rfc3339(self.updated);
        let physical: Vec<Value> = self.lines_of(false).map(CartLine::v3_json).collect();
        let digital: Vec<Value> = self.lines_of(true).map(CartLine::v3_json).collect();
        let consignments: Vec<Value> = if self.has_physical() {
            vec![json!({
                "id": self.consignment_id,
                "address": self.shipping.v3_json(),
                "selected_shipping_option": self.shipping_option_v3(),
                "coupon_discounts": [],
                "discounts": [],
                "shipping_cost_inc_tax": num2(t.shipping),
                "shipping_cost_ex_tax": num2(t.shipping_ex),
                "handling_cost_inc_tax": 0,
                "handling_cost_ex_tax": 0,
                "line_item_ids": self.lines_of(false).map(|l| l.id.clone()).collect::<Vec<_>>(),
            })]
        } else {
            Vec::new()
        };
        json!({
            "id": self.id,
            "cart": {
                "id": self.id,
                "customer_id": self.customer_id,
                "channel_id": self.channel_id,
                "email": self.email,
                "currency": {"code": self.currency},
                "tax_included": true,
                "base_amount": num2(t.subtotal),
                "discount_amount": 0,
                "cart_amount_inc_tax": num2(t.subtotal),
                "cart_amount_ex_tax": num2(t.subtotal_ex),
                "coupons": [],
                "discounts": [],
                "line_items": {
                    "physical_items": physical,
                    "digital_items": digital,
                    "gift_certificates": [],
                    "custom_items": [],
                },
                "created_time": created,
                "updated_time": updated,
            },
            "billing_address": self.billing.v3_json(),
            "consignments": consignments,
            "taxes": [{"name": "IVA", "amount": num2(t.tax())}],
            "coupons": [],
            "fees": [],
            "order_id": self.order_id.map(|id| id.to_string()),
            "shipping_cost_total_inc_tax": num2(t.shipping),
            "shipping_cost_total_ex_tax": num2(t.shipping_ex),
            "handling_cost_total_inc_tax": 0,
            "handling_cost_total_ex_tax": 0,
            "tax_total": num2(t.tax()),
            "subtotal_inc_tax": num2(t.subtotal),
            "subtotal_ex_tax": num2(t.subtotal_ex),
            "grand_total": num2(t.grand_total),
            "created_time": created,
            "updated_time": updated,
            "customer_message": "",
            "promotions": [],
            "version": self.version,
        })
    }

    /// The storefront cart (`checkoutCart`, as `GET /api/storefront/carts` lists it).
    pub fn sf_cart_json(&self) -> Value {
        let t = self.totals();
        json!({
            "id": self.id,
            "customerId": self.customer_id,
            "email": self.email,
            "currency": {"code": self.currency, "name": "Euro", "symbol": "€", "decimalPlaces": 2},
            "isTaxIncluded": true,
            "baseAmount": num2(t.subtotal),
            "discountAmount": 0,
            "cartAmount": num2(t.subtotal),
            "coupons": [],
            "discounts": [],
            "lineItems": {
                "physicalItems": self.lines_of(false).map(CartLine::sf_json).collect::<Vec<_>>(),
                "digitalItems": self.lines_of(true).map(CartLine::sf_json).collect::<Vec<_>>(),
                "giftCertificates": [],
                "customItems": [],
            },
            "createdTime": rfc3339(self.created),
            "updatedTime": rfc3339(self.updated),
            "locale": self.locale,
            "version": self.version,
        })
    }

    /// `GET /api/storefront/checkouts/{id}` (`checkouts.sf.yml` `checkout_Full`).
    pub fn sf_json(&self, customer: Option<&CustomerRec>) -> Value {
        let t = self.totals();
        let credit = self.credit_used(customer);
        let customer_json = match customer {
            Some(c) => json!({
                "id": c.id,
                "isGuest": false,
                "email": c.email,
                "firstName": c.first_name,
                "lastName": c.last_name,
                "fullName": format!("{} {}", c.first_name, c.last_name).trim().to_owned(),
                "storeCredit": num2(c.store_credit),
                "shouldEncourageSignIn": false,
                "addresses": [],
                "customerGroup": null,
            }),
            None => json!({
                "id": 0,
                "isGuest": true,
                "email": self.email,
                "firstName": "",
                "lastName": "",
                "fullName": "",
                "storeCredit": 0,
                "shouldEncourageSignIn": false,
                "addresses": [],
                "customerGroup": null,
            }),
        };
        let consignments: Vec<Value> = if self.has_physical() {
            vec![json!({
                "id": self.consignment_id,
                "address": self.shipping.sf_json(),
                "selectedShippingOption": {
                    "id": self.shipping_option_id,
                    "type": "shipping_flatrate",
                    "description": SHIPPING_DESCRIPTION,
                    "imageUrl": "",
                    "cost": num2(SHIPPING_COST),
                    "transitTime": "2-3 días laborables",
                    "additionalDescription": "",
                },
                "shippingCost": num2(t.shipping),
                "shippingCostBeforeDiscount": num2(t.shipping),
                "handlingCost": 0,
                "couponDiscounts": [],
                "discounts": [],
                "lineItemIds": self.lines_of(false).map(|l| l.id.clone()).collect::<Vec<_>>(),
            })]
        } else {
            Vec::new()
        };
        json!({
            "id": self.id,
            "cart": self.sf_cart_json(),
            "billingAddress": self.billing.sf_json(),
            "consignments": consignments,
            "customer": customer_json,
            "customerMessage": "",
            "coupons": [],
            "fees": [],
            "giftCertificates": [],
            "giftWrappingCostTotal": 0,
            "handlingCostTotal": 0,
            "shippingCostTotal": num2(t.shipping),
            "shippingCostBeforeDiscount": num2(t.shipping),
            "subtotal": num2(t.subtotal),
            "taxes": [{"name": "IVA", "amount": num2(t.tax())}],
            "taxTotal": num2(t.tax()),
            "grandTotal": num2(t.grand_total),
            "isStoreCreditApplied": self.store_credit_applied && credit > 0,
            "outstandingBalance": num2(t.grand_total - credit),
            "orderId": self.order_id.map(|id| id.to_string()),
            "payments": [],
            "promotions": [],
            "shouldExecuteSpamCheck": false,
            "channelId": self.channel_id,
            "createdTime": rfc3339(self.created),
            "updatedTime": rfc3339(self.updated),
            "version": self.version,
        })
    }
}

/// A registered customer.
#[derive(Clone, Debug)]
pub(crate) struct CustomerRec {
    pub id: u64,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    /// Ten-thousandths.
    pub store_credit: i64,
    pub date_created: i64,
    pub date_modified: i64,
}

impl CustomerRec {
    /// `GET /v2/customers/{id}` (`customer_Full`).
    pub fn v2_json(&self, api_base: &str) -> Value {
        json!({
            "id": self.id,
            "company": "",
            "first_name": self.first_name,
            "last_name": self.last_name,
            "email": self.email,
            "phone": "",
            "date_created": rfc2822(self.date_created),
            "date_modified": rfc2822(self.date_modified),
            "store_credit": fmt4(self.store_credit),
            "registration_ip_address": "127.0.0.1",
            "customer_group_id": 0,
            "notes": "",
            "tax_exempt_category": "",
            "accepts_marketing": false,
            "addresses": {
                "url": format!("{api_base}/v2/customers/{}/addresses", self.id),
                "resource": format!("/customers/{}/addresses", self.id),
            },
            "form_fields": null,
            "reset_pass_on_login": false,
        })
    }
}

/// One order product.
#[derive(Clone, Debug)]
pub(crate) struct OrderLine {
    pub id: u64,
    pub product_id: u64,
    pub variant_id: u64,
    pub name: String,
    pub sku: String,
    pub digital: bool,
    pub quantity: u64,
    pub unit: i64,
    pub unit_ex: i64,
    pub total: i64,
    pub total_ex: i64,
    /// Units in shipments.
    pub quantity_shipped: u64,
    /// Units refunded with `PRODUCT` refund items.
    pub quantity_refunded: u64,
    /// What those refund items refunded, tax included.
    pub refund_amount: i64,
}

impl OrderLine {
    /// A line of `quantity` units of a catalog product at its catalog price.
    pub fn from_catalog(id: u64, product: &CatalogProduct, quantity: u64) -> Self {
        let (variant_id, price_cents) = product
            .variant(None)
            .unwrap_or((product.id + 1000, product.price_cents));
        let unit = price_cents.saturating_mul(100);
        let mut line = OrderLine {
            id,
            product_id: product.id,
            variant_id,
            name: product.name.clone(),
            sku: product.sku.clone(),
            digital: product.digital,
            quantity,
            unit,
            unit_ex: ex_tax(unit),
            total: 0,
            total_ex: 0,
            quantity_shipped: 0,
            quantity_refunded: 0,
            refund_amount: 0,
        };
        line.recompute();
        line
    }

    /// Line totals from the unit prices and the quantity. The ex-tax total is derived from
    /// the inc-tax total (as at checkout) unless the ex-tax unit price was set apart from it.
    pub fn recompute(&mut self) {
        let q = self.quantity as i64;
        self.total = self.unit.saturating_mul(q);
        self.total_ex = if self.unit_ex == ex_tax(self.unit) {
            ex_tax(self.total)
        } else {
            self.unit_ex.saturating_mul(q)
        };
    }

    /// Units not yet in a shipment.
    pub fn left_to_ship(&self) -> u64 {
        self.quantity.saturating_sub(self.quantity_shipped)
    }
}

/// An order's shipping address with its method and cost.
#[derive(Clone, Debug)]
pub(crate) struct OrderShipping {
    pub id: u64,
    pub address: Address,
    pub method: String,
    pub cost: i64,
    pub cost_ex: i64,
    pub zone_id: u64,
    pub zone_name: String,
}

/// An order (v2).
#[derive(Clone, Debug)]
pub(crate) struct OrderRec {
    pub id: u64,
    pub customer_id: u64,
    pub status_id: u32,
    pub cart_id: Option<String>,
    pub order_source: String,
    pub channel_id: u64,
    pub currency: String,
    pub date_created: i64,
    pub date_modified: i64,
    pub billing: Address,
    pub shipping: Option<OrderShipping>,
    pub lines: Vec<OrderLine>,
    pub store_credit: i64,
    pub payment_method: String,
    /// A string or a number, as written (`""` when none).
    pub payment_provider_id: Value,
    pub ip_address: String,
    pub customer_locale: String,
    /// Other writable `order_Put` scalars, echoed as written.
    pub written: Map<String, Value>,
    /// Archived (`DELETE /v2/orders/{id}` or `is_deleted: true`).
    pub is_deleted: bool,
    /// When the last shipment was created.
    pub date_shipped: Option<i64>,
    pub shipments: Vec<ShipmentRec>,
    /// Refunded with `SHIPPING` refund items.
    pub shipping_refunded: i64,
    /// Refunded in all, every item type.
    pub refunded: i64,
}

impl OrderRec {
    pub fn subtotal(&self) -> (i64, i64) {
        (
            self.lines.iter().map(|l| l.total).sum(),
            self.lines.iter().map(|l| l.total_ex).sum(),
        )
    }

    pub fn shipping_cost(&self) -> (i64, i64) {
        self.shipping
            .as_ref()
            .map(|s| (s.cost, s.cost_ex))
            .unwrap_or((0, 0))
    }

    pub fn total(&self) -> (i64, i64) {
        let (s, s_ex) = self.subtotal();
        let (sh, sh_ex) = self.shipping_cost();
        (s + sh, s_ex + sh_ex)
    }

    /// Units shipped, all lines.
    pub fn items_shipped(&self) -> u64 {
        self.lines.iter().map(|l| l.quantity_shipped).sum()
    }

    /// Whether every physical unit is in a shipment.
    pub fn fully_shipped(&self) -> bool {
        self.lines
            .iter()
            .filter(|l| !l.digital)
            .all(|l| l.quantity_shipped >= l.quantity)
    }

    /// What may still be refunded, tax included.
    pub fn refundable(&self) -> i64 {
        (self.total().0 - self.refunded).max(0)
    }

    /// `payment_status` [U]: BigCommerce's values after refunds; empty before, as for any
    /// payment BigCommerce did not take.
    pub fn payment_status(&self) -> &'static str {
        if self.refunded <= 0 {
            ""
        } else if self.refundable() == 0 {
            "refunded"
        } else {
            "partially refunded"
        }
    }

    /// The v2 order (`order_Resp`). `api_base` is `{base}/stores/{hash}`.
    pub fn v2_json(&self, api_base: &str, status_name: &str) -> Value {
        let (sub, sub_ex) = self.subtotal();
        let (ship, ship_ex) = self.shipping_cost();
        let (total, total_ex) = self.total();
        let items_total: u64 = self.lines.iter().map(|l| l.quantity).sum();
        let link = |what: &str| {
            json!({
                "url": format!("{api_base}/v2/orders/{}/{what}", self.id),
                "resource": format!("/orders/{}/{what}", self.id),
            })
        };
        let mut billing = Value::Object(self.billing.v2_fields());
        billing["form_fields"] = json!([]);
        let mut v = json!({
            "id": self.id,
            "customer_id": self.customer_id,
            "date_created": rfc2822(self.date_created),
            "date_modified": rfc2822(self.date_modified),
            "date_shipped": self.date_shipped.map(rfc2822).unwrap_or_default(),
            "status_id": self.status_id,
            "status": status_name,
            "subtotal_ex_tax": fmt4(sub_ex),
            "subtotal_inc_tax": fmt4(sub),
            "subtotal_tax": fmt4(sub - sub_ex),
            "base_shipping_cost": fmt4(ship),
            "shipping_cost_ex_tax": fmt4(ship_ex),
            "shipping_cost_inc_tax": fmt4(ship),
            "shipping_cost_tax": fmt4(ship - ship_ex),
            "shipping_cost_tax_class_id": 2,
            "base_handling_cost": fmt4(0),
            "handling_cost_ex_tax": fmt4(0),
            "handling_cost_inc_tax": fmt4(0),
            "handling_cost_tax": fmt4(0),
            "handling_cost_tax_class_id": 2,
            "base_wrapping_cost": fmt4(0),
            "wrapping_cost_ex_tax": fmt4(0),
            "wrapping_cost_inc_tax": fmt4(0),
            "wrapping_cost_tax": fmt4(0),
            "wrapping_cost_tax_class_id": 3,
            "total_ex_tax": fmt4(total_ex),
            "total_inc_tax": fmt4(total),
            "total_tax": fmt4(total - total_ex),
        });
        let rest = json!({
            "items_total": items_total,
            "items_shipped": self.items_shipped(),
            "payment_method": self.payment_method,
            "payment_provider_id": self.payment_provider_id,
            "payment_status": self.payment_status(),
            "refunded_amount": fmt4(0),
            "order_is_digital": self.shipping.is_none(),
            "store_credit_amount": fmt4(self.store_credit),
            "gift_certificate_amount": fmt4(0),
            "ip_address": self.ip_address,
            "ip_address_v6": "",
            "geoip_country": country_name(&self.billing.country_code),
            "geoip_country_iso2": self.billing.country_code,
            "currency_id": 1,
            "currency_code": self.currency,
            "currency_exchange_rate": "1.0000000000",
            "default_currency_id": 1,
            "default_currency_code": self.currency,
        });
        let more = json!({
            "store_default_currency_code": self.currency,
            "store_default_to_transactional_exchange_rate": "1.0000000000",
            "staff_notes": "",
            "customer_message": "",
            "discount_amount": fmt4(0),
            "coupon_discount": fmt4(0),
            "shipping_address_count": u32::from(self.shipping.is_some()),
            "is_deleted": self.is_deleted,
            "ebay_order_id": "0",
            "cart_id": self.cart_id,
            "billing_address": billing,
            "is_email_opt_in": false,
            "credit_card_type": null,
            "order_source": self.order_source,
            "channel_id": self.channel_id,
            "external_source": null,
            "products": link("products"),
            "shipping_addresses": link("shipping_addresses"),
            "coupons": link("coupons"),
            "external_id": null,
            "external_merchant_id": null,
            "tax_provider_id": "BasicTaxProvider",
            "customer_locale": self.customer_locale,
            "external_order_id": "",
            "is_tax_inclusive_pricing": true,
        });
        if let (Some(obj), Value::Object(rest), Value::Object(more)) =
            (v.as_object_mut(), rest, more)
        {
            obj.extend(rest);
            obj.extend(more);
            for (k, val) in &self.written {
                obj.insert(k.clone(), val.clone());
            }
        }
        v
    }

    /// `GET /v2/orders/{id}/products` rows (`orderProducts`).
    pub fn products_json(&self) -> Vec<Value> {
        let address_id = self.shipping.as_ref().map(|s| s.id).unwrap_or(0);
        self.lines
            .iter()
            .map(|l| {
                let head = json!({
                    "id": l.id,
                    "order_id": self.id,
                    "product_id": l.product_id,
                    "variant_id": l.variant_id,
                    "order_address_id": if l.digital { 0 } else { address_id },
                    "name": l.name,
                    "name_customer": l.name,
                    "name_merchant": l.name,
                    "sku": l.sku,
                    "upc": "",
                    "type": if l.digital { "digital" } else { "physical" },
                    "base_price": fmt4(l.unit),
                    "price_ex_tax": fmt4(l.unit_ex),
                    "price_inc_tax": fmt4(l.unit),
                    "price_tax": fmt4(l.unit - l.unit_ex),
                    "base_total": fmt4(l.total),
                    "total_ex_tax": fmt4(l.total_ex),
                    "total_inc_tax": fmt4(l.total),
                    "total_tax": fmt4(l.total - l.total_ex),
                    "discounted_total_inc_tax": fmt4(l.total),
                });
                let tail = json!({
                    "weight": "0.5000",
                    "quantity": l.quantity,
                    "base_cost_price": fmt4(0),
                    "cost_price_inc_tax": fmt4(0),
                    "cost_price_ex_tax": fmt4(0),
                    "cost_price_tax": fmt4(0),
                    "is_refunded": l.quantity_refunded > 0 && l.quantity_refunded >= l.quantity,
                    "quantity_refunded": l.quantity_refunded,
                    "refund_amount": fmt4(l.refund_amount),
                    "return_id": 0,
                    "wrapping_name": "",
                    "base_wrapping_cost": fmt4(0),
                    "wrapping_cost_ex_tax": fmt4(0),
                    "wrapping_cost_inc_tax": fmt4(0),
                    "wrapping_cost_tax": fmt4(0),
                    "wrapping_message": "",
                    "quantity_shipped": l.quantity_shipped,
                    "event_name": null,
                    "event_date": "",
                    "fixed_shipping_cost": fmt4(0),
                    "ebay_item_id": "",
                    "ebay_transaction_id": "",
                    "option_set_id": null,
                    "parent_order_product_id": null,
                    "is_bundled_product": false,
                    "bin_picking_number": "",
                    "external_id": null,
                    "brand": "",
                    "applied_discounts": [],
                    "product_options": [],
                    "configurable_fields": [],
                    "gift_certificate_id": null,
                });
                merge(head, tail)
            })
            .collect()
    }

    /// `GET /v2/orders/{id}/shipping_addresses` rows (`orderShippingAddress`).
    pub fn shipping_addresses_json(&self, api_base: &str) -> Vec<Value> {
        let Some(s) = &self.shipping else {
            return Vec::new();
        };
        let physical = || self.lines.iter().filter(|l| !l.digital);
        let items: u64 = physical().map(|l| l.quantity).sum();
        let shipped: u64 = physical().map(|l| l.quantity_shipped).sum();
        let mut v = Value::Object(s.address.v2_fields());
        let more = json!({
            "id": s.id,
            "order_id": self.id,
            "items_total": items,
            "items_shipped": shipped,
            "shipping_method": s.method,
            "base_cost": fmt4(s.cost),
            "cost_ex_tax": fmt4(s.cost_ex),
            "cost_inc_tax": fmt4(s.cost),
            "cost_tax": fmt4(s.cost - s.cost_ex),
            "cost_tax_class_id": 2,
            "base_handling_cost": fmt4(0),
            "handling_cost_ex_tax": fmt4(0),
            "handling_cost_inc_tax": fmt4(0),
            "handling_cost_tax": fmt4(0),
            "handling_cost_tax_class_id": 2,
            "shipping_zone_id": s.zone_id,
            "shipping_zone_name": s.zone_name,
            "shipping_quotes": {
                "url": format!("{api_base}/v2/orders/{}/shipping_addresses/{}/shipping_quotes", self.id, s.id),
                "resource": format!("/orders/{}/shipping_addresses/{}/shipping_quotes", self.id, s.id),
            },
            "form_fields": [],
        });
        if let (Some(obj), Value::Object(more)) = (v.as_object_mut(), more) {
            obj.extend(more);
        }
        vec![v]
    }
}

/// A checkout token (`POST /v3/checkouts/{id}/token`).
#[derive(Clone, Debug)]
pub(crate) struct CheckoutToken {
    pub checkout_id: String,
    pub max_uses: u64,
    pub uses: u64,
    pub expires_at: i64,
}

impl CheckoutToken {
    pub fn usable(&self, now: i64) -> bool {
        self.uses < self.max_uses && now < self.expires_at
    }
}

/// An order metafield.
#[derive(Clone, Debug)]
pub(crate) struct MetafieldRec {
    pub id: u64,
    pub order_id: u64,
    pub client_id: String,
    pub permission_set: String,
    pub namespace: String,
    pub key: String,
    pub value: String,
    pub description: String,
    pub date_created: String,
    pub date_modified: String,
}

impl MetafieldRec {
    /// `Metafield`.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "key": self.key,
            "value": self.value,
            "namespace": self.namespace,
            "permission_set": self.permission_set,
            "resource_type": "order",
            "resource_id": self.order_id,
            "description": self.description,
            "date_created": self.date_created,
            "date_modified": self.date_modified,
            "owner_client_id": self.client_id,
        })
    }

    /// Whether `client_id` may see it: its own, or not `app_only`.
    pub fn visible_to(&self, client_id: &str) -> bool {
        self.client_id == client_id || self.permission_set != "app_only"
    }
}

/// Why an order could not be created from a checkout.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum OrderError {
    NoCheckout,
    EmptyCart,
}

/// Everything a store sells and records.
pub(crate) struct Commerce {
    pub checkouts: BTreeMap<String, CheckoutRec>,
    pub customers: BTreeMap<u64, CustomerRec>,
    pub orders: BTreeMap<u64, OrderRec>,
    pub tokens: HashMap<String, CheckoutToken>,
    pub metafields: Vec<MetafieldRec>,
    /// Refunds of every order, by id (ids are per store).
    pub refunds: BTreeMap<u64, RefundRec>,
    next_order_id: u64,
    next_order_product_id: u64,
    next_order_address_id: u64,
    next_customer_id: u64,
    pub next_metafield_id: u64,
    pub next_shipment_id: u64,
    pub next_refund_id: u64,
    pub next_refund_payment_id: u64,
}

impl Default for Commerce {
    fn default() -> Self {
        Commerce {
            checkouts: BTreeMap::new(),
            customers: BTreeMap::new(),
            orders: BTreeMap::new(),
            tokens: HashMap::new(),
            metafields: Vec::new(),
            refunds: BTreeMap::new(),
            next_order_id: FIRST_ORDER_ID,
            next_order_product_id: 1,
            next_order_address_id: 1,
            next_customer_id: 1,
            next_metafield_id: 1,
            next_shipment_id: 1,
            next_refund_id: 1,
            next_refund_payment_id: 1,
        }
    }
}

impl Commerce {
    /// A fresh order product id (ids are per store, across orders).
    pub fn new_order_product_id(&mut self) -> u64 {
        let id = self.next_order_product_id;
        self.next_order_product_id += 1;
        id
    }

    pub fn add_customer(&mut self, name: &str, email: &str, store_credit_cents: i64) -> u64 {
        let id = self.next_customer_id;
        self.next_customer_id += 1;
        let name = name.trim();
        let (first, last) = name.split_once(' ').unwrap_or((name, ""));
        let now = now_unix();
        self.customers.insert(
            id,
            CustomerRec {
                id,
                first_name: first.trim().to_owned(),
                last_name: last.trim().to_owned(),
                email: email.to_owned(),
                store_credit: store_credit_cents.max(0).saturating_mul(100),
                date_created: now,
                date_modified: now,
            },
        );
        id
    }

    /// The customer of a checkout, if it has one.
    pub fn customer_of(&self, checkout: &CheckoutRec) -> Option<&CustomerRec> {
        (checkout.customer_id != 0)
            .then(|| self.customers.get(&checkout.customer_id))
            .flatten()
    }

    /// A new order from the checkout's current contents (`POST /v3/checkouts/{id}/orders`
    /// with `status_id` 0 and `order_source` `checkout_api`; the storefront's own "Place
    /// order" with its status and source). Store credit the checkout has applied is
    /// recorded, not yet taken from the customer: see [`Self::place`].
    pub fn create_order(
        &mut self,
        checkout_id: &str,
        status_id: u32,
        source: &str,
        zone: (u64, String),
    ) -> Result<u64, OrderError> {
        let checkout = self
            .checkouts
            .get(checkout_id)
            .ok_or(OrderError::NoCheckout)?;
        if checkout.lines.is_empty() {
            return Err(OrderError::EmptyCart);
        }
        let credit = checkout.credit_used(self.customer_of(checkout));
        let id = self.next_order_id;
        self.next_order_id += 1;
        let mut lines = Vec::new();
        for l in &checkout.lines {
            let total = l.extended();
            lines.push(OrderLine {
                id: self.next_order_product_id,
                product_id: l.product_id,
                variant_id: l.variant_id,
                name: l.name.clone(),
                sku: l.sku.clone(),
                digital: l.digital,
                quantity: l.quantity,
                unit: l.unit,
                unit_ex: ex_tax(l.unit),
                total,
                total_ex: ex_tax(total),
                quantity_shipped: 0,
                quantity_refunded: 0,
                refund_amount: 0,
            });
            self.next_order_product_id += 1;
        }
        let shipping = checkout.has_physical().then(|| {
            let t = checkout.totals();
            let address_id = self.next_order_address_id;
            self.next_order_address_id += 1;
            OrderShipping {
                id: address_id,
                address: checkout.shipping.clone(),
                method: SHIPPING_DESCRIPTION.to_owned(),
                cost: t.shipping,
                cost_ex: t.shipping_ex,
                zone_id: zone.0,
                zone_name: zone.1,
            }
        });
        let now = now_unix();
        let order = OrderRec {
            id,
            customer_id: checkout.customer_id,
            status_id,
            cart_id: Some(checkout.id.clone()),
            order_source: source.to_owned(),
            channel_id: checkout.channel_id,
            currency: checkout.currency.clone(),
            date_created: now,
            date_modified: now,
            billing: checkout.billing.clone(),
            shipping,
            lines,
            store_credit: credit,
            payment_method: String::new(),
            payment_provider_id: Value::String(String::new()),
            ip_address: checkout.ip_address.clone(),
            customer_locale: checkout.locale.clone(),
            written: Map::new(),
            is_deleted: false,
            date_shipped: None,
            shipments: Vec::new(),
            shipping_refunded: 0,
            refunded: 0,
        };
        self.orders.insert(id, order);
        if let Some(c) = self.checkouts.get_mut(checkout_id) {
            c.order_id = Some(id);
        }
        Ok(id)
    }

    /// The order leaves Incomplete: its store credit is taken from the customer and its
    /// checkout is completed (no more checkout tokens).
    pub fn place(&mut self, order_id: u64) {
        let Some(order) = self.orders.get(&order_id) else {
            return;
        };
        let (customer_id, credit, cart_id) =
            (order.customer_id, order.store_credit, order.cart_id.clone());
        if credit > 0
            && let Some(c) = self.customers.get_mut(&customer_id)
        {
            c.store_credit = (c.store_credit - credit).max(0);
            c.date_modified = now_unix();
        }
        if let Some(c) = cart_id.and_then(|id| self.checkouts.get_mut(&id)) {
            c.completed = true;
            c.order_id = Some(order_id);
            c.store_credit_applied = false;
        }
    }

    /// A new checkout token, 64 hex digits like BigCommerce's.
    pub fn create_token(&mut self, checkout_id: &str, max_uses: u64, ttl: i64) -> String {
        let token = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        self.tokens.insert(
            token.clone(),
            CheckoutToken {
                checkout_id: checkout_id.to_owned(),
                max_uses,
                uses: 0,
                expires_at: now_unix().saturating_add(ttl),
            },
        );
        token
    }

    /// Spends one use of `token` when it is usable and belongs to the order's checkout.
    pub fn redeem_token(&mut self, token: &str, order_id: u64) -> bool {
        let Some(cart_id) = self.orders.get(&order_id).and_then(|o| o.cart_id.clone()) else {
            return false;
        };
        match self.tokens.get_mut(token) {
            Some(t) if t.checkout_id == cart_id && t.usable(now_unix()) => {
                t.uses += 1;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_formats_with_four_decimals_and_rounds_to_cents_for_v3() {
        assert_eq!(fmt4(49_500), "4.9500");
        assert_eq!(fmt4(0), "0.0000");
        assert_eq!(fmt4(-12_345), "-1.2345");
        assert_eq!(num2(199_950).to_string(), "20.0");
        assert_eq!(num2(49_500).to_string(), "4.95");
        assert_eq!(num2(199_949).to_string(), "19.99");
    }

    #[test]
    fn ex_tax_amounts_are_exact_ten_thousandths() {
        // 4.95 / 1.21 = 4.090909… → 4.0909
        assert_eq!(ex_tax(49_500), 40_909);
        // 19.95 / 1.21 = 16.487603… → 16.4876
        assert_eq!(ex_tax(199_500), 164_876);
        assert_eq!(ex_tax(0), 0);
    }

    #[test]
    fn the_default_shopper_is_sequras_spanish_test_shopper() {
        let a = Address::default_shopper("es");
        assert_eq!(
            (a.first_name.as_str(), a.last_name.as_str()),
            ("Fulano", "De Tal")
        );
        assert_eq!(a.email, "test@sequra.es");
        assert_eq!(a.address1, "Carrer d'Alí Bei, 7");
        assert_eq!(
            (a.postal_code.as_str(), a.city.as_str()),
            ("08010", "Barcelona")
        );
        assert_eq!(a.country_code, "ES");
        assert_eq!(Address::default_shopper("FR").last_name, "Untel");
    }
}
