#!/usr/bin/env bash
# Builds the Docker image the `docker` worker runtime runs, from Debian packages and the
# project's own binaries, with no image registry: agent-worker/worker:<version> and :latest.
#   scripts/build-worker-image.sh [BUILD_DIR]     (make worker-image builds the project first)
# Three stages, each reused while its inputs are unchanged (docs/deployment.md):
#   base   Debian 12 minbase (debootstrap) + the packages agents expect + the libraries
#          agent-executor links + the user `agent` (uid 10001). Kept as a tarball in the
#          cache, keyed by the package list, the mirrors and this recipe; `docker import`ed.
#   clis   the pinned agent CLIs (scripts/install-agent-clis.sh), copied from the host's
#          CLI cache into /opt/agent-clis, linked into /usr/local/bin; keyed by the pins.
#   final  agent-executor and the labels (version, build time); redone when the binary changes.
# Environment:
#   DOCKER_HOST               the engine to build into (the docker CLI's own variable)
#   AW_IMAGE_CACHE            the cache directory (${HOME}/.cache/agent-worker/image)
#   AW_IMAGE_MIRROR           Debian mirror (default: the one apt is configured with)
#   AW_IMAGE_SECURITY_MIRROR  Debian security mirror (default: likewise, if configured)
#   AW_IMAGE_EXTRA_PACKAGES   more Debian packages for the base ("npm jq", part of its key)
#   AW_IMAGE_REBUILD=1        rebuild every stage (e.g. to take in Debian security updates)
#   AW_IMAGE_FORCE=1          redo the final stage even when the image is up to date
# Fails (non-zero, saying why) when the engine is unreachable, a tool is missing, or the
# image does not pass its checks (the executor and the CLIs run as the agent user).
set -euo pipefail

source_dir="$(cd "$(dirname "$0")/.." && pwd -P)"
build_dir="$(realpath -m "${1:-$source_dir/build}")"
cache="$(realpath -m "${AW_IMAGE_CACHE:-${HOME:?HOME is not set}/.cache/agent-worker/image}")"
suite=bookworm
repository=agent-worker/worker
stages=agent-worker/worker-stage
agent_uid=10001
# What coding agents expect to find. nodejs: codex's launcher is a node script (the other
# CLIs are native executables); Debian 12's node 18 is enough for it (engines >=16).
agent_packages=(bash coreutils findutils grep sed less procps ca-certificates curl git
  python3 ripgrep nodejs)
read -r -a extra_packages <<<"${AW_IMAGE_EXTRA_PACKAGES:-}"

started=$(date +%s)
say() { echo "build-worker-image: $*" >&2; }
fail() {
  echo "build-worker-image: ERROR: $*" >&2
  exit 1
}
since() { echo "$(($(date +%s) - $1)) s"; }

# --- Preconditions --------------------------------------------------------------------

command -v docker >/dev/null ||
  fail "the docker CLI is not installed (scripts/install-deps.sh image installs docker.io)"
engine="${DOCKER_HOST:-unix:///var/run/docker.sock}"
if ! engine_version="$(timeout 20 docker version --format '{{.Server.Version}}' 2>&1)"; then
  fail "cannot reach the Docker engine at $engine ($(echo "$engine_version" | sed '/^$/d' | head -n 1)): start dockerd, or point DOCKER_HOST at a running one (DOCKER_HOST=unix:///path/to/docker.sock)"
fi
executor="$build_dir/bin/agent-executor"
[[ -x "$executor" ]] || fail "$executor is missing: build the project first (make worker-image does)"
version="$(sed -nE 's/^project\([^)]*VERSION ([0-9][0-9A-Za-z.+-]*).*/\1/p' "$source_dir/CMakeLists.txt" | head -n 1)"
[[ -n "$version" ]] || fail "no project(... VERSION x.y.z) in $source_dir/CMakeLists.txt"
# The base installs the Debian packages of the libraries agent-executor was linked with:
# that only holds when it was built on the image's own release.
host_codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
[[ "$host_codename" == "$suite" ]] ||
  fail "the image is Debian 12 ($suite) but this machine is '${host_codename:-unknown}': build agent-executor on Debian 12"
architecture="$(dpkg --print-architecture)"

case "$cache/" in
  "$source_dir/"*) fail "the cache directory $cache is inside the source tree; set AW_IMAGE_CACHE elsewhere" ;;
esac
mkdir -p "$cache" || fail "cannot create the cache directory $cache"
# One build at a time per cache (they would fight over the stage tags and the tarballs).
exec 9>"$cache/.lock"
flock 9 || fail "cannot lock $cache/.lock"

# What a build makes on the way (the rootfs, the containers it commits) goes, even when it fails.
scratch="$(mktemp -d "$cache/scratch.XXXXXX")"
container=""
cleanup() {
  umount "$scratch/rootfs/proc" 2>/dev/null || true
  rm -rf --one-file-system "$scratch"
  [[ -z "$container" ]] || docker rm -f "$container" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# --- Inputs of the base: mirrors and packages ----------------------------------------

# The first URI apt is configured with for a suite (deb822 .sources and one-line .list).
configured_mirror() {
  local wanted="$1" file
  for file in /etc/apt/sources.list.d/*.sources; do
    [[ -f "$file" ]] || continue
    # Stanzas are separated by blank lines; a disabled one says "Enabled: no".
    awk -v suite="$wanted" '
      function flush() {
        if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " suite " ") && enabled != "no" && uri != "")
          { print uri; found = 1; exit }
        types = suites = uri = enabled = ""
      }
      /^[ \t]*$/ { flush(); next }
      /^#/ { next }
      tolower($1) == "types:" { $1 = ""; types = $0 }
      tolower($1) == "suites:" { $1 = ""; suites = $0 }
      tolower($1) == "uris:" { uri = $2 }
      tolower($1) == "enabled:" { enabled = tolower($2) }
      END { if (!found) flush() }' "$file"
  done
  for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f "$file" ]] || continue
    sed -E 's/\[[^]]*\]//' "$file" | awk -v suite="$wanted" '$1 == "deb" && $3 == suite { print $2 }'
  done
}
mirror="${AW_IMAGE_MIRROR:-$(configured_mirror "$suite" | sed -n 1p)}"
[[ -n "$mirror" ]] ||
  fail "no Debian mirror for $suite in /etc/apt/sources.list{,.d}; set AW_IMAGE_MIRROR (e.g. http://deb.debian.org/debian)"
security_mirror="${AW_IMAGE_SECURITY_MIRROR:-$(configured_mirror "$suite-security" | sed -n 1p)}"

# The Debian packages that hold the shared libraries agent-executor needs (Poco, ...):
# installed with apt in the base, never copied by hand.
executor_library_packages() {
  local library candidate owner
  local -a libraries
  mapfile -t libraries < <(ldd "$executor" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }')
  ((${#libraries[@]} > 0)) || fail "ldd found no shared library in $executor"
  library_packages=()
  for library in "${libraries[@]}"; do
    owner=""
    for candidate in "$library" "$(realpath "$library")" "/usr$library" "${library#/usr}"; do
      owner="$(dpkg -S "$candidate" 2>/dev/null | sed -n 1p)" && [[ -n "$owner" ]] && break
    done
    [[ -n "$owner" ]] ||
      fail "agent-executor needs $library, which no Debian package holds: the image cannot carry it"
    # "libfoo1:amd64: /path" (or "a, b: /path" for diverted files): the package names.
    mapfile -t -O "${#library_packages[@]}" library_packages < <(echo "${owner%%: /*}" |
      tr ',' '\n' | sed -E 's/^ +//; s/:.*//')
  done
}
executor_library_packages
mapfile -t base_packages < <(printf '%s\n' "${agent_packages[@]}" "${extra_packages[@]}" \
  "${library_packages[@]}" | sed '/^$/d' | sort -u)

# --- Stage 1: the base root filesystem ------------------------------------------------

# Runs in a fresh directory as root: debootstrap, apt in the chroot, the agent user, and
# what an image does not need (apt lists, docs, man pages, caches) removed.
make_base_rootfs() {
  local rootfs="$1"
  debootstrap --variant=minbase --arch="$architecture" "$suite" "$rootfs" "$mirror" \
    >"$rootfs.debootstrap.log" 2>&1 ||
    { tail -n 30 "$rootfs.debootstrap.log" >&2; fail "debootstrap $suite from $mirror failed (log above)"; }

  # Packages installed from here on bring no documentation.
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/01-agent-worker-nodoc" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
EOF
  {
    printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      "$mirror" "$suite" "$suite"
    if [[ -n "$security_mirror" ]]; then
      printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        "$security_mirror" "$suite"
    fi
  } >"$rootfs/etc/apt/sources.list.d/debian.sources"
  rm -f "$rootfs/etc/apt/sources.list"
  # No service starts inside the chroot; name resolution is the host's while building.
  printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
  chmod 0755 "$rootfs/usr/sbin/policy-rc.d"
  cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
  mount -t proc proc "$rootfs/proc"
  local status=0
  (
    export DEBIAN_FRONTEND=noninteractive LC_ALL=C
    chroot "$rootfs" apt-get update -qq &&
      chroot "$rootfs" apt-get install -y -qq --no-install-recommends "${base_packages[@]}" &&
      chroot "$rootfs" apt-get clean
  ) >"$rootfs.apt.log" 2>&1 || status=$?
  umount "$rootfs/proc"
  ((status == 0)) || { tail -n 30 "$rootfs.apt.log" >&2; fail "apt-get install in the chroot failed (log above)"; }

  chroot "$rootfs" useradd --uid "$agent_uid" --user-group --create-home --home-dir /home/agent \
    --shell /bin/bash agent
  # The runtime mounts the session's workspace here; /opt/agent-clis takes the CLIs.
  install -d -o "$agent_uid" -g "$agent_uid" "$rootfs/workspace"
  install -d "$rootfs/opt/agent-clis"

  chroot "$rootfs" dpkg-query -W -f '${Package} ${Version}\n' >"$rootfs.packages"
  rm -f "$rootfs/usr/sbin/policy-rc.d"
  : >"$rootfs/etc/resolv.conf"
  find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$rootfs"/usr/share/{man,info,lintian,locale}/* "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/var/cache/apt/* "$rootfs"/var/cache/debconf/*-old "$rootfs"/var/log/* \
    "$rootfs"/tmp/* "$rootfs"/root/.cache
}

# The key names everything the base is made of: a change to any of it rebuilds the base.
base_key="$(
  {
    echo "$suite $architecture $mirror $security_mirror $agent_uid"
    printf '%s\n' "${base_packages[@]}"
    declare -f make_base_rootfs
  } | sha256sum | cut -c1-16
)"
base_tar="$cache/base-$base_key.tar"
base_image="$stages:base-$base_key"

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

rebuild="${AW_IMAGE_REBUILD:-0}"
if [[ "$rebuild" == 1 ]]; then
  say "AW_IMAGE_REBUILD=1: rebuilding every stage"
  rm -f "$base_tar"
fi

if [[ "$rebuild" == 1 ]] || ! image_exists "$base_image"; then
  if [[ ! -f "$base_tar" ]]; then
    ((EUID == 0)) || fail "building the base needs root (debootstrap, chroot): run as root"
    command -v debootstrap >/dev/null ||
      fail "debootstrap is not installed: run scripts/install-deps.sh image"
    say "base $base_key: debootstrap $suite ($architecture) from $mirror, then ${#base_packages[@]} packages (a few minutes)"
    stage_started=$(date +%s)
    make_base_rootfs "$scratch/rootfs"
    tar -C "$scratch/rootfs" --numeric-owner --exclude='./proc/*' --exclude='./sys/*' \
      --exclude='./dev/*' -cf "$scratch/base.tar" .
    mv "$scratch/rootfs.packages" "$cache/base-$base_key.packages"
    mv "$scratch/base.tar" "$base_tar"
    rm -rf --one-file-system "$scratch/rootfs"
    # Older bases are of no further use.
    find "$cache" -maxdepth 1 -name 'base-*' -not -name "base-$base_key.*" -delete
    say "base $base_key: $(du -h "$base_tar" | cut -f1) tarball in $(since "$stage_started")"
  fi
  say "base $base_key: importing $base_tar"
  docker import \
    --change "USER $agent_uid" \
    --change "WORKDIR /workspace" \
    --change "ENV PATH=/usr/local/bin:/usr/bin:/bin" \
    --change "ENV LANG=C.UTF-8" \
    --change 'CMD ["/usr/local/bin/agent-executor"]' \
    --change "LABEL io.agent-worker.stage=base io.agent-worker.base-key=$base_key" \
    --message "Debian 12 minbase with agent tools ($base_key)" \
    "$base_tar" "$base_image" >/dev/null
fi

# --- Stage 2: the pinned agent CLIs ---------------------------------------------------

# "package version binary prefix" per pin; installs what is missing into the host's cache.
mapfile -t pins < <("$source_dir/scripts/install-agent-clis.sh" --list)
((${#pins[@]} > 0)) || fail "scripts/install-agent-clis.sh --list named no CLI"
# "package@version" per pin, for the key and the messages.
pin_names=()
for pin in "${pins[@]}"; do
  read -r package pin_version _ <<<"$pin"
  pin_names+=("$package@$pin_version")
done
clis_key="$(printf '%s\n' "$base_key" "${pin_names[@]}" | sha256sum | cut -c1-16)"
clis_image="$stages:clis-$clis_key"

# Copied, not installed with npm in the image: the host's cache holds exactly these pins,
# installed and checked by install-agent-clis.sh. The CLIs are native executables
# (claude, opencode: glibc; codex: static musl, behind a node launcher) that npm picked for
# this machine's platform, which is the image's (same architecture, same Debian release).
# Sets clis_id to the (untagged) image it commits.
make_clis_layer() {
  local links="$scratch/links" pin package pin_version binary prefix
  mkdir -p "$links"
  container="$(docker create "$base_image")"
  for pin in "${pins[@]}"; do
    read -r package pin_version binary prefix <<<"$pin"
    ln -s "/opt/agent-clis/$(basename "$prefix")/node_modules/.bin/$binary" "$links/$binary"
    tar -C "$(dirname "$prefix")" --owner=0 --group=0 --numeric-owner -cf - "$(basename "$prefix")" |
      docker cp - "$container:/opt/agent-clis"
  done
  tar -C "$links" --owner=0 --group=0 --numeric-owner -cf - . | docker cp - "$container:/usr/local/bin"
  clis_id="$(docker commit --message "agent CLIs: ${pin_names[*]}" \
    --change "LABEL io.agent-worker.stage=clis io.agent-worker.clis-key=$clis_key" \
    "$container")"
  docker rm "$container" >/dev/null
  container=""
}

# Each CLI answers --version as the agent user on a read-only root, with a writable home as
# the runtime gives it (opencode cannot start without one; codex warns).
check_clis() {
  local pin package pin_version binary prefix got
  for pin in "${pins[@]}"; do
    read -r package pin_version binary prefix <<<"$pin"
    got="$(docker run --rm --network none --user "$agent_uid" --read-only --tmpfs /tmp \
      --tmpfs "/home/agent:uid=$agent_uid,gid=$agent_uid" --cap-drop ALL \
      --security-opt no-new-privileges "$1" "$binary" --version 2>&1)" || true
    [[ "$got" == *"$pin_version"* ]] || {
      docker image rm "$1" >/dev/null 2>&1 || true
      fail "$binary --version in the image printed '${got:-nothing}', expected $pin_version"
    }
  done
}

if [[ "$rebuild" == 1 ]] || ! image_exists "$clis_image"; then
  say "clis $clis_key: copying ${pin_names[*]} from the host's CLI cache"
  stage_started=$(date +%s)
  make_clis_layer
  check_clis "$clis_id"
  docker tag "$clis_id" "$clis_image"
  say "clis $clis_key: done in $(since "$stage_started")"
fi

# --- Stage 3: agent-executor and the labels -------------------------------------------

# Up to date: the same binary on top of the current CLI layer (the image, not only its key).
executor_sha="$(sha256sum "$executor" | cut -d' ' -f1)"
current="$(docker image inspect --format \
  '{{index .Config.Labels "io.agent-worker.executor-sha256"}} {{.Parent}}' \
  "$repository:$version" 2>/dev/null || true)"
if [[ "${AW_IMAGE_FORCE:-0}" != 1 && "$rebuild" != 1 &&
  "$current" == "$executor_sha $(docker image inspect --format '{{.Id}}' "$clis_image")" ]] &&
  image_exists "$repository:latest"; then
  say "$repository:$version is up to date (same agent-executor, base and CLIs)"
else
  say "final: agent-executor $version ($(du -h "$executor" | cut -f1))"
  previous="$(docker image inspect --format '{{.Id}}' "$repository:$version" 2>/dev/null || true)"
  container="$(docker create "$clis_image")"
  install -D -m 0755 "$executor" "$scratch/final/agent-executor"
  tar -C "$scratch/final" --owner=0 --group=0 --numeric-owner -cf - agent-executor |
    docker cp - "$container:/usr/local/bin"
  built_at="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  final_id="$(docker commit --message "agent-executor $version" \
    --change "USER $agent_uid" \
    --change "WORKDIR /workspace" \
    --change 'CMD ["/usr/local/bin/agent-executor"]' \
    --change "LABEL org.opencontainers.image.title=agent-worker-worker \
org.opencontainers.image.version=$version org.opencontainers.image.created=$built_at \
io.agent-worker.version=$version io.agent-worker.stage=final io.agent-worker.base-key=$base_key \
io.agent-worker.clis-key=$clis_key io.agent-worker.executor-sha256=$executor_sha" \
    "$container")"
  docker rm "$container" >/dev/null
  container=""
  # The executor must start (all its libraries found) as the agent user on a read-only root.
  usage="$(docker run --rm --network none --read-only --tmpfs /tmp --cap-drop ALL \
    --security-opt no-new-privileges "$final_id" agent-executor --help 2>&1 || true)"
  [[ "$usage" == *"usage: agent-executor"* ]] || {
    docker image rm "$final_id" >/dev/null 2>&1 || true
    fail "agent-executor does not start in the image: $usage"
  }
  docker tag "$final_id" "$repository:$version"
  docker tag "$final_id" "$repository:latest"
  # The image it replaces, if nothing else uses it any more.
  if [[ -n "$previous" && "$previous" != "$final_id" ]]; then
    docker image rm "$previous" >/dev/null 2>&1 || true
  fi
fi

# Stage images of other keys are superseded.
docker image ls --format '{{.Repository}}:{{.Tag}}' "$stages" |
  grep -vxF -e "$base_image" -e "$clis_image" | xargs -r docker image rm >/dev/null 2>&1 || true

size="$(docker image inspect --format '{{.Size}}' "$repository:$version")"
say "$repository:$version and :latest on $engine (engine $engine_version): $((size / 1000000)) MB, ready in $(since "$started")"
