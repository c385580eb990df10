#!/usr/bin/env bash
# ocireg benchmark, side by side with distribution (docker-registry) and nginx. See README.md.
#   bench/run.sh [--quick] [--reps N] [--duration SECS] [--only push,pull,...,console] [--keep]
# Installs what is missing (Debian packages), builds ocireg if needed and the load tool, then
# runs bench/bench.py, which prints the table and writes bench/RESULTS.md.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"

pkgs=(wrk nginx-light docker-registry curl gcc libssl-dev python3)
# --only ...console...: the console's page loads in a headless browser (bench/console_pages.py).
case " $* " in
  *console*) pkgs+=(chromium chromium-driver python3-selenium) ;;
esac
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# nginx-light is one choice; any nginx binary will do.
if command -v nginx >/dev/null; then
  missing=("${missing[@]/nginx-light}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  echo "Installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi
# Debian's packages start system services on install; the benchmark starts its own copies on
# free ports and never touches those.

# Build ocireg (a no-op when build/ is up to date).
"$root/scripts/build.sh"

tmp="$(mktemp -d /tmp/ocireg-bench-tools.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
cc -O2 -Wall -Wextra -pthread -o "$tmp/loadgen" "$here/loadgen.c" -lcrypto

# 1,024 client connections plus the servers' own: raise the open-file limit (inherited by all).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

/usr/bin/python3 "$here/bench.py" --loadgen "$tmp/loadgen" "$@"
