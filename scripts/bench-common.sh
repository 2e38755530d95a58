# What the HTTP benchmarks share (scripts/bench-http.sh, scripts/bench-peers.sh): agent-host
# started for a benchmark, a completed run for it to serve, wrk and its figures.
# Sourced, not run: `source "$(dirname "$0")/bench-common.sh"` in a script with set -euo
# pipefail; BENCH_NAME (the script's name) starts the messages.

# The client token every benchmark host accepts and every benchmark request carries. With a
# token, as any host serving more than its own machine has: a host without tokens looks up
# every loopback caller's uid in /proc/net/tcp, a cost of its own.
BENCH_TOKEN=bench-client-token
# The completed run bench_seed_run writes, with 20 events.
BENCH_RUN_ID=run_bench

# The agent-host processes started so far; bench_stop_hosts ends them (call it from the EXIT trap).
bench_host_pids=()

# bench_start_host HOST_BIN DIR [agent-host option...]: starts agent-host on a free loopback
# port with its data in DIR/data, its stdout in DIR/stdout and its log in DIR/stderr.log (a
# file, as it would be in production: a terminal would be the cost measured). Sets
# BENCH_HOST_URL (http://127.0.0.1:PORT) and BENCH_HOST_PID; any AW_* setting in the
# environment reaches the host.
bench_start_host() {
    local host_bin=$1 dir=$2
    shift 2
    mkdir -p "$dir/data" "$dir/plugins"
    AW_AUTH_CLIENT_TOKENS=$BENCH_TOKEN AW_AUTH_ADMIN_TOKENS=bench-admin-token \
        "$host_bin" --listen 127.0.0.1:0 --data-dir "$dir/data" --plugins-dir "$dir/plugins" "$@" \
        >"$dir/stdout" 2>"$dir/stderr.log" &
    BENCH_HOST_PID=$!
    bench_host_pids+=("$BENCH_HOST_PID")
    BENCH_HOST_URL=
    for _ in $(seq 100); do
        BENCH_HOST_URL=$(sed -n 's/^agent-host listening on \(http:\/\/[0-9.:]*\)$/\1/p' "$dir/stdout")
        [[ -n "$BENCH_HOST_URL" ]] && return 0
        sleep 0.1
    done
    echo "${BENCH_NAME:-bench}: agent-host did not start:" >&2
    cat "$dir/stderr.log" >&2
    return 1
}

# bench_stop_host PID: stops one host started by bench_start_host and waits for it.
bench_stop_host() {
    kill -TERM "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# bench_stop_hosts: stops every host started by bench_start_host that still runs.
bench_stop_hosts() {
    local pid
    for pid in "${bench_host_pids[@]}"; do bench_stop_host "$pid"; done
    bench_host_pids=()
}

# bench_seed_run DB: a completed run ($BENCH_RUN_ID) with 20 events, written straight into a
# running host's SQLite database (WAL: the host reads it at once). Its session is stopped, so
# no worker is started for it.
bench_seed_run() {
    local db=$1 now seq
    now=$(date +%s000)
    {
        echo "BEGIN;"
        echo "INSERT INTO session_workers (session_id, status, desired_status, workspace_s3_prefix,"
        echo "  created_at_ms, updated_at_ms) VALUES ('bench', 'stopped', 'stopped', 'bench/', $now, $now);"
        echo "INSERT INTO runs (run_id, session_id, provider, prompt, status, attempts, usage,"
        echo "  created_at_ms, started_at_ms, finished_at_ms) VALUES ('$BENCH_RUN_ID', 'bench', 'claude-code',"
        echo "  'say hello', 'completed', 1, '{\"input_tokens\":10,\"output_tokens\":20}', $now, $now, $now);"
        for seq in $(seq 20); do
            echo "INSERT INTO run_events (event_id, run_id, session_id, seq, type, provider, data, ts_ms)"
            echo "  VALUES ('$BENCH_RUN_ID:$seq', '$BENCH_RUN_ID', 'bench', $seq, 'message.delta', 'claude-code',"
            echo "  '{\"text\":\"hello\"}', $now);"
        done
        echo "COMMIT;"
    } | sqlite3 -cmd ".timeout 10000" "$db" >/dev/null
}

# bench_expect_200 URL: fails, saying so, unless GET URL (with the token) answers 200.
bench_expect_200() {
    local status
    status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $BENCH_TOKEN" "$1")
    [[ "$status" == 200 ]] && return 0
    echo "${BENCH_NAME:-bench}: GET $1 answered $status" >&2
    return 1
}

# bench_wrk URL THREADS CONNECTIONS DURATION: wrk's report of GET URL with the token and
# --latency, on stdout.
bench_wrk() {
    wrk -t"$2" -c"$3" -d"$4" --latency -H "Authorization: Bearer $BENCH_TOKEN" "$1"
}

# From a wrk report on stdin: requests per second, the 99th percentile latency as wrk
# writes it (e.g. 1.23ms), and the failures (socket errors and timeouts, non-2xx answers).
bench_wrk_rate() { awk '/^Requests\/sec/ {print $2}'; }
bench_wrk_p99() { awk '$1 == "99%" {print $2}'; }
bench_wrk_failures() {
    awk '/Socket errors/ {gsub(",", ""); n += $4 + $6 + $8 + $10} /Non-2xx/ {n += $NF}
         END {print n + 0}'
}
