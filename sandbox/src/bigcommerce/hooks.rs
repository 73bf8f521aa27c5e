//! Webhooks v3: `/v3/hooks`, `/v3/hooks/{id}`, `/v3/hooks/admin` (webhooks.v3.yml, spec §2.1).
//! No scope is required; each client sees only its own hooks. The admin list reports
//! `status: deactivated` for a hook the dispatcher (`deliveries.rs`) switched off after its
//! last retry; `PUT {"is_active": true}` reactivates it.

use serde_json::{Map, Value, json};
use url::{Host, Url};
use warp::http::{HeaderName, HeaderValue, Method};

use super::Incoming;
use super::api::{Area, Auth, json_object, method_not_allowed, paginate, paging};
use super::respond::{self, Resp};
use super::state::{State, Webhook, now_unix};

/// At most this many hooks per store + client + scope (spec §2.1).
pub(crate) const MAX_HOOKS_PER_SCOPE: usize = 10;

const INVALID_TITLE: &str = "JSON data is missing or invalid";

/// Scopes documented in webhooks.v3.yml and the events pages (spec §2.2), wildcards included.
const KNOWN_SCOPES: &[&str] = &[
    "store/app/uninstalled",
    "store/cart/*",
    "store/cart/abandoned",
    "store/cart/converted",
    "store/cart/couponApplied",
    "store/cart/created",
    "store/cart/deleted",
    "store/cart/updated",
    "store/cart/lineItem/*",
    "store/cart/lineItem/created",
    "store/cart/lineItem/deleted",
    "store/cart/lineItem/updated",
    "store/category/*",
    "store/category/created",
    "store/category/deleted",
    "store/category/updated",
    "store/channel/*",
    "store/channel/created",
    "store/channel/updated",
    "store/customer/*",
    "store/customer/address/created",
    "store/customer/address/deleted",
    "store/customer/address/updated",
    "store/customer/created",
    "store/customer/deleted",
    "store/customer/payment/instrument/default/updated",
    "store/customer/updated",
    "store/information/updated",
    "store/order/*",
    "store/order/archived",
    "store/order/created",
    "store/order/message/created",
    "store/order/refund/created",
    "store/order/statusUpdated",
    "store/order/updated",
    "store/order/transaction/created",
    "store/order/transaction/updated",
    "store/order/metafield/created",
    "store/order/metafield/updated",
    "store/order/metafield/deleted",
    "store/product/*",
    "store/product/created",
    "store/product/deleted",
    "store/product/inventory/order/updated",
    "store/product/inventory/updated",
    "store/product/updated",
    "store/shipment/*",
    "store/shipment/created",
    "store/shipment/deleted",
    "store/shipment/updated",
    "store/sku/*",
    "store/sku/created",
    "store/sku/deleted",
    "store/sku/inventory/order/updated",
    "store/sku/inventory/updated",
    "store/sku/updated",
    "store/subscriber/*",
    "store/subscriber/created",
    "store/subscriber/deleted",
    "store/subscriber/updated",
];

#[derive(Default)]
struct HookInput {
    scope: Option<String>,
    destination: Option<String>,
    is_active: Option<bool>,
    /// `Some(None)` = explicit null.
    headers: Option<Option<Map<String, Value>>>,
}

/// `https` on port 443, or plain/https loopback on any port (local tests and the demo).
fn destination_error(dest: &str) -> Option<&'static str> {
    let Ok(url) = Url::parse(dest) else {
        return Some("destination must be an absolute URL");
    };
    let loopback = match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => return Some("destination must be an absolute URL"),
    };
    match url.scheme() {
        "http" | "https" if loopback => None,
        "https" if url.port_or_known_default() == Some(443) => None,
        "https" => Some("destination must be served on port 443; custom ports are not supported"),
        _ => Some("destination must be an https URL"),
    }
}

fn parse_input(obj: &Map<String, Value>) -> Result<HookInput, Map<String, Value>> {
    let mut errors = Map::new();
    let mut input = HookInput::default();
    match obj.get("scope") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if KNOWN_SCOPES.contains(&s.as_str()) => {
            input.scope = Some(s.clone())
        }
        Some(Value::String(_)) => {
            errors.insert("scope".into(), json!("error.scope.invalid"));
        }
        Some(_) => {
            errors.insert("scope".into(), json!("error.expected.jsstring"));
        }
    }
    match obj.get("destination") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => match destination_error(s) {
            None => input.destination = Some(s.clone()),
            Some(e) => {
                errors.insert("destination".into(), json!(e));
            }
        },
        Some(_) => {
            errors.insert("destination".into(), json!("error.expected.jsstring"));
        }
    }
    match obj.get("is_active") {
        None => {}
        Some(Value::Bool(b)) => input.is_active = Some(*b),
        Some(_) => {
            errors.insert("is_active".into(), json!("error.expected.jsboolean"));
        }
    }
    match obj.get("headers") {
        None => {}
        Some(Value::Null) => input.headers = Some(None),
        Some(Value::Object(map)) => {
            let valid = map.iter().all(|(k, v)| {
                HeaderName::from_bytes(k.as_bytes()).is_ok()
                    && v.as_str().is_some_and(|s| HeaderValue::from_str(s).is_ok())
            });
            if valid {
                input.headers = Some(Some(map.clone()));
            } else {
                errors.insert(
                    "headers".into(),
                    json!("headers must map valid header names to string values"),
                );
            }
        }
        Some(_) => {
            errors.insert("headers".into(), json!("error.expected.jsobject"));
        }
    }
    if errors.is_empty() {
        Ok(input)
    } else {
        Err(errors)
    }
}

/// The 422 for a duplicate or over-limit hook [U: undocumented body].
fn limit_error(
    st: &State,
    auth: &Auth,
    scope: &str,
    destination: &str,
    except_id: Option<u64>,
) -> Option<Resp> {
    let same_scope = || {
        st.webhooks.iter().filter(move |h| {
            h.store_hash == auth.store_hash
                && h.client_id == auth.client_id
                && h.scope == scope
                && Some(h.id) != except_id
        })
    };
    if same_scope().any(|h| h.destination == destination) {
        return Some(respond::v3_error_detailed(
            422,
            "A webhook with this scope and destination already exists.",
            Map::from_iter([(
                "destination".to_owned(),
                json!("only one webhook per store, client, scope and destination"),
            )]),
        ));
    }
    if same_scope().count() >= MAX_HOOKS_PER_SCOPE {
        return Some(respond::v3_error_detailed(
            422,
            "The maximum number of webhooks for this scope has been reached.",
            Map::from_iter([(
                "scope".to_owned(),
                json!(format!(
                    "at most {MAX_HOOKS_PER_SCOPE} webhooks per store, client and scope"
                )),
            )]),
        ));
    }
    None
}

fn one(hook: &Webhook) -> Resp {
    respond::json(200, &json!({"data": hook.to_json(), "meta": {}}))
}

/// `GET|POST /v3/hooks`.
pub(crate) fn collection(st: &mut State, auth: &Auth, req: &Incoming) -> Resp {
    match req.method {
        Method::GET => list(st, auth, req),
        Method::POST => create(st, auth, req),
        _ => method_not_allowed(Area::V3),
    }
}

fn list(st: &State, auth: &Auth, req: &Incoming) -> Resp {
    let paging = match paging(req) {
        Ok(p) => p,
        Err(resp) => return *resp,
    };
    let is_active = match req.query_param("is_active").as_deref() {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => {
            return respond::v3_error_detailed(
                422,
                "Invalid query parameter",
                Map::from_iter([("is_active".to_owned(), json!("must be true or false"))]),
            );
        }
    };
    let scope = req.query_param("scope");
    let destination = req.query_param("destination");
    let items: Vec<Value> = st
        .webhooks
        .iter()
        .filter(|h| h.store_hash == auth.store_hash && h.client_id == auth.client_id)
        .filter(|h| is_active.is_none_or(|a| h.is_active == a))
        .filter(|h| scope.as_ref().is_none_or(|s| &h.scope == s))
        .filter(|h| destination.as_ref().is_none_or(|d| &h.destination == d))
        .map(Webhook::to_json)
        .collect();
    respond::json(200, &paginate(items, &paging))
}

fn create(st: &mut State, auth: &Auth, req: &Incoming) -> Resp {
    let obj = match json_object(req) {
        Ok(o) => o,
        Err(resp) => return *resp,
    };
    let mut input = match parse_input(&obj) {
        Ok(i) => i,
        Err(errors) => return respond::v3_error_detailed(422, INVALID_TITLE, errors),
    };
    let mut errors = Map::new();
    for (field, missing) in [
        ("scope", input.scope.is_none() && !obj.contains_key("scope")),
        (
            "destination",
            input.destination.is_none() && !obj.contains_key("destination"),
        ),
    ] {
        if missing {
            errors.insert(field.into(), json!("error.path.missing."));
        }
    }
    if input.scope.is_none() && obj.contains_key("scope") {
        errors.insert("scope".into(), json!("error.expected.jsstring"));
    }
    if input.destination.is_none() && obj.contains_key("destination") {
        errors.insert("destination".into(), json!("error.expected.jsstring"));
    }
    if !errors.is_empty() {
        return respond::v3_error_detailed(422, INVALID_TITLE, errors);
    }
    let scope = input.scope.take().unwrap_or_default();
    let destination = input.destination.take().unwrap_or_default();
    if let Some(resp) = limit_error(st, auth, &scope, &destination, None) {
        return resp;
    }
    let now = now_unix();
    let hook = Webhook {
        id: st.next_webhook_id,
        client_id: auth.client_id.clone(),
        store_hash: auth.store_hash.clone(),
        scope,
        destination,
        headers: input.headers.flatten(),
        is_active: input.is_active.unwrap_or(true),
        deactivated: false,
        created_at: now,
        updated_at: now,
    };
    st.next_webhook_id += 1;
    let resp = one(&hook);
    st.webhooks.push(hook);
    resp
}

/// `GET|PUT|DELETE /v3/hooks/{id}`; another client's hook is 404 as well.
pub(crate) fn item(st: &mut State, auth: &Auth, req: &Incoming, id: &str) -> Resp {
    let not_found = || respond::v3_error(404, &format!("Webhook with id [{id}] not found"));
    let Some(idx) = id.parse::<u64>().ok().and_then(|n| {
        st.webhooks.iter().position(|h| {
            h.id == n && h.store_hash == auth.store_hash && h.client_id == auth.client_id
        })
    }) else {
        return match req.method {
            Method::GET | Method::PUT | Method::DELETE => not_found(),
            _ => method_not_allowed(Area::V3),
        };
    };
    match req.method {
        Method::GET => one(&st.webhooks[idx]),
        Method::DELETE => {
            let hook = st.webhooks.remove(idx);
            one(&hook)
        }
        Method::PUT => update(st, auth, req, idx),
        _ => method_not_allowed(Area::V3),
    }
}

fn update(st: &mut State, auth: &Auth, req: &Incoming, idx: usize) -> Resp {
    let obj = match json_object(req) {
        Ok(o) => o,
        Err(resp) => return *resp,
    };
    let input = match parse_input(&obj) {
        Ok(i) => i,
        Err(errors) => return respond::v3_error_detailed(422, INVALID_TITLE, errors),
    };
    let mut errors = Map::new();
    for field in ["scope", "destination"] {
        if obj.get(field) == Some(&Value::Null) {
            errors.insert(field.into(), json!("error.expected.jsstring"));
        }
    }
    if input.scope.is_none()
        && input.destination.is_none()
        && input.is_active.is_none()
        && input.headers.is_none()
    {
        errors.insert(
            "scope".into(),
            json!("at least one of scope, destination, is_active, headers is required"),
        );
    }
    if !errors.is_empty() {
        return respond::v3_error_detailed(422, INVALID_TITLE, errors);
    }
    let current = &st.webhooks[idx];
    let scope = input.scope.unwrap_or_else(|| current.scope.clone());
    let destination = input
        .destination
        .unwrap_or_else(|| current.destination.clone());
    if let Some(resp) = limit_error(st, auth, &scope, &destination, Some(current.id)) {
        return resp;
    }
    let hook = &mut st.webhooks[idx];
    hook.scope = scope;
    hook.destination = destination;
    if let Some(a) = input.is_active {
        hook.is_active = a;
        hook.deactivated = false;
    }
    if let Some(h) = input.headers {
        hook.headers = h;
    }
    hook.updated_at = now_unix();
    one(hook)
}

/// `GET|PUT /v3/hooks/admin`.
pub(crate) fn admin(st: &mut State, auth: &Auth, req: &Incoming) -> Resp {
    let key = (auth.store_hash.clone(), auth.client_id.clone());
    match req.method {
        Method::GET => {
            let is_active = match req.query_param("is_active").as_deref() {
                None => None,
                Some("true") => Some(true),
                Some("false") => Some(false),
                Some(_) => return respond::v3_error(400, "Input is invalid."),
            };
            let hooks: Vec<Value> = st
                .webhooks
                .iter()
                .filter(|h| h.store_hash == auth.store_hash && h.client_id == auth.client_id)
                .filter(|h| is_active.is_none_or(|a| h.is_active == a))
                .map(|h| {
                    let mut v = h.to_json();
                    if let Some(o) = v.as_object_mut() {
                        o.insert("status".into(), json!(h.admin_status()));
                    }
                    v
                })
                .collect();
            let emails = st.hook_admin_emails.get(&key).cloned().unwrap_or_default();
            respond::json(
                200,
                &json!({
                    "data": {"emails": emails, "hooks_list": hooks, "blocked_domains": []},
                    "meta": {},
                }),
            )
        }
        Method::PUT => {
            let obj = match json_object(req) {
                Ok(o) => o,
                Err(resp) => return *resp,
            };
            let emails: Option<Vec<String>> = obj.get("emails").and_then(|v| {
                v.as_array()?
                    .iter()
                    .map(|e| e.as_str().filter(|s| s.contains('@')).map(str::to_owned))
                    .collect()
            });
            match emails {
                Some(emails) => {
                    st.hook_admin_emails.insert(key, emails);
                    respond::no_content()
                }
                None => respond::v3_error_detailed(
                    422,
                    INVALID_TITLE,
                    Map::from_iter([(
                        "emails".to_owned(),
                        json!("an array of email addresses is required"),
                    )]),
                ),
            }
        }
        _ => method_not_allowed(Area::V3),
    }
}

#[cfg(test)]
mod tests {
    use super::destination_error;

    #[test]
    fn destinations_need_https_on_443_unless_loopback() {
        assert!(destination_error("https://app.example.com/webhooks").is_none());
        assert!(destination_error("https://app.example.com:443/webhooks").is_none());
        assert!(destination_error("https://app.example.com:8443/webhooks").is_some());
        assert!(destination_error("http://app.example.com/webhooks").is_some());
        assert!(destination_error("http://127.0.0.1:3000/webhooks").is_none());
        assert!(destination_error("http://localhost:3000/webhooks").is_none());
        assert!(destination_error("http://[::1]:3000/webhooks").is_none());
        assert!(destination_error("ftp://127.0.0.1/x").is_some());
        assert!(destination_error("/webhooks").is_some());
    }
}
