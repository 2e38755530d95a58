'use strict';
// The Express 5 + better-sqlite3 peer of agent-host's two hottest read routes, on the
// host's own SQLite file (scripts/bench-peers.sh copies it after the host created the run):
//   GET /health          {"status":"ok"}, no token, as agent-host answers it
//   GET /v1/runs/:rid    the run as agent-host's body has it (pending_human_requests,
//                        last_seq), from the same one-row query, behind the same bearer token
// Usage: node express-app.js <agent.db> <client token>
// Listens on 127.0.0.1 on a free port and prints "express listening on http://127.0.0.1:PORT".
const express = require('express');
const Database = require('better-sqlite3');

const [dbPath, token] = process.argv.slice(2);
if (!dbPath || !token) {
  console.error('usage: node express-app.js <agent.db> <client token>');
  process.exit(2);
}

const db = new Database(dbPath, { readonly: true, fileMustExist: true });
// Prepared once, as a better-sqlite3 application would: the run, its last seq and how many
// human requests wait, in one statement (the one agent-host runs).
const runDetail = db.prepare(
  `SELECT runs.*,
     (SELECT COALESCE(MAX(seq), 0) FROM run_events WHERE run_events.run_id = runs.run_id) AS last_seq,
     (SELECT COUNT(*) FROM human_loop WHERE human_loop.run_id = runs.run_id
        AND human_loop.status = 'pending') AS pending
   FROM runs WHERE run_id = ?`);
const pendingHumans = db.prepare(
  `SELECT * FROM human_loop WHERE run_id = ? AND status = 'pending' ORDER BY created_at_ms`);

const iso = (ms) => (ms > 0 ? new Date(ms).toISOString() : null);
const parse = (text) => (text ? JSON.parse(text) : null);

const app = express();
const bearer = `Bearer ${token}`;
function clientToken(req, res, next) {
  if (req.get('authorization') === bearer) return next();
  res.status(401).json({ error: { code: 'unauthorized', message: 'missing or wrong bearer token' } });
}

app.get('/health', (req, res) => {
  res.json({ status: 'ok' });
});

app.get('/v1/runs/:rid', clientToken, (req, res) => {
  const row = runDetail.get(req.params.rid);
  if (!row) {
    res.status(404).json({ error: { code: 'run_not_found', message: `no run ${req.params.rid}` } });
    return;
  }
  const pending = row.pending > 0 ? pendingHumans.all(row.run_id) : [];
  res.json({
    run_id: row.run_id,
    session_id: row.session_id,
    provider: row.provider,
    model: row.model || null,
    approval_mode: row.approval_mode,
    status: row.status,
    attempts: row.attempts,
    usage: parse(row.usage),
    error: row.error_code ? { code: row.error_code, message: row.error_message } : null,
    provider_session_id: row.provider_session_id || null,
    stop_requested: row.stop_requested_at_ms > 0,
    created_at: iso(row.created_at_ms),
    started_at: iso(row.started_at_ms),
    finished_at: iso(row.finished_at_ms),
    pending_human_requests: pending.map((h) => ({
      run_id: h.run_id,
      request_id: h.request_id,
      kind: h.kind,
      tool: h.tool,
      input: parse(h.input),
      options: parse(h.options),
      status: h.status,
      decision: h.decision || null,
      created_at: iso(h.created_at_ms),
      answered_at: iso(h.answered_at_ms),
    })),
    last_seq: row.last_seq,
  });
});

const server = app.listen(0, '127.0.0.1', () => {
  console.log(`express listening on http://127.0.0.1:${server.address().port}`);
});
// Node's default keep-alive timeout (5 s) would close idle wrk connections mid-run.
server.keepAliveTimeout = 65000;
