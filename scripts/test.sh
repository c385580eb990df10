#!/usr/bin/env bash
# The whole test suite: install what is missing, build, run the C unit tests (meson test),
# a short fuzz run (tests/fuzz/run.sh 5), then every pytest suite (conformance/ and tests/).
# Ends with pytest's summary line.
# Extra arguments go to pytest (e.g. -k name, -m "not clients").
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
scripts/build.sh
meson test -C build --print-errorlogs
tests/fuzz/run.sh 5
exec /usr/bin/python3 -m pytest -q -p no:cacheprovider "$@"
