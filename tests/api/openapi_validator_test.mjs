// The response check can fail: what docs/openapi.yaml does not describe (a route, a method, a
// status, a content type, a body or an event of the wrong shape) is rejected, with a message
// that names it; what it describes passes. And the command line the suites' check runs exits
// non-zero on such a record.
//   node openapi_validator_test.mjs <openapi.json>
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ResponseChecker } from "./openapi_validator.mjs";

const documentPath = process.argv[2];
const document = JSON.parse(readFileSync(documentPath, "utf8"));
const checker = await ResponseChecker.create(document);

const json = (value) => JSON.stringify(value);
const ts = "2026-11-24T10:00:00.000Z";
const event = (seq, type, data) => ({
  event_id: `r1/stdout/${seq}#1`, run_id: "r1", session_id: "s1", seq, type, ts, provider: "claude-code", data,
});
const run = {
  run_id: "r1", session_id: "s1", provider: "claude-code", model: null, approval_mode: "auto",
  status: "running", attempts: 1, usage: null, error: null, provider_session_id: null,
  stop_requested: false, created_at: ts, started_at: ts, finished_at: null,
  pending_human_requests: [], last_seq: 3,
};
const response = (method, path, status, body, contentType = "application/json") =>
  ({ kind: "response", method, path, status, content_type: contentType, body: typeof body === "string" ? body : json(body) });
const notFound = { error: { code: "not_found", message: "no route for GET /v2/x", hint: "" } };

const accepted = [
  ["health", response("GET", "/health", 200, { status: "ok" })],
  ["a run", response("GET", "/v1/runs/r1", 200, run)],
  ["a run with a query", response("GET", "/v1/runs/r1?x=1", 200, run)],
  ["HEAD of a GET route, no body", response("HEAD", "/v1/runs/r1", 200, "")],
  ["an error object", response("GET", "/v1/runs/r1", 404, { error: { code: "run_not_found", message: "no run", hint: "" } })],
  ["the router's 404 for an unknown path", response("GET", "/v2/nothing", 404, notFound)],
  ["a malformed path refused before routing",
   response("GET", "/heal%th", 400, { error: { code: "invalid_path", message: "bad escape", hint: "" } })],
  ["the router's 405 for a method a path has not",
   response("DELETE", "/v1/runs/r1", 405, { error: { code: "method_not_allowed", message: "m", hint: "GET" } })],
  ["an event page", response("GET", "/v1/runs/r1/events?after=0", 200, {
    run_id: "r1", status: "running", next_after: 2,
    events: [event(1, "run.queued", { provider: "claude-code", prompt_chars: 5 }),
             event(2, "message.delta", { message_id: "m1", kind: "text", text: "hi" })] })],
  ["an event stream's headers", response("GET", "/v1/runs/r1/events", 200, "", "text/event-stream")],
  ["a stream event", { kind: "sse_event", path: "/v1/runs/r1/events", id: "2", event: "tool.start",
                       data: json(event(2, "tool.start", { tool_call_id: "t1", name: "Bash", input: {} })) }],
  ["the 204 that ends a finished run's reconnects", response("GET", "/v1/runs/r1/events", 204, "", "")],
  ["a run listing", response("GET", "/v1/runs?session_id=s1&limit=5", 200,
                             { runs: [{ ...run, pending_human_requests: undefined, last_seq: undefined }] })],
  ["a session listing", response("GET", "/v1/sessions", 200, { sessions: [] })],
  ["the metrics", response("GET", "/metrics", 200, "# TYPE x counter\nx 1\n", "text/plain; version=0.0.4; charset=utf-8")],
  ["the console's script", response("GET", "/console/console.js", 200, "let x;", "text/javascript; charset=utf-8")],
  ["a reply no host took in time",
   response("POST", "/v1/runs/r1/human-reply", 503, { error: { code: "reply_pending", message: "m", hint: "" } })],
];
for (const [what, record] of accepted) {
  assert.deepEqual(checker.checkRecord(record), [], `accepted: ${what}`);
}

const rejected = [
  ["a body of the wrong shape", response("GET", "/health", 200, { status: "fine" }),
   "GET /health 200: the body does not match docs/openapi.yaml"],
  ["an undocumented route", response("GET", "/v2/secret", 200, { ok: true }),
   "route GET /v2/secret status 200 not in docs/openapi.yaml"],
  ["a 404 on an unknown path without the router's error", response("GET", "/v2/secret", 404, { ok: true }),
   "route GET /v2/secret status 404 not in docs/openapi.yaml"],
  ["a handler's 400 on an unknown path", response("POST", "/v2/secret", 400,
   { error: { code: "invalid_json", message: "m", hint: "" } }), "route POST /v2/secret status 400 not in docs/openapi.yaml"],
  ["an undocumented method", response("DELETE", "/health", 200, { status: "ok" }),
   "route DELETE /health status 200 not in docs/openapi.yaml"],
  ["an undocumented status", response("GET", "/v1/runs/r1", 418, { error: { code: "teapot", message: "" } }),
   "route GET /v1/runs/{rid} status 418 not in docs/openapi.yaml"],
  ["a missing field", response("GET", "/v1/runs/r1", 200, { ...run, last_seq: undefined }),
   "must have required property 'last_seq'"],
  ["a status not in the enum", response("POST", "/v1/sessions/s1/messages", 202,
   { run_id: "r1", status: "bogus", session_id: "s1", created: true }), "/status must be equal to one of the allowed values"],
  ["an undocumented content type", response("GET", "/health", 200, "ok", "text/plain"),
   "content type 'text/plain' not in docs/openapi.yaml"],
  ["a body that is not JSON", response("GET", "/health", 200, "{"), "the body is not JSON"],
  ["a 204 where the document has none", response("GET", "/v1/runs/r1", 204, ""),
   "route GET /v1/runs/{rid} status 204 not in docs/openapi.yaml"],
  ["a 204 with a body", response("GET", "/v1/runs/r1/events", 204, "x", "text/plain"),
   "the document describes no body, but one came"],
  ["the metrics as JSON", response("GET", "/metrics", 200, { x: 1 }),
   "content type 'application/json' not in docs/openapi.yaml"],
  ["a run listing without its list", response("GET", "/v1/runs", 200, { entries: [] }),
   "must have required property 'runs'"],
  ["an error without its code", response("GET", "/v1/runs/r1", 404, { error: { message: "no run" } }),
   "must have required property 'code'"],
  ["an event missing a required data field", response("GET", "/v1/runs/r1/events", 200, {
    run_id: "r1", status: "running", next_after: 1,
    events: [event(1, "message.delta", { message_id: "m1", kind: "text" })] }), "must have required property 'text'"],
  ["an event of an unknown type", { kind: "sse_event", path: "/v1/runs/r1/events", id: "1", event: "bogus.type",
                                    data: json(event(1, "bogus.type", {})) }, "does not match RunEvent"],
  ["a frame whose id is not the event's seq", { kind: "sse_event", path: "/v1/runs/r1/events", id: "7", event: "run.resumed",
                                                data: json(event(1, "run.resumed", { request_id: "q" })) }, "frame id '7' but data.seq 1"],
];
for (const [what, record, expected] of rejected) {
  const problems = checker.checkRecord(record);
  assert.ok(problems.length > 0, `rejected: ${what}`);
  assert.ok(problems.some((p) => p.includes(expected)), `rejected: ${what}: expected '${expected}' in ${json(problems)}`);
}

// The suites' check, end to end: a record directory with one wrong response fails it.
const dir = mkdtempSync(join(tmpdir(), "aw-api-records-"));
try {
  writeFileSync(join(dir, "suite-1.jsonl"),
                json({ ...response("GET", "/health", 200, { status: "ok" }), test: "Suite.Good" }) + "\n" +
                json({ ...response("GET", "/v1/runs/r1", 418, "{}"), test: "Suite.Wrong" }) + "\n");
  const cli = join(dirname(fileURLToPath(import.meta.url)), "check_openapi.mjs");
  const result = spawnSync(process.execPath, [cli, "responses", documentPath, dir], { encoding: "utf8" });
  assert.equal(result.status, 1, `check_openapi.mjs responses must fail: ${result.stdout}${result.stderr}`);
  assert.match(result.stderr, /route GET \/v1\/runs\/\{rid\} status 418 not in docs\/openapi.yaml/);
  assert.match(result.stderr, /seen in Suite.Wrong/);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

console.log(`${accepted.length} described responses accepted, ${rejected.length} wrong ones rejected`);
