-- Agent Worker schema, version 1 (PostgreSQL). Times are Unix milliseconds (BIGINT) in both
-- dialects so comparisons and leases behave the same everywhere. JSON is stored as TEXT.

-- One row per chat session: the sandbox it runs in and the safety facts about its files.
CREATE TABLE session_workers (
    session_id          TEXT PRIMARY KEY,
    tenant_id           TEXT NOT NULL DEFAULT 'default',
    status              TEXT NOT NULL DEFAULT 'pending' CHECK (status IN
                        ('pending','creating','running','stopping','stopped','removing','removed','deleted','failed')),
    desired_status      TEXT NOT NULL DEFAULT 'running' CHECK (desired_status IN
                        ('pending','creating','running','stopping','stopped','removing','removed','deleted','failed')),
    version             BIGINT NOT NULL DEFAULT 0,
    runtime             TEXT NOT NULL DEFAULT 'local',
    executor_id         TEXT,
    executor_endpoint   TEXT,
    executor_token      TEXT,
    workspace_s3_prefix TEXT NOT NULL,
    last_sync_status    TEXT NOT NULL DEFAULT 'never' CHECK (last_sync_status IN ('never','succeeded','failed')),
    last_sync_error     TEXT,
    last_sync_at_ms     BIGINT NOT NULL DEFAULT 0,
    last_active_at_ms   BIGINT NOT NULL DEFAULT 0,
    last_error          TEXT,
    provider_sessions   TEXT NOT NULL DEFAULT '{}',
    provider_usage      TEXT NOT NULL DEFAULT '{}',
    state_changed_at_ms BIGINT NOT NULL DEFAULT 0,
    created_at_ms       BIGINT NOT NULL,
    updated_at_ms       BIGINT NOT NULL
);
CREATE INDEX session_workers_status ON session_workers (status, last_active_at_ms);

-- One row per user message handled by a provider.
CREATE TABLE runs (
    run_id              TEXT PRIMARY KEY,
    session_id          TEXT NOT NULL REFERENCES session_workers (session_id),
    provider            TEXT NOT NULL,
    prompt              TEXT NOT NULL,
    model               TEXT,
    approval_mode       TEXT NOT NULL DEFAULT 'auto' CHECK (approval_mode IN ('auto','ask')),
    status              TEXT NOT NULL DEFAULT 'queued' CHECK (status IN
                        ('queued','starting','running','waiting_human','completed','failed','stopped')),
    idempotency_key     TEXT,
    attempts            INTEGER NOT NULL DEFAULT 0,
    error_code          TEXT,
    error_message       TEXT,
    usage               TEXT NOT NULL DEFAULT '{}',
    provider_session_id TEXT,
    stop_requested_at_ms BIGINT NOT NULL DEFAULT 0,
    created_at_ms       BIGINT NOT NULL,
    started_at_ms       BIGINT NOT NULL DEFAULT 0,
    finished_at_ms      BIGINT NOT NULL DEFAULT 0,
    UNIQUE (session_id, idempotency_key)
);
CREATE INDEX runs_session ON runs (session_id, created_at_ms);

-- Work waiting to be dispatched; enqueue is idempotent through enqueue_key.
CREATE TABLE run_queue (
    queue_id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    enqueue_key         TEXT NOT NULL UNIQUE,
    run_id              TEXT NOT NULL UNIQUE REFERENCES runs (run_id),
    session_id          TEXT NOT NULL,
    status              TEXT NOT NULL DEFAULT 'queued' CHECK (status IN
                        ('queued','claimed','succeeded','retry_wait','final_failed')),
    attempts            INTEGER NOT NULL DEFAULT 0,
    max_attempts        INTEGER NOT NULL DEFAULT 3,
    available_at_ms     BIGINT NOT NULL,
    locked_by           TEXT,
    lock_expires_at_ms  BIGINT NOT NULL DEFAULT 0,
    last_error          TEXT,
    created_at_ms       BIGINT NOT NULL,
    updated_at_ms       BIGINT NOT NULL
);
CREATE INDEX run_queue_ready ON run_queue (status, available_at_ms);

-- The unified event log: dense seq per run, deterministic event_id for deduplication.
CREATE TABLE run_events (
    event_id            TEXT PRIMARY KEY,
    run_id              TEXT NOT NULL REFERENCES runs (run_id),
    session_id          TEXT NOT NULL,
    seq                 BIGINT NOT NULL,
    type                TEXT NOT NULL,
    provider            TEXT NOT NULL,
    data                TEXT NOT NULL DEFAULT '{}',
    ts_ms               BIGINT NOT NULL,
    UNIQUE (run_id, seq)
);

-- Raw CLI output exactly as the executor delivered it, kept before translation.
CREATE TABLE raw_output (
    event_id            TEXT PRIMARY KEY,
    run_id              TEXT NOT NULL REFERENCES runs (run_id),
    stream              TEXT NOT NULL CHECK (stream IN ('stdout','stderr','exit')),
    seq                 BIGINT NOT NULL,
    line                TEXT NOT NULL,
    translated          INTEGER NOT NULL DEFAULT 0,
    received_at_ms      BIGINT NOT NULL,
    UNIQUE (run_id, stream, seq)
);

-- Human-approval requests and their answers.
CREATE TABLE human_loop (
    run_id              TEXT NOT NULL REFERENCES runs (run_id),
    request_id          TEXT NOT NULL,
    session_id          TEXT NOT NULL,
    kind                TEXT NOT NULL CHECK (kind IN ('permission','question')),
    tool                TEXT,
    input               TEXT NOT NULL DEFAULT '{}',
    options             TEXT NOT NULL DEFAULT '[]',
    status              TEXT NOT NULL DEFAULT 'pending' CHECK (status IN
                        ('pending','answered','cancelled','timed_out')),
    decision            TEXT,
    message             TEXT,
    answered_by         TEXT,
    created_at_ms       BIGINT NOT NULL,
    answered_at_ms      BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, request_id)
);

-- The session's current todo list, derived from todo.update events.
CREATE TABLE todos (
    session_id          TEXT NOT NULL,
    todo_id             TEXT NOT NULL,
    position            INTEGER NOT NULL,
    content             TEXT NOT NULL,
    status              TEXT NOT NULL CHECK (status IN ('pending','in_progress','completed')),
    run_id              TEXT NOT NULL,
    updated_at_ms       BIGINT NOT NULL,
    PRIMARY KEY (session_id, todo_id)
);
