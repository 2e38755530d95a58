-- Agent Worker schema, version 10 (PostgreSQL): where the swarm workers' executors are, shared.
--
-- A worker started by one replica is driven by any other, on any machine: each worker's
-- executor address, the nonce its tokens derive from (with the cluster's secret, which is
-- not here), and the SHA-256 digest (hex) of its pending bootstrap token, never the token.
CREATE TABLE worker_executors (
    session_id        TEXT PRIMARY KEY,
    token_nonce       TEXT NOT NULL,
    bootstrap_digest  TEXT UNIQUE,
    address           TEXT NOT NULL DEFAULT '',
    updated_at_ms     BIGINT NOT NULL
);

-- Settings every replica must agree on; today the fingerprint of the cluster's secret.
CREATE TABLE cluster_settings (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
