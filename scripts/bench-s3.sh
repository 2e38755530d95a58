#!/usr/bin/env bash
# Workspace transfers against an S3 server, agent-executor (the s3 object store) beside
# rclone, in one run on one s3rver: a full sync of a workspace of BENCH_FILES files of
# BENCH_FILE_BYTES each (10,000 x 1,000 bytes: about 10 MB), an incremental sync with one
# file changed, and a restore of the whole workspace into an empty directory; a table of
# the wall times at the end.
#   scripts/bench-s3.sh [build-dir]     (default: build)
#   BENCH_TRANSFERS="1 8": one executor column per --s3-transfers value (default: 8)
# Needs s3rver (scripts/install-test-servers.sh), rclone, curl and python3 (skipped without
# them). Figures only; no assertions.
set -euo pipefail

build_dir=$(realpath "${1:-build}")
files=${BENCH_FILES:-10000}
file_bytes=${BENCH_FILE_BYTES:-1000}
transfers_list=${BENCH_TRANSFERS:-8}
cache="${AW_TEST_SERVERS_CACHE:-$HOME/.cache/agent-worker/test-servers}"
s3rver="$cache/s3rver@3.7.1/node_modules/.bin/s3rver"
executor="$build_dir/bin/agent-executor"

[[ -x "$executor" ]] || { echo "bench-s3: no $executor; build first" >&2; exit 1; }
if [[ ! -x "$s3rver" ]]; then
    echo "bench-s3: s3rver is not installed (scripts/install-test-servers.sh; make test does); skipped"
    exit 0
fi
for tool in rclone curl python3; do
    if ! command -v "$tool" >/dev/null; then
        echo "bench-s3: $tool is not installed (apt-get install -y $tool); skipped"
        exit 0
    fi
done

work=$(mktemp -d /tmp/aw-bench-s3-XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/s3" "$work/workspace" "$work/home" "$work/state" "$work/rclone-down"

# s3rver makes its continuation tokens with DES: node's OpenSSL 3 has it only in the legacy provider.
NODE_OPTIONS=--openssl-legacy-provider "$s3rver" --directory "$work/s3" --address 127.0.0.1 \
    --port 0 --silent >"$work/s3rver.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do grep -q "listening on" "$work/s3rver.log" && break; sleep 0.1; done
endpoint="http://$(grep -o '127.0.0.1:[0-9]*' "$work/s3rver.log")"
empty_sha256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
curl -sf -o /dev/null -X PUT --aws-sigv4 aws:amz:us-east-1:s3 -u S3RVER:S3RVER \
    -H "x-amz-content-sha256: $empty_sha256" "$endpoint/bench"

python3 - "$work/workspace" "$files" "$file_bytes" <<'PY'
import os, sys
root, files, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(files):
    directory = f"{root}/dir{i // 100:04}"
    os.makedirs(directory, exist_ok=True)
    with open(f"{directory}/file{i % 100:03}.txt", "wb") as out:
        out.write(os.urandom(size))
PY

call() {  # call PATH JSON: one workspace call to the executor
    curl -sf --unix-socket "$work/x.sock" -H "Authorization: Bearer bench-token" \
        -H "Content-Type: application/json" -X POST "http://executor$1" -d "$2" >/dev/null
}
declare -A seconds  # "<column>/<operation>" -> wall time
timed() {  # timed COLUMN OPERATION COMMAND...: records the wall time
    local key="$1/$2" started ended
    shift 2
    started=$(date +%s.%N)
    "$@" >/dev/null 2>&1 || { echo "bench-s3: $key failed" >&2; exit 1; }
    ended=$(date +%s.%N)
    seconds[$key]=$(awk -v s="$started" -v e="$ended" 'BEGIN { printf "%.2f", e - s }')
    echo "  $key: ${seconds[$key]} s"
}
start_executor() {  # start_executor SESSION TRANSFERS: an executor for the session's prefix
    rm -f "$work/x.sock"
    rm -rf "$work/state" && mkdir -p "$work/state"
    printf 'bench-token\ncallback-token\nS3RVER\nS3RVER\n\n' | "$executor" --socket "$work/x.sock" \
        --spool-dir "$work/state/spool" --callback-url http://127.0.0.1:9/unused --executor-id bench \
        --session-id "$1" --workspace "$work/workspace" --home "$work/home" --bucket bench \
        --key-prefix "r/t/$1/" --state-dir "$work/state" --object-store s3 --s3-endpoint "$endpoint" \
        --s3-transfers "$2" >"$work/executor.out" 2>"$work/executor-$1.log" &
    executor_pid=$!
    pids+=("$executor_pid")
    for _ in $(seq 100); do [[ -S "$work/x.sock" ]] && break; sleep 0.1; done
}
plan() {  # plan SESSION: the restore plan of the session's workspace
    echo '{"version":1,"session_id":"'"$1"'","bucket":"bench","key_prefix":"r/t/'"$1"'/",
"level":"workspace","situation":"recreated","entries":[{"name":"workspace","level":"workspace",
"source_key_prefix":"r/t/'"$1"'/workspace/","target_path":"'"$work/workspace"'","mode":"copy",
"conflict_policy":"keep_session","required":true}],"required_paths":[],"protected_paths":[]}'
}

export RCLONE_CONFIG="$work/rclone.conf" RCLONE_CONFIG_BENCH_TYPE=s3 RCLONE_CONFIG_BENCH_PROVIDER=Other \
    RCLONE_CONFIG_BENCH_ENDPOINT="$endpoint" RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE=true \
    RCLONE_CONFIG_BENCH_REGION=us-east-1 RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=S3RVER \
    RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=S3RVER
unset AWS_CA_BUNDLE  # breaks rclone's plain-http endpoint

echo "bench-s3: $files files of $file_bytes bytes, s3rver at $endpoint, load: $(cut -d' ' -f1-3 /proc/loadavg)"
columns=()
for transfers in $transfers_list; do
    column="agent-executor x$transfers"
    columns+=("$column")
    session="s$transfers"
    start_executor "$session" "$transfers"
    timed "$column" "full sync up" call /workspace/sync '{"mode":"full","reason":"bench"}'
    echo "changed by $column" >>"$work/workspace/dir0000/file000.txt"
    timed "$column" "incremental sync, 1 file changed" \
        call /workspace/sync '{"mode":"incremental","reason":"bench"}'
    rm -rf "$work/workspace" && mkdir -p "$work/workspace"
    timed "$column" "restore into an empty directory" call /workspace/restore "$(plan "$session")"
    restored=$(find "$work/workspace" -type f | wc -l)
    [[ "$restored" == "$files" ]] || { echo "bench-s3: restored $restored of $files files" >&2; exit 1; }
    kill "$executor_pid" && wait "$executor_pid" 2>/dev/null || true
done
column="rclone (defaults: 4 transfers)"
columns+=("$column")
timed "$column" "full sync up" rclone sync "$work/workspace" bench:bench/rclone/workspace
echo "changed by rclone" >>"$work/workspace/dir0000/file000.txt"
timed "$column" "incremental sync, 1 file changed" rclone sync "$work/workspace" bench:bench/rclone/workspace
timed "$column" "restore into an empty directory" rclone copy bench:bench/rclone/workspace "$work/rclone-down"
copied=$(find "$work/rclone-down" -type f | wc -l)
[[ "$copied" == "$files" ]] || { echo "bench-s3: rclone copied $copied of $files files" >&2; exit 1; }

echo
printf '%-36s' "seconds ($files files, $((files * file_bytes / 1000)) kB)"
for column in "${columns[@]}"; do printf ' | %-30s' "$column"; done
echo
for operation in "full sync up" "incremental sync, 1 file changed" "restore into an empty directory"; do
    printf '%-36s' "$operation"
    for column in "${columns[@]}"; do printf ' | %-30s' "${seconds[$column/$operation]}"; done
    echo
done
