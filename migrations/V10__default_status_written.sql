-- A status mapped to None leaves the merchant's status alone. But a status the app chose
-- itself (an order mapped to None is placed with BigCommerce's default, never left
-- Incomplete) is not the merchant's: the next outcome moves it on, or an approved order stays
-- "in review" and a cancelled one stays paid-looking. The status id the app wrote on its own;
-- NULL when a mapping decided, or the app wrote none.
ALTER TABLE solicitations ADD COLUMN default_status_written INTEGER;
