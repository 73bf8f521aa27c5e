-- V6: every order sync reads and marks its order's events; without an index each did so by
-- scanning all of the store's events. Only events about seQura orders are ever looked up by
-- order, so only they are indexed: the others (most of a store's orders) cost the intake no
-- index page. The index on (store, processed_at) served no query.

ALTER TABLE webhook_events ADD COLUMN sequra_order INTEGER NOT NULL DEFAULT 0;

UPDATE webhook_events SET sequra_order = 1
 WHERE EXISTS (SELECT 1 FROM solicitations s
                WHERE s.store_hash = webhook_events.store_hash
                  AND s.bc_order_id = webhook_events.order_id
                  AND s.sequra_uuid IS NOT NULL);

CREATE INDEX webhook_events_by_order ON webhook_events (store_hash, order_id, id)
 WHERE sequra_order = 1;
DROP INDEX webhook_events_unprocessed;
