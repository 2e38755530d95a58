-- Agent Worker schema, version 6 (SQLite): a human reply may reach any replica.
--
-- Replicas share the database, and a run is driven by the one holding its queue lease. A
-- reply received by another replica is left on its request (forwarded_reply, the reply as
-- JSON) for the driving one, which gives it to the run's plugin and clears it; when the
-- plugin refuses it, reply_error says why, for the replica that is waiting to answer.
ALTER TABLE human_loop ADD COLUMN forwarded_reply TEXT;
ALTER TABLE human_loop ADD COLUMN reply_error TEXT;
