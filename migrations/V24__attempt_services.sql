-- What made the order's products services when the seQura order was solicited (JSON
-- `Services`: the contract's terms, the store's default end date, the products' custom
-- fields). The order's updates (refunds, shipments, cancellation) describe the services
-- seQura took, not whatever the merchant's catalog says since. NULL before V24, and for an
-- attempt seQura has not answered: the order's updates then read the catalog, as before.
ALTER TABLE sequra_attempts ADD COLUMN services TEXT;
