-- Agent Worker schema, version 6 (PostgreSQL): how far each run's stdout is translated, one row a run.
--
-- Lines are handed to the provider plugin in seq order, so one number per run says which are
-- translated. Marking each line's row instead rewrote every raw_output row (its whole line)
-- a second time, a seventh of an append's time at 64 lines a callback. raw_output.translated
-- now names only quarantined lines (2); rows marked 1 before this version are covered by the
-- seq taken over below.
CREATE TABLE run_translation (
    run_id              TEXT PRIMARY KEY,
    stdout_seq          BIGINT NOT NULL
);

INSERT INTO run_translation (run_id, stdout_seq)
SELECT run_id, MAX(seq) FROM raw_output
WHERE stream = 'stdout' AND translated <> 0
GROUP BY run_id;
