-- Agent Worker schema, version 2 (PostgreSQL): what the run store needs beyond
-- version 1. The same statements in both dialects.

-- A raw stdout/stderr record may be one piece of a longer line; 1 when the next piece follows.
ALTER TABLE raw_output ADD COLUMN continued INTEGER NOT NULL DEFAULT 0;

-- Claims look for a session's other entries (live claims, older ready entries).
CREATE INDEX run_queue_session ON run_queue (session_id, status);

-- Runs by status (recovery after a restart, runsWithStatus), oldest first.
CREATE INDEX runs_status ON runs (status, created_at_ms);

-- Pending human-loop requests past their timeout.
CREATE INDEX human_loop_status ON human_loop (status, created_at_ms);
