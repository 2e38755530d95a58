-- Agent Worker schema, version 4 (PostgreSQL): a claim is one statement, and finished entries
-- are pruned after a retention.

-- At most one claimed entry per session, kept by the database. A claim takes a session's
-- entry only when none of it is claimed; this index also refuses the one case a claim's
-- snapshot cannot see (an older entry whose enqueue committed after a newer one's), so
-- two claimers never run two entries of one session at once. It serves the claim's probe
-- for a claimed entry of the session as run_queue_claimed did.
CREATE UNIQUE INDEX run_queue_one_claimed ON run_queue (session_id) WHERE status = 'claimed';
DROP INDEX run_queue_claimed;

-- Pruning deletes the entries that ended longest ago first.
CREATE INDEX run_queue_done_updated ON run_queue_done (updated_at_ms);
