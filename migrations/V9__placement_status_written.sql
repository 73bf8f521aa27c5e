-- The placement job writes the BigCommerce order's status, then tells seQura the order
-- number. When the second step fails and the job runs again, the status must not be written
-- again: the merchant may have changed it meanwhile.
ALTER TABLE solicitations ADD COLUMN status_written_for TEXT;  -- the state ('approved',
                                                               -- 'on_hold', 'cancelled') whose
                                                               -- mapped status the order got
