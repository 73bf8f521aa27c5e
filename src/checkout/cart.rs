//! The seQura order's cart, customer and addresses, built from a BigCommerce order
//! (sequra-api.md §3.2; sequra-plugin-features.md §6 requirement 3).
//!
//! Every amount is integer cents, tax included, whether the store prices include tax or not.
//! The cart's items add up exactly to [`amount_due`]: whatever BigCommerce's own per-line
//! rounding leaves over becomes one explicit `rounding` line.
//!
//! # Discounts: where the amount comes from
//!
//! BigCommerce reports discounts three ways: `coupon_discount` (coupons), `discount_amount`
//! (automatic promotions and manual discounts; separate from coupons, as the yml's order 218
//! shows: 67.84 + 12.00 − 5.00 − 5.00 = 69.84) and, per product, `applied_discounts`, which are
//! the same order-level discounts spread across the lines (`(discount × price_ex_tax) /
//! subtotal_ex_tax`, rounded per line). Adding the per-product shares to the order-level
//! figures would count every discount twice, so the per-product shares are used only to name
//! the lines (coupon codes, promotion names).
//!
//! The two order-level figures are not tax-inclusive in every store (in a tax-exclusive store
//! the discount is taken off the price before tax, so the shopper saves the discount *plus its
//! tax*). The amount the cart takes off is therefore read from the order's own tax-inclusive
//! totals: `subtotal + shipping + handling + wrapping − total`, all `*_inc_tax`. It is split
//! between a `coupon` line and a `discount` line in proportion to `coupon_discount` and
//! `discount_amount`. Discount lines appear only when BigCommerce declares a discount, so tax
//! estimation noise in an undiscounted order lands in the `rounding` line, not in a discount.

use std::collections::HashMap;

use crate::bigcommerce::models::{
    BillingAddress, Order, OrderProduct, ProductType, ShippingAddress,
};
use crate::domain::{ServiceDate, ServiceTerms, parse_decimal};
use crate::i18n::Message;
use crate::sequra::models::{Address, Cart, CartItem, Customer, DeliveryMethod};

/// The product custom field naming when a service ends: a date or a duration.
pub const FIELD_SERVICE_END: &str = "sequra_service_end_date";
/// The product custom field naming when the first instalment is charged: a date or a duration.
pub const FIELD_FIRST_CHARGE: &str = "sequra_first_charge_date";
/// The product custom field holding a service's registration fee, in the store currency.
pub const FIELD_REGISTRATION: &str = "sequra_registration_amount";

/// The one currency seQura's checkout takes.
pub const CURRENCY: &str = "EUR";
/// Reference of the shipping line (`handling`).
pub const SHIPPING_REF: &str = "shipping";
/// Reference of the handling-fee line (`handling`).
pub const HANDLING_REF: &str = "handling";
/// Reference of the gift-wrapping line (`handling`).
pub const WRAPPING_REF: &str = "wrapping";
/// Reference of the coupons line (`discount`).
pub const COUPON_REF: &str = "coupon";
/// Reference of the automatic and manual discounts line (`discount`).
pub const DISCOUNT_REF: &str = "discount";
/// Reference of the store-credit line (`other_payment`).
pub const STORE_CREDIT_REF: &str = "store_credit";
/// Reference of the redeemed gift certificates line (`other_payment`).
pub const GIFT_CERTIFICATE_REF: &str = "gift_certificate";
/// Reference of the rounding residue line (`handling` if positive, `discount` if negative).
pub const ROUNDING_REF: &str = "rounding";

/// Everything the cart is built from: the order as BigCommerce holds it right now.
#[derive(Debug, Clone, Copy)]
pub struct CartInput<'a> {
    pub order: &'a Order,
    pub products: &'a [OrderProduct],
    pub shipping: &'a [ShippingAddress],
    /// The checkout (BigCommerce cart) id: one stable `cart_ref` per checkout.
    pub checkout_id: &'a str,
}

/// Why an order cannot become a seQura cart.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CartError {
    #[error("seQura only takes EUR; the order is in {0:?}")]
    Currency(String),
    #[error("product {reference:?} has quantity 0")]
    ZeroQuantity { reference: String },
    #[error("product {reference:?} has a negative price")]
    NegativePrice { reference: String },
    #[error("the order's {field} is negative")]
    NegativeAmount { field: &'static str },
    #[error("the amount due is negative ({0} cents)")]
    NegativeAmountDue(i64),
    #[error("the order's amounts overflow")]
    Overflow,
    /// A product's seQura custom field cannot be read.
    #[error("product {product_id}'s custom field {field} is not valid: {value:?}")]
    ServiceField {
        product_id: u64,
        field: &'static str,
        value: String,
    },
    /// A product's registration fee is more than its price.
    #[error("product {reference:?}'s registration fee is more than its price")]
    RegistrationAbovePrice { reference: String },
    /// A service in a country whose contract allows none.
    #[error("product {reference:?} is a service, which the merchant ref's contract does not allow")]
    ServicesNotAllowed { reference: String },
    /// Nothing is shipped (digital goods, gift certificates) and the contract sells no
    /// services: seQura's plugins do not offer such a cart.
    #[error("nothing in the order is shipped and the merchant ref's contract allows no services")]
    NothingShipped,
    /// The lines do not add up to the total by more than rounding (a cent a line) explains.
    #[error("the order's lines add up to {lines} cents but its amount due is {due} cents")]
    Discrepancy { due: i64, lines: i64 },
}

impl CartError {
    /// The reason for the merchant's log, in the reader's language.
    pub fn message(&self) -> Message {
        match self {
            CartError::Currency(c) => Message::new("log_cart_currency").text("currency", c),
            CartError::ZeroQuantity { reference } => {
                Message::new("log_cart_zero_quantity").text("reference", reference)
            }
            CartError::NegativePrice { reference } => {
                Message::new("log_cart_negative_price").text("reference", reference)
            }
            CartError::NegativeAmount { field } => {
                Message::new("log_cart_negative_amount").text("field", *field)
            }
            CartError::NegativeAmountDue(cents) => {
                Message::new("log_cart_negative_due").money("amount", *cents)
            }
            CartError::Overflow => Message::new("log_cart_overflow"),
            CartError::ServiceField {
                product_id,
                field,
                value,
            } => Message::new("log_cart_service_field")
                .text("product", product_id.to_string())
                .text("field", *field)
                .text("value", value),
            CartError::RegistrationAbovePrice { reference } => {
                Message::new("log_cart_registration_above_price").text("reference", reference)
            }
            CartError::ServicesNotAllowed { reference } => {
                Message::new("log_cart_services_not_allowed").text("reference", reference)
            }
            CartError::NothingShipped => Message::new("log_cart_nothing_shipped"),
            CartError::Discrepancy { due, lines } => Message::new("log_cart_discrepancy")
                .money("lines", *lines)
                .money("due", *due),
        }
    }
}

/// What a product's seQura custom fields say (sequra-api.md §3.2 `service`, `registration`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProductFields {
    /// `sequra_service_end_date`: the product is a service ending then.
    pub service_end: Option<ServiceDate>,
    /// `sequra_first_charge_date`.
    pub first_charge: Option<ServiceDate>,
    /// `sequra_registration_amount`, in cents, per unit.
    pub registration: i64,
}

impl ProductFields {
    /// Reads the fields from a product's custom fields (name, value); other fields are
    /// ignored, an empty value is no value. The registration fee is a decimal amount in the
    /// store currency with at most two decimals (`10`, `10.5`, `10.00`), never negative.
    pub fn parse<'a>(
        product_id: u64,
        fields: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, CartError> {
        let mut out = ProductFields::default();
        for (name, value) in fields {
            let value = value.trim();
            let field = match name.trim() {
                FIELD_SERVICE_END => FIELD_SERVICE_END,
                FIELD_FIRST_CHARGE => FIELD_FIRST_CHARGE,
                FIELD_REGISTRATION => FIELD_REGISTRATION,
                _ => continue,
            };
            if value.is_empty() {
                continue;
            }
            let bad = || CartError::ServiceField {
                product_id,
                field,
                value: value.chars().take(60).collect(),
            };
            match field {
                FIELD_SERVICE_END => {
                    out.service_end = Some(ServiceDate::parse(value).ok_or_else(bad)?)
                }
                FIELD_FIRST_CHARGE => {
                    out.first_charge = Some(ServiceDate::parse(value).ok_or_else(bad)?)
                }
                _ => {
                    let decimals = value.split_once('.').map_or(0, |(_, d)| d.len());
                    let cents = parse_decimal(value).map_err(|_| bad())?;
                    if decimals > 2 || cents < 0 {
                        return Err(bad());
                    }
                    out.registration = cents;
                }
            }
        }
        Ok(out)
    }
}

/// What makes an order's products services: the merchant ref's contract terms, the store's
/// default end date and each catalog product's seQura custom fields (by product id). Kept with
/// each seQura order as it was solicited (JSON): the order's later updates describe the same
/// services, whatever the merchant changes in the catalog or the contract since.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Services {
    pub terms: ServiceTerms,
    pub default_end: ServiceDate,
    pub products: HashMap<u64, ProductFields>,
}

impl Default for Services {
    /// No services: every product is a `product` line.
    fn default() -> Self {
        Services {
            terms: ServiceTerms::default(),
            default_end: ServiceDate::default_end(),
            products: HashMap::new(),
        }
    }
}

impl Services {
    fn fields(&self, product: &OrderProduct) -> Option<&ProductFields> {
        (product.product_id != 0)
            .then(|| self.products.get(&product.product_id))
            .flatten()
    }

    /// Whether the product is sold as a service: where the contract allows services, a
    /// product with `sequra_service_end_date` and every digital product (as seQura's plugins
    /// sell virtual goods).
    pub fn is_service(&self, product: &OrderProduct) -> bool {
        self.terms.services
            && (product.kind == ProductType::Digital
                || self
                    .fields(product)
                    .is_some_and(|f| f.service_end.is_some()))
    }

    /// The earliest first charge among the order's services, when the contract allows a
    /// first instalment delay: `merchant.options.desired_first_charge_on`, from `now`. A date
    /// already past delays nothing: it is not sent (seQura's answer to one is undocumented).
    pub fn desired_first_charge_on(
        &self,
        products: &[OrderProduct],
        now: time::OffsetDateTime,
    ) -> Option<time::OffsetDateTime> {
        if !self.terms.first_charge_delay {
            return None;
        }
        products
            .iter()
            .filter(|p| self.is_service(p))
            .filter_map(|p| self.fields(p)?.first_charge.as_ref()?.from(now))
            .filter(|t| *t > now)
            .min()
    }
}

/// Refuses an order of goods that are not shipped (only digital products or gift
/// certificates) where the contract sells no services (as seQura's plugins refuse a cart
/// that needs no shipping unless services are enabled).
pub fn check_shipped_goods(
    products: &[OrderProduct],
    services: &Services,
) -> Result<(), CartError> {
    let ships = products.iter().any(|p| p.kind.ships());
    if ships || services.terms.services {
        Ok(())
    } else {
        Err(CartError::NothingShipped)
    }
}

/// What the shopper still has to pay, in cents: the order total less the store credit and
/// gift certificates redeemed on it.
pub fn amount_due(order: &Order) -> i64 {
    order
        .total_inc_tax
        .saturating_sub(order.store_credit_amount)
        .saturating_sub(order.gift_certificate_amount)
}

/// The seQura cart for an EUR order: one `product` line per order product, then shipping,
/// handling and wrapping (`handling`), coupons and discounts (`discount`), store credit and
/// gift certificates (`other_payment`), and at most one `rounding` line, so that the items add
/// up to `order_total_with_tax` = [`amount_due`]. Zero-amount lines are left out.
pub fn build_cart(input: &CartInput) -> Result<Cart, CartError> {
    build_cart_for(input, &Services::default())
}

/// [`build_cart`], with the order's services: a service product is a `service` line (and a
/// `registration` line taken out of its price where the contract allows them).
pub fn build_cart_for(input: &CartInput, services: &Services) -> Result<Cart, CartError> {
    let order = input.order;
    let currency = order.transactional_currency().trim();
    if !currency.eq_ignore_ascii_case(CURRENCY) {
        return Err(CartError::Currency(currency.to_string()));
    }
    let due = amount_due(order);
    if due < 0 {
        return Err(CartError::NegativeAmountDue(due));
    }
    for (field, value) in [
        ("shipping_cost_inc_tax", order.shipping_cost_inc_tax),
        ("handling_cost_inc_tax", order.handling_cost_inc_tax),
        ("wrapping_cost_inc_tax", order.wrapping_cost_inc_tax),
        ("coupon_discount", order.coupon_discount),
        ("discount_amount", order.discount_amount),
        ("store_credit_amount", order.store_credit_amount),
        ("gift_certificate_amount", order.gift_certificate_amount),
    ] {
        if value < 0 {
            return Err(CartError::NegativeAmount { field });
        }
    }

    let mut items = Vec::with_capacity(input.products.len());
    for p in input.products {
        items.extend(goods_lines(p, services)?);
    }

    let charges = [
        (
            SHIPPING_REF,
            delivery_method(input.shipping).name,
            order.shipping_cost_inc_tax,
        ),
        (
            HANDLING_REF,
            "Handling fee".to_string(),
            order.handling_cost_inc_tax,
        ),
        (
            WRAPPING_REF,
            wrapping_name(input.products),
            order.wrapping_cost_inc_tax,
        ),
    ];
    for (reference, name, amount) in charges {
        if amount > 0 {
            items.push(CartItem::handling(reference, name, amount));
        }
    }

    let (coupons, discounts) = discount_split(order)?;
    if coupons > 0 {
        items.push(CartItem::discount(
            COUPON_REF,
            coupon_name(input.products),
            coupons,
        ));
    }
    if discounts > 0 {
        items.push(CartItem::discount(
            DISCOUNT_REF,
            discount_name(input.products),
            discounts,
        ));
    }

    if order.store_credit_amount > 0 {
        items.push(CartItem::other_payment(
            STORE_CREDIT_REF,
            "Store credit",
            order.store_credit_amount,
        ));
    }
    if order.gift_certificate_amount > 0 {
        items.push(CartItem::other_payment(
            GIFT_CERTIFICATE_REF,
            "Gift certificate",
            order.gift_certificate_amount,
        ));
    }

    let sum = items
        .iter()
        .try_fold(0i64, |acc, item| acc.checked_add(item.total_with_tax()))
        .ok_or(CartError::Overflow)?;
    let residue = due.checked_sub(sum).ok_or(CartError::Overflow)?;
    // The order's own line totals (not unit price × quantity, whose rounding from four decimals
    // is up to half a cent a unit) add up to the amount due within a cent a line, or the order
    // has something the cart does not (a fee, a discount): that is never hidden in `rounding`.
    let stated = input.products.iter().try_fold(sum, |acc, p| {
        let line = i64::from(p.quantity).checked_mul(p.price_inc_tax)?;
        let total = if p.total_inc_tax != 0 {
            p.total_inc_tax
        } else {
            line
        };
        acc.checked_sub(line)?.checked_add(total)
    });
    let stated = stated.ok_or(CartError::Overflow)?;
    if due.abs_diff(stated) > items.len() as u64 {
        return Err(CartError::Discrepancy { due, lines: stated });
    }
    // And the rounding line itself stays rounding: unit prices rounded from four decimals,
    // half a cent a unit at most, plus a cent a line (a line total below price × quantity
    // would otherwise pass the check above and land here).
    let allowance = input
        .products
        .iter()
        .map(|p| u64::from(p.quantity).div_ceil(2))
        .sum::<u64>()
        + items.len() as u64;
    if residue.unsigned_abs() > allowance {
        return Err(CartError::Discrepancy { due, lines: sum });
    }
    if residue > 0 {
        items.push(CartItem::handling(ROUNDING_REF, "Rounding", residue));
    } else if residue < 0 {
        items.push(CartItem::discount(ROUNDING_REF, "Rounding", residue));
    }

    let mut cart = Cart::new(CURRENCY, items);
    cart.cart_ref = Some(input.checkout_id.to_string());
    debug_assert_eq!(cart.order_total_with_tax, due);
    debug_assert!(cart.adds_up());
    Ok(cart)
}

/// A product line: unit price with tax × quantity, referenced by SKU, else by product id,
/// else (custom products, gift certificates) by the order product id as `line-<id>`.
pub fn product_line(product: &OrderProduct) -> Result<CartItem, CartError> {
    let reference = product_reference(product);
    if product.quantity == 0 {
        return Err(CartError::ZeroQuantity { reference });
    }
    if product.price_inc_tax < 0 {
        return Err(CartError::NegativePrice { reference });
    }
    let quantity = i64::from(product.quantity);
    let total = product
        .price_inc_tax
        .checked_mul(quantity)
        .ok_or(CartError::Overflow)?;
    let name = match product.name.trim() {
        "" => reference.clone(),
        name => name.to_string(),
    };
    Ok(CartItem::Product {
        reference,
        name,
        price_with_tax: product.price_inc_tax,
        quantity,
        total_with_tax: total,
        downloadable: product.kind == ProductType::Digital,
        perishable: None,
        personalized: None,
        restockable: None,
        category: None,
        description: None,
        manufacturer: None,
        supplier: None,
        product_id: (product.product_id != 0).then(|| product.product_id.to_string()),
        url: None,
        tracking_reference: None,
    })
}

/// An order product's lines: a `product` line, or for a service a `service` line with exactly
/// one of `ends_on` / `ends_in` (the product's own end date, else the store's default),
/// preceded by its `registration` line when it has a fee and the contract allows them. The
/// fee is taken out of the service's unit price, so the lines still add up to price ×
/// quantity. A service where the contract allows none is refused.
pub fn goods_lines(
    product: &OrderProduct,
    services: &Services,
) -> Result<Vec<CartItem>, CartError> {
    let line = product_line(product)?;
    let fields = services.fields(product);
    if !services.is_service(product) {
        if fields.is_some_and(|f| f.service_end.is_some()) {
            return Err(CartError::ServicesNotAllowed {
                reference: product_reference(product),
            });
        }
        return Ok(vec![line]);
    }
    let CartItem::Product {
        reference,
        name,
        price_with_tax,
        quantity,
        downloadable,
        ..
    } = line
    else {
        return Ok(vec![line]);
    };
    let registration = if services.terms.registration {
        fields.map_or(0, |f| f.registration)
    } else {
        0
    };
    if registration > price_with_tax {
        return Err(CartError::RegistrationAbovePrice { reference });
    }
    let end = fields
        .and_then(|f| f.service_end.as_ref())
        .unwrap_or(&services.default_end);
    let (ends_on, ends_in) = end.ends();
    let price = price_with_tax - registration;
    let mut out = Vec::with_capacity(2);
    if registration > 0 {
        out.push(CartItem::Registration {
            reference: format!("{reference}-reg"),
            name: format!("Reg. {name}"),
            total_with_tax: registration
                .checked_mul(quantity)
                .ok_or(CartError::Overflow)?,
        });
    }
    out.push(CartItem::Service {
        reference,
        name,
        ends_on,
        ends_in,
        price_with_tax: price,
        quantity,
        total_with_tax: price.checked_mul(quantity).ok_or(CartError::Overflow)?,
        downloadable,
        supplier: None,
        rendered: None,
    });
    Ok(out)
}

/// The reference of an order product's cart line (see [`build_cart`]).
pub fn product_reference(product: &OrderProduct) -> String {
    match product.sku.trim() {
        "" if product.product_id != 0 => product.product_id.to_string(),
        "" => format!("line-{}", product.id),
        sku => sku.to_string(),
    }
}

/// The tax-inclusive amount taken off the order, split into (coupons, other discounts).
fn discount_split(order: &Order) -> Result<(i64, i64), CartError> {
    let declared_coupons = i128::from(order.coupon_discount);
    let declared = declared_coupons + i128::from(order.discount_amount);
    if declared == 0 {
        return Ok((0, 0));
    }
    let charged = [
        order.subtotal_inc_tax,
        order.shipping_cost_inc_tax,
        order.handling_cost_inc_tax,
        order.wrapping_cost_inc_tax,
    ]
    .into_iter()
    .map(i128::from)
    .sum::<i128>();
    let taken_off = charged - i128::from(order.total_inc_tax);
    if taken_off <= 0 {
        return Ok((0, 0));
    }
    // Rounded half away from zero; both operands are positive.
    let coupons = (2 * taken_off * declared_coupons + declared) / (2 * declared);
    let discounts = taken_off - coupons;
    let coupons = i64::try_from(coupons).map_err(|_| CartError::Overflow)?;
    let discounts = i64::try_from(discounts).map_err(|_| CartError::Overflow)?;
    Ok((coupons, discounts))
}

/// Distinct non-empty values, in order of first appearance.
fn distinct<'a>(values: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen: Vec<&str> = Vec::new();
    for value in values.map(str::trim).filter(|v| !v.is_empty()) {
        if !seen.contains(&value) {
            seen.push(value);
        }
    }
    seen
}

fn coupon_name(products: &[OrderProduct]) -> String {
    let codes = distinct(
        products
            .iter()
            .flat_map(|p| &p.applied_discounts)
            .filter_map(|d| d.code.as_deref()),
    );
    match codes.len() {
        0 => "Coupon".to_string(),
        1 => format!("Coupon {}", codes[0]),
        _ => format!("Coupons {}", codes.join(", ")),
    }
}

fn discount_name(products: &[OrderProduct]) -> String {
    let names = distinct(
        products
            .iter()
            .flat_map(|p| &p.applied_discounts)
            .filter(|d| d.code.as_deref().is_none_or(|c| c.trim().is_empty()))
            .filter_map(|d| d.name.as_deref()),
    );
    if names.is_empty() {
        "Discount".to_string()
    } else {
        names.join(", ")
    }
}

fn wrapping_name(products: &[OrderProduct]) -> String {
    let names = distinct(products.iter().filter_map(|p| p.wrapping_name.as_deref()));
    if names.is_empty() {
        "Gift wrapping".to_string()
    } else {
        format!("Gift wrapping: {}", names.join(", "))
    }
}

/// How the goods travel: the shipping method (several joined with ` + `), `Shipping` if
/// BigCommerce names none, `Digital delivery` when nothing is shipped.
pub fn delivery_method(shipping: &[ShippingAddress]) -> DeliveryMethod {
    let methods = distinct(shipping.iter().map(|s| s.shipping_method.as_str()));
    let name = match (shipping.is_empty(), methods.is_empty()) {
        (true, _) => "Digital delivery".to_string(),
        (false, true) => "Shipping".to_string(),
        (false, false) => methods.join(" + "),
    };
    DeliveryMethod {
        name,
        days: None,
        provider: None,
        home_delivery: None,
    }
}

/// The first shipping address, or the billing address when nothing is shipped.
pub fn delivery_address(order: &Order, shipping: &[ShippingAddress]) -> Address {
    match shipping.first() {
        Some(s) => address(AddressFields {
            first_name: &s.first_name,
            last_name: &s.last_name,
            company: &s.company,
            street_1: &s.street_1,
            street_2: &s.street_2,
            city: &s.city,
            state: &s.state,
            zip: &s.zip,
            country_iso2: &s.country_iso2,
            phone: &s.phone,
        }),
        None => invoice_address(order),
    }
}

/// The billing address.
pub fn invoice_address(order: &Order) -> Address {
    let b: &BillingAddress = &order.billing_address;
    address(AddressFields {
        first_name: &b.first_name,
        last_name: &b.last_name,
        company: &b.company,
        street_1: &b.street_1,
        street_2: &b.street_2,
        city: &b.city,
        state: &b.state,
        zip: &b.zip,
        country_iso2: &b.country_iso2,
        phone: &b.phone,
    })
}

struct AddressFields<'a> {
    first_name: &'a str,
    last_name: &'a str,
    company: &'a str,
    street_1: &'a str,
    street_2: &'a str,
    city: &'a str,
    state: &'a str,
    zip: &'a str,
    country_iso2: &'a str,
    phone: &'a str,
}

fn non_empty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

fn address(f: AddressFields) -> Address {
    Address {
        given_names: f.first_name.trim().to_string(),
        surnames: f.last_name.trim().to_string(),
        company: f.company.trim().to_string(),
        address_line_1: f.street_1.trim().to_string(),
        address_line_2: f.street_2.trim().to_string(),
        postal_code: f.zip.trim().to_string(),
        city: f.city.trim().to_string(),
        country_code: f.country_iso2.trim().to_ascii_uppercase(),
        phone: non_empty(f.phone),
        mobile_phone: None,
        state: non_empty(f.state),
        extra: None,
        vat_number: None,
    }
}

/// The shopper, from the billing address. `ip` falls back to the order's `ip_address` when
/// empty; `ref` is the BigCommerce customer id, absent for guests.
pub fn customer(
    order: &Order,
    language_code: &str,
    ip: &str,
    user_agent: &str,
    logged_in: bool,
) -> Customer {
    let b = &order.billing_address;
    let ip = match ip.trim() {
        "" => order.ip_address.trim(),
        ip => ip,
    };
    Customer {
        given_names: b.first_name.trim().to_string(),
        surnames: b.last_name.trim().to_string(),
        email: b.email.trim().to_string(),
        logged_in,
        language_code: language_code.to_string(),
        ip_number: ip.to_string(),
        user_agent: user_agent.to_string(),
        ref_: (order.customer_id != 0).then(|| order.customer_id.to_string()),
        company: non_empty(&b.company),
        ..Customer::default()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Every reason an order is not a cart reads in each language with its details filled
    /// in (the log wrote English sentences into every language's line before).
    #[test]
    fn every_reason_reads_in_every_language() {
        use crate::i18n::{Catalogs, Lang};
        let c = Catalogs::load().unwrap();
        let reasons = [
            CartError::Currency("USD".into()),
            CartError::ZeroQuantity {
                reference: "ZAP-001".into(),
            },
            CartError::NegativePrice {
                reference: "ZAP-001".into(),
            },
            CartError::NegativeAmount {
                field: "shipping_cost_inc_tax",
            },
            CartError::NegativeAmountDue(-150),
            CartError::Overflow,
            CartError::ServiceField {
                product_id: 110,
                field: FIELD_REGISTRATION,
                value: "10,00".into(),
            },
            CartError::RegistrationAbovePrice {
                reference: "CUR-001".into(),
            },
            CartError::ServicesNotAllowed {
                reference: "TAL-001".into(),
            },
            CartError::NothingShipped,
            CartError::Discrepancy {
                due: 1000,
                lines: 1200,
            },
        ];
        for reason in &reasons {
            let en = reason.message().render(&c, Lang::En);
            for lang in Lang::ALL {
                let text = reason.message().render(&c, lang);
                assert!(
                    !text.contains('{') && !text.starts_with("log_"),
                    "{lang:?}: {text}"
                );
                if lang != Lang::En {
                    assert_ne!(text, en, "{lang:?} is English: {text}");
                }
            }
        }
    }

    fn order(extra: serde_json::Value) -> Order {
        let mut value = json!({
            "id": 100, "customer_id": 7, "currency_code": "EUR",
            "is_tax_inclusive_pricing": true,
            "subtotal_inc_tax": "30.0000", "total_inc_tax": "30.0000",
            "ip_address": "10.0.0.1",
            "billing_address": {"first_name": " Ana ", "last_name": "García", "company": "",
                "street_1": "C/ Aragó 383", "street_2": "5º", "city": "Barcelona",
                "state": "", "zip": "08013", "country_iso2": "es",
                "phone": "600000000", "email": "ana@example.com"}
        });
        for (k, v) in extra.as_object().unwrap() {
            value[k] = v.clone();
        }
        serde_json::from_value(value).unwrap()
    }

    fn product(id: u64, sku: &str, price: &str, quantity: u32) -> OrderProduct {
        serde_json::from_value(
            json!({"id": id, "product_id": id + 100, "name": format!("P{id}"),
            "sku": sku, "type": "physical", "price_inc_tax": price, "quantity": quantity}),
        )
        .unwrap()
    }

    fn build(order: &Order, products: &[OrderProduct]) -> Result<Cart, CartError> {
        build_cart(&CartInput {
            order,
            products,
            shipping: &[],
            checkout_id: "chk-1",
        })
    }

    #[test]
    fn the_amount_due_excludes_store_credit_and_gift_certificates() {
        let o = order(json!({"total_inc_tax": "100", "store_credit_amount": "30",
                             "gift_certificate_amount": "20.5"}));
        assert_eq!(amount_due(&o), 4950);
    }

    #[test]
    fn a_product_without_sku_is_referenced_by_product_id_then_line_id() {
        let mut p = product(1, " ", "1", 1);
        assert_eq!(product_reference(&p), "101");
        p.product_id = 0;
        assert_eq!(product_reference(&p), "line-1");
    }

    #[test]
    fn a_non_eur_order_is_refused() {
        let o = order(json!({"currency_code": "USD"}));
        assert_eq!(
            build(&o, &[product(1, "A", "30", 1)]),
            Err(CartError::Currency("USD".into()))
        );
    }

    #[test]
    fn zero_quantity_and_negative_prices_are_refused() {
        let o = order(json!({}));
        assert_eq!(
            build(&o, &[product(1, "A", "30", 0)]),
            Err(CartError::ZeroQuantity {
                reference: "A".into()
            })
        );
        assert_eq!(
            build(&o, &[product(1, "A", "-30", 1)]),
            Err(CartError::NegativePrice {
                reference: "A".into()
            })
        );
    }

    #[test]
    fn a_negative_amount_due_is_refused() {
        let o = order(json!({"store_credit_amount": "31"}));
        assert_eq!(
            build(&o, &[product(1, "A", "30", 1)]),
            Err(CartError::NegativeAmountDue(-100))
        );
    }

    #[test]
    fn a_negative_charge_is_refused() {
        let o = order(json!({"shipping_cost_inc_tax": "-1"}));
        assert_eq!(
            build(&o, &[product(1, "A", "30", 1)]),
            Err(CartError::NegativeAmount {
                field: "shipping_cost_inc_tax"
            })
        );
    }

    #[test]
    fn the_discount_is_split_between_coupons_and_discounts_in_proportion() {
        // Tax-exclusive store: 10 + 5 declared ex tax, 18.15 taken off with 21 % tax.
        let o = order(json!({"subtotal_inc_tax": "100", "total_inc_tax": "81.85",
                             "coupon_discount": "10", "discount_amount": "5"}));
        assert_eq!(discount_split(&o), Ok((1210, 605)));
        let o = order(json!({"subtotal_inc_tax": "100", "total_inc_tax": "99.99",
                             "coupon_discount": "0.01", "discount_amount": "0.01"}));
        assert_eq!(discount_split(&o), Ok((1, 0)), "half a cent rounds up");
    }

    #[test]
    fn no_discount_line_without_a_declared_discount() {
        let o = order(json!({"subtotal_inc_tax": "30", "total_inc_tax": "29.99"}));
        assert_eq!(discount_split(&o), Ok((0, 0)));
        let cart = build(&o, &[product(1, "A", "30", 1)]).unwrap();
        assert_eq!(
            cart.items.last(),
            Some(&CartItem::discount(ROUNDING_REF, "Rounding", 1))
        );
    }

    #[test]
    fn a_gap_beyond_a_cent_a_line_is_refused_with_both_numbers() {
        // 30 € of goods, a total of 35 €: five euros nobody can explain.
        let o = order(json!({"subtotal_inc_tax": "30", "total_inc_tax": "35"}));
        assert_eq!(
            build(&o, &[product(1, "A", "30", 1)]),
            Err(CartError::Discrepancy {
                due: 3500,
                lines: 3000
            })
        );
        // Two cents on one line is more than rounding too.
        let o = order(json!({"subtotal_inc_tax": "30", "total_inc_tax": "30.02"}));
        assert!(matches!(
            build(&o, &[product(1, "A", "30", 1)]),
            Err(CartError::Discrepancy { .. })
        ));
        // A cent a line is rounding.
        let o = order(json!({"subtotal_inc_tax": "40", "total_inc_tax": "40.02"}));
        let cart = build(&o, &[product(1, "A", "30", 1), product(2, "B", "10", 1)]).unwrap();
        assert_eq!(
            cart.items.last(),
            Some(&CartItem::handling(ROUNDING_REF, "Rounding", 2))
        );
    }

    #[test]
    fn a_line_total_below_price_times_quantity_is_not_hidden_in_rounding() {
        // 100 € × 1 whose line says 80 €, on an 80 € order: a 20 € gap, not rounding.
        let p: OrderProduct = serde_json::from_value(json!({"id": 1, "product_id": 2,
            "name": "P", "sku": "P", "type": "physical", "quantity": 1,
            "price_inc_tax": "100", "total_inc_tax": "80"}))
        .unwrap();
        let o = order(json!({"subtotal_inc_tax": "80", "total_inc_tax": "80"}));
        assert_eq!(
            build(&o, &[p]),
            Err(CartError::Discrepancy {
                due: 8000,
                lines: 10000
            })
        );
    }

    #[test]
    fn unit_prices_rounded_from_four_decimals_are_rounding_not_a_gap() {
        // 10 × 1.2345 = 12.345: the line says 12.35 (its own total), the cart 10 × 1.23.
        let p: OrderProduct = serde_json::from_value(json!({"id": 1, "product_id": 2,
            "name": "P", "sku": "P", "type": "physical", "quantity": 10,
            "price_inc_tax": "1.2345", "total_inc_tax": "12.3450"}))
        .unwrap();
        let o = order(json!({"subtotal_inc_tax": "12.345", "total_inc_tax": "12.35"}));
        let cart = build(&o, &[p]).unwrap();
        assert_eq!(cart.order_total_with_tax, 1235);
        assert!(cart.adds_up());
    }

    #[test]
    fn the_customer_and_addresses_come_from_the_billing_address() {
        let o = order(json!({}));
        let c = customer(&o, "es-ES", "", "UA", true);
        assert_eq!(c.given_names, "Ana");
        assert_eq!(c.ip_number, "10.0.0.1");
        assert_eq!(c.ref_.as_deref(), Some("7"));
        assert_eq!(c.company, None);
        let a = invoice_address(&o);
        assert_eq!(a.country_code, "ES");
        assert_eq!(a.state, None);
        assert_eq!(a.phone.as_deref(), Some("600000000"));
        assert_eq!(delivery_address(&o, &[]), a);
        assert_eq!(delivery_method(&[]).name, "Digital delivery");
    }

    fn services(options: &[&str], fields: &[(u64, &[(&str, &str)])]) -> Services {
        Services {
            terms: ServiceTerms::from_contract_options(options),
            default_end: ServiceDate::default_end(),
            products: fields
                .iter()
                .map(|(id, f)| (*id, ProductFields::parse(*id, f.iter().copied()).unwrap()))
                .collect(),
        }
    }

    const ALL: [&str; 3] = [
        "services",
        "allow_first_instalment_delay",
        "with_registration",
    ];

    #[test]
    fn registration_amounts_are_exact_cents_in_the_store_currency() {
        for (text, cents) in [
            ("10.00", 1000),
            ("10", 1000),
            ("0.5", 50),
            (" 12.34 ", 1234),
        ] {
            let f = ProductFields::parse(1, [(FIELD_REGISTRATION, text)]).unwrap();
            assert_eq!(f.registration, cents, "{text}");
        }
        for bad in ["10.005", "-1", "1e3", "10,00", "abc", "+5"] {
            assert!(
                matches!(
                    ProductFields::parse(1, [(FIELD_REGISTRATION, bad)]),
                    Err(CartError::ServiceField { product_id: 1, .. })
                ),
                "{bad}"
            );
        }
        assert!(ProductFields::parse(1, [(FIELD_SERVICE_END, "soon")]).is_err());
        assert_eq!(
            ProductFields::parse(1, [(FIELD_SERVICE_END, " "), ("other", "x")]),
            Ok(ProductFields::default())
        );
    }

    #[test]
    fn a_service_takes_its_registration_out_of_its_price_and_still_adds_up() {
        // 2 × 30 € with a 7.50 € fee each.
        let p = product(1, "SVC", "30", 2);
        let s = services(
            &ALL,
            &[(
                101,
                &[(FIELD_SERVICE_END, "P3M"), (FIELD_REGISTRATION, "7.50")],
            )],
        );
        let lines = goods_lines(&p, &s).unwrap();
        assert_eq!(
            lines,
            vec![
                CartItem::Registration {
                    reference: "SVC-reg".into(),
                    name: "Reg. P1".into(),
                    total_with_tax: 1500
                },
                CartItem::Service {
                    reference: "SVC".into(),
                    name: "P1".into(),
                    ends_on: None,
                    ends_in: Some("P3M".into()),
                    price_with_tax: 2250,
                    quantity: 2,
                    total_with_tax: 4500,
                    downloadable: false,
                    supplier: None,
                    rendered: None,
                }
            ]
        );
        let o = order(json!({"subtotal_inc_tax": "60", "total_inc_tax": "60"}));
        let cart = build_cart_for(
            &CartInput {
                order: &o,
                products: std::slice::from_ref(&p),
                shipping: &[],
                checkout_id: "c",
            },
            &s,
        )
        .unwrap();
        assert!(cart.adds_up());
        assert_eq!(cart.order_total_with_tax, 6000);

        // No registration items in the contract: the whole price is the service's.
        let s = services(
            &["services"],
            &[(
                101,
                &[
                    (FIELD_SERVICE_END, "2027-06-30"),
                    (FIELD_REGISTRATION, "7.50"),
                ],
            )],
        );
        let lines = goods_lines(&p, &s).unwrap();
        assert_eq!(lines.len(), 1);
        assert!(
            matches!(&lines[0], CartItem::Service { ends_on: Some(d), ends_in: None, total_with_tax: 6000, .. } if d == "2027-06-30")
        );

        // A fee above the price is refused.
        let s = services(&ALL, &[(101, &[(FIELD_REGISTRATION, "30.01")])]);
        let mut digital = p.clone();
        digital.kind = ProductType::Digital;
        assert_eq!(
            goods_lines(&digital, &s),
            Err(CartError::RegistrationAbovePrice {
                reference: "SVC".into()
            })
        );
    }

    #[test]
    fn without_services_in_the_contract_a_marked_service_is_refused_and_downloads_are_products() {
        let s = services(
            &["with_registration"],
            &[(101, &[(FIELD_SERVICE_END, "P1Y")])],
        );
        assert_eq!(
            goods_lines(&product(1, "SVC", "30", 1), &s),
            Err(CartError::ServicesNotAllowed {
                reference: "SVC".into()
            })
        );
        let mut download = product(2, "DL", "5", 1);
        download.kind = ProductType::Digital;
        assert!(goods_lines(&download, &s).unwrap()[0].is_product());
        assert_eq!(
            check_shipped_goods(&[download.clone()], &s),
            Err(CartError::NothingShipped)
        );
        assert_eq!(
            check_shipped_goods(&[download.clone(), product(3, "P", "1", 1)], &s),
            Ok(())
        );
        // With services, a download alone is a service ending on the default date.
        let s = services(&ALL, &[]);
        assert_eq!(check_shipped_goods(&[download.clone()], &s), Ok(()));
        assert!(matches!(
            &goods_lines(&download, &s).unwrap()[0],
            CartItem::Service { ends_in: Some(d), .. } if d == "P1Y"
        ));
    }

    #[test]
    fn the_first_charge_is_the_earliest_services_where_the_delay_is_allowed() {
        let now = time::macros::datetime!(2026-12-07 10:00 UTC);
        let fields: [(u64, &[(&str, &str)]); 2] = [
            (
                101,
                &[(FIELD_SERVICE_END, "P1Y"), (FIELD_FIRST_CHARGE, "P2M")],
            ),
            (
                102,
                &[
                    (FIELD_SERVICE_END, "P1Y"),
                    (FIELD_FIRST_CHARGE, "2027-01-15"),
                ],
            ),
        ];
        let products = [product(1, "A", "10", 1), product(2, "B", "10", 1)];
        let s = services(&ALL, &fields);
        assert_eq!(
            s.desired_first_charge_on(&products, now),
            Some(time::macros::datetime!(2027-01-15 0:00 UTC))
        );
        let s = services(&["services", "with_registration"], &fields);
        assert_eq!(s.desired_first_charge_on(&products, now), None);
        // A date already past is no delay: the other service's duration is the first charge.
        let past: [(u64, &[(&str, &str)]); 2] = [
            (
                101,
                &[(FIELD_SERVICE_END, "P1Y"), (FIELD_FIRST_CHARGE, "P2M")],
            ),
            (
                102,
                &[
                    (FIELD_SERVICE_END, "P1Y"),
                    (FIELD_FIRST_CHARGE, "2026-01-15"),
                ],
            ),
        ];
        let s = services(&ALL, &past);
        assert_eq!(
            s.desired_first_charge_on(&products, now),
            Some(time::macros::datetime!(2027-02-07 10:00 UTC))
        );
    }
}
