-- The deployment an order was solicited on (issue 16): every later call for it (confirmation,
-- order number, updates) goes there, even once the merchant ref is listed by another
-- deployment's credentials (a ref listed by both, one moved from seQura's to SVEA's). NULL
-- only for what was never solicited.

ALTER TABLE solicitations ADD COLUMN deployment TEXT CHECK (deployment IN ('sequra', 'svea'));
ALTER TABLE sequra_attempts ADD COLUMN deployment TEXT CHECK (deployment IN ('sequra', 'svea'));

-- Solicited so far: on the deployment whose credentials list the ref now (before V20, and
-- for a ref no credentials list any more, seQura's).
UPDATE sequra_attempts SET deployment = COALESCE(
    (SELECT m.deployment FROM sequra_merchants m
     WHERE m.store_hash = sequra_attempts.store_hash
       AND m.merchant_ref = sequra_attempts.merchant_ref),
    'sequra');
UPDATE solicitations SET deployment = COALESCE(
    (SELECT m.deployment FROM sequra_merchants m
     WHERE m.store_hash = solicitations.store_hash
       AND m.merchant_ref = solicitations.merchant_ref),
    'sequra')
WHERE merchant_ref IS NOT NULL;
