-- Agent Worker schema, version 8 (PostgreSQL): the newest runs without a sort.
--
-- GET /v1/runs (the console, aw runs) lists the newest runs, of one session or of all. One
-- session's runs are read through runs_session; across sessions the list sorted every kept
-- run, and now walks this index backwards.
CREATE INDEX runs_newest ON runs (created_at_ms, run_id);
