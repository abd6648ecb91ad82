#!/usr/bin/env bash
# Re-creates test/fixtures/docker-20.10-busybox.tar: a `docker save` archive
# written by Debian's Docker 20.10 (docker.io), which the compatibility tests
# (test/e2e/docker-compat.test.ts) load into shoald. See test/fixtures/README.md.
#
# The image, busybox:fixture (also tagged shoal-fixture/busybox:v1), has three
# layers so that loading it exercises what real Docker layers contain:
#   1. `docker import` of build/images/busybox.tar, with CMD ["sh"];
#   2. a commit adding /etc/fixture/{info,old} (ENV and LABEL set);
#   3. a commit deleting /var/spool/mail (a whiteout) and replacing
#      /etc/fixture with a new directory (an opaque-directory marker).
#
# Runs its own dockerd in a network namespace (scripts/dockerd-netns.sh); needs
# root and the docker.io package. Writes only the fixture file.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=test/fixtures/docker-20.10-busybox.tar

[ -f build/images/busybox.tar ] || bash scripts/build-images.sh

dir=$(mktemp -d /tmp/shoal-fixture-XXXXXX)
trap 'bash scripts/dockerd-netns.sh stop "$dir"' EXIT
DOCKER_HOST=$(bash scripts/dockerd-netns.sh start "$dir")
export DOCKER_HOST DOCKER_CONFIG="$dir/client"

server=$(docker version --format '{{.Server.Version}}')
case "$server" in
  20.10.*) ;;
  *) echo "docker-fixture: the fixture must come from Docker 20.10, this dockerd is $server" >&2; exit 1 ;;
esac

docker import --change 'CMD ["sh"]' -m 'busybox rootfs from scripts/build-images.sh' \
  build/images/busybox.tar busybox:fixture-base >/dev/null

docker run --network none --name fixture-l2 busybox:fixture-base \
  sh -c 'mkdir /etc/fixture && echo layer2 >/etc/fixture/info && echo old >/etc/fixture/old'
docker commit -m 'add /etc/fixture' \
  --change 'CMD ["sh"]' --change 'ENV FIXTURE=docker-20.10' --change 'LABEL org.shoal.fixture=docker-20.10' \
  fixture-l2 busybox:fixture-l2 >/dev/null

docker run --network none --name fixture-l3 busybox:fixture-l2 \
  sh -c 'rm -rf /var/spool/mail /etc/fixture && mkdir /etc/fixture && echo layer3 >/etc/fixture/info'
docker commit -m 'whiteout and opaque directory' \
  --change 'CMD ["sh"]' --change 'ENV FIXTURE=docker-20.10' --change 'LABEL org.shoal.fixture=docker-20.10' \
  fixture-l3 busybox:fixture >/dev/null
docker tag busybox:fixture shoal-fixture/busybox:v1

mkdir -p "$(dirname "$OUT")"
docker save -o "$OUT.tmp" busybox:fixture shoal-fixture/busybox:v1
chmod 0644 "$OUT.tmp"
mv "$OUT.tmp" "$OUT"

echo "docker-fixture: wrote $OUT ($(stat -c %s "$OUT") bytes) with dockerd $server" >&2
echo "docker-fixture: image $(docker image inspect --format '{{.Id}}' busybox:fixture)" >&2
docker history --no-trunc --format '{{.ID}} {{.Size}} {{.CreatedBy}}' busybox:fixture >&2
