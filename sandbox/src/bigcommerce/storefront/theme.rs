//! The storefront's catalogue and cart pages, shaped like BigCommerce's Cornerstone theme (the
//! markup a storefront script reads prices from and places widgets next to):
//!
//! - product page `/products/{id}` (Cornerstone `components/products/product-view.html` and
//!   `price.html`): `.productView[data-entity-id]`, `.productView-price` holding
//!   `span.price[data-product-price-with-tax]` ("49,95 €"), the `product_below_price` region
//!   as `div[data-content-region="product_below_price"]`, and the add-to-cart form with
//!   `input[name="product_id"]`; a product with variants has `select[name="variant_id"]
//!   [data-product-variant]`, and choosing one writes that variant's price into
//!   `[data-product-price-with-tax]` (as Cornerstone's product-details script does after its
//!   option request);
//! - listings `/` and `/categories/{id}` (`card.html`): `ul.productGrid > li.product >
//!   article.card[data-entity-id]` with the price in `.card-text[data-test-info-type="price"]`
//!   and the `product_item_below_price` region;
//! - the widget regions only one kind of page has (Cornerstone's `{{{region name="…"}}}`):
//!   `home_below_menu` on `/` (`pages/home.html`), `category_below_header` under a category's
//!   heading (`pages/category.html`), `product_below_content` under the product view
//!   (`pages/product.html`), `cart_below_totals` under the cart (`pages/cart.html`);
//! - cart `/cart` (`cart.html`, `cart/totals.html`): lines in `[data-cart-content]` with
//!   quantity inputs `input.cart-item-qty-input[data-cart-itemid]` (and `-`/`+` buttons
//!   `button[data-action="dec"|"inc"][data-cart-itemid]`), totals in `[data-cart-totals]`
//!   with the grand total in `.cart-total-grandTotal`. A quantity change posts to
//!   `/cart/update` and, as Cornerstone's cart script does, replaces the inner HTML of
//!   `[data-cart-content]` and `[data-cart-totals]` with the re-rendered ones: whatever
//!   another script put inside them is gone and must be drawn again.
//!
//! Prices are the Spanish shop's, `1.234,56 €`. The pages' behaviour is one external static
//! script, `/assets/theme.js` (no inline script: a page's only scripts are its own files and
//! the store's Scripts-API scripts). [U] BigCommerce's real URLs are slugs
//! (`/pantalon-chino/`, `/ropa/`), its cart update goes through `/remote/v1/cart/update`
//! and its variant prices through an option-change request; the stand-in keeps ids and one
//! endpoint of its own.

use serde_json::json;

use super::super::CatalogProduct;
use super::super::commerce::CheckoutRec;
use super::{
    Incoming, PageKind, Resp, Sf, State, cart_of, esc, field, form, not_found_page, page, price,
    respond,
};

pub(super) const THEME_JS: &str = "(function () {\n\
  'use strict';\n\
  function on(el, sel) { return el && el.closest ? el.closest(sel) : null; }\n\
  function setQuantity(id, quantity) {\n\
    var body = new URLSearchParams();\n\
    body.set('item_id', id);\n\
    body.set('quantity', String(quantity));\n\
    var root = document.querySelector('[data-cart-root]');\n\
    fetch(root.getAttribute('data-update-endpoint'), {\n\
      method: 'POST', credentials: 'same-origin', body: body,\n\
      headers: { 'Accept': 'application/json' }\n\
    }).then(function (r) { return r.ok ? r.json() : null; }).then(function (data) {\n\
      if (!data) { return; }\n\
      var content = document.querySelector('[data-cart-content]');\n\
      var totals = document.querySelector('[data-cart-totals]');\n\
      if (content) { content.innerHTML = data.content; }\n\
      if (totals) { totals.innerHTML = data.totals; }\n\
    }, function () {});\n\
  }\n\
  document.addEventListener('change', function (e) {\n\
    var t = e.target;\n\
    var select = on(t, 'select[data-product-variant]');\n\
    if (select) {\n\
      var option = select.options[select.selectedIndex];\n\
      var view = on(select, '.productView');\n\
      var shown = view && view.querySelector('[data-product-price-with-tax]');\n\
      if (option && shown) { shown.textContent = option.getAttribute('data-price'); }\n\
      return;\n\
    }\n\
    var qty = on(t, 'input.cart-item-qty-input');\n\
    if (qty && /^[0-9]+$/.test(qty.value)) {\n\
      setQuantity(qty.getAttribute('data-cart-itemid'), parseInt(qty.value, 10));\n\
    }\n\
  });\n\
  document.addEventListener('click', function (e) {\n\
    var b = on(e.target, 'button[data-action][data-cart-itemid]');\n\
    if (!b) { return; }\n\
    e.preventDefault();\n\
    var id = b.getAttribute('data-cart-itemid');\n\
    var input = document.querySelector('input.cart-item-qty-input[data-cart-itemid=\"' + id + '\"]');\n\
    if (!input) { return; }\n\
    var n = parseInt(input.value, 10) + (b.getAttribute('data-action') === 'inc' ? 1 : -1);\n\
    if (n >= 1 && n <= 99) { setQuantity(id, n); }\n\
  });\n\
})();\n";

/// The theme script's URL on this storefront.
fn theme_js(sf: &Sf) -> String {
    format!("{}/assets/theme.js", sf.prefix)
}

/// `49.95`, as Cornerstone's `data-product-price` holds it.
fn decimal(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents.rem_euclid(100))
}

fn cents_price(cents: i64) -> String {
    price(cents.saturating_mul(100))
}

/// One product card (Cornerstone `card.html`), with an add-to-cart form of its default
/// variant.
fn card(sf: &Sf, p: &CatalogProduct) -> String {
    let pre = esc(&sf.prefix);
    let (_, cents) = p.variant(None).unwrap_or((0, p.price_cents));
    format!(
        "<li class=\"product\"><article class=\"card\" data-test=\"card-{id}\" data-event-type=\"list\" \
         data-entity-id=\"{id}\" data-name=\"{name}\" data-product-price=\"{dec}\">\
         <div class=\"card-body\"><h3 class=\"card-title\"><a href=\"{pre}/products/{id}\">{name}</a></h3>\
         <p class=\"card-text muted\" data-test-info-type=\"sku\">{sku}{digital}</p>\
         <div class=\"card-text\" data-test-info-type=\"price\">\
         <div class=\"price-section price-section--withTax price--withTax\">\
         <span data-product-price-with-tax class=\"price\">{price}</span></div></div>\
         <div data-content-region=\"product_item_below_price\"></div>\
         <form method=\"post\" action=\"{pre}/cart/add\">\
         <input type=\"hidden\" name=\"product_id\" value=\"{id}\">\
         <label>Cantidad <input type=\"number\" name=\"quantity\" value=\"1\" min=\"1\" max=\"99\"></label> \
         <button class=\"button\" type=\"submit\">Add to cart</button></form></div></article></li>",
        id = p.id,
        name = esc(&p.name),
        dec = decimal(cents),
        sku = esc(&p.sku),
        digital = if p.digital { " · descarga" } else { "" },
        price = cents_price(cents),
    )
}

fn grid<'a>(sf: &Sf, products: impl Iterator<Item = &'a CatalogProduct>) -> String {
    let cards: String = products.map(|p| card(sf, p)).collect();
    format!("<ul class=\"productGrid products\">{cards}</ul>")
}

/// `/`: every product.
pub(super) fn home(st: &State, req: &Incoming, sf: &Sf) -> Resp {
    let Some(store) = st.stores.get(&sf.hash) else {
        return not_found_page();
    };
    let cart = cart_of(req, sf, &store.commerce).and_then(|id| store.commerce.checkouts.get(&id));
    let body = format!(
        "<div data-content-region=\"home_below_menu\"></div><h1>Productos</h1>{}",
        grid(sf, store.spec.products.iter())
    );
    let html = page(st, sf, &store.spec, PageKind::Storefront, "Productos", cart)
        .render(&body, Some(&theme_js(sf)));
    respond::html(200, html)
}

/// `/categories/{id}`: the products of a category (assigned to it), 404 for an unknown one.
pub(super) fn category(st: &State, req: &Incoming, sf: &Sf, id: &str) -> Resp {
    let Some(store) = st.stores.get(&sf.hash) else {
        return not_found_page();
    };
    let Some(cat) = id
        .parse::<u64>()
        .ok()
        .and_then(|id| store.spec.categories.iter().find(|c| c.id == id))
    else {
        return not_found_page();
    };
    let cart = cart_of(req, sf, &store.commerce).and_then(|id| store.commerce.checkouts.get(&id));
    let products = store
        .spec
        .products
        .iter()
        .filter(|p| p.categories.contains(&cat.id));
    let body = format!(
        "<h1 class=\"page-heading\" data-category-id=\"{id}\">{name}</h1>\
         <div data-content-region=\"category_below_header\"></div>{grid}",
        id = cat.id,
        name = esc(&cat.name),
        grid = grid(sf, products),
    );
    let html = page(st, sf, &store.spec, PageKind::Storefront, &cat.name, cart)
        .render(&body, Some(&theme_js(sf)));
    respond::html(200, html)
}

/// `/products/{id}`: the product view.
pub(super) fn product(st: &State, req: &Incoming, sf: &Sf, id: &str) -> Resp {
    let Some(store) = st.stores.get(&sf.hash) else {
        return not_found_page();
    };
    let Some(p) = id
        .parse::<u64>()
        .ok()
        .and_then(|id| store.spec.products.iter().find(|p| p.id == id))
    else {
        return not_found_page();
    };
    let cart = cart_of(req, sf, &store.commerce).and_then(|id| store.commerce.checkouts.get(&id));
    let pre = esc(&sf.prefix);
    let (_, cents) = p.variant(None).unwrap_or((0, p.price_cents));
    let categories: Vec<&str> = p
        .categories
        .iter()
        .filter_map(|c| store.spec.categories.iter().find(|k| k.id == *c))
        .map(|c| c.name.as_str())
        .collect();
    let options = if p.variants.is_empty() {
        String::new()
    } else {
        let opts: String = p
            .variants
            .iter()
            .map(|v| {
                format!(
                    "<option value=\"{id}\" data-price=\"{price}\">{label}</option>",
                    id = v.id,
                    price = cents_price(v.price_cents),
                    label = esc(&v.label),
                )
            })
            .collect();
        format!(
            "<div class=\"form-field\" data-product-attribute=\"set-select\">\
             <label class=\"form-label\" for=\"variant_id\">Opción</label>\
             <select class=\"form-select\" id=\"variant_id\" name=\"variant_id\" data-product-variant>{opts}</select></div>"
        )
    };
    let body = format!(
        "<div class=\"productView\" data-event-type=\"product\" data-entity-id=\"{id}\" \
         data-name=\"{name}\" data-product-category=\"{cats}\" data-product-price=\"{dec}\">\
         <section class=\"productView-details product-data\"><div class=\"productView-product\">\
         <h1 class=\"productView-title\">{name}</h1>\
         <div class=\"productView-price\"><div class=\"price-section price-section--withTax price--withTax\">\
         <span class=\"price-label\"></span>\
         <span data-product-price-with-tax class=\"price\">{price}</span></div></div>\
         <div data-content-region=\"product_below_price\"></div>\
         <dl class=\"productView-info\"><dt class=\"productView-info-name sku-label\">SKU:</dt>\
         <dd class=\"productView-info-value\" data-product-sku>{sku}</dd></dl></div></section>\
         <section class=\"productView-details product-options\"><div class=\"productView-options\">\
         <form class=\"form\" method=\"post\" action=\"{pre}/cart/add\" data-cart-item-add>\
         <input type=\"hidden\" name=\"action\" value=\"add\">\
         <input type=\"hidden\" name=\"product_id\" value=\"{id}\">{options}\
         <div class=\"form-field form-field--increments\"><label class=\"form-label\" for=\"qty\">Cantidad</label>\
         <input class=\"form-input form-input--incrementTotal\" id=\"qty\" type=\"number\" name=\"quantity\" value=\"1\" min=\"1\" max=\"99\"></div>\
         <input id=\"form-action-addToCart\" class=\"button button--primary\" type=\"submit\" value=\"Add to cart\">\
         </form></div></section></div><div data-content-region=\"product_below_content\"></div>",
        id = p.id,
        name = esc(&p.name),
        cats = esc(&categories.join(", ")),
        dec = decimal(cents),
        price = cents_price(cents),
        sku = esc(&p.sku),
    );
    let html = page(st, sf, &store.spec, PageKind::Storefront, &p.name, cart)
        .render(&body, Some(&theme_js(sf)));
    respond::html(200, html)
}

/// The cart's lines with their quantity controls (`[data-cart-content]`'s inside).
fn cart_content(st: &State, sf: &Sf, c: &CheckoutRec) -> String {
    let spec = st.stores.get(&sf.hash).map(|s| &s.spec);
    let mut rows = String::new();
    for l in &c.lines {
        let label = spec
            .and_then(|s| s.products.iter().find(|p| p.id == l.product_id))
            .and_then(|p| p.variants.iter().find(|v| v.id == l.variant_id))
            .map(|v| format!(" ({})", esc(&v.label)))
            .unwrap_or_default();
        rows.push_str(&format!(
            "<tr class=\"cart-item\" data-item-row data-cart-itemid=\"{id}\" data-product-id=\"{pid}\">\
             <td class=\"cart-item-title\">{name}{label}</td>\
             <td class=\"cart-item-value\">{unit}</td>\
             <td class=\"cart-item-quantity\">\
             <button type=\"button\" class=\"button button--icon\" data-action=\"dec\" data-cart-itemid=\"{id}\" aria-label=\"Menos\">−</button>\
             <input class=\"form-input form-input--incrementTotal cart-item-qty-input\" type=\"number\" min=\"1\" max=\"99\" \
             name=\"qty-{id}\" value=\"{q}\" data-cart-itemid=\"{id}\" aria-label=\"Cantidad\">\
             <button type=\"button\" class=\"button button--icon\" data-action=\"inc\" data-cart-itemid=\"{id}\" aria-label=\"Más\">+</button></td>\
             <td class=\"cart-item-total num\"><strong class=\"cart-item-value\">{ext}</strong></td></tr>",
            id = esc(&l.id),
            pid = l.product_id,
            name = esc(&l.name),
            unit = price(l.unit),
            q = l.quantity,
            ext = price(l.extended()),
        ));
    }
    format!("<table class=\"cart\"><tbody class=\"cart-list\">{rows}</tbody></table>")
}

/// The totals (`[data-cart-totals]`'s inside, Cornerstone `cart/totals.html`).
fn cart_totals(c: &CheckoutRec) -> String {
    let t = c.totals();
    let row = |label: &str, class: &str, value: i64| {
        format!(
            "<li class=\"cart-total\"><div class=\"cart-total-label\"><strong>{label}:</strong></div>\
             <div class=\"cart-total-value{class}\"><span>{}</span></div></li>",
            price(value)
        )
    };
    format!(
        "<ul class=\"cart-totals\">{}{}{}{}</ul>",
        row("Subtotal", "", t.subtotal),
        row("Envío", "", t.shipping),
        row("IVA incluido", "", t.tax()),
        row("Total", " cart-total-grandTotal", t.grand_total),
    )
}

/// `/cart` (`?cart={id}` sets the cart cookie of a cart of this storefront and redirects).
pub(super) fn cart(st: &State, req: &Incoming, sf: &Sf) -> Resp {
    let Some(store) = st.stores.get(&sf.hash) else {
        return not_found_page();
    };
    if let Some(id) = req.query_param("cart") {
        if store
            .commerce
            .checkouts
            .get(&id)
            .is_none_or(|c| c.channel_id != sf.channel)
        {
            return not_found_page();
        }
        let resp = respond::see_other(&format!("{}/cart", sf.prefix));
        return super::with_cookie(resp, &sf.cart_cookie(), &id, false);
    }
    let cart = cart_of(req, sf, &store.commerce).and_then(|id| store.commerce.checkouts.get(&id));
    let pre = esc(&sf.prefix);
    let body = match cart.filter(|c| !c.lines.is_empty()) {
        Some(c) => format!(
            "<h1 class=\"page-heading\">Carrito</h1>\
             <div class=\"cart-root\" data-cart-root data-update-endpoint=\"{pre}/cart/update\">\
             <div data-cart-content class=\"cart-content-padding-right\">{content}</div>\
             <div data-cart-totals class=\"cart-content-padding-right\">{totals}</div></div>\
             <p><a class=\"button\" id=\"checkout-link\" href=\"{pre}/checkout\">Finalizar compra</a></p>\
             <div data-content-region=\"cart_below_totals\"></div>",
            content = cart_content(st, sf, c),
            totals = cart_totals(c),
        ),
        None => format!(
            "<h1 class=\"page-heading\">Carrito</h1><p>Tu carrito está vacío.</p>\
             <p><a href=\"{pre}/\">Seguir comprando</a></p>"
        ),
    };
    let html = page(st, sf, &store.spec, PageKind::Storefront, "Carrito", cart)
        .render(&body, Some(&theme_js(sf)));
    respond::html(200, html)
}

/// `POST /cart/update` (`item_id`, `quantity` 1–99): sets a line's quantity and answers the
/// re-rendered `{content, totals}` the theme script puts in the page; 422 for a bad
/// quantity, 404 for a line not in the shopper's cart.
pub(super) fn update(st: &mut State, req: &Incoming, sf: &Sf) -> Resp {
    let form = form(req);
    let quantity = field(&form, "quantity")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|q| (1..=99).contains(q));
    let item = field(&form, "item_id").unwrap_or_default().to_owned();
    let Some(quantity) = quantity else {
        return respond::json(422, &json!({"error": "quantity must be 1 to 99"}));
    };
    let Some(store) = st.stores.get_mut(&sf.hash) else {
        return not_found_page();
    };
    let Some(id) = cart_of(req, sf, &store.commerce) else {
        return respond::json(404, &json!({"error": "no cart"}));
    };
    let Some(c) = store.commerce.checkouts.get_mut(&id) else {
        return respond::json(404, &json!({"error": "no cart"}));
    };
    let Some(line) = c.lines.iter_mut().find(|l| l.id == item) else {
        return respond::json(404, &json!({"error": "no such item"}));
    };
    if line.quantity != quantity {
        line.quantity = quantity;
        c.touch();
    }
    let Some(c) = st
        .stores
        .get(&sf.hash)
        .and_then(|s| s.commerce.checkouts.get(&id))
    else {
        return respond::json(404, &json!({"error": "no cart"}));
    };
    respond::json(
        200,
        &json!({"content": cart_content(st, sf, c), "totals": cart_totals(c)}),
    )
}
