#!/usr/bin/env bash
# Installs what is missing (Debian packages), then runs the whole suite, CI's
# too (.ci/run calls exactly this). Run as root:
#
#   tools/test.sh                  # everything
#   tools/test.sh -L unit          # extra arguments go to both ctest runs
#
# Stages, each timed; the script fails if any fails, after running the rest:
#   build, test          the normal build (BUILD_DIR, default build) and its
#                        CTest suite: unit tests, BPF program tests
#                        (BPF_PROG_TEST_RUN), end-to-end tests in network
#                        namespaces
#   sanitizer build,     a second tree (SAN_BUILD_DIR, default build-san) built
#   sanitizer test       with clang, ASan + UBSan and the libFuzzer targets
#                        (BULKHEAD_SANITIZE, BULKHEAD_FUZZ), and the same suite
#                        plus the fuzz tests (label fuzz, BULKHEAD_FUZZ_SECONDS
#                        each) and the check that no process wrote a sanitizer
#                        report
#   lint                 tools/lint.sh: clang-tidy over the sources, with the
#                        sanitizer tree's compile commands (else the normal's)
#
# SANITIZE=0 or LINT=0 skip those stages (a quicker local run; CI runs all).
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
bh_require_root

BUILD_DIR=${BUILD_DIR:-$BH_ROOT/build}
SAN_BUILD_DIR=${SAN_BUILD_DIR:-$BH_ROOT/build-san}
"$BH_ROOT/tools/install-deps.sh"

summary=()
failed=0
# stage NAME COMMAND...: runs it, records its time and result.
stage() {
  local name=$1 start=$SECONDS status=0
  shift
  echo "=== $name"
  "$@" || status=$?
  local took=$((SECONDS - start))
  if ((status == 0)); then
    summary+=("$(printf '%-17s ok      %4d s' "$name" "$took")")
  else
    summary+=("$(printf '%-17s FAILED  %4d s' "$name" "$took")")
    failed=1
  fi
  return "$status"
}

run_ctest() {  # BUILD_DIR ARGS...
  local dir=$1
  shift
  (cd "$dir" && ctest --output-on-failure "$@")
}

san_build() {
  cmake -S "$BH_ROOT" -B "$SAN_BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DBULKHEAD_SANITIZE=ON -DBULKHEAD_FUZZ=ON >/dev/null
  cmake --build "$SAN_BUILD_DIR" -j "$(nproc)"
}

lint_dir=""
if stage "build" bh_build "$BUILD_DIR"; then
  lint_dir=$BUILD_DIR
  stage "test" run_ctest "$BUILD_DIR" "$@" || true
fi
if [[ ${SANITIZE:-1} != 0 ]] && stage "sanitizer build" san_build; then
  lint_dir=$SAN_BUILD_DIR  # clang's own flags, and the fuzz targets too
  stage "sanitizer test" run_ctest "$SAN_BUILD_DIR" "$@" || true
fi
if [[ ${LINT:-1} != 0 && -n "$lint_dir" ]]; then
  stage "lint" env BUILD_DIR="$lint_dir" "$BH_ROOT/tools/lint.sh" || true
fi

echo "=== summary"
printf '%s\n' "${summary[@]}"
exit "$failed"
