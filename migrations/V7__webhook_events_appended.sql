-- V7: deliveries are de-duplicated against the recent ones the app keeps in memory (rebuilt
-- from this table at start), no longer by a unique index. BigCommerce's `hash` is a SHA-1, so
-- that index took every delivery's insert to a random page: each commit wrote a page per
-- delivery. The table is now only appended to. Rebuilt, since SQLite cannot drop a table's
-- UNIQUE constraint.

CREATE TABLE webhook_events_v7 (
    id            INTEGER PRIMARY KEY,
    store_hash    TEXT NOT NULL REFERENCES stores (store_hash) ON DELETE CASCADE,
    scope         TEXT NOT NULL,                 -- e.g. store/order/updated
    event_hash    TEXT NOT NULL,                 -- BigCommerce's `hash` of the payload data
    resource_id   INTEGER,                       -- data.id (order or shipment id)
    order_id      INTEGER,                       -- the order concerned (data.id or data.orderId)
    payload       TEXT NOT NULL,                 -- the delivery's JSON, as received
    created_at    INTEGER,                       -- BigCommerce's event time (unix seconds)
    received_at   TEXT NOT NULL,                 -- RFC 3339 UTC
    processed_at  TEXT,                          -- set once order sync handled it
    sequra_order  INTEGER NOT NULL DEFAULT 0     -- about a seQura order (indexed by order)
);

INSERT INTO webhook_events_v7 (id, store_hash, scope, event_hash, resource_id, order_id,
                               payload, created_at, received_at, processed_at, sequra_order)
SELECT id, store_hash, scope, event_hash, resource_id, order_id,
       payload, created_at, received_at, processed_at, sequra_order
  FROM webhook_events;

DROP TABLE webhook_events;
ALTER TABLE webhook_events_v7 RENAME TO webhook_events;

CREATE INDEX webhook_events_by_order ON webhook_events (store_hash, order_id, id)
 WHERE sequra_order = 1;
