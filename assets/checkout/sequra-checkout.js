/*! seQura for BigCommerce: payment buttons on the one-page checkout's payment step.
 * Loaded through the Scripts API (versioned URL + SRI hash). No framework, no inline handlers.
 * Flow: find the payment step → ask the app for the eligible methods → one button each (or
 * the merchant's single seQura button) → click → the app starts the seQura order → seQura's
 * identification form over the checkout (or on the app's hosted page) → seQura returns the
 * shopper to the app, which sends them to the order confirmation page. */
(function () {
  "use strict";
  if (window.__sequraCheckoutLoaded) { return; }
  window.__sequraCheckoutLoaded = true;

  var script = document.currentScript;
  var src = script ? new URL(script.src) : null;
  var store = src ? src.searchParams.get("store") : null;
  if (!src || !store || !/^[a-z0-9]{1,32}$/.test(store)) { return; }
  var app = src.origin;
  var text = {
    en: {
      heading: "Pay with seQura",
      terms: "Please accept the terms and conditions to continue.",
      busy: "A seQura payment for this cart is already in progress.",
      failed: "The seQura payment was not completed. Your cart is intact: try again or choose another payment method.",
      error: "The seQura payment could not be started. Please try again.",
      placed: "Your order is already placed.",
      see: "See the order",
      close: "Close"
    },
    es: {
      heading: "Paga con seQura",
      terms: "Acepta los términos y condiciones para continuar.",
      busy: "Ya hay un pago con seQura en curso para este carrito.",
      failed: "El pago con seQura no se ha completado. Tu carrito sigue intacto: puedes intentarlo de nuevo o elegir otro método.",
      error: "No se pudo iniciar el pago con seQura. Inténtalo de nuevo.",
      placed: "Tu pedido ya está registrado.",
      see: "Ver el pedido",
      close: "Cerrar"
    },
    fr: {
      heading: "Payez avec seQura",
      terms: "Veuillez accepter les conditions générales pour continuer.",
      busy: "Un paiement seQura est déjà en cours pour ce panier.",
      failed: "Le paiement seQura n'a pas abouti. Votre panier est intact\u00a0: réessayez ou choisissez un autre moyen de paiement.",
      error: "Le paiement seQura n'a pas pu démarrer. Veuillez réessayer.",
      placed: "Votre commande est déjà enregistrée.",
      see: "Voir la commande",
      close: "Fermer"
    },
    it: {
      heading: "Paga con seQura",
      terms: "Accetta i termini e le condizioni per continuare.",
      busy: "Per questo carrello è già in corso un pagamento con seQura.",
      failed: "Il pagamento con seQura non è stato completato. Il carrello è intatto: riprova o scegli un altro metodo di pagamento.",
      error: "Non è stato possibile avviare il pagamento con seQura. Riprova.",
      placed: "Il tuo ordine è già registrato.",
      see: "Vedi l'ordine",
      close: "Chiudi"
    },
    pt: {
      heading: "Pague com a seQura",
      terms: "Aceite os termos e condições para continuar.",
      busy: "Já está em curso um pagamento com a seQura para este carrinho.",
      failed: "O pagamento com a seQura não foi concluído. O seu carrinho está intacto: tente novamente ou escolha outro método de pagamento.",
      error: "Não foi possível iniciar o pagamento com a seQura. Tente novamente.",
      placed: "A sua encomenda já está registada.",
      see: "Ver a encomenda",
      close: "Fechar"
    }
  };
  // The storefront page's language (its theme sets <html lang>), else the browser's; the
  // app's answers carry every language and are read in this one.
  var lang = (document.documentElement.lang || navigator.language || "en").slice(0, 2).toLowerCase();
  if (!text[lang]) { lang = "en"; }
  text = text[lang];

  var checkoutId = null;
  var busy = false;
  var LOCK_MS = 60000;

  function json(url, options) {
    return fetch(url, options).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (body) {
        return { ok: r.ok, status: r.status, body: body };
      });
    });
  }

  function currentCheckout() {
    return json("/api/storefront/carts", { credentials: "same-origin" }).then(function (r) {
      var carts = r.body;
      if (!r.ok || !carts || !carts.length) { return null; }
      checkoutId = carts[0].id;
      return json("/api/storefront/checkouts/" + encodeURIComponent(checkoutId), { credentials: "same-origin" })
        .then(function (c) { return c.ok ? c.body : null; });
    });
  }

  /** Cents of the balance still to pay (store credit applied), as a hint: the app re-checks. */
  function amountDue(checkout) {
    var v = checkout && (checkout.outstandingBalance != null ? checkout.outstandingBalance : checkout.grandTotal);
    return typeof v === "number" ? Math.round(v * 100) : null;
  }

  function post(path, body) {
    return json(app + "/checkout/" + store + path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      credentials: "omit"
    });
  }

  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    (children || []).forEach(function (c) { e.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return e;
  }

  function message(container, msg) {
    var box = container.querySelector(".sequra-message");
    if (!box) {
      box = el("p", { "class": "sequra-message", role: "alert" });
      container.appendChild(box);
    }
    box.textContent = msg || "";
    box.hidden = !msg;
  }

  /** One lock per checkout across tabs (localStorage) and re-renders (module state). */
  function takeLock() {
    var key = "sequra-start-" + checkoutId;
    try {
      var held = Number(window.localStorage.getItem(key) || 0);
      if (held && Date.now() - held < LOCK_MS) { return false; }
      window.localStorage.setItem(key, String(Date.now()));
    } catch (e) { /* storage unavailable: the in-page flag still guards */ }
    return true;
  }

  function releaseLock() {
    busy = false;
    try { window.localStorage.removeItem("sequra-start-" + checkoutId); } catch (e) { /* ignore */ }
  }

  // Leaving the page (a reload, seQura's form submitted, the back button) ends its form: the
  // lock is for another tab's open form, never for this page's next life.
  window.addEventListener("pagehide", function () { if (busy) { releaseLock(); } });

  // A page restored from the browser's cache (the back button after paying) still shows the
  // form it had: close it, and ask the app whether the order is placed meanwhile.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) { return; }
    var stale = document.getElementById("sequra-overlay");
    if (stale) { stale.remove(); }
    releaseLock();
    if (!checkoutId) { return; }
    post("/methods", { checkoutId: checkoutId }).then(function (r) {
      if (r.ok && r.body.placed) { window.location.replace(r.body.placed); return; }
      var container = document.getElementById("sequra-methods");
      if (container) { message(container, ""); }
    }).catch(function () { /* the buttons stay; a start re-checks everything */ });
  });

  function termsAccepted() {
    var terms = document.querySelector("input#terms[name=terms]");
    return !terms || terms.checked;
  }

  /** Injects seQura's form so that its scripts run (innerHTML alone never runs scripts). */
  function showForm(container, html) {
    var overlay = el("div", { "class": "sequra-overlay", id: "sequra-overlay" });
    var dialog = el("div", { "class": "sequra-dialog", role: "dialog", "aria-modal": "true" });
    var close = el("button", { type: "button", "class": "sequra-close", id: "sequra-close" }, [text.close]);
    var body = el("div", { "class": "sequra-form" });
    body.innerHTML = html;
    Array.prototype.forEach.call(body.querySelectorAll("script"), function (old) {
      var s = document.createElement("script");
      Array.prototype.forEach.call(old.attributes, function (a) { s.setAttribute(a.name, a.value); });
      s.text = old.text;
      old.parentNode.replaceChild(s, old);
    });
    function closed() {
      overlay.remove();
      releaseLock();
      message(container, text.failed);
    }
    close.addEventListener("click", closed);
    dialog.appendChild(close);
    dialog.appendChild(body);
    overlay.appendChild(dialog);
    document.body.appendChild(overlay);
    // seQura's form script exposes SequraFormInstance: closing the form returns the shopper
    // to the payment step with the cart intact.
    var form = window.SequraFormInstance;
    if (form && typeof form.setCloseCallback === "function") {
      form.setCloseCallback(closed);
      if (typeof form.show === "function") { form.show(); }
    }
  }

  function start(container, method) {
    message(container, "");
    if (!termsAccepted()) {
      message(container, text.terms);
      var terms = document.querySelector("input#terms[name=terms]");
      if (terms) { terms.focus(); }
      return;
    }
    if (busy || !takeLock()) { message(container, text.busy); return; }
    busy = true;
    currentCheckout().then(function (checkout) {
      return post("/start", {
        checkoutId: checkoutId,
        product: method.product,
        campaign: method.campaign || null,
        amount: amountDue(checkout)
      });
    }).then(function (r) {
      // The merchant's hosted page: seQura's form on a page of the app's own, which brings
      // the shopper back here when it is closed.
      if (r.ok && typeof r.body.page === "string" && r.body.page.indexOf(app + "/") === 0) {
        window.location.assign(r.body.page);
        return;
      }
      if (!r.ok || !r.body.form) {
        releaseLock();
        var m = r.body && r.body.message && r.body.message[lang];
        message(container, m || text.error);
        return;
      }
      showForm(container, r.body.form);
    }).catch(function () {
      releaseLock();
      message(container, text.error);
    });
  }

  function button(container, method, single) {
    // The single button's words come in every language: the storefront page's is shown.
    var title = (single && single.title && single.title[lang]) || method.title;
    var label = el("span", { "class": "sequra-title" }, [title]);
    var detail = (single && single.detail && single.detail[lang]) || method.claim || method.cost_description;
    var children = [];
    if (method.icon && method.icon.indexOf("data:image/") === 0) {
      children.push(el("img", { src: method.icon, alt: "", "class": "sequra-icon", width: "40", height: "24" }));
    }
    children.push(label);
    if (detail) { children.push(el("span", { "class": "sequra-detail" }, [detail])); }
    var b = el("button", {
      type: "button",
      "class": "button sequra-method",
      "data-product": method.product,
      "data-campaign": method.campaign || ""
    }, children);
    b.addEventListener("click", function () { start(container, method); });
    return b;
  }

  var rendering = false;
  function render(step) {
    if (rendering || step.querySelector("#sequra-methods")) { return; }
    rendering = true;
    currentCheckout().then(function (checkout) {
      if (!checkout) { return null; }
      return post("/methods", { checkoutId: checkoutId, amount: amountDue(checkout) });
    }).then(function (r) {
      rendering = false;
      if (!r || !r.ok) { return; }
      var placed = r.body.placed;
      if (!placed && (!r.body.methods || !r.body.methods.length)) { return; }
      if (step.querySelector("#sequra-methods")) { return; }
      var single = r.body.single;
      // One seQura button says "Pay with seQura" itself: no heading above it.
      var container = el("div", { id: "sequra-methods", "class": "sequra-methods" },
        single && !placed ? [] : [el("p", { "class": "sequra-heading" }, [text.heading])]);
      if (placed) {
        // Paid (or in review) with seQura already: the order, not a second payment.
        container.appendChild(el("p", { "class": "sequra-placed" }, [text.placed + " ",
          el("a", { href: placed, id: "sequra-placed" }, [text.see])]));
      } else {
        r.body.methods.forEach(function (m) { container.appendChild(button(container, m, single)); });
      }
      var list = step.querySelector(".form-checklist") || step;
      list.parentNode.insertBefore(container, list.nextSibling);
      // Why the last payment did not go through, in the shopper's language.
      var notice = r.body.notice && r.body.notice[lang];
      if (notice) { message(container, notice); }
    }).catch(function () { rendering = false; });
  }

  function scan() {
    var step = document.querySelector(".checkout-step--payment");
    if (step) { render(step); }
  }

  // The checkout is a React app: the payment step appears (and is re-rendered) later.
  new MutationObserver(scan).observe(document.documentElement, { childList: true, subtree: true });
  scan();

  var style = el("style", {}, [
    ".sequra-methods{margin:1rem 0;display:flex;flex-direction:column;gap:.5rem}" +
    ".sequra-heading{font-weight:600;margin:0}" +
    ".sequra-method{display:flex;align-items:center;gap:.75rem;width:100%;text-align:left;padding:.75rem 1rem;" +
    "border:1px solid #d9dce9;border-radius:4px;background:#fff;color:#313440;cursor:pointer;font:inherit}" +
    ".sequra-method:hover{border-color:#3c64f4}.sequra-title{font-weight:600}" +
    ".sequra-detail{margin-left:auto;color:#5e637a;font-size:.9em}" +
    ".sequra-message{color:#c0272d;margin:.25rem 0}" +
    ".sequra-overlay{position:fixed;inset:0;background:rgba(0,0,0,.45);display:flex;align-items:center;" +
    "justify-content:center;z-index:10000}.sequra-dialog{background:#fff;border-radius:6px;max-width:560px;" +
    "width:92%;max-height:90vh;overflow:auto;padding:1rem;position:relative}" +
    ".sequra-close{position:absolute;top:.5rem;right:.5rem}"
  ]);
  document.head.appendChild(style);
})();
