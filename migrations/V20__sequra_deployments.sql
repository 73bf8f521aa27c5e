-- seQura's deployments (issue 16): a store may connect an account on each deployment (seQura,
-- SVEA), under one environment switch for all; each merchant ref belongs to the deployment
-- whose credentials listed it, and every call for it goes to that deployment's hosts.

CREATE TABLE sequra_connections_v20 (
    store_hash    TEXT NOT NULL REFERENCES stores (store_hash) ON DELETE CASCADE,
    deployment    TEXT NOT NULL CHECK (deployment IN ('sequra', 'svea')),
    environment   TEXT NOT NULL CHECK (environment IN ('sandbox', 'live')),
    username      TEXT NOT NULL,
    password      BLOB NOT NULL,                  -- AES-256-GCM sealed, bound to the store and deployment
    connected_at  TEXT NOT NULL,                  -- RFC 3339 UTC
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (store_hash, deployment)
);
-- Every connection so far was the seQura deployment's.
INSERT INTO sequra_connections_v20
    (store_hash, deployment, environment, username, password, connected_at, updated_at)
SELECT store_hash, 'sequra', environment, username, password, connected_at, updated_at
FROM sequra_connections;
DROP TABLE sequra_connections;
ALTER TABLE sequra_connections_v20 RENAME TO sequra_connections;

-- The deployment whose credentials listed the merchant ref.
ALTER TABLE sequra_merchants ADD COLUMN deployment TEXT NOT NULL DEFAULT 'sequra'
    CHECK (deployment IN ('sequra', 'svea'));

-- seQura's list of deployments as last read (`GET deployments`), for a restart that cannot
-- read it: one row, the list as seQura sent it.
CREATE TABLE sequra_deployments (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    payload   TEXT NOT NULL,                      -- JSON array as seQura sent it
    read_at   TEXT NOT NULL                       -- RFC 3339 UTC
);
