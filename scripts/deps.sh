#!/usr/bin/env bash
# Install the Debian packages ocireg needs: `deps.sh build` for building and running,
# `deps.sh test` for the whole test suite as well. Installs only what is missing.
set -euo pipefail

build_pkgs=(meson ninja-build pkg-config gcc libmicrohttpd-dev libssl-dev libsqlite3-dev
            libjansson-dev libzstd-dev libcurl4-openssl-dev libpq-dev)
test_pkgs=(python3 python3-pytest python3-requests clang clang-format libclang-rt-14-dev openssl nginx-light
           docker-registry apache2-utils
           skopeo umoci busybox-static containerd runc docker.io podman conmon zstd time
           awscli python3-boto3 e2fsprogs util-linux prometheus systemd chromium
           chromium-driver python3-selenium)
# The scale-out tests start real engines: PostgreSQL and a one-node Ceph with radosgw (S3).
# Their recommends (monitoring, systemd units, ...) are not needed.
engine_pkgs=(postgresql ceph-mon ceph-osd radosgw ceph-common)

want=("${build_pkgs[@]}")
engines=()
if [ "${1:-build}" = test ]; then
  want+=("${test_pkgs[@]}")
  engines=("${engine_pkgs[@]}")
fi

missing_of() {
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}
mapfile -t missing < <(missing_of "${want[@]}")
mapfile -t missing_engines < <(missing_of "${engines[@]}")
[ ${#missing[@]} -eq 0 ] && [ ${#missing_engines[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "Installing: ${missing[*]} ${missing_engines[*]}"
$SUDO apt-get update -qq
# Recommends stay on: podman and docker.io need some of theirs to run containers.
if [ ${#missing[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ ${#missing_engines[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "${missing_engines[@]}" >/dev/null
fi
