-- Promotional widgets (issue 15): the settings of all storefronts (channel_id 0) and those of
-- a storefront that has its own (a storefront without a row follows channel 0's). The
-- settings are one JSON document, validated whole before it is written.
CREATE TABLE widget_settings (
    store_hash  TEXT NOT NULL REFERENCES stores (store_hash) ON DELETE CASCADE,
    channel_id  INTEGER NOT NULL,
    settings    TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (store_hash, channel_id)
);
