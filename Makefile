# Agent Worker: the two commands a fresh Debian 12 machine needs.
#   make run    install what is missing, build (Release), start agent-host on 127.0.0.1:8080
#   make demo   install what is missing, build, show a real agent CLI at work, driven with
#               build/bin/aw against the scripted model server (no API key; scripts/demo.sh)
#   make test   install what is missing, build, run every test suite through ctest
#   make bench  benchmarks (figures only, no assertions)
#   make bench-peers  agent-host beside Express and graphile-worker (from npm), one table
#   make worker-image the Docker image of the docker worker runtime (DOCKER_HOST respected)
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)
CTEST_ARGS ?=

.PHONY: all deps-run deps-test deps-image configure build run demo test bench bench-peers worker-image clean format

all: build

deps-run:
	@scripts/install-deps.sh run

deps-test:
	@scripts/install-deps.sh test
	@scripts/install-agent-clis.sh
	@scripts/install-test-servers.sh
	@scripts/install-browser-driver.sh
	@scripts/install-api-validator.sh

deps-image:
	@scripts/install-deps.sh image

# The pinned agent CLIs' bin directories, so the providers find claude, codex and opencode.
CLI_CACHE = $${AW_CLI_CACHE:-$$HOME/.cache/agent-worker/clis}
CLI_PATH = $$(for bin in $(CLI_CACHE)/*/node_modules/.bin; do printf '%s:' "$$bin"; done)

configure:
	@cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) >/dev/null

build: deps-run configure
	@cmake --build $(BUILD_DIR) --parallel $(JOBS)

run: build
	@scripts/install-agent-clis.sh
	PATH="$(CLI_PATH)$$PATH" $(BUILD_DIR)/bin/agent-host --data-dir ./data --plugins-dir $(BUILD_DIR)/plugins

# Installs and builds what it needs itself (the CLIs, agent-host, aw, the model server).
demo:
	@scripts/demo.sh $(BUILD_DIR)

test: deps-test build
	cd $(BUILD_DIR) && ctest --output-on-failure --parallel $(JOBS) $(CTEST_ARGS)

bench: deps-run configure
	@cmake --build $(BUILD_DIR) --parallel $(JOBS) --target bench

# Installs the peers from npm and the Debian packages it drives (wrk, PostgreSQL) itself.
bench-peers: deps-run configure
	@scripts/bench-peers.sh $(BUILD_DIR)

# agent-worker/worker:<version> and :latest, from Debian packages, the pinned CLIs and
# agent-executor (the one program the image carries, built first); cached stages make a
# rebuild after a code change take seconds.
worker-image: deps-image deps-run configure
	@cmake --build $(BUILD_DIR) --parallel $(JOBS) --target agent-executor
	@scripts/build-worker-image.sh $(BUILD_DIR)

clean:
	rm -rf $(BUILD_DIR)

format:
	@find core host plugins tests -name '*.cpp' -o -name '*.h' | xargs clang-format -i
