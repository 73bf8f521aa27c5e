/* seQura for BigCommerce: the hosted page (seQura's form on a page of the app's own). Closing
 * the form returns the shopper to the checkout, as the link below it does. No inline code. */
(function () {
  "use strict";
  var back = document.getElementById("hosted-back");
  if (!back) { return; }
  function leave() { window.location.assign(back.href); }
  function ready() {
    // seQura's form script exposes SequraFormInstance (sequra-api.md §4).
    var form = window.SequraFormInstance;
    if (!form || typeof form.setCloseCallback !== "function") { return; }
    form.setCloseCallback(leave);
    if (typeof form.show === "function") { form.show(); }
  }
  if (document.readyState === "complete") { ready(); } else { window.addEventListener("load", ready); }
})();
