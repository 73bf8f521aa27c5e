-- BigCommerce leaves archived orders out of its orders list, so the reconciliation cannot
-- find an archive (or a change of an archived order) whose webhooks were lost by listing:
-- it rechecks its approved seQura orders of the last months by id, a few each sweep, the
-- longest unchecked first. When each was last rechecked, and the modification date it had
-- then (an archived order unchanged since is not synced again).
ALTER TABLE solicitations ADD COLUMN rechecked_at TEXT;
ALTER TABLE solicitations ADD COLUMN rechecked_modified TEXT;
CREATE INDEX solicitations_recheck ON solicitations (store_hash, state, rechecked_at);
