-- V2: the merchant's seQura connection, selling countries, cached payment methods, general
-- settings and order-status mapping. One row set per store; everything cascades with the store.

-- The seQura account a store is connected with (at most one per store).
CREATE TABLE sequra_connections (
    store_hash    TEXT PRIMARY KEY REFERENCES stores (store_hash) ON DELETE CASCADE,
    environment   TEXT NOT NULL CHECK (environment IN ('sandbox', 'live')),
    username      TEXT NOT NULL,
    password      BLOB NOT NULL,                  -- AES-256-GCM sealed, bound to the store
    connected_at  TEXT NOT NULL,                  -- RFC 3339 UTC
    updated_at    TEXT NOT NULL
);

-- What `GET merchants/credentials` returned: the merchant refs the account may use.
CREATE TABLE sequra_merchants (
    store_hash    TEXT NOT NULL REFERENCES stores (store_hash) ON DELETE CASCADE,
    merchant_ref  TEXT NOT NULL,
    country       TEXT NOT NULL,                  -- ISO 3166-1 alpha-2
    currency      TEXT NOT NULL,
    payload       TEXT NOT NULL,                  -- the credentials object as JSON
    PRIMARY KEY (store_hash, merchant_ref)
);

-- Selling countries: the merchant ref used for shoppers of each country.
CREATE TABLE selling_countries (
    store_hash    TEXT NOT NULL REFERENCES stores (store_hash) ON DELETE CASCADE,
    country       TEXT NOT NULL,                  -- ES, FR, IT, PT, CO, PE
    merchant_ref  TEXT NOT NULL,
    PRIMARY KEY (store_hash, country)
);

-- Payment methods imported per merchant ref, with when they were fetched.
CREATE TABLE payment_methods (
    store_hash    TEXT NOT NULL REFERENCES stores (store_hash) ON DELETE CASCADE,
    merchant_ref  TEXT NOT NULL,
    methods       TEXT NOT NULL,                  -- JSON array of the categories seQura sent
    fetched_at    TEXT NOT NULL,                  -- RFC 3339 UTC
    PRIMARY KEY (store_hash, merchant_ref)
);

-- General settings (one row per store; absent = defaults).
CREATE TABLE general_settings (
    store_hash           TEXT PRIMARY KEY REFERENCES stores (store_hash) ON DELETE CASCADE,
    allowed_ips          TEXT NOT NULL DEFAULT '[]',  -- JSON array of IPs; empty = everyone
    excluded_categories  TEXT NOT NULL DEFAULT '[]',  -- JSON array of {id, name}
    excluded_products    TEXT NOT NULL DEFAULT '[]',  -- JSON array of {id, name, sku}
    send_order_reports   INTEGER NOT NULL DEFAULT 1,  -- 1 = send the daily delivery report
    updated_at           TEXT NOT NULL
);

-- seQura order state → BigCommerce order status; NULL status = leave the order alone.
CREATE TABLE order_status_mappings (
    store_hash     TEXT NOT NULL REFERENCES stores (store_hash) ON DELETE CASCADE,
    sequra_status  TEXT NOT NULL CHECK (sequra_status IN ('approved', 'needs_review', 'cancelled')),
    bc_status_id   INTEGER,                       -- BigCommerce status id, NULL = None
    PRIMARY KEY (store_hash, sequra_status)
);
