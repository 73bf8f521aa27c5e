-- The store's storefronts (BigCommerce channels of type `storefront`) as the app last read
-- them, and the merchant's switch for each (issue 14). Everything a shopper touches comes
-- from the checkout's channel: the origin allowed to call the app, the storefront the shopper
-- returns to, the language of the app's shopper pages.
CREATE TABLE storefronts (
    store_hash   TEXT NOT NULL REFERENCES stores (store_hash) ON DELETE CASCADE,
    channel_id   INTEGER NOT NULL,
    name         TEXT NOT NULL,
    platform     TEXT NOT NULL,             -- `bigcommerce` is a Stencil storefront; others are headless
    status       TEXT NOT NULL,             -- the channel's status (active, prelaunch, inactive, …)
    url          TEXT,                      -- the site's primary URL, no trailing `/`
    checkout_url TEXT,                      -- the site's checkout URL when it has its own
    locale       TEXT,                      -- the default shopper language, e.g. `es`
    currency     TEXT,                      -- the default currency, e.g. `EUR`
    terms        INTEGER NOT NULL DEFAULT 0, -- the checkout asks to accept terms and conditions
    enabled      INTEGER,                   -- the merchant's switch; NULL follows the store's default
    first_seen   TEXT NOT NULL,
    seen_at      TEXT NOT NULL,
    gone_at      TEXT,                      -- no longer listed, or archived or deleted
    new          INTEGER NOT NULL DEFAULT 0, -- appeared after the first read, not yet seen by the merchant
    PRIMARY KEY (store_hash, channel_id)
);

-- Whether a storefront the merchant has not switched is on (new ones follow it).
ALTER TABLE stores ADD COLUMN storefronts_default_on INTEGER NOT NULL DEFAULT 1;

-- The checkout's channel, from its start: the storefront a shopper returns to.
ALTER TABLE solicitations ADD COLUMN channel_id INTEGER;

-- Provisioning has one more item, the storefronts read (SQLite cannot widen a CHECK: the
-- table is rebuilt with its rows).
CREATE TABLE provisioning_v16 (
    store_hash  TEXT NOT NULL REFERENCES stores (store_hash) ON DELETE CASCADE,
    item        TEXT NOT NULL
                CHECK (item IN ('webhooks', 'storefronts', 'script', 'extension')),
    state       TEXT NOT NULL
                CHECK (state IN ('ok', 'failing')),
    reason      TEXT,
    attempts    INTEGER NOT NULL DEFAULT 0,
    checked_at  TEXT NOT NULL,
    PRIMARY KEY (store_hash, item)
);
INSERT INTO provisioning_v16 (store_hash, item, state, reason, attempts, checked_at)
    SELECT store_hash, item, state, reason, attempts, checked_at FROM provisioning;
DROP TABLE provisioning;
ALTER TABLE provisioning_v16 RENAME TO provisioning;
