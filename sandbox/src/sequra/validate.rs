//! What seQura checks in an order, a cart and a delivery report (spec §3.2, §3.3, §7, §9).
//! Every check appends a message; the caller answers 409 `{"errors":[...]}` with all of them.

use std::net::IpAddr;

use serde_json::{Map, Value};

/// The prefix of seQura's validation messages (spec §3.3).
const PREFIX: &str = "Invalid data: ";

/// Item types seQura accepts (spec §3.2).
pub(crate) const ITEM_TYPES: [&str; 7] = [
    "product",
    "service",
    "registration",
    "handling",
    "invoice_fee",
    "discount",
    "other_payment",
];

/// Store-integration capabilities (spec §2.2).
pub(crate) const CAPABILITIES: [&str; 10] = [
    "general",
    "widget",
    "banner",
    "order-status",
    "store-info",
    "advanced",
    "hosted-checkout",
    "listing-selectors",
    "alt-product-price",
    "express-checkout",
];

/// Collected validation messages.
#[derive(Default)]
pub(crate) struct Problems(pub Vec<String>);

impl Problems {
    pub fn add(&mut self, msg: impl AsRef<str>) {
        self.0.push(format!("{PREFIX}{}", msg.as_ref()));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn missing(&mut self, path: &str) {
        self.add(format!("{path} is missing"));
    }
}

/// Which call an order is sent with.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// `POST orders`: `state` empty.
    Solicitation,
    /// `PUT orders/{uuid}`: `state` `confirmed` | `on_hold`.
    Confirmation,
}

/// How strict a cart check is.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum CartUse {
    /// The cart of a solicitation or confirmation: `gift` required, items non-empty,
    /// total above zero.
    Order,
    /// `shipped_cart`/`unshipped_cart` of an update, and delivery-report carts: may be empty,
    /// total zero or more.
    Partial,
}

/// A present, non-null member.
fn member<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

/// `path` as an object, or a problem.
pub(crate) fn object<'a>(
    v: Option<&'a Value>,
    path: &str,
    p: &mut Problems,
) -> Option<&'a Map<String, Value>> {
    match v {
        None | Some(Value::Null) => {
            p.missing(path);
            None
        }
        Some(Value::Object(o)) => Some(o),
        Some(_) => {
            p.add(format!("{path} must be an object"));
            None
        }
    }
}

fn string<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    path: &str,
    p: &mut Problems,
    non_empty: bool,
) -> Option<&'a str> {
    let full = format!("{path}.{key}");
    match member(obj, key) {
        None => {
            p.missing(&full);
            None
        }
        Some(Value::String(s)) if non_empty && s.trim().is_empty() => {
            p.add(format!("{full} must not be empty"));
            None
        }
        Some(Value::String(s)) => Some(s),
        Some(_) => {
            p.add(format!("{full} must be a string"));
            None
        }
    }
}

/// A reference: a non-empty string or an integer.
fn reference(obj: &Map<String, Value>, key: &str, path: &str, p: &mut Problems, required: bool) {
    let full = format!("{path}.{key}");
    match member(obj, key) {
        None if required => p.missing(&full),
        None => {}
        Some(Value::String(s)) if s.trim().is_empty() => p.add(format!("{full} must not be empty")),
        Some(Value::String(_)) => {}
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => {}
        Some(_) => p.add(format!("{full} must be a string or an integer")),
    }
}

fn boolean(obj: &Map<String, Value>, key: &str, path: &str, p: &mut Problems, required: bool) {
    let full = format!("{path}.{key}");
    match member(obj, key) {
        None if required => p.missing(&full),
        None | Some(Value::Bool(_)) => {}
        Some(_) => p.add(format!("{full} must be true or false")),
    }
}

/// An integer number of cents.
fn cents(obj: &Map<String, Value>, key: &str, path: &str, p: &mut Problems) -> Option<i64> {
    let full = format!("{path}.{key}");
    match member(obj, key) {
        None => {
            p.missing(&full);
            None
        }
        Some(v) => match v.as_i64() {
            Some(n) => Some(n),
            None => {
                p.add(format!("{full} must be an integer number of cents"));
                None
            }
        },
    }
}

/// An absolute http(s) URL, when present.
fn url(obj: &Map<String, Value>, key: &str, path: &str, p: &mut Problems, required: bool) {
    let full = format!("{path}.{key}");
    match member(obj, key) {
        None if required => p.missing(&full),
        None => {}
        Some(Value::String(s)) => match url::Url::parse(s) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => p.add(format!("{full} '{s}' is not a valid URL")),
        },
        Some(_) => p.add(format!("{full} must be a string")),
    }
}

/// A string→string map, when present.
fn parameters(obj: &Map<String, Value>, key: &str, path: &str, p: &mut Problems) {
    let full = format!("{path}.{key}");
    match member(obj, key) {
        None => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                if !v.is_string() {
                    p.add(format!("{full}.{k} must be a string"));
                }
            }
        }
        Some(_) => p.add(format!("{full} must be an object")),
    }
}

fn is_date(s: &str) -> bool {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, &fmt).is_ok()
}

fn is_datetime(s: &str) -> bool {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_ok()
}

/// An ISO-8601 duration such as `P1Y`, `P6M`, `P1Y2M10DT2H30M`.
fn is_duration(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('P') else {
        return false;
    };
    let (date, time_part) = match rest.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    let parts_ok = |part: &str, units: &str| {
        let mut digits = false;
        let mut last_unit: Option<usize> = None;
        for c in part.chars() {
            if c.is_ascii_digit() {
                digits = true;
            } else if let Some(pos) = units.find(c) {
                if !digits || last_unit.is_some_and(|l| pos <= l) {
                    return false;
                }
                last_unit = Some(pos);
                digits = false;
            } else {
                return false;
            }
        }
        !digits
    };
    let has_any = !date.is_empty() || time_part.is_some_and(|t| !t.is_empty());
    has_any
        && parts_ok(date, "YMWD")
        && time_part.is_none_or(|t| !t.is_empty() && parts_ok(t, "HMS"))
}

fn email_ok(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !s.chars().any(char::is_whitespace)
                && !domain.contains('@')
        }
        None => false,
    }
}

/// One cart item; returns its `total_with_tax` when it is an integer.
fn check_item(item: &Value, path: &str, p: &mut Problems) -> Option<i64> {
    let Some(obj) = item.as_object() else {
        p.add(format!("{path} must be an object"));
        return None;
    };
    let kind = match member(obj, "type") {
        None => "product",
        Some(Value::String(t)) if ITEM_TYPES.contains(&t.as_str()) => t.as_str(),
        Some(Value::String(t)) => {
            p.add(format!("{path}.type '{t}' is not a valid item type"));
            return None;
        }
        Some(_) => {
            p.add(format!("{path}.type must be a string"));
            return None;
        }
    };
    if kind != "invoice_fee" {
        reference(obj, "reference", path, p, true);
        string(obj, "name", path, p, true);
    }
    let total = cents(obj, "total_with_tax", path, p);
    if matches!(kind, "product" | "service") {
        let price = cents(obj, "price_with_tax", path, p);
        let quantity = match member(obj, "quantity") {
            None => {
                p.missing(&format!("{path}.quantity"));
                None
            }
            Some(v) => match v.as_i64() {
                Some(q) if q >= 1 => Some(q),
                Some(_) => {
                    p.add(format!("{path}.quantity must be at least 1"));
                    None
                }
                None => {
                    p.add(format!("{path}.quantity must be an integer"));
                    None
                }
            },
        };
        boolean(obj, "downloadable", path, p, true);
        if let (Some(price), Some(q), Some(t)) = (price, quantity, total)
            && price.checked_mul(q) != Some(t)
        {
            p.add(format!(
                "{path}.total_with_tax is {t} but price_with_tax × quantity is {price} × {q} = {}",
                price.saturating_mul(q)
            ));
        }
        if price.is_some_and(|x| x < 0) {
            p.add(format!("{path}.price_with_tax must not be negative"));
        }
    }
    if kind == "service" {
        let ends_on = member(obj, "ends_on");
        let ends_in = member(obj, "ends_in");
        match (ends_on, ends_in) {
            (Some(_), Some(_)) | (None, None) => p.add(format!(
                "{path} (a service) needs exactly one of ends_on and ends_in"
            )),
            (Some(v), None) => {
                if !v.as_str().is_some_and(is_date) {
                    p.add(format!("{path}.ends_on must be a date (YYYY-MM-DD)"));
                }
            }
            (None, Some(v)) => {
                if !v.as_str().is_some_and(is_duration) {
                    p.add(format!(
                        "{path}.ends_in must be an ISO-8601 duration such as P1Y"
                    ));
                }
            }
        }
    }
    if let Some(t) = total {
        let credit = matches!(kind, "discount" | "other_payment");
        if credit && t > 0 {
            p.add(format!(
                "{path}.total_with_tax must not be positive for a {kind} item"
            ));
        } else if !credit && t < 0 {
            p.add(format!(
                "{path}.total_with_tax must not be negative for a {kind} item"
            ));
        }
    }
    total
}

/// A cart; `label` prefixes the add-up message (`In shipped_cart, ` for updates). Returns
/// the cart's total when it is valid.
pub(crate) fn check_cart(
    cart: Option<&Value>,
    path: &str,
    usage: CartUse,
    label: Option<&str>,
    p: &mut Problems,
) -> Option<i64> {
    let obj = object(cart, path, p)?;
    let before = p.0.len();
    match string(obj, "currency", path, p, true) {
        Some("EUR") | None => {}
        Some(other) => p.add(format!(
            "{path}.currency '{other}' is not supported (only EUR)"
        )),
    }
    boolean(obj, "gift", path, p, usage == CartUse::Order);
    let total = cents(obj, "order_total_with_tax", path, p);
    match (total, usage) {
        (Some(t), CartUse::Order) if t <= 0 => p.add(format!(
            "{path}.order_total_with_tax must be greater than 0"
        )),
        (Some(t), CartUse::Partial) if t < 0 => {
            p.add(format!("{path}.order_total_with_tax must not be negative"))
        }
        _ => {}
    }
    let items = match member(obj, "items") {
        None => {
            p.missing(&format!("{path}.items"));
            None
        }
        Some(Value::Array(items)) => Some(items),
        Some(_) => {
            p.add(format!("{path}.items must be a list"));
            None
        }
    };
    if let Some(items) = items {
        if items.is_empty() && usage == CartUse::Order {
            p.add(format!("{path}.items must not be empty"));
        }
        let totals: Vec<Option<i64>> = items
            .iter()
            .enumerate()
            .map(|(i, item)| check_item(item, &format!("{path}.items[{i}]"), p))
            .collect();
        // A registration is the fee of a service (sequra-api.md §3.2: `registration` items
        // are taken out of a service's price): one without a service in its cart is refused.
        let kind = |item: &Value| item.get("type").and_then(Value::as_str).map(str::to_owned);
        if !items.iter().any(|i| kind(i).as_deref() == Some("service")) {
            for (i, _) in items
                .iter()
                .enumerate()
                .filter(|(_, item)| kind(item).as_deref() == Some("registration"))
            {
                p.add(format!(
                    "{path}.items[{i}] (a registration) needs a service item in the same cart"
                ));
            }
        }
        if let (Some(expected), Some(totals)) =
            (total, totals.into_iter().collect::<Option<Vec<i64>>>())
        {
            let sum: i64 = totals.iter().sum();
            if sum != expected {
                let parts: Vec<String> = totals.iter().map(i64::to_string).collect();
                p.add(format!(
                    "{}items' total_with_tax add up to {sum} ({}) but order_total_with_tax is \
                     {expected}. The diff is {}.",
                    label.map(|l| format!("In {l}, ")).unwrap_or_default(),
                    parts.join("+"),
                    expected - sum
                ));
            }
        }
    }
    if p.0.len() == before { total } else { None }
}

/// Keys core always sends in an address (values may be empty strings).
const ADDRESS_KEYS: [&str; 6] = [
    "company",
    "address_line_1",
    "address_line_2",
    "postal_code",
    "city",
    "country_code",
];

fn check_address(v: Option<&Value>, path: &str, p: &mut Problems) {
    let Some(obj) = object(v, path, p) else {
        return;
    };
    for key in ADDRESS_KEYS {
        string(obj, key, path, p, false);
    }
}

fn check_customer(v: Option<&Value>, p: &mut Problems) {
    let path = "customer";
    let Some(obj) = object(v, path, p) else {
        return;
    };
    string(obj, "given_names", path, p, true);
    string(obj, "surnames", path, p, true);
    if let Some(email) = string(obj, "email", path, p, true)
        && !email_ok(email)
    {
        p.add(format!(
            "customer.email '{email}' is not a valid email address"
        ));
    }
    string(obj, "language_code", path, p, true);
    if let Some(ip) = string(obj, "ip_number", path, p, true)
        && ip.parse::<IpAddr>().is_err()
    {
        p.add(format!("customer.ip_number '{ip}' is not an IP address"));
    }
    string(obj, "user_agent", path, p, true);
    match member(obj, "logged_in") {
        None => p.missing("customer.logged_in"),
        Some(Value::Bool(_)) => {}
        Some(Value::String(s)) if s == "unknown" => {}
        Some(_) => p.add("customer.logged_in must be true, false or \"unknown\""),
    }
    if let Some(dob) = member(obj, "date_of_birth")
        && !dob.as_str().is_some_and(is_date)
    {
        p.add("customer.date_of_birth must be a date (YYYY-MM-DD)");
    }
}

fn check_merchant(v: Option<&Value>, p: &mut Problems) {
    let path = "merchant";
    let Some(obj) = object(v, path, p) else {
        return;
    };
    reference(obj, "id", path, p, true);
    for key in [
        "notify_url",
        "return_url",
        "approved_url",
        "edit_url",
        "abort_url",
    ] {
        url(obj, key, path, p, false);
    }
    parameters(obj, "notification_parameters", path, p);
    match member(obj, "events_webhook") {
        None => {}
        Some(Value::Object(hook)) => {
            url(hook, "url", "merchant.events_webhook", p, true);
            parameters(hook, "parameters", "merchant.events_webhook", p);
        }
        Some(_) => p.add("merchant.events_webhook must be an object"),
    }
    match member(obj, "options") {
        None => {}
        Some(Value::Object(opts)) => {
            for key in [
                "has_jquery",
                "uses_shipped_cart",
                "addresses_may_be_missing",
                "immutable_customer_data",
            ] {
                boolean(opts, key, "merchant.options", p, false);
            }
            if let Some(d) = member(opts, "desired_first_charge_on")
                && !d.as_str().is_some_and(is_datetime)
            {
                p.add("merchant.options.desired_first_charge_on must be an ISO-8601 date-time");
            }
        }
        Some(_) => p.add("merchant.options must be an object"),
    }
}

fn check_merchant_reference(v: Option<&Value>, p: &mut Problems) {
    match v {
        None | Some(Value::Null) => {}
        Some(Value::Object(obj)) => {
            reference(obj, "order_ref_1", "merchant_reference", p, false);
            reference(obj, "order_ref_2", "merchant_reference", p, false);
        }
        Some(_) => p.add("merchant_reference must be an object"),
    }
}

/// The whole order of a solicitation or confirmation.
pub(crate) fn check_order(order: &Map<String, Value>, stage: Stage, p: &mut Problems) {
    match (stage, order.get("state")) {
        (Stage::Solicitation, None) => p.missing("state"),
        (Stage::Solicitation, Some(Value::Null)) => {}
        (Stage::Solicitation, Some(Value::String(s))) if s.is_empty() => {}
        (Stage::Solicitation, Some(_)) => p.add("state must be empty when an order is solicited"),
        (Stage::Confirmation, Some(Value::String(s))) if s == "confirmed" || s == "on_hold" => {}
        (Stage::Confirmation, _) => p.add("state must be confirmed or on_hold"),
    }
    check_merchant(order.get("merchant"), p);
    check_merchant_reference(order.get("merchant_reference"), p);
    check_cart(order.get("cart"), "cart", CartUse::Order, None, p);
    if let Some(dm) = object(order.get("delivery_method"), "delivery_method", p) {
        string(dm, "name", "delivery_method", p, true);
    }
    check_address(order.get("delivery_address"), "delivery_address", p);
    check_address(order.get("invoice_address"), "invoice_address", p);
    check_customer(order.get("customer"), p);
    match member(order, "gui") {
        None => {}
        Some(Value::Object(gui)) => match member(gui, "layout") {
            None => p.missing("gui.layout"),
            Some(Value::String(l)) if matches!(l.as_str(), "desktop" | "smartphone" | "mobile") => {
            }
            Some(_) => p.add("gui.layout must be desktop or smartphone"),
        },
        Some(_) => p.add("gui must be an object"),
    }
    if let Some(pl) = object(order.get("platform"), "platform", p) {
        string(pl, "name", "platform", p, true);
    }
    match member(order, "trackings") {
        None | Some(Value::Array(_)) => {}
        Some(_) => p.add("trackings must be a list"),
    }
}

/// A reference value as text (`"123"` for both `"123"` and `123`).
pub(crate) fn ref_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The value without `null` members, recursively (core omits null keys).
pub(crate) fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// Whether two lists of items hold the same items, in any order.
fn same_items(a: Option<&Value>, b: Option<&Value>) -> bool {
    let key = |v: Option<&Value>| {
        let mut items: Vec<String> = v
            .and_then(Value::as_array)
            .map(|a| a.iter().map(|i| without_nulls(i).to_string()).collect())
            .unwrap_or_default();
        items.sort();
        items
    };
    key(a) == key(b)
}

/// What a confirmation changed with respect to the solicitation: the cart (items, total,
/// currency) and the addresses must be the same.
pub(crate) fn changes(solicited: &Value, put: &Value) -> Vec<String> {
    let mut p = Problems::default();
    let cart = |o: &Value, k: &str| o.get("cart").and_then(|c| c.get(k)).cloned();
    if cart(solicited, "order_total_with_tax") != cart(put, "order_total_with_tax")
        || cart(solicited, "currency") != cart(put, "currency")
        || !same_items(
            solicited.get("cart").and_then(|c| c.get("items")),
            put.get("cart").and_then(|c| c.get("items")),
        )
    {
        p.add(
            "the cart has changed since the order was solicited; solicit a new order for \
             the new cart",
        );
    }
    for key in ["delivery_address", "invoice_address"] {
        let a = solicited.get(key).map(without_nulls);
        let b = put.get(key).map(without_nulls);
        if a != b {
            p.add(format!("{key} has changed since the order was solicited"));
        }
    }
    p.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations_follow_iso_8601() {
        for ok in ["P1Y", "P6M", "P1Y2M10DT2H30M", "PT5M", "P3W"] {
            assert!(is_duration(ok), "{ok}");
        }
        for bad in ["P", "1Y", "PY", "P1", "PT", "P1M1Y", "P1X"] {
            assert!(!is_duration(bad), "{bad}");
        }
    }

    #[test]
    fn the_add_up_message_matches_the_documented_one() {
        let cart = json!({"currency": "EUR", "gift": false, "order_total_with_tax": 5097, "items": [
            {"type": "handling", "reference": "s", "name": "s", "total_with_tax": 200},
            {"type": "invoice_fee", "total_with_tax": 295},
            {"type": "discount", "reference": "d", "name": "d", "total_with_tax": -1500},
            {"reference": "p", "name": "p", "price_with_tax": 3030, "quantity": 2,
             "total_with_tax": 6060, "downloadable": false}]});
        let mut p = Problems::default();
        assert_eq!(
            check_cart(Some(&cart), "cart", CartUse::Order, None, &mut p),
            None
        );
        assert_eq!(
            p.0,
            [
                "Invalid data: items' total_with_tax add up to 5055 (200+295+-1500+6060) but \
              order_total_with_tax is 5097. The diff is 42."
            ]
        );
    }

    #[test]
    fn emails_need_a_local_part_and_a_dotted_domain() {
        assert!(email_ok("test@sequra.es"));
        assert!(!email_ok("test@localhost"));
        assert!(!email_ok("@sequra.es"));
        assert!(!email_ok("te st@sequra.es"));
    }
}
