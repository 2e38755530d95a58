#!/usr/bin/env bash
# Installs the pinned browser driver of the operator console's test (tests/console): the npm
# package puppeteer-core, which drives Debian's chromium (scripts/install-deps.sh test) over
# the DevTools protocol. It downloads no browser of its own. Into a cache directory outside
# the source tree, one npm prefix per package@version, reused across runs, never global.
#   scripts/install-browser-driver.sh        install what is missing, print where it is
#   AW_TEST_SERVERS_CACHE=/some/dir ...      another cache directory (the test reads the same variable)
# Layout: ${AW_TEST_SERVERS_CACHE:-$HOME/.cache/agent-worker/test-servers}/puppeteer-core@<version>/node_modules/puppeteer-core
# When it is present this only reads its package.json. It fails (non-zero, saying why) when it
# cannot install. About 10 MB, a few seconds.
set -euo pipefail

# Keep in step with tests/console/console_browser_test.cpp (kPuppeteerCore).
package="puppeteer-core"
version="24.43.1"

cache="${AW_TEST_SERVERS_CACHE:-${HOME:?HOME is not set}/.cache/agent-worker/test-servers}"

fail() {
  echo "install-browser-driver: ERROR: $*" >&2
  exit 1
}

command -v npm >/dev/null || fail "npm is not installed (node 18+ with npm drives the console test's browser)"
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

# The installed version, read by node from the package itself (empty when absent or broken).
version_in() {
  node -e 'console.log(require(process.argv[1] + "/node_modules/puppeteer-core/package.json").version)' \
    "$1" 2>/dev/null || true
}

prefix="$cache/$package@$version"
if [[ "$(version_in "$prefix")" == "$version" ]]; then
  echo "install-browser-driver: $package@$version: $prefix/node_modules/$package"
  exit 0
fi
echo "install-browser-driver: installing $package@$version into $prefix (npm)" >&2
staging="$cache/.staging-$package@$version-$$"
rm -rf "$staging"
mkdir -p "$staging"
# A package.json of its own keeps npm from walking up to another project.
echo '{"name":"aw-test-browser-driver","private":true}' >"$staging/package.json"
# puppeteer-core never downloads a browser; the test points it at /usr/bin/chromium.
if ! npm install --prefix "$staging" --no-audit --no-fund --no-save --loglevel=error \
    "$package@$version" >"$staging.log" 2>&1; then
  cat "$staging.log" >&2
  rm -rf "$staging" "$staging.log"
  fail "npm install $package@$version failed (is the npm registry reachable?)"
fi
got="$(version_in "$staging")"
if [[ "$got" != "$version" ]]; then
  cat "$staging.log" >&2
  rm -rf "$staging" "$staging.log"
  fail "$package@$version installed but its package.json says '${got:-nothing}'"
fi
rm -f "$staging.log"
rm -rf "$prefix"
mv "$staging" "$prefix"
[[ "$(version_in "$prefix")" == "$version" ]] || fail "$prefix does not load after moving it into place"
echo "install-browser-driver: $package@$version: $prefix/node_modules/$package"
