-- V31: seQura's configuration topics (issue 32). seQura's teams change a store's settings
-- through the configuration webhook; each change is in the store's transaction log, and
-- seQura's advanced settings say which of the store's own log lines are kept.

-- The transaction log gets the outcome 'changed': a setting changed by seQura (event
-- 'remote_configuration'), which was sent nowhere, refused by no one and waits for nothing.
-- SQLite cannot alter a CHECK constraint: the table is built again with the same columns
-- (V5's, V19's message_key and message_args), rows and ids, and its indexes.
CREATE TABLE transaction_log_v31 (
    id            INTEGER PRIMARY KEY,
    store_hash    TEXT NOT NULL REFERENCES stores (store_hash) ON DELETE CASCADE,
    bc_order_id   INTEGER,
    sequra_uuid   TEXT,
    environment   TEXT,
    merchant_ref  TEXT,
    event         TEXT NOT NULL,                -- shipment, refund, …, remote_configuration
    outcome       TEXT NOT NULL
                  CHECK (outcome IN ('sent', 'rejected', 'failed', 'waiting', 'changed')),
    message       TEXT NOT NULL DEFAULT '',
    created_at    TEXT NOT NULL,
    resolved_at   TEXT,                         -- a later update of the order went through
    message_key   TEXT,                         -- catalog key of the app's own message
    message_args  TEXT                          -- JSON object: name → {"text"|"money"|"term": …}
);
INSERT INTO transaction_log_v31
    (id, store_hash, bc_order_id, sequra_uuid, environment, merchant_ref, event, outcome,
     message, created_at, resolved_at, message_key, message_args)
SELECT id, store_hash, bc_order_id, sequra_uuid, environment, merchant_ref, event, outcome,
       message, created_at, resolved_at, message_key, message_args
FROM transaction_log;
DROP TABLE transaction_log;
ALTER TABLE transaction_log_v31 RENAME TO transaction_log;
CREATE INDEX transaction_log_by_store ON transaction_log (store_hash, id);
CREATE INDEX transaction_log_by_order ON transaction_log (store_hash, bc_order_id, id);

-- seQura's advanced settings of a store (`get-/save-advanced-settings`): whether the store's
-- own log lines (app_log, the Diagnostics page) are kept, and down to which level (seQura's
-- 0 error, 1 warning, 2 info, 3 debug). No row: kept at info, as before V31.
CREATE TABLE advanced_settings (
    store_hash  TEXT PRIMARY KEY REFERENCES stores (store_hash) ON DELETE CASCADE,
    log_enabled INTEGER NOT NULL CHECK (log_enabled IN (0, 1)),
    log_level   INTEGER NOT NULL CHECK (log_level BETWEEN 0 AND 3),
    changed_at  TEXT NOT NULL
);
