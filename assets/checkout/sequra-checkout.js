/*! seQura for BigCommerce: checkout script.
 * Placeholder until the checkout issue lands: the Scripts API already points at this file by
 * a versioned URL with its SRI hash, so the delivery path is real. It does nothing yet. */
(function () {
  "use strict";
  if (window.__sequraCheckoutLoaded) { return; }
  window.__sequraCheckoutLoaded = true;
})();
