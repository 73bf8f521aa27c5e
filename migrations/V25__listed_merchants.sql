-- Every merchant ref each deployment's credentials list. `sequra_merchants` keeps the one
-- deployment a ref is sold through (the last connected that lists it); disconnecting that
-- deployment hands the ref, its country and its orders' later calls to another connected
-- deployment that lists it too, instead of dropping a country the merchant still sells.
CREATE TABLE sequra_listed_merchants (
    store_hash    TEXT NOT NULL REFERENCES stores (store_hash) ON DELETE CASCADE,
    deployment    TEXT NOT NULL,
    merchant_ref  TEXT NOT NULL,
    country       TEXT NOT NULL,
    currency      TEXT NOT NULL,
    payload       TEXT NOT NULL,
    PRIMARY KEY (store_hash, deployment, merchant_ref)
);
INSERT INTO sequra_listed_merchants (store_hash, deployment, merchant_ref, country, currency, payload)
SELECT store_hash, deployment, merchant_ref, country, currency, payload FROM sequra_merchants;
