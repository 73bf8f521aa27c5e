/* seQura stand-in: sequra-checkout.min.js (the public surface of seQura's widget script,
   drawn from the stand-in's own instalment rules). Not seQura's code. */
(function () {
  'use strict';
  var DATA = /*DATA*/null;
  var cfg = window.SequraConfiguration;
  var merchant = DATA && cfg && typeof cfg.merchant === 'string' &&
    Object.prototype.hasOwnProperty.call(DATA.merchants, cfg.merchant) ?
    DATA.merchants[cfg.merchant] : null;
  // An unknown merchant, another merchant's assets key or another currency: the script does
  // nothing at all (the queued callbacks never run, nothing is drawn, nothing is logged).
  if (!merchant || cfg.assetKey !== merchant.assetKey ||
      (cfg.currency && cfg.currency !== merchant.currency)) {
    window.__sequraStandIn = 'refused';
    return;
  }

  var lang = String(cfg.locale || 'es-ES').slice(0, 2).toLowerCase();
  var decimal = typeof cfg.decimalSeparator === 'string' ? cfg.decimalSeparator : ',';
  var thousands = typeof cfg.thousandSeparator === 'string' ? cfg.thousandSeparator : '.';
  var TEXTS = {
    es: ['Paga en %n plazos de %s/mes', 'Paga después: %s'],
    fr: ['Payez en %n fois %s/mois', 'Payez plus tard : %s'],
    it: ['Paga in %n rate da %s/mese', 'Paga dopo: %s'],
    pt: ['Pague em %n prestações de %s/mês', 'Pague depois: %s']
  };
  var texts = TEXTS[lang] || TEXTS.es;

  function money(cents) {
    var units = String(Math.floor(cents / 100));
    var grouped = '';
    for (var i = 0; i < units.length; i++) {
      if (i > 0 && (units.length - i) % 3 === 0) { grouped += thousands; }
      grouped += units.charAt(i);
    }
    var rest = cents % 100;
    return grouped + decimal + (rest < 10 ? '0' : '') + rest + ' €';
  }

  function amount(cents) { return { value: cents, string: money(cents) }; }

  function method(product, campaign) {
    for (var i = 0; i < merchant.methods.length; i++) {
      var m = merchant.methods[i];
      if (m.product === product && (!campaign || m.campaign === campaign)) { return m; }
    }
    return null;
  }

  function agreements(m, cents) {
    return m.counts.map(function (c, i) {
      var instalment = Math.ceil(cents / c.n);
      return {
        instalment_count: c.n,
        default: i === 0,
        instalment_amount: amount(instalment),
        instalment_fee: amount(c.fee),
        instalment_total: amount(instalment + c.fee),
        grand_total: amount(cents + c.fee * c.n),
        min_amount: amount(m.min),
        max_amount: m.max === null ? null : amount(m.max)
      };
    });
  }

  function computeCreditAgreements(args) {
    var out = {};
    var product = args && args.product;
    var cents = args && Number(args.amount);
    if (typeof product !== 'string' || !isFinite(cents) || cents < 0 ||
        Math.floor(cents) !== cents) {
      return out;
    }
    var m = method(product, args.campaign);
    if (m) { out[product] = agreements(m, cents); }
    return out;
  }

  function draw(el) {
    var raw = el.getAttribute('data-amount');
    var cents = /^[0-9]+$/.test(raw || '') ? parseInt(raw, 10) : NaN;
    var m = method(el.getAttribute('data-product'), el.getAttribute('data-campaign'));
    var state;
    var text = '';
    if (!m) {
      state = 'unknown-product';
    } else if (isNaN(cents)) {
      state = 'invalid-amount';
    } else if (cents < m.min) {
      state = 'below-minimum';
    } else if (m.max !== null && cents > m.max) {
      state = 'above-maximum';
    } else {
      var a = agreements(m, cents)[0];
      state = 'ok';
      text = a.instalment_count > 1 ?
        texts[0].replace('%n', a.instalment_count).replace('%s', a.instalment_total.string) :
        texts[1].replace('%s', a.instalment_total.string);
      el.setAttribute('data-instalments', String(a.instalment_count));
      el.setAttribute('data-instalment-total', String(a.instalment_total.value));
    }
    if (state !== 'ok') {
      el.removeAttribute('data-instalments');
      el.removeAttribute('data-instalment-total');
    }
    if (el.textContent !== text) { el.textContent = text; }
    el.setAttribute('data-sequra-state', state);
    el.setAttribute('data-rendered', isNaN(cents) ? '' : String(cents));
  }

  function refreshComponents() {
    // Counted, so tests can tell a redraw from none (not part of seQura's surface).
    window.__sequraRefreshes = (window.__sequraRefreshes || 0) + 1;
    var els = document.querySelectorAll('.sequra-promotion-widget');
    for (var i = 0; i < els.length; i++) { draw(els[i]); }
  }

  function run(cb) {
    if (typeof cb === 'function') {
      try { cb(); } catch (e) { setTimeout(function () { throw e; }, 0); }
    }
  }

  var api = window.Sequra && typeof window.Sequra === 'object' ? window.Sequra : {};
  api.onLoad = run;
  api.refreshComponents = refreshComponents;
  api.computeCreditAgreements = computeCreditAgreements;
  window.Sequra = api;
  window.__sequraStandIn = 'ready';
  var queued = Array.isArray(window.SequraOnLoad) ? window.SequraOnLoad.splice(0) : [];
  // [U] Widgets already in the page are drawn at once, then the queued callbacks run.
  refreshComponents();
  queued.forEach(run);
})();
