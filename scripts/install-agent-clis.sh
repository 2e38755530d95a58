#!/usr/bin/env bash
# Installs the pinned agent CLIs the live tests drive (tests/providers/live), with npm, into a cache
# directory outside the source tree: one npm prefix per package@version, reused across runs,
# never global.
#   scripts/install-agent-clis.sh          install what is missing, print where the binaries are
#   AW_CLI_CACHE=/some/dir scripts/...     another cache directory (the live tests read the same variable)
#   scripts/install-agent-clis.sh --list   the same, then one line a pin on stdout for other
#                                          scripts (build-worker-image.sh): package version binary prefix
# Layout: ${AW_CLI_CACHE:-$HOME/.cache/agent-worker/clis}/<package with / as __, no @>@<version>/node_modules/.bin/<bin>
# e.g. .../anthropic-ai__claude-code@2.1.330/node_modules/.bin/claude
# When everything is present it only runs `<bin> --version` (well under a few seconds). It
# fails (non-zero, saying why) when it cannot install or a binary does not report its version.
# About 900 MB together; the first install takes a minute or so.
set -euo pipefail

# package, version, binary: keep in step with tests/support/agent_clis.cpp.
pins=(
  "@anthropic-ai/claude-code 2.1.330 claude"
  "@openai/codex 0.169.0 codex"
  "opencode-ai 1.18.33 opencode"
)

cache="${AW_CLI_CACHE:-${HOME:?HOME is not set}/.cache/agent-worker/clis}"

list=0
case "${1:-}" in
  --list) list=1 ;;
  "") ;;
  *) echo "usage: $0 [--list]" >&2; exit 2 ;;
esac
# Progress goes to stderr with --list, so that stdout is the list alone.
report() {
  if ((list)); then echo "$@" >&2; else echo "$@"; fi
}

fail() {
  echo "install-agent-clis: ERROR: $*" >&2
  exit 1
}

command -v npm >/dev/null || fail "npm is not installed (node 20+ with npm is needed for the live CLI tests)"
command -v node >/dev/null || fail "node is not installed"
cache="$(realpath -m "$cache")"
case "$cache/" in
  "$(cd "$(dirname "$0")/.." && pwd -P)/"*) fail "the cache directory $cache is inside the source tree; set AW_CLI_CACHE elsewhere" ;;
esac
mkdir -p "$cache" || fail "cannot create the cache directory $cache"

# One installer at a time per cache (make test runs may overlap).
exec 9>"$cache/.lock"
if command -v flock >/dev/null; then
  flock 9 || fail "cannot lock $cache/.lock"
fi

# The cache's directory for a pin: "@scope/name" -> "scope__name@version".
dir_name_of() {
  local name="${1#@}"
  echo "${name//\//__}@$2"
}

# Prints the version line of a binary, or nothing when it does not run.
version_of() {
  timeout 60 "$1" --version 2>/dev/null </dev/null | head -n 1 || true
}

for pin in "${pins[@]}"; do
  read -r package version binary <<<"$pin"
  dir_name="$(dir_name_of "$package" "$version")"
  prefix="$cache/$dir_name"
  bin="$prefix/node_modules/.bin/$binary"

  if [[ -x "$bin" ]] && [[ "$(version_of "$bin")" == *"$version"* ]]; then
    report "install-agent-clis: $package@$version: $bin"
    continue
  fi

  echo "install-agent-clis: installing $package@$version into $prefix (npm, large download)" >&2
  staging="$cache/.staging-$dir_name-$$"
  rm -rf "$staging"
  mkdir -p "$staging"
  started=$(date +%s)
  # --prefix with a package.json of its own keeps npm from walking up to another project;
  # optional dependencies carry the native binaries, so they must not be omitted.
  echo '{"name":"aw-agent-cli-cache","private":true}' >"$staging/package.json"
  if ! npm install --prefix "$staging" --no-audit --no-fund --no-save --include=optional \
      --loglevel=error "$package@$version" >"$staging.log" 2>&1; then
    cat "$staging.log" >&2
    rm -rf "$staging" "$staging.log"
    fail "npm install $package@$version failed (is https://registry.npmjs.org reachable?)"
  fi
  staged_bin="$staging/node_modules/.bin/$binary"
  got="$(version_of "$staged_bin")"
  if [[ "$got" != *"$version"* ]]; then
    cat "$staging.log" >&2
    rm -rf "$staging" "$staging.log"
    fail "$package@$version installed but '$binary --version' printed '${got:-nothing}' (native binary missing? npm install scripts must be allowed)"
  fi
  rm -f "$staging.log"
  rm -rf "$prefix"
  mv "$staging" "$prefix"
  # The .bin links are relative, so they survive the move; check once more.
  [[ "$(version_of "$bin")" == *"$version"* ]] || fail "$bin does not run after moving it into place"
  report "install-agent-clis: $package@$version: $bin (installed in $(($(date +%s) - started)) s)"
done

if ((list)); then
  for pin in "${pins[@]}"; do
    read -r package version binary <<<"$pin"
    echo "$package $version $binary $cache/$(dir_name_of "$package" "$version")"
  done
fi
