-- V1: the stores that installed the app, their control-panel users, and the state of what
-- the app provisions in each store. Released migrations are history: never edit, add V2.

-- One row per BigCommerce store that ever installed the app. Uninstalling keeps the row
-- (settings and history survive a reinstall) but deletes every secret at once.
CREATE TABLE stores (
    store_hash      TEXT PRIMARY KEY,             -- from context/sub `stores/{hash}`
    status          TEXT NOT NULL                 -- 'installed' | 'uninstalled'
                    CHECK (status IN ('installed', 'uninstalled')),
    access_token    BLOB,                         -- AES-256-GCM sealed; NULL once uninstalled
    scopes          TEXT NOT NULL DEFAULT '',     -- space-separated scopes granted at install
    owner_id        INTEGER,                      -- store owner's BigCommerce user id
    owner_email     TEXT,
    account_uuid    TEXT,                         -- Developer Portal account that owns the app
    store_id        TEXT,                         -- numeric store id (webhooks' `store_id`)
    store_name      TEXT,
    webhook_secret  BLOB,                         -- sealed per-store secret sent by webhooks
    installed_at    TEXT NOT NULL,                -- RFC 3339 UTC, first install
    reinstalled_at  TEXT,                         -- RFC 3339 UTC, latest (re)install
    uninstalled_at  TEXT,                         -- RFC 3339 UTC, latest uninstall
    CHECK (status = 'installed' OR (access_token IS NULL AND webhook_secret IS NULL))
);

-- Control-panel users of a store who have opened the app (owner included).
CREATE TABLE store_users (
    store_hash     TEXT NOT NULL REFERENCES stores (store_hash) ON DELETE CASCADE,
    user_id        INTEGER NOT NULL,              -- BigCommerce user id
    email          TEXT NOT NULL,
    locale         TEXT,                          -- BCP-47 tag from the JWT, e.g. es-ES
    is_owner       INTEGER NOT NULL DEFAULT 0,    -- 1 for the store owner
    first_seen_at  TEXT NOT NULL,
    last_seen_at   TEXT NOT NULL,
    PRIMARY KEY (store_hash, user_id)
);

-- What the app set up in the store, one row per item, with the latest outcome so the
-- dashboard can show it and a retry can repair it.
CREATE TABLE provisioning (
    store_hash  TEXT NOT NULL REFERENCES stores (store_hash) ON DELETE CASCADE,
    item        TEXT NOT NULL                     -- 'webhooks' | 'script' | 'extension'
                CHECK (item IN ('webhooks', 'script', 'extension')),
    state       TEXT NOT NULL                     -- 'ok' | 'failing'
                CHECK (state IN ('ok', 'failing')),
    reason      TEXT,                             -- merchant-readable failure reason
    attempts    INTEGER NOT NULL DEFAULT 0,       -- consecutive failures
    checked_at  TEXT NOT NULL,                    -- RFC 3339 UTC of the last attempt
    PRIMARY KEY (store_hash, item)
);
