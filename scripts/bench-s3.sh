#!/usr/bin/env bash
# Workspace transfers against an S3 server, agent-executor (the s3 object store) beside
# rclone, in one run on one s3rver: a full sync of a workspace of BENCH_FILES files of
# BENCH_FILE_BYTES each (10,000 x 1,000 bytes: about 10 MB), an incremental sync with one
# file changed, and a restore of the whole workspace.
#   scripts/bench-s3.sh [build-dir]     (default: build)
# Needs s3rver (scripts/install-test-servers.sh), rclone, curl and python3 (skipped without
# them). Figures only; no assertions.
set -euo pipefail

build_dir=$(realpath "${1:-build}")
files=${BENCH_FILES:-10000}
file_bytes=${BENCH_FILE_BYTES:-1000}
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

printf 'bench-token\ncallback-token\nS3RVER\nS3RVER\n\n' | "$executor" --socket "$work/x.sock" \
    --spool-dir "$work/state/spool" --callback-url http://127.0.0.1:9/unused --executor-id bench \
    --session-id s1 --workspace "$work/workspace" --home "$work/home" --bucket bench \
    --key-prefix r/t/s1/ --state-dir "$work/state" --object-store s3 --s3-endpoint "$endpoint" \
    >"$work/executor.out" 2>"$work/executor.log" &
pids+=($!)
for _ in $(seq 100); do [[ -S "$work/x.sock" ]] && break; sleep 0.1; done

call() {  # call PATH JSON: one workspace call to the executor
    curl -sf --unix-socket "$work/x.sock" -H "Authorization: Bearer bench-token" \
        -H "Content-Type: application/json" -X POST "http://executor$1" -d "$2" >/dev/null
}
timed() {  # timed LABEL COMMAND...: prints the wall time
    local label=$1 started ended
    shift
    started=$(date +%s.%N)
    "$@" >/dev/null 2>&1
    ended=$(date +%s.%N)
    awk -v label="$label" -v s="$started" -v e="$ended" 'BEGIN { printf "  %-40s %7.2f s\n", label, e - s }'
}
plan='{"version":1,"session_id":"s1","bucket":"bench","key_prefix":"r/t/s1/","level":"workspace",
"situation":"recreated","entries":[{"name":"workspace","level":"workspace",
"source_key_prefix":"r/t/s1/workspace/","target_path":"'"$work/workspace"'","mode":"copy",
"conflict_policy":"keep_session","required":true}],"required_paths":[],"protected_paths":[]}'

export RCLONE_CONFIG="$work/rclone.conf" RCLONE_CONFIG_BENCH_TYPE=s3 RCLONE_CONFIG_BENCH_PROVIDER=Other \
    RCLONE_CONFIG_BENCH_ENDPOINT="$endpoint" RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE=true \
    RCLONE_CONFIG_BENCH_REGION=us-east-1 RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=S3RVER \
    RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=S3RVER
unset AWS_CA_BUNDLE  # breaks rclone's plain-http endpoint

echo "bench-s3: $files files of $file_bytes bytes, s3rver at $endpoint"
echo "agent-executor (one request at a time):"
timed "full sync" call /workspace/sync '{"mode":"full","reason":"bench"}'
echo changed >>"$work/workspace/dir0000/file000.txt"
timed "incremental sync, one file changed" call /workspace/sync '{"mode":"incremental","reason":"bench"}'
rm -rf "$work/workspace" && mkdir -p "$work/workspace"
timed "restore" call /workspace/restore "$plan"
echo "  restored files: $(find "$work/workspace" -type f | wc -l)"
echo "rclone (its defaults: 4 transfers, 8 checkers):"
timed "sync up" rclone sync "$work/workspace" bench:bench/rclone/workspace
echo "changed again" >>"$work/workspace/dir0000/file000.txt"
timed "sync, one file changed" rclone sync "$work/workspace" bench:bench/rclone/workspace
timed "copy down" rclone copy bench:bench/rclone/workspace "$work/rclone-down"
echo "  copied files: $(find "$work/rclone-down" -type f | wc -l)"
