#!/usr/bin/env bash
# Install the Debian packages ocireg needs: `deps.sh build` for building and running,
# `deps.sh test` for the whole test suite as well. Installs only what is missing.
set -euo pipefail

build_pkgs=(meson ninja-build pkg-config gcc libmicrohttpd-dev libssl-dev libsqlite3-dev
            libjansson-dev libzstd-dev)
test_pkgs=(python3 python3-pytest python3-requests clang libclang-rt-14-dev openssl nginx-light
           skopeo umoci busybox-static containerd runc docker.io podman conmon zstd time
           awscli e2fsprogs util-linux)

want=("${build_pkgs[@]}")
if [ "${1:-build}" = test ]; then
  want+=("${test_pkgs[@]}")
fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "Installing: ${missing[*]}"
$SUDO apt-get update -qq
# Recommends stay on: podman and docker.io need some of theirs to run containers.
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
