#!/usr/bin/env bash
# make demo: a real agent CLI (Claude Code) at work in a minute, without any API key. It
# starts the scripted model server (build/tests/aw-model-server, what the tests point the
# CLIs at) and agent-host on 127.0.0.1, then drives a run with build/bin/aw: the agent keeps
# a todo list, asks before each tool (answer it here, or with `aw reply` from another
# terminal) and creates two files, shown at the end. Everything stops when the script ends.
#
#   scripts/demo.sh [BUILD_DIR]           install what is missing, build, run the demo
#   scripts/demo.sh --check [BUILD_DIR]   no setup (BUILD_DIR must be built: agent-host, its
#                                         plugins, aw, aw-model-server), no questions: every
#                                         request is allowed, and the script exits 0 only when
#                                         the run completed and made both files (the test)
set -euo pipefail

check=0
if [[ "${1:-}" == "--check" ]]; then check=1; shift; fi
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$(cd "${1:-$repo/build}" 2>/dev/null && pwd || echo "${1:-$repo/build}")"
session=demo
prompt="TOOLS_AND_TODOS: create hello.txt and notes.txt, and keep a todo list while you work"

say() {
  if [[ -t 1 ]]; then printf '\n\033[1mdemo:\033[0m %s\n' "$*"; else printf '\ndemo: %s\n' "$*"; fi
}
# A terminal to ask the user on (none under a test, CI or a pipe).
have_tty() { { : </dev/tty; } 2>/dev/null; }
fail() { printf 'demo: %s\n' "$*" >&2; exit 1; }

if (( ! check )); then
  say "installing what is missing and building (as make run does)"
  "$repo/scripts/install-deps.sh" run
  "$repo/scripts/install-agent-clis.sh" >/dev/null
  cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" --parallel "$(nproc)" --target agent-host agent-provider-host \
    agent-executor claude-code aw aw-model-server sql_files
fi
for program in bin/agent-host bin/aw tests/aw-model-server plugins/claude-code.so; do
  [[ -x "$build/$program" || -f "$build/$program" ]] || fail "$build/$program is missing: build first (make demo does)"
done
cache="${AW_CLI_CACHE:-$HOME/.cache/agent-worker/clis}"
claude="$(ls -d "$cache"/anthropic-ai__claude-code@*/node_modules/.bin/claude 2>/dev/null | tail -n 1)"
[[ -x "$claude" ]] || fail "Claude Code is not in $cache: run scripts/install-agent-clis.sh"

# Workers get a uid of their own in a bubblewrap sandbox, which needs root (README).
if (( EUID != 0 )); then
  echo "demo: not root: the agent runs unsandboxed (AW_RUNTIME_LOCAL_UNSANDBOXED=true)"
  export AW_RUNTIME_LOCAL_UNSANDBOXED=true
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/aw-demo.XXXXXX")"
pids=()
teardown() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap teardown EXIT
trap 'exit 130' INT TERM

# Waits (at most $3 seconds, while process $4 lives) until file $1 has a line matching $2,
# and prints it.
wait_for_line() {
  local deadline=$((SECONDS + $3)) line
  until line=$(grep -m 1 -e "$2" "$1" 2>/dev/null); do
    (( SECONDS < deadline )) && kill -0 "$4" 2>/dev/null || return 1
    sleep 0.1
  done
  printf '%s\n' "$line"
}

say "starting the scripted model server (it answers like the Anthropic API, from a script)"
"$build/tests/aw-model-server" --port 0 >"$work/model.out" 2>"$work/model.log" &
pids+=($!)
model_port="$(wait_for_line "$work/model.out" '^[0-9][0-9]*$' 20 $!)" || fail "the model server did not start: $(cat "$work/model.log")"
echo "  http://127.0.0.1:$model_port"

say "starting agent-host, its claude-code provider pointed at the model server"
providers=$(printf '{"claude-code":{"binary":"%s","env":{"ANTHROPIC_BASE_URL":"http://127.0.0.1:%s","ANTHROPIC_API_KEY":"sk-ant-demo-no-real-key","DISABLE_AUTOUPDATER":"1","DISABLE_TELEMETRY":"1","DISABLE_ERROR_REPORTING":"1","CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC":"1"}}}' \
  "$claude" "$model_port")
mkdir -p "$work/plugins"
cp "$build/plugins/claude-code.so" "$work/plugins/"
AW_PROVIDERS="$providers" "$build/bin/agent-host" --listen 127.0.0.1:0 --data-dir "$work/data" \
  --plugins-dir "$work/plugins" >"$work/host.out" 2>"$work/host.log" &
pids+=($!)
listening="$(wait_for_line "$work/host.out" '^agent-host listening on http://' 30 $!)" || fail "agent-host did not start: $(tail -n 20 "$work/host.log")"
export AW_URL="${listening##* }"
unset AW_TOKEN AW_ADMIN_TOKEN
aw="$build/bin/aw"
echo "  $AW_URL"

deadline=$((SECONDS + 30))
until grep -q '^claude-code .* healthy ' <<<"$("$aw" providers 2>/dev/null || true)"; do
  (( SECONDS < deadline )) || fail "the claude-code provider did not become healthy: $("$aw" providers 2>&1)"
  sleep 0.2
done
"$aw" providers

say "aw send $session --provider claude-code --ask \"$prompt\""
echo "  (the scripted model follows keywords in the prompt: TOOLS_AND_TODOS is its two-files-and-a-todo-list script)"
: >"$work/send.out"
"$aw" send "$session" --provider claude-code --ask "$prompt" > >(tee "$work/send.out") &
send=$!
pids+=($send)

# Answers each permission request the run shows: here, or (--check) allow at once.
answered=0
while kill -0 "$send" 2>/dev/null; do
  asked=$(grep -c 'answer: aw reply ' "$work/send.out" || true)
  if (( asked > answered )); then
    run=$(sed -n 's/^• run \([^ ]*\) queued.*/\1/p' "$work/send.out" | head -n 1)
    decision=allow
    if (( ! check )) && have_tty; then
      read -r -p "demo: allow it? [Y/n] " reply </dev/tty || reply=y
      [[ "$reply" =~ ^[Nn] ]] && decision=deny
    fi
    echo "demo: aw reply $run $decision"
    "$aw" reply "$run" "$decision" >/dev/null
    answered=$((answered + 1))
  fi
  sleep 0.2
done
status=0
wait "$send" || status=$?

workspace="$work/data/workers/$session/workspace"
say "the files the agent made in the session's workspace ($workspace)"
for file in hello.txt notes.txt; do
  if [[ -f "$workspace/$file" ]]; then printf '  %s: %s\n' "$file" "$(cat "$workspace/$file")"; fi
done
say "aw runs"
"$aw" runs

if (( check )); then
  (( status == 0 )) || fail "aw send exited $status"
  [[ -f "$workspace/hello.txt" && -f "$workspace/notes.txt" ]] || fail "the run did not make hello.txt and notes.txt"
  (( answered >= 1 )) || fail "the run asked for no approval"
  echo "demo check: ok"
  exit 0
fi
if have_tty; then
  say "agent-host still runs at $AW_URL; try, in another terminal:"
  echo "  AW_URL=$AW_URL $aw send $session --provider claude-code \"RECALL what did I ask?\""
  echo "  AW_URL=$AW_URL $aw sessions"
  read -r -p "demo: press Enter to stop agent-host and the model server " _ </dev/tty || true
fi
exit "$status"
