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

# shellcheck source=lib/npm-pinned.sh source-path=SCRIPTDIR
source "$(dirname "$0")/lib/npm-pinned.sh"
npm_pinned_setup install-api-validator AW_TEST_SERVERS_CACHE .cache/agent-worker/test-servers \
  "node 20+ with npm runs the API validators"
prefix="$(npm_pinned_install "$name" "${pins[@]}")"
echo "install-api-validator: ${pins[*]}: $prefix/node_modules"
