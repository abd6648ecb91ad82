#!/usr/bin/env bash
# The main job: installs everything (idempotently), starts shoald if it is
# not running, loads the base image, runs a first container, then forms a
# one-node swarm on this host and deploys a demo service with 3 replicas.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

SOCK=/run/shoal/shoald.sock
if ! shoal version >/dev/null 2>&1; then
  echo "==> starting shoald (log: /var/log/shoald.log)" >&2
  mkdir -p /var/log
  nohup shoald >>/var/log/shoald.log 2>&1 &
  for _ in $(seq 1 100); do [ -S "$SOCK" ] && shoal version >/dev/null 2>&1 && break; sleep 0.1; done
fi
if ! shoal image inspect busybox:latest >/dev/null 2>&1; then
  echo "==> importing busybox:latest" >&2
  shoal import --change 'CMD ["sh"]' build/images/busybox.tar busybox:latest >/dev/null
fi
echo "==> shoal run --rm busybox echo hello from a shoal container" >&2
shoal run --rm busybox echo "hello from a shoal container"

if [ "$(shoal info --format '{{.Swarm.LocalNodeState}}')" != active ]; then
  # Loopback only: a one-node swarm needs no address other hosts can reach.
  echo "==> shoal swarm init --listen-addr 127.0.0.1:2377 --advertise-addr 127.0.0.1" >&2
  shoal swarm init --listen-addr 127.0.0.1:2377 --advertise-addr 127.0.0.1
fi
if ! shoal service inspect demo >/dev/null 2>&1; then
  echo "==> shoal service create --name demo --replicas 3 busybox …" >&2
  shoal service create --name demo --replicas 3 busybox \
    sh -c 'while true; do echo "$(hostname) is alive"; sleep 10; done'
fi
echo "==> shoal service ls" >&2
shoal service ls
echo "==> shoal service ps demo" >&2
shoal service ps demo
