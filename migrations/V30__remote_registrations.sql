-- V30: the store's configuration webhook registered with seQura (issue 32), per deployment,
-- and the registrations waiting to be deleted from seQura.

-- One row per store and connected deployment whose registration was asked for. No row: never
-- asked for (a store connected before this version: the reconciliation sweep queues one).
CREATE TABLE remote_registrations (
    store_hash  TEXT NOT NULL REFERENCES stores (store_hash) ON DELETE CASCADE,
    deployment  TEXT NOT NULL CHECK (deployment IN ('sequra', 'svea')),
    -- pending: a registration job is queued (or retrying); registered: seQura answered 2xx
    -- with the integration's Location; failed: seQura refused it (reason), retried daily;
    -- refused: seQura did not accept the credentials (401), not retried until they change.
    state       TEXT NOT NULL CHECK (state IN ('pending', 'registered', 'failed', 'refused')),
    reason      TEXT,                   -- why it is not registered: a message key of the merchant's pages
    detail      TEXT,                   -- seQura's own words about it, if any; no secret
    environment TEXT CHECK (environment IN ('sandbox', 'live')), -- where `webhook_url` was registered
    endpoint    TEXT,                   -- `webhook_url` without its query (not secret): a changed public URL shows here
    webhook_url BLOB,                   -- the signed URL registered, AES-256-GCM sealed: it is a bearer credential, and deleting it after a password change needs it
    updated_at  TEXT NOT NULL,          -- RFC 3339 UTC
    PRIMARY KEY (store_hash, deployment)
);

-- A registration to delete from seQura (disconnect, uninstall, changed credentials or public
-- URL, remote configuration turned off), with what the DELETE needs once the connection is
-- gone. The row goes when the deletion is done or given up.
CREATE TABLE remote_deregistrations (
    id          INTEGER PRIMARY KEY,
    store_hash  TEXT NOT NULL REFERENCES stores (store_hash) ON DELETE CASCADE,
    deployment  TEXT NOT NULL CHECK (deployment IN ('sequra', 'svea')),
    environment TEXT NOT NULL CHECK (environment IN ('sandbox', 'live')),
    username    TEXT NOT NULL,
    password    BLOB NOT NULL,          -- sealed, bound to the store and deployment
    merchant_id TEXT,                   -- the Sequra-Merchant-Id sent
    webhook_url BLOB NOT NULL,          -- sealed
    attempts    INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL
);
CREATE INDEX remote_deregistrations_store ON remote_deregistrations (store_hash);
