-- V4: BigCommerce webhook deliveries, stored before they are acknowledged so none is lost;
-- BigCommerce re-delivers the same event with the same `hash`, which de-duplicates it.

CREATE TABLE webhook_events (
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
    UNIQUE (store_hash, scope, event_hash)
);

CREATE INDEX webhook_events_unprocessed ON webhook_events (store_hash, processed_at);
