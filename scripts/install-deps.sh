#!/usr/bin/env bash
# Installs the Debian packages Agent Worker needs, and only those that are missing.
#   scripts/install-deps.sh run    build + run the host (make run)
#   scripts/install-deps.sh test   additionally what the test suites start (make test), the
#                                  worker image's needs included (its test is part of make test)
#   scripts/install-deps.sh bench  additionally what scripts/bench-peers.sh drives (make bench-peers)
#   scripts/install-deps.sh image  additionally what builds the worker image (make worker-image)
# Idempotent: when everything is present it changes nothing and takes well under a second.
set -euo pipefail

purpose="${1:-run}"

build_packages=(
  g++ cmake ninja-build pkg-config make
  libpoco-dev libboost-dev nlohmann-json3-dev
  libsoci-dev libpq-dev libsqlite3-dev
  libgtest-dev libgmock-dev
)
# The s3 object store talks to S3 through libcurl (SigV4 signing included).
build_packages+=(libcurl4-openssl-dev)
# agent-host and agent-provider-host allocate with jemalloc (host/CMakeLists.txt says why).
build_packages+=(libjemalloc-dev)
# docs/openapi.yaml is converted to the JSON agent-host serves at build time (cmake/openapi_to_json.py).
build_packages+=(python3 python3-yaml)
# Local workers run sandboxed: bubblewrap for the namespaces, setpriv (util-linux) for the
# worker's own uid.
runtime_packages=(bubblewrap util-linux)
# Tests start a throwaway PostgreSQL cluster (initdb, pg_ctl, run as the postgres user
# via runuser from util-linux) and a throwaway Docker engine (dockerd, containerd, runc and
# docker-init from docker.io; the docker tests build their image with tar).
test_packages=(postgresql util-linux docker.io tar)
# The s3 object store's tests list the bucket with an independent client.
test_packages+=(rclone)
# The SSE tests put Debian's nginx (its default proxy buffering) in front of agent-host; the
# test starts it itself on 127.0.0.1 with a temp config, never as the system service.
test_packages+=(nginx)
# The metrics tests check GET /metrics with Prometheus's own checker (promtool).
test_packages+=(prometheus)
# The operator console's test opens the page in a real browser: Debian's chromium, headless,
# driven by puppeteer-core (scripts/install-browser-driver.sh).
test_packages+=(chromium)
# The peer benchmark loads the servers with wrk, seeds and copies SQLite databases, checks
# answers with curl and runs a throwaway cluster.
bench_packages=(wrk sqlite3 curl postgresql util-linux)
# The worker image is a debootstrap root filesystem imported into a Docker engine; its test
# (part of make test) starts dockerd and talks to the executor with curl. Any Docker engine
# and CLI will do; Debian's when the machine has none.
image_packages=(debootstrap curl)
if ! command -v docker >/dev/null || ! command -v dockerd >/dev/null; then
  image_packages+=(docker.io)
fi

packages=("${build_packages[@]}" "${runtime_packages[@]}")
# The agent CLIs come from npm (scripts/install-agent-clis.sh): runs need them, and so do the
# live tests. Any node with npm will do; Debian's is the fallback when the machine has none.
if ! command -v npm >/dev/null; then
  packages+=(nodejs npm)
fi
if [[ "$purpose" == "test" ]]; then
  packages+=("${test_packages[@]}" "${image_packages[@]}")
elif [[ "$purpose" == "bench" ]]; then
  packages+=("${bench_packages[@]}")
elif [[ "$purpose" == "image" ]]; then
  packages+=("${image_packages[@]}")
elif [[ "$purpose" != "run" ]]; then
  echo "usage: $0 run|test|bench|image" >&2
  exit 2
fi

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)
  [[ "$status" == "installed" ]] || missing+=("$package")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then
    sudo=(sudo)
  else
    echo "install-deps: missing packages (${missing[*]}) and not root; install them as root" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
