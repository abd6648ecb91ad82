#!/usr/bin/env bash
# Builds the root filesystems of the base images from Debian packages, as
# tarballs under build/images/. They become images with
#   shoal image import --change 'CMD ["sh"]' build/images/busybox.tar busybox:latest
# (scripts/up.sh and the tests do that). No network beyond Debian's packages.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=build/images
mkdir -p "$OUT"

build_busybox() {
  local tar="$OUT/busybox.tar"
  [ -f "$tar" ] && [ "$tar" -nt /bin/busybox ] && [ "$tar" -nt "$0" ] && return 0
  local dir; dir=$(mktemp -d); chmod 0755 "$dir"
  trap 'rm -rf "$dir"' RETURN
  mkdir -p "$dir"/{bin,sbin,usr/bin,usr/sbin,etc,root,tmp,var/spool/mail,home,proc,sys,dev}
  chmod 1777 "$dir/tmp"
  install -m 0755 /bin/busybox "$dir/bin/busybox"
  # One hard link per applet, where busybox puts it.
  /bin/busybox --list-full | while read -r applet; do
    [ "$applet" = bin/busybox ] && continue
    mkdir -p "$dir/$(dirname "$applet")"
    ln -f "$dir/bin/busybox" "$dir/$applet" 2>/dev/null || true
  done
  printf 'root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nnobody:x:65534:65534:nobody:/home:/bin/false\n' >"$dir/etc/passwd"
  printf 'root:x:0:\ndaemon:x:1:\nnogroup:x:65534:\n' >"$dir/etc/group"
  : >"$dir/etc/hosts"; : >"$dir/etc/resolv.conf"; echo busybox >"$dir/etc/hostname"
  tar --numeric-owner --owner=0 --group=0 --sort=name --mtime='2024-01-01 00:00Z' -C "$dir" -cf "$tar.tmp" .
  mv "$tar.tmp" "$tar"
}

# redis: Debian's redis-server with the shared libraries it links, on top of
# the busybox tree (so the image has a shell, like Docker Hub's). Imported as
#   shoal image import --change 'CMD ["redis-server","--protected-mode","no"]' \
#     --change 'VOLUME /data' --change 'WORKDIR /data' --change 'EXPOSE 6379' build/images/redis.tar redis:7
build_redis() {
  local tar="$OUT/redis.tar" bin=/usr/bin/redis-server
  [ -x "$bin" ] || { echo "build-images: $bin is missing; install Debian's redis-server (scripts/setup.sh does)" >&2; return 1; }
  local real; real=$(readlink -f "$bin")
  [ -f "$tar" ] && [ "$tar" -nt "$real" ] && [ "$tar" -nt "$0" ] && return 0
  local dir; dir=$(mktemp -d); chmod 0755 "$dir"
  trap 'rm -rf "$dir"' RETURN
  tar -C "$dir" -xf "$OUT/busybox.tar"
  install -D -m 0755 "$real" "$dir/usr/bin/redis-server"
  # Every library the binary links, at the path the loader looks for it.
  ldd "$real" | awk '/=> \// { print $3 } /^\t\/lib/ { print $1 }' | while read -r lib; do
    install -D -m 0755 "$(readlink -f "$lib")" "$dir$lib"
  done
  printf 'redis:x:999:999::/data:/bin/false\n' >>"$dir/etc/passwd"
  printf 'redis:x:999:\n' >>"$dir/etc/group"
  mkdir -p "$dir/data" && chown 999:999 "$dir/data"
  tar --numeric-owner --sort=name --mtime='2024-01-01 00:00Z' -C "$dir" -cf "$tar.tmp" .
  mv "$tar.tmp" "$tar"
}

# iperf3: Debian's iperf3 (and its libiperf) with the shared libraries they
# link, on top of the busybox tree; the network bench (bench/net.ts) imports it as
#   shoal image import --change 'CMD ["iperf3","-s"]' build/images/iperf3.tar iperf3:bench
build_iperf3() {
  local tar="$OUT/iperf3.tar" bin=/usr/bin/iperf3
  [ -x "$bin" ] || { echo "build-images: $bin is missing; install Debian's iperf3 (scripts/setup.sh does)" >&2; return 1; }
  local real; real=$(readlink -f "$bin")
  local lib0; lib0=$(ldd "$real" | awk '/libiperf/ { print $3 }')
  [ -f "$tar" ] && [ "$tar" -nt "$real" ] && { [ -z "$lib0" ] || [ "$tar" -nt "$(readlink -f "$lib0")" ]; } && [ "$tar" -nt "$0" ] && return 0
  local dir; dir=$(mktemp -d); chmod 0755 "$dir"
  trap 'rm -rf "$dir"' RETURN
  tar -C "$dir" -xf "$OUT/busybox.tar"
  install -D -m 0755 "$real" "$dir/usr/bin/iperf3"
  # Every library the binary links (libiperf among them), at the path the loader looks for it.
  ldd "$real" | awk '/=> \// { print $3 } /^\t\/lib/ { print $1 }' | while read -r lib; do
    install -D -m 0755 "$(readlink -f "$lib")" "$dir$lib"
  done
  tar --numeric-owner --sort=name --mtime='2024-01-01 00:00Z' -C "$dir" -cf "$tar.tmp" .
  mv "$tar.tmp" "$tar"
}

build_busybox
build_redis
build_iperf3
