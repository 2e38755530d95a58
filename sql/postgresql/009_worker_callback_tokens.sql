-- Agent Worker schema, version 9 (PostgreSQL): the workers' callback tokens, shared.
--
-- Executors post callbacks with their worker's own token. Replicas behind one load balancer
-- each receive some of them, so every host must know every worker's token: its SHA-256
-- digest (hex) is kept here, never the token. A worker has one; its removal deletes it.
CREATE TABLE worker_callback_tokens (
    session_id   TEXT PRIMARY KEY,
    executor_id  TEXT NOT NULL,
    digest       TEXT NOT NULL UNIQUE,
    bound_at_ms  BIGINT NOT NULL
);
