#!/usr/bin/env bash
# WorkerImage: scripts/build-worker-image.sh builds agent-worker/worker into a Docker engine
# the test starts itself, and the image holds what the docker runtime relies on: the agent
# user, a read-only root, the tools and the pinned CLIs, and agent-executor answering
# /health on a unix socket in a bind-mounted directory, with the token from stdin.
#   tests/image/worker_image_test.sh SOURCE_DIR BUILD_DIR
# From a warm image cache (~/.cache/agent-worker/image) it takes about a minute; from a cold
# one, debootstrap adds a few minutes. It fails, never skips, when dockerd cannot start.
set -euo pipefail

source_dir="$(realpath "${1:?source dir}")"
build_dir="$(realpath "${2:?build dir}")"
agent_uid=10001

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
pass() { echo "ok: $*"; }

command -v dockerd >/dev/null || fail "dockerd is not installed (scripts/install-deps.sh image)"
command -v curl >/dev/null || fail "curl is not installed"

# A Docker engine of our own: no bridge, no iptables, everything under a temporary directory.
# Short paths: containerd's sockets live below the exec root (108 bytes at most).
tmp="$(mktemp -d /tmp/aw-img.XXXXXX)"
dockerd_pid=""
cleanup() {
  set +e
  if [[ -n "$dockerd_pid" ]]; then
    DOCKER_HOST="unix://$tmp/docker.sock" docker ps -aq | xargs -r docker rm -f >/dev/null 2>&1
    kill "$dockerd_pid" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$dockerd_pid" 2>/dev/null
  fi
  # dockerd unmounts its layers when it ends; what is still mounted is left alone.
  grep -F " $tmp/" /proc/mounts | awk '{ print $2 }' | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

dockerd --bridge=none --iptables=false --ip6tables=false --data-root "$tmp/data" \
  --exec-root "$tmp/exec" -H "unix://$tmp/docker.sock" --pidfile "$tmp/docker.pid" \
  >"$tmp/dockerd.log" 2>&1 &
dockerd_pid=$!
export DOCKER_HOST="unix://$tmp/docker.sock"
deadline=$((SECONDS + 60))
until docker version >/dev/null 2>&1; do
  if ! kill -0 "$dockerd_pid" 2>/dev/null || ((SECONDS > deadline)); then
    tail -n 20 "$tmp/dockerd.log" >&2
    fail "dockerd did not start (log above); the image test needs a Docker engine (run as root)"
  fi
  sleep 0.2
done
pass "dockerd started at $DOCKER_HOST"

version="$(sed -nE 's/^project\([^)]*VERSION ([0-9][0-9A-Za-z.+-]*).*/\1/p' "$source_dir/CMakeLists.txt" | head -n 1)"
image="agent-worker/worker:$version"

# --- Build into the fresh engine, then once more: the second build changes nothing. ------
started=$SECONDS
"$source_dir/scripts/build-worker-image.sh" "$build_dir" 2>&1 | sed 's/^/  /'
pass "built $image in $((SECONDS - started)) s"
first_id="$(docker image inspect --format '{{.Id}}' "$image")"
[[ "$(docker image inspect --format '{{.Id}}' agent-worker/worker:latest)" == "$first_id" ]] ||
  fail ":latest is not $image"

again="$("$source_dir/scripts/build-worker-image.sh" "$build_dir" 2>&1)"
[[ "$again" == *"is up to date"* ]] || fail "a second build was not a no-op: $again"
[[ "$(docker image inspect --format '{{.Id}}' "$image")" == "$first_id" ]] ||
  fail "a second build changed the image"
pass "a second build is a no-op"

# --- The image's configuration -------------------------------------------------------------
config="$(docker image inspect --format '{{.Config.User}}|{{.Config.WorkingDir}}|{{json .Config.Cmd}}|{{index .Config.Labels "io.agent-worker.version"}}' "$image")"
[[ "$config" == "$agent_uid|/workspace|[\"/usr/local/bin/agent-executor\"]|$version" ]] ||
  fail "unexpected image configuration: $config"
pass "user $agent_uid, workdir /workspace, cmd agent-executor, version label $version"

# Every run below is hardened as the docker runtime starts workers.
hardened=(--rm --network none --read-only --tmpfs /tmp --cap-drop ALL
  --security-opt no-new-privileges)
inside() { docker run "${hardened[@]}" "$image" "$@" 2>&1; }

[[ "$(inside id -u)" == "$agent_uid" ]] || fail "the image does not run as uid $agent_uid"
[[ "$(inside sh -c 'grep ^CapEff /proc/self/status')" == *"0000000000000000" ]] ||
  fail "capabilities are not dropped"
inside sh -c 'touch /usr/local/bin/x' >/dev/null && fail "the root filesystem is writable"
inside sh -c 'touch /tmp/x' >/dev/null || fail "/tmp is not writable"
pass "runs as $agent_uid, no capabilities, read-only root, writable /tmp"

for tool in "git --version" "python3 --version" "node --version" "curl --version" \
  "rg --version" "bash --version" "ps --version" "less --version" "find --version"; do
  read -r -a argv <<<"$tool"
  # The whole output, then its first line: `| head -n 1` would cut the tool off with SIGPIPE,
  # which pipefail reports as its failure.
  got="$(inside "${argv[@]}")" || fail "$tool failed inside: $got"
  got="${got%%$'\n'*}"
  echo "  $tool: $got"
done
# The CLIs as the runtime runs them: HOME is the session's own writable directory.
while read -r _ pin_version binary _; do
  got="$(docker run "${hardened[@]}" --tmpfs "/home/agent:uid=$agent_uid,gid=$agent_uid" \
    "$image" "$binary" --version 2>&1 | head -n 1)" || true
  [[ "$got" == *"$pin_version"* ]] || fail "$binary --version printed '$got', expected $pin_version"
  echo "  $binary --version: $got"
done < <("$source_dir/scripts/install-agent-clis.sh" --list 2>/dev/null)
pass "tools and pinned CLIs run as the agent user"

# --- agent-executor on a unix socket in a bind-mounted directory -------------------------
run_dir="$tmp/run"
install -d -o "$agent_uid" -g "$agent_uid" -m 0700 "$run_dir"
printf 'executor-token\ncallback-token\n' | docker run -i "${hardened[@]}" --name aw-image-executor \
  --stop-timeout 10 -v "$run_dir:/run/agent-worker" "$image" \
  agent-executor --socket /run/agent-worker/executor.sock --spool-dir /tmp/spool \
  --callback-url http://127.0.0.1:9/callbacks --executor-id ex-image --session-id ses-image \
  >"$tmp/executor.log" 2>&1 &
deadline=$((SECONDS + 30))
until [[ -S "$run_dir/executor.sock" ]]; do
  ((SECONDS < deadline)) || { cat "$tmp/executor.log" >&2; fail "agent-executor made no socket"; }
  sleep 0.1
done
health="$(curl -sS --unix-socket "$run_dir/executor.sock" -H 'Authorization: Bearer executor-token' \
  -w ' %{http_code}' http://executor/health)"
[[ "$health" == *'"executor_id":"ex-image"'*' 200' ]] || fail "GET /health answered: $health"
pass "GET /health on the bind-mounted socket: $health"
refused="$(curl -sS --unix-socket "$run_dir/executor.sock" -H 'Authorization: Bearer callback-token' \
  -o /dev/null -w '%{http_code}' http://executor/health)"
[[ "$refused" == 401 ]] || fail "GET /health with the wrong token answered $refused, not 401"
pass "the wrong token is refused (401)"

# SIGTERM reaches the executor as PID 1: it stops well before the grace period's SIGKILL.
started=$SECONDS
docker stop aw-image-executor >/dev/null
stopped_in=$((SECONDS - started))
((stopped_in < 8)) || fail "docker stop took ${stopped_in} s: agent-executor ignored SIGTERM as PID 1"
pass "docker stop ends agent-executor in ${stopped_in} s"

size="$(docker image inspect --format '{{.Size}}' "$image")"
echo "PASS: $image, $((size / 1000000)) MB"
