-- The app's own log lines about each store (issue 17, the merchant's Diagnostics page): what
-- the operator's log says about this store, kept a week and at most a few thousand lines a
-- store (the app prunes), so that a merchant can read and download it without the operator.
CREATE TABLE app_log (
    id          INTEGER PRIMARY KEY,
    store_hash  TEXT NOT NULL REFERENCES stores (store_hash) ON DELETE CASCADE,
    at          TEXT NOT NULL,
    level       TEXT NOT NULL CHECK (level IN ('error', 'warn', 'info')),
    message     TEXT NOT NULL
);
CREATE INDEX app_log_by_store ON app_log (store_hash, id);
CREATE INDEX app_log_by_time ON app_log (at);
