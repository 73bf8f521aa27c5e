//! Payment methods (spec §5): realistic per-country catalogues, the order-specific view
//! (filtered by amount and validity window, costs computed for the amount) and the lookup
//! of a `(product, campaign)` pair.

use serde_json::{Map, Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime, Time};

/// Start of the window of permanent products.
const PERMANENT_FROM: &str = "2019-01-01T00:00:00Z";
/// End of the window of permanent products.
const PERMANENT_UNTIL: &str = "2099-12-31T23:59:59Z";

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// A small inline SVG badge, as seQura sends in `icon`.
fn icon(label: &str, colour: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"48\" height=\"24\" viewBox=\"0 0 48 24\" \
         role=\"img\" aria-label=\"seQura {label}\"><rect width=\"48\" height=\"24\" rx=\"4\" \
         fill=\"{colour}\"/><text x=\"24\" y=\"16\" font-family=\"sans-serif\" font-size=\"11\" \
         font-weight=\"700\" text-anchor=\"middle\" fill=\"#fff\">{label}</text></svg>"
    )
}

struct Method<'a> {
    product: &'a str,
    campaign: Option<&'a str>,
    title: &'a str,
    long_title: &'a str,
    claim: Option<&'a str>,
    description: &'a str,
    setup_fee: i64,
    instalment_fee: i64,
    cost_description: Option<&'a str>,
    starts_at: String,
    ends_at: String,
    min_amount: i64,
    max_amount: Option<i64>,
}

impl Method<'_> {
    fn to_json(&self) -> Value {
        let colour = match self.product {
            "fp1" => "#3c64f4",
            "i1" | "pp5" => "#00c2a3",
            _ => "#6a4bf1",
        };
        json!({
            "product": self.product,
            "campaign": self.campaign,
            "title": self.title,
            "long_title": self.long_title,
            "claim": self.claim,
            "description": self.description,
            "icon": icon(self.product, colour),
            "cost": {
                "setup_fee": self.setup_fee,
                "instalment_fee": self.instalment_fee,
                "down_payment_fees": self.setup_fee + self.instalment_fee,
                "instalment_total": 0,
            },
            "cost_description": self.cost_description,
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "widget": null,
            "info_widget": null,
            "min_amount": self.min_amount,
            "max_amount": self.max_amount,
        })
    }
}

fn category(category: &str, title: &str, description: &str, methods: Vec<Value>) -> Value {
    json!({
        "title": title,
        "description": description,
        "icon": null,
        "category": category,
        "methods": methods,
    })
}

fn permanent() -> (String, String) {
    (PERMANENT_FROM.to_owned(), PERMANENT_UNTIL.to_owned())
}

/// A part-payment `pp3` for one language.
fn pp3(title: &str, long_title: &str, description: &str) -> Value {
    let (starts_at, ends_at) = permanent();
    Method {
        product: "pp3",
        campaign: None,
        title,
        long_title,
        claim: None,
        description,
        setup_fee: 0,
        instalment_fee: 300,
        cost_description: None,
        starts_at,
        ends_at,
        min_amount: 5000,
        max_amount: Some(300_000),
    }
    .to_json()
}

/// The catalogue of one country, as categories in the §5 shape. Campaign windows are
/// relative to now: `pp5` "temporary" started a week ago and ends in three months.
pub(crate) fn defaults(country: &str) -> Vec<Value> {
    match country.to_ascii_uppercase().as_str() {
        "FR" => vec![category(
            "part_payment",
            "Payez en plusieurs fois",
            "Aujourd'hui, vous ne payez que la première mensualité",
            vec![pp3(
                "Payez en plusieurs fois",
                "Payez en plusieurs fois, à partir de 3 mensualités",
                "Choisissez le nombre de mensualités qui vous convient.",
            )],
        )],
        "IT" => vec![category(
            "part_payment",
            "Pagamento a rate",
            "Oggi paghi solo la prima rata",
            vec![pp3(
                "Pagamento a rate",
                "Pagamento a rate, da 3 rate",
                "Scegli il piano di pagamento che preferisci.",
            )],
        )],
        "PT" => vec![category(
            "part_payment",
            "Pagamento Fracionado",
            "Hoje só paga a primeira prestação",
            vec![pp3(
                "Pagamento Fracionado",
                "Pagamento Fracionado, a partir de 3 prestações",
                "Escolha o plano de pagamento que preferir.",
            )],
        )],
        "ES" => spain(),
        _ => vec![category(
            "part_payment",
            "Paga Fraccionado",
            "Hoy solo pagas la primera cuota",
            vec![pp3(
                "Paga Fraccionado",
                "Paga Fraccionado en 3, 6 o 12 cuotas",
                "Elige el plan de pago que prefieras.",
            )],
        )],
    }
}

fn spain() -> Vec<Value> {
    let today = crate::clock::now().replace_time(Time::MIDNIGHT);
    let (from, until) = permanent();
    let fp1 = Method {
        product: "fp1",
        campaign: None,
        title: "Paga con tarjeta",
        long_title: "Paga con tarjeta de crédito o débito",
        claim: Some("Sin coste adicional"),
        description: "Paga el total de tu compra ahora con tu tarjeta.",
        setup_fee: 0,
        instalment_fee: 0,
        cost_description: Some("sin coste adicional"),
        starts_at: from.clone(),
        ends_at: until.clone(),
        min_amount: 0,
        max_amount: None,
    };
    let i1 = Method {
        product: "i1",
        campaign: None,
        title: "Paga Después",
        long_title: "Paga después. 7 días desde el envío",
        claim: Some("Sin coste adicional"),
        description: "Compra ahora, recibe primero y paga después. Cuando tu pedido salga de la \
                      tienda tendrás 7 días para pagar.",
        setup_fee: 0,
        instalment_fee: 0,
        cost_description: Some("sin coste adicional"),
        starts_at: from.clone(),
        ends_at: until.clone(),
        min_amount: 0,
        max_amount: None,
    };
    let pp5 = Method {
        product: "pp5",
        campaign: Some("temporary"),
        title: "Paga el mes que viene",
        long_title: "Paga el mes que viene",
        claim: None,
        description: "Recibe tu compra ahora y págala el mes que viene.",
        setup_fee: 295,
        instalment_fee: 0,
        cost_description: Some("+ 2,95 €"),
        starts_at: rfc3339(today - Duration::days(7)),
        ends_at: rfc3339(today + Duration::days(90)),
        min_amount: 2000,
        max_amount: Some(200_000),
    };
    let sp1 = Method {
        product: "sp1",
        campaign: Some("permanente"),
        title: "Divide tu pago en 3",
        long_title: "Divide tu pago en 3 partes sin coste",
        claim: Some("sin coste"),
        description: "Paga hoy la primera parte y el resto en los dos meses siguientes.",
        setup_fee: 0,
        instalment_fee: 0,
        cost_description: Some("sin coste adicional"),
        starts_at: from.clone(),
        ends_at: until.clone(),
        min_amount: 5000,
        max_amount: Some(150_000),
    };
    let pp3 = Method {
        product: "pp3",
        campaign: None,
        title: "Paga Fraccionado",
        long_title: "Paga Fraccionado en 3, 6 o 12 cuotas",
        claim: Some("o en 3 plazos sin coste"),
        description: "Elige el plan de pago que prefieras. Solo pagas hoy la primera cuota.",
        setup_fee: 0,
        instalment_fee: 300,
        cost_description: None,
        starts_at: from,
        ends_at: until,
        min_amount: 5000,
        max_amount: Some(300_000),
    };
    vec![
        category(
            "pay_now",
            "Paga ahora",
            "Con tarjeta de crédito o débito",
            vec![fp1.to_json()],
        ),
        category(
            "pay_later",
            "Paga Después",
            "Confirma la compra con tus datos personales",
            vec![i1.to_json(), pp5.to_json()],
        ),
        category(
            "part_payment",
            "Paga Fraccionado",
            "Hoy solo pagas la primera cuota",
            vec![sp1.to_json(), pp3.to_json()],
        ),
    ]
}

fn parse_time(v: Option<&Value>) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(v?.as_str()?, &Rfc3339).ok()
}

/// Whether a method is offered for `amount` cents at `now`: inside `[min_amount,
/// max_amount]` (null = unbounded) and `[starts_at, ends_at]` (unparsable = unbounded).
fn offered(method: &Value, amount: i64, now: OffsetDateTime) -> bool {
    let min = method
        .get("min_amount")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let max = method.get("max_amount").and_then(Value::as_i64);
    if amount < min || max.is_some_and(|m| amount > m) {
        return false;
    }
    in_window(method, now)
}

/// Whether `now` is inside the method's `[starts_at, ends_at]` (unparsable = unbounded).
pub(crate) fn in_window(method: &Value, now: OffsetDateTime) -> bool {
    parse_time(method.get("starts_at")).is_none_or(|t| now >= t)
        && parse_time(method.get("ends_at")).is_none_or(|t| now <= t)
}

/// The stand-in's instalment plans of a product for its widgets, `(instalment_count,
/// fee per instalment)`, the default plan first, or `None` for a product that has no widget
/// (`fp1`, or one the stand-in has no rule for). [U] seQura's real tables are per merchant
/// (the historical `_cost.json` of spec §10); these are the stand-in's own:
///
/// - `pp3`: 3 instalments without cost (its ES claim, "o en 3 plazos sin coste"), 6 and 12
///   with the method's `instalment_fee` each (as its order cost, a twelfth plus the fee);
/// - `pp6`, `pp9`: 6 or 9 with the `instalment_fee`;
/// - `sp1`: 3 with the `instalment_fee` (0 in the catalogues);
/// - `i1`: one payment, no fee; `pp5`: one payment plus its `setup_fee`.
pub(crate) fn widget_plans(method: &Value) -> Option<Vec<(u32, i64)>> {
    let cost = |k: &str| {
        method
            .get("cost")
            .and_then(|c| c.get(k))
            .and_then(Value::as_i64)
            .unwrap_or(0)
    };
    let fee = cost("instalment_fee");
    Some(match method.get("product").and_then(Value::as_str)? {
        "pp3" => vec![(3, 0), (6, fee), (12, fee)],
        "pp6" => vec![(6, fee)],
        "pp9" => vec![(9, fee)],
        "sp1" => vec![(3, fee)],
        "i1" => vec![(1, 0)],
        "pp5" => vec![(1, cost("setup_fee"))],
        _ => return None,
    })
}

/// The cost block for `amount`: `pp3` in 12 instalments plus its fee, `sp1` in 3, pay-later
/// products in one payment; anything else keeps its configured cost.
fn cost_for(method: &Value, amount: i64) -> Option<Value> {
    let cost = method.get("cost")?;
    let fee = |k: &str| cost.get(k).and_then(Value::as_i64).unwrap_or(0);
    let (setup, instalment) = (fee("setup_fee"), fee("instalment_fee"));
    let total = match method.get("product").and_then(Value::as_str)? {
        "pp3" | "pp6" | "pp9" => amount / 12 + instalment,
        "sp1" => (amount + 2) / 3 + instalment,
        "pp5" => amount,
        "i1" | "fp1" => 0,
        _ => return Some(cost.clone()),
    };
    Some(json!({
        "setup_fee": setup,
        "instalment_fee": instalment,
        "down_payment_fees": setup + instalment,
        "instalment_total": total,
    }))
}

/// `GET orders/{uuid}/payment_methods`: every category of the merchant, each with only the
/// methods offered for `amount` now, costs computed, and without `min_amount`/`max_amount`
/// (absent in seQura's order-endpoint fixture).
pub(crate) fn for_order(categories: &[Value], amount: i64, now: OffsetDateTime) -> Vec<Value> {
    categories
        .iter()
        .map(|cat| {
            let mut cat = cat.clone();
            if let Some(methods) = cat.get_mut("methods").and_then(Value::as_array_mut) {
                let kept: Vec<Value> = methods
                    .iter()
                    .filter(|m| offered(m, amount, now))
                    .map(|m| {
                        let mut m = m.clone();
                        if let Some(cost) = cost_for(&m, amount)
                            && let Some(obj) = m.as_object_mut()
                        {
                            obj.insert("cost".into(), cost);
                        }
                        if let Some(obj) = m.as_object_mut() {
                            obj.remove("min_amount");
                            obj.remove("max_amount");
                        }
                        m
                    })
                    .collect();
                *methods = kept;
            }
            cat
        })
        .collect()
}

/// One method of a merchant's catalogue.
#[derive(Clone, Debug)]
pub(crate) struct Offer {
    pub product: String,
    pub campaign: Option<String>,
    pub title: String,
}

fn offer(m: &Value) -> Option<Offer> {
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    Some(Offer {
        product: text(m, "product")?,
        campaign: text(m, "campaign"),
        title: text(m, "title").unwrap_or_default(),
    })
}

pub(crate) fn methods_of(categories: &[Value]) -> impl Iterator<Item = &Value> {
    categories.iter().flat_map(|cat| {
        cat.get("methods")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
    })
}

/// Why a `(product, campaign)` cannot be used for an order.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Unavailable {
    /// The merchant has no such product (or no such campaign of it).
    Unknown,
    /// The merchant has it, but not for this amount or not now.
    NotForThisOrder,
}

/// The method a form for `(product, campaign)` would use on an order of `amount`: with no
/// campaign, the first offered method of that product (the "first active campaign").
pub(crate) fn choose(
    categories: &[Value],
    product: &str,
    campaign: Option<&str>,
    amount: i64,
    now: OffsetDateTime,
) -> Result<Offer, Unavailable> {
    let matches: Vec<&Value> = methods_of(categories)
        .filter(|m| m.get("product").and_then(Value::as_str) == Some(product))
        .filter(|m| campaign.is_none() || m.get("campaign").and_then(Value::as_str) == campaign)
        .collect();
    if matches.is_empty() {
        return Err(Unavailable::Unknown);
    }
    matches
        .into_iter()
        .find(|m| offered(m, amount, now))
        .and_then(offer)
        .ok_or(Unavailable::NotForThisOrder)
}

/// Every method offered for `amount` now (the delegated-selection `tbs` form's choices).
pub(crate) fn offers(categories: &[Value], amount: i64, now: OffsetDateTime) -> Vec<Offer> {
    methods_of(categories)
        .filter(|m| offered(m, amount, now))
        .filter_map(offer)
        .collect()
}

/// `{"payment_options": [...]}`.
pub(crate) fn body(categories: Vec<Value>) -> Value {
    let mut obj = Map::new();
    obj.insert("payment_options".into(), Value::Array(categories));
    Value::Object(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spain_offers_every_product_inside_its_window() {
        let now = crate::clock::now();
        let cats = defaults("ES");
        let products: Vec<String> = offers(&cats, 10_000, now)
            .into_iter()
            .map(|o| o.product)
            .collect();
        assert_eq!(products, ["fp1", "i1", "pp5", "sp1", "pp3"]);
    }

    #[test]
    fn amount_limits_and_windows_filter_the_order_view() {
        let now = crate::clock::now();
        let cats = defaults("ES");
        assert!(matches!(
            choose(&cats, "pp3", None, 4999, now),
            Err(Unavailable::NotForThisOrder)
        ));
        assert!(choose(&cats, "pp3", None, 5000, now).is_ok());
        assert!(matches!(
            choose(&cats, "pp5", Some("other"), 5000, now),
            Err(Unavailable::Unknown)
        ));
        let later = now + Duration::days(365);
        assert!(matches!(
            choose(&cats, "pp5", None, 5000, later),
            Err(Unavailable::NotForThisOrder)
        ));
    }

    #[test]
    fn pp3_cost_is_a_twelfth_plus_the_instalment_fee() {
        let cats = for_order(&defaults("ES"), 5097, crate::clock::now());
        let pp3 = cats[2]["methods"][1].clone();
        assert_eq!(pp3["product"], "pp3");
        assert_eq!(pp3["cost"]["instalment_total"], 724);
        assert!(pp3.get("min_amount").is_none());
    }
}
