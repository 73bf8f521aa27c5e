-- Languages (issue 16): a message the app writes to the transaction log itself is kept as a
-- catalog key and its arguments, shown in the reader's language; `message` keeps its English
-- text (what rows written before hold, and what an export or a reader without the catalog
-- shows). Quoted seQura or BigCommerce texts are arguments, or the message itself (no key).
ALTER TABLE transaction_log ADD COLUMN message_key TEXT;
ALTER TABLE transaction_log ADD COLUMN message_args TEXT;  -- JSON object: name → {"text"|"money"|"term": …}
