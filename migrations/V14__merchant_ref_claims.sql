-- Which stores have used which seQura merchant ref (issue 31, review): order_ref_1 is the
-- bare BigCommerce order number, so two stores of this installation on one ref would number
-- their orders alike at seQura, and one's confirmed #100 makes seQura refuse the other's.
-- A ref stays a store's once it sold with it, installed or not (an uninstalled store's
-- orders are still at seQura, and it may come back): the selling countries alone forgot it
-- at uninstall.
CREATE TABLE merchant_ref_claims (
    environment   TEXT NOT NULL,                 -- sandbox | live
    merchant_ref  TEXT NOT NULL,
    store_hash    TEXT NOT NULL REFERENCES stores (store_hash) ON DELETE CASCADE,
    claimed_at    TEXT NOT NULL,                 -- RFC 3339 UTC, first use: the earliest holds it
    PRIMARY KEY (environment, merchant_ref, store_hash)
);

-- Every ref a store has solicited seQura with so far.
INSERT OR IGNORE INTO merchant_ref_claims (environment, merchant_ref, store_hash, claimed_at)
SELECT environment, merchant_ref, store_hash, MIN(created_at)
FROM solicitations
WHERE environment IS NOT NULL AND merchant_ref IS NOT NULL
GROUP BY environment, merchant_ref, store_hash;
