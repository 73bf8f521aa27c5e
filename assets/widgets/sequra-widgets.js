/*! seQura for BigCommerce: promotional widgets on the storefront (placeholder). */
(function () { "use strict"; })();
