#!/usr/bin/env bash
# Longer check (not part of the default test run): the conformance suite against servers that
# run under valgrind (memcheck, full leak check). Fails when any server reports an error or a
# definite/indirect leak; the logs are in $VG_LOGS (default /tmp/ocireg-valgrind).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
command -v valgrind >/dev/null || { sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo;
  $sudo apt-get install -y -qq valgrind >/dev/null; }
scripts/build.sh
logs="${VG_LOGS:-/tmp/ocireg-valgrind}"
rm -rf "$logs" && mkdir -p "$logs"
wrapper="$logs/ocireg"
cat > "$wrapper" <<WRAP
#!/bin/sh
exec valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect \
  --error-exitcode=99 --log-file=$logs/vg-%p.log $PWD/build/ocireg "\$@"
WRAP
chmod +x "$wrapper"
OCIREG_BIN="$wrapper" /usr/bin/python3 -m pytest -q -p no:cacheprovider conformance "$@"
bad=$(grep -L "ERROR SUMMARY: 0 errors" "$logs"/vg-*.log || true)
[ -z "$bad" ] || { echo "valgrind reported errors in: $bad"; exit 1; }
echo "valgrind: $(ls "$logs"/vg-*.log | wc -l) server runs, 0 errors, no definite or indirect leaks"
