-- V8: every seQura order started for a checkout is kept. A shopper with two tabs, a slow
-- network or a retry starts several seQura orders for one Incomplete BigCommerce order; the
-- solicitation used to keep only the last, so an IPN for an earlier one found nothing and an
-- approved payment was lost. Now each start is an attempt of its own: the first that seQura
-- approves (or puts on hold) becomes the solicitation's seQura order, any other approved later
-- is refused so that the shopper is not charged twice.

CREATE TABLE sequra_attempts (
    id               INTEGER PRIMARY KEY,          -- signed into the attempt's notifications
    solicitation_id  INTEGER NOT NULL REFERENCES solicitations (id) ON DELETE CASCADE,
    store_hash       TEXT NOT NULL REFERENCES stores (store_hash) ON DELETE CASCADE,
    sequra_uuid      TEXT UNIQUE,                  -- seQura's order reference, once it answered
    environment      TEXT NOT NULL,                -- sandbox | live, as started
    merchant_ref     TEXT NOT NULL,
    product          TEXT NOT NULL,                -- i1, pp3, …
    campaign         TEXT,
    method_title     TEXT NOT NULL,
    state            TEXT NOT NULL DEFAULT 'solicited'
                     CHECK (state IN ('solicited', 'on_hold', 'approved', 'cancelled',
                                      'rejected', 'duplicate')),
    request          TEXT,                         -- the order as solicited (JSON): what seQura
                                                   -- reviews and approves, so what is confirmed
    holding          TEXT,                         -- what seQura holds once it is confirmed (JSON
                                                   -- {shipped_cart, unshipped_cart, addresses})
    legacy           INTEGER NOT NULL DEFAULT 0,   -- 1: started before V8, notified with the
                                                   -- old signature, confirmed from the order
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);

CREATE INDEX sequra_attempts_by_solicitation ON sequra_attempts (solicitation_id);

-- The seQura orders started before this version: one attempt each, in its solicitation's state.
INSERT INTO sequra_attempts (solicitation_id, store_hash, sequra_uuid, environment, merchant_ref,
                             product, campaign, method_title, state, legacy, created_at, updated_at)
SELECT id, store_hash, sequra_uuid, COALESCE(environment, 'sandbox'), COALESCE(merchant_ref, ''),
       COALESCE(product, ''), campaign, COALESCE(method_title, 'seQura'),
       CASE state WHEN 'created' THEN 'solicited' ELSE state END, 1, created_at, updated_at
  FROM solicitations
 WHERE sequra_uuid IS NOT NULL;
