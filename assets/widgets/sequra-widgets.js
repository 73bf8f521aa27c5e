/*! seQura for BigCommerce: seQura's promotional widgets on the storefront (product page,
 * cart, product listings) and the banner seQura set for the storefront's country. Loaded
 * through the Scripts API (versioned URL + SRI hash), deferred. The app decides what to show
 * for this storefront and visitor (one cacheable request); this script only draws: it loads
 * seQura's own script, places `.sequra-promotion-widget` elements next to the prices and
 * follows the prices with one observer, and puts the banner in its page's widget region. It
 * never breaks the page: a selector the browser refuses, a missing element or an unreadable
 * price is skipped. */
(function () {
  "use strict";
  if (window.__sequraWidgetsLoaded) { return; }
  window.__sequraWidgetsLoaded = true;

  var script = document.currentScript;
  var src = null;
  try { src = script ? new URL(script.src) : null; } catch (e) { src = null; }
  if (!src) { return; }
  var store = src.searchParams.get("store") || "";
  var channel = src.searchParams.get("channel") || "";
  if (!/^[a-z0-9]{1,32}$/.test(store) || !/^[0-9]{1,10}$/.test(channel)) { return; }

  var WIDGET = "sequra-promotion-widget";
  var MINI = "sequra-promotion-miniwidget";
  var BANNER = "sequra-banner";
  var OURS = "." + WIDGET + ",." + MINI + ",." + BANNER;

  function noop() {}

  function all(selector, root) {
    if (typeof selector !== "string" || !selector) { return []; }
    try {
      return Array.prototype.slice.call((root || document).querySelectorAll(selector));
    } catch (e) { return []; } // a selector this browser refuses: nothing there
  }

  function first(selector) { return all(selector)[0] || null; }

  function closest(el, selector) {
    try { return el && el.closest ? el.closest(selector) : null; } catch (e) { return null; }
  }

  /** Cents of the first amount in `text` ("49,95 €", "1.234,56 €", "€1,234.56", "1.234 €"):
   * the decimal part is a last `,`/`.` followed by one or two digits; null when unreadable. */
  function toCents(text) {
    var s = String(text == null ? "" : text).replace(/[\u00a0\u202f\u2009]/g, " ");
    var m = /\d+(?:[.,' ]\d+)*/.exec(s);
    if (!m) { return null; }
    var num = m[0];
    var dec = /[.,](\d{1,2})$/.exec(num);
    var whole = dec ? num.slice(0, dec.index) : num;
    if (!/^(?:\d+|\d{1,3}(?:[.,' ]\d{3})+)$/.test(whole)) { return null; }
    var digits = whole.replace(/\D/g, "");
    if (digits.length > 12) { return null; }
    var fraction = dec ? (dec[1].length === 1 ? dec[1] + "0" : dec[1]) : "00";
    return parseInt(digits, 10) * 100 + parseInt(fraction, 10);
  }

  /** A price the checkout could be asked to pay: more than nothing (it offers nothing for a
   * free cart) and within the method's limits. */
  function inRange(w, cents) {
    return cents !== null && cents > 0 && !(typeof w.min === "number" && cents < w.min) &&
      !(typeof w.max === "number" && cents > w.max);
  }

  /** Currencies a price may be written in, by the marks a theme writes them with. */
  var SYMBOLS = { "$": 1, "£": 1, "¥": 1, "₹": 1, "₽": 1, "₺": 1, "₩": 1, "₪": 1, "₫": 1, "₱": 1,
    "₦": 1, "₴": 1, "₣": 1, "฿": 1, "₲": 1, "₡": 1 };
  var CODES = /\b(?:USD|GBP|CHF|SEK|NOK|DKK|ISK|PLN|CZK|HUF|RON|BGN|HRK|RSD|TRY|RUB|UAH|JPY|CNY|HKD|SGD|AUD|NZD|CAD|MXN|BRL|ARS|CLP|COP|PEN|UYU|INR|ZAR|AED|SAR|ILS|KRW|THB|EUR|kr|Fr)\b/g;

  /** Whether `text` names a currency other than `own` (a storefront may let the shopper
   * switch currencies: its prices are then not the merchant ref's, which the widget's
   * amounts and the checkout are in). */
  function otherCurrency(text, own) {
    var s = String(text == null ? "" : text);
    own = String(own || "").toUpperCase();
    if (own !== "EUR" && s.indexOf("€") >= 0) { return true; }
    for (var i = 0; i < s.length; i++) {
      if (SYMBOLS[s.charAt(i)] === 1) { return true; }
    }
    var codes = s.match(CODES) || [];
    for (var j = 0; j < codes.length; j++) {
      if (codes[j].toUpperCase() !== own) { return true; }
    }
    return false;
  }

  function whenReady(fn) {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", fn);
    } else {
      fn();
    }
  }

  /** The banner seQura set for this storefront's country, at the top of its page's region
   * (only that kind of page has it). Its room is reserved before the image arrives (its
   * width and height, scaled to the region's width): the image loading moves nothing. */
  function drawBanner(b) {
    if (!b || typeof b.region !== "string" || typeof b.image !== "string" ||
        !/^https?:\/\//.test(b.image) || typeof b.link !== "string" || !/^https?:\/\//.test(b.link) ||
        !(b.width > 0) || !(b.height > 0)) {
      return;
    }
    var region = first(b.region);
    if (!region || region.querySelector("." + BANNER)) { return; }
    var box = document.createElement("div");
    box.className = BANNER;
    box.setAttribute("data-location", String(b.location || ""));
    box.style.margin = "0 auto";
    box.style.maxWidth = b.width + "px";
    var link = document.createElement("a");
    link.href = b.link;
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    link.style.display = "block";
    var img = document.createElement("img");
    img.src = b.image;
    img.alt = typeof b.alt === "string" ? b.alt : "seQura";
    img.width = b.width;
    img.height = b.height;
    img.decoding = "async";
    img.style.display = "block";
    img.style.width = "100%";
    img.style.height = "auto";
    img.style.aspectRatio = b.width + " / " + b.height;
    link.appendChild(img);
    box.appendChild(link);
    region.insertBefore(box, region.firstChild);
  }

  function start(cfg) {
    if (cfg && cfg.banner) {
      whenReady(function () { try { drawBanner(cfg.banner); } catch (e) { /* never break the page */ } });
    }
    if (!cfg || typeof cfg.merchant !== "string" || !cfg.merchant ||
        typeof cfg.scriptUri !== "string" || !/^https?:\/\//.test(cfg.scriptUri)) {
      return; // nothing to show here, for this visitor
    }
    var widgets = Array.isArray(cfg.widgets) ? cfg.widgets : [];
    var minis = Array.isArray(cfg.miniWidgets) ? cfg.miniWidgets : [];
    if (!widgets.length && !minis.length) { return; }
    var excluded = {};
    (Array.isArray(cfg.excluded) ? cfg.excluded : []).forEach(function (id) { excluded[String(id)] = true; });
    var decimal = typeof cfg.decimalSeparator === "string" ? cfg.decimalSeparator : ",";
    var thousands = typeof cfg.thousandSeparator === "string" ? cfg.thousandSeparator : ".";

    // What is drawn: per widget (by index), the location elements and our node next to each.
    var drawn = widgets.map(function () { return []; });
    var drawnMini = minis.map(function () { return []; });
    var observer = null;
    var scheduled = false;

    function money(cents) {
      var units = String(Math.floor(cents / 100));
      var grouped = "";
      for (var i = 0; i < units.length; i++) {
        if (i > 0 && (units.length - i) % 3 === 0) { grouped += thousands; }
        grouped += units.charAt(i);
      }
      var rest = cents % 100;
      var symbol = cfg.currency === "EUR" ? "€" : String(cfg.currency || "");
      return grouped + decimal + (rest < 10 ? "0" : "") + rest + (symbol ? " " + symbol : "");
    }

    function isExcluded(id) { return id !== null && excluded[String(id)] === true; }

    /** The product a location element belongs to: its card or product view, else the page's
     * add-to-cart form. */
    function productOf(loc) {
      var holder = closest(loc, "[data-entity-id]");
      var id = holder ? holder.getAttribute("data-entity-id") : null;
      if (id === null) {
        var input = first("input[name=\"product_id\"]");
        id = input ? input.value : null;
      }
      return id !== null && /^[0-9]+$/.test(String(id).trim()) ? String(id).trim() : null;
    }

    function cartExcluded() {
      return all("[data-product-id]").some(function (el) {
        return isExcluded(el.getAttribute("data-product-id"));
      });
    }

    /** Cents of a price in the page, null when unreadable or in another currency. */
    function amountOf(el) {
      if (!el || otherCurrency(el.textContent, cfg.currency)) { return null; }
      return toCents(el.textContent);
    }

    function priceOf(w) {
      var alt = w.altPrice && w.altTrigger && first(w.altTrigger);
      return amountOf(first(alt ? w.altPrice : w.price));
    }

    function insertAfter(loc, node) {
      if (!loc.parentNode) { return; }
      loc.parentNode.insertBefore(node, loc.nextSibling);
    }

    function entryOf(list, loc) {
      for (var i = 0; i < list.length; i++) { if (list[i].loc === loc) { return list[i]; } }
      return null;
    }

    /** Keeps `list` to the connected locations; removes our nodes of the others. */
    function prune(list, locs) {
      for (var i = list.length - 1; i >= 0; i--) {
        if (locs.indexOf(list[i].loc) < 0) {
          if (list[i].node.parentNode) { list[i].node.parentNode.removeChild(list[i].node); }
          list.splice(i, 1);
        }
      }
    }

    function drop(list, entry) {
      if (!entry) { return; }
      if (entry.node.parentNode) { entry.node.parentNode.removeChild(entry.node); }
      list.splice(list.indexOf(entry), 1);
    }

    /** Puts `entry`'s node (new or kept) right after its location; true when it moved. */
    function place(list, loc, entry, make) {
      if (!entry) {
        entry = { loc: loc, node: make() };
        list.push(entry);
      }
      // Kept where it is while it is still beside its location (another script may have put
      // something in between: moving back and forth would never end).
      if (entry.node.parentNode && entry.node.parentNode === loc.parentNode) { return entry; }
      insertAfter(loc, entry.node);
      entry.moved = true;
      return entry;
    }

    function widgetNode(w, cents) {
      var node = document.createElement("div");
      node.className = WIDGET + " " + WIDGET + "--" + String(w.product).replace(/[^A-Za-z0-9_-]/g, "");
      node.setAttribute("data-amount", String(cents));
      node.setAttribute("data-product", String(w.product));
      if (typeof w.campaign === "string" && w.campaign) { node.setAttribute("data-campaign", w.campaign); }
      var style = w.style && typeof w.style === "object" ? w.style : {};
      Object.keys(style).forEach(function (k) {
        var v = style[k];
        if (/^[a-z][a-z0-9-]{0,40}$/.test(k) && /^(string|number|boolean)$/.test(typeof v)) {
          node.setAttribute("data-" + k, String(v));
        }
      });
      return node;
    }

    /** The product and cart widgets; true when one was added or its amount changed. */
    function drawWidgets() {
      var changed = false;
      widgets.forEach(function (w, i) {
        var list = drawn[i];
        var locs = typeof w.product === "string" && w.product ?
          all(w.location).filter(function (l) { return !closest(l, OURS); }) : [];
        prune(list, locs);
        var cents = locs.length ? priceOf(w) : null;
        var blocked = w.kind === "cart" ? cartExcluded() : false;
        locs.forEach(function (loc) {
          var entry = entryOf(list, loc);
          var show = !blocked && inRange(w, cents) &&
            !(w.kind !== "cart" && isExcluded(productOf(loc)));
          if (!show) { drop(list, entry); return; }
          entry = place(list, loc, entry, function () { return widgetNode(w, cents); });
          if (entry.moved) { changed = true; entry.moved = false; }
          if (entry.node.getAttribute("data-amount") !== String(cents)) {
            entry.node.setAttribute("data-amount", String(cents));
            changed = true;
          }
        });
      });
      return changed;
    }

    /** The mini-widget's text for `cents`, or null for none. */
    function miniText(m, cents) {
      if (cents === null || cents <= 0 || (typeof m.max === "number" && cents > m.max)) { return null; }
      var agreements = null;
      try {
        var byProduct = window.Sequra.computeCreditAgreements({ amount: cents, product: m.product });
        agreements = byProduct && byProduct[m.product];
      } catch (e) { agreements = null; }
      if (!Array.isArray(agreements) || !agreements.length) { return null; }
      var minOf = function (a) { return a && a.min_amount && typeof a.min_amount.value === "number" ? a.min_amount.value : 0; };
      var pick = null;
      for (var i = agreements.length - 1; i >= 0; i--) {
        if (cents >= minOf(agreements[i])) { pick = agreements[i]; break; }
      }
      var below = !pick || (typeof m.min === "number" && cents < m.min);
      if (below) {
        if (typeof m.below !== "string" || !m.below) { return null; }
        var a = agreements[0];
        var min = typeof m.min === "number" ? m.min : minOf(a);
        var shown = a && a.min_amount && a.min_amount.value === min && typeof a.min_amount.string === "string" ?
          a.min_amount.string : money(min);
        return m.below.replace("%s", shown);
      }
      var instalment = pick.instalment_total && pick.instalment_total.string;
      if (typeof instalment !== "string" || typeof m.message !== "string") { return null; }
      return m.message.replace("%s", instalment);
    }

    function drawMinis() {
      minis.forEach(function (m, i) {
        var list = drawnMini[i];
        var locs = typeof m.product === "string" && m.product ?
          all(m.location).filter(function (l) { return !closest(l, OURS); }) : [];
        var prices = all(m.price).filter(function (p) { return !closest(p, OURS); });
        prune(list, locs);
        locs.forEach(function (loc, j) {
          var entry = entryOf(list, loc);
          var cents = amountOf(prices[j]);
          if (isExcluded(productOf(loc)) || cents === null) { drop(list, entry); return; }
          if (entry && entry.node.getAttribute("data-amount") === String(cents)) {
            place(list, loc, entry);
            return;
          }
          var text = miniText(m, cents);
          if (text === null) { drop(list, entry); return; }
          entry = place(list, loc, entry, function () {
            var node = document.createElement("small");
            node.className = MINI;
            node.setAttribute("data-product", String(m.product));
            return node;
          });
          entry.node.setAttribute("data-amount", String(cents));
          entry.node.textContent = text;
        });
      });
    }

    function watch() {
      if (observer) {
        observer.observe(document.body, { childList: true, subtree: true, characterData: true });
      }
    }

    function check() {
      scheduled = false;
      if (!document.body) { return; }
      if (observer) { observer.disconnect(); } // our own drawing is not a page change
      try {
        var changed = drawWidgets();
        if (minis.length && window.Sequra && typeof window.Sequra.computeCreditAgreements === "function") {
          drawMinis();
        }
        if (changed && window.Sequra && typeof window.Sequra.refreshComponents === "function") {
          window.Sequra.refreshComponents();
        }
      } catch (e) { /* never break the page */ }
      watch();
    }

    function schedule() {
      if (scheduled) { return; }
      scheduled = true;
      // Before the next paint: the old amount is never shown next to the new price.
      if (typeof window.requestAnimationFrame === "function") {
        window.requestAnimationFrame(check);
      } else {
        setTimeout(check, 16);
      }
    }

    /** A page change that may move a price: not one inside our own widgets. */
    function relevant(mutations) {
      for (var i = 0; i < mutations.length; i++) {
        var mu = mutations[i];
        var t = mu.target && mu.target.nodeType === 1 ? mu.target : mu.target && mu.target.parentNode;
        if (!t || closest(t, OURS)) { continue; }
        if (mu.type === "childList" && !mu.removedNodes.length) {
          var ours = true;
          for (var k = 0; k < mu.addedNodes.length; k++) {
            var n = mu.addedNodes[k];
            if (!(n.nodeType === 1 && closest(n, OURS))) { ours = false; break; }
          }
          if (ours) { continue; }
        }
        return true;
      }
      return false;
    }

    function begin() {
      if (typeof window.MutationObserver === "function") {
        observer = new MutationObserver(function (mutations) {
          if (relevant(mutations)) { schedule(); }
        });
      }
      document.addEventListener("change", schedule, true);
      check();
      // For `cargo bench --bench widgets -- --browser`: when the first drawing was done.
      try { window.performance.mark("sequra-widgets-drawn"); } catch (e) { /* no timing API */ }
    }

    if (!window.Sequra) {
      window.SequraConfiguration = {
        merchant: cfg.merchant,
        assetKey: cfg.assetKey,
        products: Array.isArray(cfg.products) ? cfg.products : [],
        scriptUri: cfg.scriptUri,
        decimalSeparator: decimal,
        thousandSeparator: thousands,
        locale: cfg.locale,
        currency: cfg.currency
      };
      window.SequraOnLoad = [];
      window.Sequra = { onLoad: function (cb) { window.SequraOnLoad.push(cb); } };
      var tag = document.createElement("script");
      tag.src = cfg.scriptUri;
      tag.async = true;
      (document.head || document.body || document.documentElement).appendChild(tag);
    }
    var ready = function () {
      if (document.readyState === "loading") {
        document.addEventListener("DOMContentLoaded", begin);
      } else {
        begin();
      }
    };
    try { window.Sequra.onLoad(ready); } catch (e) { /* another script's broken stub */ }
  }

  if (typeof window.fetch !== "function") { return; }
  fetch(src.origin + "/widgets/" + store + "/config?channel=" + channel, { credentials: "omit" })
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(function (cfg) { try { start(cfg); } catch (e) { /* never break the page */ } }, noop)
    .catch(noop);
})();
