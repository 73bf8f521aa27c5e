-- BigCommerce leaves archived orders out of its orders list, so the reconciliation cannot
-- find an archive (or a change of an archived order) whose webhooks were lost by listing:
-- it rechecks its approved seQura orders by id, a few each sweep, the longest unchecked
-- first. When each was last rechecked.
ALTER TABLE solicitations ADD COLUMN rechecked_at TEXT;
CREATE INDEX solicitations_recheck ON solicitations (store_hash, state, rechecked_at);
