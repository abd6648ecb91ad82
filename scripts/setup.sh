#!/usr/bin/env bash
# Installs everything Shoal needs on a fresh Debian 12 machine, idempotently:
# system packages, npm dependencies, the build, the base images, and the
# `shoal`/`shoald` commands on PATH. Safe to run again; skips what is done.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
  echo "setup: Shoal runs containers and needs root; run this as root (sudo)." >&2
  exit 1
fi

# System packages (runc: the OCI runtime; iptables/iproute2: networks;
# busybox-static: the base image; tini: --init; procps: top; attr: xattrs;
# docker.io: Docker 20.10 for the archive compatibility tests and benchmarks,
# never started as a service; redis-server: the redis image of the workload
# test; iperf3: the network benchmark; prometheus: promtool and the metrics
# test).
APT_PKGS=(runc iptables iproute2 busybox-static tini procps attr zstd docker.io redis-server iperf3 prometheus)
missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm dependencies: `npm ci` when the lock changed since the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi

log "build"
npm run --silent build

log "base images"
bash scripts/build-images.sh

# Commands on PATH.
for b in shoal shoald; do
  if [ "$(readlink -f /usr/local/bin/$b 2>/dev/null)" != "$ROOT/bin/$b" ]; then
    ln -sf "$ROOT/bin/$b" /usr/local/bin/$b
  fi
done
