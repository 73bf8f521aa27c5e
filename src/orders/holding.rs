//! What seQura should hold for an order right now (sequra-api.md §7): the shipped cart, the
//! unshipped cart and the addresses, computed from BigCommerce's order, products, shipping
//! addresses, shipments and refunds. Pure: no I/O, integer cents, every cart adds up.
//!
//! - Products: shipped quantities (from the shipments) less refunded ones go to the shipped
//!   cart; what is neither shipped nor refunded stays in the unshipped cart. A refunded
//!   quantity comes out of the shipped goods first (a return), then out of the unshipped ones.
//! - The order's other lines (shipping, handling, wrapping, discounts, store credit, rounding)
//!   follow the goods: all unshipped while nothing is shipped, all shipped once nothing is left
//!   to ship; in between, charges go with the first shipment and the negative lines are split
//!   in proportion to the goods' value, so neither cart goes negative.
//! - A refund's amount beyond the products it returns (a shipping refund, an order-level
//!   amount) is a negative `other_payment` line `refund-{id}`, in the shipped cart when goods
//!   were shipped, else in the unshipped one; never more than that cart holds.
//! - Cancelled (status 5) or archived: the unshipped cart is cancelled (empty) and the shipped
//!   cart stays exactly what it was. Shipped goods leave seQura's shipped cart only through a
//!   refund; `shipped_kept` tells the order sync to say so to the merchant. Nothing shipped
//!   (or everything refunded) leaves both carts empty, which cancels the order at seQura.
//! - Refunded in full: both carts empty.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::bigcommerce::models::{Order, OrderProduct, Refund, Shipment, ShippingAddress};
use crate::checkout::cart::{
    CURRENCY, CartError, CartInput, Services, amount_due, build_cart_for, delivery_address,
    goods_lines, invoice_address,
};
use crate::sequra::models::{Address, Cart, CartItem};

/// BigCommerce's Cancelled status.
pub const CANCELLED_STATUS: u32 = 5;
/// Shipped and Completed: the merchant fulfilled the order (bigcommerce-api.md §3.4).
const FULFILLED_STATUSES: [u32; 2] = [2, 10];

/// Everything read from BigCommerce about one order.
#[derive(Debug, Clone, Copy)]
pub struct OrderData<'a> {
    pub order: &'a Order,
    pub products: &'a [OrderProduct],
    pub shipping: &'a [ShippingAddress],
    pub shipments: &'a [Shipment],
    pub refunds: &'a [Refund],
    /// The checkout the order came from: the carts' `cart_ref`.
    pub checkout_id: &'a str,
}

/// What seQura should hold: compared as a whole with what it last accepted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Holding {
    pub shipped_cart: Cart,
    pub unshipped_cart: Cart,
    pub delivery_address: Address,
    pub invoice_address: Address,
    /// Refunded so far (cents), for the order panel.
    pub refunded: i64,
    /// Cancelled or archived in BigCommerce while shipped goods are still charged: the
    /// unshipped cart was cancelled, the shipped one kept. Not part of what seQura holds (see
    /// [`Holding::same_at_sequra`]); remembered so the merchant is told once per cancellation.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shipped_kept: bool,
}

impl Holding {
    /// Both carts empty: cancelled or refunded in full.
    pub fn is_closed(&self) -> bool {
        self.shipped_cart.items.is_empty() && self.unshipped_cart.items.is_empty()
    }

    /// Units of goods shipped and still held.
    pub fn shipped_units(&self) -> i64 {
        units(&self.shipped_cart)
    }

    /// Whether seQura holds the same thing under both: the carts and addresses an Order
    /// Update would send. The refunded amount is not among them (a refund seQura must know of
    /// changes a cart; one of an order it holds nothing of changes none), nor the app's notes.
    pub fn same_at_sequra(&self, other: &Holding) -> bool {
        self.shipped_cart == other.shipped_cart
            && self.unshipped_cart == other.unshipped_cart
            && self.delivery_address == other.delivery_address
            && self.invoice_address == other.invoice_address
    }
}

fn units(cart: &Cart) -> i64 {
    cart.items
        .iter()
        .map(|i| match i {
            CartItem::Product { quantity, .. } | CartItem::Service { quantity, .. } => *quantity,
            _ => 0,
        })
        .sum()
}

fn cart(items: Vec<CartItem>, checkout_id: &str) -> Cart {
    let mut c = Cart::new(CURRENCY, items);
    c.cart_ref = Some(checkout_id.to_string());
    c
}

/// `amount × part / whole`, rounded down; 0 when `whole` is 0.
fn share(amount: i64, part: i64, whole: i64) -> i64 {
    if whole == 0 {
        return 0;
    }
    (i128::from(amount) * i128::from(part) / i128::from(whole)) as i64
}

/// Computes what seQura should hold for the order.
pub fn holding(d: &OrderData<'_>) -> Result<Holding, CartError> {
    holding_for(d, &Services::default())
}

/// [`holding`] with the order's services: a service's lines (its registration and the
/// service) move between the carts and are refunded by quantity, as a product's line does.
pub fn holding_for(d: &OrderData<'_>, services: &Services) -> Result<Holding, CartError> {
    let delivery = delivery_address(d.order, d.shipping);
    let invoice = invoice_address(d.order);
    let refunded: i64 = d.refunds.iter().map(|r| r.total_amount).sum();
    let empty = |refunded| Holding {
        shipped_cart: cart(Vec::new(), d.checkout_id),
        unshipped_cart: cart(Vec::new(), d.checkout_id),
        delivery_address: delivery.clone(),
        invoice_address: invoice.clone(),
        refunded,
        shipped_kept: false,
    };

    let mut shipped_qty: HashMap<u64, i64> = HashMap::new();
    for item in d.shipments.iter().flat_map(|s| &s.items) {
        *shipped_qty.entry(item.order_product_id).or_default() += i64::from(item.quantity);
    }
    // BigCommerce ships physical goods only: a download or a gift certificate is delivered
    // when the merchant fulfils the order (Shipped, Completed), as seQura's plugins report
    // virtual goods on completion; otherwise a service sold as a download would never reach
    // seQura as delivered, and never be paid.
    if FULFILLED_STATUSES.contains(&d.order.status_id) {
        for p in d.products.iter().filter(|p| !p.kind.ships()) {
            shipped_qty.insert(p.id, i64::from(p.quantity));
        }
    }
    let anything_shipped = shipped_qty.values().any(|q| *q > 0);
    // Nothing more will ship: what is unshipped is cancelled, what shipped stays charged.
    let closed = d.order.status_id == CANCELLED_STATUS || d.order.is_deleted;
    if closed && !anything_shipped {
        return Ok(empty(refunded));
    }
    let due = amount_due(d.order);
    if refunded > 0 && refunded >= due {
        return Ok(empty(refunded));
    }

    let full = build_cart_for(
        &CartInput {
            order: d.order,
            products: d.products,
            shipping: d.shipping,
            checkout_id: d.checkout_id,
        },
        services,
    )?;
    let mut refunded_qty: HashMap<u64, i64> = HashMap::new();
    for item in d.refunds.iter().flat_map(|r| &r.items) {
        if item.item_type.eq_ignore_ascii_case("PRODUCT") {
            *refunded_qty.entry(item.item_id).or_default() += i64::from(item.quantity.unwrap_or(0));
        }
    }

    // Products.
    let mut shipped_items = Vec::new();
    let mut unshipped_items = Vec::new();
    let (mut shipped_value, mut unshipped_value) = (0i64, 0i64);
    let mut prices: HashMap<u64, i64> = HashMap::new();
    // A product's lines for `q` of its units.
    let lines = |p: &crate::bigcommerce::models::OrderProduct, q: i64| {
        let mut part = p.clone();
        part.quantity = u32::try_from(q).map_err(|_| CartError::Overflow)?;
        goods_lines(&part, services)
    };
    for p in d.products {
        lines(p, i64::from(p.quantity))?;
        prices.insert(p.id, p.price_inc_tax);
        let q = i64::from(p.quantity);
        let s = shipped_qty.get(&p.id).copied().unwrap_or(0).clamp(0, q);
        let r = refunded_qty.get(&p.id).copied().unwrap_or(0).clamp(0, q);
        let returned = r.min(s);
        let keep_shipped = s - returned;
        let keep_unshipped = (q - s - (r - returned)).max(0);
        if keep_shipped > 0 {
            for l in lines(p, keep_shipped)? {
                shipped_value += l.total_with_tax();
                shipped_items.push(l);
            }
        }
        if keep_unshipped > 0 {
            for l in lines(p, keep_unshipped)? {
                unshipped_value += l.total_with_tax();
                unshipped_items.push(l);
            }
        }
    }

    // The order's other lines follow the goods.
    let others = full.items.iter().filter(|i| !i.is_goods());
    if unshipped_items.is_empty() && (anything_shipped || !shipped_items.is_empty()) {
        shipped_items.extend(others.cloned());
    } else if !anything_shipped {
        unshipped_items.extend(others.cloned());
    } else {
        let goods = shipped_value + unshipped_value;
        for item in others {
            let amount = item.total_with_tax();
            if amount >= 0 {
                shipped_items.push(item.clone());
                continue;
            }
            let to_shipped = share(amount, shipped_value, goods);
            let to_unshipped = amount - to_shipped;
            if to_shipped != 0 {
                shipped_items.push(item.with_total(to_shipped));
            }
            if to_unshipped != 0 {
                unshipped_items.push(item.with_total(to_unshipped));
            }
        }
    }

    // Refund amounts beyond the goods they return.
    for r in d.refunds {
        let goods: i64 = r
            .items
            .iter()
            .filter(|i| i.item_type.eq_ignore_ascii_case("PRODUCT"))
            .map(|i| {
                prices
                    .get(&i.item_id)
                    .copied()
                    .unwrap_or(0)
                    .saturating_mul(i64::from(i.quantity.unwrap_or(0)))
            })
            .sum();
        let extra = r.total_amount - goods;
        if extra == 0 {
            continue;
        }
        let reference = format!("refund-{}", r.id);
        let name = format!("Refund {}", r.id);
        if extra < 0 {
            // Less refunded than the goods returned are worth: the rest stays charged.
            let target = if anything_shipped {
                &mut shipped_items
            } else {
                &mut unshipped_items
            };
            target.push(CartItem::handling(reference, name, -extra));
            continue;
        }
        let total = |items: &Vec<CartItem>| items.iter().map(CartItem::total_with_tax).sum::<i64>();
        let (first, second) = if anything_shipped {
            (&mut shipped_items, &mut unshipped_items)
        } else {
            (&mut unshipped_items, &mut shipped_items)
        };
        let in_first = extra.min(total(first).max(0));
        let in_second = extra - in_first;
        if in_first > 0 {
            first.push(CartItem::other_payment(
                reference.clone(),
                name.clone(),
                in_first,
            ));
        }
        if in_second > 0 {
            second.push(CartItem::other_payment(reference, name, in_second));
        }
    }

    // Rounding in the splits can leave one cart a few cents below zero while the other holds
    // them; seQura refuses a negative cart, so the difference moves across.
    rebalance(&mut unshipped_items, &mut shipped_items);
    rebalance(&mut shipped_items, &mut unshipped_items);

    // Cancelled or archived after shipping: the shipped cart is computed exactly as if the
    // order were still open (so it does not change), and only the unshipped one is cancelled.
    let shipped_kept = closed && !shipped_items.is_empty();
    if closed {
        unshipped_items.clear();
    }

    Ok(Holding {
        shipped_cart: cart(shipped_items, d.checkout_id),
        unshipped_cart: cart(unshipped_items, d.checkout_id),
        delivery_address: delivery,
        invoice_address: invoice,
        refunded,
        shipped_kept,
    })
}

/// If `from` adds up below zero, moves that much of its negative lines into `to` (onto the
/// same line there when it has one), so that `from` adds up to zero and the sum is unchanged.
fn rebalance(from: &mut Vec<CartItem>, to: &mut Vec<CartItem>) {
    let mut deficit = -from.iter().map(CartItem::total_with_tax).sum::<i64>();
    for item in from.iter_mut().rev() {
        if deficit <= 0 {
            break;
        }
        let amount = item.total_with_tax();
        if amount >= 0 || item.is_goods() {
            continue;
        }
        let moved = deficit.min(-amount);
        *item = item.with_total(amount + moved);
        deficit -= moved;
        let same = to.iter_mut().find(|t| {
            std::mem::discriminant(*t) == std::mem::discriminant(&*item)
                && t.reference() == item.reference()
        });
        match same {
            Some(t) => *t = t.with_total(t.total_with_tax() - moved),
            None => to.push(item.with_total(-moved)),
        }
    }
    from.retain(|i| i.is_goods() || i.total_with_tax() != 0);
}
