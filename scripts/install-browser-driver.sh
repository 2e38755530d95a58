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

# shellcheck source=lib/npm-pinned.sh source-path=SCRIPTDIR
source "$(dirname "$0")/lib/npm-pinned.sh"
npm_pinned_setup install-browser-driver AW_TEST_SERVERS_CACHE .cache/agent-worker/test-servers \
  "node 18+ with npm drives the console test's browser"
# puppeteer-core never downloads a browser; the test points it at /usr/bin/chromium.
prefix="$(npm_pinned_install "$package@$version" "$package@$version")"
echo "install-browser-driver: $package@$version: $prefix/node_modules/$package"
