/* seQura for BigCommerce: merchant UI behaviour. No inline handlers (CSP-friendly). */
(function () {
  "use strict";
  // A submit button is disabled once pressed, so a double click never posts twice.
  document.addEventListener("submit", function (event) {
    var buttons = event.target.querySelectorAll("button[type=submit]");
    for (var i = 0; i < buttons.length; i++) { buttons[i].disabled = true; }
  });

  // The widgets page's live preview: an approximation of seQura's widget in the style being
  // edited (seQura's own script draws the real one on the storefront).
  var preview = document.getElementById("widget-preview");
  var styleBox = document.getElementById("style");
  var presetSelect = document.getElementById("style_preset");
  if (preview && styleBox) {
    var amount = preview.querySelector(".widget-preview-amount");
    var link = preview.querySelector(".widget-preview-link");
    var invalid = document.getElementById("widget-preview-invalid");
    var SIZES = { S: "12px", M: "14px", L: "16px" };
    var draw = function () {
      var chosen = presetSelect && presetSelect.selectedIndex > 0 ?
        presetSelect.options[presetSelect.selectedIndex].getAttribute("data-style") : null;
      var text = chosen || styleBox.value.trim();
      var style = {};
      var ok = true;
      if (text) {
        try { style = JSON.parse(text); } catch (e) { ok = false; }
        if (!style || typeof style !== "object" || Array.isArray(style)) { ok = false; style = {}; }
      }
      if (invalid) { invalid.hidden = ok; }
      var get = function (k, d) { var v = style[k]; return typeof v === "string" && v ? v : (typeof v === "number" ? String(v) : d); };
      var ps = preview.style;
      ps.background = get("background-color", "white");
      ps.color = get("font-color", "#1C1C1C");
      ps.borderColor = get("border-color", "#B1AEBA");
      ps.borderStyle = get("type", "text") === "text" ? "none" : "solid";
      ps.borderWidth = "1px";
      ps.borderRadius = /^[0-9]+$/.test(get("border-radius", "")) ? get("border-radius", "0") + "px" : "4px";
      ps.textAlign = get("alignment", "left");
      ps.fontSize = SIZES[get("size", "M")] || SIZES.M;
      ps.opacity = ok ? "1" : "0.5";
      amount.style.color = get("amount-font-color", ps.color);
      amount.style.fontWeight = get("amount-font-bold", "true") === "true" ? "700" : "400";
      amount.style.fontSize = /^[0-9]+$/.test(get("amount-font-size", "")) ? get("amount-font-size", "15") + "px" : "";
      link.style.color = get("link-font-color", ps.color);
      link.style.textDecoration = get("link-underline", "true") === "true" ? "underline" : "none";
    };
    styleBox.addEventListener("input", draw);
    if (presetSelect) { presetSelect.addEventListener("change", draw); }
    draw();
  }
})();
