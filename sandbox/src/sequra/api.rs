//! The merchant API of each host, `{base}/{sandbox|live}/` (seQura) and
//! `{base}/svea/{sandbox|live}/` (SVEA): HTTP Basic per host, the `Sequra-Merchant-Id` check, credentials, payment methods, orders (solicitation,
//! confirmation, Order Update API), delivery reports and store integrations.

use base64::Engine;
use serde_json::{Map, Value, json};
use warp::http::Method;

use super::respond::{self, Resp};
use super::state::{
    Deployment, Env, Host, Order, OrderState, State, StoreIntegration, credentials_json,
};
use super::validate::{self, CartUse, Problems, Stage, ref_text};
use super::{AccountSpec, Incoming, Shared, form, methods};

/// How an Order Update shows in an order's list of `PUT`s.
const UPDATE_PUT: &str = "update";

/// `GET deployments` (spec §1.1) on seQura's live host (and `{base}/deployments`), no
/// authentication: both deployments with this stand-in's hosts, trailing slashes included.
pub(crate) fn deployments(shared: &Shared) -> Resp {
    if shared.lock().deployments_outage {
        return respond::text(500, "Internal Server Error");
    }
    let list: Vec<Value> = Deployment::ALL
        .into_iter()
        .map(|deployment| {
            let urls = |env: Env| {
                let host = Host { deployment, env };
                json!({
                    "api_base_url": shared.host_url(host).as_str(),
                    "assets_base_url": shared.assets_url(host).as_str(),
                })
            };
            json!({
                "id": deployment.as_str(),
                "name": deployment.name(),
                "live": urls(Env::Live),
                "sandbox": urls(Env::Sandbox),
            })
        })
        .collect();
    respond::json(200, &Value::Array(list))
}

enum Route<'a> {
    Credentials(Option<&'a str>),
    MerchantMethods(&'a str),
    OrderUpdate(&'a str, &'a str),
    CreateOrder,
    DeliveryReport,
    Form(&'a str),
    OrderMethods(&'a str),
    Confirm(&'a str),
    CreateIntegration,
    DeleteIntegration(&'a str),
}

fn route<'a>(method: &Method, rest: &[&'a str]) -> Option<Route<'a>> {
    Some(match (method.as_str(), rest) {
        ("GET", ["merchants", "credentials"]) => Route::Credentials(None),
        ("GET", ["merchants", m, "credentials"]) => Route::Credentials(Some(m)),
        ("GET", ["merchants", m, "payment_methods"]) => Route::MerchantMethods(m),
        ("PUT", ["merchants", m, "orders", r]) => Route::OrderUpdate(m, r),
        ("POST", ["orders"]) => Route::CreateOrder,
        ("POST", ["orders", "delivery_reports"] | ["delivery_reports"]) => Route::DeliveryReport,
        ("GET", ["orders", u, "form_v2"]) => Route::Form(u),
        ("GET", ["orders", u, "payment_methods"]) => Route::OrderMethods(u),
        ("PUT", ["orders", u]) => Route::Confirm(u),
        ("POST", ["store_integrations"]) => Route::CreateIntegration,
        ("DELETE", ["store_integrations", w]) => Route::DeleteIntegration(w),
        _ => return None,
    })
}

/// The account of the request's Basic credentials on this host.
fn authenticate(st: &State, host: Host, req: &Incoming) -> Option<AccountSpec> {
    let header = req.header("authorization")?;
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, pass) = decoded.split_once(':')?;
    st.account(host, user)
        .filter(|a| a.password == pass)
        .cloned()
}

/// The caller: account and host.
struct Caller {
    host: Host,
    account: AccountSpec,
}

impl Caller {
    fn owns(&self, merchant_ref: &str) -> bool {
        self.account
            .merchants
            .iter()
            .any(|m| m.merchant_ref == merchant_ref)
    }

    fn username(&self) -> &str {
        &self.account.username
    }

    /// The `Sequra-Merchant-Id` header, which must name one of the account's merchants.
    fn merchant_header(&self, req: &Incoming) -> Result<String, Refusal> {
        let id = req.header("sequra-merchant-id").unwrap_or("").trim();
        if self.owns(id) {
            Ok(id.to_owned())
        } else {
            Err(Refusal::bad_merchant(id, self.username()))
        }
    }

    /// As [`Self::merchant_header`], but an absent or empty header is fine.
    fn optional_merchant_header(&self, req: &Incoming) -> Result<Option<String>, Refusal> {
        match req.header("sequra-merchant-id").map(str::trim) {
            None | Some("") => Ok(None),
            Some(_) => self.merchant_header(req).map(Some),
        }
    }

    /// Whether the order is this caller's and was solicited for `merchant`.
    fn sees(&self, order: &Order, merchant: &str) -> bool {
        order.host == self.host
            && order.username == self.account.username
            && order.merchant_ref == merchant
    }
}

/// The `{"<wrapper>": {...}}` body as its inner object; 415 for a non-JSON content type, 400
/// for malformed JSON [U], 409 when the wrapper is missing.
fn wrapped(req: &Incoming, wrapper: &str) -> Result<Map<String, Value>, Refusal> {
    let ct = req
        .header("content-type")
        .unwrap_or("")
        .to_ascii_lowercase();
    if !ct.starts_with("application/json") {
        return Err(Refusal::new(415, "Content-Type must be application/json"));
    }
    let body: Value = serde_json::from_slice(&req.body)
        .map_err(|e| Refusal::new(400, format!("Invalid JSON in the request body: {e}")))?;
    let mut p = Problems::default();
    match validate::object(body.get(wrapper), wrapper, &mut p) {
        Some(inner) => Ok(inner.clone()),
        None => Err(Refusal::many(409, p.0)),
    }
}

/// Everything under a host's API base.
pub(crate) fn handle(shared: &Shared, req: &Incoming, host: Host, rest: &[&str]) -> Resp {
    let Some(route) = route(&req.method, rest) else {
        return respond::not_found_html();
    };
    let mut st = shared.lock();
    let Some(account) = authenticate(&st, host, req) else {
        return respond::unauthorized();
    };
    let caller = Caller { host, account };
    let result =
        match route {
            Route::Credentials(m) => credentials(&caller, req, m),
            Route::MerchantMethods(m) => merchant_methods(&caller, req, m),
            Route::OrderUpdate(m, r) => update_order(&mut st, &caller, req, m, r),
            Route::CreateOrder => create_order(shared, &mut st, &caller, req),
            Route::DeliveryReport => delivery_report(&mut st, &caller, req),
            Route::Form(u) => caller.merchant_header(req).map(|m| {
                match st.order(u).filter(|o| caller.sees(o, &m)) {
                    Some(order) => form::render(shared, &st, order, req),
                    None => respond::not_found_html(),
                }
            }),
            Route::OrderMethods(u) => order_methods(&st, &caller, req, u),
            Route::Confirm(u) => confirm_order(&mut st, &caller, req, u),
            Route::CreateIntegration => create_integration(shared, &mut st, &caller, req),
            Route::DeleteIntegration(w) => delete_integration(&mut st, &caller, req, w),
        };
    result.unwrap_or_else(Refusal::into_resp)
}

type Handled = Result<Resp, Refusal>;

/// A refusal with seQura's `{"errors": [...]}` body.
struct Refusal {
    status: u16,
    errors: Vec<String>,
}

impl Refusal {
    fn new(status: u16, message: impl Into<String>) -> Self {
        Refusal {
            status,
            errors: vec![message.into()],
        }
    }

    fn many(status: u16, errors: Vec<String>) -> Self {
        Refusal { status, errors }
    }

    /// 403 for a merchant ref the credentials do not own (spec §1.2, §3.3).
    fn bad_merchant(merchant: &str, username: &str) -> Self {
        Refusal::new(403, format!("Bad merchant id '{merchant}' for {username}"))
    }

    /// 403 for an order UUID the credentials do not own (spec §5).
    fn bad_order(uuid: &str, username: &str) -> Self {
        Refusal::new(403, format!("Bad order id '{uuid}' for {username}"))
    }

    /// 403 of the Order Update API for another merchant's order (spec §7).
    fn no_access() -> Self {
        Refusal::new(403, "You do not have access to this URL")
    }

    fn into_resp(self) -> Resp {
        respond::errors(self.status, &self.errors)
    }
}

/// `GET merchants/credentials` (and phpc's `merchants/{ref}/credentials`), spec §2.1.
fn credentials(caller: &Caller, req: &Incoming, merchant: Option<&str>) -> Handled {
    caller.optional_merchant_header(req)?;
    if let Some(m) = merchant
        && !caller.owns(m)
    {
        return Err(Refusal::bad_merchant(m, caller.username()));
    }
    let list: Vec<Value> = caller
        .account
        .merchants
        .iter()
        .filter(|x| merchant.is_none_or(|m| m == x.merchant_ref))
        .map(credentials_json)
        .collect();
    Ok(respond::json(200, &Value::Array(list)))
}

/// `GET merchants/{ref}/payment_methods`, spec §5.
fn merchant_methods(caller: &Caller, req: &Incoming, merchant: &str) -> Handled {
    caller.merchant_header(req)?;
    let spec = caller
        .account
        .merchants
        .iter()
        .find(|m| m.merchant_ref == merchant)
        .ok_or_else(|| Refusal::bad_merchant(merchant, caller.username()))?;
    Ok(respond::json(200, &methods::body(spec.methods.clone())))
}

/// `GET orders/{uuid}/payment_methods`, spec §5: unknown order → 403 Bad order id.
fn order_methods(st: &State, caller: &Caller, req: &Incoming, uuid: &str) -> Handled {
    let m = caller.merchant_header(req)?;
    let order = st
        .order(uuid)
        .filter(|o| caller.sees(o, &m))
        .ok_or_else(|| Refusal::bad_order(uuid, caller.username()))?;
    let categories = st
        .merchant(caller.host, caller.username(), &order.merchant_ref)
        .map(|s| s.methods.clone())
        .unwrap_or_default();
    let view = methods::for_order(&categories, order.amount, crate::clock::now());
    Ok(respond::json(200, &methods::body(view)))
}

/// `POST orders`, spec §3.
fn create_order(shared: &Shared, st: &mut State, caller: &Caller, req: &Incoming) -> Handled {
    let header = caller.merchant_header(req)?;
    let order = wrapped(req, "order")?;
    let mut p = Problems::default();
    let body_merchant = ref_text(order.get("merchant").and_then(|m| m.get("id")));
    if let Some(id) = &body_merchant {
        if !caller.owns(id) {
            return Err(Refusal::bad_merchant(id, caller.username()));
        }
        if *id != header {
            p.add(format!(
                "merchant.id '{id}' does not match the Sequra-Merchant-Id header '{header}'"
            ));
        }
    }
    validate::check_order(&order, Stage::Solicitation, &mut p);
    if !p.is_empty() {
        return Err(Refusal::many(409, p.0));
    }
    let amount = order
        .get("cart")
        .and_then(|c| c.get("order_total_with_tax"))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let reference = |k: &str| ref_text(order.get("merchant_reference").and_then(|r| r.get(k)));
    let uuid = uuid::Uuid::new_v4().to_string();
    st.orders.push(Order {
        uuid: uuid.clone(),
        host: caller.host,
        username: caller.username().to_owned(),
        merchant_ref: header,
        state: OrderState::Solicited,
        order_ref_1: reference("order_ref_1"),
        order_ref_2: reference("order_ref_2"),
        amount,
        solicited: Value::Object(order),
        last_put: None,
        shipped_cart: None,
        unshipped_cart: None,
        updates: Vec::new(),
        puts: Vec::new(),
        completed: None,
        sq_state: None,
        cancelled_by_update: false,
        notifications: Vec::new(),
    });
    let location = shared
        .host_url(caller.host)
        .join(&format!("orders/{uuid}"))
        .map(|u| u.to_string())
        .unwrap_or_default();
    Ok(respond::created_at(&location))
}

/// Whether another confirmed order of the merchant already carries `order_ref_1`.
fn ref_taken(st: &State, host: Host, merchant: &str, order_ref_1: &str, uuid: &str) -> bool {
    st.orders.iter().any(|o| {
        o.uuid != uuid
            && o.host == host
            && o.merchant_ref == merchant
            && o.state == OrderState::Confirmed
            && o.order_ref_1.as_deref() == Some(order_ref_1)
    })
}

/// `PUT orders/{uuid}` with `state` `confirmed` | `on_hold`, spec §6.4.
fn confirm_order(st: &mut State, caller: &Caller, req: &Incoming, uuid: &str) -> Handled {
    let m = caller.merchant_header(req)?;
    let (current, sq_state, solicited, known_ref) = {
        let order = st
            .order(uuid)
            .filter(|o| caller.sees(o, &m))
            .ok_or_else(|| Refusal::bad_order(uuid, caller.username()))?;
        (
            order.state,
            order.sq_state.as_ref().map(|(s, _)| s.clone()),
            order.solicited.clone(),
            order.order_ref_1.clone(),
        )
    };
    let put = wrapped(req, "order")?;
    let mut p = Problems::default();
    match ref_text(put.get("merchant").and_then(|x| x.get("id"))) {
        Some(id) if id != m => p.add(format!(
            "merchant.id '{id}' does not match the order's merchant '{m}'"
        )),
        _ => {}
    }
    validate::check_order(&put, Stage::Confirmation, &mut p);
    if !p.is_empty() {
        return Err(Refusal::many(409, p.0));
    }
    let target = match put.get("state").and_then(Value::as_str) {
        Some("confirmed") => OrderState::Confirmed,
        _ => OrderState::OnHold,
    };
    let conflict = |msg: String| Err(Refusal::new(409, msg));
    match (current, target, sq_state.as_deref()) {
        (OrderState::Cancelled, _, _) => {
            return conflict(format!(
                "Order {uuid} is cancelled and cannot be {}",
                target.as_str()
            ));
        }
        (OrderState::Confirmed, OrderState::OnHold, _) => {
            return conflict(format!(
                "Order {uuid} is already confirmed and cannot be put on hold"
            ));
        }
        (_, OrderState::Confirmed, Some("approved")) => {}
        (_, OrderState::OnHold, Some("needs_review")) => {}
        (_, OrderState::Confirmed, _) => {
            return conflict(format!(
                "Order {uuid} cannot be confirmed: seQura has not approved it"
            ));
        }
        (_, _, _) => {
            return conflict(format!(
                "Order {uuid} cannot be put on hold: seQura has not put it under review"
            ));
        }
    }
    let changes = validate::changes(&solicited, &Value::Object(put.clone()));
    if !changes.is_empty() {
        return Err(Refusal::many(409, changes));
    }
    let reference = |k: &str| ref_text(put.get("merchant_reference").and_then(|r| r.get(k)));
    let new_ref = reference("order_ref_1");
    if let Some(r1) = &new_ref {
        if current == OrderState::Confirmed && known_ref.as_ref().is_some_and(|k| k != r1) {
            return conflict(format!(
                "Invalid data: order_ref_1 of confirmed order {uuid} cannot change from '{}' to '{r1}'",
                known_ref.unwrap_or_default()
            ));
        }
        if ref_taken(st, caller.host, &m, r1, uuid) {
            return conflict(format!(
                "Invalid data: order_ref_1 '{r1}' is already used by another confirmed order of merchant {m}"
            ));
        }
    } else if target == OrderState::Confirmed
        && let Some(r1) = &known_ref
        && ref_taken(st, caller.host, &m, r1, uuid)
    {
        return conflict(format!(
            "Invalid data: order_ref_1 '{r1}' is already used by another confirmed order of merchant {m}"
        ));
    }
    let order2 = reference("order_ref_2");
    if let Some(order) = st.order_mut(uuid) {
        order.state = target;
        if new_ref.is_some() {
            order.order_ref_1 = new_ref;
        }
        if order2.is_some() {
            order.order_ref_2 = order2;
        }
        order.last_put = Some(Value::Object(put));
        order.puts.push(target.as_str().to_owned());
    }
    Ok(respond::json(200, &json!({})))
}

fn is_empty_cart(cart: Option<&Value>) -> bool {
    cart.and_then(|c| c.get("items"))
        .and_then(Value::as_array)
        .is_some_and(Vec::is_empty)
}

/// `PUT merchants/{ref}/orders/{order_ref_1}` (Order Update API), spec §7.
fn update_order(
    st: &mut State,
    caller: &Caller,
    req: &Incoming,
    merchant: &str,
    order_ref_1: &str,
) -> Handled {
    caller.merchant_header(req)?;
    if !caller.owns(merchant) {
        return Err(Refusal::no_access());
    }
    let mine = |o: &&Order| {
        o.host == caller.host
            && o.username == caller.username()
            && o.order_ref_1.as_deref() == Some(order_ref_1)
    };
    let candidates: Vec<&Order> = st.orders.iter().filter(mine).collect();
    let found = candidates
        .iter()
        .filter(|o| o.merchant_ref == merchant)
        .find(|o| o.state == OrderState::Confirmed)
        .or_else(|| {
            candidates
                .iter()
                .filter(|o| o.merchant_ref == merchant)
                .find(|o| o.cancelled_by_update)
        })
        .map(|o| (o.uuid.clone(), o.cancelled_by_update));
    let Some((uuid, cancelled)) = found else {
        if candidates.iter().any(|o| o.merchant_ref != merchant) {
            return Err(Refusal::no_access());
        }
        // Unknown, still on hold or cancelled before confirmation: core expects 404 here.
        return Err(Refusal::new(
            404,
            format!("Order '{order_ref_1}' of merchant {merchant} not found"),
        ));
    };
    if let Some((_, message)) = st.refused_updates.iter().find(|(r, _)| r == order_ref_1) {
        return Err(Refusal::new(409, message.clone()));
    }
    let update = wrapped(req, "order")?;
    let mut p = Problems::default();
    if let Some(mobj) = validate::object(update.get("merchant"), "merchant", &mut p) {
        match ref_text(mobj.get("id")) {
            Some(id) if id == merchant => {}
            Some(id) => p.add(format!(
                "merchant.id '{id}' does not match the merchant in the URL '{merchant}'"
            )),
            None => p.add("merchant.id is missing"),
        }
    }
    if let Some(r) = validate::object(
        update.get("merchant_reference"),
        "merchant_reference",
        &mut p,
    ) {
        match ref_text(r.get("order_ref_1")) {
            Some(r1) if r1 == order_ref_1 => {}
            Some(r1) => p.add(format!(
                "merchant_reference.order_ref_1 '{r1}' does not match the order in the URL '{order_ref_1}'"
            )),
            None => p.add("merchant_reference.order_ref_1 is missing"),
        }
    }
    for cart in ["shipped_cart", "unshipped_cart"] {
        validate::check_cart(update.get(cart), cart, CartUse::Partial, Some(cart), &mut p);
    }
    if !p.is_empty() {
        return Err(Refusal::many(409, p.0));
    }
    let both_empty =
        is_empty_cart(update.get("shipped_cart")) && is_empty_cart(update.get("unshipped_cart"));
    if cancelled && !both_empty {
        return Err(Refusal::new(
            409,
            format!("Order '{order_ref_1}' is cancelled and cannot get items back"),
        ));
    }
    if let Some(order) = st.order_mut(&uuid) {
        order.shipped_cart = update.get("shipped_cart").cloned();
        order.unshipped_cart = update.get("unshipped_cart").cloned();
        order.updates.push(Value::Object(update));
        order.puts.push(UPDATE_PUT.to_owned());
        if both_empty {
            order.state = OrderState::Cancelled;
            order.cancelled_by_update = true;
        }
    }
    Ok(respond::json(200, &json!({})))
}

/// `POST orders/delivery_reports` (and phpc's `delivery_reports`), spec §9.
fn delivery_report(st: &mut State, caller: &Caller, req: &Incoming) -> Handled {
    let header = caller.merchant_header(req)?;
    let report = wrapped(req, "delivery_report")?;
    let mut p = Problems::default();
    if let Some(m) = validate::object(report.get("merchant"), "merchant", &mut p) {
        match ref_text(m.get("id")) {
            None => p.add("merchant.id is missing"),
            Some(id) if !caller.owns(&id) => {
                return Err(Refusal::bad_merchant(&id, caller.username()));
            }
            Some(id) if id != header => p.add(format!(
                "merchant.id '{id}' does not match the Sequra-Merchant-Id header '{header}'"
            )),
            Some(_) => {}
        }
    }
    match report.get("orders") {
        Some(Value::Array(orders)) => {
            for (i, o) in orders.iter().enumerate() {
                let path = format!("orders[{i}]");
                let Some(obj) = validate::object(Some(o), &path, &mut p) else {
                    continue;
                };
                match obj.get("state").and_then(Value::as_str) {
                    Some("shipped" | "delivered") => {}
                    _ => p.add(format!("{path}.state must be shipped or delivered")),
                }
                if ref_text(
                    obj.get("merchant_reference")
                        .and_then(|r| r.get("order_ref_1")),
                )
                .is_none()
                {
                    p.add(format!("{path}.merchant_reference.order_ref_1 is missing"));
                }
                let cart = format!("{path}.cart");
                validate::check_cart(
                    obj.get("cart"),
                    &cart,
                    CartUse::Partial,
                    Some(&cart),
                    &mut p,
                );
                if obj.get("remaining_cart").is_some_and(|v| !v.is_null()) {
                    let rem = format!("{path}.remaining_cart");
                    validate::check_cart(
                        obj.get("remaining_cart"),
                        &rem,
                        CartUse::Partial,
                        Some(&rem),
                        &mut p,
                    );
                }
            }
        }
        None | Some(Value::Null) => p.add("orders is missing"),
        Some(_) => p.add("orders must be a list"),
    }
    match report.get("statistics") {
        None | Some(Value::Null) => {}
        Some(Value::Object(s)) => match s.get("orders") {
            None | Some(Value::Array(_)) => {}
            Some(_) => p.add("statistics.orders must be a list"),
        },
        Some(_) => p.add("statistics must be an object"),
    }
    if !p.is_empty() {
        return Err(Refusal::many(409, p.0));
    }
    st.delivery_reports
        .push((caller.host.deployment, Value::Object(report)));
    Ok(respond::no_content())
}

/// `POST store_integrations` (remote-configuration spec §1.1–§1.2): the deployment's Basic
/// credentials, an optional `Sequra-Merchant-Id` of the account, and
/// `{"store_integration": {"webhook_url", "capabilities"}}` with an absolute http(s) URL and a
/// non-empty list of seQura's ten capability strings; 204 with
/// `Location: {api base}store_integrations/{id}`. Anything else is refused with 409 and
/// seQura's `errors` (the core maps 409 to an invalid request body) [U: the exact status].
fn create_integration(shared: &Shared, st: &mut State, caller: &Caller, req: &Incoming) -> Handled {
    let merchant_id = caller.optional_merchant_header(req)?;
    let body = wrapped(req, "store_integration")?;
    let mut p = Problems::default();
    match body.get("webhook_url") {
        Some(Value::String(u))
            if url::Url::parse(u)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host()) => {}
        Some(Value::String(u)) => p.add(format!("webhook_url '{u}' is not a valid URL")),
        None | Some(Value::Null) => p.add("webhook_url is missing"),
        Some(_) => p.add("webhook_url must be a string"),
    }
    match body.get("capabilities") {
        Some(Value::Array(caps)) if !caps.is_empty() => {
            for c in caps {
                match c.as_str() {
                    Some(c) if validate::CAPABILITIES.contains(&c) => {}
                    _ => p.add(format!("capabilities: {c} is not a capability")),
                }
            }
        }
        Some(Value::Array(_)) => p.add("capabilities must not be empty"),
        None | Some(Value::Null) => p.add("capabilities is missing"),
        Some(_) => p.add("capabilities must be a list"),
    }
    if !p.is_empty() {
        return Err(Refusal::many(409, p.0));
    }
    let id = st.integrations.iter().map(|i| i.id).max().unwrap_or(0) + 1;
    st.integrations.push(StoreIntegration {
        id,
        deployment: caller.host.deployment.as_str().to_owned(),
        environment: caller.host.env.as_str().to_owned(),
        username: caller.username().to_owned(),
        merchant_id,
        body: Value::Object(body),
        deleted: false,
    });
    let location = shared
        .host_url(caller.host)
        .join(&format!("store_integrations/{id}"))
        .map(|u| u.to_string())
        .unwrap_or_default();
    Ok(respond::created_at(&location))
}

/// `DELETE store_integrations/{rawurlencode(webhook_url)}` (spec §1.5): the whole signed URL
/// as one path segment; 204 when the account registered it on this host (every such
/// registration is deleted), 404 otherwise [U].
fn delete_integration(
    st: &mut State,
    caller: &Caller,
    req: &Incoming,
    webhook_url: &str,
) -> Handled {
    caller.optional_merchant_header(req)?;
    let mut found = false;
    for i in st.integrations.iter_mut() {
        if !i.deleted
            && i.deployment == caller.host.deployment.as_str()
            && i.environment == caller.host.env.as_str()
            && i.username == caller.username()
            && i.webhook_url() == webhook_url
        {
            i.deleted = true;
            found = true;
        }
    }
    if found {
        Ok(respond::no_content())
    } else {
        Err(Refusal::new(404, "Store integration not found"))
    }
}
