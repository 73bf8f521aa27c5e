/* seQura for BigCommerce: merchant UI behaviour. No inline handlers (CSP-friendly). */
(function () {
  "use strict";
  // A submit button is disabled once pressed, so a double click never posts twice.
  document.addEventListener("submit", function (event) {
    var buttons = event.target.querySelectorAll("button[type=submit]");
    for (var i = 0; i < buttons.length; i++) { buttons[i].disabled = true; }
  });
})();
