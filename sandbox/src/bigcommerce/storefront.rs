//! The storefront of each Stencil channel of each store: channel 1's at
//! `{base}/storefront/{hash}/…`, every other one at the root of a loopback listener of its
//! own (`http://127.0.0.1:PORT/…`, started when the channel is added), so each storefront
//! has its own origin as on BigCommerce, where each has its own domain. Plain HTML pages for
//! a person and for browser tests, and the Storefront Checkout API the pages' scripts call
//! (`checkouts.sf.yml`, spec §4.1 (c), §9.2 item 8). Headless channels have none.
//!
//! Pages: the product list (`/`, "Add to cart" posts to `/cart/add`, with `variant_id` for
//! a product's variant), product pages (`/products/{id}`), category listings
//! (`/categories/{id}`), the cart (`/cart`, quantities changed in the page through
//! `/cart/update`), all shaped like Cornerstone's (see [`theme`]), the one-page checkout (`/checkout`, shaped like BigCommerce's Optimized One-Page
//! Checkout: the DOM classes and ids of spec §4.3 step 4), and the order confirmation
//! (`/order-confirmation/{orderId}?t={token}`, also under `/checkout/`). Every value is
//! escaped; the page's `lang` is the channel's locale. The checkout renders the store's
//! Scripts-API scripts whose visibility is `checkout` or `all_pages`, the confirmation
//! `order_confirmation` or `all_pages`, the other pages `storefront` or `all_pages`; enabled
//! ones of the storefront's own channel only, in `head` or before `</body>` per `location`,
//! as BigCommerce writes them:
//! `<script src="…" integrity="…" crossorigin="anonymous" defer></script>`; `script_tag`
//! scripts verbatim. The checkout's own script is one small external file
//! (`/assets/checkout.js`): it toggles store credit through the API and reloads.
//!
//! A cart made on a storefront is on its channel (`channel_id`, in the channel's currency and
//! locale), and so is every order made from it; the checkout's terms and conditions are the
//! channel's. A storefront opens only its own channel's carts and confirms only its own
//! channel's orders.
//!
//! API (JSON, camelCase): `GET /api/storefront/carts`, `GET /api/storefront/checkouts/{id}`,
//! `POST|DELETE /api/storefront/checkouts/{id}/store-credit`. The shopper is identified by
//! cookies, as on BigCommerce: `bc_cart_{hash}` (another channel: `bc_cart_{hash}_{channel}`,
//! since browsers share cookies between the ports of one host) holds the cart id and
//! `bc_store` the last default storefront visited (both `Path=/`). A checkout is only
//! readable with its own cart cookie (404 otherwise). The API also answers at the root,
//! `{base}/api/storefront/…`, for the store in `bc_store`, since BigCommerce's scripts call
//! `/api/storefront/…` on the storefront's host; a channel's own listener answers it at its
//! root for its channel.
//!
//! [U] A channel's listener answers 404 while the channel is deleted, archived or
//! terminated (its shoppers see nothing), and serves again if it comes back.
//!
//! [U] Placing an order natively ("Transferencia bancaria") creates it in Awaiting Payment
//! (7) with `order_source` `www`, redeems applied store credit, deletes the cart and shows
//! the confirmation with a fresh single-use token (BigCommerce uses the session instead).
//! It fires `store/order/created`, `statusUpdated` (0 → 7), `updated` and
//! `store/cart/converted`.

use serde_json::{Value, json};
use warp::http::{HeaderValue, Method};

use super::commerce::{
    Address, CheckoutRec, Commerce, CustomerRec, NATIVE_PAYMENT_ID, NATIVE_PAYMENT_NAME,
    SHIPPING_DESCRIPTION,
};
use super::respond::{self, Resp, esc};
use super::state::{Script, State, now_unix};
use super::{Incoming, Shared, StoreSpec, checkouts, deliveries, fulfilment, order_statuses};

mod theme;

/// Countries the checkout's country selects offer.
pub(crate) const COUNTRIES: [(&str, &str); 5] = [
    ("ES", "España"),
    ("FR", "Francia"),
    ("IT", "Italia"),
    ("PT", "Portugal"),
    ("DE", "Alemania"),
];
/// The store cookie (the store whose storefront was visited last).
const STORE_COOKIE: &str = "bc_store";
/// A natively placed order's confirmation token lives this long.
const NATIVE_TOKEN_TTL: i64 = 3600;

const CHECKOUT_JS: &str = "(function () {\n\
  var box = document.getElementById('useStoreCredit');\n\
  if (!box) { return; }\n\
  box.addEventListener('change', function () {\n\
    box.disabled = true;\n\
    var done = function () { window.location.reload(); };\n\
    fetch(box.getAttribute('data-endpoint'), {\n\
      method: box.checked ? 'POST' : 'DELETE',\n\
      credentials: 'same-origin',\n\
      headers: { 'Accept': 'application/json' }\n\
    }).then(done, done);\n\
  });\n\
})();\n";

const STYLE: &str = "body{margin:0;font-family:system-ui,sans-serif;color:#2d2d2d;background:#fff}\
header{border-bottom:1px solid #e5e5e5;padding:.8rem 1.4rem;display:flex;justify-content:space-between;align-items:center}\
header a{color:#2d2d2d;text-decoration:none;font-weight:600}main{max-width:64rem;margin:0 auto;padding:1.2rem}\
.products{display:grid;grid-template-columns:repeat(auto-fill,minmax(14rem,1fr));gap:1rem;list-style:none;padding:0}\
.card{border:1px solid #e5e5e5;border-radius:4px;padding:1rem}.price{font-weight:600}\
.button{background:#2d2d2d;color:#fff;border:0;border-radius:4px;padding:.55rem 1rem;cursor:pointer;text-decoration:none;display:inline-block}\
.checkout{display:flex;gap:2rem;align-items:flex-start}.checkout-steps{flex:2}.cart-summary{flex:1;border:1px solid #e5e5e5;padding:1rem;border-radius:4px}\
.checkout-step{border-bottom:1px solid #e5e5e5;padding:1rem 0}.form-field{margin:.4rem 0}.form-field label{display:block;font-size:.85rem;color:#757575}\
.form-checklist{list-style:none;padding:0}.form-checklist-item{border:1px solid #e5e5e5;padding:.7rem;margin-bottom:.4rem}\
.form-inlineMessage{color:#c00}table{width:100%;border-collapse:collapse}td{padding:.3rem 0}\
td.num{text-align:right;white-space:nowrap}.fields{display:grid;grid-template-columns:1fr 1fr;gap:0 1rem}\
.fields input,.fields select{width:100%;box-sizing:border-box;padding:.35rem}";

/// Which scripts a page renders.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PageKind {
    Storefront,
    Checkout,
    Confirmation,
}

impl PageKind {
    fn shows(self, visibility: &str) -> bool {
        visibility == "all_pages"
            || matches!(
                (self, visibility),
                (PageKind::Storefront, "storefront")
                    | (PageKind::Checkout, "checkout")
                    | (PageKind::Confirmation, "order_confirmation")
            )
    }
}

/// One storefront: a store's channel and where its pages live.
pub(crate) struct Sf {
    hash: String,
    channel: u64,
    /// `/storefront/{hash}` for channel 1 (on the stand-in's base URL); empty for another
    /// channel, served at the root of its own listener.
    prefix: String,
}

impl Sf {
    fn default_of(hash: &str) -> Self {
        Sf {
            hash: hash.to_owned(),
            channel: 1,
            prefix: format!("/storefront/{hash}"),
        }
    }

    /// The cart cookie. Browsers share cookies across the ports of one host, so each
    /// channel's storefront names its own (channel 1 keeps `bc_cart_{hash}`).
    fn cart_cookie(&self) -> String {
        if self.channel == 1 {
            format!("bc_cart_{}", self.hash)
        } else {
            format!("bc_cart_{}_{}", self.hash, self.channel)
        }
    }

    fn locale(&self, spec: &StoreSpec) -> String {
        spec.channel(self.channel)
            .map(|c| c.locale.clone())
            .unwrap_or_else(|| spec.language.clone())
    }

    /// The storefront's name in its header: the store's for channel 1, the channel's for
    /// another.
    fn name(&self, spec: &StoreSpec) -> String {
        match spec.channel(self.channel) {
            Some(c) if self.channel != 1 => c.name.clone(),
            _ => spec.name.clone(),
        }
    }
}

/// A Scripts-API script as BigCommerce writes it into the page.
fn script_tag(s: &Script) -> String {
    match (s.kind.as_str(), &s.src, &s.html) {
        ("src", Some(src), _) => {
            let integrity = if s.integrity_hashes.is_empty() {
                String::new()
            } else {
                format!(
                    " integrity=\"{}\" crossorigin=\"anonymous\"",
                    esc(&s.integrity_hashes.join(" "))
                )
            };
            let load = match s.load_method.as_str() {
                "defer" => " defer",
                "async" => " async",
                _ => "",
            };
            format!("<script src=\"{}\"{integrity}{load}></script>", esc(src))
        }
        // The merchant's (or app's) own markup, written as given.
        ("script_tag", _, Some(html)) => html.clone(),
        _ => String::new(),
    }
}

/// The page's scripts for `location` (`head` or `footer`), in creation order.
fn scripts(st: &State, sf: &Sf, kind: PageKind, location: &str) -> String {
    st.scripts
        .iter()
        .filter(|s| s.store_hash == sf.hash && s.enabled && s.channel_id == sf.channel)
        .filter(|s| s.location == location && kind.shows(&s.visibility))
        .map(script_tag)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Ten-thousandths as the Spanish shop shows them: `19,95 €`, `1.234,56 €`.
fn price(ten_thousandths: i64) -> String {
    let cents = (ten_thousandths.unsigned_abs() + 50) / 100;
    let sign = if ten_thousandths < 0 { "-" } else { "" };
    let units = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in units.chars().enumerate() {
        if i > 0 && (units.len() - i).is_multiple_of(3) {
            grouped.push('.');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped},{:02} €", cents % 100)
}

struct Page<'a> {
    st: &'a State,
    sf: &'a Sf,
    spec: &'a StoreSpec,
    kind: PageKind,
    title: &'a str,
    cart_count: u64,
}

impl Page<'_> {
    fn render(&self, body: &str, own_script: Option<&str>) -> String {
        let p = esc(&self.sf.prefix);
        let own = own_script
            .map(|src| format!("<script src=\"{}\" defer></script>\n", esc(src)))
            .unwrap_or_default();
        format!(
            "<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
             <title>{title} · {store}</title><style>{STYLE}</style>\n{head}\n</head><body>\
             <header><a href=\"{p}/\">{store}</a>\
             <a class=\"cart-link\" href=\"{p}/cart\">Carrito ({count})</a></header>\
             <main>{body}</main>\n{own}{footer}\n</body></html>",
            lang = esc(&self.sf.locale(self.spec)),
            title = esc(self.title),
            store = esc(&self.sf.name(self.spec)),
            head = scripts(self.st, self.sf, self.kind, "head"),
            count = self.cart_count,
            footer = scripts(self.st, self.sf, self.kind, "footer"),
        )
    }
}

/// The value of a request cookie.
fn cookie(req: &Incoming, name: &str) -> Option<String> {
    req.headers
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_owned())
}

fn with_cookie(mut resp: Resp, name: &str, value: &str, clear: bool) -> Resp {
    let text = if clear {
        format!("{name}=; Path=/; Max-Age=0; SameSite=Lax")
    } else {
        format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax")
    };
    if let Ok(v) = HeaderValue::from_str(&text) {
        resp.headers_mut().append("set-cookie", v);
    }
    resp
}

/// Remembers the storefront for the root API alias.
fn with_store_cookie(resp: Resp, hash: &str) -> Resp {
    with_cookie(resp, STORE_COOKIE, hash, false)
}

/// The shopper's cart id, when the cookie names a cart of this store and channel.
fn cart_of(req: &Incoming, sf: &Sf, commerce: &Commerce) -> Option<String> {
    cookie(req, &sf.cart_cookie()).filter(|id| {
        commerce
            .checkouts
            .get(id)
            .is_some_and(|c| c.channel_id == sf.channel)
    })
}

fn not_found_page() -> Resp {
    respond::html(
        404,
        "<!doctype html><html lang=\"es\"><head><meta charset=\"utf-8\"><title>No encontrado</title>\
         </head><body><h1>Página no encontrada</h1></body></html>"
            .to_owned(),
    )
}

fn form(req: &Incoming) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes(&req.body).unwrap_or_default()
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Everything under `/storefront/{hash}/`: channel 1's storefront.
pub(crate) fn handle(shared: &Shared, req: &Incoming, hash: &str, rest: &[&str]) -> Resp {
    let mut st = shared.lock();
    if !st.stores.contains_key(hash) {
        return not_found_page();
    }
    let sf = Sf::default_of(hash);
    serve(&mut st, req, &sf, rest)
}

/// Everything on the own listener of channel `channel`'s storefront (any channel but 1).
/// A channel gone (deleted, archived), headless, or no longer in the store answers 404.
pub(crate) fn handle_channel(
    shared: &Shared,
    req: &Incoming,
    hash: &str,
    channel: u64,
    segs: &[&str],
) -> Resp {
    let mut st = shared.lock();
    st.requests.push(req.record());
    let live = st
        .stores
        .get(hash)
        .and_then(|s| s.spec.channel(channel))
        .is_some_and(|c| c.is_stencil() && !c.is_gone());
    if !live {
        return not_found_page();
    }
    let sf = Sf {
        hash: hash.to_owned(),
        channel,
        prefix: String::new(),
    };
    serve(&mut st, req, &sf, segs)
}

fn serve(st: &mut State, req: &Incoming, sf: &Sf, rest: &[&str]) -> Resp {
    let resp = match (req.method.clone(), rest) {
        (Method::GET, []) => theme::home(st, req, sf),
        (Method::GET, ["products", id]) => theme::product(st, req, sf, id),
        (Method::GET, ["categories", id]) => theme::category(st, req, sf, id),
        (Method::POST, ["cart", "add"]) => add_to_cart(st, req, sf),
        (Method::GET, ["cart"]) => theme::cart(st, req, sf),
        (Method::POST, ["cart", "update"]) => theme::update(st, req, sf),
        (Method::GET, ["checkout"]) => checkout_page(st, req, sf, None),
        (Method::POST, ["checkout", "addresses"]) => update_addresses(st, req, sf),
        (Method::POST, ["checkout", "order"]) => place_order(st, req, sf),
        (Method::GET, ["order-confirmation", id] | ["checkout", "order-confirmation", id]) => {
            confirmation(st, req, sf, id)
        }
        (Method::GET, ["assets", "checkout.js"]) => return static_js(CHECKOUT_JS),
        (Method::GET, ["assets", "theme.js"]) => return static_js(theme::THEME_JS),
        (_, ["api", "storefront", path @ ..]) => return api(st, req, sf, path),
        _ => return not_found_page(),
    };
    // Only the default storefront shares its host with the root API alias.
    if sf.channel == 1 {
        with_store_cookie(resp, &sf.hash)
    } else {
        resp
    }
}

/// One of the storefront's own static scripts.
fn static_js(body: &str) -> Resp {
    let mut resp = respond::text(200, body);
    resp.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/javascript; charset=utf-8"),
    );
    resp
}

/// `{base}/api/storefront/…`: the API of the store in the `bc_store` cookie.
pub(crate) fn root_api(shared: &Shared, req: &Incoming, rest: &[&str]) -> Resp {
    let mut st = shared.lock();
    match cookie(req, STORE_COOKIE).filter(|h| st.stores.contains_key(h)) {
        Some(hash) => api(&mut st, req, &Sf::default_of(&hash), rest),
        None => api_not_found(),
    }
}

fn page<'a>(
    st: &'a State,
    sf: &'a Sf,
    spec: &'a StoreSpec,
    kind: PageKind,
    title: &'a str,
    cart: Option<&CheckoutRec>,
) -> Page<'a> {
    Page {
        st,
        sf,
        spec,
        kind,
        title,
        cart_count: cart
            .map(|c| c.lines.iter().map(|l| l.quantity).sum())
            .unwrap_or(0),
    }
}

fn add_to_cart(st: &mut State, req: &Incoming, sf: &Sf) -> Resp {
    let form = form(req);
    let product_id = field(&form, "product_id").and_then(|v| v.trim().parse::<u64>().ok());
    let quantity = field(&form, "quantity")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(1);
    let Some(store) = st.stores.get_mut(&sf.hash) else {
        return not_found_page();
    };
    let variant_id = match field(&form, "variant_id").map(str::trim) {
        None | Some("") => None,
        Some(v) => match v.parse::<u64>() {
            Ok(id) => Some(id),
            Err(_) => {
                return respond::html(
                    422,
                    "<!doctype html><p>Variante desconocida.</p>".to_owned(),
                );
            }
        },
    };
    let Some(product) = product_id.and_then(|id| store.spec.products.iter().find(|p| p.id == id))
    else {
        return respond::html(
            422,
            "<!doctype html><p>Producto desconocido.</p>".to_owned(),
        );
    };
    let Some(variant) = product.variant(variant_id) else {
        return respond::html(
            422,
            "<!doctype html><p>Variante desconocida.</p>".to_owned(),
        );
    };
    if !(1..=99).contains(&quantity) {
        return respond::html(422, "<!doctype html><p>Cantidad no válida.</p>".to_owned());
    }
    let id = match cart_of(req, sf, &store.commerce) {
        Some(id) => id,
        None => {
            let Some(channel) = store.spec.channel(sf.channel) else {
                return not_found_page();
            };
            let c = CheckoutRec::on_channel(channel, &store.spec.country_code);
            let id = c.id.clone();
            store.commerce.checkouts.insert(id.clone(), c);
            id
        }
    };
    if let Some(c) = store.commerce.checkouts.get_mut(&id) {
        c.add_variant(product, variant, quantity);
        c.touch();
    }
    let resp = respond::see_other(&format!("{}/cart", sf.prefix));
    with_cookie(resp, &sf.cart_cookie(), &id, false)
}

/// The lines and totals of a cart, as a table.
fn summary(c: &CheckoutRec, customer: Option<&CustomerRec>) -> String {
    let t = c.totals();
    let mut rows = String::new();
    for l in &c.lines {
        rows.push_str(&format!(
            "<tr class=\"line\"><td>{q} × {name}</td><td class=\"num\">{ext}</td></tr>",
            q = l.quantity,
            name = esc(&l.name),
            ext = price(l.extended()),
        ));
    }
    let credit = c.credit_used(customer);
    let credit_row = if credit > 0 {
        format!(
            "<tr class=\"store-credit\"><td>Saldo de la tienda</td><td class=\"num\">{}</td></tr>",
            price(-credit)
        )
    } else {
        String::new()
    };
    format!(
        "<table class=\"cart-lines\">{rows}\
         <tr><td>Subtotal</td><td class=\"num\" id=\"cart-subtotal\">{sub}</td></tr>\
         <tr><td>Envío</td><td class=\"num\">{ship}</td></tr>\
         <tr><td>IVA incluido</td><td class=\"num\">{tax}</td></tr>\
         <tr><td><strong>Total</strong></td><td class=\"num\" id=\"cart-total\"><strong>{total}</strong></td></tr>\
         {credit_row}\
         <tr><td>Total a pagar</td><td class=\"num\" id=\"cart-outstanding\">{outstanding}</td></tr></table>",
        sub = price(t.subtotal),
        ship = price(t.shipping),
        tax = price(t.tax()),
        total = price(t.grand_total),
        outstanding = price(t.grand_total - credit),
    )
}

fn country_select(name: &str, selected: &str) -> String {
    let mut options = String::new();
    for (code, label) in COUNTRIES {
        options.push_str(&format!(
            "<option value=\"{code}\"{sel}>{label}</option>",
            sel = if code == selected { " selected" } else { "" },
        ));
    }
    format!(
        "<div class=\"form-field\"><label for=\"{name}\">País</label>\
         <select id=\"{name}\" name=\"{name}\" data-test=\"{name}-select\">{options}</select></div>"
    )
}

fn address_fields(prefix: &str, a: &Address) -> String {
    let input = |field: &str, label: &str, value: &str| {
        format!(
            "<div class=\"form-field\"><label for=\"{prefix}_{field}\">{label}</label>\
             <input type=\"text\" id=\"{prefix}_{field}\" name=\"{prefix}_{field}\" value=\"{}\"></div>",
            esc(value)
        )
    };
    let fields = [
        input("first_name", "Nombre", &a.first_name),
        input("last_name", "Apellidos", &a.last_name),
        input("address1", "Dirección", &a.address1),
        input("city", "Ciudad", &a.city),
        input("state", "Provincia", &a.state),
        input("postal_code", "Código postal", &a.postal_code),
        country_select(&format!("{prefix}_country"), &a.country_code),
        input("phone", "Teléfono", &a.phone),
    ]
    .concat();
    format!("<div class=\"fields\">{fields}</div>")
}

fn checkout_page(st: &State, req: &Incoming, sf: &Sf, error: Option<&str>) -> Resp {
    let Some(store) = st.stores.get(&sf.hash) else {
        return not_found_page();
    };
    if let Some(id) = req.query_param("cart") {
        // A cart of another storefront is not this storefront's to open.
        if store
            .commerce
            .checkouts
            .get(&id)
            .is_none_or(|c| c.channel_id != sf.channel)
        {
            return not_found_page();
        }
        let resp = respond::see_other(&format!("{}/checkout", sf.prefix));
        return with_cookie(resp, &sf.cart_cookie(), &id, false);
    }
    let Some(c) =
        cart_of(req, sf, &store.commerce).and_then(|id| store.commerce.checkouts.get(&id))
    else {
        return respond::see_other(&format!("{}/cart", sf.prefix));
    };
    let p = esc(&sf.prefix);
    let channel = store.spec.channel(sf.channel);
    let customer = store.commerce.customer_of(c);
    let customer_step = match customer {
        Some(cu) => format!(
            "<p>Has iniciado sesión como <strong id=\"customer-name\">{} {}</strong></p>\
             <p class=\"customer-email\" id=\"customer-email\">{}</p>",
            esc(&cu.first_name),
            esc(&cu.last_name),
            esc(&cu.email)
        ),
        None => format!(
            "<div class=\"form-field\"><label for=\"email\">Correo electrónico</label>\
             <input type=\"email\" id=\"email\" name=\"email\" form=\"checkout-address-form\" value=\"{}\"></div>",
            esc(&c.email)
        ),
    };
    let shipping_step = if c.has_physical() {
        format!(
            "<section class=\"checkout-step checkout-step--shipping\"><h2>Envío</h2>{}\
             <p class=\"shipping-option\">{} · {}</p></section>",
            address_fields("shipping", &c.shipping),
            esc(SHIPPING_DESCRIPTION),
            price(c.totals().shipping),
        )
    } else {
        String::new()
    };
    let credit = match customer {
        Some(cu) if cu.store_credit > 0 => format!(
            "<div class=\"form-field form-field--storeCredit\">\
             <input type=\"checkbox\" id=\"useStoreCredit\" name=\"useStoreCredit\" data-endpoint=\"{p}/api/storefront/checkouts/{id}/store-credit\"{checked}>\
             <label for=\"useStoreCredit\">Usar mi saldo de la tienda ({amount})</label></div>",
            id = esc(&c.id),
            checked = if c.store_credit_applied {
                " checked"
            } else {
                ""
            },
            amount = price(cu.store_credit),
        ),
        _ => String::new(),
    };
    let terms = if channel.is_some_and(|ch| ch.terms_enabled) {
        format!(
            "<fieldset class=\"form-fieldset checkout-terms\"><legend>Términos y condiciones</legend>\
             <input type=\"checkbox\" id=\"terms\" name=\"terms\" value=\"on\">\
             <label for=\"terms\">Acepto los <a href=\"{}/terminos-y-condiciones/\" target=\"_blank\" rel=\"noopener\">términos y condiciones</a></label></fieldset>",
            esc(&channel
                .and_then(|ch| st.channel_site_url(&store.spec, ch))
                .unwrap_or_else(|| st.storefront_url(&store.spec)))
        )
    } else {
        String::new()
    };
    let error = error
        .map(|e| {
            format!(
                "<p class=\"form-inlineMessage\" role=\"alert\">{}</p>",
                esc(e)
            )
        })
        .unwrap_or_default();
    let body = format!(
        "<h1>Finalizar compra</h1><div class=\"checkout\" data-checkout-id=\"{id}\"><div class=\"checkout-steps\">\
         <section class=\"checkout-step checkout-step--customer\"><h2>Cliente</h2>{customer_step}</section>\
         <form method=\"post\" action=\"{p}/checkout/addresses\" id=\"checkout-address-form\">\
         {shipping_step}\
         <section class=\"checkout-step checkout-step--billing\"><h2>Facturación</h2>{billing}</section>\
         <button class=\"button\" type=\"submit\" id=\"checkout-shipping-continue\">Continuar</button></form>\
         <div class=\"checkout-step checkout-step--payment\"><h2>Pago</h2>{error}\
         <form method=\"post\" action=\"{p}/checkout/order\" id=\"checkout-payment-form\" class=\"checkout-form\">\
         {credit}\
         <ul class=\"form-checklist\"><li class=\"form-checklist-item form-checklist-item--selected\">\
         <input type=\"radio\" class=\"form-checklist-checkbox\" name=\"paymentProviderRadio\" id=\"radio-{pid}\" value=\"{pid}\" checked>\
         <label for=\"radio-{pid}\">{pname}</label></li></ul>\
         {terms}\
         <button id=\"checkout-payment-continue\" class=\"button button--primary\" type=\"submit\">Realizar pedido</button>\
         </form></div></div>\
         <aside class=\"cart-summary\"><h2>Resumen del pedido</h2>{summary}</aside></div>",
        id = esc(&c.id),
        billing = address_fields("billing", &c.billing),
        pid = NATIVE_PAYMENT_ID,
        pname = esc(NATIVE_PAYMENT_NAME),
        summary = summary(c, customer),
    );
    let own = format!("{}/assets/checkout.js", sf.prefix);
    let html = page(
        st,
        sf,
        &store.spec,
        PageKind::Checkout,
        "Finalizar compra",
        Some(c),
    )
    .render(&body, Some(&own));
    respond::html(if error.is_empty() { 200 } else { 422 }, html)
}

/// Applies the posted `{prefix}_…` fields to an address; whether anything changed.
fn apply_address(form: &[(String, String)], prefix: &str, a: &mut Address) -> bool {
    let before = a.clone();
    let get = |name: &str| field(form, &format!("{prefix}_{name}")).map(|v| v.trim().to_owned());
    if let Some(v) = get("first_name") {
        a.first_name = v;
    }
    if let Some(v) = get("last_name") {
        a.last_name = v;
    }
    if let Some(v) = get("address1") {
        a.address1 = v;
    }
    if let Some(v) = get("city") {
        a.city = v;
    }
    if let Some(v) = get("state") {
        a.state = v;
    }
    if let Some(v) = get("postal_code") {
        a.postal_code = v;
    }
    if let Some(v) = get("phone") {
        a.phone = v;
    }
    if let Some(v) = get("country")
        .map(|c| c.to_ascii_uppercase())
        .filter(|c| COUNTRIES.iter().any(|(code, _)| code == c))
    {
        a.country_code = v;
    }
    *a != before
}

fn update_addresses(st: &mut State, req: &Incoming, sf: &Sf) -> Resp {
    let form = form(req);
    let Some(store) = st.stores.get_mut(&sf.hash) else {
        return not_found_page();
    };
    let Some(id) = cart_of(req, sf, &store.commerce) else {
        return respond::see_other(&format!("{}/cart", sf.prefix));
    };
    if let Some(c) = store.commerce.checkouts.get_mut(&id) {
        let mut changed = apply_address(&form, "shipping", &mut c.shipping);
        changed |= apply_address(&form, "billing", &mut c.billing);
        if let Some(email) = field(&form, "email")
            .map(str::trim)
            .filter(|e| e.contains('@'))
            && email != c.email
        {
            c.email = email.to_owned();
            c.billing.email = email.to_owned();
            c.shipping.email = email.to_owned();
            changed = true;
        }
        if changed {
            c.touch();
        }
    }
    respond::see_other(&format!("{}/checkout", sf.prefix))
}

fn place_order(st: &mut State, req: &Incoming, sf: &Sf) -> Resp {
    let form = form(req);
    let (id, terms_enabled) = {
        let Some(store) = st.stores.get(&sf.hash) else {
            return not_found_page();
        };
        let Some(id) = cart_of(req, sf, &store.commerce) else {
            return respond::see_other(&format!("{}/cart", sf.prefix));
        };
        let terms = store
            .spec
            .channel(sf.channel)
            .is_some_and(|c| c.terms_enabled);
        (id, terms)
    };
    if field(&form, "paymentProviderRadio") != Some(NATIVE_PAYMENT_ID) {
        return checkout_page(st, req, sf, Some("Elige un método de pago."));
    }
    if terms_enabled && field(&form, "terms") != Some("on") {
        return checkout_page(
            st,
            req,
            sf,
            Some("Debes aceptar los términos y condiciones."),
        );
    }
    let Some((order_id, token)) = pay_otherwise(st, &sf.hash, &id) else {
        return checkout_page(st, req, sf, Some("Tu carrito está vacío."));
    };
    let resp = respond::see_other(&format!(
        "{}/checkout/order-confirmation/{order_id}?t={token}",
        sf.prefix
    ));
    with_cookie(resp, &sf.cart_cookie(), "", true)
}

/// The shopper pays the checkout with the store's own offline method ("Transferencia
/// bancaria"), as BigCommerce's checkout does for any provider but seQura: a new order in
/// Awaiting Payment (7) from the cart as it is now, its store credit redeemed, the cart
/// converted (deleted: `GET /v3/checkouts/{id}` then answers 404, as the contract says the
/// cart "is no longer accessible and has been deleted"), and the webhooks. The order's
/// id and a fresh confirmation token; `None` for an unknown or empty cart.
///
/// [U] Whether BigCommerce's checkout reuses an Incomplete order an app made with
/// `POST /v3/checkouts/{id}/orders` is not documented: by default it makes an order of its
/// own and the app's Incomplete order is left as it was; with `reuse_incomplete_orders` the
/// checkout's Incomplete order (its `order_id`) is the one paid. Either way two orders, or
/// one order twice, could be paid: an app must be safe in both.
pub(crate) fn pay_otherwise(
    st: &mut State,
    hash: &str,
    checkout_id: &str,
) -> Option<(u64, String)> {
    let reuse = st.reuse_incomplete_orders;
    let store = st.stores.get_mut(hash)?;
    let checkout = store.commerce.checkouts.get(checkout_id)?;
    let zone = checkouts::zone_for(&store.spec, &checkout.shipping.country_code);
    let made = checkout.order_id;
    let commerce = &mut store.commerce;
    let incomplete = made.filter(|id| {
        reuse
            && commerce
                .orders
                .get(id)
                .is_some_and(|o| o.status_id == 0 && !o.is_deleted)
    });
    let order_id = match incomplete {
        Some(id) => id,
        None => commerce.create_order(checkout_id, 0, "www", zone).ok()?,
    };
    if let Some(o) = commerce.orders.get_mut(&order_id) {
        o.status_id = 7;
        o.date_modified = now_unix();
        o.payment_method = NATIVE_PAYMENT_NAME.to_owned();
    }
    commerce.place(order_id);
    let token = commerce.create_token(checkout_id, 1, NATIVE_TOKEN_TTL);
    commerce.checkouts.remove(checkout_id);
    // [U] As the storefront does: the order is created Incomplete, then paid (offline: 7),
    // and the cart is converted.
    if incomplete.is_none() {
        deliveries::emit(
            st,
            hash,
            "store/order/created",
            fulfilment::order_data(order_id),
        );
    }
    fulfilment::emit_status(st, hash, order_id, 0, 7);
    fulfilment::emit_updated(st, hash, order_id);
    deliveries::emit(
        st,
        hash,
        "store/cart/converted",
        json!({"type": "cart", "id": checkout_id, "orderId": order_id}),
    );
    Some((order_id, token))
}

fn confirmation(st: &mut State, req: &Incoming, sf: &Sf, id: &str) -> Resp {
    let token = req.query_param("t").unwrap_or_default();
    // An order is confirmed on the storefront it was made on only.
    let order_id = id.parse::<u64>().ok().filter(|id| {
        st.stores
            .get(&sf.hash)
            .and_then(|s| s.commerce.orders.get(id))
            .is_some_and(|o| o.channel_id == sf.channel)
    });
    let granted = match (order_id, st.stores.get_mut(&sf.hash)) {
        (Some(order_id), Some(store)) if !token.is_empty() => {
            store.commerce.redeem_token(&token, order_id)
        }
        _ => false,
    };
    let Some(store) = st.stores.get(&sf.hash) else {
        return not_found_page();
    };
    let order = order_id.and_then(|id| store.commerce.orders.get(&id));
    let (status, body) = match order {
        Some(o) if granted => {
            let label = order_statuses::label(&store.spec, o.status_id).unwrap_or_default();
            let (total, _) = o.total();
            (
                200,
                format!(
                    "<h1>Thank you for your order!</h1><p>¡Gracias por tu compra!</p>\
                     <div class=\"card order-confirmation\">\
                     <p>Pedido n.º <strong id=\"order-number\">{id}</strong></p>\
                     <p>Estado: <span id=\"order-status\" data-status-id=\"{sid}\">{label}</span></p>\
                     <p>Total: <span id=\"order-total\">{total}</span></p>\
                     <p>Te enviaremos un correo a {email}.</p></div>",
                    id = o.id,
                    sid = o.status_id,
                    label = esc(&label),
                    total = price(total),
                    email = esc(&o.billing.email),
                ),
            )
        }
        _ => (
            403,
            "<h1>Access denied</h1><p class=\"form-inlineMessage\">Este enlace de confirmación \
             no es válido o ha caducado.</p>"
                .to_owned(),
        ),
    };
    let html = page(
        st,
        sf,
        &store.spec,
        PageKind::Confirmation,
        "Confirmación del pedido",
        None,
    )
    .render(&body, None);
    respond::html(status, html)
}

// ---------------------------------------------------------------------------------------
// Storefront Checkout API.

fn api_not_found() -> Resp {
    respond::v3_error(404, "Checkout not found")
}

fn api(st: &mut State, req: &Incoming, sf: &Sf, path: &[&str]) -> Resp {
    let Some(store) = st.stores.get_mut(&sf.hash) else {
        return api_not_found();
    };
    let commerce = &mut store.commerce;
    let cart = cart_of(req, sf, commerce);
    match (req.method.clone(), path) {
        (Method::GET, ["carts"]) => {
            let carts: Vec<Value> = cart
                .and_then(|id| commerce.checkouts.get(&id))
                .map(|c| vec![c.sf_cart_json()])
                .unwrap_or_default();
            respond::json(200, &Value::Array(carts))
        }
        (Method::GET, ["checkouts", id]) if cart.as_deref() == Some(*id) => {
            match commerce.checkouts.get(*id) {
                Some(c) => respond::json(200, &c.sf_json(commerce.customer_of(c))),
                None => api_not_found(),
            }
        }
        (Method::POST | Method::DELETE, ["checkouts", id, "store-credit"])
            if cart.as_deref() == Some(*id) =>
        {
            let apply = req.method == Method::POST;
            let has_credit = commerce
                .checkouts
                .get(*id)
                .and_then(|c| commerce.customer_of(c))
                .is_some_and(|cu| cu.store_credit > 0);
            if apply && !has_credit {
                return respond::json(
                    400,
                    &json!({
                        "status": 400,
                        "title": "Store credit can only be applied by a signed-in customer who has some.",
                        "type": respond::ERROR_TYPE,
                    }),
                );
            }
            let Some(c) = commerce.checkouts.get_mut(*id) else {
                return api_not_found();
            };
            if c.store_credit_applied != apply {
                c.store_credit_applied = apply;
                c.touch();
            }
            match commerce.checkouts.get(*id) {
                Some(c) => respond::json(200, &c.sf_json(commerce.customer_of(c))),
                None => api_not_found(),
            }
        }
        (Method::GET | Method::POST | Method::DELETE, ["checkouts", ..]) => api_not_found(),
        _ => respond::v3_error(404, "The requested resource was not found."),
    }
}

/// Used by the control helpers: the moment a token stops being usable.
pub(crate) fn expire_tokens(commerce: &mut Commerce) {
    let past = now_unix() - 1;
    for t in commerce.tokens.values_mut() {
        t.expires_at = past;
    }
}
