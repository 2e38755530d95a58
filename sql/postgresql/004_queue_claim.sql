-- Agent Worker schema, version 4 (PostgreSQL): a claim is one statement, and finished entries
-- are pruned after a retention.

-- Should an older version have left two claimed entries of a session (only possible when
-- an enqueue committed out of order and a lease expired), all but the one leased longest
-- wait again, as if their leases had expired: their holders lose them.
UPDATE run_queue SET status = 'retry_wait'
WHERE status = 'claimed' AND EXISTS (SELECT 1 FROM run_queue o
    WHERE o.session_id = run_queue.session_id AND o.status = 'claimed'
    AND (o.lock_expires_at_ms > run_queue.lock_expires_at_ms
        OR (o.lock_expires_at_ms = run_queue.lock_expires_at_ms AND o.queue_id < run_queue.queue_id)));

-- At most one claimed entry per session, kept by the database. A claim takes a session's
-- entry only when none of it is claimed; this index also refuses the one case a claim's
-- snapshot cannot see (an older entry whose enqueue committed after a newer one's), so
-- two claimers never run two entries of one session at once. It serves the claim's probe
-- for a claimed entry of the session as run_queue_claimed did.
CREATE UNIQUE INDEX run_queue_one_claimed ON run_queue (session_id) WHERE status = 'claimed';
DROP INDEX run_queue_claimed;

-- Pruning deletes the entries that ended longest ago first.
CREATE INDEX run_queue_done_updated ON run_queue_done (updated_at_ms);
