#!/usr/bin/env bash
# Quick start: install what is missing, build, and serve on 127.0.0.1:5000 from ./data.
# Extra arguments go to `ocireg serve` (see `build/ocireg serve --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
scripts/build.sh
exec build/ocireg serve --listen 127.0.0.1:5000 --data ./data "$@"
