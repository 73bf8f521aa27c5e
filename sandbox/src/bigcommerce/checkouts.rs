//! Checkouts v3 (`checkouts.v3.yml`, spec §4.1 (d)): `GET /v3/checkouts/{id}`,
//! `POST /v3/checkouts/{id}/orders` (fires `store/order/created`), `POST /v3/checkouts/{id}/token`,
//! `GET /v3/checkouts/settings`, `GET /v3/checkouts/settings/channels/{id}`; and
//! `DELETE /v3/carts/{id}` (`carts.v3.yml`).
//!
//! Scopes as spec §1.7 names them (`checkouts.v3.yml` spells them `store_checkouts`, taken
//! to be a typo): reads need `store_checkout_read_only`, writes `store_checkout`; carts
//! `store_cart`. [U] The settings accept `store_checkout_read_only` or
//! `store_v2_information_read_only`.
//!
//! Shapes chosen where the reference is silent or disagrees, all [U]:
//! - `POST …/token` answers `{"checkoutToken": "…", "meta": {}}`, the response *schema*
//!   (its example nests the token under `data`; the app's client reads both). `maxUses`
//!   defaults to 1 and `ttl` to 86 400 s; `maxUses` must be a whole number ≥ 1 and `ttl`
//!   one from 1 to 2 592 000, else 422. After an order of the checkout has been placed
//!   (left Incomplete), a token is refused with 422 ("You cannot create this token after
//!   finalizing an order").
//! - `POST …/orders` on an empty cart is 422; without `Content-Type: application/json` (the
//!   reference's required `Content-Type` parameter) 415 with the v3 error body, after the
//!   scope check. Its body is not read.
//! - An unknown checkout is 404 with the v3 error body (the reference's `Checkout Error`
//!   wraps it in `errors[]`; the v3 body is what the rest of the API sends).
//! - Settings: each channel of the store has its own terms setting and its terms link on its
//!   site; an id that is not a channel of the store is 422 ("Invalid channelId"). Only `GET`
//!   is modelled (terms are switched with the control helpers `set_terms`, channel 1, and
//!   `set_channel_terms`).

use serde_json::{Map, Value, json};
use warp::http::Method;

use super::api::{Area, Auth, forbidden, json_object, method_not_allowed, not_found};
use super::commerce::{Commerce, OrderError};
use super::respond::{self, Resp};
use super::state::State;
use super::{Incoming, StoreSpec, deliveries, fulfilment, shipping};

const READ_SCOPE: &str = "store_checkout_read_only";
const WRITE_SCOPE: &str = "store_checkout";
const SETTINGS_SCOPES: [&str; 2] = ["store_checkout_read_only", "store_v2_information_read_only"];
const CART_SCOPE: &str = "store_cart";
/// `ttl` bounds (`checkouts.v3.yml` `createCheckoutToken`).
pub(crate) const TTL_MAX: i64 = 2_592_000;
const TTL_DEFAULT: i64 = 86_400;

fn commerce_mut<'a>(st: &'a mut State, auth: &Auth) -> Option<&'a mut Commerce> {
    st.stores.get_mut(&auth.store_hash).map(|s| &mut s.commerce)
}

/// The shipping zone an order to `country` falls in: `(id, name)` as `/v2/shipping/zones`
/// numbers them; `(0, "")` when no zone covers it.
pub(crate) fn zone_for(spec: &StoreSpec, country: &str) -> (u64, String) {
    let country = country.trim().to_ascii_uppercase();
    if let Some(i) = spec
        .shipping_countries
        .iter()
        .position(|c| c.trim().eq_ignore_ascii_case(&country))
    {
        return (i as u64 + 1, shipping::zone_name(&country));
    }
    if spec.ships_rest_of_world {
        return (
            spec.shipping_countries.len() as u64 + 1,
            "Resto del mundo".to_owned(),
        );
    }
    (0, String::new())
}

/// `GET /v3/checkouts/{id}`.
pub(crate) fn checkout(st: &State, auth: &Auth, req: &Incoming, id: &str) -> Resp {
    if req.method != Method::GET {
        return method_not_allowed(Area::V3);
    }
    if !auth.has(READ_SCOPE) {
        return forbidden(Area::V3);
    }
    match st
        .stores
        .get(&auth.store_hash)
        .and_then(|s| s.commerce.checkouts.get(id))
    {
        Some(c) => respond::json(200, &json!({"data": c.v3_json(), "meta": {}})),
        None => not_found(Area::V3),
    }
}

/// `POST /v3/checkouts/{id}/orders`: a new Incomplete order on every call.
pub(crate) fn create_order(st: &mut State, auth: &Auth, req: &Incoming, id: &str) -> Resp {
    if req.method != Method::POST {
        return method_not_allowed(Area::V3);
    }
    if !auth.has(WRITE_SCOPE) {
        return forbidden(Area::V3);
    }
    if !is_json(req) {
        return respond::v3_error(415, "Unsupported Media Type");
    }
    let Some(store) = st.stores.get_mut(&auth.store_hash) else {
        return not_found(Area::V3);
    };
    let zone = store
        .commerce
        .checkouts
        .get(id)
        .map(|c| zone_for(&store.spec, &c.shipping.country_code))
        .unwrap_or_default();
    match store.commerce.create_order(id, 0, "checkout_api", zone) {
        Ok(order_id) => {
            deliveries::emit(
                st,
                &auth.store_hash,
                "store/order/created",
                fulfilment::order_data(order_id),
            );
            respond::json(200, &json!({"data": {"id": order_id}, "meta": {}}))
        }
        Err(OrderError::NoCheckout) => not_found(Area::V3),
        Err(OrderError::EmptyCart) => respond::v3_error(422, "The cart is empty."),
    }
}

/// `Content-Type: application/json` (parameters such as `charset` allowed), which
/// `createOrder` requires though it takes no body.
fn is_json(req: &Incoming) -> bool {
    req.header("content-type")
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

/// A whole number from a JSON number (`1` or `1.0`).
fn whole(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| {
        v.as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
            .map(|f| f as i64)
    })
}

/// `POST /v3/checkouts/{id}/token`.
pub(crate) fn token(st: &mut State, auth: &Auth, req: &Incoming, id: &str) -> Resp {
    if req.method != Method::POST {
        return method_not_allowed(Area::V3);
    }
    if !auth.has(WRITE_SCOPE) {
        return forbidden(Area::V3);
    }
    let body = match json_object(req) {
        Ok(b) => b,
        Err(resp) => return *resp,
    };
    let mut errors = Map::new();
    let max_uses = match body.get("maxUses") {
        None | Some(Value::Null) => 1,
        Some(v) => match whole(v) {
            Some(n) if n >= 1 => n as u64,
            _ => {
                errors.insert(
                    "maxUses".into(),
                    json!("must be a whole number of at least 1"),
                );
                1
            }
        },
    };
    let ttl = match body.get("ttl") {
        None | Some(Value::Null) => TTL_DEFAULT,
        Some(v) => match whole(v) {
            Some(n) if (1..=TTL_MAX).contains(&n) => n,
            _ => {
                errors.insert(
                    "ttl".into(),
                    json!(format!("must be a whole number from 1 to {TTL_MAX}")),
                );
                TTL_DEFAULT
            }
        },
    };
    let Some(commerce) = commerce_mut(st, auth) else {
        return not_found(Area::V3);
    };
    let Some(checkout) = commerce.checkouts.get(id) else {
        return not_found(Area::V3);
    };
    if !errors.is_empty() {
        return respond::v3_error_detailed(422, "Invalid input", errors);
    }
    if checkout.completed {
        return respond::v3_error(
            422,
            "You cannot create this token after finalizing an order.",
        );
    }
    let token = commerce.create_token(id, max_uses, ttl);
    respond::json(200, &json!({"checkoutToken": token, "meta": {}}))
}

/// `GET /v3/checkouts/settings` (`CheckoutsSettings`: no custom checkout).
pub(crate) fn settings(st: &State, auth: &Auth, req: &Incoming) -> Resp {
    if req.method != Method::GET {
        return method_not_allowed(Area::V3);
    }
    if !auth.has_any(&SETTINGS_SCOPES) {
        return forbidden(Area::V3);
    }
    if !st.stores.contains_key(&auth.store_hash) {
        return not_found(Area::V3);
    }
    respond::json(
        200,
        &json!({"data": custom_checkout_settings(), "meta": {}}),
    )
}

fn custom_checkout_settings() -> Value {
    json!({
        "custom_checkout_script_url": "",
        "order_confirmation_use_custom_checkout_script": false,
        "custom_order_confirmation_script_url": "",
        "custom_checkout_supports_uco_settings": false,
        "custom_checkout_sri_hash": "",
        "custom_order_confirmation_sri_hash": "",
    })
}

/// `GET /v3/checkouts/settings/channels/{id}` (`ChannelCheckoutsSettings`).
pub(crate) fn channel_settings(st: &State, auth: &Auth, req: &Incoming, channel: &str) -> Resp {
    if req.method != Method::GET {
        return method_not_allowed(Area::V3);
    }
    if !auth.has_any(&SETTINGS_SCOPES) {
        return forbidden(Area::V3);
    }
    let Some(store) = st.stores.get(&auth.store_hash) else {
        return not_found(Area::V3);
    };
    let Some(ch) = channel
        .parse::<u64>()
        .ok()
        .and_then(|id| store.spec.channel(id))
    else {
        return respond::v3_error(422, "Invalid channelId");
    };
    let storefront = st
        .channel_site_url(&store.spec, ch)
        .unwrap_or_else(|| st.storefront_url(&store.spec));
    let mut data = json!({
        "checkout_type": "one_page",
        "guest_checkout_type": "allow",
        "guest_checkout_for_existing_accounts": "allow",
        "policy_consent": "none",
        "order_confirmation_contact_email": format!("pedidos@{}", store.spec.domain),
        "is_order_terms_and_conditions_enabled": ch.terms_enabled,
        "order_terms_and_conditions_type": "link",
        "order_terms_and_conditions_link": format!("{storefront}/terminos-y-condiciones/"),
        "order_terms_and_conditions_textarea": "",
        "should_redirect_to_storefront_for_auth": false,
    });
    if let (Some(obj), Value::Object(more)) = (data.as_object_mut(), custom_checkout_settings()) {
        obj.extend(more);
    }
    respond::json(200, &json!({"data": data, "meta": {}}))
}

/// `DELETE /v3/carts/{id}`: the cart and its checkout are gone; its orders and tokens stay.
pub(crate) fn cart(st: &mut State, auth: &Auth, req: &Incoming, id: &str) -> Resp {
    if req.method != Method::DELETE {
        return method_not_allowed(Area::V3);
    }
    if !auth.has(CART_SCOPE) {
        return forbidden(Area::V3);
    }
    match commerce_mut(st, auth).and_then(|c| c.checkouts.remove(id)) {
        Some(_) => respond::no_content(),
        None => not_found(Area::V3),
    }
}
