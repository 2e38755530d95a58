# shellcheck shell=bash
# What the installers of pinned npm packages share (scripts/install-test-servers.sh,
# install-browser-driver.sh, install-api-validator.sh): each set of pins lives in an npm prefix of its own in a cache directory outside the
# source tree, reused across runs, never global.
# A prefix is installed whole into a staging directory and moved into place only once it checks
# out, so a half-finished install is never taken for a good one.
# Sourced, not run: `source "$(dirname "$0")/lib/npm-pinned.sh"` in a script with
# set -euo pipefail, then:
#   npm_pinned_setup TOOL CACHE_VARIABLE DEFAULT_CACHE_UNDER_HOME WHAT_NODE_IS_FOR
#   prefix="$(npm_pinned_install DIRECTORY_NAME PIN...)"
# A pin is package@version, or package@version:binary when the package's binary must run and
# report the version (a library's package.json must say exactly that version instead).

# npm_pinned_fail MESSAGE...: ends the script, TOOL: ERROR: MESSAGE on stderr.
npm_pinned_fail() {
  echo "$npm_pinned_tool: ERROR: $*" >&2
  exit 1
}

# npm_pinned_setup TOOL CACHE_VARIABLE DEFAULT_CACHE_UNDER_HOME WHAT_NODE_IS_FOR: checks that
# node and npm are there, resolves the cache directory (the variable CACHE_VARIABLE names, or
# $HOME/DEFAULT_CACHE_UNDER_HOME), refuses one inside the source tree, creates it and takes its
# lock for the rest of the script. TOOL starts every message.
npm_pinned_setup() {
  npm_pinned_tool="$1"
  local cache_variable="$2" default_cache="$3" node_use="$4" source_tree
  command -v npm >/dev/null || npm_pinned_fail "npm is not installed ($node_use)"
  command -v node >/dev/null || npm_pinned_fail "node is not installed"
  npm_pinned_cache="${!cache_variable:-}"
  if [[ -z "$npm_pinned_cache" ]]; then
    [[ -n "${HOME:-}" ]] || npm_pinned_fail "HOME is not set; set it or $cache_variable"
    npm_pinned_cache="$HOME/$default_cache"
  fi
  npm_pinned_cache="$(realpath -m "$npm_pinned_cache")"
  source_tree="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
  case "$npm_pinned_cache/" in
    "$source_tree/"*) npm_pinned_fail "the cache directory $npm_pinned_cache is inside the source tree; set $cache_variable elsewhere" ;;
  esac
  mkdir -p "$npm_pinned_cache" || npm_pinned_fail "cannot create the cache directory $npm_pinned_cache"

  # One installer at a time per cache (make test runs may overlap); the lock lasts until exit.
  exec 9>"$npm_pinned_cache/.lock"
  if command -v flock >/dev/null; then
    flock 9 || npm_pinned_fail "cannot lock $npm_pinned_cache/.lock"
  fi
}

# npm_pinned_check PREFIX PIN...: true when PREFIX holds every pin at its version; otherwise
# false, printing what the first missing or mismatched pin showed.
npm_pinned_check() {
  local prefix="$1" pin package version binary got
  shift
  for pin in "$@"; do
    package="${pin%:*}"
    binary=""
    [[ "$pin" == *:* ]] && binary="${pin##*:}"
    version="${package##*@}"
    package="${package%@*}"
    if [[ -n "$binary" ]]; then
      # A binary's version line may say more than the version ("claude 2.1.330 (Claude Code)").
      got="$(timeout 60 "$prefix/node_modules/.bin/$binary" --version 2>/dev/null </dev/null | head -n 1 || true)"
      [[ "$got" == *"$version"* ]] || { echo "'$binary --version' printed '${got:-nothing}'"; return 1; }
    else
      got="$(node -e 'console.log(require(process.argv[1]).version)' \
        "$prefix/node_modules/$package/package.json" 2>/dev/null || true)"
      [[ "$got" == "$version" ]] || { echo "$package's package.json says '${got:-nothing}'"; return 1; }
    fi
  done
}

# npm_pinned_install DIRECTORY_NAME PIN...: makes <cache>/DIRECTORY_NAME hold every pin,
# installing them together with npm when one is missing or at another version, and prints that
# prefix (its node_modules is what the tests load). When everything is present it only checks.
npm_pinned_install() {
  local name="$1" found
  shift
  local prefix="$npm_pinned_cache/$name" packages=("${@%:*}")
  if npm_pinned_check "$prefix" "$@" >/dev/null; then
    echo "$prefix"
    return 0
  fi

  echo "$npm_pinned_tool: installing ${packages[*]} into $prefix (npm)" >&2
  local staging="$npm_pinned_cache/.staging-$name-$$"
  rm -rf "$staging"
  mkdir -p "$staging"
  # A package.json of its own keeps npm from walking up to another project.
  echo '{"name":"aw-npm-pinned-cache","private":true}' >"$staging/package.json"
  if ! npm install --prefix "$staging" --no-audit --no-fund --no-save --loglevel=error \
      "${packages[@]}" >"$staging.log" 2>&1; then
    cat "$staging.log" >&2
    rm -rf "$staging" "$staging.log"
    npm_pinned_fail "npm install ${packages[*]} failed (is the npm registry reachable?)"
  fi
  if ! found="$(npm_pinned_check "$staging" "$@")"; then
    cat "$staging.log" >&2
    rm -rf "$staging" "$staging.log"
    npm_pinned_fail "npm installed ${packages[*]} but $found"
  fi
  rm -f "$staging.log"
  rm -rf "$prefix"
  mv "$staging" "$prefix"
  # The .bin links are relative, so they survive the move; check once more.
  found="$(npm_pinned_check "$prefix" "$@")" ||
    npm_pinned_fail "$prefix does not load after moving it into place: $found"
  echo "$prefix"
}
