#!/usr/bin/env bash
# The main job: installs everything (idempotently), starts shoald if it is
# not running, loads the base image and runs a first container.
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
shoal ps -a
