#!/usr/bin/env bash
# Bounded libFuzzer run: tests/fuzz/run.sh [SECONDS_PER_TARGET] (default 10).
# Installs clang if missing, configures ./build-fuzz (clang, ASan+UBSan, -Dfuzz=true) if needed,
# builds the fuzz targets and runs each for the given time on a scratch copy of its checked-in
# corpus (tests/fuzz/corpus/<target>/ never grows here), as many at once as there are cores
# (FUZZ_JOBS overrides). One line per target; exits non-zero if any target crashed, leaked,
# timed out or broke an invariant, printing the saved input and the report.
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=${1:-10}
case "$seconds" in '' | *[!0-9]*) echo "usage: $0 [SECONDS_PER_TARGET]" >&2; exit 2 ;; esac
targets=(reference range manifest token scope base64 sigv4 lifecycle ecr_json iam_policy s3_xml
         remote_challenge forwarded tar)
build=build-fuzz
jobs=${FUZZ_JOBS:-$(nproc)}

if ! command -v clang >/dev/null ||
   ! dpkg-query -W -f='${Status}' libclang-rt-14-dev 2>/dev/null | grep -q "install ok installed"; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  echo "fuzz: installing clang and libFuzzer"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq clang libclang-rt-14-dev >/dev/null
fi

setup_args=(-Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false --buildtype=debugoptimized)
if [ ! -f "$build/build.ninja" ]; then
  CC=clang meson setup "$build" "${setup_args[@]}" >/dev/null
elif ! grep -q '^build tests/fuzz/fuzz_' "$build/build.ninja"; then
  CC=clang meson setup --wipe "$build" "${setup_args[@]}" >/dev/null # configured some other way
fi
# Only the fuzz targets: the rest of the tree is built and tested with gcc in ./build.
ninja -C "$build" "${targets[@]/#/tests/fuzz/fuzz_}" >/dev/null

artifacts=$PWD/$build/fuzz-artifacts
logs=$PWD/$build/fuzz-logs
scratch=$(mktemp -d /tmp/ocireg-fuzz-XXXXXX)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$artifacts" "$logs"
# UBSan only prints by default; a report must fail the run like an ASan one.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

run_target() {
  local t=$1 corpus=$scratch/$1 root=$PWD
  set +e
  mkdir -p "$corpus" && cp tests/fuzz/corpus/"$t"/* "$corpus"/ >"$logs/$t.log" 2>&1 &&
    (cd "$scratch" && "$root/$build/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=5 \
       -rss_limit_mb=1024 -print_final_stats=1 -artifact_prefix="$artifacts/$t-" "$corpus") \
       >"$logs/$t.log" 2>&1
  echo $? >"$scratch/$t.rc"
}

start=$SECONDS
for t in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  run_target "$t" &
done
wait

failed=0
for t in "${targets[@]}"; do
  rc=$(cat "$scratch/$t.rc")
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$logs/$t.log" | tail -1 || true)
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$t.log")
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$logs/$t.log")
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$done_line")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$done_line")
  if [ "$rc" = 0 ]; then
    printf 'fuzz_%-10s ok     runs=%s exec/s=%s cov=%s ft=%s\n' "$t" "${runs:-?}" "${speed:-?}" \
      "${cov:-?}" "${ft:-?}"
    continue
  fi
  failed=$((failed + 1))
  input=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$logs/$t.log" | tail -1)
  printf 'fuzz_%-10s FAILED (exit %s) input: %s\n' "$t" "$rc" "${input:-none saved}"
  echo "  reproduce: $build/tests/fuzz/fuzz_$t ${input:-<input>}"
  echo "  log: $logs/$t.log"
  grep -vE '^(INFO|#[0-9]+|MS:|Done|stat::)' "$logs/$t.log" | head -60 | sed 's/^/    /'
done

if [ "$failed" -gt 0 ]; then
  echo "fuzz: $failed of ${#targets[@]} targets failed ($((SECONDS - start)) s)"
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, ${seconds} s each, no crash ($((SECONDS - start)) s)"
