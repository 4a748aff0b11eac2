#!/usr/bin/env bash
# Installs what is missing (Debian packages), builds, and runs every test with
# CTest: unit tests, BPF program tests (BPF_PROG_TEST_RUN) and the end-to-end
# test in network namespaces. Run as root:
#
#   tools/test.sh                  # everything
#   tools/test.sh -L unit          # extra arguments go to ctest
#
# BUILD_DIR (default build) picks the build directory.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
bh_require_root

BUILD_DIR=${BUILD_DIR:-$BH_ROOT/build}
"$BH_ROOT/tools/install-deps.sh"
bh_build "$BUILD_DIR"
cd "$BUILD_DIR"
exec ctest --output-on-failure "$@"
