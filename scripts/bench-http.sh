#!/usr/bin/env bash
# HTTP throughput of agent-host on its two hottest read routes, with wrk from a second
# process: GET /health and GET /v1/runs/{rid} of a completed run with some events.
#   scripts/bench-http.sh [build-dir]     (default: build)
# Environment: BENCH_DURATION (10s), BENCH_THREADS (2), BENCH_CONNECTIONS (32), and any
# AW_* setting for the host (e.g. AW_DB_POOL_SIZE=4). Figures only; no assertions.
set -euo pipefail

build_dir=${1:-build}
host_bin="$build_dir/bin/agent-host"
duration=${BENCH_DURATION:-10s}
threads=${BENCH_THREADS:-2}
connections=${BENCH_CONNECTIONS:-32}

if ! command -v wrk >/dev/null; then
    echo "bench-http: wrk is not installed (apt-get install -y wrk); skipped"
    exit 0
fi
if ! command -v sqlite3 >/dev/null; then
    echo "bench-http: the sqlite3 command is not installed (apt-get install -y sqlite3); skipped"
    exit 0
fi
[[ -x "$host_bin" ]] || { echo "bench-http: no $host_bin; build first" >&2; exit 1; }

work=$(mktemp -d)
host_pid=
cleanup() {
    if [[ -n "$host_pid" ]]; then
        kill -TERM "$host_pid" 2>/dev/null || true
        wait "$host_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/data" "$work/plugins"
# With a client token, as any host serving more than its own machine has: a host without
# tokens looks up every loopback caller's uid in /proc/net/tcp, a cost of its own.
# The access log goes to a file, as it would in production: a terminal would be the cost measured.
token=bench-client-token
AW_AUTH_CLIENT_TOKENS=$token AW_AUTH_ADMIN_TOKENS=bench-admin-token "$host_bin" --listen 127.0.0.1:0 --data-dir "$work/data" --plugins-dir "$work/plugins" \
    >"$work/stdout" 2>"$work/stderr.log" &
host_pid=$!
url=
for _ in $(seq 100); do
    url=$(sed -n 's/^agent-host listening on \(http:\/\/[0-9.:]*\)$/\1/p' "$work/stdout")
    [[ -n "$url" ]] && break
    sleep 0.1
done
[[ -n "$url" ]] || { echo "bench-http: agent-host did not start:" >&2; cat "$work/stderr.log" >&2; exit 1; }

# A completed run with 20 events, written straight into the host's SQLite database (WAL: the
# running host reads it at once). Its session is stopped, so no worker is started for it.
run_id=run_bench
now=$(date +%s000)
{
    echo "BEGIN;"
    echo "INSERT INTO session_workers (session_id, status, desired_status, workspace_s3_prefix,"
    echo "  created_at_ms, updated_at_ms) VALUES ('bench', 'stopped', 'stopped', 'bench/', $now, $now);"
    echo "INSERT INTO runs (run_id, session_id, provider, prompt, status, attempts, usage,"
    echo "  created_at_ms, started_at_ms, finished_at_ms) VALUES ('$run_id', 'bench', 'claude-code',"
    echo "  'say hello', 'completed', 1, '{\"input_tokens\":10,\"output_tokens\":20}', $now, $now, $now);"
    for seq in $(seq 20); do
        echo "INSERT INTO run_events (event_id, run_id, session_id, seq, type, provider, data, ts_ms)"
        echo "  VALUES ('$run_id:$seq', '$run_id', 'bench', $seq, 'message.delta', 'claude-code',"
        echo "  '{\"text\":\"hello\"}', $now);"
    done
    echo "COMMIT;"
} | sqlite3 -cmd ".timeout 10000" "$work/data/agent.db" >/dev/null
status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$url/v1/runs/$run_id")
[[ "$status" == 200 ]] || { echo "bench-http: GET /v1/runs/$run_id answered $status" >&2; exit 1; }

# wrk's summary: "Requests/sec: N" and, with --latency, the "99% T" percentile.
measure() {
    local out
    out=$(wrk -t"$threads" -c"$connections" -d"$duration" --latency \
        -H "Authorization: Bearer $token" "$url$1")
    printf '%-22s %12s %10s\n' "$1" "$(awk '/^Requests\/sec/ {print $2}' <<<"$out")" \
        "$(awk '$1 == "99%" {print $2}' <<<"$out")"
}

echo "wrk -t$threads -c$connections -d$duration --latency, $host_bin"
printf '%-22s %12s %10s\n' route req/s p99
measure /health
measure "/v1/runs/$run_id"
