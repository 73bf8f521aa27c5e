-- V6: every order sync reads and marks its order's events; without this index each did so by
-- scanning all of the store's events. The index on (store, processed_at) served no query.

CREATE INDEX webhook_events_by_order ON webhook_events (store_hash, order_id, id);
DROP INDEX webhook_events_unprocessed;
