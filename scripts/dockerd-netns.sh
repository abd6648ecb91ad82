#!/usr/bin/env bash
# Runs a throw-away Docker daemon (Debian's docker.io, dockerd 20.10) for
# compatibility tests and fixtures, without touching the host's network or
# Docker set-up:
#   - its own network namespace (entered with nsenter, not `ip netns exec`,
#     which remounts /sys and hides the cgroup hierarchy), with no bridge, no
#     iptables, no forwarding or masquerading;
#   - its own containerd, started here with a config that keeps root, state,
#     sockets and /opt under DIR (dockerd would otherwise pick up a system
#     containerd on /run/containerd/containerd.sock if one is running);
#   - data root, exec root, API socket, trust key and client config under DIR,
#     and a cgroup parent of its own, all removed by `stop`.
#
#   dockerd-netns.sh start DIR   start both daemons, wait until the API answers,
#                                print the DOCKER_HOST value (unix://DIR/docker.sock)
#   dockerd-netns.sh stop DIR    stop everything `start` made and delete DIR
#                                (idempotent; safe after a failed or partial start)
#   dockerd-netns.sh available   exit 0 when every program needed is installed
#
# Use the client with DOCKER_CONFIG=DIR/client so it reads no user config.
set -uo pipefail

need=(dockerd containerd docker nsenter ip)

err() { echo "dockerd-netns: $*" >&2; }
die() { err "$@"; exit 1; }

available() {
  [ "$(id -u)" = 0 ] || return 1
  for p in "${need[@]}"; do command -v "$p" >/dev/null 2>&1 || return 1; done
}

# Waits up to $1 seconds for the command after it to succeed.
wait_for() {
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.05
  done
}

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

# Sends SIGTERM, waits up to $2 seconds, then SIGKILL.
terminate() {
  local pid=$1 grace=$2
  alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null
  local deadline=$((SECONDS + grace))
  while alive "$pid" && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
  if alive "$pid"; then kill -KILL "$pid" 2>/dev/null; sleep 0.2; fi
}

start() {
  local dir=$1
  mkdir -p "$dir" || { err "cannot create $dir"; return 1; }
  dir=$(cd "$dir" && pwd)
  local name="shoal-dockerd-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')"
  echo "$name" >"$dir/name"
  # The v2 shims put their sockets in /run/containerd/s whatever the config
  # says; remember whether that directory was ours to remove.
  [ -e /run/containerd ] || touch "$dir/made-run-containerd"

  ip netns add "$name" || { err "cannot create network namespace $name"; return 1; }
  nsenter --net="/run/netns/$name" ip link set lo up || { err "cannot bring lo up in $name"; return 1; }

  mkdir -p "$dir/containerd" "$dir/client"
  cat >"$dir/containerd/config.toml" <<EOF
version = 2
root = "$dir/containerd/root"
state = "$dir/containerd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$dir/containerd/containerd.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$dir/containerd/opt"
EOF
  # deprecated-key-path: dockerd 20.10 otherwise writes /etc/docker/key.json.
  cat >"$dir/daemon.json" <<EOF
{ "deprecated-key-path": "$dir/key.json" }
EOF

  setsid nsenter --net="/run/netns/$name" containerd --config "$dir/containerd/config.toml" \
    </dev/null >"$dir/containerd.log" 2>&1 &
  echo $! >"$dir/containerd.pid"
  if ! wait_for 20 test -S "$dir/containerd/containerd.sock"; then
    tail -n 30 "$dir/containerd.log" >&2
    err "containerd did not start within 20 s (log above)"; return 1
  fi

  setsid nsenter --net="/run/netns/$name" dockerd \
    --config-file "$dir/daemon.json" \
    --containerd "$dir/containerd/containerd.sock" \
    --data-root "$dir/data" --exec-root "$dir/exec" \
    -H "unix://$dir/docker.sock" --pidfile "$dir/dockerd.pidfile" \
    --cgroup-parent "$name" \
    --iptables=false --ip6tables=false --bridge=none --ip-forward=false --ip-masq=false \
    --userland-proxy=false --shutdown-timeout 2 \
    </dev/null >"$dir/dockerd.log" 2>&1 &
  echo $! >"$dir/dockerd.pid"
  if ! wait_for 30 env DOCKER_CONFIG="$dir/client" docker -H "unix://$dir/docker.sock" version; then
    tail -n 30 "$dir/dockerd.log" >&2
    err "dockerd did not answer within 30 s (log above)"; return 1
  fi
  echo "unix://$dir/docker.sock"
}

stop() {
  local dir=$1
  [ -d "$dir" ] || return 0
  dir=$(cd "$dir" && pwd)
  local name; name=$(cat "$dir/name" 2>/dev/null)
  local dockerd_pid containerd_pid
  dockerd_pid=$(cat "$dir/dockerd.pid" 2>/dev/null)
  containerd_pid=$(cat "$dir/containerd.pid" 2>/dev/null)

  # Containers first: dockerd would give each one its full stop timeout.
  local runc_root="$dir/exec/runtime-runc/moby"
  for id in $(ls "$runc_root" 2>/dev/null); do
    runc --root "$runc_root" kill --all "$id" KILL >/dev/null 2>&1
  done
  terminate "$dockerd_pid" 20

  # Shim sockets in /run/containerd/s are named by a hash; the ones listening
  # in our namespace are ours.
  local shim_sockets=()
  if alive "$containerd_pid"; then
    mapfile -t shim_sockets < <(awk '$8 ~ "^/run/containerd/s/" {print $8}' "/proc/$containerd_pid/net/unix" 2>/dev/null | sort -u)
  fi
  # Whatever is left (after a dockerd crash): containers, then their shims.
  for id in $(ls "$runc_root" 2>/dev/null); do
    runc --root "$runc_root" delete --force "$id" >/dev/null 2>&1
  done
  local f pid
  for f in $(grep -laF -- "$dir/containerd/containerd.sock" /proc/[0-9]*/cmdline 2>/dev/null); do
    pid=${f#/proc/}; pid=${pid%/cmdline}
    [ "$pid" = "$containerd_pid" ] || kill -KILL "$pid" 2>/dev/null
  done
  terminate "$containerd_pid" 10
  local s
  for s in "${shim_sockets[@]}"; do rm -f "$s"; done
  if [ -e "$dir/made-run-containerd" ]; then
    rmdir /run/containerd/s 2>/dev/null; rmdir /run/containerd 2>/dev/null
  fi

  # Mounts under DIR, deepest first.
  local m
  for m in $(awk -v d="$dir" '$5 == d || index($5, d "/") == 1 {print length($5), $5}' /proc/self/mountinfo | sort -rn | cut -d' ' -f2); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
  done

  if [ -n "$name" ]; then
    [ -e "/run/netns/$name" ] && ip netns delete "$name"
    local cg
    for cg in /sys/fs/cgroup/"$name" /sys/fs/cgroup/*/"$name"; do
      [ -d "$cg" ] || continue
      find "$cg" -mindepth 1 -depth -type d -exec rmdir {} \; 2>/dev/null
      rmdir "$cg" 2>/dev/null
    done
  fi
  rm -rf "$dir"
}

case "${1:-}" in
  start) [ $# -eq 2 ] || die "usage: $0 start DIR"; available || die "needs root and these programs: ${need[*]} (apt-get install docker.io)"; start "$2" || { stop "$2"; exit 1; } ;;
  stop) [ $# -eq 2 ] || die "usage: $0 stop DIR"; stop "$2" ;;
  available) available ;;
  *) die "usage: $0 start DIR | stop DIR | available" ;;
esac
