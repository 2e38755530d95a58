-- Agent Worker schema, version 11 (PostgreSQL): the replicas that announce their presence.
--
-- Each replica of agent-host holds an advisory lock named after its host id while it runs
-- (host/src/db/replica_presence.h), and says so here once it holds it: the others then end
-- its queue leases as soon as that lock is free, instead of waiting them out. A holder of
-- leases that is not listed here (an older version) is left to its leases.
CREATE TABLE cluster_replicas (
    host_id        TEXT PRIMARY KEY,
    started_at_ms  BIGINT NOT NULL
);
