-- Agent Worker schema, version 3 (PostgreSQL): finished queue entries leave run_queue, so a
-- claim walks only unfinished work however many runs have ever been queued.

-- Entries that ended succeeded or final_failed, moved here by the transaction that ends
-- them. Same columns; queue_id keeps the value run_queue gave it. Still read by
-- findByRun, GET /v1/run-queue and enqueue_key idempotency.
CREATE TABLE run_queue_done (
    queue_id            BIGINT PRIMARY KEY,
    enqueue_key         TEXT NOT NULL UNIQUE,
    run_id              TEXT NOT NULL UNIQUE REFERENCES runs (run_id),
    session_id          TEXT NOT NULL,
    status              TEXT NOT NULL CHECK (status IN ('succeeded','final_failed')),
    attempts            INTEGER NOT NULL,
    max_attempts        INTEGER NOT NULL,
    available_at_ms     BIGINT NOT NULL,
    locked_by           TEXT,
    lock_expires_at_ms  BIGINT NOT NULL,
    last_error          TEXT,
    created_at_ms       BIGINT NOT NULL,
    updated_at_ms       BIGINT NOT NULL
);

INSERT INTO run_queue_done (queue_id, enqueue_key, run_id, session_id, status, attempts,
    max_attempts, available_at_ms, locked_by, lock_expires_at_ms, last_error, created_at_ms,
    updated_at_ms)
SELECT queue_id, enqueue_key, run_id, session_id, status, attempts, max_attempts,
    available_at_ms, locked_by, lock_expires_at_ms, last_error, created_at_ms, updated_at_ms
FROM run_queue WHERE status IN ('succeeded', 'final_failed');

DELETE FROM run_queue WHERE status IN ('succeeded', 'final_failed');

-- A claim walks run_queue in queue_id order and checks the two session rules with one
-- index probe each: an older entry of the session; an entry of it claimed (the partial
-- index holds the claimed entries only).
CREATE INDEX run_queue_session_order ON run_queue (session_id, queue_id);
CREATE INDEX run_queue_claimed ON run_queue (session_id) WHERE status = 'claimed';

-- Replaced by the two above. run_queue_ready also misled the planners: with stale or no
-- statistics they would gather every ready entry through it and sort them all.
DROP INDEX run_queue_session;
DROP INDEX run_queue_ready;
