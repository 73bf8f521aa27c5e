-- The status the app is about to write on its own, recorded before the write: BigCommerce may
-- apply it and the app then fail to record it (a crash, a 5xx after the change, a full disk).
-- A status equal to this one is still the app's, not the merchant's, so the next outcome
-- moves it on. Cleared once the write is recorded in default_status_written.
ALTER TABLE solicitations ADD COLUMN default_status_intended INTEGER;
