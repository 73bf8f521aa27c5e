-- The placement tells seQura the order number once: it confirms again (`confirmed`, or
-- `on_hold` during a review) with order_ref_1 and the cart seQura approved. Sent again after
-- an Order Update (a re-queued or slow placement running after a sync), that older cart could
-- undo shipments and refunds at seQura. What became of it, per solicitation:
--   NULL         not sent yet;
--   'on_hold'    seQura accepted it for the review;
--   'approved'   seQura accepted it for the approval;
--   'superseded' an Order Update of the order was accepted first: it is never sent.
ALTER TABLE solicitations ADD COLUMN number_confirmation TEXT;
