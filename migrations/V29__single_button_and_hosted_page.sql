-- V29: the checkout's layout (issue 32, "One seQura button, and the hosted page").

-- 1: seQura's identification form opens on a page of its own on the app's public URL instead
-- of over the checkout (seQura's `showSeQuraCheckoutAsHostedPage`, a general setting: saved
-- with the others by the General settings page, and by seQura's configuration webhook).
ALTER TABLE general_settings ADD COLUMN hosted_page INTEGER NOT NULL DEFAULT 0;

-- The Payment methods page's settings, kept apart from the general settings row (whose
-- existence says the merchant saved the general settings; seQura reads that as "never saved"
-- when it is missing).
CREATE TABLE payment_method_settings (
    store_hash     TEXT PRIMARY KEY REFERENCES stores (store_hash) ON DELETE CASCADE,
    -- 1: one "Pay with seQura" button at the payment step instead of one per method; the
    -- shopper picks the plan inside seQura's form (`form_v2?product=tbs`, no campaign).
    single_button  INTEGER NOT NULL DEFAULT 0,
    updated_at     TEXT NOT NULL
);
