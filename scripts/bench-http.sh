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

BENCH_NAME=bench-http
source "$(dirname "$0")/bench-common.sh"

work=$(mktemp -d)
cleanup() {
    bench_stop_hosts
    rm -rf "$work"
}
trap cleanup EXIT

bench_start_host "$host_bin" "$work"
url=$BENCH_HOST_URL
bench_seed_run "$work/data/agent.db"
bench_expect_200 "$url/v1/runs/$BENCH_RUN_ID"

measure() {
    local out
    out=$(bench_wrk "$url$1" "$threads" "$connections" "$duration")
    printf '%-22s %12s %10s\n' "$1" "$(bench_wrk_rate <<<"$out")" "$(bench_wrk_p99 <<<"$out")"
}

echo "wrk -t$threads -c$connections -d$duration --latency, $host_bin"
printf '%-22s %12s %10s\n' route req/s p99
measure /health
measure "/v1/runs/$BENCH_RUN_ID"
