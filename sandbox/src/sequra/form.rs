//! The identification form (`GET orders/{uuid}/form_v2`, spec §4) as a visible HTML snippet
//! whose "Pagar" button posts to the stand-in's control route, that route
//! (`POST {base}/_control/orders/{uuid}/complete`), and an index page of orders for a person
//! running the demo.
//!
//! Choices [U]: a product the merchant does not have (or an unknown campaign of it) → 404
//! with Rails' page, as for an unknown order; a product it has but not for this order's
//! amount or not today → 409 with a short HTML explanation. `product=tbs` (delegated
//! selection, sequra-remote-configuration.md §5.1) shows a chooser of every method offered for
//! the order, and the IPN then reports the one the shopper chose as `product_code`; `tbs`
//! has no campaigns (the plugins omit it), so `tbs` with a campaign is an unknown campaign:
//! 404, as for any other product.

use std::sync::Arc;

use super::methods::{self, Offer, Unavailable};
use super::notify::{CompleteError, FollowUp};
use super::respond::{self, Resp, esc, euros, js_str};
use super::state::{Deployment, Order, OrderState, State};
use super::{Incoming, Shared, ShopperProfile};

const FORM_STYLE: &str = ".sq-standin{font-family:system-ui,sans-serif;color:#1d1d3b;\
background:#fff;border:2px solid #00c2a3;border-radius:8px;padding:1rem 1.2rem;max-width:32rem;\
margin:1rem auto;box-shadow:0 4px 16px rgba(0,0,0,.12)}.sq-standin h2{margin:.2rem 0 .6rem;\
font-size:1.2rem}.sq-standin small{color:#6b6b8a;font-weight:400}.sq-standin fieldset{border:1px \
solid #d9dce9;border-radius:6px;margin:.7rem 0;padding:.5rem .8rem}.sq-standin label{display:block;\
padding:.2rem 0;cursor:pointer}.sq-standin button{background:#00c2a3;color:#fff;border:0;\
border-radius:6px;padding:.6rem 1.2rem;font-size:1rem;cursor:pointer}.sq-standin \
button.sq-secondary{background:#fff;color:#1d1d3b;border:1px solid #d9dce9;margin-left:.5rem}";

/// The default profile for the solicited shopper's names.
fn profile_for(order: &Order) -> ShopperProfile {
    let customer = order.solicited.get("customer");
    let name = |k: &str| {
        customer
            .and_then(|c| c.get(k))
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_owned()
    };
    ShopperProfile::for_names(&name("given_names"), &name("surnames"))
}

fn message_snippet(id: &str, title: &str, text: &str) -> String {
    format!(
        "<div id=\"{id}\" class=\"sq-identification-iframe sq-standin\"><style>{FORM_STYLE}</style>\
         <h2>seQura <small>(stand-in)</small></h2><p><strong>{}</strong></p><p>{}</p></div>",
        esc(title),
        esc(text),
        id = esc(id),
    )
}

/// `GET orders/{uuid}/form_v2?product=&campaign=&ajax=` for an order the caller may see.
pub(crate) fn render(shared: &Shared, st: &State, order: &Order, req: &Incoming) -> Resp {
    let product = req
        .query_param("product")
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "i1".to_owned());
    let campaign = req.query_param("campaign").filter(|c| !c.is_empty());
    let id = format!("sq-identification-{product}");
    let categories = st
        .merchant(order.host, &order.username, &order.merchant_ref)
        .map(|m| m.methods.clone())
        .unwrap_or_default();
    let now = crate::clock::now();
    let choices: Vec<Offer> = if product == "tbs" {
        if campaign.is_some() {
            return respond::not_found_html();
        }
        let offers = methods::offers(&categories, order.amount, now);
        if offers.is_empty() {
            return respond::html(
                409,
                message_snippet(
                    &id,
                    "No payment method",
                    "seQura offers no method for this order.",
                ),
            );
        }
        offers
    } else {
        match methods::choose(
            &categories,
            &product,
            campaign.as_deref(),
            order.amount,
            now,
        ) {
            Ok(offer) => vec![offer],
            Err(Unavailable::Unknown) => return respond::not_found_html(),
            Err(Unavailable::NotForThisOrder) => {
                return respond::html(
                    409,
                    message_snippet(
                        &id,
                        "Not available",
                        &format!(
                            "{product} is not available for an order of {}.",
                            euros(order.amount)
                        ),
                    ),
                );
            }
        }
    };
    if order.completed.is_some() || order.state != OrderState::Solicited {
        return respond::html(
            200,
            message_snippet(
                &id,
                "Already processed",
                "This order has already been processed by seQura.",
            ),
        );
    }
    // The host's label: SVEA's form is seQura's, served from SVEA's host.
    let env = match order.host.deployment {
        Deployment::Sequra => order.host.env.as_str().to_owned(),
        Deployment::Svea => format!("SVEA {}", order.host.env.as_str()),
    };
    let chooser = if product == "tbs" {
        let mut radios = String::new();
        for (i, o) in choices.iter().enumerate() {
            let value = match &o.campaign {
                Some(c) => format!("{}:{c}", o.product),
                None => o.product.clone(),
            };
            radios.push_str(&format!(
                "<label data-testid=\"payment-option-{p}\"><input type=\"radio\" name=\"method\" \
                 value=\"{v}\"{checked}> {t}</label>",
                p = esc(&o.product),
                v = esc(&value),
                checked = if i == 0 { " checked" } else { "" },
                t = esc(&o.title),
            ));
        }
        format!("<fieldset><legend>Elige cómo pagar</legend>{radios}</fieldset>")
    } else {
        format!(
            "<p class=\"sq-method\" data-testid=\"sq-method\">{}</p>",
            esc(&choices[0].title)
        )
    };
    let default = profile_for(order);
    let profiles = [
        (ShopperProfile::Approve, "Aprobar"),
        (
            ShopperProfile::ReviewApprove,
            "Review Test Approve (en revisión, luego aprobado)",
        ),
        (
            ShopperProfile::ReviewCancel,
            "Review Test Cancel (en revisión, luego cancelado)",
        ),
    ];
    let mut profile_radios = String::new();
    for (p, label) in profiles {
        profile_radios.push_str(&format!(
            "<label><input type=\"radio\" name=\"profile\" value=\"{v}\"{checked}> {l}</label>",
            v = p.as_str(),
            checked = if p == default { " checked" } else { "" },
            l = esc(label),
        ));
    }
    let campaign_value = if product == "tbs" {
        String::new()
    } else {
        choices[0].campaign.clone().unwrap_or_default()
    };
    let control = shared.control_url(&order.uuid);
    let body = format!(
        "<div id=\"{id}\" class=\"sq-identification-iframe sq-standin\" data-order-ref=\"{uuid}\" \
         data-deployment=\"{deployment}\" data-product=\"{product}\" data-campaign=\"{campaign}\"><style>{FORM_STYLE}</style>\
         <form method=\"post\" action=\"{action}\">\
         <h2>seQura <small>(stand-in · {env})</small></h2>{chooser}\
         <p>Importe: <strong>{amount}</strong></p>\
         <input type=\"hidden\" name=\"product\" value=\"{product}\">\
         <input type=\"hidden\" name=\"campaign\" value=\"{campaign}\">\
         <fieldset><legend>Perfil del comprador (sandbox)</legend>{profile_radios}</fieldset>\
         <button type=\"submit\" data-testid=\"sq-pay\">Pagar</button>\
         <button type=\"button\" class=\"sq-secondary\" data-sq-close>Cerrar</button>\
         </form></div>\n\
         <script type=\"text/javascript\">(function(){{var id='{id_js}';\
         window.SequraFormElement=id;var el=document.getElementById(id);var cb=null;\
         window.SequraFormInstance={{show:function(){{if(el){{el.style.display='block';}}}},\
         setCloseCallback:function(f){{cb=f;}},close:function(){{if(el){{el.style.display='none';}}\
         if(cb){{cb();}}}}}};var b=el&&el.querySelector('[data-sq-close]');\
         if(b){{b.addEventListener('click',function(){{window.SequraFormInstance.close();}});}}}})();\
         </script>\n",
        id = esc(&id),
        uuid = esc(&order.uuid),
        product = esc(&product),
        campaign = esc(&campaign_value),
        action = esc(control.as_str()),
        env = esc(&env),
        deployment = order.host.deployment.as_str(),
        amount = esc(&euros(order.amount)),
        id_js = js_str(&id),
    );
    respond::html(200, body)
}

pub(crate) fn page(code: u16, title: &str, body: &str) -> Resp {
    respond::html(
        code,
        format!(
            "<!doctype html><html lang=\"es\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
             <title>{t} · seQura (stand-in)</title><style>{FORM_STYLE}\
             body{{background:#f6f7fc;margin:0;padding:1rem}}table{{border-collapse:collapse;\
             width:100%;font-size:.9rem}}td,th{{text-align:left;padding:.3rem;border-bottom:1px \
             solid #eee}}</style></head><body><div class=\"sq-standin\" style=\"max-width:none\">\
             <h2>{t} <small>seQura (stand-in)</small></h2>{body}</div></body></html>",
            t = esc(title),
        ),
    )
}

/// Everything under `{base}/_control/`.
pub(crate) async fn control(shared: &Arc<Shared>, req: &Incoming, rest: &[&str]) -> Resp {
    match (req.method.as_str(), rest) {
        ("POST", ["orders", uuid, "complete"]) => complete(shared, req, uuid).await,
        ("GET", ["store_integrations"]) => super::integrations::index(shared),
        ("POST", ["store_integrations", id, "send"]) => {
            super::integrations::send(shared, req, id).await
        }
        _ => respond::not_found_html(),
    }
}

/// `POST {base}/_control/orders/{uuid}/complete` with `product`, `campaign`, `profile`
/// (and `method` = `product[:campaign]` from the `tbs` chooser): completes the form, then
/// redirects the browser to `merchant.return_url` (`SQ_PRODUCT_CODE` replaced by the
/// product) when the shop accepted the IPN.
async fn complete(shared: &Arc<Shared>, req: &Incoming, uuid: &str) -> Resp {
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&req.body).unwrap_or_default();
    let field = |k: &str| {
        fields
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let (product, campaign) = match field("method") {
        Some(m) => match m.split_once(':') {
            Some((p, c)) => (p.to_owned(), Some(c.to_owned()).filter(|c| !c.is_empty())),
            None => (m, None),
        },
        None => (
            field("product").unwrap_or_else(|| "i1".to_owned()),
            field("campaign"),
        ),
    };
    if product == "tbs" {
        return page(
            400,
            "Elige un método",
            "<p>Choose a payment method first.</p>",
        );
    }
    let default_profile = shared.lock().order(uuid).map(profile_for);
    let profile = match field("profile") {
        Some(p) => match ShopperProfile::parse(&p) {
            Some(p) => p,
            None => {
                return page(
                    400,
                    "Perfil desconocido",
                    &format!("<p>Unknown shopper profile {}.</p>", esc(&p)),
                );
            }
        },
        None => default_profile.unwrap_or(ShopperProfile::Approve),
    };
    let notices = match shared
        .complete(
            uuid,
            &product,
            campaign.as_deref(),
            profile,
            FollowUp::Spawn,
        )
        .await
    {
        Ok(n) => n,
        Err(CompleteError::UnknownOrder) => return respond::not_found_html(),
        Err(e) => {
            return page(
                409,
                "No se puede completar",
                &format!("<p>{}</p>", esc(&e.to_string())),
            );
        }
    };
    let status = notices.first().map(|n| n.status).unwrap_or(0);
    let (return_url, abort_url) = {
        let st = shared.lock();
        let order = st.order(uuid);
        (
            order.and_then(|o| o.solicited_str("merchant", "return_url")),
            order.and_then(|o| {
                o.solicited_str("merchant", "abort_url")
                    .or_else(|| o.solicited_str("merchant", "edit_url"))
            }),
        )
    };
    let back = abort_url
        .map(|u| format!("<p><a href=\"{}\">Volver a la tienda</a></p>", esc(&u)))
        .unwrap_or_default();
    match status {
        200..=299 => match return_url {
            Some(u) => respond::see_other(&u.replace("SQ_PRODUCT_CODE", &product)),
            None => page(
                200,
                "Pedido enviado",
                "<p>The shop accepted the order. You can close this window.</p>",
            ),
        },
        409 | 410 => page(
            409,
            "La tienda no pudo aceptar el pedido",
            &format!(
                "<p>The shop answered the notification with HTTP {status}; the order was \
                 cancelled.</p>{back}"
            ),
        ),
        0 => page(
            502,
            "La tienda no responde",
            &format!("<p>The shop's notify_url did not answer.</p>{back}"),
        ),
        other => page(
            502,
            "Error de la tienda",
            &format!("<p>The shop answered the notification with HTTP {other}.</p>{back}"),
        ),
    }
}

/// `GET {base}/`: every order, for a person running the demo.
pub(crate) fn index(shared: &Shared) -> Resp {
    let st = shared.lock();
    let mut rows = String::new();
    for o in st.orders.iter().rev() {
        let last = o
            .notifications
            .last()
            .map(|n| format!("{} {} → {}", n.kind, n.state, n.status))
            .unwrap_or_default();
        rows.push_str(&format!(
            "<tr><td>{deployment}</td><td>{env}</td><td>{merchant}</td><td><code>{uuid}</code></td><td>{r1}</td>\
             <td>{amount}</td><td>{product}</td><td>{state}</td><td>{last}</td></tr>",
            deployment = o.host.deployment.name(),
            env = o.host.env.as_str(),
            merchant = esc(&o.merchant_ref),
            uuid = esc(&o.uuid),
            r1 = esc(o.order_ref_1.as_deref().unwrap_or("—")),
            amount = esc(&euros(o.amount)),
            product = esc(o.completed.as_ref().map(|(p, _)| p.as_str()).unwrap_or("—")),
            state = o.state.as_str(),
            last = esc(&last),
        ));
    }
    let body = if rows.is_empty() {
        "<p>No orders yet.</p>".to_owned()
    } else {
        format!(
            "<table><thead><tr><th>Deployment</th><th>Env</th><th>Merchant</th><th>Order</th><th>order_ref_1</th>\
             <th>Amount</th><th>Product</th><th>State</th><th>Last notification</th></tr>\
             </thead><tbody>{rows}</tbody></table>"
        )
    };
    page(200, "Orders", &body)
}
