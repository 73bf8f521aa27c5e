-- Promotional widgets (issue 15): the products of the categories the merchant excluded from
-- seQura, as BigCommerce last listed them. A storefront page names its product, never the
-- product's categories, so the widget script is told the products. One row per store.
CREATE TABLE excluded_category_products (
    store_hash   TEXT PRIMARY KEY REFERENCES stores (store_hash) ON DELETE CASCADE,
    categories   TEXT NOT NULL,   -- JSON array of the category ids that were read
    product_ids  TEXT NOT NULL,   -- JSON array of the ids of their products
    read_at      TEXT NOT NULL    -- RFC 3339 UTC
);
