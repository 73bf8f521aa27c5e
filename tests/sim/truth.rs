//! What seQura should hold of an order, from BigCommerce's record of it, and what it holds,
//! from seQura's: the simulator's checks (`check.rs`) and the recovery tests
//! (`tests/recovery.rs`) compare the two. Computed from the stand-ins' own records with the
//! app's documented rules (README, "What seQura holds"), never from the app's code or database.

use std::collections::BTreeMap;

use serde_json::Value;

use sequra_bc_sandbox::sequra::OrderRecord;

/// BigCommerce's Cancelled status.
const CANCELLED: u64 = 5;

/// True when seQura notified `state` for the order and the shop answered 200.
pub fn acknowledged(o: &OrderRecord, state: &str) -> bool {
    o.notifications
        .iter()
        .any(|n| n.state == state && n.status == 200)
}

/// The BigCommerce order a seQura order was solicited for.
pub fn order_of(o: &OrderRecord) -> Option<u64> {
    o.solicited["merchant_reference"]["order_ref_1"]
        .as_str()?
        .parse()
        .ok()
}

/// A decimal of BigCommerce (`"12.5000"` in v2, `12.5` in v3) in cents.
pub fn cents(v: &Value) -> i64 {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => "0".into(),
    };
    let s = text.as_str();
    let (whole, frac) = s.split_once('.').unwrap_or((s, "0"));
    let frac = format!("{frac:0<2}");
    let sign = if whole.starts_with('-') { -1 } else { 1 };
    let whole: i64 = whole.trim_start_matches('-').parse().unwrap_or(0);
    let frac: i64 = frac[..2].parse().unwrap_or(0);
    sign * (whole * 100 + frac)
}

pub fn cart_total(cart: Option<&Value>) -> i64 {
    cart.and_then(|c| c["order_total_with_tax"].as_i64())
        .unwrap_or(0)
}

/// Units of each product (by reference) in a cart.
pub fn units(cart: Option<&Value>) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for item in cart
        .and_then(|c| c["items"].as_array())
        .into_iter()
        .flatten()
    {
        if item["type"].as_str() == Some("product") {
            let reference = item["reference"].as_str().unwrap_or("").to_string();
            *out.entry(reference).or_default() += item["quantity"].as_i64().unwrap_or(0);
        }
    }
    out.retain(|_, q| *q != 0);
    out
}

/// Why a cart does not add up (its items' totals against its total), if it does not.
pub fn adds_up(cart: &Value) -> Option<String> {
    let items = cart["items"].as_array()?;
    let sum: i64 = items
        .iter()
        .map(|i| i["total_with_tax"].as_i64().unwrap_or(0))
        .sum();
    let total = cart["order_total_with_tax"].as_i64().unwrap_or(0);
    let bad_line = items.iter().find(|i| {
        i["type"].as_str() == Some("product")
            && i["price_with_tax"].as_i64().unwrap_or(0) * i["quantity"].as_i64().unwrap_or(0)
                != i["total_with_tax"].as_i64().unwrap_or(0)
    });
    match (sum == total, bad_line) {
        (true, None) => None,
        (false, _) => Some(format!("items sum to {sum}, total says {total}")),
        (true, Some(l)) => Some(format!("line {} is not price × quantity", l["reference"])),
    }
}

/// What seQura holds of an order.
pub struct Held {
    pub shipped_total: i64,
    pub unshipped_total: i64,
    pub shipped_units: BTreeMap<String, i64>,
    pub unshipped_units: BTreeMap<String, i64>,
    pub street: Option<String>,
}

impl Held {
    pub fn of(o: &OrderRecord) -> Held {
        let street = |v: &Value| {
            v["delivery_address"]["address_line_1"]
                .as_str()
                .map(str::to_owned)
        };
        if o.shipped_cart.is_none() && o.unshipped_cart.is_none() {
            // Never updated: the solicited cart, all unshipped (empty once cancelled).
            let cancelled = o.state == "cancelled";
            let cart = (!cancelled).then_some(&o.solicited["cart"]);
            return Held {
                shipped_total: 0,
                unshipped_total: cart_total(cart),
                shipped_units: BTreeMap::new(),
                unshipped_units: units(cart),
                street: street(&o.solicited),
            };
        }
        let last = o.updates.last().or(o.last_put.as_ref());
        Held {
            shipped_total: cart_total(o.shipped_cart.as_ref()),
            unshipped_total: cart_total(o.unshipped_cart.as_ref()),
            shipped_units: units(o.shipped_cart.as_ref()),
            unshipped_units: units(o.unshipped_cart.as_ref()),
            street: last.and_then(street).or_else(|| street(&o.solicited)),
        }
    }
}

/// What BigCommerce's record of an order implies seQura should hold.
pub struct Truth {
    /// What the shopper owes through seQura: the order total less store credit and gift
    /// certificates, less the refunds.
    pub sold: i64,
    pub refunded: i64,
    pub shipped_units: BTreeMap<String, i64>,
    pub unshipped_units: BTreeMap<String, i64>,
    pub street: Option<String>,
    /// Cancelled or archived: nothing more ships.
    pub closed: bool,
    /// Nothing is held: cancelled before anything shipped, or refunded in full.
    pub nothing: bool,
}

impl Truth {
    pub fn of(
        bc: &sequra_bc_sandbox::bigcommerce::BigCommerceStandIn,
        hash: &str,
        id: u64,
        order: &Value,
    ) -> Truth {
        // v2's `refunded_amount` always reads 0 (spec §3.2): the refunds are v3's.
        let refunded: i64 = bc
            .order_refunds(hash, id)
            .iter()
            .map(|r| cents(&r["total_amount"]))
            .sum();
        let due = cents(&order["total_inc_tax"])
            - cents(&order["store_credit_amount"])
            - cents(&order["gift_certificate_amount"]);
        let sold = due - refunded;
        let closed = order["status_id"].as_u64() == Some(CANCELLED)
            || order["is_deleted"].as_bool() == Some(true);
        let mut shipped_units = BTreeMap::new();
        let mut unshipped_units = BTreeMap::new();
        let mut anything_shipped = false;
        // BigCommerce ships physical goods only: a download (or gift certificate) is
        // delivered once the merchant fulfils the order (Shipped, Completed).
        let fulfilled = matches!(order["status_id"].as_u64(), Some(2 | 10));
        for l in bc.order_products(hash, id) {
            let reference = l["sku"].as_str().unwrap_or("").to_string();
            let q = l["quantity"].as_i64().unwrap_or(0);
            let unshippable = matches!(l["type"].as_str(), Some("digital" | "giftcertificate"));
            let s = if fulfilled && unshippable {
                q
            } else {
                l["quantity_shipped"].as_i64().unwrap_or(0).clamp(0, q)
            };
            let r = l["quantity_refunded"].as_i64().unwrap_or(0).clamp(0, q);
            anything_shipped |= s > 0;
            let returned = r.min(s);
            let keep_unshipped = if closed {
                0
            } else {
                (q - s - (r - returned)).max(0)
            };
            *shipped_units.entry(reference.clone()).or_insert(0) += s - returned;
            *unshipped_units.entry(reference).or_insert(0) += keep_unshipped;
        }
        let nothing = (closed && !anything_shipped) || sold <= 0;
        if nothing {
            shipped_units.clear();
            unshipped_units.clear();
        }
        shipped_units.retain(|_, q| *q != 0);
        unshipped_units.retain(|_, q| *q != 0);
        let street = bc
            .order_shipping_addresses(hash, id)
            .first()
            .and_then(|a| a["street_1"].as_str().map(str::to_owned));
        Truth {
            sold,
            refunded,
            shipped_units,
            unshipped_units,
            street,
            closed,
            nothing,
        }
    }

    /// Why what seQura holds is the wrong amount, if it is.
    pub fn money(&self, held: &Held) -> Option<String> {
        let (shipped, unshipped) = (held.shipped_total, held.unshipped_total);
        let wrong = if self.nothing {
            shipped != 0 || unshipped != 0
        } else if self.closed {
            // What shipped stays charged (the merchant is told to refund it); nothing is
            // left to ship.
            unshipped != 0 || shipped > self.sold
        } else {
            shipped + unshipped != self.sold
        };
        wrong.then(|| {
            format!(
                "seQura holds {shipped} shipped + {unshipped} unshipped; BigCommerce: {} to pay \
                 after {} refunded{}",
                self.sold,
                self.refunded,
                if self.nothing {
                    ", nothing to hold"
                } else if self.closed {
                    ", cancelled"
                } else {
                    ""
                }
            )
        })
    }
}
