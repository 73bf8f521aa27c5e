-- V27: recovery after a restore (issue 17, disaster recovery). A restored database (a backup,
-- a Litestream replica) goes back in time while BigCommerce and seQura keep what happened
-- since: the app finds it again from what they keep, and says so in the transaction log.

-- The recovery point a store's next reconciliation recovers from (RFC 3339 UTC: the newest
-- activity the restored database holds), set by `sequra-bc restore` for every store; cleared
-- once that store's recovery went through. NULL: nothing to recover.
ALTER TABLE stores ADD COLUMN recover_from TEXT;

-- The state whose record the BigCommerce order carries in the app's `sequra`/`payment`
-- metafield (written when seQura's outcome is confirmed, before the notification is
-- answered): what a database that lost the outcome finds it again from.
ALTER TABLE solicitations ADD COLUMN marked_for TEXT;

-- 1: what seQura holds of the order is not known (it changed in the time a restore lost, or
-- its record was rebuilt): the next sync sends the order's state even when it matches what
-- was last accepted here.
ALTER TABLE order_sync ADD COLUMN resend INTEGER NOT NULL DEFAULT 0;
