-- Agent Worker schema, version 5 (PostgreSQL): an append to a run's logs checks the run once.
--
-- Each append of events or raw output locks the run's row first and refuses an unknown run
-- (run_not_found) in the same transaction. These foreign keys checked the run again for
-- every row inserted: a trigger and a KEY SHARE lock of that same row per event and per
-- line, a fifth of the inserts' time at 64 lines a callback. Runs are never deleted, so they
-- guarded nothing the appends do not.
ALTER TABLE run_events DROP CONSTRAINT run_events_run_id_fkey;
ALTER TABLE raw_output DROP CONSTRAINT raw_output_run_id_fkey;
