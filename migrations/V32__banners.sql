-- V32: banners seQura pushes through the configuration webhook (issue 32,
-- save-banner-settings). One banner per store and country; the list seQura sends replaces the
-- store's whole set. The image itself is a file in the data directory
-- (<data_dir>/banners/<store_hash>/<file>), served by the app at /banners/<store_hash>/<file>.
CREATE TABLE banners (
    store_hash       TEXT NOT NULL REFERENCES stores (store_hash) ON DELETE CASCADE,
    -- ISO 3166-1 alpha-2, upper case: one of the store's selling countries when saved.
    country          TEXT NOT NULL,
    -- Where the banner leads: an http(s) URL of at most 2048 characters, as seQura sent it.
    link_url         TEXT NOT NULL,
    -- seQura's wire string: displayOnHomePage, displayOnProductPage, displayOnCartPage or
    -- displayOnProductListingPage.
    display_location TEXT NOT NULL,
    -- The image's file name, content-addressed (<country>-<sha256 prefix>.<ext>): a new image
    -- is a new URL, so the old one may be cached forever.
    file             TEXT NOT NULL,
    -- image/png, image/jpeg or image/webp, from the image's own bytes.
    content_type     TEXT NOT NULL,
    -- Pixels, from the image's header: the storefront reserves that room before it loads.
    width            INTEGER NOT NULL CHECK (width > 0),
    height           INTEGER NOT NULL CHECK (height > 0),
    updated_at       TEXT NOT NULL,
    PRIMARY KEY (store_hash, country)
);
