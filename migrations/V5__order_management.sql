-- V5: order management after the sale. A durable job queue for every outbound side effect,
-- what seQura last accepted for each order, the merchant's transaction log and the daily
-- delivery reports.

-- The job queue. A job is written in the same transaction as the fact that calls for it, so a
-- crash at any instant either loses both or keeps both; a job found `running` at start-up was
-- interrupted and runs again (every job's effect is idempotent).
CREATE TABLE jobs (
    id          INTEGER PRIMARY KEY,
    store_hash  TEXT NOT NULL REFERENCES stores (store_hash) ON DELETE CASCADE,
    kind        TEXT NOT NULL,                  -- sync_order, place_order, provision, …
    serial_key  TEXT NOT NULL,                  -- same key (e.g. order:42): one at a time, oldest first
    dedupe_key  TEXT NOT NULL,                  -- the same work is queued once while pending
    payload     TEXT NOT NULL,                  -- the job's arguments (JSON)
    state       TEXT NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'running', 'done', 'failed')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    run_at      INTEGER NOT NULL,               -- unix ms: not before (backoff)
    last_error  TEXT,                           -- why the last attempt failed, for the operator
    created_at  INTEGER NOT NULL,               -- unix ms: the maximum age counts from here
    updated_at  INTEGER NOT NULL
);

CREATE UNIQUE INDEX jobs_pending_once ON jobs (store_hash, dedupe_key) WHERE state = 'pending';
CREATE INDEX jobs_due ON jobs (state, run_at);
CREATE INDEX jobs_serial ON jobs (store_hash, serial_key, state, id);

-- When the BigCommerce order got seQura's outcome (status, payment method, reference): the
-- IPN follow-up. Approved orders without it are finished by the reconciliation.
ALTER TABLE solicitations ADD COLUMN placed_at TEXT;
UPDATE solicitations SET placed_at = updated_at WHERE state IN ('approved', 'on_hold', 'cancelled');

-- What seQura last accepted for a confirmed order: the Order Update API body's carts and
-- addresses. An order is sent again only when what it should hold differs from this.
CREATE TABLE order_sync (
    solicitation_id  INTEGER PRIMARY KEY REFERENCES solicitations (id) ON DELETE CASCADE,
    store_hash       TEXT NOT NULL REFERENCES stores (store_hash) ON DELETE CASCADE,
    bc_order_id      INTEGER NOT NULL,
    accepted         TEXT NOT NULL,             -- JSON {shipped_cart, unshipped_cart, addresses}
    shipped_total    INTEGER NOT NULL DEFAULT 0, -- cents, tax included
    unshipped_total  INTEGER NOT NULL DEFAULT 0,
    refunded_total   INTEGER NOT NULL DEFAULT 0,
    accepted_at      TEXT NOT NULL,
    shipped_at       TEXT,                      -- last time the shipped cart grew
    UNIQUE (store_hash, bc_order_id)
);

CREATE INDEX order_sync_shipped ON order_sync (store_hash, shipped_at);

-- The transaction log: every update sent to seQura, rejected, given up on or waiting, with
-- seQura's message. Rejections are what the merchant acts on.
CREATE TABLE transaction_log (
    id            INTEGER PRIMARY KEY,
    store_hash    TEXT NOT NULL REFERENCES stores (store_hash) ON DELETE CASCADE,
    bc_order_id   INTEGER,
    sequra_uuid   TEXT,
    environment   TEXT,
    merchant_ref  TEXT,
    event         TEXT NOT NULL,                -- shipment, refund, cancellation, update, …
    outcome       TEXT NOT NULL CHECK (outcome IN ('sent', 'rejected', 'failed', 'waiting')),
    message       TEXT NOT NULL DEFAULT '',
    created_at    TEXT NOT NULL,
    resolved_at   TEXT                          -- a later update of the order went through
);

CREATE INDEX transaction_log_by_store ON transaction_log (store_hash, id);
CREATE INDEX transaction_log_by_order ON transaction_log (store_hash, bc_order_id, id);

-- Delivery reports: one per store, environment, merchant ref and day.
CREATE TABLE delivery_reports (
    id            INTEGER PRIMARY KEY,
    store_hash    TEXT NOT NULL REFERENCES stores (store_hash) ON DELETE CASCADE,
    environment   TEXT NOT NULL,
    merchant_ref  TEXT NOT NULL,
    report_date   TEXT NOT NULL,                -- YYYY-MM-DD (UTC)
    period_start  TEXT NOT NULL,                -- shipped after this …
    period_end    TEXT NOT NULL,                -- … and up to this (RFC 3339)
    orders        INTEGER,                      -- orders reported, once sent
    sent_at       TEXT,
    UNIQUE (store_hash, environment, merchant_ref, report_date)
);

-- The reconciliation's cursor: orders modified in BigCommerce since then are checked.
ALTER TABLE stores ADD COLUMN reconciled_through INTEGER;
