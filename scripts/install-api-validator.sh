#!/usr/bin/env bash
# Installs the pinned OpenAPI validators the API tests run (tests/api), with npm, into a cache
# directory outside the source tree (one npm prefix for the pinned set, reused across runs,
# never global): @seriousme/openapi-schema-validator checks docs/openapi.yaml against the
# OpenAPI 3.1 schema; ajv (JSON Schema 2020-12, the dialect of OpenAPI 3.1) checks every
# response the end-to-end suites recorded against it.
#   scripts/install-api-validator.sh         install what is missing, print the node_modules path
#   AW_TEST_SERVERS_CACHE=/some/dir ...      another cache directory (the tests read the same variable)
# Layout: ${AW_TEST_SERVERS_CACHE:-$HOME/.cache/agent-worker/test-servers}/api-validator@<pins>/node_modules
# When everything is present it only checks the installed versions. About 5 MB, a few seconds.
set -euo pipefail

# Keep in step with tests/api/CMakeLists.txt (AW_API_VALIDATOR_PINS).
pins=(
  "@seriousme/openapi-schema-validator@2.11.0"
  "ajv@8.20.0"
  "ajv-formats@3.0.1"
)
name="api-validator@2.11.0-8.20.0-3.0.1"

cache="${AW_TEST_SERVERS_CACHE:-${HOME:?HOME is not set}/.cache/agent-worker/test-servers}"

fail() {
  echo "install-api-validator: ERROR: $*" >&2
  exit 1
}

command -v npm >/dev/null || fail "npm is not installed (node 20+ with npm runs the API validators)"
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

prefix="$cache/$name"

# True when every pin is installed in $1 at its version.
installed() {
  local pin package version got
  for pin in "${pins[@]}"; do
    package="${pin%@*}"
    version="${pin##*@}"
    got="$(node -p "require('$1/node_modules/$package/package.json').version" 2>/dev/null || true)"
    [[ "$got" == "$version" ]] || return 1
  done
}

if installed "$prefix"; then
  echo "install-api-validator: ${pins[*]}: $prefix/node_modules"
  exit 0
fi

echo "install-api-validator: installing ${pins[*]} into $prefix (npm)" >&2
staging="$cache/.staging-$name-$$"
rm -rf "$staging"
mkdir -p "$staging"
# A package.json of its own keeps npm from walking up to another project.
echo '{"name":"aw-api-validator-cache","private":true}' >"$staging/package.json"
if ! npm install --prefix "$staging" --no-audit --no-fund --no-save --loglevel=error \
    "${pins[@]}" >"$staging.log" 2>&1; then
  cat "$staging.log" >&2
  rm -rf "$staging" "$staging.log"
  fail "npm install ${pins[*]} failed (is the npm registry reachable?)"
fi
rm -f "$staging.log"
installed "$staging" || { rm -rf "$staging"; fail "npm installed other versions than ${pins[*]}"; }
rm -rf "$prefix"
mv "$staging" "$prefix"
echo "install-api-validator: ${pins[*]}: $prefix/node_modules"
