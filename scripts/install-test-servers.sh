#!/usr/bin/env bash
# Installs the pinned servers the test suites start themselves, with npm, into a cache directory
# outside the source tree (one npm prefix per package@version, reused across runs, never global):
# the S3-compatible server s3rver (tests/support/s3_server.cpp) for the s3 object store, and the
# EventSource client eventsource (a library, no binary) the SSE tests drive from node
# (tests/runs/sse_clients_test.cpp).
#   scripts/install-test-servers.sh          install what is missing, print where the binaries are
#   AW_TEST_SERVERS_CACHE=/some/dir ...      another cache directory (the tests read the same variable)
# Layout: ${AW_TEST_SERVERS_CACHE:-$HOME/.cache/agent-worker/test-servers}/<package>@<version>/node_modules/.bin/<bin>
# (a library: .../node_modules/<package>). When everything is present it only runs `<bin> --version`
# (a library: reads its package.json version). It fails (non-zero, saying why) when it
# cannot install or a binary does not report its version. s3rver: about 15 MB, a few seconds;
# eventsource: under 100 kB.
set -euo pipefail

# package, version, binary ("-" for a library): keep in step with tests/support/s3_server.cpp
# and tests/runs/sse_clients_test.cpp.
pins=(
  "s3rver 3.7.1 s3rver"
  "eventsource 5.1.5 -"
)

cache="${AW_TEST_SERVERS_CACHE:-${HOME:?HOME is not set}/.cache/agent-worker/test-servers}"

fail() {
  echo "install-test-servers: ERROR: $*" >&2
  exit 1
}

command -v npm >/dev/null || fail "npm is not installed (node 20+ with npm runs the test S3 server)"
command -v node >/dev/null || fail "node is not installed"
cache="$(realpath -m "$cache")"
case "$cache/" in
  "$(cd "$(dirname "$0")/.." && pwd -P)/"*) fail "the cache directory $cache is inside the source tree; set AW_TEST_SERVERS_CACHE elsewhere" ;;
esac
mkdir -p "$cache" || fail "cannot create the cache directory $cache"

# One installer at a time per cache (make test runs may overlap).
exec 9>"$cache/.lock"
if command -v flock >/dev/null; then
  flock 9 || fail "cannot lock $cache/.lock"
fi

version_of() {
  timeout 60 "$1" --version 2>/dev/null </dev/null | head -n 1 || true
}

# The version of what <prefix> holds: its binary's --version, or a library's package.json.
installed_version() {
  local prefix="$1" package="$2" binary="$3"
  if [[ "$binary" == "-" ]]; then
    node -p "require('$prefix/node_modules/$package/package.json').version" 2>/dev/null || true
  else
    version_of "$prefix/node_modules/.bin/$binary"
  fi
}

for pin in "${pins[@]}"; do
  read -r package version binary <<<"$pin"
  prefix="$cache/$package@$version"
  bin="$prefix/node_modules/.bin/$binary"
  [[ "$binary" == "-" ]] && bin="$prefix/node_modules/$package"
  if [[ -e "$bin" ]] && [[ "$(installed_version "$prefix" "$package" "$binary")" == *"$version"* ]]; then
    echo "install-test-servers: $package@$version: $bin"
    continue
  fi
  echo "install-test-servers: installing $package@$version into $prefix (npm)" >&2
  staging="$cache/.staging-$package@$version-$$"
  rm -rf "$staging"
  mkdir -p "$staging"
  # A package.json of its own keeps npm from walking up to another project.
  echo '{"name":"aw-test-server-cache","private":true}' >"$staging/package.json"
  if ! npm install --prefix "$staging" --no-audit --no-fund --no-save --loglevel=error \
      "$package@$version" >"$staging.log" 2>&1; then
    cat "$staging.log" >&2
    rm -rf "$staging" "$staging.log"
    fail "npm install $package@$version failed (is the npm registry reachable?)"
  fi
  got="$(installed_version "$staging" "$package" "$binary")"
  if [[ "$got" != *"$version"* ]]; then
    cat "$staging.log" >&2
    rm -rf "$staging" "$staging.log"
    fail "$package@$version installed but reports version '${got:-nothing}'"
  fi
  rm -f "$staging.log"
  rm -rf "$prefix"
  mv "$staging" "$prefix"
  [[ "$(installed_version "$prefix" "$package" "$binary")" == *"$version"* ]] ||
    fail "$bin does not run after moving it into place"
  echo "install-test-servers: $package@$version: $bin"
done
