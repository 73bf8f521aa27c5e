-- V28: seQura's remote configuration (issue 32). seQura's teams read and change a store's
-- settings through a signed configuration webhook; the merchant can turn that off.

-- One row per store that chose; no row: on (what seQura's own plugins do). Off: the app
-- deregisters the store's configuration webhook and the route refuses the store.
CREATE TABLE remote_configuration (
    store_hash TEXT PRIMARY KEY REFERENCES stores (store_hash) ON DELETE CASCADE,
    enabled    INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    changed_at TEXT NOT NULL
);
