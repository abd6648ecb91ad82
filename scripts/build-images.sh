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

build_busybox
