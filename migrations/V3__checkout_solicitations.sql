-- V3: shopper checkouts paid with seQura. One row per (store, checkout, checkout version): the
-- Incomplete BigCommerce order created for it is reused while the cart is unchanged, so a
-- shopper retrying never piles up orders. The row carries the seQura order and its state.

CREATE TABLE solicitations (
    id               INTEGER PRIMARY KEY,          -- also the `sid` echoed in notifications
    store_hash       TEXT NOT NULL REFERENCES stores (store_hash) ON DELETE CASCADE,
    checkout_id      TEXT NOT NULL,                -- BigCommerce checkout (= cart) id
    checkout_version INTEGER NOT NULL,             -- the checkout's `version`; a change = new order
    bc_order_id      INTEGER NOT NULL,             -- the Incomplete order made from the checkout
    checkout_token   BLOB NOT NULL,                -- sealed single-use token for the confirmation page
    environment      TEXT,                         -- seQura environment used, once solicited
    merchant_ref     TEXT,                         -- seQura merchant ref used, once solicited
    product          TEXT,                         -- seQura product chosen (i1, pp3, …)
    campaign         TEXT,
    method_title     TEXT,                         -- the method's title, for payment_method
    shopper_ip       TEXT,                         -- the shopper's IP at start (seQura customer data)
    user_agent       TEXT,                         -- the shopper's browser at start
    sequra_uuid      TEXT UNIQUE,                  -- seQura's order reference, once solicited
    state            TEXT NOT NULL DEFAULT 'created'
                     CHECK (state IN ('created', 'solicited', 'on_hold', 'approved',
                                      'cancelled', 'rejected')),
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    UNIQUE (store_hash, checkout_id, checkout_version)
);

CREATE INDEX solicitations_by_order ON solicitations (store_hash, bc_order_id);

-- The storefront's public address (from `GET /v2/store` `secure_url`): the origin allowed to
-- call the checkout endpoints and the host of the order confirmation page.
ALTER TABLE stores ADD COLUMN storefront_url TEXT;
-- The store's language (`GET /v2/store` `language`), for the shopper-facing pages.
ALTER TABLE stores ADD COLUMN language TEXT;
