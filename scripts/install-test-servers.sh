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

# shellcheck source=lib/npm-pinned.sh source-path=SCRIPTDIR
source "$(dirname "$0")/lib/npm-pinned.sh"
npm_pinned_setup install-test-servers AW_TEST_SERVERS_CACHE .cache/agent-worker/test-servers \
  "node 20+ with npm runs the test S3 server"

for pin in "${pins[@]}"; do
  read -r package version binary <<<"$pin"
  if [[ "$binary" == "-" ]]; then
    prefix="$(npm_pinned_install "$package@$version" "$package@$version")"
    echo "install-test-servers: $package@$version: $prefix/node_modules/$package"
  else
    prefix="$(npm_pinned_install "$package@$version" "$package@$version:$binary")"
    echo "install-test-servers: $package@$version: $prefix/node_modules/.bin/$binary"
  fi
done
