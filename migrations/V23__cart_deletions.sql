-- Whose deletion a checkout's missing cart was. A cart gone when the app comes to delete it on
-- seQura's approval was deleted by the app (an earlier run of the approval), emptied by the
-- shopper, or converted by another payment whose `store/cart/converted` webhook has not come
-- yet and whose order the orders list may hide (archived). Only the app's own deletion,
-- recorded once BigCommerce confirmed it, lets an approval through at once; otherwise the app
-- waits for the webhook a while, from when it first found the cart gone.
ALTER TABLE solicitations ADD COLUMN cart_deleted_at TEXT;
ALTER TABLE solicitations ADD COLUMN cart_gone_at TEXT;
